/*
 * dbfile: the database as a file, for an operator: a verified backup
 * into a named file, a restore from one (in one step, the running jobs
 * given back as a lost lease would), and the consistency check. The
 * rotated, scheduled backups are the backup job's (maint.h); both copy
 * through maint_backup. dater-migrate is the only caller. On
 * PostgreSQL the backup is a pg_dump archive, the check runs the
 * queue's invariants, and a restore is refused (pg_restore does it).
 */
#ifndef DATER_DBFILE_H
#define DATER_DBFILE_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* dbfile_restore: results besides -1 */
enum {
	DBFILE_OK = 0,
	DBFILE_BAD_INPUT = 1,	/* the file is not a good backup */
	DBFILE_BUSY = 2,	/* workers hold leases */
	DBFILE_UNSUPPORTED = 3	/* not on this backend (PostgreSQL) */
};

/*
 * Copy the open database into file through maint_backup (0600; on
 * SQLite the online backup API, one self-contained file verified with
 * integrity_check; on PostgreSQL a pg_dump custom-format archive of
 * dater's schema, for pg_restore; uri as for maint_backup), then rename
 * it to file and fsync its directory (atomic_replace). file must be a
 * regular file (replaced) or a new name: a symbolic link, a device, a
 * FIFO, a directory ... is refused before anything is copied
 * (atomic_check). Returns 0, or -1 with the reason in err; file is
 * untouched on failure.
 */
int dbfile_backup(struct db *db, const char *uri, const char *file,
    char *err, size_t len);

/*
 * Replace the contents of the open database with those of file, with
 * the online backup API in one step (other connections see either the
 * old or the new database). file is first opened read-only and must pass
 * integrity_check and have this build's schema version. Unless force,
 * refuse while a running job holds a lease ending after now or a worker
 * row has a heartbeat since now - live_ms. The backup is first copied
 * into a private temporary database where its worker rows are deleted
 * (no process of that time is alive) and its running jobs are given
 * back the way a lost lease is: the attempt counts, the job is queued
 * to run at now (dead if that was its last attempt) with an error entry
 * "restored from a backup while running", lease and worker cleared;
 * that fixed copy is what replaces the database. Call with no
 * transaction open. Returns DBFILE_OK, DBFILE_BAD_INPUT (the file is not a good
 * backup), DBFILE_BUSY, or -1; the reason is in err for all but OK.
 * On PostgreSQL nothing is done: DBFILE_UNSUPPORTED, err saying how to
 * restore with pg_restore (a restore there cannot be one step that
 * also gives the running jobs back).
 */
int dbfile_restore(struct db *db, const char *file, int force, int64_t now,
    int64_t live_ms, char *err, size_t len);

/*
 * Check the database: PRAGMA integrity_check and foreign_key_check (on
 * SQLite only: PostgreSQL checks pages and enforces foreign keys
 * itself), and the queue's invariants (no running job without a lease or a worker, no
 * queued job with a lease, no queued job with attempts > max_attempts,
 * unique keys unique among queued and running jobs, every message's
 * contact exists). Each problem is passed to problem (one line, no
 * newline) and counted in *n. Returns 0 (check *n), or -1 (logged).
 */
int dbfile_check(struct db *db, void (*problem)(void *arg, const char *what),
    void *arg, int *n);

#endif
