/*
 * prune: delete finished jobs (succeeded, dead, cancelled) older than
 * maintenance.prune_jobs_after, messages older than prune_messages_after
 * that nothing waits for (when set), and worker rows left by dead
 * worker trees; in short batches. See maint_prune() in lib/maint.h.
 *
 * Payload: {}.
 */
#include <stdio.h>

#include "jobs.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/maint.h"
#include "../lib/banned.h"

static enum job_result
prune_run(struct job_ctx *ctx, struct job_outcome *out)
{
	struct maint_prune p;

	maint_prune_init(&p, ctx->cfg, clock_now_ms());
	if (maint_prune(ctx->db, &p) < 0)
		return job_retry(out, 0, "%s (deleted so far: %lld jobs, "
		    "%lld messages, %lld workers)", p.error,
		    (long long)p.jobs, (long long)p.messages,
		    (long long)p.workers);
	log_info("prune: deleted %lld jobs, %lld messages, %lld workers",
	    (long long)p.jobs, (long long)p.messages, (long long)p.workers);
	return JOB_OK;
}

const struct job_type job_prune = {
	.name = "prune",
	.summary = "delete old finished jobs (and old messages if set); {}",
	.run = prune_run,
};
