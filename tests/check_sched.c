/*
 * check_sched: what dater-scheduler enqueues each run (lib/sched.c),
 * every run at an explicit time: a schedule fires once per slot however
 * often it runs; a schedule seen for the first time fires only in its
 * slot's minute; after downtime a missed schedule fires once, for its
 * latest slot; its job carries the schedule's payload, priority and
 * queue; slots follow scheduler.timezone; a dry run lists and writes
 * nothing; sched_check refuses a bad cron expression, an unknown job
 * type and a payload its type rejects. The domain's work: openers for
 * consenting new contacts within the bot's daily cap (per UTC day),
 * follow-ups for conversations quiet for followup_after (not past the
 * loop guard, not past the horizon unless it is 0, not with a reply
 * pending), each once while queued, and
 * neither when the scheduler has it switched off.
 */
#include <stdlib.h>
#include <string.h>

#include "check_dater.h"
#include "../jobs/jobs.h"
#include "../lib/policy.h"
#include "../lib/queue.h"
#include "../lib/sched.h"
#include "../lib/store.h"
#include "../lib/banned.h"

#define S_MS(s) ((int64_t)(s) * 1000)
#define HOUR_MS (3600LL * 1000)
#define DAY_MS (86400LL * 1000)

/* 2026-11-25T10:00:20Z and friends, as unix seconds. */
#define T_1000_20 1795600820LL
#define T_1000_50 1795600850LL
#define T_1001_05 1795600865LL
#define T_1300_00 1795611600LL
#define T_1307_00 1795612020LL
#define T_0215_10_NEXT 1795659310LL	/* 2026-11-26T02:15:10Z */
#define T_0315_30_NEXT 1795662930LL	/* 2026-11-26T03:15:30Z */

static struct t_env env;
static struct cfg_schedule scheds[4];
static struct cfg_bot bot;

static void
setup(void)
{
	t_env_setup(&env);
	memset(scheds, 0, sizeof(scheds));
	memset(&bot, 0, sizeof(bot));
	env.cfg.sched_initiate = 0;
	env.cfg.sched_followup = 0;
}

static void
teardown(void)
{
	/* The arrays are this file's, not the cfg's to free. */
	env.cfg.schedules = NULL;
	env.cfg.nschedules = 0;
	env.cfg.bots = NULL;
	env.cfg.nbots = 0;
	t_env_teardown(&env);
}

static void
add_schedule(const char *name, const char *cron, const char *job,
    const char *payload, int priority)
{
	struct cfg_schedule *s = &scheds[env.cfg.nschedules];

	ck_assert_int_lt(env.cfg.nschedules, 4);
	strlcpy(s->name, name, sizeof(s->name));
	strlcpy(s->cron, cron, sizeof(s->cron));
	strlcpy(s->job, job, sizeof(s->job));
	strlcpy(s->payload, payload != NULL ? payload : "{}",
	    sizeof(s->payload));
	s->priority = priority;
	env.cfg.schedules = scheds;
	env.cfg.nschedules++;
}

/* The three schedules of t_scheduler.sh. */
static void
three_schedules(void)
{
	add_schedule("every-minute", "* * * * *", "noop", NULL, -1);
	add_schedule("nightly", "15 3 * * *", "noop", "{\"sleep_ms\": 1}", 7);
	add_schedule("quarterly", "*/15 * * * *", "noop", NULL, -1);
}

static struct sched_report
run_at(int64_t now_s)
{
	struct sched_report r;
	struct t_capture cap;
	int rc;

	memset(&r, 0xff, sizeof(r));
	t_stderr_begin(&cap);	/* "schedule 'x': enqueued" */
	rc = sched_run(&env.db, &env.cfg, S_MS(now_s), 0, NULL, &r);
	free(t_stderr_end(&cap));
	ck_assert_int_eq(rc, 0);
	return r;
}

static int64_t
per(const char *name)
{
	return t_sql_int(&env.db, "SELECT count(*) FROM jobs WHERE"
	    " unique_key LIKE 'schedule:%s:%%'", name);
}

static int64_t
count_jobs(const char *where)
{
	return t_sql_int(&env.db, "SELECT count(*) FROM jobs WHERE %s", where);
}

START_TEST(first_sight_fires_only_this_minute)
{
	struct sched_report r;

	three_schedules();
	r = run_at(T_1000_20);
	ck_assert_int_eq(r.fired, 2);
	ck_assert_int_eq(per("every-minute"), 1);
	ck_assert_int_eq(per("quarterly"), 1);
	ck_assert_int_eq(per("nightly"), 0);
	/* The job's unique key names the slot, the minute's start. */
	ck_assert_int_eq(count_jobs("unique_key = 'schedule:every-minute:"
	    "1795600800' AND type = 'noop' AND state = 'queued'"), 1);
	/* The nightly one's state is recorded, so it waits for 03:15. */
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM kv WHERE"
	    " key = 'schedule.nightly'"), 1);
}
END_TEST

START_TEST(once_per_slot)
{
	struct sched_report r;

	three_schedules();
	run_at(T_1000_20);
	r = run_at(T_1000_50);
	ck_assert_int_eq(r.fired, 0);
	ck_assert_int_eq(per("every-minute"), 1);
	ck_assert_int_eq(per("quarterly"), 1);
	r = run_at(T_1000_50);
	ck_assert_int_eq(r.fired, 0);
	r = run_at(T_1001_05);
	ck_assert_int_eq(r.fired, 1);
	ck_assert_int_eq(per("every-minute"), 2);
	ck_assert_int_eq(per("quarterly"), 1);
	/* Once the slot's job has run, the slot still does not fire again. */
	t_exec(&env.db, "UPDATE jobs SET state = 'succeeded'");
	r = run_at(T_1001_05);
	ck_assert_int_eq(r.fired, 0);
	ck_assert_int_eq(count_jobs("1 = 1"), 3);
}
END_TEST

START_TEST(missed_slots_fire_once)
{
	struct sched_report r;

	three_schedules();
	run_at(T_1000_20);
	r = run_at(T_1307_00);
	ck_assert_int_eq(r.fired, 2);
	ck_assert_int_eq(per("every-minute"), 2);
	ck_assert_int_eq(per("quarterly"), 2);
	ck_assert_int_eq(per("nightly"), 0);
	/* ... for the latest slot missed, not the first. */
	ck_assert_int_eq(count_jobs("unique_key = 'schedule:quarterly:"
	    "1795611600'"), 1);
	ck_assert_int_eq(count_jobs("unique_key = 'schedule:every-minute:"
	    "1795612020'"), 1);
}
END_TEST

START_TEST(job_has_schedule_settings)
{
	char buf[64];
	struct sched_report r;

	three_schedules();
	strlcpy(scheds[1].queue, "night", sizeof(scheds[1].queue));
	run_at(T_1000_20);
	r = run_at(T_0315_30_NEXT);
	ck_assert_int_eq(r.fired, 3);	/* 03:15 is a quarter hour too */
	ck_assert_int_eq(per("nightly"), 1);
	t_sql_text(&env.db, buf, sizeof(buf), "SELECT priority || ' ' ||"
	    " queue || ' ' || json_extract(payload, '$.sleep_ms') FROM jobs"
	    " WHERE unique_key LIKE 'schedule:nightly:%%'");
	ck_assert_str_eq(buf, "7 night 1");
	/* Without its own, a schedule's job takes the type's defaults. */
	t_sql_text(&env.db, buf, sizeof(buf), "SELECT queue FROM jobs WHERE"
	    " unique_key LIKE 'schedule:every-minute:%%' LIMIT 1");
	ck_assert_str_eq(buf, "default");
}
END_TEST

START_TEST(timezone_sets_the_slots)
{
	struct sched_report r;

	add_schedule("nightly", "15 3 * * *", "noop", NULL, -1);
	strlcpy(env.cfg.sched_timezone, "Europe/Berlin",
	    sizeof(env.cfg.sched_timezone));
	run_at(T_1000_20);
	/* 03:15 in Berlin (UTC+1 in November) is 02:15 UTC. */
	r = run_at(T_0215_10_NEXT);
	ck_assert_int_eq(r.fired, 1);
	ck_assert_int_eq(per("nightly"), 1);
	r = run_at(T_0315_30_NEXT);
	ck_assert_int_eq(r.fired, 0);
	ck_assert_int_eq(per("nightly"), 1);
}
END_TEST

START_TEST(dry_run_writes_nothing)
{
	struct sched_report r;
	char *out;
	size_t len = 0;
	FILE *f;

	three_schedules();
	f = open_memstream(&out, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(sched_run(&env.db, &env.cfg, S_MS(T_1000_20), 1, f,
	    &r), 0);
	fclose(f);
	ck_assert_int_eq(r.fired, 2);
	ck_assert_ptr_nonnull(strstr(out, "would enqueue noop"));
	ck_assert_ptr_nonnull(strstr(out, "'every-minute'"));
	ck_assert_ptr_nonnull(strstr(out, "'quarterly'"));
	ck_assert_ptr_null(strstr(out, "'nightly'"));
	free(out);
	ck_assert_int_eq(count_jobs("1 = 1"), 0);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM kv WHERE"
	    " key LIKE 'schedule.%%'"), 0);
	/* A dry run does not use up the slot: a real run still fires. */
	r = run_at(T_1000_50);
	ck_assert_int_eq(r.fired, 2);
	ck_assert_int_eq(count_jobs("1 = 1"), 2);
	/* With out NULL it is just quiet. */
	ck_assert_int_eq(sched_run(&env.db, &env.cfg, S_MS(T_1001_05), 1,
	    NULL, &r), 0);
	ck_assert_int_eq(r.fired, 1);
	ck_assert_int_eq(count_jobs("1 = 1"), 2);
}
END_TEST

static int
check_quiet(char **text)
{
	struct t_capture cap;
	int rc;

	t_stderr_begin(&cap);
	rc = sched_check(&env.cfg, jobs_table);
	*text = t_stderr_end(&cap);
	return rc;
}

START_TEST(check_refuses_bad_schedules)
{
	char *text;

	three_schedules();
	ck_assert_int_eq(check_quiet(&text), 0);
	free(text);

	strlcpy(scheds[2].cron, "61 * * * *", sizeof(scheds[2].cron));
	ck_assert_int_eq(check_quiet(&text), -1);
	ck_assert_msg(strstr(text, "'quarterly'") != NULL, "%s", text);
	free(text);
	strlcpy(scheds[2].cron, "*/15 * * * *", sizeof(scheds[2].cron));

	strlcpy(scheds[0].job, "no-such-type", sizeof(scheds[0].job));
	ck_assert_int_eq(check_quiet(&text), -1);
	ck_assert_msg(strstr(text, "'every-minute'") != NULL &&
	    strstr(text, "no-such-type") != NULL, "%s", text);
	free(text);
	strlcpy(scheds[0].job, "noop", sizeof(scheds[0].job));

	/* The payload goes through the type's own check. */
	strlcpy(scheds[1].payload, "{\"sleep_ms\": \"long\"}",
	    sizeof(scheds[1].payload));
	ck_assert_int_eq(check_quiet(&text), -1);
	ck_assert_msg(strstr(text, "'nightly'") != NULL &&
	    strstr(text, "payload") != NULL, "%s", text);
	free(text);
}
END_TEST

START_TEST(run_refuses_bad_cron_and_writes_nothing)
{
	struct sched_report r;
	struct t_capture cap;
	int rc;

	add_schedule("every-minute", "* * * * *", "noop", NULL, -1);
	add_schedule("bad", "61 * * * *", "noop", NULL, -1);
	t_stderr_begin(&cap);
	rc = sched_run(&env.db, &env.cfg, S_MS(T_1000_20), 0, NULL, &r);
	free(t_stderr_end(&cap));
	ck_assert_int_eq(rc, -1);
	/* The good one before it is rolled back with the rest. */
	ck_assert_int_eq(count_jobs("1 = 1"), 0);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM kv"), 0);
}
END_TEST

/* ---- the domain's due work ---- */

static void
one_bot(void)
{
	strlcpy(bot.name, "anna", sizeof(bot.name));
	cfg_policy_defaults(&bot.policy);
	bot.policy.has_quiet = 0;
	bot.policy.max_initiations_per_day = 2;
	bot.policy.max_unanswered = 3;
	bot.policy.followup_after_ms = HOUR_MS;
	env.cfg.bots = &bot;
	env.cfg.nbots = 1;
}

static int64_t
contact(const char *bot_name, const char *pid, int consent)
{
	struct store_contact_in in;
	int64_t id;
	int created;

	memset(&in, 0, sizeof(in));
	in.bot = bot_name;
	in.platform_id = pid;
	in.consent = consent;
	ck_assert_int_eq(store_contact_upsert(&env.db, &in, &id, &created), 0);
	ck_assert_int_eq(created, 1);
	return id;
}

static int64_t
jobs_for(const char *type, int64_t contact_id)
{
	return t_sql_int(&env.db, "SELECT count(*) FROM jobs WHERE type = '%s'"
	    " AND CAST(json_extract(payload, '$.contact') AS INTEGER) = %lld"
	    " AND bot = 'anna' AND unique_key = '%s:%lld'", type, (long long)contact_id, type,
	    (long long)contact_id);
}

START_TEST(openers_within_daily_cap)
{
	struct sched_report r;
	struct store_metrics m;
	int64_t c1, c2, c3, no, other;
	char day[16];
	int64_t now = S_MS(T_1000_20);

	one_bot();
	env.cfg.sched_initiate = 1;
	c1 = contact("anna", "c1", 1);
	no = contact("anna", "nope", 0);
	c2 = contact("anna", "c2", 1);
	c3 = contact("anna", "c3", 1);
	other = contact("bert", "b1", 1);	/* no such bot configured */

	r = run_at(T_1000_20);
	ck_assert_int_eq(r.openers, 2);
	ck_assert_int_eq(r.followups, 0);
	ck_assert_int_eq(count_jobs("type = 'initiate'"), 2);
	/* Oldest first, within the cap; never without consent. */
	ck_assert_int_eq(jobs_for("initiate", c1), 1);
	ck_assert_int_eq(jobs_for("initiate", c2), 1);
	ck_assert_int_eq(jobs_for("initiate", c3), 0);
	ck_assert_int_eq(jobs_for("initiate", no), 0);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs WHERE"
	    " CAST(json_extract(payload, '$.contact') AS INTEGER) = %lld",
	    (long long)other), 0);

	/* Again while they are queued: no duplicates, and none counted. */
	r = run_at(T_1000_50);
	ck_assert_int_eq(count_jobs("type = 'initiate'"), 2);
	ck_assert_int_eq(r.openers, 0);

	/* Today's cap spent (the initiate handler counts it): no third. */
	t_exec(&env.db, "UPDATE jobs SET state = 'succeeded'");
	memset(&m, 0, sizeof(m));
	m.initiations = 2;
	ck_assert_int_eq(store_metrics_add(&env.db, "anna", policy_day(now,
	    day, sizeof(day)), &m), 0);
	r = run_at(T_1001_05);
	ck_assert_int_eq(r.openers, 0);
	ck_assert_int_eq(count_jobs("type = 'initiate'"), 2);

	/* The next UTC day has a fresh cap. c1 and c2 were written to by
	 * now (an outbound message): only c3 is still due. */
	t_exec(&env.db, "INSERT INTO messages (contact, bot, direction, kind,"
	    " text, status, created_at, sent_at) VALUES (%lld, 'anna', 'out',"
	    " 'opener', 'hi', 'sent', %lld, %lld), (%lld, 'anna', 'out',"
	    " 'opener', 'hi', 'sent', %lld, %lld)", (long long)c1,
	    (long long)now, (long long)now, (long long)c2, (long long)now,
	    (long long)now);
	r = run_at(T_1000_20 + 86400);
	ck_assert_int_eq(r.openers, 1);
	ck_assert_int_eq(jobs_for("initiate", c3), 1);
	ck_assert_int_eq(count_jobs("type = 'initiate'"), 3);
}
END_TEST

START_TEST(openers_off_by_config)
{
	struct sched_report r;

	one_bot();
	contact("anna", "c1", 1);
	r = run_at(T_1000_20);
	ck_assert_int_eq(r.openers, 0);
	ck_assert_int_eq(count_jobs("1 = 1"), 0);
}
END_TEST

/* A contact whose last message was ours, ago_ms before now. */
static int64_t
quiet_contact(const char *pid, int unanswered, int64_t now, int64_t ago_ms)
{
	int64_t id = contact("anna", pid, 1);

	t_exec(&env.db, "UPDATE contacts SET status = 'active', unanswered ="
	    " %d, last_inbound_at = %lld, last_outbound_at = %lld WHERE id ="
	    " %lld", unanswered, (long long)(now - ago_ms - HOUR_MS),
	    (long long)(now - ago_ms), (long long)id);
	t_exec(&env.db, "INSERT INTO messages (contact, bot, direction, kind,"
	    " text, status, created_at, sent_at) VALUES (%lld, 'anna', 'out',"
	    " 'message', 'hello?', 'sent', %lld, %lld)", (long long)id,
	    (long long)(now - ago_ms), (long long)(now - ago_ms));
	return id;
}

START_TEST(followups_for_quiet_conversations)
{
	struct sched_report r;
	int64_t now = S_MS(T_1000_20), quiet, recent, guard, old, pending;

	one_bot();
	env.cfg.sched_followup = 1;
	quiet = quiet_contact("quiet", 1, now, 2 * HOUR_MS);
	recent = quiet_contact("recent", 1, now, HOUR_MS / 2);
	guard = quiet_contact("guard", 3, now, 2 * HOUR_MS);	/* loop guard */
	old = quiet_contact("old", 1, now, 15 * DAY_MS);	/* horizon 14 d */
	pending = quiet_contact("pending", 1, now, 2 * HOUR_MS);
	t_exec(&env.db, "INSERT INTO messages (contact, bot, direction, kind,"
	    " text, status, created_at) VALUES (%lld, 'anna', 'out',"
	    " 'message', 'queued one', 'queued', %lld)", (long long)pending,
	    (long long)now);

	r = run_at(T_1000_20);
	ck_assert_int_eq(r.followups, 1);
	ck_assert_int_eq(r.openers, 0);
	ck_assert_int_eq(count_jobs("type = 'followup'"), 1);
	ck_assert_int_eq(jobs_for("followup", quiet), 1);
	ck_assert_int_eq(jobs_for("followup", recent), 0);
	ck_assert_int_eq(jobs_for("followup", guard), 0);
	ck_assert_int_eq(jobs_for("followup", old), 0);
	ck_assert_int_eq(jobs_for("followup", pending), 0);

	/* Once while queued. */
	run_at(T_1000_50);
	ck_assert_int_eq(count_jobs("type = 'followup'"), 1);

	/* An hour later the recent one is due too. */
	run_at(T_1000_20 + 3600);
	ck_assert_int_eq(jobs_for("followup", recent), 1);
	ck_assert_int_eq(count_jobs("type = 'followup'"), 2);
}
END_TEST

/* A reply stored in the same millisecond as the message it answers
 * (an instant LLM), or a platform clock ahead of ours: the dates tie or
 * cross, but unanswered says the last word was ours. */
START_TEST(followups_when_dates_tie)
{
	struct sched_report r;
	int64_t now = S_MS(T_1000_20), tie;

	one_bot();
	env.cfg.sched_followup = 1;
	tie = quiet_contact("tie", 1, now, 2 * HOUR_MS);
	t_exec(&env.db, "UPDATE contacts SET last_inbound_at ="
	    " last_outbound_at WHERE id = %lld", (long long)tie);
	r = run_at(T_1000_20);
	ck_assert_int_eq(r.followups, 1);
	ck_assert_int_eq(jobs_for("followup", tie), 1);
}
END_TEST

START_TEST(followups_off_by_config_or_guard)
{
	struct sched_report r;
	int64_t now = S_MS(T_1000_20);

	one_bot();
	quiet_contact("quiet", 1, now, 2 * HOUR_MS);
	r = run_at(T_1000_20);
	ck_assert_int_eq(r.followups, 0);
	ck_assert_int_eq(count_jobs("1 = 1"), 0);
	/* max_unanswered below 2 leaves no room for any follow-up. */
	env.cfg.sched_followup = 1;
	bot.policy.max_unanswered = 1;
	r = run_at(T_1000_20);
	ck_assert_int_eq(r.followups, 0);
	ck_assert_int_eq(count_jobs("1 = 1"), 0);
}
END_TEST

START_TEST(followup_horizon_and_cap_zero)
{
	struct sched_report r;
	int64_t now = S_MS(T_1000_20), old;

	one_bot();
	env.cfg.sched_initiate = 1;
	env.cfg.sched_followup = 1;
	bot.policy.max_initiations_per_day = 0;	/* no openers at all */
	contact("anna", "c1", 1);
	old = quiet_contact("old", 1, now, 30 * DAY_MS);
	r = run_at(T_1000_20);
	ck_assert_int_eq(r.openers, 0);
	ck_assert_int_eq(r.followups, 0);	/* past the 14-day horizon */
	ck_assert_int_eq(count_jobs("1 = 1"), 0);
	bot.policy.followup_horizon_ms = 0;	/* 0: no horizon */
	r = run_at(T_1000_20);
	ck_assert_int_eq(r.followups, 1);
	ck_assert_int_eq(jobs_for("followup", old), 1);
	ck_assert_int_eq(count_jobs("type = 'initiate'"), 0);
}
END_TEST

START_TEST(dry_run_lists_domain_work)
{
	struct sched_report r;
	char *out;
	size_t len = 0;
	FILE *f;
	int64_t now = S_MS(T_1000_20);

	one_bot();
	env.cfg.sched_initiate = 1;
	env.cfg.sched_followup = 1;
	contact("anna", "c1", 1);
	quiet_contact("quiet", 1, now, 2 * HOUR_MS);
	f = open_memstream(&out, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(sched_run(&env.db, &env.cfg, now, 1, f, &r), 0);
	fclose(f);
	ck_assert_int_eq(r.openers, 1);
	ck_assert_int_eq(r.followups, 1);
	ck_assert_ptr_nonnull(strstr(out, "would enqueue initiate"
	    " {\"contact\":1}"));
	ck_assert_ptr_nonnull(strstr(out, "would enqueue followup"
	    " {\"contact\":2}"));
	free(out);
	ck_assert_int_eq(count_jobs("1 = 1"), 0);
}
END_TEST

Suite *
suite_sched(void)
{
	Suite *s = suite_create("sched");
	TCase *tc;

	tc = t_tcase("schedules");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, first_sight_fires_only_this_minute);
	tcase_add_test(tc, once_per_slot);
	tcase_add_test(tc, missed_slots_fire_once);
	tcase_add_test(tc, job_has_schedule_settings);
	tcase_add_test(tc, timezone_sets_the_slots);
	tcase_add_test(tc, dry_run_writes_nothing);
	suite_add_tcase(s, tc);

	tc = t_tcase("check");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, check_refuses_bad_schedules);
	tcase_add_test(tc, run_refuses_bad_cron_and_writes_nothing);
	suite_add_tcase(s, tc);

	tc = t_tcase("domain");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, openers_within_daily_cap);
	tcase_add_test(tc, openers_off_by_config);
	tcase_add_test(tc, followups_for_quiet_conversations);
	tcase_add_test(tc, followups_when_dates_tie);
	tcase_add_test(tc, followups_off_by_config_or_guard);
	tcase_add_test(tc, followup_horizon_and_cap_zero);
	tcase_add_test(tc, dry_run_lists_domain_work);
	suite_add_tcase(s, tc);
	return s;
}
