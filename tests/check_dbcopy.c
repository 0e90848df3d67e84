/*
 * check_dbcopy: a whole database copied into another (lib/dbcopy.c).
 * A SQLite database with rows in every table (explicit ids with gaps,
 * NULLs, quotes and UTF-8, an integer past 2^53, reals that need all 17
 * digits) is copied into the test's database (PostgreSQL with
 * DATER_TEST_PG, else SQLite: the PostgreSQL legs are then skipped, said
 * on stderr) and from there into a new SQLite file, and every value of
 * every table, with its storage class, is the same at the end; each
 * table's rows are counted; ids go on past the copied ones. A target
 * with rows is refused and kept; a source whose workers hold leases is
 * refused unless forced; a copy that fails half way leaves the target
 * without a row; a table the copy does not know stops it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_dater.h"
#include "../lib/dbcopy.h"
#include "../lib/banned.h"

#define NOW 1795637700000LL	/* 2026-11-25T20:15:00Z */
#define LIVE_MS 60000LL
#define NROWS 12		/* the rows fill() writes */

static struct t_env env;
static struct db src;		/* dir/src.db, SQLite */
static char src_path[PATH_MAX];

static const char *const tables[] = {
	"jobs", "workers", "kv", "contacts", "messages", "metrics_daily",
	"listeners", "bot_state", "audit", NULL
};

/* Open (creating and migrating) the SQLite file name in the test dir. */
static void
open_file(struct db *db, const char *name, char *path, size_t len)
{
	int from, to;

	t_path(path, len, env.dir, name);
	ck_assert_int_eq(db_open(db, path, &env.cfg, DB_CREATE |
	    DB_ANY_VERSION), 0);
	ck_assert_int_eq(db_migrate(db, &from, &to), 0);
}

static void
fill(struct db *db)
{
	static const char *const rows[] = {
		"INSERT INTO jobs (id, type, bot, payload, state, priority,"
		" run_at, attempts, max_attempts, errors, created_at,"
		" finished_at) VALUES (3, 'noop', NULL, '{\"t\":\"it''s ü\"}',"
		" 'succeeded', 7, 5, 1, 3, '[\"e\"]', 9007199254740993, 6)",
		"INSERT INTO jobs (id, type, bot, payload, state, run_at,"
		" unique_key, created_at) VALUES (1000, 'send', 'anna', '{}',"
		" 'queued', 1, 'k:1', 2)",
		"INSERT INTO workers (id, pid, host, queues, started_at,"
		" heartbeat_at) VALUES ('h:1', 12, 'h', 'default', 1, 2)",
		"INSERT INTO kv (key, value, updated_at) VALUES"
		" ('poll.offset.anna', '42', 3)",
		"INSERT INTO contacts (id, bot, platform_id, handle, name,"
		" profile, status, consent, timezone, unanswered,"
		" last_inbound_at, created_at, updated_at, nudge_hold, paused,"
		" takeover_by) VALUES (7, 'anna', '1001', 'anna_k', 'Anna \"A\"',"
		" '{\"age\":27}', 'active', 1, 'Europe/Berlin', 2, 100, 1, 2, 1,"
		" 0, 'op')",
		"INSERT INTO contacts (id, bot, platform_id, created_at,"
		" updated_at) VALUES (9, 'anna', '2002', 1, 1)",
		"INSERT INTO messages (id, contact, bot, direction, kind, text,"
		" platform_msg_id, status, job_id, model, tokens_in, cost_usd,"
		" created_at, sent_at, parts_sent, author) VALUES (42, 7, 'anna',"
		" 'out', 'reply', 'line 1\nline 2 ✓', NULL, 'sent', 1000, 'm',"
		" 12, 0.30000000000000004, 10, 11, 1, NULL)",
		"INSERT INTO messages (id, contact, bot, direction, text,"
		" platform_msg_id, created_at) VALUES (43, 9, 'anna', 'in', '',"
		" '5', 12)",
		"INSERT INTO metrics_daily (bot, day, received, sent, cost_usd)"
		" VALUES ('anna', '2026-11-25', 3, 4, 0.1234567890123456789)",
		"INSERT INTO listeners (bot, holder, host, pid, since,"
		" lease_until) VALUES ('anna', 'h:1', 'h', 13, 1, 2)",
		"INSERT INTO bot_state (bot, paused, paused_by, reason,"
		" updated_at) VALUES ('anna', 1, 'op', 'lunch', 4)",
		"INSERT INTO audit (id, at, actor, command, bot, contact, detail)"
		" VALUES (5, 1, 'op', 'pause', 'anna', 7, '{\"a\":[1,2]}')",
		NULL
	};
	int i;

	for (i = 0; rows[i] != NULL; i++)
		t_exec(db, "%s", rows[i]);
}

static void
setup(void)
{
	t_env_setup(&env);
	open_file(&src, "src.db", src_path, sizeof(src_path));
}

static void
teardown(void)
{
	db_close(&src);
	t_env_teardown(&env);
}

static int
copy(struct db *from, struct db *to, int force, struct dbcopy_report *r,
    char **log)
{
	struct t_capture cap;
	char *text;
	int rc;

	t_stderr_begin(&cap);
	rc = dbcopy_run(from, to, force, NOW, LIVE_MS, r);
	text = t_stderr_end(&cap);
	if (log != NULL)
		*log = text;
	else
		free(text);
	return rc;
}

struct text {
	char *s;
	size_t len, cap;
};

static void
append(struct text *t, const char *s)
{
	size_t n = strlen(s);

	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		ck_assert_ptr_nonnull(t->s);
	}
	memcpy(t->s + t->len, s, n + 1);
	t->len += n;
}

/* Every row of a SQLite database as text: each value with its storage
 * class, reals with all 17 digits. The caller frees it. */
static char *
dump(struct db *db)
{
	char sql[2048], cols[1024], v[64];
	struct text out = { NULL, 0, 0 };
	struct dbst *st;
	int i, c, n;

	ck_assert_ptr_null(db->pg);
	append(&out, "");
	for (i = 0; tables[i] != NULL; i++) {
		t_sql_text(db, cols, sizeof(cols), "SELECT group_concat("
		    "'typeof(' || name || '), ' || name, ', ') FROM"
		    " pragma_table_info('%s')", tables[i]);
		snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY 2, 4",
		    cols, tables[i]);
		st = db_prepare(db, sql);
		ck_assert_ptr_nonnull(st);
		n = (int)t_sql_int(db, "SELECT count(*) FROM"
		    " pragma_table_info('%s')", tables[i]);
		append(&out, tables[i]);
		append(&out, ":\n");
		while (db_step(st) == DB_ROW) {
			for (c = 0; c < n; c++) {
				append(&out, db_col_text(st, 2 * c));
				append(&out, "=");
				if (strcmp(db_col_text(st, 2 * c), "real") == 0) {
					snprintf(v, sizeof(v), "%.17g",
					    db_col_double(st, 2 * c + 1));
					append(&out, v);
				} else if (!db_col_null(st, 2 * c + 1))
					append(&out,
					    db_col_text(st, 2 * c + 1));
				append(&out, "|");
			}
			append(&out, "\n");
		}
		db_finalize(st);
	}
	return out.s;
}

static int64_t
rows_in(struct db *db)
{
	int64_t n = 0;
	int i;

	for (i = 0; tables[i] != NULL; i++)
		n += t_sql_int(db, "SELECT count(*) FROM %s", tables[i]);
	return n;
}

START_TEST(round_trip_keeps_every_value)
{
	struct dbcopy_report r;
	struct db back;
	char path[PATH_MAX], *before, *after;
	int i;

	fill(&src);
	if (env.db.pg == NULL)
		fprintf(stderr, "check_dbcopy: DATER_TEST_PG is not set: the "
		    "PostgreSQL legs are skipped (SQLite -> SQLite -> SQLite)\n");
	ck_assert_int_eq(copy(&src, &env.db, 0, &r, NULL), DBCOPY_OK);
	ck_assert_int_eq(r.ntables, 9);
	ck_assert_int_eq(r.rows, NROWS);
	for (i = 0; i < r.ntables; i++) {
		ck_assert_str_eq(r.t[i].name, tables[i]);
		ck_assert_int_eq(r.t[i].rows, t_sql_int(&src,
		    "SELECT count(*) FROM %s", tables[i]));
	}
	ck_assert_int_eq(rows_in(&env.db), NROWS);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT created_at FROM jobs"
	    " WHERE id = 3"), 9007199254740993LL);

	open_file(&back, "back.db", path, sizeof(path));
	ck_assert_int_eq(copy(&env.db, &back, 0, &r, NULL), DBCOPY_OK);
	ck_assert_int_eq(r.rows, NROWS);
	before = dump(&src);
	after = dump(&back);
	ck_assert_str_eq(after, before);
	ck_assert_ptr_nonnull(strstr(after, "real=0.30000000000000004|"));
	free(before);
	free(after);
	db_close(&back);
}
END_TEST

/* More rows than a page of reading (10000) and a batch of inserting
 * (64), twice over, and not a multiple of either. */
START_TEST(many_rows_in_pages)
{
	struct dbcopy_report r;
	struct db back;
	char path[PATH_MAX], *before, *after;

	t_exec(&src, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1"
	    " FROM n WHERE i < 25003) INSERT INTO jobs (id, type, payload,"
	    " run_at, created_at) SELECT 3 * i, 'noop', '{\"n\":' || i || '}',"
	    " i, i FROM n");
	ck_assert_int_eq(copy(&src, &env.db, 0, &r, NULL), DBCOPY_OK);
	ck_assert_int_eq(r.rows, 25003);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(DISTINCT id) FROM"
	    " jobs"), 25003);
	open_file(&back, "back.db", path, sizeof(path));
	ck_assert_int_eq(copy(&env.db, &back, 0, &r, NULL), DBCOPY_OK);
	before = dump(&src);
	after = dump(&back);
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
	db_close(&back);
}
END_TEST

START_TEST(ids_go_on_past_the_copied)
{
	struct dbcopy_report r;

	fill(&src);
	ck_assert_int_eq(copy(&src, &env.db, 0, &r, NULL), DBCOPY_OK);
	ck_assert_int_eq(t_job_add(&env.db, "noop", NULL, NULL, 0), 1001);
	t_exec(&env.db, "INSERT INTO contacts (bot, platform_id, created_at,"
	    " updated_at) VALUES ('anna', '3003', 1, 1)");
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT id FROM contacts WHERE"
	    " platform_id = '3003'"), 10);
	t_exec(&env.db, "INSERT INTO audit (at, actor, command) VALUES"
	    " (2, 'op', 'resume')");
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT max(id) FROM audit"), 6);
}
END_TEST

START_TEST(empty_source_copies_nothing)
{
	struct dbcopy_report r;

	ck_assert_int_eq(copy(&src, &env.db, 0, &r, NULL), DBCOPY_OK);
	ck_assert_int_eq(r.ntables, 9);
	ck_assert_int_eq(r.rows, 0);
	ck_assert_int_eq(t_job_add(&env.db, "noop", NULL, NULL, 0), 1);
}
END_TEST

START_TEST(target_with_rows_refused)
{
	struct dbcopy_report r;
	char *log;
	int64_t id;

	fill(&src);
	id = t_job_add(&env.db, "noop", NULL, "{\"mine\":1}", 0);
	ck_assert_int_eq(copy(&src, &env.db, 0, &r, &log), DBCOPY_NOT_EMPTY);
	ck_assert_ptr_nonnull(strstr(log, "is not empty (1 row in jobs)"));
	free(log);
	ck_assert_int_eq(r.rows, 0);
	ck_assert_int_eq(rows_in(&env.db), 1);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT id FROM jobs"), id);
}
END_TEST

START_TEST(busy_source_refused_unless_forced)
{
	struct dbcopy_report r;
	char *log;

	fill(&src);
	t_exec(&src, "UPDATE jobs SET state = 'running', worker = 'h:1',"
	    " lease_until = %lld WHERE id = 1000", NOW + 1000);
	ck_assert_int_eq(copy(&src, &env.db, 0, &r, &log), DBCOPY_BUSY);
	ck_assert_ptr_nonnull(strstr(log, "1 running job holds a lease, 0 "
	    "workers are alive; stop the workers or use --force"));
	free(log);
	ck_assert_int_eq(rows_in(&env.db), 0);
	t_exec(&src, "UPDATE workers SET heartbeat_at = %lld", NOW - 10);
	t_exec(&src, "UPDATE jobs SET state = 'queued', lease_until = NULL");
	ck_assert_int_eq(copy(&src, &env.db, 0, &r, NULL), DBCOPY_BUSY);
	ck_assert_int_eq(copy(&src, &env.db, 1, &r, NULL), DBCOPY_OK);
	ck_assert_int_eq(rows_in(&env.db), NROWS);
}
END_TEST

START_TEST(failure_half_way_leaves_target_empty)
{
	struct dbcopy_report r;
	char *log;

	fill(&src);
	/* audit is copied last: every other table is in by then */
	t_exec(&src, "ALTER TABLE audit ADD COLUMN extra TEXT");
	ck_assert_int_eq(copy(&src, &env.db, 0, &r, &log), -1);
	ck_assert_ptr_nonnull(strstr(log, "table 'audit' has other columns"));
	free(log);
	ck_assert_int_eq(r.rows, 0);
	ck_assert_int_eq(rows_in(&env.db), 0);
	/* and the target takes a good copy afterwards */
	t_exec(&src, "ALTER TABLE audit DROP COLUMN extra");
	ck_assert_int_eq(copy(&src, &env.db, 0, &r, NULL), DBCOPY_OK);
	ck_assert_int_eq(rows_in(&env.db), NROWS);
}
END_TEST

START_TEST(unknown_table_stops_copy)
{
	struct dbcopy_report r;
	char *log;

	fill(&src);
	t_exec(&src, "CREATE TABLE extra (x INTEGER)");
	ck_assert_int_eq(copy(&src, &env.db, 0, &r, &log), -1);
	ck_assert_ptr_nonnull(strstr(log, "has a table 'extra' this dater does"
	    " not know how to copy"));
	free(log);
	ck_assert_int_eq(rows_in(&env.db), 0);
}
END_TEST

START_TEST(new_target_migrated)
{
	struct dbcopy_report r;
	struct db fresh;
	char path[PATH_MAX];
	int v;

	fill(&src);
	t_path(path, sizeof(path), env.dir, "fresh.db");
	ck_assert_int_eq(db_open(&fresh, path, &env.cfg, DB_CREATE |
	    DB_ANY_VERSION), 0);
	ck_assert_int_eq(copy(&src, &fresh, 0, &r, NULL), DBCOPY_OK);
	ck_assert_int_eq(r.from, 0);
	ck_assert_int_eq(r.to, db_latest_version());
	ck_assert_int_eq(db_version(&fresh, &v), 0);
	ck_assert_int_eq(v, db_latest_version());
	ck_assert_int_eq(rows_in(&fresh), NROWS);
	db_close(&fresh);
}
END_TEST

Suite *
suite_dbcopy(void)
{
	Suite *s = suite_create("dbcopy");
	TCase *tc;

	tc = t_tcase("copy");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, round_trip_keeps_every_value);
	tcase_add_test(tc, many_rows_in_pages);
	tcase_add_test(tc, ids_go_on_past_the_copied);
	tcase_add_test(tc, empty_source_copies_nothing);
	tcase_add_test(tc, new_target_migrated);
	suite_add_tcase(s, tc);

	tc = t_tcase("refuse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, target_with_rows_refused);
	tcase_add_test(tc, busy_source_refused_unless_forced);
	tcase_add_test(tc, failure_half_way_leaves_target_empty);
	tcase_add_test(tc, unknown_table_stops_copy);
	suite_add_tcase(s, tc);
	return s;
}
