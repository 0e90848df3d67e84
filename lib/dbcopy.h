/*
 * dbcopy: a whole database copied into another, SQLite or PostgreSQL
 * either way (dater-migrate copy --to), through the statement API only:
 * table by table in one transaction on the target, ids kept, the
 * target's identity sequences moved past them, row counts checked.
 * dater-migrate is the only caller.
 */
#ifndef DATER_DBCOPY_H
#define DATER_DBCOPY_H

#include <stdint.h>

#include "db.h"

/* The tables a copy knows, at most. */
#define DBCOPY_TABLES 16

/* dbcopy_run: results besides -1 */
enum {
	DBCOPY_OK = 0,
	DBCOPY_BUSY = 2,	/* workers hold leases on the source */
	DBCOPY_NOT_EMPTY = 3	/* the target holds dater rows */
};

/* What a copy moved: the rows of each table, in the order copied. */
struct dbcopy_report {
	int ntables;
	struct {
		const char *name;	/* static */
		int64_t rows;
	} t[DBCOPY_TABLES];
	int64_t rows;			/* all of them */
	int from, to;			/* the target's version before, after */
};

/*
 * Copy every row of src (open at this build's schema version) into dst
 * (opened with DB_ANY_VERSION, no transaction open on either). dst is
 * first migrated to this build's version (db_migrate), and must hold no
 * row in any dater table, else DBCOPY_NOT_EMPTY. Unless force, refuse
 * while a running job of src holds a lease ending after now or a worker
 * row has a heartbeat since now - live_ms (DBCOPY_BUSY), as
 * dbfile_restore does. src is read in one snapshot; dst is written in
 * one transaction with every column as it is (ids included), then on
 * PostgreSQL each identity sequence is set past the largest id, and
 * each table's rows are counted in dst against those read. Any failure
 * rolls that transaction back: dst keeps no row (only the migrations,
 * committed before). *r gets the counts. Returns DBCOPY_OK,
 * DBCOPY_BUSY, DBCOPY_NOT_EMPTY or -1; every failure is logged.
 */
int dbcopy_run(struct db *src, struct db *dst, int force, int64_t now,
    int64_t live_ms, struct dbcopy_report *r);

#endif
