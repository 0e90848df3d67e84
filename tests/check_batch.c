/*
 * check_batch: dater-enqueue's checked batches (lib/batch.c). A job
 * object becomes a queue item with its type, payload, queue, priority,
 * max_attempts, unique key and run_at ("at" as RFC 3339 or unix seconds,
 * "in" as a duration from the given now); the type's configured settings
 * are the defaults. A bad object is refused with the field named
 * ("type: ...", "payload.x: ...", "priority: ...") and the batch left as
 * it was; batch_read names the line ("name:LINE: why") and skips blank
 * lines; a batch is enqueued in one transaction (a failure leaves no
 * job), a taken unique key gives the holder's id. The field definitions
 * are read only for a type that needs them, and a file that cannot be
 * read is the configuration's fault.
 */
#include <stdlib.h>
#include <string.h>

#include "check_dater.h"
#include "../jobs/jobs.h"
#include "../lib/batch.h"
#include "../lib/banned.h"

/* 2026-11-25T20:15:00Z */
#define T_2015 1795637700000LL

static struct t_env env;
static struct batch b;
static struct cfg_bot bot;

static void
setup(void)
{
	t_env_setup(&env);
	/* A bot "anna" for the payloads that name one. */
	memset(&bot, 0, sizeof(bot));
	strlcpy(bot.name, "anna", sizeof(bot.name));
	cfg_policy_defaults(&bot.policy);
	env.cfg.bots = &bot;
	env.cfg.nbots = 1;
	batch_init(&b, jobs_table, &env.cfg);
}

static void
teardown(void)
{
	batch_release(&b);
	env.cfg.bots = NULL;	/* this file's, not the cfg's */
	env.cfg.nbots = 0;
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

/* batch_add_json of text at now T_2015; err gets the reason. */
static int
add(const char *text, char *err, size_t len)
{
	json_t *j = parse(text);
	int rc;

	err[0] = '\0';
	rc = batch_add_json(&b, j, T_2015, err, len);
	json_decref(j);
	return rc;
}

static void
add_ok(const char *text)
{
	char err[256];

	ck_assert_msg(add(text, err, sizeof(err)) == 0, "'%s' refused: %s",
	    text, err);
}

/* text is refused with a reason starting with want; the batch keeps
 * its n items. */
static void
add_refused(const char *text, const char *want)
{
	char err[256];
	size_t n = b.n;

	ck_assert_msg(add(text, err, sizeof(err)) == -1, "'%s' accepted",
	    text);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
	    "'%s': got '%s', want '%s...'", text, err, want);
	ck_assert_uint_eq(b.n, n);
}

START_TEST(object_becomes_item)
{
	struct queue_new *q;

	add_ok("{\"type\": \"noop\", \"payload\": {\"sleep_ms\": 5},"
	    " \"at\": \"2026-11-25T21:00:00Z\", \"priority\": 3,"
	    " \"unique\": \"k1\", \"max_attempts\": 2, \"queue\": \"slow\"}");
	ck_assert_uint_eq(b.n, 1);
	q = &b.items[0];
	ck_assert_str_eq(q->type, "noop");
	ck_assert_str_eq(q->payload, "{\"sleep_ms\":5}");
	ck_assert_str_eq(q->queue, "slow");
	ck_assert_str_eq(q->unique_key, "k1");
	ck_assert_int_eq(q->priority, 3);
	ck_assert_int_eq(q->max_attempts, 2);
	ck_assert_int_eq(q->run_at, T_2015 + 45 * 60 * 1000);
	ck_assert_ptr_null(q->bot);

	/* Only "type" is needed: "{}" and the defaults. */
	add_ok("{\"type\": \"noop\"}");
	q = &b.items[1];
	ck_assert_str_eq(q->payload, "{}");
	ck_assert_str_eq(q->queue, "default");
	ck_assert_ptr_null(q->unique_key);
	ck_assert_int_eq(q->run_at, 0);
	ck_assert_int_eq(q->max_attempts, env.cfg.queue.max_attempts);
	ck_assert_int_eq(q->priority, env.cfg.queue.priority);
}
END_TEST

START_TEST(at_and_in)
{
	add_ok("{\"type\": \"noop\", \"in\": \"10m\"}");
	ck_assert_int_eq(b.items[0].run_at, T_2015 + 600 * 1000);
	add_ok("{\"type\": \"noop\", \"in\": 90}");
	ck_assert_int_eq(b.items[1].run_at, T_2015 + 90 * 1000);
	add_ok("{\"type\": \"noop\", \"at\": 1795640000}");
	ck_assert_int_eq(b.items[2].run_at, 1795640000000LL);
	add_ok("{\"type\": \"noop\", \"at\": \"1795640000\"}");
	ck_assert_int_eq(b.items[3].run_at, 1795640000000LL);
	add_ok("{\"type\": \"noop\", \"at\": \"2026-11-25T20:15:00+01:00\"}");
	ck_assert_int_eq(b.items[4].run_at, T_2015 - 3600 * 1000);

	add_refused("{\"type\": \"noop\", \"at\": \"tomorrow\"}", "at: ");
	add_refused("{\"type\": \"noop\", \"in\": \"soon\"}", "in: ");
	add_refused("{\"type\": \"noop\", \"in\": -5}", "in: ");
	add_refused("{\"type\": \"noop\", \"at\": true}", "at: ");
	add_refused("{\"type\": \"noop\", \"in\": \"1m\", \"at\": 1795640000}",
	    "at: give \"at\" or \"in\", not both");
	ck_assert_uint_eq(b.n, 5);
}
END_TEST

START_TEST(refusals_name_the_field)
{
	add_ok("{\"type\": \"noop\"}");
	add_refused("[1]", "expected a JSON object");
	add_refused("{}", "type: missing");
	add_refused("{\"type\": 3}", "type: expected a string");
	add_refused("{\"type\": \"nosuch\"}", "type: unknown job type 'nosuch'");
	add_refused("{\"type\": \"noop\", \"colour\": 1}",
	    "colour: unknown field");
	add_refused("{\"type\": \"noop\", \"payload\": [1]}",
	    "payload: payload must be a JSON object");
	add_refused("{\"type\": \"noop\", \"payload\": null}", "payload: ");
	add_refused("{\"type\": \"noop\", \"payload\": {\"bogus\": 1}}",
	    "payload.bogus: unknown field");
	add_refused("{\"type\": \"noop\", \"payload\": {\"sleep_ms\": \"x\"}}",
	    "payload.sleep_ms: expected an integer");
	add_refused("{\"type\": \"backup\", \"payload\": {\"sleep_ms\": 1}}",
	    "payload.sleep_ms: unknown field");
	add_refused("{\"type\": \"noop\", \"priority\": 1001}",
	    "priority: expected an integer 0..1000");
	add_refused("{\"type\": \"noop\", \"priority\": \"1\"}", "priority: ");
	add_refused("{\"type\": \"noop\", \"max_attempts\": 0}",
	    "max_attempts: expected an integer 1..1000");
	add_refused("{\"type\": \"noop\", \"unique\": \"\"}", "unique: ");
	add_refused("{\"type\": \"noop\", \"queue\": \"a b\"}", "queue: ");
	ck_assert_uint_eq(b.n, 1);
	ck_assert_int_eq(b.config_error, 0);
}
END_TEST

START_TEST(config_settings_are_defaults)
{
	struct cfg_job *j = &env.cfg.jobs[env.cfg.njobs++];

	memset(j, 0, sizeof(*j));
	strlcpy(j->type, "noop", sizeof(j->type));
	strlcpy(j->queue, "slowq", sizeof(j->queue));
	j->priority = 9;
	j->max_attempts = 4;
	j->set = CFG_SET_QUEUE | CFG_SET_PRIORITY | CFG_SET_MAX_ATTEMPTS;
	add_ok("{\"type\": \"noop\"}");
	ck_assert_str_eq(b.items[0].queue, "slowq");
	ck_assert_int_eq(b.items[0].priority, 9);
	ck_assert_int_eq(b.items[0].max_attempts, 4);
	/* What the job object gives wins. */
	add_ok("{\"type\": \"noop\", \"queue\": \"q2\", \"priority\": 0,"
	    " \"max_attempts\": 1}");
	ck_assert_str_eq(b.items[1].queue, "q2");
	ck_assert_int_eq(b.items[1].priority, 0);
	ck_assert_int_eq(b.items[1].max_attempts, 1);
	/* Another type keeps the global defaults. */
	add_ok("{\"type\": \"backup\"}");
	ck_assert_str_eq(b.items[2].queue, "default");
}
END_TEST

START_TEST(bot_of_payload)
{
	char err[256];

	add_ok("{\"type\": \"poll\", \"payload\": {\"bot\": \"anna\"}}");
	ck_assert_str_eq(b.items[0].bot, "anna");
	/* A bot the configuration does not have is refused. */
	ck_assert_int_eq(add("{\"type\": \"poll\", \"payload\": {\"bot\":"
	    " \"zed\"}}", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "payload.bot: ") == err && strstr(err,
	    "'zed'") != NULL, "%s", err);
	ck_assert_uint_eq(b.n, 1);
}
END_TEST

static int
read_text(const char *text, char **log)
{
	struct t_capture cap;
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int rc;

	ck_assert_ptr_nonnull(f);
	t_stderr_begin(&cap);
	rc = batch_read(&b, f, "stdin");
	*log = t_stderr_end(&cap);
	fclose(f);
	return rc;
}

START_TEST(read_names_the_line)
{
	char *log;

	ck_assert_int_eq(read_text("{\"type\": \"noop\"}\n\n   \n"
	    "{\"type\": \"noop\", \"in\": \"1h\"}\n", &log), 0);
	ck_assert_str_eq(log, "");
	free(log);
	ck_assert_uint_eq(b.n, 2);
	batch_release(&b);

	ck_assert_int_eq(read_text("{\"type\": \"noop\"}\n\n"
	    "{\"type\": \"noop\", \"payload\": {\"x\": 1}}\n"
	    "{\"type\": \"noop\"}\n", &log), -1);
	ck_assert_msg(strstr(log, "stdin:3: payload.x: unknown field") !=
	    NULL, "%s", log);
	free(log);
	batch_release(&b);

	ck_assert_int_eq(read_text("{\"type\": \"noop\"}\n{\"type\": \n",
	    &log), -1);
	ck_assert_msg(strstr(log, "stdin:2: bad JSON") != NULL, "%s", log);
	free(log);
	batch_release(&b);

	/* Duplicate keys in one object are refused, not silently merged. */
	ck_assert_int_eq(read_text("{\"type\": \"noop\", \"type\": \"backup\"}"
	    "\n", &log), -1);
	ck_assert_msg(strstr(log, "stdin:1: ") != NULL, "%s", log);
	free(log);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs"), 0);
}
END_TEST

START_TEST(enqueue_all_with_unique_keys)
{
	int64_t ids[4], held;

	t_exec(&env.db, "INSERT INTO jobs (type, queue, payload, priority,"
	    " run_at, max_attempts, unique_key, state, created_at) VALUES"
	    " ('noop', 'default', '{}', 5, 0, 25, 'taken', 'queued', 0)");
	held = t_sql_int(&env.db, "SELECT id FROM jobs");
	add_ok("{\"type\": \"noop\", \"unique\": \"taken\"}");
	add_ok("{\"type\": \"noop\", \"unique\": \"fresh\", \"priority\": 2}");
	add_ok("{\"type\": \"noop\", \"payload\": {\"sleep_ms\": 1}}");
	add_ok("{\"type\": \"noop\", \"unique\": \"fresh\"}");
	ck_assert_int_eq(batch_enqueue(&b, &env.db, ids), 0);
	ck_assert_int_eq(ids[0], held);
	ck_assert_int_ne(ids[1], held);
	ck_assert_int_ne(ids[2], ids[1]);
	ck_assert_int_eq(ids[3], ids[1]);	/* taken within the batch */
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs"), 3);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT priority FROM jobs WHERE"
	    " id = %lld", (long long)ids[1]), 2);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT json_extract(payload,"
	    " '$.sleep_ms') FROM jobs WHERE id = %lld", (long long)ids[2]), 1);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs WHERE"
	    " state = 'queued' AND type = 'noop'"), 3);

	/* A key held only by a finished job is free again. */
	batch_release(&b);
	t_exec(&env.db, "UPDATE jobs SET state = 'succeeded' WHERE id = %lld",
	    (long long)held);
	add_ok("{\"type\": \"noop\", \"unique\": \"taken\"}");
	ck_assert_int_eq(batch_enqueue(&b, &env.db, ids), 0);
	ck_assert_int_ne(ids[0], held);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs"), 4);
}
END_TEST

START_TEST(failed_enqueue_changes_nothing)
{
	struct t_capture cap;
	int64_t ids[3];
	int rc;

	/* The third insert fails in the database. */
	if (env.db.pg != NULL) {
		t_exec(&env.db, "CREATE FUNCTION boom() RETURNS trigger"
		    " LANGUAGE plpgsql AS $f$ BEGIN IF NEW.payload LIKE"
		    " '%%boom%%' THEN RAISE EXCEPTION 'boom'; END IF;"
		    " RETURN NEW; END $f$");
		t_exec(&env.db, "CREATE TRIGGER boom BEFORE INSERT ON jobs"
		    " FOR EACH ROW EXECUTE FUNCTION boom()");
	} else
		t_exec(&env.db, "CREATE TRIGGER boom BEFORE INSERT ON jobs"
		    " WHEN NEW.payload LIKE '%%boom%%' BEGIN SELECT"
		    " RAISE(ABORT, 'boom'); END");
	add_ok("{\"type\": \"noop\", \"unique\": \"a\"}");
	add_ok("{\"type\": \"noop\"}");
	add_ok("{\"type\": \"noop\", \"payload\": {\"trace\": \"boom\"}}");
	t_stderr_begin(&cap);
	rc = batch_enqueue(&b, &env.db, ids);
	free(t_stderr_end(&cap));
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs"), 0);
	/* ... and the database is usable after. */
	t_exec(&env.db, env.db.pg != NULL ? "DROP TRIGGER boom ON jobs" :
	    "DROP TRIGGER boom");
	ck_assert_int_eq(batch_enqueue(&b, &env.db, ids), 0);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM jobs"), 3);
}
END_TEST

START_TEST(fields_read_only_when_needed)
{
	char path[PATH_MAX], err[256];
	struct t_capture cap;
	char *log;
	int rc;

	t_path(env.cfg.fields, sizeof(env.cfg.fields), env.dir,
	    "missing.json");
	/* noops do not need the definitions: no error for a missing file */
	add_ok("{\"type\": \"noop\"}");
	ck_assert_int_eq(b.fields_state, 0);
	t_stderr_begin(&cap);
	rc = add("{\"type\": \"contact\", \"payload\": {\"bot\": \"anna\","
	    " \"platform_id\": \"1\", \"profile\": {\"age\": 30}}}", err,
	    sizeof(err));
	log = t_stderr_end(&cap);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(b.config_error, 1);
	ck_assert_ptr_nonnull(strstr(log, "missing.json"));
	free(log);
	ck_assert_uint_eq(b.n, 1);
	batch_release(&b);

	/* A good file: the profile is checked against it. */
	t_path(path, sizeof(path), env.dir, "fields.json");
	t_write_file(path, "[{\"name\": \"age\", \"type\": \"integer\"}]");
	strlcpy(env.cfg.fields, path, sizeof(env.cfg.fields));
	batch_init(&b, jobs_table, &env.cfg);
	add_ok("{\"type\": \"contact\", \"payload\": {\"bot\": \"anna\","
	    " \"platform_id\": \"1\", \"profile\": {\"age\": 30}}}");
	add_refused("{\"type\": \"contact\", \"payload\": {\"bot\": \"anna\","
	    " \"platform_id\": \"2\", \"profile\": {\"age\": \"old\"}}}",
	    "payload.profile.age: ");
	ck_assert_int_eq(b.config_error, 0);
	ck_assert_str_eq(b.items[0].bot, "anna");
}
END_TEST

Suite *
suite_batch(void)
{
	Suite *s = suite_create("batch");
	TCase *tc;

	tc = t_tcase("parse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, object_becomes_item);
	tcase_add_test(tc, at_and_in);
	tcase_add_test(tc, refusals_name_the_field);
	tcase_add_test(tc, config_settings_are_defaults);
	tcase_add_test(tc, bot_of_payload);
	tcase_add_test(tc, fields_read_only_when_needed);
	suite_add_tcase(s, tc);

	tc = t_tcase("read");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, read_names_the_line);
	suite_add_tcase(s, tc);

	tc = t_tcase("enqueue");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, enqueue_all_with_unique_keys);
	tcase_add_test(tc, failed_enqueue_changes_nothing);
	suite_add_tcase(s, tc);
	return s;
}
