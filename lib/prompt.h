/*
 * prompt: the messages sent to the LLM, and the checks on what it wrote.
 *
 * The system prompt holds the bot's persona, the contact's visible
 * profile fields and the conversation summary; the history follows as
 * user (the contact) and assistant (the bot) messages, newest kept first
 * within a token budget. The contact's words only ever appear as user
 * content, never in the system prompt (profile values are data the
 * operator stored, quoted as such).
 */
#ifndef DATER_PROMPT_H
#define DATER_PROMPT_H

#include <jansson.h>
#include <stddef.h>

#include "cfg.h"
#include "llm.h"

struct prompt_turn {
	int inbound;		/* 1: the contact wrote it; 0: the bot */
	const char *text;
};

struct prompt_in {
	const struct cfg_policy *policy;
	const char *bot;		/* the bot's name */
	const char *contact_name;	/* may be NULL */
	const json_t *profile;		/* object, borrowed; may be NULL */
	const json_t *fields;		/* definitions (fields.h); NULL: all
					 * profile fields are visible */
	const char *summary;		/* may be NULL */
	const struct prompt_turn *history;	/* oldest first */
	size_t nhistory;
	int budget_tokens;		/* for the history; 0: no limit */
	const char *task;		/* NULL: reply to the last message;
					 * else an instruction such as "write
					 * an opener" or "follow up" */
};

struct prompt {
	struct llm_msg *msgs;	/* owned array; contents point into strs */
	size_t n;
	char *system;		/* owned: the system prompt text */
	size_t nhistory_used;	/* turns that fit the budget */
};

/* Build the messages. Returns 0 or -1 (out of memory, logged). Release
 * out with prompt_release(). */
int prompt_build(const struct prompt_in *in, struct prompt *out);

void prompt_release(struct prompt *p);

/*
 * Check a draft before it is stored or sent: empty or only whitespace;
 * longer than policy->max_reply_chars; the same as the last outbound
 * message (case and surrounding space ignored); contains the persona
 * text or a long run of the system prompt; "as an AI language model"
 * and similar boilerplate (several phrasings, case-insensitive).
 * last_outbound and system may be NULL. Returns 0 if fine, or -1 with
 * the reason in why.
 */
int prompt_check_draft(const struct cfg_policy *policy, const char *draft,
    const char *last_outbound, const char *system, char *why, size_t len);

#endif
