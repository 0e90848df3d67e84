/*
 * conv: helpers of the conversation job types; see conv.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "../lib/clock.h"
#include "../lib/ctl.h"
#include "../lib/fields.h"
#include "../lib/llm.h"
#include "../lib/log.h"
#include "../lib/policy.h"
#include "../lib/prompt.h"
#include "../lib/queue.h"
#include "../lib/banned.h"

int
conv_check_id(const json_t *p, const char *key, char *err, size_t len)
{
	const json_t *v = json_object_get(p, key);

	if (!json_is_integer(v) || json_integer_value(v) < 1) {
		snprintf(err, len, ".%s: expected a positive integer id", key);
		return -1;
	}
	return 0;
}

int
conv_check_string(const json_t *p, const char *key, int required, char *err,
    size_t len)
{
	const json_t *v = json_object_get(p, key);

	if (v == NULL && !required)
		return 0;
	if (json_is_integer(v) && (strcmp(key, "platform_id") == 0 ||
	    strcmp(key, "message_id") == 0))
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0) {
		snprintf(err, len, ".%s: %s", key, v == NULL ? "missing" :
		    "expected a non-empty string");
		return -1;
	}
	return 0;
}

int
conv_check_bot(const struct cfg *cfg, const json_t *p, char *err, size_t len)
{
	const char *bot;

	if (conv_check_string(p, "bot", 1, err, len) < 0)
		return -1;
	bot = json_string_value(json_object_get(p, "bot"));
	if (cfg != NULL && cfg_bot(cfg, bot) == NULL) {
		snprintf(err, len, ".bot: no bot named '%s' in the "
		    "configuration", bot);
		return -1;
	}
	return 0;
}

int64_t
conv_id(const json_t *p, const char *key)
{
	const json_t *v = json_object_get(p, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ?
	    (int64_t)json_integer_value(v) : 0;
}

const char *
conv_text_id(const json_t *p, const char *key, char *buf, size_t len)
{
	const json_t *v = json_object_get(p, key);

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	return NULL;
}

enum job_result
conv_load(struct job_ctx *ctx, int64_t id, struct store_contact *c,
    const struct cfg_bot **bot, struct job_outcome *out)
{
	int rc = store_contact_get(ctx->db, id, c);

	if (rc < 0)
		return job_retry(out, 0, "contact %lld: database error",
		    (long long)id);
	if (rc == 0)
		return job_fail(out, "no contact %lld", (long long)id);
	if ((*bot = cfg_bot(ctx->cfg, c->bot)) == NULL) {
		job_defer(out, clock_now_ms() + CTL_HOLD_MS, "contact %lld "
		    "belongs to bot '%s', which is not in the configuration: "
		    "waiting", (long long)id, c->bot);
		store_contact_release(c);
		return JOB_DEFER;
	}
	return JOB_OK;
}

enum job_result
conv_load_writer(struct job_ctx *ctx, struct store_contact *c,
    const struct cfg_bot **bot, int *done, struct job_outcome *out)
{
	struct store_msg prev;
	enum job_result r;
	int rc;

	*done = 0;
	memset(&prev, 0, sizeof(prev));
	r = conv_load(ctx, conv_id(ctx->payload, "contact"), c, bot, out);
	if (r != JOB_OK)
		return r;
	/* messages_job: at most one message per job, so a message of this
	 * job means a re-run, after a crash or a result that was lost. */
	rc = store_msg_by_job(ctx->db, ctx->job->id, &prev);
	store_msg_release(&prev);
	if (rc == 0)
		return JOB_OK;
	*done = 1;
	store_contact_release(c);
	return rc < 0 ? job_retry(out, 0, "database error") : JOB_OK;
}

enum job_result
conv_no_bot(struct job_outcome *out, const char *name)
{
	return job_defer(out, clock_now_ms() + CTL_HOLD_MS, "bot '%s' is not "
	    "in the configuration: waiting", name);
}

enum job_result
conv_hold(struct job_ctx *ctx, const struct store_contact *c,
    int64_t message, int *held, struct job_outcome *out)
{
	char why[256] = "";
	int rc = ctl_held(ctx->db, c->bot, c->id, message, why, sizeof(why));

	if (rc < 0)
		return job_retry(out, 0, "database error");
	*held = rc;
	if (rc) {
		log_info("job %lld (%s): %s", (long long)ctx->job->id,
		    ctx->job->type, why);
		strlcpy(out->error, why, sizeof(out->error));
		out->at = clock_now_ms() + CTL_HOLD_MS;
	}
	return JOB_OK;
}

int
conv_reachable(const struct store_contact *c)
{
	return strcmp(c->status, "opted_out") != 0 &&
	    strcmp(c->status, "blocked") != 0;
}

int64_t
conv_next_day(int64_t now)
{
	int64_t day = 86400LL * 1000;

	return (now / day + 1) * day;
}

void
conv_text_release(struct conv_text *t)
{
	free(t->text);
	memset(t, 0, sizeof(*t));
}

/* The daily budget: DEFER to tomorrow once today's cost reached it. */
static enum job_result
budget(struct job_ctx *ctx, const struct cfg_bot *bot,
    struct job_outcome *out)
{
	struct store_metrics m;
	char day[16];
	int64_t now = clock_now_ms();

	if (bot->policy.daily_budget_usd <= 0)
		return JOB_OK;
	if (store_metrics_get(ctx->db, bot->name, policy_day(now, day,
	    sizeof(day)), &m) < 0)
		return job_retry(out, 0, "database error reading metrics");
	if (m.cost_usd < bot->policy.daily_budget_usd)
		return JOB_OK;
	return job_defer(out, conv_next_day(now), "bot '%s' spent its daily "
	    "budget of $%.2f", bot->name, bot->policy.daily_budget_usd);
}

/* The history as prompt turns (borrowing the texts). */
static struct prompt_turn *
turns_of(const struct store_msg *h, size_t n, const char **last_out)
{
	struct prompt_turn *t = calloc(n > 0 ? n : 1, sizeof(*t));
	size_t i;

	if (t == NULL)
		return NULL;
	*last_out = NULL;
	for (i = 0; i < n; i++) {
		t[i].inbound = h[i].inbound;
		t[i].text = h[i].text;
		if (!h[i].inbound)
			*last_out = h[i].text;
	}
	return t;
}

/* Count one LLM call in the bot's metrics, in the open transaction or
 * its own. 0 or -1. */
static int
count_call(struct db *db, const char *bot, int tokens_in, int tokens_out,
    double cost_usd)
{
	struct store_metrics d;
	char day[16];

	memset(&d, 0, sizeof(d));
	d.llm_calls = 1;
	d.tokens_in = tokens_in;
	d.tokens_out = tokens_out;
	d.cost_usd = cost_usd;
	return store_metrics_add(db, bot, policy_day(clock_now_ms(), day,
	    sizeof(day)), &d);
}

/* A call that brought nothing to store: counted in the transaction that
 * records the job's retry (best effort). A good draft is counted with
 * the message it becomes (conv_store). */
static void
count_failed_call(struct job_ctx *ctx, const char *bot,
    const struct llm_result *r)
{
	if (db_begin(ctx->db) < 0)
		return;
	if (count_call(ctx->db, bot, r->tokens_in, r->tokens_out,
	    r->cost_usd) < 0 || db_commit_later(ctx->db) < 0)
		db_rollback(ctx->db);
}

/* Ask the LLM with the built prompt; the draft is checked. */
static enum job_result
ask(struct job_ctx *ctx, const struct cfg_bot *bot, const struct prompt *p,
    const char *last_out, struct conv_text *t, struct job_outcome *out)
{
	struct llm_req req;
	struct llm_result r;
	char why[256];
	enum job_result res = JOB_OK;

	memset(&req, 0, sizeof(req));
	req.msgs = p->msgs;
	req.n = p->n;
	req.model = bot->policy.model[0] != '\0' ? bot->policy.model : NULL;
	memset(&r, 0, sizeof(r));
	if (llm_complete(&bot->llm, &req, &r) < 0) {
		count_failed_call(ctx, bot->name, &r);
		if (r.status == LLM_FATAL)
			res = job_fail(out, "%s", r.error);
		else
			res = job_retry(out, r.retry_at_ms, "%s", r.error);
	} else {
		if (prompt_check_draft(&bot->policy, r.text, last_out,
		    p->system, why, sizeof(why)) < 0) {
			count_failed_call(ctx, bot->name, &r);
			res = job_retry(out, 0, "draft refused: %s", why);
		} else {
			t->text = r.text;
			r.text = NULL;
			strlcpy(t->model, r.model, sizeof(t->model));
			t->tokens_in = r.tokens_in;
			t->tokens_out = r.tokens_out;
			t->cost_usd = r.cost_usd;
		}
	}
	llm_result_release(&r);
	return res;
}

enum job_result
conv_write(struct job_ctx *ctx, const struct cfg_bot *bot,
    const struct store_contact *c, const char *task, struct conv_text *t,
    struct job_outcome *out)
{
	struct store_msg *h = NULL;
	struct prompt_turn *turns = NULL;
	struct prompt_in in;
	struct prompt p;
	json_t *profile = NULL, *defs = NULL;
	const char *last_out = NULL;
	size_t n = 0;
	enum job_result res;

	memset(t, 0, sizeof(*t));
	memset(&p, 0, sizeof(p));
	if ((res = budget(ctx, bot, out)) != JOB_OK)
		return res;
	if (store_history(ctx->db, c->id, c->summary_upto,
	    bot->policy.history_messages, &h, &n) < 0)
		return job_retry(out, 0, "database error reading history");
	if ((turns = turns_of(h, n, &last_out)) == NULL) {
		res = job_retry(out, 0, "out of memory");
		goto done;
	}
	/* With no field definitions every profile field is shown; with a
	 * definitions file that can't be read, none: hidden fields must
	 * never reach the LLM by accident. */
	if (ctx->cfg->fields[0] == '\0' ||
	    (defs = fields_load(ctx->cfg->fields)) != NULL)
		profile = json_loads(c->profile, 0, NULL);
	memset(&in, 0, sizeof(in));
	in.policy = &bot->policy;
	in.bot = bot->name;
	in.contact_name = c->name[0] != '\0' ? c->name : NULL;
	in.profile = json_is_object(profile) ? profile : NULL;
	in.fields = defs;
	in.summary = c->summary;
	in.history = turns;
	in.nhistory = n;
	in.budget_tokens = 3000;
	in.task = task;
	if (prompt_build(&in, &p) < 0) {
		res = job_retry(out, 0, "out of memory building the prompt");
		goto done;
	}
	res = ask(ctx, bot, &p, last_out, t, out);
done:
	prompt_release(&p);
	json_decref(profile);
	json_decref(defs);
	free(turns);
	store_msgs_free(h, n);
	return res;
}

int
conv_enqueue_send(struct db *db, const struct cfg *cfg, const char *bot,
    int64_t msg, int priority)
{
	struct queue_new q;
	char payload[64], key[64];
	int64_t id;

	snprintf(payload, sizeof(payload), "{\"message\":%lld}",
	    (long long)msg);
	snprintf(key, sizeof(key), "send:%lld", (long long)msg);
	queue_new_init(&q);
	q.type = "send";
	q.payload = payload;
	q.unique_key = key;
	q.priority = priority;
	q.max_attempts = 10;
	q.bot = bot;
	queue_new_configure(&q, cfg);
	return queue_add(db, &q, &id, NULL);
}

/* The text to store: the first message of a conversation carries the
 * disclosure. Returns a new string. */
static char *
with_disclosure(struct job_ctx *ctx, const struct cfg_bot *bot,
    const struct store_contact *c, const char *text)
{
	char *s;
	size_t n;
	int first = 0;

	if (bot->policy.disclosure[0] == '\0' ||
	    store_has_outbound(ctx->db, c->id, &first) < 0 || first)
		return strdup(text);
	n = strlen(text) + strlen(bot->policy.disclosure) + 3;
	if ((s = malloc(n)) != NULL)
		snprintf(s, n, "%s\n\n%s", text, bot->policy.disclosure);
	return s;
}

enum job_result
conv_store(struct job_ctx *ctx, const struct cfg_bot *bot,
    const struct store_contact *c, const char *kind,
    const struct conv_text *t, struct job_outcome *out)
{
	struct store_out o;
	char *text = NULL;
	int64_t id;
	int review = bot->policy.review;

	if (db_begin(ctx->db) < 0)
		goto fail;
	if ((text = with_disclosure(ctx, bot, c, t->text)) == NULL)
		goto fail;
	memset(&o, 0, sizeof(o));
	o.contact = c->id;
	o.bot = bot->name;
	o.kind = kind;
	o.text = text;
	o.status = review ? "draft" : "queued";
	o.job_id = ctx->job->id;
	o.model = t->model;
	o.tokens_in = t->tokens_in;
	o.tokens_out = t->tokens_out;
	o.cost_usd = t->cost_usd;
	if (store_out_add(ctx->db, &o, &id) < 0)
		goto fail;
	if (!review && conv_enqueue_send(ctx->db, ctx->cfg, bot->name, id,
	    ctx->job->priority) < 0)
		goto fail;
	if (count_call(ctx->db, bot->name, t->tokens_in, t->tokens_out,
	    t->cost_usd) < 0)
		goto fail;
	/* Committed with the job's completion: one write transaction. */
	if (db_commit_later(ctx->db) < 0)
		goto fail;
	free(text);
	if (review)
		log_info("contact %lld: draft %lld waits for approval",
		    (long long)c->id, (long long)id);
	return JOB_OK;
fail:
	db_rollback(ctx->db);
	free(text);
	/* The call was made and paid for even if its text is lost. */
	(void)count_call(ctx->db, bot->name, t->tokens_in, t->tokens_out,
	    t->cost_usd);
	return job_retry(out, 0, "database error storing the message");
}
