/*
 * job: the interface between the worker loop (lib) and the job types
 * (jobs/). A job type is a name, the keys its payload may have, optional
 * payload checks run at enqueue time, and a handler. The table of all
 * types lives in jobs/jobs.c and is passed to the worker; the queue
 * layer never names a job type (the conversation layer names the types
 * whose payloads it relies on: jobtypes.h).
 */
#ifndef DATER_JOB_H
#define DATER_JOB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "db.h"
#include "queue.h"

enum job_result {
	JOB_OK = 0,		/* done: the job succeeds */
	JOB_RETRY,		/* failed this time: retry at out->at or after
				 * the backoff; counts an attempt */
	JOB_DEFER,		/* not now (quiet hours, rate limit, budget):
				 * run again at out->at; no attempt spent */
	JOB_FAIL		/* will never succeed: dead now */
};

struct job_outcome {
	int64_t at;			/* RETRY/DEFER: earliest time, ms */
	char error[QUEUE_ERROR_MAX];	/* RETRY/FAIL: why; DEFER: note */
};

/* What a handler gets. Everything is borrowed for the call. */
struct job_ctx {
	struct db *db;			/* the worker's connection */
	const struct cfg *cfg;
	const struct queue_job *job;
	json_t *payload;		/* parsed job->payload, an object */
};

struct job_type {
	const char *name;
	const char *summary;		/* one line for --help and reports */
	/* Check a payload at enqueue time (NULL: any object); an absent
	 * payload is checked as {}. cfg is the loaded configuration (for
	 * names such as bots). Returns 0, or -1 with the reason in err,
	 * naming the JSON path. */
	int (*check)(const struct cfg *cfg, const json_t *payload, char *err,
	    size_t errlen);
	/* Run the job. Returns a result; fills out for RETRY/DEFER/FAIL. */
	enum job_result (*run)(struct job_ctx *ctx, struct job_outcome *out);
	/* The keys a payload may have, NULL-terminated; NULL: none (the
	 * payload must be {}). job_check refuses any other key, for every
	 * type alike, before the type's own check runs. */
	const char *const *keys;
	/* Check a payload against the contact profile field definitions
	 * (etc/fields.json, as fields_load returns them; never NULL here) at
	 * enqueue time. NULL: the type carries no profile. See
	 * job_check_fields. */
	int (*check_fields)(const json_t *defs, const json_t *payload,
	    char *err, size_t errlen);
	/* Nonzero: a worker may claim jobs of this type in batches of up
	 * to worker.batch and record their results in one commit. Only for
	 * a short handler with no effect outside the database (no send, no
	 * LLM call) that is safe to run again: a worker that dies before
	 * the commit has its whole batch run again. */
	int batch;
	/* The priority of a job of this type added without one (dater-
	 * enqueue without --priority) when the configuration sets no
	 * jobs.TYPE.priority; 0: the configuration's queue.priority. A
	 * conversation's first job goes ahead of bulk work: a person is
	 * waiting for the reply. */
	int priority;
};

/* Helpers for handlers: fill out and return the result. */
enum job_result job_retry(struct job_outcome *out, int64_t at,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
enum job_result job_fail(struct job_outcome *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
enum job_result job_defer(struct job_outcome *out, int64_t at,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The priority of a type's job added without one: the configuration's
 * jobs.TYPE.priority if set, else the type's own default, else the
 * configuration's queue.priority. type may be NULL (the last). */
int job_priority(const struct job_type *type, const struct cfg *cfg,
    const char *name);

/* The type named name in a NULL-terminated table, or NULL. */
const struct job_type *job_find(const struct job_type *const *table,
    const char *name);

/*
 * Check a payload for a type before it is enqueued: it must be a JSON
 * object with only the type's keys and pass the type's check. Returns 0
 * or -1 with err filled, naming the JSON path below the payload
 * (".status: unknown field (known: ...)").
 */
int job_check(const struct job_type *type, const struct cfg *cfg,
    const json_t *payload, char *err, size_t errlen);

/*
 * The profile half of the enqueue check, apart because it needs the
 * field definitions, which callers load (cfg->fields) only when a type
 * in hand has check_fields. defs NULL (no definitions configured) or a
 * type without the hook: 0. Else as job_check.
 */
int job_check_fields(const struct job_type *type, const json_t *defs,
    const json_t *payload, char *err, size_t errlen);

#endif
