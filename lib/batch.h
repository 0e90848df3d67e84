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
 * settings for the type.
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
};

/* Start an empty batch over a job table and config (both borrowed). */
void batch_init(struct batch *b, const struct job_type *const *types,
    const struct cfg *cfg);

/* Free every item; safe on a zeroed struct. */
void batch_release(struct batch *b);

/*
 * Parse one job from a JSON object (as in the format above) and append
 * it. On error returns -1 and writes the reason into err, naming the
 * field ("type: unknown job type 'x'"); the batch is unchanged.
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
