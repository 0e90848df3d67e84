/*
 * raw_insert: the raw limit of a batch enqueue. Inserts N queued jobs in
 * one transaction with a prepared multi-row INSERT (ROWS rows per
 * statement), binding the same columns dater's enqueue fills.
 *
 *   raw_insert [-r rows] [-P payload] DB N   N queued noop jobs, due now;
 *                                            prints "jobs elapsed_us"
 *   raw_insert -f DB N                       N finished (succeeded) jobs,
 *                                            to fill a table for the
 *                                            claim-cost benchmark
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define COLS 7

static const char sql_head[] =
    "INSERT INTO jobs (type, queue, payload, priority, run_at,"
    " max_attempts, created_at) VALUES ";
static const char sql_row[] = "(?,?,?,?,?,?,?)";

/* Finished jobs, spread over the last N seconds, as a busy queue leaves
 * them behind. */
static const char sql_finished[] =
    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c"
    " WHERE i < ?1)"
    " INSERT INTO jobs (type, queue, payload, state, priority, run_at,"
    " attempts, max_attempts, worker, created_at, started_at, finished_at)"
    " SELECT 'noop', 'default', '{}', 'succeeded', 100, ?2 - (?1 - i),"
    " 1, 25, 'raw:1', ?2 - (?1 - i), ?2 - (?1 - i), ?2 - (?1 - i) + 1"
    " FROM c";

static sqlite3_stmt *
prepare_rows(sqlite3 *db, long rows)
{
	size_t len = sizeof(sql_head) + (size_t)rows * sizeof(sql_row);
	sqlite3_stmt *st;
	char *sql, *p;
	long i;

	if ((sql = malloc(len)) == NULL)
		err(71, "malloc");
	memcpy(sql, sql_head, sizeof(sql_head));
	p = sql + sizeof(sql_head) - 1;
	for (i = 0; i < rows; i++) {
		if (i > 0)
			*p++ = ',';
		memcpy(p, sql_row, sizeof(sql_row));
		p += sizeof(sql_row) - 1;
	}
	st = bench_prepare(db, sql);
	free(sql);
	return st;
}

static void
insert_rows(sqlite3 *db, sqlite3_stmt *st, long rows, const char *payload,
    int64_t now)
{
	long i;
	int c;

	for (i = 0; i < rows; i++) {
		c = (int)i * COLS;
		sqlite3_bind_text(st, c + 1, "noop", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, c + 2, "default", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, c + 3, payload, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, c + 4, 100);
		sqlite3_bind_int64(st, c + 5, now);
		sqlite3_bind_int(st, c + 6, 25);
		sqlite3_bind_int64(st, c + 7, now);
	}
	bench_done(db, st, "insert");
}

static void
insert_queued(sqlite3 *db, long n, long rows, const char *payload)
{
	sqlite3_stmt *full, *rest = NULL;
	int64_t now = bench_wall_ms();
	long done;

	if (rows > n)
		rows = n;
	full = prepare_rows(db, rows);
	if (n % rows != 0)
		rest = prepare_rows(db, n % rows);
	bench_exec(db, "BEGIN IMMEDIATE");
	for (done = 0; done + rows <= n; done += rows)
		insert_rows(db, full, rows, payload, now);
	if (rest != NULL)
		insert_rows(db, rest, n % rows, payload, now);
	bench_exec(db, "COMMIT");
	sqlite3_finalize(full);
	sqlite3_finalize(rest);
}

static void
insert_finished(sqlite3 *db, long n)
{
	sqlite3_stmt *st = bench_prepare(db, sql_finished);

	sqlite3_bind_int64(st, 1, n);
	sqlite3_bind_int64(st, 2, bench_wall_ms() - 1000);
	bench_exec(db, "BEGIN IMMEDIATE");
	bench_done(db, st, "insert finished jobs");
	bench_exec(db, "COMMIT");
	sqlite3_finalize(st);
}

int
main(int argc, char *argv[])
{
	const char *payload = "{}";
	sqlite3 *db;
	long n, rows = 100;
	int64_t t0;
	int ch, finished = 0;

	while ((ch = getopt(argc, argv, "fP:r:")) != -1) {
		switch (ch) {
		case 'f':
			finished = 1;
			break;
		case 'P':
			payload = optarg;
			break;
		case 'r':
			rows = bench_count(optarg, "-r");
			if (rows > 4000)
				errx(64, "-r %ld: at most 4000 rows", rows);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 2)
		goto usage;
	n = bench_count(argv[optind + 1], "count");
	t0 = bench_mono_us();
	db = bench_open(argv[optind]);
	if (finished)
		insert_finished(db, n);
	else
		insert_queued(db, n, rows, payload);
	sqlite3_close(db);
	printf("%ld %lld\n", n, (long long)(bench_mono_us() - t0));
	return 0;
usage:
	fprintf(stderr, "usage: raw_insert [-f] [-r rows] [-P payload] db n\n");
	return 64;
}
