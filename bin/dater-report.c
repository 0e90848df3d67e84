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
 * Each view is a JSON document built by lib/report/ from one snapshot of
 * the database; this program prints the document itself (--json), or its
 * text form from lib/report/ (aligned tables, CSV rows), so they never
 * disagree. Views are rows of views[] (like git's commands[]): the
 * options each takes, its builder and its text form. This file holds the
 * options and the wiring only.
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
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../jobs/jobs.h"
#include "../lib/app.h"
#include "../lib/atomic.h"
#include "../lib/clock.h"
#include "../lib/ctl.h"
#include "../lib/log.h"
#include "../lib/report/html.h"
#include "../lib/report/report.h"
#include "../lib/report/table.h"
#include "../lib/banned.h"

/* health: some check failed (documented in dater-report.1). */
#define REPORT_EX_UNHEALTHY 1

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
	int wide;			/* --wide: tables never cut */
	int refresh;			/* html --refresh N; 0: none */
	int64_t id;
};

/* ---- views: argument parsing ---- */

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: dater-report [-jqvw] [--csv] [-c file] [-d db] view [args]\n"
	    "       dater-report [-qv] [-c file] [-d db] --prometheus [-o file]\n"
	    "       dater-report -h | -V\n"
	    "views:\n"
	    "  queue     counts per state, type and queue; oldest due job\n"
	    "  jobs [--state S] [--type T] [--queue Q] [--bot B]\n"
	    "       [--contact ID] [--limit N]\n"
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
	    "  html -o FILE [--refresh N]   the dashboard\n"
	    "options:\n"
	    "  -c, --config FILE  configuration (else $DATER_CONFIG, ...)\n"
	    "  -d, --db FILE      database (else $DATER_DB, the config's)\n"
	    "  -j, --json         one JSON document instead of tables\n"
	    "      --csv          CSV (RFC 4180) of a view's rows\n"
	    "      --prometheus   the prometheus view\n"
	    "  -o, --output FILE  prometheus, html: write FILE atomically\n"
	    "  -w, --wide         tables in full (else cut to $COLUMNS or\n"
	    "                     the terminal's width)\n"
	    "  -q, --quiet        errors only on stderr\n"
	    "  -v, --verbose      debug messages on stderr\n"
	    "  -h, --help         this help; VIEW --help: the view's\n"
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
	case 'b':
		o->filter.bot = arg;
		return EX_OK;
	case 'k':
		o->filter.contact = strtonum(arg, 1, INT64_MAX, &errstr);
		if (errstr != NULL) {
			log_err("jobs: contact '%s' is %s (an id from "
			    "dater-report contacts)", arg, errstr);
			return EX_USAGE;
		}
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
		{ "bot", required_argument, NULL, 'b' },
		{ "contact", required_argument, NULL, 'k' },
		{ "limit", required_argument, NULL, 'n' },
	};

	if (view_args(argc, argv, lo, 6, jobs_opt, o) != EX_OK)
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
	const char *errstr;

	if (ch == 'r') {
		o->refresh = (int)strtonum(arg, 1, 86400, &errstr);
		if (errstr != NULL) {
			log_err("html: refresh '%s' is %s (1..86400 seconds)",
			    arg, errstr);
			return EX_USAGE;
		}
		return EX_OK;
	}
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
		{ "refresh", required_argument, NULL, 'r' },
	};

	/* --refresh is the dashboard's only. */
	if (view_args(argc, argv, lo, strcmp(argv[0], "html") == 0 ? 2 : 1,
	    output_opt, o) != EX_OK)
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
	return report_html(db, o->cfg, now, o->refresh, out) < 0 ?
	    EX_UNAVAILABLE :
	    EX_OK;
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
	/* Its tables and CSV rows (lib/report/view_*.c). */
	const struct report_text *text;
	/* 1: the view reads only the configuration (o->cfg); the database
	 * is not opened and build gets db == NULL. */
	int no_db;
	/* The exit status a built document asks for (NULL: EX_OK). */
	int (*status)(const json_t *doc);
	/* Instead of build and print: write the view's own text format to
	 * out (stdout, or -o FILE atomically). EX_OK or a code (logged). */
	int (*write)(struct db *db, const struct opts *o, int64_t now,
	    FILE *out);
};

static const struct view views[] = {
	{ "queue", no_args, queue_build, &report_text_queue, 0, NULL, NULL },
	{ "jobs", jobs_args, jobs_build, &report_text_jobs, 0, NULL, NULL },
	{ "job", job_args, job_build, &report_text_job, 0, NULL, NULL },
	{ "workers", no_args, workers_build, &report_text_workers, 0, NULL,
	    NULL },
	{ "config", no_args, config_build, &report_text_config, 1, NULL,
	    NULL },
	{ "bots", no_args, bots_build, &report_text_bots, 0, NULL, NULL },
	{ "audit", audit_args, audit_build, &report_text_audit, 0, NULL,
	    NULL },
	{ "contacts", contacts_args, contacts_build, &report_text_contacts, 0,
	    NULL, NULL },
	{ "conversation", conversation_args, conversation_build,
	    &report_text_conversation, 0, NULL, NULL },
	{ "metrics", metrics_args, metrics_build, &report_text_metrics, 0,
	    NULL, NULL },
	{ "health", health_args, health_build, &report_text_health, 0,
	    health_status, NULL },
	{ "prometheus", file_args, NULL, NULL, 0, NULL, prometheus_write },
	{ "html", file_args, NULL, NULL, 0, NULL, html_write },
	{ NULL, NULL, NULL, NULL, 0, NULL, NULL }
};

/* Each view's --help: its synopsis and what it shows. */
static const char *const view_help[][2] = {
	{ "queue",
	    "usage: dater-report [options] queue\n"
	    "Counts of jobs per state, type and queue; the oldest due job and\n"
	    "the next one scheduled.\n"
	    "(dater-report --help lists the options.)\n" },
	{ "jobs",
	    "usage: dater-report [options] jobs [--state S] [--type T] [--queue Q]\n"
	    "           [--bot B] [--contact ID] [--limit N]\n"
	    "The newest jobs first (50 unless --limit, at most 100000):\n"
	    "  --state S      queued, running, succeeded, dead or cancelled\n"
	    "  --type T       of this job type\n"
	    "  --queue Q      in this queue\n"
	    "  --bot B        of this bot\n"
	    "  --contact ID   of this contact (its conversation jobs, the sends\n"
	    "                 of its messages, its inbound and contact jobs)\n"
	    "  --limit N      at most N rows\n"
	    "(dater-report --help lists the options.)\n" },
	{ "job",
	    "usage: dater-report [options] job ID\n"
	    "One job in full: its settings, payload and every attempt's error.\n"
	    "(dater-report --help lists the options.)\n" },
	{ "workers",
	    "usage: dater-report [options] workers\n"
	    "The worker processes, their heartbeats and the jobs they run;\n"
	    "running jobs whose worker is gone.\n"
	    "(dater-report --help lists the options.)\n" },
	{ "config",
	    "usage: dater-report [options] config\n"
	    "The effective configuration: global settings, each job type's,\n"
	    "the LLM, every bot with what it inherits, the schedules, the\n"
	    "maintenance and health settings. Needs no database.\n"
	    "(dater-report --help lists the options.)\n" },
	{ "bots",
	    "usage: dater-report [options] bots\n"
	    "Per bot, today and the last 7 days: its state and why (active,\n"
	    "paused, quiet hours, rate-limited, over budget, failing), messages,\n"
	    "openers, reply rate and time, LLM use, cost and budget, failures,\n"
	    "the listener holding it and the updates it skipped.\n"
	    "(dater-report --help lists the options.)\n" },
	{ "audit",
	    "usage: dater-report [options] audit [--bot B] "
	    "[--limit N]\n"
	    "The dater-ctl commands, newest first: who, when, what.\n"
	    "(dater-report --help lists the options.)\n" },
	{ "contacts",
	    "usage: dater-report [options] contacts [--bot B] [--status S]\n"
	    "           [--limit N]\n"
	    "The contacts, with their messages in and out and whether the last\n"
	    "one is unanswered. --status: active, opted_out or paused.\n"
	    "(dater-report --help lists the options.)\n" },
	{ "conversation",
	    "usage: dater-report [options] conversation "
	    "CONTACT\n"
	    "One contact's header and transcript, oldest first; drafts and\n"
	    "sends of uncertain outcome are marked.\n"
	    "(dater-report --help lists the options.)\n" },
	{ "metrics",
	    "usage: dater-report [options] metrics [--since YYYY-MM-DD]\n"
	    "           [--bot B]\n"
	    "The daily series per bot: messages, openers, LLM calls, tokens,\n"
	    "cost, failures.\n"
	    "(dater-report --help lists the options.)\n" },
	{ "health",
	    "usage: dater-report [options] health [--max-due-age D]\n"
	    "           [--max-heartbeat-age D] [--max-dead-rate N]\n"
	    "The health checks (due_age, workers, dead_rate, lease_expired,\n"
	    "budget:BOT); exit 1 when one fails. The thresholds come from the\n"
	    "configuration's health group; the options override them.\n"
	    "(dater-report --help lists the options.)\n" },
	{ "prometheus",
	    "usage: dater-report [options] prometheus "
	    "[-o FILE]\n"
	    "The Prometheus text exposition format; with -o, FILE is replaced\n"
	    "atomically (for node_exporter's textfile collector).\n"
	    "(dater-report --help lists the options.)\n" },
	{ "html",
	    "usage: dater-report [options] html -o FILE [--refresh N]\n"
	    "The dashboard: one self-contained HTML page, FILE replaced\n"
	    "atomically. --refresh N: a browser reloads it every N seconds.\n"
	    "(dater-report --help lists the options.)\n" },
};

/* Whether args (up to "--") ask for help. */
static int
wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

/* Print view's help on stdout. */
static void
view_usage(const char *view)
{
	size_t i;

	for (i = 0; i < sizeof(view_help) / sizeof(view_help[0]); i++)
		if (strcmp(view_help[i][0], view) == 0)
			fputs(view_help[i][1], stdout);
}

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
		{ "wide", no_argument, NULL, 'w' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "+:c:d:jo:qvwhV", lo, NULL)) != -1) {
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
		case 'w':
			o->wide = 1;
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

/* The width tables fit in: $COLUMNS if set, else the terminal's when
 * stdout is one; 0 (no limit) with --wide or into a pipe or file. */
static int
table_cols(const struct opts *o)
{
	struct winsize ws;
	const char *e = getenv("COLUMNS"), *errstr;
	int n;

	if (o->wide)
		return 0;
	if (e != NULL && *e != '\0') {
		n = (int)strtonum(e, 20, 100000, &errstr);
		if (errstr == NULL)
			return n;
	}
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) ==
	    0 && ws.ws_col > 0)
		return ws.ws_col;
	return 0;
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
		if ((rows = v->text->rows(doc)) == NULL) {
			log_err("out of memory printing the report");
			return EX_SOFTWARE;
		}
		csv_print(stdout, rows, v->text->keys);
		json_decref(rows);
	} else if (v->text->print(stdout, doc) < 0) {
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
		table_set_width(table_cols(o));
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
	if (o->json == FMT_CSV && v->text->rows == NULL) {
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
		log_usage_hint(NULL);
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
		log_usage_hint(NULL);
		return EX_USAGE;
	}
	if ((v = view_find(argv[optind])) == NULL) {
		log_err("unknown view '%s'", argv[optind]);
		log_usage_hint(NULL);
		return EX_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (wants_help(argc, argv)) {
		view_usage(v->name);
		return fflush(stdout) == EOF || ferror(stdout) ? EX_IOERR :
		    EX_OK;
	}
	if (v->args(argc, argv, &o) != EX_OK || check_format(v, &o) !=
	    EX_OK) {
		log_usage_hint(v->name);
		return EX_USAGE;
	}
	return run(v, &o);
}
