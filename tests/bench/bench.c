#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

#define BENCH_BUSY_TIMEOUT_MS 5000

int64_t
bench_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
bench_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
bench_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		errx(70, "'%s': %s", sql, msg != NULL ? msg :
		    sqlite3_errmsg(db));
}

sqlite3 *
bench_open(const char *path)
{
	sqlite3 *db;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		errx(66, "open '%s': %s", path, sqlite3_errmsg(db));
	sqlite3_busy_timeout(db, BENCH_BUSY_TIMEOUT_MS);
	bench_exec(db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;"
	    " PRAGMA journal_mode=WAL;");
	return db;
}

sqlite3_stmt *
bench_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
	    NULL) != SQLITE_OK)
		errx(70, "prepare '%s': %s", sql, sqlite3_errmsg(db));
	return st;
}

void
bench_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		errx(70, "%s: %s", what, sqlite3_errmsg(db));
}

long
bench_count(const char *arg, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < 1)
		errx(64, "%s '%s': expected a positive integer", what, arg);
	return v;
}
