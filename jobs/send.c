/*
 * send: deliver one stored outbound message through its bot's transport.
 * {"message": ID}
 *
 * At most once: the message is marked `sending` (committed) before the
 * transport is called. A run that finds it still `sending` (the last one
 * died mid-call) marks it `uncertain` and sends nothing; so does a
 * transport that cannot tell whether it delivered (a timeout). A reply
 * longer than Telegram's 4096 UTF-16 units goes out in parts cut at
 * sentences or spaces (transport_split), each at most once: parts_sent
 * is committed before each part's call, a failed part is retried from
 * that part, and a run that finds a part was in flight when its worker
 * died notes it as uncertain, never resends it, and goes on with the
 * next. Quiet
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

static const char *const send_keys[] = { "message", NULL };

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

/* The outcome of a failed part (res from transport_send). */
static enum job_result
part_failed(struct job_ctx *ctx, const struct store_contact *c,
    const struct store_msg *m, const struct transport_result *res,
    struct job_outcome *out)
{
	switch (res->status) {
	case TRANSPORT_RETRY:
		/* Not delivered: the next attempt starts at this part. The
		 * last attempt leaves the message failed, not queued. */
		(void)store_msg_transition(ctx->db, m->id, "sending",
		    ctx->job->attempts >= ctx->job->max_attempts ? "failed" :
		    "queued", res->error);
		return job_retry(out, res->retry_at_ms, "%s", res->error);
	case TRANSPORT_UNKNOWN:
		(void)store_msg_transition(ctx->db, m->id, "sending",
		    "uncertain", res->error);
		return job_fail(out, "delivery unknown, marked uncertain and "
		    "not resent: %s", res->error);
	default:
		(void)store_msg_transition(ctx->db, m->id, "sending", "failed",
		    res->error);
		if (res->blocked)
			(void)store_contact_stop(ctx->db, c->id, "blocked");
		return job_fail(out, "%s", res->error);
	}
}

/*
 * m (n parts) was delivered: mark it sent in the transaction that
 * records the job done (one write transaction). Lost to a crash before
 * that commit, it stays `sending` and the next run marks it uncertain:
 * never sent twice either way.
 */
static void
mark_sent(struct db *db, const struct store_msg *m, size_t n,
    const char *platform_msg_id)
{
	if (db_begin(db) == 0 && (n <= 1 ||
	    store_msg_parts(db, m->id, (int)n, NULL) > 0) &&
	    store_msg_sent(db, m->id, platform_msg_id) >= 0 &&
	    db_commit_later(db) == 0)
		return;
	db_rollback(db);
	log_err("message %lld was delivered but could not be marked sent",
	    (long long)m->id);
}

/*
 * Deliver parts[from..n) of m, which is `sending`: the count of parts
 * delivered is committed before each part's call, so a run that dies
 * mid-call leaves the next one knowing which part was in flight.
 */
static enum job_result
deliver(struct job_ctx *ctx, const struct cfg_bot *bot,
    const struct store_contact *c, const struct store_msg *m,
    const struct transport_part *parts, size_t n, size_t from,
    struct job_outcome *out)
{
	struct transport_out o;
	struct transport_result res;
	char last[sizeof(res.platform_msg_id)] = "", *text;
	size_t k;
	int rc;

	memset(&o, 0, sizeof(o));
	o.bot = bot->name;
	o.contact_id = c->id;
	o.chat_id = c->platform_id;
	o.message_id = m->id;
	for (k = from; k < n; k++) {
		if (n > 1 && store_msg_parts(ctx->db, m->id, (int)k, NULL) <= 0)
			return job_retry(out, 0, "database error");
		if ((text = strndup(m->text + parts[k].off,
		    parts[k].len)) == NULL)
			return job_retry(out, 0, "out of memory");
		o.text = text;
		memset(&res, 0, sizeof(res));
		rc = transport_send(&bot->transport, &o, &res);
		free(text);
		if (rc != 0)
			return part_failed(ctx, c, m, &res, out);
		(void)strlcpy(last, res.platform_msg_id, sizeof(last));
	}
	mark_sent(ctx->db, m, n, last);
	return JOB_OK;
}

/*
 * The last run died while delivering part parts_sent of m: that part
 * may have arrived, so it is never sent again. A single message becomes
 * uncertain (done); a message in parts notes the part and goes on with
 * the next one. Returns JOB_OK with *from set to go on, else done.
 */
static enum job_result
interrupted(struct job_ctx *ctx, const struct store_msg *m, size_t n,
    size_t *from, int *done, struct job_outcome *out)
{
	char why[128];

	*done = 1;
	if (n <= 1 || (size_t)m->parts_sent + 1 >= n) {
		(void)store_msg_transition(ctx->db, m->id, "sending",
		    "uncertain", "interrupted while sending");
		return job_fail(out, "message %lld was being sent when its "
		    "worker stopped; marked uncertain, not resent",
		    (long long)m->id);
	}
	(void)snprintf(why, sizeof(why), "part %d of %zu uncertain: "
	    "interrupted while sending, not resent", m->parts_sent + 1, n);
	log_warn("message %lld: %s", (long long)m->id, why);
	if (store_msg_parts(ctx->db, m->id, m->parts_sent + 1, why) <= 0)
		return job_retry(out, 0, "database error");
	*from = (size_t)m->parts_sent + 1;
	*done = 0;
	return JOB_OK;
}

static enum job_result
send_run(struct job_ctx *ctx, struct job_outcome *out)
{
	struct store_contact c;
	struct store_msg m;
	struct transport_part *parts = NULL;
	const struct cfg_bot *bot;
	enum job_result r;
	int64_t id = conv_id(ctx->payload, "message");
	size_t n = 0, from = 0;
	int rc, drop = 0, done = 0, held = 0;

	if ((rc = store_msg_get(ctx->db, id, &m)) <= 0)
		return rc < 0 ? job_retry(out, 0, "database error") :
		    job_fail(out, "no message %lld", (long long)id);
	if (strcmp(m.status, "queued") != 0 &&
	    strcmp(m.status, "sending") != 0) {
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
	if (transport_split(&bot->transport, m.text, 0, &parts, &n) < 0) {
		r = job_retry(out, 0, "out of memory");
		goto out;
	}
	/* Held: the bot's message waits (no attempt spent), even one
	 * interrupted between parts; resume and release wake it. A
	 * person's message goes out. */
	if ((r = conv_hold(ctx, &c, m.id, &held, out)) != JOB_OK || held) {
		if (r == JOB_OK)
			r = JOB_DEFER;
		goto out;
	}
	if (strcmp(m.status, "sending") == 0) {
		/* The last attempt died while delivering: never twice. */
		r = interrupted(ctx, &m, n, &from, &done, out);
		if (!done)
			r = deliver(ctx, bot, &c, &m, parts, n, from, out);
		goto out;
	}
	from = (size_t)m.parts_sent < n ? (size_t)m.parts_sent : 0;
	r = allowed(ctx, bot, &c, &m, &drop, out);
	if (r == JOB_OK && !drop) {
		rc = store_msg_transition(ctx->db, m.id, "queued", "sending",
		    NULL);
		if (rc <= 0)
			r = rc < 0 ? job_retry(out, 0, "database error") :
			    JOB_OK;
		else
			r = deliver(ctx, bot, &c, &m, parts, n, from, out);
	}
out:
	free(parts);
	store_contact_release(&c);
	store_msg_release(&m);
	return r;
}

const struct job_type job_send = {
	.name = "send",
	.summary = "deliver a stored message; {\"message\": ID}",
	.keys = send_keys,
	.check = send_check,
	.run = send_run,
};
