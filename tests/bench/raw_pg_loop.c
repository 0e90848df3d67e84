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
 */
#include <err.h>
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

/* One process: drain until nothing is due; returns the jobs done. */
static long
drain(const char *uri)
{
	char me[32], id[24], attempts[12];
	PGconn *pg;
	long jobs = 0;
	int have = 0;

	snprintf(me, sizeof(me), "rawpg:%ld", (long)getpid());
	pg = PQconnectdb(uri);
	if (PQstatus(pg) != CONNECTION_OK)
		errx(69, "connect: %s", PQerrorMessage(pg));
	prepare(pg, "claim", sql_claim);
	prepare(pg, "complete", sql_complete);
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
	int fds[2], ch, st, bad = 0;
	long procs = 1, i, jobs = 0, n;
	int64_t t0;
	FILE *in;
	pid_t pid;

	while ((ch = getopt(argc, argv, "c:")) != -1) {
		switch (ch) {
		case 'c':
			procs = bench_count(optarg, "-c");
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
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
	fprintf(stderr, "usage: raw_pg_loop [-c procs] uri\n");
	return 64;
}
