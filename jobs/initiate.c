/*
 * initiate: open a conversation with a stored contact. {"contact": ID}
 *
 * Only with the contact's consent, never to one who opted out or blocked
 * the bot, once per contact (status `new`), never to one held from nudges
 * (imported by import-legacy), within the bot's daily cap (over it:
 * deferred to tomorrow) and outside quiet hours (deferred).
 */
#include <stdio.h>
#include <string.h>

#include "conv.h"
#include "jobs.h"
#include "../lib/clock.h"
#include "../lib/policy.h"
#include "../lib/banned.h"

#define OPENER_TASK "Write the first message to this person to open a " \
	"friendly conversation. Refer to something from their profile if " \
	"it fits. One or two short sentences, no greeting formula."

static const char *const initiate_keys[] = { "contact", NULL };

static int
initiate_check(const struct cfg *cfg, const json_t *p, char *err, size_t len)
{
	return conv_check_id(p, "contact", err, len);
}

/* Consent, status and the daily cap: JOB_OK to go on; *skip when the
 * contact must not be contacted (the job succeeds doing nothing). */
static enum job_result
may_open(struct job_ctx *ctx, const struct cfg_bot *bot,
    const struct store_contact *c, int *skip, struct job_outcome *out)
{
	struct store_metrics m;
	char day[16];
	int64_t now = clock_now_ms(), until;

	int written = 0, hold = 0;

	*skip = !c->consent || strcmp(c->status, "new") != 0 ||
	    c->initiated_at != 0;
	if (*skip)
		return JOB_OK;
	if (store_nudge_hold(ctx->db, c->id, &hold) < 0)
		return job_retry(out, 0, "database error");
	if ((*skip = hold))
		return JOB_OK;
	/* An opener already written (waiting to go out, or in review) is
	 * the one: never a second. */
	if (store_has_outbound(ctx->db, c->id, &written) < 0)
		return job_retry(out, 0, "database error");
	if ((*skip = written))
		return JOB_OK;
	if (store_metrics_get(ctx->db, bot->name, policy_day(now, day,
	    sizeof(day)), &m) < 0)
		return job_retry(out, 0, "database error");
	if (m.initiations >= bot->policy.max_initiations_per_day)
		return job_defer(out, conv_next_day(now), "bot '%s' opened %d "
		    "conversations today", bot->name, m.initiations);
	if (bot->policy.has_quiet && policy_quiet(&bot->policy, c->timezone,
	    now, &until))
		return job_defer(out, until, "quiet hours");
	return JOB_OK;
}

static enum job_result
initiate_run(struct job_ctx *ctx, struct job_outcome *out)
{
	struct store_contact c;
	struct conv_text t;
	const struct cfg_bot *bot;
	enum job_result r;
	int skip = 0, done;

	r = conv_load_writer(ctx, &c, &bot, &done, out);
	if (r != JOB_OK || done)
		return r;
	/* Held: nothing now; the scheduler asks again after a resume. */
	if ((r = conv_hold(ctx, &c, 0, &skip, out)) == JOB_OK && !skip)
		r = may_open(ctx, bot, &c, &skip, out);
	if (r == JOB_OK && !skip) {
		r = conv_write(ctx, bot, &c, OPENER_TASK, &t, out);
		if (r == JOB_OK)
			r = conv_store(ctx, bot, &c, "opener", &t, out);
		conv_text_release(&t);
	}
	store_contact_release(&c);
	return r;
}

const struct job_type job_initiate = {
	.name = "initiate",
	.summary = "open a conversation with a consenting contact; "
	    "{\"contact\": ID}",
	.keys = initiate_keys,
	.check = initiate_check,
	.run = initiate_run,
};
