#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "job.h"
#include "banned.h"

static void
outcome(struct job_outcome *out, int64_t at, const char *fmt, va_list ap)
{
	out->at = at;
	vsnprintf(out->error, sizeof(out->error), fmt, ap);
}

enum job_result
job_retry(struct job_outcome *out, int64_t at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	outcome(out, at, fmt, ap);
	va_end(ap);
	return JOB_RETRY;
}

enum job_result
job_fail(struct job_outcome *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	outcome(out, 0, fmt, ap);
	va_end(ap);
	return JOB_FAIL;
}

enum job_result
job_defer(struct job_outcome *out, int64_t at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	outcome(out, at, fmt, ap);
	va_end(ap);
	return JOB_DEFER;
}

const struct job_type *
job_find(const struct job_type *const *table, const char *name)
{
	for (; *table != NULL; table++)
		if (strcmp((*table)->name, name) == 0)
			return *table;
	return NULL;
}

int
job_check(const struct job_type *type, const struct cfg *cfg,
    const json_t *payload, char *err, size_t errlen)
{
	if (!json_is_object(payload)) {
		snprintf(err, errlen, "payload must be a JSON object");
		return -1;
	}
	if (type->check != NULL)
		return type->check(cfg, payload, err, errlen);
	return 0;
}
