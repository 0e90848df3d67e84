/*
 * worker: the supervisor and its worker processes.
 *
 * The supervisor forks N workers, restarts any that die (with backoff, so
 * a crash loop does not spin), gives back at once the job of a worker
 * that died, renews the leases of its live workers' jobs (the heartbeat)
 * and releases jobs whose lease expired (a whole tree that died). It also
 * enforces job timeouts itself, for workers whose own timer cannot fire
 * (stopped, stuck): it reads each worker's job from the jobs table at
 * every heartbeat and kills the worker a grace past the job's timeout.
 * A worker tells the supervisor on a pipe that it registered, that it
 * recorded its first job, and why it exits with an error; workers that
 * keep exiting with an error (the database takes no writes) get one
 * line per restart, and --drain gives up after a few in a row. Each
 * worker opens its own database connection, claims a job, runs its
 * handler from the job table with the type's timeout (SIGALRM kills the
 * process; the supervisor records the attempt), then records the result
 * and claims the next job in one transaction. Jobs of batchable types
 * (job_type.batch) are claimed up to worker.batch at a time, their
 * handlers run in turn under one shared time budget, and all their
 * results recorded with the next claim in one transaction (group
 * commit); a worker that dies mid-batch has recorded none of it, so the
 * whole batch comes back, finished handlers included. Idle workers
 * sleep in ppoll() on an inotify watch of the database's -wal file and
 * re-probe once shortly after a wake-up that found nothing (the event
 * can precede the commit's visibility), with a slow poll as the
 * fallback.
 *
 * Signals: SIGTERM/SIGINT stop claiming, finish running jobs, exit 0
 * (after worker.shutdown_grace the supervisor kills what is left and
 * gives its jobs back); SIGHUP reloads the configuration between jobs
 * (a broken file is refused and the old settings stay).
 */
#ifndef DATER_WORKER_H
#define DATER_WORKER_H

#include "cfg.h"
#include "job.h"

struct worker_opts {
	int n;				/* worker processes */
	const char *queues;		/* comma-separated; NULL: config's */
	int drain;			/* exit when no job is due */
	const char *cfg_path;		/* for reloads; NULL: search again */
	const char *db_path;		/* the database */
	const struct job_type *const *types;	/* NULL-terminated */
	const char *const *type_names;		/* for cfg_load */
};

/*
 * Run the supervisor until stopped (or drained). cfg is the loaded
 * configuration; a good reload cfg_move()s the new one over it (the old is
 * released), so the caller must own it. Returns a sysexits code:
 * EX_OK after a clean stop or drain, EX_UNAVAILABLE when the database is
 * unusable at start or (drain) workers keep failing to use it.
 */
int worker_run(const struct worker_opts *opts, struct cfg *cfg);

#endif
