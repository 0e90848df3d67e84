/*
 * maint: the SQL and file work of the maintenance jobs (jobs/backup.c,
 * prune.c, optimize.c, rollup.c): online backups with rotation, pruning
 * of finished jobs, old messages and stale worker rows, PRAGMA optimize
 * with a truncating WAL checkpoint, and the daily metrics rollup. On
 * PostgreSQL the backup is pg_dump's and optimize is VACUUM (ANALYZE);
 * prune and rollup are the same SQL on both.
 *
 * Every function here runs its own transactions, so call it with none
 * open on db (the checkpoint and the batched deletes cannot run inside
 * one); an open transaction is refused.
 *
 * Errors: each result struct has an `error` buffer. On failure a
 * function returns -1 with the reason there and logs nothing itself (the
 * handler puts the reason into the job's errors, where dater-report
 * shows it, and the worker logs it); only db_begin/db_commit log their
 * own failures as everywhere else, and backup rotation its warnings.
 */
#ifndef DATER_MAINT_H
#define DATER_MAINT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "db.h"

#define MAINT_ERROR_MAX 512
#define MAINT_PRUNE_BATCH 1000	/* rows deleted per write transaction */
#define MAINT_DAY_LEN 11	/* "YYYY-MM-DD" and its NUL */

/* ---- backup ------------------------------------------------------------ */

struct maint_backup {
	char path[PATH_MAX];		/* the new backup */
	int64_t bytes;			/* its size */
	int removed;			/* files rotation deleted */
	char how[32];			/* how it was made or checked */
	char error[MAINT_ERROR_MAX];
};

/*
 * Copy the open database into dir with the SQLite online backup API (one
 * read snapshot: writers go on meanwhile), then keep the newest `keep`
 * backups of this database there.
 *
 * dir NULL or "": "backups" beside the database file. A missing dir (and
 * missing parents) is created 0700. The copy is written to
 * "STEM-YYYYMMDDTHHMMSS.mmmZ.db.part" (STEM: the database's file name
 * without ".db"), created 0600, switched to journal_mode=DELETE so it is
 * one self-contained file, fsynced, verified by opening it read-only
 * and running PRAGMA integrity_check, and only then renamed to
 * "STEM-YYYYMMDDTHHMMSS.mmmZ.db" (UTC). A failed copy is removed.
 *
 * Rotation looks only at regular files named exactly like that, with
 * this database's STEM: any other file in dir is never touched. Of
 * those, the newest keep (by the time in the name; the new one always
 * counts) stay; leftover ".part" (and ".part-journal") files of the same
 * form older than an hour (a backup killed midway) are removed too.
 * A file rotation cannot remove is logged as a warning: the new backup
 * is good all the same.
 *
 * On PostgreSQL: pg_dump (pgdump.h: PG_BINDIR, PATH, then the newest
 * /usr/lib/postgresql/VERSION/bin; none found is an error that says so)
 * writes a custom-format archive (for pg_restore) of dater's schema, the
 * first on the search path, into "STEM-YYYYMMDDTHHMMSS.mmmZ.dump.part"
 * (0600), which must start as an archive does ("PGDMP") and is fsynced
 * and renamed to ".dump"; rotation is the same, over ".dump" names.
 * STEM is the database's name, "DATABASE.SCHEMA" when that schema is not
 * "public". dir must be given (there is no file to put backups beside).
 * uri is the database's name as opened (cfg->database: db->path hides
 * its password); pg_dump gets it without the password, which it gets in
 * PGPASSWORD. NULL or not a URI: db->path. Not used on SQLite.
 *
 * Returns 0 with r filled, or -1 with r->error.
 */
int maint_backup(struct db *db, const char *uri, const char *dir, int keep,
    struct maint_backup *r);

/* ---- prune ------------------------------------------------------------- */

struct maint_prune {
	/* what to delete; 0 = nothing of that kind */
	int64_t jobs_before;		/* finished_at older (ms) */
	int64_t messages_before;	/* created_at older (ms) */
	int64_t workers_before;		/* heartbeat_at older (ms) */
	int batch;			/* rows per transaction; 0: default */
	/* what was deleted */
	int64_t jobs, messages, workers;
	char error[MAINT_ERROR_MAX];
};

/*
 * Fill p's inputs from the configuration at time now: finished jobs
 * older than maintenance.prune_jobs_after, messages older than
 * prune_messages_after (0 keeps them), worker rows silent for ten
 * leases and at least an hour; outputs zeroed.
 */
void maint_prune_init(struct maint_prune *p, const struct cfg *cfg,
    int64_t now);

/*
 * Delete, each kind in batches of p->batch rows, one short write
 * transaction per batch (a worker waits for the lock for one batch at
 * most):
 *  - jobs that are succeeded, dead or cancelled with finished_at before
 *    jobs_before. Queued and running jobs are never deleted, however
 *    old;
 *  - messages created before messages_before that nothing needs any
 *    more: inbound ones and outbound ones that were sent or failed.
 *    Drafts, queued, sending and uncertain messages stay;
 *  - workers rows whose heartbeat is older than workers_before and that
 *    hold no running job.
 * The row with the highest id of jobs and of messages is never deleted:
 * SQLite would hand its id out again, and a new job would find the old
 * job's message (messages.job_id), a new message would fall under a
 * contact's summary_upto.
 * Counts go to p->jobs, p->messages, p->workers (also on failure: what
 * was deleted before it). Returns 0 or -1 with p->error.
 */
int maint_prune(struct db *db, struct maint_prune *p);

/* ---- optimize ---------------------------------------------------------- */

struct maint_optimize {
	int busy;		/* the checkpoint could not finish */
	int log;		/* frames left in the WAL (0 once truncated) */
	int checkpointed;	/* of those, copied into the database */
	int64_t wal_before;	/* size of the -wal file before; -1: none */
	int64_t wal_bytes;	/* ... and after */
	int tables;		/* PostgreSQL: tables vacuumed and analyzed */
	char done[256];		/* what was done, for the log */
	char error[MAINT_ERROR_MAX];
};

/*
 * PRAGMA optimize; PRAGMA journal_size_limit = limit (bytes; it holds
 * for this connection from now on); PRAGMA wal_checkpoint(TRUNCATE),
 * which waits (up to the busy timeout) for the writer and for readers of
 * older snapshots, copies the whole WAL into the database and cuts the
 * -wal file to zero bytes. Its row goes to r: busy 1 when a reader or a
 * writer kept it from finishing (log, checkpointed then say how far it
 * got); after a full checkpoint the WAL is reset and SQLite reports log
 * and checkpointed as 0. The -wal file's size before and after go to r
 * too. A busy checkpoint is not an error here (the caller decides).
 *
 * On PostgreSQL: VACUUM (ANALYZE) of every table of dater's schema (the
 * first on the search path), outside any transaction (VACUUM runs in
 * none), which marks dead rows' space for reuse (prune's deletes) and
 * refreshes the planner's statistics; r->tables says how many tables.
 * journal_size_limit does not apply; busy, log and checkpointed are 0,
 * wal_before and wal_bytes -1. A failure is also logged (db_exec).
 * Returns 0 or -1 with r->error.
 */
int maint_optimize(struct db *db, int64_t journal_size_limit,
    struct maint_optimize *r);

/* ---- rollup ------------------------------------------------------------ */

struct maint_rollup {
	int rows;		/* metrics_daily rows written for the day */
	int messages;		/* 1: received, sent, initiations recomputed */
	int replies;		/* 1: initiation_replies recomputed */
	int failures;		/* 1: job_failures recomputed */
	char error[MAINT_ERROR_MAX];
};

/*
 * Recompute one UTC day's metrics_daily rows, per bot, from the source
 * tables, in one write transaction:
 *   received            inbound messages whose created_at (the
 *                       platform's time when it gave one) is in the day
 *   sent                outbound messages whose sent_at is in the day
 *   initiations         of those, openers (kind 'opener')
 *   initiation_replies  inbound messages in the day that are the
 *                       contact's first inbound message and came at or
 *                       after the contact's first opener (initiated_at)
 *   job_failures        dead jobs of the bot whose finished_at is in the
 *                       day
 * llm_calls, tokens_in, tokens_out and cost_usd are not recomputed (some
 * calls leave no row: refused drafts, summaries): they keep the counts
 * made as the calls happened. The bots are those with a row for the day
 * or with source rows in it; a bot whose sources are gone keeps its row
 * with the recomputed columns set to what the sources say (zero).
 *
 * Source rows may have been pruned: messages created before
 * messages_kept_since (0: none ever pruned) and jobs finished before
 * jobs_kept_since (0: likewise). If the day starts before such a limit,
 * the columns from that table keep their stored values (r->messages,
 * r->failures say what was recomputed); initiation_replies (which needs
 * a contact's whole inbound history) is recomputed only when no message
 * was ever pruned (messages_kept_since 0). Running it again changes
 * nothing. Returns 0 or -1 with r->error.
 */
int maint_rollup(struct db *db, const char *day, int64_t messages_kept_since,
    int64_t jobs_kept_since, struct maint_rollup *r);

/*
 * Parse a UTC day "YYYY-MM-DD" (a real calendar date, year 1970..9999)
 * into the ms of its first instant. Returns 0, or -1 (out untouched).
 */
int maint_parse_day(const char *s, int64_t *start_ms);

/* The UTC day that contains ms, as "YYYY-MM-DD", into buf (at least
 * MAINT_DAY_LEN bytes). Returns buf. */
char *maint_format_day(int64_t ms, char *buf, size_t len);

#endif
