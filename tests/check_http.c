/*
 * check_http: the HTTP seam against tests/peers/fault.js on loopback:
 * what goes out, what comes back, and how each failure is classified
 * (connect / timeout / other), which decides whether a send may be
 * retried.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_dater.h"
#include "check_peers.h"
#include "../lib/clock.h"
#include "../lib/http.h"
#include "../lib/banned.h"

static const char *const json_hdrs[] = {
	"Content-Type: application/json", "X-Req: one", NULL
};

/* Perform method url-path against p; returns http_do's result. */
static int
call(const struct t_peer *p, const char *method, const char *path,
    const char *body, int64_t timeout_ms, struct http_resp *resp)
{
	struct http_req req;
	char url[512];

	snprintf(url, sizeof(url), "%s%s", p->url, path);
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.headers = json_hdrs;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	req.timeout_ms = timeout_ms;
	return http_do(&req, resp);
}

static const char *
jstr(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	ck_assert_msg(json_is_string(v), "no string '%s'", k);
	return json_string_value(v);
}

START_TEST(post_status_body_headers)
{
	const char *body = "{\"text\": \"h\\u00e9llo\", \"n\": 1}";
	struct t_peer p;
	struct http_resp resp;
	json_t *log, *r, *h;

	t_fault_start(&p, "[{\"status\": 201, \"headers\": {\"X-Reply\": "
	    "\"yes\"}, \"body\": \"created \\u00e9\"}]");
	ck_assert_int_eq(call(&p, "POST", "/v1/things?a=b", body, 5000,
	    &resp), 0);
	ck_assert_int_eq(resp.status, 201);
	ck_assert_str_eq(resp.body, "created \xc3\xa9");
	ck_assert_uint_eq(resp.body_len, strlen("created \xc3\xa9"));
	ck_assert_int_eq(resp.retry_after_ms, -1);
	ck_assert_int_eq(resp.fail, HTTP_FAIL_NONE);
	http_resp_release(&resp);
	ck_assert_ptr_null(resp.body);

	log = t_fault_requests(&p);
	ck_assert_int_eq(json_array_size(log), 1);
	r = json_array_get(log, 0);
	h = json_object_get(r, "headers");
	ck_assert_str_eq(jstr(r, "method"), "POST");
	ck_assert_str_eq(jstr(r, "path"), "/v1/things?a=b");
	ck_assert_str_eq(jstr(r, "body"), body);
	ck_assert_str_eq(jstr(h, "content-type"), "application/json");
	ck_assert_str_eq(jstr(h, "x-req"), "one");
	/* no 100-continue round trip */
	ck_assert_ptr_null(json_object_get(h, "expect"));
	json_decref(log);
	t_peer_stop(&p);
}
END_TEST

START_TEST(get_empty_body)
{
	struct t_peer p;
	struct http_resp resp;
	json_t *log;

	t_fault_start(&p, "[{\"status\": 204}]");
	ck_assert_int_eq(call(&p, "GET", "/x", NULL, 0, &resp), 0);
	ck_assert_int_eq(resp.status, 204);
	ck_assert_ptr_nonnull(resp.body);	/* "" rather than NULL */
	ck_assert_str_eq(resp.body, "");
	ck_assert_uint_eq(resp.body_len, 0);
	http_resp_release(&resp);
	log = t_fault_requests(&p);
	ck_assert_str_eq(jstr(json_array_get(log, 0), "method"), "GET");
	ck_assert_str_eq(jstr(json_array_get(log, 0), "body"), "");
	json_decref(log);
	t_peer_stop(&p);
}
END_TEST

/* An error status is a response like any other. */
START_TEST(error_status_is_a_response)
{
	struct t_peer p;
	struct http_resp resp;

	t_fault_start(&p, "[{\"status\": 503, \"body\": \"<html>busy\"}]");
	ck_assert_int_eq(call(&p, "POST", "/", "x", 5000, &resp), 0);
	ck_assert_int_eq(resp.status, 503);
	ck_assert_str_eq(resp.body, "<html>busy");
	http_resp_release(&resp);
	t_peer_stop(&p);
}
END_TEST

static int64_t
retry_after(const char *headers)
{
	char script[512];
	struct t_peer p;
	struct http_resp resp;
	int64_t ms;

	snprintf(script, sizeof(script), "[{\"status\": 429, \"headers\": "
	    "%s, \"json\": {\"error\": {\"message\": \"slow down\"}}}]",
	    headers);
	t_fault_start(&p, script);
	ck_assert_int_eq(call(&p, "POST", "/", "{}", 5000, &resp), 0);
	ck_assert_int_eq(resp.status, 429);
	ms = resp.retry_after_ms;
	http_resp_release(&resp);
	t_peer_stop(&p);
	return ms;
}

START_TEST(retry_after_seconds)
{
	ck_assert_int_eq(retry_after("{\"Retry-After\": \"7\"}"), 7000);
	ck_assert_int_eq(retry_after("{\"retry-after\": \"0\"}"), 0);
	ck_assert_int_eq(retry_after("{}"), -1);
	ck_assert_int_eq(retry_after("{\"Retry-After\": \"soon\"}"), -1);
	ck_assert_int_eq(retry_after("{\"Retry-After\": \"-5\"}"), -1);
}
END_TEST

/* No wait is honoured past an hour, and huge numbers do not overflow. */
START_TEST(retry_after_capped)
{
	ck_assert_int_eq(retry_after("{\"Retry-After\": \"3600\"}"),
	    HTTP_RETRY_MAX_MS);
	ck_assert_int_eq(retry_after("{\"Retry-After\": \"86400\"}"),
	    HTTP_RETRY_MAX_MS);
	ck_assert_int_eq(retry_after("{\"Retry-After\": "
	    "\"99999999999999999999999999999\"}"), HTTP_RETRY_MAX_MS);
	ck_assert_int_eq(retry_after("{\"Retry-After\": \"1e308\"}"),
	    HTTP_RETRY_MAX_MS);
	ck_assert_int_eq(retry_after("{\"retry-after-ms\": "
	    "\"99999999999999999999\"}"), HTTP_RETRY_MAX_MS);
	ck_assert_int_eq(retry_after("{\"Retry-After\": "
	    "\"Fri, 31 Dec 9999 23:59:59 GMT\"}"), HTTP_RETRY_MAX_MS);
}
END_TEST

/* retry-after-ms (OpenAI) is finer than Retry-After and wins. */
START_TEST(retry_after_ms_header)
{
	ck_assert_int_eq(retry_after("{\"retry-after-ms\": \"1500\"}"), 1500);
	ck_assert_int_eq(retry_after("{\"retry-after-ms\": \"250\", "
	    "\"Retry-After\": \"9\"}"), 250);
	ck_assert_int_eq(retry_after("{\"retry-after-ms\": \"x\", "
	    "\"Retry-After\": \"2\"}"), 2000);
}
END_TEST

START_TEST(retry_after_http_date)
{
	char hdr[128], date[64];
	int64_t before, after, ms;
	time_t t;

	before = clock_now_ms();
	t = (time_t)(before / 1000) + 120;
	ck_assert_uint_gt(strftime(date, sizeof(date),
	    "%a, %d %b %Y %H:%M:%S GMT", gmtime(&t)), 0);
	snprintf(hdr, sizeof(hdr), "{\"Retry-After\": \"%s\"}", date);
	ms = retry_after(hdr);
	after = clock_now_ms();
	/* the delay until t, as seen at some moment in [before, after] */
	ck_assert_int_ge(ms, (int64_t)t * 1000 - after);
	ck_assert_int_le(ms, (int64_t)t * 1000 - before);

	/* a date in the past: retry now */
	ck_assert_int_eq(retry_after("{\"Retry-After\": "
	    "\"Wed, 21 Oct 2015 07:28:00 GMT\"}"), 0);
}
END_TEST

START_TEST(dropped_connection)
{
	struct t_peer p;
	struct http_resp resp;

	t_fault_start(&p, "[{\"drop\": true}]");
	ck_assert_int_eq(call(&p, "POST", "/", "x", 5000, &resp), -1);
	ck_assert_int_eq(resp.fail, HTTP_FAIL_OTHER);
	ck_assert_int_eq(resp.status, 0);
	ck_assert_ptr_null(resp.body);
	ck_assert_str_ne(resp.error, "");
	http_resp_release(&resp);
	t_peer_stop(&p);
}
END_TEST

START_TEST(truncated_body)
{
	struct t_peer p;
	struct http_resp resp;

	t_fault_start(&p, "[{\"body\": \"0123456789abcdef\", "
	    "\"truncate\": true}]");
	ck_assert_int_eq(call(&p, "GET", "/", NULL, 5000, &resp), -1);
	ck_assert_int_eq(resp.fail, HTTP_FAIL_OTHER);
	ck_assert_int_eq(resp.status, 0);
	ck_assert_ptr_null(resp.body);
	http_resp_release(&resp);
	t_peer_stop(&p);
}
END_TEST

START_TEST(slow_answer_times_out)
{
	struct t_peer p;
	struct http_resp resp;
	json_t *log;

	t_fault_start(&p, "[{\"delay_ms\": 5000, \"body\": \"late\"}]");
	ck_assert_int_eq(call(&p, "POST", "/", "x", 200, &resp), -1);
	ck_assert_int_eq(resp.fail, HTTP_FAIL_TIMEOUT);
	ck_assert_int_eq(resp.status, 0);
	ck_assert_msg(strstr(resp.error, "200 ms") != NULL, "%s",
	    resp.error);
	http_resp_release(&resp);
	/* the request did arrive: a timeout is not "never sent" */
	log = t_fault_requests(&p);
	ck_assert_int_eq(json_array_size(log), 1);
	json_decref(log);
	t_peer_stop(&p);
}
END_TEST

START_TEST(closed_port_is_connect_failure)
{
	struct http_req req;
	struct http_resp resp;
	char url[128];

	/* the path holds a token: errors must not repeat URLs */
	snprintf(url, sizeof(url),
	    "http://127.0.0.1:%d/botSECRET-TOKEN-123/send", t_free_port());
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.body = "{}";
	req.body_len = 2;
	req.timeout_ms = 5000;
	ck_assert_int_eq(http_do(&req, &resp), -1);
	ck_assert_int_eq(resp.fail, HTTP_FAIL_CONNECT);
	ck_assert_int_eq(resp.status, 0);
	ck_assert_msg(strstr(resp.error, "connect") != NULL, "%s",
	    resp.error);
	ck_assert_ptr_null(strstr(resp.error, "SECRET"));
	http_resp_release(&resp);
}
END_TEST

static void
big_body(const char *extra, long n, int want_rc)
{
	char script[256];
	struct t_peer p;
	struct http_resp resp;

	snprintf(script, sizeof(script), "[{\"body\": \"x\", \"repeat\": %ld"
	    "%s}]", n, extra);
	t_fault_start(&p, script);
	ck_assert_int_eq(call(&p, "GET", "/", NULL, 20000, &resp), want_rc);
	if (want_rc == 0) {
		ck_assert_int_eq(resp.status, 200);
		ck_assert_uint_eq(resp.body_len, (size_t)n);
		ck_assert_uint_eq(strlen(resp.body), (size_t)n);
	} else {
		ck_assert_int_eq(resp.fail, HTTP_FAIL_OTHER);
		ck_assert_ptr_null(resp.body);
		ck_assert_msg(strstr(resp.error, "over") != NULL, "%s",
		    resp.error);
	}
	http_resp_release(&resp);
	t_peer_stop(&p);
}

START_TEST(body_cap)
{
	big_body("", HTTP_BODY_MAX, 0);
	big_body("", HTTP_BODY_MAX + 1L, -1);		/* Content-Length */
	big_body(", \"chunked\": true", HTTP_BODY_MAX + 1L, -1);
}
END_TEST

START_TEST(release_zeroed)
{
	struct http_resp resp;

	memset(&resp, 0, sizeof(resp));
	http_resp_release(&resp);
	http_resp_release(&resp);
}
END_TEST

Suite *
suite_http(void)
{
	Suite *s = suite_create("http");
	TCase *tc;

	tc = t_tcase("request");
	tcase_add_test(tc, post_status_body_headers);
	tcase_add_test(tc, get_empty_body);
	tcase_add_test(tc, error_status_is_a_response);
	tcase_add_test(tc, release_zeroed);
	suite_add_tcase(s, tc);
	tc = t_tcase("retry_after");
	tcase_add_test(tc, retry_after_seconds);
	tcase_add_test(tc, retry_after_capped);
	tcase_add_test(tc, retry_after_ms_header);
	tcase_add_test(tc, retry_after_http_date);
	suite_add_tcase(s, tc);
	tc = t_tcase("failures");
	tcase_add_test(tc, dropped_connection);
	tcase_add_test(tc, truncated_body);
	tcase_add_test(tc, slow_answer_times_out);
	tcase_add_test(tc, closed_port_is_connect_failure);
	suite_add_tcase(s, tc);
	tc = t_tcase("body_cap");
	tcase_add_test(tc, body_cap);
	suite_add_tcase(s, tc);
	return s;
}
