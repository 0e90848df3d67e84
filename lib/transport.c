/*
 * transport: dispatch to the driver a bot's configuration names (a table,
 * as git's commands[]), and the helpers the drivers share. Adding a
 * driver = one transport_NAME.c + one row in drivers[].
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "transport.h"
#include "transport_impl.h"
#include "banned.h"

static const struct transport_driver *const drivers[] = {
	&transport_telegram_driver,
	&transport_webhook_driver,
	&transport_console_driver,
};

static const struct transport_driver *
driver_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}

int
transport_count(void)
{
	return (int)(sizeof(drivers) / sizeof(drivers[0]));
}

int
transport_known(const char *driver)
{
	return driver != NULL && driver_find(driver) != NULL;
}

int
transport_result_set(struct transport_result *res,
    enum transport_status status, const char *fmt, ...)
{
	va_list ap;

	res->status = status;
	va_start(ap, fmt);
	(void)vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
	return -1;
}

int
transport_http_fail(struct transport_result *res, const char *what,
    const struct http_resp *resp)
{
	if (resp->fail == HTTP_FAIL_CONNECT)
		return transport_result_set(res, TRANSPORT_RETRY,
		    "%s: not delivered: %s", what, resp->error);
	return transport_result_set(res, TRANSPORT_UNKNOWN,
	    "%s: outcome unknown, not resent: %s", what, resp->error);
}

void
transport_copy_utf8(char *dst, const char *src, size_t len)
{
	size_t n;

	if (len == 0)
		return;
	n = strlen(src);
	if (n >= len) {
		n = len - 1;
		/* Back up over continuation bytes to a lead byte, and drop
		 * that lead byte too: its sequence no longer fits. */
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

void
transport_snippet(char *dst, size_t len, const char *body, size_t body_len)
{
	size_t i, n;
	unsigned char c;

	if (len == 0)
		return;
	n = body == NULL ? 0 : body_len;
	if (n >= len) {
		/* Cut at a character boundary, as transport_copy_utf8. */
		n = len - 1;
		while (n > 0 && ((unsigned char)body[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++) {
		c = (unsigned char)body[i];
		dst[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	dst[n] = '\0';
}

int64_t
transport_retry_at(int64_t delay_ms)
{
	if (delay_ms < 0)
		return 0;
	if (delay_ms > HTTP_RETRY_MAX_MS)
		delay_ms = HTTP_RETRY_MAX_MS;
	return clock_now_ms() + delay_ms;
}

/* The driver for t, or NULL with res set. */
static const struct transport_driver *
driver_for(const struct cfg_transport *t, struct transport_result *res)
{
	const struct transport_driver *d = driver_find(t->driver);

	if (d == NULL && res != NULL)
		(void)transport_result_set(res, TRANSPORT_FATAL,
		    "unknown transport driver '%s'", t->driver);
	return d;
}

int
transport_send(const struct cfg_transport *t, const struct transport_out *m,
    struct transport_result *res)
{
	const struct transport_driver *d;

	memset(res, 0, sizeof(*res));
	if ((d = driver_for(t, res)) == NULL)
		return -1;
	if (m->text == NULL || m->chat_id == NULL || m->bot == NULL)
		return transport_result_set(res, TRANSPORT_FATAL,
		    "message %lld: no text, chat or bot",
		    (long long)m->message_id);
	return d->send(t, m, res);
}

int
transport_typing(const struct cfg_transport *t, const char *chat_id)
{
	const struct transport_driver *d = driver_for(t, NULL);

	if (d == NULL || chat_id == NULL)
		return -1;
	return d->typing(t, chat_id);
}

int
transport_poll(const struct cfg_transport *t, const char *offset,
    int wait_s, struct transport_batch *out, struct transport_result *res)
{
	const struct transport_driver *d;

	memset(out, 0, sizeof(*out));
	memset(res, 0, sizeof(*res));
	if ((d = driver_for(t, res)) == NULL)
		return -1;
	if (wait_s < 0)
		wait_s = 0;
	return d->poll(t, offset != NULL ? offset : "", wait_s, out, res);
}

void
transport_batch_release(struct transport_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++)
		free(b->ups[i].text);
	free(b->ups);
	memset(b, 0, sizeof(*b));
}

/* Length of the UTF-8 character at p (1 for a stray byte) and its
 * UTF-16 code units (2 past the BMP). */
static size_t
split_char(const unsigned char *p, size_t *units)
{
	size_t k = *p < 0x80 ? 1 : *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 :
	    *p >= 0xc0 ? 2 : 1;
	size_t i;

	for (i = 1; i < k; i++)
		if ((p[i] & 0xc0) != 0x80)
			k = i;		/* cut short: take what is there */
	*units = k == 4 ? 2 : 1;
	return k;
}

static int
split_space(char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* Where to cut the part text[off .. end) (end is the furthest that
 * fits): after a sentence in its second half, else at a space, else
 * end. */
static size_t
split_cut(const char *text, size_t off, size_t end)
{
	size_t i, space = 0, half = off + (end - off) / 2;

	for (i = end; i > half; i--) {
		if (text[i - 1] == '\n' || (split_space(text[i]) &&
		    strchr(".!?", text[i - 1]) != NULL))
			return i;
	}
	for (i = end; i > off && space == 0; i--)
		if (split_space(text[i]))
			space = i;
	return space > off ? space : end;
}

int
transport_split(const struct cfg_transport *t, const char *text,
    size_t max_units, struct transport_part **parts, size_t *n)
{
	const unsigned char *u = (const unsigned char *)text;
	struct transport_part *p = NULL, *np;
	size_t len = strlen(text), off = 0, end, units, cu, cl, cap = 0, k = 0;

	if (max_units == 0)
		max_units = TRANSPORT_TG_MAX_UNITS;
	if (strcmp(t->driver, "telegram") != 0)
		max_units = SIZE_MAX;
	do {
		for (end = off, units = 0; end < len; end += cl) {
			cl = split_char(u + end, &cu);
			if (units + cu > max_units)
				break;
			units += cu;
		}
		if (k == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			if ((np = reallocarray(p, cap, sizeof(*p))) == NULL) {
				free(p);
				return -1;
			}
			p = np;
		}
		if (end == off)
			end += split_char(u + off, &cu);	/* max_units < 2 */
		else if (end < len)
			end = split_cut(text, off, end);
		p[k].off = off;
		p[k].len = end - off;
		while (end < len && p[k].len > 0 &&
		    split_space(text[off + p[k].len - 1]))
			p[k].len--;
		k++;
		off = end;
		while (off < len && split_space(text[off]))
			off++;
	} while (off < len);
	*parts = p;
	*n = k;
	return 0;
}
