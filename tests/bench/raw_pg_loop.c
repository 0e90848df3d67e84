/*
 * raw_pg_loop: the raw limit of a worker on PostgreSQL (issue 12). Claims
 * and completes noop jobs with the same statements as dater's queue on
 * PostgreSQL (the claim with FOR UPDATE SKIP LOCKED), prepared once on a
 * libpq connection, with no dater code around them.
 *
 *   raw_pg_loop [-c procs] URI
 *
 * Forks procs (1) processes, each with its own connection; each repeats
 * BEGIN, complete the job it holds (if any), claim one job, COMMIT: one
 * transaction per job, as 'raw_loop -1' does on SQLite, until nothing is
 * due. Prints "jobs elapsed_us" at the end: the jobs of all processes
 * and the wall time from the fork to the last exit.
 *
 *   raw_pg_loop -l FIFO URI
 *
 * An idle worker that wakes only on a NOTIFY on dater_jobs (the channel
 * dater's enqueue notifies): LISTEN, then claim and complete (autocommit)
 * until nothing is due, write "id\n" to FIFO as each job starts (as
 * dater's noop does for a payload {"trace": FIFO}), and sleep on the
 * connection's socket until a notification comes; SIGTERM ends it. The
 * baseline of the pickup latency on PostgreSQL (latency URI FIFO).
 */
#define _GNU_SOURCE	/* ppoll */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench.h"

#define LEASE_MS 60000

static const char sql_claim[] =
    "UPDATE jobs SET state = 'running', attempts = attempts + 1,"
    " lease_until = $1, worker = $2, started_at = $3"
    " WHERE id = ANY(ARRAY(SELECT id FROM jobs WHERE state = 'queued'"
    " AND run_at <= $3 ORDER BY priority, run_at, id LIMIT $4"
    " FOR UPDATE SKIP LOCKED)) RETURNING id, attempts";
static const char sql_complete[] =
    "UPDATE jobs SET state = 'succeeded', finished_at = $4,"
    " lease_until = NULL"
    " WHERE id = $1 AND state = 'running' AND worker = $2"
    " AND attempts = $3";

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void
exec(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		errx(70, "%s: %s", sql, PQerrorMessage(pg));
	PQclear(r);
}

static void
prepare(PGconn *pg, const char *name, const char *sql)
{
	PGresult *r = PQprepare(pg, name, sql, 0, NULL);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		errx(70, "prepare %s: %s", name, PQerrorMessage(pg));
	PQclear(r);
}

/* Claim one due job. Returns 1 and fills id/attempts, or 0 if none. */
static int
claim(PGconn *pg, const char *me, char *id, size_t idlen, char *attempts,
    size_t alen)
{
	char lease[24], now[24];
	const char *v[4] = { lease, me, now, "1" };
	int64_t t = bench_wall_ms();
	PGresult *r;
	int got;

	snprintf(lease, sizeof(lease), "%lld", (long long)(t + LEASE_MS));
	snprintf(now, sizeof(now), "%lld", (long long)t);
	r = PQexecPrepared(pg, "claim", 4, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		errx(70, "claim: %s", PQerrorMessage(pg));
	if ((got = PQntuples(r) > 0)) {
		snprintf(id, idlen, "%s", PQgetvalue(r, 0, 0));
		snprintf(attempts, alen, "%s", PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	return got;
}

static void
complete(PGconn *pg, const char *me, const char *id, const char *attempts)
{
	char now[24];
	const char *v[4] = { id, me, attempts, now };
	PGresult *r;

	snprintf(now, sizeof(now), "%lld", (long long)bench_wall_ms());
	r = PQexecPrepared(pg, "complete", 4, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		errx(70, "complete: %s", PQerrorMessage(pg));
	if (strcmp(PQcmdTuples(r), "1") != 0)
		errx(70, "complete job %s: fence did not match", id);
	PQclear(r);
}

static PGconn *
connect_prepared(const char *uri)
{
	PGconn *pg = PQconnectdb(uri);

	if (PQstatus(pg) != CONNECTION_OK)
		errx(69, "connect: %s", PQerrorMessage(pg));
	prepare(pg, "claim", sql_claim);
	prepare(pg, "complete", sql_complete);
	return pg;
}

static void
trace(const char *path, const char *id)
{
	int fd;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
		err(66, "open '%s'", path);
	if (dprintf(fd, "%s\n", id) < 0)
		err(74, "write '%s'", path);
	close(fd);
}

/* Take the notifications that have come; returns 1 if there were any. */
static int
notified(PGconn *pg)
{
	PGnotify *n;
	int any = 0;

	if (!PQconsumeInput(pg))
		errx(70, "connection: %s", PQerrorMessage(pg));
	while ((n = PQnotifies(pg)) != NULL) {
		PQfreemem(n);
		any = 1;
	}
	return any;
}

/* -l: SIGTERM is blocked but while the process sleeps on the socket. */
static int
listen_loop(const char *uri, const char *fifo)
{
	char me[32], id[24], attempts[12];
	struct sigaction sa;
	struct pollfd pfd;
	sigset_t block, old;
	PGconn *pg;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	snprintf(me, sizeof(me), "rawpg:%ld", (long)getpid());
	pg = connect_prepared(uri);
	exec(pg, "LISTEN dater_jobs");
	pfd.fd = PQsocket(pg);
	pfd.events = POLLIN;
	while (!stop) {
		while (claim(pg, me, id, sizeof(id), attempts,
		    sizeof(attempts))) {
			trace(fifo, id);
			complete(pg, me, id, attempts);
		}
		if (notified(pg))
			continue;
		if (ppoll(&pfd, 1, NULL, &old) < 0 && errno != EINTR)
			err(71, "ppoll");
		if (!stop)
			notified(pg);
	}
	PQfinish(pg);
	return 0;
}

/* One process: drain until nothing is due; returns the jobs done. */
static long
drain(const char *uri)
{
	char me[32], id[24], attempts[12];
	PGconn *pg;
	long jobs = 0;
	int have = 0;

	snprintf(me, sizeof(me), "rawpg:%ld", (long)getpid());
	pg = connect_prepared(uri);
	do {
		exec(pg, "BEGIN");
		if (have) {
			complete(pg, me, id, attempts);
			jobs++;
		}
		have = claim(pg, me, id, sizeof(id), attempts,
		    sizeof(attempts));
		exec(pg, "COMMIT");
	} while (have);
	PQfinish(pg);
	return jobs;
}

int
main(int argc, char *argv[])
{
	const char *fifo = NULL;
	int fds[2], ch, st, bad = 0;
	long procs = 1, i, jobs = 0, n;
	int64_t t0;
	FILE *in;
	pid_t pid;

	while ((ch = getopt(argc, argv, "c:l:")) != -1) {
		switch (ch) {
		case 'c':
			procs = bench_count(optarg, "-c");
			break;
		case 'l':
			fifo = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	if (fifo != NULL)
		return listen_loop(argv[optind], fifo);
	if (pipe(fds) < 0)
		err(71, "pipe");
	t0 = bench_mono_us();
	for (i = 0; i < procs; i++) {
		if ((pid = fork()) < 0)
			err(71, "fork");
		if (pid == 0) {
			close(fds[0]);
			dprintf(fds[1], "%ld\n", drain(argv[optind]));
			_exit(0);
		}
	}
	close(fds[1]);
	for (i = 0; i < procs; i++)
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	if ((in = fdopen(fds[0], "r")) == NULL)
		err(71, "fdopen");
	while (fscanf(in, "%ld", &n) == 1)
		jobs += n;
	fclose(in);
	printf("%ld %lld\n", jobs, (long long)(bench_mono_us() - t0));
	return bad ? 70 : 0;
usage:
	fprintf(stderr, "usage: raw_pg_loop [-c procs] uri\n"
	    "       raw_pg_loop -l fifo uri\n");
	return 64;
}
