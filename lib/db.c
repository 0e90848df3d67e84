#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "pg.h"
#include "schema.h"
#include "banned.h"

int
db_fail(struct db *db, const char *what)
{
	log_err("%s '%s': %s", what, db->path, db_errmsg(db));
	return -1;
}

int
db_exec(struct db *db, const char *sql)
{
	char *msg = NULL;

	if (db->pg != NULL) {
		if (pg_exec(db, sql) == 0)
			return 0;
		log_err("database '%s': %s", db->path, db->pg_msg);
		return -1;
	}
	if (sqlite3_exec(db->sql, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("database '%s': %s", db->path,
		    msg != NULL ? msg : sqlite3_errmsg(db->sql));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Create a missing database file ourselves, so it is 0600 from the start
 * (SQLite would use 0644; its -wal and -shm copy the main file's mode). */
static int
create_private(const char *path)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		log_err("create '%s': %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * The busy handler: SQLite's own sleeps 1 ms, then longer, while a write
 * transaction here lasts ~50 us to ~1 ms, so waiters would idle most of
 * the time. Start with a short sleep and double it up to 1 ms: a waiter
 * behind a queue of others does not wake (and take a CPU from the lock
 * holder) every few tens of microseconds. Give up after the configured
 * busy timeout.
 */
static int
busy_wait(void *arg, int count)
{
	struct db *db = arg;
	struct timespec ts;
	int64_t now = clock_mono_ms(), us;

	if (count == 0)
		db->busy_since_ms = now;
	else if (now - db->busy_since_ms >= db->busy_timeout_ms)
		return 0;
	us = count < 5 ? 50LL << count : 1000;
	db->busy_waits++;
	db->busy_us += us;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)us * 1000;
	nanosleep(&ts, NULL);
	return 1;
}

static int
count_commit(void *arg)
{
	struct db *db = arg;

	db->commits++;
	return 0;	/* go on with the commit */
}

/*
 * Checkpoints, instead of SQLite's automatic ones: those run after any
 * commit that finds the -wal file at 1000 pages or more. The file only
 * starts over at a moment when no connection is reading, which workers
 * that read all the time seldom leave, so it stayed over 1000 pages and
 * nearly every commit ran a checkpoint of the few pages it had added:
 * two fsyncs each, ~1 ms, for ~90% of the commits. Here a connection
 * checkpoints once the file has grown DB_CKPT_PAGES since its own last
 * checkpoint (or since the file started over). Runs after the commit,
 * with the write lock released; PASSIVE: it waits for no one.
 */
static int
wal_grew(void *arg, sqlite3 *sql, const char *name, int pages)
{
	struct db *db = arg;
	int log = 0, done = 0;

	if (pages < db->ckpt_at)
		db->ckpt_at = 0;	/* the file started over */
	if (pages - db->ckpt_at < DB_CKPT_PAGES)
		return SQLITE_OK;
	db->ckpt_at = pages;
	/* Busy (another connection checkpoints) or failed: the next
	 * threshold tries again; the commit stands either way. */
	if (sqlite3_wal_checkpoint_v2(sql, name, SQLITE_CHECKPOINT_PASSIVE,
	    &log, &done) == SQLITE_OK)
		db->checkpoints++;
	return SQLITE_OK;
}

static int
set_pragmas(struct db *db, const struct cfg *cfg, int flags)
{
	char sql[256];
	static const char *sync[] = { "OFF", "NORMAL", "FULL" };

	db->busy_timeout_ms = cfg->busy_timeout_ms;
	if (sqlite3_busy_handler(db->sql, busy_wait, db) != SQLITE_OK)
		return db_fail(db, "busy handler");
	(void)sqlite3_commit_hook(db->sql, count_commit, db);
	if (!(flags & DB_READONLY))
		(void)sqlite3_wal_hook(db->sql, wal_grew, db);
	/* journal_size_limit is per connection: each one that resets the
	 * -wal file cuts it back to the limit. */
	snprintf(sql, sizeof(sql),
	    "PRAGMA foreign_keys=ON; PRAGMA synchronous=%s;"
	    " PRAGMA journal_size_limit=%lld;", sync[cfg->synchronous],
	    (long long)cfg->maint.journal_size_limit);
	if (db_exec(db, sql) < 0)
		return -1;
	if (!(flags & DB_READONLY) && db_exec(db, "PRAGMA journal_mode=WAL;") < 0)
		return -1;
	return 0;
}

static int
check_version(struct db *db)
{
	int v, latest = db_latest_version();

	if (db_version(db, &v) < 0)
		return -1;
	if (v < latest) {
		log_err("database '%s' has schema version %d, this dater needs "
		    "%d: run 'dater-migrate -d %s up'", db->path, v, latest,
		    db->path);
		return DB_NOT_READY;
	}
	if (v > latest) {
		log_err("database '%s' has schema version %d, newer than this "
		    "dater knows (%d): upgrade dater", db->path, v, latest);
		return DB_NOT_READY;
	}
	return 0;
}

/*
 * When another process commits, SQLite drops this connection's whole page
 * cache and reads the pages back. With glibc's defaults each drop hands
 * the memory back to the kernel (heap trim, munmap of the cache's bulk
 * block) and each refill faults it in again: with two workers that was
 * 70% of the CPU time and a 4x lower throughput. Keep freed memory in the
 * process instead; the working set is a few MB.
 */
static void
tune_malloc(void)
{
	mallopt(M_TRIM_THRESHOLD, 16 << 20);
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
}

/* The end of the value of a URI's password= parameter at p. */
static const char *
param_end(const char *p)
{
	return p + strcspn(p, "&");
}

void
db_printable(const char *name, char *out, size_t len)
{
	const char *p, *at, *colon, *start, *q;
	size_t o = 0;

	if (len == 0)
		return;
	out[0] = '\0';
	if (!cfg_is_pg_uri(name)) {
		strlcpy(out, name, len);
		return;
	}
	/* user:password@ in the authority */
	start = strstr(name, "://") + 3;
	at = start + strcspn(start, "@/?");
	colon = memchr(start, ':', (size_t)(at - start));
	for (p = name; *p != '\0' && o + 1 < len; p++) {
		if (*at == '@' && colon != NULL && p == colon + 1) {
			strlcpy(out + o, "***", len - o);
			o = strlen(out);
			p = at - 1;
			continue;
		}
		if ((p == name || p[-1] == '?' || p[-1] == '&') &&
		    strncmp(p, "password=", 9) == 0) {
			strlcpy(out + o, "password=***", len - o);
			o = strlen(out);
			q = param_end(p + 9);
			p = q - 1;
			continue;
		}
		out[o++] = *p;
		out[o] = '\0';
	}
}

static int
open_pg(struct db *db, const char *uri, const struct cfg *cfg, int flags)
{
	int rc;

	if (pg_open(db, uri, cfg, flags) < 0) {
		db_close(db);
		return -1;
	}
	rc = (flags & DB_ANY_VERSION) ? 0 : check_version(db);
	if (rc < 0)
		db_close(db);
	return rc;
}

int
db_open(struct db *db, const char *path, const struct cfg *cfg, int flags)
{
	int oflags, rc;

	tune_malloc();
	memset(db, 0, sizeof(*db));
	if (cfg_is_pg_uri(path)) {
		db_printable(path, db->path, sizeof(db->path));
		return open_pg(db, path, cfg, flags);
	}
	if (strlcpy(db->path, path, sizeof(db->path)) >= sizeof(db->path)) {
		log_err("database '%s': path too long", path);
		memset(db, 0, sizeof(*db));
		return -1;
	}
	if (access(path, F_OK) < 0) {
		if (!(flags & DB_CREATE)) {
			log_err("database '%s' does not exist: run "
			    "'dater-migrate -d %s up'", path, path);
			memset(db, 0, sizeof(*db));
			return DB_NOT_READY;
		}
		if (create_private(path) < 0) {
			memset(db, 0, sizeof(*db));
			return -1;
		}
	}
	oflags = (flags & DB_READONLY) ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE;
	if (sqlite3_open_v2(path, &db->sql, oflags | SQLITE_OPEN_NOMUTEX,
	    NULL) != SQLITE_OK) {
		db_fail(db, "open");
		db_close(db);
		return -1;
	}
	sqlite3_extended_result_codes(db->sql, 1);
	rc = set_pragmas(db, cfg, flags);
	if (rc == 0 && !(flags & DB_ANY_VERSION))
		rc = check_version(db);
	if (rc < 0) {
		db_close(db);
		return rc;
	}
	return 0;
}

static void
stmt_free(struct dbst *st)
{
	if (st == NULL)
		return;
	sqlite3_finalize(st->lite);
	pg_stmt_free(st);
	free(st);
}

/* The DATER_DB_STATS line (see db.h), in one append. */
static void
write_stats(const struct db *db)
{
	const char *path = getenv("DATER_DB_STATS");
	char line[128];
	int fd, n;

	if (path == NULL || *path == '\0' || (db->sql == NULL &&
	    db->pg == NULL))
		return;
	n = snprintf(line, sizeof(line), "commits %lld busy_waits %lld "
	    "busy_us %lld checkpoints %lld\n", (long long)db->commits,
	    (long long)db->busy_waits, (long long)db->busy_us,
	    (long long)db->checkpoints);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_warn("stats '%s': %s", path, strerror(errno));
		return;
	}
	if (write(fd, line, (size_t)n) != n)
		log_warn("stats '%s': short write", path);
	close(fd);
}

void
db_close(struct db *db)
{
	int i;

	write_stats(db);
	db_wake_close(db);
	for (i = 0; i < db->ncache; i++)
		stmt_free(db->cache[i].st);
	if (db->sql != NULL)
		sqlite3_close(db->sql);
	pg_close(db);
	memset(db, 0, sizeof(*db));
}

static struct dbst *
stmt_new(struct db *db, const char *sql, unsigned int flags)
{
	struct dbst *st;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		log_err("database '%s': out of memory", db->path);
		return NULL;
	}
	st->db = db;
	if (db->pg != NULL) {
		if (pg_stmt_init(st, sql) < 0) {
			stmt_free(st);
			log_err("database '%s': out of memory", db->path);
			return NULL;
		}
		return st;
	}
	if (sqlite3_prepare_v3(db->sql, sql, -1, flags, &st->lite, NULL) !=
	    SQLITE_OK) {
		free(st);
		db_fail(db, "prepare on");
		return NULL;
	}
	return st;
}

struct dbst *
db_prepare(struct db *db, const char *sql)
{
	return stmt_new(db, sql, 0);
}

void
db_finalize(struct dbst *st)
{
	stmt_free(st);
}

struct dbst *
db_stmt(struct db *db, const char *sql)
{
	return db_stmt2(db, sql, NULL);
}

struct dbst *
db_stmt2(struct db *db, const char *sql, const char *pg)
{
	struct dbst *st;
	int i;

	for (i = 0; i < db->ncache; i++) {
		if (db->cache[i].text == sql) {
			st = db->cache[i].st;
			db_reset(st);
			if (st->lite != NULL)
				sqlite3_clear_bindings(st->lite);
			else
				pg_clear_bindings(st);
			return st;
		}
	}
	if ((st = stmt_new(db, db->pg != NULL && pg != NULL ? pg : sql,
	    SQLITE_PREPARE_PERSISTENT)) == NULL)
		return NULL;
	if (db->ncache == DB_CACHE_MAX) {
		/* Full: evict the oldest entry. */
		stmt_free(db->cache[0].st);
		memmove(&db->cache[0], &db->cache[1],
		    sizeof(db->cache[0]) * (DB_CACHE_MAX - 1));
		db->ncache--;
	}
	db->cache[db->ncache].text = sql;
	db->cache[db->ncache].st = st;
	db->ncache++;
	return st;
}

int
db_bind_text(struct dbst *st, int i, const char *s)
{
	if (st->pg != NULL)
		return pg_bind_text(st, i, s, -1, 0);
	return sqlite3_bind_text(st->lite, i, s, -1, SQLITE_STATIC) ==
	    SQLITE_OK ? 0 : -1;
}

int
db_bind_text_copy(struct dbst *st, int i, const char *s)
{
	if (st->pg != NULL)
		return pg_bind_text(st, i, s, -1, 1);
	return sqlite3_bind_text(st->lite, i, s, -1, SQLITE_TRANSIENT) ==
	    SQLITE_OK ? 0 : -1;
}

int
db_bind_textn(struct dbst *st, int i, const char *s, int len)
{
	if (st->pg != NULL)
		return pg_bind_text(st, i, s, len, 1);
	return sqlite3_bind_text(st->lite, i, s, len, SQLITE_STATIC) ==
	    SQLITE_OK ? 0 : -1;
}

int
db_bind_int64(struct dbst *st, int i, int64_t v)
{
	if (st->pg != NULL)
		return pg_bind_int64(st, i, v);
	return sqlite3_bind_int64(st->lite, i, v) == SQLITE_OK ? 0 : -1;
}

int
db_bind_int(struct dbst *st, int i, int v)
{
	return db_bind_int64(st, i, v);
}

int
db_bind_double(struct dbst *st, int i, double v)
{
	if (st->pg != NULL)
		return pg_bind_double(st, i, v);
	return sqlite3_bind_double(st->lite, i, v) == SQLITE_OK ? 0 : -1;
}

int
db_bind_null(struct dbst *st, int i)
{
	if (st->pg != NULL)
		return pg_bind_null(st, i);
	return sqlite3_bind_null(st->lite, i) == SQLITE_OK ? 0 : -1;
}

int
db_param_count(struct dbst *st)
{
	if (st->pg != NULL)
		return pg_param_count(st);
	return sqlite3_bind_parameter_count(st->lite);
}

int
db_step(struct dbst *st)
{
	if (st->pg != NULL)
		return pg_step(st);
	return sqlite3_step(st->lite);
}

void
db_reset(struct dbst *st)
{
	if (st->pg != NULL)
		pg_reset(st);
	else
		sqlite3_reset(st->lite);
}

/* PostgreSQL sends every value as text; a boolean is "t" or "f". */
static int64_t
pg_int64(const char *v)
{
	if (v == NULL)
		return 0;
	if (*v == 't')
		return 1;
	return strtoll(v, NULL, 10);
}

int64_t
db_col_int64(struct dbst *st, int col)
{
	if (st->pg != NULL)
		return pg_int64(pg_col(st, col));
	return sqlite3_column_int64(st->lite, col);
}

int
db_col_int(struct dbst *st, int col)
{
	if (st->pg != NULL)
		return (int)pg_int64(pg_col(st, col));
	return sqlite3_column_int(st->lite, col);
}

double
db_col_double(struct dbst *st, int col)
{
	const char *v;

	if (st->pg != NULL) {
		v = pg_col(st, col);
		return v != NULL ? strtod(v, NULL) : 0.0;
	}
	return sqlite3_column_double(st->lite, col);
}

const char *
db_col_text(struct dbst *st, int col)
{
	if (st->pg != NULL)
		return pg_col(st, col);
	return (const char *)sqlite3_column_text(st->lite, col);
}

int
db_col_null(struct dbst *st, int col)
{
	if (st->pg != NULL)
		return pg_col(st, col) == NULL;
	return sqlite3_column_type(st->lite, col) == SQLITE_NULL;
}

int
db_changes(struct db *db)
{
	if (db->pg != NULL)
		return db->pg_changes;
	return sqlite3_changes(db->sql);
}

const char *
db_errmsg(struct db *db)
{
	if (db->pg != NULL)
		return db->pg_msg;
	return db->sql != NULL ? sqlite3_errmsg(db->sql) : "not open";
}

int
db_errcode(struct db *db)
{
	int rc;

	if (db->pg != NULL)
		return db->pg_err;
	if (db->sql == NULL)
		return DB_ERROR;
	rc = sqlite3_extended_errcode(db->sql);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		return DB_UNIQUE;
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return DB_BUSY;
	case SQLITE_FULL:
		return DB_FULL;
	default:
		return DB_ERROR;
	}
}

int
db_in_tx(struct db *db)
{
	if (db->pg != NULL)
		return pg_in_tx(db);
	return db->sql != NULL && !sqlite3_get_autocommit(db->sql);
}

/* Run a cached no-result statement. */
static int
step_done(struct db *db, const char *sql, const char *what)
{
	struct dbst *st = db_stmt(db, sql);
	int rc;

	if (st == NULL)
		return -1;
	rc = db_step(st);
	db_reset(st);
	if (rc != DB_DONE)
		return db_fail(db, what);
	return 0;
}

int
db_begin(struct db *db)
{
	/* Left open but ended meanwhile: SQLite rolls back on some
	 * errors (disk full, I/O) by itself. */
	if (db->later != 0 && !db_in_tx(db))
		db->poisoned = 1;
	if (db->poisoned) {
		log_err("database '%s': a transaction holding earlier writes "
		    "was rolled back; not starting another", db->path);
		return -1;
	}
	if (db->later == 1) {
		db->later = 2;		/* continue the left transaction */
		return 0;
	}
	db->later = 0;
	/* PostgreSQL locks rows, not the database: its writers wait only
	 * for the rows they share. */
	return step_done(db, db->pg != NULL ? "BEGIN" : "BEGIN IMMEDIATE",
	    "begin transaction on");
}

int
db_commit(struct db *db)
{
	/* PostgreSQL answers COMMIT in a failed transaction by rolling
	 * back, without an error. */
	if (pg_tx_failed(db)) {
		log_err("commit on '%s': a statement failed: rolled back",
		    db->path);
		db_rollback(db);
		return -1;
	}
	if (step_done(db, "COMMIT", "commit on") < 0) {
		db_rollback(db);
		return -1;
	}
	db->later = 0;
	return 0;
}

int
db_commit_later(struct db *db)
{
	if (!db_in_tx(db)) {
		log_err("database '%s': no transaction to leave open",
		    db->path);
		return -1;
	}
	db->later = 1;
	return 0;
}

void
db_rollback(struct db *db)
{
	if (db->later != 0)
		db->poisoned = 1;
	db->later = 0;
	if (!db_in_tx(db))
		return;
	if (db->pg != NULL)
		(void)pg_exec(db, "ROLLBACK");
	else
		(void)sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
}

/* The table that holds the schema version on PostgreSQL (PRAGMA
 * user_version on SQLite). */
#define PG_VERSION_TABLE "dater_schema"

/* One integer from a query without parameters; -1 logged. */
static int
query_int(struct db *db, const char *sql, int *v)
{
	struct dbst *st = db_prepare(db, sql);
	int rc;

	if (st == NULL)
		return -1;
	rc = db_step(st);
	if (rc == DB_ROW)
		*v = db_col_int(st, 0);
	db_finalize(st);
	return rc == DB_ROW ? 0 : db_fail(db, "read schema version of");
}

static int
pg_version(struct db *db, int *version)
{
	int exists = 0;

	*version = 0;
	if (query_int(db, "SELECT to_regclass('" PG_VERSION_TABLE "')"
	    " IS NOT NULL", &exists) < 0)
		return -1;
	if (!exists)
		return 0;
	return query_int(db, "SELECT coalesce(max(version), 0) FROM "
	    PG_VERSION_TABLE, version);
}

int
db_version(struct db *db, int *version)
{
	sqlite3_stmt *st;
	int rc;

	if (db->pg != NULL)
		return pg_version(db, version);
	if (sqlite3_prepare_v2(db->sql, "PRAGMA user_version", -1, &st,
	    NULL) != SQLITE_OK)
		return db_fail(db, "read schema version of");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return db_fail(db, "read schema version of");
	return 0;
}

int
db_latest_version(void)
{
	return schema_nmigrations;
}

/* Run one migration; on PostgreSQL with the schema's types mapped
 * (pg_translate). */
static int
migrate_one(struct db *db, const char *sql)
{
	char *t;
	int rc;

	if (db->pg == NULL)
		return db_exec(db, sql);
	if ((t = pg_translate(sql, 1, NULL)) == NULL) {
		log_err("database '%s': out of memory", db->path);
		return -1;
	}
	rc = db_exec(db, t);
	free(t);
	return rc;
}

int
db_migrate(struct db *db, int *from, int *to)
{
	char sql[128];
	int v, start;

	if (db_begin(db) < 0)
		return -1;
	/* Read the version inside the write lock: two migrators serialize
	 * (on PostgreSQL, on an advisory lock held to the commit). */
	if (db->pg != NULL && (db_exec(db, "SELECT pg_advisory_xact_lock("
	    "4242); CREATE TABLE IF NOT EXISTS " PG_VERSION_TABLE
	    " (version INTEGER NOT NULL)") < 0 ||
	    db_exec(db, schema_pg_compat) < 0))
		goto fail;
	if (db_version(db, &v) < 0)
		goto fail;
	start = v;
	if (v > schema_nmigrations) {
		log_err("database '%s' has schema version %d, newer than this "
		    "dater knows (%d)", db->path, v, schema_nmigrations);
		goto fail;
	}
	for (; v < schema_nmigrations; v++) {
		if (v > start && (db_begin(db) < 0 || (db->pg != NULL &&
		    db_exec(db, "SELECT pg_advisory_xact_lock(4242)") < 0)))
			goto fail;
		if (migrate_one(db, schema_migrations[v]) < 0) {
			log_err("migration %d failed; database '%s' stays at "
			    "version %d", v + 1, db->path, v);
			goto fail;
		}
		if (db->pg != NULL)
			snprintf(sql, sizeof(sql), "DELETE FROM " PG_VERSION_TABLE
			    "; INSERT INTO " PG_VERSION_TABLE " VALUES (%d)",
			    v + 1);
		else
			snprintf(sql, sizeof(sql), "PRAGMA user_version=%d",
			    v + 1);
		if (db_exec(db, sql) < 0 || db_commit(db) < 0)
			goto fail;
	}
	if (v == start)
		db_rollback(db);
	*from = start;
	*to = v;
	return 0;
fail:
	db_rollback(db);
	return -1;
}

int
db_tx_open(struct db *db, int *own)
{
	*own = !db_in_tx(db);
	return *own ? db_begin(db) : 0;
}

int
db_tx_close(struct db *db, int own, int ok)
{
	if (!own)
		return ok ? 0 : -1;
	if (ok)
		return db_commit(db);
	db_rollback(db);
	return -1;
}

int
db_run(struct db *db, struct dbst *st, const char *what, int *changes)
{
	int rc = db_step(st);

	db_reset(st);
	if (rc != DB_DONE)
		return db_fail(db, what);
	if (changes != NULL)
		*changes = db_changes(db);
	return 0;
}

int
db_insert_id(struct db *db, struct dbst *st, const char *what, int64_t *id)
{
	int rc = db_step(st);

	*id = 0;
	if (rc == DB_ROW) {
		*id = db_col_int64(st, 0);
		rc = db_step(st);
	}
	db_reset(st);
	return rc == DB_DONE ? 0 : db_fail(db, what);
}

void
db_col_copy(struct dbst *st, int col, char *out, size_t len)
{
	const char *t = db_col_text(st, col);

	strlcpy(out, t != NULL ? t : "", len);
}

char *
db_col_dup(struct dbst *st, int col)
{
	const char *t = db_col_text(st, col);

	return t != NULL ? strdup(t) : NULL;
}
