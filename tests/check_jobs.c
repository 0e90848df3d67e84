/*
 * check_jobs: the job handlers (jobs/) run on a job as a worker runs
 * them, one at a time: inbound, respond, send, initiate, followup,
 * summarize and the maintenance types. The harness: a temp database, a
 * configuration file loaded with cfg_load (the bot "anna" on Telegram,
 * its LLM and its Telegram API both played by tests/peers/fault.js on
 * loopback, which logs every request), and run_job, which hands a job
 * to its type's handler and commits what it left for the worker's next
 * transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

#include "check_dater.h"
#include "check_peers.h"
#include "../jobs/jobs.h"
#include "../lib/clock.h"
#include "../lib/job.h"
#include "../lib/log.h"
#include "../lib/pgdump.h"
#include "../lib/queue.h"
#include "../lib/banned.h"

#define DAY ((int64_t)24 * 3600 * 1000)
#define REPLY "Mostly the sandstone trails. And you?"

static struct t_env env;
static struct t_peer peer;
#define DB (&env.db)

/* The LLM answers REPLY; Telegram accepts every message. */
static const char script_ok[] = "{\"routes\": ["
    "{\"path\": \"/chat/completions$\", \"steps\": [{\"json\": {"
    "\"id\": \"c1\", \"object\": \"chat.completion\", \"model\": \"m\","
    " \"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\","
    " \"content\": \"" REPLY "\"}, \"finish_reason\": \"stop\"}],"
    " \"usage\": {\"prompt_tokens\": 100, \"completion_tokens\": 10,"
    " \"total_tokens\": 110}}}]},"
    "{\"path\": \"/sendMessage$\", \"steps\": [{\"json\": {\"ok\": true,"
    " \"result\": {\"message_id\": 501, \"date\": 1790000000,"
    " \"chat\": {\"id\": 7, \"type\": \"private\"}, \"text\": \"x\"}}}]},"
    "{\"path\": \".\", \"steps\": [{\"json\": {\"ok\": true,"
    " \"result\": true}}]}]}";

/* The LLM is down. */
static const char script_llm_down[] = "{\"routes\": ["
    "{\"path\": \"/chat/completions$\", \"steps\": [{\"status\": 503,"
    " \"json\": {\"error\": {\"message\": \"overloaded\"}}}]},"
    "{\"path\": \".\", \"steps\": [{\"json\": {\"ok\": true,"
    " \"result\": true}}]}]}";

/* (Re)start the peer with script and load the configuration pointing
 * at it; bot_extra is more settings for the bot's group. */
static void
use_peer(const char *script, const char *bot_extra)
{
	char conf[PATH_MAX], text[4096], rel[PATH_MAX], fields[PATH_MAX];
	int n;

	t_peer_stop(&peer);
	t_fault_start(&peer, script);
	snprintf(rel, sizeof(rel), "%s/../etc/fields.json", t_tests_dir());
	ck_assert_ptr_nonnull(realpath(rel, fields));
	n = snprintf(text, sizeof(text),
	    "synchronous = \"off\";\n"
	    "log_level = \"error\";\n"
	    "fields = \"%s\";\n"
	    "llm = { provider = \"openai\"; base_url = \"%s/v1\";"
	    " model = \"m\"; api_key_env = \"\"; timeout = \"10s\"; };\n"
	    "defaults = { reply_delay = [0, 0]; quiet_hours = \"off\";"
	    " max_per_hour = 1000; max_per_chat_hour = 1000; };\n"
	    "maintenance = { backup_dir = \"%s/backups\"; };\n"
	    "bots = ( { name = \"anna\"; persona = \"You are Anna, a"
	    " baker in Leipzig.\"; transport = { driver = \"telegram\";"
	    " base_url = \"%s\"; token_env = \"T_JOBS_TOKEN\"; }; %s } );\n",
	    fields, peer.url, env.dir, peer.url, bot_extra);
	ck_assert(n > 0 && (size_t)n < sizeof(text));
	t_path(conf, sizeof(conf), env.dir, "dater.conf");
	t_write_file(conf, text);
	cfg_release(&env.cfg);
	memset(&env.cfg, 0, sizeof(env.cfg));
	ck_assert_int_eq(cfg_load(&env.cfg, conf, jobs_names), 0);
	cfg_use_database(&env.cfg, env.path);
}

static void
setup(void)
{
	t_env_setup(&env);
	memset(&peer, 0, sizeof(peer));
	ck_assert_int_eq(setenv("T_JOBS_TOKEN", "42:secret", 1), 0);
	use_peer(script_ok, "");
	log_set_level(LOG_LEVEL_WARN);
}

static void
teardown(void)
{
	t_peer_stop(&peer);
	t_env_teardown(&env);
}

/* ---- the harness ------------------------------------------------------ */

/*
 * Run job id's handler as a worker does (its next attempt, the payload
 * parsed, no transaction open), then commit what the handler left for
 * the worker's transaction that records the result (db_commit_later).
 * The job's own row is not changed. Returns the handler's result.
 */
static enum job_result
run_job(int64_t id, struct job_outcome *out)
{
	const struct job_type *type;
	struct queue_job job;
	struct job_ctx ctx;
	char state[32];
	enum job_result r;

	memset(&job, 0, sizeof(job));
	ck_assert_int_eq(queue_get(DB, id, &job, state, sizeof(state)), 1);
	type = job_find(jobs_table, job.type);
	ck_assert_ptr_nonnull(type);
	job.attempts++;
	memset(&ctx, 0, sizeof(ctx));
	ctx.db = DB;
	ctx.cfg = &env.cfg;
	ctx.job = &job;
	ctx.payload = json_loads(job.payload, 0, NULL);
	ck_assert(json_is_object(ctx.payload));
	memset(out, 0, sizeof(*out));
	r = type->run(&ctx, out);
	if (env.db.later) {
		ck_assert_int_eq(db_begin(DB), 0);
		ck_assert_int_eq(db_commit(DB), 0);
	}
	ck_assert_int_eq(env.db.later, 0);
	json_decref(ctx.payload);
	queue_job_release(&job);
	return r;
}

/* Add a job of type for anna with payload and run it; *id (if not NULL)
 * gets the job's id. */
static enum job_result
run(const char *type, const char *payload, int64_t *id,
    struct job_outcome *out)
{
	int64_t j = t_job_add(DB, type, "anna", payload, 0);

	if (id != NULL)
		*id = j;
	return run_job(j, out);
}

/* Run the newest queued job of type (the one a handler enqueued). */
static enum job_result
run_next(const char *type, struct job_outcome *out)
{
	return run_job(t_sql_int(DB, "SELECT max(id) FROM jobs WHERE type ="
	    " '%s' AND state = 'queued'", type), out);
}

/* Requests the peer got whose path ends in suffix. */
static int
requests(const char *suffix)
{
	json_t *log = t_fault_requests(&peer), *r;
	const char *path;
	size_t i, len = strlen(suffix);
	int n = 0;

	json_array_foreach(log, i, r) {
		path = json_string_value(json_object_get(r, "path"));
		n += path != NULL && strlen(path) >= len &&
		    strcmp(path + strlen(path) - len, suffix) == 0;
	}
	json_decref(log);
	return n;
}

/* The body of the last request whose path ends in suffix, as a new
 * string (free it). */
static char *
last_body(const char *suffix)
{
	json_t *log = t_fault_requests(&peer), *r;
	const char *path, *body = NULL;
	size_t i, len = strlen(suffix);
	char *s;

	json_array_foreach(log, i, r) {
		path = json_string_value(json_object_get(r, "path"));
		if (path != NULL && strlen(path) >= len &&
		    strcmp(path + strlen(path) - len, suffix) == 0)
			body = json_string_value(json_object_get(r, "body"));
	}
	ck_assert_ptr_nonnull(body);
	s = strdup(body);
	ck_assert_ptr_nonnull(s);
	json_decref(log);
	return s;
}

/* A message from Telegram user 7, through an inbound job. Returns the
 * contact's id. */
static int64_t
inbound(const char *mid, const char *text)
{
	struct job_outcome out;
	char payload[512];

	snprintf(payload, sizeof(payload), "{\"bot\": \"anna\","
	    " \"platform_id\": \"7\", \"message_id\": \"%s\", \"name\":"
	    " \"Mia\", \"text\": \"%s\"}", mid, text);
	ck_assert_int_eq(run("inbound", payload, NULL, &out), JOB_OK);
	return t_sql_int(DB, "SELECT id FROM contacts WHERE bot = 'anna' AND"
	    " platform_id = '7'");
}

static int64_t
count(const char *table, const char *where)
{
	return t_sql_int(DB, "SELECT count(*) FROM %s WHERE %s", table,
	    where);
}

static void
contact_payload(char *buf, size_t len, int64_t contact)
{
	snprintf(buf, len, "{\"contact\": %lld}", (long long)contact);
}

/* ---- inbound ------------------------------------------------------------ */

START_TEST(inbound_stores_and_asks_for_reply)
{
	int64_t c = inbound("1", "Hi! Where do you hike?");
	char key[64], want[64];

	ck_assert_int_gt(c, 0);
	ck_assert_int_eq(count("messages", "direction = 'in'"), 1);
	ck_assert_int_eq(count("jobs", "type = 'respond' AND state ="
	    " 'queued'"), 1);
	t_sql_text(DB, key, sizeof(key), "SELECT unique_key FROM jobs WHERE"
	    " type = 'respond'");
	snprintf(want, sizeof(want), "respond:%lld", (long long)c);
	ck_assert_str_eq(key, want);
	/* Nothing goes out before respond runs. */
	ck_assert_int_eq(requests("/chat/completions"), 0);
}
END_TEST

START_TEST(inbound_twice_stored_once)
{
	inbound("1", "Hi!");
	inbound("1", "Hi!");
	inbound("2", "Are you there?");
	ck_assert_int_eq(count("messages", "direction = 'in'"), 2);
	/* One reply per burst. */
	ck_assert_int_eq(count("jobs", "type = 'respond'"), 1);
}
END_TEST

START_TEST(inbound_opt_out_confirms_and_cancels)
{
	int64_t c = inbound("1", "Hi!");

	inbound("2", "stop");
	ck_assert_int_eq(t_sql_int(DB, "SELECT status = 'opted_out' FROM"
	    " contacts WHERE id = %lld", (long long)c), 1);
	ck_assert_int_eq(count("jobs", "type = 'respond' AND state ="
	    " 'queued'"), 0);
	/* One confirmation, queued for sending. */
	ck_assert_int_eq(count("messages", "direction = 'out'"), 1);
	ck_assert_int_eq(count("jobs", "type = 'send' AND state ="
	    " 'queued'"), 1);
}
END_TEST

START_TEST(inbound_unknown_bot_waits)
{
	struct job_outcome out;
	int64_t id = t_job_add(DB, "inbound", "gone", "{\"bot\": \"gone\","
	    " \"platform_id\": \"7\", \"text\": \"hi\"}", 0);

	ck_assert_int_eq(run_job(id, &out), JOB_DEFER);
	ck_assert_int_gt(out.at, clock_now_ms());
	ck_assert_int_eq(count("messages", "1 = 1"), 0);
}
END_TEST

/* ---- respond ------------------------------------------------------------ */

START_TEST(respond_writes_the_reply)
{
	struct job_outcome out;
	char text[256], *body;

	inbound("1", "Hi! Where do you hike?");
	ck_assert_int_eq(run_next("respond", &out), JOB_OK);
	ck_assert_int_eq(requests("/chat/completions"), 1);
	/* The contact's words as a user turn, the persona in the prompt. */
	body = last_body("/chat/completions");
	ck_assert_ptr_nonnull(strstr(body, "Where do you hike?"));
	ck_assert_ptr_nonnull(strstr(body, "baker in Leipzig"));
	free(body);
	t_sql_text(DB, text, sizeof(text), "SELECT text FROM messages WHERE"
	    " direction = 'out' AND status = 'queued'");
	ck_assert_ptr_nonnull(strstr(text, REPLY));
	ck_assert_int_eq(count("jobs", "type = 'send' AND state ="
	    " 'queued'"), 1);
	ck_assert_int_eq(t_sql_int(DB, "SELECT sum(llm_calls) FROM"
	    " metrics_daily WHERE bot = 'anna'"), 1);
}
END_TEST

START_TEST(respond_rerun_writes_nothing_more)
{
	struct job_outcome out;
	int64_t id;

	inbound("1", "Hi!");
	id = t_sql_int(DB, "SELECT id FROM jobs WHERE type = 'respond'");
	ck_assert_int_eq(run_job(id, &out), JOB_OK);
	/* The same job again (its result was lost): it finds its reply. */
	ck_assert_int_eq(run_job(id, &out), JOB_OK);
	ck_assert_int_eq(requests("/chat/completions"), 1);
	ck_assert_int_eq(count("messages", "direction = 'out'"), 1);
	ck_assert_int_eq(count("jobs", "type = 'send'"), 1);
}
END_TEST

START_TEST(respond_rerun_in_review_no_second_draft)
{
	struct job_outcome out;
	int64_t id;

	/* A draft is not part of the conversation: the person's message
	 * still waits for a reply, so only the job's own draft tells a
	 * re-run that it is done. */
	use_peer(script_ok, "review = true;");
	inbound("1", "Hi!");
	id = t_sql_int(DB, "SELECT id FROM jobs WHERE type = 'respond'");
	ck_assert_int_eq(run_job(id, &out), JOB_OK);
	ck_assert_int_eq(run_job(id, &out), JOB_OK);
	ck_assert_int_eq(requests("/chat/completions"), 1);
	ck_assert_int_eq(count("messages", "status = 'draft'"), 1);
}
END_TEST

START_TEST(respond_llm_down_retries)
{
	struct job_outcome out;

	use_peer(script_llm_down, "");
	inbound("1", "Hi!");
	ck_assert_int_eq(run_next("respond", &out), JOB_RETRY);
	ck_assert_str_ne(out.error, "");
	ck_assert_int_eq(count("messages", "direction = 'out'"), 0);
	ck_assert_int_eq(count("jobs", "type = 'send'"), 0);
}
END_TEST

START_TEST(respond_review_keeps_a_draft)
{
	struct job_outcome out;

	use_peer(script_ok, "review = true;");
	inbound("1", "Hi!");
	ck_assert_int_eq(run_next("respond", &out), JOB_OK);
	ck_assert_int_eq(count("messages", "direction = 'out' AND status ="
	    " 'draft'"), 1);
	ck_assert_int_eq(count("jobs", "type = 'send'"), 0);
}
END_TEST

START_TEST(respond_last_word_ours_no_call)
{
	struct job_outcome out;
	char payload[64];

	contact_payload(payload, sizeof(payload), inbound("1", "Hi!"));
	ck_assert_int_eq(run_next("respond", &out), JOB_OK);
	/* A second respond for the same contact: nothing to answer. */
	ck_assert_int_eq(run("respond", payload, NULL, &out), JOB_OK);
	ck_assert_int_eq(requests("/chat/completions"), 1);
	ck_assert_int_eq(count("messages", "direction = 'out'"), 1);
}
END_TEST

/* ---- send ---------------------------------------------------------------- */

/* An inbound message answered: the reply's id, queued with its send. */
static int64_t
answered(void)
{
	struct job_outcome out;

	inbound("1", "Hi!");
	ck_assert_int_eq(run_next("respond", &out), JOB_OK);
	return t_sql_int(DB, "SELECT id FROM messages WHERE direction ="
	    " 'out'");
}

START_TEST(send_delivers_once)
{
	struct job_outcome out;
	int64_t msg = answered(), id;
	char *body;

	id = t_sql_int(DB, "SELECT id FROM jobs WHERE type = 'send'");
	ck_assert_int_eq(run_job(id, &out), JOB_OK);
	ck_assert_int_eq(requests("/sendMessage"), 1);
	body = last_body("/sendMessage");
	ck_assert_ptr_nonnull(strstr(body, "\"chat_id\":7"));
	/* The first message of a conversation says it is automated. */
	ck_assert_ptr_nonnull(strstr(body, "Automated assistant"));
	ck_assert_ptr_nonnull(strstr(body, "sandstone trails"));
	free(body);
	ck_assert_int_eq(t_sql_int(DB, "SELECT status = 'sent' FROM messages"
	    " WHERE id = %lld", (long long)msg), 1);
	/* Run again: sent already, nothing more goes out. */
	ck_assert_int_eq(run_job(id, &out), JOB_OK);
	ck_assert_int_eq(requests("/sendMessage"), 1);
}
END_TEST

START_TEST(send_interrupted_never_twice)
{
	struct job_outcome out;
	int64_t msg = answered();

	/* The last attempt died while delivering. */
	t_exec(DB, "UPDATE messages SET status = 'sending' WHERE id = %lld",
	    (long long)msg);
	(void)run_next("send", &out);
	ck_assert_int_eq(requests("/sendMessage"), 0);
	ck_assert_int_eq(t_sql_int(DB, "SELECT status = 'uncertain' FROM"
	    " messages WHERE id = %lld", (long long)msg), 1);
}
END_TEST

START_TEST(send_draft_refused)
{
	struct job_outcome out;
	char payload[64];
	int64_t msg = answered();

	t_exec(DB, "UPDATE messages SET status = 'draft' WHERE id = %lld",
	    (long long)msg);
	snprintf(payload, sizeof(payload), "{\"message\": %lld}",
	    (long long)msg);
	ck_assert_int_eq(run("send", payload, NULL, &out), JOB_FAIL);
	ck_assert_ptr_nonnull(strstr(out.error, "approve"));
	ck_assert_int_eq(requests("/sendMessage"), 0);
}
END_TEST

/* ---- initiate and followup ------------------------------------------- */

/* A contact added by a pipeline (the contact job); returns its id. */
static int64_t
new_contact(int consent)
{
	struct job_outcome out;
	char payload[256];

	snprintf(payload, sizeof(payload), "{\"bot\": \"anna\","
	    " \"platform_id\": \"9\", \"name\": \"Lea\", \"consent\": %s}",
	    consent ? "true" : "false");
	ck_assert_int_eq(run("contact", payload, NULL, &out), JOB_OK);
	return t_sql_int(DB, "SELECT id FROM contacts WHERE platform_id ="
	    " '9'");
}

START_TEST(initiate_opens_once)
{
	struct job_outcome out;
	char payload[64];
	int64_t id;

	contact_payload(payload, sizeof(payload), new_contact(1));
	ck_assert_int_eq(run("initiate", payload, &id, &out), JOB_OK);
	ck_assert_int_eq(requests("/chat/completions"), 1);
	ck_assert_int_eq(count("messages", "direction = 'out' AND kind ="
	    " 'opener'"), 1);
	ck_assert_int_eq(count("jobs", "type = 'send'"), 1);
	/* The same job again, and another: no second opener. */
	ck_assert_int_eq(run_job(id, &out), JOB_OK);
	ck_assert_int_eq(run("initiate", payload, NULL, &out), JOB_OK);
	ck_assert_int_eq(requests("/chat/completions"), 1);
	ck_assert_int_eq(count("messages", "direction = 'out'"), 1);
}
END_TEST

START_TEST(initiate_needs_consent)
{
	struct job_outcome out;
	char payload[64];

	contact_payload(payload, sizeof(payload), new_contact(0));
	ck_assert_int_eq(run("initiate", payload, NULL, &out), JOB_OK);
	ck_assert_int_eq(requests("/chat/completions"), 0);
	ck_assert_int_eq(count("messages", "1 = 1"), 0);
}
END_TEST

/* A conversation whose last message, ours and sent, is days old. */
static int64_t
gone_quiet(int64_t ago)
{
	struct job_outcome out;
	int64_t c;

	(void)answered();
	ck_assert_int_eq(run_next("send", &out), JOB_OK);
	c = t_sql_int(DB, "SELECT contact FROM messages WHERE direction ="
	    " 'out'");
	t_exec(DB, "UPDATE contacts SET last_outbound_at = %lld,"
	    " last_inbound_at = %lld WHERE id = %lld",
	    (long long)(clock_now_ms() - ago),
	    (long long)(clock_now_ms() - ago - 1000), (long long)c);
	return c;
}

START_TEST(followup_nudges_once)
{
	struct job_outcome out;
	char payload[64];
	int64_t id;

	contact_payload(payload, sizeof(payload), gone_quiet(3 * DAY));
	ck_assert_int_eq(run("followup", payload, &id, &out), JOB_OK);
	ck_assert_int_eq(requests("/chat/completions"), 2);
	ck_assert_int_eq(count("messages", "kind = 'followup'"), 1);
	/* A re-run of the job writes no second one. */
	ck_assert_int_eq(run_job(id, &out), JOB_OK);
	ck_assert_int_eq(requests("/chat/completions"), 2);
	ck_assert_int_eq(count("messages", "kind = 'followup'"), 1);
}
END_TEST

START_TEST(followup_not_yet)
{
	struct job_outcome out;
	char payload[64];

	/* Quiet for an hour: followup_after (2 days) has not passed. */
	contact_payload(payload, sizeof(payload), gone_quiet(DAY / 24));
	ck_assert_int_eq(run("followup", payload, NULL, &out), JOB_OK);
	ck_assert_int_eq(requests("/chat/completions"), 1);
	ck_assert_int_eq(count("messages", "kind = 'followup'"), 0);
}
END_TEST

/* ---- summarize -------------------------------------------------------- */

START_TEST(summarize_folds_old_history)
{
	struct job_outcome out;
	char payload[64], mid[16], summary[256];
	int64_t c = 0;
	int i;

	use_peer(script_ok, "history_messages = 2; summary_after = 3;");
	for (i = 1; i <= 6; i++) {
		snprintf(mid, sizeof(mid), "%d", i);
		c = inbound(mid, "one more thing");
	}
	contact_payload(payload, sizeof(payload), c);
	ck_assert_int_eq(run("summarize", payload, NULL, &out), JOB_OK);
	ck_assert_int_eq(requests("/chat/completions"), 1);
	t_sql_text(DB, summary, sizeof(summary), "SELECT summary FROM"
	    " contacts WHERE id = %lld", (long long)c);
	ck_assert_str_eq(summary, REPLY);
	/* The newest history_messages stay out of the summary. */
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM messages WHERE"
	    " contact = %lld AND id > (SELECT summary_upto FROM contacts"
	    " WHERE id = %lld)", (long long)c, (long long)c), 2);
}
END_TEST

START_TEST(summarize_short_history_no_call)
{
	struct job_outcome out;
	char payload[64];

	contact_payload(payload, sizeof(payload), inbound("1", "Hi!"));
	ck_assert_int_eq(run("summarize", payload, NULL, &out), JOB_OK);
	ck_assert_int_eq(requests("/chat/completions"), 0);
}
END_TEST

/* ---- maintenance ------------------------------------------------------ */

/* On PostgreSQL: the rows of table in the pg_dump archive file that
 * hold text, read back with pg_restore. */
static int
archive_rows(const char *file, const char *table, const char *text)
{
	char prog[PATH_MAX], err[256], cmd[3 * PATH_MAX], line[8192];
	FILE *p;
	int n = 0, on = 0;

	ck_assert_msg(pgdump_find("pg_restore", prog, sizeof(prog), err,
	    sizeof(err)) == 0, "%s", err);
	snprintf(cmd, sizeof(cmd), "'%s' -f - -a -t '%s' '%s'", prog, table,
	    file);
	ck_assert_ptr_nonnull(p = popen(cmd, "r"));
	while (fgets(line, sizeof(line), p) != NULL) {
		if (strncmp(line, "COPY ", 5) == 0)
			on = 1;
		else if (strcmp(line, "\\.\n") == 0)
			on = 0;
		else if (on && strstr(line, text) != NULL)
			n++;
	}
	ck_assert_int_eq(pclose(p), 0);
	return n;
}

START_TEST(prune_deletes_old_finished_jobs)
{
	struct job_outcome out;
	int64_t old = t_job_add(DB, "noop", NULL, NULL, 0);
	int64_t fresh = t_job_add(DB, "noop", NULL, NULL, 0);
	int64_t live = t_job_add(DB, "noop", NULL, NULL, 0);

	t_exec(DB, "UPDATE jobs SET state = 'succeeded', finished_at = %lld"
	    " WHERE id = %lld", (long long)(clock_now_ms() - 90 * DAY),
	    (long long)old);
	t_exec(DB, "UPDATE jobs SET state = 'succeeded', finished_at = %lld"
	    " WHERE id = %lld", (long long)clock_now_ms(), (long long)fresh);
	ck_assert_int_eq(run("prune", "{}", NULL, &out), JOB_OK);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM jobs WHERE id ="
	    " %lld", (long long)old), 0);
	t_job_state_is(DB, fresh, "succeeded");
	t_job_state_is(DB, live, "queued");
}
END_TEST

START_TEST(backup_writes_a_copy)
{
	struct job_outcome out;
	struct dirent *e;
	struct db copy;
	char dir[PATH_MAX], path[PATH_MAX] = "";
	DIR *d;
	int n = 0;

	(void)inbound("1", "Hi!");
	ck_assert_int_eq(run("backup", "{}", NULL, &out), JOB_OK);
	t_path(dir, sizeof(dir), env.dir, "backups");
	ck_assert_ptr_nonnull(d = opendir(dir));
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.') {
			n++;
			t_path(path, sizeof(path), dir, e->d_name);
		}
	closedir(d);
	ck_assert_int_eq(n, 1);
	if (env.db.pg != NULL) {
		/* a pg_dump archive, holding the message */
		ck_assert_int_eq(archive_rows(path, "messages", "Hi!"), 1);
		return;
	}
	/* A database of its own, holding the message. */
	ck_assert_int_eq(db_open(&copy, path, &env.cfg, 0), 0);
	ck_assert_int_eq(t_sql_int(&copy, "SELECT count(*) FROM messages"),
	    1);
	db_close(&copy);
}
END_TEST

START_TEST(rollup_fixes_drifted_counts)
{
	struct job_outcome out;
	char day[16], payload[64];

	(void)inbound("1", "Hi!");
	(void)inbound("2", "Still there?");
	t_sql_text(DB, day, sizeof(day), "SELECT day FROM metrics_daily"
	    " WHERE bot = 'anna'");
	t_exec(DB, "UPDATE metrics_daily SET received = 40");
	snprintf(payload, sizeof(payload), "{\"day\": \"%s\"}", day);
	ck_assert_int_eq(run("rollup", payload, NULL, &out), JOB_OK);
	ck_assert_int_eq(t_sql_int(DB, "SELECT received FROM metrics_daily"
	    " WHERE bot = 'anna'"), 2);
}
END_TEST

static TCase *
tcase(const char *name)
{
	TCase *tc = t_tcase(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	return tc;
}

Suite *
suite_jobs(void)
{
	Suite *s = suite_create("jobs");
	TCase *tc = tcase("inbound");

	tcase_add_test(tc, inbound_stores_and_asks_for_reply);
	tcase_add_test(tc, inbound_twice_stored_once);
	tcase_add_test(tc, inbound_opt_out_confirms_and_cancels);
	tcase_add_test(tc, inbound_unknown_bot_waits);
	suite_add_tcase(s, tc);
	tc = tcase("respond");
	tcase_add_test(tc, respond_writes_the_reply);
	tcase_add_test(tc, respond_rerun_writes_nothing_more);
	tcase_add_test(tc, respond_rerun_in_review_no_second_draft);
	tcase_add_test(tc, respond_llm_down_retries);
	tcase_add_test(tc, respond_review_keeps_a_draft);
	tcase_add_test(tc, respond_last_word_ours_no_call);
	suite_add_tcase(s, tc);
	tc = tcase("send");
	tcase_add_test(tc, send_delivers_once);
	tcase_add_test(tc, send_interrupted_never_twice);
	tcase_add_test(tc, send_draft_refused);
	suite_add_tcase(s, tc);
	tc = tcase("nudges");
	tcase_add_test(tc, initiate_opens_once);
	tcase_add_test(tc, initiate_needs_consent);
	tcase_add_test(tc, followup_nudges_once);
	tcase_add_test(tc, followup_not_yet);
	suite_add_tcase(s, tc);
	tc = tcase("summarize");
	tcase_add_test(tc, summarize_folds_old_history);
	tcase_add_test(tc, summarize_short_history_no_call);
	suite_add_tcase(s, tc);
	tc = tcase("maintenance");
	tcase_add_test(tc, prune_deletes_old_finished_jobs);
	tcase_add_test(tc, backup_writes_a_copy);
	tcase_add_test(tc, rollup_fixes_drifted_counts);
	suite_add_tcase(s, tc);
	return s;
}
