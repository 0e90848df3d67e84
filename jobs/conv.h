/*
 * conv: what the conversation job types share: payload checks, finding a
 * contact's bot, writing a message with the LLM (prompt, call, metrics,
 * draft checks) and storing it for sending.
 */
#ifndef DATER_CONV_H
#define DATER_CONV_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/cfg.h"
#include "../lib/job.h"
#include "../lib/store.h"

/* Payload checks for enqueue time; 0 or -1 with err naming the field. */
int conv_check_id(const json_t *p, const char *key, char *err, size_t len);
int conv_check_bot(const struct cfg *cfg, const json_t *p, char *err,
    size_t len);
int conv_check_string(const json_t *p, const char *key, int required,
    char *err, size_t len);

/* The integer payload field key (> 0), or 0 if absent or wrong. */
int64_t conv_id(const json_t *p, const char *key);

/* A payload field that may be a string or an integer, as text into buf
 * (platform ids and message ids come both ways). NULL if absent. */
const char *conv_text_id(const json_t *p, const char *key, char *buf,
    size_t len);

/*
 * Load contact id and its bot's settings. Returns JOB_OK with *c filled
 * (release it) and *bot set, JOB_FAIL with out->error (no such contact)
 * or JOB_DEFER when the bot is not in the configuration (removed: its
 * jobs wait, looking again every CTL_HOLD_MS, until it is back).
 */
enum job_result conv_load(struct job_ctx *ctx, int64_t id,
    struct store_contact *c, const struct cfg_bot **bot,
    struct job_outcome *out);

/*
 * conv_load for a job that writes one message to the payload's
 * "contact" (respond, initiate, followup), with the re-run guard: a
 * job that has already stored its message (a re-run after a crash or a
 * lost result) finds it and writes no second one. On JOB_OK, *done is
 * 1 when the job has nothing left to do (nothing to release), else 0
 * with *c filled (release it) and *bot set. Any other result (as
 * conv_load's, or JOB_RETRY on a database error in the guard): nothing
 * to release.
 */
enum job_result conv_load_writer(struct job_ctx *ctx,
    struct store_contact *c, const struct cfg_bot **bot, int *done,
    struct job_outcome *out);

/* A job of a bot that is not in the configuration (removed): it waits,
 * like a paused bot's, and looks again after CTL_HOLD_MS. JOB_DEFER. */
enum job_result conv_no_bot(struct job_outcome *out, const char *name);

/*
 * The operator's gate (lib/ctl.h): may the bot act for contact c now?
 * *held is 1 when its bot is paused or the contact paused or taken over
 * (the reason logged and in out->error for a DEFER), else 0; message
 * (> 0: a send) written by a person is never held. Returns JOB_OK, or
 * JOB_RETRY on a database error.
 */
enum job_result conv_hold(struct job_ctx *ctx, const struct store_contact *c,
    int64_t message, int *held, struct job_outcome *out);

/* Whether the contact may get messages at all (not opted out/blocked). */
int conv_reachable(const struct store_contact *c);

/*
 * Write a message to the contact with the LLM: the prompt from the
 * bot's persona, the contact's profile and summary and the recent
 * history; task as in prompt_in (NULL: reply). Counts the call in the
 * metrics; checks the draft. Returns JOB_OK with *text (owned) and the
 * usage, or JOB_RETRY/JOB_FAIL/JOB_DEFER (budget) with out set.
 */
struct conv_text {
	char *text;
	char model[128];
	int tokens_in, tokens_out;
	double cost_usd;
};
enum job_result conv_write(struct job_ctx *ctx, const struct cfg_bot *bot,
    const struct store_contact *c, const char *task, struct conv_text *t,
    struct job_outcome *out);

/*
 * Store what conv_write produced as an outbound message of kind (adding
 * the disclosure to the first message of the conversation) and, unless
 * the bot is in review mode, enqueue its `send`, in one transaction.
 * Returns JOB_OK or JOB_RETRY (database).
 */
enum job_result conv_store(struct job_ctx *ctx, const struct cfg_bot *bot,
    const struct store_contact *c, const char *kind,
    const struct conv_text *t, struct job_outcome *out);

/* Enqueue the send of message id of bot (unique per message) inside the
 * open transaction, with cfg's `jobs.send` settings (priority is the
 * default when the file sets none). 0 or -1. */
int conv_enqueue_send(struct db *db, const struct cfg *cfg, const char *bot,
    int64_t msg, int priority);

void conv_text_release(struct conv_text *t);

/* The start of the next UTC day after now, in ms. */
int64_t conv_next_day(int64_t now);

#endif
