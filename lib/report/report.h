/*
 * report: the read-only views behind dater-report. Each view runs its
 * queries inside one read transaction (one consistent snapshot, which
 * never blocks the workers writing under WAL) and returns a new JSON
 * document. dater-report prints either that document or a table made
 * from it, so the two can never disagree.
 *
 * Every document is an object with "generated_at". Times are RFC 3339
 * UTC strings with milliseconds (clock_format), or null when absent;
 * durations are integers in ms, in keys ending in "_ms". The shapes are
 * listed in dater-report(1) and above each function below.
 *
 * The part lives in lib/report/: one view_NAME.c per view, with its
 * builder (SQL -> JSON) and its text forms (tables and CSV rows, over
 * table.c and csv.c); what they share in report.c; the Prometheus text in
 * prom.c and the dashboard in html.c. The views only read, so they work on a connection opened with
 * DB_READONLY.
 */
#ifndef DATER_REPORT_H
#define DATER_REPORT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "../cfg.h"
#include "../db.h"

#define REPORT_JOBS_LIMIT 50		/* default rows of report_jobs */
#define REPORT_JOBS_LIMIT_MAX 100000

/* The job states, in lifecycle order, NULL-terminated. */
extern const char *const report_states[];

/* Whether s names a job state. */
int report_state_known(const char *s);

/*
 * Counts of the whole queue at time now (ms):
 *
 *   { "generated_at", "total", "queued", "due", "scheduled", "running",
 *     "succeeded", "dead", "cancelled",
 *     "lease_expired": running jobs whose lease ended before now,
 *     "oldest_due_id", "oldest_due_type", "oldest_due_at",
 *     "oldest_due_age_ms": now - run_at of the due job that has waited
 *       longest (all four null when nothing is due),
 *     "next_scheduled_at": the earliest future run_at, or null,
 *     "workers": rows in the workers table,
 *     "by_type": { TYPE: { "total", "queued", "due", "scheduled",
 *       "running", "succeeded", "dead", "cancelled" } },
 *     "by_queue": { QUEUE: { "queued", "due", "scheduled", "running" } } }
 *
 * "due" + "scheduled" = "queued", everywhere. by_type holds every type
 * present in the table, by_queue every queue with live jobs, both sorted
 * by name. Returns a new reference, or NULL (logged).
 */
json_t *report_queue(struct db *db, int64_t now);

/* Filters of report_jobs; NULL or 0 members do not filter. */
struct report_jobs_filter {
	const char *state;		/* one of report_states */
	const char *type;
	const char *queue;
	const char *bot;
	int64_t contact;		/* its jobs (CTL_JOB_OF_CONTACT); 0 */
	int limit;			/* rows; 0: REPORT_JOBS_LIMIT */
};

/*
 * The newest jobs (highest id first) that match f:
 *
 *   { "generated_at", "filter": { "state", "type", "queue", "bot",
 *     "contact", "limit" },
 *     "truncated": true when more jobs match than limit,
 *     "jobs": [ JOB, ... ] }
 *
 * where JOB is { "id", "type", "queue", "bot", "state", "priority",
 * "attempts", "max_attempts", "run_at", "created_at", "started_at",
 * "finished_at", "lease_until", "worker", "unique_key", "last_error" }
 * (bot, worker, unique_key, last_error: string or null). An unknown
 * state is an error. Returns a new reference, or NULL (logged).
 */
json_t *report_jobs(struct db *db, const struct report_jobs_filter *f,
    int64_t now);

/* Results of report_job besides -1 (error, logged). */
enum report_found {
	REPORT_NOT_FOUND = 0,
	REPORT_FOUND = 1
};

/*
 * Everything about job id: JOB as in report_jobs plus "generated_at",
 * "payload" (the parsed JSON; the raw text as a string if it does not
 * parse) and "errors": every failed attempt, oldest first, as
 * [ { "attempt", "at", "worker", "error" } ].
 *
 * Returns REPORT_FOUND with a new reference in *out, REPORT_NOT_FOUND
 * (not logged: the caller names the id to the user) or -1 (logged); *out
 * is untouched unless found.
 */
int report_job(struct db *db, int64_t id, int64_t now, json_t **out);

/*
 * The worker processes that registered themselves, by id:
 *
 *   { "generated_at",
 *     "workers": [ { "id", "pid", "host", "queues" ("" = all),
 *       "started_at", "heartbeat_at", "heartbeat_age_ms",
 *       "jobs": [ RUNNING, ... ] } ],
 *     "orphaned": [ RUNNING, ... ] }
 *
 * RUNNING is { "id", "type", "queue", "worker", "attempts",
 * "started_at", "lease_until" } for a job in state running held by that
 * worker; "orphaned" holds running jobs whose worker has no row (it died
 * without releasing them: the lease reaper will). Returns a new
 * reference, or NULL (logged).
 */
json_t *report_workers(struct db *db, int64_t now);

/*
 * The effective configuration (view_config.c; reads no database):
 *
 *   { "generated_at", "config": the file read (null: built-in defaults),
 *     "database": db_path (NULL: the config's), "synchronous",
 *     "busy_timeout_ms", "log_level", "fields",
 *     "worker": { "concurrency", "queues": [NAME, ...] ([] = all),
 *       "lease_ms", "heartbeat_ms", "poll_interval_ms",
 *       "restart_backoff_max_ms", "shutdown_grace_ms" },
 *     "queue": JOBSET, "jobs": { TYPE: JOBSET },
 *     "llm": LLM (the global group),
 *     "defaults_llm": LLM (llm overlaid with `defaults.llm`),
 *     "defaults": POLICY,
 *     "bots": [ { "name", "transport": { "driver", "base_url",
 *       "token_env", "token_set", "url", "path", "timeout_ms" },
 *       "llm": LLM (the bot's effective one), "policy": POLICY } ],
 *     "schedules": [ { "name", "cron", "job", "payload", "queue",
 *       "priority" } ],
 *     "scheduler": { "timezone", "initiate", "followup" },
 *     "maintenance": { "backup_dir", "backup_keep",
 *       "prune_jobs_after_ms", "prune_messages_after_ms",
 *       "journal_size_limit" } }
 *
 * LLM is { "provider", "base_url", "model", "api_key_env",
 * "api_key_set", "timeout_ms", "max_completion_tokens", "temperature"
 * (null: not sent), "price_in_per_mtok", "price_out_per_mtok" }.
 * JOBSET is { "queue", "priority", "max_attempts", "timeout_ms",
 * "retry_base_ms", "retry_cap_ms" }, after inheritance; "jobs" has every
 * name in types (NULL-terminated; NULL: the types the file sets).
 * POLICY is a bot's policy after built-in -> `defaults` -> the bot:
 * { "persona", "model" (the effective one), "reply_delay_ms": [MIN,
 * MAX], "quiet_hours" ("HH:MM-HH:MM" or "off"), "timezone",
 * "max_per_hour", "max_per_chat_hour", "max_initiations_per_day",
 * "max_unanswered", "followup_after_ms", "followup_horizon_ms" (0:
 * none), "opt_out": [PHRASE, ...],
 * "opt_out_reply", "disclosure" (null: off), "review",
 * "daily_budget_usd", "history_messages", "summary_after",
 * "max_reply_chars" }. A transport's settings its driver does not use
 * are null. A schedule's queue and priority are the effective ones.
 *
 * No secret is ever in it: "api_key_env" and "token_env" name the
 * variables, and "api_key_set" / "token_set" say whether they are set
 * (non-empty) in this process's environment; URLs have their user info
 * and query string replaced by "***". Returns a new reference, or NULL
 * (logged: out of memory).
 */
json_t *report_config(const struct cfg *cfg, const char *const *types,
    const char *db_path, int64_t now);

/* ---- conversations, metrics, health (view_*.c) ---- */

#define REPORT_CONTACTS_LIMIT 100	/* default rows of report_contacts */

/*
 * Per bot (the configured ones in config order, then any other bot found
 * in contacts or metrics_daily, by name), today (UTC) and the last 7 days
 * (today and the 6 before):
 *
 *   { "generated_at", "today": "YYYY-MM-DD", "since": "YYYY-MM-DD",
 *     "bots": [ { "name", "configured", "contacts", "opted_out",
 *       "daily_budget_usd" (null: none), "budget_left_usd" (budget minus
 *       today's cost; null: no budget), "listener" (the dater-worker
 *       tree, "host:pid", holding the bot's listener lease; null: none),
 *       "listener_pid", "listener_since", "listener_lease_until" (null
 *       without a lease; a lease_until in the past: that tree died and
 *       none took over yet), "updates_skipped" (unreadable updates
 *       skipped so far), "today": PERIOD, "last_7_days": PERIOD,
 *       "state", "why", "state_since", "state_by", "states" (see
 *       ctl_bot_state) } ] }
 *
 * PERIOD is { "received", "sent", "initiations", "initiation_replies",
 * "reply_rate" (initiation_replies / initiations; null when none),
 * "median_reply_ms" (from the first inbound message of a burst to our
 * next sent message to that contact; null when none), "llm_calls",
 * "tokens_in", "tokens_out", "cost_usd", "job_failures" }. Returns a new
 * reference, or NULL (logged).
 */
json_t *report_bots(struct db *db, const struct cfg *cfg, int64_t now);

/* Filters of report_contacts; NULL or 0 do not filter. */
struct report_contacts_filter {
	const char *bot;
	const char *status;	/* new active paused opted_out blocked */
	int limit;		/* 0: REPORT_CONTACTS_LIMIT */
};

/* Whether s names a contact status. */
int report_contact_status_known(const char *s);

/*
 * Contacts by id:
 *
 *   { "generated_at", "filter": { "bot", "status", "limit" },
 *     "truncated", "contacts": [ { "id", "bot", "platform_id", "handle",
 *       "name", "status", "consent" (bool), "timezone", "unanswered",
 *       "messages_in", "messages_out", "last_inbound_at",
 *       "last_outbound_at", "created_at" } ] }
 *
 * Returns a new reference, or NULL (logged).
 */
json_t *report_contacts(struct db *db, const struct report_contacts_filter *f,
    int64_t now);

/*
 * One contact's header and transcript, oldest first:
 *
 *   { "generated_at", "contact": { "id", "bot", "platform_id", "handle",
 *       "name", "status", "consent", "timezone", "profile" (parsed),
 *       "summary", "unanswered", "last_inbound_at", "last_outbound_at",
 *       "initiated_at", "created_at" },
 *     "messages": [ { "id", "at" (sent_at, else created_at), "direction"
 *       ("in"/"out"), "kind", "status" (null inbound), "mark" ("DRAFT",
 *       "UNCERTAIN", "FAILED", "UNSENT" for queued or sending; else
 *       null), "text", "model", "tokens_in", "tokens_out", "cost_usd",
 *       "error", "created_at", "sent_at" } ] }
 *
 * REPORT_FOUND with a new reference in *out, REPORT_NOT_FOUND (not
 * logged), or -1 (logged).
 */
int report_conversation(struct db *db, int64_t contact, int64_t now,
    json_t **out);

/*
 * The daily series of metrics_daily, by day then bot:
 *
 *   { "generated_at", "filter": { "since", "bot" },
 *     "days": [ { "day", "bot", "received", "sent", "initiations",
 *       "initiation_replies", "llm_calls", "tokens_in", "tokens_out",
 *       "cost_usd", "job_failures" } ] }
 *
 * since ("YYYY-MM-DD") and bot may be NULL. Returns a new reference, or
 * NULL (logged).
 */
json_t *report_metrics(struct db *db, const char *since, const char *bot,
    int64_t now);

/* Thresholds of report_health overriding the configuration's (`health =
 * { ... }`, struct cfg_health); 0 durations and a negative
 * max_dead_per_hour take the configuration's. */
struct report_health_opts {
	int64_t max_due_age_ms;		/* default 5 minutes */
	int64_t max_heartbeat_age_ms;	/* default report_heartbeat_max_ms */
	int max_dead_per_hour;		/* default 10; a rate above fails */
};

#define REPORT_MAX_DUE_AGE_MS (5 * 60 * 1000)
#define REPORT_MAX_DEAD_PER_HOUR 10

/* A live worker's heartbeat is at most this old: health.
 * max_heartbeat_age, or 3 heartbeats and at least 30 s. */
int64_t report_heartbeat_max_ms(const struct cfg *cfg);

/*
 * The health checks:
 *
 *   { "generated_at", "healthy": BOOL,
 *     "checks": [ { "check", "ok", "value", "threshold", "detail" } ] }
 *
 * in this order: "due_age" (ms the oldest due job has waited; fails
 * above max_due_age_ms), "workers" (live workers: heartbeat at most
 * max_heartbeat_age_ms old; fails when workers are registered but none
 * is live, or jobs have been due longer than that and no worker is live),
 * "dead_rate" (jobs that died in the last hour; fails above
 * max_dead_per_hour), "lease_expired" (running jobs whose lease ran out
 * more than max_heartbeat_age_ms ago, so no live tree reclaims them;
 * fails above 0), then "budget:BOT" for each configured bot with a
 * daily budget (today's cost; fails when it reaches the budget).
 * "detail" says why in words. The one definition of health: the
 * dashboard and the Prometheus export show this document. Returns a new
 * reference, or NULL (logged).
 */
json_t *report_health(struct db *db, const struct cfg *cfg,
    const struct report_health_opts *o, int64_t now);

/*
 * Write the Prometheus text exposition (format 0.0.4) of the queue, the
 * workers and every bot's metrics to out (prom.c): gauges
 * dater_jobs{state}, dater_jobs_due, dater_jobs_by_type{type,state},
 * dater_oldest_due_age_seconds, dater_lease_expired_jobs,
 * dater_workers, dater_workers_alive, dater_contacts{bot,status},
 * dater_cost_usd_today{bot}, dater_budget_left_usd{bot}, counters (sums
 * over metrics_daily) dater_messages_received_total{bot},
 * dater_messages_sent_total, dater_initiations_total,
 * dater_initiation_replies_total, dater_llm_calls_total,
 * dater_tokens_in_total, dater_tokens_out_total, dater_cost_usd_total,
 * dater_job_failures_total, and dater_report_generated_seconds. Every
 * metric has HELP and TYPE lines; label values are escaped. Returns 0,
 * or -1 (logged; out may hold part of the text).
 */
int report_prometheus(struct db *db, const struct cfg *cfg, int64_t now,
    FILE *out);

/* ---- the text forms ---- */

/* A view's text forms, over the document its builder returned. */
struct report_text {
	/* Print doc as aligned tables: 0 or -1 (logged). */
	int (*print)(FILE *out, const json_t *doc);
	/* For CSV (NULL: the view has no CSV form): doc's rows as a new
	 * reference (NULL if out of memory), and their keys, the header. */
	json_t *(*rows)(const json_t *doc);
	const char *const *keys;
};

extern const struct report_text report_text_queue, report_text_jobs,
    report_text_job, report_text_workers, report_text_config,
    report_text_bots, report_text_audit, report_text_contacts,
    report_text_conversation, report_text_metrics, report_text_health;

/* rows (objects) as CSV, RFC 4180 with CRLF, the keys as the header. A
 * field a spreadsheet would run as a formula gets a quote in front;
 * control characters are written as \xHH. */
void csv_print(FILE *out, const json_t *rows, const char *const *keys);

/* ---- helpers shared by lib/report/ ---- */

/*
 * SQL, the one definition of reply latency: for each inbound message
 * that starts a run (the message before it in its conversation is not
 * inbound) created in [?1, ?2), the ms from it to the next reply sent
 * to its contact; rows (day since ?1, latency ms, bot), ordered by day
 * and latency. Messages still unanswered are left out.
 */
#define REPORT_SQL_REPLY_LATENCY \
	"SELECT d, max(0, raw) AS lat, bot FROM" \
	" (SELECT (m.created_at - ?1) / 86400000 AS d," \
	"  (SELECT min(o.sent_at) FROM messages o" \
	"   WHERE o.contact = m.contact AND o.id > m.id" \
	"   AND o.direction = 'out' AND o.sent_at IS NOT NULL)" \
	"   - m.created_at AS raw, m.bot AS bot" \
	" FROM messages m WHERE m.direction = 'in'" \
	" AND m.created_at >= ?1 AND m.created_at < ?2" \
	" AND coalesce((SELECT p.direction FROM messages p" \
	"  WHERE p.contact = m.contact AND p.id < m.id" \
	"  ORDER BY p.id DESC LIMIT 1), 'out') <> 'in') AS r" \
	" WHERE raw IS NOT NULL ORDER BY d, lat"

/* Open a read snapshot unless a transaction is open; *own says whether
 * one was opened (pass it to report_snap_end). 0 or -1 (logged). */
int report_snap_begin(struct db *db, int *own);
void report_snap_end(struct db *db, int own);

/* ms as a new RFC 3339 string (NULL only if out of memory). */
json_t *report_time_json(int64_t ms);

/* A time column as a new RFC 3339 string, or NULL for SQL NULL. */
json_t *report_col_time(struct dbst *st, int col);

/* "out of memory building the report", logged; -1 or NULL. */
int report_oom(void);
json_t *report_oom_null(void);

/* Set obj.key to a new reference v (NULL: json null); 0 or -1 (out of
 * memory, logged). */
int report_set(json_t *obj, const char *key, json_t *v);

/* Column readers: text (NULL for SQL NULL), integer, and integer or
 * real as a new JSON value (NULL for SQL NULL). */
const char *report_col_text(struct dbst *st, int col);
json_int_t report_col_int(struct dbst *st, int col);
json_t *report_col_int_null(struct dbst *st, int col);
json_t *report_col_real_null(struct dbst *st, int col);

/* The UTC day of ms as "YYYY-MM-DD" into buf; buf. And the ms at the
 * start of that day. */
char *report_day_of(int64_t ms, char *buf, size_t len);
int64_t report_day_start(int64_t ms);

/* Step st to the end calling fn on each row (fn: 0, or -1 logged);
 * resets st. 0 or -1 (logged). */
int report_each_row(struct db *db, struct dbst *st,
    int (*fn)(struct dbst *, void *), void *arg);

#endif
