/*
 * poll: fetch a bot's new inbound messages from its transport (Telegram
 * getUpdates) and enqueue one `inbound` job each. {"bot": NAME}
 *
 * The update offset is kept in the kv table ("poll.offset.BOT") and
 * moved in the same transaction as the enqueues, so a crash re-fetches
 * rather than loses; `inbound` stores each platform message once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "jobs.h"
#include "../lib/clock.h"
#include "../lib/queue.h"
#include "../lib/transport.h"
#include "../lib/banned.h"

static int
poll_check(const struct cfg *cfg, const json_t *p, char *err, size_t len)
{
	return conv_check_bot(cfg, p, err, len);
}

static int
enqueue_update(struct db *db, const char *bot,
    const struct transport_update *u)
{
	struct queue_new q;
	char at[CLOCK_RFC3339_LEN], key[160], *payload;
	json_t *j;
	int64_t id;
	int rc;

	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "bot", bot,
	    "platform_id", u->platform_id, "text", u->text != NULL ? u->text :
	    "", "message_id", u->message_id, "name", u->name, "handle",
	    u->handle, "at", clock_format(u->at_ms > 0 ? u->at_ms :
	    clock_now_ms(), at, sizeof(at)));
	if (j == NULL || (payload = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return -1;
	}
	json_decref(j);
	snprintf(key, sizeof(key), "inbound:%s:%s:%s", bot, u->platform_id,
	    u->message_id);
	queue_new_init(&q);
	q.type = "inbound";
	q.payload = payload;
	q.unique_key = key;
	q.priority = 10;
	q.bot = bot;
	rc = queue_add(db, &q, &id, NULL);
	free(payload);
	return rc;
}

static enum job_result
poll_run(struct job_ctx *ctx, struct job_outcome *out)
{
	struct transport_batch b;
	struct transport_result res;
	const struct cfg_bot *bot;
	const char *name = json_string_value(json_object_get(ctx->payload,
	    "bot"));
	char key[128], offset[64] = "";
	size_t i;
	int ok = 0;

	if (name == NULL)
		return job_fail(out, "payload needs bot");
	if ((bot = cfg_bot(ctx->cfg, name)) == NULL)
		return conv_no_bot(out, name);
	snprintf(key, sizeof(key), "poll.offset.%s", name);
	if (store_kv_get(ctx->db, key, offset, sizeof(offset)) < 0)
		return job_retry(out, 0, "database error");
	memset(&b, 0, sizeof(b));
	memset(&res, 0, sizeof(res));
	if (transport_poll(&bot->transport, offset, &b, &res) < 0)
		return res.status == TRANSPORT_FATAL ? job_fail(out, "%s",
		    res.error) : job_retry(out, res.retry_at_ms, "%s",
		    res.error);
	if (db_begin(ctx->db) < 0) {
		transport_batch_release(&b);
		return job_retry(out, 0, "database busy");
	}
	for (i = 0; i < b.n; i++)
		if (enqueue_update(ctx->db, name, &b.ups[i]) < 0)
			goto out;
	if (b.next_offset[0] != '\0' &&
	    store_kv_set(ctx->db, key, b.next_offset) < 0)
		goto out;
	ok = db_commit(ctx->db) == 0;
out:
	if (!ok)
		db_rollback(ctx->db);
	transport_batch_release(&b);
	return ok ? JOB_OK : job_retry(out, 0, "database error");
}

const struct job_type job_poll = {
	.name = "poll",
	.summary = "fetch a bot's new messages; {\"bot\": NAME}",
	.check = poll_check,
	.run = poll_run,
};
