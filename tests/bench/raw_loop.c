/*
 * raw_loop: the raw limit of a worker. Claims and completes jobs with
 * the same two statements as dater's queue, each in autocommit (two
 * transactions per job), prepared once, with no dater code around them.
 * The limit is a bound parameter as in dater: with a literal "LIMIT 1"
 * SQLite 3.40 (no ANALYZE statistics) plans the subquery on jobs_next
 * plus a temp B-tree sort, a full pass over the queued rows per claim.
 *
 *   raw_loop DB                  drain: claim+complete until nothing is
 *                                due; prints "jobs elapsed_us"
 *   raw_loop -1 [-f] DB          drain with one transaction per job, the
 *                                way a worker that records one job and
 *                                claims the next in one commit does:
 *                                BEGIN IMMEDIATE, complete, claim, COMMIT;
 *                                several may run at once on one database
 *                                (the baseline of dater-worker -n 2)
 *   -f                           synchronous=FULL (an fsync per commit)
 *   raw_loop -p MS [-t FIFO] DB  a naive poller: look every MS ms, never
 *                                stop on empty (SIGTERM ends it); with -t,
 *                                write "id\n" to FIFO when a job starts
 *                                (opened per job, as dater's noop does)
 *
 * Prints "jobs elapsed_us maxrss_kb" at the end.
 */
#include <err.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define LEASE_MS 60000

static const char sql_claim[] =
    "UPDATE jobs SET state = 'running', attempts = attempts + 1,"
    " lease_until = ?1, worker = ?2, started_at = ?3"
    " WHERE id IN (SELECT id FROM jobs WHERE state = 'queued'"
    " AND run_at <= ?3 ORDER BY priority, run_at, id LIMIT ?4)"
    " RETURNING id, attempts";
static const char sql_complete[] =
    "UPDATE jobs SET state = 'succeeded', finished_at = ?4"
    " WHERE id = ?1 AND state = 'running' AND worker = ?2"
    " AND attempts = ?3";

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* Claim one due job. Returns 1 and fills id/attempts, or 0 if none. */
static int
claim(sqlite3 *db, sqlite3_stmt *st, const char *me, long long *id,
    int *attempts)
{
	int64_t now = bench_wall_ms();
	int rc, got = 0;

	sqlite3_bind_int64(st, 1, now + LEASE_MS);
	sqlite3_bind_text(st, 2, me, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int(st, 4, 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*attempts = sqlite3_column_int(st, 1);
		got = 1;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		errx(70, "claim: %s", sqlite3_errmsg(db));
	return got;
}

static void
complete(sqlite3 *db, sqlite3_stmt *st, const char *me, long long id,
    int attempts)
{
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, me, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, attempts);
	sqlite3_bind_int64(st, 4, bench_wall_ms());
	bench_done(db, st, "complete");
	if (sqlite3_changes(db) != 1)
		errx(70, "complete job %lld: fence did not match", id);
}

static void
trace(const char *path, long long id)
{
	char line[32];
	int fd, n = snprintf(line, sizeof(line), "%lld\n", id);

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
		err(66, "open '%s'", path);
	if (write(fd, line, (size_t)n) != n)
		err(74, "write '%s'", path);
	close(fd);
}

/*
 * -1: with several loops on one database, SQLite's default busy handler
 * (sleeps of 1, 2, 5 ... 100 ms) would leave the writers idle most of
 * the time and starve one of them; wait as dater's does instead: short
 * sleeps backing off to 1 ms, for up to BUSY_MS.
 */
#define BUSY_MS 30000

static int
busy_wait(void *arg, int count)
{
	static int64_t since;
	struct timespec ts;
	int64_t now = bench_mono_us() / 1000;
	long us = count < 20 ? 20 + 10 * count : 1000;

	(void)arg;
	if (count == 0)
		since = now;
	else if (now - since >= BUSY_MS)
		return 0;
	ts.tv_sec = 0;
	ts.tv_nsec = us * 1000;
	nanosleep(&ts, NULL);
	return 1;
}

/* -1: complete the job held (if any) and claim the next in one
 * transaction. Returns 1 if a job is now held. */
static int
step_one_tx(sqlite3 *db, sqlite3_stmt *st_claim, sqlite3_stmt *st_complete,
    const char *me, long long *id, int *attempts, int have, long long *jobs)
{
	bench_exec(db, "BEGIN IMMEDIATE");
	if (have) {
		complete(db, st_complete, me, *id, *attempts);
		(*jobs)++;
	}
	have = claim(db, st_claim, me, id, attempts);
	bench_exec(db, "COMMIT");
	return have;
}

static void
nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);	/* EINTR from SIGTERM: just look again */
}

int
main(int argc, char *argv[])
{
	struct sigaction sa;
	sqlite3_stmt *st_claim, *st_complete;
	sqlite3 *db;
	const char *trace_path = NULL;
	char me[32];
	long long id = 0, jobs = 0;
	long poll_ms = 0;
	struct rusage ru;
	int64_t t0, elapsed;
	int ch, attempts = 0, one_tx = 0, full = 0, have = 0;

	while ((ch = getopt(argc, argv, "1fp:t:")) != -1) {
		switch (ch) {
		case '1':
			one_tx = 1;
			break;
		case 'f':
			full = 1;
			break;
		case 'p':
			poll_ms = bench_count(optarg, "-p");
			break;
		case 't':
			trace_path = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	snprintf(me, sizeof(me), "raw:%ld", (long)getpid());
	db = bench_open(argv[optind]);
	if (full)
		bench_exec(db, "PRAGMA synchronous=FULL;");
	if (one_tx)
		sqlite3_busy_handler(db, busy_wait, NULL);
	st_claim = bench_prepare(db, sql_claim);
	st_complete = bench_prepare(db, sql_complete);
	t0 = bench_mono_us();
	while (one_tx && !stop) {
		have = step_one_tx(db, st_claim, st_complete, me, &id,
		    &attempts, have, &jobs);
		if (!have && poll_ms == 0)
			break;
		if (!have)
			nap(poll_ms);
	}
	while (!one_tx && !stop) {
		if (!claim(db, st_claim, me, &id, &attempts)) {
			if (poll_ms == 0)
				break;
			nap(poll_ms);
			continue;
		}
		if (trace_path != NULL)
			trace(trace_path, id);
		complete(db, st_complete, me, id, attempts);
		jobs++;
	}
	elapsed = bench_mono_us() - t0;
	getrusage(RUSAGE_SELF, &ru);
	printf("%lld %lld %ld\n", jobs, (long long)elapsed, ru.ru_maxrss);
	sqlite3_finalize(st_claim);
	sqlite3_finalize(st_complete);
	sqlite3_close(db);
	return 0;
usage:
	fprintf(stderr, "usage: raw_loop [-1f] [-p poll_ms] [-t fifo] db\n");
	return 64;
}
