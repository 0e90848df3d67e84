/*
 * view_health: dater-report health: the one definition of the health
 * checks, also shown by the dashboard and the Prometheus export.
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

/* ---- health ---- */

int64_t
report_heartbeat_max_ms(const struct cfg *cfg)
{
	int64_t ms = cfg != NULL ? 3 * cfg->worker.heartbeat_ms : 0;

	if (cfg != NULL && cfg->health.max_heartbeat_age_ms > 0)
		return cfg->health.max_heartbeat_age_ms;
	return ms > 30000 ? ms : 30000;
}

static const char sql_h_oldest[] =
    "SELECT min(run_at) FROM jobs WHERE state = 'queued' AND run_at <= ?1";

static const char sql_h_workers[] =
    "SELECT count(*), total(heartbeat_at >= ?1) FROM workers";

static const char sql_h_dead[] =
    "SELECT count(*) FROM jobs WHERE state = 'dead' AND finished_at >= ?1";

/* Leases that ran out before ?1: no live supervisor has reclaimed them. */
static const char sql_h_stale[] =
    "SELECT count(*) FROM jobs WHERE state = 'running' AND lease_until < ?1";

static const char sql_h_cost[] =
    "SELECT total(cost_usd) FROM metrics_daily WHERE bot = ?1 AND day = ?2";

/* Append a check; detail is printf-style. 0 or -1 (logged). */
static int
check_add(json_t *checks, const char *name, int ok, json_t *value,
    json_t *threshold, const char *detail)
{
	json_t *c = json_pack("{s:s, s:b, s:o?, s:o?, s:s}", "check", name,
	    "ok", ok, "value", value, "threshold", threshold, "detail",
	    detail);

	if (c == NULL || json_array_append_new(checks, c) < 0) {
		report_oom_null();
		return -1;
	}
	return 0;
}

/* Run sql (?1 and ?2 bound to a and b) for one row of numbers. */
static int
h_numbers(struct db *db, const char *sql, int64_t a, int64_t b, double *x,
    double *y)
{
	struct dbst *st = db_stmt(db, sql);
	int rc;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, a);
	if (db_param_count(st) >= 2)
		db_bind_int64(st, 2, b);
	rc = db_step(st);
	*x = -1;
	if (rc == DB_ROW) {
		if (!db_col_null(st, 0))
			*x = db_col_double(st, 0);
		if (y != NULL)
			*y = db_col_double(st, 1);
	}
	db_reset(st);
	if (rc != DB_ROW)
		return db_fail(db, "read report from");
	return 0;
}

static int
h_queue(struct db *db, const struct report_health_opts *o, int64_t hb,
    int64_t now, json_t *checks)
{
	char d[160], a[32], b[32];
	double oldest, nworkers, live, dead, stale;
	int64_t age;
	int ok;

	if (h_numbers(db, sql_h_oldest, now, 0, &oldest, NULL) < 0 ||
	    h_numbers(db, sql_h_workers, now - hb, 0, &nworkers, &live) < 0 ||
	    h_numbers(db, sql_h_dead, now - 3600000, 0, &dead, NULL) < 0 ||
	    h_numbers(db, sql_h_stale, now - hb, 0, &stale, NULL) < 0)
		return -1;
	age = oldest < 0 ? 0 : now - (int64_t)oldest;
	ok = age <= o->max_due_age_ms;
	if (oldest < 0)
		snprintf(d, sizeof(d), "no job is due");
	else
		snprintf(d, sizeof(d), "the oldest due job has waited %s%s",
		    clock_format_duration(age, a, sizeof(a)), ok ? "" :
		    " (more than the threshold)");
	if (check_add(checks, "due_age", ok, json_integer(age),
	    json_integer(o->max_due_age_ms), d) < 0)
		return -1;
	ok = !((nworkers > 0 && live == 0) || (live == 0 && age > hb));
	if (live > 0 || nworkers == 0)
		snprintf(d, sizeof(d), "%d of %d workers sent a heartbeat in the"
		    " last %s%s", (int)live, (int)nworkers,
		    clock_format_duration(hb, b, sizeof(b)), ok ? "" :
		    "; jobs are waiting and no worker runs");
	else
		snprintf(d, sizeof(d), "%d workers registered, none sent a"
		    " heartbeat in the last %s", (int)nworkers,
		    clock_format_duration(hb, b, sizeof(b)));
	if (check_add(checks, "workers", ok, json_integer((json_int_t)live),
	    json_integer(hb), d) < 0)
		return -1;
	ok = dead <= o->max_dead_per_hour;
	snprintf(d, sizeof(d), "%d jobs died in the last hour%s", (int)dead,
	    ok ? "" : " (more than the threshold)");
	if (check_add(checks, "dead_rate", ok, json_integer((json_int_t)dead),
	    json_integer(o->max_dead_per_hour), d) < 0)
		return -1;
	ok = stale == 0;
	snprintf(d, sizeof(d), "%d running jobs' leases ran out more than %s"
	    " ago%s", (int)stale, clock_format_duration(hb, b, sizeof(b)),
	    ok ? "" : ": no live worker tree reclaims them");
	return check_add(checks, "lease_expired", ok,
	    json_integer((json_int_t)stale), json_integer(0), d);
}

static int
h_budgets(struct db *db, const struct cfg *cfg, int64_t now, json_t *checks)
{
	const struct cfg_bot *b;
	char today[16], name[CFG_NAME_MAX + 8], d[160];
	struct dbst *st;
	double cost;
	int i, ok;

	report_day_of(now, today, sizeof(today));
	for (i = 0; cfg != NULL && i < cfg->nbots; i++) {
		b = &cfg->bots[i];
		if (b->policy.daily_budget_usd <= 0)
			continue;
		if ((st = db_stmt(db, sql_h_cost)) == NULL)
			return -1;
		db_bind_text(st, 1, b->name);
		db_bind_text(st, 2, today);
		cost = db_step(st) == DB_ROW ?
		    db_col_double(st, 0) : 0;
		db_reset(st);
		ok = cost < b->policy.daily_budget_usd;
		snprintf(name, sizeof(name), "budget:%s", b->name);
		snprintf(d, sizeof(d), "bot '%s' spent %.4f of %.2f USD today%s",
		    b->name, cost, b->policy.daily_budget_usd, ok ? "" :
		    ": budget exhausted");
		if (check_add(checks, name, ok, json_real(cost),
		    json_real(b->policy.daily_budget_usd), d) < 0)
			return -1;
	}
	return 0;
}

json_t *
report_health(struct db *db, const struct cfg *cfg,
    const struct report_health_opts *opts, int64_t now)
{
	struct report_health_opts o = *opts;
	json_t *checks = json_array(), *c, *doc;
	int own, rc = -1, healthy = 1;
	size_t i;

	if (o.max_due_age_ms <= 0)
		o.max_due_age_ms = cfg != NULL ? cfg->health.max_due_age_ms :
		    REPORT_MAX_DUE_AGE_MS;
	if (o.max_heartbeat_age_ms <= 0)
		o.max_heartbeat_age_ms = report_heartbeat_max_ms(cfg);
	if (o.max_dead_per_hour < 0)
		o.max_dead_per_hour = cfg != NULL ?
		    cfg->health.max_dead_per_hour : REPORT_MAX_DEAD_PER_HOUR;
	if (checks == NULL)
		return report_oom_null();
	if (report_snap_begin(db, &own) < 0) {
		json_decref(checks);
		return NULL;
	}
	if (h_queue(db, &o, o.max_heartbeat_age_ms, now, checks) == 0 &&
	    h_budgets(db, cfg, now, checks) == 0)
		rc = 0;
	report_snap_end(db, own);
	if (rc < 0) {
		json_decref(checks);
		return NULL;
	}
	json_array_foreach(checks, i, c)
		if (!json_is_true(json_object_get(c, "ok")))
			healthy = 0;
	doc = json_pack("{s:o, s:b, s:o}", "generated_at",
	    report_time_json(now), "healthy", healthy, "checks", checks);
	return doc != NULL ? doc : report_oom_null();
}

static const char *const health_keys[] = {
	"check", "ok", "value", "threshold", "detail", NULL
};

static json_t *
health_rows(const json_t *doc)
{
	return table_member_rows(doc, "checks");
}

static void
fmt_ok(const json_t *row, char *buf, size_t len)
{
	snprintf(buf, len, "%s", json_is_true(json_object_get(row, "ok")) ?
	    "ok" : "FAIL");
}

static int
health_print(FILE *out, const json_t *doc)
{
	static const struct column cols[] = {
		{ "CHECK", "check", CELL_TEXT, 40, NULL },
		{ "STATUS", "ok", CELL_TEXT, 0, fmt_ok },
		{ "DETAIL", "detail", CELL_TEXT, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};

	if (table_print(out, json_object_get(doc, "checks"), cols,
	    table_generated_at(doc)) < 0)
		return -1;
	fprintf(out, "\n%s\n", json_is_true(json_object_get(doc, "healthy")) ?
	    "healthy" : "UNHEALTHY");
	return 0;
}

const struct report_text report_text_health = {
	health_print, health_rows, health_keys
};
