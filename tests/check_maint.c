/*
 * check_maint: the maintenance work (lib/maint.c) and its job types:
 * backup (a verified, private copy with the same rows; rotation keeps
 * the newest N and touches no other file), prune (old finished jobs go,
 * queued/running and recent ones stay; batches; message retention keeps
 * what is still needed; stale worker rows), optimize (the -wal file cut
 * to the journal size limit after a starved checkpoint; a busy one is
 * reported and retried), rollup (fixes a wrong metrics row, keeps the
 * LLM counts, is idempotent) and the payload checks.
 *
 * With DATER_TEST_PG the same run on PostgreSQL, where the backup is a
 * pg_dump archive (read back with pg_restore) and optimize is VACUUM
 * (ANALYZE); the tests about the SQLite file itself (its WAL, its query
 * plans) return early there, saying why (sqlite_only).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check_dater.h"
#include "../jobs/jobs.h"
#include "../lib/clock.h"
#include "../lib/maint.h"
#include "../lib/pgdump.h"
#include "../lib/queue.h"
#include "../lib/banned.h"

#define DAY_MS (86400LL * 1000)

static struct t_env env;

/* Whether the test database is PostgreSQL's; there a test about the
 * SQLite file itself (why) ends here, as a pass. */
static int
sqlite_only(const char *why)
{
	(void)why;	/* the reason is for the reader of the test */
	return env.db.pg != NULL;
}

/* On PostgreSQL: the rows of table in the pg_dump archive file (its
 * COPY data, as pg_restore prints it); with text, only the rows that
 * hold it. */
static int
archive_rows(const char *file, const char *table, const char *text)
{
	char prog[PATH_MAX], err[256], cmd[3 * PATH_MAX], line[8192];
	FILE *p;
	int n = 0, on = 0;

	ck_assert_msg(pgdump_find("pg_restore", prog, sizeof(prog), err,
	    sizeof(err)) == 0, "%s", err);
	snprintf(cmd, sizeof(cmd), "'%s' -f - -a -t '%s' '%s'", prog, table,
	    file);
	ck_assert_ptr_nonnull(p = popen(cmd, "r"));
	while (fgets(line, sizeof(line), p) != NULL) {
		if (strncmp(line, "COPY ", 5) == 0)
			on = 1;
		else if (strcmp(line, "\\.\n") == 0)
			on = 0;
		else if (on && (text == NULL || strstr(line, text) != NULL))
			n++;
	}
	ck_assert_int_eq(pclose(p), 0);
	return n;
}

/* What backups of the test database are named: STEM-...Z.SFX. */
static void
backup_form(char *stem, size_t len, const char **sfx)
{
	if (env.db.pg != NULL) {
		/* DATABASE.SCHEMA: each test has a schema of its own */
		t_sql_text(&env.db, stem, len, "SELECT current_database() ||"
		    " '.' || current_schema()");
		*sfx = ".dump";
	} else {
		strlcpy(stem, "test", len);
		*sfx = ".db";
	}
}

static void
setup(void)
{
	t_env_setup(&env);
}

static void
teardown(void)
{
	t_env_teardown(&env);
}

static json_t *
parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);

	ck_assert_msg(j != NULL, "bad test JSON '%s': %s", text, e.text);
	return j;
}

/* Run a job type's handler on payload as the worker would. */
static enum job_result
run_type(const struct job_type *type, const char *payload,
    struct job_outcome *out)
{
	struct queue_job job;
	struct job_ctx ctx;
	struct t_capture cap;
	enum job_result r;

	memset(&job, 0, sizeof(job));
	job.id = 1;
	job.attempts = 1;
	job.max_attempts = 25;
	strlcpy(job.type, type->name, sizeof(job.type));
	memset(&ctx, 0, sizeof(ctx));
	ctx.db = &env.db;
	ctx.cfg = &env.cfg;
	ctx.job = &job;
	ctx.payload = parse(payload);
	memset(out, 0, sizeof(*out));
	t_stderr_begin(&cap);
	r = type->run(&ctx, out);
	free(t_stderr_end(&cap));
	json_decref(ctx.payload);
	return r;
}

static int
payload_ok(const struct job_type *type, const char *text, char *err,
    size_t len)
{
	json_t *j = parse(text);
	int rc;

	err[0] = '\0';
	rc = job_check(type, NULL, j, err, len);
	json_decref(j);
	return rc;
}

static void
add_jobs(int n, const char *payload)
{
	struct queue_new q;
	int64_t id;
	int i;

	queue_new_init(&q);
	q.type = "noop";
	q.payload = payload;
	for (i = 0; i < n; i++)
		ck_assert_int_eq(queue_add(&env.db, &q, &id, NULL), 0);
}

/* ---- backup ----------------------------------------------------------- */

/* Everything a backup must hold, as one string, read through conn. */
static char *
digest(sqlite3 *conn)
{
	static const char sql[] =
	    "SELECT (SELECT count(*) || ':' || group_concat(id || '/' || type"
	    " || '/' || payload || '/' || state, ',') FROM jobs) || '|' ||"
	    " (SELECT count(*) || ':' || coalesce(group_concat(id || '/' ||"
	    " text, ','), '') FROM messages) || '|' ||"
	    " (SELECT count(*) FROM contacts) || '|' ||"
	    " (SELECT group_concat(name, ',') FROM sqlite_schema)";
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	char *s;

	ck_assert_int_eq(sqlite3_prepare_v2(conn, sql, -1, &st, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	t = sqlite3_column_text(st, 0);
	ck_assert_ptr_nonnull(t);
	s = strdup((const char *)t);
	sqlite3_finalize(st);
	return s;
}

/* Entries of dir besides . and .. */
static int
entries_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
add_conversation(void)
{
	int64_t now = clock_now_ms();

	t_exec(&env.db, "INSERT INTO contacts (id, bot, platform_id,"
	    " created_at, updated_at) VALUES (1, 'anna', 'p1', %lld, %lld)",
	    (long long)now, (long long)now);
	t_exec(&env.db, "INSERT INTO messages (contact, bot, direction, text,"
	    " created_at) VALUES (1, 'anna', 'in', 'hello there', %lld)",
	    (long long)now);
}

START_TEST(backup_copy_is_verified_and_private)
{
	struct maint_backup r;
	struct stat st;
	char dir[PATH_MAX], path[PATH_MAX + 16], stem[128], *a, *b;
	const char *base, *sfx;
	sqlite3 *copy = NULL;

	umask(0);	/* a file made with SQLite's 0644 would show */
	add_jobs(50, "{\"k\": \"backup me\"}");
	add_conversation();
	backup_form(stem, sizeof(stem), &sfx);
	t_path(dir, sizeof(dir), env.dir, "backups");
	if (env.db.pg != NULL) {
		/* no file to put backups beside: the dir must be set */
		ck_assert_int_eq(maint_backup(&env.db, env.path, NULL, 3, &r),
		    -1);
		ck_assert_msg(strstr(r.error, "maintenance.backup_dir") !=
		    NULL, "error '%s'", r.error);
		ck_assert_int_eq(maint_backup(&env.db, env.path, dir, 3, &r),
		    0);
	} else
		ck_assert_int_eq(maint_backup(&env.db, env.path, NULL, 3, &r),
		    0);
	ck_assert_str_eq(r.error, "");

	/* backups/ beside the database (or as set), 0700 */
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0700);
	ck_assert_int_eq(strncmp(r.path, dir, strlen(dir)), 0);
	base = strrchr(r.path, '/') + 1;
	ck_assert_msg(strncmp(base, stem, strlen(stem)) == 0 &&
	    base[strlen(stem)] == '-' && strlen(base) == strlen(stem) +
	    strlen("-20260101T000000.000Z") + strlen(sfx) &&
	    strcmp(base + strlen(base) - strlen(sfx), sfx) == 0,
	    "name '%s'", base);

	ck_assert_int_eq(stat(r.path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_size, r.bytes);
	ck_assert_int_eq(r.removed, 0);

	/* one self-contained file: no .part, -wal or -journal left */
	snprintf(path, sizeof(path), "%s.part", r.path);
	ck_assert_int_eq(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s-wal", r.path);
	ck_assert_int_eq(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s-journal", r.path);
	ck_assert_int_eq(access(path, F_OK), -1);

	if (env.db.pg != NULL) {
		/* pg_restore reads it back: every job, the message */
		ck_assert_int_eq(archive_rows(r.path, "jobs", NULL), 50);
		ck_assert_int_eq(archive_rows(r.path, "jobs", "backup me"),
		    50);
		ck_assert_int_eq(archive_rows(r.path, "messages",
		    "hello there"), 1);
		return;
	}
	/* it opens read-only, passes integrity_check, same rows */
	ck_assert_int_eq(sqlite3_open_v2(r.path, &copy, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	{
		sqlite3_stmt *q = NULL;

		ck_assert_int_eq(sqlite3_prepare_v2(copy,
		    "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
		ck_assert_str_eq((const char *)sqlite3_column_text(q, 0), "ok");
		sqlite3_finalize(q);
	}
	a = digest(env.db.sql);
	b = digest(copy);
	ck_assert_str_eq(a, b);
	ck_assert_ptr_nonnull(strstr(b, "50:"));
	ck_assert_ptr_nonnull(strstr(b, "hello there"));
	free(a);
	free(b);
	sqlite3_close(copy);
}
END_TEST

/* How many regular files in dir are named "STEM-...Z.SFX" (backup_form). */
static int
count_backups(const char *dir)
{
	char cmd[PATH_MAX + 256], stem[128];
	const char *sfx;
	FILE *p;
	int n = -1;

	backup_form(stem, sizeof(stem), &sfx);
	snprintf(cmd, sizeof(cmd), "find '%s' -maxdepth 1 -type f -name"
	    " '%s-*Z%s' | wc -l", dir, stem, sfx);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

/* dir/PRE[STEM]MID[SFX]POST: a name shaped like (or unlike) a backup of
 * the test database. */
static void
bk_name(char *path, size_t len, const char *dir, const char *pre, int stem,
    const char *mid, int sfx, const char *post)
{
	char st[128];
	const char *x;
	int n;

	backup_form(st, sizeof(st), &x);
	n = snprintf(path, len, "%s/%s%s%s%s%s", dir, pre, stem ? st : "",
	    mid, sfx ? x : "", post);
	ck_assert(n > 0 && (size_t)n < len);
}

START_TEST(backup_rotation_keeps_newest)
{
	static const struct {
		const char *pre;
		int stem;
		const char *mid;
		int sfx;
		const char *post;
	} other[] = {
		{ "notes.txt", 0, "", 0, "" },		/* unrelated */
		{ "", 1, "-manual", 1, "" },		/* not our form */
		{ "other", 0, "-20000101T000000.000Z", 1, "" },	/* another's */
		{ "", 1, "-20000101T000000.000Z", 1, ".bak" },	/* a suffix after */
		{ "x", 1, "-20000101T000000.000Z", 1, "" },
	};
	char dir[PATH_MAX], path[PATH_MAX], made[5][PATH_MAX];
	struct maint_backup r;
	struct timespec old[2];
	size_t i;

	t_path(dir, sizeof(dir), env.dir, "bk");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		bk_name(path, sizeof(path), dir, other[i].pre, other[i].stem,
		    other[i].mid, other[i].sfx, other[i].post);
		t_write_file(path, "keep me");
	}
	/* a directory and a symlink shaped like old backups stay too */
	bk_name(path, sizeof(path), dir, "", 1, "-20000101T000000.001Z", 1, "");
	ck_assert_int_eq(mkdir(path, 0700), 0);
	bk_name(path, sizeof(path), dir, "", 1, "-20000101T000000.002Z", 1, "");
	ck_assert_int_eq(symlink("notes.txt", path), 0);
	/* a .part left by a killed backup an hour ago goes; a fresh one
	 * (a backup running now) stays */
	bk_name(path, sizeof(path), dir, "", 1, "-20000101T000000.003Z", 1,
	    ".part");
	t_write_file(path, "half");
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 7200;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	ck_assert_int_eq(utimensat(AT_FDCWD, path, old, 0), 0);
	bk_name(path, sizeof(path), dir, "", 1, "-20000101T000000.004Z", 1,
	    ".part");
	t_write_file(path, "in progress");

	add_jobs(10, NULL);
	/* keep + 2 backups: the two oldest go */
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(maint_backup(&env.db, env.path, dir, 3, &r),
		    0);
		strlcpy(made[i], r.path, sizeof(made[i]));
		ck_assert_int_eq(r.removed, i < 3 ? (i == 0 ? 1 : 0) : 1);
		if (i > 0)
			ck_assert_msg(strcmp(made[i], made[i - 1]) > 0,
			    "'%s' not after '%s'", made[i], made[i - 1]);
	}
	ck_assert_int_eq(access(made[0], F_OK), -1);
	ck_assert_int_eq(access(made[1], F_OK), -1);
	for (i = 2; i < 5; i++)
		ck_assert_msg(access(made[i], F_OK) == 0, "'%s' gone",
		    made[i]);
	ck_assert_int_eq(count_backups(dir), 3);
	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		bk_name(path, sizeof(path), dir, other[i].pre, other[i].stem,
		    other[i].mid, other[i].sfx, other[i].post);
		ck_assert_msg(access(path, F_OK) == 0, "'%s' removed", path);
	}
	bk_name(path, sizeof(path), dir, "", 1, "-20000101T000000.001Z", 1, "");
	ck_assert_int_eq(access(path, F_OK), 0);
	bk_name(path, sizeof(path), dir, "", 1, "-20000101T000000.002Z", 1, "");
	ck_assert_int_eq(faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW),
	    0);
	bk_name(path, sizeof(path), dir, "", 1, "-20000101T000000.003Z", 1,
	    ".part");
	ck_assert_int_eq(access(path, F_OK), -1);
	bk_name(path, sizeof(path), dir, "", 1, "-20000101T000000.004Z", 1,
	    ".part");
	ck_assert_int_eq(access(path, F_OK), 0);

	/* keep 1: only the new one */
	ck_assert_int_eq(maint_backup(&env.db, env.path, dir, 1, &r), 0);
	ck_assert_int_eq(r.removed, 3);
	ck_assert_int_eq(count_backups(dir), 1);
	ck_assert_int_eq(access(r.path, F_OK), 0);
}
END_TEST

START_TEST(backup_dir_created_and_errors)
{
	char dir[PATH_MAX], file[PATH_MAX];
	struct maint_backup r;
	struct stat st;

	umask(022);
	t_path(dir, sizeof(dir), env.dir, "deep/er/backups");
	ck_assert_int_eq(maint_backup(&env.db, env.path, dir, 2, &r), 0);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0700);
	t_path(dir, sizeof(dir), env.dir, "deep");
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0700);

	/* the dir is a file: a clear error naming it, nothing left */
	t_path(file, sizeof(file), env.dir, "plainfile");
	t_write_file(file, "x");
	ck_assert_int_eq(maint_backup(&env.db, env.path, file, 2, &r), -1);
	ck_assert_msg(strstr(r.error, "plainfile") != NULL &&
	    strstr(r.error, "not a directory") != NULL, "error '%s'",
	    r.error);

	/* refused inside a transaction */
	ck_assert_int_eq(db_begin(&env.db), 0);
	ck_assert_int_eq(maint_backup(&env.db, env.path, dir, 2, &r), -1);
	ck_assert_ptr_nonnull(strstr(r.error, "transaction"));
	db_rollback(&env.db);
}
END_TEST

/* No pg_dump to be found: a clear error naming what is missing, no
 * file left behind. */
START_TEST(backup_without_pg_dump)
{
	char dir[PATH_MAX], empty[PATH_MAX];
	struct maint_backup r;

	t_path(empty, sizeof(empty), env.dir, "nobin");
	ck_assert_int_eq(mkdir(empty, 0700), 0);
	ck_assert_int_eq(setenv("PG_BINDIR", empty, 1), 0);
	t_path(dir, sizeof(dir), env.dir, "bk");
	if (env.db.pg == NULL) {
		/* SQLite needs no pg_dump */
		ck_assert_int_eq(maint_backup(&env.db, env.path, dir, 2, &r),
		    0);
		return;
	}
	ck_assert_int_eq(maint_backup(&env.db, env.path, dir, 2, &r), -1);
	ck_assert_msg(strstr(r.error, "pg_dump not found") != NULL &&
	    strstr(r.error, empty) != NULL, "error '%s'", r.error);
	ck_assert_int_eq(count_backups(dir), 0);
	ck_assert_int_eq(entries_in(dir), 0);
}
END_TEST

START_TEST(backup_job_uses_config)
{
	struct job_outcome out;
	char dir[PATH_MAX];
	int i;

	t_path(dir, sizeof(dir), env.dir, "conf-backups");
	strlcpy(env.cfg.maint.backup_dir, dir,
	    sizeof(env.cfg.maint.backup_dir));
	env.cfg.maint.backup_keep = 2;
	add_jobs(3, NULL);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(run_type(&job_backup, "{}", &out), JOB_OK);
	ck_assert_int_eq(count_backups(dir), 2);

	/* an unusable dir: the job retries with the reason */
	strlcpy(env.cfg.maint.backup_dir, "/proc/no/such",
	    sizeof(env.cfg.maint.backup_dir));
	ck_assert_int_eq(run_type(&job_backup, "{}", &out), JOB_RETRY);
	ck_assert_ptr_nonnull(strstr(out.error, "/proc/no"));
}
END_TEST

/* ---- prune ------------------------------------------------------------ */

/* Insert a job in state with finished_at (0: NULL); returns its id. */
static int64_t
job_at(const char *state, int64_t finished_at)
{
	int64_t now = clock_now_ms();

	t_exec(&env.db, "INSERT INTO jobs (type, state, run_at, created_at,"
	    " finished_at, worker) VALUES ('noop', '%s', %lld, %lld,"
	    " nullif(%lld, 0), CASE WHEN '%s' = 'running' THEN 'w1' END)",
	    state, (long long)(now - 90 * DAY_MS),
	    (long long)(now - 90 * DAY_MS), (long long)finished_at, state);
	return t_sql_int(&env.db, "SELECT max(id) FROM jobs");
}

static int
job_exists(int64_t id)
{
	return (int)t_sql_int(&env.db, "SELECT count(*) FROM jobs WHERE id ="
	    " %lld", (long long)id);
}

START_TEST(prune_keeps_recent_queued_running)
{
	int64_t now = clock_now_ms(), old = now - 40 * DAY_MS;
	int64_t queued, running, succ, dead, canc, recent, last;
	struct maint_prune p;

	queued = job_at("queued", 0);
	running = job_at("running", 0);
	succ = job_at("succeeded", old);
	dead = job_at("dead", old);
	canc = job_at("cancelled", old);
	recent = job_at("succeeded", now - DAY_MS);
	last = job_at("succeeded", old);	/* the highest id */

	maint_prune_init(&p, &env.cfg, now);
	ck_assert_int_eq(p.jobs_before, now - 30 * DAY_MS);
	ck_assert_int_eq(p.messages_before, 0);
	ck_assert_int_eq(maint_prune(&env.db, &p), 0);
	ck_assert_int_eq(p.jobs, 3);
	ck_assert_int_eq(job_exists(queued), 1);
	ck_assert_int_eq(job_exists(running), 1);
	ck_assert_int_eq(job_exists(succ), 0);
	ck_assert_int_eq(job_exists(dead), 0);
	ck_assert_int_eq(job_exists(canc), 0);
	ck_assert_int_eq(job_exists(recent), 1);
	/* kept so that its id is never handed out again */
	ck_assert_int_eq(job_exists(last), 1);

	/* a second run finds nothing */
	ck_assert_int_eq(maint_prune(&env.db, &p), 0);
	ck_assert_int_eq(p.jobs, 0);

	/* the job type does the same with the config */
	job_at("succeeded", old);
	job_at("succeeded", old);
	{
		struct job_outcome out;

		ck_assert_int_eq(run_type(&job_prune, "{}", &out), JOB_OK);
	}
	ck_assert_int_eq(job_exists(last), 0);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs"), 4);
}
END_TEST

START_TEST(prune_in_batches)
{
	int64_t now = clock_now_ms(), i;
	struct maint_prune p;

	t_exec(&env.db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL"
	    " SELECT i + 1 FROM n WHERE i < 2500) INSERT INTO jobs (type,"
	    " state, run_at, created_at, finished_at) SELECT 'noop',"
	    " 'succeeded', 0, 0, %lld FROM n", (long long)(now - 60 * DAY_MS));
	i = job_at("queued", 0);
	memset(&p, 0, sizeof(p));
	p.jobs_before = now - 30 * DAY_MS;
	p.batch = 100;
	ck_assert_int_eq(maint_prune(&env.db, &p), 0);
	ck_assert_int_eq(p.jobs, 2500);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs"), 1);
	ck_assert_int_eq(job_exists(i), 1);
	if (sqlite_only("EXPLAIN QUERY PLAN is SQLite's"))
		return;
	/* the batches find the old rows by the jobs_finished index */
	{
		sqlite3_stmt *st = NULL;
		char plan[1024] = "";

		ck_assert_int_eq(sqlite3_prepare_v2(env.db.sql, "EXPLAIN QUERY"
		    " PLAN SELECT id FROM jobs WHERE state IN ('succeeded',"
		    "'dead','cancelled') AND finished_at < 5 AND id < (SELECT"
		    " max(id) FROM jobs) LIMIT 10", -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			strlcat(plan, (const char *)sqlite3_column_text(st, 3),
			    sizeof(plan));
			strlcat(plan, " / ", sizeof(plan));
		}
		sqlite3_finalize(st);
		ck_assert_msg(strstr(plan, "jobs_finished") != NULL,
		    "plan: %s", plan);
	}
}
END_TEST

static int64_t
msg_at(const char *dir, const char *status, int64_t created)
{
	t_exec(&env.db, "INSERT INTO messages (contact, bot, direction, text,"
	    " status, created_at) VALUES (1, 'anna', '%s', 'm', nullif('%s',"
	    " ''), %lld)", dir, status, (long long)created);
	return t_sql_int(&env.db, "SELECT max(id) FROM messages");
}

static int
msg_exists(int64_t id)
{
	return (int)t_sql_int(&env.db, "SELECT count(*) FROM messages WHERE"
	    " id = %lld", (long long)id);
}

START_TEST(prune_messages_and_workers)
{
	int64_t now = clock_now_ms(), old = now - 100 * DAY_MS;
	int64_t in_old, sent, failed, draft, queued, sending, uncertain;
	int64_t in_new, last;
	struct maint_prune p;

	t_exec(&env.db, "INSERT INTO contacts (id, bot, platform_id,"
	    " created_at, updated_at) VALUES (1, 'anna', 'p1', 0, 0)");
	in_old = msg_at("in", "", old);
	sent = msg_at("out", "sent", old);
	failed = msg_at("out", "failed", old);
	draft = msg_at("out", "draft", old);
	queued = msg_at("out", "queued", old);
	sending = msg_at("out", "sending", old);
	uncertain = msg_at("out", "uncertain", old);
	in_new = msg_at("in", "", now - 3600 * 1000);
	last = msg_at("in", "", old);

	/* retention off by default: no message is touched */
	maint_prune_init(&p, &env.cfg, now);
	ck_assert_int_eq(maint_prune(&env.db, &p), 0);
	ck_assert_int_eq(p.messages, 0);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM messages"),
	    9);

	/* a retention shorter than a day counts as one day */
	env.cfg.maint.prune_messages_after_ms = 60 * 1000;
	maint_prune_init(&p, &env.cfg, now);
	ck_assert_int_eq(p.messages_before, now - DAY_MS);

	env.cfg.maint.prune_messages_after_ms = 30 * DAY_MS;
	maint_prune_init(&p, &env.cfg, now);
	ck_assert_int_eq(p.messages_before, now - 30 * DAY_MS);
	p.batch = 2;
	ck_assert_int_eq(maint_prune(&env.db, &p), 0);
	ck_assert_int_eq(p.messages, 3);
	ck_assert_int_eq(msg_exists(in_old), 0);
	ck_assert_int_eq(msg_exists(sent), 0);
	ck_assert_int_eq(msg_exists(failed), 0);
	ck_assert_int_eq(msg_exists(draft), 1);
	ck_assert_int_eq(msg_exists(queued), 1);
	ck_assert_int_eq(msg_exists(sending), 1);
	ck_assert_int_eq(msg_exists(uncertain), 1);
	ck_assert_int_eq(msg_exists(in_new), 1);
	ck_assert_int_eq(msg_exists(last), 1);

	/* workers: stale and idle goes; stale holding a job, fresh stay */
	t_exec(&env.db, "INSERT INTO workers (id, pid, host, started_at,"
	    " heartbeat_at) VALUES ('gone', 1, 'h', 0, %lld), ('busy', 2,"
	    " 'h', 0, %lld), ('live', 3, 'h', 0, %lld)",
	    (long long)(now - DAY_MS), (long long)(now - DAY_MS),
	    (long long)now);
	t_exec(&env.db, "INSERT INTO jobs (type, state, run_at, created_at,"
	    " worker) VALUES ('noop', 'running', 0, 0, 'busy')");
	maint_prune_init(&p, &env.cfg, now);
	ck_assert_int_eq(maint_prune(&env.db, &p), 0);
	ck_assert_int_eq(p.workers, 1);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM workers"
	    " WHERE id IN ('busy', 'live')"), 2);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM workers"),
	    2);
}
END_TEST

/* ---- optimize --------------------------------------------------------- */

static int64_t
wal_size(void)
{
	char path[PATH_MAX + 8];
	struct stat st;

	snprintf(path, sizeof(path), "%s-wal", env.path);
	return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* A second connection holding a read snapshot: no checkpoint can reset
 * the WAL while it lives. */
static sqlite3 *
open_reader(void)
{
	sqlite3 *r = NULL;
	char *msg = NULL;

	ck_assert_int_eq(sqlite3_open_v2(env.path, &r, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(r, "BEGIN; SELECT count(*) FROM jobs;",
	    NULL, NULL, &msg) == SQLITE_OK, "reader: %s", msg);
	return r;
}

static void
close_reader(sqlite3 *r)
{
	ck_assert_int_eq(sqlite3_exec(r, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_close(r), SQLITE_OK);
}

static void
write_many(void)
{
	int i;

	/* many commits, each appending frames the reader pins */
	for (i = 0; i < 40; i++)
		t_exec(&env.db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL"
		    " SELECT i + 1 FROM n WHERE i < 100) INSERT INTO jobs"
		    " (type, payload, run_at, created_at) SELECT 'noop',"
		    " json_object('pad', hex(randomblob(200))), 0, 0 FROM n");
}

static void
integrity_ok(void)
{
	char buf[64];

	t_sql_text(&env.db, buf, sizeof(buf), "PRAGMA integrity_check");
	ck_assert_str_eq(buf, "ok");
}

START_TEST(optimize_bounds_wal)
{
	const int64_t limit = 64 * 1024;
	struct maint_optimize r;
	sqlite3 *reader;

	if (sqlite_only("about the -wal file"))
		return;
	reader = open_reader();
	write_many();
	ck_assert_msg(wal_size() > 4 * limit, "-wal only %lld bytes",
	    (long long)wal_size());
	close_reader(reader);

	ck_assert_int_eq(maint_optimize(&env.db, limit, &r), 0);
	ck_assert_int_eq(r.busy, 0);
	ck_assert_int_gt(r.wal_before, 4 * limit);
	ck_assert_int_ge(r.wal_bytes, 0);
	ck_assert_int_le(r.wal_bytes, limit);
	ck_assert_int_le(wal_size(), limit);
	ck_assert_int_eq(t_sql_int(&env.db, "PRAGMA journal_size_limit"),
	    limit);
	integrity_ok();
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs"),
	    4000);

	/* the job type with the configured limit */
	{
		struct job_outcome out;

		env.cfg.maint.journal_size_limit = limit;
		reader = open_reader();
		write_many();
		close_reader(reader);
		ck_assert_int_gt(wal_size(), limit);
		ck_assert_int_eq(run_type(&job_optimize, "{}", &out), JOB_OK);
		ck_assert_int_le(wal_size(), limit);
		integrity_ok();
	}
}
END_TEST

START_TEST(optimize_busy_is_retried)
{
	struct job_outcome out;
	struct maint_optimize r;
	sqlite3 *reader;

	if (sqlite_only("about SQLite's WAL checkpoint"))
		return;
	env.db.busy_timeout_ms = 50;
	reader = open_reader();
	write_many();
	ck_assert_int_eq(maint_optimize(&env.db, 0, &r), 0);
	ck_assert_int_eq(r.busy, 1);
	ck_assert_int_gt(r.log, 0);
	ck_assert_int_lt(r.checkpointed, r.log);
	ck_assert_int_gt(r.wal_bytes, 0);
	ck_assert_int_eq(run_type(&job_optimize, "{}", &out), JOB_RETRY);
	ck_assert_msg(strstr(out.error, "busy 1") != NULL, "error '%s'",
	    out.error);
	close_reader(reader);
	ck_assert_int_eq(run_type(&job_optimize, "{}", &out), JOB_OK);
	ck_assert_int_le(wal_size(), env.cfg.maint.journal_size_limit);
	integrity_ok();
}
END_TEST

/* On PostgreSQL: VACUUM (ANALYZE) of every table of the schema, which
 * the statistics views show; not inside a transaction. */
START_TEST(optimize_vacuums_on_postgresql)
{
	struct job_outcome out;
	struct maint_optimize r;

	if (env.db.pg == NULL)
		return;		/* SQLite: optimize_bounds_wal */
	add_jobs(20, NULL);
	t_exec(&env.db, "DELETE FROM jobs");
	ck_assert_int_eq(maint_optimize(&env.db, 0, &r), 0);
	ck_assert_str_eq(r.error, "");
	ck_assert_int_eq(r.tables, t_sql_int(&env.db, "SELECT count(*) FROM"
	    " pg_tables WHERE schemaname = current_schema()"));
	ck_assert_int_ge(r.tables, 9);
	ck_assert_int_eq(r.busy, 0);
	ck_assert_int_eq(r.wal_bytes, -1);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM"
	    " pg_stat_user_tables WHERE schemaname = current_schema()"
	    " AND last_vacuum IS NOT NULL AND last_analyze IS NOT NULL"),
	    r.tables);
	ck_assert_int_eq(run_type(&job_optimize, "{}", &out), JOB_OK);

	ck_assert_int_eq(db_begin(&env.db), 0);
	ck_assert_int_eq(maint_optimize(&env.db, 0, &r), -1);
	ck_assert_ptr_nonnull(strstr(r.error, "transaction"));
	db_rollback(&env.db);
}
END_TEST

/* ---- rollup ----------------------------------------------------------- */

static int64_t day0;	/* 2026-03-10T00:00:00Z */

static void
contact(int id, const char *bot, int64_t initiated)
{
	t_exec(&env.db, "INSERT INTO contacts (id, bot, platform_id,"
	    " initiated_at, created_at, updated_at) VALUES (%d, '%s', 'p%d',"
	    " nullif(%lld, 0), 0, 0)", id, bot, id, (long long)initiated);
}

static void
inbound(int contact_id, const char *bot, int64_t at)
{
	t_exec(&env.db, "INSERT INTO messages (contact, bot, direction, text,"
	    " created_at) VALUES (%d, '%s', 'in', 'hi', %lld)", contact_id,
	    bot, (long long)at);
}

static void
outbound(int contact_id, const char *bot, const char *kind,
    const char *status, int64_t at)
{
	t_exec(&env.db, "INSERT INTO messages (contact, bot, direction, kind,"
	    " text, status, created_at, sent_at) VALUES (%d, '%s', 'out',"
	    " '%s', 'yo', '%s', %lld, CASE WHEN '%s' = 'sent' THEN %lld END)",
	    contact_id, bot, kind, status, (long long)at, status,
	    (long long)at);
}

static void
dead_job(const char *bot, const char *state, int64_t at)
{
	t_exec(&env.db, "INSERT INTO jobs (type, bot, state, run_at,"
	    " created_at, finished_at) VALUES ('send', nullif('%s', ''), '%s',"
	    " 0, 0, %lld)", bot, state, (long long)at);
}

static const char sql_metrics[] =
    "SELECT received, sent, initiations, initiation_replies, llm_calls,"
    " tokens_in, tokens_out, cost_usd, job_failures, bot, day"
    " FROM metrics_daily WHERE (?1 IS NULL OR (bot = ?1 AND day = ?2))"
    " ORDER BY bot, day";

/* The row at st as "received sent ... 0.25 job_failures". */
static void
format_metrics(struct dbst *st, char *buf, size_t len)
{
	snprintf(buf, len, "%lld %lld %lld %lld %lld %lld %lld %.2f %lld",
	    (long long)db_col_int64(st, 0), (long long)db_col_int64(st, 1),
	    (long long)db_col_int64(st, 2), (long long)db_col_int64(st, 3),
	    (long long)db_col_int64(st, 4), (long long)db_col_int64(st, 5),
	    (long long)db_col_int64(st, 6), db_col_double(st, 7),
	    (long long)db_col_int64(st, 8));
}

/* A day's metrics row of bot, formatted in C (printf() is SQLite's). */
static void
metrics_row(char *buf, size_t len, const char *bot, const char *day)
{
	struct dbst *st = db_stmt(&env.db, sql_metrics);

	ck_assert_ptr_nonnull(st);
	db_bind_text(st, 1, bot);
	db_bind_text(st, 2, day);
	if (db_step(st) == DB_ROW)
		format_metrics(st, buf, len);
	else
		strlcpy(buf, "none", len);
	db_reset(st);
}

/* Every metrics row, each "bot day counts", in order. */
static void
metrics_all(char *buf, size_t len)
{
	struct dbst *st = db_stmt(&env.db, sql_metrics);
	char row[256];

	ck_assert_ptr_nonnull(st);
	db_bind_null(st, 1);
	db_bind_null(st, 2);
	buf[0] = '\0';
	while (db_step(st) == DB_ROW) {
		format_metrics(st, row, sizeof(row));
		strlcat(buf, db_col_text(st, 9), len);
		strlcat(buf, " ", len);
		strlcat(buf, db_col_text(st, 10), len);
		strlcat(buf, " ", len);
		strlcat(buf, row, len);
		strlcat(buf, ",", len);
	}
	db_reset(st);
}

/* The source rows of 2026-03-10 and around it. */
static void
rollup_fixture(void)
{
	const int64_t h = 3600 * 1000;

	ck_assert_int_eq(maint_parse_day("2026-03-10", &day0), 0);
	contact(1, "anna", day0 + 1 * h);	/* got an opener */
	contact(2, "anna", 0);			/* wrote first */
	contact(3, "anna", day0 - 5 * DAY_MS);	/* opener long ago */
	contact(4, "bob", 0);
	outbound(1, "anna", "opener", "sent", day0 + 1 * h);
	inbound(1, "anna", day0 + 2 * h);	/* reply to the opener */
	inbound(1, "anna", day0 + 3 * h);	/* not the first */
	inbound(2, "anna", day0);		/* first instant counts */
	outbound(2, "anna", "reply", "sent", day0 + 4 * h);
	outbound(2, "anna", "reply", "draft", day0 + 5 * h);	/* unsent */
	outbound(2, "anna", "reply", "failed", day0 + 5 * h);
	inbound(3, "anna", day0 + 6 * h);	/* late reply to an opener */
	inbound(2, "anna", day0 - 1);		/* the day before */
	inbound(2, "anna", day0 + DAY_MS);	/* the day after */
	outbound(3, "anna", "opener", "sent", day0 + DAY_MS);
	inbound(4, "bob", day0 + 7 * h);
	dead_job("bob", "dead", day0 + 8 * h);
	dead_job("bob", "dead", day0 + 9 * h);
	dead_job("bob", "dead", day0 + DAY_MS + 1);
	dead_job("bob", "succeeded", day0 + 8 * h);
	dead_job("", "dead", day0 + 8 * h);
	/* wrong on purpose; the LLM counts must survive */
	t_exec(&env.db, "INSERT INTO metrics_daily VALUES ('anna',"
	    " '2026-03-10', 99, 0, 7, 5, 3, 100, 50, 0.25, 4)");
	t_exec(&env.db, "INSERT INTO metrics_daily VALUES ('carol',"
	    " '2026-03-10', 2, 2, 1, 1, 8, 10, 20, 0.5, 1)");
	t_exec(&env.db, "INSERT INTO metrics_daily VALUES ('anna',"
	    " '2026-03-09', 42, 0, 0, 0, 0, 0, 0, 0, 0)");
}

START_TEST(rollup_fixes_and_is_idempotent)
{
	struct maint_rollup r;
	char row[128], all1[2048], all2[2048];

	rollup_fixture();
	ck_assert_int_eq(maint_rollup(&env.db, "2026-03-10", 0, 0, &r), 0);
	ck_assert_int_eq(r.messages, 1);
	ck_assert_int_eq(r.replies, 1);
	ck_assert_int_eq(r.failures, 1);
	ck_assert_int_eq(r.rows, 3);
	/* anna: received 4 (0h, 2h, 3h, 6h), sent 2 (the draft and the
	 * failed one were not), 1 opener, 2 replies to openers (contact 1
	 * at 2h; contact 3's first message at 6h answers an old opener),
	 * no dead jobs; the LLM counts as they were */
	metrics_row(row, sizeof(row), "anna", "2026-03-10");
	ck_assert_str_eq(row, "4 2 1 2 3 100 50 0.25 0");
	metrics_row(row, sizeof(row), "bob", "2026-03-10");
	ck_assert_str_eq(row, "1 0 0 0 0 0 0 0.00 2");
	metrics_row(row, sizeof(row), "carol", "2026-03-10");
	ck_assert_str_eq(row, "0 0 0 0 8 10 20 0.50 0");
	/* other days untouched */
	metrics_row(row, sizeof(row), "anna", "2026-03-09");
	ck_assert_str_eq(row, "42 0 0 0 0 0 0 0.00 0");

	metrics_all(all1, sizeof(all1));
	ck_assert_int_eq(maint_rollup(&env.db, "2026-03-10", 0, 0, &r), 0);
	ck_assert_int_eq(r.rows, 3);
	metrics_all(all2, sizeof(all2));
	ck_assert_str_eq(all1, all2);
	ck_assert_ptr_nonnull(strstr(all1, "anna 2026-03-10 4 2 1 2 3 100 50"
	    " 0.25 0,"));

	/* a day with nothing at all: no rows made */
	ck_assert_int_eq(maint_rollup(&env.db, "2026-01-01", 0, 0, &r), 0);
	ck_assert_int_eq(r.rows, 0);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM"
	    " metrics_daily"), 4);
	ck_assert_int_eq(maint_rollup(&env.db, "2026-02-30", 0, 0, &r), -1);
	ck_assert_ptr_nonnull(strstr(r.error, "2026-02-30"));
}
END_TEST

START_TEST(rollup_keeps_what_was_pruned)
{
	struct maint_rollup r;
	char row[128];

	rollup_fixture();
	/* messages of the day may be gone: their columns stay as they are,
	 * job_failures is recomputed */
	ck_assert_int_eq(maint_rollup(&env.db, "2026-03-10", day0 + 1,
	    0, &r), 0);
	ck_assert_int_eq(r.messages, 0);
	ck_assert_int_eq(r.replies, 0);
	ck_assert_int_eq(r.failures, 1);
	metrics_row(row, sizeof(row), "anna", "2026-03-10");
	ck_assert_str_eq(row, "99 0 7 5 3 100 50 0.25 0");
	metrics_row(row, sizeof(row), "bob", "2026-03-10");
	ck_assert_str_eq(row, "0 0 0 0 0 0 0 0.00 2");

	/* messages pruned only before the day: counts recomputed, but not
	 * initiation_replies (it needs a contact's whole history) */
	ck_assert_int_eq(maint_rollup(&env.db, "2026-03-10", day0 - DAY_MS,
	    day0 + 1, &r), 0);
	ck_assert_int_eq(r.messages, 1);
	ck_assert_int_eq(r.replies, 0);
	ck_assert_int_eq(r.failures, 0);
	metrics_row(row, sizeof(row), "anna", "2026-03-10");
	ck_assert_str_eq(row, "4 2 1 5 3 100 50 0.25 0");
	metrics_row(row, sizeof(row), "bob", "2026-03-10");
	ck_assert_str_eq(row, "1 0 0 0 0 0 0 0.00 2");
}
END_TEST

START_TEST(rollup_job_defaults_to_yesterday)
{
	struct job_outcome out;
	char yesterday[MAINT_DAY_LEN], after[MAINT_DAY_LEN], row[128];
	int64_t start;

	t_exec(&env.db, "INSERT INTO contacts (id, bot, platform_id,"
	    " created_at, updated_at) VALUES (1, 'anna', 'p1', 0, 0)");
	/* twice at most: once more if midnight (UTC) came in between */
	do {
		maint_format_day(clock_now_ms() - DAY_MS, yesterday,
		    sizeof(yesterday));
		ck_assert_int_eq(maint_parse_day(yesterday, &start), 0);
		inbound(1, "anna", start + 1000);
		t_exec(&env.db, "INSERT INTO metrics_daily (bot, day,"
		    " received, llm_calls) VALUES ('anna', '%s', 17, 2)",
		    yesterday);
		ck_assert_int_eq(run_type(&job_rollup, "{}", &out), JOB_OK);
		maint_format_day(clock_now_ms() - DAY_MS, after,
		    sizeof(after));
	} while (strcmp(yesterday, after) != 0);
	metrics_row(row, sizeof(row), "anna", yesterday);
	ck_assert_str_eq(row, "1 0 0 0 2 0 0 0.00 0");

	/* an explicit day */
	t_exec(&env.db, "INSERT INTO metrics_daily (bot, day, sent)"
	    " VALUES ('anna', '2020-01-01', 5)");
	ck_assert_int_eq(run_type(&job_rollup, "{\"day\": \"2020-01-01\"}",
	    &out), JOB_OK);
	metrics_row(row, sizeof(row), "anna", "2020-01-01");
	ck_assert_str_eq(row, "0 0 0 0 0 0 0 0.00 0");
}
END_TEST

/* ---- days and payloads ------------------------------------------------ */

START_TEST(days)
{
	static const char *bad[] = { "", "2024-2-29", "2024-02-29x",
	    "2023-02-29", "2024-13-01", "2024-00-10", "2024-01-00",
	    "2024-04-31", "1969-12-31", "2024/01/01", " 2024-01-01",
	    "2024-01-1" };
	char buf[MAINT_DAY_LEN];
	int64_t ms = 7;
	size_t i;

	ck_assert_int_eq(maint_parse_day("1970-01-01", &ms), 0);
	ck_assert_int_eq(ms, 0);
	ck_assert_int_eq(maint_parse_day("2024-02-29", &ms), 0);
	ck_assert_int_eq(ms, 1709164800000LL);
	ck_assert_str_eq(maint_format_day(ms + DAY_MS - 1, buf, sizeof(buf)),
	    "2024-02-29");
	ck_assert_str_eq(maint_format_day(ms + DAY_MS, buf, sizeof(buf)),
	    "2024-03-01");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 7;
		ck_assert_msg(maint_parse_day(bad[i], &ms) == -1,
		    "'%s' accepted", bad[i]);
		ck_assert_int_eq(ms, 7);
	}
}
END_TEST

START_TEST(payloads)
{
	const struct job_type *none[] = { &job_backup, &job_prune,
	    &job_optimize };
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		ck_assert_int_eq(payload_ok(none[i], "{}", err, sizeof(err)),
		    0);
		ck_assert_int_eq(payload_ok(none[i], "{\"dir\": \"/tmp\"}", err,
		    sizeof(err)), -1);
		ck_assert_msg(strstr(err, ".dir: unknown field") != NULL,
		    "%s: '%s'", none[i]->name, err);
		ck_assert_ptr_eq(job_find(jobs_table, none[i]->name), none[i]);
	}
	ck_assert_ptr_eq(job_find(jobs_table, "rollup"), &job_rollup);
	ck_assert_int_eq(payload_ok(&job_rollup, "{}", err, sizeof(err)), 0);
	ck_assert_int_eq(payload_ok(&job_rollup, "{\"day\": \"2024-02-29\"}",
	    err, sizeof(err)), 0);
	ck_assert_int_eq(payload_ok(&job_rollup, "{\"day\": \"2023-02-29\"}",
	    err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, ".day"));
	ck_assert_int_eq(payload_ok(&job_rollup, "{\"day\": 20240101}",
	    err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, ".day"));
	ck_assert_int_eq(payload_ok(&job_rollup, "{\"days\": 3}", err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, ".days: unknown field"));
}
END_TEST

/* The password of a URI goes nowhere but the child's PGPASSWORD. */
START_TEST(pgdump_hides_the_password)
{
	static const struct {
		const char *uri, *bare, *pw;
	} cases[] = {
		{ "postgresql://u:p%40ss@h/db?sslmode=require",
		  "postgresql://u@h/db?sslmode=require", "p@ss" },
		{ "postgresql:///d?host=/tmp/x&password=s3cret&user=root",
		  "postgresql:///d?host=/tmp/x&user=root", "s3cret" },
		{ "postgresql:///d?password=a", "postgresql:///d", "a" },
		{ "postgres://h/db", "postgres://h/db", "" },
		{ "postgresql://u@h:5433/db", "postgresql://u@h:5433/db", "" },
	};
	char dir[PATH_MAX], path[PATH_MAX], bare[256], pw[64], err[512];
	char script[3 * PATH_MAX];
	char *t;
	size_t i;
	int fd;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(pgdump_split_uri(cases[i].uri, bare,
		    sizeof(bare), pw, sizeof(pw)), 0);
		ck_assert_str_eq(bare, cases[i].bare);
		ck_assert_str_eq(pw, cases[i].pw);
	}

	/* a pg_dump that tells what it got */
	t_tmpdir(dir, sizeof(dir));
	t_path(path, sizeof(path), dir, "pg_dump");
	snprintf(script, sizeof(script), "#!/bin/sh\nprintf '%%s\\n' \"$@\" >"
	    " '%s/args'\nprintf '%%s' \"${PGPASSWORD-unset}\" > '%s/pw'\n"
	    "printf PGDMP\n", dir, dir);
	t_write_file(path, script);
	ck_assert_int_eq(chmod(path, 0700), 0);
	ck_assert_int_eq(setenv("PG_BINDIR", dir, 1), 0);
	ck_assert_int_eq(unsetenv("PGPASSWORD"), 0);
	t_path(path, sizeof(path), dir, "out");
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT, 0600), 0);
	ck_assert_int_eq(pgdump_run("postgresql://u:s3cret@h/db?x=1",
	    "my\"schema", fd, err, sizeof(err)), 0);
	close(fd);
	t = t_read_file(path);
	ck_assert_str_eq(t, "PGDMP");
	free(t);
	t_path(path, sizeof(path), dir, "args");
	t = t_read_file(path);
	ck_assert_str_eq(t, "--format=custom\n--no-password\n"
	    "--schema=\"my\"\"schema\"\n--dbname=postgresql://u@h/db?x=1\n");
	free(t);
	t_path(path, sizeof(path), dir, "pw");
	t = t_read_file(path);
	ck_assert_str_eq(t, "s3cret");
	free(t);
	/* no password in the URI: the environment's own, if any */
	ck_assert_int_ge(fd = open("/dev/null", O_WRONLY), 0);
	ck_assert_int_eq(pgdump_run("postgresql://u@h/db", "public", fd, err,
	    sizeof(err)), 0);
	t = t_read_file(path);
	ck_assert_str_eq(t, "unset");
	free(t);

	/* a pg_dump that fails: its message, its status */
	t_path(path, sizeof(path), dir, "pg_dump");
	t_write_file(path, "#!/bin/sh\necho 'pg_dump: error: boom' >&2\n"
	    "echo 'DETAIL: more' >&2\nexit 1\n");
	ck_assert_int_eq(pgdump_run("postgresql://u@h/db", "public", fd, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "exited 1: pg_dump: error: boom; DETAIL:"
	    " more") != NULL, "%s", err);
	close(fd);
	t_rmtree(dir);
}
END_TEST

Suite *
suite_maint(void)
{
	Suite *s = suite_create("maint");
	TCase *tc;

	tc = t_tcase("check");
	tcase_add_test(tc, days);
	tcase_add_test(tc, payloads);
	tcase_add_test(tc, pgdump_hides_the_password);
	suite_add_tcase(s, tc);

	tc = t_tcase("backup");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, backup_copy_is_verified_and_private);
	tcase_add_test(tc, backup_rotation_keeps_newest);
	tcase_add_test(tc, backup_dir_created_and_errors);
	tcase_add_test(tc, backup_job_uses_config);
	tcase_add_test(tc, backup_without_pg_dump);
	suite_add_tcase(s, tc);

	tc = t_tcase("prune");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, prune_keeps_recent_queued_running);
	tcase_add_test(tc, prune_in_batches);
	tcase_add_test(tc, prune_messages_and_workers);
	suite_add_tcase(s, tc);

	tc = t_tcase("optimize");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, optimize_bounds_wal);
	tcase_add_test(tc, optimize_busy_is_retried);
	tcase_add_test(tc, optimize_vacuums_on_postgresql);
	suite_add_tcase(s, tc);

	tc = t_tcase("rollup");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, rollup_fixes_and_is_idempotent);
	tcase_add_test(tc, rollup_keeps_what_was_pruned);
	tcase_add_test(tc, rollup_job_defaults_to_yesterday);
	suite_add_tcase(s, tc);
	return s;
}
