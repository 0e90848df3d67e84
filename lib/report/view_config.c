/*
 * view_config: dater-report config: the effective configuration (no
 * database): the document, its tables and its CSV.
 */
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../ctl.h"
#include "../listener.h"
#include "../log.h"
#include "../redact.h"
#include "../store.h"
#include "report.h"
#include "table.h"
#include "../banned.h"

#define DAY_MS (24 * 60 * 60 * 1000LL)

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

/* ---- the config view ---- */

/* "NAME (set)", "NAME (unset)" or "none" for a secret's variable. */
static void
fmt_secret(const json_t *obj, const char *env_key, const char *set_key,
    char *buf, size_t len)
{
	const json_t *env = json_object_get(obj, env_key);

	if (!json_is_string(env))
		snprintf(buf, len, "none");
	else
		snprintf(buf, len, "$%s (%s)", json_string_value(env),
		    json_is_true(json_object_get(obj, set_key)) ? "set" :
		    "unset");
}

static void
fmt_api_key(const json_t *row, char *buf, size_t len)
{
	fmt_secret(row, "api_key_env", "api_key_set", buf, len);
}

static void
fmt_token(const json_t *row, char *buf, size_t len)
{
	if (json_is_null(json_object_get(row, "token_set")))
		snprintf(buf, len, "-");
	else
		fmt_secret(row, "token_env", "token_set", buf, len);
}

/* An array of strings as "a, b" (n: "N: a, b" when n is set), or
 * empty_text for []. */
static void
fmt_list(const json_t *a, int n, const char *empty_text, char *buf,
    size_t len)
{
	const json_t *v;
	size_t i, k = 0;

	if (json_array_size(a) == 0) {
		snprintf(buf, len, "%s", empty_text);
		return;
	}
	buf[0] = '\0';
	if (n)
		k = (size_t)snprintf(buf, len, "%zu: ", json_array_size(a));
	json_array_foreach(a, i, v) {
		if (k >= len)
			break;
		k += (size_t)snprintf(buf + k, len - k, "%s%s", i > 0 ? ", " :
		    "", json_string_value(v));
	}
}

static void
fmt_queues_list(const json_t *row, char *buf, size_t len)
{
	fmt_list(json_object_get(row, "queues"), 0, "* (all)", buf, len);
}

static void
fmt_opt_out(const json_t *row, char *buf, size_t len)
{
	fmt_list(json_object_get(row, "opt_out"), 1, "none", buf, len);
}

static void
fmt_delay(const json_t *row, char *buf, size_t len)
{
	const json_t *d = json_object_get(row, "reply_delay_ms");
	char lo[32], hi[32];

	snprintf(buf, len, "%s-%s", clock_format_duration(json_integer_value(
	    json_array_get(d, 0)), lo, sizeof(lo)), clock_format_duration(
	    json_integer_value(json_array_get(d, 1)), hi, sizeof(hi)));
}

static void
fmt_disclosure(const json_t *row, char *buf, size_t len)
{
	const json_t *d = json_object_get(row, "disclosure");

	snprintf(buf, len, "%s", json_is_string(d) ? json_string_value(d) :
	    "off");
}

static void
fmt_budget(const json_t *row, char *buf, size_t len)
{
	double usd = json_number_value(json_object_get(row,
	    "daily_budget_usd"));

	if (usd > 0)
		snprintf(buf, len, "%.2f USD", usd);
	else
		snprintf(buf, len, "none");
}

static void
fmt_temperature(const json_t *row, char *buf, size_t len)
{
	const json_t *t = json_object_get(row, "temperature");

	if (json_is_number(t))
		snprintf(buf, len, "%g", json_number_value(t));
	else
		snprintf(buf, len, "not sent");
}

static void
fmt_config_path(const json_t *row, char *buf, size_t len)
{
	const json_t *p = json_object_get(row, "config");

	snprintf(buf, len, "%s", json_is_string(p) ? json_string_value(p) :
	    "none (built-in defaults)");
}

static void
fmt_keep_messages(const json_t *row, char *buf, size_t len)
{
	json_int_t ms = json_integer_value(json_object_get(row,
	    "prune_messages_after_ms"));

	if (ms <= 0)
		snprintf(buf, len, "never (kept)");
	else
		clock_format_duration(ms, buf, len);
}

static void
fmt_horizon(const json_t *row, char *buf, size_t len)
{
	json_int_t ms = json_integer_value(json_object_get(row,
	    "followup_horizon_ms"));

	if (ms <= 0)
		snprintf(buf, len, "none");
	else
		clock_format_duration(ms, buf, len);
}

static void
fmt_bytes(const json_t *row, char *buf, size_t len)
{
	json_int_t b = json_integer_value(json_object_get(row,
	    "journal_size_limit"));

	if (b > 0 && b % (1 << 20) == 0)
		snprintf(buf, len, "%lldMB", (long long)(b >> 20));
	else if (b > 0 && b % (1 << 10) == 0)
		snprintf(buf, len, "%lldKB", (long long)(b >> 10));
	else
		snprintf(buf, len, "%lld bytes", (long long)b);
}

/* "title:" and then obj's fields as indented "label  value" lines. */
static void
kv_section(FILE *out, const char *title, const json_t *obj,
    const struct column *f, int64_t now)
{
	char buf[CELL_MAX];
	int i, w = 0;

	fprintf(out, "\n%s:\n", title);
	for (i = 0; f[i].head != NULL; i++)
		if (table_width(f[i].head) > w)
			w = table_width(f[i].head);
	for (i = 0; f[i].head != NULL; i++) {
		table_cell(obj, &f[i], now, buf, sizeof(buf));
		fprintf(out, "  %-*s  %s\n", w, f[i].head, buf);
	}
}

static const struct column bot_transport_fields[] = {
	{ "driver", "driver", CELL_TEXT, 0, NULL },
	{ "base_url", "base_url", CELL_TEXT, 0, NULL },
	{ "token", "token_env", CELL_TEXT, 0, fmt_token },
	{ "url", "url", CELL_TEXT, 0, NULL },
	{ "path", "path", CELL_TEXT, 0, NULL },
	{ "timeout", "timeout_ms", CELL_DURATION, 0, NULL },
	{ NULL, NULL, 0, 0, NULL }
};

static const struct column bot_policy_fields[] = {
	{ "persona", "persona", CELL_TEXT, 0, NULL },
	{ "model", "model", CELL_TEXT, 0, NULL },
	{ "reply_delay", "reply_delay_ms", CELL_TEXT, 0, fmt_delay },
	{ "quiet_hours", "quiet_hours", CELL_TEXT, 0, NULL },
	{ "timezone", "timezone", CELL_TEXT, 0, NULL },
	{ "max_per_hour", "max_per_hour", CELL_TEXT, 0, NULL },
	{ "max_per_chat_hour", "max_per_chat_hour", CELL_TEXT, 0, NULL },
	{ "max_initiations_per_day", "max_initiations_per_day", CELL_TEXT, 0,
	    NULL },
	{ "max_unanswered", "max_unanswered", CELL_TEXT, 0, NULL },
	{ "followup_after", "followup_after_ms", CELL_DURATION, 0, NULL },
	{ "followup_horizon", "followup_horizon_ms", CELL_TEXT, 0,
	    fmt_horizon },
	{ "opt_out", "opt_out", CELL_TEXT, 0, fmt_opt_out },
	{ "opt_out_reply", "opt_out_reply", CELL_TEXT, 0, NULL },
	{ "disclosure", "disclosure", CELL_TEXT, 0, fmt_disclosure },
	{ "review", "review", CELL_TEXT, 0, NULL },
	{ "daily_budget", "daily_budget_usd", CELL_TEXT, 0, fmt_budget },
	{ "history_messages", "history_messages", CELL_TEXT, 0, NULL },
	{ "summary_after", "summary_after", CELL_TEXT, 0, NULL },
	{ "max_reply_chars", "max_reply_chars", CELL_TEXT, 0, NULL },
	{ NULL, NULL, 0, 0, NULL }
};

/* A bot's effective LLM (secrets only as set/unset). */
static const struct column bot_llm_fields[] = {
	{ "llm.provider", "provider", CELL_TEXT, 0, NULL },
	{ "llm.base_url", "base_url", CELL_TEXT, 0, NULL },
	{ "llm.model", "model", CELL_TEXT, 0, NULL },
	{ "llm.api_key", "api_key_env", CELL_TEXT, 0, fmt_api_key },
	{ "llm.timeout", "timeout_ms", CELL_DURATION, 0, NULL },
	{ "llm.max_completion_tokens", "max_completion_tokens", CELL_TEXT, 0,
	    NULL },
	{ "llm.temperature", "temperature", CELL_TEXT, 0, fmt_temperature },
	{ "llm.price_in_per_mtok", "price_in_per_mtok", CELL_REAL, 0, NULL },
	{ "llm.price_out_per_mtok", "price_out_per_mtok", CELL_REAL, 0,
	    NULL },
	{ NULL, NULL, 0, 0, NULL }
};

/* Add one row per field of f to rows: { "setting", "vI": the cell of
 * objs[I] (NULL: "-") }. */
static int
bot_rows(json_t *rows, const struct column *f, const json_t *const *objs,
    size_t n, int64_t now)
{
	char buf[CELL_MAX], key[24];
	json_t *row;
	size_t i, k;

	for (i = 0; f[i].head != NULL; i++) {
		if ((row = json_pack("{s:s}", "setting", f[i].head)) == NULL ||
		    json_array_append_new(rows, row) < 0)
			return -1;
		for (k = 0; k < n; k++) {
			snprintf(key, sizeof(key), "v%zu", k);
			if (objs[k] == NULL)
				snprintf(buf, sizeof(buf), "-");
			else
				table_cell(objs[k], &f[i], now, buf,
				    sizeof(buf));
			if (json_object_set_new(row, key, json_string(buf)) < 0)
				return -1;
		}
	}
	return 0;
}

/* The bots side by side: a column for `defaults`, one per bot. */
static int
bots_table(FILE *out, const json_t *doc, int64_t now)
{
	const json_t *bots = json_object_get(doc, "bots");
	size_t i, n = json_array_size(bots) + 1;
	const json_t **trans, **pol, **llm;
	struct column *cols;
	char (*keys)[24];
	json_t *rows = json_array();
	int rc = -1;

	trans = calloc(n, sizeof(*trans));
	pol = calloc(n, sizeof(*pol));
	llm = calloc(n, sizeof(*llm));
	cols = calloc(n + 2, sizeof(*cols));
	keys = calloc(n, sizeof(*keys));
	if (rows == NULL || trans == NULL || pol == NULL || llm == NULL ||
	    cols == NULL || keys == NULL) {
		log_err("out of memory printing the report");
		goto out;
	}
	cols[0] = (struct column){ "SETTING", "setting", CELL_TEXT, 0, NULL };
	pol[0] = json_object_get(doc, "defaults");
	llm[0] = json_object_get(doc, "defaults_llm");
	for (i = 0; i < n; i++) {
		const json_t *b = i > 0 ? json_array_get(bots, i - 1) : NULL;

		snprintf(keys[i], sizeof(keys[i]), "v%zu", i);
		cols[i + 1] = (struct column){ b != NULL ? json_string_value(
		    json_object_get(b, "name")) : "(defaults)", keys[i],
		    CELL_TEXT, 40, NULL };
		if (b != NULL) {
			trans[i] = json_object_get(b, "transport");
			pol[i] = json_object_get(b, "policy");
			llm[i] = json_object_get(b, "llm");
		}
	}
	if (bot_rows(rows, bot_transport_fields, trans, n, now) < 0 ||
	    bot_rows(rows, bot_llm_fields, llm, n, now) < 0 ||
	    bot_rows(rows, bot_policy_fields, pol, n, now) < 0) {
		log_err("out of memory printing the report");
		goto out;
	}
	fprintf(out, "\nbots (built-in -> defaults -> bot):\n");
	rc = table_print(out, rows, cols, now);
out:
	json_decref(rows);
	free(trans);
	free(pol);
	free(llm);
	free(cols);
	free(keys);
	return rc;
}

/* The global job settings, then each type's. */
static int
jobset_table(FILE *out, const json_t *doc, int64_t now)
{
	static const struct column cols[] = {
		{ "TYPE", "type", CELL_TEXT, 0, NULL },
		{ "QUEUE", "queue", CELL_TEXT, 24, NULL },
		{ "PRI", "priority", CELL_NUM, 0, NULL },
		{ "ATTEMPTS", "max_attempts", CELL_NUM, 0, NULL },
		{ "TIMEOUT", "timeout_ms", CELL_DURATION, 0, NULL },
		{ "RETRY BASE", "retry_base_ms", CELL_DURATION, 0, NULL },
		{ "RETRY CAP", "retry_cap_ms", CELL_DURATION, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	json_t *rows = table_obj_rows(json_object_get(doc, "jobs"), "type");
	json_t *all = json_copy(json_object_get(doc, "queue"));
	int rc = -1;

	if (rows == NULL || all == NULL ||
	    json_object_set_new(all, "type", json_string("(queue)")) < 0 ||
	    json_array_insert(rows, 0, all) < 0) {
		log_err("out of memory printing the report");
		goto out;
	}
	fprintf(out, "\njob settings (queue -> jobs.TYPE):\n");
	rc = table_print(out, rows, cols, now);
out:
	json_decref(all);
	json_decref(rows);
	return rc;
}

static int
schedules_table(FILE *out, const json_t *doc, int64_t now)
{
	static const struct column cols[] = {
		{ "NAME", "name", CELL_TEXT, 32, NULL },
		{ "CRON", "cron", CELL_TEXT, 32, NULL },
		{ "JOB", "job", CELL_TEXT, 0, NULL },
		{ "QUEUE", "queue", CELL_TEXT, 24, NULL },
		{ "PRI", "priority", CELL_NUM, 0, NULL },
		{ "PAYLOAD", "payload", CELL_TEXT, 60, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	const json_t *rows = json_object_get(doc, "schedules");

	if (json_array_size(rows) == 0) {
		fprintf(out, "\nschedules: none\n");
		return 0;
	}
	fprintf(out, "\nschedules:\n");
	return table_print(out, rows, cols, now);
}

static int
config_print(FILE *out, const json_t *doc)
{
	static const struct column top[] = {
		{ "config", "config", CELL_TEXT, 0, fmt_config_path },
		{ "database", "database", CELL_TEXT, 0, NULL },
		{ "synchronous", "synchronous", CELL_TEXT, 0, NULL },
		{ "busy_timeout", "busy_timeout_ms", CELL_DURATION, 0, NULL },
		{ "log_level", "log_level", CELL_TEXT, 0, NULL },
		{ "fields", "fields", CELL_TEXT, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	static const struct column worker[] = {
		{ "concurrency", "concurrency", CELL_TEXT, 0, NULL },
		{ "queues", "queues", CELL_TEXT, 0, fmt_queues_list },
		{ "lease", "lease_ms", CELL_DURATION, 0, NULL },
		{ "heartbeat", "heartbeat_ms", CELL_DURATION, 0, NULL },
		{ "poll_interval", "poll_interval_ms", CELL_DURATION, 0, NULL },
		{ "restart_backoff_max", "restart_backoff_max_ms",
		    CELL_DURATION, 0, NULL },
		{ "shutdown_grace", "shutdown_grace_ms", CELL_DURATION, 0,
		    NULL },
		{ "batch", "batch", CELL_TEXT, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	static const struct column llm[] = {
		{ "provider", "provider", CELL_TEXT, 0, NULL },
		{ "base_url", "base_url", CELL_TEXT, 0, NULL },
		{ "model", "model", CELL_TEXT, 0, NULL },
		{ "api_key", "api_key_env", CELL_TEXT, 0, fmt_api_key },
		{ "timeout", "timeout_ms", CELL_DURATION, 0, NULL },
		{ "max_completion_tokens", "max_completion_tokens", CELL_TEXT, 0,
		    NULL },
		{ "temperature", "temperature", CELL_TEXT, 0, fmt_temperature },
		{ "price_in_per_mtok", "price_in_per_mtok", CELL_REAL, 0, NULL },
		{ "price_out_per_mtok", "price_out_per_mtok", CELL_REAL, 0,
		    NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	static const struct column sched[] = {
		{ "timezone", "timezone", CELL_TEXT, 0, NULL },
		{ "initiate", "initiate", CELL_TEXT, 0, NULL },
		{ "followup", "followup", CELL_TEXT, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	static const struct column maint[] = {
		{ "backup_dir", "backup_dir", CELL_TEXT, 0, NULL },
		{ "backup_keep", "backup_keep", CELL_TEXT, 0, NULL },
		{ "prune_jobs_after", "prune_jobs_after_ms", CELL_DURATION, 0,
		    NULL },
		{ "prune_messages_after", "prune_messages_after_ms", CELL_TEXT,
		    0, fmt_keep_messages },
		{ "journal_size_limit", "journal_size_limit", CELL_TEXT, 0,
		    fmt_bytes },
		{ NULL, NULL, 0, 0, NULL }
	};
	static const struct column health[] = {
		{ "max_due_age", "max_due_age_ms", CELL_DURATION, 0, NULL },
		{ "max_heartbeat_age", "max_heartbeat_age_ms", CELL_DURATION,
		    0, NULL },
		{ "max_dead_per_hour", "max_dead_per_hour", CELL_TEXT, 0,
		    NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	int64_t now = table_generated_at(doc);

	table_kv_print(out, doc, top, now);
	kv_section(out, "worker", json_object_get(doc, "worker"), worker, now);
	if (jobset_table(out, doc, now) < 0)
		return -1;
	kv_section(out, "llm", json_object_get(doc, "llm"), llm, now);
	if (bots_table(out, doc, now) < 0 || schedules_table(out, doc, now) < 0)
		return -1;
	kv_section(out, "scheduler", json_object_get(doc, "scheduler"), sched,
	    now);
	kv_section(out, "maintenance", json_object_get(doc, "maintenance"),
	    maint, now);
	kv_section(out, "health", json_object_get(doc, "health"), health,
	    now);
	return 0;
}

/* Every setting as a row: its dotted path (bots and schedules by name)
 * and its value. */
static const char *const config_keys[] = { "setting", "value", NULL };

static int
flatten(json_t *rows, const char *path, const json_t *v)
{
	const json_t *e, *name;
	const char *k;
	char sub[512];
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, e) {
			snprintf(sub, sizeof(sub), "%s%s%s", path,
			    *path != '\0' ? "." : "", k);
			if (flatten(rows, sub, e) < 0)
				return -1;
		}
		return 0;
	}
	if (json_is_array(v) && json_array_size(v) > 0 &&
	    json_is_string(json_object_get(json_array_get(v, 0), "name"))) {
		json_array_foreach(v, i, e) {
			name = json_object_get(e, "name");
			snprintf(sub, sizeof(sub), "%s.%s", path,
			    json_is_string(name) ? json_string_value(name) : "?");
			if (flatten(rows, sub, e) < 0)
				return -1;
		}
		return 0;
	}
	return json_array_append_new(rows, json_pack("{s:s, s:O}", "setting",
	    path, "value", v));
}

static json_t *
config_rows(const json_t *doc)
{
	json_t *rows = json_array();

	if (rows != NULL && flatten(rows, "", doc) < 0) {
		json_decref(rows);
		return NULL;
	}
	return rows;
}

const struct report_text report_text_config = {
	config_print, config_rows, config_keys
};
