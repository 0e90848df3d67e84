/*
 * view_metrics: dater-report metrics: the daily series per bot.
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

/* ---- metrics ---- */

static const char sql_metrics[] =
    "SELECT day, bot, received, sent, initiations, initiation_replies,"
    " llm_calls, tokens_in, tokens_out, cost_usd, job_failures"
    " FROM metrics_daily WHERE (?1 IS NULL OR day >= ?1)"
    " AND (?2 IS NULL OR bot = ?2) ORDER BY day, bot";

static int
metrics_row(struct dbst *st, void *arg)
{
	json_t *rows = arg, *o;

	o = json_pack("{s:s?, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f,"
	    " s:I}",
	    "day", report_col_text(st, 0), "bot", report_col_text(st, 1),
	    "received", report_col_int(st, 2), "sent", report_col_int(st, 3),
	    "initiations", report_col_int(st, 4), "initiation_replies",
	    report_col_int(st, 5), "llm_calls", report_col_int(st, 6),
	    "tokens_in", report_col_int(st, 7), "tokens_out", report_col_int(st, 8),
	    "cost_usd", db_col_double(st, 9),
	    "job_failures", report_col_int(st, 10));
	if (o == NULL || json_array_append_new(rows, o) < 0) {
		report_oom_null();
		return -1;
	}
	return 0;
}

json_t *
report_metrics(struct db *db, const char *since, const char *bot,
    int64_t now)
{
	json_t *rows = json_array(), *doc;
	struct dbst *st;
	int own, rc = -1;

	if (rows == NULL)
		return report_oom_null();
	if (report_snap_begin(db, &own) < 0) {
		json_decref(rows);
		return NULL;
	}
	if ((st = db_stmt(db, sql_metrics)) != NULL) {
		if (since != NULL)
			db_bind_text(st, 1, since);
		if (bot != NULL)
			db_bind_text(st, 2, bot);
		rc = report_each_row(db, st, metrics_row, rows);
	}
	report_snap_end(db, own);
	if (rc < 0) {
		json_decref(rows);
		return NULL;
	}
	doc = json_pack("{s:o, s:{s:s?, s:s?}, s:o}",
	    "generated_at", report_time_json(now),
	    "filter", "since", since, "bot", bot, "days", rows);
	return doc != NULL ? doc : report_oom_null();
}

static const char *const metrics_keys[] = {
	"day", "bot", "received", "sent", "initiations", "initiation_replies",
	"llm_calls", "tokens_in", "tokens_out", "cost_usd", "job_failures",
	NULL
};

static json_t *
metrics_rows(const json_t *doc)
{
	return table_member_rows(doc, "days");
}

static int
metrics_print(FILE *out, const json_t *doc)
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
		{ "COST USD", "cost_usd", CELL_NUM, 0, table_cost },
		{ "FAILURES", "job_failures", CELL_NUM, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	const json_t *rows = json_object_get(doc, "days");

	return table_print_or_none(out, rows, cols, table_generated_at(doc),
	    "no metrics match");
}

const struct report_text report_text_metrics = {
	metrics_print, metrics_rows, metrics_keys
};
