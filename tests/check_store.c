/*
 * check_store: contacts, messages, metrics and state through the store
 * API on a fresh database per test: inbound messages are stored once,
 * opting out cancels what was pending, message states only move from
 * where they are, sending counts for the loop guard and the metrics.
 */
#include <stdlib.h>
#include <string.h>

#include "check_dater.h"
#include "../lib/clock.h"
#include "../lib/queue.h"
#include "../lib/store.h"
#include "../lib/banned.h"

static struct t_env env;
#define DB (&env.db)

static void
setup(void)
{
	t_env_setup(&env);
}

static void
teardown(void)
{
	t_env_teardown(&env);
}

static int64_t inbound_at(const char *, const char *, const char *, int64_t,
    int *);

static int64_t
inbound(const char *pid, const char *mid, const char *text, int *dup)
{
	return inbound_at(pid, mid, text, 0, dup);
}

static int64_t
inbound_at(const char *pid, const char *mid, const char *text, int64_t at,
    int *dup)
{
	struct store_inbound in;
	int64_t contact = 0, msg = 0;

	memset(&in, 0, sizeof(in));
	in.at = at;
	in.bot = "anna";
	in.platform_id = pid;
	in.message_id = mid;
	in.text = text;
	in.name = "Mia";
	ck_assert_int_eq(store_inbound_add(DB, &in, &contact, &msg, dup), 0);
	ck_assert_int_gt(contact, 0);
	return contact;
}

static int64_t
outbound(int64_t contact, const char *kind, const char *status,
    int64_t job)
{
	struct store_out o;
	int64_t id = 0;

	memset(&o, 0, sizeof(o));
	o.contact = contact;
	o.bot = "anna";
	o.kind = kind;
	o.text = "hello";
	o.status = status;
	o.job_id = job;
	ck_assert_int_eq(store_out_add(DB, &o, &id), 0);
	return id;
}

START_TEST(contact_upsert_keeps_unset_fields)
{
	struct store_contact_in in;
	struct store_contact c;
	int64_t id, id2;
	int created = -1;

	memset(&in, 0, sizeof(in));
	in.bot = "anna";
	in.platform_id = "42";
	in.name = "Mia";
	in.profile = "{\"city\":\"Berlin\"}";
	in.timezone = "Europe/Berlin";
	in.consent = 1;
	ck_assert_int_eq(store_contact_upsert(DB, &in, &id, &created), 0);
	ck_assert_int_eq(created, 1);
	memset(&in, 0, sizeof(in));
	in.bot = "anna";
	in.platform_id = "42";
	in.handle = "mia";
	in.consent = -1;
	ck_assert_int_eq(store_contact_upsert(DB, &in, &id2, &created), 0);
	ck_assert_int_eq(created, 0);
	ck_assert_int_eq(id2, id);
	ck_assert_int_eq(store_contact_get(DB, id, &c), 1);
	ck_assert_str_eq(c.name, "Mia");
	ck_assert_str_eq(c.handle, "mia");
	ck_assert_str_eq(c.profile, "{\"city\":\"Berlin\"}");
	ck_assert_str_eq(c.timezone, "Europe/Berlin");
	ck_assert_int_eq(c.consent, 1);
	ck_assert_str_eq(c.status, "new");
	store_contact_release(&c);
	/* the same platform id under another bot is another contact */
	in.bot = "bob";
	ck_assert_int_eq(store_contact_upsert(DB, &in, &id2, &created), 0);
	ck_assert_int_ne(id2, id);
	ck_assert_int_eq(store_contact_get(DB, 999, &c), 0);
}
END_TEST

START_TEST(inbound_stored_once)
{
	struct store_contact c;
	int64_t a, b;
	int dup = -1;

	a = inbound("42", "m1", "hi", &dup);
	ck_assert_int_eq(dup, 0);
	b = inbound("42", "m1", "hi", &dup);
	ck_assert_int_eq(dup, 1);
	ck_assert_int_eq(a, b);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM messages"), 1);
	inbound("42", "m2", "there?", &dup);
	ck_assert_int_eq(dup, 0);
	ck_assert_int_eq(t_sql_int(DB, "SELECT received FROM metrics_daily"
	    " WHERE bot = 'anna'"), 2);
	ck_assert_int_eq(store_contact_get(DB, a, &c), 1);
	ck_assert_str_eq(c.status, "active");
	ck_assert_int_gt(c.last_inbound_at, 0);
	store_contact_release(&c);
}
END_TEST

START_TEST(inbound_resets_unanswered)
{
	struct store_contact c;
	int64_t contact, m;
	int dup;

	contact = inbound("42", "m1", "hi", &dup);
	m = outbound(contact, "reply", "queued", 0);
	ck_assert_int_eq(store_msg_transition(DB, m, "queued", "sending",
	    NULL), 1);
	ck_assert_int_eq(store_msg_sent(DB, m, "tg-7"), 1);
	ck_assert_int_eq(store_contact_get(DB, contact, &c), 1);
	ck_assert_int_eq(c.unanswered, 1);
	store_contact_release(&c);
	inbound("42", "m2", "ok", &dup);
	ck_assert_int_eq(store_contact_get(DB, contact, &c), 1);
	ck_assert_int_eq(c.unanswered, 0);
	store_contact_release(&c);
}
END_TEST

START_TEST(opener_reply_counted)
{
	int64_t contact, m;
	int dup;
	struct store_contact_in in;

	memset(&in, 0, sizeof(in));
	in.bot = "anna";
	in.platform_id = "42";
	in.consent = 1;
	ck_assert_int_eq(store_contact_upsert(DB, &in, &contact, NULL), 0);
	m = outbound(contact, "opener", "queued", 0);
	store_msg_transition(DB, m, "queued", "sending", NULL);
	ck_assert_int_eq(store_msg_sent(DB, m, NULL), 1);
	ck_assert_int_eq(t_sql_int(DB, "SELECT initiations FROM metrics_daily"),
	    1);
	inbound("42", "m1", "oh hi", &dup);
	inbound("42", "m2", "who is this", &dup);
	ck_assert_int_eq(t_sql_int(DB, "SELECT initiation_replies FROM"
	    " metrics_daily"), 1);
}
END_TEST

START_TEST(stop_cancels_pending)
{
	struct store_contact c;
	int64_t contact, r, f, other, draft, sendj, optm, optj;
	char p[64];
	int dup;

	contact = inbound("42", "m1", "hi", &dup);
	snprintf(p, sizeof(p), "{\"contact\":%lld}", (long long)contact);
	r = t_job_add(DB, "respond", NULL, p, 0);
	f = t_job_add(DB, "followup", NULL, p, 0);
	other = t_job_add(DB, "respond", NULL, "{\"contact\":999}", 0);
	draft = outbound(contact, "reply", "queued", 0);
	snprintf(p, sizeof(p), "{\"message\":%lld}", (long long)draft);
	sendj = t_job_add(DB, "send", NULL, p, 0);
	optm = outbound(contact, "optout", "queued", 0);
	snprintf(p, sizeof(p), "{\"message\":%lld}", (long long)optm);
	optj = t_job_add(DB, "send", NULL, p, 0);
	ck_assert_int_eq(store_contact_stop(DB, contact, "opted_out"), 1);
	t_job_state_is(DB, r, "cancelled");
	t_job_state_is(DB, f, "cancelled");
	t_job_state_is(DB, sendj, "cancelled");
	t_job_state_is(DB, other, "queued");
	/* The confirmation still goes. */
	t_job_state_is(DB, optj, "queued");
	ck_assert_int_eq(store_msg_transition(DB, draft, "queued", "sending",
	    NULL), 0);
	ck_assert_int_eq(store_contact_get(DB, contact, &c), 1);
	ck_assert_str_eq(c.status, "opted_out");
	store_contact_release(&c);
	/* a second opt-out changes nothing */
	ck_assert_int_eq(store_contact_stop(DB, contact, "opted_out"), 0);
}
END_TEST

START_TEST(transition_is_fenced)
{
	int64_t contact, m;
	int dup;
	char s[32];

	contact = inbound("42", "m1", "hi", &dup);
	m = outbound(contact, "reply", "draft", 0);
	ck_assert_int_eq(store_msg_transition(DB, m, "queued", "sending",
	    NULL), 0);
	ck_assert_int_eq(store_msg_transition(DB, m, "draft", "queued",
	    NULL), 1);
	ck_assert_int_eq(store_msg_transition(DB, m, "queued", "sending",
	    NULL), 1);
	ck_assert_int_eq(store_msg_sent(DB, m, "x"), 1);
	ck_assert_int_eq(store_msg_sent(DB, m, "x"), 0);	/* once */
	ck_assert_int_eq(t_sql_int(DB, "SELECT sent FROM metrics_daily"), 1);
	ck_assert_int_eq(store_msg_transition(DB, m, "sending", "uncertain",
	    "boom"), 0);
	t_sql_text(DB, s, sizeof(s), "SELECT status FROM messages WHERE id ="
	    " %lld", (long long)m);
	ck_assert_str_eq(s, "sent");
}
END_TEST

START_TEST(history_order_and_filter)
{
	struct store_msg *h = NULL, m;
	int64_t contact, d, f, q;
	size_t n = 0;
	int dup, count = 0;

	contact = inbound_at("42", "m1", "one", clock_now_ms() - 5000, &dup);
	q = outbound(contact, "reply", "queued", 41);
	d = outbound(contact, "reply", "draft", 0);
	f = outbound(contact, "reply", "queued", 0);
	store_msg_transition(DB, f, "queued", "failed", "x");
	inbound_at("42", "m2", "two", clock_now_ms() + 1000, &dup);
	inbound_at("42", "m3", "three", clock_now_ms() + 2000, &dup);
	ck_assert_int_eq(store_history(DB, contact, 0, 10, &h, &n), 0);
	ck_assert_int_eq(n, 4);		/* no draft, no failed */
	ck_assert_int_eq(h[0].inbound, 1);
	ck_assert_str_eq(h[0].text, "one");
	ck_assert_int_eq(h[1].id, q);
	ck_assert_int_eq(h[1].inbound, 0);
	ck_assert_str_eq(h[3].text, "three");
	store_msgs_free(h, n);
	/* the newest two, still oldest first */
	ck_assert_int_eq(store_history(DB, contact, 0, 2, &h, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(h[0].text, "two");
	ck_assert_str_eq(h[1].text, "three");
	store_msgs_free(h, n);
	/* after the summary point */
	ck_assert_int_eq(store_history(DB, contact, q, 10, &h, &n), 0);
	ck_assert_int_eq(n, 2);
	store_msgs_free(h, n);
	ck_assert_int_eq(store_count_unsummarized(DB, contact, 0, &count), 0);
	ck_assert_int_eq(count, 4);
	ck_assert_int_eq(store_msg_by_job(DB, 41, &m), 1);
	ck_assert_int_eq(m.id, q);
	store_msg_release(&m);
	ck_assert_int_eq(store_msg_by_job(DB, 40, &m), 0);
	(void)d;
}
END_TEST

/* Stored out of order (workers race), shown in the platform's order:
 * by date, then by message id within the same second. */
START_TEST(history_platform_order)
{
	static const char *const want[] = { "a", "b", "c", "d", "e" };
	struct store_msg *h = NULL;
	int64_t contact, t = 1790000000000LL;
	size_t n = 0, i;
	int dup;

	contact = inbound_at("7", "13", "d", t + 1000, &dup);
	inbound_at("7", "11", "b", t, &dup);
	inbound_at("7", "14", "e", t + 1000, &dup);
	inbound_at("7", "12", "c", t, &dup);
	inbound_at("7", "9", "a", t - 1000, &dup);
	ck_assert_int_eq(store_history(DB, contact, 0, 10, &h, &n), 0);
	ck_assert_uint_eq(n, 5);
	for (i = 0; i < n; i++)
		ck_assert_str_eq(h[i].text, want[i]);
	store_msgs_free(h, n);
	/* the newest three of them */
	ck_assert_int_eq(store_history(DB, contact, 0, 3, &h, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(h[0].text, "c");
	ck_assert_str_eq(h[2].text, "e");
	store_msgs_free(h, n);
}
END_TEST

/* Platform message ids are per chat (Telegram's are): the same id from
 * two people is two messages. */
START_TEST(message_ids_per_chat)
{
	int64_t a, b;
	int dup = -1;

	a = inbound("1", "7", "hi from one", &dup);
	ck_assert_int_eq(dup, 0);
	b = inbound("2", "7", "hi from two", &dup);
	ck_assert_int_eq(dup, 0);
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM messages"), 2);
}
END_TEST

START_TEST(sent_since_counts)
{
	int64_t c1, c2, m, oldest = -1, before = clock_now_ms();
	int dup, n = -1, i;

	c1 = inbound("1", "a", "hi", &dup);
	c2 = inbound("2", "b", "hi", &dup);
	for (i = 0; i < 3; i++) {
		m = outbound(i < 2 ? c1 : c2, "reply", "queued", 0);
		store_msg_transition(DB, m, "queued", "sending", NULL);
		store_msg_sent(DB, m, NULL);
	}
	ck_assert_int_eq(store_sent_since(DB, "anna", 0, before, &n, &oldest),
	    0);
	ck_assert_int_eq(n, 3);
	ck_assert_int_ge(oldest, before);
	ck_assert_int_eq(store_sent_since(DB, "anna", c1, before, &n,
	    &oldest), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(store_sent_since(DB, "anna", 0, clock_now_ms() +
	    1000, &n, &oldest), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(store_sent_since(DB, "bob", 0, before, &n, &oldest),
	    0);
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(has_outbound_ignores_failed)
{
	int64_t contact, m;
	int dup, yes = -1;

	contact = inbound("42", "m1", "hi", &dup);
	ck_assert_int_eq(store_has_outbound(DB, contact, &yes), 0);
	ck_assert_int_eq(yes, 0);
	m = outbound(contact, "reply", "queued", 0);
	store_msg_transition(DB, m, "queued", "failed", "x");
	ck_assert_int_eq(store_has_outbound(DB, contact, &yes), 0);
	ck_assert_int_eq(yes, 0);
	outbound(contact, "reply", "draft", 0);
	ck_assert_int_eq(store_has_outbound(DB, contact, &yes), 0);
	ck_assert_int_eq(yes, 1);
}
END_TEST

START_TEST(metrics_accumulate)
{
	struct store_metrics d, m;

	memset(&d, 0, sizeof(d));
	d.llm_calls = 1;
	d.tokens_in = 100;
	d.cost_usd = 0.25;
	ck_assert_int_eq(store_metrics_add(DB, "anna", "2026-11-25", &d), 0);
	ck_assert_int_eq(store_metrics_add(DB, "anna", "2026-11-25", &d), 0);
	ck_assert_int_eq(store_metrics_get(DB, "anna", "2026-11-25", &m), 0);
	ck_assert_int_eq(m.llm_calls, 2);
	ck_assert_int_eq(m.tokens_in, 200);
	ck_assert(m.cost_usd > 0.49 && m.cost_usd < 0.51);
	ck_assert_int_eq(store_metrics_get(DB, "anna", "2026-11-26", &m), 0);
	ck_assert_int_eq(m.llm_calls, 0);
}
END_TEST

START_TEST(kv_roundtrip)
{
	char v[16];

	ck_assert_int_eq(store_kv_get(DB, "poll.offset.anna", v, sizeof(v)),
	    0);
	ck_assert_int_eq(store_kv_set(DB, "poll.offset.anna", "17"), 0);
	ck_assert_int_eq(store_kv_set(DB, "poll.offset.anna", "18"), 0);
	ck_assert_int_eq(store_kv_get(DB, "poll.offset.anna", v, sizeof(v)),
	    1);
	ck_assert_str_eq(v, "18");
}
END_TEST

Suite *
suite_store(void)
{
	Suite *s = suite_create("store");
	TCase *tc = t_tcase("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, contact_upsert_keeps_unset_fields);
	tcase_add_test(tc, inbound_stored_once);
	tcase_add_test(tc, inbound_resets_unanswered);
	tcase_add_test(tc, opener_reply_counted);
	tcase_add_test(tc, stop_cancels_pending);
	tcase_add_test(tc, transition_is_fenced);
	tcase_add_test(tc, history_order_and_filter);
	tcase_add_test(tc, history_platform_order);
	tcase_add_test(tc, message_ids_per_chat);
	tcase_add_test(tc, sent_since_counts);
	tcase_add_test(tc, has_outbound_ignores_failed);
	tcase_add_test(tc, metrics_accumulate);
	tcase_add_test(tc, kv_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}
