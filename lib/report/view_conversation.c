/*
 * view_conversation: dater-report conversation: one contact and the
 * transcript, and why its last message is unanswered.
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

/* ---- conversation ---- */

static const char sql_conv_contact[] =
    "SELECT id, bot, platform_id, handle, name, status, consent, timezone,"
    " profile, summary, unanswered, last_inbound_at, last_outbound_at,"
    " initiated_at, created_at FROM contacts WHERE id = ?1";

static const char sql_conv_messages[] =
    "SELECT id, coalesce(sent_at, created_at), direction, kind, status,"
    " text, model, tokens_in, tokens_out, cost_usd, error, created_at,"
    " sent_at FROM messages WHERE contact = ?1 ORDER BY id";

static json_t *
conv_header(struct dbst *st)
{
	const char *profile = report_col_text(st, 8);
	json_t *p = profile != NULL ? json_loads(profile, 0, NULL) : NULL;

	if (p == NULL && profile != NULL)
		p = json_string(profile);	/* not JSON: shown as text */
	return json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:b, s:s?,"
	    " s:o?, s:s?, s:I, s:o?, s:o?, s:o?, s:o?}",
	    "id", report_col_int(st, 0), "bot", report_col_text(st, 1),
	    "platform_id", report_col_text(st, 2), "handle", report_col_text(st, 3),
	    "name", report_col_text(st, 4), "status", report_col_text(st, 5),
	    "consent", db_col_int(st, 6) != 0,
	    "timezone", report_col_text(st, 7), "profile", p,
	    "summary", report_col_text(st, 9), "unanswered", report_col_int(st, 10),
	    "last_inbound_at", report_col_time(st, 11),
	    "last_outbound_at", report_col_time(st, 12),
	    "initiated_at", report_col_time(st, 13),
	    "created_at", report_col_time(st, 14));
}

/* What an operator must notice about an outbound message's state. */
static const char *
msg_mark(const char *status)
{
	if (status == NULL || strcmp(status, "sent") == 0)
		return NULL;
	if (strcmp(status, "draft") == 0)
		return "DRAFT";
	if (strcmp(status, "uncertain") == 0)
		return "UNCERTAIN";
	if (strcmp(status, "failed") == 0)
		return "FAILED";
	return "UNSENT";		/* queued, sending */
}

static int
conv_msg_row(struct dbst *st, void *arg)
{
	json_t *rows = arg, *o;
	char err[1024];
	const char *e = report_col_text(st, 10);

	/* Rows stored before the redaction, or a secret configured since. */
	if (e != NULL)
		(void)redact_str(err, sizeof(err), e, NULL);
	o = json_pack("{s:I, s:o?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:o?,"
	    " s:o?, s:o?, s:s?, s:o?, s:o?}",
	    "id", report_col_int(st, 0), "at", report_col_time(st, 1),
	    "direction", report_col_text(st, 2), "kind", report_col_text(st, 3),
	    "status", report_col_text(st, 4), "mark", msg_mark(report_col_text(st, 4)),
	    "text", report_col_text(st, 5), "model", report_col_text(st, 6),
	    "tokens_in", report_col_int_null(st, 7), "tokens_out",
	    report_col_int_null(st, 8), "cost_usd", report_col_real_null(st, 9),
	    "error", e != NULL ? err : NULL, "created_at",
	    report_col_time(st, 11),
	    "sent_at", report_col_time(st, 12));
	if (o == NULL || json_array_append_new(rows, o) < 0) {
		report_oom_null();
		return -1;
	}
	return 0;
}

/* The newest reply job (respond or send) of the contact since its last
 * inbound message that has not succeeded: why it is unanswered. */
static const char sql_conv_waiting[] =
    "SELECT id, type, state, attempts, max_attempts, run_at,"
    " json_extract(errors, '$[#-1].error') FROM jobs"
    " WHERE type IN ('respond', 'send')"
    " AND state IN ('queued', 'running', 'dead')"
    " AND created_at >= (SELECT coalesce(last_inbound_at, 0) FROM contacts"
    "  WHERE id = ?1) AND "
    CTL_JOB_OF_CONTACT("?1", "(SELECT bot FROM contacts WHERE id = ?1)",
    "(SELECT CAST(platform_id AS TEXT) FROM contacts WHERE id = ?1)")
    " ORDER BY id DESC LIMIT 1";

/* "why": the job holding up the reply, in words. */
static json_t *
conv_why(struct dbst *st, int64_t now)
{
	char why[1200], err[1024], at[CLOCK_RFC3339_LEN];
	const char *type = report_col_text(st, 1), *state = report_col_text(st, 2);
	const char *e = report_col_text(st, 6);
	int64_t attempts = report_col_int(st, 3), max = report_col_int(st, 4);
	int64_t run_at = report_col_int(st, 5);

	if (e != NULL)
		(void)redact_str(err, sizeof(err), e, NULL);
	clock_format(run_at, at, sizeof(at));
	if (strcmp(state, "dead") == 0)
		snprintf(why, sizeof(why), "%s job %lld is dead after %lld of "
		    "%lld attempts: %s", type, (long long)report_col_int(st, 0),
		    (long long)attempts, (long long)max, e != NULL ? err :
		    "no error recorded");
	else if (strcmp(state, "running") == 0)
		snprintf(why, sizeof(why), "%s job %lld is running (attempt "
		    "%lld of %lld)", type, (long long)report_col_int(st, 0),
		    (long long)attempts, (long long)max);
	else if (attempts > 0)
		snprintf(why, sizeof(why), "%s job %lld retries at %s after "
		    "attempt %lld of %lld failed: %s", type,
		    (long long)report_col_int(st, 0), at, (long long)attempts,
		    (long long)max, e != NULL ? err : "no error recorded");
	else if (run_at > now)
		snprintf(why, sizeof(why), "%s job %lld waits until %s (reply "
		    "delay, quiet hours, a hold or a limit: see dater-report "
		    "bots)", type, (long long)report_col_int(st, 0), at);
	else
		snprintf(why, sizeof(why), "%s job %lld is due, waiting for a "
		    "worker", type, (long long)report_col_int(st, 0));
	return json_pack("{s:I, s:s, s:s, s:I, s:I, s:o, s:s?, s:s}",
	    "job", report_col_int(st, 0), "type", type, "state", state,
	    "attempts", attempts, "max_attempts", max,
	    "run_at", report_time_json(run_at), "error", e != NULL ? err : NULL,
	    "why", why);
}

/* The state of the newest reply after the contact's last message. */
static const char sql_conv_reply[] =
    "SELECT status FROM messages WHERE contact = ?1 AND direction = 'out'"
    " AND id > coalesce((SELECT max(id) FROM messages WHERE contact = ?1"
    " AND direction = 'in'), 0) ORDER BY id DESC LIMIT 1";

/* No reply job in the way: a reply in review or of uncertain fate, or
 * nothing at all. */
static json_t *
conv_no_job(struct db *db, int64_t id)
{
	struct dbst *st = db_stmt(db, sql_conv_reply);
	const char *why = "no reply job is queued for it (an operator hold,"
	    " a takeover, an opt-out, or one message of a burst being"
	    " answered: see dater-report bots)";
	const char *status;
	int rc;

	if (st == NULL)
		return NULL;
	db_bind_int64(st, 1, id);
	if ((rc = db_step(st)) == DB_ROW &&
	    (status = report_col_text(st, 0)) != NULL) {
		if (strcmp(status, "draft") == 0)
			why = "the reply is a draft waiting for review"
			    " (dater-ctl approve or edit)";
		else if (strcmp(status, "uncertain") == 0)
			why = "the reply's send was cut off: it may or may not"
			    " have reached the person (never sent twice)";
		else if (strcmp(status, "failed") == 0)
			why = "the reply could not be sent";
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE) {
		db_fail(db, "read messages from");
		return NULL;
	}
	return json_pack("{s:s}", "why", why);
}

/* Whether the contact's last message waits for a reply: no message of
 * ours was sent after it (a draft or a send cut off does not count). */
static int
conv_awaits(const json_t *msgs)
{
	const json_t *m;
	size_t i;
	int waits = 0;

	json_array_foreach(msgs, i, m) {
		if (strcmp(json_string_value(json_object_get(m, "direction")),
		    "in") == 0)
			waits = 1;
		else if (json_is_string(json_object_get(m, "status")) &&
		    strcmp(json_string_value(json_object_get(m, "status")),
		    "sent") == 0)
			waits = 0;
	}
	return waits;
}

/* Why the contact's last message is unanswered, as a new object (null
 * when it is answered; "why" only when no reply job is in the way). */
static json_t *
conv_waiting(struct db *db, int64_t id, const json_t *msgs, int64_t now)
{
	struct dbst *st;
	json_t *w = NULL;
	int rc;

	if (!conv_awaits(msgs))
		return json_null();
	if ((st = db_stmt(db, sql_conv_waiting)) == NULL)
		return NULL;
	db_bind_int64(st, 1, id);
	rc = db_step(st);
	if (rc == DB_ROW)
		w = conv_why(st, now);
	db_reset(st);
	if (rc == DB_DONE)
		return conv_no_job(db, id);
	if (rc != DB_ROW) {
		db_fail(db, "read jobs from");
		return NULL;
	}
	return w != NULL ? w : report_oom_null();
}

/* Read the contact and its messages (inside the snapshot). */
static int
conv_read(struct db *db, int64_t id, json_t **hdr, json_t *msgs)
{
	struct dbst *st;
	int rc;

	if ((st = db_stmt(db, sql_conv_contact)) == NULL)
		return -1;
	db_bind_int64(st, 1, id);
	rc = db_step(st);
	if (rc == DB_ROW && (*hdr = conv_header(st)) == NULL)
		report_oom_null();
	db_reset(st);
	if (rc == DB_DONE)
		return REPORT_NOT_FOUND;
	if (rc != DB_ROW)
		return db_fail(db, "read contact from");
	if (*hdr == NULL)
		return -1;
	if ((st = db_stmt(db, sql_conv_messages)) == NULL)
		return -1;
	db_bind_int64(st, 1, id);
	if (report_each_row(db, st, conv_msg_row, msgs) < 0)
		return -1;
	return REPORT_FOUND;
}

int
report_conversation(struct db *db, int64_t contact, int64_t now,
    json_t **out)
{
	json_t *hdr = NULL, *msgs = json_array(), *doc = NULL;
	json_t *waiting = NULL;
	int own, rc;

	if (msgs == NULL) {
		report_oom_null();
		return -1;
	}
	if (report_snap_begin(db, &own) < 0) {
		json_decref(msgs);
		return -1;
	}
	rc = conv_read(db, contact, &hdr, msgs);
	if (rc == REPORT_FOUND && (waiting = conv_waiting(db, contact, msgs,
	    now)) == NULL)
		rc = -1;
	report_snap_end(db, own);
	if (rc == REPORT_FOUND) {
		doc = json_pack("{s:o, s:O, s:O, s:o}", "generated_at",
		    report_time_json(now), "contact", hdr, "messages", msgs,
		    "waiting", waiting);
		if (doc == NULL) {
			report_oom_null();
			rc = -1;
		}
	}
	json_decref(hdr);
	json_decref(msgs);
	if (rc == REPORT_FOUND)
		*out = doc;
	return rc;
}

static const char *const conversation_keys[] = {
	"id", "at", "direction", "kind", "status", "mark", "text", "model",
	"tokens_in", "tokens_out", "cost_usd", "error", "created_at",
	"sent_at", NULL
};

static json_t *
conversation_rows(const json_t *doc)
{
	return table_member_rows(doc, "messages");
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

const struct report_text report_text_conversation = {
	conversation_print, conversation_rows, conversation_keys
};
