/*
 * transport: how a bot's messages reach people and theirs reach it. One
 * driver per file (transport_telegram.c, transport_webhook.c,
 * transport_console.c), chosen per bot by cfg_transport.driver.
 *
 * Sending is at most once: the caller marks the message `sending` before
 * transport_send(); TRANSPORT_UNKNOWN means the request may have been
 * delivered, and the caller must not send it again.
 *
 * Nothing here logs: res->error is the one report, for the caller to
 * record with the job. It never holds a bot token (scrubbed to
 * bot<redacted>) nor a webhook URL (they often carry secrets).
 *
 *   telegram  Bot API at base_url with the token from getenv(token_env):
 *             sendMessage, sendChatAction, getUpdates. 429 (retry_after,
 *             else Retry-After), 5xx, 409, unreachable -> RETRY; 403
 *             blocked/deactivated/kicked -> FATAL + blocked; 400 and
 *             other 4xx -> FATAL with Telegram's description; no token
 *             -> FATAL naming the variable.
 *   webhook   POST {"bot","contact","chat_id","text","message_id"} to
 *             url (with "Idempotency-Key: BOT:MESSAGE_ID"); 2xx = sent
 *             (platform_msg_id from a JSON body's "id"); 408, 429, 5xx,
 *             unreachable -> RETRY (Retry-After honoured); other 4xx ->
 *             FATAL.
 *   console   append {"at","bot","contact","chat_id","message_id","text"}
 *             as one line to path ("" = ./outbox.jsonl), created 0600,
 *             one write(2) per line; an I/O error -> RETRY.
 * For both HTTP drivers a sendMessage/POST that timed out or lost its
 * connection after connecting is UNKNOWN.
 */
#ifndef DATER_TRANSPORT_H
#define DATER_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

enum transport_status {
	TRANSPORT_OK = 0,
	TRANSPORT_RETRY,	/* not delivered; try again (at retry_at_ms) */
	TRANSPORT_FATAL,	/* not delivered, never will be (403 blocked,
				 * 400 chat not found, bad config) */
	TRANSPORT_UNKNOWN	/* may have been delivered: do not resend */
};

struct transport_out {
	const char *bot;
	int64_t contact_id;
	const char *chat_id;	/* the contact's platform id */
	int64_t message_id;	/* ours (messages.id) */
	const char *text;
};

struct transport_result {
	enum transport_status status;
	char platform_msg_id[64];	/* OK: the platform's id, if any */
	int blocked;			/* FATAL because the person blocked us */
	int64_t retry_at_ms;		/* RETRY: 0 = use the backoff */
	char error[512];
};

/* One inbound message from the platform. */
struct transport_update {
	char platform_id[64];	/* the chat id, where replies go */
	char handle[64];	/* username without '@', "" if none */
	char name[128];		/* display name, "" if none */
	char message_id[64];	/* the platform's message id */
	char *text;		/* owned, UTF-8 */
	int64_t at_ms;		/* when it was sent (ms since the epoch) */
};

struct transport_batch {
	struct transport_update *ups;	/* owned */
	size_t n;
	char next_offset[64];		/* persist this; "" = unchanged */
	size_t skipped;			/* updates that could not be read */
	char skip_why[192];		/* the first of them, and why */
};

/*
 * Deliver one message (m's strings borrowed; text must be UTF-8, else
 * FATAL). res is zeroed first. Returns 0 with res->status TRANSPORT_OK
 * and res->platform_msg_id ("" if the platform gave none), or -1 with
 * res->status, res->error and, for RETRY, res->retry_at_ms (0: no wish;
 * use the backoff) set.
 */
int transport_send(const struct cfg_transport *t, const struct transport_out *m,
    struct transport_result *res);

/* Best effort "typing..." indicator (telegram; a no-op returning 0 for
 * the others); 0 or -1 (ignorable). Waits at most 5 s. */
int transport_typing(const struct cfg_transport *t, const char *chat_id);

/*
 * Fetch inbound messages newer than offset ("" or NULL = from the
 * start), waiting up to wait_s seconds for one to arrive (0: answer at
 * once; telegram: getUpdates with timeout wait_s, the request's own
 * timeout extended by as much). Messages from bots and updates that are
 * not messages are skipped, but next_offset moves past them; media
 * arrive as placeholder texts ("[photo] caption", "[sticker 😀]"); an
 * update that cannot be read (invalid UTF-8, a NUL, a lone surrogate,
 * missing or over-long ids) is skipped and counted in out->skipped (the
 * first one described in out->skip_why) without holding up the others
 * or the offset. A message without message_id gets "uUPDATE_ID". Dates
 * before 2000 or more than 10 minutes ahead become the receive time.
 * *out is zeroed first and is safe to release either way. Returns 0
 * with *out filled (release it), or -1 with res set and *out empty:
 * RETRY for anything transient (polling delivers nothing, so never
 * UNKNOWN), FATAL for a bad token, configuration or offset. Drivers
 * without inbound (webhook, console) return 0 and nothing: their inbound
 * arrives through dater-enqueue.
 */
int transport_poll(const struct cfg_transport *t, const char *offset,
    int wait_s, struct transport_batch *out, struct transport_result *res);

/*
 * Parse one Telegram getUpdates answer (body, len bytes, any bytes at
 * all) as transport_poll does: 0 with *out filled (release it), or -1
 * with res set (RETRY: not {"ok": true, "result": [...]}, out of
 * memory) and *out empty. The entry point of the fuzz harness.
 */
int transport_telegram_parse(const char *body, size_t len,
    struct transport_batch *out, struct transport_result *res);

/* Telegram's limit on a message, in UTF-16 code units. */
#define TRANSPORT_TG_MAX_UNITS 4096

/* One part of a message to send: text[off .. off + len). */
struct transport_part {
	size_t off, len;
};

/*
 * Cut text (UTF-8) into the parts t delivers as separate messages:
 * telegram, parts of at most max_units UTF-16 code units (0:
 * TRANSPORT_TG_MAX_UNITS), cut after a sentence (". ", "! ", "? ", a
 * newline) in the second half of a part, else at a space, else between
 * two characters, the whitespace at the cut dropped; other drivers, one
 * part. *parts is a new array of *n >= 1 (free it); -1 if out of memory.
 */
int transport_split(const struct cfg_transport *t, const char *text,
    size_t max_units, struct transport_part **parts, size_t *n);

/* Free b's updates and their texts and zero b; safe on a zeroed b. */
void transport_batch_release(struct transport_batch *b);

/* Whether driver names a known driver (NULL: no). */
int transport_known(const char *driver);
/* How many drivers there are. */
int transport_count(void);

#endif
