/*
 * store: see store.h. Times are ms since the epoch; metrics days are UTC.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "queue.h"
#include "redact.h"
#include "store.h"
#include "jobtypes.h"
#include "banned.h"

#define CONTACT_COLUMNS \
	"id, bot, platform_id, coalesce(handle, ''), coalesce(name, '')," \
	" profile, status, consent, coalesce(timezone, ''), summary," \
	" summary_upto, unanswered, coalesce(last_inbound_at, 0)," \
	" coalesce(last_outbound_at, 0), coalesce(initiated_at, 0), created_at"

#define MSG_COLUMNS \
	"id, contact, bot, direction = 'in', kind, text, coalesce(status, '')," \
	" coalesce(platform_msg_id, ''), coalesce(job_id, 0), created_at," \
	" coalesce(sent_at, 0), parts_sent"

/* The conversation jobs that concern one contact (payload "contact"). */
#define CONTACT_JOBS JT_RESPOND "," JT_INITIATE "," JT_FOLLOWUP "," \
	JT_SUMMARIZE

static void
bind_opt(struct dbst *st, int i, const char *v)
{
	if (v != NULL)
		db_bind_text(st, i, v);
	else
		db_bind_null(st, i);
}

static char *
today(int64_t ms, char *buf, size_t len)
{
	char t[CLOCK_RFC3339_LEN];

	clock_format(ms, t, sizeof(t));
	t[10] = '\0';
	strlcpy(buf, t, len);
	return buf;
}

/* ---- contacts -------------------------------------------------------- */

void
store_contact_release(struct store_contact *c)
{
	free(c->profile);
	free(c->summary);
	memset(c, 0, sizeof(*c));
}

static int
read_contact(struct dbst *st, struct store_contact *c)
{
	memset(c, 0, sizeof(*c));
	c->id = db_col_int64(st, 0);
	db_col_copy(st, 1, c->bot, sizeof(c->bot));
	db_col_copy(st, 2, c->platform_id, sizeof(c->platform_id));
	db_col_copy(st, 3, c->handle, sizeof(c->handle));
	db_col_copy(st, 4, c->name, sizeof(c->name));
	c->profile = db_col_dup(st, 5);
	db_col_copy(st, 6, c->status, sizeof(c->status));
	c->consent = db_col_int(st, 7);
	db_col_copy(st, 8, c->timezone, sizeof(c->timezone));
	c->summary = db_col_dup(st, 9);
	c->summary_upto = db_col_int64(st, 10);
	c->unanswered = db_col_int(st, 11);
	c->last_inbound_at = db_col_int64(st, 12);
	c->last_outbound_at = db_col_int64(st, 13);
	c->initiated_at = db_col_int64(st, 14);
	c->created_at = db_col_int64(st, 15);
	if (c->profile == NULL) {
		store_contact_release(c);
		log_err("out of memory reading a contact");
		return -1;
	}
	return 0;
}

static const char sql_contact_upsert[] =
    "INSERT INTO contacts (bot, platform_id, handle, name, profile,"
    " timezone, consent, created_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, coalesce(?5, '{}'), ?6, max(?7, 0), ?8, ?8)"
    " ON CONFLICT (bot, platform_id) DO UPDATE SET"
    " handle = coalesce(?3, contacts.handle),"
    " name = coalesce(?4, contacts.name),"
    " profile = coalesce(?5, contacts.profile),"
    " timezone = coalesce(?6, contacts.timezone),"
    " consent = CASE WHEN ?7 < 0 THEN contacts.consent ELSE ?7 END,"
    " updated_at = ?8"
    " RETURNING id";
static const char sql_contact_find[] =
    "SELECT id FROM contacts WHERE bot = ?1 AND platform_id = ?2";

/* Whether (bot, platform_id) exists already. 1, 0 or -1. */
static int
contact_exists(struct db *db, const char *bot, const char *pid)
{
	struct dbst *st = db_stmt(db, sql_contact_find);
	int rc;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, bot);
	db_bind_text(st, 2, pid);
	rc = db_step(st);
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read contact from");
	return rc == DB_ROW;
}

int
store_contact_upsert(struct db *db, const struct store_contact_in *in,
    int64_t *id, int *created)
{
	struct dbst *st;
	int rc, own, existed;

	if (db_tx_open(db, &own) < 0)
		return -1;
	if ((existed = contact_exists(db, in->bot, in->platform_id)) < 0 ||
	    (st = db_stmt(db, sql_contact_upsert)) == NULL)
		return db_tx_close(db, own, 0);
	db_bind_text(st, 1, in->bot);
	db_bind_text(st, 2, in->platform_id);
	bind_opt(st, 3, in->handle);
	bind_opt(st, 4, in->name);
	bind_opt(st, 5, in->profile);
	bind_opt(st, 6, in->timezone);
	db_bind_int(st, 7, in->consent);
	db_bind_int64(st, 8, clock_now_ms());
	rc = db_step(st);
	if (rc == DB_ROW) {
		*id = db_col_int64(st, 0);
		if (created != NULL)
			*created = !existed;
		rc = db_step(st);
	}
	db_reset(st);
	if (rc != DB_DONE) {
		db_fail(db, "store contact in");
		return db_tx_close(db, own, 0);
	}
	return db_tx_close(db, own, 1);
}

static const char sql_contact_get[] =
    "SELECT " CONTACT_COLUMNS " FROM contacts WHERE id = ?1";

int
store_contact_get(struct db *db, int64_t id, struct store_contact *c)
{
	struct dbst *st = db_stmt(db, sql_contact_get);
	int rc, found = 0;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, id);
	rc = db_step(st);
	if (rc == DB_ROW) {
		if (read_contact(st, c) < 0) {
			db_reset(st);
			return -1;
		}
		found = 1;
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read contact from");
	return found;
}

static const char sql_contact_stop[] =
    "UPDATE contacts SET status = ?2, updated_at = ?3"
    " WHERE id = ?1 AND status NOT IN ('opted_out', 'blocked')";
static const char sql_pending_sends[] =
    "SELECT id FROM messages WHERE contact = ?1 AND direction = 'out'"
    " AND status IN ('draft', 'queued') AND kind <> 'optout'";
static const char sql_fail_pending[] =
    "UPDATE messages SET status = 'failed', error = ?2"
    " WHERE contact = ?1 AND direction = 'out'"
    " AND status IN ('draft', 'queued') AND kind <> 'optout'";

/* Cancel the send jobs of the contact's undelivered messages. */
static int
cancel_sends(struct db *db, int64_t contact)
{
	struct dbst *st = db_stmt(db, sql_pending_sends);
	int64_t ids[256];
	int rc, n = 0, i;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, contact);
	while ((rc = db_step(st)) == DB_ROW && n < 256)
		ids[n++] = db_col_int64(st, 0);
	db_reset(st);
	if (rc != DB_DONE && rc != DB_ROW)
		return db_fail(db, "read pending messages from");
	for (i = 0; i < n; i++)
		if (queue_cancel_where(db, "send,approve", "message",
		    ids[i]) < 0)
			return -1;
	return 0;
}

int
store_contact_stop(struct db *db, int64_t id, const char *status)
{
	struct dbst *st;
	int own, changed = 0, ok = 0;

	if (db_tx_open(db, &own) < 0)
		return -1;
	if ((st = db_stmt(db, sql_contact_stop)) == NULL)
		goto out;
	db_bind_int64(st, 1, id);
	db_bind_text(st, 2, status);
	db_bind_int64(st, 3, clock_now_ms());
	if (db_run(db, st, "update contact in", &changed) < 0)
		goto out;
	if (changed) {
		if (queue_cancel_where(db, CONTACT_JOBS, "contact", id) < 0 ||
		    cancel_sends(db, id) < 0)
			goto out;
		if ((st = db_stmt(db, sql_fail_pending)) == NULL)
			goto out;
		db_bind_int64(st, 1, id);
		db_bind_text(st, 2, strcmp(status, "blocked") == 0 ?
		    "contact blocked the bot" : "contact opted out");
		if (db_run(db, st, "update messages in", NULL) < 0)
			goto out;
	}
	ok = 1;
out:
	if (db_tx_close(db, own, ok) < 0)
		return -1;
	return changed;
}

static const char sql_contact_summary[] =
    "UPDATE contacts SET summary = ?2, summary_upto = ?3, updated_at = ?4"
    " WHERE id = ?1";

int
store_contact_summary(struct db *db, int64_t id, const char *summary,
    int64_t upto)
{
	struct dbst *st = db_stmt(db, sql_contact_summary);

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, id);
	db_bind_text(st, 2, summary);
	db_bind_int64(st, 3, upto);
	db_bind_int64(st, 4, clock_now_ms());
	return db_run(db, st, "store summary in", NULL);
}

/* ---- messages -------------------------------------------------------- */

void
store_msg_release(struct store_msg *m)
{
	free(m->text);
	memset(m, 0, sizeof(*m));
}

void
store_msgs_free(struct store_msg *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(m[i].text);
	free(m);
}

static int
read_msg(struct dbst *st, struct store_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->id = db_col_int64(st, 0);
	m->contact = db_col_int64(st, 1);
	db_col_copy(st, 2, m->bot, sizeof(m->bot));
	m->inbound = db_col_int(st, 3);
	db_col_copy(st, 4, m->kind, sizeof(m->kind));
	m->text = db_col_dup(st, 5);
	db_col_copy(st, 6, m->status, sizeof(m->status));
	db_col_copy(st, 7, m->platform_msg_id, sizeof(m->platform_msg_id));
	m->job_id = db_col_int64(st, 8);
	m->created_at = db_col_int64(st, 9);
	m->sent_at = db_col_int64(st, 10);
	m->parts_sent = db_col_int(st, 11);
	if (m->text == NULL) {
		log_err("out of memory reading a message");
		return -1;
	}
	return 0;
}

static const char sql_inbound_insert[] =
    "INSERT INTO messages (contact, bot, direction, kind, text,"
    " platform_msg_id, created_at)"
    " VALUES (?1, ?2, 'in', 'message', ?3, ?4, ?5)"
    " ON CONFLICT DO NOTHING RETURNING id";
static const char sql_inbound_contact[] =
    "UPDATE contacts SET"
    " status = CASE WHEN status = 'new' THEN 'active' ELSE status END,"
    " unanswered = 0, last_inbound_at = max(coalesce(last_inbound_at, 0),"
    " ?2), nudge_hold = 0, updated_at = ?3"
    " WHERE id = ?1"
    " RETURNING initiated_at IS NOT NULL AND initiated_at <= ?2"
    " AND NOT EXISTS (SELECT 1 FROM messages WHERE contact = ?1"
    " AND direction = 'in' AND id <> ?4)";

/* Update the contact for a new inbound message; *first_reply says it is
 * the first answer to an opener. */
static int
inbound_contact(struct db *db, int64_t contact, int64_t at, int64_t msg,
    int *first_reply)
{
	struct dbst *st = db_stmt(db, sql_inbound_contact);
	int rc;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, contact);
	db_bind_int64(st, 2, at);
	db_bind_int64(st, 3, clock_now_ms());
	db_bind_int64(st, 4, msg);
	rc = db_step(st);
	if (rc == DB_ROW) {
		*first_reply = db_col_int(st, 0);
		rc = db_step(st);
	}
	db_reset(st);
	return rc == DB_DONE ? 0 : db_fail(db, "update contact in");
}

int
store_inbound_add(struct db *db, const struct store_inbound *in,
    int64_t *contact, int64_t *msg, int *dup)
{
	struct store_contact_in ci;
	struct store_metrics d;
	struct dbst *st;
	char day[16];
	int64_t now = clock_now_ms(), cid, mid = 0;
	int own, ok = 0, n = 0, first = 0;

	if (db_tx_open(db, &own) < 0)
		return -1;
	memset(&ci, 0, sizeof(ci));
	ci.bot = in->bot;
	ci.platform_id = in->platform_id;
	ci.handle = in->handle;
	ci.name = in->name;
	ci.consent = -1;
	if (store_contact_upsert(db, &ci, &cid, NULL) < 0)
		goto out;
	if ((st = db_stmt(db, sql_inbound_insert)) == NULL)
		goto out;
	db_bind_int64(st, 1, cid);
	db_bind_text(st, 2, in->bot);
	db_bind_text(st, 3, in->text);
	bind_opt(st, 4, in->message_id);
	db_bind_int64(st, 5, in->at > 0 ? in->at : now);
	if (db_insert_id(db, st, "store message in", &mid) < 0)
		goto out;
	if (mid != 0) {
		n = 1;
		if (inbound_contact(db, cid, in->at > 0 ? in->at : now, mid,
		    &first) < 0)
			goto out;
		memset(&d, 0, sizeof(d));
		d.received = 1;
		d.initiation_replies = first;
		if (store_metrics_add(db, in->bot, today(now, day,
		    sizeof(day)), &d) < 0)
			goto out;
	}
	ok = 1;
out:
	if (db_tx_close(db, own, ok) < 0)
		return -1;
	*contact = cid;
	*msg = mid;
	*dup = n == 0;
	return 0;
}

static const char sql_out_insert[] =
    "INSERT INTO messages (contact, bot, direction, kind, text, status,"
    " job_id, model, tokens_in, tokens_out, cost_usd, created_at)"
    " VALUES (?1, ?2, 'out', ?3, ?4, ?5, nullif(?6, 0), ?7, ?8, ?9, ?10,"
    " ?11) RETURNING id";

int
store_out_add(struct db *db, const struct store_out *o, int64_t *id)
{
	struct dbst *st = db_stmt(db, sql_out_insert);

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, o->contact);
	db_bind_text(st, 2, o->bot);
	db_bind_text(st, 3, o->kind);
	db_bind_text(st, 4, o->text);
	db_bind_text(st, 5, o->status);
	db_bind_int64(st, 6, o->job_id);
	bind_opt(st, 7, o->model);
	db_bind_int(st, 8, o->tokens_in);
	db_bind_int(st, 9, o->tokens_out);
	db_bind_double(st, 10, o->cost_usd);
	db_bind_int64(st, 11, clock_now_ms());
	return db_insert_id(db, st, "store message in", id);
}

static const char sql_msg_get[] =
    "SELECT " MSG_COLUMNS " FROM messages WHERE id = ?1";
static const char sql_msg_by_job[] =
    "SELECT " MSG_COLUMNS " FROM messages WHERE job_id = ?1";

static int
msg_lookup(struct db *db, const char *sql, int64_t key, struct store_msg *m)
{
	struct dbst *st = db_stmt(db, sql);
	int rc, found = 0;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, key);
	rc = db_step(st);
	if (rc == DB_ROW) {
		if (read_msg(st, m) < 0) {
			db_reset(st);
			return -1;
		}
		found = 1;
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read message from");
	return found;
}

int
store_msg_get(struct db *db, int64_t id, struct store_msg *m)
{
	return msg_lookup(db, sql_msg_get, id, m);
}

int
store_msg_by_job(struct db *db, int64_t job_id, struct store_msg *m)
{
	return msg_lookup(db, sql_msg_by_job, job_id, m);
}

#define IN_CONVERSATION \
	" (direction = 'in' OR status IN ('queued','sending','sent'," \
	"'uncertain'))"

/* The conversation's order: our messages where we stored them; between
 * two of ours, the contact's in the platform's order (date, then
 * platform id, numeric where it is one: Telegram's dates are whole
 * seconds), whatever order the workers stored them in. g numbers the
 * runs: the outbound messages up to and including each row. */
#define HISTORY_ORDER_(dir, num) \
	" g " dir ", d = 'in' " dir ", created_at " dir ", CASE WHEN d = 'in'" \
	" THEN " num " END " dir ", id " dir
/* SQLite's CAST makes a text that is no number 0; PostgreSQL's fails. */
#define HISTORY_ORDER(dir) HISTORY_ORDER_(dir, "CAST(p AS INTEGER)")
#define HISTORY_ORDER_PG(dir) HISTORY_ORDER_(dir, \
	"CASE WHEN p ~ '^[0-9]{1,18}$' THEN CAST(p AS INTEGER) ELSE 0 END")

static const char sql_history[] =
    "SELECT * FROM (SELECT * FROM (SELECT " MSG_COLUMNS ", direction AS d,"
    " platform_msg_id AS p,"
    " sum(CASE WHEN direction = 'out' THEN 1 ELSE 0 END)"
    " OVER (ORDER BY id) AS g"
    " FROM messages WHERE contact = ?1 AND id > ?2 AND" IN_CONVERSATION
    ") AS h ORDER BY" HISTORY_ORDER("DESC") " LIMIT ?3) AS h"
    " ORDER BY" HISTORY_ORDER("");
static const char pg_history[] =
    "SELECT * FROM (SELECT * FROM (SELECT " MSG_COLUMNS ", direction AS d,"
    " platform_msg_id AS p,"
    " sum(CASE WHEN direction = 'out' THEN 1 ELSE 0 END)"
    " OVER (ORDER BY id) AS g"
    " FROM messages WHERE contact = ?1 AND id > ?2 AND" IN_CONVERSATION
    ") AS h ORDER BY" HISTORY_ORDER_PG("DESC") " LIMIT ?3) AS h"
    " ORDER BY" HISTORY_ORDER_PG("");

int
store_history(struct db *db, int64_t contact, int64_t after, int limit,
    struct store_msg **out, size_t *n)
{
	struct dbst *st = db_stmt2(db, sql_history, pg_history);
	struct store_msg *m;
	size_t got = 0;
	int rc;

	if (st == NULL)
		return -1;
	if (limit < 1)
		limit = 1;
	if ((m = calloc((size_t)limit, sizeof(*m))) == NULL) {
		log_err("out of memory reading history");
		return -1;
	}
	db_bind_int64(st, 1, contact);
	db_bind_int64(st, 2, after);
	db_bind_int(st, 3, limit);
	while ((rc = db_step(st)) == DB_ROW && got < (size_t)limit) {
		if (read_msg(st, &m[got]) < 0)
			break;
		got++;
	}
	db_reset(st);
	if (rc != DB_DONE) {
		store_msgs_free(m, got);
		return rc == DB_ROW ? -1 : db_fail(db, "read history from");
	}
	*out = m;
	*n = got;
	return 0;
}

static const char sql_unsummarized[] =
    "SELECT count(*) FROM messages WHERE contact = ?1 AND id > ?2 AND"
    IN_CONVERSATION;

int
store_count_unsummarized(struct db *db, int64_t contact, int64_t after,
    int *n)
{
	struct dbst *st = db_stmt(db, sql_unsummarized);
	int rc;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, contact);
	db_bind_int64(st, 2, after);
	rc = db_step(st);
	if (rc == DB_ROW)
		*n = db_col_int(st, 0);
	db_reset(st);
	return rc == DB_ROW ? 0 : db_fail(db, "count messages in");
}

static const char sql_msg_transition[] =
    "UPDATE messages SET status = ?3, error = coalesce(?4, error)"
    " WHERE id = ?1 AND status = ?2";

int
store_msg_transition(struct db *db, int64_t id, const char *from,
    const char *to, const char *error)
{
	struct dbst *st = db_stmt(db, sql_msg_transition);
	char clean[QUEUE_ERROR_MAX];
	int n = 0;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, id);
	db_bind_text(st, 2, from);
	db_bind_text(st, 3, to);
	/* An error may quote a peer that echoed a secret. */
	if (error != NULL)
		(void)redact_str(clean, sizeof(clean), error, NULL);
	bind_opt(st, 4, error != NULL ? clean : NULL);
	if (db_run(db, st, "update message in", &n) < 0)
		return -1;
	return n;
}

static const char sql_msg_sent[] =
    "UPDATE messages SET status = 'sent', sent_at = ?2,"
    " platform_msg_id = nullif(?3, '')"
    " WHERE id = ?1 AND status = 'sending'"
    " RETURNING contact, bot, kind";
static const char sql_sent_contact[] =
    "UPDATE contacts SET unanswered = unanswered + 1, last_outbound_at = ?2,"
    " initiated_at = CASE WHEN ?3 <> 0 AND initiated_at IS NULL THEN ?2"
    "  ELSE initiated_at END,"
    " status = CASE WHEN status = 'new' THEN 'active' ELSE status END,"
    " updated_at = ?2 WHERE id = ?1";

int
store_msg_sent(struct db *db, int64_t id, const char *platform_msg_id)
{
	struct dbst *st;
	struct store_metrics d;
	char bot[STORE_ID_MAX], kind[16], day[16];
	int64_t now = clock_now_ms(), contact = 0;
	int own, ok = 0, rc, moved = 0;

	if (db_tx_open(db, &own) < 0)
		return -1;
	if ((st = db_stmt(db, sql_msg_sent)) == NULL)
		goto out;
	db_bind_int64(st, 1, id);
	db_bind_int64(st, 2, now);
	db_bind_text(st, 3, platform_msg_id != NULL ? platform_msg_id :
	    "");
	rc = db_step(st);
	if (rc == DB_ROW) {
		moved = 1;
		contact = db_col_int64(st, 0);
		db_col_copy(st, 1, bot, sizeof(bot));
		db_col_copy(st, 2, kind, sizeof(kind));
		rc = db_step(st);
	}
	db_reset(st);
	if (rc != DB_DONE) {
		db_fail(db, "mark message sent in");
		goto out;
	}
	if (moved) {
		if ((st = db_stmt(db, sql_sent_contact)) == NULL)
			goto out;
		db_bind_int64(st, 1, contact);
		db_bind_int64(st, 2, now);
		db_bind_int(st, 3, strcmp(kind, "opener") == 0);
		if (db_run(db, st, "update contact in", NULL) < 0)
			goto out;
		memset(&d, 0, sizeof(d));
		d.sent = 1;
		d.initiations = strcmp(kind, "opener") == 0;
		if (store_metrics_add(db, bot, today(now, day, sizeof(day)),
		    &d) < 0)
			goto out;
	}
	ok = 1;
out:
	if (db_tx_close(db, own, ok) < 0)
		return -1;
	return moved;
}

static const char sql_has_outbound[] =
    "SELECT EXISTS (SELECT 1 FROM messages WHERE contact = ?1"
    " AND direction = 'out' AND status <> 'failed')";

/* A one-row, one-integer query about a contact (EXISTS ...) into *yes. */
static int
contact_flag(struct db *db, const char *sql, int64_t contact, int *yes)
{
	struct dbst *st = db_stmt(db, sql);
	int rc;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, contact);
	rc = db_step(st);
	if (rc == DB_ROW)
		*yes = db_col_int(st, 0);
	db_reset(st);
	return rc == DB_ROW ? 0 : db_fail(db, "read messages from");
}

int
store_has_outbound(struct db *db, int64_t contact, int *yes)
{
	return contact_flag(db, sql_has_outbound, contact, yes);
}

static const char sql_has_pending[] =
    "SELECT EXISTS (SELECT 1 FROM messages WHERE contact = ?1"
    " AND direction = 'out' AND status IN ('draft', 'queued', 'sending'))";

int
store_has_pending(struct db *db, int64_t contact, int *yes)
{
	return contact_flag(db, sql_has_pending, contact, yes);
}

static const char sql_nudge_hold[] =
    "SELECT nudge_hold FROM contacts WHERE id = ?1";

int
store_nudge_hold(struct db *db, int64_t contact, int *yes)
{
	*yes = 0;
	return contact_flag(db, sql_nudge_hold, contact, yes) < 0 ? -1 : 0;
}

/* Neither the bot nor the contact is held by the operator (ctl.h). */
#define NOT_HELD \
	" AND c.paused = 0 AND c.takeover_by IS NULL AND NOT EXISTS" \
	" (SELECT 1 FROM bot_state b WHERE b.bot = c.bot AND b.paused = 1)"

static const char sql_due_openers[] =
    "SELECT id FROM contacts c WHERE bot = ?1 AND status = 'new'"
    " AND consent = 1 AND initiated_at IS NULL AND nudge_hold = 0" NOT_HELD
    " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.contact = c.id"
    "  AND m.direction = 'out' AND m.status <> 'failed')"
    " ORDER BY id LIMIT ?2";
static const char sql_due_followups[] =
    "SELECT id FROM contacts c WHERE bot = ?1 AND status = 'active'"
    NOT_HELD
    " AND last_outbound_at IS NOT NULL"
    " AND last_outbound_at <= ?2 AND unanswered > 0 AND unanswered < ?3"
    " AND last_outbound_at >= ?5 AND nudge_hold = 0"
    " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.contact = c.id"
    "  AND m.direction = 'out' AND m.status IN ('draft','queued','sending'))"
    " ORDER BY last_outbound_at LIMIT ?4";

static int
ids_of(struct db *db, struct dbst *st, int max, int64_t *ids, int *n)
{
	int rc;

	*n = 0;
	while ((rc = db_step(st)) == DB_ROW && *n < max)
		ids[(*n)++] = db_col_int64(st, 0);
	db_reset(st);
	if (rc != DB_DONE && rc != DB_ROW)
		return db_fail(db, "read contacts from");
	return 0;
}

int
store_due_openers(struct db *db, const char *bot, int max, int64_t *ids,
    int *n)
{
	struct dbst *st = db_stmt(db, sql_due_openers);

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, bot);
	db_bind_int(st, 2, max);
	return ids_of(db, st, max, ids, n);
}

int
store_due_followups(struct db *db, const char *bot, int64_t quiet_before_ms,
    int64_t since_ms, int max_unanswered, int max, int64_t *ids, int *n)
{
	struct dbst *st = db_stmt(db, sql_due_followups);

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, bot);
	db_bind_int64(st, 2, quiet_before_ms);
	db_bind_int(st, 3, max_unanswered);
	db_bind_int(st, 4, max);
	db_bind_int64(st, 5, since_ms);
	return ids_of(db, st, max, ids, n);
}

/* The rate limits' counts: one statement per index, so the per-contact
 * count reads only that contact's recent messages. */
static const char sql_sent_since[] =
    "SELECT count(*), coalesce(min(sent_at), 0) FROM messages"
    " WHERE bot = ?1 AND direction = 'out' AND sent_at IS NOT NULL"
    " AND sent_at >= ?3";
static const char sql_sent_since_contact[] =
    "SELECT count(*), coalesce(min(sent_at), 0) FROM messages"
    " WHERE contact = ?2 AND direction = 'out' AND sent_at IS NOT NULL"
    " AND sent_at >= ?3 AND bot = ?1";

int
store_sent_since(struct db *db, const char *bot, int64_t contact,
    int64_t since_ms, int *n, int64_t *oldest)
{
	struct dbst *st = db_stmt(db, contact != 0 ? sql_sent_since_contact :
	    sql_sent_since);
	int rc;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, bot);
	if (contact != 0)
		db_bind_int64(st, 2, contact);
	db_bind_int64(st, 3, since_ms);
	rc = db_step(st);
	if (rc == DB_ROW) {
		*n = db_col_int(st, 0);
		*oldest = db_col_int64(st, 1);
	}
	db_reset(st);
	return rc == DB_ROW ? 0 : db_fail(db, "count sent messages in");
}

/* ---- metrics and state ----------------------------------------------- */

static const char sql_metrics_add[] =
    "INSERT INTO metrics_daily AS m (bot, day, received, sent, initiations,"
    " initiation_replies, llm_calls, tokens_in, tokens_out, cost_usd,"
    " job_failures) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    " ON CONFLICT (bot, day) DO UPDATE SET"
    " received = m.received + ?3, sent = m.sent + ?4,"
    " initiations = m.initiations + ?5,"
    " initiation_replies = m.initiation_replies + ?6,"
    " llm_calls = m.llm_calls + ?7, tokens_in = m.tokens_in + ?8,"
    " tokens_out = m.tokens_out + ?9, cost_usd = m.cost_usd + ?10,"
    " job_failures = m.job_failures + ?11";

int
store_metrics_add(struct db *db, const char *bot, const char *day,
    const struct store_metrics *d)
{
	struct dbst *st = db_stmt(db, sql_metrics_add);

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, bot);
	db_bind_text(st, 2, day);
	db_bind_int(st, 3, d->received);
	db_bind_int(st, 4, d->sent);
	db_bind_int(st, 5, d->initiations);
	db_bind_int(st, 6, d->initiation_replies);
	db_bind_int(st, 7, d->llm_calls);
	db_bind_int(st, 8, d->tokens_in);
	db_bind_int(st, 9, d->tokens_out);
	db_bind_double(st, 10, d->cost_usd);
	db_bind_int(st, 11, d->job_failures);
	return db_run(db, st, "update metrics in", NULL);
}

int
store_count_failure(struct db *db, const char *bot)
{
	struct store_metrics d;
	char day[16];

	memset(&d, 0, sizeof(d));
	d.job_failures = 1;
	return store_metrics_add(db, bot, today(clock_now_ms(), day,
	    sizeof(day)), &d);
}

static const char sql_metrics_get[] =
    "SELECT received, sent, initiations, initiation_replies, llm_calls,"
    " tokens_in, tokens_out, cost_usd, job_failures FROM metrics_daily"
    " WHERE bot = ?1 AND day = ?2";

int
store_metrics_get(struct db *db, const char *bot, const char *day,
    struct store_metrics *out)
{
	struct dbst *st = db_stmt(db, sql_metrics_get);
	int rc;

	if (st == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	db_bind_text(st, 1, bot);
	db_bind_text(st, 2, day);
	rc = db_step(st);
	if (rc == DB_ROW) {
		out->received = db_col_int(st, 0);
		out->sent = db_col_int(st, 1);
		out->initiations = db_col_int(st, 2);
		out->initiation_replies = db_col_int(st, 3);
		out->llm_calls = db_col_int(st, 4);
		out->tokens_in = db_col_int(st, 5);
		out->tokens_out = db_col_int(st, 6);
		out->cost_usd = db_col_double(st, 7);
		out->job_failures = db_col_int(st, 8);
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read metrics from");
	return 0;
}

static const char sql_kv_get[] = "SELECT value FROM kv WHERE key = ?1";
static const char sql_kv_set[] =
    "INSERT INTO kv (key, value, updated_at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (key) DO UPDATE SET value = ?2, updated_at = ?3";

int
store_kv_get(struct db *db, const char *key, char *value, size_t len)
{
	struct dbst *st = db_stmt(db, sql_kv_get);
	int rc, found = 0;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, key);
	rc = db_step(st);
	if (rc == DB_ROW) {
		db_col_copy(st, 0, value, len);
		found = 1;
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read state from");
	return found;
}

int
store_kv_set(struct db *db, const char *key, const char *value)
{
	struct dbst *st = db_stmt(db, sql_kv_set);

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, key);
	db_bind_text(st, 2, value);
	db_bind_int64(st, 3, clock_now_ms());
	return db_run(db, st, "store state in", NULL);
}

static const char sql_kv_add[] =
    "INSERT INTO kv (key, value, updated_at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (key) DO UPDATE SET"
    " value = CAST(CAST(kv.value AS INTEGER) + ?2 AS TEXT),"
    " updated_at = ?3";

int
store_kv_add(struct db *db, const char *key, int64_t delta)
{
	struct dbst *st = db_stmt(db, sql_kv_add);

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, key);
	db_bind_int64(st, 2, delta);
	db_bind_int64(st, 3, clock_now_ms());
	return db_run(db, st, "store state in", NULL);
}

static const char sql_awaits[] =
    "SELECT direction = 'in' FROM messages WHERE contact = ?1 AND"
    IN_CONVERSATION " ORDER BY id DESC LIMIT 1";

int
store_awaits_reply(struct db *db, int64_t contact, int *yes)
{
	struct dbst *st = db_stmt(db, sql_awaits);
	int rc;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, contact);
	rc = db_step(st);
	*yes = rc == DB_ROW && db_col_int(st, 0) != 0;
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? 0 :
	    db_fail(db, "read messages from");
}

static const char sql_msg_parts[] =
    "UPDATE messages SET parts_sent = ?2, error = coalesce(?3, error)"
    " WHERE id = ?1 AND status = 'sending'";

int
store_msg_parts(struct db *db, int64_t id, int parts_sent, const char *error)
{
	struct dbst *st = db_stmt(db, sql_msg_parts);
	int n = 0;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, id);
	db_bind_int(st, 2, parts_sent);
	if (error != NULL)
		db_bind_text(st, 3, error);
	if (db_run(db, st, "record the parts sent in", &n) < 0)
		return -1;
	return n;
}
