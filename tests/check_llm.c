/*
 * check_llm: the LLM client against mock-llm (the real OpenAI-compatible
 * peer, rules in tests/peers/mock-llm.yaml) and against fault.js for
 * what mock-llm cannot play (Retry-After headers, timeouts, broken
 * bodies, exact request bytes); and the offline provider.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_dater.h"
#include "check_peers.h"
#include "../lib/clock.h"
#include "../lib/llm.h"
#include "../lib/log.h"
#include "../lib/banned.h"

#define KEY_ENV "DATER_TEST_LLM_KEY"
#define KEY "sk-test-Q7c1XbZ9pL3mVt8w"
#define PRICE_IN 2.5
#define PRICE_OUT 10.0

/* Started once for the mock_llm TCase (unchecked fixture, so in the
 * runner); the forked tests inherit it. */
static struct t_peer mock;

static void
mock_setup(void)
{
	t_mock_llm_start(&mock);
}

static void
mock_teardown(void)
{
	t_peer_stop(&mock);
}

static void
cfg_for(struct cfg_llm *c, const char *base_url)
{
	memset(c, 0, sizeof(*c));
	strlcpy(c->provider, "openai", sizeof(c->provider));
	c->base_url = base_url;		/* the caller's, alive for the test */
	strlcpy(c->model, "test-model", sizeof(c->model));
	strlcpy(c->api_key_env, KEY_ENV, sizeof(c->api_key_env));
	c->timeout_ms = 10000;
	c->price_in_per_mtok = PRICE_IN;
	c->price_out_per_mtok = PRICE_OUT;
	ck_assert_int_eq(setenv(KEY_ENV, KEY, 1), 0);
}

/* One user message. */
static int
ask(const struct cfg_llm *c, const char *text, struct llm_result *out)
{
	struct llm_msg m = { "user", text };
	struct llm_req req = { &m, 1, NULL };

	return llm_complete(c, &req, out);
}

/* The call must fail with status st, and error must mention each of
 * the NULL-terminated strings; the key never. */
static void
fails(const struct llm_result *r, enum llm_status st, const char *first,
    ...)
{
	const char *s;
	va_list ap;

	ck_assert_msg(r->status == st, "status %d, want %d: %s", r->status,
	    st, r->error);
	ck_assert_ptr_null(r->text);
	ck_assert_ptr_null(strstr(r->error, KEY));
	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *))
		ck_assert_msg(strstr(r->error, s) != NULL,
		    "'%s' not in error '%s'", s, r->error);
	va_end(ap);
}

/* mock-llm: the request as the server saw it */

static const struct llm_msg convo[] = {
	{ "system", "You are Anna, a friendly pen pal." },
	{ "user", "hello there" },
	{ "assistant", "hi! how are you?" },
	{ "user", "fine thanks [[mock:inspect]]" },
};

START_TEST(request_shape)
{
	struct cfg_llm c;
	struct llm_req req = { convo, 4, NULL };
	struct llm_result r;

	cfg_for(&c, mock.url);
	c.max_completion_tokens = 64;
	ck_assert_int_eq(llm_complete(&c, &req, &r), 0);
	ck_assert_int_eq(r.status, LLM_OK);
	/* the key went out as a bearer token, and did not come back */
	ck_assert_str_eq(r.text, "model=test-model n=4 "
	    "roles=system|user|assistant|user "
	    "contents=You are Anna, a friendly pen pal.|hello there|"
	    "hi! how are you?|fine thanks [[mock:inspect]] "
	    "max=64 temp=null auth=Bearer [redacted]");
	ck_assert_str_eq(r.model, "test-model");
	llm_result_release(&r);
}
END_TEST

START_TEST(request_temperature_and_model)
{
	struct cfg_llm c;
	struct llm_req req = { convo + 3, 1, "other-model" };
	struct llm_result r;

	cfg_for(&c, mock.url);
	c.has_temperature = 1;
	c.temperature = 0.25;
	ck_assert_int_eq(llm_complete(&c, &req, &r), 0);
	ck_assert_str_eq(r.text, "model=other-model n=1 roles=user "
	    "contents=fine thanks [[mock:inspect]] max=null temp=0.25 "
	    "auth=Bearer [redacted]");
	ck_assert_str_eq(r.model, "other-model");
	llm_result_release(&r);
}
END_TEST

/* A local server needs no key: no Authorization header at all. */
START_TEST(request_without_key)
{
	struct cfg_llm c;
	struct llm_result r;

	cfg_for(&c, mock.url);
	c.api_key_env[0] = '\0';
	ck_assert_int_eq(ask(&c, "x [[mock:inspect]]", &r), 0);
	ck_assert_ptr_nonnull(strstr(r.text, " auth=null"));
	llm_result_release(&r);
}
END_TEST

START_TEST(reply_without_usage)
{
	const char *text = "Hello, \"world\" \xc3\xa9\nsecond line";
	struct cfg_llm c;
	struct llm_result r;
	int in;

	cfg_for(&c, mock.url);
	ck_assert_int_eq(ask(&c, text, &r), 0);
	ck_assert_str_eq(r.text, text);		/* the echo */
	ck_assert_int_eq(r.has_usage, 0);
	in = llm_estimate_tokens(text) + 3;
	ck_assert_int_eq(r.tokens_in, in);
	ck_assert_int_eq(r.tokens_out, llm_estimate_tokens(text));
	ck_assert_double_eq_tol(r.cost_usd, (in * PRICE_IN +
	    r.tokens_out * PRICE_OUT) / 1e6, 1e-12);
	ck_assert_int_gt(r.cost_usd * 1e9, 0);
	llm_result_release(&r);
}
END_TEST

START_TEST(reply_with_usage)
{
	struct cfg_llm c;
	struct llm_result r;

	cfg_for(&c, mock.url);
	ck_assert_int_eq(ask(&c, "count me [[mock:usage]]", &r), 0);
	ck_assert_int_eq(r.has_usage, 1);
	ck_assert_int_eq(r.tokens_in, 11);
	ck_assert_int_eq(r.tokens_out, 7);
	ck_assert_double_eq_tol(r.cost_usd, (11 * PRICE_IN + 7 * PRICE_OUT) /
	    1e6, 1e-12);
	llm_result_release(&r);
}
END_TEST

START_TEST(empty_reply_is_ok)
{
	struct cfg_llm c;
	struct llm_result r;

	cfg_for(&c, mock.url);
	ck_assert_int_eq(ask(&c, "[[mock:empty]]", &r), 0);
	ck_assert_str_eq(r.text, "");
	ck_assert_int_eq(r.tokens_out, 0);
	llm_result_release(&r);
}
END_TEST

START_TEST(client_errors_are_fatal)
{
	struct cfg_llm c;
	struct llm_result r;

	cfg_for(&c, mock.url);
	ck_assert_int_eq(ask(&c, "[[mock:400]]", &r), -1);
	fails(&r, LLM_FATAL, "HTTP 400", "Invalid value for 'messages'",
	    NULL);
	llm_result_release(&r);
	ck_assert_int_eq(ask(&c, "[[mock:401]]", &r), -1);
	fails(&r, LLM_FATAL, "HTTP 401", "Incorrect API key provided.",
	    NULL);
	llm_result_release(&r);
	ck_assert_int_eq(ask(&c, "[[mock:403]]", &r), -1);
	fails(&r, LLM_FATAL, "HTTP 403", "does not have access", NULL);
	llm_result_release(&r);
	ck_assert_int_eq(ask(&c, "[[mock:404]]", &r), -1);
	fails(&r, LLM_FATAL, "HTTP 404", "The model test-model does not "
	    "exist", NULL);
	ck_assert_int_eq(r.retry_at_ms, 0);
	llm_result_release(&r);
}
END_TEST

START_TEST(server_errors_retry)
{
	struct cfg_llm c;
	struct llm_result r;

	cfg_for(&c, mock.url);
	ck_assert_int_eq(ask(&c, "[[mock:429]]", &r), -1);
	fails(&r, LLM_RETRY, "HTTP 429", "Rate limit reached", NULL);
	ck_assert_int_eq(r.retry_at_ms, 0);	/* no Retry-After given */
	llm_result_release(&r);
	ck_assert_int_eq(ask(&c, "[[mock:500]]", &r), -1);
	fails(&r, LLM_RETRY, "HTTP 500", "The server had an error", NULL);
	llm_result_release(&r);
}
END_TEST

START_TEST(malformed_replies_are_fatal)
{
	struct cfg_llm c;
	struct llm_result r;

	cfg_for(&c, mock.url);
	ck_assert_int_eq(ask(&c, "[[mock:nochoices]]", &r), -1);
	fails(&r, LLM_FATAL, "choices[0].message", NULL);
	llm_result_release(&r);
	ck_assert_int_eq(ask(&c, "[[mock:nocontent]]", &r), -1);
	fails(&r, LLM_FATAL, "content is null, not a string", NULL);
	llm_result_release(&r);
}
END_TEST

/* base_url pointing at the wrong place: the server's own 404 message */
START_TEST(wrong_base_url)
{
	struct cfg_llm c;
	struct llm_result r;
	char url[256];

	snprintf(url, sizeof(url), "%s/nowhere/", mock.url);
	cfg_for(&c, url);
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_FATAL, "HTTP 404",
	    "Cannot POST /v1/nowhere/chat/completions", NULL);
	llm_result_release(&r);
}
END_TEST

/* fault.js: exact bytes and faults */

static const char ok_reply[] = "{\"id\": \"x\", \"object\": "
    "\"chat.completion\", \"model\": \"served-model\", \"choices\": "
    "[{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": "
    "\"fine\"}, \"finish_reason\": \"stop\"}], \"usage\": "
    "{\"prompt_tokens\": 30, \"completion_tokens\": 2}}";

/* Request i of those fault.js logged: its body, parsed (new ref), and
 * headers (borrowed from *log, which the caller frees). */
static json_t *
sent(const struct t_peer *p, size_t i, json_t **log, json_t **headers)
{
	json_t *r, *body;

	*log = t_fault_requests(p);
	ck_assert_uint_gt(json_array_size(*log), i);
	r = json_array_get(*log, i);
	ck_assert_str_eq(json_string_value(json_object_get(r, "method")),
	    "POST");
	ck_assert_str_eq(json_string_value(json_object_get(r, "path")),
	    "/api/v1/chat/completions");
	*headers = json_object_get(r, "headers");
	body = json_loads(json_string_value(json_object_get(r, "body")), 0,
	    NULL);
	ck_assert_ptr_nonnull(body);
	return body;
}

static size_t
nsent(const struct t_peer *p)
{
	json_t *log = t_fault_requests(p);
	size_t n = json_array_size(log);

	json_decref(log);
	return n;
}

/* Start fault.js with script; c points at it (with a path prefix and a
 * trailing slash, as users write base URLs). */
static void
fault_cfg(struct cfg_llm *c, struct t_peer *p, const char *script)
{
	static char url[256];	/* c points at it: one peer per test */

	t_fault_start(p, script);
	snprintf(url, sizeof(url), "%s/api/v1/", p->url);
	cfg_for(c, url);
}

/* A fault script of one step answering with the JSON text json. */
static void
fault_json(struct cfg_llm *c, struct t_peer *p, long status,
    const char *json)
{
	char script[2048];

	snprintf(script, sizeof(script), "[{\"status\": %ld, \"json\": %s}]",
	    status, json);
	fault_cfg(c, p, script);
}

static const char *
jstr(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	ck_assert_msg(json_is_string(v), "no string '%s'", k);
	return json_string_value(v);
}

START_TEST(exact_request)
{
	static const struct llm_msg m[] = {
		{ "system", "Persona: \"Anna\"\nbe kind" },
		{ "user", "caf\xc3\xa9 \xf0\x9f\x98\x80 \\o/" },
		{ "assistant", "" },
		{ "user", "bad byte \xff here" },
	};
	static const char *const want[] = {
		"Persona: \"Anna\"\nbe kind",
		"caf\xc3\xa9 \xf0\x9f\x98\x80 \\o/",
		"",
		"bad byte \xef\xbf\xbd here",	/* U+FFFD */
	};
	struct llm_req req = { m, 4, NULL };
	struct t_peer p;
	struct cfg_llm c;
	struct llm_result r;
	json_t *log, *h, *body, *msgs;
	size_t i;

	fault_json(&c, &p, 200, ok_reply);
	c.max_completion_tokens = 100;
	ck_assert_int_eq(llm_complete(&c, &req, &r), 0);
	ck_assert_str_eq(r.text, "fine");
	ck_assert_str_eq(r.model, "served-model");
	ck_assert_int_eq(r.has_usage, 1);
	ck_assert_int_eq(r.tokens_in, 30);
	ck_assert_int_eq(r.tokens_out, 2);
	llm_result_release(&r);

	body = sent(&p, 0, &log, &h);
	ck_assert_str_eq(jstr(h, "authorization"), "Bearer " KEY);
	ck_assert_str_eq(jstr(h, "content-type"), "application/json");
	ck_assert_str_eq(jstr(body, "model"), "test-model");
	ck_assert_int_eq(json_integer_value(json_object_get(body,
	    "max_completion_tokens")), 100);
	ck_assert_ptr_null(json_object_get(body, "temperature"));
	ck_assert_uint_eq(json_object_size(body), 3);
	msgs = json_object_get(body, "messages");
	ck_assert_uint_eq(json_array_size(msgs), 4);
	for (i = 0; i < 4; i++) {
		ck_assert_uint_eq(json_object_size(json_array_get(msgs, i)),
		    2);
		ck_assert_str_eq(jstr(json_array_get(msgs, i), "role"),
		    m[i].role);
		ck_assert_str_eq(jstr(json_array_get(msgs, i), "content"),
		    want[i]);
	}
	json_decref(body);
	json_decref(log);

	/* temperature when set, max_completion_tokens only when > 0 */
	c.max_completion_tokens = 0;
	c.has_temperature = 1;
	c.temperature = 0.7;
	ck_assert_int_eq(llm_complete(&c, &req, &r), 0);
	llm_result_release(&r);
	body = sent(&p, 1, &log, &h);
	ck_assert_ptr_null(json_object_get(body, "max_completion_tokens"));
	ck_assert(json_is_number(json_object_get(body, "temperature")));
	ck_assert_double_eq_tol(json_number_value(json_object_get(body,
	    "temperature")), 0.7, 1e-9);
	json_decref(body);
	json_decref(log);
	t_peer_stop(&p);
}
END_TEST

static void
retry_at(const char *headers, long status, int64_t delay_ms)
{
	char script[512];
	struct t_peer p;
	struct cfg_llm c;
	struct llm_result r;
	int64_t before, after;

	snprintf(script, sizeof(script), "[{\"status\": %ld, \"headers\": %s,"
	    " \"json\": {\"error\": {\"message\": \"Rate limit reached\","
	    " \"type\": \"requests\"}}}]", status, headers);
	fault_cfg(&c, &p, script);
	before = clock_now_ms();
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	after = clock_now_ms();
	fails(&r, LLM_RETRY, "Rate limit reached", NULL);
	ck_assert_int_ge(r.retry_at_ms, before + delay_ms);
	ck_assert_int_le(r.retry_at_ms, after + delay_ms);
	llm_result_release(&r);
	t_peer_stop(&p);
}

START_TEST(retry_after_honoured)
{
	retry_at("{\"Retry-After\": \"3\"}", 429, 3000);
	retry_at("{\"retry-after-ms\": \"1500\"}", 503, 1500);
	retry_at("{\"Retry-After\": \"20\"}", 500, 20000);
}
END_TEST

START_TEST(bad_gateway_page)
{
	struct t_peer p;
	struct cfg_llm c;
	struct llm_result r;

	fault_cfg(&c, &p, "[{\"status\": 502, \"body\": "
	    "\"<html>\\n<body>Bad gateway</body></html>\"}]");
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_RETRY, "HTTP 502", "<html> <body>Bad gateway", NULL);
	ck_assert_int_eq(r.retry_at_ms, 0);
	llm_result_release(&r);
	t_peer_stop(&p);
}
END_TEST

START_TEST(timeout_retries)
{
	struct t_peer p;
	struct cfg_llm c;
	struct llm_result r;

	fault_cfg(&c, &p, "[{\"delay_ms\": 5000, \"body\": \"{}\"}]");
	c.timeout_ms = 300;
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_RETRY, "300 ms", NULL);
	llm_result_release(&r);
	t_peer_stop(&p);
}
END_TEST

START_TEST(connection_errors_retry)
{
	struct t_peer p;
	struct cfg_llm c;
	struct llm_result r;
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", t_free_port());
	cfg_for(&c, url);
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_RETRY, "connect", NULL);
	llm_result_release(&r);

	fault_cfg(&c, &p, "[{\"drop\": true}]");
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_RETRY, NULL);
	llm_result_release(&r);
	t_peer_stop(&p);
}
END_TEST

START_TEST(broken_ok_bodies)
{
	struct t_peer p;
	struct cfg_llm c;
	struct llm_result r;

	/* not JSON, or cut short: transient, retried */
	fault_cfg(&c, &p, "[{\"body\": \"<html>oops\"}]");
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_RETRY, "HTTP 200", "not JSON", NULL);
	llm_result_release(&r);
	t_peer_stop(&p);
	fault_cfg(&c, &p, "[{\"status\": 200, \"body\": \"{\\\"choices\\\": "
	    "[{\\\"message\\\": {\\\"content\\\": \\\"cut\\\"}}]}\", "
	    "\"truncate\": true}]");
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_RETRY, NULL);
	llm_result_release(&r);
	t_peer_stop(&p);

	/* JSON of the wrong shape: not a chat completion, fatal */
	fault_json(&c, &p, 200, "{\"choices\": [{\"message\": "
	    "{\"content\": 42}}]}");
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_FATAL, "content is a number, not a string", NULL);
	llm_result_release(&r);
	t_peer_stop(&p);
	fault_json(&c, &p, 200, "{\"choices\": [{\"message\": {\"content\": "
	    "null, \"refusal\": \"I cannot help with that.\"}}]}");
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_FATAL, "refused: I cannot help with that.", NULL);
	llm_result_release(&r);
	t_peer_stop(&p);
	fault_json(&c, &p, 200, "[1, 2]");
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_FATAL, "no choices[0].message", NULL);
	llm_result_release(&r);
	t_peer_stop(&p);
}
END_TEST

/* Servers echo keys: in errors, in replies, cut short in a snippet. */
START_TEST(key_never_leaks)
{
	struct t_peer p;
	struct cfg_llm c;
	struct llm_result r;
	struct t_capture cap;
	char script[1024], *logged;

	t_stderr_begin(&cap);
	log_set_level(LOG_LEVEL_DEBUG);
	fault_json(&c, &p, 401, "{\"error\": {\"message\": \"Incorrect API "
	    "key provided: " KEY ". Check it.\", \"code\": "
	    "\"invalid_api_key\"}}");
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_FATAL, "HTTP 401", "provided: [redacted]. Check it.",
	    NULL);
	llm_result_release(&r);
	t_peer_stop(&p);

	/* a non-JSON body is cut to a snippet: the key straddles the cut */
	snprintf(script, sizeof(script), "[{\"status\": 500, \"body\": "
	    "\"%0190d%s and more\"}]", 0, KEY);
	fault_cfg(&c, &p, script);
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_RETRY, "HTTP 500", NULL);
	ck_assert_ptr_null(strstr(r.error, "sk-test"));
	llm_result_release(&r);
	t_peer_stop(&p);

	fault_json(&c, &p, 200, "{\"model\": \"" KEY "\", \"choices\": "
	    "[{\"message\": {\"content\": \"your key is " KEY "!\"}}]}");
	ck_assert_int_eq(ask(&c, "hi", &r), 0);
	ck_assert_str_eq(r.text, "your key is [redacted]!");
	ck_assert_ptr_null(strstr(r.model, KEY));
	llm_result_release(&r);
	t_peer_stop(&p);
	logged = t_stderr_end(&cap);
	ck_assert_ptr_nonnull(strstr(logged, "llm: "));	/* debug line */
	ck_assert_ptr_null(strstr(logged, KEY));
	free(logged);
}
END_TEST

/* A placeholder key for a local server may be an ordinary word. */
START_TEST(short_key_spares_replies)
{
	struct t_peer p;
	struct cfg_llm c;
	struct llm_result r;

	fault_json(&c, &p, 200, "{\"choices\": [{\"message\": "
	    "{\"content\": \"none of that, thanks\"}}]}");
	ck_assert_int_eq(setenv(KEY_ENV, "none", 1), 0);
	ck_assert_int_eq(ask(&c, "hi", &r), 0);
	ck_assert_str_eq(r.text, "none of that, thanks");
	llm_result_release(&r);
	t_peer_stop(&p);
}
END_TEST

START_TEST(missing_key_is_fatal)
{
	struct t_peer p;
	struct cfg_llm c;
	struct llm_result r;

	fault_json(&c, &p, 200, ok_reply);
	ck_assert_int_eq(unsetenv(KEY_ENV), 0);
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_FATAL, "'" KEY_ENV "'", "not set", NULL);
	llm_result_release(&r);
	ck_assert_int_eq(setenv(KEY_ENV, "", 1), 0);
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_FATAL, "'" KEY_ENV "'", "not set", NULL);
	llm_result_release(&r);
	/* a key that would split the header */
	ck_assert_int_eq(setenv(KEY_ENV, "sk-abc\r\nX-Evil: 1", 1), 0);
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_FATAL, "'" KEY_ENV "'", NULL);
	ck_assert_ptr_null(strstr(r.error, "sk-abc"));
	llm_result_release(&r);
	ck_assert_uint_eq(nsent(&p), 0);	/* nothing went out */
	t_peer_stop(&p);
}
END_TEST

START_TEST(bad_requests)
{
	struct llm_msg m[] = { { NULL, "no role" } };
	struct llm_req req = { m, 0, NULL };
	struct cfg_llm c;
	struct llm_result r;

	cfg_for(&c, "http://127.0.0.1:9/v1");
	ck_assert_int_eq(llm_complete(&c, &req, &r), -1);
	fails(&r, LLM_FATAL, "no messages", NULL);
	llm_result_release(&r);
	req.n = 1;
	ck_assert_int_eq(llm_complete(&c, &req, &r), -1);
	fails(&r, LLM_FATAL, "message 0 has no role", NULL);
	llm_result_release(&r);
	strlcpy(c.provider, "psychic", sizeof(c.provider));
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_FATAL, "'psychic'", NULL);
	llm_result_release(&r);
	strlcpy(c.provider, "openai", sizeof(c.provider));
	c.base_url = "";
	ck_assert_int_eq(ask(&c, "hi", &r), -1);
	fails(&r, LLM_FATAL, "llm.base_url", NULL);
	llm_result_release(&r);
}
END_TEST

/* offline */

static void
offline_cfg(struct cfg_llm *c)
{
	/* nothing listens there and no key is set: neither is needed */
	cfg_for(c, "http://127.0.0.1:9/v1");
	strlcpy(c->provider, "offline", sizeof(c->provider));
	ck_assert_int_eq(unsetenv(KEY_ENV), 0);
}

static char *
offline(const struct llm_msg *m, size_t n)
{
	struct llm_req req = { m, n, NULL };
	struct cfg_llm c;
	struct llm_result r;
	char *text;
	json_t *j;

	offline_cfg(&c);
	ck_assert_int_eq(llm_complete(&c, &req, &r), 0);
	ck_assert_int_eq(r.status, LLM_OK);
	ck_assert_str_eq(r.model, "offline");
	ck_assert_int_eq(r.has_usage, 0);
	ck_assert_double_eq(r.cost_usd, 0);
	ck_assert_int_gt(r.tokens_in, 0);
	ck_assert_int_eq(r.tokens_out, llm_estimate_tokens(r.text));
	ck_assert_int_gt(strlen(r.text), 0);
	j = json_string(r.text);	/* valid UTF-8 */
	ck_assert_ptr_nonnull(j);
	json_decref(j);
	text = r.text;
	r.text = NULL;
	llm_result_release(&r);
	return text;
}

START_TEST(offline_is_deterministic)
{
	char *a, *b;

	a = offline(convo, 2);
	b = offline(convo, 2);
	ck_assert_str_eq(a, b);
	ck_assert_ptr_nonnull(strstr(a, "hello there"));	/* quoted */
	ck_assert_ptr_null(strstr(a, "Anna"));	/* not the system prompt */
	free(a);
	free(b);
}
END_TEST

START_TEST(offline_varies_with_input)
{
	struct llm_msg m[2] = { { "system", "be nice" }, { "user", NULL } };
	char text[16][64], *out[16];
	size_t i, j;

	for (i = 0; i < 16; i++) {
		snprintf(text[i], sizeof(text[i]), "message number %zu", i);
		m[1].content = text[i];
		out[i] = offline(m, 2);
	}
	for (i = 0; i < 16; i++)
		for (j = i + 1; j < 16; j++)
			ck_assert_str_ne(out[i], out[j]);
	for (i = 0; i < 16; i++)
		free(out[i]);
}
END_TEST

START_TEST(offline_openers_and_followups)
{
	static const struct llm_msg m[] = {
		{ "system", "You are Bob. SECRET-PERSONA" },
		{ "assistant", "Hi! How has your day been so far?" },
	};
	char *opener, *followup;

	opener = offline(m, 1);
	followup = offline(m, 2);
	ck_assert_ptr_null(strstr(opener, "SECRET-PERSONA"));
	ck_assert_ptr_null(strstr(followup, "SECRET-PERSONA"));
	ck_assert_str_ne(followup, m[1].content);
	free(opener);
	free(followup);
}
END_TEST

START_TEST(offline_long_and_broken_text)
{
	struct llm_msg m[] = { { "user", NULL } };
	char big[4096];
	char *out;

	memset(big, 'w', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '\xff';	/* not UTF-8 */
	big[11] = '\n';
	m[0].content = big;
	out = offline(m, 1);
	ck_assert_uint_lt(strlen(out), 200);	/* a short quote */
	ck_assert_ptr_nonnull(strstr(out, "..."));
	ck_assert_ptr_null(strchr(out, '\n'));
	free(out);
}
END_TEST

START_TEST(estimate_tokens)
{
	char s[401];

	ck_assert_int_eq(llm_estimate_tokens(NULL), 0);
	ck_assert_int_eq(llm_estimate_tokens(""), 0);
	ck_assert_int_eq(llm_estimate_tokens("a"), 1);
	ck_assert_int_eq(llm_estimate_tokens("abcd"), 1);
	ck_assert_int_eq(llm_estimate_tokens("abcde"), 2);
	memset(s, 'x', 400);
	s[400] = '\0';
	ck_assert_int_eq(llm_estimate_tokens(s), 100);
}
END_TEST

START_TEST(release_zeroed)
{
	struct llm_result r;

	memset(&r, 0, sizeof(r));
	llm_result_release(&r);
	llm_result_release(&r);
}
END_TEST

Suite *
suite_llm(void)
{
	Suite *s = suite_create("llm");
	TCase *tc;

	tc = t_tcase("mock_llm");
	tcase_add_unchecked_fixture(tc, mock_setup, mock_teardown);
	tcase_add_test(tc, request_shape);
	tcase_add_test(tc, request_temperature_and_model);
	tcase_add_test(tc, request_without_key);
	tcase_add_test(tc, reply_without_usage);
	tcase_add_test(tc, reply_with_usage);
	tcase_add_test(tc, empty_reply_is_ok);
	tcase_add_test(tc, client_errors_are_fatal);
	tcase_add_test(tc, server_errors_retry);
	tcase_add_test(tc, malformed_replies_are_fatal);
	tcase_add_test(tc, wrong_base_url);
	suite_add_tcase(s, tc);
	tc = t_tcase("request_bytes");
	tcase_add_test(tc, exact_request);
	suite_add_tcase(s, tc);
	tc = t_tcase("retry");
	tcase_add_test(tc, retry_after_honoured);
	tcase_add_test(tc, bad_gateway_page);
	tcase_add_test(tc, timeout_retries);
	tcase_add_test(tc, connection_errors_retry);
	suite_add_tcase(s, tc);
	tc = t_tcase("broken_bodies");
	tcase_add_test(tc, broken_ok_bodies);
	suite_add_tcase(s, tc);
	tc = t_tcase("key");
	tcase_add_test(tc, key_never_leaks);
	tcase_add_test(tc, short_key_spares_replies);
	tcase_add_test(tc, missing_key_is_fatal);
	suite_add_tcase(s, tc);
	tc = t_tcase("bad_requests");
	tcase_add_test(tc, bad_requests);
	tcase_add_test(tc, release_zeroed);
	suite_add_tcase(s, tc);
	tc = t_tcase("offline");
	tcase_add_test(tc, offline_is_deterministic);
	tcase_add_test(tc, offline_varies_with_input);
	tcase_add_test(tc, offline_openers_and_followups);
	tcase_add_test(tc, offline_long_and_broken_text);
	suite_add_tcase(s, tc);
	tc = t_tcase("estimate");
	tcase_add_test(tc, estimate_tokens);
	suite_add_tcase(s, tc);
	return s;
}
