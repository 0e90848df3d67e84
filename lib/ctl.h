/*
 * ctl: operator control of running bots and contacts (dater-ctl), and
 * the one question every conversation job asks before it acts: may the
 * bot act for this contact now (ctl_held)?
 *
 * Each command is one transaction: its effect and its row in the audit
 * table (who, when, what) commit together or not at all. The actor is
 * $DATER_ACTOR, else the Unix user name of the effective uid.
 *
 * What a hold means to the jobs (enforced by jobs/ through ctl_held):
 * a paused bot, a paused contact and a contact taken over by a person
 * store inbound messages but get no reply, opener or follow-up (those
 * jobs finish without effect); the sends of messages the bot wrote wait
 * (deferred by CTL_HOLD_MS, no attempt spent), messages a person wrote
 * go out. Resume and release wake the waiting sends and enqueue one
 * `respond` per contact whose last message is unanswered.
 */
#ifndef DATER_CTL_H
#define DATER_CTL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "db.h"

#define CTL_ACTOR_MAX 64
#define CTL_TEXT_MAX 4096	/* bytes of an operator's message */
#define CTL_HOLD_MS (5 * 60 * 1000LL)	/* a held job looks again after */

/* A command refused because the request does not fit the data (no such
 * contact, a message that is not a draft...); logged in one line. */
#define CTL_REFUSED (-2)

struct ctl {
	struct db *db;			/* borrowed */
	const struct cfg *cfg;		/* borrowed */
	char actor[CTL_ACTOR_MAX];	/* who acts (ctl_init) */
};

/* Fill c for db and cfg with the actor ($DATER_ACTOR, else the user
 * name of the effective uid, else "uid N"). Returns 0, or -1 (logged)
 * when $DATER_ACTOR is empty, too long or holds control characters. */
int ctl_init(struct ctl *c, struct db *db, const struct cfg *cfg);

/*
 * The commands. contact 0 means the whole bot (pause and resume only).
 * On success *res gets a new JSON object describing what happened (the
 * same object is the audit row's detail); the caller decrefs it.
 * Returns 0, -1 (database or memory; logged; nothing changed) or
 * CTL_REFUSED (logged; nothing changed).
 *
 * pause: the bot (or the contact) holds; reason may be NULL. Pausing
 * what is paused changes nothing (res "changed": false) but is audited.
 * resume: the opposite, waking the held sends and enqueueing the
 * replies that are owed ("responds": how many).
 * takeover: a person (the actor) takes the conversation: the bot's
 * pending replies, openers and follow-ups are cancelled and its
 * undelivered messages (drafts included) fail as "taken over".
 * release: the bot may answer again (a reply owed is enqueued).
 */
int ctl_pause(struct ctl *c, const char *bot, int64_t contact,
    const char *reason, json_t **res);
int ctl_resume(struct ctl *c, const char *bot, int64_t contact,
    json_t **res);
int ctl_takeover(struct ctl *c, const char *bot, int64_t contact,
    json_t **res);
int ctl_release(struct ctl *c, const char *bot, int64_t contact,
    json_t **res);

/*
 * The operator's own message to a contact: stored as an outbound reply
 * with author = the actor, and its `send` enqueued at priority 0 (unique
 * per message: the send job's at-most-once rules apply). Refused for an
 * unconfigured bot, an opted-out or blocked contact, and text that is
 * empty, longer than CTL_TEXT_MAX or not UTF-8. res: "message", "job".
 */
int ctl_say(struct ctl *c, const char *bot, int64_t contact,
    const char *text, json_t **res);

/* Replace the text of a draft awaiting approval (review mode); the
 * draft's author becomes the actor. Anything else is refused. */
int ctl_edit(struct ctl *c, int64_t message, const char *text,
    json_t **res);

/*
 * Erase a contact: its messages, the contact row (profile, summary),
 * its queued jobs, the payloads and unique keys of its other inbound
 * and contact jobs (they carry its text and platform id), and the
 * errors of its other jobs that name its platform id. res
 * "deleted" counts rows per table. Metrics are per bot and day and
 * identify no one; backups keep the data until they age out.
 */
int ctl_forget(struct ctl *c, const char *bot, int64_t contact,
    json_t **res);

/*
 * Whether the bot may act for contact now: 1 held (why filled: "bot
 * 'anna' paused by ann", "contact 7 taken over by bob"...), 0 not, -1
 * error (logged). contact 0 asks about the bot alone. A message (> 0)
 * written by a person is never held: the operator's word goes out.
 */
int ctl_held(struct db *db, const char *bot, int64_t contact,
    int64_t message, char *why, size_t len);

/*
 * The state of a bot and why, for dater-report bots: a new object
 * { "state", "why", "since" (RFC 3339 or null), "by" (or null), "states": [
 * { "state", "why", "since", "by" } ] } with every state that applies,
 * most important first: paused, removed (not configured), failing (its
 * latest finished job failed: "why" is the last error), over_budget,
 * rate_limited, quiet (quiet hours in the bot's zone), else active.
 * b is NULL for a bot that is not configured. NULL on error (logged).
 */
json_t *ctl_bot_state(struct db *db, const struct cfg_bot *b,
    const char *name, int64_t now);

/* The audit rows, newest first, of bot (NULL: all), up to limit:
 * { "generated_at", "audit": [ { "id", "at", "actor", "command", "bot",
 * "contact", "detail" } ] }. A new reference or NULL (logged). */
json_t *ctl_audit_report(struct db *db, const char *bot, int limit,
    int64_t now);

/*
 * SQL: whether a jobs row belongs to a contact, given SQL expressions of
 * its id, bot and platform id (as text): its conversation jobs name the
 * contact, its sends and approvals one of its messages, its inbound and
 * contact jobs its bot and platform id. The one definition, for forget
 * and for dater-report jobs --contact.
 */
#define CTL_JOB_OF_CONTACT(ID, BOT, PID) \
	"((type IN ('respond', 'initiate', 'followup', 'summarize')" \
	"  AND CAST(json_extract(payload, '$.contact') AS INTEGER) = " ID ")" \
	" OR (type IN ('send', 'approve') AND CAST(json_extract(payload," \
	"  '$.message') AS INTEGER) IN" \
	"  (SELECT id FROM messages WHERE contact = " ID "))" \
	" OR (type IN ('inbound', 'contact')" \
	"  AND json_extract(payload, '$.bot') = " BOT \
	"  AND CAST(json_extract(payload, '$.platform_id') AS TEXT) = " PID "))"

#endif
