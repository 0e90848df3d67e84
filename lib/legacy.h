/*
 * legacy: the way in for the old Python system's data (dbfile.h has the
 * verbs around a migration: backup, restore, check). dater-migrate is the
 * only caller.
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

/* legacy_import: results besides -1 */
enum {
	LEGACY_OK = 0,
	LEGACY_BAD_INPUT = 1	/* bad files were named (and skipped) */
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

#endif
