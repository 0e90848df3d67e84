/*
 * noop: does nothing, for health checks, benchmarks and tests.
 *
 * Payload (all optional):
 *   "sleep_ms": N       simulate N ms of work (0..3600000)
 *   "fail": "retry"     fail this attempt (retried with backoff)
 *   "fail": "permanent" fail for good (dead at once)
 *   "trace": "PATH"     append "id attempt pid" to PATH when the job
 *                       starts (created 0600), to audit who ran what
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobs.h"
#include "../lib/banned.h"

static const char *const noop_keys[] = { "sleep_ms", "fail", "trace", NULL };

static int
noop_check(const struct cfg *cfg, const json_t *p, char *err, size_t len)
{
	const json_t *v;

	if ((v = json_object_get(p, "sleep_ms")) != NULL &&
	    (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 3600000)) {
		snprintf(err, len, ".sleep_ms: expected an integer "
		    "0..3600000");
		return -1;
	}
	if ((v = json_object_get(p, "fail")) != NULL && (!json_is_string(v) ||
	    (strcmp(json_string_value(v), "retry") != 0 &&
	    strcmp(json_string_value(v), "permanent") != 0))) {
		snprintf(err, len, ".fail: expected \"retry\" or "
		    "\"permanent\"");
		return -1;
	}
	if ((v = json_object_get(p, "trace")) != NULL && (!json_is_string(v) ||
	    json_string_length(v) == 0)) {
		snprintf(err, len, ".trace: expected a file path");
		return -1;
	}
	return 0;
}

static int
trace(const char *path, const struct queue_job *job)
{
	char line[128];
	int fd, n;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	n = snprintf(line, sizeof(line), "%lld %d %ld\n", (long long)job->id,
	    job->attempts, (long)getpid());
	if (write(fd, line, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static enum job_result
noop_run(struct job_ctx *ctx, struct job_outcome *out)
{
	json_t *p = ctx->payload;
	const char *path = json_string_value(json_object_get(p, "trace"));
	const char *fail = json_string_value(json_object_get(p, "fail"));
	json_int_t ms = json_integer_value(json_object_get(p, "sleep_ms"));
	struct timespec ts;

	if (path != NULL && trace(path, ctx->job) < 0)
		return job_retry(out, 0, "trace '%s': %s", path,
		    strerror(errno));
	if (ms > 0) {
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (long)(ms % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	if (fail != NULL && strcmp(fail, "permanent") == 0)
		return job_fail(out, "noop: failed permanently as asked");
	if (fail != NULL && strcmp(fail, "retry") == 0)
		return job_retry(out, 0, "noop: failed as asked (attempt %d)",
		    ctx->job->attempts);
	return JOB_OK;
}

const struct job_type job_noop = {
	.name = "noop",
	.summary = "do nothing (health checks, benchmarks); "
	    "{\"sleep_ms\", \"fail\", \"trace\"}",
	.keys = noop_keys,
	.check = noop_check,
	.run = noop_run,
	.batch = 1,
};
