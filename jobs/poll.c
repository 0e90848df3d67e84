/*
 * poll: fetch a bot's new inbound messages from its transport (Telegram
 * getUpdates, without waiting) and enqueue one `inbound` job each.
 * {"bot": NAME}
 *
 * For cron users and bots with `listen = false`: while a dater-worker
 * listener holds the bot's lease (lib/listener.h), a poll does nothing,
 * so the two never call getUpdates against each other. The update
 * offset is kept in the kv table ("poll.offset.BOT") and moved in the
 * same transaction as the enqueues (listener_store, shared with the
 * listener), so a crash re-fetches rather than loses; `inbound` stores
 * each platform message once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "jobs.h"
#include "../lib/clock.h"
#include "../lib/listener.h"
#include "../lib/transport.h"
#include "../lib/banned.h"

static const char *const poll_keys[] = { "bot", NULL };

static int
poll_check(const struct cfg *cfg, const json_t *p, char *err, size_t len)
{
	return conv_check_bot(cfg, p, err, len);
}

static enum job_result
poll_run(struct job_ctx *ctx, struct job_outcome *out)
{
	struct transport_batch b;
	struct transport_result res;
	struct listener_lease lease;
	const struct cfg_bot *bot;
	const char *name = json_string_value(json_object_get(ctx->payload,
	    "bot"));
	char offset[64];
	int rc;

	if (name == NULL)
		return job_fail(out, "payload needs bot");
	if ((bot = cfg_bot(ctx->cfg, name)) == NULL)
		return conv_no_bot(out, name);
	if ((rc = listener_lease_get(ctx->db, name, &lease)) < 0 ||
	    listener_offset(ctx->db, name, offset, sizeof(offset)) < 0)
		return job_retry(out, 0, "database error");
	if (rc == 1 && lease.lease_until > clock_now_ms())
		return JOB_OK;	/* a listener has it */
	if (transport_poll(&bot->transport, offset, 0, &b, &res) < 0)
		return res.status == TRANSPORT_FATAL ? job_fail(out, "%s",
		    res.error) : job_retry(out, res.retry_at_ms, "%s",
		    res.error);
	rc = listener_store(ctx->db, ctx->cfg, name, &b);
	transport_batch_release(&b);
	return rc == 0 ? JOB_OK : job_retry(out, 0, "database error");
}

const struct job_type job_poll = {
	.name = "poll",
	.summary = "fetch a bot's new messages; {\"bot\": NAME}",
	.keys = poll_keys,
	.check = poll_check,
	.run = poll_run,
};
