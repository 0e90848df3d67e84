/*
 * check_cfg: loading the configuration file: defaults, every kind of
 * value, paths relative to the file, and refusals that name file:line
 * and leave the caller's configuration as it was (SIGHUP reloads rely on
 * that).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_dater.h"
#include "../jobs/jobs.h"
#include "../lib/banned.h"

static char dir[PATH_MAX];

static void
setup(void)
{
	t_tmpdir(dir, sizeof(dir));
}

static void
teardown(void)
{
	t_rmtree(dir);
}

/* Write text to dir/name; path gets the file's path. */
static void
conf(char *path, size_t len, const char *name, const char *text)
{
	t_path(path, len, dir, name);
	t_write_file(path, text);
}

/* A configuration that differs from the defaults, to see it kept. */
static void
old_cfg(struct cfg *c)
{
	cfg_defaults(c);
	strlcpy(c->database, "/keep/this.db", sizeof(c->database));
	c->busy_timeout_ms = 4321;
	c->worker.concurrency = 7;
	c->queue.max_attempts = 3;
}

/*
 * text must be refused: cfg_load returns -1, leaves the old cfg byte for
 * byte, and the message names path:line and contains needle (if any).
 */
static void
refused(const char *text, int line, const char *needle)
{
	struct cfg c, old;
	struct t_capture cap;
	char path[PATH_MAX], where[PATH_MAX + 16], *err;
	int rc;

	conf(path, sizeof(path), "bad.conf", text);
	old_cfg(&c);
	memcpy(&old, &c, sizeof(c));
	t_stderr_begin(&cap);
	rc = cfg_load(&c, path, jobs_names);
	err = t_stderr_end(&cap);
	ck_assert_msg(rc == -1, "accepted:\n%s", text);
	ck_assert_msg(memcmp(&c, &old, sizeof(c)) == 0,
	    "cfg changed by a refused file:\n%s", text);
	snprintf(where, sizeof(where), "%s:%d", path, line);
	ck_assert_msg(strstr(err, where) != NULL, "no '%s' in '%s'", where,
	    err);
	if (needle != NULL)
		ck_assert_msg(strstr(err, needle) != NULL, "no '%s' in '%s'",
		    needle, err);
	free(err);
}

/* Load text that must be accepted into c. */
static void
loaded(struct cfg *c, const char *text)
{
	char path[PATH_MAX];

	conf(path, sizeof(path), "good.conf", text);
	old_cfg(c);
	ck_assert_int_eq(cfg_load(c, path, jobs_names), 0);
}

static void
assert_default_values(const struct cfg *c, const struct cfg *d)
{
	ck_assert_str_eq(c->database, d->database);
	ck_assert_int_eq(c->synchronous, d->synchronous);
	ck_assert_int_eq(c->busy_timeout_ms, d->busy_timeout_ms);
	ck_assert_int_eq(c->log_level, d->log_level);
	ck_assert_int_eq(c->worker.concurrency, d->worker.concurrency);
	ck_assert_str_eq(c->worker.queues, d->worker.queues);
	ck_assert_int_eq(c->worker.lease_ms, d->worker.lease_ms);
	ck_assert_int_eq(c->worker.heartbeat_ms, d->worker.heartbeat_ms);
	ck_assert_int_eq(c->worker.poll_ms, d->worker.poll_ms);
	ck_assert_int_eq(c->worker.restart_max_ms, d->worker.restart_max_ms);
	ck_assert_int_eq(c->worker.grace_ms, d->worker.grace_ms);
	ck_assert_str_eq(c->queue.queue, d->queue.queue);
	ck_assert_int_eq(c->queue.priority, d->queue.priority);
	ck_assert_int_eq(c->queue.max_attempts, d->queue.max_attempts);
	ck_assert_int_eq(c->queue.timeout_ms, d->queue.timeout_ms);
	ck_assert_int_eq(c->queue.retry_base_ms, d->queue.retry_base_ms);
	ck_assert_int_eq(c->queue.retry_cap_ms, d->queue.retry_cap_ms);
	ck_assert_int_eq(c->njobs, 0);
}

START_TEST(defaults_sane)
{
	struct cfg d;

	cfg_defaults(&d);
	ck_assert_str_eq(d.path, "");
	ck_assert_int_eq(d.synchronous, CFG_SYNC_NORMAL);
	ck_assert_int_gt(d.busy_timeout_ms, 0);
	ck_assert_str_eq(d.queue.queue, "default");
	ck_assert_int_eq(d.queue.priority, 100);
	ck_assert_int_eq(d.queue.max_attempts, 25);
	ck_assert_int_le(d.worker.heartbeat_ms * 2, d.worker.lease_ms);
	ck_assert_int_le(d.queue.retry_base_ms, d.queue.retry_cap_ms);
	ck_assert_int_ge(d.worker.concurrency, 1);
}
END_TEST

START_TEST(empty_file_gives_defaults)
{
	struct cfg c, d;
	char path[PATH_MAX], real[PATH_MAX];

	conf(path, sizeof(path), "empty.conf",
	    "# nothing set here\n\n/* nor here */\n");
	old_cfg(&c);
	ck_assert_int_eq(cfg_load(&c, path, jobs_names), 0);
	cfg_defaults(&d);
	assert_default_values(&c, &d);
	ck_assert_ptr_nonnull(realpath(path, real));
	ck_assert_str_eq(c.path, real);
	cfg_release(&c);
}
END_TEST

START_TEST(env_names_the_file)
{
	struct cfg c;
	char path[PATH_MAX];

	conf(path, sizeof(path), "env.conf", "busy_timeout = \"2s\";\n");
	ck_assert_int_eq(setenv("DATER_CONFIG", path, 1), 0);
	old_cfg(&c);
	ck_assert_int_eq(cfg_load(&c, NULL, jobs_names), 0);
	ck_assert_int_eq(c.busy_timeout_ms, 2000);
	ck_assert_ptr_nonnull(strstr(c.path, "env.conf"));
	cfg_release(&c);
}
END_TEST

START_TEST(missing_file_refused)
{
	struct cfg c, old;
	struct t_capture cap;
	char path[PATH_MAX], *err;
	int rc;

	t_path(path, sizeof(path), dir, "absent.conf");
	old_cfg(&c);
	memcpy(&old, &c, sizeof(c));
	t_stderr_begin(&cap);
	rc = cfg_load(&c, path, jobs_names);
	err = t_stderr_end(&cap);
	ck_assert_int_eq(rc, -1);
	ck_assert(memcmp(&c, &old, sizeof(c)) == 0);
	ck_assert_ptr_nonnull(strstr(err, path));
	free(err);
	cfg_release(&c);
}
END_TEST

START_TEST(all_settings)
{
	struct cfg c;

	loaded(&c,
	    "database = \"/srv/dater/dater.db\";\n"
	    "synchronous = \"full\";\n"
	    "busy_timeout = \"2500ms\";\n"
	    "log_level = \"debug\";\n"
	    "worker = {\n"
	    "  concurrency = 4;\n"
	    "  queues = [\"fast\", \"slow\"];\n"
	    "  lease = \"2m\";\n"
	    "  heartbeat = 30;\n"
	    "  poll_interval = \"250ms\";\n"
	    "  restart_backoff_max = \"1m\";\n"
	    "  shutdown_grace = 0;\n"
	    "};\n"
	    "queue = {\n"
	    "  queue = \"main\";\n"
	    "  priority = 0;\n"
	    "  max_attempts = 7;\n"
	    "  timeout = 90;\n"
	    "  retry_base = \"1s\";\n"
	    "  retry_cap = \"1h\";\n"
	    "};\n");
	ck_assert_str_eq(c.database, "/srv/dater/dater.db");
	ck_assert_int_eq(c.synchronous, CFG_SYNC_FULL);
	ck_assert_int_eq(c.busy_timeout_ms, 2500);
	ck_assert_int_eq(c.log_level, 3);
	ck_assert_int_eq(c.worker.concurrency, 4);
	ck_assert_str_eq(c.worker.queues, "fast,slow");
	ck_assert_int_eq(c.worker.lease_ms, 120000);
	ck_assert_int_eq(c.worker.heartbeat_ms, 30000);
	ck_assert_int_eq(c.worker.poll_ms, 250);
	ck_assert_int_eq(c.worker.restart_max_ms, 60000);
	ck_assert_int_eq(c.worker.grace_ms, 0);
	ck_assert_str_eq(c.queue.queue, "main");
	ck_assert_int_eq(c.queue.priority, 0);
	ck_assert_int_eq(c.queue.max_attempts, 7);
	ck_assert_int_eq(c.queue.timeout_ms, 90000);
	ck_assert_int_eq(c.queue.retry_base_ms, 1000);
	ck_assert_int_eq(c.queue.retry_cap_ms, 3600000);
	cfg_release(&c);
}
END_TEST

START_TEST(durations_strings_and_ints)
{
	struct cfg c;

	loaded(&c, "busy_timeout = 3;\nworker = { lease = \"1h30m\"; "
	    "heartbeat = \"10s\"; poll_interval = 2; };\n");
	ck_assert_int_eq(c.busy_timeout_ms, 3000);
	ck_assert_int_eq(c.worker.lease_ms, 5400000);
	ck_assert_int_eq(c.worker.heartbeat_ms, 10000);
	ck_assert_int_eq(c.worker.poll_ms, 2000);
	/* untouched settings keep their defaults, not the old values */
	ck_assert_int_eq(c.worker.concurrency, 1);
	ck_assert_int_eq(c.queue.max_attempts, 25);
	ck_assert_str_eq(c.database, "/var/lib/dater/dater.db");
	cfg_release(&c);
}
END_TEST

START_TEST(sync_modes_and_queue_string)
{
	struct cfg c;

	loaded(&c, "synchronous = \"off\";\nworker = { queues = \"a,b\"; };\n");
	ck_assert_int_eq(c.synchronous, CFG_SYNC_OFF);
	ck_assert_str_eq(c.worker.queues, "a,b");
	loaded(&c, "synchronous = \"normal\";\n");
	ck_assert_int_eq(c.synchronous, CFG_SYNC_NORMAL);
	ck_assert_str_eq(cfg_sync_name(CFG_SYNC_OFF), "off");
	ck_assert_str_eq(cfg_sync_name(CFG_SYNC_NORMAL), "normal");
	ck_assert_str_eq(cfg_sync_name(CFG_SYNC_FULL), "full");
	cfg_release(&c);
}
END_TEST

START_TEST(relative_database)
{
	struct cfg c;
	struct stat want, got;
	char sub[PATH_MAX], path[PATH_MAX], db[PATH_MAX];

	t_path(sub, sizeof(sub), dir, "etc");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	t_path(db, sizeof(db), dir, "var");
	ck_assert_int_eq(mkdir(db, 0755), 0);
	t_path(db, sizeof(db), dir, "var/dater.db");
	t_write_file(db, "");
	t_path(path, sizeof(path), dir, "etc/dater.conf");
	t_write_file(path, "database = \"../var/dater.db\";\n");
	old_cfg(&c);
	ck_assert_int_eq(cfg_load(&c, path, jobs_names), 0);
	/* the same file, whatever the current directory */
	ck_assert_int_eq(chdir("/"), 0);
	ck_assert_msg(stat(c.database, &got) == 0, "'%s' not found",
	    c.database);
	ck_assert_int_eq(stat(db, &want), 0);
	ck_assert(got.st_ino == want.st_ino && got.st_dev == want.st_dev);

	/* a config named by a relative path still gives a path that works
	 * from anywhere (the worker and SIGHUP reloads may run elsewhere) */
	ck_assert_int_eq(chdir(dir), 0);
	cfg_release(&c);
	ck_assert_int_eq(cfg_load(&c, "etc/dater.conf", jobs_names), 0);
	ck_assert_int_eq(chdir("/"), 0);
	ck_assert_int_eq(c.database[0], '/');
	ck_assert_msg(stat(c.database, &got) == 0, "'%s' not found",
	    c.database);
	ck_assert(got.st_ino == want.st_ino && got.st_dev == want.st_dev);

	/* an absolute path stays as written */
	t_write_file(path, "database = \"/srv/x/dater.db\";\n");
	cfg_release(&c);
	ck_assert_int_eq(cfg_load(&c, path, jobs_names), 0);
	ck_assert_str_eq(c.database, "/srv/x/dater.db");
	cfg_release(&c);
}
END_TEST

START_TEST(job_settings_overlay)
{
	struct cfg c;
	struct cfg_job j;

	loaded(&c,
	    "queue = { priority = 50; max_attempts = 5; retry_base = \"2s\"; "
	    "retry_cap = \"10m\"; };\n"
	    "jobs = {\n"
	    "  noop = { queue = \"fast\"; max_attempts = 3; "
	    "timeout = \"30s\"; };\n"
	    "};\n");
	ck_assert_int_eq(c.njobs, 1);
	cfg_job_settings(&c, "noop", &j);
	ck_assert_str_eq(j.type, "noop");
	ck_assert_str_eq(j.queue, "fast");
	ck_assert_int_eq(j.priority, 50);
	ck_assert_int_eq(j.max_attempts, 3);
	ck_assert_int_eq(j.timeout_ms, 30000);
	ck_assert_int_eq(j.retry_base_ms, 2000);
	ck_assert_int_eq(j.retry_cap_ms, 600000);

	/* a type without an entry gets the queue defaults */
	cfg_job_settings(&c, "other", &j);
	ck_assert_str_eq(j.type, "other");
	ck_assert_str_eq(j.queue, "default");
	ck_assert_int_eq(j.priority, 50);
	ck_assert_int_eq(j.max_attempts, 5);
	ck_assert_int_eq(j.timeout_ms, 300000);
	cfg_release(&c);
}
END_TEST

START_TEST(job_priority_zero_overrides)
{
	struct cfg c;
	struct cfg_job j;

	loaded(&c, "jobs = { noop = { priority = 0; retry_base = \"1h\"; }; "
	    "};\n");
	cfg_job_settings(&c, "noop", &j);
	ck_assert_int_eq(j.priority, 0);
	ck_assert_int_eq(j.retry_base_ms, 3600000);
	/* the cap never ends up below the base */
	ck_assert_int_ge(j.retry_cap_ms, j.retry_base_ms);
	cfg_release(&c);
}
END_TEST

START_TEST(any_job_type_without_list)
{
	struct cfg c;
	char path[PATH_MAX];

	conf(path, sizeof(path), "any.conf",
	    "jobs = { whatever = { priority = 1; }; };\n");
	old_cfg(&c);
	ck_assert_int_eq(cfg_load(&c, path, NULL), 0);
	ck_assert_int_eq(c.njobs, 1);
	ck_assert_str_eq(c.jobs[0].type, "whatever");
	cfg_release(&c);
}
END_TEST

START_TEST(failed_reload_keeps_old)
{
	struct cfg c, before;
	struct t_capture cap;
	char good[PATH_MAX], bad[PATH_MAX], *err;

	conf(good, sizeof(good), "a.conf", "busy_timeout = 9;\n"
	    "worker = { concurrency = 3; };\n");
	conf(bad, sizeof(bad), "b.conf", "busy_timeout = 1;\n"
	    "worker = { concurrency = 300; };\n");
	cfg_defaults(&c);
	ck_assert_int_eq(cfg_load(&c, good, jobs_names), 0);
	memcpy(&before, &c, sizeof(c));
	t_stderr_begin(&cap);
	ck_assert_int_eq(cfg_load(&c, bad, jobs_names), -1);
	err = t_stderr_end(&cap);
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
	ck_assert_int_eq(c.busy_timeout_ms, 9000);
	ck_assert_int_eq(c.worker.concurrency, 3);
	free(err);
	cfg_release(&c);
}
END_TEST

START_TEST(refuse_unknown_key)
{
	refused("busy_timeout = 1;\n\nbogus = 1;\n", 3, "bogus");
	refused("worker = {\n  concurrency = 2;\n  threads = 4;\n};\n", 3,
	    "threads");
	refused("queue = {\n  prio = 4;\n};\n", 2, "prio");
	refused("jobs = {\n  noop = {\n    speed = 1;\n  };\n};\n", 3,
	    "speed");
}
END_TEST

START_TEST(refuse_wrong_type)
{
	refused("busy_timeout = true;\n", 1, "busy_timeout");
	refused("\nworker = { concurrency = \"four\"; };\n", 2,
	    "concurrency");
	refused("database = 5;\n", 1, "database");
	refused("queue = { priority = 1.5; };\n", 1, "priority");
	refused("worker = 5;\n", 1, "worker");
	refused("queue = \"fast\";\n", 1, "queue");
	refused("worker = { queues = 5; };\n", 1, "queues");
	refused("jobs = 1;\n", 1, "jobs");
	refused("jobs = { noop = 1; };\n", 1, "noop");
}
END_TEST

START_TEST(refuse_out_of_range)
{
	refused("worker = { concurrency = 0; };\n", 1, "concurrency");
	refused("worker = { concurrency = 100000; };\n", 1, "concurrency");
	refused("queue = { priority = 1001; };\n", 1, "priority");
	refused("queue = { priority = -1; };\n", 1, "priority");
	refused("queue = { max_attempts = 0; };\n", 1, "max_attempts");
	refused("worker = { lease = \"500ms\"; heartbeat = \"100ms\"; };\n",
	    1, "lease");
	refused("busy_timeout = \"2h\";\n", 1, "busy_timeout");
	refused("busy_timeout = -1;\n", 1, "busy_timeout");
	refused("queue = { timeout = 99999999999L; };\n", 1, "timeout");
}
END_TEST

START_TEST(refuse_bad_values)
{
	refused("synchronous = \"sometimes\";\n", 1, "synchronous");
	refused("log_level = \"loud\";\n", 1, "log_level");
	refused("worker = { lease = \"soon\"; };\n", 1, "lease");
	refused("queue = { queue = \"a b\"; };\n", 1, "queue");
	refused("queue = { queue = \"\"; };\n", 1, "queue");
	refused("database = \"\";\n", 1, "database");
}
END_TEST

START_TEST(queue_lists)
{
	struct cfg c;

	loaded(&c, "worker = { queues = \"fast,slow.v2,x-y_Z9\"; };\n");
	ck_assert_str_eq(c.worker.queues, "fast,slow.v2,x-y_Z9");
	loaded(&c, "worker = { queues = []; };\n");
	ck_assert_str_eq(c.worker.queues, "");
	loaded(&c, "worker = { queues = \"\"; };\n");
	ck_assert_str_eq(c.worker.queues, "");
	/* both forms take the same names: a space is not part of one */
	refused("worker = {\n queues = \"fast, slow\";\n};\n", 2, "queues");
	refused("worker = { queues = [\"fast\", \" slow\"]; };\n", 1,
	    "allowed");
	refused("worker = { queues = \"a,,b\"; };\n", 1, "queues");
	refused("worker = { queues = \"a,\"; };\n", 1, "queues");
	refused("worker = { queues = \",a\"; };\n", 1, "queues");
	refused("worker = { queues = \"a\\\"b\"; };\n", 1, "queues");
	cfg_release(&c);
}
END_TEST

START_TEST(refuse_inconsistent)
{
	/* a heartbeat must fit twice in the lease */
	refused("worker = {\n  lease = \"10s\";\n  heartbeat = \"6s\";\n};\n",
	    1, "heartbeat");
	refused("queue = {\n  retry_base = \"1h\";\n  retry_cap = \"1m\";\n"
	    "};\n", 1, "retry_cap");
}
END_TEST

START_TEST(refuse_unknown_job_type)
{
	refused("jobs = {\n  noop = { priority = 1; };\n  bogus = { "
	    "priority = 2; };\n};\n", 3, "bogus");
}
END_TEST

START_TEST(refuse_syntax_error)
{
	refused("busy_timeout = 1;\ndatabase = ;\n", 2, NULL);
	refused("worker = {\n  concurrency = 2\n", 3, NULL);
	refused("a = 1;\na = 2;\n", 2, NULL);
}
END_TEST

/* libconfig 1.5 ends the process ("input in flex scanner failed", exit
 * 2) on an @include of a directory, and would resolve a relative one
 * against the working directory: includes are refused, naming the line
 * (a libconfig bug met while fuzzing the loader; its input is in
 * tests/fuzz/regress/cfg). */
START_TEST(refuse_include)
{
	refused("busy_timeout = 1;\n@include \".\"\n", 2, "@include");
	refused("\n\n  @include \"other.conf\"\n", 3, "@include");
}
END_TEST

/* --- llm, defaults and bots --- */

START_TEST(bots_inherit_defaults)
{
	struct cfg *c = malloc(sizeof(*c));
	const struct cfg_bot *a, *b;

	ck_assert_ptr_nonnull(c);
	loaded(c,
	    "database = \"var/x.db\";\n"
	    "llm = { provider = \"openai\"; base_url = \"http://127.0.0.1:9/v1\";"
	    " model = \"m1\"; api_key_env = \"K\"; temperature = 0.5;"
	    " price_in_per_mtok = 1; price_out_per_mtok = 2.5; };\n"
	    "defaults = { persona = \"P\"; max_per_hour = 7;"
	    " quiet_hours = \"22:30-07:15\"; review = true; };\n"
	    "bots = (\n"
	    " { name = \"anna\"; transport = { driver = \"console\"; }; },\n"
	    " { name = \"bob\"; transport = { driver = \"telegram\";"
	    " token_env = \"BOB_TOKEN\"; }; max_per_hour = 3;"
	    " quiet_hours = \"off\"; review = false; disclosure = false;"
	    " reply_delay = [1, 2]; opt_out = [\"halt\"]; }\n"
	    ");\n");
	ck_assert_str_eq(c->llm.provider, "openai");
	ck_assert_str_eq(c->llm.model, "m1");
	ck_assert_int_eq(c->llm.has_temperature, 1);
	ck_assert(c->llm.price_out_per_mtok > 2.4);
	ck_assert_int_eq(c->nbots, 2);
	ck_assert_ptr_null(cfg_bot(c, "carol"));
	a = cfg_bot(c, "anna");
	b = cfg_bot(c, "bob");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(a->policy.persona, "P");
	ck_assert_int_eq(a->policy.max_per_hour, 7);
	ck_assert_int_eq(a->policy.review, 1);
	ck_assert_int_eq(a->policy.has_quiet, 1);
	ck_assert_int_eq(a->policy.quiet_start_min, 22 * 60 + 30);
	ck_assert_int_eq(a->policy.quiet_end_min, 7 * 60 + 15);
	ck_assert(a->policy.disclosure[0] != '\0');	/* on by default */
	ck_assert(a->policy.n_opt_out > 5);		/* built-in list */
	/* the console outbox sits beside the database */
	ck_assert(strstr(a->transport.path, "/var/outbox.jsonl") != NULL);
	ck_assert_str_eq(b->policy.persona, "P");
	ck_assert_int_eq(b->policy.max_per_hour, 3);
	ck_assert_int_eq(b->policy.has_quiet, 0);
	ck_assert_int_eq(b->policy.review, 0);
	ck_assert_str_eq(b->policy.disclosure, "");
	ck_assert_int_eq(b->policy.reply_delay_min_s, 1);
	ck_assert_int_eq(b->policy.n_opt_out, 1);
	ck_assert_str_eq(b->policy.opt_out[0], "halt");
	ck_assert_str_eq(b->transport.base_url, "https://api.telegram.org");
	/* the listener is on by default, polling 25 s */
	ck_assert_int_eq(b->transport.listen, 1);
	ck_assert_int_eq(b->transport.poll_timeout_ms, 25000);
	cfg_release(c);
	loaded(c,
	    "bots = ( { name = \"bob\"; transport = { driver = \"telegram\";"
	    " token_env = \"T\"; listen = false; poll_timeout = \"50s\"; };"
	    " } );\n");
	ck_assert_int_eq(c->bots[0].transport.listen, 0);
	ck_assert_int_eq(c->bots[0].transport.poll_timeout_ms, 50000);
	cfg_release(c);
	free(c);
}
END_TEST

/* A configuration of n bots, each with its own persona, a console outbox
 * and a policy override; every 10th has its own llm group. */
static char *
many_bots_text(int n)
{
	char *text;
	size_t len = 256 + (size_t)n * 512, off;
	int i;

	text = malloc(len);
	ck_assert_ptr_nonnull(text);
	off = (size_t)snprintf(text, len, "defaults = { max_per_hour = 5; };\n"
	    "bots = (\n");
	for (i = 1; i <= n; i++) {
		off += (size_t)snprintf(text + off, len - off,
		    " { name = \"bot%d\"; persona = \"I am persona number %d.\";"
		    " transport = { driver = \"console\";"
		    " path = \"out-%d.jsonl\"; }; max_unanswered = %d; %s }%s\n",
		    i, i, i, i % 7 + 1, i % 10 == 0 ?
		    "llm = { model = \"own-model\"; };" : "",
		    i < n ? "," : "");
		ck_assert_uint_lt(off, len);
	}
	snprintf(text + off, len - off, ");\n");
	return text;
}

/* No fixed cap: 200 bots load, each with its own settings, found by
 * name; a reload into a new struct moved over the old frees the old
 * (ASan would see a leak or a use after free). */
START_TEST(two_hundred_bots)
{
	struct cfg c, next;
	const struct cfg_bot *b;
	char path[PATH_MAX], name[32], persona[64], *text;
	int i;

	text = many_bots_text(200);
	conf(path, sizeof(path), "many.conf", text);
	free(text);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(cfg_load(&c, path, jobs_names), 0);
	ck_assert_int_eq(c.nbots, 200);
	for (i = 1; i <= 200; i++) {
		snprintf(name, sizeof(name), "bot%d", i);
		snprintf(persona, sizeof(persona), "I am persona number %d.",
		    i);
		b = cfg_bot(&c, name);
		ck_assert_ptr_nonnull(b);
		ck_assert_ptr_eq(b, &c.bots[i - 1]);
		ck_assert_str_eq(b->policy.persona, persona);
		ck_assert_int_eq(b->policy.max_unanswered, i % 7 + 1);
		ck_assert_int_eq(b->policy.max_per_hour, 5);
		ck_assert_ptr_nonnull(strstr(b->transport.path, "/out-"));
		ck_assert_str_eq(b->llm.model, i % 10 == 0 ? "own-model" :
		    c.llm.model);
	}
	ck_assert_ptr_null(cfg_bot(&c, "bot201"));

	/* SIGHUP: a smaller file into a new struct, moved over the old */
	text = many_bots_text(3);
	conf(path, sizeof(path), "many.conf", text);
	free(text);
	memset(&next, 0, sizeof(next));
	ck_assert_int_eq(cfg_load(&next, path, jobs_names), 0);
	cfg_move(&c, &next);
	ck_assert_int_eq(c.nbots, 3);
	ck_assert_str_eq(c.bots[2].policy.persona, "I am persona number 3.");
	ck_assert_int_eq(next.nbots, 0);
	ck_assert_ptr_null(next.bots);
	cfg_release(&next);		/* zeroed: nothing to do */
	cfg_release(&c);
	ck_assert_int_eq(c.nbots, 0);
	cfg_release(&c);		/* twice is harmless */
}
END_TEST

/* A per-bot llm group overrides any key of the global one; `defaults`
 * may hold one too; keys not given are inherited. */
START_TEST(bot_llm_overrides)
{
	struct cfg c;
	const struct cfg_bot *a, *l, *h;

	loaded(&c,
	    "llm = { provider = \"openai\"; base_url = \"http://127.0.0.1:9/v1\";"
	    " model = \"global\"; api_key_env = \"GLOBAL_KEY\"; timeout = 20;"
	    " price_in_per_mtok = 1.5; };\n"
	    "defaults = { llm = { max_completion_tokens = 99; }; };\n"
	    "bots = (\n"
	    " { name = \"a\"; transport = { driver = \"console\"; }; },\n"
	    " { name = \"local\"; transport = { driver = \"console\"; };\n"
	    "   llm = { base_url = \"http://127.0.0.1:8080/v1\";"
	    " model = \"llama\"; api_key_env = \"\"; temperature = 0.2;"
	    " price_in_per_mtok = 0; price_out_per_mtok = 0; timeout = \"2m\"; }; },\n"
	    " { name = \"off\"; transport = { driver = \"console\"; };"
	    " llm = { provider = \"offline\"; }; model = \"policy-model\"; }\n"
	    ");\n");
	a = cfg_bot(&c, "a");
	l = cfg_bot(&c, "local");
	h = cfg_bot(&c, "off");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(l);
	ck_assert_ptr_nonnull(h);
	ck_assert_str_eq(a->llm.base_url, "http://127.0.0.1:9/v1");
	ck_assert_str_eq(a->llm.model, "global");
	ck_assert_int_eq(a->llm.max_completion_tokens, 99);
	ck_assert_int_eq(a->llm.timeout_ms, 20000);
	ck_assert_int_eq(a->llm.has_temperature, 0);
	ck_assert_str_eq(l->llm.provider, "openai");
	ck_assert_str_eq(l->llm.base_url, "http://127.0.0.1:8080/v1");
	ck_assert_str_eq(l->llm.model, "llama");
	ck_assert_str_eq(l->llm.api_key_env, "");
	ck_assert_int_eq(l->llm.has_temperature, 1);
	ck_assert(l->llm.temperature > 0.19 && l->llm.temperature < 0.21);
	ck_assert(l->llm.price_in_per_mtok == 0);
	ck_assert_int_eq(l->llm.timeout_ms, 120000);
	ck_assert_int_eq(l->llm.max_completion_tokens, 99);
	ck_assert_str_eq(h->llm.provider, "offline");
	ck_assert_str_eq(h->llm.api_key_env, "GLOBAL_KEY");
	ck_assert_str_eq(h->policy.model, "policy-model");
	/* the global group is untouched */
	ck_assert_str_eq(c.llm.model, "global");
	ck_assert_int_eq(c.llm.max_completion_tokens, 400);
	ck_assert_int_eq(c.defaults_llm.max_completion_tokens, 99);
	cfg_release(&c);
}
END_TEST

START_TEST(followup_horizon_setting)
{
	struct cfg c;

	loaded(&c, "defaults = { followup_horizon = \"3d\"; };\n"
	    "bots = ( { name = \"a\"; transport = { driver = \"console\"; }; },"
	    " { name = \"b\"; transport = { driver = \"console\"; };"
	    " followup_horizon = 0; } );\n");
	ck_assert_int_eq(c.defaults.followup_horizon_ms, 3LL * 86400 * 1000);
	ck_assert_int_eq(cfg_bot(&c, "a")->policy.followup_horizon_ms,
	    3LL * 86400 * 1000);
	ck_assert_int_eq(cfg_bot(&c, "b")->policy.followup_horizon_ms, 0);
	cfg_release(&c);
	cfg_defaults(&c);
	ck_assert_int_eq(c.defaults.followup_horizon_ms, 14LL * 86400 * 1000);
	cfg_release(&c);
}
END_TEST

START_TEST(refuse_bad_bots)
{
	refused("bots = ( { name = \"a\"; } );\n", 1, "no transport");
	refused("bots = (\n { name = \"a\"; transport = { driver = \"fax\"; };"
	    " } );\n", 2, "unknown driver");
	refused("bots = (\n { name = \"a\";\n transport = {"
	    " driver = \"telegram\"; }; } );\n", 3, "token_env");
	refused("bots = (\n { name = \"a\"; transport = { driver ="
	    " \"webhook\"; }; } );\n", 2, "url");
	refused("bots = (\n { name = \"a\"; transport = { driver ="
	    " \"console\"; };\n  colour = 1; } );\n", 3, "unknown setting");
	refused("bots = (\n { name = \"a\"; transport = { driver ="
	    " \"console\"; }; },\n { name = \"a\"; transport = { driver ="
	    " \"console\"; }; } );\n", 3, "second bot");
	refused("defaults = {\n quiet_hours = \"25:00-08:00\"; };\n", 2,
	    "HH:MM");
	refused("defaults = {\n reply_delay = [9, 3]; };\n", 2, "maximum");
	refused("llm = {\n provider = \"magic\"; };\n", 2, "openai");
	refused("llm = {\n temperature = 3.5; };\n", 2, "out of range");
	refused("bots = (\n { name = \"a\"; transport = { driver ="
	    " \"console\"; };\n llm = {\n  provider = \"x\"; }; } );\n", 4,
	    "openai");
	refused("bots = (\n { name = \"a\"; transport = { driver ="
	    " \"console\"; };\n llm = {\n  colour = 1; }; } );\n", 4,
	    "unknown setting");
	refused("defaults = {\n llm = {\n  base_url = \"ftp://x\"; }; };\n",
	    3, "http");
	refused("defaults = {\n followup_horizon = \"soon\"; };\n", 2,
	    "duration");
	refused("bots = (\n { name = \"a\"; transport = { driver ="
	    " \"telegram\"; token_env = \"T\";\n poll_timeout = \"1500ms\"; };"
	    " } );\n", 3, "whole seconds");
	refused("bots = (\n { name = \"a\"; transport = { driver ="
	    " \"telegram\"; token_env = \"T\";\n poll_timeout = \"601s\"; };"
	    " } );\n", 3, "600s");
	refused("bots = (\n { name = \"a\"; transport = { driver ="
	    " \"telegram\"; token_env = \"T\";\n listen = 1; }; } );\n", 3,
	    "");
}
END_TEST

Suite *
suite_cfg(void)
{
	Suite *s = suite_create("cfg");
	TCase *tc;

	tc = t_tcase("load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults_sane);
	tcase_add_test(tc, empty_file_gives_defaults);
	tcase_add_test(tc, env_names_the_file);
	tcase_add_test(tc, missing_file_refused);
	tcase_add_test(tc, all_settings);
	tcase_add_test(tc, durations_strings_and_ints);
	tcase_add_test(tc, sync_modes_and_queue_string);
	tcase_add_test(tc, relative_database);
	tcase_add_test(tc, any_job_type_without_list);
	tcase_add_test(tc, failed_reload_keeps_old);
	suite_add_tcase(s, tc);

	tc = t_tcase("job_settings");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, job_settings_overlay);
	tcase_add_test(tc, job_priority_zero_overrides);
	suite_add_tcase(s, tc);

	tc = t_tcase("refuse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, refuse_unknown_key);
	tcase_add_test(tc, refuse_wrong_type);
	tcase_add_test(tc, refuse_out_of_range);
	tcase_add_test(tc, refuse_bad_values);
	tcase_add_test(tc, queue_lists);
	tcase_add_test(tc, refuse_inconsistent);
	tcase_add_test(tc, refuse_unknown_job_type);
	tcase_add_test(tc, refuse_syntax_error);
	tcase_add_test(tc, refuse_include);
	suite_add_tcase(s, tc);

	tc = t_tcase("bots");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, bots_inherit_defaults);
	tcase_add_test(tc, two_hundred_bots);
	tcase_add_test(tc, bot_llm_overrides);
	tcase_add_test(tc, followup_horizon_setting);
	tcase_add_test(tc, refuse_bad_bots);
	suite_add_tcase(s, tc);
	return s;
}
