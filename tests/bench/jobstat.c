/*
 * jobstat: the outcome of a benchmark run, read straight from the table.
 *
 *   jobstat DB
 *
 * Prints "queued running succeeded dead cancelled reruns", where reruns
 * counts succeeded jobs that took more than one attempt (a no-op job
 * that ran twice means a claim went wrong).
 */
#include <err.h>
#include <stdio.h>

#include "bench.h"

static const char sql[] =
    "SELECT"
    " (SELECT count(*) FROM jobs WHERE state = 'queued'),"
    " (SELECT count(*) FROM jobs WHERE state = 'running'),"
    " (SELECT count(*) FROM jobs WHERE state = 'succeeded'),"
    " (SELECT count(*) FROM jobs WHERE state = 'dead'),"
    " (SELECT count(*) FROM jobs WHERE state = 'cancelled'),"
    " (SELECT count(*) FROM jobs WHERE state = 'succeeded'"
    "  AND attempts <> 1)";

int
main(int argc, char *argv[])
{
	sqlite3_stmt *st;
	sqlite3 *db;
	int i;

	if (argc != 2) {
		fprintf(stderr, "usage: jobstat db\n");
		return 64;
	}
	db = bench_open(argv[1]);
	st = bench_prepare(db, sql);
	if (sqlite3_step(st) != SQLITE_ROW)
		errx(70, "count jobs: %s", sqlite3_errmsg(db));
	for (i = 0; i < 6; i++)
		printf("%s%lld", i > 0 ? " " : "",
		    (long long)sqlite3_column_int64(st, i));
	printf("\n");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return 0;
}
