/*
 * check_legacy: the import of the old system's export (lib/legacy.c),
 * from a small export directory each test writes into its temp dir.
 * A good export lands (contacts with their profile, messages with their
 * legacy keys, daily metrics) and a second run changes nothing; a
 * changed profile counts as updated; a bad file (bad JSON, an unknown
 * contact, a profile the field definitions reject) is named in the log
 * and skipped while the good files are imported; with strict nothing is
 * written; a dry run reports the counts and writes nothing; a missing
 * directory is an error; progress is reported per file.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_dater.h"
#include "../lib/legacy.h"
#include "../lib/banned.h"

static struct t_env env;
static char exp_dir[PATH_MAX];

static void
put(const char *name, const char *text)
{
	char path[PATH_MAX];

	t_path(path, sizeof(path), exp_dir, name);
	t_write_file(path, text);
}

static void
setup(void)
{
	char sub[PATH_MAX];

	t_env_setup(&env);
	t_path(exp_dir, sizeof(exp_dir), env.dir, "export");
	ck_assert_int_eq(mkdir(exp_dir, 0700), 0);
	t_path(sub, sizeof(sub), exp_dir, "girls_data");
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	t_path(sub, sizeof(sub), exp_dir, "conversations");
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	put("girls_data/anna.json", "{\"id\": 1001, \"username\": \"@anna_k\","
	    " \"name\": \"Anna\", \"consent\": true, \"age\": 27,"
	    " \"city\": \"Berlin\"}");
	put("girls_data/batch.json", "[{\"platform_id\": \"2002\","
	    " \"display_name\": \"Maria\", \"age\": 30}]");
	put("conversations/1001.json", "["
	    "{\"role\": \"system\", \"content\": \"You are nice.\","
	    " \"timestamp\": \"2025-03-01T09:59:00Z\"},"
	    "{\"id\": 1, \"role\": \"assistant\", \"text\": \"Hi Anna\","
	    " \"timestamp\": \"2025-03-01T10:00:00Z\"},"
	    "{\"id\": 2, \"role\": \"user\", \"text\": \"Hi!\","
	    " \"timestamp\": \"2025-03-01T10:30:00Z\"}]");
	put("conversations/2002.json", "["
	    "{\"role\": \"user\", \"text\": \"hello\","
	    " \"timestamp\": 1741000000}]");
	put("metrics.json", "[{\"day\": \"2025-03-01\", \"received\": 12,"
	    " \"sent\": 15, \"cost_usd\": 0.5}]");
}

static void
teardown(void)
{
	t_env_teardown(&env);
}

struct progress {
	int calls, last_done, last_total, clears;
};

static void
on_progress(void *arg, int done, int total)
{
	struct progress *p = arg;

	if (done < 0) {
		p->clears++;
		return;
	}
	p->calls++;
	p->last_done = done;
	p->last_total = total;
}

/* legacy_import of exp_dir with the log captured into *log (freed by
 * the caller, or dropped if log is NULL). */
static int
import(int dry_run, int strict, const json_t *defs, struct legacy_report *r,
    char **log)
{
	struct legacy_opts o;
	struct t_capture cap;
	char *text;
	int rc;

	memset(&o, 0, sizeof(o));
	o.dir = exp_dir;
	o.bot = "anna";
	o.defs = defs;
	o.dry_run = dry_run;
	o.strict = strict;
	memset(r, 0xff, sizeof(*r));
	t_stderr_begin(&cap);
	rc = legacy_import(&env.db, &o, r);
	text = t_stderr_end(&cap);
	if (log != NULL)
		*log = text;
	else
		free(text);
	return rc;
}

/* group_concat(x, sep) on the test's backend. */
static const char *
agg(void)
{
	return env.db.pg != NULL ? "string_agg" : "group_concat";
}

/* Every imported row as one text, to see that nothing changed. */
static char *
snapshot(void)
{
	char *s = malloc(8192);
	const char *a = agg();

	ck_assert_ptr_nonnull(s);
	t_sql_text(&env.db, s, 8192, "SELECT"
	    " coalesce((SELECT %s(id || ' ' || bot || ' ' || platform_id"
	    "  || ' ' || coalesce(handle, '') || ' ' || coalesce(name, '')"
	    "  || ' ' || profile || ' ' || status || ' ' || consent || ' '"
	    "  || unanswered || ' ' || coalesce(last_inbound_at, 0) || ' '"
	    "  || coalesce(last_outbound_at, 0) || ' ' || updated_at, '|')"
	    "  FROM (SELECT * FROM contacts ORDER BY id) c), '')"
	    " || '#' || coalesce((SELECT %s(id || ' ' || contact || ' '"
	    "  || direction || ' ' || kind || ' ' || text || ' '"
	    "  || platform_msg_id || ' ' || created_at, '|')"
	    "  FROM (SELECT * FROM messages ORDER BY id) m), '')"
	    " || '#' || coalesce((SELECT %s(bot || ' ' || day || ' '"
	    "  || received || ' ' || sent || ' ' || cost_usd, '|')"
	    "  FROM (SELECT * FROM metrics_daily ORDER BY bot, day) d), '')",
	    a, a, a);
	return s;
}

static int64_t
count(const char *table)
{
	return t_sql_int(&env.db, "SELECT count(*) FROM %s", table);
}

START_TEST(good_export_lands)
{
	struct legacy_report r;
	char buf[256], *log;

	ck_assert_int_eq(import(0, 0, NULL, &r, &log), LEGACY_OK);
	ck_assert_str_eq(log, "");
	free(log);
	ck_assert_int_eq(r.bad, 0);
	ck_assert_int_eq(r.files, 5);
	ck_assert_int_eq(r.contacts.imported, 2);
	ck_assert_int_eq(r.messages.imported, 3);
	ck_assert_int_eq(r.messages.skipped, 1);	/* the system message */
	ck_assert_int_eq(r.metrics.imported, 1);
	ck_assert_int_eq(count("contacts"), 2);
	ck_assert_int_eq(count("messages"), 3);
	ck_assert_int_eq(count("metrics_daily"), 1);

	t_sql_text(&env.db, buf, sizeof(buf), "SELECT bot || ' ' || handle ||"
	    " ' ' || name || ' ' || consent || ' ' || profile FROM contacts"
	    " WHERE platform_id = '1001'");
	ck_assert_str_eq(buf, "anna anna_k Anna 1 {\"age\":27,\"city\":"
	    "\"Berlin\"}");
	t_sql_text(&env.db, buf, sizeof(buf), "SELECT %s(direction"
	    " || ':' || platform_msg_id || ':' || created_at, ' ') FROM"
	    " (SELECT * FROM messages WHERE contact = (SELECT id FROM contacts"
	    " WHERE platform_id = '1001') ORDER BY id) m", agg());
	ck_assert_str_eq(buf, "out:legacy:1:1740823200000"
	    " in:legacy:2:1740825000000");
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT created_at FROM messages"
	    " WHERE text = 'hello'"), 1741000000000LL);
	t_sql_text(&env.db, buf, sizeof(buf), "SELECT bot || ' ' || day || ' '"
	    " || received || ' ' || sent || ' ' || cost_usd FROM"
	    " metrics_daily");
	ck_assert_str_eq(buf, "anna 2025-03-01 12 15 0.5");
}
END_TEST

START_TEST(second_run_changes_nothing)
{
	struct legacy_report r;
	char *before, *after;

	ck_assert_int_eq(import(0, 0, NULL, &r, NULL), LEGACY_OK);
	before = snapshot();
	ck_assert_int_eq(import(0, 0, NULL, &r, NULL), LEGACY_OK);
	after = snapshot();
	ck_assert_str_eq(after, before);
	ck_assert_int_eq(r.contacts.imported + r.contacts.updated, 0);
	ck_assert_int_eq(r.contacts.skipped, 2);
	ck_assert_int_eq(r.messages.imported + r.messages.updated, 0);
	ck_assert_int_eq(r.messages.skipped, 4);
	ck_assert_int_eq(r.metrics.imported + r.metrics.updated, 0);
	ck_assert_int_eq(r.metrics.skipped, 1);
	free(before);
	free(after);

	/* A changed profile is an update; the rest is skipped. */
	put("girls_data/batch.json", "[{\"platform_id\": \"2002\","
	    " \"display_name\": \"Maria\", \"age\": 31}]");
	ck_assert_int_eq(import(0, 0, NULL, &r, NULL), LEGACY_OK);
	ck_assert_int_eq(r.contacts.updated, 1);
	ck_assert_int_eq(r.contacts.skipped, 1);
	ck_assert_int_eq(r.contacts.imported, 0);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT json_extract(profile,"
	    " '$.age') FROM contacts WHERE platform_id = '2002'"), 31);
	ck_assert_int_eq(count("contacts"), 2);
}
END_TEST

/* Messages without an id are keyed by a hash; a repeat keeps its own
 * key, and a second run finds both. */
START_TEST(repeats_without_ids)
{
	struct legacy_report r;

	put("conversations/2002.json", "["
	    "{\"role\": \"user\", \"text\": \"ok\", \"timestamp\": 1741000000},"
	    "{\"role\": \"user\", \"text\": \"ok\", \"timestamp\": 1741000000},"
	    "{\"role\": \"assistant\", \"text\": \"ok?\","
	    " \"timestamp\": 1741000005}]");
	ck_assert_int_eq(import(0, 0, NULL, &r, NULL), LEGACY_OK);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM messages"
	    " WHERE text = 'ok'"), 2);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(DISTINCT"
	    " platform_msg_id) FROM messages WHERE contact = (SELECT id FROM"
	    " contacts WHERE platform_id = '2002')"), 3);
	ck_assert_int_eq(import(0, 0, NULL, &r, NULL), LEGACY_OK);
	ck_assert_int_eq(r.messages.imported, 0);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM messages"
	    " WHERE text LIKE 'ok%%'"), 3);
}
END_TEST

/* The contact's conversation state follows its messages, also when a
 * later export adds to a conversation. */
START_TEST(conversation_state_follows)
{
	struct legacy_report r;
	char buf[128];

	ck_assert_int_eq(import(0, 0, NULL, &r, NULL), LEGACY_OK);
	t_sql_text(&env.db, buf, sizeof(buf), "SELECT last_inbound_at || ' '"
	    " || last_outbound_at || ' ' || unanswered || ' ' || initiated_at"
	    " FROM contacts WHERE platform_id = '1001'");
	ck_assert_str_eq(buf, "1740825000000 1740823200000 0 1740823200000");
	/* Our answer comes in a later export, then an older message. */
	put("conversations/1001.json", "["
	    "{\"id\": 1, \"role\": \"assistant\", \"text\": \"Hi Anna\","
	    " \"timestamp\": \"2025-03-01T10:00:00Z\"},"
	    "{\"id\": 2, \"role\": \"user\", \"text\": \"Hi!\","
	    " \"timestamp\": \"2025-03-01T10:30:00Z\"},"
	    "{\"id\": 4, \"role\": \"assistant\", \"text\": \"How are you?\","
	    " \"timestamp\": \"2025-03-01T10:31:00Z\"}]");
	ck_assert_int_eq(import(0, 0, NULL, &r, NULL), LEGACY_OK);
	ck_assert_int_eq(r.messages.imported, 1);
	t_sql_text(&env.db, buf, sizeof(buf), "SELECT last_inbound_at || ' '"
	    " || last_outbound_at || ' ' || unanswered FROM contacts WHERE"
	    " platform_id = '1001'");
	ck_assert_str_eq(buf, "1740825000000 1740825060000 1");
}
END_TEST

START_TEST(bad_files_named_and_skipped)
{
	struct legacy_report r;
	char *log;

	put("girls_data/truncated.json", "{\"id\": 3003, \"name\": ");
	put("conversations/ghost.json", "[{\"role\": \"user\", \"text\": \"x\","
	    " \"timestamp\": 1741000000}]");
	ck_assert_int_eq(import(0, 0, NULL, &r, &log), LEGACY_BAD_INPUT);
	ck_assert_int_eq(r.bad, 2);
	ck_assert_msg(strstr(log, "girls_data/truncated.json: ") != NULL,
	    "%s", log);
	ck_assert_msg(strstr(log, "conversations/ghost.json: unknown contact"
	    " 'ghost'") != NULL, "%s", log);
	free(log);
	/* The good files went in all the same, none of the bad. */
	ck_assert_int_eq(count("contacts"), 2);
	ck_assert_int_eq(count("messages"), 3);
	ck_assert_int_eq(count("metrics_daily"), 1);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM messages"
	    " WHERE text = 'x'"), 0);
}
END_TEST

START_TEST(strict_rolls_back)
{
	struct legacy_report r;
	char *log, path[PATH_MAX];

	put("conversations/ghost.json", "[{\"role\": \"user\", \"text\": \"x\","
	    " \"timestamp\": 1741000000}]");
	ck_assert_int_eq(import(0, 1, NULL, &r, &log), LEGACY_BAD_INPUT);
	ck_assert_int_eq(r.bad, 1);
	ck_assert_ptr_nonnull(strstr(log, "ghost.json"));
	free(log);
	ck_assert_int_eq(count("contacts"), 0);
	ck_assert_int_eq(count("messages"), 0);
	ck_assert_int_eq(count("metrics_daily"), 0);
	/* Without the bad file, strict imports. */
	t_path(path, sizeof(path), exp_dir, "conversations/ghost.json");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(import(0, 1, NULL, &r, NULL), LEGACY_OK);
	ck_assert_int_eq(count("contacts"), 2);
	ck_assert_int_eq(count("messages"), 3);
}
END_TEST

START_TEST(dry_run_writes_nothing)
{
	struct legacy_report r;
	char *before, *after;

	before = snapshot();
	ck_assert_int_eq(import(1, 0, NULL, &r, NULL), LEGACY_OK);
	ck_assert_int_eq(r.contacts.imported, 2);
	ck_assert_int_eq(r.messages.imported, 3);
	ck_assert_int_eq(r.metrics.imported, 1);
	ck_assert_int_eq(count("contacts"), 0);
	ck_assert_int_eq(count("messages"), 0);
	ck_assert_int_eq(count("metrics_daily"), 0);
	after = snapshot();
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
	/* A real run after it imports everything. */
	ck_assert_int_eq(import(0, 0, NULL, &r, NULL), LEGACY_OK);
	ck_assert_int_eq(r.contacts.imported, 2);
	ck_assert_int_eq(count("contacts"), 2);
}
END_TEST

START_TEST(field_definitions_checked)
{
	struct legacy_report r;
	json_error_t e;
	json_t *defs;
	char *log;

	defs = json_loads("[{\"name\": \"age\", \"type\": \"integer\"},"
	    " {\"name\": \"city\", \"type\": \"string\"}]", 0, &e);
	ck_assert_ptr_nonnull(defs);
	put("girls_data/batch.json", "[{\"platform_id\": \"2002\","
	    " \"display_name\": \"Maria\", \"age\": \"thirty\"}]");
	/* ... and her conversation then names an unknown contact. */
	ck_assert_int_eq(import(0, 0, defs, &r, &log), LEGACY_BAD_INPUT);
	ck_assert_msg(strstr(log, "girls_data/batch.json: ") != NULL &&
	    strstr(log, "age") != NULL, "%s", log);
	free(log);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM contacts"
	    " WHERE platform_id = '2002'"), 0);
	ck_assert_int_eq(t_sql_int(&env.db, "SELECT count(*) FROM contacts"
	    " WHERE platform_id = '1001'"), 1);
	json_decref(defs);
}
END_TEST

START_TEST(missing_directory)
{
	struct legacy_report r;
	char *log;

	t_path(exp_dir, sizeof(exp_dir), env.dir, "nosuch");
	ck_assert_int_eq(import(0, 0, NULL, &r, &log), -1);
	ck_assert_msg(strstr(log, "nosuch") != NULL, "%s", log);
	free(log);
}
END_TEST

START_TEST(progress_per_file)
{
	struct legacy_opts o;
	struct legacy_report r;
	struct progress p;
	struct t_capture cap;

	memset(&o, 0, sizeof(o));
	memset(&p, 0, sizeof(p));
	o.dir = exp_dir;
	o.bot = "anna";
	o.progress = on_progress;
	o.progress_arg = &p;
	put("girls_data/truncated.json", "[{");
	t_stderr_begin(&cap);
	ck_assert_int_eq(legacy_import(&env.db, &o, &r), LEGACY_BAD_INPUT);
	free(t_stderr_end(&cap));
	ck_assert_int_eq(r.files, 6);
	ck_assert_int_eq(p.calls, 6);
	ck_assert_int_eq(p.last_done, 6);
	ck_assert_int_eq(p.last_total, 6);
	ck_assert_int_ge(p.clears, 1);	/* before the ghost is logged */
}
END_TEST

Suite *
suite_legacy(void)
{
	Suite *s = suite_create("legacy");
	TCase *tc;

	tc = t_tcase("import");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, good_export_lands);
	tcase_add_test(tc, second_run_changes_nothing);
	tcase_add_test(tc, dry_run_writes_nothing);
	tcase_add_test(tc, progress_per_file);
	tcase_add_test(tc, repeats_without_ids);
	tcase_add_test(tc, conversation_state_follows);
	suite_add_tcase(s, tc);

	tc = t_tcase("bad");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, bad_files_named_and_skipped);
	tcase_add_test(tc, strict_rolls_back);
	tcase_add_test(tc, field_definitions_checked);
	tcase_add_test(tc, missing_directory);
	suite_add_tcase(s, tc);
	return s;
}
