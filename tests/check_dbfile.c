/*
 * check_dbfile: the database as a file (lib/dbfile.c). A backup into a
 * named file is one private (0600), verified file with the same rows,
 * replaces a regular file, leaves no temporary folder, and refuses a
 * symbolic link, a directory, a FIFO or a missing folder, touching
 * none. A restore refuses a file that is missing, not SQLite, of
 * another schema version or not a dater database, and a database whose
 * running jobs hold a lease or whose workers are alive (unless forced);
 * it brings back the backup's rows, drops its worker rows and gives its
 * running jobs back as a lost lease would (queued to run now with an
 * error entry, dead on the last attempt). The check finds nothing in a
 * clean database and names each broken invariant.
 *
 * With DATER_TEST_PG on PostgreSQL: the backup is a pg_dump archive
 * (read back with pg_restore), a restore is refused (saying how to do
 * it with pg_restore), and the check names the same problems but
 * SQLite's foreign_key_check; the restore tests of SQLite files return
 * early there (sqlite_only).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "check_dater.h"
#include "../lib/dbfile.h"
#include "../lib/pgdump.h"
#include "../lib/banned.h"

#define NOW 1795637700000LL	/* 2026-11-25T20:15:00Z */
#define LIVE_MS 60000LL

static struct t_env env;

/* Whether the test database is PostgreSQL's; there a test about SQLite
 * files (why) ends here, as a pass. */
static int
sqlite_only(const char *why)
{
	(void)why;	/* the reason is for the reader of the test */
	return env.db.pg != NULL;
}

/* On PostgreSQL: the rows of table in the pg_dump archive file. */
static int
archive_rows(const char *file, const char *table)
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
		else if (on)
			n++;
	}
	ck_assert_int_eq(pclose(p), 0);
	return n;
}

/* The jobs in the backup file, read the way its backend reads it. */
static int
backup_jobs(const char *file)
{
	struct db b;
	int n;

	if (env.db.pg != NULL)
		return archive_rows(file, "jobs");
	ck_assert_int_eq(db_open(&b, file, &env.cfg, 0), 0);
	n = (int)t_sql_int(&b, "SELECT count(*) FROM jobs");
	db_close(&b);
	return n;
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

/* A job row; returns its id. */
static int64_t
job(const char *state, int attempts, int max_attempts, const char *lease,
    const char *worker, const char *unique)
{
	t_exec(&env.db, "INSERT INTO jobs (type, payload, state, run_at,"
	    " attempts, max_attempts, lease_until, worker, unique_key,"
	    " created_at) VALUES ('noop', '{}', '%s', 0, %d, %d, %s, %s, %s,"
	    " 0)", state, attempts, max_attempts, lease, worker, unique);
	return t_sql_int(&env.db, "SELECT max(id) FROM jobs");
}

static void
worker_row(const char *id, int64_t heartbeat)
{
	t_exec(&env.db, "INSERT INTO workers (id, pid, host, started_at,"
	    " heartbeat_at) VALUES ('%s', 1, 'h', 0, %lld)", id,
	    (long long)heartbeat);
}

static int
backup_quiet(const char *file, char *err, size_t len)
{
	struct t_capture cap;
	int rc;

	err[0] = '\0';
	t_stderr_begin(&cap);
	rc = dbfile_backup(&env.db, env.path, file, err, len);
	free(t_stderr_end(&cap));
	return rc;
}

static int
restore_quiet(const char *file, int force, char *err, size_t len)
{
	struct t_capture cap;
	int rc;

	err[0] = '\0';
	t_stderr_begin(&cap);
	rc = dbfile_restore(&env.db, file, force, NOW, LIVE_MS, err, len);
	free(t_stderr_end(&cap));
	return rc;
}

/* Entries of dir whose name contains part. */
static int
entries(const char *dir, const char *part)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, part) != NULL)
			n++;
	closedir(d);
	return n;
}

struct problems {
	char text[4096];
};

static void
collect(void *arg, const char *what)
{
	struct problems *p = arg;

	strlcat(p->text, what, sizeof(p->text));
	strlcat(p->text, "\n", sizeof(p->text));
}

START_TEST(backup_is_private_and_complete)
{
	char file[PATH_MAX], err[256], sql[PATH_MAX];
	struct stat st;

	job("queued", 0, 25, "NULL", "NULL", "'k'");
	job("succeeded", 1, 25, "NULL", "NULL", "NULL");
	t_path(file, sizeof(file), env.dir, "b1.db");
	ck_assert_int_eq(backup_quiet(file, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(entries(env.dir, "dater-backup"), 0);
	t_path(sql, sizeof(sql), env.dir, "b1.db-wal");
	ck_assert_int_eq(access(sql, F_OK), -1);	/* one file */
	ck_assert_int_eq(backup_jobs(file), 2);

	/* A regular file is replaced. */
	job("queued", 0, 25, "NULL", "NULL", "NULL");
	t_write_file(file, "old contents");	/* 0644 */
	ck_assert_int_eq(backup_quiet(file, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(backup_jobs(file), 3);
}
END_TEST

/* A bare file name is in the current directory. */
START_TEST(backup_relative_name)
{
	char err[256], path[PATH_MAX];
	struct stat st;

	ck_assert_int_eq(chdir(env.dir), 0);	/* Check forked this test */
	ck_assert_int_eq(backup_quiet("rel.db", err, sizeof(err)), 0);
	t_path(path, sizeof(path), env.dir, "rel.db");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(entries(env.dir, "dater-backup"), 0);
}
END_TEST

START_TEST(backup_refuses_odd_targets)
{
	char file[PATH_MAX], target[PATH_MAX], err[256];
	struct stat st;

	t_path(target, sizeof(target), env.dir, "target");
	t_write_file(target, "keep me");
	t_path(file, sizeof(file), env.dir, "link");
	ck_assert_int_eq(symlink(target, file), 0);
	ck_assert_int_eq(backup_quiet(file, err, sizeof(err)), -1);
	ck_assert_str_ne(err, "");
	ck_assert_int_eq(lstat(file, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	{
		char *t = t_read_file(target);

		ck_assert_str_eq(t, "keep me");
		free(t);
	}

	t_path(file, sizeof(file), env.dir, "fifo");
	ck_assert_int_eq(mkfifo(file, 0600), 0);
	ck_assert_int_eq(backup_quiet(file, err, sizeof(err)), -1);
	ck_assert_int_eq(lstat(file, &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));

	t_path(file, sizeof(file), env.dir, "adir");
	ck_assert_int_eq(mkdir(file, 0700), 0);
	ck_assert_int_eq(backup_quiet(file, err, sizeof(err)), -1);
	ck_assert_int_eq(lstat(file, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));

	t_path(file, sizeof(file), env.dir, "nodir/b.db");
	ck_assert_int_eq(backup_quiet(file, err, sizeof(err)), -1);
	ck_assert_str_ne(err, "");
	ck_assert_int_eq(entries(env.dir, "dater-backup"), 0);
}
END_TEST

START_TEST(restore_refuses_bad_files)
{
	char file[PATH_MAX], err[256];
	sqlite3 *s;

	if (sqlite_only("restores SQLite files"))
		return;
	job("queued", 0, 25, "NULL", "NULL", "NULL");
	t_path(file, sizeof(file), env.dir, "missing.db");
	ck_assert_int_eq(restore_quiet(file, 0, err, sizeof(err)),
	    DBFILE_BAD_INPUT);
	ck_assert_ptr_nonnull(strstr(err, "missing.db"));

	t_path(file, sizeof(file), env.dir, "text.db");
	t_write_file(file, "this is not a database, not even close to one."
	    " this is not a database, not even close to one.\n");
	ck_assert_int_eq(restore_quiet(file, 1, err, sizeof(err)),
	    DBFILE_BAD_INPUT);
	ck_assert_str_ne(err, "");

	/* An SQLite file, but not dater's. */
	t_path(file, sizeof(file), env.dir, "other.db");
	ck_assert_int_eq(sqlite3_open(file, &s), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(s, "CREATE TABLE t (x);", NULL, NULL,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(s, "PRAGMA user_version = 1", NULL,
	    NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(restore_quiet(file, 1, err, sizeof(err)),
	    DBFILE_BAD_INPUT);
	ck_assert_msg(strstr(err, "schema version 1") != NULL, "%s", err);
	{
		char sql[64];

		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		    db_latest_version());
		ck_assert_int_eq(sqlite3_exec(s, sql, NULL, NULL, NULL),
		    SQLITE_OK);
	}
	sqlite3_close(s);
	ck_assert_int_eq(restore_quiet(file, 1, err, sizeof(err)),
	    DBFILE_BAD_INPUT);
	ck_assert_msg(strstr(err, "not a dater database") != NULL, "%s", err);

	/* The database is as it was. */
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs"), 1);
}
END_TEST

START_TEST(restore_refuses_busy_database)
{
	char file[PATH_MAX], err[256];
	int64_t id;

	if (sqlite_only("restores SQLite files"))
		return;
	t_path(file, sizeof(file), env.dir, "b.db");
	ck_assert_int_eq(backup_quiet(file, err, sizeof(err)), 0);

	/* A lease ending after now. */
	id = job("running", 1, 25, "1795637760000", "'w1'", "NULL");
	ck_assert_int_eq(restore_quiet(file, 0, err, sizeof(err)),
	    DBFILE_BUSY);
	ck_assert_msg(strstr(err, "1 running job holds a lease") != NULL,
	    "%s", err);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs"), 1);

	/* An expired lease holds nothing; a live worker does. */
	t_exec(&env.db, "UPDATE jobs SET lease_until = %lld WHERE id = %lld",
	    NOW - 1, (long long)id);
	worker_row("w1", NOW - LIVE_MS / 2);
	ck_assert_int_eq(restore_quiet(file, 0, err, sizeof(err)),
	    DBFILE_BUSY);
	ck_assert_msg(strstr(err, "1 worker is alive") != NULL, "%s", err);

	/* A worker silent for longer than live_ms is gone. */
	t_exec(&env.db, "UPDATE workers SET heartbeat_at = %lld",
	    NOW - LIVE_MS - 1);
	ck_assert_int_eq(restore_quiet(file, 0, err, sizeof(err)), DBFILE_OK);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs"), 0);
}
END_TEST

START_TEST(restore_forced_while_busy)
{
	char file[PATH_MAX], err[256];

	if (sqlite_only("restores SQLite files"))
		return;
	job("queued", 0, 25, "NULL", "NULL", "NULL");
	t_path(file, sizeof(file), env.dir, "b.db");
	ck_assert_int_eq(backup_quiet(file, err, sizeof(err)), 0);
	job("running", 1, 25, "1795637760000", "'w1'", "NULL");
	worker_row("w1", NOW);
	ck_assert_int_eq(restore_quiet(file, 1, err, sizeof(err)), DBFILE_OK);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs"), 1);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM workers"),
	    0);
}
END_TEST

START_TEST(restore_gives_running_jobs_back)
{
	char file[PATH_MAX], err[256], text[256];
	int64_t again, last, done;
	struct problems p;
	int n = -1;

	if (sqlite_only("restores SQLite files"))
		return;
	again = job("running", 1, 25, "1795637760000", "'w1'", "'u1'");
	last = job("running", 3, 3, "1795637760000", "'w1'", "NULL");
	done = job("succeeded", 1, 25, "NULL", "NULL", "NULL");
	worker_row("w1", NOW);
	t_exec(&env.db, "INSERT INTO kv (key, value, updated_at) VALUES ('k', 'v', 0)");
	t_path(file, sizeof(file), env.dir, "b.db");
	ck_assert_int_eq(backup_quiet(file, err, sizeof(err)), 0);

	/* After the backup: this database moves on, the workers stop. */
	t_exec(&env.db, "DELETE FROM workers");
	t_exec(&env.db, "UPDATE jobs SET state = 'succeeded', lease_until ="
	    " NULL, worker = NULL");
	job("queued", 0, 25, "NULL", "NULL", "NULL");
	t_exec(&env.db, "DELETE FROM kv");

	ck_assert_int_eq(restore_quiet(file, 0, err, sizeof(err)), DBFILE_OK);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs"), 3);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM kv WHERE"
	    " key = 'k'"), 1);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM workers"),
	    0);
	t_sql_text(&env.db, text, sizeof(text), "SELECT state || ' ' ||"
	    " run_at || ' ' || attempts || ' ' || coalesce(lease_until, '-') ||"
	    " ' ' || coalesce(worker, '-') || ' ' || unique_key FROM jobs"
	    " WHERE id = %lld", (long long)again);
	ck_assert_str_eq(text, "queued 1795637700000 1 - - u1");
	t_sql_text(&env.db, text, sizeof(text), "SELECT json_extract(errors,"
	    " '$[#-1].error') || ' ' || json_extract(errors, '$[#-1].worker')"
	    " FROM jobs WHERE id = %lld", (long long)again);
	ck_assert_str_eq(text, "restored from a backup while running w1");
	t_sql_text(&env.db, text, sizeof(text), "SELECT state || ' ' ||"
	    " finished_at || ' ' || coalesce(lease_until, '-') FROM jobs"
	    " WHERE id = %lld", (long long)last);
	ck_assert_str_eq(text, "dead 1795637700000 -");
	t_sql_text(&env.db, text, sizeof(text), "SELECT state || ' ' ||"
	    " json_array_length(errors) FROM jobs WHERE id = %lld",
	    (long long)done);
	ck_assert_str_eq(text, "succeeded 0");
	/* The restored database passes the check. */
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(dbfile_check(&env.db, collect, &p, &n), 0);
	ck_assert_msg(n == 0, "%s", p.text);
}
END_TEST

/* On PostgreSQL a restore is refused, saying how to do it, and nothing
 * changes. */
START_TEST(restore_refused_on_postgresql)
{
	char file[PATH_MAX], err[512];

	if (env.db.pg == NULL)
		return;		/* SQLite: the tests above */
	job("queued", 0, 25, "NULL", "NULL", "NULL");
	t_path(file, sizeof(file), env.dir, "b.dump");
	ck_assert_int_eq(backup_quiet(file, err, sizeof(err)), 0);
	job("queued", 0, 25, "NULL", "NULL", "NULL");
	ck_assert_int_eq(restore_quiet(file, 1, err, sizeof(err)),
	    DBFILE_UNSUPPORTED);
	ck_assert_msg(strstr(err, "not supported") != NULL &&
	    strstr(err, "pg_restore") != NULL, "%s", err);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs"), 2);
}
END_TEST

START_TEST(check_clean_database)
{
	struct problems p;
	int n = -1;

	memset(&p, 0, sizeof(p));
	job("queued", 0, 25, "NULL", "NULL", "'a'");
	job("running", 1, 25, "1795637760000", "'w1'", "'b'");
	job("succeeded", 1, 25, "NULL", "NULL", "'a'");
	ck_assert_int_eq(dbfile_check(&env.db, collect, &p, &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_str_eq(p.text, "");
}
END_TEST

START_TEST(check_names_each_problem)
{
	struct problems p;
	int64_t nolease, noworker, leased, over, u1, u2;
	char want[128];
	int n = -1;

	memset(&p, 0, sizeof(p));
	nolease = job("running", 1, 25, "NULL", "'w1'", "NULL");
	noworker = job("running", 1, 25, "1795637760000", "NULL", "NULL");
	leased = job("queued", 1, 25, "1795637760000", "NULL", "NULL");
	over = job("queued", 4, 3, "NULL", "NULL", "NULL");
	t_exec(&env.db, "DROP INDEX jobs_unique");
	u1 = job("queued", 0, 25, "NULL", "NULL", "'dup'");
	u2 = job("running", 1, 25, "1795637760000", "'w1'", "'dup'");
	/* a message whose contact is missing: past the foreign key */
	if (env.db.pg != NULL)
		t_exec(&env.db, "SET session_replication_role = replica");
	else
		t_exec(&env.db, "PRAGMA foreign_keys = OFF");
	t_exec(&env.db, "INSERT INTO messages (id, contact, bot, direction,"
	    " text, created_at) VALUES (7, 99, 'anna', 'in', 'hi', 0)");
	ck_assert_int_eq(dbfile_check(&env.db, collect, &p, &n), 0);

#define HAS(...) do {							\
	snprintf(want, sizeof(want), __VA_ARGS__);			\
	ck_assert_msg(strstr(p.text, want) != NULL, "no '%s' in:\n%s",	\
	    want, p.text);						\
} while (0)
	HAS("job %lld: running without a lease or a worker",
	    (long long)nolease);
	HAS("job %lld: running without a lease or a worker",
	    (long long)noworker);
	HAS("job %lld: queued with a lease", (long long)leased);
	HAS("job %lld: queued with 4 attempts of at most 3", (long long)over);
	HAS("unique key 'dup' held by 2 live jobs: %lld, %lld", (long long)u1,
	    (long long)u2);
	HAS("message 7: contact 99 does not exist");
#undef HAS
	if (env.db.pg != NULL) {
		/* no foreign_key_check: PostgreSQL enforces them itself */
		ck_assert_int_eq(n, 6);
		return;
	}
	ck_assert_msg(strstr(p.text, "foreign_key_check: messages row 7"
	    " refers to a missing contacts row") != NULL, "%s", p.text);
	ck_assert_int_eq(n, 7);
}
END_TEST

Suite *
suite_dbfile(void)
{
	Suite *s = suite_create("dbfile");
	TCase *tc;

	tc = t_tcase("backup");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, backup_is_private_and_complete);
	tcase_add_test(tc, backup_refuses_odd_targets);
	tcase_add_test(tc, backup_relative_name);
	suite_add_tcase(s, tc);

	tc = t_tcase("restore");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, restore_refuses_bad_files);
	tcase_add_test(tc, restore_refuses_busy_database);
	tcase_add_test(tc, restore_forced_while_busy);
	tcase_add_test(tc, restore_gives_running_jobs_back);
	tcase_add_test(tc, restore_refused_on_postgresql);
	suite_add_tcase(s, tc);

	tc = t_tcase("check");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, check_clean_database);
	tcase_add_test(tc, check_names_each_problem);
	suite_add_tcase(s, tc);
	return s;
}
