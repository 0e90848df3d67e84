/*
 * store: contacts, messages, daily metrics and small key-value state. All
 * of the conversation SQL lives here; job handlers call these functions
 * and never issue SQL themselves.
 *
 * Transactions: like queue.h, each function works inside the caller's
 * transaction when one is open (db_begin), else makes its own, so a
 * handler can store a message and enqueue the next job in one commit.
 *
 * Message states (outbound): draft (review mode) -> queued -> sending ->
 * sent | failed | uncertain (the transport may or may not have delivered
 * it: never sent again). Inbound messages have no state.
 */
#ifndef DATER_STORE_H
#define DATER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

#define STORE_ID_MAX 64

struct store_contact {
	int64_t id;
	char bot[STORE_ID_MAX];
	char platform_id[STORE_ID_MAX];
	char handle[STORE_ID_MAX];
	char name[128];
	char *profile;			/* owned JSON text, "{}" at least */
	char status[16];		/* new active paused opted_out blocked */
	int consent;
	char timezone[64];		/* "" if unknown */
	char *summary;			/* owned; NULL if none */
	int64_t summary_upto;		/* last message id in the summary */
	int unanswered;			/* outbound since the last inbound */
	int64_t last_inbound_at;	/* 0 if never */
	int64_t last_outbound_at;
	int64_t initiated_at;
	int64_t created_at;
};

/* Free the owned fields; safe on a zeroed struct. */
void store_contact_release(struct store_contact *c);

/* A contact to create or update; NULL fields (and consent -1) are left
 * as they are on an update. */
struct store_contact_in {
	const char *bot;		/* required */
	const char *platform_id;	/* required */
	const char *handle;
	const char *name;
	const char *profile;		/* JSON object text */
	const char *timezone;
	int consent;			/* 0, 1, or -1: unchanged/default 0 */
};

/* Create or update a contact by (bot, platform_id). *id gets its id and
 * *created (may be NULL) whether it is new. 0 or -1. */
int store_contact_upsert(struct db *db, const struct store_contact_in *in,
    int64_t *id, int *created);

/* Look a contact up. Returns 1 found, 0 not, -1 error. */
int store_contact_get(struct db *db, int64_t id, struct store_contact *c);

/*
 * Opt a contact out (status opted_out) or mark it blocked, and cancel
 * its pending conversation jobs (queued respond, send of anything but
 * the opt-out confirmation, initiate, followup, summarize). Returns 1 if
 * the status changed, 0 if it already was, -1 on error.
 */
int store_contact_stop(struct db *db, int64_t id, const char *status);

/* Replace the summary and the last message id it covers. 0 or -1. */
int store_contact_summary(struct db *db, int64_t id, const char *summary,
    int64_t upto);

struct store_msg {
	int64_t id;
	int64_t contact;
	char bot[STORE_ID_MAX];
	int inbound;
	char kind[16];			/* message reply opener followup optout */
	char *text;			/* owned */
	char status[16];		/* "" for inbound */
	char platform_msg_id[STORE_ID_MAX];
	int64_t job_id;
	int64_t created_at;
	int64_t sent_at;
	int parts_sent;			/* parts of a long message delivered */
};

void store_msg_release(struct store_msg *m);
void store_msgs_free(struct store_msg *m, size_t n);

/* One inbound message. */
struct store_inbound {
	const char *bot;
	const char *platform_id;
	const char *handle;		/* may be NULL */
	const char *name;		/* may be NULL */
	const char *message_id;		/* the platform's; NULL: no dedup */
	const char *text;
	int64_t at;			/* ms; 0: now */
};

/*
 * Store an inbound message once: creates the contact if new (status
 * active), or finds it; a message whose platform id was stored before is
 * a duplicate (*dup = 1, nothing changes). Otherwise resets the
 * contact's unanswered count, counts the message (and a reply to an
 * opener) in the day's metrics. *contact and *msg get the ids. 0 or -1.
 */
int store_inbound_add(struct db *db, const struct store_inbound *in,
    int64_t *contact, int64_t *msg, int *dup);

/* An outbound message to add. */
struct store_out {
	int64_t contact;
	const char *bot;
	const char *kind;		/* reply opener followup optout */
	const char *text;
	const char *status;		/* "draft" or "queued" */
	int64_t job_id;			/* the job that wrote it; 0: none */
	const char *model;		/* may be NULL */
	int tokens_in, tokens_out;
	double cost_usd;
};

/* Add an outbound message; *id gets its id. 0 or -1. */
int store_out_add(struct db *db, const struct store_out *o, int64_t *id);

/* Look a message up by id, or by the job that wrote it. Returns 1 found,
 * 0 not, -1 error. */
int store_msg_get(struct db *db, int64_t id, struct store_msg *m);
int store_msg_by_job(struct db *db, int64_t job_id, struct store_msg *m);

/*
 * The last `limit` messages of a contact that are part of the
 * conversation (inbound, and outbound that are queued, sending, sent or
 * uncertain; not drafts or failed ones), after message id `after`,
 * oldest first in the platform's order (an inbound message's date, then
 * its platform message id; ours by when they were written), whatever
 * order they were stored in. *out is a new array of *n (free with
 * store_msgs_free).
 */
int store_history(struct db *db, int64_t contact, int64_t after, int limit,
    struct store_msg **out, size_t *n);

/* Whether the message of the conversation stored last is the contact's
 * (something arrived after our last message). 0 or -1. */
int store_awaits_reply(struct db *db, int64_t contact, int *yes);

/* Messages of a contact not yet in the summary (id > summary_upto) that
 * the history counts. */
int store_count_unsummarized(struct db *db, int64_t contact, int64_t after,
    int *n);

/*
 * Move a message from state `from` to `to` (fenced: nothing happens if
 * it is not in `from`). error (may be NULL) is recorded. Returns 1 if it
 * moved, 0 if not, -1 on error.
 */
int store_msg_transition(struct db *db, int64_t id, const char *from,
    const char *to, const char *error);

/*
 * A message was delivered: sending -> sent with the platform's id and
 * time; the contact's unanswered count and last outbound time move, and
 * the day's metrics count it (and an opener as an initiation). Returns 1,
 * 0 (was not sending), or -1.
 */
int store_msg_sent(struct db *db, int64_t id, const char *platform_msg_id);

/*
 * A message that goes out in parts: record, while it is `sending`, that
 * parts_sent parts were delivered (before the next part's call, so a
 * send that resumes never repeats one); error (may be NULL) is kept.
 * Returns 1, 0 (not sending), or -1.
 */
int store_msg_parts(struct db *db, int64_t id, int parts_sent,
    const char *error);

/* Whether the contact has any outbound message that is not failed. */
int store_has_outbound(struct db *db, int64_t contact, int *yes);

/* Whether the contact has an outbound message waiting to go out (draft,
 * queued or sending). */
int store_has_pending(struct db *db, int64_t contact, int *yes);

/* Whether the contact is held from nudges (*yes 1: imported by
 * import-legacy and silent since; no opener or follow-up). 0 or -1. */
int store_nudge_hold(struct db *db, int64_t contact, int *yes);

/*
 * The domain's due work, for the scheduler: up to max contacts of bot
 * that may get an opener (consenting, status new, never written to:
 * no outbound message that did not fail), and up to max whose
 * conversation went quiet (the last message is ours and was sent before
 * quiet_before_ms but not before since_ms, the horizon (0: none),
 * 0 < unanswered < max_unanswered, nothing pending). Contacts held from
 * nudges are never due. ids[0..*n) get their ids, oldest first. 0 or -1.
 */
int store_due_openers(struct db *db, const char *bot, int max, int64_t *ids,
    int *n);
int store_due_followups(struct db *db, const char *bot, int64_t quiet_before_ms,
    int64_t since_ms, int max_unanswered, int max, int64_t *ids, int *n);

/* Messages sent by the bot (contact 0) or to one contact since since_ms:
 * *n, and the time of the oldest of them (0 if none). */
int store_sent_since(struct db *db, const char *bot, int64_t contact,
    int64_t since_ms, int *n, int64_t *oldest);

/* Add to the day's metrics of a bot (UTC day "YYYY-MM-DD"). */
struct store_metrics {
	int received, sent, initiations, initiation_replies, llm_calls;
	int tokens_in, tokens_out, job_failures;
	double cost_usd;
};
int store_metrics_add(struct db *db, const char *bot, const char *day,
    const struct store_metrics *d);

/* The day's metrics of a bot (zeros if none). */
int store_metrics_get(struct db *db, const char *bot, const char *day,
    struct store_metrics *out);

/* Count a job of bot that died in today's metrics. 0 or -1. */
int store_count_failure(struct db *db, const char *bot);

/* Small state (e.g. "telegram.offset.anna"). get returns 1 found (value
 * copied, truncated to len), 0 not found, -1 error. */
int store_kv_get(struct db *db, const char *key, char *value, size_t len);
int store_kv_set(struct db *db, const char *key, const char *value);

/* Add delta to the integer kept under key (a missing or non-numeric
 * value counts as 0). 0 or -1. */
int store_kv_add(struct db *db, const char *key, int64_t delta);

#endif
