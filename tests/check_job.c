/*
 * check_job: the job interface (payload checks at enqueue time, the
 * table lookup, the outcome helpers) and the noop job type, run directly
 * with a struct job_ctx as the worker would.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_dater.h"
#include "../jobs/jobs.h"
#include "../lib/clock.h"
#include "../lib/jobtypes.h"
#include "../lib/banned.h"

static struct t_env env;

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

static json_t *
parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);

	ck_assert_msg(j != NULL, "bad test JSON '%s': %s", text, e.text);
	return j;
}

/* job_check of type on text; err gets the reason. */
static int
check(const struct job_type *type, const char *text, char *err, size_t len)
{
	json_t *j = parse(text);
	int rc;

	err[0] = '\0';
	rc = job_check(type, NULL, j, err, len);
	json_decref(j);
	return rc;
}

static void
noop_accepts(const char *text)
{
	char err[256];

	ck_assert_msg(check(&job_noop, text, err, sizeof(err)) == 0,
	    "'%s' refused: %s", text, err);
}

/* Refused, with a reason that names what is wrong. */
static void
noop_refuses(const char *text, const char *needle)
{
	char err[256];

	ck_assert_msg(check(&job_noop, text, err, sizeof(err)) == -1,
	    "'%s' accepted", text);
	ck_assert_msg(strstr(err, needle) != NULL, "'%s': no '%s' in '%s'",
	    text, needle, err);
}

/* Run noop on payload as attempt `attempts` of job id. */
static enum job_result
run_noop(const char *payload, int64_t id, int attempts,
    struct job_outcome *out)
{
	struct queue_job job;
	struct job_ctx ctx;
	enum job_result r;

	memset(&job, 0, sizeof(job));
	job.id = id;
	job.attempts = attempts;
	job.max_attempts = 25;
	strlcpy(job.type, "noop", sizeof(job.type));
	memset(&ctx, 0, sizeof(ctx));
	ctx.db = &env.db;
	ctx.cfg = &env.cfg;
	ctx.job = &job;
	ctx.payload = parse(payload);
	memset(out, 0, sizeof(*out));
	r = job_noop.run(&ctx, out);
	json_decref(ctx.payload);
	return r;
}

START_TEST(payload_must_be_object)
{
	static const char *bad[] = { "[]", "[{}]", "\"x\"", "5", "null",
	    "true" };
	static const struct job_type plain = { .name = "plain",
	    .summary = "no check" };
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(check(&job_noop, bad[i], err, sizeof(err)),
		    -1);
		ck_assert_ptr_nonnull(strstr(err, "object"));
		ck_assert_int_eq(check(&plain, bad[i], err, sizeof(err)), -1);
		ck_assert_ptr_nonnull(strstr(err, "object"));
	}
	/* without keys a type takes only {} */
	ck_assert_int_eq(check(&plain, "{}", err, sizeof(err)), 0);
	ck_assert_int_eq(check(&plain, "{\"anything\": [1, 2]}", err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, ".anything: unknown field (plain takes no "
	    "payload)");
}
END_TEST

/* A type with keys and no check of its own: those keys, any values. */
START_TEST(keys_without_check)
{
	static const char *const keys[] = { "a", "b", NULL };
	static const struct job_type keyed = { .name = "keyed",
	    .summary = "keys only", .keys = keys };
	char err[256];

	ck_assert_int_eq(check(&keyed, "{}", err, sizeof(err)), 0);
	ck_assert_int_eq(check(&keyed, "{\"a\": [1], \"b\": null}", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(check(&keyed, "{\"a\": 1, \"c\": 2}", err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, ".c: unknown field (known: a, b)");
	/* a cut message stays a string */
	ck_assert_int_eq(check(&keyed, "{\"c\": 2}", err, 12), -1);
	ck_assert_str_eq(err, ".c: unknown");
}
END_TEST

/*
 * Every type refuses a key it does not know, naming it (issue: "status"
 * in a contact job was stored and ignored), and none of its own keys is
 * called unknown.
 */
/* jobs_names is the table's names, in its order. */
START_TEST(names_are_the_table)
{
	int i;

	for (i = 0; jobs_table[i] != NULL; i++) {
		ck_assert_ptr_nonnull(jobs_names[i]);
		ck_assert_str_eq(jobs_names[i], jobs_table[i]->name);
	}
	ck_assert_ptr_null(jobs_names[i]);
}
END_TEST

/* Every job type the conversation layer of lib/ names exists. */
START_TEST(lib_names_known_types)
{
	static const char *const used[] = JT_ALL;
	int i, j, found;

	for (i = 0; used[i] != NULL; i++) {
		for (found = 0, j = 0; jobs_names[j] != NULL; j++)
			found |= strcmp(jobs_names[j], used[i]) == 0;
		ck_assert_msg(found, "lib names job type '%s', which jobs/ "
		    "does not have", used[i]);
	}
}
END_TEST

START_TEST(unknown_keys_every_type)
{
	const struct job_type *const *t;
	const char *const *k;
	char err[512], listed[512], text[128];

	for (t = jobs_table; *t != NULL; t++) {
		ck_assert_int_eq(check(*t, "{\"status\": \"active\"}",
		    listed, sizeof(listed)), -1);
		ck_assert_msg(strncmp(listed, ".status: unknown field (", 24) ==
		    0, "%s: '%s'", (*t)->name, listed);
		for (k = (*t)->keys; k != NULL && *k != NULL; k++) {
			ck_assert_msg(strstr(listed, *k) != NULL, "%s: '%s' "
			    "not listed in '%s'", (*t)->name, *k, listed);
			snprintf(text, sizeof(text), "{\"%s\": 1}", *k);
			(void)check(*t, text, err, sizeof(err));
			ck_assert_msg(strstr(err, "unknown field") == NULL,
			    "%s: own key '%s' refused: %s", (*t)->name, *k,
			    err);
		}
	}
	ck_assert_int_eq(check(&job_contact, "{\"bot\": \"a\", "
	    "\"platform_id\": \"1\", \"status\": \"active\"}", err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, ".status: unknown field (known: bot, "
	    "platform_id, handle, name, profile, consent, timezone)");
	ck_assert_int_eq(check(&job_backup, "{\"dir\": \"/tmp\"}", err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, ".dir: unknown field (backup takes no payload)");
}
END_TEST

/* The payloads dater builds itself (respond, inbound, scheduler, poll)
 * are ones their types accept. */
START_TEST(internal_payloads_pass)
{
	char err[256];

	ck_assert_int_eq(check(&job_send, "{\"message\":12}", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(check(&job_respond, "{\"contact\":3}", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(check(&job_summarize, "{\"contact\":3}", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(check(&job_initiate, "{\"contact\":3}", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(check(&job_followup, "{\"contact\":3}", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(check(&job_inbound, "{\"bot\":\"anna\","
	    "\"platform_id\":\"42\",\"text\":\"hi\",\"message_id\":\"7\","
	    "\"name\":\"Mia\",\"handle\":\"mia\","
	    "\"at\":\"2026-12-05T08:00:00.000Z\"}", err, sizeof(err)), 0);
}
END_TEST

/* A contact's time zone must be one the system has. */
START_TEST(contact_timezone)
{
	char err[256];

	ck_assert_int_eq(check(&job_contact, "{\"bot\": \"a\", "
	    "\"platform_id\": \"1\", \"timezone\": \"UTC\"}", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(check(&job_contact, "{\"bot\": \"a\", "
	    "\"platform_id\": \"1\", \"timezone\": \"Europe/Berlin\"}",
	    err, sizeof(err)), 0);
	ck_assert_int_eq(check(&job_contact, "{\"bot\": \"a\", "
	    "\"platform_id\": \"1\", \"timezone\": \"Europe/Berln\"}",
	    err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, ".timezone: unknown time zone "
	    "'Europe/Berln'", 40) == 0, "'%s'", err);
	ck_assert_int_eq(check(&job_contact, "{\"bot\": \"a\", "
	    "\"platform_id\": \"1\", \"timezone\": \"<+06>-6\"}", err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, ".timezone"));
	ck_assert_int_eq(check(&job_contact, "{\"bot\": \"a\", "
	    "\"platform_id\": \"1\", \"timezone\": \"../../etc/passwd\"}",
	    err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, ".timezone"));
}
END_TEST

/* The profile half: only contact has it; defs NULL accepts anything. */
START_TEST(contact_fields)
{
	json_t *defs = parse("[{\"name\": \"age\", \"type\": \"integer\"},"
	    " {\"name\": \"likes\", \"type\": \"list\"}]");
	json_t *good = parse("{\"bot\": \"a\", \"platform_id\": \"1\", "
	    "\"profile\": {\"age\": 30, \"likes\": [\"jazz\"]}}");
	json_t *bad = parse("{\"bot\": \"a\", \"platform_id\": \"1\", "
	    "\"profile\": {\"age\": \"thirty\"}}");
	json_t *odd = parse("{\"bot\": \"a\", \"platform_id\": \"1\", "
	    "\"profile\": {\"shoe\": 42}}");
	json_t *none = parse("{\"bot\": \"a\", \"platform_id\": \"1\"}");
	char err[256];

	ck_assert_ptr_nonnull(job_contact.check_fields);
	ck_assert_int_eq(job_check_fields(&job_contact, defs, good, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(job_check_fields(&job_contact, defs, none, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(job_check_fields(&job_contact, defs, bad, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, ".profile.age: expected an integer");
	ck_assert_int_eq(job_check_fields(&job_contact, defs, odd, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, ".profile.shoe: unknown field");
	ck_assert_int_eq(job_check_fields(&job_contact, NULL, bad, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(job_check_fields(&job_noop, defs, bad, err,
	    sizeof(err)), 0);
	json_decref(defs);
	json_decref(good);
	json_decref(bad);
	json_decref(odd);
	json_decref(none);
}
END_TEST

START_TEST(noop_payloads_accepted)
{
	noop_accepts("{}");
	noop_accepts("{\"sleep_ms\": 0}");
	noop_accepts("{\"sleep_ms\": 3600000}");
	noop_accepts("{\"fail\": \"retry\"}");
	noop_accepts("{\"fail\": \"permanent\"}");
	noop_accepts("{\"sleep_ms\": 5, \"fail\": \"retry\", "
	    "\"trace\": \"/tmp/t\"}");
}
END_TEST

START_TEST(noop_payloads_refused)
{
	noop_refuses("{\"sleep_ms\": -1}", "sleep_ms");
	noop_refuses("{\"sleep_ms\": 3600001}", "sleep_ms");
	noop_refuses("{\"sleep_ms\": \"5\"}", "sleep_ms");
	noop_refuses("{\"sleep_ms\": 1.5}", "sleep_ms");
	noop_refuses("{\"sleep_ms\": null}", "sleep_ms");
	noop_refuses("{\"fail\": \"x\"}", ".fail");
	noop_refuses("{\"fail\": true}", ".fail");
	noop_refuses("{\"fail\": \"RETRY\"}", ".fail");
	noop_refuses("{\"trace\": \"\"}", ".trace");
	noop_refuses("{\"trace\": 5}", ".trace");
	noop_refuses("{\"sleep\": 5}", "sleep");
	noop_refuses("{\"fail\": \"retry\", \"bogus\": 1}", "bogus");
}
END_TEST

START_TEST(find_types)
{
	const struct job_type *const *t;
	const char *const *name;
	int ntable = 0, nnames = 0;

	ck_assert_ptr_eq(job_find(jobs_table, "noop"), &job_noop);
	ck_assert_ptr_null(job_find(jobs_table, "nope"));
	ck_assert_ptr_null(job_find(jobs_table, ""));
	ck_assert_ptr_null(job_find(jobs_table, "noop "));
	/* the names list and the table agree */
	for (t = jobs_table; *t != NULL; t++) {
		ntable++;
		ck_assert_ptr_nonnull((*t)->name);
		ck_assert_ptr_nonnull((*t)->summary);
		ck_assert_ptr_nonnull((*t)->run);
		ck_assert_ptr_eq(job_find(jobs_table, (*t)->name), *t);
	}
	for (name = jobs_names; *name != NULL; name++) {
		nnames++;
		ck_assert_ptr_nonnull(job_find(jobs_table, *name));
	}
	ck_assert_int_eq(ntable, nnames);
	ck_assert_int_ge(ntable, 1);
}
END_TEST

START_TEST(outcome_helpers)
{
	struct job_outcome out;
	char big[QUEUE_ERROR_MAX * 2];

	memset(&out, 0, sizeof(out));
	ck_assert_int_eq(job_retry(&out, 1234, "http %d", 503), JOB_RETRY);
	ck_assert_int_eq(out.at, 1234);
	ck_assert_str_eq(out.error, "http 503");
	ck_assert_int_eq(job_defer(&out, 99, "quiet hours"), JOB_DEFER);
	ck_assert_int_eq(out.at, 99);
	ck_assert_str_eq(out.error, "quiet hours");
	ck_assert_int_eq(job_fail(&out, "%s", "bad request"), JOB_FAIL);
	ck_assert_int_eq(out.at, 0);
	ck_assert_str_eq(out.error, "bad request");
	/* a long message is cut, not overflowed */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	job_fail(&out, "%s", big);
	ck_assert_uint_eq(strlen(out.error), QUEUE_ERROR_MAX - 1);
}
END_TEST

START_TEST(noop_ok)
{
	struct job_outcome out;

	ck_assert_int_eq(run_noop("{}", 1, 1, &out), JOB_OK);
	ck_assert_int_eq(run_noop("{\"sleep_ms\": 1}", 1, 1, &out), JOB_OK);
}
END_TEST

START_TEST(noop_fail_retry)
{
	struct job_outcome out;

	ck_assert_int_eq(run_noop("{\"fail\": \"retry\"}", 5, 3, &out),
	    JOB_RETRY);
	ck_assert_int_eq(out.at, 0);	/* after the backoff */
	ck_assert_ptr_nonnull(strstr(out.error, "attempt 3"));
}
END_TEST

START_TEST(noop_fail_permanent)
{
	struct job_outcome out;

	ck_assert_int_eq(run_noop("{\"fail\": \"permanent\"}", 5, 1, &out),
	    JOB_FAIL);
	ck_assert_int_gt(strlen(out.error), 0);
}
END_TEST

START_TEST(noop_trace)
{
	struct job_outcome out;
	struct stat st;
	char path[PATH_MAX], payload[PATH_MAX + 64], want[128], *text;
	long pid = (long)getpid();

	umask(022);
	t_path(path, sizeof(path), env.dir, "trace.log");
	snprintf(payload, sizeof(payload), "{\"trace\": \"%s\"}", path);
	ck_assert_int_eq(run_noop(payload, 7, 1, &out), JOB_OK);
	ck_assert_int_eq(run_noop(payload, 7, 2, &out), JOB_OK);
	snprintf(payload, sizeof(payload),
	    "{\"trace\": \"%s\", \"fail\": \"retry\"}", path);
	/* traced when the job starts, even if it then fails */
	ck_assert_int_eq(run_noop(payload, 8, 1, &out), JOB_RETRY);
	text = t_read_file(path);
	snprintf(want, sizeof(want), "7 1 %ld\n7 2 %ld\n8 1 %ld\n", pid, pid,
	    pid);
	ck_assert_str_eq(text, want);
	free(text);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
}
END_TEST

START_TEST(noop_trace_unwritable)
{
	struct job_outcome out;
	char path[PATH_MAX], payload[PATH_MAX + 64];

	t_path(path, sizeof(path), env.dir, "no/such/dir/trace.log");
	snprintf(payload, sizeof(payload), "{\"trace\": \"%s\"}", path);
	ck_assert_int_eq(run_noop(payload, 1, 1, &out), JOB_RETRY);
	ck_assert_ptr_nonnull(strstr(out.error, path));
}
END_TEST

/* What the worker does with a noop job, step by step, without the
 * worker: check, enqueue, claim, run, record the outcome. */
START_TEST(noop_through_queue)
{
	struct queue_new q;
	struct queue_job job;
	struct job_ctx ctx;
	struct job_outcome out;
	char err[256], text[QUEUE_ERROR_MAX];
	json_t *p;
	int64_t id;
	int n, dead = -1;

	ck_assert_int_eq(check(&job_noop, "{\"fail\": \"retry\"}", err,
	    sizeof(err)), 0);
	queue_new_init(&q);
	q.type = "noop";
	q.payload = "{\"fail\": \"retry\"}";
	q.max_attempts = 1;
	ck_assert_int_eq(queue_add(&env.db, &q, &id, NULL), 0);
	ck_assert_int_eq(queue_claim(&env.db, "w1", NULL, 60000, &job, 1,
	    &n), QUEUE_CLAIMED);
	ck_assert_int_eq(job.id, id);
	p = parse(job.payload);
	memset(&ctx, 0, sizeof(ctx));
	ctx.db = &env.db;
	ctx.cfg = &env.cfg;
	ctx.job = &job;
	ctx.payload = p;
	memset(&out, 0, sizeof(out));
	ck_assert_ptr_eq(job_find(jobs_table, job.type), &job_noop);
	ck_assert_int_eq(job_noop.run(&ctx, &out), JOB_RETRY);
	json_decref(p);
	ck_assert_int_eq(queue_fail(&env.db, &job, out.error, 0, out.at,
	    &dead), QUEUE_DONE);
	ck_assert_int_eq(dead, 1);	/* it had one attempt */
	t_sql_text(&env.db, text, sizeof(text), "SELECT json_extract(errors,"
	    " '$[0].error') FROM jobs WHERE id = %lld", (long long)id);
	ck_assert_str_eq(text, out.error);
	queue_job_release(&job);
}
END_TEST

Suite *
suite_job(void)
{
	Suite *s = suite_create("job");
	TCase *tc;

	tc = t_tcase("check");
	tcase_add_test(tc, payload_must_be_object);
	tcase_add_test(tc, keys_without_check);
	tcase_add_test(tc, unknown_keys_every_type);
	tcase_add_test(tc, lib_names_known_types);
	tcase_add_test(tc, names_are_the_table);
	tcase_add_test(tc, internal_payloads_pass);
	tcase_add_test(tc, contact_timezone);
	tcase_add_test(tc, contact_fields);
	tcase_add_test(tc, noop_payloads_accepted);
	tcase_add_test(tc, noop_payloads_refused);
	tcase_add_test(tc, find_types);
	tcase_add_test(tc, outcome_helpers);
	suite_add_tcase(s, tc);

	tc = t_tcase("noop");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, noop_ok);
	tcase_add_test(tc, noop_fail_retry);
	tcase_add_test(tc, noop_fail_permanent);
	tcase_add_test(tc, noop_trace);
	tcase_add_test(tc, noop_trace_unwritable);
	tcase_add_test(tc, noop_through_queue);
	suite_add_tcase(s, tc);
	return s;
}
