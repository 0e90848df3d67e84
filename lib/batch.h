/*
 * batch: jobs to enqueue, parsed and checked in full before anything is
 * written, then added in one transaction, so a rejected batch changes
 * nothing. Used by dater-enqueue for argv and for JSON lines on stdin:
 *
 *   {"type": "noop", "payload": {...}, "at": TIME | "in": DURATION,
 *    "priority": N, "unique": "KEY", "max_attempts": N, "queue": "NAME"}
 *
 * Only "type" is required. TIME is RFC 3339 or unix seconds (string or
 * number); DURATION is "90s", "10m", ... or a number of seconds.
 * Defaults for queue, priority and max_attempts come from the config's
 * settings for the type. Payloads get job_check; the profile field
 * definitions (cfg->fields) are read once, and only when a job of a type
 * that needs them (job_check_fields) is added: a batch of noops does not
 * pay for them.
 */
#ifndef DATER_BATCH_H
#define DATER_BATCH_H

#include <stdio.h>

#include "cfg.h"
#include "db.h"
#include "job.h"
#include "queue.h"

struct batch {
	struct queue_new *items;	/* strings inside are owned */
	size_t n, cap;
	const struct job_type *const *types;	/* borrowed */
	const struct cfg *cfg;			/* borrowed */
	json_t *fields;		/* field definitions once read (owned) */
	int fields_state;	/* 0 not read yet, 1 read, -1 unreadable */
	int config_error;	/* the last -1 was the configuration's fault */
};

/* Start an empty batch over a job table and config (both borrowed). */
void batch_init(struct batch *b, const struct job_type *const *types,
    const struct cfg *cfg);

/* Free every item and the field definitions; safe on a zeroed struct. */
void batch_release(struct batch *b);

/*
 * Parse one job from a JSON object (as in the format above) and append
 * it. On error returns -1 and writes the reason into err, naming the
 * field ("type: unknown job type 'x'", "payload.profile.age: expected an
 * integer"); the batch is unchanged. When the configuration is at fault
 * (a field definitions file that cannot be read, logged by fields_load)
 * b->config_error is set.
 */
int batch_add_json(struct batch *b, const json_t *obj, int64_t now,
    char *err, size_t errlen);

/*
 * Read JSON lines from f until EOF, appending each (blank lines are
 * skipped). On the first bad line logs "name:LINE: reason" and returns
 * -1 (the batch may hold the lines before it: release it). An I/O error
 * is logged and returns -1 too.
 */
int batch_read(struct batch *b, FILE *f, const char *name);

/*
 * Enqueue every item in one transaction; ids[i] receives item i's id (an
 * existing job's id when its unique key is taken). Returns 0, or -1 with
 * nothing enqueued.
 */
int batch_enqueue(struct batch *b, struct db *db, int64_t *ids);

#endif
