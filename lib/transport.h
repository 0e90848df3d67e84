/*
 * transport: how a bot's messages reach people and theirs reach it. One
 * driver per file (transport_telegram.c, transport_webhook.c,
 * transport_console.c), chosen per bot by cfg_transport.driver.
 *
 * Sending is at most once: the caller marks the message `sending` before
 * transport_send(); TRANSPORT_UNKNOWN means the request may have been
 * delivered, and the caller must not send it again.
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
	char platform_id[64];	/* the sender/chat id */
	char handle[64];	/* @username, "" if none */
	char name[128];		/* display name */
	char message_id[64];	/* the platform's message id */
	char *text;		/* owned */
	int64_t at_ms;		/* when it was sent */
};

struct transport_batch {
	struct transport_update *ups;	/* owned */
	size_t n;
	char next_offset[64];		/* persist this; "" = unchanged */
};

/* Deliver one message. Returns 0 (OK) or -1 with res->status and
 * res->error set. Never logs the token. */
int transport_send(const struct cfg_transport *t, const struct transport_out *m,
    struct transport_result *res);

/* Best effort "typing..." indicator; 0 or -1 (ignorable). */
int transport_typing(const struct cfg_transport *t, const char *chat_id);

/*
 * Fetch inbound messages newer than offset ("" = from the start) without
 * blocking long (telegram: getUpdates with a short timeout). Messages
 * from bots are skipped. Returns 0 with *out filled (release it), or -1
 * with res set. Drivers without inbound (webhook, console) return 0 and
 * nothing: their inbound arrives through dater-enqueue.
 */
int transport_poll(const struct cfg_transport *t, const char *offset,
    struct transport_batch *out, struct transport_result *res);

void transport_batch_release(struct transport_batch *b);

/* Whether driver names a known driver. */
int transport_known(const char *driver);

#endif
