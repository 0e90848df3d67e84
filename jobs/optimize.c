/*
 * optimize: on SQLite PRAGMA optimize, PRAGMA journal_size_limit
 * (maintenance.journal_size_limit) and a WAL checkpoint that truncates
 * the -wal file, so it cannot grow without bound; a checkpoint that
 * readers kept from finishing is retried. On PostgreSQL VACUUM (ANALYZE)
 * of dater's tables. See maint_optimize() in lib/maint.h.
 *
 * Payload: {}.
 */
#include <stdio.h>

#include "jobs.h"
#include "../lib/log.h"
#include "../lib/maint.h"
#include "../lib/banned.h"

static enum job_result
optimize_run(struct job_ctx *ctx, struct job_outcome *out)
{
	struct maint_optimize r;

	if (maint_optimize(ctx->db, ctx->cfg->maint.journal_size_limit,
	    &r) < 0)
		return job_retry(out, 0, "%s", r.error);
	if (r.busy)
		return job_retry(out, 0, "optimize: the WAL checkpoint was "
		    "kept from finishing by a reader or a writer (busy %d, "
		    "log %d, checkpointed %d; -wal %lld bytes)", r.busy,
		    r.log, r.checkpointed, (long long)r.wal_bytes);
	log_info("optimize: %s", r.done);
	return JOB_OK;
}

const struct job_type job_optimize = {
	.name = "optimize",
	.summary = "PRAGMA optimize and a truncating WAL checkpoint "
	    "(PostgreSQL: VACUUM (ANALYZE)); {}",
	.run = optimize_run,
};
