/*
 * rollup: recompute one UTC day's metrics_daily rows from the messages
 * and jobs tables (received, sent, initiations, initiation_replies,
 * job_failures; the LLM counts stay as counted), fixing any drift in the
 * counts made as things happened. Idempotent. See maint_rollup() in
 * lib/maint.h for exactly what is recomputed and when pruned data keeps
 * a column as it is.
 *
 * Payload: {"day": "YYYY-MM-DD"} (optional; default yesterday, UTC).
 */
#include <stdio.h>
#include <string.h>

#include "jobs.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/maint.h"
#include "../lib/banned.h"

static const char *const rollup_keys[] = { "day", NULL };

static int
rollup_check(const struct cfg *cfg, const json_t *p, char *err, size_t len)
{
	const json_t *v = json_object_get(p, "day");
	int64_t start;

	if (v != NULL && (!json_is_string(v) ||
	    maint_parse_day(json_string_value(v), &start) < 0)) {
		snprintf(err, len, ".day: expected a date \"YYYY-MM-DD\" "
		    "(UTC)");
		return -1;
	}
	return 0;
}

static enum job_result
rollup_run(struct job_ctx *ctx, struct job_outcome *out)
{
	const char *day = json_string_value(json_object_get(ctx->payload,
	    "day"));
	char buf[MAINT_DAY_LEN];
	struct maint_prune p;
	struct maint_rollup r;
	int64_t now = clock_now_ms(), start;

	if (day == NULL)
		day = maint_format_day(now - 86400LL * 1000, buf, sizeof(buf));
	else if (maint_parse_day(day, &start) < 0)
		return job_fail(out, "rollup: .day: '%s' is not a date "
		    "\"YYYY-MM-DD\"", day);
	/* what prune may have deleted by now, with these settings */
	maint_prune_init(&p, ctx->cfg, now);
	if (maint_rollup(ctx->db, day, p.messages_before, p.jobs_before,
	    &r) < 0)
		return job_retry(out, 0, "%s", r.error);
	log_info("rollup %s: %d bots; recomputed %s%s%s", day, r.rows,
	    r.messages ? "received, sent, initiations" : "",
	    r.replies ? ", initiation_replies" : "",
	    r.failures ? (r.messages ? ", job_failures" : "job_failures") :
	    (r.messages ? "" : "nothing (sources pruned)"));
	return JOB_OK;
}

const struct job_type job_rollup = {
	.name = "rollup",
	.summary = "recompute a day's metrics from the sources; "
	    "{\"day\": \"YYYY-MM-DD\"} (default yesterday, UTC)",
	.keys = rollup_keys,
	.check = rollup_check,
	.run = rollup_run,
};
