/*
 * check_db: opening a database (creation, permissions, pragmas, the
 * schema version gate), migrations and transactions.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_dater.h"
#include "../lib/pg.h"
#include "../lib/banned.h"

static char dir[PATH_MAX];
static char path[PATH_MAX];
static struct cfg cfg;
static struct t_env penv;	/* the PostgreSQL tests' */

static void
setup(void)
{
	t_tmpdir(dir, sizeof(dir));
	t_path(path, sizeof(path), dir, "d.db");
	cfg_defaults(&cfg);
}

static void
teardown(void)
{
	t_rmtree(dir);
}

static int
all_zero(const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* Create and migrate path, then close it. */
static void
make_db(void)
{
	struct db db;
	int from, to;

	ck_assert_int_eq(db_open(&db, path, &cfg, DB_CREATE | DB_ANY_VERSION),
	    0);
	ck_assert_int_eq(db_migrate(&db, &from, &to), 0);
	db_close(&db);
}

START_TEST(missing_refused_without_create)
{
	struct db db;
	struct t_capture cap;
	char *err;
	int rc;

	memset(&db, 0xa5, sizeof(db));
	t_stderr_begin(&cap);
	rc = db_open(&db, path, &cfg, 0);
	err = t_stderr_end(&cap);
	ck_assert_int_eq(rc, DB_NOT_READY);
	ck_assert(all_zero(&db, sizeof(db)));
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "dater-migrate"));
	free(err);
	/* DB_ANY_VERSION alone does not create it either */
	t_stderr_begin(&cap);
	ck_assert_int_eq(db_open(&db, path, &cfg, DB_ANY_VERSION),
	    DB_NOT_READY);
	free(t_stderr_end(&cap));
	ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

START_TEST(create_in_missing_dir)
{
	struct db db;
	struct t_capture cap;
	char bad[PATH_MAX], *err;
	int rc;

	t_path(bad, sizeof(bad), dir, "nosuchdir/d.db");
	memset(&db, 0xa5, sizeof(db));
	t_stderr_begin(&cap);
	rc = db_open(&db, bad, &cfg, DB_CREATE | DB_ANY_VERSION);
	err = t_stderr_end(&cap);
	/* an error, not "run the migrator" */
	ck_assert_int_eq(rc, -1);
	ck_assert(all_zero(&db, sizeof(db)));
	ck_assert_ptr_nonnull(strstr(err, bad));
	free(err);
}
END_TEST

START_TEST(path_too_long)
{
	struct db db;
	struct t_capture cap;
	char *bad;
	int rc;

	bad = malloc(PATH_MAX + 100);
	ck_assert_ptr_nonnull(bad);
	memset(bad, 'x', PATH_MAX + 99);
	bad[0] = '/';
	bad[PATH_MAX + 99] = '\0';
	memset(&db, 0xa5, sizeof(db));
	t_stderr_begin(&cap);
	rc = db_open(&db, bad, &cfg, DB_CREATE | DB_ANY_VERSION);
	free(t_stderr_end(&cap));
	ck_assert_int_eq(rc, -1);
	ck_assert(all_zero(&db, sizeof(db)));
	free(bad);
}
END_TEST

START_TEST(created_private)
{
	struct db db;
	struct stat st;
	char wal[PATH_MAX + 8];

	umask(022);
	ck_assert_int_eq(db_open(&db, path, &cfg, DB_CREATE | DB_ANY_VERSION),
	    0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	/* the write-ahead log holds the same data: just as private */
	ck_assert_int_eq(db_exec(&db, "CREATE TABLE t (x); "
	    "INSERT INTO t VALUES (1);"), 0);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	ck_assert_int_eq(stat(wal, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	db_close(&db);
}
END_TEST

START_TEST(existing_mode_kept)
{
	struct db db;
	struct stat st;

	t_write_file(path, "");
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(db_open(&db, path, &cfg, DB_CREATE | DB_ANY_VERSION),
	    0);
	db_close(&db);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
}
END_TEST

START_TEST(unmigrated_refused)
{
	struct db db;
	struct t_capture cap;
	char *err;
	int rc;

	ck_assert_int_eq(db_open(&db, path, &cfg, DB_CREATE | DB_ANY_VERSION),
	    0);
	db_close(&db);
	t_stderr_begin(&cap);
	rc = db_open(&db, path, &cfg, 0);
	err = t_stderr_end(&cap);
	ck_assert_int_eq(rc, DB_NOT_READY);
	ck_assert(all_zero(&db, sizeof(db)));
	ck_assert_ptr_nonnull(strstr(err, "dater-migrate"));
	ck_assert_ptr_nonnull(strstr(err, "up"));
	free(err);
	/* the migrator may open it */
	ck_assert_int_eq(db_open(&db, path, &cfg, DB_ANY_VERSION), 0);
	db_close(&db);
}
END_TEST

START_TEST(migrated_opens)
{
	struct db db;
	int v = -1;

	make_db();
	ck_assert_int_eq(db_open(&db, path, &cfg, 0), 0);
	ck_assert_ptr_nonnull(db.sql);
	ck_assert_str_eq(db.path, path);
	ck_assert_int_eq(db_version(&db, &v), 0);
	ck_assert_int_eq(v, db_latest_version());
	db_close(&db);
	/* closing twice (a zeroed struct) is safe */
	db_close(&db);
}
END_TEST

START_TEST(newer_schema_refused)
{
	struct db db;
	struct t_capture cap;
	char *err;
	int from = -1, to = -1, rc;

	make_db();
	ck_assert_int_eq(db_open(&db, path, &cfg, 0), 0);
	t_exec(&db, "PRAGMA user_version = %d", db_latest_version() + 1);
	db_close(&db);
	t_stderr_begin(&cap);
	rc = db_open(&db, path, &cfg, 0);
	err = t_stderr_end(&cap);
	ck_assert_int_eq(rc, DB_NOT_READY);
	ck_assert_ptr_nonnull(strstr(err, "newer"));
	free(err);
	/* and an older build's migrator must not touch it */
	ck_assert_int_eq(db_open(&db, path, &cfg, DB_ANY_VERSION), 0);
	t_stderr_begin(&cap);
	rc = db_migrate(&db, &from, &to);
	free(t_stderr_end(&cap));
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(t_sql_int(&db, "PRAGMA user_version"),
	    db_latest_version() + 1);
	db_close(&db);
}
END_TEST

START_TEST(pragmas)
{
	struct db db;
	char mode[32];

	make_db();
	cfg.busy_timeout_ms = 1234;
	ck_assert_int_eq(db_open(&db, path, &cfg, 0), 0);
	t_sql_text(&db, mode, sizeof(mode), "PRAGMA journal_mode");
	ck_assert_str_eq(mode, "wal");
	ck_assert_int_eq(t_sql_int(&db, "PRAGMA foreign_keys"), 1);
	ck_assert_int_eq(t_sql_int(&db, "PRAGMA synchronous"), 1);
	ck_assert_int_eq(db.busy_timeout_ms, 1234);
	db_close(&db);

	cfg.synchronous = CFG_SYNC_FULL;
	ck_assert_int_eq(db_open(&db, path, &cfg, 0), 0);
	ck_assert_int_eq(t_sql_int(&db, "PRAGMA synchronous"), 2);
	db_close(&db);
	cfg.synchronous = CFG_SYNC_OFF;
	ck_assert_int_eq(db_open(&db, path, &cfg, 0), 0);
	ck_assert_int_eq(t_sql_int(&db, "PRAGMA synchronous"), 0);
	db_close(&db);
}
END_TEST

START_TEST(migrate_idempotent)
{
	struct db db;
	int from = -1, to = -1, latest = db_latest_version();

	ck_assert_int_ge(latest, 1);
	ck_assert_int_eq(db_open(&db, path, &cfg, DB_CREATE | DB_ANY_VERSION),
	    0);
	ck_assert_int_eq(db_migrate(&db, &from, &to), 0);
	ck_assert_int_eq(from, 0);
	ck_assert_int_eq(to, latest);
	ck_assert_int_eq(t_sql_int(&db, "SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'table' AND name IN ('jobs', 'workers', 'kv')"), 3);
	t_exec(&db, "INSERT INTO kv VALUES ('k', 'v', 1)");
	ck_assert_int_eq(db_migrate(&db, &from, &to), 0);
	ck_assert_int_eq(from, latest);
	ck_assert_int_eq(to, latest);
	/* nothing was dropped or left open */
	ck_assert_int_eq(t_sql_int(&db, "SELECT count(*) FROM kv"), 1);
	ck_assert_int_eq(sqlite3_get_autocommit(db.sql), 1);
	db_close(&db);
	ck_assert_int_eq(db_open(&db, path, &cfg, DB_ANY_VERSION), 0);
	ck_assert_int_eq(db_migrate(&db, &from, &to), 0);
	ck_assert_int_eq(from, latest);
	ck_assert_int_eq(to, latest);
	db_close(&db);
}
END_TEST

/* A transaction left open goes out with the next one: one commit. */
START_TEST(commit_later_joins)
{
	struct db db, other;
	struct t_capture cap;
	char *err;
	int64_t c0;

	make_db();
	ck_assert_int_eq(db_open(&db, path, &cfg, 0), 0);
	ck_assert_int_eq(db_open(&other, path, &cfg, 0), 0);
	c0 = db.commits;
	ck_assert_int_eq(db_begin(&db), 0);
	t_exec(&db, "INSERT INTO kv VALUES ('a', '1', 1)");
	ck_assert_int_eq(db_commit_later(&db), 0);
	/* not committed yet: another connection does not see it */
	ck_assert_int_eq(t_sql_int(&other, "SELECT count(*) FROM kv"), 0);
	ck_assert_int_eq(db.commits, c0);
	ck_assert_int_eq(db_begin(&db), 0);
	t_exec(&db, "INSERT INTO kv VALUES ('b', '2', 1)");
	ck_assert_int_eq(db_commit(&db), 0);
	ck_assert_int_eq(t_sql_int(&other, "SELECT count(*) FROM kv"), 2);
	ck_assert_int_eq(db.commits, c0 + 1);
	/* and the connection goes on as usual */
	ck_assert_int_eq(db_begin(&db), 0);
	t_exec(&db, "INSERT INTO kv VALUES ('c', '3', 1)");
	ck_assert_int_eq(db_commit(&db), 0);
	ck_assert_int_eq(db.commits, c0 + 2);
	t_exec(&db, "INSERT INTO kv VALUES ('d', '4', 1)");	/* autocommit */
	ck_assert_int_eq(db.commits, c0 + 3);
	t_stderr_begin(&cap);
	ck_assert_int_eq(db_commit_later(&db), -1);	/* none open */
	err = t_stderr_end(&cap);
	ck_assert_ptr_nonnull(strstr(err, "no transaction"));
	free(err);
	db_close(&other);
	db_close(&db);
}
END_TEST

/* The joined transaction rolled back: the left writes are lost with it,
 * so the connection starts no other transaction (the job it was to
 * record done must run again). */
START_TEST(commit_later_rollback_poisons)
{
	struct db db;
	struct t_capture cap;
	char *err;

	make_db();
	ck_assert_int_eq(db_open(&db, path, &cfg, 0), 0);
	ck_assert_int_eq(db_begin(&db), 0);
	t_exec(&db, "INSERT INTO kv VALUES ('a', '1', 1)");
	ck_assert_int_eq(db_commit_later(&db), 0);
	ck_assert_int_eq(db_begin(&db), 0);
	t_exec(&db, "INSERT INTO kv VALUES ('b', '2', 1)");
	db_rollback(&db);
	ck_assert_int_eq(t_sql_int(&db, "SELECT count(*) FROM kv"), 0);
	t_stderr_begin(&cap);
	ck_assert_int_eq(db_begin(&db), -1);
	err = t_stderr_end(&cap);
	ck_assert_ptr_nonnull(strstr(err, "rolled back"));
	free(err);
	db_close(&db);
	/* A plain rollback, nothing left open: no harm done. */
	ck_assert_int_eq(db_open(&db, path, &cfg, 0), 0);
	ck_assert_int_eq(db_begin(&db), 0);
	db_rollback(&db);
	ck_assert_int_eq(db_begin(&db), 0);
	ck_assert_int_eq(db_commit(&db), 0);
	/* Left open, then rolled back before anyone joined it: poisoned. */
	ck_assert_int_eq(db_begin(&db), 0);
	t_exec(&db, "INSERT INTO kv VALUES ('c', '3', 1)");
	ck_assert_int_eq(db_commit_later(&db), 0);
	db_rollback(&db);
	t_stderr_begin(&cap);
	ck_assert_int_eq(db_begin(&db), -1);
	free(t_stderr_end(&cap));
	db_close(&db);
}
END_TEST

/* With a reader holding an old snapshot the -wal file cannot start over:
 * a checkpoint runs once per DB_CKPT_PAGES pages of growth, not after
 * every commit once past the threshold (SQLite's own rule: ~150 here). */
START_TEST(checkpoint_per_growth)
{
	struct db db, reader;
	int i;

	make_db();
	ck_assert_int_eq(db_open(&db, path, &cfg, 0), 0);
	ck_assert_int_eq(db_open(&reader, path, &cfg, 0), 0);
	t_exec(&reader, "BEGIN");
	ck_assert_int_eq(t_sql_int(&reader, "SELECT count(*) FROM kv"), 0);
	/* ~10 pages per commit, ~2500 pages in all */
	for (i = 0; i < 250; i++)
		t_exec(&db, "INSERT INTO kv VALUES ('k%d', hex(randomblob("
		    "18000)), 1)", i);
	ck_assert_int_ge(t_sql_int(&db, "SELECT count(*) FROM kv"), 250);
	ck_assert_int_ge(db.checkpoints, 1);
	ck_assert_int_le(db.checkpoints, 3);
	t_exec(&reader, "ROLLBACK");
	db_close(&reader);
	db_close(&db);
}
END_TEST

/* DATER_DB_STATS: one line per closed connection with its commits. */
START_TEST(stats_file)
{
	struct db db;
	char stats[PATH_MAX], *text;

	make_db();
	t_path(stats, sizeof(stats), dir, "stats");
	ck_assert_int_eq(setenv("DATER_DB_STATS", stats, 1), 0);
	ck_assert_int_eq(db_open(&db, path, &cfg, 0), 0);
	t_exec(&db, "INSERT INTO kv VALUES ('a', '1', 1)");
	ck_assert_int_eq(db_begin(&db), 0);
	t_exec(&db, "INSERT INTO kv VALUES ('b', '2', 1)");
	t_exec(&db, "INSERT INTO kv VALUES ('c', '3', 1)");
	ck_assert_int_eq(db_commit(&db), 0);
	(void)t_sql_int(&db, "SELECT count(*) FROM kv");	/* a read */
	db_close(&db);
	unsetenv("DATER_DB_STATS");
	text = t_read_file(stats);
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text, "commits 2 busy_waits 0 busy_us 0 "
	    "checkpoints 0\n");
	free(text);
}
END_TEST

START_TEST(transactions)
{
	struct db db;

	make_db();
	ck_assert_int_eq(db_open(&db, path, &cfg, 0), 0);
	ck_assert_int_eq(db_begin(&db), 0);
	t_exec(&db, "INSERT INTO kv VALUES ('a', '1', 1)");
	db_rollback(&db);
	ck_assert_int_eq(t_sql_int(&db, "SELECT count(*) FROM kv"), 0);
	ck_assert_int_eq(db_begin(&db), 0);
	t_exec(&db, "INSERT INTO kv VALUES ('b', '2', 1)");
	ck_assert_int_eq(db_commit(&db), 0);
	ck_assert_int_eq(t_sql_int(&db, "SELECT count(*) FROM kv"), 1);
	/* rollback without a transaction is harmless */
	db_rollback(&db);
	ck_assert_int_eq(t_sql_int(&db, "SELECT count(*) FROM kv"), 1);
	db_close(&db);
}
END_TEST

START_TEST(begin_takes_write_lock)
{
	struct db a, b;
	struct t_capture cap;
	int rc;

	make_db();
	cfg.busy_timeout_ms = 0;	/* fail at once instead of waiting */
	ck_assert_int_eq(db_open(&a, path, &cfg, 0), 0);
	ck_assert_int_eq(db_open(&b, path, &cfg, 0), 0);
	ck_assert_int_eq(db_begin(&a), 0);
	/* IMMEDIATE: the second writer is refused at BEGIN, not later */
	t_stderr_begin(&cap);
	rc = db_begin(&b);
	free(t_stderr_end(&cap));
	ck_assert_int_eq(rc, -1);
	db_rollback(&a);
	ck_assert_int_eq(db_begin(&b), 0);
	ck_assert_int_eq(db_commit(&b), 0);
	db_close(&a);
	db_close(&b);
}
END_TEST

START_TEST(statement_cache)
{
	static const char sql[] = "SELECT count(*) FROM jobs";
	struct db db;
	struct dbst *st1, *st2;

	make_db();
	ck_assert_int_eq(db_open(&db, path, &cfg, 0), 0);
	st1 = db_stmt(&db, sql);
	ck_assert_ptr_nonnull(st1);
	ck_assert_int_eq(db_step(st1), DB_ROW);
	st2 = db_stmt(&db, sql);
	ck_assert_ptr_eq(st1, st2);
	/* handed back reset: it runs from the start again */
	ck_assert_int_eq(db_step(st2), DB_ROW);
	ck_assert_int_eq(db_col_int(st2, 0), 0);
	db_reset(st2);
	db_close(&db);
}
END_TEST

START_TEST(exec_errors)
{
	struct db db;
	struct t_capture cap;
	char *err;
	int rc;

	make_db();
	ck_assert_int_eq(db_open(&db, path, &cfg, 0), 0);
	t_stderr_begin(&cap);
	rc = db_exec(&db, "INSERT INTO nosuchtable VALUES (1)");
	err = t_stderr_end(&cap);
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "nosuchtable"));
	free(err);
	db_close(&db);
}
END_TEST

START_TEST(readonly_refuses_writes)
{
	struct db db;
	struct t_capture cap;
	int rc;

	make_db();
	ck_assert_int_eq(db_open(&db, path, &cfg, DB_READONLY), 0);
	ck_assert_int_eq(t_sql_int(&db, "SELECT count(*) FROM jobs"), 0);
	t_stderr_begin(&cap);
	rc = db_exec(&db, "INSERT INTO kv VALUES ('a', '1', 1)");
	free(t_stderr_end(&cap));
	ck_assert_int_eq(rc, -1);
	db_close(&db);
}
END_TEST

/* ---- the PostgreSQL side ---- */

START_TEST(printable_hides_passwords)
{
	char out[256];

	db_printable("postgresql://ann:s3cret@db.example:5432/dater", out,
	    sizeof(out));
	ck_assert_str_eq(out, "postgresql://ann:***@db.example:5432/dater");
	db_printable("postgres:///dater?host=/run/pg&password=s3cret&user=a",
	    out, sizeof(out));
	ck_assert_str_eq(out, "postgres:///dater?host=/run/pg&password=***"
	    "&user=a");
	db_printable("postgresql://ann@db/dater", out, sizeof(out));
	ck_assert_str_eq(out, "postgresql://ann@db/dater");
	db_printable("var/dater.db", out, sizeof(out));
	ck_assert_str_eq(out, "var/dater.db");
}
END_TEST

/* Translate sql and compare. */
static void
translates(const char *sql, int ddl, const char *want, int want_n)
{
	char *t;
	int n = -1;

	t = pg_translate(sql, ddl, &n);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t, want);
	ck_assert_int_eq(n, want_n);
	free(t);
}

START_TEST(translate_dialect)
{
	translates("SELECT ?2, ?1 WHERE a = ?2", 0,
	    "SELECT $2, $1 WHERE a = $2", 2);
	translates("SELECT ?, ? FROM t", 0, "SELECT $1, $2 FROM t", 2);
	translates("SELECT '?1 max(a, b)', \"?\" FROM t", 0,
	    "SELECT '?1 max(a, b)', \"?\" FROM t", 0);
	translates("SELECT max(a, coalesce(b, 0)), max(c), max_attempts", 0,
	    "SELECT greatest(a, coalesce(b, 0)), max(c), max_attempts", 0);
	translates("SELECT id FROM jobs INDEXED BY jobs_due WHERE"
	    " instr(?1, type) > 0", 0,
	    "SELECT id FROM jobs  WHERE strpos($1, type) > 0", 1);
	translates("SELECT json_extract(p, '$.a'), total(x) FROM"
	    " json_each(?1)", 0, "SELECT dater_json_extract(p, '$.a'),"
	    " dater_total(x) FROM dater_json_each($1)", 1);
	translates("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER,"
	    " r REAL)", 1, "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT"
	    " AS IDENTITY PRIMARY KEY, n BIGINT, r DOUBLE PRECISION)", 0);
}
END_TEST

/* The PostgreSQL database of DATER_TEST_PG, migrated, in env; 0 (the
 * test returns) without one. */
static int
pg_env(void)
{
	if (getenv("DATER_TEST_PG") == NULL || *getenv("DATER_TEST_PG") ==
	    '\0')
		return 0;
	t_env_setup(&penv);
	return 1;
}

START_TEST(pg_statements)
{
	struct dbst *st;
	struct t_capture cap;
	int rc;

	if (!pg_env())
		return;		/* no PostgreSQL here: see make check */
	/* a parameter only ever NULL next to a bigint */
	st = db_prepare(&penv.db, "SELECT count(*) FROM jobs WHERE"
	    " (?1 IS NULL OR id = ?1) AND (?2 IS NULL OR type = ?2)");
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(db_step(st), DB_ROW);
	ck_assert_int_eq(db_col_int64(st, 0), 0);
	db_finalize(st);
	/* booleans read as 1 and 0; NULL is NULL */
	st = db_prepare(&penv.db, "SELECT 1 = 1, 1 = 2, NULL");
	ck_assert_int_eq(db_step(st), DB_ROW);
	ck_assert_int_eq(db_col_int(st, 0), 1);
	ck_assert_int_eq(db_col_int(st, 1), 0);
	ck_assert(db_col_null(st, 2));
	db_finalize(st);
	/* a unique key twice is DB_UNIQUE, and a failed statement fails
	 * the commit of its transaction (PostgreSQL would roll back) */
	ck_assert_int_eq(db_begin(&penv.db), 0);
	t_exec(&penv.db, "INSERT INTO kv VALUES ('k', '1', 1)");
	st = db_prepare(&penv.db, "INSERT INTO kv VALUES ('k', '2', 2)");
	t_stderr_begin(&cap);
	rc = db_step(st);
	ck_assert_int_eq(rc, DB_UNIQUE);
	ck_assert_int_eq(db_errcode(&penv.db), DB_UNIQUE);
	db_finalize(st);
	ck_assert_int_eq(db_commit(&penv.db), -1);
	free(t_stderr_end(&cap));
	ck_assert_int_eq(db_in_tx(&penv.db), 0);
	ck_assert_int_eq(t_sql_int(&penv.db, "SELECT count(*) FROM kv"), 0);
	t_env_teardown(&penv);
}
END_TEST

Suite *
suite_db(void)
{
	Suite *s = suite_create("db");
	TCase *tc;

	tc = t_tcase("open");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, missing_refused_without_create);
	tcase_add_test(tc, create_in_missing_dir);
	tcase_add_test(tc, path_too_long);
	tcase_add_test(tc, created_private);
	tcase_add_test(tc, existing_mode_kept);
	tcase_add_test(tc, unmigrated_refused);
	tcase_add_test(tc, migrated_opens);
	tcase_add_test(tc, newer_schema_refused);
	tcase_add_test(tc, pragmas);
	tcase_add_test(tc, readonly_refuses_writes);
	suite_add_tcase(s, tc);

	tc = t_tcase("migrate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, migrate_idempotent);
	suite_add_tcase(s, tc);

	tc = t_tcase("sql");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, transactions);
	tcase_add_test(tc, commit_later_joins);
	tcase_add_test(tc, commit_later_rollback_poisons);
	tcase_add_test(tc, stats_file);
	tcase_add_test(tc, checkpoint_per_growth);
	tcase_add_test(tc, begin_takes_write_lock);
	tcase_add_test(tc, statement_cache);
	tcase_add_test(tc, exec_errors);
	suite_add_tcase(s, tc);

	tc = t_tcase("postgresql");
	tcase_add_test(tc, printable_hides_passwords);
	tcase_add_test(tc, translate_dialect);
	tcase_add_test(tc, pg_statements);
	suite_add_tcase(s, tc);
	return s;
}
