/*
 * check_ctl: operator control through the ctl API on a fresh database
 * per test: a hold is seen by the gate, resume owes one reply per
 * contact and never two, takeover drops the bot's pending output and
 * keeps a person's, say and edit store what the operator wrote, forget
 * leaves nothing of the person, refusals change nothing (not even the
 * audit), and each bot's state says why.
 */
#include <stdlib.h>
#include <string.h>

#include "check_dater.h"
#include "../jobs/jobs.h"
#include "../lib/clock.h"
#include "../lib/ctl.h"
#include "../lib/queue.h"
#include "../lib/store.h"
#include "../lib/banned.h"

static struct t_env env;
static struct ctl ctl;
#define DB (&env.db)

static void
setup(void)
{
	char path[PATH_MAX];

	t_env_setup(&env);
	t_path(path, sizeof(path), env.dir, "dater.conf");
	t_write_file(path,
	    "llm = { provider = \"openai\"; base_url = \"http://127.0.0.1:9\";"
	    " model = \"m\"; api_key_env = \"DATER_TEST_NO_KEY\"; };\n"
	    /* No quiet hours: a bot's state must not depend on the hour
	     * the test runs at. */
	    "defaults = { quiet_hours = \"off\"; };\n"
	    "bots = ( { name = \"anna\"; persona = \"p\";"
	    " transport = { driver = \"console\"; }; },\n"
	    " { name = \"bob\"; persona = \"p\"; daily_budget_usd = 1.0;"
	    " transport = { driver = \"console\"; }; } );\n");
	ck_assert_int_eq(cfg_load(&env.cfg, path, jobs_names), 0);
	setenv("DATER_ACTOR", "ops-ann", 1);
	ck_assert_int_eq(ctl_init(&ctl, DB, &env.cfg), 0);
}

static void
teardown(void)
{
	t_env_teardown(&env);
}

static int64_t
inbound(const char *bot, const char *pid, const char *mid)
{
	struct store_inbound in;
	int64_t contact = 0, msg = 0;
	int dup = 0;

	memset(&in, 0, sizeof(in));
	in.bot = bot;
	in.platform_id = pid;
	in.message_id = mid;
	in.text = "hello there";
	ck_assert_int_eq(store_inbound_add(DB, &in, &contact, &msg, &dup), 0);
	return contact;
}

static int64_t
outbound(int64_t contact, const char *status)
{
	struct store_out o;
	int64_t id = 0;

	memset(&o, 0, sizeof(o));
	o.contact = contact;
	o.bot = "anna";
	o.kind = "reply";
	o.text = "a reply";
	o.status = status;
	ck_assert_int_eq(store_out_add(DB, &o, &id), 0);
	return id;
}

static int64_t
audits(void)
{
	return t_sql_int(DB, "SELECT count(*) FROM audit");
}

static int64_t
responds(void)
{
	return t_sql_int(DB, "SELECT count(*) FROM jobs WHERE type = 'respond'"
	    " AND state = 'queued'");
}

START_TEST(pause_holds_the_bot)
{
	json_t *res = NULL;
	char why[256], buf[256];
	int64_t c = inbound("anna", "42", "1");

	ck_assert_int_eq(ctl_held(DB, "anna", c, 0, why, sizeof(why)), 0);
	ck_assert_int_eq(ctl_pause(&ctl, "anna", 0, "maintenance", &res), 0);
	ck_assert(json_is_true(json_object_get(res, "changed")));
	json_decref(res);
	ck_assert_int_eq(ctl_held(DB, "anna", c, 0, why, sizeof(why)), 1);
	ck_assert_str_eq(why, "bot 'anna' paused by ops-ann");
	ck_assert_int_eq(ctl_held(DB, "anna", 0, 0, why, sizeof(why)), 1);
	ck_assert_int_eq(ctl_held(DB, "bob", 0, 0, why, sizeof(why)), 0);
	/* Again: nothing changes, but it is recorded. */
	ck_assert_int_eq(ctl_pause(&ctl, "anna", 0, NULL, &res), 0);
	ck_assert(json_is_false(json_object_get(res, "changed")));
	json_decref(res);
	ck_assert_int_eq(audits(), 2);
	t_sql_text(DB, buf, sizeof(buf), "SELECT actor || '|' || command ||"
	    " '|' || bot || '|' || json_extract(detail, '$.reason')"
	    " FROM audit ORDER BY id LIMIT 1");
	ck_assert_str_eq(buf, "ops-ann|pause|anna|maintenance");
	ck_assert_int_eq(ctl_resume(&ctl, "anna", 0, &res), 0);
	json_decref(res);
	ck_assert_int_eq(ctl_held(DB, "anna", c, 0, why, sizeof(why)), 0);
}
END_TEST

START_TEST(resume_owes_one_reply_per_contact)
{
	json_t *res = NULL;
	int64_t a, b, c, d, e, m;

	ck_assert_int_eq(ctl_pause(&ctl, "anna", 0, NULL, &res), 0);
	json_decref(res);
	a = inbound("anna", "1", "1");		/* two messages: one reply */
	(void)inbound("anna", "1", "2");
	b = inbound("anna", "2", "1");		/* answered already */
	m = outbound(b, "queued");
	ck_assert_int_eq(store_msg_transition(DB, m, "queued", "sending",
	    NULL), 1);
	ck_assert_int_eq(store_msg_sent(DB, m, "p1"), 1);
	c = inbound("anna", "3", "1");		/* opted out */
	ck_assert_int_eq(store_contact_stop(DB, c, "opted_out"), 1);
	d = inbound("anna", "4", "1");		/* paused on its own */
	ck_assert_int_eq(ctl_pause(&ctl, "anna", d, NULL, &res), 0);
	json_decref(res);
	e = inbound("bob", "5", "1");		/* another bot */
	ck_assert_int_eq(ctl_resume(&ctl, "anna", 0, &res), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(res,
	    "responds")), 1);
	json_decref(res);
	ck_assert_int_eq(responds(), 1);
	ck_assert_int_eq(t_sql_int(DB, "SELECT json_extract(payload,"
	    " '$.contact') FROM jobs WHERE type = 'respond'"), a);
	/* Resumed twice: still one reply owed, one job. */
	ck_assert_int_eq(ctl_resume(&ctl, "anna", 0, &res), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(res,
	    "responds")), 0);
	json_decref(res);
	ck_assert_int_eq(responds(), 1);
	/* The paused contact gets its reply when it is resumed. */
	ck_assert_int_eq(ctl_resume(&ctl, "anna", d, &res), 0);
	json_decref(res);
	ck_assert_int_eq(responds(), 2);
	(void)e;
}
END_TEST

START_TEST(resume_wakes_the_held_sends)
{
	json_t *res = NULL;
	int64_t c = inbound("anna", "42", "1"), m = outbound(c, "queued");
	int64_t later = clock_now_ms() + CTL_HOLD_MS, j, other;
	char payload[64];

	snprintf(payload, sizeof(payload), "{\"message\":%lld}",
	    (long long)m);
	j = t_job_add(DB, "send", "anna", payload, later);
	other = t_job_add(DB, "send", "bob", "{\"message\":999}", later);
	ck_assert_int_eq(ctl_resume(&ctl, "anna", 0, &res), 0);
	json_decref(res);
	ck_assert_int_le(t_sql_int(DB, "SELECT run_at FROM jobs WHERE id ="
	    " %lld", (long long)j), clock_now_ms());
	ck_assert_int_eq(t_sql_int(DB, "SELECT run_at FROM jobs WHERE id ="
	    " %lld", (long long)other), later);
}
END_TEST

START_TEST(contact_pause_and_persons_messages)
{
	json_t *res = NULL;
	char why[256];
	int64_t a = inbound("anna", "1", "1"), b = inbound("anna", "2", "1");
	int64_t m;

	ck_assert_int_eq(ctl_pause(&ctl, "anna", a, NULL, &res), 0);
	json_decref(res);
	ck_assert_int_eq(ctl_held(DB, "anna", a, 0, why, sizeof(why)), 1);
	ck_assert_str_eq(why, "contact 1 paused by ops-ann");
	ck_assert_int_eq(ctl_held(DB, "anna", b, 0, why, sizeof(why)), 0);
	/* The operator's own message is never held. */
	ck_assert_int_eq(ctl_say(&ctl, "anna", a, "from a person", &res), 0);
	m = json_integer_value(json_object_get(res, "message"));
	json_decref(res);
	ck_assert_int_eq(ctl_held(DB, "anna", a, m, why, sizeof(why)), 0);
	ck_assert_int_eq(ctl_held(DB, "anna", a, outbound(a, "queued"), why,
	    sizeof(why)), 1);
}
END_TEST

START_TEST(takeover_drops_the_bots_output)
{
	json_t *res = NULL;
	char why[256], payload[64];
	int64_t c = inbound("anna", "1", "1"), bot_msg, draft, mine, r, s;

	ck_assert_int_eq(ctl_say(&ctl, "anna", c, "a person writes",
	    &res), 0);
	mine = json_integer_value(json_object_get(res, "message"));
	json_decref(res);
	bot_msg = outbound(c, "queued");
	draft = outbound(c, "draft");
	snprintf(payload, sizeof(payload), "{\"message\":%lld}",
	    (long long)bot_msg);
	s = t_job_add(DB, "send", "anna", payload, 0);
	snprintf(payload, sizeof(payload), "{\"contact\":%lld}", (long long)c);
	r = t_job_add(DB, "respond", "anna", payload, 0);
	ck_assert_int_eq(ctl_takeover(&ctl, "anna", c, &res), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(res,
	    "dropped_messages")), 2);
	json_decref(res);
	ck_assert_int_eq(ctl_held(DB, "anna", c, 0, why, sizeof(why)), 1);
	ck_assert_str_eq(why, "contact 1 taken over by ops-ann");
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM jobs WHERE id IN"
	    " (%lld, %lld) AND state = 'cancelled'", (long long)r,
	    (long long)s), 2);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM messages WHERE"
	    " id IN (%lld, %lld) AND status = 'failed' AND error ="
	    " 'taken over by ops-ann'", (long long)bot_msg,
	    (long long)draft), 2);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM messages WHERE"
	    " id = %lld AND status = 'queued'", (long long)mine), 1);
	/* The person wrote last (queued): release owes no reply. */
	ck_assert_int_eq(ctl_release(&ctl, "anna", c, &res), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(res,
	    "responds")), 0);
	json_decref(res);
	ck_assert_int_eq(ctl_held(DB, "anna", c, 0, why, sizeof(why)), 0);
	/* The contact writes during a takeover: release answers once. */
	ck_assert_int_eq(ctl_takeover(&ctl, "anna", c, &res), 0);
	json_decref(res);
	(void)inbound("anna", "1", "2");
	ck_assert_int_eq(ctl_release(&ctl, "anna", c, &res), 0);
	json_decref(res);
	ck_assert_int_eq(responds(), 1);
}
END_TEST

START_TEST(say_stores_and_enqueues)
{
	json_t *res = NULL;
	char buf[256];
	int64_t c = inbound("anna", "1", "1"), m, j;

	ck_assert_int_eq(ctl_say(&ctl, "anna", c, "Hi, it's Ann", &res), 0);
	m = json_integer_value(json_object_get(res, "message"));
	j = json_integer_value(json_object_get(res, "job"));
	json_decref(res);
	t_sql_text(DB, buf, sizeof(buf), "SELECT direction || '|' || kind ||"
	    " '|' || text || '|' || status || '|' || author FROM messages"
	    " WHERE id = %lld", (long long)m);
	ck_assert_str_eq(buf, "out|reply|Hi, it's Ann|queued|ops-ann");
	t_sql_text(DB, buf, sizeof(buf), "SELECT type || '|' || priority ||"
	    " '|' || unique_key || '|' || payload FROM jobs WHERE id = %lld",
	    (long long)j);
	ck_assert_str_eq(buf, "send|0|send:2|{\"message\":2}");
	/* The text is not in the audit row. */
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM audit WHERE"
	    " detail LIKE '%%Hi, it%%'"), 0);
}
END_TEST

START_TEST(refusals_change_nothing)
{
	struct t_capture cap;
	json_t *res = NULL;
	char *err, bad[] = { 'h', 'i', (char)0xff, 0 };
	int64_t c = inbound("anna", "1", "1"), other = inbound("bob", "2", "1");
	int64_t sent;

	sent = outbound(c, "queued");
	t_stderr_begin(&cap);
	ck_assert_int_eq(ctl_say(&ctl, "anna", other, "x", &res), CTL_REFUSED);
	ck_assert_int_eq(ctl_say(&ctl, "anna", 99, "x", &res), CTL_REFUSED);
	ck_assert_int_eq(ctl_say(&ctl, "anna", c, "  \n", &res), CTL_REFUSED);
	ck_assert_int_eq(ctl_say(&ctl, "anna", c, bad, &res), CTL_REFUSED);
	ck_assert_int_eq(ctl_say(&ctl, "nobody", c, "x", &res), CTL_REFUSED);
	ck_assert_int_eq(ctl_pause(&ctl, "nobody", 0, NULL, &res),
	    CTL_REFUSED);
	ck_assert_int_eq(ctl_edit(&ctl, sent, "x", &res), CTL_REFUSED);
	ck_assert_int_eq(ctl_edit(&ctl, 1, "x", &res), CTL_REFUSED);
	ck_assert_int_eq(ctl_forget(&ctl, "anna", other, &res), CTL_REFUSED);
	ck_assert_int_eq(store_contact_stop(DB, c, "opted_out"), 1);
	ck_assert_int_eq(ctl_say(&ctl, "anna", c, "x", &res), CTL_REFUSED);
	err = t_stderr_end(&cap);
	ck_assert_ptr_nonnull(strstr(err, "contact 2: belongs to bot 'bob', "
	    "not 'anna'"));
	ck_assert_ptr_nonnull(strstr(err, "contact 99: no such contact"));
	ck_assert_ptr_nonnull(strstr(err, "text: not valid UTF-8"));
	ck_assert_ptr_nonnull(strstr(err, "message 1: written by the "
	    "contact"));
	ck_assert_ptr_nonnull(strstr(err, "contact 1: opted_out"));
	free(err);
	ck_assert_int_eq(audits(), 0);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM messages"), 3);
}
END_TEST

START_TEST(edit_changes_a_draft)
{
	json_t *res = NULL;
	char buf[128];
	int64_t c = inbound("anna", "1", "1"), d = outbound(c, "draft");

	ck_assert_int_eq(ctl_edit(&ctl, d, "edited by hand", &res), 0);
	json_decref(res);
	t_sql_text(DB, buf, sizeof(buf), "SELECT text || '|' || status || '|'"
	    " || author FROM messages WHERE id = %lld", (long long)d);
	ck_assert_str_eq(buf, "edited by hand|draft|ops-ann");
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM audit WHERE"
	    " command = 'edit' AND contact = %lld", (long long)c), 1);
}
END_TEST

START_TEST(forget_leaves_nothing)
{
	json_t *res = NULL, *del;
	char payload[64];
	int64_t c = inbound("anna", "4242", "1"), keep = inbound("anna", "7",
	    "1"), m, fin, c2, dead;

	(void)inbound("anna", "4242", "2");
	m = outbound(c, "queued");
	snprintf(payload, sizeof(payload), "{\"message\":%lld}", (long long)m);
	(void)t_job_add(DB, "send", "anna", payload, 0);
	snprintf(payload, sizeof(payload), "{\"message\":%lld}",
	    (long long)outbound(c, "failed"));
	dead = t_job_add(DB, "send", "anna", payload, 0);
	t_exec(DB, "UPDATE jobs SET state = 'dead', errors = json_array("
	    "json_object('error', 'telegram sendMessage to chat ''4242'':"
	    " HTTP 400')) WHERE id = %lld", (long long)dead);
	snprintf(payload, sizeof(payload), "{\"contact\":%lld}", (long long)c);
	(void)t_job_add(DB, "respond", "anna", payload, 0);
	(void)t_job_add(DB, "inbound", "anna", "{\"bot\":\"anna\","
	    "\"platform_id\":4242,\"text\":\"secret\"}", 0);
	fin = t_job_add(DB, "inbound", "anna", "{\"bot\":\"anna\","
	    "\"platform_id\":\"4242\",\"text\":\"my secret\"}", 0);
	t_exec(DB, "UPDATE jobs SET state = 'succeeded', unique_key ="
	    " 'inbound:anna:4242:1' WHERE id = %lld", (long long)fin);
	(void)t_job_add(DB, "inbound", "anna", "{\"bot\":\"anna\","
	    "\"platform_id\":\"7\",\"text\":\"other\"}", 0);
	ck_assert_int_eq(ctl_pause(&ctl, "anna", c, "asked to stop", &res), 0);
	json_decref(res);
	ck_assert_int_eq(ctl_forget(&ctl, "anna", c, &res), 0);
	del = json_object_get(res, "deleted");
	ck_assert_int_eq(json_integer_value(json_object_get(del, "messages")),
	    4);
	ck_assert_int_eq(json_integer_value(json_object_get(del, "contacts")),
	    1);
	ck_assert_int_eq(json_integer_value(json_object_get(del, "jobs")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(del,
	    "job_payloads")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(del,
	    "job_errors")), 1);
	json_decref(res);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM contacts WHERE"
	    " platform_id = '4242'"), 0);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM messages WHERE"
	    " contact = %lld", (long long)c), 0);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM jobs WHERE"
	    " payload LIKE '%%4242%%' OR payload LIKE '%%secret%%' OR"
	    " unique_key LIKE '%%4242%%' OR errors LIKE '%%4242%%'"), 0);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM audit WHERE"
	    " detail LIKE '%%asked to stop%%'"), 0);
	/* The other contact and its job are untouched. */
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM messages WHERE"
	    " contact = %lld", (long long)keep), 1);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM jobs WHERE"
	    " payload LIKE '%%other%%'"), 1);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM audit WHERE"
	    " command = 'forget'"), 1);
	/* The same person writes again: a new contact, nothing held. */
	c2 = inbound("anna", "4242", "1");
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM messages WHERE"
	    " contact = %lld", (long long)c2), 1);
	ck_assert_int_eq(t_sql_int(DB, "SELECT paused FROM contacts WHERE"
	    " id = %lld", (long long)c2), 0);
}
END_TEST

static const char *
state_of(const struct cfg_bot *b, const char *name, char *why, size_t len)
{
	static char state[32];
	json_t *s = ctl_bot_state(DB, b, name, clock_now_ms());

	ck_assert_ptr_nonnull(s);
	strlcpy(state, json_string_value(json_object_get(s, "state")),
	    sizeof(state));
	strlcpy(why, json_string_value(json_object_get(s, "why")), len);
	json_decref(s);
	return state;
}

START_TEST(bot_state_says_why)
{
	const struct cfg_bot *anna = cfg_bot(&env.cfg, "anna");
	const struct cfg_bot *bob = cfg_bot(&env.cfg, "bob");
	struct store_metrics m;
	json_t *res = NULL;
	char why[600], day[16];
	int64_t j;

	ck_assert_str_eq(state_of(anna, "anna", why, sizeof(why)), "active");
	j = t_job_add(DB, "send", "anna", "{\"message\":1}", 0);
	t_exec(DB, "UPDATE jobs SET state = 'dead', finished_at = %lld,"
	    " errors = json_array(json_object('error', 'telegram: 401"
	    " Unauthorized')) WHERE id = %lld", (long long)clock_now_ms(),
	    (long long)j);
	ck_assert_str_eq(state_of(anna, "anna", why, sizeof(why)), "failing");
	ck_assert_str_eq(why, "send job 1 died: telegram: 401 Unauthorized");
	ck_assert_int_eq(ctl_pause(&ctl, "anna", 0, "bad token", &res), 0);
	json_decref(res);
	ck_assert_str_eq(state_of(anna, "anna", why, sizeof(why)), "paused");
	ck_assert_str_eq(why, "paused by ops-ann: bad token");
	memset(&m, 0, sizeof(m));
	m.cost_usd = 1.5;
	clock_format(clock_now_ms(), day, sizeof(day));
	day[10] = '\0';
	ck_assert_int_eq(store_metrics_add(DB, "bob", day, &m), 0);
	ck_assert_str_eq(state_of(bob, "bob", why, sizeof(why)),
	    "over_budget");
	ck_assert_str_eq(why, "spent $1.5000 of $1.00 today");
	(void)t_job_add(DB, "respond", "gone", "{\"contact\":5}", 0);
	ck_assert_str_eq(state_of(NULL, "gone", why, sizeof(why)), "removed");
	ck_assert_str_eq(why, "not in the configuration; 1 queued jobs wait");
}
END_TEST

START_TEST(actor_from_the_environment)
{
	struct t_capture cap;
	struct ctl c;
	char *err;

	setenv("DATER_ACTOR", "a\tb", 1);
	t_stderr_begin(&cap);
	ck_assert_int_eq(ctl_init(&c, DB, &env.cfg), -1);
	err = t_stderr_end(&cap);
	ck_assert_ptr_nonnull(strstr(err, "DATER_ACTOR: control character"));
	free(err);
	unsetenv("DATER_ACTOR");
	ck_assert_int_eq(ctl_init(&c, DB, &env.cfg), 0);
	ck_assert_str_ne(c.actor, "");
}
END_TEST

Suite *
suite_ctl(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc;

	tc = t_tcase("holds");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, pause_holds_the_bot);
	tcase_add_test(tc, resume_owes_one_reply_per_contact);
	tcase_add_test(tc, resume_wakes_the_held_sends);
	tcase_add_test(tc, contact_pause_and_persons_messages);
	tcase_add_test(tc, takeover_drops_the_bots_output);
	suite_add_tcase(s, tc);
	tc = t_tcase("messages");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, say_stores_and_enqueues);
	tcase_add_test(tc, edit_changes_a_draft);
	tcase_add_test(tc, refusals_change_nothing);
	suite_add_tcase(s, tc);
	tc = t_tcase("forget");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, forget_leaves_nothing);
	suite_add_tcase(s, tc);
	tc = t_tcase("state");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, bot_state_says_why);
	tcase_add_test(tc, actor_from_the_environment);
	suite_add_tcase(s, tc);
	return s;
}
