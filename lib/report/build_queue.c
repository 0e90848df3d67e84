/*
 * build_queue: the documents of the queue views of dater-report (queue,
 * jobs, job, workers), and the helpers every builder shares. Every view
 * reads inside one deferred transaction, so its numbers come from one
 * snapshot even while workers commit (WAL readers never block writers
 * nor wait for them).
 *
 * Cost on a large table: the per-state and per-type counts are one scan
 * of jobs (GROUP BY state, type); everything about live jobs (due versus
 * scheduled, the oldest due job, per-queue counts, expired leases) reads
 * only the partial indexes jobs_next and jobs_running, whose size is the
 * number of live jobs, not of finished ones. The job list walks ids
 * backwards and stops at its limit.
 */
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../ctl.h"
#include "../log.h"
#include "../redact.h"
#include "report.h"
#include "../banned.h"

const char *const report_states[] = {
	"queued", "running", "succeeded", "dead", "cancelled", NULL
};

/* The counters of report_queue's per-type and per-queue objects. */
static const char *const type_keys[] = {
	"total", "queued", "due", "scheduled", "running", "succeeded", "dead",
	"cancelled", NULL
};
static const char *const queue_keys[] = {
	"queued", "due", "scheduled", "running", NULL
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

static int
oom(void)
{
	log_err("out of memory building the report");
	return -1;
}

/* Open a read snapshot unless the caller has a transaction open; *own
 * says whether we did. */
int
report_snap_begin(struct db *db, int *own)
{
	*own = sqlite3_get_autocommit(db->sql);
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
report_col_time(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return NULL;
	return report_time_json(sqlite3_column_int64(st, col));
}

/* A text column, borrowed until the next step; NULL for SQL NULL. */
static const char *
col_text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

/* An error text column redacted into buf (rows stored before the
 * redaction, or a secret configured since); NULL for SQL NULL. */
static const char *
col_error(sqlite3_stmt *st, int col, char *buf, size_t len)
{
	const char *s = col_text(st, col);

	if (s == NULL)
		return NULL;
	(void)redact_str(buf, len, s, NULL);
	return buf;
}

static json_int_t
col_int(sqlite3_stmt *st, int col)
{
	return (json_int_t)sqlite3_column_int64(st, col);
}

/*
 * Step st to the end, calling fn on each row (fn returns 0, or -1 on an
 * error it logged). Resets st. Returns 0 or -1 (logged).
 */
int
report_each_row(struct db *db, sqlite3_stmt *st,
    int (*fn)(sqlite3_stmt *, void *), void *arg)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (fn(st, arg) < 0) {
			sqlite3_reset(st);
			return -1;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, "read report from");
	return 0;
}

/*
 * Run a cached statement with ?1 = now that returns at most one row of
 * integer columns; *row says whether it returned one. Returns the
 * statement positioned on the row (the caller reads, then resets), or
 * NULL (logged).
 */
static sqlite3_stmt *
one_row(struct db *db, const char *sql, int64_t now, int *row)
{
	sqlite3_stmt *st = db_stmt(db, sql);
	int rc;

	if (st == NULL)
		return NULL;
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sqlite3_reset(st);
		db_fail(db, "read report from");
		return NULL;
	}
	*row = rc == SQLITE_ROW;
	return st;
}

/* Set obj.key to a new reference v (which may be NULL: json null). */
static int
set(json_t *obj, const char *key, json_t *v)
{
	if (json_object_set_new(obj, key, v != NULL ? v : json_null()) < 0)
		return oom();
	return 0;
}

/* obj.key += n (missing counts as 0). */
static int
bump(json_t *obj, const char *key, json_int_t n)
{
	json_int_t v = json_integer_value(json_object_get(obj, key));

	return set(obj, key, json_integer(v + n));
}

/* A new object with every key of keys set to 0. */
static json_t *
counters_new(const char *const *keys)
{
	json_t *o = json_object();
	int i;

	for (i = 0; o != NULL && keys[i] != NULL; i++) {
		if (set(o, keys[i], json_integer(0)) < 0) {
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
		oom();
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
	oom();
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
q_state_row(sqlite3_stmt *st, void *arg)
{
	struct queue_acc *acc = arg;
	const char *state = col_text(st, 0), *type = col_text(st, 1);
	json_int_t n = col_int(st, 2);
	json_t *ty;

	if (state == NULL || type == NULL)
		return oom();
	if ((ty = child(acc->by_type, type, type_keys)) == NULL)
		return -1;
	if (bump(acc->doc, state, n) < 0 || bump(acc->doc, "total", n) < 0 ||
	    bump(ty, state, n) < 0 || bump(ty, "total", n) < 0)
		return -1;
	return 0;
}

static int
q_queued_row(sqlite3_stmt *st, void *arg)
{
	struct queue_acc *acc = arg;
	const char *queue = col_text(st, 0), *type = col_text(st, 1);
	const char *key = sqlite3_column_int(st, 2) ? "due" : "scheduled";
	json_int_t n = col_int(st, 3);
	json_t *ty, *qu;

	if (queue == NULL || type == NULL)
		return oom();
	if ((ty = child(acc->by_type, type, type_keys)) == NULL ||
	    (qu = child(acc->by_queue, queue, queue_keys)) == NULL)
		return -1;
	if (bump(acc->doc, key, n) < 0 || bump(ty, key, n) < 0 ||
	    bump(qu, key, n) < 0 || bump(qu, "queued", n) < 0)
		return -1;
	return 0;
}

static int
q_running_row(sqlite3_stmt *st, void *arg)
{
	struct queue_acc *acc = arg;
	const char *queue = col_text(st, 0);
	json_t *qu;

	if (queue == NULL)
		return oom();
	if ((qu = child(acc->by_queue, queue, queue_keys)) == NULL)
		return -1;
	return bump(qu, "running", col_int(st, 1));
}

/* Run a grouping query with ?1 = now over fn. */
static int
q_group(struct db *db, const char *sql, int64_t now,
    int (*fn)(sqlite3_stmt *, void *), struct queue_acc *acc)
{
	sqlite3_stmt *st = db_stmt(db, sql);

	if (st == NULL)
		return -1;
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, now);
	return report_each_row(db, st, fn, acc);
}

/* doc.key = the count sql returns. */
static int
q_count(struct db *db, const char *sql, int64_t now, json_t *doc,
    const char *key)
{
	sqlite3_stmt *st;
	json_int_t n = 0;
	int row;

	if ((st = one_row(db, sql, now, &row)) == NULL)
		return -1;
	if (row)
		n = col_int(st, 0);
	sqlite3_reset(st);
	return set(doc, key, json_integer(n));
}

static int
q_oldest(struct db *db, int64_t now, json_t *doc)
{
	sqlite3_stmt *st;
	json_t *id = NULL, *type = NULL, *at = NULL, *age = NULL;
	int row;

	if ((st = one_row(db, sql_q_oldest, now, &row)) == NULL)
		return -1;
	if (row) {
		id = json_integer(col_int(st, 0));
		if (col_text(st, 1) != NULL)
			type = json_string(col_text(st, 1));
		at = report_col_time(st, 2);
		age = json_integer(now - sqlite3_column_int64(st, 2));
	}
	sqlite3_reset(st);
	/* set() takes each reference, even when an earlier one failed. */
	return set(doc, "oldest_due_id", id) | set(doc, "oldest_due_type",
	    type) | set(doc, "oldest_due_at", at) | set(doc,
	    "oldest_due_age_ms", age);
}

static int
q_next(struct db *db, int64_t now, json_t *doc)
{
	sqlite3_stmt *st;
	json_t *v = NULL;
	int row;

	if ((st = one_row(db, sql_q_next, now, &row)) == NULL)
		return -1;
	if (row)
		v = report_col_time(st, 0);	/* min() of no rows is NULL */
	sqlite3_reset(st);
	return set(doc, "next_scheduled_at", v);
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
		oom();
		goto out;
	}
	for (i = 0; type_keys[i] != NULL; i++)
		if (set(acc.doc, type_keys[i], json_integer(0)) < 0)
			goto out;
	if (q_read(db, now, &acc) < 0)
		goto out;
	if ((bt = sorted(acc.by_type)) == NULL ||
	    (bq = sorted(acc.by_queue)) == NULL)
		goto out;
	if (json_object_set(acc.doc, "by_type", bt) < 0 ||
	    json_object_set(acc.doc, "by_queue", bq) < 0) {
		oom();
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

/* ---- jobs and job ---- */

/* The columns row_job reads, in order. */
#define JOB_COLUMNS \
	"id, type, queue, bot, state, priority, attempts, max_attempts," \
	" run_at, created_at, started_at, finished_at, lease_until, worker," \
	" unique_key," \
	" CASE WHEN json_valid(errors) THEN" \
	"  json_extract(errors, '$[#-1].error') END"

#define JOB_NCOLUMNS 16

/* One row of JOB_COLUMNS as a new object, or NULL (logged). */
static json_t *
row_job(sqlite3_stmt *st)
{
	char err[1024];
	json_t *o;

	o = json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:I, s:I, s:I,"
	    " s:o?, s:o?, s:o?, s:o?, s:o?, s:s?, s:s?, s:s?}",
	    "id", col_int(st, 0),
	    "type", col_text(st, 1),
	    "queue", col_text(st, 2),
	    "bot", col_text(st, 3),
	    "state", col_text(st, 4),
	    "priority", col_int(st, 5),
	    "attempts", col_int(st, 6),
	    "max_attempts", col_int(st, 7),
	    "run_at", report_col_time(st, 8),
	    "created_at", report_col_time(st, 9),
	    "started_at", report_col_time(st, 10),
	    "finished_at", report_col_time(st, 11),
	    "lease_until", report_col_time(st, 12),
	    "worker", col_text(st, 13),
	    "unique_key", col_text(st, 14),
	    "last_error", col_error(st, 15, err, sizeof(err)));
	if (o == NULL)
		oom();
	return o;
}

#define JOBS_SELECT "SELECT " JOB_COLUMNS " FROM jobs"
#define JOBS_WHERE \
	" (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR queue = ?2)" \
	" AND (?4 IS NULL OR bot = ?4) AND (?5 IS NULL OR " \
	CTL_JOB_OF_CONTACT("?5", "(SELECT bot FROM contacts WHERE id = ?5)", \
	"(SELECT CAST(platform_id AS TEXT) FROM contacts WHERE id = ?5)") \
	") ORDER BY id DESC LIMIT ?3"

/*
 * One statement per state filter (index 0: any state; i + 1: state
 * report_states[i]), so the state is a literal the planner can match to
 * a partial index. Left to itself it walks the ids backwards even for the
 * few live jobs among millions of finished ones, hence INDEXED BY.
 */
static const char *const sql_jobs[] = {
	JOBS_SELECT " WHERE" JOBS_WHERE,
	JOBS_SELECT " INDEXED BY jobs_next WHERE state = 'queued' AND"
	    JOBS_WHERE,
	JOBS_SELECT " INDEXED BY jobs_running WHERE state = 'running' AND"
	    JOBS_WHERE,
	JOBS_SELECT " WHERE state = 'succeeded' AND" JOBS_WHERE,
	JOBS_SELECT " WHERE state = 'dead' AND" JOBS_WHERE,
	JOBS_SELECT " WHERE state = 'cancelled' AND" JOBS_WHERE,
};

/* The statement for a state filter, or NULL (logged) if unknown. */
static const char *
jobs_sql(const char *state)
{
	int i;

	if (state == NULL)
		return sql_jobs[0];
	for (i = 0; report_states[i] != NULL; i++)
		if (strcmp(state, report_states[i]) == 0)
			return sql_jobs[i + 1];
	log_err("unknown job state '%s'", state);
	return NULL;
}

struct jobs_acc {
	json_t *rows;
	int limit;
	int more;
};

static int
jobs_row(sqlite3_stmt *st, void *arg)
{
	struct jobs_acc *acc = arg;
	json_t *o;

	if ((int)json_array_size(acc->rows) == acc->limit) {
		acc->more = 1;	/* the one extra row asked for */
		return 0;
	}
	if ((o = row_job(st)) == NULL)
		return -1;
	if (json_array_append_new(acc->rows, o) < 0)
		return oom();
	return 0;
}

json_t *
report_jobs(struct db *db, const struct report_jobs_filter *f, int64_t now)
{
	struct jobs_acc acc = { NULL, 0, 0 };
	const char *sql;
	sqlite3_stmt *st;
	json_t *doc = NULL;
	int own;

	acc.limit = f->limit > 0 ? f->limit : REPORT_JOBS_LIMIT;
	if ((sql = jobs_sql(f->state)) == NULL)
		return NULL;
	if ((acc.rows = json_array()) == NULL) {
		oom();
		return NULL;
	}
	if (report_snap_begin(db, &own) < 0)
		goto fail;
	if ((st = db_stmt(db, sql)) == NULL)
		goto fail;
	if (f->type != NULL)
		sqlite3_bind_text(st, 1, f->type, -1, SQLITE_STATIC);
	if (f->queue != NULL)
		sqlite3_bind_text(st, 2, f->queue, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)acc.limit + 1);
	if (f->bot != NULL)
		sqlite3_bind_text(st, 4, f->bot, -1, SQLITE_STATIC);
	if (f->contact > 0)
		sqlite3_bind_int64(st, 5, f->contact);
	if (report_each_row(db, st, jobs_row, &acc) < 0)
		goto fail;
	report_snap_end(db, own);
	doc = json_pack("{s:o, s:{s:s?, s:s?, s:s?, s:s?, s:o, s:i}, s:b, s:o}",
	    "generated_at", report_time_json(now),
	    "filter", "state", f->state, "type", f->type, "queue", f->queue,
	    "bot", f->bot, "contact", f->contact > 0 ?
	    json_integer(f->contact) : json_null(),
	    "limit", acc.limit,
	    "truncated", acc.more,
	    "jobs", acc.rows);
	if (doc == NULL)
		oom();
	return doc;
fail:
	report_snap_end(db, own);
	json_decref(acc.rows);
	return NULL;
}

static const char sql_job[] =
    "SELECT " JOB_COLUMNS ", payload, errors FROM jobs WHERE id = ?1";

/* The payload text parsed, or the text itself if it is not JSON. */
static json_t *
parse_payload(int64_t id, const char *text)
{
	json_t *v;
	json_error_t err;

	if (text == NULL)
		return json_null();
	if ((v = json_loads(text, JSON_DECODE_ANY, &err)) != NULL)
		return v;
	log_warn("job %lld: payload is not JSON (%s); shown as text",
	    (long long)id, err.text);
	return json_string(text);
}

/* The errors array parsed, with any numeric "at" as RFC 3339 and the
 * error texts redacted. */
static json_t *
parse_errors(int64_t id, const char *text)
{
	json_t *a, *e, *at;
	const char *msg;
	char buf[1024];
	size_t i;

	a = text != NULL ? json_loads(text, 0, NULL) : NULL;
	if (!json_is_array(a)) {
		log_warn("job %lld: errors column is not a JSON array",
		    (long long)id);
		json_decref(a);
		return json_array();
	}
	json_array_foreach(a, i, e) {
		msg = json_string_value(json_object_get(e, "error"));
		if (msg != NULL) {
			(void)redact_str(buf, sizeof(buf), msg, NULL);
			if (json_object_set_new(e, "error", json_string(buf)) <
			    0) {
				json_decref(a);
				return NULL;
			}
		}
		at = json_object_get(e, "at");
		if (json_is_integer(at) &&
		    json_object_set_new(e, "at",
		    report_time_json(json_integer_value(at))) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* Read the row st is on into a new document. */
static json_t *
job_doc(sqlite3_stmt *st, int64_t id, int64_t now)
{
	json_t *doc;

	if ((doc = row_job(st)) == NULL)
		return NULL;
	if (set(doc, "payload", parse_payload(id,
	    col_text(st, JOB_NCOLUMNS))) < 0 ||
	    set(doc, "errors", parse_errors(id,
	    col_text(st, JOB_NCOLUMNS + 1))) < 0 ||
	    set(doc, "generated_at", report_time_json(now)) < 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

int
report_job(struct db *db, int64_t id, int64_t now, json_t **out)
{
	sqlite3_stmt *st;
	json_t *doc = NULL;
	int own, rc;

	if (report_snap_begin(db, &own) < 0)
		return -1;
	if ((st = db_stmt(db, sql_job)) == NULL) {
		report_snap_end(db, own);
		return -1;
	}
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		doc = job_doc(st, id, now);
	else if (rc != SQLITE_DONE)
		db_fail(db, "read job from");
	sqlite3_reset(st);
	report_snap_end(db, own);
	if (rc == SQLITE_DONE)
		return REPORT_NOT_FOUND;
	if (doc == NULL)
		return -1;
	*out = doc;
	return REPORT_FOUND;
}

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
worker_row(sqlite3_stmt *st, void *arg)
{
	struct workers_acc *acc = arg;
	const char *id = col_text(st, 0);
	json_t *w, *jobs = json_array();

	w = json_pack("{s:s?, s:I, s:s?, s:s?, s:o?, s:o?, s:I, s:O}",
	    "id", id,
	    "pid", col_int(st, 1),
	    "host", col_text(st, 2),
	    "queues", col_text(st, 3),
	    "started_at", report_col_time(st, 4),
	    "heartbeat_at", report_col_time(st, 5),
	    "heartbeat_age_ms", (json_int_t)(acc->now -
	    sqlite3_column_int64(st, 5)),
	    "jobs", jobs);
	if (w == NULL || id == NULL ||
	    json_object_set(acc->by_id, id, jobs) < 0 ||
	    json_array_append_new(acc->workers, w) < 0) {
		json_decref(jobs);
		return oom();
	}
	json_decref(jobs);
	return 0;
}

static int
running_row(sqlite3_stmt *st, void *arg)
{
	struct workers_acc *acc = arg;
	const char *worker = col_text(st, 3);
	json_t *j, *list = NULL;

	j = json_pack("{s:I, s:s?, s:s?, s:s?, s:I, s:o?, s:o?}",
	    "id", col_int(st, 0),
	    "type", col_text(st, 1),
	    "queue", col_text(st, 2),
	    "worker", worker,
	    "attempts", col_int(st, 4),
	    "started_at", report_col_time(st, 5),
	    "lease_until", report_col_time(st, 6));
	if (j == NULL)
		return oom();
	if (worker != NULL)
		list = json_object_get(acc->by_id, worker);
	if (list == NULL)
		list = acc->orphaned;
	if (json_array_append_new(list, j) < 0)
		return oom();
	return 0;
}

json_t *
report_workers(struct db *db, int64_t now)
{
	struct workers_acc acc;
	sqlite3_stmt *st;
	json_t *doc = NULL;
	int own;

	acc.workers = json_array();
	acc.by_id = json_object();
	acc.orphaned = json_array();
	acc.now = now;
	if (acc.workers == NULL || acc.by_id == NULL || acc.orphaned == NULL) {
		oom();
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
		oom();
out:
	json_decref(acc.workers);
	json_decref(acc.by_id);
	json_decref(acc.orphaned);
	return doc;
}
