/*
 * view_jobs: dater-report jobs (the newest jobs, filtered) and job
 * (one job in full).
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

/* ---- jobs and job ---- */

/* The columns row_job reads, in order. */
#define JOB_COLUMNS \
	"id, type, queue, bot, state, priority, attempts, max_attempts," \
	" run_at, created_at, started_at, finished_at, lease_until, worker," \
	" unique_key," \
	" CASE WHEN json_valid(errors) THEN" \
	"  json_extract(errors, '$[#-1].error') END"

#define JOB_NCOLUMNS 16

/* An error text column redacted into buf (rows stored before the
 * redaction, or a secret configured since); NULL for SQL NULL. */
static const char *
col_error(struct dbst *st, int col, char *buf, size_t len)
{
	const char *s = report_col_text(st, col);

	if (s == NULL)
		return NULL;
	(void)redact_str(buf, len, s, NULL);
	return buf;
}

/* One row of JOB_COLUMNS as a new object, or NULL (logged). */
static json_t *
row_job(struct dbst *st)
{
	char err[1024];
	json_t *o;

	o = json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:I, s:I, s:I,"
	    " s:o?, s:o?, s:o?, s:o?, s:o?, s:s?, s:s?, s:s?}",
	    "id", report_col_int(st, 0),
	    "type", report_col_text(st, 1),
	    "queue", report_col_text(st, 2),
	    "bot", report_col_text(st, 3),
	    "state", report_col_text(st, 4),
	    "priority", report_col_int(st, 5),
	    "attempts", report_col_int(st, 6),
	    "max_attempts", report_col_int(st, 7),
	    "run_at", report_col_time(st, 8),
	    "created_at", report_col_time(st, 9),
	    "started_at", report_col_time(st, 10),
	    "finished_at", report_col_time(st, 11),
	    "lease_until", report_col_time(st, 12),
	    "worker", report_col_text(st, 13),
	    "unique_key", report_col_text(st, 14),
	    "last_error", col_error(st, 15, err, sizeof(err)));
	if (o == NULL)
		report_oom();
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
jobs_row(struct dbst *st, void *arg)
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
		return report_oom();
	return 0;
}

json_t *
report_jobs(struct db *db, const struct report_jobs_filter *f, int64_t now)
{
	struct jobs_acc acc = { NULL, 0, 0 };
	const char *sql;
	struct dbst *st;
	json_t *doc = NULL;
	int own;

	acc.limit = f->limit > 0 ? f->limit : REPORT_JOBS_LIMIT;
	if ((sql = jobs_sql(f->state)) == NULL)
		return NULL;
	if ((acc.rows = json_array()) == NULL) {
		report_oom();
		return NULL;
	}
	if (report_snap_begin(db, &own) < 0)
		goto fail;
	if ((st = db_stmt(db, sql)) == NULL)
		goto fail;
	if (f->type != NULL)
		db_bind_text(st, 1, f->type);
	if (f->queue != NULL)
		db_bind_text(st, 2, f->queue);
	db_bind_int64(st, 3, (int64_t)acc.limit + 1);
	if (f->bot != NULL)
		db_bind_text(st, 4, f->bot);
	if (f->contact > 0)
		db_bind_int64(st, 5, f->contact);
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
		report_oom();
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
job_doc(struct dbst *st, int64_t id, int64_t now)
{
	json_t *doc;

	if ((doc = row_job(st)) == NULL)
		return NULL;
	if (report_set(doc, "payload", parse_payload(id,
	    report_col_text(st, JOB_NCOLUMNS))) < 0 ||
	    report_set(doc, "errors", parse_errors(id,
	    report_col_text(st, JOB_NCOLUMNS + 1))) < 0 ||
	    report_set(doc, "generated_at", report_time_json(now)) < 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

int
report_job(struct db *db, int64_t id, int64_t now, json_t **out)
{
	struct dbst *st;
	json_t *doc = NULL;
	int own, rc;

	if (report_snap_begin(db, &own) < 0)
		return -1;
	if ((st = db_stmt(db, sql_job)) == NULL) {
		report_snap_end(db, own);
		return -1;
	}
	db_bind_int64(st, 1, id);
	rc = db_step(st);
	if (rc == DB_ROW)
		doc = job_doc(st, id, now);
	else if (rc != DB_DONE)
		db_fail(db, "read job from");
	db_reset(st);
	report_snap_end(db, own);
	if (rc == DB_DONE)
		return REPORT_NOT_FOUND;
	if (doc == NULL)
		return -1;
	*out = doc;
	return REPORT_FOUND;
}

static const char *const jobs_keys[] = {
	"id", "type", "queue", "bot", "state", "priority", "attempts",
	"max_attempts", "run_at", "created_at", "started_at", "finished_at",
	"lease_until", "worker", "unique_key", "last_error", NULL
};

static json_t *
jobs_rows(const json_t *doc)
{
	return table_member_rows(doc, "jobs");
}

static void
fmt_attempts(const json_t *row, char *buf, size_t len)
{
	snprintf(buf, len, "%lld/%lld",
	    (long long)json_integer_value(json_object_get(row, "attempts")),
	    (long long)json_integer_value(json_object_get(row,
	    "max_attempts")));
}

static int
jobs_print(FILE *out, const json_t *doc)
{
	static const struct column cols[] = {
		{ "ID", "id", CELL_NUM, 0, NULL },
		{ "TYPE", "type", CELL_TEXT, 24, NULL },
		{ "QUEUE", "queue", CELL_TEXT, -1, NULL },
		{ "STATE", "state", CELL_TEXT, 0, NULL },
		{ "PRI", "priority", CELL_NUM, -1, NULL },
		{ "ATTEMPTS", "attempts", CELL_NUM, 0, fmt_attempts },
		{ "RUN AT", "run_at", CELL_AGO, 0, NULL },
		{ "CREATED", "created_at", CELL_AGO, -1, NULL },
		{ "LAST ERROR", "last_error", CELL_TEXT, 60, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	const json_t *rows = json_object_get(doc, "jobs");

	if (table_print_or_none(out, rows, cols, table_generated_at(doc),
	    "no jobs match") < 0)
		return -1;
	if (json_array_size(rows) > 0 &&
	    json_is_true(json_object_get(doc, "truncated")))
		log_info("showing the newest %zu jobs; more match (--limit)",
		    json_array_size(rows));
	return 0;
}

/* The payload, pretty, its lines after the first indented by indent. */
static void
print_payload(FILE *out, const json_t *payload, int indent)
{
	char *s = json_dumps(payload, JSON_INDENT(2) | JSON_ENCODE_ANY), *p;

	if (s == NULL) {
		fputs("?\n", out);
		return;
	}
	for (p = s; *p != '\0'; p++) {
		fputc(*p, out);
		if (*p == '\n')
			fprintf(out, "%*s", indent, "");
	}
	fputc('\n', out);
	free(s);
}

static int
job_print(FILE *out, const json_t *doc)
{
	static const struct column fields[] = {
		{ "id", "id", CELL_TEXT, 0, NULL },
		{ "type", "type", CELL_TEXT, 0, NULL },
		{ "queue", "queue", CELL_TEXT, 0, NULL },
		{ "bot", "bot", CELL_TEXT, 0, NULL },
		{ "state", "state", CELL_TEXT, 0, NULL },
		{ "priority", "priority", CELL_TEXT, 0, NULL },
		{ "attempts", "attempts", CELL_TEXT, 0, fmt_attempts },
		{ "run_at", "run_at", CELL_WHEN, 0, NULL },
		{ "created_at", "created_at", CELL_WHEN, 0, NULL },
		{ "started_at", "started_at", CELL_WHEN, 0, NULL },
		{ "finished_at", "finished_at", CELL_WHEN, 0, NULL },
		{ "lease_until", "lease_until", CELL_WHEN, 0, NULL },
		{ "worker", "worker", CELL_TEXT, 0, NULL },
		{ "unique_key", "unique_key", CELL_TEXT, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	static const struct column error_cols[] = {
		{ "ATTEMPT", "attempt", CELL_NUM, 0, NULL },
		{ "AT", "at", CELL_TEXT, 0, NULL },
		{ "WORKER", "worker", CELL_TEXT, 0, NULL },
		{ "ERROR", "error", CELL_TEXT, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	const json_t *errors = json_object_get(doc, "errors");
	int64_t now = table_generated_at(doc);

	table_kv_print(out, doc, fields, now);
	fprintf(out, "%-11s  ", "payload");
	print_payload(out, json_object_get(doc, "payload"), 13);
	if (json_array_size(errors) == 0) {
		fprintf(out, "%-11s  none\n", "errors");
		return 0;
	}
	fprintf(out, "%-11s  %zu\n\n", "errors", json_array_size(errors));
	return table_print(out, errors, error_cols, now);
}

const struct report_text report_text_jobs = {
	jobs_print, jobs_rows, jobs_keys
};

/* The job as one row: the columns of jobs, its payload and errors. */
static const char *const job_keys[] = {
	"id", "type", "queue", "bot", "state", "priority", "attempts",
	"max_attempts", "run_at", "created_at", "started_at", "finished_at",
	"lease_until", "worker", "unique_key", "payload", "errors", NULL
};

static json_t *
job_rows(const json_t *doc)
{
	return json_pack("[O]", doc);
}

const struct report_text report_text_job = {
	job_print, job_rows, job_keys
};
