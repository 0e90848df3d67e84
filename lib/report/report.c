/*
 * report: what every view shares: the job states, the read
 * snapshot, column readers and JSON times, the row loop.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../ctl.h"
#include "../listener.h"
#include "../log.h"
#include "../redact.h"
#include "../store.h"
#include "report.h"
#include "table.h"
#include "../banned.h"

#define DAY_MS (24 * 60 * 60 * 1000LL)

const char *const report_states[] = {
	"queued", "running", "succeeded", "dead", "cancelled", NULL
};

int
report_state_known(const char *s)
{
	int i;

	for (i = 0; report_states[i] != NULL; i++)
		if (strcmp(s, report_states[i]) == 0)
			return 1;
	return 0;
}

int
report_oom(void)
{
	log_err("out of memory building the report");
	return -1;
}

/* Open a read snapshot unless the caller has a transaction open; *own
 * says whether we did. */
int
report_snap_begin(struct db *db, int *own)
{
	*own = !db_in_tx(db);
	return *own ? db_exec(db, "BEGIN") : 0;
}

void
report_snap_end(struct db *db, int own)
{
	if (own)
		db_rollback(db);	/* nothing was written */
}

/* An RFC 3339 string for ms: a new reference (NULL only if out of
 * memory). */
json_t *
report_time_json(int64_t ms)
{
	char buf[CLOCK_RFC3339_LEN];

	return json_string(clock_format(ms, buf, sizeof(buf)));
}

/* A time column as a new RFC 3339 string, or NULL for SQL NULL (json_pack
 * "o?" turns that into null). */
json_t *
report_col_time(struct dbst *st, int col)
{
	if (db_col_null(st, col))
		return NULL;
	return report_time_json(db_col_int64(st, col));
}

/* A text column, borrowed until the next step; NULL for SQL NULL. */
const char *
report_col_text(struct dbst *st, int col)
{
	return db_col_text(st, col);
}

json_int_t
report_col_int(struct dbst *st, int col)
{
	return (json_int_t)db_col_int64(st, col);
}

/*
 * Step st to the end, calling fn on each row (fn returns 0, or -1 on an
 * error it logged). Resets st. Returns 0 or -1 (logged).
 */
int
report_each_row(struct db *db, struct dbst *st,
    int (*fn)(struct dbst *, void *), void *arg)
{
	int rc;

	while ((rc = db_step(st)) == DB_ROW) {
		if (fn(st, arg) < 0) {
			db_reset(st);
			return -1;
		}
	}
	db_reset(st);
	if (rc != DB_DONE)
		return db_fail(db, "read report from");
	return 0;
}

json_t *
report_oom_null(void)
{
	log_err("out of memory building the report");
	return NULL;
}

/* An integer column as a new reference, or NULL for SQL NULL. */
json_t *
report_col_int_null(struct dbst *st, int col)
{
	if (db_col_null(st, col))
		return NULL;
	return json_integer(report_col_int(st, col));
}

json_t *
report_col_real_null(struct dbst *st, int col)
{
	if (db_col_null(st, col))
		return NULL;
	return json_real(db_col_double(st, col));
}

/* "YYYY-MM-DD" (UTC) of ms into buf (16 bytes at least). */
char *
report_day_of(int64_t ms, char *buf, size_t len)
{
	char t[CLOCK_RFC3339_LEN];

	clock_format(ms, t, sizeof(t));
	t[10] = '\0';
	strlcpy(buf, t, len);
	return buf;
}

/* ms of 00:00 UTC of the day of ms. */
int64_t
report_day_start(int64_t ms)
{
	return ms - ((ms % DAY_MS) + DAY_MS) % DAY_MS;
}

int
report_set(json_t *obj, const char *key, json_t *v)
{
	if (json_object_set_new(obj, key, v != NULL ? v : json_null()) < 0)
		return report_oom();
	return 0;
}
