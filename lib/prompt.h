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
	const json_t *fields;		/* definitions (fields.h), checked by
					 * fields_load; NULL: all profile
					 * fields are visible */
	const char *summary;		/* may be NULL */
	const struct prompt_turn *history;	/* oldest first */
	size_t nhistory;
	int budget_tokens;		/* for the history; 0: no limit */
	const char *task;		/* NULL: reply to the last message;
					 * else an instruction such as "write
					 * an opener" or "follow up" */
};

struct prompt {
	struct llm_msg *msgs;	/* owned: msgs[0] is the system message,
				 * the history follows; the contents point
				 * into system and into msgs' own block */
	size_t n;
	char *system;		/* owned: the system prompt text */
	size_t nhistory_used;	/* turns that fit the budget */
};

/*
 * Build the messages: the system prompt (persona, how to write, the
 * contact's name and profile fields as quoted JSON values -- only the
 * visible ones when fields is given, in its order -- the summary, the
 * task), then the newest history turns that fit budget_tokens (about 4
 * bytes a token plus 4 a message) and policy->history_messages (when
 * > 0), oldest first. The newest turn is always kept. Consecutive turns
 * from the same side become one message, joined by newlines; empty
 * turns are skipped. in->bot is used only in error messages. Nothing in
 * in is kept: out owns copies. Returns 0 or -1 (out of memory, logged;
 * out untouched). Release out with prompt_release().
 */
int prompt_build(const struct prompt_in *in, struct prompt *out);

void prompt_release(struct prompt *p);

/*
 * Check a draft before it is stored or sent, in this order: empty or
 * only whitespace ("empty draft"); more UTF-8 characters than
 * policy->max_reply_chars (when > 0); the same as the last outbound
 * message (ASCII case and white space ignored); contains the persona
 * (80 characters of it in a row, or all of a persona of 16 to 79), or
 * 80 characters in a row of the fixed part of system (before its data
 * sections: profile values and the summary may be quoted freely);
 * "as an AI language model" and similar boilerplate as whole words,
 * case-insensitive. A plain "I'm an AI" passes: the contact may ask.
 * policy, last_outbound and system may be NULL. Returns 0 if fine, or
 * -1 with the reason in why (truncated to len).
 */
int prompt_check_draft(const struct cfg_policy *policy, const char *draft,
    const char *last_outbound, const char *system, char *why, size_t len);

#endif
