/*
 * dater-report: read-only views of the job queue: counts (queue), a list
 * of jobs (jobs), one job in full (job ID), the worker processes
 * (workers), the effective configuration (config: no database needed);
 * of the conversations: per-bot state and numbers (bots), the operator's
 * dater-ctl commands (audit), contacts, one transcript
 * (conversation ID), the daily series (metrics); health checks for
 * monitoring (health, exit 1 when one fails); the Prometheus text
 * (prometheus, --prometheus) and the HTML dashboard (html), both written
 * atomically with -o FILE. Tabular views also print CSV (--csv).
 *
 * Each view is a JSON document built by lib/report from one snapshot of
 * the database; this program prints the document itself (--json) or
 * aligned tables made from it, so the two never disagree. Views are rows
 * of views[] (like git's commands[]); the tables come from one small
 * renderer over arrays of objects (struct column), which later views
 * reuse.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../jobs/jobs.h"
#include "../lib/app.h"
#include "../lib/atomic.h"
#include "../lib/clock.h"
#include "../lib/ctl.h"
#include "../lib/log.h"
#include "../lib/report.h"
#include "../lib/banned.h"

#define CELL_MAX 2048		/* bytes of one formatted cell */

/* health: some check failed (documented in dater-report.1). */
#define REPORT_EX_UNHEALTHY 1

/*
 * The html view (lib/report_html.c) is built in when that file is in the
 * tree: the Makefile compiles every lib/ file, so its presence is all it
 * takes. Without it the view says it is not part of this build.
 */
#if defined(__has_include)
#if __has_include("../lib/report_html.c") && \
    __has_include("../lib/report_html.h")
#include "../lib/report_html.h"
#define DATER_HAVE_HTML 1
#endif
#endif

enum format { FMT_TABLE, FMT_JSON, FMT_CSV, FMT_PROMETHEUS };

struct opts {
	const struct cfg *cfg;		/* loaded; for views that need no db */
	const char *cfg_path;
	const char *db_path;
	int json;			/* an enum format */
	int verbosity;			/* -1 quiet, 0, 1 verbose */
	struct report_jobs_filter filter;
	struct report_contacts_filter contacts;	/* and metrics --bot */
	struct report_health_opts health;
	const char *since;		/* metrics --since */
	const char *out_path;		/* -o FILE */
	int64_t id;
};

/* ---- rendering: cells, tables, key/value lists ---- */

enum cell {
	CELL_TEXT,		/* a string or a number as is */
	CELL_NUM,		/* a number, right-aligned */
	CELL_AGO,		/* a time, relative to generated_at */
	CELL_WHEN,		/* a time, absolute and relative */
	CELL_DURATION,		/* ms, compact */
	CELL_REAL		/* a number, %g */
};

struct column {
	const char *head;		/* NULL ends a list of columns */
	const char *key;
	enum cell kind;
	int maxw;			/* 0: no limit */
	/* Overrides kind: format row into buf. */
	void (*fmt)(const json_t *row, char *buf, size_t len);
};

/* Display width: UTF-8 characters. */
static int
width(const char *s)
{
	int w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/*
 * Copy s into out (len bytes) for a terminal: control characters become
 * spaces (the text may come from a remote server), and a text wider than
 * maxw characters (0: no limit) is cut to end in "...". Never splits a
 * UTF-8 sequence.
 */
static void
clean(const char *s, char *out, size_t len, int maxw)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0, seq;
	int keep = -1, w = 0;

	if (maxw > 3 && width(s) > maxw)
		keep = maxw - 3;
	for (; *p != '\0' && w != keep; p += seq, w++) {
		seq = 1;
		if (*p >= 0xc0)
			while (seq < 4 && (p[seq] & 0xc0) == 0x80)
				seq++;
		if (n + seq + 4 > len) {
			keep = w;	/* out of room: cut here */
			break;
		}
		if (*p < 0x20 || *p == 0x7f ||
		    (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0)) {
			out[n++] = ' ';	/* C0, DEL, C1 controls */
		} else {
			memcpy(out + n, p, seq);
			n += seq;
		}
	}
	if (w == keep && *p != '\0') {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

/* A time string from a document, as ms; 0 if absent or unparsable. */
static int64_t
doc_time(const json_t *v)
{
	int64_t ms;

	if (!json_is_string(v) || clock_parse_time(json_string_value(v),
	    &ms) < 0)
		return 0;
	return ms;
}

/* "3m20s ago", "in 5s", "now", relative to now. */
static void
fmt_ago(int64_t t, int64_t now, char *buf, size_t len)
{
	char d[32];

	if (t == now)
		snprintf(buf, len, "now");
	else if (t < now)
		snprintf(buf, len, "%s ago", clock_format_duration(now - t, d,
		    sizeof(d)));
	else
		snprintf(buf, len, "in %s", clock_format_duration(t - now, d,
		    sizeof(d)));
}

/* Format the cell of column c in row; "-" for null or absent. */
static void
fmt_cell(const json_t *row, const struct column *c, int64_t now, char *buf,
    size_t len)
{
	const json_t *v = json_object_get(row, c->key);
	char tmp[CELL_MAX], ago[64];

	tmp[0] = '\0';
	if (c->fmt != NULL) {
		c->fmt(row, tmp, sizeof(tmp));
	} else if (v == NULL || json_is_null(v)) {
		snprintf(tmp, sizeof(tmp), "-");
	} else if (c->kind == CELL_AGO || c->kind == CELL_WHEN) {
		fmt_ago(doc_time(v), now, ago, sizeof(ago));
		if (c->kind == CELL_AGO)
			snprintf(tmp, sizeof(tmp), "%s", ago);
		else
			snprintf(tmp, sizeof(tmp), "%s (%s)",
			    json_string_value(v), ago);
	} else if (c->kind == CELL_DURATION && json_is_integer(v)) {
		clock_format_duration(json_integer_value(v), tmp, sizeof(tmp));
	} else if (c->kind == CELL_REAL && json_is_number(v)) {
		snprintf(tmp, sizeof(tmp), "%g", json_number_value(v));
	} else if (json_is_string(v)) {
		snprintf(tmp, sizeof(tmp), "%s", json_string_value(v));
	} else if (json_is_integer(v)) {
		snprintf(tmp, sizeof(tmp), "%lld",
		    (long long)json_integer_value(v));
	} else if (json_is_boolean(v)) {
		snprintf(tmp, sizeof(tmp), "%s", json_is_true(v) ? "yes" :
		    "no");
	} else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		snprintf(tmp, sizeof(tmp), "%s", s != NULL ? s : "?");
		free(s);
	}
	if (tmp[0] == '\0' && c->fmt == NULL)
		snprintf(tmp, sizeof(tmp), "-");
	clean(tmp, buf, len, c->maxw);
}

/*
 * Print one line of cells padded to the widths w. Padding is held back
 * until something follows it, so no line ends in blanks.
 */
static void
put_line(FILE *out, const char *const *cells, const struct column *cols,
    const int *w, size_t ncols)
{
	size_t c;
	int pending = 0, pad;

	for (c = 0; c < ncols; c++) {
		pad = w[c] - width(cells[c]);
		if (cols[c].kind == CELL_NUM)
			pending += pad;
		if (*cells[c] != '\0') {
			fprintf(out, "%*s%s", pending, "", cells[c]);
			pending = 0;
		}
		if (cols[c].kind != CELL_NUM)
			pending += pad;
		pending += 2;
	}
	fputc('\n', out);
}

/*
 * Print rows (an array of objects) as a table with a header line,
 * columns aligned, numbers right-aligned. Returns 0 or -1 (out of
 * memory, logged).
 */
static int
table_print(FILE *out, const json_t *rows, const struct column *cols,
    int64_t now)
{
	size_t nrows = json_array_size(rows), ncols = 0, r, c;
	char **cells, buf[CELL_MAX];
	int *w, rc = -1;

	while (cols[ncols].head != NULL)
		ncols++;
	/* The rows' cells, then the header's (borrowed). */
	cells = calloc((nrows + 1) * ncols, sizeof(*cells));
	w = calloc(ncols, sizeof(*w));
	if (cells == NULL || w == NULL)
		goto out;
	for (c = 0; c < ncols; c++)
		w[c] = width(cols[c].head);
	for (r = 0; r < nrows; r++) {
		for (c = 0; c < ncols; c++) {
			fmt_cell(json_array_get(rows, r), &cols[c], now, buf,
			    sizeof(buf));
			if ((cells[r * ncols + c] = strdup(buf)) == NULL)
				goto out;
			if (width(buf) > w[c])
				w[c] = width(buf);
		}
	}
	for (c = 0; c < ncols; c++)
		cells[nrows * ncols + c] = (char *)cols[c].head;
	put_line(out, (const char *const *)cells + nrows * ncols, cols, w,
	    ncols);
	for (r = 0; r < nrows; r++)
		put_line(out, (const char *const *)cells + r * ncols, cols, w,
		    ncols);
	rc = 0;
out:
	if (rc < 0)
		log_err("out of memory printing a table");
	for (r = 0; cells != NULL && r < nrows * ncols; r++)
		free(cells[r]);
	free(cells);
	free(w);
	return rc;
}

/* Print "label   value" lines, one per field of obj. */
static void
kv_print(FILE *out, const json_t *obj, const struct column *fields,
    int64_t now)
{
	char buf[CELL_MAX];
	int i, w = 0;

	for (i = 0; fields[i].head != NULL; i++)
		if (width(fields[i].head) > w)
			w = width(fields[i].head);
	for (i = 0; fields[i].head != NULL; i++) {
		fmt_cell(obj, &fields[i], now, buf, sizeof(buf));
		fprintf(out, "%-*s  %s\n", w, fields[i].head, buf);
	}
}

/*
 * The members of obj (objects) as a new array of copies, each with its
 * member name under key, for table_print. NULL if out of memory.
 */
static json_t *
obj_rows(const json_t *obj, const char *key)
{
	json_t *rows = json_array(), *v, *row;
	const char *name;

	if (rows == NULL)
		return NULL;
	json_object_foreach((json_t *)obj, name, v) {
		row = json_copy(v);
		if (row == NULL ||
		    json_object_set_new(row, key, json_string(name)) < 0 ||
		    json_array_append_new(rows, row) < 0) {
			json_decref(row);
			json_decref(rows);
			return NULL;
		}
	}
	return rows;
}

/* ---- views: argument parsing ---- */

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: dater-report [-jqv] [--csv] [-c file] [-d db] view [args]\n"
	    "       dater-report [-qv] [-c file] [-d db] --prometheus [-o file]\n"
	    "       dater-report -h | -V\n"
	    "views:\n"
	    "  queue     counts per state, type and queue; oldest due job\n"
	    "  jobs [--state S] [--type T] [--queue Q] [--limit N]\n"
	    "            the newest jobs (%d unless --limit)\n"
	    "  job ID    one job: payload, every attempt's error\n"
	    "  workers   worker processes and the jobs they run\n"
	    "  config    the effective settings per bot (no database needed)\n"
	    "  bots      per bot: its state and why (active, paused, failing,\n"
	    "            over budget, rate-limited, quiet hours); today and 7\n"
	    "            days: messages, openers, reply rate and time, LLM\n"
	    "            use, cost, budget, failures\n"
	    "  audit [--bot B] [--limit N]   dater-ctl commands, newest first\n"
	    "  contacts [--bot B] [--status S] [--limit N]\n"
	    "  conversation CONTACT   the transcript, drafts and uncertain\n"
	    "            sends marked\n"
	    "  metrics [--since YYYY-MM-DD] [--bot B]   the daily series\n"
	    "  health [--max-due-age D] [--max-heartbeat-age D]\n"
	    "         [--max-dead-rate N]   exit 1 when a check fails\n"
	    "  prometheus [-o FILE]   the text exposition format\n"
	    "  html -o FILE           the dashboard\n"
	    "options:\n"
	    "  -c, --config FILE  configuration (else $DATER_CONFIG, ...)\n"
	    "  -d, --db FILE      database (else $DATER_DB, the config's)\n"
	    "  -j, --json         one JSON document instead of tables\n"
	    "      --csv          CSV (RFC 4180) of a view's rows\n"
	    "      --prometheus   the prometheus view\n"
	    "  -o, --output FILE  prometheus, html: write FILE atomically\n"
	    "  -q, --quiet        errors only on stderr\n"
	    "  -v, --verbose      debug messages on stderr\n"
	    "  -h, --help         this help\n"
	    "  -V, --version      the version\n", REPORT_JOBS_LIMIT);
}

/* Log a getopt failure (opterr is off) at argv[optind - 1]. */
static int
bad_option(char *const *argv, int ch, const char *where)
{
	const char *arg = argv[optind - 1];
	char name[3] = { '-', (char)optopt, '\0' };

	if (strncmp(arg, "--", 2) != 0 && optopt != 0)
		arg = name;	/* may be one of several: -jx */
	if (ch == ':')
		log_err("%soption '%s' needs a value", where, arg);
	else
		log_err("%sunknown option '%s'", where, arg);
	return EX_USAGE;
}

/* Parse the arguments after the view name (argv[0]): --json is accepted
 * here too, extra options come from extra/on_opt, and options may follow
 * the operands (job 12 --json); optind is left at the first operand. */
static int
view_args(int argc, char **argv, const struct option *extra, int nextra,
    int (*on_opt)(int, const char *, struct opts *), struct opts *o)
{
	struct option lo[16];
	const char *shortopts;
	char where[64];
	int ch, i, n = 0;

	lo[n++] = (struct option){ "json", no_argument, NULL, 'j' };
	lo[n++] = (struct option){ "csv", no_argument, NULL, 'C' };
	for (i = 0; i < nextra && n < 15; i++)
		lo[n++] = extra[i];
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	snprintf(where, sizeof(where), "%s: ", argv[0]);
	optind = 0;	/* glibc: start over on a new argv */
	/* -o FILE is the one short option a view takes. */
	shortopts = ":j";
	for (i = 0; i < nextra; i++)
		if (extra[i].val == 'o')
			shortopts = ":jo:";
	while ((ch = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
		if (ch == 'j')
			o->json = FMT_JSON;
		else if (ch == 'C')
			o->json = FMT_CSV;
		else if (ch == '?' || ch == ':')
			return bad_option(argv, ch, where);
		else if (on_opt(ch, optarg, o) != EX_OK)
			return EX_USAGE;
	}
	return EX_OK;
}

static int
no_opt(int ch, const char *arg, struct opts *o)
{
	return EX_USAGE;
}

static int
no_args(int argc, char **argv, struct opts *o)
{
	if (view_args(argc, argv, NULL, 0, no_opt, o) != EX_OK)
		return EX_USAGE;
	if (optind < argc) {
		log_err("%s: unexpected argument '%s'", argv[0], argv[optind]);
		return EX_USAGE;
	}
	return EX_OK;
}

static int
jobs_opt(int ch, const char *arg, struct opts *o)
{
	const char *errstr;
	char names[128];
	int i;

	switch (ch) {
	case 's':
		if (!report_state_known(arg)) {
			names[0] = '\0';
			for (i = 0; report_states[i] != NULL; i++) {
				if (i > 0)
					strlcat(names, ", ", sizeof(names));
				strlcat(names, report_states[i], sizeof(names));
			}
			log_err("jobs: unknown state '%s' (one of %s)", arg,
			    names);
			return EX_USAGE;
		}
		o->filter.state = arg;
		return EX_OK;
	case 't':
		o->filter.type = arg;
		return EX_OK;
	case 'Q':
		o->filter.queue = arg;
		return EX_OK;
	case 'n':
		o->filter.limit = (int)strtonum(arg, 1, REPORT_JOBS_LIMIT_MAX,
		    &errstr);
		if (errstr != NULL) {
			log_err("jobs: limit '%s' is %s (1..%d)", arg, errstr,
			    REPORT_JOBS_LIMIT_MAX);
			return EX_USAGE;
		}
		return EX_OK;
	}
	return EX_USAGE;
}

static int
jobs_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "state", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ "queue", required_argument, NULL, 'Q' },
		{ "limit", required_argument, NULL, 'n' },
	};

	if (view_args(argc, argv, lo, 4, jobs_opt, o) != EX_OK)
		return EX_USAGE;
	if (optind < argc) {
		log_err("jobs: unexpected argument '%s'", argv[optind]);
		return EX_USAGE;
	}
	return EX_OK;
}

/* The argument of a view about one thing: `VIEW ID` (a job, a contact). */
static int
id_arg(int argc, char **argv, struct opts *o, const char *view,
    const char *what)
{
	const char *errstr;

	if (view_args(argc, argv, NULL, 0, no_opt, o) != EX_OK)
		return EX_USAGE;
	if (optind + 1 != argc) {
		log_err("%s: expected one %s", view, what);
		return EX_USAGE;
	}
	o->id = strtonum(argv[optind], 1, LLONG_MAX, &errstr);
	if (errstr != NULL) {
		log_err("%s: %s '%s' is %s", view, what, argv[optind], errstr);
		return EX_USAGE;
	}
	return EX_OK;
}

static int
job_args(int argc, char **argv, struct opts *o)
{
	return id_arg(argc, argv, o, "job", "job id");
}

/* ---- views: building ---- */

static int
queue_build(struct db *db, const struct opts *o, int64_t now, json_t **doc)
{
	return (*doc = report_queue(db, now)) != NULL ? EX_OK : EX_UNAVAILABLE;
}

static int
jobs_build(struct db *db, const struct opts *o, int64_t now, json_t **doc)
{
	*doc = report_jobs(db, &o->filter, now);
	return *doc != NULL ? EX_OK : EX_UNAVAILABLE;
}

static int
job_build(struct db *db, const struct opts *o, int64_t now, json_t **doc)
{
	int rc = report_job(db, o->id, now, doc);

	if (rc == REPORT_NOT_FOUND) {
		log_err("job %lld: no such job", (long long)o->id);
		return EX_NOINPUT;
	}
	return rc == REPORT_FOUND ? EX_OK : EX_UNAVAILABLE;
}

static int
workers_build(struct db *db, const struct opts *o, int64_t now,
    json_t **doc)
{
	*doc = report_workers(db, now);
	return *doc != NULL ? EX_OK : EX_UNAVAILABLE;
}

static int
config_build(struct db *db, const struct opts *o, int64_t now,
    json_t **doc)
{
	*doc = report_config(o->cfg, jobs_names, app_db_path(o->cfg,
	    o->db_path), now);
	return *doc != NULL ? EX_OK : EX_SOFTWARE;
}

/* ---- views: tables ---- */

static int64_t
generated_at(const json_t *doc)
{
	return doc_time(json_object_get(doc, "generated_at"));
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
	fmt_ago(doc_time(at), generated_at(doc), ago, sizeof(ago));
	snprintf(buf, len, "%s (%s)", ago, json_string_value(at));
}

static int
queue_print(const json_t *doc)
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
	int64_t now = generated_at(doc);
	json_t *states, *types, *queues;
	char buf[256];
	int rc = -1;

	states = queue_state_rows(doc);
	types = obj_rows(json_object_get(doc, "by_type"), "type");
	queues = obj_rows(json_object_get(doc, "by_queue"), "queue");
	if (states == NULL || types == NULL || queues == NULL) {
		log_err("out of memory printing the report");
		goto out;
	}
	if (table_print(stdout, states, state_cols, now) < 0)
		goto out;
	fmt_oldest(doc, buf, sizeof(buf));
	printf("\noldest due  %s\n", buf);
	fmt_next(doc, buf, sizeof(buf));
	printf("next run    %s\n", buf);
	printf("workers     %lld\n", (long long)json_integer_value(
	    json_object_get(doc, "workers")));
	if (json_array_size(types) > 0) {
		putchar('\n');
		if (table_print(stdout, types, type_cols, now) < 0)
			goto out;
	}
	if (json_array_size(queues) > 0) {
		putchar('\n');
		if (table_print(stdout, queues, queue_cols, now) < 0)
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
jobs_print(const json_t *doc)
{
	static const struct column cols[] = {
		{ "ID", "id", CELL_NUM, 0, NULL },
		{ "TYPE", "type", CELL_TEXT, 24, NULL },
		{ "QUEUE", "queue", CELL_TEXT, 16, NULL },
		{ "STATE", "state", CELL_TEXT, 0, NULL },
		{ "PRI", "priority", CELL_NUM, 0, NULL },
		{ "ATTEMPTS", "attempts", CELL_NUM, 0, fmt_attempts },
		{ "RUN AT", "run_at", CELL_AGO, 0, NULL },
		{ "CREATED", "created_at", CELL_AGO, 0, NULL },
		{ "LAST ERROR", "last_error", CELL_TEXT, 60, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	const json_t *rows = json_object_get(doc, "jobs");

	if (table_print(stdout, rows, cols, generated_at(doc)) < 0)
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
print_payload(const json_t *payload, int indent)
{
	char *s = json_dumps(payload, JSON_INDENT(2) | JSON_ENCODE_ANY), *p;

	if (s == NULL) {
		puts("?");
		return;
	}
	for (p = s; *p != '\0'; p++) {
		putchar(*p);
		if (*p == '\n')
			printf("%*s", indent, "");
	}
	putchar('\n');
	free(s);
}

static int
job_print(const json_t *doc)
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
	int64_t now = generated_at(doc);

	kv_print(stdout, doc, fields, now);
	printf("%-11s  ", "payload");
	print_payload(json_object_get(doc, "payload"), 13);
	if (json_array_size(errors) == 0) {
		printf("%-11s  none\n", "errors");
		return 0;
	}
	printf("%-11s  %zu\n\n", "errors", json_array_size(errors));
	return table_print(stdout, errors, error_cols, now);
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
workers_print(const json_t *doc)
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
		{ "QUEUE", "queue", CELL_TEXT, 16, NULL },
		{ "WORKER", "worker", CELL_TEXT, 40, NULL },
		{ "STARTED", "started_at", CELL_AGO, 0, NULL },
		{ "LEASE UNTIL", "lease_until", CELL_AGO, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	const json_t *workers = json_object_get(doc, "workers");
	const json_t *orphaned = json_object_get(doc, "orphaned");
	int64_t now = generated_at(doc);

	if (table_print(stdout, workers, cols, now) < 0)
		return -1;
	if (json_array_size(workers) == 0)
		log_info("no workers registered");
	if (json_array_size(orphaned) == 0)
		return 0;
	printf("\nrunning jobs whose worker is gone:\n");
	return table_print(stdout, orphaned, orphan_cols, now);
}

/* ---- the config view ---- */

/* "NAME (set)", "NAME (unset)" or "none" for a secret's variable. */
static void
fmt_secret(const json_t *obj, const char *env_key, const char *set_key,
    char *buf, size_t len)
{
	const json_t *env = json_object_get(obj, env_key);

	if (!json_is_string(env))
		snprintf(buf, len, "none");
	else
		snprintf(buf, len, "$%s (%s)", json_string_value(env),
		    json_is_true(json_object_get(obj, set_key)) ? "set" :
		    "unset");
}

static void
fmt_api_key(const json_t *row, char *buf, size_t len)
{
	fmt_secret(row, "api_key_env", "api_key_set", buf, len);
}

static void
fmt_token(const json_t *row, char *buf, size_t len)
{
	if (json_is_null(json_object_get(row, "token_set")))
		snprintf(buf, len, "-");
	else
		fmt_secret(row, "token_env", "token_set", buf, len);
}

/* An array of strings as "a, b" (n: "N: a, b" when n is set), or
 * empty_text for []. */
static void
fmt_list(const json_t *a, int n, const char *empty_text, char *buf,
    size_t len)
{
	const json_t *v;
	size_t i, k = 0;

	if (json_array_size(a) == 0) {
		snprintf(buf, len, "%s", empty_text);
		return;
	}
	buf[0] = '\0';
	if (n)
		k = (size_t)snprintf(buf, len, "%zu: ", json_array_size(a));
	json_array_foreach(a, i, v) {
		if (k >= len)
			break;
		k += (size_t)snprintf(buf + k, len - k, "%s%s", i > 0 ? ", " :
		    "", json_string_value(v));
	}
}

static void
fmt_queues_list(const json_t *row, char *buf, size_t len)
{
	fmt_list(json_object_get(row, "queues"), 0, "* (all)", buf, len);
}

static void
fmt_opt_out(const json_t *row, char *buf, size_t len)
{
	fmt_list(json_object_get(row, "opt_out"), 1, "none", buf, len);
}

static void
fmt_delay(const json_t *row, char *buf, size_t len)
{
	const json_t *d = json_object_get(row, "reply_delay_ms");
	char lo[32], hi[32];

	snprintf(buf, len, "%s-%s", clock_format_duration(json_integer_value(
	    json_array_get(d, 0)), lo, sizeof(lo)), clock_format_duration(
	    json_integer_value(json_array_get(d, 1)), hi, sizeof(hi)));
}

static void
fmt_disclosure(const json_t *row, char *buf, size_t len)
{
	const json_t *d = json_object_get(row, "disclosure");

	snprintf(buf, len, "%s", json_is_string(d) ? json_string_value(d) :
	    "off");
}

static void
fmt_budget(const json_t *row, char *buf, size_t len)
{
	double usd = json_number_value(json_object_get(row,
	    "daily_budget_usd"));

	if (usd > 0)
		snprintf(buf, len, "%.2f USD", usd);
	else
		snprintf(buf, len, "none");
}

static void
fmt_temperature(const json_t *row, char *buf, size_t len)
{
	const json_t *t = json_object_get(row, "temperature");

	if (json_is_number(t))
		snprintf(buf, len, "%g", json_number_value(t));
	else
		snprintf(buf, len, "not sent");
}

static void
fmt_config_path(const json_t *row, char *buf, size_t len)
{
	const json_t *p = json_object_get(row, "config");

	snprintf(buf, len, "%s", json_is_string(p) ? json_string_value(p) :
	    "none (built-in defaults)");
}

static void
fmt_keep_messages(const json_t *row, char *buf, size_t len)
{
	json_int_t ms = json_integer_value(json_object_get(row,
	    "prune_messages_after_ms"));

	if (ms <= 0)
		snprintf(buf, len, "never (kept)");
	else
		clock_format_duration(ms, buf, len);
}

static void
fmt_horizon(const json_t *row, char *buf, size_t len)
{
	json_int_t ms = json_integer_value(json_object_get(row,
	    "followup_horizon_ms"));

	if (ms <= 0)
		snprintf(buf, len, "none");
	else
		clock_format_duration(ms, buf, len);
}

static void
fmt_bytes(const json_t *row, char *buf, size_t len)
{
	json_int_t b = json_integer_value(json_object_get(row,
	    "journal_size_limit"));

	if (b > 0 && b % (1 << 20) == 0)
		snprintf(buf, len, "%lldMB", (long long)(b >> 20));
	else if (b > 0 && b % (1 << 10) == 0)
		snprintf(buf, len, "%lldKB", (long long)(b >> 10));
	else
		snprintf(buf, len, "%lld bytes", (long long)b);
}

/* "title:" and then obj's fields as indented "label  value" lines. */
static void
kv_section(const char *title, const json_t *obj, const struct column *f,
    int64_t now)
{
	char buf[CELL_MAX];
	int i, w = 0;

	printf("\n%s:\n", title);
	for (i = 0; f[i].head != NULL; i++)
		if (width(f[i].head) > w)
			w = width(f[i].head);
	for (i = 0; f[i].head != NULL; i++) {
		fmt_cell(obj, &f[i], now, buf, sizeof(buf));
		printf("  %-*s  %s\n", w, f[i].head, buf);
	}
}

static const struct column bot_transport_fields[] = {
	{ "driver", "driver", CELL_TEXT, 0, NULL },
	{ "base_url", "base_url", CELL_TEXT, 0, NULL },
	{ "token", "token_env", CELL_TEXT, 0, fmt_token },
	{ "url", "url", CELL_TEXT, 0, NULL },
	{ "path", "path", CELL_TEXT, 0, NULL },
	{ "timeout", "timeout_ms", CELL_DURATION, 0, NULL },
	{ NULL, NULL, 0, 0, NULL }
};

static const struct column bot_policy_fields[] = {
	{ "persona", "persona", CELL_TEXT, 0, NULL },
	{ "model", "model", CELL_TEXT, 0, NULL },
	{ "reply_delay", "reply_delay_ms", CELL_TEXT, 0, fmt_delay },
	{ "quiet_hours", "quiet_hours", CELL_TEXT, 0, NULL },
	{ "timezone", "timezone", CELL_TEXT, 0, NULL },
	{ "max_per_hour", "max_per_hour", CELL_TEXT, 0, NULL },
	{ "max_per_chat_hour", "max_per_chat_hour", CELL_TEXT, 0, NULL },
	{ "max_initiations_per_day", "max_initiations_per_day", CELL_TEXT, 0,
	    NULL },
	{ "max_unanswered", "max_unanswered", CELL_TEXT, 0, NULL },
	{ "followup_after", "followup_after_ms", CELL_DURATION, 0, NULL },
	{ "followup_horizon", "followup_horizon_ms", CELL_TEXT, 0,
	    fmt_horizon },
	{ "opt_out", "opt_out", CELL_TEXT, 0, fmt_opt_out },
	{ "opt_out_reply", "opt_out_reply", CELL_TEXT, 0, NULL },
	{ "disclosure", "disclosure", CELL_TEXT, 0, fmt_disclosure },
	{ "review", "review", CELL_TEXT, 0, NULL },
	{ "daily_budget", "daily_budget_usd", CELL_TEXT, 0, fmt_budget },
	{ "history_messages", "history_messages", CELL_TEXT, 0, NULL },
	{ "summary_after", "summary_after", CELL_TEXT, 0, NULL },
	{ "max_reply_chars", "max_reply_chars", CELL_TEXT, 0, NULL },
	{ NULL, NULL, 0, 0, NULL }
};

/* A bot's effective LLM (secrets only as set/unset). */
static const struct column bot_llm_fields[] = {
	{ "llm.provider", "provider", CELL_TEXT, 0, NULL },
	{ "llm.base_url", "base_url", CELL_TEXT, 0, NULL },
	{ "llm.model", "model", CELL_TEXT, 0, NULL },
	{ "llm.api_key", "api_key_env", CELL_TEXT, 0, fmt_api_key },
	{ "llm.timeout", "timeout_ms", CELL_DURATION, 0, NULL },
	{ "llm.max_completion_tokens", "max_completion_tokens", CELL_TEXT, 0,
	    NULL },
	{ "llm.temperature", "temperature", CELL_TEXT, 0, fmt_temperature },
	{ "llm.price_in_per_mtok", "price_in_per_mtok", CELL_REAL, 0, NULL },
	{ "llm.price_out_per_mtok", "price_out_per_mtok", CELL_REAL, 0,
	    NULL },
	{ NULL, NULL, 0, 0, NULL }
};

/* Add one row per field of f to rows: { "setting", "vI": the cell of
 * objs[I] (NULL: "-") }. */
static int
bot_rows(json_t *rows, const struct column *f, const json_t *const *objs,
    size_t n, int64_t now)
{
	char buf[CELL_MAX], key[24];
	json_t *row;
	size_t i, k;

	for (i = 0; f[i].head != NULL; i++) {
		if ((row = json_pack("{s:s}", "setting", f[i].head)) == NULL ||
		    json_array_append_new(rows, row) < 0)
			return -1;
		for (k = 0; k < n; k++) {
			snprintf(key, sizeof(key), "v%zu", k);
			if (objs[k] == NULL)
				snprintf(buf, sizeof(buf), "-");
			else
				fmt_cell(objs[k], &f[i], now, buf, sizeof(buf));
			if (json_object_set_new(row, key, json_string(buf)) < 0)
				return -1;
		}
	}
	return 0;
}

/* The bots side by side: a column for `defaults`, one per bot. */
static int
bots_table(const json_t *doc, int64_t now)
{
	const json_t *bots = json_object_get(doc, "bots");
	size_t i, n = json_array_size(bots) + 1;
	const json_t **trans, **pol, **llm;
	struct column *cols;
	char (*keys)[24];
	json_t *rows = json_array();
	int rc = -1;

	trans = calloc(n, sizeof(*trans));
	pol = calloc(n, sizeof(*pol));
	llm = calloc(n, sizeof(*llm));
	cols = calloc(n + 2, sizeof(*cols));
	keys = calloc(n, sizeof(*keys));
	if (rows == NULL || trans == NULL || pol == NULL || llm == NULL ||
	    cols == NULL || keys == NULL) {
		log_err("out of memory printing the report");
		goto out;
	}
	cols[0] = (struct column){ "SETTING", "setting", CELL_TEXT, 0, NULL };
	pol[0] = json_object_get(doc, "defaults");
	llm[0] = json_object_get(doc, "defaults_llm");
	for (i = 0; i < n; i++) {
		const json_t *b = i > 0 ? json_array_get(bots, i - 1) : NULL;

		snprintf(keys[i], sizeof(keys[i]), "v%zu", i);
		cols[i + 1] = (struct column){ b != NULL ? json_string_value(
		    json_object_get(b, "name")) : "(defaults)", keys[i],
		    CELL_TEXT, 40, NULL };
		if (b != NULL) {
			trans[i] = json_object_get(b, "transport");
			pol[i] = json_object_get(b, "policy");
			llm[i] = json_object_get(b, "llm");
		}
	}
	if (bot_rows(rows, bot_transport_fields, trans, n, now) < 0 ||
	    bot_rows(rows, bot_llm_fields, llm, n, now) < 0 ||
	    bot_rows(rows, bot_policy_fields, pol, n, now) < 0) {
		log_err("out of memory printing the report");
		goto out;
	}
	printf("\nbots (built-in -> defaults -> bot):\n");
	rc = table_print(stdout, rows, cols, now);
out:
	json_decref(rows);
	free(trans);
	free(pol);
	free(llm);
	free(cols);
	free(keys);
	return rc;
}

/* The global job settings, then each type's. */
static int
jobset_table(const json_t *doc, int64_t now)
{
	static const struct column cols[] = {
		{ "TYPE", "type", CELL_TEXT, 0, NULL },
		{ "QUEUE", "queue", CELL_TEXT, 24, NULL },
		{ "PRI", "priority", CELL_NUM, 0, NULL },
		{ "ATTEMPTS", "max_attempts", CELL_NUM, 0, NULL },
		{ "TIMEOUT", "timeout_ms", CELL_DURATION, 0, NULL },
		{ "RETRY BASE", "retry_base_ms", CELL_DURATION, 0, NULL },
		{ "RETRY CAP", "retry_cap_ms", CELL_DURATION, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	json_t *rows = obj_rows(json_object_get(doc, "jobs"), "type");
	json_t *all = json_copy(json_object_get(doc, "queue"));
	int rc = -1;

	if (rows == NULL || all == NULL ||
	    json_object_set_new(all, "type", json_string("(queue)")) < 0 ||
	    json_array_insert(rows, 0, all) < 0) {
		log_err("out of memory printing the report");
		goto out;
	}
	printf("\njob settings (queue -> jobs.TYPE):\n");
	rc = table_print(stdout, rows, cols, now);
out:
	json_decref(all);
	json_decref(rows);
	return rc;
}

static int
schedules_table(const json_t *doc, int64_t now)
{
	static const struct column cols[] = {
		{ "NAME", "name", CELL_TEXT, 32, NULL },
		{ "CRON", "cron", CELL_TEXT, 32, NULL },
		{ "JOB", "job", CELL_TEXT, 0, NULL },
		{ "QUEUE", "queue", CELL_TEXT, 24, NULL },
		{ "PRI", "priority", CELL_NUM, 0, NULL },
		{ "PAYLOAD", "payload", CELL_TEXT, 60, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	const json_t *rows = json_object_get(doc, "schedules");

	if (json_array_size(rows) == 0) {
		printf("\nschedules: none\n");
		return 0;
	}
	printf("\nschedules:\n");
	return table_print(stdout, rows, cols, now);
}

static int
config_print(const json_t *doc)
{
	static const struct column top[] = {
		{ "config", "config", CELL_TEXT, 0, fmt_config_path },
		{ "database", "database", CELL_TEXT, 0, NULL },
		{ "synchronous", "synchronous", CELL_TEXT, 0, NULL },
		{ "busy_timeout", "busy_timeout_ms", CELL_DURATION, 0, NULL },
		{ "log_level", "log_level", CELL_TEXT, 0, NULL },
		{ "fields", "fields", CELL_TEXT, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	static const struct column worker[] = {
		{ "concurrency", "concurrency", CELL_TEXT, 0, NULL },
		{ "queues", "queues", CELL_TEXT, 0, fmt_queues_list },
		{ "lease", "lease_ms", CELL_DURATION, 0, NULL },
		{ "heartbeat", "heartbeat_ms", CELL_DURATION, 0, NULL },
		{ "poll_interval", "poll_interval_ms", CELL_DURATION, 0, NULL },
		{ "restart_backoff_max", "restart_backoff_max_ms",
		    CELL_DURATION, 0, NULL },
		{ "shutdown_grace", "shutdown_grace_ms", CELL_DURATION, 0,
		    NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	static const struct column llm[] = {
		{ "provider", "provider", CELL_TEXT, 0, NULL },
		{ "base_url", "base_url", CELL_TEXT, 0, NULL },
		{ "model", "model", CELL_TEXT, 0, NULL },
		{ "api_key", "api_key_env", CELL_TEXT, 0, fmt_api_key },
		{ "timeout", "timeout_ms", CELL_DURATION, 0, NULL },
		{ "max_completion_tokens", "max_completion_tokens", CELL_TEXT, 0,
		    NULL },
		{ "temperature", "temperature", CELL_TEXT, 0, fmt_temperature },
		{ "price_in_per_mtok", "price_in_per_mtok", CELL_REAL, 0, NULL },
		{ "price_out_per_mtok", "price_out_per_mtok", CELL_REAL, 0,
		    NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	static const struct column sched[] = {
		{ "timezone", "timezone", CELL_TEXT, 0, NULL },
		{ "initiate", "initiate", CELL_TEXT, 0, NULL },
		{ "followup", "followup", CELL_TEXT, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	static const struct column maint[] = {
		{ "backup_dir", "backup_dir", CELL_TEXT, 0, NULL },
		{ "backup_keep", "backup_keep", CELL_TEXT, 0, NULL },
		{ "prune_jobs_after", "prune_jobs_after_ms", CELL_DURATION, 0,
		    NULL },
		{ "prune_messages_after", "prune_messages_after_ms", CELL_TEXT,
		    0, fmt_keep_messages },
		{ "journal_size_limit", "journal_size_limit", CELL_TEXT, 0,
		    fmt_bytes },
		{ NULL, NULL, 0, 0, NULL }
	};
	int64_t now = generated_at(doc);

	kv_print(stdout, doc, top, now);
	kv_section("worker", json_object_get(doc, "worker"), worker, now);
	if (jobset_table(doc, now) < 0)
		return -1;
	kv_section("llm", json_object_get(doc, "llm"), llm, now);
	if (bots_table(doc, now) < 0 || schedules_table(doc, now) < 0)
		return -1;
	kv_section("scheduler", json_object_get(doc, "scheduler"), sched,
	    now);
	kv_section("maintenance", json_object_get(doc, "maintenance"), maint,
	    now);
	return 0;
}

/* ---- CSV (RFC 4180) ---- */

/*
 * The one CSV field writer every view goes through. Names and texts come
 * from remote users, so a field is made safe for a spreadsheet (OWASP,
 * CSV injection): one that starts with '=', '+', '-', '@', a tab or a CR
 * gets a single quote in front, inside the quotes, so no formula runs.
 * Control characters (C0 but newline, so tab and CR too; DEL; the C1
 * range U+0080..U+009F in UTF-8) cannot reach a terminal or a parser:
 * each becomes "\xHH" (its byte, or its code point for C1); a backslash
 * stays as it is. Quoted when it holds a comma, a quote, a newline, a
 * quote mark in front or an escape; quotes are doubled.
 */
static void
csv_field(FILE *out, const char *s)
{
	const unsigned char *p;
	int formula = strchr("=+-@\t\r", s[0]) != NULL && s[0] != '\0';
	int quote = formula || strpbrk(s, ",\"\n") != NULL;

	for (p = (const unsigned char *)s; *p != '\0' && !quote; p++)
		if ((*p < 0x20 && *p != '\n') || *p == 0x7f ||
		    (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			quote = 1;
	if (!quote) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	if (formula)
		fputc('\'', out);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"') {
			fputs("\"\"", out);
		} else if ((*p < 0x20 && *p != '\n') || *p == 0x7f) {
			fprintf(out, "\\x%02x", *p);
		} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			fprintf(out, "\\x%02x", p[1]);
			p++;
		} else {
			fputc(*p, out);
		}
	}
	fputc('"', out);
}

/* A JSON value as CSV text: null is empty, times stay RFC 3339, objects
 * and arrays are compact JSON. */
static void
csv_value(FILE *out, const json_t *v)
{
	char buf[64], *s;

	if (v == NULL || json_is_null(v)) {
		return;
	} else if (json_is_string(v)) {
		csv_field(out, json_string_value(v));
	} else if (json_is_integer(v)) {
		fprintf(out, "%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		snprintf(buf, sizeof(buf), "%.10g", json_real_value(v));
		fputs(buf, out);
	} else if (json_is_boolean(v)) {
		fputs(json_is_true(v) ? "true" : "false", out);
	} else if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) !=
	    NULL) {
		csv_field(out, s);
		free(s);
	}
}

/* rows (objects) as CSV with a header row of keys; CRLF line ends. */
static void
csv_print(FILE *out, const json_t *rows, const char *const *keys)
{
	const json_t *row;
	size_t r;
	int k;

	for (k = 0; keys[k] != NULL; k++) {
		if (k > 0)
			fputc(',', out);
		csv_field(out, keys[k]);
	}
	fputs("\r\n", out);
	json_array_foreach((json_t *)rows, r, row) {
		for (k = 0; keys[k] != NULL; k++) {
			if (k > 0)
				fputc(',', out);
			csv_value(out, json_object_get(row, keys[k]));
		}
		fputs("\r\n", out);
	}
}

/* ---- bots, contacts, conversation, metrics, health: arguments ---- */

static int
limit_arg(const char *view, const char *arg, int *out)
{
	const char *errstr;

	*out = (int)strtonum(arg, 1, REPORT_JOBS_LIMIT_MAX, &errstr);
	if (errstr != NULL) {
		log_err("%s: limit '%s' is %s (1..%d)", view, arg, errstr,
		    REPORT_JOBS_LIMIT_MAX);
		return EX_USAGE;
	}
	return EX_OK;
}

static int
contacts_opt(int ch, const char *arg, struct opts *o)
{
	switch (ch) {
	case 'b':
		o->contacts.bot = arg;
		return EX_OK;
	case 's':
		if (!report_contact_status_known(arg)) {
			log_err("contacts: unknown status '%s' (one of new,"
			    " active, paused, opted_out, blocked)", arg);
			return EX_USAGE;
		}
		o->contacts.status = arg;
		return EX_OK;
	case 'n':
		return limit_arg("contacts", arg, &o->contacts.limit);
	}
	return EX_USAGE;
}

static int
contacts_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "bot", required_argument, NULL, 'b' },
		{ "status", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'n' },
	};

	if (view_args(argc, argv, lo, 3, contacts_opt, o) != EX_OK)
		return EX_USAGE;
	if (optind < argc) {
		log_err("contacts: unexpected argument '%s'", argv[optind]);
		return EX_USAGE;
	}
	return EX_OK;
}

static int
audit_opt(int ch, const char *arg, struct opts *o)
{
	if (ch == 'b') {
		o->contacts.bot = arg;
		return EX_OK;
	}
	return ch == 'n' ? limit_arg("audit", arg, &o->contacts.limit) :
	    EX_USAGE;
}

static int
audit_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "bot", required_argument, NULL, 'b' },
		{ "limit", required_argument, NULL, 'n' },
	};

	if (view_args(argc, argv, lo, 2, audit_opt, o) != EX_OK)
		return EX_USAGE;
	if (optind < argc) {
		log_err("audit: unexpected argument '%s'", argv[optind]);
		return EX_USAGE;
	}
	return EX_OK;
}

static int
conversation_args(int argc, char **argv, struct opts *o)
{
	return id_arg(argc, argv, o, "conversation", "contact id");
}

/* Whether s is a date YYYY-MM-DD. */
static int
is_date(const char *s)
{
	char t[40];
	int64_t ms;
	int i;

	for (i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
			return 0;
	if (s[10] != '\0')
		return 0;
	snprintf(t, sizeof(t), "%sT00:00:00Z", s);
	return clock_parse_time(t, &ms) == 0;
}

static int
metrics_opt(int ch, const char *arg, struct opts *o)
{
	switch (ch) {
	case 'S':
		if (!is_date(arg)) {
			log_err("metrics: since '%s' is not a date YYYY-MM-DD",
			    arg);
			return EX_USAGE;
		}
		o->since = arg;
		return EX_OK;
	case 'b':
		o->contacts.bot = arg;
		return EX_OK;
	}
	return EX_USAGE;
}

static int
metrics_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "since", required_argument, NULL, 'S' },
		{ "bot", required_argument, NULL, 'b' },
	};

	if (view_args(argc, argv, lo, 2, metrics_opt, o) != EX_OK)
		return EX_USAGE;
	if (optind < argc) {
		log_err("metrics: unexpected argument '%s'", argv[optind]);
		return EX_USAGE;
	}
	return EX_OK;
}

static int
duration_arg(const char *what, const char *arg, int64_t *out)
{
	if (clock_parse_duration(arg, out) < 0 || *out <= 0) {
		log_err("health: %s '%s' is not a positive duration (90s, 5m,"
		    " 1h)", what, arg);
		return EX_USAGE;
	}
	return EX_OK;
}

static int
health_opt(int ch, const char *arg, struct opts *o)
{
	const char *errstr;

	switch (ch) {
	case 'A':
		return duration_arg("max-due-age", arg,
		    &o->health.max_due_age_ms);
	case 'H':
		return duration_arg("max-heartbeat-age", arg,
		    &o->health.max_heartbeat_age_ms);
	case 'R':
		o->health.max_dead_per_hour = (int)strtonum(arg, 0, 1000000,
		    &errstr);
		if (errstr != NULL) {
			log_err("health: max-dead-rate '%s' is %s (0..1000000)",
			    arg, errstr);
			return EX_USAGE;
		}
		return EX_OK;
	}
	return EX_USAGE;
}

static int
health_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "max-due-age", required_argument, NULL, 'A' },
		{ "max-heartbeat-age", required_argument, NULL, 'H' },
		{ "max-dead-rate", required_argument, NULL, 'R' },
	};

	o->health.max_dead_per_hour = -1;
	if (view_args(argc, argv, lo, 3, health_opt, o) != EX_OK)
		return EX_USAGE;
	if (optind < argc) {
		log_err("health: unexpected argument '%s'", argv[optind]);
		return EX_USAGE;
	}
	return EX_OK;
}

static int
output_opt(int ch, const char *arg, struct opts *o)
{
	if (ch != 'o')
		return EX_USAGE;
	o->out_path = arg;
	return EX_OK;
}

/* prometheus [-o FILE], html -o FILE. */
static int
file_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' },
	};

	if (view_args(argc, argv, lo, 1, output_opt, o) != EX_OK)
		return EX_USAGE;
	if (optind < argc) {
		log_err("%s: unexpected argument '%s'", argv[0], argv[optind]);
		return EX_USAGE;
	}
	return EX_OK;
}

/* ---- bots, contacts, conversation, metrics, health: building ---- */

static int
bots_build(struct db *db, const struct opts *o, int64_t now, json_t **doc)
{
	*doc = report_bots(db, o->cfg, now);
	return *doc != NULL ? EX_OK : EX_UNAVAILABLE;
}

static int
audit_build(struct db *db, const struct opts *o, int64_t now, json_t **doc)
{
	*doc = ctl_audit_report(db, o->contacts.bot, o->contacts.limit, now);
	return *doc != NULL ? EX_OK : EX_UNAVAILABLE;
}

static int
contacts_build(struct db *db, const struct opts *o, int64_t now,
    json_t **doc)
{
	*doc = report_contacts(db, &o->contacts, now);
	return *doc != NULL ? EX_OK : EX_UNAVAILABLE;
}

static int
conversation_build(struct db *db, const struct opts *o, int64_t now,
    json_t **doc)
{
	int rc = report_conversation(db, o->id, now, doc);

	if (rc == REPORT_NOT_FOUND) {
		log_err("contact %lld: no such contact", (long long)o->id);
		return EX_NOINPUT;
	}
	return rc == REPORT_FOUND ? EX_OK : EX_UNAVAILABLE;
}

static int
metrics_build(struct db *db, const struct opts *o, int64_t now,
    json_t **doc)
{
	*doc = report_metrics(db, o->since, o->contacts.bot, now);
	return *doc != NULL ? EX_OK : EX_UNAVAILABLE;
}

static int
health_build(struct db *db, const struct opts *o, int64_t now, json_t **doc)
{
	*doc = report_health(db, o->cfg, &o->health, now);
	return *doc != NULL ? EX_OK : EX_UNAVAILABLE;
}

/* The exit status of health: 1 when a check failed. */
static int
health_status(const json_t *doc)
{
	return json_is_true(json_object_get(doc, "healthy")) ? EX_OK :
	    REPORT_EX_UNHEALTHY;
}

static int
prometheus_write(struct db *db, const struct opts *o, int64_t now,
    FILE *out)
{
	return report_prometheus(db, o->cfg, now, out) < 0 ? EX_UNAVAILABLE :
	    EX_OK;
}

static int
html_write(struct db *db, const struct opts *o, int64_t now, FILE *out)
{
#ifdef DATER_HAVE_HTML
	return report_html(db, o->cfg, now, out) < 0 ? EX_UNAVAILABLE :
	    EX_OK;
#else
	log_err("html: this build has no dashboard (lib/report_html.c)");
	return EX_UNAVAILABLE;
#endif
}

/* ---- bots, contacts, conversation, metrics, health: rows ---- */

static const char *const bots_keys[] = {
	"bot", "period", "received", "sent", "initiations",
	"initiation_replies", "reply_rate", "median_reply_ms", "llm_calls",
	"tokens_in", "tokens_out", "cost_usd", "job_failures",
	"daily_budget_usd", "budget_left_usd", "contacts", "opted_out",
	"state", "why", "state_since", "state_by", "listener",
	"listener_since", "updates_skipped", NULL
};

/* Two rows per bot (today, 7d): the period's numbers and the bot's. */
static json_t *
bots_rows(const json_t *doc)
{
	static const char *const periods[][2] = {
		{ "today", "today" }, { "last_7_days", "7d" }
	};
	json_t *rows = json_array(), *row, *b;
	size_t i, p;

	if (rows == NULL)
		return NULL;
	json_array_foreach(json_object_get(doc, "bots"), i, b) {
		for (p = 0; p < 2; p++) {
			row = json_copy(json_object_get(b, periods[p][0]));
			if (row == NULL || json_object_update_missing(row, b) < 0 ||
			    json_object_del(row, "today") < 0 ||
			    json_object_del(row, "last_7_days") < 0 ||
			    json_object_set(row, "bot", json_object_get(b,
			    "name")) < 0 || json_object_set_new(row, "period",
			    json_string(periods[p][1])) < 0 ||
			    json_array_append_new(rows, row) < 0) {
				json_decref(row);
				json_decref(rows);
				return NULL;
			}
		}
	}
	return rows;
}

static const char *const audit_keys[] = {
	"id", "at", "actor", "command", "bot", "contact", "detail", NULL
};

/* The audit rows with each detail as compact JSON text (for tables and
 * CSV). */
static json_t *
audit_rows(const json_t *doc)
{
	json_t *rows = json_array(), *row, *r;
	char *d;
	size_t i;

	if (rows == NULL)
		return NULL;
	json_array_foreach(json_object_get(doc, "audit"), i, r) {
		d = json_dumps(json_object_get(r, "detail"), JSON_COMPACT |
		    JSON_SORT_KEYS);
		row = json_copy(r);
		if (d == NULL || row == NULL || json_object_set_new(row,
		    "detail", json_string(d)) < 0 ||
		    json_array_append_new(rows, row) < 0) {
			free(d);
			json_decref(row);
			json_decref(rows);
			return NULL;
		}
		free(d);
	}
	return rows;
}

static const char *const contacts_keys[] = {
	"id", "bot", "platform_id", "handle", "name", "status", "consent",
	"timezone", "unanswered", "messages_in", "messages_out",
	"last_inbound_at", "last_outbound_at", "created_at", NULL
};
static const char *const conversation_keys[] = {
	"id", "at", "direction", "kind", "status", "mark", "text", "model",
	"tokens_in", "tokens_out", "cost_usd", "error", "created_at",
	"sent_at", NULL
};
static const char *const metrics_keys[] = {
	"day", "bot", "received", "sent", "initiations", "initiation_replies",
	"llm_calls", "tokens_in", "tokens_out", "cost_usd", "job_failures",
	NULL
};
static const char *const health_keys[] = {
	"check", "ok", "value", "threshold", "detail", NULL
};
static const char *const jobs_keys[] = {
	"id", "type", "queue", "bot", "state", "priority", "attempts",
	"max_attempts", "run_at", "created_at", "started_at", "finished_at",
	"lease_until", "worker", "unique_key", "last_error", NULL
};
static const char *const queue_keys[] = {
	"type", "total", "queued", "due", "scheduled", "running", "succeeded",
	"dead", "cancelled", NULL
};

/* A new reference to doc.key (an array of rows). */
static json_t *
member_rows(const json_t *doc, const char *key)
{
	return json_incref(json_object_get(doc, key));
}

static json_t *
contacts_rows(const json_t *doc)
{
	return member_rows(doc, "contacts");
}

static json_t *
conversation_rows(const json_t *doc)
{
	return member_rows(doc, "messages");
}

static json_t *
metrics_rows(const json_t *doc)
{
	return member_rows(doc, "days");
}

static json_t *
health_rows(const json_t *doc)
{
	return member_rows(doc, "checks");
}

static json_t *
jobs_rows(const json_t *doc)
{
	return member_rows(doc, "jobs");
}

static json_t *
queue_rows(const json_t *doc)
{
	return obj_rows(json_object_get(doc, "by_type"), "type");
}

/* ---- bots, contacts, conversation, metrics, health: tables ---- */

static void
fmt_rate(const json_t *row, char *buf, size_t len)
{
	const json_t *r = json_object_get(row, "reply_rate");

	if (json_is_number(r))
		snprintf(buf, len, "%.0f%%", json_number_value(r) * 100);
	else
		snprintf(buf, len, "-");
}

static void
fmt_usd(const json_t *row, const char *key, char *buf, size_t len)
{
	const json_t *v = json_object_get(row, key);

	if (json_is_number(v))
		snprintf(buf, len, "%.4f", json_number_value(v));
	else
		snprintf(buf, len, "-");
}

static void
fmt_cost(const json_t *row, char *buf, size_t len)
{
	fmt_usd(row, "cost_usd", buf, len);
}

static void
fmt_left(const json_t *row, char *buf, size_t len)
{
	fmt_usd(row, "budget_left_usd", buf, len);
}

static int
bots_print(const json_t *doc)
{
	static const struct column cols[] = {
		{ "BOT", "bot", CELL_TEXT, 24, NULL },
		{ "PERIOD", "period", CELL_TEXT, 0, NULL },
		{ "RECV", "received", CELL_NUM, 0, NULL },
		{ "SENT", "sent", CELL_NUM, 0, NULL },
		{ "OPENERS", "initiations", CELL_NUM, 0, NULL },
		{ "REPLY RATE", "reply_rate", CELL_NUM, 0, fmt_rate },
		{ "MEDIAN REPLY", "median_reply_ms", CELL_DURATION, 0, NULL },
		{ "LLM", "llm_calls", CELL_NUM, 0, NULL },
		{ "TOK IN", "tokens_in", CELL_NUM, 0, NULL },
		{ "TOK OUT", "tokens_out", CELL_NUM, 0, NULL },
		{ "COST USD", "cost_usd", CELL_NUM, 0, fmt_cost },
		{ "LEFT TODAY", "budget_left_usd", CELL_NUM, 0, fmt_left },
		{ "FAILURES", "job_failures", CELL_NUM, 0, NULL },
		{ "OPTED OUT", "opted_out", CELL_NUM, 0, NULL },
		{ "STATE", "state", CELL_TEXT, 0, NULL },
		{ "SINCE", "state_since", CELL_AGO, 0, NULL },
		{ "WHY", "why", CELL_TEXT, 48, NULL },
		{ "LISTENER", "listener", CELL_TEXT, 32, NULL },
		{ "LISTENING SINCE", "listener_since", CELL_AGO, 0, NULL },
		{ "SKIPPED", "updates_skipped", CELL_NUM, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	json_t *rows = bots_rows(doc);
	int rc;

	if (rows == NULL) {
		log_err("out of memory printing the report");
		return -1;
	}
	rc = table_print(stdout, rows, cols, generated_at(doc));
	if (rc == 0 && json_array_size(rows) == 0)
		log_info("no bots configured or found in the data");
	json_decref(rows);
	return rc;
}

static int
audit_print(const json_t *doc)
{
	static const struct column cols[] = {
		{ "ID", "id", CELL_NUM, 0, NULL },
		{ "AT", "at", CELL_AGO, 0, NULL },
		{ "ACTOR", "actor", CELL_TEXT, 24, NULL },
		{ "COMMAND", "command", CELL_TEXT, 0, NULL },
		{ "BOT", "bot", CELL_TEXT, 24, NULL },
		{ "CONTACT", "contact", CELL_NUM, 0, NULL },
		{ "DETAIL", "detail", CELL_TEXT, 80, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	json_t *rows = audit_rows(doc);
	int rc;

	if (rows == NULL) {
		log_err("out of memory printing the report");
		return -1;
	}
	rc = table_print(stdout, rows, cols, generated_at(doc));
	if (rc == 0 && json_array_size(rows) == 0)
		log_info("no dater-ctl command recorded");
	json_decref(rows);
	return rc;
}

static int
contacts_print(const json_t *doc)
{
	static const struct column cols[] = {
		{ "ID", "id", CELL_NUM, 0, NULL },
		{ "BOT", "bot", CELL_TEXT, 16, NULL },
		{ "PLATFORM ID", "platform_id", CELL_TEXT, 20, NULL },
		{ "NAME", "name", CELL_TEXT, 24, NULL },
		{ "STATUS", "status", CELL_TEXT, 0, NULL },
		{ "CONSENT", "consent", CELL_TEXT, 0, NULL },
		{ "IN", "messages_in", CELL_NUM, 0, NULL },
		{ "OUT", "messages_out", CELL_NUM, 0, NULL },
		{ "UNANSWERED", "unanswered", CELL_NUM, 0, NULL },
		{ "LAST IN", "last_inbound_at", CELL_AGO, 0, NULL },
		{ "LAST OUT", "last_outbound_at", CELL_AGO, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	const json_t *rows = json_object_get(doc, "contacts");

	if (table_print(stdout, rows, cols, generated_at(doc)) < 0)
		return -1;
	if (json_array_size(rows) == 0)
		log_info("no contacts match");
	else if (json_is_true(json_object_get(doc, "truncated")))
		log_info("showing the first %zu contacts; more match (--limit)",
		    json_array_size(rows));
	return 0;
}

static void
fmt_profile(const json_t *row, char *buf, size_t len)
{
	char *s = json_dumps(json_object_get(row, "profile"), JSON_COMPACT |
	    JSON_ENCODE_ANY);

	snprintf(buf, len, "%s", s != NULL ? s : "-");
	free(s);
}

/* The delivery state of a message, marked when it needs a look. */
static void
fmt_msg_state(const json_t *row, char *buf, size_t len)
{
	const json_t *mark = json_object_get(row, "mark");
	const json_t *status = json_object_get(row, "status");

	if (json_is_string(mark))
		snprintf(buf, len, "[%s]", json_string_value(mark));
	else
		snprintf(buf, len, "%s", json_is_string(status) ?
		    json_string_value(status) : "");
}

static void
fmt_dir(const json_t *row, char *buf, size_t len)
{
	const char *d = json_string_value(json_object_get(row, "direction"));

	snprintf(buf, len, "%s", d != NULL && strcmp(d, "in") == 0 ? "<-" :
	    "->");
}

static int
conversation_print(const json_t *doc)
{
	static const struct column hdr[] = {
		{ "contact", "id", CELL_TEXT, 0, NULL },
		{ "bot", "bot", CELL_TEXT, 0, NULL },
		{ "platform_id", "platform_id", CELL_TEXT, 0, NULL },
		{ "name", "name", CELL_TEXT, 0, NULL },
		{ "status", "status", CELL_TEXT, 0, NULL },
		{ "consent", "consent", CELL_TEXT, 0, NULL },
		{ "timezone", "timezone", CELL_TEXT, 0, NULL },
		{ "unanswered", "unanswered", CELL_TEXT, 0, NULL },
		{ "profile", "profile", CELL_TEXT, 200, fmt_profile },
		{ "summary", "summary", CELL_TEXT, 200, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	static const struct column cols[] = {
		{ "TIME", "at", CELL_TEXT, 0, NULL },
		{ "", "direction", CELL_TEXT, 0, fmt_dir },
		{ "KIND", "kind", CELL_TEXT, 0, NULL },
		{ "STATE", "status", CELL_TEXT, 0, fmt_msg_state },
		{ "TEXT", "text", CELL_TEXT, 100, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	const json_t *msgs = json_object_get(doc, "messages");
	int64_t now = generated_at(doc);

	kv_print(stdout, json_object_get(doc, "contact"), hdr, now);
	putchar('\n');
	if (json_array_size(msgs) == 0) {
		printf("no messages\n");
		return 0;
	}
	return table_print(stdout, msgs, cols, now);
}

static int
metrics_print(const json_t *doc)
{
	static const struct column cols[] = {
		{ "DAY", "day", CELL_TEXT, 0, NULL },
		{ "BOT", "bot", CELL_TEXT, 24, NULL },
		{ "RECV", "received", CELL_NUM, 0, NULL },
		{ "SENT", "sent", CELL_NUM, 0, NULL },
		{ "OPENERS", "initiations", CELL_NUM, 0, NULL },
		{ "REPLIES", "initiation_replies", CELL_NUM, 0, NULL },
		{ "LLM", "llm_calls", CELL_NUM, 0, NULL },
		{ "TOK IN", "tokens_in", CELL_NUM, 0, NULL },
		{ "TOK OUT", "tokens_out", CELL_NUM, 0, NULL },
		{ "COST USD", "cost_usd", CELL_NUM, 0, fmt_cost },
		{ "FAILURES", "job_failures", CELL_NUM, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	const json_t *rows = json_object_get(doc, "days");

	if (table_print(stdout, rows, cols, generated_at(doc)) < 0)
		return -1;
	if (json_array_size(rows) == 0)
		log_info("no metrics match");
	return 0;
}

static void
fmt_ok(const json_t *row, char *buf, size_t len)
{
	snprintf(buf, len, "%s", json_is_true(json_object_get(row, "ok")) ?
	    "ok" : "FAIL");
}

static int
health_print(const json_t *doc)
{
	static const struct column cols[] = {
		{ "CHECK", "check", CELL_TEXT, 40, NULL },
		{ "STATUS", "ok", CELL_TEXT, 0, fmt_ok },
		{ "DETAIL", "detail", CELL_TEXT, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};

	if (table_print(stdout, json_object_get(doc, "checks"), cols,
	    generated_at(doc)) < 0)
		return -1;
	printf("\n%s\n", json_is_true(json_object_get(doc, "healthy")) ?
	    "healthy" : "UNHEALTHY");
	return 0;
}

/* ---- wiring ---- */

struct view {
	const char *name;
	/* Parse argv (argv[0] is the view's name): EX_OK or EX_USAGE. */
	int (*args)(int argc, char **argv, struct opts *o);
	/* Build the document: EX_OK with a new reference in *doc, or a
	 * sysexits code (logged). */
	int (*build)(struct db *db, const struct opts *o, int64_t now,
	    json_t **doc);
	/* Print the document as tables to stdout: 0 or -1 (logged). */
	int (*print)(const json_t *doc);
	/* 1: the view reads only the configuration (o->cfg); the database
	 * is not opened and build gets db == NULL. */
	int no_db;
	/* For --csv (NULL: no CSV form): the rows (a new reference) and
	 * their keys, the header. */
	json_t *(*rows)(const json_t *doc);
	const char *const *keys;
	/* The exit status a built document asks for (NULL: EX_OK). */
	int (*status)(const json_t *doc);
	/* Instead of build and print: write the view's own text format to
	 * out (stdout, or -o FILE atomically). EX_OK or a code (logged). */
	int (*write)(struct db *db, const struct opts *o, int64_t now,
	    FILE *out);
};

static const struct view views[] = {
	{ "queue", no_args, queue_build, queue_print, 0, queue_rows,
	    queue_keys, NULL, NULL },
	{ "jobs", jobs_args, jobs_build, jobs_print, 0, jobs_rows, jobs_keys,
	    NULL, NULL },
	{ "job", job_args, job_build, job_print, 0, NULL, NULL, NULL, NULL },
	{ "workers", no_args, workers_build, workers_print, 0, NULL, NULL,
	    NULL, NULL },
	{ "config", no_args, config_build, config_print, 1, NULL, NULL, NULL,
	    NULL },
	{ "bots", no_args, bots_build, bots_print, 0, bots_rows, bots_keys,
	    NULL, NULL },
	{ "audit", audit_args, audit_build, audit_print, 0, audit_rows,
	    audit_keys, NULL, NULL },
	{ "contacts", contacts_args, contacts_build, contacts_print, 0,
	    contacts_rows, contacts_keys, NULL, NULL },
	{ "conversation", conversation_args, conversation_build,
	    conversation_print, 0, conversation_rows, conversation_keys, NULL,
	    NULL },
	{ "metrics", metrics_args, metrics_build, metrics_print, 0,
	    metrics_rows, metrics_keys, NULL, NULL },
	{ "health", health_args, health_build, health_print, 0, health_rows,
	    health_keys, health_status, NULL },
	{ "prometheus", file_args, NULL, NULL, 0, NULL, NULL, NULL,
	    prometheus_write },
	{ "html", file_args, NULL, NULL, 0, NULL, NULL, NULL, html_write },
	{ NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL }
};

static const struct view *
view_find(const char *name)
{
	int i;

	for (i = 0; views[i].name != NULL; i++)
		if (strcmp(views[i].name, name) == 0)
			return &views[i];
	return NULL;
}

/* Global options, up to the view's name. Returns EX_OK, EX_USAGE, or -1
 * when -h or -V was handled (exit 0). */
static int
parse_global(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "csv", no_argument, NULL, 'C' },
		{ "prometheus", no_argument, NULL, 'P' },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "+:c:d:jo:qvhV", lo, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->cfg_path = optarg;
			break;
		case 'd':
			o->db_path = optarg;
			break;
		case 'j':
			o->json = FMT_JSON;
			break;
		case 'C':
			o->json = FMT_CSV;
			break;
		case 'P':
			o->json = FMT_PROMETHEUS;
			break;
		case 'o':
			o->out_path = optarg;
			break;
		case 'q':
			o->verbosity = -1;
			break;
		case 'v':
			o->verbosity = 1;
			break;
		case 'h':
			usage(stdout);
			return -1;
		case 'V':
			app_version("dater-report");
			return -1;
		default:
			return bad_option(argv, ch, "");
		}
	}
	return EX_OK;
}

static void
set_log_level(const struct opts *o, const struct cfg *cfg)
{
	if (o->verbosity < 0)
		log_set_level(LOG_LEVEL_ERROR);
	else if (o->verbosity > 0)
		log_set_level(LOG_LEVEL_DEBUG);
	else if (cfg != NULL)
		log_set_level((enum log_level)cfg->log_level);
}

/* Print doc as JSON, CSV or tables; EX_OK, or EX_IOERR/EX_SOFTWARE
 * (logged). */
static int
output(const struct view *v, const json_t *doc, int format)
{
	json_t *rows;

	if (format == FMT_JSON) {
		if (json_dumpf(doc, stdout, JSON_INDENT(2)) < 0) {
			log_err("cannot write the JSON document");
			return EX_IOERR;
		}
		putchar('\n');
	} else if (format == FMT_CSV) {
		if ((rows = v->rows(doc)) == NULL) {
			log_err("out of memory printing the report");
			return EX_SOFTWARE;
		}
		csv_print(stdout, rows, v->keys);
		json_decref(rows);
	} else if (v->print(doc) < 0) {
		return EX_SOFTWARE;
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		log_err("write to standard output failed");
		return EX_IOERR;
	}
	return EX_OK;
}

/*
 * Run v->write into path atomically (lib/atomic.h): path must be a
 * regular file or a new name; a temporary file beside it, mode 0644,
 * flushed and fsynced, then renamed over path. A reader (node_exporter,
 * a browser) sees the old file or the new one, never half of one.
 * EX_OK, EX_CANTCREAT (refused or cannot create) or EX_IOERR (logged).
 */
static int
write_file(const struct view *v, struct db *db, const struct opts *o,
    int64_t now, const char *path)
{
	struct atomic_file af;
	char err[PATH_MAX + 128];
	int rc;

	if (atomic_open(&af, path, 0644, err, sizeof(err)) != ATOMIC_OK) {
		log_err("output %s", err);
		return EX_CANTCREAT;
	}
	if ((rc = v->write(db, o, now, af.f)) != EX_OK) {
		atomic_abort(&af);
		return rc;
	}
	switch (atomic_commit(&af, err, sizeof(err))) {
	case ATOMIC_OK:
		return EX_OK;
	case ATOMIC_CANTCREAT:
		log_err("output %s", err);
		return EX_CANTCREAT;
	default:
		log_err("output %s", err);
		return EX_IOERR;
	}
}

/* A view with its own text format: to -o FILE or stdout. */
static int
run_write(const struct view *v, struct db *db, const struct opts *o,
    int64_t now)
{
	int rc;

	if (o->out_path != NULL)
		return write_file(v, db, o, now, o->out_path);
	rc = v->write(db, o, now, stdout);
	if (rc == EX_OK && (fflush(stdout) == EOF || ferror(stdout))) {
		log_err("write to standard output failed");
		return EX_IOERR;
	}
	return rc;
}

/* Load the config, open the database read-only (unless the view needs
 * none), build and print. */
static int
run(const struct view *v, struct opts *o)
{
	struct cfg cfg;
	struct db db;
	json_t *doc = NULL;
	int rc;

	if ((rc = app_config(&cfg, o->cfg_path, o->db_path, jobs_names)) !=
	    EX_OK)
		return rc;
	set_log_level(o, &cfg);
	o->cfg = &cfg;
	if (v->no_db) {
		rc = v->build(NULL, o, clock_now_ms(), &doc);
	} else if ((rc = app_open_db(&db, &cfg, o->db_path, DB_READONLY)) ==
	    EX_OK) {
		if (v->write != NULL)
			rc = run_write(v, &db, o, clock_now_ms());
		else
			rc = v->build(&db, o, clock_now_ms(), &doc);
		db_close(&db);
	}
	o->cfg = NULL;		/* it lives on this stack frame */
	cfg_release(&cfg);
	if (rc == EX_OK && doc != NULL) {
		rc = output(v, doc, o->json);
		if (rc == EX_OK && v->status != NULL)
			rc = v->status(doc);
	}
	json_decref(doc);
	return rc;
}

/* Whether the format and -o fit the view; EX_OK or EX_USAGE (logged). */
static int
check_format(const struct view *v, const struct opts *o)
{
	if (v->write != NULL) {
		if (o->json != FMT_TABLE &&
		    !(o->json == FMT_PROMETHEUS && strcmp(v->name,
		    "prometheus") == 0)) {
			log_err("%s: --json and --csv do not apply", v->name);
			return EX_USAGE;
		}
		if (o->out_path == NULL && strcmp(v->name, "html") == 0) {
			log_err("html: -o FILE is required");
			return EX_USAGE;
		}
		return EX_OK;
	}
	if (o->out_path != NULL) {
		log_err("%s: -o is only for prometheus and html", v->name);
		return EX_USAGE;
	}
	if (o->json == FMT_PROMETHEUS) {
		log_err("--prometheus is a view of its own: give no other view");
		return EX_USAGE;
	}
	if (o->json == FMT_CSV && v->rows == NULL) {
		log_err("%s: no CSV form (use --json)", v->name);
		return EX_USAGE;
	}
	return EX_OK;
}

int
main(int argc, char **argv)
{
	static char prom_name[] = "prometheus";
	static char *prom_argv[] = { prom_name, NULL };
	struct opts o;
	const struct view *v;
	int rc;

	memset(&o, 0, sizeof(o));
	log_init("dater-report", LOG_LEVEL_INFO, 0);
	opterr = 0;
	if ((rc = parse_global(argc, argv, &o)) != EX_OK) {
		if (rc < 0)
			return EX_OK;
		usage(stderr);
		return rc;
	}
	set_log_level(&o, NULL);
	if (optind >= argc && o.json == FMT_PROMETHEUS) {
		v = view_find("prometheus");
		if (file_args(1, prom_argv, &o) != EX_OK)
			return EX_USAGE;
		return run(v, &o);
	}
	if (optind >= argc) {
		log_err("no view given");
		usage(stderr);
		return EX_USAGE;
	}
	if ((v = view_find(argv[optind])) == NULL) {
		log_err("unknown view '%s'", argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (v->args(argc, argv, &o) != EX_OK || check_format(v, &o) !=
	    EX_OK) {
		usage(stderr);
		return EX_USAGE;
	}
	return run(v, &o);
}
