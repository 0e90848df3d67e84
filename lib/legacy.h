/*
 * legacy: the way in for the old Python system's data, and the admin
 * verbs around a migration (backup into a file, restore from one, and
 * the consistency check). dater-migrate is the only caller.
 *
 * The export directory (the format is documented in dater-migrate(1)):
 *
 *   DIR/fields.json            field definitions (fields.h form)
 *   DIR/girls_data/NAME.json   a profile object, or an array of them
 *   DIR/conversations/NAME.json an array of messages (or an object with
 *                              "contact" and "messages")
 *   DIR/metrics.json           daily metrics per bot and day
 *
 * A file is checked whole before anything of it is written: a bad file
 * (bad JSON, wrong types, unknown contact, duplicate ids, a profile the
 * field definitions reject) is logged once as "FILE: JSON.PATH: why" and
 * skipped. The import keys everything so that running it again changes
 * nothing: contacts by (bot, platform id), messages by a legacy key kept
 * in platform_msg_id ("legacy:ID" from the message's id, else
 * "legacy:h" and a hash of direction, time and text), metrics by (bot,
 * day).
 */
#ifndef DATER_LEGACY_H
#define DATER_LEGACY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* legacy_import, legacy_restore: results besides 0 and -1 */
enum {
	LEGACY_OK = 0,
	LEGACY_BAD_INPUT = 1,	/* bad files were named (and skipped) */
	LEGACY_BUSY = 2		/* restore: workers hold leases */
};

struct legacy_counts {
	int imported;		/* new rows */
	int updated;		/* existing rows changed */
	int skipped;		/* already there as they are */
};

struct legacy_report {
	struct legacy_counts contacts, messages, metrics;
	int files;		/* files read */
	int bad;		/* files named and skipped */
};

struct legacy_opts {
	const char *dir;	/* the export directory */
	const char *bot;	/* bot of records that name none */
	const json_t *defs;	/* configured field definitions (borrowed);
				 * NULL: any profile object */
	int dry_run;		/* roll everything back at the end */
	int strict;		/* any bad file: roll everything back */
	/* called after each file (may be NULL): done of total files; and
	 * with done -1 before a message is logged (to clear a bar) */
	void (*progress)(void *arg, int done, int total);
	void *progress_arg;
};

/*
 * Import the export in o->dir into db in one write transaction
 * (committed unless o->dry_run, or o->strict and a file was bad). r gets
 * what was (or, on a dry run, would be) imported, updated and skipped.
 * Returns LEGACY_OK, LEGACY_BAD_INPUT (r->bad files were logged; with
 * o->strict nothing was written), or -1 (logged; nothing written). The
 * directory itself missing is -1 with the reason logged.
 */
int legacy_import(struct db *db, const struct legacy_opts *o,
    struct legacy_report *r);

/*
 * Copy the open database into file with the online backup API through
 * maint_backup (0600, one self-contained file, verified with
 * integrity_check), then rename it to file and fsync its directory
 * (atomic_replace). file must be a regular file (replaced) or a new
 * name: a symbolic link, a device, a FIFO, a directory ... is refused
 * before anything is copied (atomic_check). Returns 0, or -1 with the
 * reason in err; file is untouched on failure.
 */
int legacy_backup(struct db *db, const char *file, char *err, size_t len);

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
 * transaction open. Returns LEGACY_OK, LEGACY_BAD_INPUT (the file is not a good
 * backup), LEGACY_BUSY, or -1; the reason is in err for all but OK.
 */
int legacy_restore(struct db *db, const char *file, int force, int64_t now,
    int64_t live_ms, char *err, size_t len);

/*
 * Check the database: PRAGMA integrity_check and foreign_key_check, and
 * the queue's invariants (no running job without a lease or a worker, no
 * queued job with a lease, no queued job with attempts > max_attempts,
 * unique keys unique among queued and running jobs, every message's
 * contact exists). Each problem is passed to problem (one line, no
 * newline) and counted in *n. Returns 0 (check *n), or -1 (logged).
 */
int legacy_check(struct db *db, void (*problem)(void *arg, const char *what),
    void *arg, int *n);

#endif
