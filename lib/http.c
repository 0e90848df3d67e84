/*
 * http: one request per libcurl easy handle, made and freed within
 * http_do(), so no handle outlives a call or crosses a fork().
 *
 * Settings every request gets: TLS peer and host verification (curl's
 * defaults, never turned off), CURLOPT_NOSIGNAL (curl must not touch
 * signals: workers block them and fork), http and https only, no
 * redirects, no "Expect: 100-continue" (it would stall a POST for a
 * second), a total and a connect timeout. Proxies come from the usual
 * environment variables, as curl does by default.
 *
 * libcurl is loaded on the first request (dlopen of libcurl.so.4), not
 * linked: every program links this file (the job table and the
 * transports reach it), but only a process that makes an HTTP call pays
 * for libcurl and the ~30 libraries under it, in start-up time and in
 * memory: a worker that only runs database jobs never maps them. When
 * libcurl cannot be loaded, http_do() fails saying why.
 */
#define CURL_DISABLE_TYPECHECK	/* calls go through pointers */
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http.h"
#include "banned.h"

#define HTTP_LIBCURL "libcurl.so.4"

/* The libcurl functions this file calls, from dlsym. */
static struct {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	CURLHcode (*easy_header)(CURL *, const char *, size_t,
	    unsigned int, int, struct curl_header **);
	const char *(*easy_strerror)(CURLcode);
	void (*easy_cleanup)(CURL *);
	time_t (*getdate)(const char *, const time_t *);
	struct curl_slist *(*slist_append)(struct curl_slist *,
	    const char *);
	void (*slist_free_all)(struct curl_slist *);
} curl;

#define HTTP_TIMEOUT_DEFAULT_MS 30000
#define HTTP_CONNECT_MAX_MS 10000

/* A server may ask for any wait; none is honoured past an hour. */
#define HTTP_RETRY_AFTER_MAX_S (HTTP_RETRY_MAX_MS / 1000.0)

struct http_sink {
	char *buf;
	size_t len, cap;
	int too_big;
};

static size_t
http_write(char *p, size_t size, size_t n, void *arg)
{
	struct http_sink *s = arg;
	size_t add = size * n, cap;
	char *nb;

	if (add > HTTP_BODY_MAX - s->len) {
		s->too_big = 1;
		return 0;	/* curl fails with CURLE_WRITE_ERROR */
	}
	if (s->len + add + 1 > s->cap) {
		cap = s->cap == 0 ? 4096 : s->cap;
		while (cap < s->len + add + 1)
			cap *= 2;
		if ((nb = realloc(s->buf, cap)) == NULL)
			return 0;
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, add);
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

/* Resolve name from lib into *fn; 0 or -1 (saying why in err). */
static int
curl_sym(void *lib, const char *name, void *fn, char *err, size_t errlen)
{
	void *p = dlsym(lib, name);

	if (p == NULL) {
		snprintf(err, errlen, "%s: no %s", HTTP_LIBCURL, name);
		return -1;
	}
	memcpy(fn, &p, sizeof(p));	/* object to function pointer */
	return 0;
}

/* Load libcurl and curl_global_init once per process; the program is
 * single-threaded. Fails, saying why in err. */
static int
http_global_init(char *err, size_t errlen)
{
	static int done;
	void *lib;
	const char *why;

	if (done)
		return 0;
	if ((lib = dlopen(HTTP_LIBCURL, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		why = dlerror();
		snprintf(err, errlen, "cannot load %s: %s", HTTP_LIBCURL,
		    why != NULL ? why : "unknown error");
		return -1;
	}
	if (curl_sym(lib, "curl_global_init", &curl.global_init, err,
	    errlen) < 0 ||
	    curl_sym(lib, "curl_easy_init", &curl.easy_init, err, errlen) < 0 ||
	    curl_sym(lib, "curl_easy_setopt", &curl.easy_setopt, err,
	    errlen) < 0 ||
	    curl_sym(lib, "curl_easy_perform", &curl.easy_perform, err,
	    errlen) < 0 ||
	    curl_sym(lib, "curl_easy_getinfo", &curl.easy_getinfo, err,
	    errlen) < 0 ||
	    curl_sym(lib, "curl_easy_header", &curl.easy_header, err,
	    errlen) < 0 ||
	    curl_sym(lib, "curl_easy_strerror", &curl.easy_strerror, err,
	    errlen) < 0 ||
	    curl_sym(lib, "curl_easy_cleanup", &curl.easy_cleanup, err,
	    errlen) < 0 ||
	    curl_sym(lib, "curl_getdate", &curl.getdate, err, errlen) < 0 ||
	    curl_sym(lib, "curl_slist_append", &curl.slist_append, err,
	    errlen) < 0 ||
	    curl_sym(lib, "curl_slist_free_all", &curl.slist_free_all, err,
	    errlen) < 0) {
		dlclose(lib);
		return -1;
	}
	if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "cannot set up curl");
		dlclose(lib);
		return -1;
	}
	done = 1;
	return 0;
}

/* A number of seconds or milliseconds from a header value, capped at
 * the hour in ms (a bigger or overflowing number is the cap); -1 if it
 * is not a number (NaN fails the range check too). */
static double
http_number(const char *s)
{
	char *end;
	double v;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	v = strtod(s, &end);
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end != '\0' || !(v >= 0))
		return -1;
	return v < HTTP_RETRY_AFTER_MAX_S * 1000 ? v :
	    HTTP_RETRY_AFTER_MAX_S * 1000;
}

static const char *
http_header(CURL *h, const char *name)
{
	struct curl_header *hd;

	if (curl.easy_header(h, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return NULL;
	return hd->value;
}

/*
 * The delay the server asked for: retry-after-ms (OpenAI), else
 * Retry-After in seconds or as an HTTP date (RFC 9110), at most an
 * hour. -1 if none.
 */
static int64_t
http_retry_after(CURL *h)
{
	const char *v;
	double d;
	time_t t;
	int64_t ms;

	if ((v = http_header(h, "retry-after-ms")) != NULL &&
	    (d = http_number(v)) >= 0)
		return (int64_t)(d + 0.5);
	if ((v = http_header(h, "retry-after")) == NULL)
		return -1;
	if ((d = http_number(v)) >= 0)
		return d <= HTTP_RETRY_AFTER_MAX_S ? (int64_t)(d * 1000 + 0.5) :
		    (int64_t)HTTP_RETRY_AFTER_MAX_S * 1000;
	if ((t = curl.getdate(v, NULL)) == -1)
		return -1;
	ms = (int64_t)t * 1000 - clock_now_ms();
	if (ms > HTTP_RETRY_AFTER_MAX_S * 1000)
		ms = (int64_t)HTTP_RETRY_AFTER_MAX_S * 1000;
	return ms < 0 ? 0 : ms;
}

/* The request headers, with "Expect:" to turn 100-continue off. */
static int
http_headers(const struct http_req *req, struct curl_slist **out)
{
	struct curl_slist *l = NULL, *n;
	const char *const *p;

	for (p = req->headers; p != NULL && *p != NULL; p++) {
		if ((n = curl.slist_append(l, *p)) == NULL)
			goto fail;
		l = n;
	}
	if ((n = curl.slist_append(l, "Expect:")) == NULL)
		goto fail;
	*out = n;
	return 0;
fail:
	curl.slist_free_all(l);
	return -1;
}

static int
http_setup(CURL *h, const struct http_req *req, struct curl_slist *hdrs,
    struct http_sink *sink, char *errbuf)
{
	int64_t total, conn;
	int bad = 0;

	total = req->timeout_ms > 0 ? req->timeout_ms : HTTP_TIMEOUT_DEFAULT_MS;
	conn = total < HTTP_CONNECT_MAX_MS ? total : HTTP_CONNECT_MAX_MS;
	bad |= curl.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	bad |= curl.easy_setopt(h, CURLOPT_URL, req->url);
	bad |= curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	bad |= curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	bad |= curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)total);
	bad |= curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)conn);
	bad |= curl.easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	bad |= curl.easy_setopt(h, CURLOPT_USERAGENT, "dater/" DATER_VERSION);
	bad |= curl.easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	bad |= curl.easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)HTTP_BODY_MAX);
	bad |= curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write);
	bad |= curl.easy_setopt(h, CURLOPT_WRITEDATA, sink);
	if (req->body != NULL || strcmp(req->method, "POST") == 0) {
		bad |= curl.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(req->body != NULL ? req->body_len : 0));
		bad |= curl.easy_setopt(h, CURLOPT_POSTFIELDS,
		    req->body != NULL ? req->body : "");
	}
	if (strcmp(req->method, "GET") == 0 && req->body == NULL)
		bad |= curl.easy_setopt(h, CURLOPT_HTTPGET, 1L);
	else if (strcmp(req->method, "POST") != 0)
		bad |= curl.easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	return bad ? -1 : 0;
}

/* Why a transfer failed, into resp->fail and resp->error. */
static void
http_failed(CURL *h, CURLcode cc, const struct http_sink *sink,
    const char *errbuf, int64_t timeout_ms, struct http_resp *resp)
{
	const char *why = errbuf[0] != '\0' ? errbuf : curl.easy_strerror(cc);
	curl_off_t pre = 0;

	/* Nothing was sent before the handshake finished. */
	(void)curl.easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre);
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		resp->fail = HTTP_FAIL_CONNECT;
		snprintf(resp->error, sizeof(resp->error), "cannot connect: %s",
		    why);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		resp->fail = pre == 0 ? HTTP_FAIL_CONNECT : HTTP_FAIL_TIMEOUT;
		snprintf(resp->error, sizeof(resp->error), "%s after %lld ms",
		    pre == 0 ? "connection timed out" : "no answer",
		    (long long)timeout_ms);
		break;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		resp->fail = HTTP_FAIL_OTHER;
		if (sink->too_big || cc == CURLE_FILESIZE_EXCEEDED)
			snprintf(resp->error, sizeof(resp->error),
			    "response body over %d bytes", HTTP_BODY_MAX);
		else
			snprintf(resp->error, sizeof(resp->error),
			    "out of memory for the response body");
		break;
	default:
		resp->fail = HTTP_FAIL_OTHER;
		snprintf(resp->error, sizeof(resp->error), "%s", why);
		break;
	}
}

int
http_do(const struct http_req *req, struct http_resp *resp)
{
	char errbuf[CURL_ERROR_SIZE];
	struct http_sink sink = { NULL, 0, 0, 0 };
	struct curl_slist *hdrs = NULL;
	CURL *h = NULL;
	CURLcode cc;
	long status = 0;
	int rc = -1;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after_ms = -1;
	resp->fail = HTTP_FAIL_OTHER;
	errbuf[0] = '\0';
	if (http_global_init(resp->error, sizeof(resp->error)) == -1)
		return -1;
	if ((h = curl.easy_init()) == NULL || http_headers(req, &hdrs) == -1) {
		snprintf(resp->error, sizeof(resp->error),
		    "cannot set up curl");
		goto out;
	}
	if (http_setup(h, req, hdrs, &sink, errbuf) == -1) {
		snprintf(resp->error, sizeof(resp->error),
		    "curl refused the request options");
		goto out;
	}
	if ((cc = curl.easy_perform(h)) != CURLE_OK) {
		http_failed(h, cc, &sink, errbuf, req->timeout_ms > 0 ?
		    req->timeout_ms : HTTP_TIMEOUT_DEFAULT_MS, resp);
		goto out;
	}
	(void)curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (sink.buf == NULL && (sink.buf = calloc(1, 1)) == NULL) {
		snprintf(resp->error, sizeof(resp->error), "out of memory");
		goto out;
	}
	resp->status = status;
	resp->body = sink.buf;
	resp->body_len = sink.len;
	resp->retry_after_ms = http_retry_after(h);
	resp->fail = HTTP_FAIL_NONE;
	sink.buf = NULL;
	rc = 0;
out:
	free(sink.buf);
	curl.slist_free_all(hdrs);
	if (h != NULL)
		curl.easy_cleanup(h);
	return rc;
}

void
http_resp_release(struct http_resp *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}
