/*
 * worker: see worker.h for the design. The supervisor and the workers
 * share this file; they share no state after fork() except the signal
 * flags below (each process has its own copy).
 */
#define _GNU_SOURCE		/* ppoll */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "listener.h"
#include "log.h"
#include "queue.h"
#include "store.h"
#include "worker.h"
#include "banned.h"

#define WORKER_MAX 256
#define WORKER_REPROBE_MS 1	/* re-probe after an empty wake-up */
#define WORKER_STABLE_MS 10000	/* a worker that lived this long is fine */
#define WORKER_FINISH_TRIES 20	/* attempts to record a job's result */
#define WORKER_FAIL_TRIES 20	/* failed looks or claims in a row: give up */
#define WORKER_DRAIN_FAILS 5	/* failed starts in a row: --drain gives up */
#define WORKER_KILL_GRACE_MS 2000	/* past a job's timeout: kill its worker */

/*
 * What a worker tells its supervisor on its status pipe: one byte when
 * it has registered (the database takes its writes) and one when it has
 * recorded its first job; before a failing exit, "E" and the last error
 * it logged, up to a newline. The supervisor reads the pipe when the
 * worker exits, and while the worker's slot is failing.
 */
#define WORKER_SAID_READY 'R'
#define WORKER_SAID_DONE 'C'
#define WORKER_SAID_WHY 'E'

static volatile sig_atomic_t got_term;
static volatile sig_atomic_t got_hup;
static volatile sig_atomic_t got_chld;

static void
on_signal(int sig)
{
	if (sig == SIGTERM || sig == SIGINT)
		got_term = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGCHLD)
		got_chld = 1;
}

/* Block the signals we handle (they are let through only in ppoll) and
 * install the flag-setting handlers. *wait_mask gets the mask to sleep
 * with. */
static void
signals_setup(sigset_t *wait_mask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, wait_mask);
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	sigdelset(wait_mask, SIGHUP);
	sigdelset(wait_mask, SIGCHLD);
}

/*
 * Collect signals that arrived while blocked (a busy worker never sleeps
 * in ppoll, where they would be delivered): take them without running
 * the handler and set the same flags.
 */
static void
take_signals(void)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	while ((sig = sigtimedwait(&set, NULL, &zero)) > 0)
		on_signal(sig);
}

/* Sleep up to ms (or forever if < 0), waking for fd (if >= 0) or a
 * signal. Returns 1 if fd is readable, 0 otherwise. */
static int
sleep_on(int fd, int64_t ms, const sigset_t *mask)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct timespec ts, *tp = NULL;
	int n;

	if (ms >= 0) {
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (long)(ms % 1000) * 1000000L;
		tp = &ts;
	}
	n = ppoll(fd >= 0 ? &pfd : NULL, fd >= 0 ? 1 : 0, tp, mask);
	return n > 0 && (pfd.revents & POLLIN);
}

/* ---- the worker process ---------------------------------------------- */

struct wk {
	const struct worker_opts *opts;
	const struct cfg *cfg;	/* the supervisor's, or own after a reload */
	struct cfg own;		/* zeroed until the first reload */
	struct db db;
	sigset_t wait_mask;
	char id[QUEUE_NAME_MAX];
	char queues[256];
	int status_fd;			/* to the supervisor; -1 without */
	int fails;			/* failed looks or claims in a row */
	int quiet;			/* errors not printed (log_capture) */
	int completed;			/* a job's result was recorded */
	char why[256];			/* the last error logged */
	/* The batch held (cur) and the one claimed with its results
	 * (next), cap entries each; see run_batch. */
	struct queue_job *cur, *next;
	struct job_outcome *outs;
	enum job_result *res;
	int cap;
	char batch_types[512];		/* batchable types, comma-separated */
};

/* A look or claim failed: print the first error of a run of them only. */
static void
failed_once_more(struct wk *w)
{
	if (w->fails++ == 0)
		log_capture(w->why, sizeof(w->why), 1);
}

/* A look or claim worked: print errors again (unless quiet). */
static void
failures_over(struct wk *w)
{
	if (w->fails > 0)
		log_capture(w->why, sizeof(w->why), w->quiet);
	w->fails = 0;
}

/* Tell the supervisor something (see WORKER_SAID_*); text may be NULL. */
static void
tell(const struct wk *w, char what, const char *text)
{
	char buf[300];
	int n;

	if (w->status_fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "%c%s%s", what,
	    text != NULL ? text : "", text != NULL ? "\n" : "");
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		n = sizeof(buf) - 1;
		buf[n - 1] = '\n';
	}
	(void)!write(w->status_fd, buf, (size_t)n);
}

static void
set_timer(int64_t ms)
{
	struct itimerval it;

	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (long)(ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
}

/* Run one claimed job's handler under its type's timeout, or under
 * limit_ms if that is shorter (what is left of its batch's budget). */
static enum job_result
run_job(struct wk *w, const struct queue_job *job, int64_t limit_ms,
    struct job_outcome *out)
{
	const struct job_type *type;
	struct job_ctx ctx;
	struct cfg_job js;
	json_error_t jerr;
	enum job_result r;

	memset(out, 0, sizeof(*out));
	if ((type = job_find(w->opts->types, job->type)) == NULL)
		return job_fail(out, "unknown job type '%s'", job->type);
	memset(&ctx, 0, sizeof(ctx));
	ctx.payload = json_loads(job->payload, 0, &jerr);
	if (!json_is_object(ctx.payload)) {
		json_decref(ctx.payload);
		return job_fail(out, "payload is not a JSON object: %s",
		    ctx.payload == NULL ? jerr.text : "wrong type");
	}
	ctx.db = &w->db;
	ctx.cfg = w->cfg;
	ctx.job = job;
	cfg_job_settings(w->cfg, job->type, &js);
	log_debug("job %lld (%s) attempt %d/%d started", (long long)job->id,
	    job->type, job->attempts, job->max_attempts);
	set_timer(limit_ms < js.timeout_ms ? limit_ms : js.timeout_ms);
	r = type->run(&ctx, out);
	set_timer(0);
	json_decref(ctx.payload);
	return r;
}

/* Record a result inside the open transaction. */
static int
record(struct wk *w, const struct queue_job *job, enum job_result r,
    const struct job_outcome *out)
{
	struct cfg_job js;
	char d[32];
	int64_t now = clock_now_ms(), at;
	int dead = 0, rc;

	switch (r) {
	case JOB_OK:
		log_debug("job %lld (%s) succeeded", (long long)job->id,
		    job->type);
		return queue_complete(&w->db, job);
	case JOB_DEFER:
		at = out->at > now ? out->at : now + 1000;
		log_debug("job %lld (%s) deferred %s: %s", (long long)job->id,
		    job->type, clock_format_duration(at - now, d, sizeof(d)),
		    out->error);
		return queue_defer(&w->db, job, at);
	case JOB_RETRY:
		cfg_job_settings(w->cfg, job->type, &js);
		at = out->at > now ? out->at : now + queue_backoff(
		    job->attempts, js.retry_base_ms, js.retry_cap_ms);
		rc = queue_fail(&w->db, job, out->error, 0, at, &dead);
		break;
	default:
		at = now;
		rc = queue_fail(&w->db, job, out->error, 1, 0, &dead);
		break;
	}
	if (rc == QUEUE_DONE && dead && job->bot[0] != '\0' &&
	    store_count_failure(&w->db, job->bot) < 0)
		return -1;
	if (rc == QUEUE_DONE && dead)
		log_warn("job %lld (%s) dead after attempt %d/%d: %s",
		    (long long)job->id, job->type, job->attempts,
		    job->max_attempts, out->error);
	else if (rc == QUEUE_DONE)
		log_info("job %lld (%s) attempt %d/%d failed, retry in %s: %s",
		    (long long)job->id, job->type, job->attempts,
		    job->max_attempts, clock_format_duration(at - now, d,
		    sizeof(d)), out->error);
	return rc;
}

/* Is a job of this type claimed in batches? */
static int
batchable(const struct wk *w, const char *type)
{
	const struct job_type *t = job_find(w->opts->types, type);

	return w->cfg->worker.batch > 1 && t != NULL && t->batch;
}

/*
 * Claim the most urgent due job and, if its type is batchable, up to
 * worker.batch - 1 more due jobs of batchable types, into jobs (cap
 * entries). Inside the caller's transaction, or its own. Returns the
 * number claimed, or -1.
 */
static int
claim_batch(struct wk *w, struct queue_job *jobs)
{
	int64_t lease = w->cfg->worker.lease_ms;
	int own, n = 0, m = 0, k = w->cfg->worker.batch, ok = 0;

	if (k > w->cap)
		k = w->cap;
	if (db_tx_open(&w->db, &own) < 0)
		return -1;
	if (queue_claim(&w->db, w->id, w->queues, lease, jobs, 1, &n) < 0)
		goto out;
	if (n == 1 && k > 1 && batchable(w, jobs[0].type) &&
	    queue_claim_types(&w->db, w->id, w->queues, w->batch_types,
	    lease, jobs + 1, k - 1, &m) < 0)
		goto out;
	ok = 1;
out:
	n += m;
	if (db_tx_close(&w->db, own, ok) < 0) {
		while (n > 0)
			queue_job_release(&jobs[--n]);
		return -1;
	}
	return n;
}

/*
 * Run the handlers of the batch w->cur[0..n) in order. A batch shares
 * one time budget, the shortest timeout among its types, counted from
 * the claim: the supervisor enforces one deadline per claim. A handler
 * is started only while half the budget is left, and not after SIGTERM;
 * the jobs not started go back to the queue (see finish). Returns the
 * number of handlers run; w->res and w->outs hold their results.
 */
static int
run_batch(struct wk *w, int n)
{
	struct cfg_job js;
	int64_t t0 = clock_mono_ms(), budget = INT64_MAX, left;
	int i;

	for (i = 0; n > 1 && i < n; i++) {
		cfg_job_settings(w->cfg, w->cur[i].type, &js);
		if (js.timeout_ms < budget)
			budget = js.timeout_ms;
	}
	for (i = 0; i < n; i++) {
		left = budget == INT64_MAX ? budget :
		    t0 + budget - clock_mono_ms();
		if (left < 1)
			left = 1;
		if (i > 0) {
			take_signals();
			if (got_term || left < budget / 2)
				break;
		}
		w->res[i] = run_job(w, &w->cur[i], left, &w->outs[i]);
		/* A handler that left its writes for the transaction that
		 * records its result (db_commit_later) must not hold the
		 * write lock through the next handler: commit them now. A
		 * failed commit poisons the connection (db.h): finish then
		 * records nothing and the batch comes back. */
		if (i + 1 < n && w->db.later == 1 && db_commit(&w->db) < 0)
			return i + 1;
	}
	return i;
}

/*
 * Record the results of the batch's first ran jobs, give back the rest
 * (not run: no attempt spent, same place in the queue) and, unless
 * stopping, claim the next batch into w->next, all in one transaction:
 * one commit for the lot. Retries while the database is busy or
 * failing; the leases keep the jobs ours meanwhile. Returns the number
 * claimed into w->next (0 or more), or -1 if the results could not be
 * recorded.
 */
static int
finish(struct wk *w, int n, int ran)
{
	int try, i, m = 0, claim, ok;

	for (try = 0; try < WORKER_FINISH_TRIES; try++) {
		if (try > 0)
			sleep_on(-1, 50 * try, &w->wait_mask);
		take_signals();
		claim = !got_term && !got_hup;
		if (db_begin(&w->db) < 0)
			continue;
		ok = 1;
		for (i = 0; ok && i < n; i++)
			ok = (i < ran ? record(w, &w->cur[i], w->res[i],
			    &w->outs[i]) : queue_defer(&w->db, &w->cur[i],
			    w->cur[i].run_at)) >= 0;
		if (!ok || (claim && (m = claim_batch(w, w->next)) < 0)) {
			db_rollback(&w->db);
			m = 0;
			continue;
		}
		if (db_commit(&w->db) == 0) {
			if (ran < n)
				log_debug("gave back %d job%s of a batch not "
				    "started", n - ran, n - ran == 1 ? "" :
				    "s");
			return m;
		}
		while (m > 0)
			queue_job_release(&w->next[--m]);
	}
	if (n == 1)
		log_err("job %lld: could not record its result; its lease "
		    "will expire and it will run again",
		    (long long)w->cur[0].id);
	else
		log_err("jobs %lld and %d more: could not record their "
		    "results; their leases will expire and they will run "
		    "again", (long long)w->cur[0].id, n - 1);
	return -1;
}

/* Load into a new struct; on success it replaces the old one (the
 * supervisor's copy inherited at fork is left alone: it is not ours). */
static void
reload(struct wk *w)
{
	struct cfg *c;

	got_hup = 0;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    cfg_load(c, w->opts->cfg_path, w->opts->type_names) < 0) {
		log_err("reload refused; keeping the old configuration");
		free(c);
		return;
	}
	cfg_use_database(c, w->opts->db_path);
	cfg_move(&w->own, c);
	free(c);
	w->cfg = &w->own;
	log_set_level((enum log_level)w->cfg->log_level);
	if (w->opts->queues == NULL)
		strlcpy(w->queues, w->cfg->worker.queues, sizeof(w->queues));
	log_debug("configuration reloaded");
}

/*
 * Idle: is a job due? If not, sleep until the next one is due, a write
 * to the -wal file, a signal or the slow poll. Returns 1 to try a claim,
 * 0 to look again, -1 when draining and nothing is due.
 */
static int
idle(struct wk *w, int *reprobe)
{
	int64_t next = 0, now, ms;
	int found;

	/* Armed before the look, so that a commit after it wakes us. Any
	 * write since may be a commit not yet visible: look again shortly
	 * if this look finds nothing. */
	db_wake_arm(&w->db);
	if (db_wake_drain(&w->db))
		*reprobe = 1;
	if ((found = queue_next_due(&w->db, w->queues, &next)) < 0) {
		failed_once_more(w);
		sleep_on(-1, 100, &w->wait_mask);
		return 0;
	}
	now = clock_now_ms();
	if (found && next <= now) {
		db_wake_disarm(&w->db);
		return 1;
	}
	failures_over(w);
	if (w->opts->drain)
		return -1;
	if (*reprobe) {
		*reprobe = 0;
		sleep_on(-1, WORKER_REPROBE_MS, &w->wait_mask);
		return 0;
	}
	ms = w->cfg->worker.poll_ms;
	if (found && next - now < ms)
		ms = next - now;
	if (sleep_on(db_wake_fd(&w->db), ms, &w->wait_mask))
		*reprobe = db_wake_drain(&w->db);
	return 0;
}

/* Size the batch buffers for worker.batch (they only grow, so a
 * batch held across a reload keeps its room). Returns 0 or -1. */
static int
batch_alloc(struct wk *w)
{
	size_t k = (size_t)w->cfg->worker.batch;
	void *p;

	if ((int)k <= w->cap)
		return 0;
	if ((p = reallocarray(w->cur, k, sizeof(*w->cur))) == NULL)
		goto oom;
	w->cur = p;
	if ((p = reallocarray(w->next, k, sizeof(*w->next))) == NULL)
		goto oom;
	w->next = p;
	if ((p = reallocarray(w->outs, k, sizeof(*w->outs))) == NULL)
		goto oom;
	w->outs = p;
	if ((p = reallocarray(w->res, k, sizeof(*w->res))) == NULL)
		goto oom;
	w->res = p;
	w->cap = (int)k;
	return 0;
oom:
	log_err("out of memory for a batch of %zu jobs", k);
	return -1;
}

/* The names of the batchable types, for queue_claim_types. */
static void
batch_types(struct wk *w)
{
	const struct job_type *const *t;
	size_t len = sizeof(w->batch_types);

	w->batch_types[0] = '\0';
	for (t = w->opts->types; t != NULL && *t != NULL; t++) {
		if (!(*t)->batch)
			continue;
		if ((w->batch_types[0] != '\0' &&
		    strlcat(w->batch_types, ",", len) >= len) ||
		    strlcat(w->batch_types, (*t)->name, len) >= len) {
			log_warn("too many batchable job types: '%s' and "
			    "those after it are claimed one at a time",
			    (*t)->name);
			break;
		}
	}
}

static int
worker_loop(struct wk *w)
{
	struct queue_job *swap;
	int have = 0, ran, reprobe = 0, rc;

	batch_types(w);
	if (batch_alloc(w) < 0)
		return EX_OSERR;
	for (;;) {
		take_signals();
		if (got_term)
			break;
		if (got_hup) {
			reload(w);
			if (batch_alloc(w) < 0)
				return EX_OSERR;
		}
		if (!have) {
			/* The database keeps failing: exit, and let the
			 * supervisor back off and say why. */
			if (w->fails >= WORKER_FAIL_TRIES)
				return EX_UNAVAILABLE;
			if ((rc = idle(w, &reprobe)) < 0)
				break;
			if (rc == 0)
				continue;
			if ((have = claim_batch(w, w->cur)) < 0) {
				have = 0;
				failed_once_more(w);
				sleep_on(-1, 100, &w->wait_mask);
			} else
				failures_over(w);
			continue;
		}
		ran = run_batch(w, have);
		rc = finish(w, have, ran);
		while (have > 0)
			queue_job_release(&w->cur[--have]);
		if (rc < 0)
			return EX_TEMPFAIL;
		if (!w->completed) {
			/* It works: say so, and log errors again. */
			w->completed = 1;
			w->quiet = 0;
			tell(w, WORKER_SAID_DONE, NULL);
			log_capture(w->why, sizeof(w->why), 0);
		}
		have = rc;
		swap = w->cur;
		w->cur = w->next;
		w->next = swap;
	}
	/* Stopping with a batch claimed but not started: give it back
	 * (finish claims nothing after SIGTERM). If that fails, the
	 * leases run out and the jobs come back then. */
	if (have > 0)
		(void)finish(w, have, 0);
	while (have > 0)
		queue_job_release(&w->cur[--have]);
	return EX_OK;
}

/* Exit with a failure, telling the supervisor why. */
static void __attribute__((noreturn))
worker_fail(struct wk *w, int rc)
{
	tell(w, WORKER_SAID_WHY, w->why[0] != '\0' ? w->why :
	    "no error was logged");
	_exit(rc);
}

/*
 * A worker process. status_fd (-1: none) is its status pipe; quiet: the
 * last worker in this slot failed, so errors are not printed until a job
 * is done (the supervisor prints why, once per restart).
 */
static void __attribute__((noreturn))
worker_main(const struct worker_opts *opts, const struct cfg *cfg,
    pid_t parent, const char *host, int status_fd, int quiet)
{
	struct wk *w;
	struct sigaction sa;
	int rc;

	got_term = got_hup = got_chld = 0;
	/* Stop with the supervisor: finish the job, then exit. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(EX_OK);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGALRM, &sa, NULL);	/* the job timeout kills us */
	sigaction(SIGCHLD, &sa, NULL);
	if ((w = calloc(1, sizeof(*w))) == NULL)
		_exit(EX_OSERR);
	w->opts = opts;
	w->cfg = cfg;	/* the supervisor's, in our copy of its memory */
	w->status_fd = status_fd;
	w->quiet = quiet;
	sigprocmask(SIG_BLOCK, NULL, &w->wait_mask);
	sigdelset(&w->wait_mask, SIGTERM);
	sigdelset(&w->wait_mask, SIGINT);
	sigdelset(&w->wait_mask, SIGHUP);
	log_init("dater-worker", (enum log_level)cfg->log_level, 1);
	log_capture(w->why, sizeof(w->why), quiet);
	strlcpy(w->queues, opts->queues != NULL ? opts->queues :
	    cfg->worker.queues, sizeof(w->queues));
	snprintf(w->id, sizeof(w->id), "%s:%ld", host, (long)getpid());
	if (db_open(&w->db, opts->db_path, w->cfg, 0) != 0)
		worker_fail(w, EX_UNAVAILABLE);
	if (queue_worker_register(&w->db, w->id, host, (long)getpid(),
	    w->queues) < 0) {
		db_close(&w->db);
		worker_fail(w, EX_UNAVAILABLE);
	}
	tell(w, WORKER_SAID_READY, NULL);
	rc = worker_loop(w);
	if (rc == EX_OK)
		(void)queue_worker_unregister(&w->db, w->id);
	db_close(&w->db);
	cfg_release(&w->own);
	free(w->cur);
	free(w->next);
	free(w->outs);
	free(w->res);
	if (rc != EX_OK)
		worker_fail(w, rc);
	free(w);
	_exit(rc);
}

/* ---- the supervisor -------------------------------------------------- */

struct child {
	pid_t pid;		/* 0: not running */
	char id[QUEUE_NAME_MAX];
	int64_t started;	/* mono ms */
	int64_t restart_at;	/* mono ms; 0: none pending */
	int crashes;		/* consecutive short lives */
	int done;		/* exited for good (drained or stopped) */
	int fd;			/* its status pipe; -1: none */
	int ready;		/* it said it registered */
	int completed;		/* it said it recorded a job */
	int fails;		/* failed lives in a row (see child_exited) */
	char why[256];		/* why it failed, as it said */
	int64_t job;		/* the job it runs, as last read; 0: none */
	int64_t job_started;	/* that attempt's started_at (epoch ms) */
	int64_t job_timeout;	/* its type's timeout, ms */
	int64_t deadline;	/* mono ms: killed past this; 0: none */
	int timed_out;		/* we killed it for its job's timeout */
};

struct sv {
	const struct worker_opts *opts;
	struct cfg *cfg;
	struct child kids[WORKER_MAX];
	struct listener_set *lst;	/* the bots' listeners; NULL: drain */
	struct listener_env lenv;
	char tree[64];			/* "host:pid" of this supervisor */
	sigset_t wait_mask;
	char host[40];
	int stopping;
	int64_t stop_deadline;	/* mono ms */
	int64_t next_tick;	/* mono ms */
	int tick_failing;	/* the last heartbeat failed */
	int exit_code;		/* worker_run's result */
};

static int
spawn(struct sv *s, struct child *c)
{
	pid_t pid, parent = getpid();
	int fds[2], i;

	/* Without a pipe the worker still runs; it just cannot say why it
	 * failed. */
	if (pipe2(fds, O_CLOEXEC) < 0) {
		log_warn("pipe: %s", strerror(errno));
		fds[0] = fds[1] = -1;
	} else
		(void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fflush(NULL);
	if ((pid = fork()) < 0) {
		log_err("fork: %s", strerror(errno));
		if (fds[0] >= 0) {
			close(fds[0]);
			close(fds[1]);
		}
		c->restart_at = clock_mono_ms() + 1000;
		return -1;
	}
	if (pid == 0) {
		for (i = 0; i < s->opts->n; i++)
			if (s->kids[i].fd >= 0)
				close(s->kids[i].fd);
		if (fds[0] >= 0)
			close(fds[0]);
		worker_main(s->opts, s->cfg, parent, s->host, fds[1],
		    c->fails > 0);
	}
	if (fds[1] >= 0)
		close(fds[1]);
	c->fd = fds[0];
	c->ready = fds[0] < 0;	/* unknown: assume it may hold a job */
	c->completed = c->timed_out = 0;
	c->why[0] = '\0';
	c->job = c->job_started = c->deadline = 0;
	c->pid = pid;
	c->started = clock_mono_ms();
	c->restart_at = 0;
	snprintf(c->id, sizeof(c->id), "%s:%ld", s->host, (long)pid);
	log_debug("started worker %s", c->id);
	return 0;
}

/*
 * Read what a worker said on its status pipe (see WORKER_SAID_*). A
 * worker of a failing slot that registers says the database works again;
 * one that records a job ends the slot's failures.
 */
static void
read_status(struct child *c)
{
	char buf[512], *p, *end;
	ssize_t n;
	size_t k;

	if (c->fd < 0)
		return;
	while ((n = read(c->fd, buf, sizeof(buf))) > 0) {
		for (p = buf, end = buf + n; p < end; p++) {
			if (*p == WORKER_SAID_READY && !c->ready) {
				c->ready = 1;
				if (c->fails > 0)
					log_info("worker %s started after %d "
					    "failed start%s: the database "
					    "takes writes again", c->id,
					    c->fails, c->fails == 1 ? "" : "s");
			} else if (*p == WORKER_SAID_DONE) {
				c->completed = 1;
				c->fails = 0;
			} else if (*p == WORKER_SAID_WHY) {
				for (k = 0, p++; p < end && *p != '\n' &&
				    k + 1 < sizeof(c->why); p++)
					c->why[k++] = (*p >= ' ' && *p != 0x7f) ?
					    *p : '?';
				c->why[k] = '\0';
			}
		}
	}
}

/* Give back the jobs of a worker that died. quiet: errors are not
 * printed (the same failure was shown already). */
static void
release(struct sv *s, const char *id, const char *reason, int quiet)
{
	struct db db;
	char why[256];

	if (quiet)
		log_capture(why, sizeof(why), 1);
	if (db_open(&db, s->opts->db_path, s->cfg, 0) != 0) {
		if (!quiet)
			log_err("cannot release the jobs of %s now; their "
			    "leases will expire", id);
	} else {
		(void)queue_release_worker(&db, id, reason);
		db_close(&db);
	}
	if (quiet)
		log_capture(NULL, 0, 0);
}

static void
describe_exit(const struct child *c, int status, char *buf, size_t len)
{
	char d[32];

	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		snprintf(buf, len, "timed out: the job ran past its type's "
		    "timeout and its worker was killed");
	else if (c->timed_out)
		snprintf(buf, len, "timed out: the job ran past its type's "
		    "timeout (%s) and its worker, stopped or stuck, was "
		    "killed by the supervisor", clock_format_duration(
		    c->job_timeout, d, sizeof(d)));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "worker died: killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (c->why[0] != '\0')
		snprintf(buf, len, "worker died: exit status %d (%s)",
		    WEXITSTATUS(status), c->why);
	else
		snprintf(buf, len, "worker died: exit status %d",
		    WEXITSTATUS(status));
}

static void signal_all(struct sv *s, int sig);

/* --drain: workers keep failing, so stop them all and exit 69. */
static void
give_up(struct sv *s, const struct child *c, int status)
{
	log_err("giving up after %d failed starts in a row without a job "
	    "done: worker %s exited %d (%s)", c->fails, c->id,
	    WEXITSTATUS(status), c->why[0] != '\0' ? c->why :
	    "no reason given");
	s->stopping = 1;
	s->stop_deadline = clock_mono_ms() + s->cfg->worker.grace_ms;
	s->exit_code = EX_UNAVAILABLE;
	signal_all(s, SIGTERM);
}

/*
 * A worker exited. One that exits with an error status without having
 * recorded a job failed (it could not use the database): the slot
 * counts its failures, the next worker in it stays quiet, and the
 * supervisor prints one line per restart instead (--drain gives up
 * after WORKER_DRAIN_FAILS). A worker killed by a signal gives its job
 * back with the signal as the attempt's error.
 */
static void
child_exited(struct sv *s, struct child *c, int status)
{
	char why[512], d[32];
	int64_t now = clock_mono_ms(), delay;
	int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	int failed;

	c->pid = 0;
	read_status(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	failed = WIFEXITED(status) && !clean && !c->completed;
	if (failed)
		c->fails++;
	if (!clean) {
		describe_exit(c, status, why, sizeof(why));
		if (!failed)
			log_warn("%s: %s", c->id, why);
		/* One that never registered holds nothing. */
		if (c->ready || c->job > 0 || !failed)
			release(s, c->id, why, failed && c->fails > 1);
	}
	if (failed && s->opts->drain && !s->stopping &&
	    c->fails >= WORKER_DRAIN_FAILS)
		give_up(s, c, status);
	if (s->stopping || (clean && s->opts->drain)) {
		if (failed && c->fails < WORKER_DRAIN_FAILS)
			log_warn("worker %s exited %d (%s)", c->id,
			    WEXITSTATUS(status), c->why[0] != '\0' ? c->why :
			    "no reason given");
		c->done = 1;
		return;
	}
	/* Unexpected: restart, backing off while it keeps dying young. A
	 * job timeout is the job's fault, not the worker's: no backoff. */
	if ((WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) ||
	    c->timed_out)
		c->crashes = 0;
	else if (now - c->started < WORKER_STABLE_MS)
		c->crashes++;
	else
		c->crashes = 1;
	delay = c->crashes <= 1 ? 0 : 100LL << (c->crashes < 12 ?
	    c->crashes - 2 : 10);
	if (delay > s->cfg->worker.restart_max_ms)
		delay = s->cfg->worker.restart_max_ms;
	c->restart_at = now + delay;
	if (failed)
		log_warn("worker %s exited %d (%s); restarting %s%s", c->id,
		    WEXITSTATUS(status), c->why[0] != '\0' ? c->why :
		    "no reason given", delay > 0 ? "in " : "now",
		    delay > 0 ? clock_format_duration(delay, d, sizeof(d)) :
		    "");
	else if (delay > 0)
		log_warn("restarting worker in %lld ms", (long long)delay);
}

static void
reap_children(struct sv *s)
{
	pid_t pid;
	int status, i;

	got_chld = 0;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (s->lst != NULL && listener_reaped(s->lst, s->cfg, pid,
		    status))
			continue;
		for (i = 0; i < s->opts->n; i++)
			if (s->kids[i].pid == pid)
				child_exited(s, &s->kids[i], status);
	}
}

/*
 * Enforce the timeout of each worker's job here too: a stopped or stuck
 * worker's own timer never fires. Learn the job each worker runs (an
 * attempt is its id and started_at) and kill the worker once the job is
 * WORKER_KILL_GRACE_MS past its type's timeout; its lease is then no
 * longer renewed, and child_exited records the attempt as timed out.
 * The deadline is kept on the monotonic clock from when it was learned.
 */
static void
enforce_timeouts(struct sv *s, struct db *db)
{
	struct cfg_job js;
	char type[QUEUE_NAME_MAX], d[32];
	int64_t id, started, now = clock_mono_ms(), wall = clock_now_ms();
	int i, found;

	for (i = 0; i < s->opts->n; i++) {
		struct child *c = &s->kids[i];

		if (c->pid <= 0 || c->timed_out)
			continue;
		found = queue_worker_job(db, c->id, &id, type, sizeof(type),
		    &started);
		if (found < 0)
			return;
		if (found == 0) {
			c->job = c->deadline = 0;
			continue;
		}
		if (id != c->job || started != c->job_started) {
			cfg_job_settings(s->cfg, type, &js);
			c->job = id;
			c->job_started = started;
			c->job_timeout = js.timeout_ms;
			c->deadline = now + started + js.timeout_ms +
			    WORKER_KILL_GRACE_MS - wall;
		}
		if (now < c->deadline)
			continue;
		log_warn("job %lld (%s) ran past its timeout (%s) and worker "
		    "%s did not stop it: killing the worker", (long long)id,
		    type, clock_format_duration(c->job_timeout, d, sizeof(d)),
		    c->id);
		kill(c->pid, SIGKILL);
		c->timed_out = 1;
		c->deadline = 0;
	}
}

/*
 * The heartbeat: enforce job timeouts, renew our workers' leases,
 * release expired ones. While it keeps failing (the database takes no
 * writes) it says so once, and again when it works.
 */
static int
tick(struct sv *s)
{
	struct db db;
	char why[256], d[32];
	int i, rc, bad = 0;

	if (s->tick_failing)
		log_capture(why, sizeof(why), 1);
	rc = db_open(&db, s->opts->db_path, s->cfg, 0);
	if (rc == 0) {
		enforce_timeouts(s, &db);
		for (i = 0; i < s->opts->n && !bad; i++)
			if (s->kids[i].pid > 0 && !s->kids[i].timed_out)
				bad = queue_heartbeat(&db, s->kids[i].id,
				    s->cfg->worker.lease_ms) < 0;
		if (!bad)
			bad = queue_reap(&db, 2 * s->cfg->worker.lease_ms) < 0;
		if (s->lst != NULL)
			listener_heartbeat(s->lst, &db, s->cfg);
		db_close(&db);
	}
	if (s->tick_failing)
		log_capture(NULL, 0, 0);
	if ((rc != 0 || bad) && !s->tick_failing) {
		s->tick_failing = 1;
		log_warn("heartbeat failed: leases not renewed; trying every "
		    "%s, quietly until it works", clock_format_duration(
		    s->cfg->worker.heartbeat_ms, d, sizeof(d)));
	} else if (rc == 0 && !bad && s->tick_failing) {
		s->tick_failing = 0;
		log_info("heartbeat works again");
	}
	return rc;
}

static void
signal_all(struct sv *s, int sig)
{
	int i;

	for (i = 0; i < s->opts->n; i++)
		if (s->kids[i].pid > 0)
			kill(s->kids[i].pid, sig);
}

static void
sv_reload(struct sv *s)
{
	struct cfg *c;

	got_hup = 0;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    cfg_load(c, s->opts->cfg_path, s->opts->type_names) < 0) {
		log_err("reload refused; keeping the old configuration");
		free(c);
		return;
	}
	cfg_use_database(c, s->opts->db_path);
	cfg_move(s->cfg, c);	/* releases the old one */
	free(c);
	log_set_level((enum log_level)s->cfg->log_level);
	log_info("configuration reloaded");
	signal_all(s, SIGHUP);
}

/* Is a worker's job past its deadline? *wake gets the earliest deadline
 * still ahead if that is sooner (one past stays for the next tick). */
static int
deadline_due(const struct sv *s, int64_t now, int64_t *wake)
{
	int i, due = 0;

	for (i = 0; i < s->opts->n; i++) {
		const struct child *c = &s->kids[i];

		if (c->pid <= 0 || c->deadline == 0)
			continue;
		due |= c->deadline <= now;
		if (c->deadline > now && c->deadline < *wake)
			*wake = c->deadline;
	}
	return due;
}

/* The tree stops: its listeners' leases are free for another tree. */
static void
drop_leases(struct sv *s)
{
	struct db db;

	if (db_open(&db, s->opts->db_path, s->cfg, 0) != 0)
		return;
	(void)listener_lease_drop(&db, s->tree, NULL);
	db_close(&db);
}

/* One pass of the supervisor's loop; returns 1 when all workers are done. */
static int
sv_step(struct sv *s)
{
	int64_t now, wake;
	int i, alive = 0, pending = 0;

	if (got_chld)
		reap_children(s);
	if (got_term && !s->stopping) {
		s->stopping = 1;
		s->stop_deadline = clock_mono_ms() + s->cfg->worker.grace_ms;
		log_info("stopping: waiting for running jobs");
		signal_all(s, SIGTERM);
		if (s->lst != NULL)
			listener_stop(s->lst, SIGTERM);
	}
	if (got_hup)
		sv_reload(s);
	for (i = 0; i < s->opts->n; i++)
		if (s->kids[i].pid > 0 && s->kids[i].fails > 0)
			read_status(&s->kids[i]);
	now = clock_mono_ms();
	if (s->stopping && now >= s->stop_deadline) {
		log_warn("shutdown grace over: killing workers");
		signal_all(s, SIGKILL);
		if (s->lst != NULL)
			listener_stop(s->lst, SIGKILL);
		s->stop_deadline = now + 1000;
	}
	for (i = 0; i < s->opts->n; i++) {
		struct child *c = &s->kids[i];

		if (c->pid == 0 && !c->done && !s->stopping &&
		    c->restart_at > 0 && c->restart_at <= now)
			spawn(s, c);
		alive += c->pid > 0;
		pending += c->pid == 0 && !c->done && !s->stopping;
	}
	if (s->lst != NULL) {
		listener_sync(s->lst, s->cfg);
		alive += listener_running(s->lst);
	}
	if (alive == 0 && pending == 0)
		return 1;
	wake = s->next_tick;
	if (now >= s->next_tick || deadline_due(s, now, &wake)) {
		(void)tick(s);
		s->next_tick = now + s->cfg->worker.heartbeat_ms;
		wake = s->next_tick;
		(void)deadline_due(s, now, &wake);
	}
	if (s->stopping && s->stop_deadline < wake)
		wake = s->stop_deadline;
	for (i = 0; i < s->opts->n; i++)
		if (s->kids[i].pid == 0 && s->kids[i].restart_at > 0 &&
		    s->kids[i].restart_at < wake)
			wake = s->kids[i].restart_at;
	if (s->lst != NULL && listener_next_restart(s->lst) < wake)
		wake = listener_next_restart(s->lst);
	now = clock_mono_ms();
	if (!got_chld && !got_hup && !(got_term && !s->stopping))
		sleep_on(-1, wake > now ? wake - now : 0, &s->wait_mask);
	return 0;
}

int
worker_run(const struct worker_opts *opts, struct cfg *cfg)
{
	struct sv *s;
	int i, rc;

	if (opts->n < 1 || opts->n > WORKER_MAX) {
		log_err("worker count %d out of range (1..%d)", opts->n,
		    WORKER_MAX);
		return EX_USAGE;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_err("out of memory");
		return EX_OSERR;
	}
	s->opts = opts;
	s->cfg = cfg;
	s->exit_code = EX_OK;
	for (i = 0; i < WORKER_MAX; i++)
		s->kids[i].fd = -1;
	if (gethostname(s->host, sizeof(s->host)) < 0)
		strlcpy(s->host, "localhost", sizeof(s->host));
	s->host[sizeof(s->host) - 1] = '\0';
	signals_setup(&s->wait_mask);
	snprintf(s->tree, sizeof(s->tree), "%s:%ld", s->host, (long)getpid());
	s->lenv.db_path = opts->db_path;
	s->lenv.holder = s->tree;
	s->lenv.host = s->host;
	if (!opts->drain && (s->lst = listener_set_new(&s->lenv)) == NULL) {
		free(s);
		return EX_OSERR;
	}
	/* Check the database before forking, and recover what a previous
	 * tree left behind. */
	rc = tick(s);
	if (rc != 0) {
		listener_set_free(s->lst);
		free(s);
		return rc == DB_NOT_READY ? EX_CONFIG : EX_UNAVAILABLE;
	}
	s->next_tick = clock_mono_ms() + cfg->worker.heartbeat_ms;
	for (i = 0; i < opts->n; i++)
		spawn(s, &s->kids[i]);
	while (!sv_step(s))
		;
	log_debug("all workers exited");
	rc = s->exit_code;
	if (s->lst != NULL)
		drop_leases(s);
	listener_set_free(s->lst);
	free(s);
	return rc;
}
