/*
 * queue: the job queue in the jobs table. Every state change is one SQL
 * statement, fenced where a worker acts on a claimed job (the job must
 * still be running, held by this worker, at this attempt), so a worker
 * that lost its lease can change nothing.
 *
 * Transactions: each function works inside the caller's transaction when
 * one is open (db_begin), so a worker can complete one job and claim the
 * next in a single commit; with none open it makes its own.
 *
 * States: queued -> running -> succeeded | queued (retry, defer) | dead;
 * queued | running -> cancelled; dead | cancelled -> queued (retry).
 */
#ifndef DATER_QUEUE_H
#define DATER_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "db.h"

#define QUEUE_NAME_MAX 64
#define QUEUE_ERROR_MAX 1024
#define QUEUE_DEFAULT_PRIORITY 100

/* A job to add. NULL or 0 fields take the defaults noted. */
struct queue_new {
	const char *type;		/* required */
	const char *queue;		/* NULL: "default" */
	const char *bot;		/* NULL: none */
	const char *payload;		/* JSON text; NULL: "{}" */
	int priority;			/* 0 most urgent; use -1 for default */
	int64_t run_at;			/* ms since epoch; 0: now */
	int max_attempts;		/* 0: 25 */
	const char *unique_key;		/* NULL: not unique */
};

/* A claimed (or looked-up) job. Release with queue_job_release(). */
struct queue_job {
	int64_t id;
	char type[QUEUE_NAME_MAX];
	char queue[QUEUE_NAME_MAX];
	char bot[QUEUE_NAME_MAX];	/* "" if none */
	char *payload;			/* owned, JSON text */
	char *unique_key;		/* owned, NULL if none */
	int priority;
	int64_t run_at;
	int attempts;			/* this attempt's number, from 1 */
	int max_attempts;
	int64_t created_at;
	int64_t lease_until;
	char worker[QUEUE_NAME_MAX];
};

/* Results of the fenced operations besides -1 (error, logged). */
enum queue_fence {
	QUEUE_DONE = 0,		/* the change was made */
	QUEUE_LOST = 1		/* the job is no longer ours: nothing changed */
};

/* Results of queue_claim besides -1. */
enum queue_claim_result {
	QUEUE_EMPTY = 0,
	QUEUE_CLAIMED = 1
};

/* Free the owned fields; safe on a zeroed struct. */
void queue_job_release(struct queue_job *job);

/* Fill q with defaults: priority -1 (default), everything else 0/NULL. */
void queue_new_init(struct queue_new *q);

/*
 * Apply the configuration to a job a program or handler is about to add:
 * what the file gives for the type (`jobs.TYPE` queue, priority,
 * max_attempts) replaces q's values, which are the code's own choices;
 * what is still unset (queue NULL, priority -1, max_attempts 0) takes
 * the global `queue` defaults. q->queue may then point into cfg
 * (borrowed: use q before cfg is released).
 */
void queue_new_configure(struct queue_new *q, const struct cfg *cfg);

/*
 * Add one job. If unique_key is set and a queued or running job holds it,
 * nothing is added: *id gets that job's id and *existed 1. Otherwise *id
 * gets the new id and *existed 0. existed may be NULL. Returns 0 or -1.
 */
int queue_add(struct db *db, const struct queue_new *q, int64_t *id,
    int *existed);

/*
 * Add items[0..n) in one transaction (the caller's, or its own), much
 * faster than n calls of queue_add: runs of jobs without a unique key go
 * in as multi-row inserts. ids[i] receives item i's id (for a taken
 * unique key, the holder's). Returns 0, or -1 with nothing added when
 * the transaction is its own (else the caller must roll back).
 */
int queue_add_many(struct db *db, const struct queue_new *items, size_t n,
    int64_t *ids);

/*
 * Claim up to max due jobs (state queued, run_at <= now), most urgent
 * first (priority, run_at, id), from the comma-separated queues (NULL or
 * "": all), for worker, with a lease of lease_ms. Each claim counts an
 * attempt. jobs[0..*n) are filled (release each). Returns QUEUE_CLAIMED,
 * QUEUE_EMPTY (*n = 0) or -1.
 */
int queue_claim(struct db *db, const char *worker, const char *queues,
    int64_t lease_ms, struct queue_job *jobs, int max, int *n);

/*
 * queue_claim restricted to the comma-separated job types (""
 * claims nothing): how a worker fills a batch with the due jobs of the
 * types declared batchable, skipping the others, which stay queued for
 * a claim of their own. Same results and ownership as queue_claim.
 */
int queue_claim_types(struct db *db, const char *worker, const char *queues,
    const char *types, int64_t lease_ms, struct queue_job *jobs, int max,
    int *n);

/* Mark a claimed job succeeded. Fenced: QUEUE_DONE, QUEUE_LOST or -1. */
int queue_complete(struct db *db, const struct queue_job *job);

/*
 * Record a failed attempt with its error text. If permanent, or the job
 * has used all its attempts, it becomes dead; otherwise it is queued again
 * at retry_at (ms; 0 means now). Every attempt's error is kept in the
 * job's errors array. *dead (may be NULL) tells which. Fenced.
 */
int queue_fail(struct db *db, const struct queue_job *job, const char *error,
    int permanent, int64_t retry_at, int *dead);

/* Put a claimed job back to run at run_at without spending its attempt
 * (quiet hours, rate limits). Fenced. */
int queue_defer(struct db *db, const struct queue_job *job, int64_t run_at);

/* Extend the lease of a claimed job to now + lease_ms. Fenced. */
int queue_extend(struct db *db, const struct queue_job *job,
    int64_t lease_ms);

/*
 * The backoff before retry number `attempts` (the attempt that just
 * failed): base * 2^(attempts-1), capped, plus up to 25% random jitter
 * (never past the cap). In ms.
 */
int64_t queue_backoff(int attempts, int64_t base_ms, int64_t cap_ms);

/*
 * Renew the leases of every job the worker holds to now + lease_ms and
 * its heartbeat. Returns the number of jobs renewed, or -1.
 */
int queue_heartbeat(struct db *db, const char *worker, int64_t lease_ms);

/*
 * Give back every job a worker holds (the worker died): each counts a
 * failed attempt with reason as its error and is queued again at once,
 * or becomes dead when out of attempts. Removes the worker's row.
 * Returns the number of jobs released, or -1.
 */
int queue_release_worker(struct db *db, const char *worker,
    const char *reason);

/*
 * Release the jobs of every running job whose lease ran out (the whole
 * worker tree died or hung) the same way, and forget workers whose
 * heartbeat is older than stale_ms. Returns the number released, or -1.
 */
int queue_reap(struct db *db, int64_t stale_ms);

/*
 * Admin verbs over a list of ids, all or nothing in one transaction:
 * cancel (queued or running -> cancelled; a running job's result is then
 * discarded) and retry (dead or cancelled -> queued now, attempts reset).
 * On a refusal nothing changes, the reason is logged naming the job, and
 * -1 is returned.
 */
int queue_cancel(struct db *db, const int64_t *ids, int n);
int queue_retry(struct db *db, const int64_t *ids, int n);

/*
 * Retry every job in state ("dead" or "cancelled") of type and of bot
 * (NULL: any): queued now, attempts reset, all in one transaction. The
 * retried ids go to *ids (free them) and their number to *n. A matching
 * job whose unique key another live job holds refuses the whole set.
 * Returns 0, or -1 (logged; nothing changed).
 */
int queue_retry_where(struct db *db, const char *state, const char *type,
    const char *bot, int64_t **ids, int *n);

/*
 * Cancel the queued jobs of the comma-separated types whose payload field
 * `field` (a top-level key) equals value, e.g. every queued respond and
 * followup of contact 42. Returns the number cancelled, or -1.
 */
int queue_cancel_where(struct db *db, const char *types, const char *field,
    int64_t value);

/*
 * When the next queued job in the comma-separated queues (NULL or "":
 * all) is due, in ms into *at (at or before now: one is due). A read, no
 * write lock: an idle worker asks this before it claims, and sleeps until
 * then. Returns 1 (found), 0 (none queued; *at untouched) or -1.
 */
int queue_next_due(struct db *db, const char *queues, int64_t *at);

/* Look a job up by id. Returns 1 found, 0 not found, -1 error. */
int queue_get(struct db *db, int64_t id, struct queue_job *job, char *state,
    size_t statelen);

/*
 * The job a worker is running (the one it claimed last): its id into
 * *id, its type into type (typelen bytes) and when the claim was made
 * (ms since epoch) into *started_at. A read: the supervisor asks it to
 * enforce the job's timeout. Returns 1 (found), 0 (none; outputs
 * untouched) or -1.
 */
int queue_worker_job(struct db *db, const char *worker, int64_t *id,
    char *type, size_t typelen, int64_t *started_at);

/* Worker rows (the workers table): register at start, the current job
 * after each claim, unregister at a clean exit. 0 or -1. */
int queue_worker_register(struct db *db, const char *worker, const char *host,
    long pid, const char *queues);
int queue_worker_unregister(struct db *db, const char *worker);

#endif
