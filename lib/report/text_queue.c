/*
 * text_queue.c: the text forms (tables, CSV rows) of the queue, jobs, job
 * and workers views.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../log.h"
#include "report.h"
#include "table.h"
#include "../banned.h"

static const char *const jobs_keys[] = {
	"id", "type", "queue", "bot", "state", "priority", "attempts",
	"max_attempts", "run_at", "created_at", "started_at", "finished_at",
	"lease_until", "worker", "unique_key", "last_error", NULL
};
static const char *const queue_keys[] = {
	"type", "total", "queued", "due", "scheduled", "running", "succeeded",
	"dead", "cancelled", NULL
};

static json_t *
jobs_rows(const json_t *doc)
{
	return table_member_rows(doc, "jobs");
}

static json_t *
queue_rows(const json_t *doc)
{
	return table_obj_rows(json_object_get(doc, "by_type"), "type");
}

static void
fmt_attempts(const json_t *row, char *buf, size_t len)
{
	snprintf(buf, len, "%lld/%lld",
	    (long long)json_integer_value(json_object_get(row, "attempts")),
	    (long long)json_integer_value(json_object_get(row,
	    "max_attempts")));
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

	if (table_print(out, rows, cols, table_generated_at(doc)) < 0)
		return -1;
	if (json_array_size(rows) == 0)
		log_info("no jobs match");
	else if (json_is_true(json_object_get(doc, "truncated")))
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

	if (table_print(out, workers, cols, now) < 0)
		return -1;
	if (json_array_size(workers) == 0)
		log_info("no workers registered");
	if (json_array_size(orphaned) == 0)
		return 0;
	fprintf(out, "\nrunning jobs whose worker is gone:\n");
	return table_print(out, orphaned, orphan_cols, now);
}

const struct report_text report_text_queue = {
	queue_print, queue_rows, queue_keys
};
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

static const char *const workers_keys[] = {
	"id", "pid", "host", "queues", "started_at", "heartbeat_at",
	"heartbeat_age_ms", "jobs", NULL
};

static json_t *
workers_rows(const json_t *doc)
{
	return table_member_rows(doc, "workers");
}

const struct report_text report_text_job = {
	job_print, job_rows, job_keys
};
const struct report_text report_text_workers = {
	workers_print, workers_rows, workers_keys
};
