/*
 * backup: an online backup of the database into maintenance.backup_dir
 * ("backups/" beside the database by default; required on PostgreSQL),
 * keeping the newest maintenance.backup_keep backups: on SQLite with
 * the backup API, verified with integrity_check; on PostgreSQL a
 * pg_dump archive. See maint_backup() in lib/maint.h.
 *
 * Payload: {} (the settings are in the config's maintenance group, so a
 * scheduled and a hand-enqueued backup do the same).
 */
#include <stdio.h>

#include "jobs.h"
#include "../lib/log.h"
#include "../lib/maint.h"
#include "../lib/banned.h"

static enum job_result
backup_run(struct job_ctx *ctx, struct job_outcome *out)
{
	const struct cfg_maint *m = &ctx->cfg->maint;
	struct maint_backup r;

	if (maint_backup(ctx->db, ctx->cfg->database, m->backup_dir,
	    m->backup_keep, &r) < 0)
		return job_retry(out, 0, "%s", r.error);
	log_info("backup: wrote '%s' (%lld bytes, %s), removed %d old",
	    r.path, (long long)r.bytes, r.how, r.removed);
	return JOB_OK;
}

const struct job_type job_backup = {
	.name = "backup",
	.summary = "back up the database (verified, rotated); {}",
	.run = backup_run,
};
