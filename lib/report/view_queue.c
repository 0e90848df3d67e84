/*
 * view_queue: dater-report queue: counts per state, type and queue,
 * the oldest due job and the next one scheduled.
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

/* The counters of report_queue's per-type and per-queue objects. */
static const char *const type_keys[] = {
	"total", "queued", "due", "scheduled", "running", "succeeded", "dead",
	"cancelled", NULL
};

static const char *const queue_keys[] = {
	"queued", "due", "scheduled", "running", NULL
};

/*
 * Run a cached statement with ?1 = now that returns at most one row of
 * integer columns; *row says whether it returned one. Returns the
 * statement positioned on the row (the caller reads, then resets), or
 * NULL (logged).
 */
static struct dbst *
one_row(struct db *db, const char *sql, int64_t now, int *row)
{
	struct dbst *st = db_stmt(db, sql);
	int rc;

	if (st == NULL)
		return NULL;
	if (db_param_count(st) >= 1)
		db_bind_int64(st, 1, now);
	rc = db_step(st);
	if (rc != DB_ROW && rc != DB_DONE) {
		db_reset(st);
		db_fail(db, "read report from");
		return NULL;
	}
	*row = rc == DB_ROW;
	return st;
}

/* obj.key += n (missing counts as 0). */
static int
bump(json_t *obj, const char *key, json_int_t n)
{
	json_int_t v = json_integer_value(json_object_get(obj, key));

	return report_set(obj, key, json_integer(v + n));
}

/* A new object with every key of keys set to 0. */
static json_t *
counters_new(const char *const *keys)
{
	json_t *o = json_object();
	int i;

	for (i = 0; o != NULL && keys[i] != NULL; i++) {
		if (report_set(o, keys[i], json_integer(0)) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* parent.name, created from keys if missing. Borrowed; NULL (logged) if
 * out of memory. */
static json_t *
child(json_t *parent, const char *name, const char *const *keys)
{
	json_t *c = json_object_get(parent, name);

	if (c != NULL)
		return c;
	if ((c = counters_new(keys)) == NULL ||
	    json_object_set_new(parent, name, c) < 0) {
		report_oom();
		return NULL;
	}
	return c;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A new object with the members of obj, keys sorted; NULL (logged) if out
 * of memory. */
static json_t *
sorted(json_t *obj)
{
	json_t *out, *v;
	const char **names;
	const char *k;
	size_t i, n = json_object_size(obj);

	names = calloc(n + 1, sizeof(*names));
	out = json_object();
	if (names == NULL || out == NULL)
		goto fail;
	i = 0;
	json_object_foreach(obj, k, v)
		names[i++] = k;
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++)
		if (json_object_set(out, names[i],
		    json_object_get(obj, names[i])) < 0)
			goto fail;
	free(names);
	return out;
fail:
	json_decref(out);
	free(names);
	report_oom();
	return NULL;
}

/* ---- queue ---- */

/* One scan of the table: every state, per type. */
static const char sql_q_states[] =
    "SELECT state, type, count(*) FROM jobs GROUP BY state, type";

/* Queued jobs, due (run_at <= ?1) or scheduled, per queue and type: reads
 * the jobs_next partial index. */
static const char sql_q_queued[] =
    "SELECT queue, type, run_at <= ?1, count(*) FROM jobs"
    " WHERE state = 'queued' GROUP BY queue, type, 3";

/* Running jobs per queue: the jobs_running partial index. */
static const char sql_q_running[] =
    "SELECT queue, count(*) FROM jobs WHERE state = 'running'"
    " GROUP BY queue";

static const char sql_q_expired[] =
    "SELECT count(*) FROM jobs WHERE state = 'running'"
    " AND lease_until < ?1";

static const char sql_q_oldest[] =
    "SELECT id, type, run_at FROM jobs WHERE state = 'queued'"
    " AND run_at <= ?1 ORDER BY run_at, id LIMIT 1";

static const char sql_q_next[] =
    "SELECT min(run_at) FROM jobs WHERE state = 'queued' AND run_at > ?1";

static const char sql_q_workers[] = "SELECT count(*) FROM workers";

/* What the queue queries fill. */
struct queue_acc {
	json_t *doc;		/* the totals */
	json_t *by_type;
	json_t *by_queue;
};

static int
q_state_row(struct dbst *st, void *arg)
{
	struct queue_acc *acc = arg;
	const char *state = report_col_text(st, 0), *type = report_col_text(st, 1);
	json_int_t n = report_col_int(st, 2);
	json_t *ty;

	if (state == NULL || type == NULL)
		return report_oom();
	if ((ty = child(acc->by_type, type, type_keys)) == NULL)
		return -1;
	if (bump(acc->doc, state, n) < 0 || bump(acc->doc, "total", n) < 0 ||
	    bump(ty, state, n) < 0 || bump(ty, "total", n) < 0)
		return -1;
	return 0;
}

static int
q_queued_row(struct dbst *st, void *arg)
{
	struct queue_acc *acc = arg;
	const char *queue = report_col_text(st, 0), *type = report_col_text(st, 1);
	const char *key = db_col_int(st, 2) ? "due" : "scheduled";
	json_int_t n = report_col_int(st, 3);
	json_t *ty, *qu;

	if (queue == NULL || type == NULL)
		return report_oom();
	if ((ty = child(acc->by_type, type, type_keys)) == NULL ||
	    (qu = child(acc->by_queue, queue, queue_keys)) == NULL)
		return -1;
	if (bump(acc->doc, key, n) < 0 || bump(ty, key, n) < 0 ||
	    bump(qu, key, n) < 0 || bump(qu, "queued", n) < 0)
		return -1;
	return 0;
}

static int
q_running_row(struct dbst *st, void *arg)
{
	struct queue_acc *acc = arg;
	const char *queue = report_col_text(st, 0);
	json_t *qu;

	if (queue == NULL)
		return report_oom();
	if ((qu = child(acc->by_queue, queue, queue_keys)) == NULL)
		return -1;
	return bump(qu, "running", report_col_int(st, 1));
}

/* Run a grouping query with ?1 = now over fn. */
static int
q_group(struct db *db, const char *sql, int64_t now,
    int (*fn)(struct dbst *, void *), struct queue_acc *acc)
{
	struct dbst *st = db_stmt(db, sql);

	if (st == NULL)
		return -1;
	if (db_param_count(st) >= 1)
		db_bind_int64(st, 1, now);
	return report_each_row(db, st, fn, acc);
}

/* doc.key = the count sql returns. */
static int
q_count(struct db *db, const char *sql, int64_t now, json_t *doc,
    const char *key)
{
	struct dbst *st;
	json_int_t n = 0;
	int row;

	if ((st = one_row(db, sql, now, &row)) == NULL)
		return -1;
	if (row)
		n = report_col_int(st, 0);
	db_reset(st);
	return report_set(doc, key, json_integer(n));
}

static int
q_oldest(struct db *db, int64_t now, json_t *doc)
{
	struct dbst *st;
	json_t *id = NULL, *type = NULL, *at = NULL, *age = NULL;
	int row;

	if ((st = one_row(db, sql_q_oldest, now, &row)) == NULL)
		return -1;
	if (row) {
		id = json_integer(report_col_int(st, 0));
		if (report_col_text(st, 1) != NULL)
			type = json_string(report_col_text(st, 1));
		at = report_col_time(st, 2);
		age = json_integer(now - db_col_int64(st, 2));
	}
	db_reset(st);
	/* report_set() takes each reference, even when an earlier one failed. */
	return report_set(doc, "oldest_due_id", id) | report_set(doc, "oldest_due_type",
	    type) | report_set(doc, "oldest_due_at", at) | report_set(doc,
	    "oldest_due_age_ms", age);
}

static int
q_next(struct db *db, int64_t now, json_t *doc)
{
	struct dbst *st;
	json_t *v = NULL;
	int row;

	if ((st = one_row(db, sql_q_next, now, &row)) == NULL)
		return -1;
	if (row)
		v = report_col_time(st, 0);	/* min() of no rows is NULL */
	db_reset(st);
	return report_set(doc, "next_scheduled_at", v);
}

/* The queries, in one snapshot. */
static int
q_read(struct db *db, int64_t now, struct queue_acc *acc)
{
	int own, rc = -1;

	if (report_snap_begin(db, &own) < 0)
		return -1;
	if (q_group(db, sql_q_states, now, q_state_row, acc) < 0 ||
	    q_group(db, sql_q_queued, now, q_queued_row, acc) < 0 ||
	    q_group(db, sql_q_running, now, q_running_row, acc) < 0 ||
	    q_count(db, sql_q_expired, now, acc->doc, "lease_expired") < 0 ||
	    q_oldest(db, now, acc->doc) < 0 ||
	    q_next(db, now, acc->doc) < 0 ||
	    q_count(db, sql_q_workers, now, acc->doc, "workers") < 0)
		goto out;
	rc = 0;
out:
	report_snap_end(db, own);
	return rc;
}

json_t *
report_queue(struct db *db, int64_t now)
{
	struct queue_acc acc;
	json_t *doc = NULL, *bt = NULL, *bq = NULL;
	int i;

	acc.doc = json_pack("{s:o}", "generated_at", report_time_json(now));
	acc.by_type = json_object();
	acc.by_queue = json_object();
	if (acc.doc == NULL || acc.by_type == NULL || acc.by_queue == NULL) {
		report_oom();
		goto out;
	}
	for (i = 0; type_keys[i] != NULL; i++)
		if (report_set(acc.doc, type_keys[i], json_integer(0)) < 0)
			goto out;
	if (q_read(db, now, &acc) < 0)
		goto out;
	if ((bt = sorted(acc.by_type)) == NULL ||
	    (bq = sorted(acc.by_queue)) == NULL)
		goto out;
	if (json_object_set(acc.doc, "by_type", bt) < 0 ||
	    json_object_set(acc.doc, "by_queue", bq) < 0) {
		report_oom();
		goto out;
	}
	doc = json_incref(acc.doc);
out:
	json_decref(acc.doc);
	json_decref(acc.by_type);
	json_decref(acc.by_queue);
	json_decref(bt);
	json_decref(bq);
	return doc;
}

static const char *const queue_csv_keys[] = {
	"type", "total", "queued", "due", "scheduled", "running", "succeeded",
	"dead", "cancelled", NULL
};

static json_t *
queue_rows(const json_t *doc)
{
	return table_obj_rows(json_object_get(doc, "by_type"), "type");
}

static void
fmt_state_note(const json_t *row, char *buf, size_t len)
{
	const json_t *note = json_object_get(row, "note");

	snprintf(buf, len, "%s", json_is_string(note) ?
	    json_string_value(note) : "");
}

/* The per-state lines of the queue view, as rows. */
static json_t *
queue_state_rows(const json_t *doc)
{
	json_t *rows = json_array();
	char note[128];
	int i;

	for (i = 0; rows != NULL && report_states[i] != NULL; i++) {
		const char *s = report_states[i];

		note[0] = '\0';
		if (strcmp(s, "queued") == 0)
			snprintf(note, sizeof(note), "%lld due, %lld scheduled",
			    (long long)json_integer_value(json_object_get(doc,
			    "due")), (long long)json_integer_value(
			    json_object_get(doc, "scheduled")));
		else if (strcmp(s, "running") == 0)
			snprintf(note, sizeof(note), "%lld lease expired",
			    (long long)json_integer_value(json_object_get(doc,
			    "lease_expired")));
		json_array_append_new(rows, json_pack("{s:s, s:O?, s:s}",
		    "state", s, "jobs", json_object_get(doc, s), "note",
		    note));
	}
	json_array_append_new(rows, json_pack("{s:s, s:O?, s:s}", "state",
	    "total", "jobs", json_object_get(doc, "total"), "note", ""));
	return rows;
}

static void
fmt_oldest(const json_t *doc, char *buf, size_t len)
{
	const json_t *id = json_object_get(doc, "oldest_due_id");
	char age[32];

	if (!json_is_integer(id)) {
		snprintf(buf, len, "none");
		return;
	}
	clock_format_duration(json_integer_value(json_object_get(doc,
	    "oldest_due_age_ms")), age, sizeof(age));
	snprintf(buf, len, "job %lld (%s), due %s ago",
	    (long long)json_integer_value(id),
	    json_string_value(json_object_get(doc, "oldest_due_type")), age);
}

static void
fmt_next(const json_t *doc, char *buf, size_t len)
{
	const json_t *at = json_object_get(doc, "next_scheduled_at");
	char ago[64];

	if (!json_is_string(at)) {
		snprintf(buf, len, "none");
		return;
	}
	table_ago(table_time(at), table_generated_at(doc), ago, sizeof(ago));
	snprintf(buf, len, "%s (%s)", ago, json_string_value(at));
}

static int
queue_print(FILE *out, const json_t *doc)
{
	static const struct column state_cols[] = {
		{ "STATE", "state", CELL_TEXT, 0, NULL },
		{ "JOBS", "jobs", CELL_NUM, 0, NULL },
		{ "", "note", CELL_TEXT, 0, fmt_state_note },
		{ NULL, NULL, 0, 0, NULL }
	};
	static const struct column type_cols[] = {
		{ "TYPE", "type", CELL_TEXT, 40, NULL },
		{ "TOTAL", "total", CELL_NUM, 0, NULL },
		{ "QUEUED", "queued", CELL_NUM, 0, NULL },
		{ "DUE", "due", CELL_NUM, 0, NULL },
		{ "SCHEDULED", "scheduled", CELL_NUM, 0, NULL },
		{ "RUNNING", "running", CELL_NUM, 0, NULL },
		{ "SUCCEEDED", "succeeded", CELL_NUM, 0, NULL },
		{ "DEAD", "dead", CELL_NUM, 0, NULL },
		{ "CANCELLED", "cancelled", CELL_NUM, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	static const struct column queue_cols[] = {
		{ "QUEUE", "queue", CELL_TEXT, 40, NULL },
		{ "QUEUED", "queued", CELL_NUM, 0, NULL },
		{ "DUE", "due", CELL_NUM, 0, NULL },
		{ "SCHEDULED", "scheduled", CELL_NUM, 0, NULL },
		{ "RUNNING", "running", CELL_NUM, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	int64_t now = table_generated_at(doc);
	json_t *states, *types, *queues;
	char buf[256];
	int rc = -1;

	states = queue_state_rows(doc);
	types = table_obj_rows(json_object_get(doc, "by_type"), "type");
	queues = table_obj_rows(json_object_get(doc, "by_queue"), "queue");
	if (states == NULL || types == NULL || queues == NULL) {
		log_err("out of memory printing the report");
		goto out;
	}
	if (table_print(out, states, state_cols, now) < 0)
		goto out;
	fmt_oldest(doc, buf, sizeof(buf));
	fprintf(out, "\noldest due  %s\n", buf);
	fmt_next(doc, buf, sizeof(buf));
	fprintf(out, "next run    %s\n", buf);
	fprintf(out, "workers     %lld\n", (long long)json_integer_value(
	    json_object_get(doc, "workers")));
	if (json_array_size(types) > 0) {
		fputc('\n', out);
		if (table_print(out, types, type_cols, now) < 0)
			goto out;
	}
	if (json_array_size(queues) > 0) {
		fputc('\n', out);
		if (table_print(out, queues, queue_cols, now) < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(states);
	json_decref(types);
	json_decref(queues);
	return rc;
}

const struct report_text report_text_queue = {
	queue_print, queue_rows, queue_csv_keys
};
