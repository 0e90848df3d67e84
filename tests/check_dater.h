/*
 * check_dater.h: the Check suites of the library and the helpers they
 * share (tests/check_util.c). Every suite is built by one constructor
 * declared here and run by tests/check_all.c.
 *
 * Check forks each test, so a test may change its process freely (the
 * environment, fd 2, the umask) and a crash fails that test only. Tests
 * assert no durations: where time matters they set run_at or lease_until
 * relative to clock_now_ms(), or bracket a call between two readings.
 */
#ifndef CHECK_DATER_H
#define CHECK_DATER_H

#include <check.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../lib/cfg.h"
#include "../lib/db.h"

/* Each tests/check_NAME.c defines "Suite *\nsuite_NAME(void)" (return
 * type on its own line); the Makefile lists them in suites.inc. */
#define SUITE(name) Suite *suite_##name(void);
#include "suites.inc"
#undef SUITE

/* A test case without Check's default time limit: the shared machines
 * are noisy and a slow run is not a failure. */
TCase *t_tcase(const char *name);

/* A fresh temp dir and, for t_env_setup, a migrated database in it
 * (cfg_defaults but synchronous off, DB_CREATE | DB_ANY_VERSION, then
 * db_migrate). */
struct t_env {
	char dir[PATH_MAX];
	char path[PATH_MAX];	/* dir/test.db, or a PostgreSQL URI */
	char schema[64];	/* on PostgreSQL (DATER_TEST_PG): its schema */
	struct cfg cfg;
	struct db db;
};

void t_env_setup(struct t_env *e);
void t_env_teardown(struct t_env *e);

/* mkdtemp under $TMPDIR (else /tmp) into dir; fails the test on error. */
void t_tmpdir(char *dir, size_t len);

/* Remove dir and everything below it. */
void t_rmtree(const char *dir);

/* Write text to path (created 0644, truncated). */
void t_write_file(const char *path, const char *text);

/* The whole file as a NUL-terminated string; the caller frees it. */
char *t_read_file(const char *path);

/* path = dir "/" name; fails the test if it does not fit. */
void t_path(char *out, size_t len, const char *dir, const char *name);

/* The integer in the first column of the first row of a query (fails
 * the test without a row). */
int64_t t_sql_int(struct db *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The text in the first column of the first row, "(null)" for NULL. */
void t_sql_text(struct db *db, char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Run SQL that must succeed. */
void t_exec(struct db *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Add a due job (queue_add defaults but run_at; bot and payload may be
 * NULL) and return its id. */
int64_t t_job_add(struct db *db, const char *type, const char *bot,
    const char *payload, int64_t run_at);

/* Column (an SQL expression over the jobs row) of job id, as an
 * integer. */
int64_t t_job_col(struct db *db, int64_t id, const char *column);

/* Fail the test unless job id is in state want. */
void t_job_state_is(struct db *db, int64_t id, const char *want);

/*
 * Capture what is written to fd 2 between begin and end (the library
 * logs there), so expected errors do not clutter the run and their text
 * can be asserted. t_stderr_end restores fd 2 and returns the captured
 * text; the caller frees it.
 */
struct t_capture {
	FILE *file;
	int saved;
};

void t_stderr_begin(struct t_capture *c);
char *t_stderr_end(struct t_capture *c);

#endif
