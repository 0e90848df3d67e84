/*
 * ctl: operator control; see ctl.h.
 *
 * Every command runs as: begin, check (refusals roll back), act, write
 * the audit row, commit. The SQL of the operator's tables (bot_state,
 * audit) and of the operator's actions on contacts, messages and jobs
 * lives here; the conversation jobs only ask ctl_held.
 */
#include <ctype.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "log.h"
#include "policy.h"
#include "queue.h"
#include "report/report.h"
#include "store.h"
#include "jobtypes.h"
#include "banned.h"

#define HOUR_MS (3600LL * 1000)

/* The jobs that write to a contact (payload "contact"). */
#define WRITER_JOBS JT_RESPOND "," JT_INITIATE "," JT_FOLLOWUP

int
ctl_init(struct ctl *c, struct db *db, const struct cfg *cfg)
{
	const char *a = getenv("DATER_ACTOR");
	struct passwd *pw;
	size_t i;

	memset(c, 0, sizeof(*c));
	c->db = db;
	c->cfg = cfg;
	if (a != NULL) {
		if (a[0] == '\0' || strlen(a) >= sizeof(c->actor)) {
			log_err("DATER_ACTOR: expected a name of 1 to %zu "
			    "bytes", sizeof(c->actor) - 1);
			return -1;
		}
		for (i = 0; a[i] != '\0'; i++)
			if (iscntrl((unsigned char)a[i])) {
				log_err("DATER_ACTOR: control character at "
				    "byte %zu", i + 1);
				return -1;
			}
		strlcpy(c->actor, a, sizeof(c->actor));
	} else if ((pw = getpwuid(geteuid())) != NULL)
		strlcpy(c->actor, pw->pw_name, sizeof(c->actor));
	else
		snprintf(c->actor, sizeof(c->actor), "uid %lu",
		    (unsigned long)geteuid());
	return 0;
}

/* ---- small helpers ---- */

static json_t *
oom(void)
{
	log_err("out of memory");
	return NULL;
}

/* One integer (or text into buf) from a one-row query; 1 row, 0 none,
 * -1 error. */
static int
one_int(struct db *db, struct dbst *st, int64_t *v)
{
	int rc = db_step(st);

	if (rc == DB_ROW && v != NULL)
		*v = db_col_int64(st, 0);
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read");
	return rc == DB_ROW;
}

static const char sql_audit[] =
    "INSERT INTO audit (at, actor, command, bot, contact, detail)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/* The audit row of a command, inside the open transaction. */
static int
audit(struct ctl *c, const char *command, const char *bot, int64_t contact,
    const json_t *detail)
{
	struct dbst *st = db_stmt(c->db, sql_audit);
	char *d;
	int rc;

	if (st == NULL)
		return -1;
	if ((d = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		oom();
		return -1;
	}
	db_bind_int64(st, 1, clock_now_ms());
	db_bind_text(st, 2, c->actor);
	db_bind_text(st, 3, command);
	if (bot != NULL)
		db_bind_text(st, 4, bot);
	if (contact > 0)
		db_bind_int64(st, 5, contact);
	db_bind_text_copy(st, 6, d);
	rc = db_run(c->db, st, "write the audit row to", NULL);
	free(d);
	return rc;
}

/* Commit with the audit row and hand res over, or roll back. rc is the
 * command's result so far. */
static int
finish(struct ctl *c, int rc, const char *command, const char *bot,
    int64_t contact, json_t *detail, json_t **res)
{
	if (rc == 0 && detail == NULL)
		rc = -1;
	if (rc == 0 && audit(c, command, bot, contact, detail) < 0)
		rc = -1;
	if (rc == 0 && db_commit(c->db) < 0)
		rc = -1;
	if (rc != 0) {
		db_rollback(c->db);
		json_decref(detail);
		return rc;
	}
	*res = detail;
	return 0;
}

static const char sql_bot_known[] =
    "SELECT 1 WHERE EXISTS (SELECT 1 FROM contacts WHERE bot = ?1)"
    " OR EXISTS (SELECT 1 FROM bot_state WHERE bot = ?1)"
    " OR EXISTS (SELECT 1 FROM jobs WHERE bot = ?1 AND state = 'queued')";

/* A bot the command may name: configured, or known to the database (a
 * bot removed from the configuration can still be paused or resumed). */
static int
bot_known(struct ctl *c, const char *bot)
{
	struct dbst *st;
	int rc;

	if (cfg_bot(c->cfg, bot) != NULL)
		return 0;
	if ((st = db_stmt(c->db, sql_bot_known)) == NULL)
		return -1;
	db_bind_text(st, 1, bot);
	if ((rc = one_int(c->db, st, NULL)) < 0)
		return -1;
	if (rc == 0) {
		log_err("bot '%s': not in the configuration or the database",
		    bot);
		return CTL_REFUSED;
	}
	return 0;
}

/* Load contact id and check that it belongs to bot. */
static int
contact_of(struct ctl *c, const char *bot, int64_t id,
    struct store_contact *sc)
{
	int rc = store_contact_get(c->db, id, sc);

	if (rc < 0)
		return -1;
	if (rc == 0) {
		log_err("contact %lld: no such contact", (long long)id);
		return CTL_REFUSED;
	}
	if (strcmp(sc->bot, bot) != 0) {
		log_err("contact %lld: belongs to bot '%s', not '%s'",
		    (long long)id, sc->bot, bot);
		store_contact_release(sc);
		return CTL_REFUSED;
	}
	return 0;
}

/* ---- waking and owed replies ---- */

static const char sql_wake_bot[] =
    "UPDATE jobs SET run_at = ?2 WHERE state = 'queued' AND type = 'send'"
    " AND bot = ?1 AND run_at > ?2";
static const char sql_wake_contact[] =
    "UPDATE jobs SET run_at = ?2 WHERE state = 'queued' AND type = 'send'"
    " AND run_at > ?2"
    " AND CAST(json_extract(payload, '$.message') AS INTEGER) IN"
    " (SELECT id FROM messages WHERE contact = ?1)";

/* The contacts (of bot ?1, or contact ?2 alone) that are owed a reply:
 * reachable, not held, no draft waiting, no respond queued yet, and the
 * last message of the conversation (as store_history counts it) is
 * theirs. At most 512 at a time. */
static const char sql_owed[] =
    "SELECT c.id FROM contacts c"
    " WHERE (?2 = 0 AND c.bot = ?1 OR c.id = ?2)"
    " AND c.status IN ('new', 'active') AND c.paused = 0"
    " AND c.takeover_by IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM bot_state b WHERE b.bot = c.bot"
    "  AND b.paused = 1)"
    " AND NOT EXISTS (SELECT 1 FROM messages d WHERE d.contact = c.id"
    "  AND d.direction = 'out' AND d.status = 'draft')"
    " AND (SELECT m.direction FROM messages m WHERE m.contact = c.id"
    "  AND (m.direction = 'in' OR m.status IN"
    "  ('queued', 'sending', 'sent', 'uncertain'))"
    "  ORDER BY m.id DESC LIMIT 1) = 'in'"
    " AND NOT EXISTS (SELECT 1 FROM jobs j"
    "  WHERE j.unique_key = 'respond:' || c.id"
    "  AND j.state IN ('queued', 'running'))"
    " ORDER BY c.id LIMIT 512";

static int
enqueue_respond(struct db *db, const struct cfg *cfg, const char *bot,
    int64_t contact, int *added)
{
	struct queue_new q;
	char payload[64], key[64];
	int64_t id;
	int existed = 0;

	snprintf(payload, sizeof(payload), "{\"contact\":%lld}",
	    (long long)contact);
	snprintf(key, sizeof(key), "respond:%lld", (long long)contact);
	queue_new_init(&q);
	q.type = JT_RESPOND;
	q.payload = payload;
	q.unique_key = key;
	q.priority = 50;
	q.bot = bot;
	q.max_attempts = 8;
	queue_new_configure(&q, cfg);
	if (queue_add(db, &q, &id, &existed) < 0)
		return -1;
	*added += !existed;
	return 0;
}

/* Wake the held sends and enqueue the owed replies of bot (contact 0)
 * or of one contact; *responds counts the new respond jobs. */
static int
revive(struct ctl *c, const char *bot, int64_t contact, int *responds)
{
	struct dbst *st;
	int64_t ids[512], now = clock_now_ms();
	int n, i, rc;

	st = db_stmt(c->db, contact > 0 ? sql_wake_contact : sql_wake_bot);
	if (st == NULL)
		return -1;
	if (contact > 0)
		db_bind_int64(st, 1, contact);
	else
		db_bind_text(st, 1, bot);
	db_bind_int64(st, 2, now);
	if (db_run(c->db, st, "wake jobs in", NULL) < 0 ||
	    db_notify(c->db) < 0)
		return -1;
	/* In pages, so a bot with many contacts needs no big array: each
	 * page's contacts get a queued respond and so leave the query. */
	*responds = 0;
	do {
		if ((st = db_stmt(c->db, sql_owed)) == NULL)
			return -1;
		db_bind_text(st, 1, bot);
		db_bind_int64(st, 2, contact);
		n = 0;
		while ((rc = db_step(st)) == DB_ROW && n < 512)
			ids[n++] = db_col_int64(st, 0);
		db_reset(st);
		if (rc != DB_ROW && rc != DB_DONE)
			return db_fail(c->db, "read contacts from");
		for (i = 0; i < n; i++)
			if (enqueue_respond(c->db, c->cfg, bot, ids[i], responds) < 0)
				return -1;
	} while (n == 512);
	return 0;
}

/* ---- pause, resume, takeover, release ---- */

static const char sql_bot_pause[] =
    "INSERT INTO bot_state (bot, paused, paused_by, paused_at, reason,"
    " updated_at) VALUES (?1, 1, ?2, ?3, ?4, ?3)"
    " ON CONFLICT (bot) DO UPDATE SET paused = 1, paused_by = ?2,"
    " paused_at = ?3, reason = ?4, updated_at = ?3"
    " WHERE bot_state.paused = 0";
static const char sql_bot_resume[] =
    "UPDATE bot_state SET paused = 0, updated_at = ?2"
    " WHERE bot = ?1 AND paused = 1";
static const char sql_contact_pause[] =
    "UPDATE contacts SET paused = 1, paused_by = ?2, paused_at = ?3,"
    " updated_at = ?3 WHERE id = ?1 AND paused = 0";
static const char sql_contact_resume[] =
    "UPDATE contacts SET paused = 0, paused_by = NULL, paused_at = NULL,"
    " updated_at = ?3 WHERE id = ?1 AND paused = 1";
static const char sql_takeover[] =
    "UPDATE contacts SET takeover_by = ?2, takeover_at = ?3,"
    " updated_at = ?3 WHERE id = ?1 AND takeover_by IS NULL";
static const char sql_release[] =
    "UPDATE contacts SET takeover_by = NULL, takeover_at = NULL,"
    " updated_at = ?3 WHERE id = ?1 AND takeover_by IS NOT NULL";

/* Set or clear a flag: the statement binds (id or bot, actor, now[,
 * reason]); *changed tells whether it changed anything. */
static int
flag(struct ctl *c, const char *sql, const char *bot, int64_t contact,
    const char *reason, int *changed)
{
	struct dbst *st = db_stmt(c->db, sql);
	int64_t now = clock_now_ms();

	if (st == NULL)
		return -1;
	if (contact > 0)
		db_bind_int64(st, 1, contact);
	else
		db_bind_text(st, 1, bot);
	if (sql == sql_bot_resume) {
		db_bind_int64(st, 2, now);
	} else {
		db_bind_text(st, 2, c->actor);
		db_bind_int64(st, 3, now);
	}
	if (sql == sql_bot_pause && reason != NULL)
		db_bind_text(st, 4, reason);
	return db_run(c->db, st, "update", changed);
}

/* Begin and check the names of a command on bot / contact. */
static int
start(struct ctl *c, const char *bot, int64_t contact)
{
	struct store_contact sc;
	int rc;

	if (db_begin(c->db) < 0)
		return -1;
	if (contact > 0)
		rc = contact_of(c, bot, contact, &sc);
	else
		rc = bot_known(c, bot);
	if (rc == 0 && contact > 0)
		store_contact_release(&sc);
	if (rc != 0)
		db_rollback(c->db);
	return rc;
}

int
ctl_pause(struct ctl *c, const char *bot, int64_t contact,
    const char *reason, json_t **res)
{
	int rc, changed = 0;

	if ((rc = start(c, bot, contact)) != 0)
		return rc;
	rc = flag(c, contact > 0 ? sql_contact_pause : sql_bot_pause, bot,
	    contact, reason, &changed);
	return finish(c, rc, "pause", bot, contact, json_pack(
	    "{s:s, s:o?, s:b, s:s?}", "bot", bot, "contact", contact > 0 ?
	    json_integer(contact) : NULL, "changed", changed, "reason",
	    reason), res);
}

/* resume (clear = pause) or release (clear = takeover). */
static int
unhold(struct ctl *c, const char *command, const char *sql, const char *bot,
    int64_t contact, json_t **res)
{
	int rc, changed = 0, responds = 0;

	if ((rc = start(c, bot, contact)) != 0)
		return rc;
	rc = flag(c, sql, bot, contact, NULL, &changed);
	/* Revive even when nothing changed: a resume repeated after a
	 * crash, or of a bot removed and configured again, still wakes. */
	if (rc == 0)
		rc = revive(c, bot, contact, &responds);
	return finish(c, rc, command, bot, contact, json_pack(
	    "{s:s, s:o?, s:b, s:i}", "bot", bot, "contact", contact > 0 ?
	    json_integer(contact) : NULL, "changed", changed, "responds",
	    responds), res);
}

int
ctl_resume(struct ctl *c, const char *bot, int64_t contact, json_t **res)
{
	return unhold(c, "resume", contact > 0 ? sql_contact_resume :
	    sql_bot_resume, bot, contact, res);
}

int
ctl_release(struct ctl *c, const char *bot, int64_t contact, json_t **res)
{
	return unhold(c, "release", sql_release, bot, contact, res);
}

static const char sql_cancel_bot_sends[] =
    "UPDATE jobs SET state = 'cancelled', finished_at = ?2"
    " WHERE state = 'queued' AND type IN ('send', 'approve')"
    " AND CAST(json_extract(payload, '$.message') AS INTEGER) IN"
    " (SELECT id FROM messages"
    "  WHERE contact = ?1 AND direction = 'out' AND author IS NULL"
    "  AND kind <> 'optout' AND status IN ('draft', 'queued'))";
static const char sql_fail_bot_msgs[] =
    "UPDATE messages SET status = 'failed', error = ?2"
    " WHERE contact = ?1 AND direction = 'out' AND author IS NULL"
    " AND kind <> 'optout' AND status IN ('draft', 'queued')";

/* The bot's pending output to a contact: jobs cancelled, messages
 * failed; *dropped counts the messages. */
static int
drop_pending(struct ctl *c, int64_t contact, int *dropped)
{
	struct dbst *st;
	char why[128];

	if (queue_cancel_where(c->db, WRITER_JOBS, "contact", contact) < 0 ||
	    (st = db_stmt(c->db, sql_cancel_bot_sends)) == NULL)
		return -1;
	db_bind_int64(st, 1, contact);
	db_bind_int64(st, 2, clock_now_ms());
	if (db_run(c->db, st, "cancel jobs in", NULL) < 0 ||
	    (st = db_stmt(c->db, sql_fail_bot_msgs)) == NULL)
		return -1;
	snprintf(why, sizeof(why), "taken over by %s", c->actor);
	db_bind_int64(st, 1, contact);
	db_bind_text_copy(st, 2, why);
	return db_run(c->db, st, "update messages in", dropped);
}

int
ctl_takeover(struct ctl *c, const char *bot, int64_t contact, json_t **res)
{
	int rc, changed = 0, dropped = 0;

	if ((rc = start(c, bot, contact)) != 0)
		return rc;
	rc = flag(c, sql_takeover, bot, contact, NULL, &changed);
	if (rc == 0 && changed)
		rc = drop_pending(c, contact, &dropped);
	return finish(c, rc, "takeover", bot, contact, json_pack(
	    "{s:s, s:I, s:b, s:i}", "bot", bot, "contact",
	    (json_int_t)contact, "changed", changed, "dropped_messages",
	    dropped), res);
}

/* ---- say, edit ---- */

/* An operator's text: 1 to CTL_TEXT_MAX bytes of UTF-8, not blank. */
static int
text_ok(const char *text)
{
	json_t *s;
	const char *p;
	size_t n = strlen(text);

	for (p = text; *p != '\0' && isspace((unsigned char)*p); p++)
		;
	if (*p == '\0') {
		log_err("text: empty");
		return CTL_REFUSED;
	}
	if (n > CTL_TEXT_MAX) {
		log_err("text: %zu bytes, at most %d", n, CTL_TEXT_MAX);
		return CTL_REFUSED;
	}
	if ((s = json_stringn(text, n)) == NULL) {
		log_err("text: not valid UTF-8");
		return CTL_REFUSED;
	}
	json_decref(s);
	return 0;
}

static const char sql_say[] =
    "INSERT INTO messages (contact, bot, direction, kind, text, status,"
    " author, created_at) VALUES (?1, ?2, 'out', 'reply', ?3, 'queued',"
    " ?4, ?5) RETURNING id";

/* Store the operator's message and enqueue its send. */
static int
say_store(struct ctl *c, const char *bot, int64_t contact, const char *text,
    int64_t *msg, int64_t *job)
{
	struct dbst *st = db_stmt(c->db, sql_say);
	struct queue_new q;
	char payload[64], key[64];

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, contact);
	db_bind_text(st, 2, bot);
	db_bind_text(st, 3, text);
	db_bind_text(st, 4, c->actor);
	db_bind_int64(st, 5, clock_now_ms());
	if (one_int(c->db, st, msg) != 1)
		return db_fail(c->db, "store the message in");
	snprintf(payload, sizeof(payload), "{\"message\":%lld}",
	    (long long)*msg);
	snprintf(key, sizeof(key), "send:%lld", (long long)*msg);
	queue_new_init(&q);
	q.type = JT_SEND;
	q.payload = payload;
	q.unique_key = key;
	q.max_attempts = 10;
	q.bot = bot;
	queue_new_configure(&q, c->cfg);
	q.priority = 0;		/* a person waits on it: ahead of jobs.send */
	return queue_add(c->db, &q, job, NULL);
}

int
ctl_say(struct ctl *c, const char *bot, int64_t contact, const char *text,
    json_t **res)
{
	struct store_contact sc;
	int64_t msg = 0, job = 0;
	int rc;

	if ((rc = text_ok(text)) != 0)
		return rc;
	if (cfg_bot(c->cfg, bot) == NULL) {
		log_err("bot '%s': not in the configuration (no transport to "
		    "send through)", bot);
		return CTL_REFUSED;
	}
	if (db_begin(c->db) < 0)
		return -1;
	if ((rc = contact_of(c, bot, contact, &sc)) != 0) {
		db_rollback(c->db);
		return rc;
	}
	if (strcmp(sc.status, "opted_out") == 0 ||
	    strcmp(sc.status, "blocked") == 0) {
		log_err("contact %lld: %s, sends nothing", (long long)contact,
		    sc.status);
		rc = CTL_REFUSED;
	}
	store_contact_release(&sc);
	if (rc == 0)
		rc = say_store(c, bot, contact, text, &msg, &job);
	if (rc != 0) {
		db_rollback(c->db);
		return rc;
	}
	/* The text stays out of the audit row: forget must not have to
	 * look for it there. */
	return finish(c, 0, "say", bot, contact, json_pack(
	    "{s:s, s:I, s:I, s:I, s:i}", "bot", bot, "contact",
	    (json_int_t)contact, "message", (json_int_t)msg, "job",
	    (json_int_t)job, "bytes", (int)strlen(text)), res);
}

static const char sql_msg_state[] =
    "SELECT direction, coalesce(status, ''), bot, contact FROM messages"
    " WHERE id = ?1";
static const char sql_edit[] =
    "UPDATE messages SET text = ?2, author = ?3"
    " WHERE id = ?1 AND direction = 'out' AND status = 'draft'";

int
ctl_edit(struct ctl *c, int64_t message, const char *text, json_t **res)
{
	struct dbst *st;
	char dir[8] = "", status[16] = "", bot[STORE_ID_MAX] = "";
	int64_t contact = 0;
	int rc;

	if ((rc = text_ok(text)) != 0)
		return rc;
	if (db_begin(c->db) < 0)
		return -1;
	if ((st = db_stmt(c->db, sql_msg_state)) == NULL)
		goto fail;
	db_bind_int64(st, 1, message);
	if ((rc = db_step(st)) == DB_ROW) {
		db_col_copy(st, 0, dir, sizeof(dir));
		db_col_copy(st, 1, status, sizeof(status));
		db_col_copy(st, 2, bot, sizeof(bot));
		contact = db_col_int64(st, 3);
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE) {
		db_fail(c->db, "read message from");
		goto fail;
	}
	rc = CTL_REFUSED;
	if (dir[0] == '\0')
		log_err("message %lld: no such message", (long long)message);
	else if (strcmp(dir, "in") == 0)
		log_err("message %lld: written by the contact, not a draft",
		    (long long)message);
	else if (strcmp(status, "draft") != 0)
		log_err("message %lld: %s, not a draft awaiting approval",
		    (long long)message, status);
	else if ((st = db_stmt(c->db, sql_edit)) == NULL)
		rc = -1;
	else {
		db_bind_int64(st, 1, message);
		db_bind_text(st, 2, text);
		db_bind_text(st, 3, c->actor);
		rc = db_run(c->db, st, "edit the message in", NULL);
	}
	if (rc != 0) {
		db_rollback(c->db);
		return rc;
	}
	return finish(c, 0, "edit", bot, contact, json_pack(
	    "{s:I, s:i}", "message", (json_int_t)message, "bytes",
	    (int)strlen(text)), res);
fail:
	db_rollback(c->db);
	return -1;
}

/* ---- forget ---- */

/* A job of the contact (?1 id, ?2 bot, ?3 platform id). */
#define JOB_OF_CONTACT CTL_JOB_OF_CONTACT("?1", "?2", "?3")

static const char sql_forget_jobs[] =
    "DELETE FROM jobs WHERE state = 'queued' AND " JOB_OF_CONTACT;
static const char sql_forget_payloads[] =
    "UPDATE jobs SET payload = '{}', unique_key = NULL"
    " WHERE state <> 'queued' AND type IN ('inbound', 'contact') AND "
    JOB_OF_CONTACT;
/* Transport errors name the chat ("telegram sendMessage to chat
 * '42'"): the errors of the contact's other jobs that do go. */
static const char sql_forget_errors[] =
    "UPDATE jobs SET errors = '[]' WHERE state <> 'queued'"
    " AND instr(errors, ?3) > 0 AND " JOB_OF_CONTACT;
static const char sql_forget_msgs[] =
    "DELETE FROM messages WHERE contact = ?1";
static const char sql_forget_contact[] =
    "DELETE FROM contacts WHERE id = ?1";
static const char sql_forget_audit[] =
    "UPDATE audit SET detail = json_remove(detail, '$.reason')"
    " WHERE contact = ?1 AND json_extract(detail, '$.reason') IS NOT NULL";

static const struct {
	const char *sql;
	const char *key;
} forgets[] = {
	{ sql_forget_jobs, "jobs" },
	{ sql_forget_payloads, "job_payloads" },
	{ sql_forget_errors, "job_errors" },
	{ sql_forget_msgs, "messages" },
	{ sql_forget_contact, "contacts" },
	{ sql_forget_audit, "audit_reasons" },
};

int
ctl_forget(struct ctl *c, const char *bot, int64_t contact, json_t **res)
{
	struct store_contact sc;
	struct dbst *st;
	json_t *del;
	size_t i;
	int rc, n;

	if (db_begin(c->db) < 0)
		return -1;
	if ((rc = contact_of(c, bot, contact, &sc)) != 0) {
		db_rollback(c->db);
		return rc;
	}
	if ((del = json_object()) == NULL)
		rc = -1;
	for (i = 0; rc == 0 && i < sizeof(forgets) / sizeof(forgets[0]);
	    i++) {
		if ((st = db_stmt(c->db, forgets[i].sql)) == NULL) {
			rc = -1;
			break;
		}
		db_bind_int64(st, 1, contact);
		if (forgets[i].sql == sql_forget_jobs ||
		    forgets[i].sql == sql_forget_payloads ||
		    forgets[i].sql == sql_forget_errors) {
			db_bind_text(st, 2, sc.bot);
			db_bind_text(st, 3, sc.platform_id);
		}
		n = 0;
		if (db_run(c->db, st, "erase from", &n) < 0 ||
		    json_object_set_new(del, forgets[i].key,
		    json_integer(n)) < 0)
			rc = -1;
	}
	/* metrics_daily holds per-bot daily totals: no row names anyone. */
	if (rc == 0 && json_object_set_new(del, "metrics", json_integer(0)) < 0)
		rc = -1;
	store_contact_release(&sc);
	if (rc != 0) {
		json_decref(del);
		db_rollback(c->db);
		return rc;
	}
	return finish(c, 0, "forget", bot, contact, json_pack("{s:s, s:I, s:o}",
	    "bot", bot, "contact", (json_int_t)contact, "deleted", del), res);
}

/* ---- the gate ---- */

static const char sql_held_bot[] =
    "SELECT coalesce(paused_by, '') FROM bot_state"
    " WHERE bot = ?1 AND paused = 1";
static const char sql_held_contact[] =
    "SELECT paused, coalesce(paused_by, ''), coalesce(takeover_by, '')"
    " FROM contacts WHERE id = ?1";
static const char sql_by_person[] =
    "SELECT 1 FROM messages WHERE id = ?1 AND author IS NOT NULL";

int
ctl_held(struct db *db, const char *bot, int64_t contact, int64_t message,
    char *why, size_t len)
{
	struct dbst *st;
	char by[CTL_ACTOR_MAX] = "", over[CTL_ACTOR_MAX] = "";
	int rc, paused = 0;

	if (message > 0) {
		if ((st = db_stmt(db, sql_by_person)) == NULL)
			return -1;
		db_bind_int64(st, 1, message);
		if ((rc = one_int(db, st, NULL)) < 0)
			return -1;
		if (rc == 1)
			return 0;
	}
	if ((st = db_stmt(db, sql_held_bot)) == NULL)
		return -1;
	db_bind_text(st, 1, bot);
	if ((rc = db_step(st)) == DB_ROW) {
		db_col_copy(st, 0, by, sizeof(by));
		snprintf(why, len, "bot '%s' paused by %s", bot, by);
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read bot state from");
	if (rc == DB_ROW || contact <= 0)
		return rc == DB_ROW;
	if ((st = db_stmt(db, sql_held_contact)) == NULL)
		return -1;
	db_bind_int64(st, 1, contact);
	if ((rc = db_step(st)) == DB_ROW) {
		paused = db_col_int(st, 0);
		db_col_copy(st, 1, by, sizeof(by));
		db_col_copy(st, 2, over, sizeof(over));
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read contact from");
	if (over[0] != '\0')
		snprintf(why, len, "contact %lld taken over by %s",
		    (long long)contact, over);
	else if (paused)
		snprintf(why, len, "contact %lld paused by %s",
		    (long long)contact, by);
	return over[0] != '\0' || paused;
}

/* ---- the state of a bot ---- */

static int
add_state(json_t *states, const char *state, const char *why, int64_t since,
    const char *by)
{
	json_t *o = json_pack("{s:s, s:s, s:o?, s:s?}", "state", state, "why",
	    why, "since", since > 0 ? report_time_json(since) : NULL, "by",
	    by);

	if (o == NULL || json_array_append_new(states, o) < 0) {
		oom();
		return -1;
	}
	return 0;
}

static const char sql_state_paused[] =
    "SELECT coalesce(paused_by, ''), coalesce(paused_at, 0),"
    " coalesce(reason, '') FROM bot_state WHERE bot = ?1 AND paused = 1";
static const char sql_state_waiting[] =
    "SELECT count(*) FROM jobs WHERE bot = ?1 AND state = 'queued'";
/* The bot's conversation job that finished or failed last. */
static const char sql_state_last[] =
    "SELECT state, type, id, coalesce(json_extract(errors, '$[#-1].error'),"
    " ''), coalesce(finished_at, started_at, created_at) AS t FROM jobs"
    " WHERE bot = ?1 AND type IN ('inbound', 'respond', 'send', 'initiate',"
    " 'followup', 'summarize', 'poll') AND (state IN ('succeeded', 'dead')"
    " OR (state = 'queued' AND errors <> '[]'))"
    " ORDER BY t DESC, id DESC LIMIT 1";

static int
state_paused(struct db *db, const char *name, json_t *states)
{
	struct dbst *st = db_stmt(db, sql_state_paused);
	char by[CTL_ACTOR_MAX], reason[256], why[384];
	int64_t at;
	int rc;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, name);
	if ((rc = db_step(st)) == DB_ROW) {
		db_col_copy(st, 0, by, sizeof(by));
		at = db_col_int64(st, 1);
		db_col_copy(st, 2, reason, sizeof(reason));
		snprintf(why, sizeof(why), "paused by %s%s%s", by,
		    reason[0] != '\0' ? ": " : "", reason);
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read bot state from");
	return rc == DB_ROW ? add_state(states, "paused", why, at, by) : 0;
}

static int
state_removed(struct db *db, const char *name, json_t *states)
{
	struct dbst *st = db_stmt(db, sql_state_waiting);
	char why[128];
	int64_t n = 0;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, name);
	if (one_int(db, st, &n) < 0)
		return -1;
	snprintf(why, sizeof(why), "not in the configuration; %lld queued "
	    "jobs wait", (long long)n);
	return add_state(states, "removed", why, 0, NULL);
}

static int
state_failing(struct db *db, const char *name, json_t *states)
{
	struct dbst *st = db_stmt(db, sql_state_last);
	char state[16] = "", type[32] = "", err[512] = "", why[600];
	int64_t id = 0, at = 0;
	int rc;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, name);
	if ((rc = db_step(st)) == DB_ROW) {
		db_col_copy(st, 0, state, sizeof(state));
		db_col_copy(st, 1, type, sizeof(type));
		id = db_col_int64(st, 2);
		db_col_copy(st, 3, err, sizeof(err));
		at = db_col_int64(st, 4);
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read jobs from");
	if (rc != DB_ROW || strcmp(state, "succeeded") == 0)
		return 0;
	snprintf(why, sizeof(why), "%s job %lld %s: %s", type, (long long)id,
	    strcmp(state, "dead") == 0 ? "died" : "retrying", err);
	return add_state(states, "failing", why, at, NULL);
}

/* Budget, rate limit and quiet hours of a configured bot. */
static int
state_limits(struct db *db, const struct cfg_bot *b, int64_t now,
    json_t *states)
{
	const struct cfg_policy *p = &b->policy;
	struct store_metrics m;
	char day[16], why[256], t[CLOCK_RFC3339_LEN];
	int64_t until = 0, oldest = 0;
	int n = 0;

	if (p->daily_budget_usd > 0) {
		if (store_metrics_get(db, b->name, policy_day(now, day,
		    sizeof(day)), &m) < 0)
			return -1;
		snprintf(why, sizeof(why), "spent $%.4f of $%.2f today",
		    m.cost_usd, p->daily_budget_usd);
		if (m.cost_usd >= p->daily_budget_usd && add_state(states,
		    "over_budget", why, 0, NULL) < 0)
			return -1;
	}
	if (p->max_per_hour > 0) {
		if (store_sent_since(db, b->name, 0, now - HOUR_MS, &n,
		    &oldest) < 0)
			return -1;
		snprintf(why, sizeof(why), "sent %d messages in the last hour "
		    "(max_per_hour %d) until %s", n, p->max_per_hour,
		    clock_format(oldest + HOUR_MS, t, sizeof(t)));
		if (n >= p->max_per_hour && add_state(states, "rate_limited",
		    why, oldest, NULL) < 0)
			return -1;
	}
	if (p->has_quiet && policy_quiet(p, NULL, now, &until)) {
		snprintf(why, sizeof(why), "quiet hours until %s",
		    clock_format(until, t, sizeof(t)));
		if (add_state(states, "quiet", why, 0, NULL) < 0)
			return -1;
	}
	return 0;
}

json_t *
ctl_bot_state(struct db *db, const struct cfg_bot *b, const char *name,
    int64_t now)
{
	json_t *states = json_array(), *first, *o = NULL;

	if (states == NULL)
		return oom();
	if (state_paused(db, name, states) < 0 ||
	    (b == NULL && state_removed(db, name, states) < 0) ||
	    state_failing(db, name, states) < 0 ||
	    (b != NULL && state_limits(db, b, now, states) < 0) ||
	    (json_array_size(states) == 0 && add_state(states, "active",
	    "running", 0, NULL) < 0))
		goto out;
	first = json_array_get(states, 0);
	o = json_pack("{s:O, s:O, s:O, s:O, s:O}",
	    "state", json_object_get(first, "state"),
	    "why", json_object_get(first, "why"),
	    "since", json_object_get(first, "since") != NULL ?
	    json_object_get(first, "since") : json_null(),
	    "by", json_object_get(first, "by") != NULL ?
	    json_object_get(first, "by") : json_null(),
	    "states", states);
	if (o == NULL)
		oom();
out:
	json_decref(states);
	return o;
}

/* ---- the audit view ---- */

static const char sql_audit_rows[] =
    "SELECT id, at, actor, command, bot, contact, detail FROM audit"
    " WHERE ?1 IS NULL OR bot = ?1 ORDER BY id DESC LIMIT ?2";

json_t *
ctl_audit_report(struct db *db, const char *bot, int limit, int64_t now)
{
	struct dbst *st = db_stmt(db, sql_audit_rows);
	json_t *rows = json_array(), *row, *detail, *doc = NULL;
	int rc;

	if (st == NULL || rows == NULL) {
		json_decref(rows);
		return rows == NULL ? oom() : NULL;
	}
	if (bot != NULL)
		db_bind_text(st, 1, bot);
	db_bind_int(st, 2, limit > 0 ? limit : 100);
	while ((rc = db_step(st)) == DB_ROW) {
		detail = json_loads(db_col_text(st, 6),
		    0, NULL);
		row = json_pack("{s:I, s:o, s:s, s:s, s:s?, s:o?, s:o}",
		    "id", (json_int_t)db_col_int64(st, 0),
		    "at", report_time_json(db_col_int64(st, 1)),
		    "actor", db_col_text(st, 2),
		    "command", db_col_text(st, 3),
		    "bot", db_col_text(st, 4),
		    "contact", db_col_null(st, 5) ?
		    NULL : json_integer(db_col_int64(st, 5)),
		    "detail", detail != NULL ? detail : json_object());
		if (row == NULL || json_array_append_new(rows, row) < 0) {
			oom();
			goto out;
		}
	}
	if (rc != DB_DONE) {
		db_fail(db, "read audit from");
		goto out;
	}
	if ((doc = json_pack("{s:o, s:O}", "generated_at",
	    report_time_json(now), "audit", rows)) == NULL)
		oom();
out:
	db_reset(st);
	json_decref(rows);
	return doc;
}
