/*
 * report: the read-only views behind dater-report. Each view runs its
 * queries inside one read transaction (one consistent snapshot, which
 * never blocks the workers writing under WAL) and returns a new JSON
 * document. dater-report prints either that document or a table made
 * from it, so the two can never disagree.
 *
 * Every document is an object with "generated_at". Times are RFC 3339
 * UTC strings with milliseconds (clock_format), or null when absent;
 * durations are integers in ms, in keys ending in "_ms". The shapes are
 * listed in dater-report(1) and above each function below.
 *
 * All of the report SQL lives in report.c. The views only read, so they
 * work on a connection opened with DB_READONLY.
 */
#ifndef DATER_REPORT_H
#define DATER_REPORT_H

#include <jansson.h>
#include <stdint.h>

#include "db.h"

#define REPORT_JOBS_LIMIT 50		/* default rows of report_jobs */
#define REPORT_JOBS_LIMIT_MAX 100000

/* The job states, in lifecycle order, NULL-terminated. */
extern const char *const report_states[];

/* Whether s names a job state. */
int report_state_known(const char *s);

/*
 * Counts of the whole queue at time now (ms):
 *
 *   { "generated_at", "total", "queued", "due", "scheduled", "running",
 *     "succeeded", "dead", "cancelled",
 *     "lease_expired": running jobs whose lease ended before now,
 *     "oldest_due_id", "oldest_due_type", "oldest_due_at",
 *     "oldest_due_age_ms": now - run_at of the due job that has waited
 *       longest (all four null when nothing is due),
 *     "next_scheduled_at": the earliest future run_at, or null,
 *     "workers": rows in the workers table,
 *     "by_type": { TYPE: { "total", "queued", "due", "scheduled",
 *       "running", "succeeded", "dead", "cancelled" } },
 *     "by_queue": { QUEUE: { "queued", "due", "scheduled", "running" } } }
 *
 * "due" + "scheduled" = "queued", everywhere. by_type holds every type
 * present in the table, by_queue every queue with live jobs, both sorted
 * by name. Returns a new reference, or NULL (logged).
 */
json_t *report_queue(struct db *db, int64_t now);

/* Filters of report_jobs; NULL or 0 members do not filter. */
struct report_jobs_filter {
	const char *state;		/* one of report_states */
	const char *type;
	const char *queue;
	int limit;			/* rows; 0: REPORT_JOBS_LIMIT */
};

/*
 * The newest jobs (highest id first) that match f:
 *
 *   { "generated_at", "filter": { "state", "type", "queue", "limit" },
 *     "truncated": true when more jobs match than limit,
 *     "jobs": [ JOB, ... ] }
 *
 * where JOB is { "id", "type", "queue", "bot", "state", "priority",
 * "attempts", "max_attempts", "run_at", "created_at", "started_at",
 * "finished_at", "lease_until", "worker", "unique_key", "last_error" }
 * (bot, worker, unique_key, last_error: string or null). An unknown
 * state is an error. Returns a new reference, or NULL (logged).
 */
json_t *report_jobs(struct db *db, const struct report_jobs_filter *f,
    int64_t now);

/* Results of report_job besides -1 (error, logged). */
enum report_found {
	REPORT_NOT_FOUND = 0,
	REPORT_FOUND = 1
};

/*
 * Everything about job id: JOB as in report_jobs plus "generated_at",
 * "payload" (the parsed JSON; the raw text as a string if it does not
 * parse) and "errors": every failed attempt, oldest first, as
 * [ { "attempt", "at", "worker", "error" } ].
 *
 * Returns REPORT_FOUND with a new reference in *out, REPORT_NOT_FOUND
 * (not logged: the caller names the id to the user) or -1 (logged); *out
 * is untouched unless found.
 */
int report_job(struct db *db, int64_t id, int64_t now, json_t **out);

/*
 * The worker processes that registered themselves, by id:
 *
 *   { "generated_at",
 *     "workers": [ { "id", "pid", "host", "queues" ("" = all),
 *       "started_at", "heartbeat_at", "heartbeat_age_ms",
 *       "jobs": [ RUNNING, ... ] } ],
 *     "orphaned": [ RUNNING, ... ] }
 *
 * RUNNING is { "id", "type", "queue", "worker", "attempts",
 * "started_at", "lease_until" } for a job in state running held by that
 * worker; "orphaned" holds running jobs whose worker has no row (it died
 * without releasing them: the lease reaper will). Returns a new
 * reference, or NULL (logged).
 */
json_t *report_workers(struct db *db, int64_t now);

#endif
