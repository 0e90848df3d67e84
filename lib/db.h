/*
 * db: the one SQLite connection a process holds, with the pragmas every
 * connection needs (WAL, busy_timeout, foreign_keys, synchronous), write
 * transactions that always BEGIN IMMEDIATE, a cache of prepared
 * statements, and the numbered schema migrations (PRAGMA user_version).
 *
 * A struct db must not cross a fork(): open it in the process that uses it.
 */
#ifndef DATER_DB_H
#define DATER_DB_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "cfg.h"

#define DB_CACHE_MAX 64

/* A connection checkpoints once the -wal file has grown this many pages
 * since its last checkpoint (SQLite's default threshold). */
#define DB_CKPT_PAGES 1000

/*
 * A prepared statement: what db_stmt hands out. Bind with db_bind_*,
 * run with db_step, read rows with db_col_*. The struct db owns it.
 */
struct dbst {
	struct db *db;
	sqlite3_stmt *lite;		/* SQLite's, or NULL */
	struct pgst *pg;		/* PostgreSQL's (pg.c), or NULL */
};

/* db_step's results besides the error codes below. */
enum {
	DB_ROW = 100,
	DB_DONE = 101
};

/* What went wrong, from db_step or db_errcode: the classes callers tell
 * apart. Any other failure is DB_ERROR. */
enum {
	DB_ERROR = 1,
	DB_BUSY = 5,		/* a lock was not had within the busy timeout */
	DB_FULL = 13,		/* the disk is full */
	DB_UNIQUE = 2067	/* a unique constraint refused the row */
};

struct db {
	sqlite3 *sql;			/* SQLite's connection, or NULL */
	void *pg;			/* PostgreSQL's (PGconn), or NULL */
	char path[PATH_MAX];		/* the file, or the URI without password */
	int busy_timeout_ms;		/* give up waiting for a lock after */
	int64_t busy_since_ms;		/* when the current wait began */
	int64_t commits;		/* write transactions committed */
	int64_t busy_waits;		/* busy handler sleeps */
	int64_t busy_us;		/* time slept in them */
	int later;			/* see db_commit_later */
	int ckpt_at;			/* -wal pages at our last checkpoint */
	int64_t checkpoints;		/* checkpoints this connection ran */
	int poisoned;			/* a joined transaction rolled back */
	int pg_changes;			/* rows the last statement changed */
	int pg_err;			/* DB_ERROR... of the last failure */
	char pg_msg[512];		/* and its message */
	char pg_state[6];		/* and its SQLSTATE, "" if none */
	int pg_pos;			/* and where in the SQL (1-based), or 0 */
	unsigned int pg_seq;		/* names of prepared statements */
	struct {
		int on;			/* db_wake_arm ran once */
		int fd;			/* inotify fd or PG's socket, -1 */
		int wd;			/* the inotify watch while armed */
		char dir[PATH_MAX];	/* the database's directory */
		char name[NAME_MAX + 1];	/* its -wal file's name */
	} wake;
	int ncache;
	struct {
		const char *text;	/* the SQL string's address is the key */
		struct dbst *st;
	} cache[DB_CACHE_MAX];
};

enum {
	DB_CREATE = 1,		/* create the file (0600) if missing */
	DB_ANY_VERSION = 2,	/* skip the schema version check (migrate) */
	DB_READONLY = 4
};

/* db_open's result besides 0 and -1: the database is missing or its
 * schema is older (or newer) than this build; the message says which
 * command fixes it. */
#define DB_NOT_READY (-2)

/*
 * The printable form of a database name: a URI's password (in the
 * authority or a password= parameter) replaced by "***". out has len
 * bytes; a name that does not fit is cut.
 */
void db_printable(const char *name, char *out, size_t len);

/*
 * Open path with the settings in cfg (synchronous, busy timeout). path is
 * a SQLite file or a PostgreSQL URI (cfg_is_pg_uri); on PostgreSQL the
 * database must exist (DB_CREATE creates only files). Unless
 * DB_ANY_VERSION, refuse a database whose schema is not the latest.
 * Returns 0, -1 (logged) or DB_NOT_READY (logged). On failure db is left
 * zeroed. Release with db_close().
 */
int db_open(struct db *db, const char *path, const struct cfg *cfg, int flags);

/*
 * Finalize cached statements and close; safe on a zeroed struct. When
 * the environment names a file in DATER_DB_STATS (benchmarks and tests),
 * first append one line to it: "commits N busy_waits N busy_us N
 * checkpoints N", this connection's committed write transactions
 * (explicit or autocommit, counted by a commit hook), busy-handler
 * sleeps, the time they took, and the checkpoints it ran.
 */
void db_close(struct db *db);

/*
 * A prepared statement for sql, cached by the address of sql (so pass
 * string literals or other static strings). The statement is reset and
 * its bindings cleared; the db owns it: do not finalize. Logs and returns
 * NULL on error.
 */
struct dbst *db_stmt(struct db *db, const char *sql);

/*
 * The same for a statement that PostgreSQL needs said another way (pg,
 * which pg_translate also goes over); sql is the key and the SQLite
 * text. Use it only where the shared dialect cannot say it (row locks:
 * FOR UPDATE SKIP LOCKED; SQLite's INDEXED BY).
 */
struct dbst *db_stmt2(struct db *db, const char *sql, const char *pg);

/*
 * A statement for SQL built at run time: not cached; release it with
 * db_finalize (safe on NULL). Logs and returns NULL on error.
 */
struct dbst *db_prepare(struct db *db, const char *sql);
void db_finalize(struct dbst *st);

/*
 * Bind parameter i (1-based) of st. db_bind_text keeps the pointer: s
 * must stay unchanged until the statement is stepped to its end or
 * reset; db_bind_text_copy copies s; db_bind_textn binds len bytes. A
 * NULL s binds SQL NULL. 0, or -1 (the step then fails).
 */
int db_bind_text(struct dbst *st, int i, const char *s);
int db_bind_text_copy(struct dbst *st, int i, const char *s);
int db_bind_textn(struct dbst *st, int i, const char *s, int len);
int db_bind_int64(struct dbst *st, int i, int64_t v);
int db_bind_int(struct dbst *st, int i, int v);
int db_bind_double(struct dbst *st, int i, double v);
int db_bind_null(struct dbst *st, int i);

/* How many parameters the statement's SQL has. */
int db_param_count(struct dbst *st);

/*
 * Run st: DB_ROW (a row is ready for db_col_*), DB_DONE (no more rows),
 * or an error (DB_BUSY, DB_FULL, DB_UNIQUE, DB_ERROR or another code;
 * db_errmsg says what). db_reset makes it ready to run again, keeping its
 * bindings.
 */
int db_step(struct dbst *st);
void db_reset(struct dbst *st);

/* Column col (0-based) of the current row. A NULL reads as 0 or NULL;
 * db_col_null tells it apart. db_col_text's string lives until the next
 * db_step or db_reset. */
int64_t db_col_int64(struct dbst *st, int col);
int db_col_int(struct dbst *st, int col);
double db_col_double(struct dbst *st, int col);
const char *db_col_text(struct dbst *st, int col);
int db_col_null(struct dbst *st, int col);

/* Rows changed by the last statement run on db. */
int db_changes(struct db *db);

/* The last error's message and class (see DB_BUSY...). */
const char *db_errmsg(struct db *db);
int db_errcode(struct db *db);

/* Whether a transaction is open on db. */
int db_in_tx(struct db *db);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. begin and commit log and return -1
 * on error; rollback is safe to call when no transaction is open. */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/*
 * Instead of committing the open write transaction, leave it for the
 * next db_begin on this connection to continue, so that two transactions
 * in a row cost one commit and one turn of the write lock: a job
 * handler's last writes go out in the worker's transaction that records
 * the job's result (and claims the next job). That db_begin returns 0
 * without a new BEGIN; its db_commit commits both. If the joined
 * transaction is rolled back instead (db_rollback, a failed db_commit),
 * the handler's writes are lost with it, so the connection refuses every
 * later db_begin (logged): the job must not be recorded as done without
 * them; the worker gives up and the job runs again. Use it only where
 * that next transaction comes at once (a handler about to return) and
 * where losing the writes to a crash before it is the same as losing
 * them before this call (the job runs again). 0, or -1 if no
 * transaction is open.
 */
int db_commit_later(struct db *db);

/*
 * For modules that work inside the caller's transaction when one is open
 * (queue, store): db_tx_open begins one only if none is open (*own says
 * whether it did); db_tx_close commits (ok) or rolls back what it began,
 * and returns 0 only if ok and the commit worked.
 */
int db_tx_open(struct db *db, int *own);
int db_tx_close(struct db *db, int own, int ok);

/* Step a statement that returns no rows and reset it; *changes (may be
 * NULL) gets the rows changed. 0, or -1 logged as "what 'path': ...". */
int db_run(struct db *db, struct dbst *st, const char *what, int *changes);

/*
 * Step an INSERT ... RETURNING id to its end: *id gets the new row's id,
 * or 0 when the statement inserted nothing (ON CONFLICT DO NOTHING).
 * 0, or -1 logged as "what 'path': ...".
 */
int db_insert_id(struct db *db, struct dbst *st, const char *what,
    int64_t *id);

/* A text column copied into out (truncated, "" for NULL), or strdup'ed
 * (NULL for NULL or out of memory; the caller frees it). */
void db_col_copy(struct dbst *st, int col, char *out, size_t len);
char *db_col_dup(struct dbst *st, int col);

/* Run SQL without results (may hold several statements). -1 logged. */
int db_exec(struct db *db, const char *sql);

/* Log "what 'path': sqlite's message" and return -1. */
int db_fail(struct db *db, const char *what);

/* The schema version of the open database, and the latest this build
 * knows. */
int db_version(struct db *db, int *version);
int db_latest_version(void);

/*
 * Wake-ups for an idle worker (dbwake.c). db_wake_arm starts watching
 * for commits by other processes that may have made work: on SQLite an
 * inotify watch on the database's directory (writes to the -wal file),
 * on PostgreSQL LISTEN on the channel db_notify sends to. db_wake_fd is
 * the descriptor to poll (-1: none, wake by time alone); db_wake_drain
 * reads what came and returns 1 if it may be work; db_wake_disarm stops
 * watching while busy (SQLite's watch would queue an event per write;
 * PostgreSQL keeps listening, which costs nothing). Failures are logged
 * once and leave the time-based poll. db_close ends it all.
 */
void db_wake_arm(struct db *db);
void db_wake_disarm(struct db *db);
int db_wake_fd(struct db *db);
int db_wake_drain(struct db *db);
void db_wake_close(struct db *db);

/*
 * Say that jobs may be due: on PostgreSQL a NOTIFY that idle workers
 * get when the open transaction commits (at once outside one); nothing
 * on SQLite, where the commit's write to the -wal file says it. 0 or -1
 * (logged).
 */
int db_notify(struct db *db);

/*
 * Apply every migration newer than the database's version, each in its
 * own transaction. *from and *to receive the versions before and after.
 * Returns 0 or -1 (logged; the failing migration changed nothing).
 */
int db_migrate(struct db *db, int *from, int *to);

#endif
