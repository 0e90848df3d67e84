/*
 * build_conv: the conversation side of dater-report: bots, contacts,
 * one conversation, the daily metrics series, and the health checks.
 * Like build_queue.c, each view reads inside one snapshot
 * (report_snap_begin) and returns a new JSON document; nothing here
 * writes.
 *
 * Cost: bots and metrics read metrics_daily (a row per bot and day);
 * the median reply time reads the inbound messages of the period and,
 * per message, its neighbours through messages_contact and
 * messages_contact_sent; contacts counts each listed contact's messages
 * through messages_contact.
 */
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../ctl.h"
#include "../listener.h"
#include "../log.h"
#include "../redact.h"
#include "report.h"
#include "../store.h"
#include "../banned.h"

#define DAY_MS (24 * 60 * 60 * 1000LL)

static const char *const contact_states[] = {
	"new", "active", "paused", "opted_out", "blocked", NULL
};

int
report_contact_status_known(const char *s)
{
	int i;

	for (i = 0; contact_states[i] != NULL; i++)
		if (strcmp(s, contact_states[i]) == 0)
			return 1;
	return 0;
}

static json_t *
oom_null(void)
{
	log_err("out of memory building the report");
	return NULL;
}

static const char *
col_text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

static json_int_t
col_int(sqlite3_stmt *st, int col)
{
	return (json_int_t)sqlite3_column_int64(st, col);
}

/* An integer column as a new reference, or NULL for SQL NULL. */
static json_t *
col_int_null(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return NULL;
	return json_integer(col_int(st, col));
}

static json_t *
col_real_null(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return NULL;
	return json_real(sqlite3_column_double(st, col));
}

/* "YYYY-MM-DD" (UTC) of ms into buf (16 bytes at least). */
static char *
day_of(int64_t ms, char *buf, size_t len)
{
	char t[CLOCK_RFC3339_LEN];

	clock_format(ms, t, sizeof(t));
	t[10] = '\0';
	strlcpy(buf, t, len);
	return buf;
}

/* ms of 00:00 UTC of the day of ms. */
static int64_t
day_start(int64_t ms)
{
	return ms - ((ms % DAY_MS) + DAY_MS) % DAY_MS;
}

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
    "SELECT (SELECT min(o.sent_at) FROM messages o"
    "  WHERE o.contact = i.contact AND o.direction = 'out'"
    "  AND o.sent_at IS NOT NULL AND o.sent_at >= i.created_at)"
    "  - i.created_at AS lat"
    " FROM messages i WHERE i.bot = ?1 AND i.direction = 'in'"
    " AND i.created_at >= ?2"
    " AND (SELECT p.direction FROM messages p WHERE p.contact = i.contact"
    "  AND p.id < i.id ORDER BY p.id DESC LIMIT 1) IS NOT 'in'"
    " AND lat IS NOT NULL ORDER BY lat";

/* The median of the latencies sql_bot_latency returns (sorted), or NULL
 * (json null) when none; *err set on a failure (logged). */
static json_t *
bot_median(struct db *db, const char *bot, int64_t since, int *err)
{
	sqlite3_stmt *st = db_stmt(db, sql_bot_latency);
	int64_t *v = NULL, *nv;
	size_t n = 0, cap = 0;
	json_t *out = NULL;
	int rc;

	if (st == NULL) {
		*err = 1;
		return NULL;
	}
	sqlite3_bind_text(st, 1, bot, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL) {
				*err = 1;
				oom_null();
				goto out;
			}
			v = nv;
		}
		v[n++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE) {
		*err = 1;
		db_fail(db, "read report from");
		goto out;
	}
	if (n > 0)
		out = json_integer(n % 2 ? v[n / 2] : (v[n / 2 - 1] +
		    v[n / 2]) / 2);
out:
	sqlite3_reset(st);
	free(v);
	return out;
}

/* One PERIOD object of report_bots, or NULL (logged). */
static json_t *
bot_period(struct db *db, const char *bot, const char *from, const char *to,
    int64_t since)
{
	sqlite3_stmt *st = db_stmt(db, sql_bot_period);
	json_t *o = NULL, *median;
	double init, repl;
	int err = 0;

	if (st == NULL)
		return NULL;
	sqlite3_bind_text(st, 1, bot, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		db_fail(db, "read report from");
		return NULL;
	}
	init = sqlite3_column_double(st, 2);
	repl = sqlite3_column_double(st, 3);
	median = bot_median(db, bot, since, &err);
	if (!err)
		o = json_pack("{s:I, s:I, s:I, s:I, s:o?, s:o?, s:I, s:I, s:I,"
		    " s:f, s:I}",
		    "received", (json_int_t)sqlite3_column_double(st, 0),
		    "sent", (json_int_t)sqlite3_column_double(st, 1),
		    "initiations", (json_int_t)init,
		    "initiation_replies", (json_int_t)repl,
		    "reply_rate", init > 0 ? json_real(repl / init) : NULL,
		    "median_reply_ms", median,
		    "llm_calls", (json_int_t)sqlite3_column_double(st, 4),
		    "tokens_in", (json_int_t)sqlite3_column_double(st, 5),
		    "tokens_out", (json_int_t)sqlite3_column_double(st, 6),
		    "cost_usd", sqlite3_column_double(st, 7),
		    "job_failures", (json_int_t)sqlite3_column_double(st, 8));
	else
		json_decref(median);
	sqlite3_reset(st);
	if (o == NULL && !err)
		oom_null();
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
		oom_null();
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
		oom_null();
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
	sqlite3_stmt *st;
	json_int_t ncontacts = 0, nopted = 0;

	day_of(now, today, sizeof(today));
	day_of(now - 6 * DAY_MS, since, sizeof(since));
	if ((st = db_stmt(db, sql_bot_contacts)) == NULL)
		return NULL;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		ncontacts = col_int(st, 0);
		nopted = (json_int_t)sqlite3_column_double(st, 1);
	}
	sqlite3_reset(st);
	t = bot_period(db, name, today, today, day_start(now));
	w = bot_period(db, name, since, today, day_start(now - 6 * DAY_MS));
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
		return oom_null();
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
bot_name_row(sqlite3_stmt *st, void *arg)
{
	struct bots_acc *acc = arg;
	const char *name = col_text(st, 0);

	if (name == NULL || json_object_get(acc->seen, name) != NULL)
		return 0;
	if (json_object_set_new(acc->seen, name, json_true()) < 0 ||
	    json_array_append_new(acc->names, json_string(name)) < 0) {
		oom_null();
		return -1;
	}
	return 0;
}

static json_t *
bots_read(struct db *db, const struct cfg *cfg, int64_t now)
{
	struct bots_acc acc = { json_array(), json_object() };
	json_t *list = json_array(), *b, *v, *out = NULL;
	sqlite3_stmt *st;
	size_t i;
	int k;

	if (acc.names == NULL || acc.seen == NULL || list == NULL) {
		oom_null();
		goto done;
	}
	for (k = 0; cfg != NULL && k < cfg->nbots; k++) {
		if (json_object_set_new(acc.seen, cfg->bots[k].name,
		    json_true()) < 0 || json_array_append_new(acc.names,
		    json_string(cfg->bots[k].name)) < 0) {
			oom_null();
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
			oom_null();
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
	    "today", day_of(now, today, sizeof(today)),
	    "since", day_of(now - 6 * DAY_MS, since, sizeof(since)),
	    "bots", bots);
	return doc != NULL ? doc : oom_null();
}

/* ---- contacts ---- */

static const char sql_contacts[] =
    "SELECT c.id, c.bot, c.platform_id, c.handle, c.name, c.status,"
    " c.consent, c.timezone, c.unanswered,"
    " (SELECT count(*) FROM messages m WHERE m.contact = c.id"
    "  AND m.direction = 'in'),"
    " (SELECT count(*) FROM messages m WHERE m.contact = c.id"
    "  AND m.direction = 'out'),"
    " c.last_inbound_at, c.last_outbound_at, c.created_at"
    " FROM contacts c WHERE (?1 IS NULL OR c.bot = ?1)"
    " AND (?2 IS NULL OR c.status = ?2) ORDER BY c.id LIMIT ?3";

struct contacts_acc {
	json_t *rows;
	int limit;
	int more;
};

static int
contact_row(sqlite3_stmt *st, void *arg)
{
	struct contacts_acc *acc = arg;
	json_t *o;

	if ((int)json_array_size(acc->rows) == acc->limit) {
		acc->more = 1;
		return 0;
	}
	o = json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:b, s:s?, s:I,"
	    " s:I, s:I, s:o?, s:o?, s:o?}",
	    "id", col_int(st, 0), "bot", col_text(st, 1),
	    "platform_id", col_text(st, 2), "handle", col_text(st, 3),
	    "name", col_text(st, 4), "status", col_text(st, 5),
	    "consent", sqlite3_column_int(st, 6) != 0,
	    "timezone", col_text(st, 7), "unanswered", col_int(st, 8),
	    "messages_in", col_int(st, 9), "messages_out", col_int(st, 10),
	    "last_inbound_at", report_col_time(st, 11),
	    "last_outbound_at", report_col_time(st, 12),
	    "created_at", report_col_time(st, 13));
	if (o == NULL || json_array_append_new(acc->rows, o) < 0) {
		oom_null();
		return -1;
	}
	return 0;
}

json_t *
report_contacts(struct db *db, const struct report_contacts_filter *f,
    int64_t now)
{
	struct contacts_acc acc = { json_array(), 0, 0 };
	sqlite3_stmt *st;
	json_t *doc;
	int own, rc = -1;

	acc.limit = f->limit > 0 ? f->limit : REPORT_CONTACTS_LIMIT;
	if (acc.rows == NULL)
		return oom_null();
	if (report_snap_begin(db, &own) < 0) {
		json_decref(acc.rows);
		return NULL;
	}
	if ((st = db_stmt(db, sql_contacts)) != NULL) {
		if (f->bot != NULL)
			sqlite3_bind_text(st, 1, f->bot, -1, SQLITE_STATIC);
		if (f->status != NULL)
			sqlite3_bind_text(st, 2, f->status, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (int64_t)acc.limit + 1);
		rc = report_each_row(db, st, contact_row, &acc);
	}
	report_snap_end(db, own);
	if (rc < 0) {
		json_decref(acc.rows);
		return NULL;
	}
	doc = json_pack("{s:o, s:{s:s?, s:s?, s:i}, s:b, s:o}",
	    "generated_at", report_time_json(now),
	    "filter", "bot", f->bot, "status", f->status, "limit", acc.limit,
	    "truncated", acc.more, "contacts", acc.rows);
	return doc != NULL ? doc : oom_null();
}

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
conv_header(sqlite3_stmt *st)
{
	const char *profile = col_text(st, 8);
	json_t *p = profile != NULL ? json_loads(profile, 0, NULL) : NULL;

	if (p == NULL && profile != NULL)
		p = json_string(profile);	/* not JSON: shown as text */
	return json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:b, s:s?,"
	    " s:o?, s:s?, s:I, s:o?, s:o?, s:o?, s:o?}",
	    "id", col_int(st, 0), "bot", col_text(st, 1),
	    "platform_id", col_text(st, 2), "handle", col_text(st, 3),
	    "name", col_text(st, 4), "status", col_text(st, 5),
	    "consent", sqlite3_column_int(st, 6) != 0,
	    "timezone", col_text(st, 7), "profile", p,
	    "summary", col_text(st, 9), "unanswered", col_int(st, 10),
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
conv_msg_row(sqlite3_stmt *st, void *arg)
{
	json_t *rows = arg, *o;
	char err[1024];
	const char *e = col_text(st, 10);

	/* Rows stored before the redaction, or a secret configured since. */
	if (e != NULL)
		(void)redact_str(err, sizeof(err), e, NULL);
	o = json_pack("{s:I, s:o?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:o?,"
	    " s:o?, s:o?, s:s?, s:o?, s:o?}",
	    "id", col_int(st, 0), "at", report_col_time(st, 1),
	    "direction", col_text(st, 2), "kind", col_text(st, 3),
	    "status", col_text(st, 4), "mark", msg_mark(col_text(st, 4)),
	    "text", col_text(st, 5), "model", col_text(st, 6),
	    "tokens_in", col_int_null(st, 7), "tokens_out",
	    col_int_null(st, 8), "cost_usd", col_real_null(st, 9),
	    "error", e != NULL ? err : NULL, "created_at",
	    report_col_time(st, 11),
	    "sent_at", report_col_time(st, 12));
	if (o == NULL || json_array_append_new(rows, o) < 0) {
		oom_null();
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
conv_why(sqlite3_stmt *st, int64_t now)
{
	char why[1200], err[1024], at[CLOCK_RFC3339_LEN];
	const char *type = col_text(st, 1), *state = col_text(st, 2);
	const char *e = col_text(st, 6);
	int64_t attempts = col_int(st, 3), max = col_int(st, 4);
	int64_t run_at = col_int(st, 5);

	if (e != NULL)
		(void)redact_str(err, sizeof(err), e, NULL);
	clock_format(run_at, at, sizeof(at));
	if (strcmp(state, "dead") == 0)
		snprintf(why, sizeof(why), "%s job %lld is dead after %lld of "
		    "%lld attempts: %s", type, (long long)col_int(st, 0),
		    (long long)attempts, (long long)max, e != NULL ? err :
		    "no error recorded");
	else if (strcmp(state, "running") == 0)
		snprintf(why, sizeof(why), "%s job %lld is running (attempt "
		    "%lld of %lld)", type, (long long)col_int(st, 0),
		    (long long)attempts, (long long)max);
	else if (attempts > 0)
		snprintf(why, sizeof(why), "%s job %lld retries at %s after "
		    "attempt %lld of %lld failed: %s", type,
		    (long long)col_int(st, 0), at, (long long)attempts,
		    (long long)max, e != NULL ? err : "no error recorded");
	else if (run_at > now)
		snprintf(why, sizeof(why), "%s job %lld waits until %s (reply "
		    "delay, quiet hours, a hold or a limit: see dater-report "
		    "bots)", type, (long long)col_int(st, 0), at);
	else
		snprintf(why, sizeof(why), "%s job %lld is due, waiting for a "
		    "worker", type, (long long)col_int(st, 0));
	return json_pack("{s:I, s:s, s:s, s:I, s:I, s:o, s:s?, s:s}",
	    "job", col_int(st, 0), "type", type, "state", state,
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
	sqlite3_stmt *st = db_stmt(db, sql_conv_reply);
	const char *why = "no reply job is queued for it (an operator hold,"
	    " a takeover, an opt-out, or one message of a burst being"
	    " answered: see dater-report bots)";
	const char *status;
	int rc;

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW &&
	    (status = col_text(st, 0)) != NULL) {
		if (strcmp(status, "draft") == 0)
			why = "the reply is a draft waiting for review"
			    " (dater-ctl approve or edit)";
		else if (strcmp(status, "uncertain") == 0)
			why = "the reply's send was cut off: it may or may not"
			    " have reached the person (never sent twice)";
		else if (strcmp(status, "failed") == 0)
			why = "the reply could not be sent";
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_fail(db, "read messages from");
		return NULL;
	}
	return json_pack("{s:s}", "why", why);
}

/* Why the contact's last message is unanswered, as a new object (null
 * when it is answered; "why" only when no reply job is in the way). */
static json_t *
conv_waiting(struct db *db, int64_t id, int64_t unanswered, int64_t now)
{
	sqlite3_stmt *st;
	json_t *w = NULL;
	int rc;

	if (unanswered == 0)
		return json_null();
	if ((st = db_stmt(db, sql_conv_waiting)) == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		w = conv_why(st, now);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return conv_no_job(db, id);
	if (rc != SQLITE_ROW) {
		db_fail(db, "read jobs from");
		return NULL;
	}
	return w != NULL ? w : oom_null();
}

/* Read the contact and its messages (inside the snapshot). */
static int
conv_read(struct db *db, int64_t id, json_t **hdr, json_t *msgs)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = db_stmt(db, sql_conv_contact)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && (*hdr = conv_header(st)) == NULL)
		oom_null();
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return REPORT_NOT_FOUND;
	if (rc != SQLITE_ROW)
		return db_fail(db, "read contact from");
	if (*hdr == NULL)
		return -1;
	if ((st = db_stmt(db, sql_conv_messages)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
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
		oom_null();
		return -1;
	}
	if (report_snap_begin(db, &own) < 0) {
		json_decref(msgs);
		return -1;
	}
	rc = conv_read(db, contact, &hdr, msgs);
	if (rc == REPORT_FOUND && (waiting = conv_waiting(db, contact,
	    json_integer_value(json_object_get(hdr, "unanswered")), now)) ==
	    NULL)
		rc = -1;
	report_snap_end(db, own);
	if (rc == REPORT_FOUND) {
		doc = json_pack("{s:o, s:O, s:O, s:o}", "generated_at",
		    report_time_json(now), "contact", hdr, "messages", msgs,
		    "waiting", waiting);
		if (doc == NULL) {
			oom_null();
			rc = -1;
		}
	}
	json_decref(hdr);
	json_decref(msgs);
	if (rc == REPORT_FOUND)
		*out = doc;
	return rc;
}

/* ---- metrics ---- */

static const char sql_metrics[] =
    "SELECT day, bot, received, sent, initiations, initiation_replies,"
    " llm_calls, tokens_in, tokens_out, cost_usd, job_failures"
    " FROM metrics_daily WHERE (?1 IS NULL OR day >= ?1)"
    " AND (?2 IS NULL OR bot = ?2) ORDER BY day, bot";

static int
metrics_row(sqlite3_stmt *st, void *arg)
{
	json_t *rows = arg, *o;

	o = json_pack("{s:s?, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f,"
	    " s:I}",
	    "day", col_text(st, 0), "bot", col_text(st, 1),
	    "received", col_int(st, 2), "sent", col_int(st, 3),
	    "initiations", col_int(st, 4), "initiation_replies",
	    col_int(st, 5), "llm_calls", col_int(st, 6),
	    "tokens_in", col_int(st, 7), "tokens_out", col_int(st, 8),
	    "cost_usd", sqlite3_column_double(st, 9),
	    "job_failures", col_int(st, 10));
	if (o == NULL || json_array_append_new(rows, o) < 0) {
		oom_null();
		return -1;
	}
	return 0;
}

json_t *
report_metrics(struct db *db, const char *since, const char *bot,
    int64_t now)
{
	json_t *rows = json_array(), *doc;
	sqlite3_stmt *st;
	int own, rc = -1;

	if (rows == NULL)
		return oom_null();
	if (report_snap_begin(db, &own) < 0) {
		json_decref(rows);
		return NULL;
	}
	if ((st = db_stmt(db, sql_metrics)) != NULL) {
		if (since != NULL)
			sqlite3_bind_text(st, 1, since, -1, SQLITE_STATIC);
		if (bot != NULL)
			sqlite3_bind_text(st, 2, bot, -1, SQLITE_STATIC);
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
	return doc != NULL ? doc : oom_null();
}

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
		oom_null();
		return -1;
	}
	return 0;
}

/* Run sql (?1 and ?2 bound to a and b) for one row of numbers. */
static int
h_numbers(struct db *db, const char *sql, int64_t a, int64_t b, double *x,
    double *y)
{
	sqlite3_stmt *st = db_stmt(db, sql);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	*x = -1;
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) != SQLITE_NULL)
			*x = sqlite3_column_double(st, 0);
		if (y != NULL)
			*y = sqlite3_column_double(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
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
	sqlite3_stmt *st;
	double cost;
	int i, ok;

	day_of(now, today, sizeof(today));
	for (i = 0; cfg != NULL && i < cfg->nbots; i++) {
		b = &cfg->bots[i];
		if (b->policy.daily_budget_usd <= 0)
			continue;
		if ((st = db_stmt(db, sql_h_cost)) == NULL)
			return -1;
		sqlite3_bind_text(st, 1, b->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, today, -1, SQLITE_STATIC);
		cost = sqlite3_step(st) == SQLITE_ROW ?
		    sqlite3_column_double(st, 0) : 0;
		sqlite3_reset(st);
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
		return oom_null();
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
	return doc != NULL ? doc : oom_null();
}
