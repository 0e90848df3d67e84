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
#include "transport_impl.h"
#include "banned.h"

#define TG_DEFAULT_BASE "https://api.telegram.org"
#define TG_TOKEN_MAX 256
#define TG_URL_MAX (CFG_URL_MAX + TG_TOKEN_MAX + 64)
#define TG_TYPING_TIMEOUT_MS 5000
#define TG_POLL_LIMIT 100
/* Dates at or above this are milliseconds (as seconds: the year 5138). */
#define TG_DATE_MS_MIN 100000000000LL

/* What one call needs: the resolved token and a name for errors. */
struct tg_call {
	const struct cfg_transport *t;
	char token[TG_TOKEN_MAX];
	const char *method;		/* "sendMessage" ... */
	const char *chat_id;		/* for errors; NULL for getUpdates */
};

/*
 * Replace every occurrence of token in s (size len) by "<redacted>", and
 * a token cut short at the end of s (a truncated message) as well.
 */
static void
tg_redact(char *s, size_t len, const char *token)
{
	static const char mark[] = "<redacted>";
	char buf[sizeof(((struct transport_result *)0)->error)];
	size_t tl = strlen(token), o = 0, k, rest;
	const char *p = s;

	if (tl == 0)
		return;
	while (*p != '\0' && o + 1 < sizeof(buf)) {
		rest = strlen(p);
		if (strncmp(p, token, rest < tl ? rest : tl) == 0 &&
		    (rest >= tl || rest >= 4)) {
			for (k = 0; mark[k] != '\0' && o + 1 < sizeof(buf); k++)
				buf[o++] = mark[k];
			p += rest < tl ? rest : tl;
		} else
			buf[o++] = *p++;
	}
	buf[o] = '\0';
	transport_copy_utf8(s, buf, len);
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

/* Integer or string JSON value as text into buf; 0, or -1 if neither. */
static int
tg_id_text(json_t *v, char *buf, size_t len)
{
	if (json_is_integer(v))
		(void)snprintf(buf, len, "%lld",
		    (long long)json_integer_value(v));
	else if (json_is_string(v) && json_string_length(v) > 0)
		transport_copy_utf8(buf, json_string_value(v), len);
	else
		return -1;
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

/*
 * Turn one update's message into u. Returns 1 when u is filled (u->text
 * owned), 0 when the update is not for us: not a message, no text, from
 * a bot, no chat. -1 if out of memory.
 */
static int
tg_update(json_t *up, struct transport_update *u)
{
	json_t *msg, *from, *chat, *date;
	const char *text;
	int64_t d;

	msg = json_object_get(up, "message");
	text = json_string_value(json_object_get(msg, "text"));
	if (text == NULL)
		return 0;
	from = json_object_get(msg, "from");
	if (json_is_true(json_object_get(from, "is_bot")))
		return 0;
	chat = json_object_get(msg, "chat");
	memset(u, 0, sizeof(*u));
	if (tg_id_text(json_object_get(chat, "id"), u->platform_id,
	    sizeof(u->platform_id)) == -1 &&
	    tg_id_text(json_object_get(from, "id"), u->platform_id,
	    sizeof(u->platform_id)) == -1)
		return 0;
	(void)tg_id_text(json_object_get(msg, "message_id"), u->message_id,
	    sizeof(u->message_id));
	transport_copy_utf8(u->handle, json_string_value(json_object_get(from,
	    "username")) != NULL ? json_string_value(json_object_get(from,
	    "username")) : "", sizeof(u->handle));
	tg_name(from, chat, u->name, sizeof(u->name));
	date = json_object_get(msg, "date");
	d = json_is_integer(date) ? json_integer_value(date) : 0;
	if (d <= 0 || d > INT64_MAX / 1000)
		u->at_ms = clock_now_ms();
	else
		u->at_ms = d >= TG_DATE_MS_MIN ? d : d * 1000;
	if ((u->text = strdup(text)) == NULL)
		return -1;
	return 1;
}

/* Collect the text messages of result (an array) into out. */
static int
tg_updates(json_t *result, struct transport_batch *out,
    struct transport_result *res)
{
	json_t *up, *uid;
	size_t i, n = json_array_size(result);
	int64_t max = INT64_MIN;
	int k;

	if (n > 0 && (out->ups = calloc(n, sizeof(*out->ups))) == NULL)
		return transport_result_set(res, TRANSPORT_RETRY,
		    "telegram getUpdates: out of memory");
	json_array_foreach(result, i, up) {
		uid = json_object_get(up, "update_id");
		if (!json_is_integer(uid))
			continue;
		if (json_integer_value(uid) > max)
			max = json_integer_value(uid);
		if ((k = tg_update(up, &out->ups[out->n])) == -1)
			return transport_result_set(res, TRANSPORT_RETRY,
			    "telegram getUpdates: out of memory");
		out->n += (size_t)k;
	}
	if (max != INT64_MIN && max < INT64_MAX)
		(void)snprintf(out->next_offset, sizeof(out->next_offset),
		    "%lld", (long long)max + 1);
	return 0;
}

static int
tg_poll(const struct cfg_transport *t, const char *offset,
    struct transport_batch *out, struct transport_result *res)
{
	struct tg_call c;
	struct http_resp resp;
	json_t *root = NULL, *r, *body;
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
	/* timeout 0: short polling; the poll job runs again soon. */
	body = json_pack("{s:i, s:i, s:[s]}", "timeout", 0, "limit",
	    TG_POLL_LIMIT, "allowed_updates", "message");
	if (body != NULL && offset[0] != '\0')
		(void)json_object_set_new(body, "offset", json_integer(off));
	if (tg_post(&c, body, t->timeout_ms, &resp, res) == -1) {
		(void)tg_http_fail(&c, &resp, 0, res);
		goto out;
	}
	if ((r = tg_result(&c, &resp, &root, res, TRANSPORT_RETRY)) == NULL)
		goto out;
	if (!json_is_array(r)) {
		(void)transport_result_set(res, TRANSPORT_RETRY,
		    "telegram getUpdates: malformed reply: result is not an "
		    "array");
		goto out;
	}
	rc = tg_updates(r, out, res);
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
