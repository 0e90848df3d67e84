/*
 * http: one HTTP request over libcurl, the seam through which dater
 * reaches the network (tests point URLs at servers on 127.0.0.1). TLS
 * verification is always on. One easy handle per request, so no curl
 * handle ever crosses a fork().
 */
#ifndef DATER_HTTP_H
#define DATER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_ERROR_MAX 256
#define HTTP_BODY_MAX (8 << 20)	/* larger responses are an error */
#define HTTP_RETRY_MAX_MS (3600LL * 1000)	/* no asked wait is longer */

struct http_req {
	const char *method;		/* "GET" or "POST" */
	const char *url;
	const char *const *headers;	/* NULL-terminated "Name: value" */
	const char *body;		/* NULL: none */
	size_t body_len;
	int64_t timeout_ms;		/* whole request; 0: 30 s */
};

enum http_fail {
	HTTP_FAIL_NONE = 0,
	HTTP_FAIL_CONNECT,	/* never reached the server (name lookup,
				 * connection refused or timed out before
				 * the request went out): safe to retry */
	HTTP_FAIL_TIMEOUT,	/* the request may have been delivered */
	HTTP_FAIL_OTHER		/* dropped connection, TLS, too large ... */
};

struct http_resp {
	long status;			/* 0 without a response */
	char *body;			/* owned, NUL-terminated; never NULL
					 * after a 0 return ("" if empty) */
	size_t body_len;
	int64_t retry_after_ms;		/* retry-after-ms, else Retry-After
					 * (seconds or an HTTP date, as a
					 * delay >= 0, capped at
					 * HTTP_RETRY_MAX_MS); -1 if neither */
	enum http_fail fail;
	char error[HTTP_ERROR_MAX];	/* why, when status == 0 */
};

/*
 * Perform req. Returns 0 when a whole response arrived (any status: check
 * resp->status), or -1 with resp->fail and resp->error set and status 0
 * (nothing logged: the caller knows what the request was for). A body
 * over HTTP_BODY_MAX, a dropped connection or a truncated body is -1
 * HTTP_FAIL_OTHER. resp is always initialized; release it with
 * http_resp_release() either way. Never logs, and resp->error never holds
 * the URL or headers (a URL may carry a token, headers hold keys).
 * curl_global_init is called on first use: single-threaded programs only.
 */
int http_do(const struct http_req *req, struct http_resp *resp);

/* Free resp's body; safe on a zeroed struct. */
void http_resp_release(struct http_resp *resp);

#endif
