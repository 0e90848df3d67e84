/*
 * view_bots: dater-report bots: each bot's state and why, today's
 * and the last 7 days' numbers, its listener.
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

/* ---- bots ---- */

static const char sql_bot_names[] =
    "SELECT bot FROM metrics_daily UNION SELECT bot FROM contacts"
    " ORDER BY 1";

static const char sql_bot_period[] =
    "SELECT total(received), total(sent), total(initiations),"
    " total(initiation_replies), total(llm_calls), total(tokens_in),"
    " total(tokens_out), total(cost_usd), total(job_failures)"
    " FROM metrics_daily WHERE bot = ?1 AND day >= ?2 AND day <= ?3";

static const char sql_bot_contacts[] =
    "SELECT count(*), total(status = 'opted_out') FROM contacts"
    " WHERE bot = ?1";

/* For each inbound message of the period that starts a burst (the
 * contact's message before it is not inbound), the time to our next
 * sent message to that contact. */
static const char sql_bot_latency[] =
    "SELECT lat FROM (SELECT (SELECT min(o.sent_at) FROM messages o"
    "  WHERE o.contact = i.contact AND o.direction = 'out'"
    "  AND o.sent_at IS NOT NULL AND o.sent_at >= i.created_at)"
    "  - i.created_at AS lat"
    " FROM messages i WHERE i.bot = ?1 AND i.direction = 'in'"
    " AND i.created_at >= ?2"
    " AND (SELECT p.direction FROM messages p WHERE p.contact = i.contact"
    "  AND p.id < i.id ORDER BY p.id DESC LIMIT 1) IS DISTINCT FROM 'in')"
    " AS l WHERE lat IS NOT NULL ORDER BY lat";

/* The median of the latencies sql_bot_latency returns (sorted), or NULL
 * (json null) when none; *err set on a failure (logged). */
static json_t *
bot_median(struct db *db, const char *bot, int64_t since, int *err)
{
	struct dbst *st = db_stmt(db, sql_bot_latency);
	int64_t *v = NULL, *nv;
	size_t n = 0, cap = 0;
	json_t *out = NULL;
	int rc;

	if (st == NULL) {
		*err = 1;
		return NULL;
	}
	db_bind_text(st, 1, bot);
	db_bind_int64(st, 2, since);
	while ((rc = db_step(st)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL) {
				*err = 1;
				report_oom_null();
				goto out;
			}
			v = nv;
		}
		v[n++] = db_col_int64(st, 0);
	}
	if (rc != DB_DONE) {
		*err = 1;
		db_fail(db, "read report from");
		goto out;
	}
	if (n > 0)
		out = json_integer(n % 2 ? v[n / 2] : (v[n / 2 - 1] +
		    v[n / 2]) / 2);
out:
	db_reset(st);
	free(v);
	return out;
}

/* One PERIOD object of report_bots, or NULL (logged). */
static json_t *
bot_period(struct db *db, const char *bot, const char *from, const char *to,
    int64_t since)
{
	struct dbst *st = db_stmt(db, sql_bot_period);
	json_t *o = NULL, *median;
	double init, repl;
	int err = 0;

	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, bot);
	db_bind_text(st, 2, from);
	db_bind_text(st, 3, to);
	if (db_step(st) != DB_ROW) {
		db_reset(st);
		db_fail(db, "read report from");
		return NULL;
	}
	init = db_col_double(st, 2);
	repl = db_col_double(st, 3);
	median = bot_median(db, bot, since, &err);
	if (!err)
		o = json_pack("{s:I, s:I, s:I, s:I, s:o?, s:o?, s:I, s:I, s:I,"
		    " s:f, s:I}",
		    "received", (json_int_t)db_col_double(st, 0),
		    "sent", (json_int_t)db_col_double(st, 1),
		    "initiations", (json_int_t)init,
		    "initiation_replies", (json_int_t)repl,
		    "reply_rate", init > 0 ? json_real(repl / init) : NULL,
		    "median_reply_ms", median,
		    "llm_calls", (json_int_t)db_col_double(st, 4),
		    "tokens_in", (json_int_t)db_col_double(st, 5),
		    "tokens_out", (json_int_t)db_col_double(st, 6),
		    "cost_usd", db_col_double(st, 7),
		    "job_failures", (json_int_t)db_col_double(st, 8));
	else
		json_decref(median);
	db_reset(st);
	if (o == NULL && !err)
		report_oom_null();
	return o;
}

/* Who holds bot's listener lease (live or not) and how many updates
 * its polls skipped, into o. 0 or -1 (logged). */
static int
bot_listener(struct db *db, const char *name, json_t *o)
{
	struct listener_lease l;
	char key[CFG_NAME_MAX + 32], v[32];
	const char *errstr;
	long long skipped = 0;
	int rc, found;

	if ((rc = listener_lease_get(db, name, &l)) < 0)
		return -1;
	(void)snprintf(key, sizeof(key), "poll.skipped.%s", name);
	if ((found = store_kv_get(db, key, v, sizeof(v))) < 0)
		return -1;
	if (found == 1)
		skipped = strtonum(v, 0, LLONG_MAX, &errstr);
	if (json_object_set_new(o, "listener", rc == 1 ?
	    json_string(l.holder) : json_null()) < 0 ||
	    json_object_set_new(o, "listener_pid", rc == 1 ?
	    json_integer(l.pid) : json_null()) < 0 ||
	    json_object_set_new(o, "listener_since", rc == 1 ?
	    report_time_json(l.since) : json_null()) < 0 ||
	    json_object_set_new(o, "listener_lease_until", rc == 1 ?
	    report_time_json(l.lease_until) : json_null()) < 0 ||
	    json_object_set_new(o, "updates_skipped", json_integer(skipped)) < 0) {
		report_oom_null();
		return -1;
	}
	return 0;
}

/* The bot's state (ctl_bot_state) into o: "state", "why",
 * "state_since", "state_by", "states". 0 or -1 (logged). */
static int
bot_state(struct db *db, const struct cfg_bot *cb, const char *name,
    int64_t now, json_t *o)
{
	json_t *s = ctl_bot_state(db, cb, name, now);
	int rc = 0;

	if (s == NULL)
		return -1;
	if (json_object_set(o, "state", json_object_get(s, "state")) < 0 ||
	    json_object_set(o, "why", json_object_get(s, "why")) < 0 ||
	    json_object_set(o, "state_since", json_object_get(s,
	    "since")) < 0 || json_object_set(o, "state_by",
	    json_object_get(s, "by")) < 0 || json_object_set(o, "states",
	    json_object_get(s, "states")) < 0) {
		report_oom_null();
		rc = -1;
	}
	json_decref(s);
	return rc;
}

/* The object of one bot, or NULL (logged). */
static json_t *
bot_obj(struct db *db, const struct cfg *cfg, const char *name, int64_t now)
{
	const struct cfg_bot *cb = cfg != NULL ? cfg_bot(cfg, name) : NULL;
	double budget = cb != NULL ? cb->policy.daily_budget_usd : 0;
	char today[16], since[16];
	json_t *t, *w, *o;
	struct dbst *st;
	json_int_t ncontacts = 0, nopted = 0;

	report_day_of(now, today, sizeof(today));
	report_day_of(now - 6 * DAY_MS, since, sizeof(since));
	if ((st = db_stmt(db, sql_bot_contacts)) == NULL)
		return NULL;
	db_bind_text(st, 1, name);
	if (db_step(st) == DB_ROW) {
		ncontacts = report_col_int(st, 0);
		nopted = (json_int_t)db_col_double(st, 1);
	}
	db_reset(st);
	t = bot_period(db, name, today, today, report_day_start(now));
	w = bot_period(db, name, since, today, report_day_start(now - 6 * DAY_MS));
	if (t == NULL || w == NULL) {
		json_decref(t);
		json_decref(w);
		return NULL;
	}
	o = json_pack("{s:s, s:b, s:I, s:I, s:o?, s:o?, s:O, s:O}",
	    "name", name, "configured", cb != NULL,
	    "contacts", ncontacts, "opted_out", nopted,
	    "daily_budget_usd", budget > 0 ? json_real(budget) : NULL,
	    "budget_left_usd", budget > 0 ? json_real(budget -
	    json_real_value(json_object_get(t, "cost_usd"))) : NULL,
	    "today", t, "last_7_days", w);
	json_decref(t);
	json_decref(w);
	if (o == NULL)
		return report_oom_null();
	if (bot_listener(db, name, o) < 0 ||
	    bot_state(db, cb, name, now, o) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

struct bots_acc {
	json_t *names;		/* array of names, configured ones first */
	json_t *seen;		/* name -> true */
};

static int
bot_name_row(struct dbst *st, void *arg)
{
	struct bots_acc *acc = arg;
	const char *name = report_col_text(st, 0);

	if (name == NULL || json_object_get(acc->seen, name) != NULL)
		return 0;
	if (json_object_set_new(acc->seen, name, json_true()) < 0 ||
	    json_array_append_new(acc->names, json_string(name)) < 0) {
		report_oom_null();
		return -1;
	}
	return 0;
}

static json_t *
bots_read(struct db *db, const struct cfg *cfg, int64_t now)
{
	struct bots_acc acc = { json_array(), json_object() };
	json_t *list = json_array(), *b, *v, *out = NULL;
	struct dbst *st;
	size_t i;
	int k;

	if (acc.names == NULL || acc.seen == NULL || list == NULL) {
		report_oom_null();
		goto done;
	}
	for (k = 0; cfg != NULL && k < cfg->nbots; k++) {
		if (json_object_set_new(acc.seen, cfg->bots[k].name,
		    json_true()) < 0 || json_array_append_new(acc.names,
		    json_string(cfg->bots[k].name)) < 0) {
			report_oom_null();
			goto done;
		}
	}
	if ((st = db_stmt(db, sql_bot_names)) == NULL ||
	    report_each_row(db, st, bot_name_row, &acc) < 0)
		goto done;
	json_array_foreach(acc.names, i, v) {
		if ((b = bot_obj(db, cfg, json_string_value(v), now)) == NULL)
			goto done;
		if (json_array_append_new(list, b) < 0) {
			report_oom_null();
			goto done;
		}
	}
	out = json_incref(list);
done:
	json_decref(list);
	json_decref(acc.names);
	json_decref(acc.seen);
	return out;
}

json_t *
report_bots(struct db *db, const struct cfg *cfg, int64_t now)
{
	char today[16], since[16];
	json_t *bots, *doc;
	int own;

	if (report_snap_begin(db, &own) < 0)
		return NULL;
	bots = bots_read(db, cfg, now);
	report_snap_end(db, own);
	if (bots == NULL)
		return NULL;
	doc = json_pack("{s:o, s:s, s:s, s:o}",
	    "generated_at", report_time_json(now),
	    "today", report_day_of(now, today, sizeof(today)),
	    "since", report_day_of(now - 6 * DAY_MS, since, sizeof(since)),
	    "bots", bots);
	return doc != NULL ? doc : report_oom_null();
}

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
fmt_left(const json_t *row, char *buf, size_t len)
{
	table_usd(row, "budget_left_usd", buf, len);
}

static int
bots_print(FILE *out, const json_t *doc)
{
	static const struct column cols[] = {
		{ "BOT", "bot", CELL_TEXT, 24, NULL },
		{ "PERIOD", "period", CELL_TEXT, 0, NULL },
		{ "RECV", "received", CELL_NUM, 0, NULL },
		{ "SENT", "sent", CELL_NUM, 0, NULL },
		{ "OPENERS", "initiations", CELL_NUM, -1, NULL },
		{ "REPLY RATE", "reply_rate", CELL_NUM, 0, fmt_rate },
		{ "MEDIAN REPLY", "median_reply_ms", CELL_DURATION, -1, NULL },
		{ "LLM", "llm_calls", CELL_NUM, -1, NULL },
		{ "TOK IN", "tokens_in", CELL_NUM, -1, NULL },
		{ "TOK OUT", "tokens_out", CELL_NUM, -1, NULL },
		{ "COST USD", "cost_usd", CELL_NUM, 0, table_cost },
		{ "LEFT TODAY", "budget_left_usd", CELL_NUM, 0, fmt_left },
		{ "FAILURES", "job_failures", CELL_NUM, -1, NULL },
		{ "OPTED OUT", "opted_out", CELL_NUM, -1, NULL },
		{ "STATE", "state", CELL_TEXT, 0, NULL },
		{ "SINCE", "state_since", CELL_AGO, -1, NULL },
		{ "WHY", "why", CELL_TEXT, 48, NULL },
		{ "LISTENER", "listener", CELL_TEXT, -1, NULL },
		{ "LISTENING SINCE", "listener_since", CELL_AGO, -1, NULL },
		{ "SKIPPED", "updates_skipped", CELL_NUM, -1, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	json_t *rows = bots_rows(doc);
	int rc;

	if (rows == NULL) {
		log_err("out of memory printing the report");
		return -1;
	}
	rc = table_print_or_none(out, rows, cols, table_generated_at(doc),
	    "no bots configured or found in the data");
	json_decref(rows);
	return rc;
}

const struct report_text report_text_bots = {
	bots_print, bots_rows, bots_keys
};
