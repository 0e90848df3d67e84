/*
 * text_conv.c: the text forms (tables, CSV rows) of the bots, audit,
 * contacts, conversation, metrics and health views.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../log.h"
#include "report.h"
#include "table.h"
#include "../banned.h"

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

static json_t *
contacts_rows(const json_t *doc)
{
	return table_member_rows(doc, "contacts");
}

static json_t *
conversation_rows(const json_t *doc)
{
	return table_member_rows(doc, "messages");
}

static json_t *
metrics_rows(const json_t *doc)
{
	return table_member_rows(doc, "days");
}

static json_t *
health_rows(const json_t *doc)
{
	return table_member_rows(doc, "checks");
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
		{ "COST USD", "cost_usd", CELL_NUM, 0, fmt_cost },
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
	rc = table_print(out, rows, cols, table_generated_at(doc));
	if (rc == 0 && json_array_size(rows) == 0)
		log_info("no bots configured or found in the data");
	json_decref(rows);
	return rc;
}

static int
audit_print(FILE *out, const json_t *doc)
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
	rc = table_print(out, rows, cols, table_generated_at(doc));
	if (rc == 0 && json_array_size(rows) == 0)
		log_info("no dater-ctl command recorded");
	json_decref(rows);
	return rc;
}

static int
contacts_print(FILE *out, const json_t *doc)
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

	if (table_print(out, rows, cols, table_generated_at(doc)) < 0)
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
conversation_print(FILE *out, const json_t *doc)
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
	int64_t now = table_generated_at(doc);

	const json_t *w = json_object_get(doc, "waiting");

	table_kv_print(out, json_object_get(doc, "contact"), hdr, now);
	fputc('\n', out);
	if (json_array_size(msgs) == 0) {
		fprintf(out, "no messages\n");
	} else if (table_print(out, msgs, cols, now) < 0)
		return -1;
	if (json_is_string(json_object_get(w, "why"))) {
		fputc('\n', out);
		table_para(out, "unanswered: ", json_string_value(
		    json_object_get(w, "why")));
	}
	return 0;
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
		{ "COST USD", "cost_usd", CELL_NUM, 0, fmt_cost },
		{ "FAILURES", "job_failures", CELL_NUM, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	const json_t *rows = json_object_get(doc, "days");

	if (table_print(out, rows, cols, table_generated_at(doc)) < 0)
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

const struct report_text report_text_bots = {
	bots_print, bots_rows, bots_keys
};
const struct report_text report_text_audit = {
	audit_print, audit_rows, audit_keys
};
const struct report_text report_text_contacts = {
	contacts_print, contacts_rows, contacts_keys
};
const struct report_text report_text_conversation = {
	conversation_print, conversation_rows, conversation_keys
};
const struct report_text report_text_metrics = {
	metrics_print, metrics_rows, metrics_keys
};
const struct report_text report_text_health = {
	health_print, health_rows, health_keys
};
