/*
 * transport_webhook: deliver a message by POSTing it as JSON to the URL a
 * bot's configuration names; any 2xx means delivered. Inbound messages
 * do not come through here: the receiving side pipes them into
 * dater-enqueue. The URL is never put in an error (webhook URLs often
 * carry a secret), and each request carries an Idempotency-Key header so
 * that a receiver can drop a duplicate if an operator resends an uncertain
 * message by hand.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport_impl.h"
#include "banned.h"

/* The request body, or NULL with res set. The caller frees it. */
static char *
webhook_body(const struct transport_out *m, struct transport_result *res)
{
	json_t *o;
	char *s;

	o = json_pack("{s:s, s:I, s:s, s:s, s:I}", "bot", m->bot, "contact",
	    (json_int_t)m->contact_id, "chat_id", m->chat_id, "text", m->text,
	    "message_id", (json_int_t)m->message_id);
	if (o == NULL) {
		(void)transport_result_set(res, TRANSPORT_FATAL,
		    "webhook: message %lld: text or ids are not valid UTF-8",
		    (long long)m->message_id);
		return NULL;
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		(void)transport_result_set(res, TRANSPORT_RETRY,
		    "webhook: out of memory");
	return s;
}

/* platform_msg_id from a 2xx body's "id" (string or integer), if any. */
static void
webhook_id(const struct http_resp *resp, struct transport_result *res)
{
	json_t *root, *id;

	if (resp->body == NULL || resp->body_len == 0)
		return;
	root = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (root == NULL)
		return;
	id = json_is_object(root) ? json_object_get(root, "id") : NULL;
	if (json_is_string(id))
		transport_copy_utf8(res->platform_msg_id, json_string_value(id),
		    sizeof(res->platform_msg_id));
	else if (json_is_integer(id))
		(void)snprintf(res->platform_msg_id,
		    sizeof(res->platform_msg_id), "%lld",
		    (long long)json_integer_value(id));
	json_decref(root);
}

/* Classify a response that arrived. */
static int
webhook_status(const struct http_resp *resp, struct transport_result *res)
{
	char body[160];
	long st = resp->status;

	if (st >= 200 && st < 300) {
		webhook_id(resp, res);
		return 0;
	}
	transport_snippet(body, sizeof(body), resp->body, resp->body_len);
	/* 408: the server gave up before reading the request. */
	if (st == 429 || st == 408 || st >= 500) {
		res->retry_at_ms = transport_retry_at(resp->retry_after_ms);
		return transport_result_set(res, TRANSPORT_RETRY,
		    "webhook: HTTP %ld: %s", st, body);
	}
	return transport_result_set(res, TRANSPORT_FATAL,
	    "webhook: HTTP %ld: %s", st, body);
}

static int
webhook_send(const struct cfg_transport *t, const struct transport_out *m,
    struct transport_result *res)
{
	char idem[CFG_NAME_MAX + 64];
	const char *headers[] = { "Content-Type: application/json", idem,
		NULL };
	struct http_req req;
	struct http_resp resp;
	char *body;
	int rc;

	if (t->url[0] == '\0')
		return transport_result_set(res, TRANSPORT_FATAL,
		    "webhook: bot '%s' has no url", m->bot);
	if ((body = webhook_body(m, res)) == NULL)
		return -1;
	(void)snprintf(idem, sizeof(idem), "Idempotency-Key: %s:%lld", m->bot,
	    (long long)m->message_id);
	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.method = "POST";
	req.url = t->url;
	req.headers = headers;
	req.body = body;
	req.body_len = strlen(body);
	req.timeout_ms = t->timeout_ms;
	if (http_do(&req, &resp) == -1)
		rc = transport_http_fail(res, "webhook", &resp);
	else
		rc = webhook_status(&resp, res);
	http_resp_release(&resp);
	free(body);
	return rc;
}

static int
webhook_typing(const struct cfg_transport *t, const char *chat_id)
{
	return 0;
}

static int
webhook_poll(const struct cfg_transport *t, const char *offset,
    int wait_s, struct transport_batch *out, struct transport_result *res)
{
	return 0;
}

const struct transport_driver transport_webhook_driver = {
	"webhook", webhook_send, webhook_typing, webhook_poll
};
