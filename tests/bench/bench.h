/*
 * bench: helpers shared by the benchmark baselines. None of this is dater
 * code: the baselines talk to SQLite directly, so that the figures show
 * what dater costs on top of the database itself.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <sqlite3.h>

/* Monotonic time in microseconds. */
int64_t bench_mono_us(void);

/* Wall-clock time in milliseconds since the epoch (dater's unit). */
int64_t bench_wall_ms(void);

/*
 * Open an existing database made by 'dater-migrate up' with dater's
 * connection settings: WAL, synchronous=NORMAL, foreign_keys=ON and a
 * busy timeout. Exits on error. Close with sqlite3_close().
 */
sqlite3 *bench_open(const char *path);

/* Prepare a statement that lives as long as the program; exits on error. */
sqlite3_stmt *bench_prepare(sqlite3 *db, const char *sql);

/* Step a statement that returns no rows and reset it; exits on error. */
void bench_done(sqlite3 *db, sqlite3_stmt *st, const char *what);

/* Run SQL with no results; exits on error. */
void bench_exec(sqlite3 *db, const char *sql);

/* Parse a positive count from argv; exits with usage on error. */
long bench_count(const char *arg, const char *what);

#endif
