/*
 * dbfile: see dbfile.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic.h"
#include "clock.h"
#include "dbfile.h"
#include "log.h"
#include "maint.h"
#include "banned.h"

#define ERR_MAX 512

/* ---- backup and restore -------------------------------------------------- */

int
dbfile_backup(struct db *db, const char *uri, const char *file, char *err,
    size_t len)
{
	struct maint_backup b;
	char tmp[PATH_MAX];
	const char *slash = strrchr(file, '/');
	int n, rc = -1;

	/* A private folder beside file: maint_backup names its copy, and a
	 * rename within one file system puts it in place at once. */
	if (slash == NULL)
		n = snprintf(tmp, sizeof(tmp), ".dater-backup.XXXXXX");
	else
		n = snprintf(tmp, sizeof(tmp), "%.*s/.dater-backup.XXXXXX",
		    (int)(slash - file), file);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return log_errf(err, len, "'%s': path too long", file);
	/* refuse a device, a FIFO, a link ... before the long copy */
	if (atomic_check(file, err, len) != ATOMIC_OK)
		return -1;
	if (mkdtemp(tmp) == NULL)
		return log_errf(err, len, "create a folder beside '%s': %s", file,
		    strerror(errno));
	memset(&b, 0, sizeof(b));
	if (maint_backup(db, uri, tmp, 1, &b) < 0) {
		log_errf(err, len, "%s", b.error);
		goto out;
	}
	/* the copy is fsynced and verified: check again, rename, sync */
	if (atomic_replace(b.path, file, err, len) != ATOMIC_OK) {
		unlink(b.path);
		goto out;
	}
	rc = 0;
out:
	rmdir(tmp);
	return rc;
}

/* Every row of a one-column pragma that is not "ok", to problem. */
static int
pragma_rows(sqlite3 *conn, const char *sql, const char *what,
    void (*problem)(void *, const char *), void *arg, int *n)
{
	sqlite3_stmt *st;
	char line[ERR_MAX];
	const unsigned char *t;
	int rc;

	if (sqlite3_prepare_v2(conn, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		t = sqlite3_column_text(st, 0);
		if (t != NULL && strcmp((const char *)t, "ok") == 0)
			continue;
		snprintf(line, sizeof(line), "%s: %s", what,
		    t != NULL ? (const char *)t : "(null)");
		problem(arg, line);
		(*n)++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
first_problem(void *arg, const char *what)
{
	char *buf = arg;

	if (*buf == '\0')
		strlcpy(buf, what, ERR_MAX);
}

/* Open file read-only and check that it is a good dater database. */
static int
verify_backup(const char *file, sqlite3 **out, char *err, size_t len)
{
	static const char sql_tables[] =
	    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name"
	    " IN ('jobs', 'workers', 'kv', 'contacts', 'messages',"
	    " 'metrics_daily')";
	char first[ERR_MAX] = "";
	sqlite3 *src = NULL;
	sqlite3_stmt *st = NULL;
	int bad = 0, v = -1, tables = 0;

	if (access(file, R_OK) < 0) {
		log_errf(err, len, "'%s': %s", file, strerror(errno));
		goto fail;
	}
	if (sqlite3_open_v2(file, &src, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK || pragma_rows(src, "PRAGMA integrity_check",
	    "integrity_check", first_problem, first, &bad) < 0) {
		log_errf(err, len, "'%s': %s", file, src != NULL ?
		    sqlite3_errmsg(src) : "out of memory");
		goto fail;
	}
	if (bad > 0) {
		log_errf(err, len, "'%s': %s", file, first);
		goto fail;
	}
	if (sqlite3_prepare_v2(src, "PRAGMA user_version", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(src, sql_tables, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		tables = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (v != db_latest_version()) {
		log_errf(err, len, "'%s' has schema version %d, this dater needs "
		    "%d", file, v, db_latest_version());
		goto fail;
	}
	if (tables != 6) {
		log_errf(err, len, "'%s' is not a dater database", file);
		goto fail;
	}
	*out = src;
	return 0;
fail:
	sqlite3_close(src);
	return -1;
}

static const char sql_queue_tables[] =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
    " AND name IN ('jobs', 'workers')";
static const char sql_leases[] =
    "SELECT (SELECT count(*) FROM jobs WHERE state = 'running'"
    "  AND lease_until > ?1),"
    " (SELECT count(*) FROM workers WHERE heartbeat_at >= ?2)";

/* Running jobs with a live lease and live worker rows. */
static int
leases_held(struct db *db, int64_t now, int64_t live_ms, int *jobs,
    int *workers)
{
	struct dbst *st = db_stmt(db, sql_queue_tables);
	int rc, tables = 0;

	if (st == NULL)
		return -1;
	if ((rc = db_step(st)) == DB_ROW)
		tables = db_col_int(st, 0);
	db_reset(st);
	*jobs = *workers = 0;
	if (rc != DB_ROW)
		return db_fail(db, "read the schema of");
	if (tables < 2)		/* a new database: nothing holds it */
		return 0;
	if ((st = db_stmt(db, sql_leases)) == NULL)
		return -1;
	db_bind_int64(st, 1, now);
	db_bind_int64(st, 2, now - live_ms);
	rc = db_step(st);
	if (rc == DB_ROW) {
		*jobs = db_col_int(st, 0);
		*workers = db_col_int(st, 1);
	}
	db_reset(st);
	return rc == DB_ROW ? 0 : db_fail(db, "read jobs from");
}

/*
 * In the private copy tmp: no process of the backup's time is alive, so
 * its worker rows go and its running jobs go back to the queue the way
 * a lost lease does (queue.c release): the attempt counts (the job may
 * have done part of its work), the job is queued to run now, or dead
 * when that was its last attempt, with an error entry saying why.
 */
static const char sql_restore_jobs[] =
    "UPDATE jobs SET"
    " state = CASE WHEN attempts >= max_attempts THEN 'dead'"
    "  ELSE 'queued' END,"
    " finished_at = CASE WHEN attempts >= max_attempts THEN ?1"
    "  ELSE NULL END,"
    " run_at = CASE WHEN attempts >= max_attempts THEN run_at"
    "  ELSE ?1 END,"
    " errors = json_insert(errors, '$[#]', json_object('attempt', attempts,"
    "  'at', ?2, 'worker', worker, 'error', ?3)),"
    " lease_until = NULL, worker = NULL"
    " WHERE state = 'running'";

static int
restore_fix(sqlite3 *tmp, int64_t now, char *err, size_t len)
{
	sqlite3_stmt *st = NULL;
	char at[CLOCK_RFC3339_LEN];
	int rc = -1;

	if (sqlite3_exec(tmp, "BEGIN; DELETE FROM workers", NULL, NULL,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(tmp, sql_restore_jobs, -1, &st, NULL) !=
	    SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, clock_format(now, at, sizeof(at)), -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 3, "restored from a backup while running", -1,
	    SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE ||
	    sqlite3_exec(tmp, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		log_errf(err, len, "restore: clear workers and running jobs: %s",
		    sqlite3_errmsg(tmp));
	sqlite3_finalize(st);
	return rc;
}

/* One step of the online backup API: all of from's pages into to. */
static int
copy_db(sqlite3 *to, sqlite3 *from)
{
	sqlite3_backup *b;
	int rc, tries = 0;

	if ((b = sqlite3_backup_init(to, "main", from, "main")) == NULL)
		return sqlite3_errcode(to);
	/* -1: every page in one step, one write transaction on to */
	while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY ||
	    rc == SQLITE_LOCKED) {
		if (++tries > 100)
			break;
		usleep(50000);
	}
	sqlite3_backup_finish(b);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * Copy src into a private temporary database (SQLite's "" file, removed
 * on close), fix it there (restore_fix), then copy that over the open
 * database in one step: other connections see the old database or the
 * fixed restored one, never the backup's running jobs and workers.
 */
static int
restore_from(struct db *db, sqlite3 *src, const char *file, int64_t now,
    char *err, size_t len)
{
	sqlite3 *tmp = NULL;
	int rc = -1, e;

	if (sqlite3_open_v2("", &tmp, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		log_errf(err, len, "restore: a temporary database: %s",
		    tmp != NULL ? sqlite3_errmsg(tmp) : "out of memory");
		goto out;
	}
	if ((e = copy_db(tmp, src)) != SQLITE_OK) {
		log_errf(err, len, "restore: copy '%s': %s", file,
		    sqlite3_errstr(e));
		goto out;
	}
	if (restore_fix(tmp, now, err, len) < 0)
		goto out;
	if ((e = copy_db(db->sql, tmp)) != SQLITE_OK) {
		log_errf(err, len, "restore '%s' into '%s': %s", file, db->path,
		    sqlite3_errstr(e));
		goto out;
	}
	rc = 0;
out:
	sqlite3_close(tmp);
	return rc;
}

int
dbfile_restore(struct db *db, const char *file, int force, int64_t now,
    int64_t live_ms, char *err, size_t len)
{
	sqlite3 *src = NULL;
	int jobs = 0, workers = 0, rc;

	if (db->pg != NULL) {
		log_errf(err, len, "restore into PostgreSQL ('%s') is not "
		    "supported: stop the workers, run pg_restore --clean "
		    "--if-exists --no-owner --single-transaction --dbname=URI "
		    "'%s', then 'dater-migrate check'", db->path, file);
		return DBFILE_UNSUPPORTED;
	}
	if (verify_backup(file, &src, err, len) < 0)
		return DBFILE_BAD_INPUT;
	if (leases_held(db, now, live_ms, &jobs, &workers) < 0) {
		log_errf(err, len, "'%s': cannot read the jobs", db->path);
		rc = -1;
	} else if (!force && (jobs > 0 || workers > 0)) {
		log_errf(err, len, "'%s' is in use: %d running job%s hold%s a "
		    "lease, %d worker%s alive; stop the workers or use --force",
		    db->path, jobs, jobs == 1 ? "" : "s", jobs == 1 ? "s" : "",
		    workers, workers == 1 ? " is" : "s are");
		rc = DBFILE_BUSY;
	} else
		rc = restore_from(db, src, file, now, err, len) < 0 ? -1 :
		    DBFILE_OK;
	sqlite3_close(src);
	return rc;
}

/* ---- check --------------------------------------------------------------- */

/* Each query's rows are problems: its text is column 0. The second is
 * PostgreSQL's, where the first will not do (NULL: the same). */
static const char *const check_sql[][2] = {
	{ "SELECT 'job ' || id || ': running without a lease or a worker'"
	" FROM jobs WHERE state = 'running' AND (lease_until IS NULL"
	" OR worker IS NULL OR worker = '') ORDER BY id", NULL },
	{ "SELECT 'job ' || id || ': queued with a lease'"
	" FROM jobs WHERE state = 'queued' AND lease_until IS NOT NULL"
	" ORDER BY id", NULL },
	{ "SELECT 'job ' || id || ': queued with ' || attempts || ' attempts"
	" of at most ' || max_attempts"
	" FROM jobs WHERE state = 'queued' AND attempts > max_attempts"
	" ORDER BY id", NULL },
	{ "SELECT 'unique key ''' || unique_key || ''' held by ' || count(*) ||"
	" ' live jobs: ' || group_concat(id, ', ')"
	" FROM (SELECT unique_key, id FROM jobs WHERE unique_key IS NOT NULL"
	" AND state IN ('queued', 'running') ORDER BY id)"
	" GROUP BY unique_key HAVING count(*) > 1",
	"SELECT 'unique key ''' || unique_key || ''' held by ' || count(*) ||"
	" ' live jobs: ' || string_agg(id::text, ', ' ORDER BY id)"
	" FROM jobs WHERE unique_key IS NOT NULL"
	" AND state IN ('queued', 'running')"
	" GROUP BY unique_key HAVING count(*) > 1" },
	{ "SELECT 'message ' || m.id || ': contact ' || m.contact ||"
	" ' does not exist' FROM messages m"
	" WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = m.contact)"
	" ORDER BY m.id", NULL },
	{ NULL, NULL }
};

static int
check_fk(struct db *db, void (*problem)(void *, const char *), void *arg,
    int *n)
{
	sqlite3_stmt *st;
	char line[ERR_MAX];
	int rc;

	if (sqlite3_prepare_v2(db->sql, "PRAGMA foreign_key_check", -1, &st,
	    NULL) != SQLITE_OK)
		return db_fail(db, "check foreign keys of");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(line, sizeof(line), "foreign_key_check: %s row %lld "
		    "refers to a missing %s row",
		    (const char *)sqlite3_column_text(st, 0),
		    (long long)sqlite3_column_int64(st, 1),
		    (const char *)sqlite3_column_text(st, 2));
		problem(arg, line);
		(*n)++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "check foreign keys of");
}

int
dbfile_check(struct db *db, void (*problem)(void *arg, const char *what),
    void *arg, int *n)
{
	struct dbst *st;
	int i, rc;

	*n = 0;
	/* PostgreSQL checks its pages and foreign keys itself */
	if (db->sql != NULL && pragma_rows(db->sql, "PRAGMA integrity_check",
	    "integrity_check", problem, arg, n) < 0)
		return db_fail(db, "check integrity of");
	if (db->sql != NULL && check_fk(db, problem, arg, n) < 0)
		return -1;
	for (i = 0; check_sql[i][0] != NULL; i++) {
		st = check_sql[i][1] != NULL ? db_stmt2(db, check_sql[i][0],
		    check_sql[i][1]) : db_stmt(db, check_sql[i][0]);
		if (st == NULL)
			return -1;
		while ((rc = db_step(st)) == DB_ROW) {
			problem(arg, db_col_text(st, 0));
			(*n)++;
		}
		db_reset(st);
		if (rc != DB_DONE)
			return db_fail(db, "check");
	}
	return 0;
}
