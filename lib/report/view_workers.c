/*
 * view_workers: dater-report workers: the worker processes and the
 * jobs they run; running jobs whose worker is gone.
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

/* ---- workers ---- */

static const char sql_workers[] =
    "SELECT id, pid, host, queues, started_at, heartbeat_at FROM workers"
    " ORDER BY host, pid, id";

/* The jobs_running partial index, in worker order. */
static const char sql_running[] =
    "SELECT id, type, queue, worker, attempts, started_at, lease_until"
    " FROM jobs WHERE state = 'running' ORDER BY worker, id";

struct workers_acc {
	json_t *workers;	/* the array of worker objects */
	json_t *by_id;		/* worker id -> its "jobs" array (borrowed) */
	json_t *orphaned;
	int64_t now;
};

static int
worker_row(struct dbst *st, void *arg)
{
	struct workers_acc *acc = arg;
	const char *id = report_col_text(st, 0);
	json_t *w, *jobs = json_array();

	w = json_pack("{s:s?, s:I, s:s?, s:s?, s:o?, s:o?, s:I, s:O}",
	    "id", id,
	    "pid", report_col_int(st, 1),
	    "host", report_col_text(st, 2),
	    "queues", report_col_text(st, 3),
	    "started_at", report_col_time(st, 4),
	    "heartbeat_at", report_col_time(st, 5),
	    "heartbeat_age_ms", (json_int_t)(acc->now -
	    db_col_int64(st, 5)),
	    "jobs", jobs);
	if (w == NULL || id == NULL ||
	    json_object_set(acc->by_id, id, jobs) < 0 ||
	    json_array_append_new(acc->workers, w) < 0) {
		json_decref(jobs);
		return report_oom();
	}
	json_decref(jobs);
	return 0;
}

static int
running_row(struct dbst *st, void *arg)
{
	struct workers_acc *acc = arg;
	const char *worker = report_col_text(st, 3);
	json_t *j, *list = NULL;

	j = json_pack("{s:I, s:s?, s:s?, s:s?, s:I, s:o?, s:o?}",
	    "id", report_col_int(st, 0),
	    "type", report_col_text(st, 1),
	    "queue", report_col_text(st, 2),
	    "worker", worker,
	    "attempts", report_col_int(st, 4),
	    "started_at", report_col_time(st, 5),
	    "lease_until", report_col_time(st, 6));
	if (j == NULL)
		return report_oom();
	if (worker != NULL)
		list = json_object_get(acc->by_id, worker);
	if (list == NULL)
		list = acc->orphaned;
	if (json_array_append_new(list, j) < 0)
		return report_oom();
	return 0;
}

json_t *
report_workers(struct db *db, int64_t now)
{
	struct workers_acc acc;
	struct dbst *st;
	json_t *doc = NULL;
	int own;

	acc.workers = json_array();
	acc.by_id = json_object();
	acc.orphaned = json_array();
	acc.now = now;
	if (acc.workers == NULL || acc.by_id == NULL || acc.orphaned == NULL) {
		report_oom();
		goto out;
	}
	if (report_snap_begin(db, &own) < 0)
		goto out;
	if ((st = db_stmt(db, sql_workers)) == NULL ||
	    report_each_row(db, st, worker_row, &acc) < 0 ||
	    (st = db_stmt(db, sql_running)) == NULL ||
	    report_each_row(db, st, running_row, &acc) < 0) {
		report_snap_end(db, own);
		goto out;
	}
	report_snap_end(db, own);
	doc = json_pack("{s:o, s:O, s:O}", "generated_at", report_time_json(now),
	    "workers", acc.workers, "orphaned", acc.orphaned);
	if (doc == NULL)
		report_oom();
out:
	json_decref(acc.workers);
	json_decref(acc.by_id);
	json_decref(acc.orphaned);
	return doc;
}

static void
fmt_queues(const json_t *row, char *buf, size_t len)
{
	const char *q = json_string_value(json_object_get(row, "queues"));

	snprintf(buf, len, "%s", q != NULL && *q != '\0' ? q : "*");
}

/* "12 noop, 13 send" for the jobs a worker runs. */
static void
fmt_worker_jobs(const json_t *row, char *buf, size_t len)
{
	const json_t *jobs = json_object_get(row, "jobs"), *j;
	size_t i, n = 0;

	buf[0] = '\0';
	json_array_foreach(jobs, i, j) {
		snprintf(buf + n, len - n, "%s%lld %s", i > 0 ? ", " : "",
		    (long long)json_integer_value(json_object_get(j, "id")),
		    json_string_value(json_object_get(j, "type")));
		n += strlen(buf + n);
		if (n + 1 >= len)
			break;
	}
}

static int
workers_print(FILE *out, const json_t *doc)
{
	static const struct column cols[] = {
		{ "ID", "id", CELL_TEXT, 40, NULL },
		{ "PID", "pid", CELL_NUM, 0, NULL },
		{ "HOST", "host", CELL_TEXT, 32, NULL },
		{ "QUEUES", "queues", CELL_TEXT, 32, fmt_queues },
		{ "STARTED", "started_at", CELL_AGO, 0, NULL },
		{ "HEARTBEAT", "heartbeat_at", CELL_AGO, 0, NULL },
		{ "JOBS", "jobs", CELL_TEXT, 60, fmt_worker_jobs },
		{ NULL, NULL, 0, 0, NULL }
	};
	static const struct column orphan_cols[] = {
		{ "ID", "id", CELL_NUM, 0, NULL },
		{ "TYPE", "type", CELL_TEXT, 24, NULL },
		{ "QUEUE", "queue", CELL_TEXT, -1, NULL },
		{ "WORKER", "worker", CELL_TEXT, 40, NULL },
		{ "STARTED", "started_at", CELL_AGO, 0, NULL },
		{ "LEASE UNTIL", "lease_until", CELL_AGO, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	const json_t *workers = json_object_get(doc, "workers");
	const json_t *orphaned = json_object_get(doc, "orphaned");
	int64_t now = table_generated_at(doc);

	if (table_print_or_none(out, workers, cols, now,
	    "no workers registered") < 0)
		return -1;
	if (json_array_size(orphaned) == 0)
		return 0;
	fprintf(out, "\nrunning jobs whose worker is gone:\n");
	return table_print(out, orphaned, orphan_cols, now);
}

static const char *const workers_keys[] = {
	"id", "pid", "host", "queues", "started_at", "heartbeat_at",
	"heartbeat_age_ms", "jobs", NULL
};

static json_t *
workers_rows(const json_t *doc)
{
	return table_member_rows(doc, "workers");
}

const struct report_text report_text_workers = {
	workers_print, workers_rows, workers_keys
};
