/*
 * send: deliver one stored outbound message through its bot's transport.
 * {"message": ID}
 *
 * At most once: the message is marked `sending` (committed) before the
 * transport is called. A run that finds it still `sending` (the last one
 * died mid-call) marks it `uncertain` and sends nothing; so does a
 * transport that cannot tell whether it delivered (a timeout). Quiet
 * hours and rate limits defer the job without spending an attempt; the
 * loop guard drops openers and follow-ups to contacts who have not
 * answered. An opt-out confirmation goes out regardless.
 */
#include <stdio.h>
#include <string.h>

#include "conv.h"
#include "jobs.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/policy.h"
#include "../lib/transport.h"
#include "../lib/banned.h"

#define HOUR_MS (3600LL * 1000)

static int
send_check(const struct cfg *cfg, const json_t *p, char *err, size_t len)
{
	return conv_check_id(p, "message", err, len);
}

/* Quiet hours and rate limits: DEFER, or JOB_OK to go ahead. */
static enum job_result
limits(struct job_ctx *ctx, const struct cfg_bot *bot,
    const struct store_contact *c, struct job_outcome *out)
{
	const struct cfg_policy *p = &bot->policy;
	int64_t now = clock_now_ms(), until = 0, oldest = 0;
	int n = 0;

	if (p->has_quiet && policy_quiet(p, c->timezone, now, &until))
		return job_defer(out, until, "quiet hours");
	if (p->max_per_hour > 0) {
		if (store_sent_since(ctx->db, bot->name, 0, now - HOUR_MS, &n,
		    &oldest) < 0)
			return job_retry(out, 0, "database error");
		if (n >= p->max_per_hour)
			return job_defer(out, oldest + HOUR_MS, "bot '%s' "
			    "sent %d messages in the last hour", bot->name, n);
	}
	if (p->max_per_chat_hour > 0) {
		if (store_sent_since(ctx->db, bot->name, c->id, now - HOUR_MS,
		    &n, &oldest) < 0)
			return job_retry(out, 0, "database error");
		if (n >= p->max_per_chat_hour)
			return job_defer(out, oldest + HOUR_MS, "contact %lld "
			    "got %d messages in the last hour",
			    (long long)c->id, n);
	}
	return JOB_OK;
}

/* Whether the message may go out at all; JOB_OK to go on, else done. */
static enum job_result
allowed(struct job_ctx *ctx, const struct cfg_bot *bot,
    const struct store_contact *c, const struct store_msg *m, int *drop,
    struct job_outcome *out)
{
	const struct cfg_policy *p = &bot->policy;
	int optout = strcmp(m->kind, "optout") == 0;
	char why[128];

	*drop = 0;
	if (!optout && !conv_reachable(c)) {
		snprintf(why, sizeof(why), "contact %s", c->status);
		(void)store_msg_transition(ctx->db, m->id, "queued", "failed",
		    why);
		*drop = 1;
		return JOB_OK;
	}
	if (!optout && (strcmp(m->kind, "opener") == 0 ||
	    strcmp(m->kind, "followup") == 0) && p->max_unanswered > 0 &&
	    c->unanswered >= p->max_unanswered) {
		snprintf(why, sizeof(why), "loop guard: %d messages without "
		    "an answer", c->unanswered);
		(void)store_msg_transition(ctx->db, m->id, "queued", "failed",
		    why);
		*drop = 1;
		return JOB_OK;
	}
	return optout ? JOB_OK : limits(ctx, bot, c, out);
}

static enum job_result
deliver(struct job_ctx *ctx, const struct cfg_bot *bot,
    const struct store_contact *c, const struct store_msg *m,
    struct job_outcome *out)
{
	struct transport_out o;
	struct transport_result res;
	int rc;

	rc = store_msg_transition(ctx->db, m->id, "queued", "sending", NULL);
	if (rc <= 0)
		return rc < 0 ? job_retry(out, 0, "database error") : JOB_OK;
	memset(&o, 0, sizeof(o));
	o.bot = bot->name;
	o.contact_id = c->id;
	o.chat_id = c->platform_id;
	o.message_id = m->id;
	o.text = m->text;
	memset(&res, 0, sizeof(res));
	if (transport_send(&bot->transport, &o, &res) == 0) {
		if (store_msg_sent(ctx->db, m->id, res.platform_msg_id) < 0)
			log_err("message %lld was delivered but could not be "
			    "marked sent", (long long)m->id);
		return JOB_OK;
	}
	switch (res.status) {
	case TRANSPORT_RETRY:
		/* The last attempt leaves the message failed, not queued. */
		(void)store_msg_transition(ctx->db, m->id, "sending",
		    ctx->job->attempts >= ctx->job->max_attempts ? "failed" :
		    "queued", res.error);
		return job_retry(out, res.retry_at_ms, "%s", res.error);
	case TRANSPORT_UNKNOWN:
		(void)store_msg_transition(ctx->db, m->id, "sending",
		    "uncertain", res.error);
		return job_fail(out, "delivery unknown, marked uncertain and "
		    "not resent: %s", res.error);
	default:
		(void)store_msg_transition(ctx->db, m->id, "sending", "failed",
		    res.error);
		if (res.blocked)
			(void)store_contact_stop(ctx->db, c->id, "blocked");
		return job_fail(out, "%s", res.error);
	}
}

static enum job_result
send_run(struct job_ctx *ctx, struct job_outcome *out)
{
	struct store_contact c;
	struct store_msg m;
	const struct cfg_bot *bot;
	enum job_result r;
	int64_t id = conv_id(ctx->payload, "message");
	int rc, drop = 0, held = 0;

	if ((rc = store_msg_get(ctx->db, id, &m)) <= 0)
		return rc < 0 ? job_retry(out, 0, "database error") :
		    job_fail(out, "no message %lld", (long long)id);
	if (strcmp(m.status, "sending") == 0) {
		/* The last attempt died while delivering: never twice. */
		(void)store_msg_transition(ctx->db, id, "sending", "uncertain",
		    "interrupted while sending");
		store_msg_release(&m);
		return job_fail(out, "message %lld was being sent when its "
		    "worker stopped; marked uncertain, not resent",
		    (long long)id);
	}
	if (strcmp(m.status, "queued") != 0) {
		r = strcmp(m.status, "draft") == 0 ? job_fail(out, "message "
		    "%lld is a draft: approve it first", (long long)id) :
		    JOB_OK;
		store_msg_release(&m);
		return r;
	}
	if ((r = conv_load(ctx, m.contact, &c, &bot, out)) != JOB_OK) {
		store_msg_release(&m);
		return r;
	}
	/* Held: the bot's message waits (no attempt spent); resume and
	 * release wake it. A person's message goes out. */
	if ((r = conv_hold(ctx, &c, m.id, &held, out)) == JOB_OK && held)
		r = JOB_DEFER;
	if (r == JOB_OK)
		r = allowed(ctx, bot, &c, &m, &drop, out);
	if (r == JOB_OK && !drop)
		r = deliver(ctx, bot, &c, &m, out);
	store_contact_release(&c);
	store_msg_release(&m);
	return r;
}

const struct job_type job_send = {
	.name = "send",
	.summary = "deliver a stored message; {\"message\": ID}",
	.check = send_check,
	.run = send_run,
};
