/*
 * followup: nudge a conversation that went quiet. {"contact": ID}
 *
 * Only when the last message is ours, older than the bot's
 * followup_after but not older than its followup_horizon, fewer than
 * max_unanswered of ours are unanswered (the loop guard), and the contact
 * is not held from nudges (imported, silent since); otherwise the job
 * succeeds doing nothing.
 *
 * "The last message is ours" is unanswered > 0: every inbound message
 * sets it to 0 and every message sent adds 1, in commit order. The two
 * timestamps cannot say it: a reply stored in the millisecond its
 * message came in ties, and last_inbound_at is the platform's date, on
 * a clock that may run ahead of ours.
 */
#include <stdio.h>
#include <string.h>

#include "conv.h"
#include "jobs.h"
#include "../lib/clock.h"
#include "../lib/banned.h"

#define FOLLOWUP_TASK "The person has not answered your last message. " \
	"Write one short, light follow-up that is easy to answer. Do not " \
	"repeat yourself and do not push."

static const char *const followup_keys[] = { "contact", NULL };

static int
followup_check(const struct cfg *cfg, const json_t *p, char *err, size_t len)
{
	return conv_check_id(p, "contact", err, len);
}

static int
due(struct job_ctx *ctx, const struct cfg_bot *bot,
    const struct store_contact *c)
{
	const struct cfg_policy *p = &bot->policy;
	int64_t now = clock_now_ms();
	int pending = 1, hold = 1;

	/* A follow-up already written and not yet out is the one. */
	if (store_has_pending(ctx->db, c->id, &pending) < 0 || pending ||
	    store_nudge_hold(ctx->db, c->id, &hold) < 0 || hold)
		return 0;
	if (p->followup_horizon_ms > 0 &&
	    now - c->last_outbound_at > p->followup_horizon_ms)
		return 0;
	return conv_reachable(c) && strcmp(c->status, "paused") != 0 &&
	    c->last_outbound_at > 0 &&
	    now - c->last_outbound_at >= p->followup_after_ms &&
	    c->unanswered > 0 && c->unanswered < p->max_unanswered;
}

static enum job_result
followup_run(struct job_ctx *ctx, struct job_outcome *out)
{
	struct store_contact c;
	struct conv_text t;
	const struct cfg_bot *bot;
	enum job_result r;
	int held = 0, done;

	r = conv_load_writer(ctx, &c, &bot, &done, out);
	if (r != JOB_OK || done)
		return r;
	if ((r = conv_hold(ctx, &c, 0, &held, out)) == JOB_OK && !held &&
	    due(ctx, bot, &c)) {
		r = conv_write(ctx, bot, &c, FOLLOWUP_TASK, &t, out);
		if (r == JOB_OK)
			r = conv_store(ctx, bot, &c, "followup", &t, out);
		conv_text_release(&t);
	}
	store_contact_release(&c);
	return r;
}

const struct job_type job_followup = {
	.name = "followup",
	.summary = "nudge a quiet conversation; {\"contact\": ID}",
	.keys = followup_keys,
	.check = followup_check,
	.run = followup_run,
};
