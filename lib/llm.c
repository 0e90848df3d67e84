/*
 * llm: Chat Completions over lib/http, and the offline provider.
 *
 * openai: POST {base_url}/chat/completions with {"model", "messages",
 * "max_completion_tokens" (when > 0), "temperature" (when set)} and
 * "Authorization: Bearer $KEY". The answer is sorted into three outcomes:
 *
 *   LLM_OK     2xx with choices[0].message.content a string (possibly
 *              empty: the caller's draft check judges the text)
 *   LLM_RETRY  no response (connect, timeout, dropped, truncated), 408,
 *              409, 429 and 5xx (the statuses OpenAI's own clients retry),
 *              and a 2xx whose body is not JSON (a proxy's error page or
 *              an overloaded server; the next try may well succeed)
 *   LLM_FATAL  other statuses (400, 401, 403, 404 ...), a 2xx JSON body
 *              of the wrong shape (no choices, content not a string: the
 *              server is not what the config says), a missing key, a
 *              request that cannot be built
 *
 * The key lives in a local buffer for the call and is wiped after. Since
 * servers may echo it (an error quoting the key, a reply repeating the
 * request), the strings handed back have it replaced by "[redacted]":
 * always in the error, and in the reply text and model name when the key
 * is at least LLM_KEY_MIN bytes (shorter ones are placeholders such as
 * "none" for local servers, and may be ordinary words).
 *
 * offline: a deterministic reply built from the conversation, no network:
 * a templated answer quoting the last user message, or an opener or
 * follow-up when the last message is not the contact's, the template
 * chosen by a hash of all messages.
 */
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http.h"
#include "llm.h"
#include "log.h"
#include "banned.h"

#define LLM_REDACTED "[redacted]"
#define LLM_SNIPPET 200		/* bytes of a non-JSON error body shown */
#define LLM_MSG_OVERHEAD 3	/* tokens per message for role and framing */
#define LLM_KEY_MIN 8		/* shorter keys are not redacted in replies */

static void llm_fail(struct llm_result *out, enum llm_status st,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
llm_fail(struct llm_result *out, enum llm_status st, const char *fmt, ...)
{
	va_list ap;

	out->status = st;
	va_start(ap, fmt);
	(void)vsnprintf(out->error, sizeof(out->error), fmt, ap);
	va_end(ap);
}

int
llm_estimate_tokens(const char *text)
{
	size_t n;

	if (text == NULL || (n = strlen(text)) == 0)
		return 0;
	n = (n + 3) / 4;
	return n > INT_MAX ? INT_MAX : (int)n;
}

static int
llm_estimate_input(const struct llm_req *req)
{
	long long t = 0;
	size_t i;

	for (i = 0; i < req->n; i++)
		t += llm_estimate_tokens(req->msgs[i].content) +
		    LLM_MSG_OVERHEAD;
	return t > INT_MAX ? INT_MAX : (int)t;
}

static void
llm_cost(const struct cfg_llm *cfg, struct llm_result *out)
{
	out->cost_usd = (out->tokens_in * cfg->price_in_per_mtok +
	    out->tokens_out * cfg->price_out_per_mtok) / 1e6;
}

/* Length of the valid UTF-8 sequence at s, 0 if invalid (RFC 3629). */
static size_t
llm_utf8_len(const unsigned char *s)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80 || (c == 0xf0 && s[1] < 0x90) ||
		    (c == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

/*
 * A copy of s[0..n) (n bytes at most, never splitting a character) as
 * valid UTF-8, each invalid byte replaced by U+FFFD and, with flat, each
 * run of control characters and white space by one space. Owned by the
 * caller; NULL if out of memory.
 */
static char *
llm_utf8_clean(const char *s, size_t n, int flat)
{
	const unsigned char *p = (const unsigned char *)s;
	char *o, *r;
	size_t i = 0, k;

	if ((r = o = malloc(3 * n + 1)) == NULL)
		return NULL;
	while (i < n && p[i] != '\0') {
		k = llm_utf8_len(p + i);
		if (k > n - i)
			break;
		if (k == 0) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else if (flat && (p[i] <= ' ' || p[i] == 0x7f)) {
			if (o == r || o[-1] != ' ')
				*o++ = ' ';
			i++;
		} else {
			memcpy(o, p + i, k);
			o += k;
			i += k;
		}
	}
	*o = '\0';
	return r;
}

/* A JSON string for text, repaired if it is not valid UTF-8 (contacts
 * send anything); a new reference or NULL. */
static json_t *
llm_jstring(const char *text)
{
	json_t *j;
	char *c;

	if (text == NULL)
		text = "";
	if ((j = json_string(text)) != NULL)
		return j;
	if ((c = llm_utf8_clean(text, strlen(text), 0)) == NULL)
		return NULL;
	j = json_string(c);
	free(c);
	return j;
}

/* The request body; owned by the caller (free), NULL on error. */
static char *
llm_body(const struct cfg_llm *cfg, const struct llm_req *req,
    const char *model, struct llm_result *out)
{
	json_t *root, *msgs, *m;
	char *s = NULL;
	size_t i;
	int bad = 0;

	root = json_object();
	msgs = json_array();
	bad |= root == NULL || msgs == NULL;
	for (i = 0; !bad && i < req->n; i++) {
		if (req->msgs[i].role == NULL) {
			llm_fail(out, LLM_FATAL, "llm: message %zu has no role",
			    i);
			goto out;
		}
		m = json_object();
		bad |= m == NULL;
		bad |= json_object_set_new(m, "role",
		    llm_jstring(req->msgs[i].role));
		bad |= json_object_set_new(m, "content",
		    llm_jstring(req->msgs[i].content));
		bad |= json_array_append_new(msgs, m);
	}
	bad |= json_object_set_new(root, "model", llm_jstring(model));
	bad |= json_object_set(root, "messages", msgs);
	if (cfg->max_completion_tokens > 0)
		bad |= json_object_set_new(root, "max_completion_tokens",
		    json_integer(cfg->max_completion_tokens));
	if (cfg->has_temperature)
		bad |= json_object_set_new(root, "temperature",
		    json_real(cfg->temperature));
	if (!bad)
		s = json_dumps(root, JSON_COMPACT);
	if (s == NULL)
		llm_fail(out, LLM_RETRY, "llm: out of memory for the request");
out:
	json_decref(msgs);
	json_decref(root);
	return s;
}

/*
 * The API key from the environment into key (the caller wipes it), ""
 * when the config names no variable. -1 with out set if it names one
 * that is unset, empty or unusable in a header.
 */
static int
llm_key(const struct cfg_llm *cfg, char *key, size_t len,
    struct llm_result *out)
{
	const char *v, *p;

	key[0] = '\0';
	if (cfg->api_key_env[0] == '\0')
		return 0;
	if ((v = getenv(cfg->api_key_env)) == NULL || *v == '\0') {
		llm_fail(out, LLM_FATAL, "llm: environment variable '%s' "
		    "(llm.api_key_env) is not set", cfg->api_key_env);
		return -1;
	}
	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			break;
	if (*p != '\0' || strlcpy(key, v, len) >= len) {
		llm_fail(out, LLM_FATAL, "llm: environment variable '%s' "
		    "(llm.api_key_env) does not hold a usable key",
		    cfg->api_key_env);
		return -1;
	}
	return 0;
}

/*
 * s with every occurrence of key replaced by "[redacted]": owned by the
 * caller; NULL if key is "" or not in s, or out of memory.
 */
static char *
llm_redacted(const char *s, const char *key)
{
	size_t klen = strlen(key), rlen = strlen(LLM_REDACTED), n = 0;
	const char *p, *q;
	char *r, *o;

	if (klen == 0)
		return NULL;
	for (p = s; (q = strstr(p, key)) != NULL; p = q + klen)
		n++;
	if (n == 0)
		return NULL;
	if ((r = o = malloc(strlen(s) + n * rlen + 1)) == NULL)
		return NULL;
	for (p = s; (q = strstr(p, key)) != NULL; p = q + klen) {
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, LLM_REDACTED, rlen);
		o += rlen;
	}
	memcpy(o, p, strlen(p) + 1);
	return r;
}

/* A string member of o, or NULL. */
static const char *
llm_jstr(const json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

/*
 * The server's reason in an error body: {"error": {"message"}} (OpenAI,
 * llama.cpp), {"message"} (vLLM, and beside {"error": "Not Found"} from
 * express), {"error": "..."} (Ollama), {"detail"} (FastAPI servers); else
 * the start of the body. Into buf, on one line, the key redacted.
 */
static void
llm_reason(const struct http_resp *resp, const char *key, char *buf,
    size_t len)
{
	json_t *root, *err;
	const char *msg = NULL;
	char *clean, *r;
	size_t n;
	int cut;

	buf[0] = '\0';
	root = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (json_is_object(root)) {
		err = json_object_get(root, "error");
		if ((msg = llm_jstr(err, "message")) == NULL &&
		    (msg = llm_jstr(root, "message")) == NULL &&
		    (msg = json_string_value(err)) == NULL)
			msg = llm_jstr(root, "detail");
	}
	cut = 0;
	if (msg != NULL)
		n = strlen(msg);
	else {
		/* a snippet, cut after redacting: a key across the cut
		 * would escape the search */
		msg = resp->body;
		n = resp->body_len;
		if (n > LLM_SNIPPET + strlen(key)) {
			n = LLM_SNIPPET + strlen(key);
			cut = 1;
		}
	}
	if ((clean = llm_utf8_clean(msg, n, 1)) != NULL) {
		if ((r = llm_redacted(clean, key)) != NULL) {
			free(clean);
			clean = r;
		}
		n = strlen(clean);
		if (cut && n > LLM_SNIPPET) {
			n = LLM_SNIPPET;
			while (n > 0 && ((unsigned char)clean[n] & 0xc0) ==
			    0x80)
				n--;
			clean[n] = '\0';
		}
		while (n > 0 && clean[n - 1] == ' ')
			clean[--n] = '\0';
		strlcpy(buf, clean[0] == ' ' ? clean + 1 : clean, len);
		free(clean);
	}
	json_decref(root);
}

static int
llm_retryable(long status)
{
	return status == 408 || status == 409 || status == 429 ||
	    (status >= 500 && status <= 599);
}

/* A response with a status other than 2xx. */
static void
llm_http_error(const struct http_resp *resp, const char *key,
    struct llm_result *out)
{
	char reason[384];
	int retry = llm_retryable(resp->status);

	llm_reason(resp, key, reason, sizeof(reason));
	llm_fail(out, retry ? LLM_RETRY : LLM_FATAL, "llm: HTTP %ld%s%s",
	    resp->status, reason[0] != '\0' ? ": " : "", reason);
	if (retry && resp->retry_after_ms >= 0)
		out->retry_at_ms = clock_now_ms() + resp->retry_after_ms;
}

static const char *
llm_jtype(const json_t *j)
{
	if (j == NULL)
		return "missing";
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_NULL:
		return "null";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "a number";
	}
}

/* usage.prompt_tokens and completion_tokens, if the server sent both. */
static void
llm_usage(const json_t *root, const struct llm_req *req,
    struct llm_result *out)
{
	const json_t *u = json_object_get(root, "usage");
	const json_t *pt = json_object_get(u, "prompt_tokens");
	const json_t *ct = json_object_get(u, "completion_tokens");

	if (json_is_integer(pt) && json_is_integer(ct) &&
	    json_integer_value(pt) >= 0 && json_integer_value(ct) >= 0 &&
	    json_integer_value(pt) <= INT_MAX &&
	    json_integer_value(ct) <= INT_MAX) {
		out->has_usage = 1;
		out->tokens_in = (int)json_integer_value(pt);
		out->tokens_out = (int)json_integer_value(ct);
	} else {
		out->has_usage = 0;
		out->tokens_in = llm_estimate_input(req);
		out->tokens_out = llm_estimate_tokens(out->text);
	}
}

/*
 * A copy of s with the key redacted when the key is long enough to be a
 * secret (a reply may well say "none" or "local"); owned, NULL if out of
 * memory.
 */
static char *
llm_dup_redacted(const char *s, const char *key)
{
	char *r;

	if (strlen(key) >= LLM_KEY_MIN && (r = llm_redacted(s, key)) != NULL)
		return r;
	return strdup(s);
}

/* A 2xx response: the completion. */
static int
llm_parse(const struct cfg_llm *cfg, const struct llm_req *req,
    const struct http_resp *resp, const char *key, struct llm_result *out)
{
	json_error_t jerr;
	json_t *root, *msg, *content;
	const char *s;
	char *m;
	int rc = -1;

	if ((root = json_loadb(resp->body, resp->body_len, 0, &jerr)) ==
	    NULL) {
		llm_fail(out, LLM_RETRY, "llm: HTTP %ld with a body that is "
		    "not JSON: %s at byte %d", resp->status, jerr.text,
		    jerr.position);
		return -1;
	}
	msg = json_object_get(json_array_get(json_object_get(root,
	    "choices"), 0), "message");
	if (!json_is_object(msg)) {
		llm_fail(out, LLM_FATAL, "llm: HTTP %ld: the reply has no "
		    "choices[0].message", resp->status);
		goto out;
	}
	content = json_object_get(msg, "content");
	if (!json_is_string(content)) {
		if ((s = llm_jstr(msg, "refusal")) != NULL &&
		    (m = llm_utf8_clean(s, strlen(s), 1)) != NULL) {
			llm_fail(out, LLM_FATAL, "llm: the model refused: %s",
			    m);
			free(m);
		}
		else
			llm_fail(out, LLM_FATAL, "llm: HTTP %ld: "
			    "choices[0].message.content is %s, not a string",
			    resp->status, llm_jtype(content));
		goto out;
	}
	if ((out->text = llm_dup_redacted(json_string_value(content), key)) ==
	    NULL) {
		llm_fail(out, LLM_RETRY, "llm: out of memory for the reply");
		goto out;
	}
	if ((s = llm_jstr(root, "model")) != NULL && *s != '\0' &&
	    (m = llm_dup_redacted(s, key)) != NULL) {
		strlcpy(out->model, m, sizeof(out->model));
		free(m);
	}
	llm_usage(root, req, out);
	llm_cost(cfg, out);
	out->status = LLM_OK;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static int
llm_openai(const struct cfg_llm *cfg, const struct llm_req *req,
    const char *key, struct llm_result *out)
{
	char url[CFG_URL_MAX + 32], auth[1024];
	const char *hdrs[4];
	struct http_req hr;
	struct http_resp resp;
	size_t blen;
	char *body;
	int rc = -1, n, h = 0;

	blen = strlen(cfg->base_url);
	while (blen > 0 && cfg->base_url[blen - 1] == '/')
		blen--;
	n = snprintf(url, sizeof(url), "%.*s/chat/completions", (int)blen,
	    cfg->base_url);
	if (blen == 0 || n < 0 || (size_t)n >= sizeof(url)) {
		llm_fail(out, LLM_FATAL, "llm: bad llm.base_url '%s'",
		    cfg->base_url);
		return -1;
	}
	if ((body = llm_body(cfg, req, out->model, out)) == NULL)
		return -1;
	hdrs[h++] = "Content-Type: application/json";
	hdrs[h++] = "Accept: application/json";
	if (key[0] != '\0') {
		n = snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    key);
		if (n < 0 || (size_t)n >= sizeof(auth)) {
			llm_fail(out, LLM_FATAL, "llm: the key in '%s' is too "
			    "long", cfg->api_key_env);
			goto out;
		}
		hdrs[h++] = auth;
	}
	hdrs[h] = NULL;
	memset(&hr, 0, sizeof(hr));
	hr.method = "POST";
	hr.url = url;
	hr.headers = hdrs;
	hr.body = body;
	hr.body_len = strlen(body);
	hr.timeout_ms = cfg->timeout_ms;
	if (http_do(&hr, &resp) == -1)
		llm_fail(out, LLM_RETRY, "llm: %s", resp.error);
	else if (resp.status < 200 || resp.status > 299)
		llm_http_error(&resp, key, out);
	else
		rc = llm_parse(cfg, req, &resp, key, out);
	http_resp_release(&resp);
out:
	explicit_bzero(auth, sizeof(auth));
	free(body);
	return rc;
}

/* FNV-1a over every message's role and content. */
static uint64_t
llm_hash(const struct llm_req *req)
{
	uint64_t h = 14695981039346656037ULL;
	const unsigned char *p;
	size_t i;
	int part;

	for (i = 0; i < req->n; i++)
		for (part = 0; part < 2; part++) {
			p = (const unsigned char *)(part == 0 ?
			    req->msgs[i].role : req->msgs[i].content);
			for (; p != NULL && *p != '\0'; p++)
				h = (h ^ *p) * 1099511628211ULL;
			h = (h ^ 0xff) * 1099511628211ULL;
		}
	return h;
}

/* The first few words of text on one line, "..." if cut. Owned. */
static char *
llm_quote(const char *text)
{
	const size_t max = 60;
	char *flat, *q, *cut;
	size_t n;

	if ((flat = llm_utf8_clean(text, strlen(text), 1)) == NULL)
		return NULL;
	q = flat[0] == ' ' ? flat + 1 : flat;
	n = strlen(q);
	while (n > 0 && q[n - 1] == ' ')
		q[--n] = '\0';
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)q[n] & 0xc0) == 0x80)
			n--;	/* never split a character */
		q[n] = '\0';
		if ((cut = strrchr(q, ' ')) != NULL && cut > q + max / 2)
			*cut = '\0';
		/* room: flat holds 3 bytes for each of more than max */
		memcpy(q + strlen(q), "...", 4);
	}
	memmove(flat, q, strlen(q) + 1);
	return flat;
}

static const char *const llm_replies[][2] = {
	{ "You said \"", "\" - tell me more!" },
	{ "\"", "\"? That sounds interesting. What happened next?" },
	{ "I like that you wrote \"", "\". How do you feel about it?" },
	{ "Ha, \"", "\" - you always make me smile." },
	{ "Hmm, \"", "\". I had not thought of it that way." },
	{ "\"", "\" - now I am curious. Why do you say so?" },
};

static const char *const llm_tails[] = {
	"", " What about you?", " :)", " Anything else on your mind?",
	" I am all ears.",
};

static const char *const llm_openers[] = {
	"Hi! How has your day been so far?",
	"Hey there! What are you up to today?",
	"Hello! I was just thinking about you. How are things?",
	"Hi! Anything fun planned for the weekend?",
};

static const char *const llm_followups[] = {
	"Hey, just checking in. How did things go?",
	"Hi again! I hope your week is going well.",
	"It has been a while - what is new with you?",
	"Thinking of our last chat. How are you doing?",
};

#define LLM_NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int
llm_offline(const struct llm_req *req, struct llm_result *out)
{
	uint64_t h = llm_hash(req);
	const char *last = NULL, *line;
	char buf[512], *quote;
	int had_reply = 0;
	size_t i, t;

	for (i = 0; i < req->n; i++)
		if (req->msgs[i].role != NULL &&
		    strcmp(req->msgs[i].role, "assistant") == 0)
			had_reply = 1;
	if (req->n > 0 && req->msgs[req->n - 1].role != NULL &&
	    strcmp(req->msgs[req->n - 1].role, "user") == 0)
		last = req->msgs[req->n - 1].content;
	if (last != NULL && *last != '\0') {
		if ((quote = llm_quote(last)) == NULL) {
			llm_fail(out, LLM_RETRY, "llm: out of memory");
			return -1;
		}
		t = (size_t)(h % LLM_NELEM(llm_replies));
		(void)snprintf(buf, sizeof(buf), "%s%s%s%s",
		    llm_replies[t][0], quote, llm_replies[t][1],
		    llm_tails[(h >> 20) % LLM_NELEM(llm_tails)]);
		free(quote);
	} else {
		line = had_reply ?
		    llm_followups[h % LLM_NELEM(llm_followups)] :
		    llm_openers[h % LLM_NELEM(llm_openers)];
		(void)snprintf(buf, sizeof(buf), "%s%s", line,
		    llm_tails[(h >> 20) % LLM_NELEM(llm_tails)]);
	}
	if ((out->text = strdup(buf)) == NULL) {
		llm_fail(out, LLM_RETRY, "llm: out of memory");
		return -1;
	}
	strlcpy(out->model, "offline", sizeof(out->model));
	out->tokens_in = llm_estimate_input(req);
	out->tokens_out = llm_estimate_tokens(out->text);
	out->cost_usd = 0;
	out->status = LLM_OK;
	return 0;
}

/*
 * The key in what the server sent is redacted where it is read, before
 * anything is cut to fit a buffer (a cut key would escape a search).
 * This is the backstop: nothing that still holds the key leaves.
 */
static void
llm_redact_check(const char *key, struct llm_result *out)
{
	if (key[0] == '\0')
		return;
	if (strstr(out->error, key) != NULL)
		strlcpy(out->error, "llm: the error quoted the key",
		    sizeof(out->error));
	if (strlen(key) < LLM_KEY_MIN)
		return;
	if (strstr(out->model, key) != NULL)
		strlcpy(out->model, LLM_REDACTED, sizeof(out->model));
	if (out->text != NULL && strstr(out->text, key) != NULL) {
		free(out->text);
		out->text = NULL;
		llm_fail(out, LLM_RETRY, "llm: could not redact the key in "
		    "the reply");
	}
}

int
llm_complete(const struct cfg_llm *cfg, const struct llm_req *req,
    struct llm_result *out)
{
	char key[512];
	int64_t t0 = clock_mono_ms();
	const char *model;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	key[0] = '\0';
	model = req->model != NULL && req->model[0] != '\0' ? req->model :
	    cfg->model;
	strlcpy(out->model, model, sizeof(out->model));
	if (req->n == 0 || req->msgs == NULL)
		llm_fail(out, LLM_FATAL, "llm: no messages to send");
	else if (strcmp(cfg->provider, "offline") == 0)
		rc = llm_offline(req, out);
	else if (strcmp(cfg->provider, "openai") != 0)
		llm_fail(out, LLM_FATAL, "llm: unknown provider '%s' "
		    "(llm.provider: openai or offline)", cfg->provider);
	else if (llm_key(cfg, key, sizeof(key), out) == 0)
		rc = llm_openai(cfg, req, key, out);
	llm_redact_check(key, out);
	explicit_bzero(key, sizeof(key));
	if (rc == 0 && out->status != LLM_OK)
		rc = -1;
	if (rc == 0)
		log_debug("llm: %s answered in %lld ms, %d+%d tokens%s",
		    out->model, (long long)(clock_mono_ms() - t0),
		    out->tokens_in, out->tokens_out,
		    out->has_usage ? "" : " (estimated)");
	return rc;
}

void
llm_result_release(struct llm_result *out)
{
	free(out->text);
	out->text = NULL;
}
