/*
 * inbound: one message from a contact.
 * {"bot", "platform_id", "text", "message_id", "at", "name", "handle"}
 *
 * Stored once (a re-delivered platform message id changes nothing); a new
 * contact is created. An opt-out phrase opts the contact out, cancels
 * its pending jobs and queues one confirmation. `/start` (or `/start
 * PAYLOAD`, Telegram's Start button) records the person's consent and
 * asks `respond` for a greeting; any other bot command (`/help`,
 * `/foo@bot`) is stored and not answered (no LLM call). Otherwise one
 * `respond` per burst is enqueued after the bot's reply delay. All in
 * one transaction, the one that records the job done (db_commit_later),
 * so a re-run after a crash neither loses nor doubles.
 */
#include <stdio.h>
#include <string.h>

#include "conv.h"
#include "jobs.h"
#include "../lib/clock.h"
#include "../lib/policy.h"
#include "../lib/queue.h"
#include "../lib/banned.h"

/* The payload's keys (job_check refuses others). */
static const char *const inbound_keys[] = {
	"bot", "platform_id", "text", "message_id", "at", "name", "handle",
	NULL
};

static int
inbound_check(const struct cfg *cfg, const json_t *p, char *err, size_t len)
{
	const json_t *at = json_object_get(p, "at");
	int64_t ms;

	if (conv_check_bot(cfg, p, err, len) < 0 ||
	    conv_check_string(p, "platform_id", 1, err, len) < 0 ||
	    conv_check_string(p, "text", 1, err, len) < 0 ||
	    conv_check_string(p, "message_id", 0, err, len) < 0 ||
	    conv_check_string(p, "name", 0, err, len) < 0 ||
	    conv_check_string(p, "handle", 0, err, len) < 0)
		return -1;
	if (at != NULL && !(json_is_string(at) &&
	    clock_parse_time(json_string_value(at), &ms) == 0) &&
	    !(json_is_number(at) && json_number_value(at) >= 0)) {
		snprintf(err, len, ".at: expected an RFC 3339 time or unix "
		    "seconds");
		return -1;
	}
	return 0;
}

/* Dates before 2000 or this far ahead of the clock are the receive
 * time, as transport_poll does for Telegram's. */
#define AT_MIN_MS 946684800000LL
#define AT_SKEW_MS (10LL * 60 * 1000)

/* The message's time in ms, or 0 (now) when absent or implausible. */
static int64_t
when(const json_t *p)
{
	const json_t *at = json_object_get(p, "at");
	int64_t ms = 0, now = clock_now_ms();
	double s;

	if (json_is_string(at))
		(void)clock_parse_time(json_string_value(at), &ms);
	else if (json_is_number(at)) {
		s = json_number_value(at);
		/* range-checked before the conversion: never overflows */
		if (s >= AT_MIN_MS / 1000.0 && s <= (now + AT_SKEW_MS) / 1000.0)
			ms = (int64_t)(s * 1000);
	}
	return ms < AT_MIN_MS || ms > now + AT_SKEW_MS ? 0 : ms;
}

enum command { CMD_NONE, CMD_START, CMD_OTHER };

/* Whether text is a bot command: "/word" or "/word@bot", alone or
 * before a space (a payload). */
static enum command
command_of(const char *text)
{
	size_t n;

	if (text[0] != '/')
		return CMD_NONE;
	n = strspn(text + 1, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
	if (n == 0)
		return CMD_NONE;
	if (text[1 + n] == '@')
		n += 1 + strspn(text + 2 + n, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
	if (text[1 + n] != '\0' && text[1 + n] != ' ' && text[1 + n] != '\n')
		return CMD_NONE;
	return strncmp(text, "/start", 6) == 0 && (text[6] == '\0' ||
	    text[6] == '@' || text[6] == ' ' || text[6] == '\n') ? CMD_START :
	    CMD_OTHER;
}

/* One respond per burst; a burst that arrives while the reply is being
 * written gets one more. start: the reply is a greeting. */
static int
enqueue_respond(struct db *db, const struct cfg *cfg,
    const struct cfg_bot *bot, int64_t contact, int start)
{
	struct queue_new q;
	struct queue_job j;
	char payload[64], key[64], state[16];
	int64_t id;
	int existed = 0, rc;

	snprintf(payload, sizeof(payload), "{\"contact\":%lld%s}",
	    (long long)contact, start ? ",\"start\":true" : "");
	snprintf(key, sizeof(key), "respond:%lld", (long long)contact);
	queue_new_init(&q);
	q.type = "respond";
	q.payload = payload;
	q.unique_key = key;
	q.priority = 50;
	q.bot = bot->name;
	q.max_attempts = 8;
	q.run_at = clock_now_ms() + policy_reply_delay_ms(&bot->policy);
	queue_new_configure(&q, cfg);
	if (queue_add(db, &q, &id, &existed) < 0)
		return -1;
	if (!existed)
		return 0;
	rc = queue_get(db, id, &j, state, sizeof(state));
	if (rc > 0)
		queue_job_release(&j);
	if (rc <= 0 || strcmp(state, "running") != 0)
		return rc < 0 ? -1 : 0;
	snprintf(key, sizeof(key), "respond:%lld:again", (long long)contact);
	return queue_add(db, &q, &id, NULL);
}

static int
opt_out(struct job_ctx *ctx, const struct cfg_bot *bot, int64_t contact)
{
	struct store_out o;
	int64_t id;
	int changed;

	if ((changed = store_contact_stop(ctx->db, contact, "opted_out")) <= 0)
		return changed;
	if (bot->policy.opt_out_reply[0] == '\0')
		return 0;
	memset(&o, 0, sizeof(o));
	o.contact = contact;
	o.bot = bot->name;
	o.kind = "optout";
	o.text = bot->policy.opt_out_reply;
	o.status = "queued";
	o.job_id = ctx->job->id;
	if (store_out_add(ctx->db, &o, &id) < 0)
		return -1;
	return conv_enqueue_send(ctx->db, ctx->cfg, bot->name, id, 0);
}

/* /start: the person opened the conversation; record their consent as
 * for a new consenting contact. */
static int
start(struct db *db, const struct cfg_bot *bot, const struct store_inbound *in)
{
	struct store_contact_in ci;
	int64_t id;

	memset(&ci, 0, sizeof(ci));
	ci.bot = bot->name;
	ci.platform_id = in->platform_id;
	ci.consent = 1;
	return store_contact_upsert(db, &ci, &id, NULL);
}

static enum job_result
inbound_run(struct job_ctx *ctx, struct job_outcome *out)
{
	struct store_inbound in;
	struct store_contact c;
	const struct cfg_bot *bot;
	const json_t *p = ctx->payload;
	char pid[32], mid[32];
	int64_t contact, msg;
	enum command cmd;
	int dup = 0, ok = 0, held = 0, rc;

	memset(&in, 0, sizeof(in));
	in.bot = json_string_value(json_object_get(p, "bot"));
	if (in.bot == NULL)
		return job_fail(out, "payload needs bot");
	if ((bot = cfg_bot(ctx->cfg, in.bot)) == NULL)
		return conv_no_bot(out, in.bot);
	in.platform_id = conv_text_id(p, "platform_id", pid, sizeof(pid));
	in.message_id = conv_text_id(p, "message_id", mid, sizeof(mid));
	in.text = json_string_value(json_object_get(p, "text"));
	in.name = json_string_value(json_object_get(p, "name"));
	in.handle = json_string_value(json_object_get(p, "handle"));
	in.at = when(p);
	if (in.platform_id == NULL || in.text == NULL)
		return job_fail(out, "payload needs platform_id and text");
	if (db_begin(ctx->db) < 0)
		return job_retry(out, 0, "database busy");
	if (store_inbound_add(ctx->db, &in, &contact, &msg, &dup) < 0)
		goto out;
	if (dup) {
		ok = 1;
		goto out;
	}
	if ((rc = store_contact_get(ctx->db, contact, &c)) <= 0)
		goto out;
	cmd = command_of(in.text);
	/* A held bot still honours an opt-out (its confirmation waits
	 * with the bot's other sends); anything else is kept, and resume
	 * or release answers it. */
	if (conv_hold(ctx, &c, 0, &held, out) != JOB_OK)
		ok = 0;
	else if (!conv_reachable(&c) || strcmp(c.status, "paused") == 0)
		ok = 1;		/* kept, not answered */
	else if (policy_is_opt_out(&bot->policy, in.text))
		ok = opt_out(ctx, bot, contact) >= 0;
	else if (held)
		ok = 1;
	else if (cmd == CMD_OTHER)
		ok = 1;		/* a command we do not know: no LLM call */
	else if (cmd == CMD_START)
		ok = start(ctx->db, bot, &in) == 0 &&
		    enqueue_respond(ctx->db, ctx->cfg, bot, contact, 1) == 0;
	else
		ok = enqueue_respond(ctx->db, ctx->cfg, bot, contact, 0) == 0;
	store_contact_release(&c);
out:
	/* Committed with the job's completion (one write transaction). */
	if (ok && db_commit_later(ctx->db) == 0)
		return JOB_OK;
	db_rollback(ctx->db);
	return job_retry(out, 0, "database error storing the message");
}

const struct job_type job_inbound = {
	.name = "inbound",
	.summary = "store a contact's message and answer it; {\"bot\", "
	    "\"platform_id\", \"text\", \"message_id\", \"at\", \"name\"}",
	.keys = inbound_keys,
	.check = inbound_check,
	.run = inbound_run,
	/* Ahead of bulk work (100), behind the respond and send jobs (50)
	 * of the conversations under way: those finish first. */
	.priority = 60,
};
