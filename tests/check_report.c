/*
 * check_report: the report builders (lib/report/build_*.c) on a database
 * of known rows, at an explicit now. report_queue counts every state,
 * due and scheduled, expired leases, the oldest due job and the next
 * scheduled one, per type and per queue; report_jobs returns the newest
 * first and filters by state, type, queue, bot and contact, with a limit
 * that says when it cut; report_health passes on a quiet database and
 * fails each check for its cause (a due job waiting too long, workers
 * without heartbeats, too many dead jobs, a lease that ran out and was
 * not reclaimed, a spent budget), with the configured thresholds and
 * the caller's overriding them; report_conversation says why the last
 * message is unanswered (the reply job in the way, or the draft).
 */
#include <stdlib.h>
#include <string.h>

#include "check_dater.h"
#include "../lib/clock.h"
#include "../lib/policy.h"
#include "../lib/store.h"
#include "../lib/report/report.h"
#include "../lib/banned.h"

#define NOW 1795637700000LL	/* 2026-11-25T20:15:00Z */
#define MIN_MS 60000LL
#define HOUR_MS (60 * MIN_MS)

static struct t_env env;
static struct cfg_bot bot;

static void
setup(void)
{
	t_env_setup(&env);
	memset(&bot, 0, sizeof(bot));
	strlcpy(bot.name, "anna", sizeof(bot.name));
	cfg_policy_defaults(&bot.policy);
	env.cfg.bots = &bot;
	env.cfg.nbots = 1;
}

static void
teardown(void)
{
	env.cfg.bots = NULL;	/* this file's, not the cfg's */
	env.cfg.nbots = 0;
	t_env_teardown(&env);
}

/* A job row at explicit times; returns its id. */
static int64_t
job(const char *type, const char *queue, const char *bot_name,
    const char *payload, const char *state, int64_t run_at,
    int64_t lease_until, int64_t finished_at)
{
	char bot_sql[80], lease[32], fin[32];

	snprintf(bot_sql, sizeof(bot_sql), bot_name != NULL ? "'%s'" : "NULL",
	    bot_name);
	snprintf(lease, sizeof(lease), lease_until ? "%lld" : "NULL",
	    (long long)lease_until);
	snprintf(fin, sizeof(fin), finished_at ? "%lld" : "NULL",
	    (long long)finished_at);
	t_exec(&env.db, "INSERT INTO jobs (type, queue, bot, payload, state,"
	    " run_at, lease_until, worker, finished_at, created_at) VALUES"
	    " ('%s', '%s', %s, '%s', '%s', %lld, %s, %s, %s, %lld)", type,
	    queue, bot_sql, payload, state, (long long)run_at, lease,
	    strcmp(state, "running") == 0 ? "'w1'" : "NULL", fin,
	    (long long)(NOW - HOUR_MS));
	return t_sql_int(&env.db, "SELECT max(id) FROM jobs");
}

static void
worker_row(const char *id, int64_t heartbeat)
{
	t_exec(&env.db, "INSERT INTO workers (id, pid, host, started_at,"
	    " heartbeat_at) VALUES ('%s', 1, 'h', 0, %lld)", id,
	    (long long)heartbeat);
}

static json_int_t
ival(const json_t *doc, const char *path)
{
	const json_t *v = doc;
	char key[64], *dot;
	const char *p = path;

	while (v != NULL && *p != '\0') {
		strlcpy(key, p, sizeof(key));
		if ((dot = strchr(key, '.')) != NULL)
			*dot = '\0';
		v = json_object_get(v, key);
		p += strlen(key);
		if (*p == '.')
			p++;
	}
	ck_assert_msg(json_is_integer(v), "'%s' is not an integer", path);
	return json_integer_value(v);
}

static const char *
sval(const json_t *doc, const char *key)
{
	const json_t *v = json_object_get(doc, key);

	ck_assert_msg(json_is_string(v), "'%s' is not a string", key);
	return json_string_value(v);
}

/* ---- report_queue ---- */

START_TEST(queue_counts)
{
	json_t *doc;
	int64_t oldest;
	char at[CLOCK_RFC3339_LEN];

	oldest = job("noop", "default", NULL, "{}", "queued", NOW - 10 * MIN_MS,
	    0, 0);
	job("noop", "default", NULL, "{}", "queued", NOW, 0, 0);  /* due now */
	job("backup", "maint", NULL, "{}", "queued", NOW + MIN_MS, 0, 0);
	job("backup", "maint", NULL, "{}", "queued", NOW + HOUR_MS, 0, 0);
	job("noop", "default", NULL, "{}", "running", NOW - MIN_MS, NOW - 1, 0);
	job("noop", "other", NULL, "{}", "running", NOW - MIN_MS, NOW + MIN_MS,
	    0);
	job("noop", "default", NULL, "{}", "succeeded", 0, 0, NOW - MIN_MS);
	job("send", "default", "anna", "{}", "dead", 0, 0, NOW - MIN_MS);
	job("noop", "default", NULL, "{}", "cancelled", 0, 0, NOW - MIN_MS);
	job("noop", "finished", NULL, "{}", "succeeded", 0, 0, NOW - MIN_MS);
	worker_row("w1", NOW);
	worker_row("w2", NOW - HOUR_MS);

	doc = report_queue(&env.db, NOW);
	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(ival(doc, "total"), 10);
	ck_assert_int_eq(ival(doc, "queued"), 4);
	ck_assert_int_eq(ival(doc, "due"), 2);
	ck_assert_int_eq(ival(doc, "scheduled"), 2);
	ck_assert_int_eq(ival(doc, "running"), 2);
	ck_assert_int_eq(ival(doc, "succeeded"), 2);
	ck_assert_int_eq(ival(doc, "dead"), 1);
	ck_assert_int_eq(ival(doc, "cancelled"), 1);
	ck_assert_int_eq(ival(doc, "lease_expired"), 1);
	ck_assert_int_eq(ival(doc, "workers"), 2);
	ck_assert_int_eq(ival(doc, "oldest_due_id"), oldest);
	ck_assert_str_eq(sval(doc, "oldest_due_type"), "noop");
	ck_assert_int_eq(ival(doc, "oldest_due_age_ms"), 10 * MIN_MS);
	ck_assert_str_eq(sval(doc, "oldest_due_at"), clock_format(NOW -
	    10 * MIN_MS, at, sizeof(at)));
	ck_assert_str_eq(sval(doc, "next_scheduled_at"), clock_format(NOW +
	    MIN_MS, at, sizeof(at)));
	ck_assert_str_eq(sval(doc, "generated_at"), clock_format(NOW, at,
	    sizeof(at)));

	ck_assert_int_eq(ival(doc, "by_type.noop.total"), 7);
	ck_assert_int_eq(ival(doc, "by_type.noop.due"), 2);
	ck_assert_int_eq(ival(doc, "by_type.noop.running"), 2);
	ck_assert_int_eq(ival(doc, "by_type.backup.scheduled"), 2);
	ck_assert_int_eq(ival(doc, "by_type.backup.queued"), 2);
	ck_assert_int_eq(ival(doc, "by_type.send.dead"), 1);
	ck_assert_int_eq(ival(doc, "by_queue.default.due"), 2);
	ck_assert_int_eq(ival(doc, "by_queue.default.running"), 1);
	ck_assert_int_eq(ival(doc, "by_queue.maint.scheduled"), 2);
	ck_assert_int_eq(ival(doc, "by_queue.other.running"), 1);
	/* A queue with finished jobs only has none live: not listed. */
	ck_assert_ptr_null(json_object_get(json_object_get(doc, "by_queue"),
	    "finished"));
	ck_assert_uint_eq(json_object_size(json_object_get(doc, "by_queue")),
	    3);
	json_decref(doc);
}
END_TEST

START_TEST(queue_empty)
{
	json_t *doc = report_queue(&env.db, NOW);

	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(ival(doc, "total"), 0);
	ck_assert_int_eq(ival(doc, "due"), 0);
	ck_assert(json_is_null(json_object_get(doc, "oldest_due_id")));
	ck_assert(json_is_null(json_object_get(doc, "oldest_due_age_ms")));
	ck_assert(json_is_null(json_object_get(doc, "next_scheduled_at")));
	ck_assert_int_eq(json_object_size(json_object_get(doc, "by_type")), 0);
	json_decref(doc);
}
END_TEST

/* ---- report_jobs ---- */

/* The ids report_jobs returns for f, as "3 2 1". */
static void
job_ids(const struct report_jobs_filter *f, char *out, size_t len,
    int *truncated)
{
	json_t *doc = report_jobs(&env.db, f, NOW), *j;
	char num[24];
	size_t i;

	ck_assert_ptr_nonnull(doc);
	out[0] = '\0';
	json_array_foreach(json_object_get(doc, "jobs"), i, j) {
		snprintf(num, sizeof(num), "%s%lld", i ? " " : "",
		    (long long)json_integer_value(json_object_get(j, "id")));
		strlcat(out, num, len);
	}
	if (truncated != NULL)
		*truncated = json_is_true(json_object_get(doc, "truncated"));
	json_decref(doc);
}

START_TEST(jobs_filters)
{
	struct report_jobs_filter f;
	char ids[128];
	int64_t c;
	int trunc;
	struct store_contact_in in;
	int created;

	memset(&in, 0, sizeof(in));
	in.bot = "anna";
	in.platform_id = "p1";
	ck_assert_int_eq(store_contact_upsert(&env.db, &in, &c, &created), 0);
	ck_assert_int_eq(c, 1);
	job("noop", "default", NULL, "{}", "queued", NOW, 0, 0);	/* 1 */
	job("respond", "chat", "anna", "{\"contact\":1}", "queued", NOW, 0,
	    0);								/* 2 */
	job("respond", "chat", "anna", "{\"contact\":2}", "dead", NOW, 0,
	    NOW);							/* 3 */
	job("initiate", "chat", "bert", "{\"contact\":1}", "succeeded", NOW, 0,
	    NOW);							/* 4 */
	job("noop", "slow", NULL, "{}", "running", NOW, NOW + MIN_MS, 0); /* 5 */

	memset(&f, 0, sizeof(f));
	job_ids(&f, ids, sizeof(ids), &trunc);
	ck_assert_str_eq(ids, "5 4 3 2 1");
	ck_assert_int_eq(trunc, 0);
	f.state = "queued";
	job_ids(&f, ids, sizeof(ids), NULL);
	ck_assert_str_eq(ids, "2 1");
	f.state = NULL;
	f.type = "respond";
	job_ids(&f, ids, sizeof(ids), NULL);
	ck_assert_str_eq(ids, "3 2");
	f.type = NULL;
	f.queue = "slow";
	job_ids(&f, ids, sizeof(ids), NULL);
	ck_assert_str_eq(ids, "5");
	f.queue = NULL;
	f.bot = "anna";
	job_ids(&f, ids, sizeof(ids), NULL);
	ck_assert_str_eq(ids, "3 2");
	f.bot = NULL;
	f.contact = c;
	job_ids(&f, ids, sizeof(ids), NULL);
	ck_assert_str_eq(ids, "4 2");
	f.bot = "anna";
	job_ids(&f, ids, sizeof(ids), NULL);
	ck_assert_str_eq(ids, "2");
	memset(&f, 0, sizeof(f));
	f.limit = 2;
	job_ids(&f, ids, sizeof(ids), &trunc);
	ck_assert_str_eq(ids, "5 4");
	ck_assert_int_eq(trunc, 1);
	f.limit = 5;
	job_ids(&f, ids, sizeof(ids), &trunc);
	ck_assert_int_eq(trunc, 0);
}
END_TEST

START_TEST(jobs_rows_and_errors)
{
	struct report_jobs_filter f;
	struct t_capture cap;
	json_t *doc, *j;
	int64_t id;

	id = job("send", "chat", "anna", "{}", "dead", NOW, 0, NOW);
	t_exec(&env.db, "UPDATE jobs SET attempts = 3, max_attempts = 3,"
	    " unique_key = 'u', errors = '[{\"attempt\":1,\"error\":\"first\"},"
	    "{\"attempt\":3,\"error\":\"last one\"}]' WHERE id = %lld",
	    (long long)id);
	memset(&f, 0, sizeof(f));
	doc = report_jobs(&env.db, &f, NOW);
	ck_assert_ptr_nonnull(doc);
	j = json_array_get(json_object_get(doc, "jobs"), 0);
	ck_assert_str_eq(sval(j, "type"), "send");
	ck_assert_str_eq(sval(j, "bot"), "anna");
	ck_assert_str_eq(sval(j, "state"), "dead");
	ck_assert_str_eq(sval(j, "unique_key"), "u");
	ck_assert_str_eq(sval(j, "last_error"), "last one");
	ck_assert_int_eq(ival(j, "attempts"), 3);
	ck_assert(json_is_null(json_object_get(j, "worker")));
	json_decref(doc);

	/* An unknown state is an error, not an empty list. */
	f.state = "finished";
	t_stderr_begin(&cap);
	doc = report_jobs(&env.db, &f, NOW);
	free(t_stderr_end(&cap));
	ck_assert_ptr_null(doc);
}
END_TEST

/* ---- report_health ---- */

/* The check named name in doc. */
static const json_t *
check_of(const json_t *doc, const char *name)
{
	const json_t *c;
	size_t i;

	json_array_foreach(json_object_get(doc, "checks"), i, c)
		if (strcmp(sval(c, "check"), name) == 0)
			return c;
	ck_abort_msg("no check '%s'", name);
	return NULL;
}

static int
ok_of(const json_t *doc, const char *name)
{
	return json_is_true(json_object_get(check_of(doc, name), "ok"));
}

static json_t *
health(int64_t max_due, int64_t max_hb, int max_dead)
{
	struct report_health_opts o;
	json_t *doc;

	o.max_due_age_ms = max_due;
	o.max_heartbeat_age_ms = max_hb;
	o.max_dead_per_hour = max_dead;
	doc = report_health(&env.db, &env.cfg, &o, NOW);
	ck_assert_ptr_nonnull(doc);
	return doc;
}

START_TEST(health_quiet_database)
{
	json_t *doc = health(0, 0, -1);
	const char *order[] = { "due_age", "workers", "dead_rate",
	    "lease_expired" };
	size_t i;

	ck_assert(json_is_true(json_object_get(doc, "healthy")));
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "checks")), 4);
	for (i = 0; i < 4; i++)
		ck_assert_str_eq(sval(json_array_get(json_object_get(doc,
		    "checks"), i), "check"), order[i]);
	json_decref(doc);
}
END_TEST

START_TEST(health_due_age)
{
	json_t *doc;

	worker_row("w1", NOW);	/* a live worker: only due_age fails */
	job("noop", "default", NULL, "{}", "queued", NOW - 10 * MIN_MS, 0, 0);
	doc = health(0, 0, -1);	/* the built-in 5 minutes */
	ck_assert(!ok_of(doc, "due_age"));
	ck_assert(json_is_false(json_object_get(doc, "healthy")));
	ck_assert_int_eq(ival(check_of(doc, "due_age"), "value"), 10 * MIN_MS);
	ck_assert_int_eq(ival(check_of(doc, "due_age"), "threshold"),
	    REPORT_MAX_DUE_AGE_MS);
	ck_assert(ok_of(doc, "workers"));
	json_decref(doc);
	/* The configuration's threshold ... */
	env.cfg.health.max_due_age_ms = 20 * MIN_MS;
	doc = health(0, 0, -1);
	ck_assert(ok_of(doc, "due_age"));
	ck_assert(json_is_true(json_object_get(doc, "healthy")));
	json_decref(doc);
	/* ... and the caller's over it. */
	doc = health(5 * MIN_MS, 0, -1);
	ck_assert(!ok_of(doc, "due_age"));
	json_decref(doc);
}
END_TEST

START_TEST(health_workers)
{
	json_t *doc;
	int64_t hb = report_heartbeat_max_ms(&env.cfg);

	ck_assert_int_ge(hb, 30000);
	worker_row("w1", NOW - hb - 1);
	doc = health(0, 0, -1);
	ck_assert(!ok_of(doc, "workers"));
	ck_assert_int_eq(ival(check_of(doc, "workers"), "value"), 0);
	json_decref(doc);
	worker_row("w2", NOW - hb);
	doc = health(0, 0, -1);
	ck_assert(ok_of(doc, "workers"));
	ck_assert_int_eq(ival(check_of(doc, "workers"), "value"), 1);
	json_decref(doc);
	/* A configured heartbeat age counts instead. */
	env.cfg.health.max_heartbeat_age_ms = 10000;
	doc = health(0, 0, -1);
	ck_assert(!ok_of(doc, "workers"));
	json_decref(doc);

	/* No worker at all while jobs wait longer than that: fails. */
	t_exec(&env.db, "DELETE FROM workers");
	doc = health(HOUR_MS, 0, -1);
	ck_assert(ok_of(doc, "workers"));
	json_decref(doc);
	job("noop", "default", NULL, "{}", "queued", NOW - MIN_MS, 0, 0);
	doc = health(HOUR_MS, 0, -1);
	ck_assert(!ok_of(doc, "workers"));
	ck_assert(ok_of(doc, "due_age"));
	json_decref(doc);
}
END_TEST

START_TEST(health_dead_rate)
{
	json_t *doc;
	int i;

	for (i = 0; i < 3; i++)
		job("noop", "default", NULL, "{}", "dead", 0, 0, NOW - MIN_MS);
	job("noop", "default", NULL, "{}", "dead", 0, 0, NOW - 2 * HOUR_MS);
	doc = health(0, 0, -1);		/* 10 an hour */
	ck_assert(ok_of(doc, "dead_rate"));
	ck_assert_int_eq(ival(check_of(doc, "dead_rate"), "value"), 3);
	json_decref(doc);
	env.cfg.health.max_dead_per_hour = 2;
	doc = health(0, 0, -1);
	ck_assert(!ok_of(doc, "dead_rate"));
	ck_assert_int_eq(ival(check_of(doc, "dead_rate"), "threshold"), 2);
	json_decref(doc);
	doc = health(0, 0, 3);		/* the caller's: 3 is not above 3 */
	ck_assert(ok_of(doc, "dead_rate"));
	json_decref(doc);
	doc = health(0, 0, 0);		/* 0 is a threshold, not "default" */
	ck_assert(!ok_of(doc, "dead_rate"));
	json_decref(doc);
}
END_TEST

START_TEST(health_lease_expired)
{
	json_t *doc;
	int64_t hb = report_heartbeat_max_ms(&env.cfg);

	worker_row("w1", NOW);
	/* Ran out a moment ago: a live tree will reclaim it. */
	job("noop", "default", NULL, "{}", "running", NOW - HOUR_MS, NOW - 1, 0);
	doc = health(0, 0, -1);
	ck_assert(ok_of(doc, "lease_expired"));
	json_decref(doc);
	job("noop", "default", NULL, "{}", "running", NOW - HOUR_MS,
	    NOW - hb - 1, 0);
	doc = health(0, 0, -1);
	ck_assert(!ok_of(doc, "lease_expired"));
	ck_assert_int_eq(ival(check_of(doc, "lease_expired"), "value"), 1);
	ck_assert(json_is_false(json_object_get(doc, "healthy")));
	json_decref(doc);
	/* A longer heartbeat age lets it be. */
	doc = health(0, 2 * hb, -1);
	ck_assert(ok_of(doc, "lease_expired"));
	json_decref(doc);
}
END_TEST

START_TEST(health_budget)
{
	struct store_metrics m;
	char day[16];
	json_t *doc;

	doc = health(0, 0, -1);		/* no budget: no check */
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "checks")), 4);
	json_decref(doc);
	bot.policy.daily_budget_usd = 1.0;
	memset(&m, 0, sizeof(m));
	m.cost_usd = 0.75;
	ck_assert_int_eq(store_metrics_add(&env.db, "anna", policy_day(NOW,
	    day, sizeof(day)), &m), 0);
	doc = health(0, 0, -1);
	ck_assert(ok_of(doc, "budget:anna"));
	json_decref(doc);
	m.cost_usd = 0.25;	/* reaching the budget fails */
	ck_assert_int_eq(store_metrics_add(&env.db, "anna", day, &m), 0);
	doc = health(0, 0, -1);
	ck_assert(!ok_of(doc, "budget:anna"));
	ck_assert(json_is_false(json_object_get(doc, "healthy")));
	json_decref(doc);
	/* Yesterday's spending is yesterday's. */
	doc = report_health(&env.db, &env.cfg, &(struct report_health_opts){
	    0, 0, -1 }, NOW + 24 * HOUR_MS);
	ck_assert(ok_of(doc, "budget:anna"));
	json_decref(doc);
}
END_TEST

/* ---- report_conversation ---- */

static int64_t
inbound(const char *text, int64_t at, int64_t *msg)
{
	struct store_inbound in;
	int64_t c;
	int dup;

	memset(&in, 0, sizeof(in));
	in.bot = "anna";
	in.platform_id = "p1";
	in.text = text;
	in.at = at;
	ck_assert_int_eq(store_inbound_add(&env.db, &in, &c, msg, &dup), 0);
	return c;
}

static json_t *
conversation(int64_t c)
{
	json_t *doc = NULL;

	ck_assert_int_eq(report_conversation(&env.db, c, NOW, &doc),
	    REPORT_FOUND);
	ck_assert_ptr_nonnull(doc);
	return doc;
}

START_TEST(conversation_not_found)
{
	json_t *doc = NULL;

	ck_assert_int_eq(report_conversation(&env.db, 99, NOW, &doc),
	    REPORT_NOT_FOUND);
	ck_assert_ptr_null(doc);
}
END_TEST

START_TEST(conversation_transcript)
{
	struct store_out o;
	int64_t c, m, out_id;
	json_t *doc, *msgs;

	c = inbound("hi there", NOW - HOUR_MS, &m);
	memset(&o, 0, sizeof(o));
	o.contact = c;
	o.bot = "anna";
	o.kind = "reply";
	o.text = "hello!";
	o.status = "draft";
	ck_assert_int_eq(store_out_add(&env.db, &o, &out_id), 0);
	doc = conversation(c);
	msgs = json_object_get(doc, "messages");
	ck_assert_uint_eq(json_array_size(msgs), 2);
	ck_assert_str_eq(sval(json_array_get(msgs, 0), "direction"), "in");
	ck_assert_str_eq(sval(json_array_get(msgs, 0), "text"), "hi there");
	ck_assert_str_eq(sval(json_array_get(msgs, 1), "mark"), "DRAFT");
	ck_assert_str_eq(sval(json_object_get(doc, "contact"), "platform_id"),
	    "p1");
	json_decref(doc);
}
END_TEST

/* The "why" of doc's "waiting" object. */
static const char *
why_of(const json_t *doc)
{
	const json_t *w = json_object_get(doc, "waiting");

	ck_assert_msg(json_is_object(w), "waiting is not an object");
	return sval(w, "why");
}

/*
 * Why the message is unanswered, for each kind of reply job in the way.
 * The contact row is set up as tests/t_report.sh does (unanswered = 1
 * after the inbound message): see conversation_waiting_after_inbound.
 */
START_TEST(conversation_waiting)
{
	char want[160];
	int64_t c, m, j;
	json_t *doc;

	c = inbound("are you there?", NOW - HOUR_MS, &m);
	t_exec(&env.db, "UPDATE contacts SET unanswered = 1");
	j = job("respond", "default", "anna", "{\"contact\":1}", "queued",
	    NOW - MIN_MS, 0, 0);
	t_exec(&env.db, "UPDATE jobs SET created_at = %lld", NOW - HOUR_MS);
	doc = conversation(c);
	snprintf(want, sizeof(want), "respond job %lld is due, waiting for a"
	    " worker", (long long)j);
	ck_assert_str_eq(why_of(doc), want);
	ck_assert_str_eq(sval(json_object_get(doc, "waiting"), "state"),
	    "queued");
	json_decref(doc);

	t_exec(&env.db, "UPDATE jobs SET run_at = %lld", NOW + HOUR_MS);
	doc = conversation(c);
	snprintf(want, sizeof(want), "respond job %lld waits until"
	    " 2026-11-25T21:15:00", (long long)j);
	ck_assert_msg(strncmp(why_of(doc), want, strlen(want)) == 0, "%s",
	    why_of(doc));
	json_decref(doc);

	t_exec(&env.db, "UPDATE jobs SET state = 'dead', attempts = 3,"
	    " max_attempts = 3, errors = '[{\"error\": \"llm: 401\"}]'");
	doc = conversation(c);
	snprintf(want, sizeof(want), "respond job %lld is dead after 3 of 3"
	    " attempts: llm: 401", (long long)j);
	ck_assert_str_eq(why_of(doc), want);
	ck_assert_str_eq(sval(json_object_get(doc, "waiting"), "error"),
	    "llm: 401");
	json_decref(doc);

	/* A job of before the last inbound message is not in the way. */
	t_exec(&env.db, "UPDATE jobs SET created_at = %lld", NOW - 2 *
	    HOUR_MS);
	doc = conversation(c);
	ck_assert_ptr_nonnull(strstr(why_of(doc), "no reply job is queued"));
	json_decref(doc);
}
END_TEST

/*
 * The same through the store as it really happens: store_inbound_add
 * sets unanswered = 0 ("outbound since the last inbound"), and
 * conv_waiting returns null for unanswered == 0, so a contact whose
 * message waited for a dead respond job showed nothing waiting: the
 * view now asks whether a reply was sent after the last message.
 */
START_TEST(conversation_waiting_after_inbound)
{
	int64_t c, m;
	json_t *doc;

	c = inbound("are you there?", NOW - HOUR_MS, &m);
	job("respond", "default", "anna", "{\"contact\":1}", "dead", NOW, 0,
	    NOW);
	doc = conversation(c);
	ck_assert_ptr_nonnull(strstr(why_of(doc), "is dead after"));
	json_decref(doc);
}
END_TEST
/*
 * An answered conversation: our reply went out, so the contact row has
 * unanswered = 1 (as store_msg_sent leaves it), and "waiting" should be
 * null. Fails today: it says "no reply job is queued for it".
 */
START_TEST(conversation_answered)
{
	int64_t c, m;
	json_t *doc;

	c = inbound("hi", NOW - HOUR_MS, &m);
	t_exec(&env.db, "INSERT INTO messages (contact, bot, direction, kind,"
	    " text, status, created_at, sent_at) VALUES (%lld, 'anna', 'out',"
	    " 'reply', 'hello', 'sent', %lld, %lld)", (long long)c,
	    (long long)(NOW - MIN_MS), (long long)(NOW - MIN_MS));
	t_exec(&env.db, "UPDATE contacts SET unanswered = 1,"
	    " last_outbound_at = %lld", (long long)(NOW - MIN_MS));
	doc = conversation(c);
	/* Our reply went out: nothing is waiting for us. */
	ck_assert_msg(json_is_null(json_object_get(doc, "waiting")),
	    "answered, yet waiting: %s", why_of(doc));
	json_decref(doc);
}
END_TEST

Suite *
suite_report(void)
{
	Suite *s = suite_create("report");
	TCase *tc;

	tc = t_tcase("queue");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, queue_counts);
	tcase_add_test(tc, queue_empty);
	suite_add_tcase(s, tc);

	tc = t_tcase("jobs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, jobs_filters);
	tcase_add_test(tc, jobs_rows_and_errors);
	suite_add_tcase(s, tc);

	tc = t_tcase("health");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, health_quiet_database);
	tcase_add_test(tc, health_due_age);
	tcase_add_test(tc, health_workers);
	tcase_add_test(tc, health_dead_rate);
	tcase_add_test(tc, health_lease_expired);
	tcase_add_test(tc, health_budget);
	suite_add_tcase(s, tc);

	tc = t_tcase("conversation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, conversation_not_found);
	tcase_add_test(tc, conversation_transcript);
	tcase_add_test(tc, conversation_waiting);
	tcase_add_test(tc, conversation_answered);
	tcase_add_test(tc, conversation_waiting_after_inbound);
	suite_add_tcase(s, tc);
	return s;
}
