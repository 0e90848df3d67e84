/*
 * sched: what dater-scheduler does each time it runs: enqueue every
 * configured schedule whose slot has come (once per slot however often
 * it runs, in the same transaction that records the slot, so two
 * schedulers racing enqueue nothing twice; after downtime a missed
 * schedule fires once, not once per missed slot), and the domain's due
 * work: `initiate` for contacts that may get an opener (within each
 * bot's daily cap) and `followup` for conversations that went quiet.
 *
 * A schedule's state is its last fired slot, in the kv table as
 * "schedule.NAME". A schedule seen for the first time fires only if its
 * slot is the current minute.
 */
#ifndef DATER_SCHED_H
#define DATER_SCHED_H

#include <stdint.h>
#include <stdio.h>

#include "cfg.h"
#include "db.h"
#include "job.h"

struct sched_report {
	int fired;		/* schedules enqueued */
	int openers;		/* initiate jobs enqueued */
	int followups;		/* followup jobs enqueued */
};

/*
 * Check every schedule of cfg: its cron expression parses and its
 * payload passes its job type's check. Logs "schedule 'NAME': why" and
 * returns -1 on the first bad one.
 */
int sched_check(const struct cfg *cfg, const struct job_type *const *types);

/*
 * One run at now_ms. With dry_run, writes nothing and lists on out (may
 * be NULL) what it would enqueue. Returns 0 or -1 (logged).
 */
int sched_run(struct db *db, const struct cfg *cfg, int64_t now_ms,
    int dry_run, FILE *out, struct sched_report *r);

#endif
