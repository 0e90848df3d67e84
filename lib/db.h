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

struct db {
	sqlite3 *sql;
	char path[PATH_MAX];
	int busy_timeout_ms;		/* give up waiting for a lock after */
	int64_t busy_since_ms;		/* when the current wait began */
	int64_t commits;		/* write transactions committed */
	int64_t busy_waits;		/* busy handler sleeps */
	int64_t busy_us;		/* time slept in them */
	int later;			/* see db_commit_later */
	int ckpt_at;			/* -wal pages at our last checkpoint */
	int64_t checkpoints;		/* checkpoints this connection ran */
	int poisoned;			/* a joined transaction rolled back */
	int ncache;
	struct {
		const char *text;	/* the SQL string's address is the key */
		sqlite3_stmt *st;
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
 * Open path with the settings in cfg (synchronous, busy timeout). Unless
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
sqlite3_stmt *db_stmt(struct db *db, const char *sql);

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
int db_run(struct db *db, sqlite3_stmt *st, const char *what, int *changes);

/* A text column copied into out (truncated, "" for NULL), or strdup'ed
 * (NULL for NULL or out of memory; the caller frees it). */
void db_col_copy(sqlite3_stmt *st, int col, char *out, size_t len);
char *db_col_dup(sqlite3_stmt *st, int col);

/* Run SQL without results (may hold several statements). -1 logged. */
int db_exec(struct db *db, const char *sql);

/* Log "what 'path': sqlite's message" and return -1. */
int db_fail(struct db *db, const char *what);

/* The schema version of the open database, and the latest this build
 * knows. */
int db_version(struct db *db, int *version);
int db_latest_version(void);

/*
 * Apply every migration newer than the database's version, each in its
 * own transaction. *from and *to receive the versions before and after.
 * Returns 0 or -1 (logged; the failing migration changed nothing).
 */
int db_migrate(struct db *db, int *from, int *to);

#endif
