#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "job.h"
#include "banned.h"

static void outcome(struct job_outcome *, int64_t, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

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

int
job_priority(const struct job_type *type, const struct cfg *cfg,
    const char *name)
{
	const struct cfg_job *j = cfg_job_entry(cfg, name);

	if (j != NULL && (j->set & CFG_SET_PRIORITY))
		return j->priority;
	if (type != NULL && type->priority > 0)
		return type->priority;
	return cfg->queue.priority;
}

const struct job_type *
job_find(const struct job_type *const *table, const char *name)
{
	for (; *table != NULL; table++)
		if (strcmp((*table)->name, name) == 0)
			return *table;
	return NULL;
}

static int
known_key(const char *const *keys, const char *key)
{
	for (; keys != NULL && *keys != NULL; keys++)
		if (strcmp(*keys, key) == 0)
			return 1;
	return 0;
}

/* ".key: unknown field (known: a, b)" into err. */
static void
unknown_key(const struct job_type *type, const char *key, char *err,
    size_t errlen)
{
	const char *const *k;

	if (type->keys == NULL || type->keys[0] == NULL) {
		snprintf(err, errlen, ".%s: unknown field (%s takes no "
		    "payload)", key, type->name);
		return;
	}
	snprintf(err, errlen, ".%s: unknown field (known: ", key);
	for (k = type->keys; *k != NULL; k++) {
		strlcat(err, *k, errlen);
		strlcat(err, k[1] != NULL ? ", " : ")", errlen);
	}
}

int
job_check(const struct job_type *type, const struct cfg *cfg,
    const json_t *payload, char *err, size_t errlen)
{
	const char *key;
	const json_t *v;

	if (!json_is_object(payload)) {
		snprintf(err, errlen, "payload must be a JSON object");
		return -1;
	}
	json_object_foreach((json_t *)payload, key, v) {
		if (!known_key(type->keys, key)) {
			unknown_key(type, key, err, errlen);
			return -1;
		}
	}
	if (type->check != NULL)
		return type->check(cfg, payload, err, errlen);
	return 0;
}

int
job_check_fields(const struct job_type *type, const json_t *defs,
    const json_t *payload, char *err, size_t errlen)
{
	if (defs == NULL || type->check_fields == NULL)
		return 0;
	return type->check_fields(defs, payload, err, errlen);
}
