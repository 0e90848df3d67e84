/*
 * summarize: fold the older part of a long conversation into the
 * contact's summary, so prompts stay within budget. {"contact": ID}
 *
 * Everything but the newest history_messages is summarized together with
 * the previous summary; the LLM call is counted like any other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "jobs.h"
#include "../lib/clock.h"
#include "../lib/llm.h"
#include "../lib/policy.h"
#include "../lib/banned.h"

#define SUMMARY_SYSTEM "You keep notes for a person who chats with " \
	"someone. Summarize the conversation below in at most 150 words: " \
	"facts about the other person, topics, plans, tone. Write plain " \
	"notes, no preamble."

static const char *const summarize_keys[] = { "contact", NULL };

static int
summarize_check(const struct cfg *cfg, const json_t *p, char *err, size_t len)
{
	return conv_check_id(p, "contact", err, len);
}

/* The transcript to summarize: the old summary and the older messages. */
static char *
transcript(const struct store_contact *c, const struct store_msg *h,
    size_t n)
{
	size_t i, len = 0;
	char *s;
	FILE *f;

	if ((f = open_memstream(&s, &len)) == NULL)
		return NULL;
	if (c->summary != NULL)
		fprintf(f, "Earlier notes: %s\n\n", c->summary);
	for (i = 0; i < n; i++)
		fprintf(f, "%s: %s\n", h[i].inbound ? "Them" : "Me",
		    h[i].text);
	if (fclose(f) != 0)
		return NULL;
	return s;
}

static enum job_result
summarize_some(struct job_ctx *ctx, const struct cfg_bot *bot,
    const struct store_contact *c, const struct store_msg *h, size_t n,
    struct job_outcome *out)
{
	struct llm_msg msgs[2];
	struct llm_req req;
	struct llm_result r;
	struct store_metrics d;
	char day[16], *text;
	enum job_result res = JOB_OK;

	if ((text = transcript(c, h, n)) == NULL)
		return job_retry(out, 0, "out of memory");
	msgs[0].role = "system";
	msgs[0].content = SUMMARY_SYSTEM;
	msgs[1].role = "user";
	msgs[1].content = text;
	memset(&req, 0, sizeof(req));
	req.msgs = msgs;
	req.n = 2;
	req.model = bot->policy.model[0] != '\0' ? bot->policy.model : NULL;
	memset(&r, 0, sizeof(r));
	if (llm_complete(&bot->llm, &req, &r) < 0)
		res = r.status == LLM_FATAL ? job_fail(out, "%s", r.error) :
		    job_retry(out, r.retry_at_ms, "%s", r.error);
	else if (store_contact_summary(ctx->db, c->id, r.text,
	    h[n - 1].id) < 0)
		res = job_retry(out, 0, "database error");
	memset(&d, 0, sizeof(d));
	d.llm_calls = 1;
	d.tokens_in = r.tokens_in;
	d.tokens_out = r.tokens_out;
	d.cost_usd = r.cost_usd;
	(void)store_metrics_add(ctx->db, bot->name, policy_day(clock_now_ms(),
	    day, sizeof(day)), &d);
	llm_result_release(&r);
	free(text);
	return res;
}

static enum job_result
summarize_run(struct job_ctx *ctx, struct job_outcome *out)
{
	struct store_contact c;
	struct store_msg *h = NULL;
	const struct cfg_bot *bot;
	enum job_result r;
	size_t n = 0, keep;
	int total = 0, held = 0;

	r = conv_load(ctx, conv_id(ctx->payload, "contact"), &c, &bot, out);
	if (r != JOB_OK)
		return r;
	/* A held bot asks its LLM nothing; the next respond asks again. */
	if ((r = conv_hold(ctx, &c, 0, &held, out)) != JOB_OK || held) {
		store_contact_release(&c);
		return r;
	}
	keep = (size_t)bot->policy.history_messages;
	if (store_count_unsummarized(ctx->db, c.id, c.summary_upto,
	    &total) < 0 || store_history(ctx->db, c.id, c.summary_upto,
	    total > 0 ? total : 1, &h, &n) < 0) {
		store_contact_release(&c);
		return job_retry(out, 0, "database error");
	}
	if (total > bot->policy.summary_after && n > keep)
		r = summarize_some(ctx, bot, &c, h, n - keep, out);
	store_msgs_free(h, n);
	store_contact_release(&c);
	return r;
}

const struct job_type job_summarize = {
	.name = "summarize",
	.summary = "fold old history into the contact's summary; "
	    "{\"contact\": ID}",
	.keys = summarize_keys,
	.check = summarize_check,
	.run = summarize_run,
};
