/*
 * build_config: the effective configuration as a JSON document, for
 * `dater-report config`. It reads only the struct cfg (no database), so
 * it works before `dater-migrate up` and on a host without the data.
 *
 * Secrets never enter the document: for the LLM key and the Telegram
 * tokens it names the environment variable and says whether it is set
 * in this process's environment, and URLs lose their user info and
 * query string (where credentials hide in webhook URLs).
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cfg.h"
#include "../clock.h"
#include "../log.h"
#include "report.h"
#include "../banned.h"

static const char *const level_names[] = { "error", "warn", "info",
	"debug" };

/* Add v (a new reference, NULL: json null) to obj as key; -1 on OOM. */
static int
put(json_t *obj, const char *key, json_t *v)
{
	if (json_object_set_new(obj, key, v != NULL ? v : json_null()) < 0)
		return -1;
	return 0;
}

/* A string, or null when s is empty. */
static json_t *
str_or_null(const char *s)
{
	return *s != '\0' ? json_string(s) : NULL;
}

/*
 * url without what may hold a credential: the user info and the query
 * become "***" ("https://u:p@h/x?k=v#f" -> "https://" "***@h/x?***");
 * a fragment is dropped. "" gives NULL (json null).
 */
static json_t *
url_json(const char *url)
{
	char out[CFG_URL_MAX + 16];
	const char *p = strstr(url, "://"), *host, *end, *at = NULL;
	size_t n;

	if (*url == '\0')
		return NULL;
	host = p != NULL ? p + 3 : url;
	end = host + strcspn(host, "/?#");
	for (p = host; p < end; p++)
		if (*p == '@')
			at = p;		/* the last one ends the user info */
	if (at != NULL)
		snprintf(out, sizeof(out), "%.*s***%s", (int)(host - url), url,
		    at);
	else
		strlcpy(out, url, sizeof(out));
	n = strcspn(out, "?#");
	if (out[n] == '?')
		strlcpy(out + n, "?***", sizeof(out) - n);
	else
		out[n] = '\0';		/* a fragment is never sent anyway */
	return json_string(out);
}

/* Whether the variable named name is set (and not empty) here. */
static int
env_set(const char *name)
{
	const char *v = *name != '\0' ? getenv(name) : NULL;

	return v != NULL && *v != '\0';
}

static json_t *
quiet_json(const struct cfg_policy *p)
{
	char buf[32];

	if (!p->has_quiet || p->quiet_start_min == p->quiet_end_min)
		return json_string("off");
	snprintf(buf, sizeof(buf), "%02d:%02d-%02d:%02d",
	    p->quiet_start_min / 60, p->quiet_start_min % 60,
	    p->quiet_end_min / 60, p->quiet_end_min % 60);
	return json_string(buf);
}

/* A bot's policy; model "" means llm.model, shown as the effective one. */
static json_t *
policy_json(const struct cfg_policy *p, const struct cfg_llm *llm)
{
	json_t *o, *opt = json_array();
	int i;

	for (i = 0; opt != NULL && i < p->n_opt_out; i++)
		if (json_array_append_new(opt, json_string(p->opt_out[i])) < 0)
			break;
	if (opt == NULL || i < p->n_opt_out) {
		json_decref(opt);
		return NULL;
	}
	o = json_pack("{s:s, s:s, s:[I,I], s:o, s:s, s:i, s:i, s:i, s:i, s:I}",
	    "persona", p->persona,
	    "model", p->model[0] != '\0' ? p->model : llm->model,
	    "reply_delay_ms", (json_int_t)p->reply_delay_min_s * 1000,
	    (json_int_t)p->reply_delay_max_s * 1000,
	    "quiet_hours", quiet_json(p),
	    "timezone", p->timezone[0] != '\0' ? p->timezone : "UTC",
	    "max_per_hour", p->max_per_hour,
	    "max_per_chat_hour", p->max_per_chat_hour,
	    "max_initiations_per_day", p->max_initiations_per_day,
	    "max_unanswered", p->max_unanswered,
	    "followup_after_ms", (json_int_t)p->followup_after_ms);
	if (o != NULL && put(o, "followup_horizon_ms",
	    json_integer(p->followup_horizon_ms)) < 0) {
		json_decref(o);
		json_decref(opt);
		return NULL;
	}
	if (o == NULL || put(o, "opt_out", opt) < 0 ||
	    put(o, "opt_out_reply", json_string(p->opt_out_reply)) < 0 ||
	    put(o, "disclosure", str_or_null(p->disclosure)) < 0 ||
	    put(o, "review", json_boolean(p->review)) < 0 ||
	    put(o, "daily_budget_usd", json_real(p->daily_budget_usd)) < 0 ||
	    put(o, "history_messages", json_integer(p->history_messages)) < 0 ||
	    put(o, "summary_after", json_integer(p->summary_after)) < 0 ||
	    put(o, "max_reply_chars", json_integer(p->max_reply_chars)) < 0) {
		if (o == NULL)
			json_decref(opt);
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Only the settings the bot's driver uses; the rest are null. */
static json_t *
transport_json(const struct cfg_transport *t)
{
	int tg = strcmp(t->driver, "telegram") == 0;
	int wh = strcmp(t->driver, "webhook") == 0;
	int co = strcmp(t->driver, "console") == 0;

	return json_pack("{s:s, s:o?, s:o?, s:o?, s:o?, s:o?, s:I, s:o?, s:o?}",
	    "driver", t->driver,
	    "base_url", tg ? url_json(t->base_url) : NULL,
	    "token_env", tg ? str_or_null(t->token_env) : NULL,
	    "token_set", tg ? json_boolean(env_set(t->token_env)) : NULL,
	    "url", wh ? url_json(t->url) : NULL,
	    "path", co ? str_or_null(t->path) : NULL,
	    "timeout_ms", (json_int_t)t->timeout_ms,
	    "listen", tg ? json_boolean(t->listen) : NULL,
	    "poll_timeout_ms", tg ? json_integer(t->poll_timeout_ms) : NULL);
}

static json_t *
llm_json(const struct cfg_llm *l)
{
	return json_pack("{s:s, s:o?, s:s, s:o?, s:b, s:I, s:i, s:o?, s:f, "
	    "s:f}",
	    "provider", l->provider,
	    "base_url", url_json(l->base_url),
	    "model", l->model,
	    "api_key_env", str_or_null(l->api_key_env),
	    "api_key_set", env_set(l->api_key_env),
	    "timeout_ms", (json_int_t)l->timeout_ms,
	    "max_completion_tokens", l->max_completion_tokens,
	    "temperature", l->has_temperature ? json_real(l->temperature) :
	    NULL,
	    "price_in_per_mtok", l->price_in_per_mtok,
	    "price_out_per_mtok", l->price_out_per_mtok);
}

/* "a,b" as ["a", "b"]; "" as []. */
static json_t *
list_json(const char *s)
{
	json_t *a = json_array();
	const char *p = s;
	size_t k;

	while (a != NULL && *p != '\0') {
		k = strcspn(p, ",");
		if (json_array_append_new(a, json_stringn(p, k)) < 0) {
			json_decref(a);
			return NULL;
		}
		p += k + (p[k] == ',');
	}
	return a;
}

static json_t *
worker_json(const struct cfg *c)
{
	return json_pack("{s:i, s:i, s:o, s:I, s:I, s:I, s:I, s:I}",
	    "concurrency", c->worker.concurrency,
	    "batch", c->worker.batch,
	    "queues", list_json(c->worker.queues),
	    "lease_ms", (json_int_t)c->worker.lease_ms,
	    "heartbeat_ms", (json_int_t)c->worker.heartbeat_ms,
	    "poll_interval_ms", (json_int_t)c->worker.poll_ms,
	    "restart_backoff_max_ms", (json_int_t)c->worker.restart_max_ms,
	    "shutdown_grace_ms", (json_int_t)c->worker.grace_ms);
}

static json_t *
job_json(const struct cfg_job *j)
{
	return json_pack("{s:s, s:i, s:i, s:I, s:I, s:I}",
	    "queue", j->queue,
	    "priority", j->priority,
	    "max_attempts", j->max_attempts,
	    "timeout_ms", (json_int_t)j->timeout_ms,
	    "retry_base_ms", (json_int_t)j->retry_base_ms,
	    "retry_cap_ms", (json_int_t)j->retry_cap_ms);
}

/* Every type in types (NULL: only those the file sets), effective. */
static json_t *
jobs_json(const struct cfg *c, const char *const *types)
{
	json_t *o = json_object();
	struct cfg_job j;
	int i;

	for (i = 0; o != NULL; i++) {
		const char *t = types != NULL ? types[i] :
		    (i < c->njobs ? c->jobs[i].type : NULL);

		if (t == NULL)
			break;
		cfg_job_settings(c, t, &j);
		if (put(o, t, job_json(&j)) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* The payload parsed (cfg_load checked it is a JSON object). */
static json_t *
schedule_json(const struct cfg *c, const struct cfg_schedule *s)
{
	struct cfg_job j;
	json_t *payload = json_loads(s->payload, 0, NULL);

	cfg_job_settings(c, s->job, &j);
	if (payload == NULL)
		payload = json_string(s->payload);
	return json_pack("{s:s, s:s, s:s, s:o?, s:s, s:i}",
	    "name", s->name,
	    "cron", s->cron,
	    "job", s->job,
	    "payload", payload,
	    "queue", s->queue[0] != '\0' ? s->queue : j.queue,
	    "priority", s->priority >= 0 ? s->priority : j.priority);
}

static json_t *
maint_json(const struct cfg_maint *m, const char *db_path)
{
	char dir[PATH_MAX], tmp[PATH_MAX];

	if (m->backup_dir[0] != '\0') {
		strlcpy(dir, m->backup_dir, sizeof(dir));
	} else {
		strlcpy(tmp, db_path, sizeof(tmp));
		snprintf(dir, sizeof(dir), "%s/backups", dirname(tmp));
	}
	return json_pack("{s:s, s:i, s:I, s:I, s:I}",
	    "backup_dir", dir,
	    "backup_keep", m->backup_keep,
	    "prune_jobs_after_ms", (json_int_t)m->prune_jobs_after_ms,
	    "prune_messages_after_ms", (json_int_t)m->prune_messages_after_ms,
	    "journal_size_limit", (json_int_t)m->journal_size_limit);
}

static json_t *
bots_json(const struct cfg *c)
{
	json_t *a = json_array();
	int i;

	for (i = 0; a != NULL && i < c->nbots; i++) {
		const struct cfg_bot *b = &c->bots[i];

		if (json_array_append_new(a, json_pack("{s:s, s:o, s:o, s:o}",
		    "name", b->name,
		    "transport", transport_json(&b->transport),
		    "llm", llm_json(&b->llm),
		    "policy", policy_json(&b->policy, &b->llm))) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
schedules_json(const struct cfg *c)
{
	json_t *a = json_array();
	int i;

	for (i = 0; a != NULL && i < c->nschedules; i++) {
		if (json_array_append_new(a, schedule_json(c,
		    &c->schedules[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *
report_config(const struct cfg *c, const char *const *types,
    const char *db_path, int64_t now)
{
	char at[CLOCK_RFC3339_LEN];
	const char *db = db_path != NULL ? db_path : c->database;
	json_t *doc;

	doc = json_pack("{s:s, s:o?, s:s, s:s, s:i, s:s, s:o?, s:o, s:o, "
	    "s:o, s:o, s:o, s:o, s:o, s:{s:s, s:b, s:b}, s:o}",
	    "generated_at", clock_format(now, at, sizeof(at)),
	    "config", str_or_null(c->path),
	    "database", db,
	    "synchronous", cfg_sync_name(c->synchronous),
	    "busy_timeout_ms", c->busy_timeout_ms,
	    "log_level", c->log_level >= 0 && c->log_level <= 3 ?
	    level_names[c->log_level] : "info",
	    "fields", str_or_null(c->fields),
	    "worker", worker_json(c),
	    "queue", job_json(&c->queue),
	    "jobs", jobs_json(c, types),
	    "llm", llm_json(&c->llm),
	    "defaults", policy_json(&c->defaults, &c->defaults_llm),
	    "bots", bots_json(c),
	    "schedules", schedules_json(c),
	    "scheduler",
	    "timezone", c->sched_timezone[0] != '\0' ? c->sched_timezone :
	    "UTC",
	    "initiate", c->sched_initiate,
	    "followup", c->sched_followup,
	    "maintenance", maint_json(&c->maint, db));
	if (doc != NULL && (put(doc, "defaults_llm",
	    llm_json(&c->defaults_llm)) < 0 || put(doc, "health",
	    json_pack("{s:I, s:I, s:i}",
	    "max_due_age_ms", (json_int_t)c->health.max_due_age_ms,
	    "max_heartbeat_age_ms", (json_int_t)report_heartbeat_max_ms(c),
	    "max_dead_per_hour", c->health.max_dead_per_hour)) < 0)) {
		json_decref(doc);
		doc = NULL;
	}
	if (doc == NULL)
		log_err("out of memory building the report");
	return doc;
}
