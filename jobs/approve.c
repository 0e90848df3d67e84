/*
 * approve: send a draft written in review mode. {"message": ID}
 */
#include <stdio.h>

#include "conv.h"
#include "jobs.h"
#include "../lib/banned.h"

static const char *const approve_keys[] = { "message", NULL };

static int
approve_check(const struct cfg *cfg, const json_t *p, char *err, size_t len)
{
	return conv_check_id(p, "message", err, len);
}

static enum job_result
approve_run(struct job_ctx *ctx, struct job_outcome *out)
{
	struct store_msg m;
	int64_t id = conv_id(ctx->payload, "message");
	int rc;

	if ((rc = store_msg_get(ctx->db, id, &m)) <= 0)
		return rc < 0 ? job_retry(out, 0, "database error") :
		    job_fail(out, "no message %lld", (long long)id);
	if (db_begin(ctx->db) < 0) {
		store_msg_release(&m);
		return job_retry(out, 0, "database busy");
	}
	rc = store_msg_transition(ctx->db, id, "draft", "queued", NULL);
	if (rc == 1 && conv_enqueue_send(ctx->db, ctx->cfg, m.bot, id, 0) < 0)
		rc = -1;
	store_msg_release(&m);
	if (rc < 0 || db_commit(ctx->db) < 0) {
		db_rollback(ctx->db);
		return job_retry(out, 0, "database error");
	}
	if (rc == 0)
		return job_fail(out, "message %lld is not a draft",
		    (long long)id);
	return JOB_OK;
}

const struct job_type job_approve = {
	.name = "approve",
	.summary = "send a draft (review mode); {\"message\": ID}",
	.keys = approve_keys,
	.check = approve_check,
	.run = approve_run,
};
