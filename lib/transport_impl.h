/*
 * transport_impl: the driver table behind lib/transport.h and the helpers
 * the drivers share. Private to lib/transport*.c.
 *
 * A driver fills res completely (transport_result_set) on every -1, and
 * leaves it zeroed with status TRANSPORT_OK on success. The dispatcher in
 * transport.c zeroes res before calling a driver.
 */
#ifndef DATER_TRANSPORT_IMPL_H
#define DATER_TRANSPORT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "transport.h"

struct transport_driver {
	const char *name;
	int (*send)(const struct cfg_transport *, const struct transport_out *,
	    struct transport_result *);
	int (*typing)(const struct cfg_transport *, const char *chat_id);
	int (*poll)(const struct cfg_transport *, const char *offset, int wait_s,
	    struct transport_batch *, struct transport_result *);
};

extern const struct transport_driver transport_telegram_driver;
extern const struct transport_driver transport_webhook_driver;
extern const struct transport_driver transport_console_driver;

/* Set res->status and res->error (printf-style, truncated to fit).
 * Returns -1, so a driver can "return transport_result_set(...)". */
int transport_result_set(struct transport_result *res,
    enum transport_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Map a failed http_do (no response) for a request that delivers a
 * message: never connected -> RETRY; timed out or dropped after the
 * request may have reached the server -> UNKNOWN. what names the request
 * in the error ("webhook", "telegram sendMessage").
 */
int transport_http_fail(struct transport_result *res, const char *what,
    const struct http_resp *resp);

/* Copy src into dst (size len) like strlcpy, but cut at a UTF-8
 * character boundary so a truncated copy stays valid UTF-8. */
void transport_copy_utf8(char *dst, const char *src, size_t len);

/* Copy up to len-1 bytes of a response body into dst as one printable
 * line (controls become spaces), for error messages. */
void transport_snippet(char *dst, size_t len, const char *body,
    size_t body_len);

/* retry_at_ms for a response that asks to wait delay_ms (< 0: no ask),
 * the wait capped at HTTP_RETRY_MAX_MS. */
int64_t transport_retry_at(int64_t delay_ms);

#endif
