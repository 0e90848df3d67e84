/*
 * check_util: helpers shared by the Check suites (see check_dater.h).
 * They fail the running test on any error instead of returning one.
 */
#define _XOPEN_SOURCE 700	/* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_dater.h"
#include "../lib/queue.h"
#include "../lib/banned.h"

TCase *
t_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, 0);	/* 0: no time limit */
	return tc;
}

void
t_path(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	ck_assert_msg(n > 0 && (size_t)n < len, "path too long: %s/%s", dir,
	    name);
}

void
t_tmpdir(char *dir, size_t len)
{
	const char *tmp = getenv("TMPDIR");

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	t_path(dir, len, tmp, "check_dater.XXXXXX");
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp '%s': %s", dir,
	    strerror(errno));
}

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)f;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

void
t_rmtree(const char *dir)
{
	if (dir[0] != '\0')
		(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Run sql on the PostgreSQL database uri (a test's schema comes and
 * goes this way). */
static void
pg_admin(const char *uri, const struct cfg *cfg, const char *sql)
{
	struct db db;

	ck_assert_int_eq(db_open(&db, uri, cfg, DB_ANY_VERSION), 0);
	ck_assert_int_eq(db_exec(&db, sql), 0);
	db_close(&db);
}

/*
 * With DATER_TEST_PG (the URI of a PostgreSQL database, see
 * tests/pg-cluster.sh), the test's database is a schema of its own in
 * it: e->path is that URI with the schema as its search_path.
 */
static int
pg_env(struct t_env *e)
{
	static int seq;
	const char *base = getenv("DATER_TEST_PG");
	char sql[256];
	int n;

	if (base == NULL || *base == '\0')
		return 0;
	snprintf(e->schema, sizeof(e->schema), "t%ld_%d", (long)getpid(),
	    ++seq);
	n = snprintf(e->path, sizeof(e->path), "%s%soptions=-csearch_path%%3D%s",
	    base, strchr(base, '?') != NULL ? "&" : "?", e->schema);
	ck_assert(n > 0 && (size_t)n < sizeof(e->path));
	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE;"
	    " CREATE SCHEMA %s", e->schema, e->schema);
	pg_admin(base, &e->cfg, sql);
	return 1;
}

void
t_env_setup(struct t_env *e)
{
	int from = -1, to = -1;

	memset(e, 0, sizeof(*e));
	t_tmpdir(e->dir, sizeof(e->dir));
	cfg_defaults(&e->cfg);
	if (!pg_env(e))
		t_path(e->path, sizeof(e->path), e->dir, "test.db");
	/* No test cuts the power; fsyncs would be most of the run time. */
	e->cfg.synchronous = CFG_SYNC_OFF;
	ck_assert_int_eq(db_open(&e->db, e->path, &e->cfg,
	    DB_CREATE | DB_ANY_VERSION), 0);
	ck_assert_int_eq(db_migrate(&e->db, &from, &to), 0);
	ck_assert_int_eq(from, 0);
	ck_assert_int_eq(to, db_latest_version());
}

void
t_env_teardown(struct t_env *e)
{
	char sql[256];

	db_close(&e->db);
	if (e->schema[0] != '\0') {
		snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", e->schema);
		pg_admin(getenv("DATER_TEST_PG"), &e->cfg, sql);
	}
	cfg_release(&e->cfg);
	t_rmtree(e->dir);
}

void
t_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "open '%s': %s", path, strerror(errno));
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

static char *
read_stream(FILE *f)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	for (;;) {
		if (cap - len < 4096) {
			cap = cap == 0 ? 8192 : cap * 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	ck_assert_int_eq(ferror(f), 0);
	buf[len] = '\0';
	return buf;
}

char *
t_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;

	ck_assert_msg(f != NULL, "open '%s': %s", path, strerror(errno));
	s = read_stream(f);
	fclose(f);
	return s;
}

/* Prepare a formatted query; fails the test on error. */
static struct dbst *prepare(struct db *, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

static struct dbst *
prepare(struct db *db, const char *fmt, va_list ap)
{
	char sql[2048];
	struct dbst *st = NULL;
	int n;

	n = vsnprintf(sql, sizeof(sql), fmt, ap);
	ck_assert_msg(n > 0 && (size_t)n < sizeof(sql), "query too long");
	st = db_prepare(db, sql);
	ck_assert_msg(st != NULL, "prepare '%s': %s", sql, db_errmsg(db));
	return st;
}

int64_t
t_sql_int(struct db *db, const char *fmt, ...)
{
	struct dbst *st;
	va_list ap;
	int64_t v;
	int rc;

	va_start(ap, fmt);
	st = prepare(db, fmt, ap);
	va_end(ap);
	rc = db_step(st);
	v = rc == DB_ROW ? db_col_int64(st, 0) : 0;
	db_finalize(st);
	ck_assert_msg(rc == DB_ROW, "query returned no row: %s", fmt);
	return v;
}

void
t_sql_text(struct db *db, char *buf, size_t len, const char *fmt, ...)
{
	struct dbst *st;
	const char *t;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	st = prepare(db, fmt, ap);
	va_end(ap);
	rc = db_step(st);
	if (rc == DB_ROW) {
		t = db_col_text(st, 0);
		strlcpy(buf, t != NULL ? t : "(null)", len);
	}
	db_finalize(st);
	ck_assert_msg(rc == DB_ROW, "query returned no row: %s", fmt);
}

void
t_exec(struct db *db, const char *fmt, ...)
{
	struct dbst *st;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	st = prepare(db, fmt, ap);
	va_end(ap);
	while ((rc = db_step(st)) == DB_ROW)
		;
	db_finalize(st);
	ck_assert_msg(rc == DB_DONE, "exec '%s': %s", fmt,
	    db_errmsg(db));
}

void
t_stderr_begin(struct t_capture *c)
{
	c->file = tmpfile();
	ck_assert_ptr_nonnull(c->file);
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	ck_assert_int_ge(c->saved, 0);
	ck_assert_int_ge(dup2(fileno(c->file), STDERR_FILENO), 0);
}

char *
t_stderr_end(struct t_capture *c)
{
	char *s;

	fflush(stderr);
	ck_assert_int_ge(dup2(c->saved, STDERR_FILENO), 0);
	close(c->saved);
	rewind(c->file);
	s = read_stream(c->file);
	fclose(c->file);
	memset(c, 0, sizeof(*c));
	return s;
}

int64_t
t_job_add(struct db *db, const char *type, const char *bot,
    const char *payload, int64_t run_at)
{
	struct queue_new q;
	int64_t id = 0;

	queue_new_init(&q);
	q.type = type;
	q.bot = bot;
	q.payload = payload;
	q.run_at = run_at;
	ck_assert_int_eq(queue_add(db, &q, &id, NULL), 0);
	ck_assert_int_gt(id, 0);
	return id;
}

int64_t
t_job_col(struct db *db, int64_t id, const char *column)
{
	return t_sql_int(db, "SELECT %s FROM jobs WHERE id = %lld", column,
	    (long long)id);
}

void
t_job_state_is(struct db *db, int64_t id, const char *want)
{
	char state[32];

	t_sql_text(db, state, sizeof(state),
	    "SELECT state FROM jobs WHERE id = %lld", (long long)id);
	ck_assert_msg(strcmp(state, want) == 0, "job %lld is %s, not %s",
	    (long long)id, state, want);
}
