/*
 * respond: reply to a contact. {"contact": ID}
 *
 * Enqueued by `inbound` once per burst (unique "respond:ID", after the
 * bot's reply delay). Writes the reply with the LLM from the recent
 * history and stores it for `send` (or as a draft in review mode). Runs
 * at most one reply per job: a re-run finds the message it already
 * wrote. Nothing happens if the contact opted out or the last message of
 * the conversation is already ours. {"contact": ID, "start": true} (from
 * a `/start`) writes the persona's greeting instead of a reply.
 */
#include <stdio.h>
#include <string.h>

#include "conv.h"
#include "jobs.h"
#include "../lib/queue.h"
#include "../lib/transport.h"
#include "../lib/banned.h"

static const char *const respond_keys[] = { "contact", "start", NULL };

#define START_TASK "The person just opened the chat with you (they " \
	"pressed Start). Greet them as yourself in one or two short, warm " \
	"sentences that invite them to talk; do not mention commands."

static int
respond_check(const struct cfg *cfg, const json_t *p, char *err, size_t len)
{
	const json_t *v = json_object_get(p, "start");

	(void)cfg;
	if (v != NULL && !json_is_boolean(v)) {
		snprintf(err, len, ".start: expected true or false");
		return -1;
	}
	return conv_check_id(p, "contact", err, len);
}

/* Enqueue a summary when the history outgrew the bot's threshold. */
static void
maybe_summarize(struct job_ctx *ctx, const struct cfg_bot *bot,
    const struct store_contact *c)
{
	struct queue_new q;
	char payload[64], key[64];
	int64_t id;
	int n = 0;

	if (store_count_unsummarized(ctx->db, c->id, c->summary_upto, &n) < 0 ||
	    n <= bot->policy.summary_after)
		return;
	snprintf(payload, sizeof(payload), "{\"contact\":%lld}",
	    (long long)c->id);
	snprintf(key, sizeof(key), "summarize:%lld", (long long)c->id);
	queue_new_init(&q);
	q.type = "summarize";
	q.payload = payload;
	q.unique_key = key;
	q.priority = 200;
	q.bot = bot->name;
	queue_new_configure(&q, ctx->cfg);
	(void)queue_add(ctx->db, &q, &id, NULL);
}

static enum job_result
respond_run(struct job_ctx *ctx, struct job_outcome *out)
{
	struct store_contact c;
	struct conv_text t;
	const struct cfg_bot *bot;
	enum job_result r;
	int yes = 0, held = 0, done;

	r = conv_load_writer(ctx, &c, &bot, &done, out);
	if (r != JOB_OK || done)
		return r;
	/* Held: nothing now; resume or release enqueues the reply. */
	if ((r = conv_hold(ctx, &c, 0, &held, out)) != JOB_OK || held) {
		store_contact_release(&c);
		return r;
	}
	if (!conv_reachable(&c) || strcmp(c.status, "paused") == 0 ||
	    store_awaits_reply(ctx->db, c.id, &yes) < 0 || !yes) {
		store_contact_release(&c);
		return JOB_OK;
	}
	/* "typing..." while the reply is written (best effort) */
	(void)transport_typing(&bot->transport, c.platform_id);
	r = conv_write(ctx, bot, &c, json_is_true(json_object_get(ctx->payload,
	    "start")) ? START_TASK : NULL, &t, out);
	if (r == JOB_OK)
		r = conv_store(ctx, bot, &c, "reply", &t, out);
	if (r == JOB_OK)
		maybe_summarize(ctx, bot, &c);
	conv_text_release(&t);
	store_contact_release(&c);
	return r;
}

const struct job_type job_respond = {
	.name = "respond",
	.summary = "reply to a contact with the LLM; {\"contact\": ID}",
	.keys = respond_keys,
	.check = respond_check,
	.run = respond_run,
};
