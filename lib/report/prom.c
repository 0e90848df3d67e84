/*
 * prom: the Prometheus text exposition (format 0.0.4) of dater,
 * for node_exporter's textfile collector (`dater-report --prometheus -o
 * /var/lib/node_exporter/dater.prom` from cron).
 *
 * The job gauges come from report_queue's document, so they agree with
 * `dater-report queue`; the per-bot counters are sums over
 * metrics_daily, all read in one snapshot. Each metric is written as one
 * group: HELP, TYPE, then its samples, as the format requires.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../ctl.h"
#include "../listener.h"
#include "../log.h"
#include "report.h"
#include "../store.h"
#include "../banned.h"

/* A label value with \, " and newline escaped as the format asks. */
static void
put_label(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '"')
			fputs("\\\"", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void
head(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",k2="v2"} value; k2 may be NULL. */
static void
sample(FILE *out, const char *name, const char *k1, const char *v1,
    const char *k2, const char *v2, double value)
{
	fputs(name, out);
	if (k1 != NULL) {
		fprintf(out, "{%s=\"", k1);
		put_label(out, v1);
		if (k2 != NULL) {
			fprintf(out, "\",%s=\"", k2);
			put_label(out, v2);
		}
		fputs("\"}", out);
	}
	fprintf(out, " %.10g\n", value);
}

static void
prom_jobs(FILE *out, const json_t *q)
{
	const json_t *bt = json_object_get(q, "by_type"), *ty;
	const char *type;
	int i;

	head(out, "dater_jobs", "gauge", "Jobs in each state.");
	for (i = 0; report_states[i] != NULL; i++)
		sample(out, "dater_jobs", "state", report_states[i], NULL, NULL,
		    (double)json_integer_value(json_object_get(q,
		    report_states[i])));
	head(out, "dater_jobs_due", "gauge",
	    "Queued jobs whose run_at has come.");
	sample(out, "dater_jobs_due", NULL, NULL, NULL, NULL,
	    (double)json_integer_value(json_object_get(q, "due")));
	head(out, "dater_jobs_by_type", "gauge", "Jobs per type and state.");
	json_object_foreach((json_t *)bt, type, ty)
		for (i = 0; report_states[i] != NULL; i++)
			sample(out, "dater_jobs_by_type", "type", type, "state",
			    report_states[i], (double)json_integer_value(
			    json_object_get(ty, report_states[i])));
	head(out, "dater_oldest_due_age_seconds", "gauge",
	    "How long the oldest due job has waited (0: none due).");
	sample(out, "dater_oldest_due_age_seconds", NULL, NULL, NULL, NULL,
	    (double)json_integer_value(json_object_get(q,
	    "oldest_due_age_ms")) / 1000.0);
	head(out, "dater_lease_expired_jobs", "gauge",
	    "Running jobs whose lease has expired.");
	sample(out, "dater_lease_expired_jobs", NULL, NULL, NULL, NULL,
	    (double)json_integer_value(json_object_get(q, "lease_expired")));
	head(out, "dater_workers", "gauge", "Registered worker processes.");
	sample(out, "dater_workers", NULL, NULL, NULL, NULL,
	    (double)json_integer_value(json_object_get(q, "workers")));
}

static const char sql_p_alive[] =
    "SELECT count(*) FROM workers WHERE heartbeat_at >= ?1";
static const char sql_p_contacts[] =
    "SELECT bot, status, count(*) FROM contacts GROUP BY bot, status"
    " ORDER BY bot, status";
/* Every bot with metrics, and every configured one (?2, a JSON array of
 * names) with zeros when it has none yet. */
static const char sql_p_bots[] =
    "WITH b(bot) AS (SELECT value FROM json_each(?2)"
    " UNION SELECT bot FROM metrics_daily)"
    " SELECT b.bot, total(received), total(sent), total(initiations),"
    " total(initiation_replies), total(llm_calls), total(tokens_in),"
    " total(tokens_out), total(cost_usd), total(job_failures),"
    " total(CASE WHEN day = ?1 THEN cost_usd END)"
    " FROM b LEFT JOIN metrics_daily m ON m.bot = b.bot"
    " GROUP BY b.bot ORDER BY b.bot";

/* The per-bot counters: column i + 1 of sql_p_bots. */
static const struct {
	const char *name, *help;
} counters[] = {
	{ "dater_messages_received_total", "Inbound messages stored." },
	{ "dater_messages_sent_total", "Outbound messages delivered." },
	{ "dater_initiations_total", "Openers delivered." },
	{ "dater_initiation_replies_total", "Replies to openers received." },
	{ "dater_llm_calls_total", "LLM calls." },
	{ "dater_tokens_in_total", "LLM prompt tokens." },
	{ "dater_tokens_out_total", "LLM completion tokens." },
	{ "dater_cost_usd_total", "Estimated LLM cost in USD." },
	{ "dater_job_failures_total", "Jobs of the bot that died." },
	{ "dater_cost_usd_today", "Estimated LLM cost today (UTC) in USD." },
};
#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))

/* Column c of every row of st (already bound) as samples of one metric,
 * labelled by column 0 as bot. */
static int
prom_bot_metric(struct db *db, struct dbst *st, FILE *out, int c)
{
	int rc;

	head(out, counters[c].name, c == NCOUNTERS - 1 ? "gauge" : "counter",
	    counters[c].help);
	while ((rc = db_step(st)) == DB_ROW)
		sample(out, counters[c].name, "bot",
		    db_col_text(st, 0), NULL, NULL,
		    db_col_double(st, c + 1));
	db_reset(st);
	if (rc != DB_DONE)
		return db_fail(db, "read report from");
	return 0;
}

/* One sample per state that applies to each configured bot
 * (ctl_bot_state): active, paused, failing, over_budget, ... */
static int
prom_states(struct db *db, const struct cfg *cfg, int64_t now, FILE *out)
{
	json_t *s, *v;
	size_t k;
	int i;

	head(out, "dater_bot_state", "gauge",
	    "1 for each state a configured bot is in (active, paused, "
	    "failing, over_budget, rate_limited, quiet).");
	for (i = 0; cfg != NULL && i < cfg->nbots; i++) {
		if ((s = ctl_bot_state(db, &cfg->bots[i], cfg->bots[i].name,
		    now)) == NULL)
			return -1;
		json_array_foreach(json_object_get(s, "states"), k, v)
			sample(out, "dater_bot_state", "bot",
			    cfg->bots[i].name, "state", json_string_value(
			    json_object_get(v, "state")), 1);
		json_decref(s);
	}
	return 0;
}

/* Unreadable updates skipped so far by bot's polls (0 if none). */
static int
skipped_updates(struct db *db, const char *bot, long long *n)
{
	char key[CFG_NAME_MAX + 32], v[32];
	const char *errstr;
	int found;

	*n = 0;
	(void)snprintf(key, sizeof(key), "poll.skipped.%s", bot);
	if ((found = store_kv_get(db, key, v, sizeof(v))) < 0)
		return -1;
	if (found == 1)
		*n = strtonum(v, 0, LLONG_MAX, &errstr);
	return 0;
}

/* For each configured Telegram bot: whether a live listener holds its
 * lease, since when, and the updates its polls skipped. */
static int
prom_listeners(struct db *db, const struct cfg *cfg, int64_t now, FILE *out)
{
	static const char *const names[] = { "dater_listener_up",
	    "dater_listener_since_seconds", "dater_updates_skipped_total" };
	static const char *const types[] = { "gauge", "gauge", "counter" };
	static const char *const helps[] = {
	    ("1 if a dater-worker tree holds the bot's long-poll listener "
	    "lease now, else 0."),
	    "When the tree holding the bot's listener took it (unix time).",
	    "Telegram updates skipped as unreadable (counted, never retried)." };
	struct listener_lease l;
	const struct cfg_bot *b;
	long long skipped;
	int i, m, rc, up;

	for (m = 0; m < 3; m++) {
		head(out, names[m], types[m], helps[m]);
		for (i = 0; cfg != NULL && i < cfg->nbots; i++) {
			b = &cfg->bots[i];
			if (strcmp(b->transport.driver, "telegram") != 0)
				continue;
			if ((rc = listener_lease_get(db, b->name, &l)) < 0 ||
			    skipped_updates(db, b->name, &skipped) < 0)
				return -1;
			up = rc == 1 && l.lease_until >= now;
			if (m == 0)
				sample(out, names[m], "bot", b->name, NULL,
				    NULL, up);
			else if (m == 1 && up)
				sample(out, names[m], "bot", b->name, NULL,
				    NULL, (double)l.since / 1000.0);
			else if (m == 2)
				sample(out, names[m], "bot", b->name, NULL,
				    NULL, (double)skipped);
		}
	}
	return 0;
}

static int
prom_bots(struct db *db, const struct cfg *cfg, int64_t now, FILE *out)
{
	char t[CLOCK_RFC3339_LEN], *text;
	struct dbst *st;
	json_t *names;
	double spent;
	size_t c;
	int i, rc;

	if ((st = db_stmt(db, sql_p_bots)) == NULL)
		return -1;
	clock_format(now, t, sizeof(t));
	t[10] = '\0';
	db_bind_text_copy(st, 1, t);
	if ((names = json_array()) == NULL)
		return -1;
	for (i = 0; cfg != NULL && i < cfg->nbots; i++)
		if (json_array_append_new(names, json_string(cfg->bots[i].name))
		    < 0) {
			json_decref(names);
			return -1;
		}
	text = json_dumps(names, JSON_COMPACT);
	json_decref(names);
	if (text == NULL)
		return -1;
	rc = db_bind_text_copy(st, 2, text);
	free(text);
	if (rc < 0)
		return -1;
	for (c = 0; c < NCOUNTERS; c++)
		if (prom_bot_metric(db, st, out, (int)c) < 0)
			return -1;
	head(out, "dater_budget_left_usd", "gauge",
	    "Daily budget minus today's cost, for bots with a budget.");
	for (i = 0; cfg != NULL && i < cfg->nbots; i++) {
		if (cfg->bots[i].policy.daily_budget_usd <= 0)
			continue;
		spent = 0;
		while ((rc = db_step(st)) == DB_ROW)
			if (strcmp(db_col_text(st, 0),
			    cfg->bots[i].name) == 0)
				spent = db_col_double(st, NCOUNTERS);
		db_reset(st);
		if (rc != DB_DONE)
			return db_fail(db, "read report from");
		sample(out, "dater_budget_left_usd", "bot", cfg->bots[i].name,
		    NULL, NULL, cfg->bots[i].policy.daily_budget_usd - spent);
	}
	if (prom_states(db, cfg, now, out) < 0)
		return -1;
	return prom_listeners(db, cfg, now, out);
}

static int
prom_rest(struct db *db, const struct cfg *cfg, int64_t now, FILE *out)
{
	struct dbst *st;
	int rc;

	if ((st = db_stmt(db, sql_p_alive)) == NULL)
		return -1;
	db_bind_int64(st, 1, now - report_heartbeat_max_ms(cfg));
	rc = db_step(st);
	head(out, "dater_workers_alive", "gauge",
	    "Workers with a recent heartbeat.");
	sample(out, "dater_workers_alive", NULL, NULL, NULL, NULL,
	    rc == DB_ROW ? db_col_double(st, 0) : 0);
	db_reset(st);
	if (rc != DB_ROW)
		return db_fail(db, "read report from");
	if ((st = db_stmt(db, sql_p_contacts)) == NULL)
		return -1;
	head(out, "dater_contacts", "gauge", "Contacts per bot and status.");
	while ((rc = db_step(st)) == DB_ROW)
		sample(out, "dater_contacts", "bot",
		    db_col_text(st, 0), "status",
		    db_col_text(st, 1),
		    db_col_double(st, 2));
	db_reset(st);
	if (rc != DB_DONE)
		return db_fail(db, "read report from");
	return prom_bots(db, cfg, now, out);
}

/* ---- histograms ---- */

#define HIST_MAX 12

/* One series of a histogram: bucket counts (each bucket counts what is
 * <= its bound, as Prometheus wants), the sum and the count. */
struct hist {
	const double *le;	/* upper bounds, ascending; +Inf is implied */
	size_t n;
	double cnt[HIST_MAX];
	double sum, count;
};

static void
hist_add(struct hist *h, double v)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (v <= h->le[i])
			h->cnt[i]++;
	h->sum += v;
	h->count++;
}

/* name_bucket{k="v",le=...}, name_sum and name_count of h, then reset. */
static void
hist_put(FILE *out, const char *name, const char *k, const char *v,
    struct hist *h)
{
	char n[128], le[32];
	size_t i;

	snprintf(n, sizeof(n), "%s_bucket", name);
	for (i = 0; i < h->n; i++) {
		snprintf(le, sizeof(le), "%g", h->le[i]);
		sample(out, n, k, v, "le", le, h->cnt[i]);
	}
	sample(out, n, k, v, "le", "+Inf", h->count);
	snprintf(n, sizeof(n), "%s_sum", name);
	sample(out, n, k, v, NULL, NULL, h->sum);
	snprintf(n, sizeof(n), "%s_count", name);
	sample(out, n, k, v, NULL, NULL, h->count);
	memset(h->cnt, 0, sizeof(h->cnt));
	h->sum = h->count = 0;
}

static const double lat_le[] = { 1, 5, 15, 30, 60, 120, 300, 900, 3600,
    14400, 86400 };
static const double dur_le[] = { 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300,
    900 };

/* Reply latency (REPORT_SQL_REPLY_LATENCY, all time) per bot, and job
 * run time per type, of the jobs still in the table. */
static const char sql_p_latency[] =
    "SELECT bot, lat FROM (" REPORT_SQL_REPLY_LATENCY ") AS l ORDER BY bot";
static const char sql_p_duration[] =
    "SELECT type, finished_at - started_at FROM jobs"
    " WHERE state IN ('succeeded', 'dead') AND started_at IS NOT NULL"
    " AND finished_at >= started_at ORDER BY type";

/*
 * One histogram over st's rows (label, ms), sorted by label: a series
 * per label, in seconds; then a zero series for each name in zeros (the
 * configured bots) that had no row. 0 or -1 (logged).
 */
static int
prom_hist(struct db *db, struct dbst *st, FILE *out, const char *name,
    const char *k, struct hist *h, const struct cfg *zeros)
{
	json_t *seen = json_object();
	char *cur = NULL;
	const char *l;
	int i, rc;

	if (seen == NULL)
		return -1;
	while ((rc = db_step(st)) == DB_ROW) {
		l = db_col_text(st, 0);
		l = l != NULL ? l : "";
		if (cur != NULL && strcmp(cur, l) != 0) {
			hist_put(out, name, k, cur, h);
			free(cur);
			cur = NULL;
		}
		if (cur == NULL && ((cur = strdup(l)) == NULL ||
		    json_object_set_new(seen, l, json_true()) < 0)) {
			rc = DB_ERROR;
			break;
		}
		hist_add(h, (double)db_col_int64(st, 1) / 1000.0);
	}
	db_reset(st);
	if (cur != NULL)
		hist_put(out, name, k, cur, h);
	free(cur);
	for (i = 0; rc == DB_DONE && zeros != NULL && i < zeros->nbots;
	    i++)
		if (json_object_get(seen, zeros->bots[i].name) == NULL)
			hist_put(out, name, k, zeros->bots[i].name, h);
	json_decref(seen);
	if (rc != DB_DONE)
		return db_fail(db, "read report from");
	return 0;
}

static int
prom_histograms(struct db *db, const struct cfg *cfg, int64_t now,
    FILE *out)
{
	struct hist lat = { lat_le, sizeof(lat_le) / sizeof(lat_le[0]),
	    { 0 }, 0, 0 };
	struct hist dur = { dur_le, sizeof(dur_le) / sizeof(dur_le[0]),
	    { 0 }, 0, 0 };
	struct dbst *st;

	if ((st = db_stmt(db, sql_p_latency)) == NULL)
		return -1;
	db_bind_int64(st, 1, 0);
	db_bind_int64(st, 2, now + 1);
	head(out, "dater_reply_latency_seconds", "histogram",
	    "From a contact's first unanswered message to the reply sent.");
	if (prom_hist(db, st, out, "dater_reply_latency_seconds", "bot", &lat,
	    cfg) < 0)
		return -1;
	if ((st = db_stmt(db, sql_p_duration)) == NULL)
		return -1;
	head(out, "dater_job_duration_seconds", "histogram",
	    "Run time of the finished jobs still in the table, by type.");
	return prom_hist(db, st, out, "dater_job_duration_seconds", "type",
	    &dur, NULL);
}

/* report_health's checks (the one definition of health, with the
 * configured thresholds): dater_healthy and dater_health_ok{check}. */
static int
prom_health(struct db *db, const struct cfg *cfg, int64_t now, FILE *out)
{
	static const struct report_health_opts defaults = { 0, 0, -1 };
	json_t *h, *c;
	size_t i;

	if ((h = report_health(db, cfg, &defaults, now)) == NULL)
		return -1;
	head(out, "dater_healthy", "gauge",
	    "1 when every check of dater-report health passes, else 0.");
	sample(out, "dater_healthy", NULL, NULL, NULL, NULL,
	    json_is_true(json_object_get(h, "healthy")));
	head(out, "dater_health_ok", "gauge",
	    "1 when the health check passes, else 0 (dater-report health).");
	json_array_foreach(json_object_get(h, "checks"), i, c)
		sample(out, "dater_health_ok", "check", json_string_value(
		    json_object_get(c, "check")), NULL, NULL,
		    json_is_true(json_object_get(c, "ok")));
	json_decref(h);
	return 0;
}

int
report_prometheus(struct db *db, const struct cfg *cfg, int64_t now,
    FILE *out)
{
	json_t *q;
	int own, rc = -1;

	if (report_snap_begin(db, &own) < 0)
		return -1;
	if ((q = report_queue(db, now)) != NULL) {
		prom_jobs(out, q);
		rc = prom_rest(db, cfg, now, out);
		if (rc == 0)
			rc = prom_health(db, cfg, now, out);
		if (rc == 0)
			rc = prom_histograms(db, cfg, now, out);
		json_decref(q);
	}
	report_snap_end(db, own);
	if (rc == 0) {
		head(out, "dater_report_generated_seconds", "gauge",
		    "When this report was made (unix time).");
		sample(out, "dater_report_generated_seconds", NULL, NULL, NULL,
		    NULL, (double)now / 1000.0);
	}
	return rc;
}
