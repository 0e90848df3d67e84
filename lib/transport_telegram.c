/*
 * transport_telegram: the Telegram Bot API (sendMessage, sendChatAction,
 * getUpdates), every call a POST of a JSON body to
 * {base_url}/bot{TOKEN}/{method}.
 *
 * The token is part of every URL, so no URL is ever logged or put in an
 * error, and every error text is scrubbed of the token before it is
 * returned (curl or the server might echo it): it reads bot<redacted>.
 *
 * Replies are {"ok": true, "result": ...} or {"ok": false, "error_code",
 * "description", "parameters": {"retry_after"}}. Classification:
 * 429, 5xx, 409 and unreachable -> RETRY (retry_after, else Retry-After);
 * 403 blocked/deactivated/kicked -> FATAL with blocked; other 4xx ->
 * FATAL with Telegram's description; a sendMessage whose request may have
 * arrived (timeout, dropped connection, unreadable 2xx) -> UNKNOWN.
 *
 * Tolerated for the telegram-test-api emulator: getUpdates ignores offset
 * (each update is handed out once), dates may be milliseconds rather than
 * seconds, and messages carry extra fields such as botToken.
 */
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "redact.h"
#include "transport_impl.h"
#include "banned.h"

#define TG_DEFAULT_BASE "https://api.telegram.org"
#define TG_TOKEN_MAX 256
#define TG_URL_MAX (CFG_URL_MAX + TG_TOKEN_MAX + 64)
#define TG_TYPING_TIMEOUT_MS 5000
#define TG_POLL_LIMIT 100
/* Dates at or above this are milliseconds (as seconds: the year 5138). */
#define TG_DATE_MS_MIN 100000000000LL
/* Dates before 2000 or this far ahead of the clock are the receive time. */
#define TG_DATE_MIN_MS 946684800000LL
#define TG_DATE_SKEW_MS (10LL * 60 * 1000)

/* What one call needs: the resolved token and a name for errors. */
struct tg_call {
	const struct cfg_transport *t;
	char token[TG_TOKEN_MAX];
	const char *method;		/* "sendMessage" ... */
	const char *chat_id;		/* for errors; NULL for getUpdates */
};

/*
 * Replace every occurrence of token in s (size len), and a token cut
 * short at the end of s (a truncated message), by "<redacted>". The
 * process's registered secrets hold the token too when the configuration
 * was loaded; this call does not depend on that.
 */
static void
tg_redact(char *s, size_t len, const char *token)
{
	char buf[sizeof(((struct transport_result *)0)->error)];

	(void)strlcpy(buf, s, sizeof(buf));
	(void)redact_str(s, len, buf, token);
	explicit_bzero(buf, sizeof(buf));
}

/* A token may only hold what Telegram's do ("123456:ABC-def_..."), so it
 * cannot change the shape of the URL it is pasted into. */
static int
tg_token_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= 'A' && *s <= 'Z') || *s == ':' || *s == '_' ||
		    *s == '-'))
			return 0;
	return 1;
}

/* Fill c for a call of method, or -1 with res set (FATAL: the
 * configuration is wrong, naming the variable, never its value). */
static int
tg_setup(struct tg_call *c, const struct cfg_transport *t,
    const char *method, const char *chat_id, struct transport_result *res)
{
	const char *v;

	memset(c, 0, sizeof(*c));
	c->t = t;
	c->method = method;
	c->chat_id = chat_id;
	if (t->token_env[0] == '\0')
		return transport_result_set(res, TRANSPORT_FATAL,
		    "telegram: no token_env configured");
	v = getenv(t->token_env);
	if (v == NULL || *v == '\0')
		return transport_result_set(res, TRANSPORT_FATAL,
		    "telegram: environment variable '%s' is not set",
		    t->token_env);
	if (strlen(v) >= sizeof(c->token) || !tg_token_ok(v))
		return transport_result_set(res, TRANSPORT_FATAL,
		    "telegram: environment variable '%s' does not hold a bot "
		    "token", t->token_env);
	(void)strlcpy(c->token, v, sizeof(c->token));
	return 0;
}

/* Name the call in errors: "telegram sendMessage to chat '42'". */
static void
tg_what(const struct tg_call *c, char *buf, size_t len)
{
	if (c->chat_id != NULL)
		(void)snprintf(buf, len, "telegram %s to chat '%s'", c->method,
		    c->chat_id);
	else
		(void)snprintf(buf, len, "telegram %s", c->method);
}

/*
 * POST body (a new reference, consumed) to the method. Returns 0 when a
 * response arrived and -1 otherwise, like http_do; -1 with resp->fail
 * HTTP_FAIL_NONE means the request could not be built (res set, FATAL).
 * Release resp either way.
 */
static int
tg_post(const struct tg_call *c, json_t *body, int64_t timeout_ms,
    struct http_resp *resp, struct transport_result *res)
{
	static const char *const headers[] = {
		"Content-Type: application/json", NULL
	};
	const char *base = c->t->base_url[0] != '\0' ? c->t->base_url :
	    TG_DEFAULT_BASE;
	char url[TG_URL_MAX];
	struct http_req req;
	size_t bl = strlen(base);
	char *s = NULL;
	int n, rc = -1;

	memset(resp, 0, sizeof(*resp));
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	n = snprintf(url, sizeof(url), "%.*s/bot%s/%s", (int)bl, base,
	    c->token, c->method);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		(void)transport_result_set(res, TRANSPORT_FATAL,
		    "telegram: base_url too long");
		goto out;
	}
	if (body == NULL || (s = json_dumps(body, JSON_COMPACT)) == NULL) {
		(void)transport_result_set(res, TRANSPORT_FATAL,
		    "telegram %s: cannot build the request (text not valid "
		    "UTF-8?)", c->method);
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.headers = headers;
	req.body = s;
	req.body_len = strlen(s);
	req.timeout_ms = timeout_ms;
	rc = http_do(&req, resp);
out:
	free(s);
	json_decref(body);
	explicit_bzero(url, sizeof(url));
	return rc;
}

/* chat_id as Telegram wants it: an integer when it is one, else a
 * string (@channelname). New reference. */
static json_t *
tg_chat_id(const char *chat_id)
{
	const char *errstr;
	long long v;

	v = strtonum(chat_id, LLONG_MIN + 1, LLONG_MAX, &errstr);
	if (errstr == NULL)
		return json_integer(v);
	return json_string(chat_id);
}

/* The parsed body if it is a JSON object, else NULL. New reference. */
static json_t *
tg_parse(const struct http_resp *resp)
{
	json_t *root;

	if (resp->body == NULL || resp->body_len == 0)
		return NULL;
	root = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (root != NULL && !json_is_object(root)) {
		json_decref(root);
		root = NULL;
	}
	return root;
}

/* Whether a 403's description says the person is gone for good. */
static int
tg_blocked(const char *desc)
{
	return strstr(desc, "blocked") != NULL ||
	    strstr(desc, "deactivated") != NULL ||
	    strstr(desc, "kicked") != NULL;
}

/*
 * Classify a response that is not a success: root is the parsed body or
 * NULL. Always returns -1 with res set.
 */
static int
tg_fail(const struct tg_call *c, const struct http_resp *resp, json_t *root,
    struct transport_result *res)
{
	char what[160], desc[256];
	const char *d;
	json_t *ra;
	long st = resp->status;

	tg_what(c, what, sizeof(what));
	d = json_string_value(json_object_get(root, "description"));
	if (d != NULL)
		transport_copy_utf8(desc, d, sizeof(desc));
	else
		transport_snippet(desc, sizeof(desc), resp->body,
		    resp->body_len);
	if (st >= 200 && st < 300 && json_is_integer(json_object_get(root,
	    "error_code")))
		st = (long)json_integer_value(json_object_get(root,
		    "error_code"));
	if (st == 429 || st == 409 || st >= 500) {
		ra = json_object_get(json_object_get(root, "parameters"),
		    "retry_after");
		/* capped before the multiplication: never overflows */
		if (json_is_integer(ra) && json_integer_value(ra) >= 0)
			res->retry_at_ms = transport_retry_at(
			    json_integer_value(ra) < HTTP_RETRY_MAX_MS / 1000 ?
			    json_integer_value(ra) * 1000 : HTTP_RETRY_MAX_MS);
		else
			res->retry_at_ms = transport_retry_at(
			    resp->retry_after_ms);
		return transport_result_set(res, TRANSPORT_RETRY,
		    "%s: HTTP %ld: %s", what, st, desc);
	}
	if (st == 403 && tg_blocked(desc))
		res->blocked = 1;
	if (st == 401 || st == 404)
		return transport_result_set(res, TRANSPORT_FATAL,
		    "%s: HTTP %ld: %s (is the token in '%s' right?)", what, st,
		    desc, c->t->token_env);
	return transport_result_set(res, TRANSPORT_FATAL, "%s: HTTP %ld: %s",
	    what, st, desc);
}

/*
 * The "result" of a successful reply (borrowed from *root, which the
 * caller releases), or NULL with res set: a failure status, an
 * unreadable body, or "ok": false.
 */
static json_t *
tg_result(const struct tg_call *c, const struct http_resp *resp,
    json_t **root, struct transport_result *res,
    enum transport_status unreadable)
{
	char what[160], body[160];
	json_t *r;

	*root = tg_parse(resp);
	if (resp->status < 200 || resp->status >= 300 ||
	    (*root != NULL && !json_is_true(json_object_get(*root, "ok")))) {
		(void)tg_fail(c, resp, *root, res);
		return NULL;
	}
	if (*root == NULL || (r = json_object_get(*root, "result")) == NULL) {
		tg_what(c, what, sizeof(what));
		transport_snippet(body, sizeof(body), resp->body,
		    resp->body_len);
		(void)transport_result_set(res, unreadable,
		    "%s: HTTP %ld: malformed reply: %s", what, resp->status,
		    body);
		return NULL;
	}
	return r;
}

/* A failed http_do: sends may have arrived; anything else just retries. */
static int
tg_http_fail(const struct tg_call *c, const struct http_resp *resp,
    int delivers, struct transport_result *res)
{
	char what[160];

	if (resp->fail == HTTP_FAIL_NONE)
		return -1;		/* tg_post set res */
	tg_what(c, what, sizeof(what));
	if (delivers)
		return transport_http_fail(res, what, resp);
	return transport_result_set(res, TRANSPORT_RETRY, "%s: %s", what,
	    resp->error);
}

static int
tg_send(const struct cfg_transport *t, const struct transport_out *m,
    struct transport_result *res)
{
	struct tg_call c;
	struct http_resp resp;
	json_t *root = NULL, *r, *id;
	int rc = -1;

	if (tg_setup(&c, t, "sendMessage", m->chat_id, res) == -1)
		return -1;
	if (tg_post(&c, json_pack("{s:o, s:s}", "chat_id",
	    tg_chat_id(m->chat_id), "text", m->text), t->timeout_ms, &resp,
	    res) == -1) {
		(void)tg_http_fail(&c, &resp, 1, res);
		goto out;
	}
	/* A 2xx without a readable result was still accepted. */
	if ((r = tg_result(&c, &resp, &root, res, TRANSPORT_UNKNOWN)) == NULL)
		goto out;
	id = json_object_get(r, "message_id");
	if (json_is_integer(id))
		(void)snprintf(res->platform_msg_id,
		    sizeof(res->platform_msg_id), "%lld",
		    (long long)json_integer_value(id));
	rc = 0;
out:
	json_decref(root);
	http_resp_release(&resp);
	tg_redact(res->error, sizeof(res->error), c.token);
	explicit_bzero(c.token, sizeof(c.token));
	return rc;
}

static int
tg_typing(const struct cfg_transport *t, const char *chat_id)
{
	struct transport_result res;
	struct tg_call c;
	struct http_resp resp;
	json_t *root = NULL;
	int64_t tmo = t->timeout_ms;
	int rc = -1;

	memset(&res, 0, sizeof(res));
	if (tg_setup(&c, t, "sendChatAction", chat_id, &res) == -1)
		return -1;
	if (tmo <= 0 || tmo > TG_TYPING_TIMEOUT_MS)
		tmo = TG_TYPING_TIMEOUT_MS;
	if (tg_post(&c, json_pack("{s:o, s:s}", "chat_id",
	    tg_chat_id(chat_id), "action", "typing"), tmo, &resp, &res) == 0 &&
	    tg_result(&c, &resp, &root, &res, TRANSPORT_RETRY) != NULL)
		rc = 0;
	json_decref(root);
	http_resp_release(&resp);
	explicit_bzero(c.token, sizeof(c.token));
	return rc;
}

/* Integer or string JSON value as text into buf; 0, or -1 if neither
 * or if it does not fit (an id is never cut short). */
static int
tg_id_text(json_t *v, char *buf, size_t len)
{
	int n;

	if (json_is_integer(v)) {
		n = snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		return n > 0 && (size_t)n < len ? 0 : -1;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) >= len)
		return -1;
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* The display name: first and last name, else the chat's title. */
static void
tg_name(json_t *from, json_t *chat, char *buf, size_t len)
{
	const char *first, *last;
	char tmp[1024];

	first = json_string_value(json_object_get(from, "first_name"));
	last = json_string_value(json_object_get(from, "last_name"));
	if (first == NULL && last == NULL)
		first = json_string_value(json_object_get(chat, "title"));
	(void)snprintf(tmp, sizeof(tmp), "%s%s%s", first != NULL ? first : "",
	    first != NULL && last != NULL ? " " : "", last != NULL ? last : "");
	transport_copy_utf8(buf, tmp, len);
}

/* What tg_sanitize puts where a string held something unreadable: U+FFFF,
 * a noncharacter no client sends. An update holding it is skipped. */
#define TG_BAD "\\uffff"
#define TG_BAD_UTF8 "\xef\xbf\xbf"

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid
 * (overlong, surrogate, past U+10FFFF, cut short). */
static size_t
tg_utf8_len(const unsigned char *p, size_t n)
{
	size_t k, i;
	uint32_t c;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		k = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		k = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		k = 4, c = p[0] & 0x07;
	else
		return 0;
	if (k > n)
		return 0;
	for (i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((k == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (k == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return k;
}

/* The value of the 4 hex digits at p, or -1. */
static long
tg_hex4(const char *p)
{
	long v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			v |= p[i] - '0';
		else if ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f')
			v |= (p[i] | 0x20) - 'a' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * Length of what starts at the backslash p inside a string (n bytes
 * left) and whether it is readable: "\u0000" (a NUL) and a lone
 * surrogate ("\ud800" without its pair) are not; everything else is
 * left for the JSON parser to judge.
 */
static size_t
tg_escape(const char *p, size_t n, int *bad)
{
	long u, lo;

	*bad = 0;
	if (n < 2 || p[1] != 'u')
		return n < 2 ? n : 2;
	if (n < 6 || (u = tg_hex4(p + 2)) < 0)
		return 2;
	if (u == 0 || (u >= 0xdc00 && u <= 0xdfff))
		*bad = 1;
	else if (u >= 0xd800 && u <= 0xdbff) {
		if (n >= 12 && p[6] == '\\' && p[7] == 'u' &&
		    (lo = tg_hex4(p + 8)) >= 0xdc00 && lo <= 0xdfff)
			return 12;
		*bad = 1;
	}
	return 6;
}

/*
 * A copy of the JSON text body (len bytes) in which whatever inside a
 * string could not be read (invalid UTF-8, a raw control character, a
 * NUL escape, a lone surrogate) is TG_BAD, so that one such update does
 * not make the whole answer unparseable. NULL if out of memory; free it.
 */
static char *
tg_sanitize(const char *body, size_t len, size_t *outlen)
{
	const unsigned char *b = (const unsigned char *)body;
	size_t i = 0, o = 0, k;
	char *out;
	int in = 0, bad;

	if (len > (SIZE_MAX - 1) / 6 || (out = malloc(len * 6 + 1)) == NULL)
		return NULL;
	while (i < len) {
		if (!in || (b[i] != '\\' && b[i] != '"' && b[i] >= 0x20 &&
		    (k = tg_utf8_len(b + i, len - i)) > 0)) {
			k = !in ? 1 : k;
			in ^= b[i] == '"';
			memcpy(out + o, b + i, k);
			i += k, o += k;
		} else if (b[i] == '"') {
			in = 0;
			out[o++] = (char)b[i++];
		} else if (b[i] == '\\') {
			k = tg_escape(body + i, len - i, &bad);
			if (bad)
				memcpy(out + o, TG_BAD, 6), o += 6;
			else
				memcpy(out + o, b + i, k), o += k;
			i += k;
		} else {
			memcpy(out + o, TG_BAD, 6);
			o += 6, i++;
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* Whether any string (or key) in v holds TG_BAD. */
static int
tg_has_bad(json_t *v)
{
	const char *k;
	json_t *e;
	size_t i;

	if (json_is_string(v))
		return strstr(json_string_value(v), TG_BAD_UTF8) != NULL;
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			if (tg_has_bad(e))
				return 1;
	} else if (json_is_object(v)) {
		json_object_foreach(v, k, e)
			if (strstr(k, TG_BAD_UTF8) != NULL || tg_has_bad(e))
				return 1;
	}
	return 0;
}

/* "[what]" or "[what detail]", then " caption" if msg has one. New
 * string, or NULL if out of memory. */
static char *
tg_label(json_t *msg, const char *what, const char *detail)
{
	const char *cap = json_string_value(json_object_get(msg, "caption"));
	size_t len;
	char *s;

	if (detail == NULL)
		detail = "";
	if (cap == NULL)
		cap = "";
	len = strlen(what) + strlen(detail) + strlen(cap) + 5;
	if ((s = malloc(len)) == NULL)
		return NULL;
	(void)snprintf(s, len, "[%s%s%s]%s%s", what, *detail != '\0' ? " " :
	    "", detail, *cap != '\0' ? " " : "", cap);
	return s;
}

/* "5 s" from an integer field "duration" of o, or "". */
static const char *
tg_duration(json_t *o, char *buf, size_t len)
{
	json_t *d = json_object_get(o, "duration");

	buf[0] = '\0';
	if (json_is_integer(d) && json_integer_value(d) >= 0 &&
	    json_integer_value(d) < INT_MAX)
		(void)snprintf(buf, len, "%lld s",
		    (long long)json_integer_value(d));
	return buf;
}

/*
 * The text of a message: its text, or for media a readable placeholder
 * ("[sticker 😀]", "[photo] caption", "[voice note 5 s]", "[document
 * a.pdf]", "[location 38.72, -9.14]"...), so the bot can answer and
 * nothing is dropped silently. New string, or NULL if out of memory.
 */
static char *
tg_text(json_t *msg)
{
	const char *text = json_string_value(json_object_get(msg, "text"));
	json_t *o;
	char d[160];
	const char *first, *last;

	if (text != NULL)
		return strdup(text);
	if ((o = json_object_get(msg, "sticker")) != NULL)
		return tg_label(msg, "sticker", json_string_value(
		    json_object_get(o, "emoji")));
	if (json_object_get(msg, "photo") != NULL)
		return tg_label(msg, "photo", NULL);
	if ((o = json_object_get(msg, "voice")) != NULL)
		return tg_label(msg, "voice note", tg_duration(o, d,
		    sizeof(d)));
	if ((o = json_object_get(msg, "video_note")) != NULL)
		return tg_label(msg, "video note", tg_duration(o, d,
		    sizeof(d)));
	if ((o = json_object_get(msg, "animation")) != NULL)
		return tg_label(msg, "GIF", NULL);
	if ((o = json_object_get(msg, "video")) != NULL)
		return tg_label(msg, "video", tg_duration(o, d, sizeof(d)));
	if ((o = json_object_get(msg, "audio")) != NULL)
		return tg_label(msg, "audio", json_string_value(
		    json_object_get(o, "title")));
	if ((o = json_object_get(msg, "document")) != NULL)
		return tg_label(msg, "document", json_string_value(
		    json_object_get(o, "file_name")));
	if ((o = json_object_get(msg, "venue")) != NULL)
		return tg_label(msg, "venue", json_string_value(
		    json_object_get(o, "title")));
	if ((o = json_object_get(msg, "location")) != NULL) {
		d[0] = '\0';
		if (json_is_number(json_object_get(o, "latitude")) &&
		    json_is_number(json_object_get(o, "longitude")))
			(void)snprintf(d, sizeof(d), "%.5f, %.5f",
			    json_number_value(json_object_get(o, "latitude")),
			    json_number_value(json_object_get(o, "longitude")));
		return tg_label(msg, "location", d);
	}
	if ((o = json_object_get(msg, "contact")) != NULL) {
		first = json_string_value(json_object_get(o, "first_name"));
		last = json_string_value(json_object_get(o, "last_name"));
		(void)snprintf(d, sizeof(d), "%s%s%s", first != NULL ? first :
		    "", first != NULL && last != NULL ? " " : "",
		    last != NULL ? last : "");
		return tg_label(msg, "contact", d);
	}
	if ((o = json_object_get(msg, "poll")) != NULL)
		return tg_label(msg, "poll", json_string_value(
		    json_object_get(o, "question")));
	if ((o = json_object_get(msg, "dice")) != NULL)
		return tg_label(msg, "dice", json_string_value(
		    json_object_get(o, "emoji")));
	return tg_label(msg, "unsupported message", NULL);
}

/* A message's date in ms: Telegram's seconds (or the emulator's ms);
 * missing, before 2000 or more than TG_DATE_SKEW_MS ahead of now: now. */
static int64_t
tg_date(json_t *date, int64_t now)
{
	int64_t d = json_is_integer(date) ? json_integer_value(date) : 0;

	if (d <= 0 || d > INT64_MAX / 1000)
		return now;
	d = d >= TG_DATE_MS_MIN ? d : d * 1000;
	if (d < TG_DATE_MIN_MS || d > now + TG_DATE_SKEW_MS)
		return now;
	return d;
}

/*
 * Turn one update into u. Returns 1 when u is filled (u->text owned), 0
 * when the update is not for us (not a message, or from a bot), 2 when
 * it cannot be read (*why says why), -1 if out of memory.
 */
static int
tg_update(json_t *up, struct transport_update *u, const char **why)
{
	json_t *msg, *from, *chat, *v;

	msg = json_object_get(up, "message");
	if (!json_is_object(msg))
		return 0;
	from = json_object_get(msg, "from");
	if (json_is_true(json_object_get(from, "is_bot")))
		return 0;
	*why = "invalid UTF-8, a NUL or a lone surrogate in a string";
	if (tg_has_bad(msg))
		return 2;
	v = json_object_get(msg, "text");
	*why = "text is not a string";
	if (v != NULL && !json_is_string(v))
		return 2;
	chat = json_object_get(msg, "chat");
	memset(u, 0, sizeof(*u));
	*why = "no chat id (or one too long)";
	if (tg_id_text(json_object_get(chat, "id"), u->platform_id,
	    sizeof(u->platform_id)) == -1 &&
	    (chat != NULL || tg_id_text(json_object_get(from, "id"),
	    u->platform_id, sizeof(u->platform_id)) == -1))
		return 2;
	/* Without a message id, the update's id is its identity. */
	v = json_object_get(msg, "message_id");
	*why = "message_id is too long";
	if (v == NULL || json_is_null(v))
		(void)snprintf(u->message_id, sizeof(u->message_id), "u%lld",
		    (long long)json_integer_value(json_object_get(up,
		    "update_id")));
	else if (tg_id_text(v, u->message_id, sizeof(u->message_id)) == -1)
		return 2;
	v = json_object_get(from, "username");
	transport_copy_utf8(u->handle, json_is_string(v) ?
	    json_string_value(v) : "", sizeof(u->handle));
	tg_name(from, chat, u->name, sizeof(u->name));
	u->at_ms = tg_date(json_object_get(msg, "date"), clock_now_ms());
	if ((u->text = tg_text(msg)) == NULL)
		return -1;
	return 1;
}

/* Count an unreadable update in out (the first one's reason kept). */
static void
tg_skip(struct transport_batch *out, json_t *uid, const char *why)
{
	if (out->skipped++ == 0) {
		if (json_is_integer(uid))
			(void)snprintf(out->skip_why, sizeof(out->skip_why),
			    "update %lld: %s", (long long)json_integer_value(
			    uid), why);
		else
			(void)snprintf(out->skip_why, sizeof(out->skip_why),
			    "an update without update_id: %s", why);
	}
}

/* Collect the messages of result (an array) into out. */
static int
tg_updates(json_t *result, struct transport_batch *out,
    struct transport_result *res)
{
	json_t *up, *uid;
	size_t i, n = json_array_size(result);
	int64_t max = INT64_MIN;
	const char *why = "";
	int k;

	if (n > 0 && (out->ups = calloc(n, sizeof(*out->ups))) == NULL)
		return transport_result_set(res, TRANSPORT_RETRY,
		    "telegram getUpdates: out of memory");
	json_array_foreach(result, i, up) {
		uid = json_object_get(up, "update_id");
		if (!json_is_integer(uid) || json_integer_value(uid) < 0) {
			tg_skip(out, uid, "no update_id");
			continue;
		}
		if (json_integer_value(uid) > max)
			max = json_integer_value(uid);
		if ((k = tg_update(up, &out->ups[out->n], &why)) == -1)
			return transport_result_set(res, TRANSPORT_RETRY,
			    "telegram getUpdates: out of memory");
		if (k == 2) {
			free(out->ups[out->n].text);
			memset(&out->ups[out->n], 0, sizeof(out->ups[0]));
			tg_skip(out, uid, why);
		} else
			out->n += (size_t)k;
	}
	if (max != INT64_MIN && max < INT64_MAX)
		(void)snprintf(out->next_offset, sizeof(out->next_offset),
		    "%lld", (long long)max + 1);
	return 0;
}

int
transport_telegram_parse(const char *body, size_t len,
    struct transport_batch *out, struct transport_result *res)
{
	json_t *root = NULL, *r;
	char *clean;
	size_t clen = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(res, 0, sizeof(*res));
	if ((clean = tg_sanitize(body, len, &clen)) == NULL)
		return transport_result_set(res, TRANSPORT_RETRY,
		    "telegram getUpdates: out of memory");
	root = json_loadb(clean, clen, 0, NULL);
	free(clean);
	if (!json_is_object(root) || !json_is_true(json_object_get(root,
	    "ok")) || !json_is_array(r = json_object_get(root, "result"))) {
		(void)transport_result_set(res, TRANSPORT_RETRY,
		    "telegram getUpdates: malformed reply: not {\"ok\": true, "
		    "\"result\": [...]}");
		goto out;
	}
	rc = tg_updates(r, out, res);
out:
	if (rc == -1)
		transport_batch_release(out);
	json_decref(root);
	return rc;
}

static int
tg_poll(const struct cfg_transport *t, const char *offset, int wait_s,
    struct transport_batch *out, struct transport_result *res)
{
	struct tg_call c;
	struct http_resp resp;
	json_t *root = NULL, *body;
	const char *errstr;
	long long off = 0;
	int rc = -1;

	if (offset[0] != '\0') {
		off = strtonum(offset, LLONG_MIN + 1, LLONG_MAX, &errstr);
		if (errstr != NULL)
			return transport_result_set(res, TRANSPORT_FATAL,
			    "telegram getUpdates: offset '%s' is %s", offset,
			    errstr);
	}
	if (tg_setup(&c, t, "getUpdates", NULL, res) == -1)
		return -1;
	/* wait_s 0: short polling (the poll job); else a long poll, whose
	 * request may take that long before the usual timeout starts. */
	body = json_pack("{s:i, s:i, s:[s]}", "timeout", wait_s, "limit",
	    TG_POLL_LIMIT, "allowed_updates", "message");
	if (body != NULL && offset[0] != '\0')
		(void)json_object_set_new(body, "offset", json_integer(off));
	if (tg_post(&c, body, t->timeout_ms + (int64_t)wait_s * 1000, &resp,
	    res) == -1) {
		(void)tg_http_fail(&c, &resp, 0, res);
		goto out;
	}
	/* A failure reply is classified as any other; a success is parsed
	 * update by update, so one unreadable update skips only itself. */
	if (resp.status < 200 || resp.status >= 300 ||
	    ((root = tg_parse(&resp)) != NULL &&
	    !json_is_true(json_object_get(root, "ok")))) {
		(void)tg_fail(&c, &resp, root, res);
		goto out;
	}
	rc = transport_telegram_parse(resp.body, resp.body_len, out, res);
out:
	if (rc == -1)
		transport_batch_release(out);
	json_decref(root);
	http_resp_release(&resp);
	tg_redact(res->error, sizeof(res->error), c.token);
	explicit_bzero(c.token, sizeof(c.token));
	return rc;
}

const struct transport_driver transport_telegram_driver = {
	"telegram", tg_send, tg_typing, tg_poll
};
