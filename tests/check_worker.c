/*
 * check_worker: what the worker tree (lib/worker.c) does with a job,
 * through worker_run with a table of test job types: the result of a
 * handler recorded (success, retry, defer, dead), batches of .batch
 * types, a worker that dies with its job or batch, expired leases, a
 * job taken over while its handler ran (fencing), the job timeout and a
 * clean stop on SIGTERM.
 *
 * The handlers write one line per run to a log file; the ones that must
 * be held (a stop, a take-over) tell the test on a FIFO that they run
 * and wait on another for the test's word, so nothing depends on timing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "check_dater.h"
#include "../lib/clock.h"
#include "../lib/job.h"
#include "../lib/log.h"
#include "../lib/queue.h"
#include "../lib/worker.h"
#include "../lib/banned.h"

#define HOUR ((int64_t)3600 * 1000)

static struct t_env env;
#define DB (&env.db)

/* Inherited by the forked workers. */
static char log_path[PATH_MAX], started_fifo[PATH_MAX], go_fifo[PATH_MAX];
static char tree_log[PATH_MAX];

static void
setup(void)
{
	t_env_setup(&env);
	t_path(log_path, sizeof(log_path), env.dir, "runs.log");
	t_path(started_fifo, sizeof(started_fifo), env.dir, "started");
	t_path(go_fifo, sizeof(go_fifo), env.dir, "go");
	t_path(tree_log, sizeof(tree_log), env.dir, "tree.log");
	ck_assert_int_eq(mkfifo(started_fifo, 0600), 0);
	ck_assert_int_eq(mkfifo(go_fifo, 0600), 0);
	env.cfg.log_level = LOG_LEVEL_WARN;
}

static void
teardown(void)
{
	t_env_teardown(&env);
}

/* ---- the test job types ---------------------------------------------- */

/* Log "ID ATTEMPT RUNNING" for this run: RUNNING is how many jobs its
 * worker holds (a batch claims them together). */
static void
note(struct job_ctx *ctx)
{
	FILE *f = fopen(log_path, "a");
	int64_t running = t_sql_int(ctx->db, "SELECT count(*) FROM jobs WHERE"
	    " state = 'running' AND worker = (SELECT worker FROM jobs WHERE"
	    " id = %lld)", (long long)ctx->job->id);

	if (f == NULL)
		_exit(EX_CANTCREAT);
	fprintf(f, "%lld %d %lld\n", (long long)ctx->job->id,
	    ctx->job->attempts, (long long)running);
	fclose(f);
}

/* Tell the test this job runs, then wait for its word. */
static void
hold(struct job_ctx *ctx)
{
	char c = 'x';
	int fd;

	if ((fd = open(started_fifo, O_WRONLY)) < 0)
		_exit(EX_OSERR);
	(void)write(fd, &c, 1);
	close(fd);
	if ((fd = open(go_fifo, O_RDONLY)) < 0)
		_exit(EX_OSERR);
	(void)read(fd, &c, 1);
	close(fd);
}

static enum job_result
run_ok(struct job_ctx *ctx, struct job_outcome *out)
{
	note(ctx);
	return JOB_OK;
}

static enum job_result
run_retry(struct job_ctx *ctx, struct job_outcome *out)
{
	note(ctx);
	if (ctx->job->attempts == 1)
		return job_retry(out, 0, "first try fails");
	return JOB_OK;
}

static enum job_result
run_fail(struct job_ctx *ctx, struct job_outcome *out)
{
	note(ctx);
	return job_fail(out, "broken for good");
}

static enum job_result
run_defer(struct job_ctx *ctx, struct job_outcome *out)
{
	note(ctx);
	return job_defer(out, clock_now_ms() + HOUR, "not now");
}

/* Dies at its first attempt, as a crash or the OOM killer would. */
static enum job_result
run_crash(struct job_ctx *ctx, struct job_outcome *out)
{
	note(ctx);
	if (ctx->job->attempts == 1)
		raise(SIGKILL);
	return JOB_OK;
}

static enum job_result
run_held(struct job_ctx *ctx, struct job_outcome *out)
{
	note(ctx);
	hold(ctx);
	return JOB_OK;
}

/* Never returns: only its timeout ends it. */
static enum job_result
run_hang(struct job_ctx *ctx, struct job_outcome *out)
{
	note(ctx);
	while (pause() < 0)
		continue;
	return JOB_OK;
}

static const struct job_type t_ok = { .name = "t_ok", .run = run_ok };
static const struct job_type t_retry = { .name = "t_retry", .run = run_retry };
static const struct job_type t_fail = { .name = "t_fail", .run = run_fail };
static const struct job_type t_defer = { .name = "t_defer", .run = run_defer };
static const struct job_type t_crash = { .name = "t_crash", .run = run_crash };
static const struct job_type t_held = { .name = "t_held", .run = run_held };
static const struct job_type t_hang = { .name = "t_hang", .run = run_hang };
static const struct job_type t_bok = {
	.name = "t_bok", .run = run_ok, .batch = 1
};
static const struct job_type t_bcrash = {
	.name = "t_bcrash", .run = run_crash, .batch = 1
};
static const struct job_type t_bheld = {
	.name = "t_bheld", .run = run_held, .batch = 1
};

static const struct job_type *const types[] = {
	&t_ok, &t_retry, &t_fail, &t_defer, &t_crash, &t_held, &t_hang,
	&t_bok, &t_bcrash, &t_bheld, NULL
};

/* ---- running the tree ------------------------------------------------ */

static void
opts_init(struct worker_opts *o, int n, int drain)
{
	memset(o, 0, sizeof(*o));
	o->n = n;
	o->drain = drain;
	o->db_path = env.path;
	o->types = types;
}

/* dater-worker -n n --drain, here; returns its exit code. */
static int
drain(int n)
{
	struct worker_opts o;
	struct t_capture cap;
	char *err;
	int rc;

	opts_init(&o, n, 1);
	t_stderr_begin(&cap);
	rc = worker_run(&o, &env.cfg);
	err = t_stderr_end(&cap);
	free(err);
	return rc;
}

/* A worker tree in a child process of its own group (drain or not);
 * returns its pid (= its group). */
static pid_t
start_tree(int n, int drain_it)
{
	struct worker_opts o;
	pid_t pid;

	opts_init(&o, n, drain_it);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(tree_log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		setpgid(0, 0);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(EX_CANTCREAT);
		_exit(worker_run(&o, &env.cfg));
	}
	setpgid(pid, pid);
	return pid;
}

/* The tree's exit code (fails the test if it did not exit). */
static int
wait_tree(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "worker tree killed by signal %d",
	    WTERMSIG(status));
	return WEXITSTATUS(status);
}

/* Wait until a held handler runs. */
static void
await_started(void)
{
	char c;
	int fd = open(started_fifo, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, &c, 1), 1);
	close(fd);
}

/* Let the held handler return. */
static void
release_held(void)
{
	int fd = open(go_fifo, O_WRONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "g", 1), 1);
	close(fd);
}

/* How many runs the log has for job id (with attempt, if > 0). */
static int
runs(int64_t id, int attempt)
{
	FILE *f = fopen(log_path, "r");
	long long j, r;
	int a, n = 0;

	if (f == NULL)
		return 0;
	while (fscanf(f, "%lld %d %lld", &j, &a, &r) == 3)
		n += j == id && (attempt <= 0 || a == attempt);
	fclose(f);
	return n;
}

/* What job id's first run saw running in its worker. */
static int64_t
running_seen(int64_t id)
{
	FILE *f = fopen(log_path, "r");
	long long j, r, seen = -1;
	int a;

	ck_assert_ptr_nonnull(f);
	while (fscanf(f, "%lld %d %lld", &j, &a, &r) == 3)
		if (j == id && seen < 0)
			seen = r;
	fclose(f);
	return seen;
}

static int64_t
add_tries(const char *type, int max_attempts)
{
	struct queue_new q;
	int64_t id = 0;

	queue_new_init(&q);
	q.type = type;
	q.max_attempts = max_attempts;
	ck_assert_int_eq(queue_add(DB, &q, &id, NULL), 0);
	return id;
}

/* ---- results ----------------------------------------------------------- */

START_TEST(ok_recorded_once)
{
	int64_t a = t_job_add(DB, "t_ok", NULL, NULL, 0);
	int64_t b = t_job_add(DB, "t_ok", NULL, NULL, 0);

	ck_assert_int_eq(drain(2), EX_OK);
	t_job_state_is(DB, a, "succeeded");
	t_job_state_is(DB, b, "succeeded");
	ck_assert_int_eq(runs(a, 0), 1);
	ck_assert_int_eq(runs(b, 0), 1);
	ck_assert_int_eq(t_job_col(DB, a, "attempts"), 1);
	ck_assert_int_eq(t_job_col(DB, a, "finished_at IS NOT NULL"), 1);
	/* The workers leave no row behind after a clean exit. */
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM workers"), 0);
}
END_TEST

START_TEST(retry_backs_off_then_succeeds)
{
	int64_t id = t_job_add(DB, "t_retry", NULL, NULL, 0);
	int64_t before = clock_now_ms();
	char err[64];

	ck_assert_int_eq(drain(1), EX_OK);
	/* Not due again yet: the drain ends with the job queued. */
	t_job_state_is(DB, id, "queued");
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 1);
	ck_assert_int_ge(t_job_col(DB, id, "run_at"), before + 1000);
	t_sql_text(DB, err, sizeof(err), "SELECT json_extract(errors,"
	    " '$[0].error') FROM jobs WHERE id = %lld", (long long)id);
	ck_assert_str_eq(err, "first try fails");
	t_exec(DB, "UPDATE jobs SET run_at = 0 WHERE id = %lld",
	    (long long)id);
	ck_assert_int_eq(drain(1), EX_OK);
	t_job_state_is(DB, id, "succeeded");
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 2);
	ck_assert_int_eq(runs(id, 0), 2);
}
END_TEST

START_TEST(retry_out_of_attempts_is_dead)
{
	int64_t id = add_tries("t_retry", 1);

	ck_assert_int_eq(drain(1), EX_OK);
	t_job_state_is(DB, id, "dead");
	ck_assert_int_eq(runs(id, 0), 1);
}
END_TEST

START_TEST(fail_is_dead_and_counted)
{
	int64_t id = t_job_add(DB, "t_fail", "anna", NULL, 0);
	char err[64];

	ck_assert_int_eq(drain(1), EX_OK);
	t_job_state_is(DB, id, "dead");
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 1);
	t_sql_text(DB, err, sizeof(err), "SELECT json_extract(errors,"
	    " '$[0].error') FROM jobs WHERE id = %lld", (long long)id);
	ck_assert_str_eq(err, "broken for good");
	/* The bot's failures in the metrics (dater-report metrics). */
	ck_assert_int_eq(t_sql_int(DB, "SELECT sum(job_failures) FROM"
	    " metrics_daily WHERE bot = 'anna'"), 1);
}
END_TEST

START_TEST(defer_spends_no_attempt)
{
	int64_t id = t_job_add(DB, "t_defer", NULL, NULL, 0);
	int64_t before = clock_now_ms();

	ck_assert_int_eq(drain(1), EX_OK);
	t_job_state_is(DB, id, "queued");
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 0);
	ck_assert_int_ge(t_job_col(DB, id, "run_at"), before + HOUR);
	ck_assert_int_eq(runs(id, 0), 1);
}
END_TEST

START_TEST(unknown_type_and_bad_payload_dead)
{
	int64_t u = t_job_add(DB, "t_nobody", NULL, NULL, 0);
	int64_t p = t_job_add(DB, "t_ok", NULL, "[1, 2]", 0);
	char err[128];

	ck_assert_int_eq(drain(1), EX_OK);
	t_job_state_is(DB, u, "dead");
	t_job_state_is(DB, p, "dead");
	t_sql_text(DB, err, sizeof(err), "SELECT json_extract(errors,"
	    " '$[0].error') FROM jobs WHERE id = %lld", (long long)u);
	ck_assert_ptr_nonnull(strstr(err, "unknown job type 't_nobody'"));
	ck_assert_int_eq(runs(p, 0), 0);
}
END_TEST

/* ---- a worker that dies, leases -------------------------------------- */

START_TEST(dead_worker_job_comes_back)
{
	int64_t id = t_job_add(DB, "t_crash", NULL, NULL, 0);
	char err[256];

	ck_assert_int_eq(drain(1), EX_OK);
	/* Given back at once (waitpid), one attempt spent, run again by
	 * the restarted worker. */
	t_job_state_is(DB, id, "succeeded");
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 2);
	ck_assert_int_eq(runs(id, 1), 1);
	ck_assert_int_eq(runs(id, 2), 1);
	t_sql_text(DB, err, sizeof(err), "SELECT json_extract(errors,"
	    " '$[0].error') FROM jobs WHERE id = %lld", (long long)id);
	ck_assert_ptr_nonnull(strstr(err, "killed by signal 9"));
}
END_TEST

START_TEST(expired_lease_released_at_start)
{
	struct queue_job job;
	int64_t id = t_job_add(DB, "t_ok", NULL, NULL, 0);
	int n = 0;

	/* A tree that died with the job: its lease has run out. */
	ck_assert_int_eq(queue_claim(DB, "gone:1", NULL, 60000, &job, 1, &n),
	    QUEUE_CLAIMED);
	queue_job_release(&job);
	t_exec(DB, "UPDATE jobs SET lease_until = %lld WHERE id = %lld",
	    (long long)(clock_now_ms() - 1000), (long long)id);
	ck_assert_int_eq(drain(1), EX_OK);
	t_job_state_is(DB, id, "succeeded");
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 2);
	ck_assert_int_eq(runs(id, 2), 1);
}
END_TEST

START_TEST(live_lease_left_alone)
{
	struct queue_job job;
	int64_t id = t_job_add(DB, "t_ok", NULL, NULL, 0);
	int n = 0;

	/* Another tree's job, lease still good: not ours to run. */
	ck_assert_int_eq(queue_claim(DB, "other:1", NULL, HOUR, &job, 1, &n),
	    QUEUE_CLAIMED);
	queue_job_release(&job);
	ck_assert_int_eq(drain(1), EX_OK);
	t_job_state_is(DB, id, "running");
	ck_assert_int_eq(runs(id, 0), 0);
}
END_TEST

START_TEST(taken_over_job_not_recorded)
{
	int64_t id = t_job_add(DB, "t_held", NULL, NULL, 0);
	pid_t tree = start_tree(1, 1);

	await_started();
	/* While the handler runs, its lease is lost and another worker
	 * claims the job (its attempt 2). */
	t_exec(DB, "UPDATE jobs SET worker = 'other:1', attempts = 2"
	    " WHERE id = %lld", (long long)id);
	release_held();
	ck_assert_int_eq(wait_tree(tree), EX_OK);
	/* The first worker's success is fenced off: the row is the other
	 * worker's, untouched. */
	t_job_state_is(DB, id, "running");
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 2);
	ck_assert_int_eq(t_job_col(DB, id, "worker = 'other:1'"), 1);
	ck_assert_int_eq(t_job_col(DB, id, "finished_at IS NULL"), 1);
}
END_TEST

START_TEST(timeout_kills_the_job)
{
	int64_t id = add_tries("t_hang", 1);
	char err[256];

	env.cfg.queue.timeout_ms = 1000;
	ck_assert_int_eq(drain(1), EX_OK);
	t_job_state_is(DB, id, "dead");
	t_sql_text(DB, err, sizeof(err), "SELECT json_extract(errors,"
	    " '$[0].error') FROM jobs WHERE id = %lld", (long long)id);
	ck_assert_ptr_nonnull(strstr(err, "timed out"));
}
END_TEST

/* ---- batches ------------------------------------------------------------ */

START_TEST(batch_claims_together)
{
	int64_t ids[4], plain;
	int i;

	env.cfg.worker.batch = 10;
	for (i = 0; i < 4; i++)
		ids[i] = t_job_add(DB, "t_bok", NULL, NULL, 0);
	plain = t_job_add(DB, "t_ok", NULL, NULL, 0);
	ck_assert_int_eq(drain(1), EX_OK);
	/* The first handler ran with the whole batch claimed; the job of
	 * a type that is not batchable was left for a claim of its own. */
	ck_assert_int_eq(running_seen(ids[0]), 4);
	ck_assert_int_eq(running_seen(plain), 1);
	for (i = 0; i < 4; i++) {
		t_job_state_is(DB, ids[i], "succeeded");
		ck_assert_int_eq(runs(ids[i], 0), 1);
	}
	t_job_state_is(DB, plain, "succeeded");
}
END_TEST

START_TEST(batch_off_claims_one)
{
	int64_t a, b;

	env.cfg.worker.batch = 1;
	a = t_job_add(DB, "t_bok", NULL, NULL, 0);
	b = t_job_add(DB, "t_bok", NULL, NULL, 0);
	ck_assert_int_eq(drain(1), EX_OK);
	ck_assert_int_eq(running_seen(a), 1);
	ck_assert_int_eq(running_seen(b), 1);
	t_job_state_is(DB, b, "succeeded");
}
END_TEST

START_TEST(batch_death_records_none)
{
	int64_t first, crash, last;

	env.cfg.worker.batch = 10;
	first = t_job_add(DB, "t_bok", NULL, NULL, 0);
	crash = t_job_add(DB, "t_bcrash", NULL, NULL, 0);
	last = t_job_add(DB, "t_bok", NULL, NULL, 0);
	ck_assert_int_eq(drain(1), EX_OK);
	/* The first handler had finished when its worker died: its result
	 * was not recorded, so it ran again with the rest. */
	ck_assert_int_eq(runs(first, 1), 1);
	ck_assert_int_eq(runs(first, 2), 1);
	ck_assert_int_eq(runs(crash, 2), 1);
	ck_assert_int_eq(runs(last, 1), 0);
	ck_assert_int_eq(runs(last, 2), 1);
	t_job_state_is(DB, first, "succeeded");
	t_job_state_is(DB, crash, "succeeded");
	t_job_state_is(DB, last, "succeeded");
}
END_TEST

/* ---- stopping ------------------------------------------------------------ */

START_TEST(sigterm_finishes_the_running_job)
{
	int64_t held = t_job_add(DB, "t_held", NULL, NULL, 0);
	int64_t next = t_job_add(DB, "t_ok", NULL, NULL, 0);
	pid_t tree = start_tree(1, 0);

	await_started();
	/* To the whole group at once, as a shell's ^C or systemd would:
	 * the worker has it pending before its handler returns. */
	ck_assert_int_eq(kill(-tree, SIGTERM), 0);
	release_held();
	ck_assert_int_eq(wait_tree(tree), EX_OK);
	t_job_state_is(DB, held, "succeeded");
	/* Nothing claimed after the stop. */
	t_job_state_is(DB, next, "queued");
	ck_assert_int_eq(t_job_col(DB, next, "attempts"), 0);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM workers"), 0);
}
END_TEST

START_TEST(sigterm_gives_back_unstarted_batch)
{
	int64_t held, rest[2];
	pid_t tree;

	env.cfg.worker.batch = 10;
	held = t_job_add(DB, "t_bheld", NULL, NULL, 0);
	rest[0] = t_job_add(DB, "t_bok", NULL, NULL, 0);
	rest[1] = t_job_add(DB, "t_bok", NULL, NULL, 0);
	tree = start_tree(1, 0);

	await_started();
	ck_assert_int_eq(kill(-tree, SIGTERM), 0);
	release_held();
	ck_assert_int_eq(wait_tree(tree), EX_OK);
	t_job_state_is(DB, held, "succeeded");
	/* Claimed with it, never started: back in the queue, no attempt
	 * spent. */
	t_job_state_is(DB, rest[0], "queued");
	t_job_state_is(DB, rest[1], "queued");
	ck_assert_int_eq(t_job_col(DB, rest[0], "attempts"), 0);
	ck_assert_int_eq(t_job_col(DB, rest[1], "attempts"), 0);
	ck_assert_int_eq(runs(rest[0], 0), 0);
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
suite_worker(void)
{
	Suite *s = suite_create("worker");
	TCase *tc = tcase("results");

	tcase_add_test(tc, ok_recorded_once);
	tcase_add_test(tc, retry_backs_off_then_succeeds);
	tcase_add_test(tc, retry_out_of_attempts_is_dead);
	tcase_add_test(tc, fail_is_dead_and_counted);
	tcase_add_test(tc, defer_spends_no_attempt);
	tcase_add_test(tc, unknown_type_and_bad_payload_dead);
	suite_add_tcase(s, tc);
	tc = tcase("leases");
	tcase_add_test(tc, dead_worker_job_comes_back);
	tcase_add_test(tc, expired_lease_released_at_start);
	tcase_add_test(tc, live_lease_left_alone);
	tcase_add_test(tc, taken_over_job_not_recorded);
	tcase_add_test(tc, timeout_kills_the_job);
	suite_add_tcase(s, tc);
	tc = tcase("batch");
	tcase_add_test(tc, batch_claims_together);
	tcase_add_test(tc, batch_off_claims_one);
	tcase_add_test(tc, batch_death_records_none);
	suite_add_tcase(s, tc);
	tc = tcase("stop");
	tcase_add_test(tc, sigterm_finishes_the_running_job);
	tcase_add_test(tc, sigterm_gives_back_unstarted_batch);
	suite_add_tcase(s, tc);
	return s;
}
