/*
 * check_queue: every queue operation and state change, through the real
 * API on a fresh database per test. The fencing tests are the heart of
 * it: a worker that lost its job (lease reaped, worker released,
 * cancelled) must change nothing.
 *
 * Times are never waited for: a lease "expires" by setting lease_until
 * into the past, and results are bracketed between clock readings taken
 * before and after the call.
 */
#include <stdlib.h>
#include <string.h>

#include "check_dater.h"
#include "../lib/clock.h"
#include "../lib/queue.h"
#include "../lib/banned.h"

#define LEASE 60000
#define HOUR ((int64_t)3600 * 1000)

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

static int64_t
add_full(const char *queue, int priority, int64_t run_at, int max_attempts,
    const char *unique_key, int *existed)
{
	struct queue_new q;
	int64_t id = 0;

	queue_new_init(&q);
	q.type = "noop";
	q.queue = queue;
	q.priority = priority;
	q.run_at = run_at;
	q.max_attempts = max_attempts;
	q.unique_key = unique_key;
	ck_assert_int_eq(queue_add(DB, &q, &id, existed), 0);
	ck_assert_int_gt(id, 0);
	return id;
}

static int64_t
add_job(const char *queue, int priority, int64_t run_at)
{
	int existed = -1;
	int64_t id = add_full(queue, priority, run_at, 0, NULL, &existed);

	ck_assert_int_eq(existed, 0);
	return id;
}

static int64_t
add_simple(void)
{
	return add_job(NULL, -1, 0);
}

static int64_t
add_attempts(int max_attempts)
{
	return add_full(NULL, -1, 0, max_attempts, NULL, NULL);
}

static int64_t
add_unique(const char *key, int *existed)
{
	return add_full(NULL, -1, 0, 0, key, existed);
}

/* Claim exactly one job for worker. */
static void
claim_one(const char *worker, struct queue_job *job)
{
	int n = -1;

	ck_assert_int_eq(queue_claim(DB, worker, NULL, LEASE, job, 1, &n),
	    QUEUE_CLAIMED);
	ck_assert_int_eq(n, 1);
}

/* Claim the job with this id, which must be the only one due. */
static void
claim_id(const char *worker, int64_t id, struct queue_job *job)
{
	claim_one(worker, job);
	ck_assert_int_eq(job->id, id);
}

static void
claim_none(const char *worker, const char *queues)
{
	struct queue_job job;
	int n = -1;

	memset(&job, 0, sizeof(job));
	ck_assert_int_eq(queue_claim(DB, worker, queues, LEASE, &job, 1, &n),
	    QUEUE_EMPTY);
	ck_assert_int_eq(n, 0);
}

static int
is_null(int64_t id, const char *column)
{
	return (int)t_sql_int(DB, "SELECT %s IS NULL FROM jobs WHERE id = %lld",
	    column, (long long)id);
}

static int64_t
nerrors(int64_t id)
{
	return t_job_col(DB, id, "json_array_length(errors)");
}

/* Field of errors[i] as text. */
static void
error_field(int64_t id, int i, const char *field, char *buf, size_t len)
{
	t_sql_text(DB, buf, len,
	    "SELECT json_extract(errors, '$[%d].%s') FROM jobs WHERE id = %lld",
	    i, field, (long long)id);
}

/* Everything about a job row that an operation could change. */
static void
snapshot(int64_t id, char *buf, size_t len)
{
	t_sql_text(DB, buf, len,
	    "SELECT json_array(state, run_at, attempts, lease_until, worker,"
	    " errors, finished_at, priority, started_at, max_attempts)"
	    " FROM jobs WHERE id = %lld", (long long)id);
}

/* Make a running job's lease run out. */
static void
expire_lease(int64_t id)
{
	t_exec(DB, "UPDATE jobs SET lease_until = %lld WHERE id = %lld",
	    (long long)(clock_now_ms() - 1000), (long long)id);
}

/* Every fenced operation by a worker that lost the job returns
 * QUEUE_LOST and leaves the row exactly as it was. */
static void
assert_lost(const struct queue_job *stale)
{
	struct t_capture cap;
	char before[4096], after[4096], *err;
	int dead = -1;

	snapshot(stale->id, before, sizeof(before));
	t_stderr_begin(&cap);
	ck_assert_int_eq(queue_complete(DB, stale), QUEUE_LOST);
	ck_assert_int_eq(queue_fail(DB, stale, "late", 0, 0, &dead),
	    QUEUE_LOST);
	ck_assert_int_eq(queue_fail(DB, stale, "late", 1, 0, &dead),
	    QUEUE_LOST);
	ck_assert_int_eq(queue_extend(DB, stale, HOUR), QUEUE_LOST);
	ck_assert_int_eq(queue_defer(DB, stale, clock_now_ms() + HOUR),
	    QUEUE_LOST);
	err = t_stderr_end(&cap);
	ck_assert_int_eq(dead, -1);
	snapshot(stale->id, after, sizeof(after));
	ck_assert_str_eq(after, before);
	ck_assert_ptr_nonnull(strstr(err, "no longer held"));
	free(err);
}

/* --- add --- */

START_TEST(add_defaults)
{
	struct queue_job job;
	char state[32];
	int64_t before, after, id;

	before = clock_now_ms();
	id = add_simple();
	after = clock_now_ms();
	memset(state, 0, sizeof(state));
	ck_assert_int_eq(queue_get(DB, id, &job, state, sizeof(state)), 1);
	ck_assert_int_eq(job.id, id);
	ck_assert_str_eq(job.type, "noop");
	ck_assert_str_eq(job.queue, "default");
	ck_assert_str_eq(job.bot, "");
	ck_assert_str_eq(job.payload, "{}");
	ck_assert_ptr_null(job.unique_key);
	ck_assert_int_eq(job.priority, QUEUE_DEFAULT_PRIORITY);
	ck_assert_int_eq(job.priority, 100);
	ck_assert_int_eq(job.max_attempts, 25);
	ck_assert_int_eq(job.attempts, 0);
	ck_assert_str_eq(state, "queued");
	ck_assert_int_ge(job.run_at, before);
	ck_assert_int_le(job.run_at, after);
	ck_assert_int_ge(job.created_at, before);
	ck_assert_int_le(job.created_at, after);
	ck_assert_int_eq(nerrors(id), 0);
	ck_assert(is_null(id, "worker") && is_null(id, "lease_until") &&
	    is_null(id, "finished_at") && is_null(id, "bot"));
	queue_job_release(&job);
}
END_TEST

START_TEST(add_fields)
{
	struct queue_new q;
	struct queue_job job;
	int64_t id = 0, at = clock_now_ms() + HOUR;
	int existed = -1;

	queue_new_init(&q);
	ck_assert_int_eq(q.priority, -1);
	q.type = "noop";
	q.queue = "fast";
	q.bot = "alice";
	q.payload = "{\"sleep_ms\":5}";
	q.priority = 0;		/* the most urgent, not the default */
	q.run_at = at;
	q.max_attempts = 3;
	q.unique_key = "k:1";
	ck_assert_int_eq(queue_add(DB, &q, &id, &existed), 0);
	ck_assert_int_eq(existed, 0);
	ck_assert_int_eq(queue_get(DB, id, &job, NULL, 0), 1);
	ck_assert_str_eq(job.queue, "fast");
	ck_assert_str_eq(job.bot, "alice");
	ck_assert_str_eq(job.payload, "{\"sleep_ms\":5}");
	ck_assert_int_eq(job.priority, 0);
	ck_assert_int_eq(job.run_at, at);
	ck_assert_int_eq(job.max_attempts, 3);
	ck_assert_str_eq(job.unique_key, "k:1");
	queue_job_release(&job);
}
END_TEST

START_TEST(add_invalid_refused)
{
	struct queue_new q;
	struct t_capture cap;
	int64_t id = 77;
	int rc;

	queue_new_init(&q);	/* no type */
	t_stderr_begin(&cap);
	rc = queue_add(DB, &q, &id, NULL);
	free(t_stderr_end(&cap));
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM jobs"), 0);
	ck_assert_int_eq(!db_in_tx(DB), 1);
}
END_TEST

START_TEST(unique_while_live)
{
	struct queue_job job;
	int64_t a, b, c;
	int existed = -1;

	a = add_unique("respond:42", &existed);
	ck_assert_int_eq(existed, 0);
	b = add_unique("respond:42", &existed);
	ck_assert_int_eq(existed, 1);
	ck_assert_int_eq(b, a);
	claim_id("w1", a, &job);
	c = add_unique("respond:42", &existed);	/* running */
	ck_assert_int_eq(existed, 1);
	ck_assert_int_eq(c, a);
	/* existed may be NULL */
	ck_assert_int_eq(add_unique("respond:42", NULL), a);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM jobs"), 1);
	/* another key is another job */
	c = add_unique("respond:43", &existed);
	ck_assert_int_eq(existed, 0);
	ck_assert_int_ne(c, a);
	queue_job_release(&job);
}
END_TEST

START_TEST(unique_after_finished)
{
	struct queue_job job;
	int64_t a, b, c, d;
	int existed = -1;

	/* succeeded */
	a = add_unique("k", &existed);
	claim_id("w1", a, &job);
	ck_assert_int_eq(queue_complete(DB, &job), QUEUE_DONE);
	queue_job_release(&job);
	b = add_unique("k", &existed);
	ck_assert_int_eq(existed, 0);
	ck_assert_int_ne(b, a);
	/* dead */
	claim_id("w1", b, &job);
	ck_assert_int_eq(queue_fail(DB, &job, "no", 1, 0, NULL), QUEUE_DONE);
	queue_job_release(&job);
	c = add_unique("k", &existed);
	ck_assert_int_eq(existed, 0);
	ck_assert(c != a && c != b);
	/* cancelled */
	ck_assert_int_eq(queue_cancel(DB, &c, 1), 0);
	d = add_unique("k", &existed);
	ck_assert_int_eq(existed, 0);
	ck_assert(d != a && d != b && d != c);
	t_job_state_is(DB, d, "queued");
}
END_TEST

START_TEST(add_batch_rollback)
{
	int64_t a, b;
	int existed = -1;

	ck_assert_int_eq(db_begin(DB), 0);
	add_simple();
	a = add_unique("batch", &existed);
	b = add_unique("batch", &existed);	/* sees the uncommitted one */
	ck_assert_int_eq(existed, 1);
	ck_assert_int_eq(b, a);
	add_job("other", 5, 0);
	/* still inside the caller's transaction */
	ck_assert_int_eq(!db_in_tx(DB), 0);
	db_rollback(DB);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM jobs"), 0);
	claim_none("w1", NULL);
}
END_TEST

START_TEST(add_batch_commit)
{
	int i;

	ck_assert_int_eq(db_begin(DB), 0);
	for (i = 0; i < 5; i++)
		add_simple();
	ck_assert_int_eq(db_commit(DB), 0);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM jobs"
	    " WHERE state = 'queued'"), 5);
}
END_TEST

/* queue_add_many: 234 jobs cross the 100-, 10- and 1-row inserts; unique
 * keys in between dedup against each other and against live jobs. */
START_TEST(add_many_ids_and_order)
{
	struct queue_new items[240];
	int64_t ids[240], held;
	int i, n = 0;

	held = add_unique("k1", NULL);
	for (i = 0; i < 234; i++) {
		queue_new_init(&items[n]);
		items[n].type = "noop";
		items[n].priority = i % 7;
		if (i == 50 || i == 180)
			items[n].unique_key = "k1";	/* held by a live job */
		else if (i == 120 || i == 121)
			items[n].unique_key = "k2";	/* new, then a dup */
		n++;
	}
	ck_assert_int_eq(queue_add_many(DB, items, (size_t)n, ids), 0);
	ck_assert_int_eq(ids[50], held);
	ck_assert_int_eq(ids[180], held);
	ck_assert_int_eq(ids[121], ids[120]);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM jobs"),
	    1 + 234 - 3);
	for (i = 0; i < n; i++) {
		if (i == 50 || i == 180 || i == 121)
			continue;
		/* each id names the row made from its item */
		ck_assert_int_eq(t_sql_int(DB, "SELECT priority FROM jobs"
		    " WHERE id = %lld", (long long)ids[i]), i % 7);
	}
}
END_TEST

START_TEST(add_many_rolls_back_with_caller)
{
	struct queue_new items[30];
	int64_t ids[30];
	int i;

	for (i = 0; i < 30; i++) {
		queue_new_init(&items[i]);
		items[i].type = "noop";
	}
	ck_assert_int_eq(db_begin(DB), 0);
	ck_assert_int_eq(queue_add_many(DB, items, 30, ids), 0);
	db_rollback(DB);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM jobs"), 0);
}
END_TEST

/* --- claim --- */

START_TEST(claim_empty)
{
	claim_none("w1", NULL);
	claim_none("w1", "a,b");
}
END_TEST

START_TEST(claim_order)
{
	struct queue_job job;
	int64_t now = clock_now_ms(), want[4];
	int i;

	/* least urgent; then due last; then a tie broken by the id */
	want[3] = add_job(NULL, 100, now - 5000);
	want[2] = add_job(NULL, 10, now - 10);
	want[0] = add_job(NULL, 10, now - 500);
	want[1] = add_job(NULL, 10, now - 500);

	for (i = 0; i < 4; i++) {
		claim_one("w1", &job);
		ck_assert_msg(job.id == want[i], "claim %d got job %lld, want "
		    "%lld", i, (long long)job.id, (long long)want[i]);
		queue_job_release(&job);
	}
	claim_none("w1", NULL);
}
END_TEST

START_TEST(claim_several_ordered)
{
	struct queue_job jobs[10];
	int64_t now = clock_now_ms(), id[5];
	int i, n = -1;

	id[4] = add_job(NULL, 200, now - 3000);
	id[2] = add_job(NULL, 50, now - 100);
	id[0] = add_job(NULL, 0, now);
	id[3] = add_job(NULL, 50, now - 50);
	id[1] = add_job(NULL, 50, now - 200);
	memset(jobs, 0, sizeof(jobs));
	ck_assert_int_eq(queue_claim(DB, "w1", NULL, LEASE, jobs, 3, &n),
	    QUEUE_CLAIMED);
	ck_assert_int_eq(n, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(jobs[i].id, id[i]);
		ck_assert_int_eq(jobs[i].attempts, 1);
		ck_assert_str_eq(jobs[i].worker, "w1");
		t_job_state_is(DB, id[i], "running");
		queue_job_release(&jobs[i]);
	}
	/* max was respected: the rest stay queued */
	t_job_state_is(DB, id[3], "queued");
	t_job_state_is(DB, id[4], "queued");
	ck_assert_int_eq(queue_claim(DB, "w2", NULL, LEASE, jobs, 10, &n),
	    QUEUE_CLAIMED);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(jobs[0].id, id[3]);
	ck_assert_int_eq(jobs[1].id, id[4]);
	queue_job_release(&jobs[0]);
	queue_job_release(&jobs[1]);
}
END_TEST

START_TEST(claim_future_not_due)
{
	struct queue_job job;
	int64_t now = clock_now_ms(), later, due;

	later = add_job(NULL, 0, now + HOUR);
	claim_none("w1", NULL);
	due = add_job(NULL, 500, 0);
	claim_id("w1", due, &job);	/* less urgent, but due */
	queue_job_release(&job);
	claim_none("w1", NULL);
	t_job_state_is(DB, later, "queued");
	/* once due it is claimed */
	t_exec(DB, "UPDATE jobs SET run_at = %lld WHERE id = %lld",
	    (long long)(now - 1), (long long)later);
	claim_id("w1", later, &job);
	queue_job_release(&job);
}
END_TEST

START_TEST(claim_queue_filter)
{
	struct queue_job jobs[10];
	int64_t a, b, c, d;
	int n = -1;

	a = add_job("a", -1, 0);
	b = add_job("b", -1, 0);
	c = add_job("c", -1, 0);
	d = add_job(NULL, -1, 0);
	ck_assert_int_eq(queue_claim(DB, "w1", "a,b", LEASE, jobs, 10, &n),
	    QUEUE_CLAIMED);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(jobs[0].id, a);
	ck_assert_str_eq(jobs[0].queue, "a");
	ck_assert_int_eq(jobs[1].id, b);
	ck_assert_str_eq(jobs[1].queue, "b");
	queue_job_release(&jobs[0]);
	queue_job_release(&jobs[1]);
	t_job_state_is(DB, c, "queued");
	t_job_state_is(DB, d, "queued");
	claim_none("w1", "a,b");
	claim_none("w1", "nosuch");
	ck_assert_int_eq(queue_claim(DB, "w1", "default", LEASE, jobs, 10,
	    &n), QUEUE_CLAIMED);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(jobs[0].id, d);
	queue_job_release(&jobs[0]);
	/* "" means every queue */
	ck_assert_int_eq(queue_claim(DB, "w1", "", LEASE, jobs, 10, &n),
	    QUEUE_CLAIMED);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(jobs[0].id, c);
	queue_job_release(&jobs[0]);
}
END_TEST

START_TEST(claim_sets_lease)
{
	struct queue_job job;
	int64_t id, before, after;
	int n = -1;

	id = add_simple();
	before = clock_now_ms();
	ck_assert_int_eq(queue_claim(DB, "w7", NULL, 90000, &job, 1, &n),
	    QUEUE_CLAIMED);
	after = clock_now_ms();
	ck_assert_int_eq(job.id, id);
	ck_assert_int_eq(job.attempts, 1);
	ck_assert_str_eq(job.worker, "w7");
	ck_assert_int_ge(job.lease_until, before + 90000);
	ck_assert_int_le(job.lease_until, after + 90000);
	ck_assert_str_eq(job.type, "noop");
	ck_assert_str_eq(job.payload, "{}");
	/* and the row says the same */
	t_job_state_is(DB, id, "running");
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 1);
	ck_assert_int_eq(t_job_col(DB, id, "lease_until"), job.lease_until);
	ck_assert_int_ge(t_job_col(DB, id, "started_at"), before);
	ck_assert_int_le(t_job_col(DB, id, "started_at"), after);
	queue_job_release(&job);
}
END_TEST

START_TEST(claim_only_once)
{
	struct queue_job job;
	int64_t id = add_simple();

	claim_id("w1", id, &job);
	claim_none("w2", NULL);
	claim_none("w1", NULL);
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 1);
	queue_job_release(&job);
}
END_TEST

START_TEST(claim_in_caller_transaction)
{
	struct queue_job job;
	int64_t id = add_simple();

	ck_assert_int_eq(db_begin(DB), 0);
	claim_id("w1", id, &job);
	db_rollback(DB);
	queue_job_release(&job);
	t_job_state_is(DB, id, "queued");
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 0);
	claim_id("w2", id, &job);
	queue_job_release(&job);
}
END_TEST

/* --- complete --- */

START_TEST(complete_succeeds)
{
	struct queue_job job;
	char state[32];
	int64_t id, before, after;

	id = add_simple();
	claim_id("w1", id, &job);
	before = clock_now_ms();
	ck_assert_int_eq(queue_complete(DB, &job), QUEUE_DONE);
	after = clock_now_ms();
	queue_job_release(&job);
	ck_assert_int_eq(queue_get(DB, id, &job, state, sizeof(state)), 1);
	ck_assert_str_eq(state, "succeeded");
	ck_assert_int_eq(job.attempts, 1);
	ck_assert_int_ge(t_job_col(DB, id, "finished_at"), before);
	ck_assert_int_le(t_job_col(DB, id, "finished_at"), after);
	ck_assert(is_null(id, "lease_until"));
	ck_assert_int_eq(nerrors(id), 0);
	queue_job_release(&job);
	claim_none("w1", NULL);
}
END_TEST

START_TEST(complete_and_claim_in_one_transaction)
{
	struct queue_job a, b;
	int64_t ida, idb;

	ida = add_job(NULL, 1, 0);
	idb = add_job(NULL, 2, 0);
	claim_id("w1", ida, &a);
	ck_assert_int_eq(db_begin(DB), 0);
	ck_assert_int_eq(queue_complete(DB, &a), QUEUE_DONE);
	claim_id("w1", idb, &b);
	ck_assert_int_eq(db_commit(DB), 0);
	t_job_state_is(DB, ida, "succeeded");
	t_job_state_is(DB, idb, "running");
	queue_job_release(&a);
	queue_job_release(&b);
}
END_TEST

/* --- fencing --- */

START_TEST(fence_after_reap)
{
	struct t_capture cap;
	struct queue_job old, cur;
	int64_t id = add_simple();
	int n;

	claim_id("w1", id, &old);
	expire_lease(id);
	t_stderr_begin(&cap);
	n = queue_reap(DB, HOUR);
	free(t_stderr_end(&cap));
	ck_assert_int_eq(n, 1);
	claim_id("w2", id, &cur);
	ck_assert_int_eq(cur.attempts, 2);
	assert_lost(&old);
	t_job_state_is(DB, id, "running");
	ck_assert_int_eq(queue_complete(DB, &cur), QUEUE_DONE);
	t_job_state_is(DB, id, "succeeded");
	/* and the old worker still can't touch the finished job */
	assert_lost(&old);
	queue_job_release(&old);
	queue_job_release(&cur);
}
END_TEST

START_TEST(fence_after_release)
{
	struct t_capture cap;
	struct queue_job old, cur;
	int64_t id = add_simple();
	int n;

	claim_id("w1", id, &old);
	t_stderr_begin(&cap);
	n = queue_release_worker(DB, "w1", "worker died");
	free(t_stderr_end(&cap));
	ck_assert_int_eq(n, 1);
	/* queued again: the old worker can't run it from there either */
	assert_lost(&old);
	t_job_state_is(DB, id, "queued");
	claim_id("w2", id, &cur);
	assert_lost(&old);
	ck_assert_int_eq(queue_fail(DB, &cur, "real", 0, 0, NULL),
	    QUEUE_DONE);
	ck_assert_int_eq(nerrors(id), 2);
	queue_job_release(&old);
	queue_job_release(&cur);
}
END_TEST

START_TEST(fence_same_worker_next_attempt)
{
	struct t_capture cap;
	struct queue_job old, cur;
	int64_t id = add_simple();

	/* the same worker name claims it again: the attempt tells apart */
	claim_id("w1", id, &old);
	expire_lease(id);
	t_stderr_begin(&cap);
	ck_assert_int_eq(queue_reap(DB, HOUR), 1);
	free(t_stderr_end(&cap));
	claim_id("w1", id, &cur);
	ck_assert_int_eq(cur.attempts, old.attempts + 1);
	assert_lost(&old);
	ck_assert_int_eq(queue_extend(DB, &cur, LEASE), QUEUE_DONE);
	queue_job_release(&old);
	queue_job_release(&cur);
}
END_TEST

START_TEST(fence_after_cancel)
{
	struct queue_job job;
	int64_t id = add_simple();

	claim_id("w1", id, &job);
	ck_assert_int_eq(queue_cancel(DB, &id, 1), 0);
	assert_lost(&job);
	t_job_state_is(DB, id, "cancelled");
	queue_job_release(&job);
}
END_TEST

START_TEST(fence_after_finish)
{
	struct queue_job a, b;
	int64_t ida = add_job(NULL, 1, 0), idb = add_job(NULL, 2, 0);

	claim_id("w1", ida, &a);
	ck_assert_int_eq(queue_complete(DB, &a), QUEUE_DONE);
	assert_lost(&a);
	t_job_state_is(DB, ida, "succeeded");
	claim_id("w1", idb, &b);
	ck_assert_int_eq(queue_fail(DB, &b, "x", 1, 0, NULL), QUEUE_DONE);
	assert_lost(&b);
	t_job_state_is(DB, idb, "dead");
	ck_assert_int_eq(nerrors(idb), 1);
	queue_job_release(&a);
	queue_job_release(&b);
}
END_TEST

/* --- fail --- */

START_TEST(fail_retry_at)
{
	struct queue_job job;
	char text[256];
	int64_t id, at, before, after, when;
	int dead = -1;

	id = add_simple();
	claim_id("w1", id, &job);
	at = clock_now_ms() + 10 * 60000;
	before = clock_now_ms();
	ck_assert_int_eq(queue_fail(DB, &job, "boom", 0, at, &dead),
	    QUEUE_DONE);
	after = clock_now_ms();
	ck_assert_int_eq(dead, 0);
	t_job_state_is(DB, id, "queued");
	ck_assert_int_eq(t_job_col(DB, id, "run_at"), at);
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 1);
	ck_assert(is_null(id, "worker") && is_null(id, "lease_until") &&
	    is_null(id, "finished_at"));
	ck_assert_int_eq(nerrors(id), 1);
	error_field(id, 0, "error", text, sizeof(text));
	ck_assert_str_eq(text, "boom");
	error_field(id, 0, "attempt", text, sizeof(text));
	ck_assert_str_eq(text, "1");
	error_field(id, 0, "worker", text, sizeof(text));
	ck_assert_str_eq(text, "w1");
	error_field(id, 0, "at", text, sizeof(text));
	ck_assert_int_eq(clock_parse_time(text, &when), 0);
	ck_assert_int_ge(when, before);
	ck_assert_int_le(when, after);
	/* not before its time */
	claim_none("w1", NULL);
	queue_job_release(&job);
}
END_TEST

START_TEST(fail_retry_now)
{
	struct queue_job job;
	int64_t id, before, after;
	int dead = -1;

	id = add_simple();
	claim_id("w1", id, &job);
	before = clock_now_ms();
	ck_assert_int_eq(queue_fail(DB, &job, "again", 0, 0, &dead),
	    QUEUE_DONE);
	after = clock_now_ms();
	ck_assert_int_eq(dead, 0);
	ck_assert_int_ge(t_job_col(DB, id, "run_at"), before);
	ck_assert_int_le(t_job_col(DB, id, "run_at"), after);
	queue_job_release(&job);
	claim_id("w2", id, &job);
	ck_assert_int_eq(job.attempts, 2);
	queue_job_release(&job);
}
END_TEST

START_TEST(fail_until_dead)
{
	struct queue_job job;
	char text[64], want[64];
	int64_t id, before = 0, after = 0;
	int i, dead;

	id = add_attempts(3);
	for (i = 1; i <= 3; i++) {
		claim_id("w1", id, &job);
		ck_assert_int_eq(job.attempts, i);
		snprintf(text, sizeof(text), "error %d", i);
		dead = -1;
		before = clock_now_ms();
		ck_assert_int_eq(queue_fail(DB, &job, text, 0, 0, &dead),
		    QUEUE_DONE);
		after = clock_now_ms();
		ck_assert_int_eq(dead, i == 3);
		t_job_state_is(DB, id, i == 3 ? "dead" : "queued");
		queue_job_release(&job);
	}
	claim_none("w1", NULL);
	ck_assert_int_ge(t_job_col(DB, id, "finished_at"), before);
	ck_assert_int_le(t_job_col(DB, id, "finished_at"), after);
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 3);
	/* every attempt's error is kept, in order */
	ck_assert_int_eq(nerrors(id), 3);
	for (i = 0; i < 3; i++) {
		error_field(id, i, "error", text, sizeof(text));
		snprintf(want, sizeof(want), "error %d", i + 1);
		ck_assert_str_eq(text, want);
		error_field(id, i, "attempt", text, sizeof(text));
		snprintf(want, sizeof(want), "%d", i + 1);
		ck_assert_str_eq(text, want);
	}
}
END_TEST

START_TEST(fail_permanent)
{
	struct queue_job job;
	char text[64];
	int64_t id;
	int dead = -1;

	id = add_simple();	/* 25 attempts left, but permanent */
	claim_id("w1", id, &job);
	ck_assert_int_eq(queue_fail(DB, &job, "400 bad request", 1,
	    clock_now_ms() + HOUR, &dead), QUEUE_DONE);
	ck_assert_int_eq(dead, 1);
	t_job_state_is(DB, id, "dead");
	ck_assert(!is_null(id, "finished_at"));
	ck_assert(is_null(id, "lease_until"));
	ck_assert_int_eq(nerrors(id), 1);
	error_field(id, 0, "error", text, sizeof(text));
	ck_assert_str_eq(text, "400 bad request");
	claim_none("w1", NULL);
	queue_job_release(&job);
}
END_TEST

START_TEST(fail_error_text_verbatim)
{
	static const char msg[] = "he said \"no\"\n\tC:\\path ' ; DROP TABLE "
	    "jobs; -- \xc3\xbc";
	struct queue_job job;
	char text[256];
	int64_t id = add_simple();

	claim_id("w1", id, &job);
	ck_assert_int_eq(queue_fail(DB, &job, msg, 0, 0, NULL), QUEUE_DONE);
	error_field(id, 0, "error", text, sizeof(text));
	ck_assert_str_eq(text, msg);
	ck_assert_int_eq(t_job_col(DB, id, "json_valid(errors)"), 1);
	queue_job_release(&job);
}
END_TEST

/* --- defer and extend --- */

START_TEST(defer_keeps_attempt)
{
	struct queue_job job;
	int64_t id, at;

	id = add_simple();
	claim_id("w1", id, &job);
	at = clock_now_ms() + HOUR;
	ck_assert_int_eq(queue_defer(DB, &job, at), QUEUE_DONE);
	queue_job_release(&job);
	t_job_state_is(DB, id, "queued");
	ck_assert_int_eq(t_job_col(DB, id, "run_at"), at);
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 0);
	ck_assert_int_eq(nerrors(id), 0);
	ck_assert(is_null(id, "worker") && is_null(id, "lease_until"));
	claim_none("w1", NULL);
	t_exec(DB, "UPDATE jobs SET run_at = 0 WHERE id = %lld",
	    (long long)id);
	claim_id("w1", id, &job);
	ck_assert_int_eq(job.attempts, 1);
	queue_job_release(&job);
}
END_TEST

START_TEST(defer_never_kills)
{
	struct queue_job job;
	int64_t id = add_attempts(2);
	int i, dead = -1;

	for (i = 0; i < 5; i++) {
		claim_id("w1", id, &job);
		ck_assert_int_eq(queue_defer(DB, &job, 0), QUEUE_DONE);
		queue_job_release(&job);
	}
	claim_id("w1", id, &job);
	ck_assert_int_eq(job.attempts, 1);
	ck_assert_int_eq(queue_fail(DB, &job, "first real failure", 0, 0,
	    &dead), QUEUE_DONE);
	ck_assert_int_eq(dead, 0);
	t_job_state_is(DB, id, "queued");
	queue_job_release(&job);
}
END_TEST

START_TEST(extend_moves_lease)
{
	struct queue_job job;
	int64_t id, before, after;

	id = add_simple();
	claim_id("w1", id, &job);
	before = clock_now_ms();
	ck_assert_int_eq(queue_extend(DB, &job, 10 * HOUR), QUEUE_DONE);
	after = clock_now_ms();
	ck_assert_int_ge(t_job_col(DB, id, "lease_until"), before + 10 * HOUR);
	ck_assert_int_le(t_job_col(DB, id, "lease_until"), after + 10 * HOUR);
	t_job_state_is(DB, id, "running");
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 1);
	/* an extended lease is not reaped */
	ck_assert_int_eq(queue_reap(DB, HOUR), 0);
	t_job_state_is(DB, id, "running");
	queue_job_release(&job);
}
END_TEST

/* --- backoff --- */

START_TEST(backoff_doubles)
{
	int64_t lo = 1000, hi, d;
	int attempt, i;

	for (attempt = 1; attempt <= 10; attempt++, lo *= 2) {
		hi = lo + lo / 4;
		for (i = 0; i < 50; i++) {
			d = queue_backoff(attempt, 1000, 100 * HOUR);
			ck_assert_msg(d >= lo && d <= hi, "attempt %d: %lld "
			    "not in %lld..%lld", attempt, (long long)d,
			    (long long)lo, (long long)hi);
		}
	}
}
END_TEST

START_TEST(backoff_capped)
{
	int64_t d;
	int attempt, i;

	for (attempt = 1; attempt <= 200; attempt++) {
		for (i = 0; i < 20; i++) {
			d = queue_backoff(attempt, 1000, 5000);
			ck_assert_int_le(d, 5000);
			/* 4 s + jitter fits; 8 s and more are capped */
			if (attempt >= 4)
				ck_assert_int_eq(d, 5000);
			if (attempt == 3)
				ck_assert_int_ge(d, 4000);
		}
	}
	/* no overflow with huge attempt counts or caps */
	ck_assert_int_eq(queue_backoff(1000000, 15000, 6 * HOUR), 6 * HOUR);
	d = queue_backoff(100, 1000, INT64_MAX / 4);
	ck_assert_int_ge(d, 1000);
	ck_assert_int_le(d, INT64_MAX / 4);
}
END_TEST

START_TEST(backoff_jitter)
{
	int64_t d, lo = INT64_MAX, hi = 0;
	int i;

	for (i = 0; i < 200; i++) {
		d = queue_backoff(3, 1000, HOUR);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	ck_assert_int_ge(lo, 4000);
	ck_assert_int_le(hi, 5000);
	ck_assert_msg(hi > lo, "no jitter: always %lld", (long long)lo);
	ck_assert_int_eq(queue_backoff(5, 0, HOUR), 0);
}
END_TEST

/* --- heartbeat, release, reap --- */

START_TEST(heartbeat_own_leases)
{
	struct queue_job a[2], b;
	int64_t before, after, lease_b;
	int n = -1, i;

	add_simple();
	add_simple();
	add_simple();
	ck_assert_int_eq(queue_worker_register(DB, "w1", "host", 100, ""), 0);
	ck_assert_int_eq(queue_worker_register(DB, "w2", "host", 200, ""), 0);
	t_exec(DB, "UPDATE workers SET heartbeat_at = 0");
	ck_assert_int_eq(queue_claim(DB, "w1", NULL, LEASE, a, 2, &n),
	    QUEUE_CLAIMED);
	ck_assert_int_eq(n, 2);
	claim_one("w2", &b);
	lease_b = t_job_col(DB, b.id, "lease_until");
	before = clock_now_ms();
	ck_assert_int_eq(queue_heartbeat(DB, "w1", 5 * HOUR), 2);
	after = clock_now_ms();
	for (i = 0; i < 2; i++) {
		ck_assert_int_ge(t_job_col(DB, a[i].id, "lease_until"),
		    before + 5 * HOUR);
		ck_assert_int_le(t_job_col(DB, a[i].id, "lease_until"),
		    after + 5 * HOUR);
		queue_job_release(&a[i]);
	}
	ck_assert_int_eq(t_job_col(DB, b.id, "lease_until"), lease_b);
	ck_assert_int_ge(t_sql_int(DB, "SELECT heartbeat_at FROM workers"
	    " WHERE id = 'w1'"), before);
	ck_assert_int_eq(t_sql_int(DB, "SELECT heartbeat_at FROM workers"
	    " WHERE id = 'w2'"), 0);
	/* a worker holding nothing renews nothing */
	ck_assert_int_eq(queue_heartbeat(DB, "w3", LEASE), 0);
	queue_job_release(&b);
}
END_TEST

START_TEST(worker_job_lookup)
{
	struct queue_job a, b;
	char type[QUEUE_NAME_MAX] = "x";
	int64_t id = -1, started = -1, before, after;

	add_simple();
	add_simple();
	ck_assert_int_eq(queue_worker_job(DB, "w1", &id, type, sizeof(type),
	    &started), 0);
	ck_assert_int_eq(id, -1);	/* untouched when none */
	ck_assert_str_eq(type, "x");
	before = clock_now_ms();
	claim_one("w1", &a);
	after = clock_now_ms();
	claim_one("w2", &b);
	ck_assert_int_eq(queue_worker_job(DB, "w1", &id, type, sizeof(type),
	    &started), 1);
	ck_assert_int_eq(id, a.id);
	ck_assert_str_eq(type, "noop");
	ck_assert_int_ge(started, before);
	ck_assert_int_le(started, after);
	ck_assert_int_eq(queue_worker_job(DB, "w2", &id, type, sizeof(type),
	    &started), 1);
	ck_assert_int_eq(id, b.id);
	/* a finished job is no longer the worker's */
	ck_assert_int_eq(queue_complete(DB, &a), QUEUE_DONE);
	ck_assert_int_eq(queue_worker_job(DB, "w1", &id, type, sizeof(type),
	    &started), 0);
	queue_job_release(&a);
	queue_job_release(&b);
}
END_TEST

START_TEST(release_requeues)
{
	struct t_capture cap;
	struct queue_job a[2], b, again;
	char text[128], *err;
	int64_t before, after, lease_b;
	int n = -1, i;

	add_simple();
	add_simple();
	add_simple();
	ck_assert_int_eq(queue_worker_register(DB, "w1", "h", 1, ""), 0);
	ck_assert_int_eq(queue_worker_register(DB, "w2", "h", 2, ""), 0);
	ck_assert_int_eq(queue_claim(DB, "w1", NULL, LEASE, a, 2, &n),
	    QUEUE_CLAIMED);
	claim_one("w2", &b);
	lease_b = t_job_col(DB, b.id, "lease_until");
	before = clock_now_ms();
	t_stderr_begin(&cap);
	n = queue_release_worker(DB, "w1", "worker exited on signal 9");
	err = t_stderr_end(&cap);
	after = clock_now_ms();
	ck_assert_int_eq(n, 2);
	ck_assert_ptr_nonnull(strstr(err, "w1"));
	free(err);
	for (i = 0; i < 2; i++) {
		t_job_state_is(DB, a[i].id, "queued");
		ck_assert_int_ge(t_job_col(DB, a[i].id, "run_at"), before);
		ck_assert_int_le(t_job_col(DB, a[i].id, "run_at"), after);
		ck_assert_int_eq(t_job_col(DB, a[i].id, "attempts"), 1);
		ck_assert(is_null(a[i].id, "worker") &&
		    is_null(a[i].id, "lease_until"));
		ck_assert_int_eq(nerrors(a[i].id), 1);
		error_field(a[i].id, 0, "error", text, sizeof(text));
		ck_assert_str_eq(text, "worker exited on signal 9");
		error_field(a[i].id, 0, "worker", text, sizeof(text));
		ck_assert_str_eq(text, "w1");
	}
	/* the other worker's job and row are untouched */
	t_job_state_is(DB, b.id, "running");
	ck_assert_int_eq(t_job_col(DB, b.id, "lease_until"), lease_b);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM workers"
	    " WHERE id = 'w1'"), 0);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM workers"
	    " WHERE id = 'w2'"), 1);
	/* claimable again at once */
	claim_one("w2", &again);
	ck_assert(again.id == a[0].id || again.id == a[1].id);
	ck_assert_int_eq(again.attempts, 2);
	/* nothing left to release */
	ck_assert_int_eq(queue_release_worker(DB, "w1", "again"), 0);
	queue_job_release(&again);
	queue_job_release(&a[0]);
	queue_job_release(&a[1]);
	queue_job_release(&b);
}
END_TEST

START_TEST(release_out_of_attempts)
{
	struct t_capture cap;
	struct queue_job job;
	char text[64];
	int64_t id = add_attempts(1);

	claim_id("w1", id, &job);
	t_stderr_begin(&cap);
	ck_assert_int_eq(queue_release_worker(DB, "w1", "killed"), 1);
	free(t_stderr_end(&cap));
	t_job_state_is(DB, id, "dead");
	ck_assert(!is_null(id, "finished_at"));
	ck_assert_int_eq(nerrors(id), 1);
	error_field(id, 0, "error", text, sizeof(text));
	ck_assert_str_eq(text, "killed");
	claim_none("w2", NULL);
	queue_job_release(&job);
}
END_TEST

START_TEST(reap_expired_only)
{
	struct t_capture cap;
	struct queue_job a, b;
	char text[128];
	int64_t ida, idb;

	ida = add_job(NULL, 1, 0);
	idb = add_job(NULL, 2, 0);
	claim_id("w1", ida, &a);
	claim_id("w2", idb, &b);
	expire_lease(ida);
	t_stderr_begin(&cap);
	ck_assert_int_eq(queue_reap(DB, HOUR), 1);
	free(t_stderr_end(&cap));
	t_job_state_is(DB, ida, "queued");
	ck_assert(is_null(ida, "worker") && is_null(ida, "lease_until"));
	ck_assert_int_eq(nerrors(ida), 1);
	error_field(ida, 0, "error", text, sizeof(text));
	ck_assert_ptr_nonnull(strstr(text, "lease"));
	t_job_state_is(DB, idb, "running");
	ck_assert_int_eq(nerrors(idb), 0);
	/* nothing more to reap */
	ck_assert_int_eq(queue_reap(DB, HOUR), 0);
	queue_job_release(&a);
	queue_job_release(&b);
}
END_TEST

START_TEST(reap_out_of_attempts)
{
	struct t_capture cap;
	struct queue_job job;
	int64_t id = add_attempts(1);

	claim_id("w1", id, &job);
	expire_lease(id);
	t_stderr_begin(&cap);
	ck_assert_int_eq(queue_reap(DB, HOUR), 1);
	free(t_stderr_end(&cap));
	t_job_state_is(DB, id, "dead");
	ck_assert_int_eq(nerrors(id), 1);
	queue_job_release(&job);
}
END_TEST

START_TEST(reap_stale_workers)
{
	int64_t now = clock_now_ms();

	ck_assert_int_eq(queue_worker_register(DB, "old", "h", 1, ""), 0);
	ck_assert_int_eq(queue_worker_register(DB, "new", "h", 2, ""), 0);
	t_exec(DB, "UPDATE workers SET heartbeat_at = %lld WHERE id = 'old'",
	    (long long)(now - 2 * HOUR));
	ck_assert_int_eq(queue_reap(DB, HOUR), 0);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM workers"
	    " WHERE id = 'old'"), 0);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM workers"
	    " WHERE id = 'new'"), 1);
}
END_TEST

/* --- admin: cancel and retry --- */

START_TEST(cancel_queued_and_running)
{
	struct queue_job job;
	int64_t ids[2], before, after;
	int i;

	ids[0] = add_job(NULL, 1, 0);
	ids[1] = add_job(NULL, 2, clock_now_ms() + HOUR);
	add_job(NULL, 3, 0);
	claim_id("w1", ids[0], &job);
	before = clock_now_ms();
	ck_assert_int_eq(queue_cancel(DB, ids, 2), 0);
	after = clock_now_ms();
	for (i = 0; i < 2; i++) {
		t_job_state_is(DB, ids[i], "cancelled");
		ck_assert_int_ge(t_job_col(DB, ids[i], "finished_at"), before);
		ck_assert_int_le(t_job_col(DB, ids[i], "finished_at"), after);
		ck_assert(is_null(ids[i], "lease_until"));
	}
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM jobs"
	    " WHERE state = 'queued'"), 1);
	/* a cancelled running job is not reaped back to life */
	expire_lease(ids[0]);
	ck_assert_int_eq(queue_reap(DB, HOUR), 0);
	t_job_state_is(DB, ids[0], "cancelled");
	queue_job_release(&job);
}
END_TEST

START_TEST(cancel_frees_unique_key)
{
	struct queue_job job;
	int64_t a, b;
	int existed = -1;

	a = add_unique("followup:7", &existed);
	claim_id("w1", a, &job);
	ck_assert_int_eq(queue_cancel(DB, &a, 1), 0);
	b = add_unique("followup:7", &existed);
	ck_assert_int_eq(existed, 0);
	ck_assert_int_ne(b, a);
	queue_job_release(&job);
}
END_TEST

START_TEST(cancel_refuses_all_or_nothing)
{
	static const char *finished[] = { "succeeded", "dead", "cancelled" };
	struct t_capture cap;
	struct queue_job job;
	char want[64], *err;
	int64_t ids[3], fin;
	size_t i;

	ids[0] = add_job(NULL, 5, 0);
	fin = add_job(NULL, 1, 0);
	ids[2] = add_job(NULL, 5, 0);
	claim_id("w1", fin, &job);
	ck_assert_int_eq(queue_complete(DB, &job), QUEUE_DONE);
	queue_job_release(&job);
	ids[1] = fin;
	for (i = 0; i < 3; i++) {
		t_exec(DB, "UPDATE jobs SET state = '%s' WHERE id = %lld",
		    finished[i], (long long)fin);
		t_stderr_begin(&cap);
		ck_assert_int_eq(queue_cancel(DB, ids, 3), -1);
		err = t_stderr_end(&cap);
		snprintf(want, sizeof(want), "job %lld", (long long)fin);
		ck_assert_msg(strstr(err, want) != NULL, "no '%s' in '%s'",
		    want, err);
		ck_assert_ptr_nonnull(strstr(err, finished[i]));
		free(err);
		/* the first one was not cancelled either */
		t_job_state_is(DB, ids[0], "queued");
		t_job_state_is(DB, ids[2], "queued");
		t_job_state_is(DB, fin, finished[i]);
		ck_assert_int_eq(!db_in_tx(DB), 1);
	}
}
END_TEST

START_TEST(cancel_unknown_id)
{
	struct t_capture cap;
	int64_t ids[2];
	char *err;

	ids[0] = add_simple();
	ids[1] = 999999;
	t_stderr_begin(&cap);
	ck_assert_int_eq(queue_cancel(DB, ids, 2), -1);
	err = t_stderr_end(&cap);
	ck_assert_ptr_nonnull(strstr(err, "999999"));
	free(err);
	t_job_state_is(DB, ids[0], "queued");
}
END_TEST

START_TEST(retry_dead)
{
	struct queue_job job;
	int64_t id, before, after;

	id = add_attempts(2);
	claim_id("w1", id, &job);
	ck_assert_int_eq(queue_fail(DB, &job, "e1", 1, 0, NULL), QUEUE_DONE);
	queue_job_release(&job);
	t_job_state_is(DB, id, "dead");
	before = clock_now_ms();
	ck_assert_int_eq(queue_retry(DB, &id, 1), 0);
	after = clock_now_ms();
	t_job_state_is(DB, id, "queued");
	ck_assert_int_eq(t_job_col(DB, id, "attempts"), 0);
	ck_assert_int_ge(t_job_col(DB, id, "run_at"), before);
	ck_assert_int_le(t_job_col(DB, id, "run_at"), after);
	ck_assert(is_null(id, "finished_at") && is_null(id, "worker"));
	/* the history stays for the operator */
	ck_assert_int_eq(nerrors(id), 1);
	/* and it gets its full attempts again */
	claim_id("w1", id, &job);
	ck_assert_int_eq(job.attempts, 1);
	ck_assert_int_eq(queue_fail(DB, &job, "e2", 0, 0, NULL), QUEUE_DONE);
	t_job_state_is(DB, id, "queued");
	queue_job_release(&job);
}
END_TEST

START_TEST(retry_cancelled)
{
	struct queue_job job;
	int64_t id = add_job(NULL, -1, clock_now_ms() + HOUR);

	ck_assert_int_eq(queue_cancel(DB, &id, 1), 0);
	ck_assert_int_eq(queue_retry(DB, &id, 1), 0);
	t_job_state_is(DB, id, "queued");
	/* queued now, not at its old time */
	claim_id("w1", id, &job);
	queue_job_release(&job);
}
END_TEST

START_TEST(retry_refuses_live)
{
	struct t_capture cap;
	struct queue_job job;
	char before[4096], after[4096], *err;
	int64_t queued, running, done, ids[3];
	int i;

	done = add_job(NULL, 1, 0);
	claim_id("w1", done, &job);
	ck_assert_int_eq(queue_complete(DB, &job), QUEUE_DONE);
	queue_job_release(&job);
	running = add_job(NULL, 1, 0);
	claim_id("w1", running, &job);
	queued = add_simple();
	ids[0] = queued;
	ids[1] = running;
	ids[2] = done;
	for (i = 0; i < 3; i++) {
		snapshot(ids[i], before, sizeof(before));
		t_stderr_begin(&cap);
		ck_assert_int_eq(queue_retry(DB, &ids[i], 1), -1);
		err = t_stderr_end(&cap);
		ck_assert_ptr_nonnull(strstr(err, "dead or cancelled"));
		free(err);
		snapshot(ids[i], after, sizeof(after));
		ck_assert_str_eq(after, before);
	}
	queue_job_release(&job);
}
END_TEST

START_TEST(retry_unique_conflict)
{
	struct t_capture cap;
	int64_t old, live;
	int existed = -1;
	char *err;

	old = add_unique("respond:9", &existed);
	ck_assert_int_eq(queue_cancel(DB, &old, 1), 0);
	live = add_unique("respond:9", &existed);
	ck_assert_int_eq(existed, 0);
	t_stderr_begin(&cap);
	ck_assert_int_eq(queue_retry(DB, &old, 1), -1);
	err = t_stderr_end(&cap);
	ck_assert_ptr_nonnull(strstr(err, "unique key"));
	free(err);
	t_job_state_is(DB, old, "cancelled");
	t_job_state_is(DB, live, "queued");
	/* once the live one is gone, the retry goes through */
	ck_assert_int_eq(queue_cancel(DB, &live, 1), 0);
	ck_assert_int_eq(queue_retry(DB, &old, 1), 0);
	t_job_state_is(DB, old, "queued");
}
END_TEST

START_TEST(retry_all_or_nothing)
{
	struct t_capture cap;
	int64_t ids[2];

	ids[0] = add_simple();
	ids[1] = add_simple();
	ck_assert_int_eq(queue_cancel(DB, ids, 1), 0);
	t_stderr_begin(&cap);
	ck_assert_int_eq(queue_retry(DB, ids, 2), -1);
	free(t_stderr_end(&cap));
	t_job_state_is(DB, ids[0], "cancelled");
	t_job_state_is(DB, ids[1], "queued");
	ck_assert_int_eq(queue_retry(DB, ids, 1), 0);
	t_job_state_is(DB, ids[0], "queued");
}
END_TEST

/* --- lookups and workers --- */

START_TEST(next_due)
{
	struct queue_job job;
	int64_t now = clock_now_ms(), at = -1, run;

	ck_assert_int_eq(queue_next_due(DB, NULL, &at), 0);
	ck_assert_int_eq(at, -1);	/* none queued: untouched */
	add_job(NULL, 1, now + 5000);
	add_job(NULL, 1, now + 3 * HOUR);
	ck_assert_int_eq(queue_next_due(DB, NULL, &at), 1);
	ck_assert_int_eq(at, now + 5000);
	/* running and finished jobs don't count */
	run = add_job(NULL, 0, now - 60000);
	ck_assert_int_eq(queue_next_due(DB, NULL, &at), 1);
	ck_assert_int_eq(at, now - 60000);
	claim_id("w1", run, &job);
	ck_assert_int_eq(queue_next_due(DB, NULL, &at), 1);
	ck_assert_int_eq(at, now + 5000);
	ck_assert_int_eq(queue_complete(DB, &job), QUEUE_DONE);
	ck_assert_int_eq(queue_next_due(DB, NULL, &at), 1);
	ck_assert_int_eq(at, now + 5000);
	queue_job_release(&job);
}
END_TEST

START_TEST(next_due_queues)
{
	int64_t now = clock_now_ms(), at = -1;

	add_job("a", -1, now + 1000);
	add_job("b", -1, now + 2000);
	add_job("c", -1, now + 3000);
	ck_assert_int_eq(queue_next_due(DB, "b,c", &at), 1);
	ck_assert_int_eq(at, now + 2000);
	ck_assert_int_eq(queue_next_due(DB, "c", &at), 1);
	ck_assert_int_eq(at, now + 3000);
	ck_assert_int_eq(queue_next_due(DB, "", &at), 1);
	ck_assert_int_eq(at, now + 1000);
	at = -1;
	ck_assert_int_eq(queue_next_due(DB, "nosuch", &at), 0);
	ck_assert_int_eq(at, -1);
}
END_TEST

START_TEST(get_job)
{
	struct queue_job job, claimed;
	char state[32];
	int64_t id = add_full("q1", 7, 0, 4, "u1", NULL);

	claim_id("w9", id, &claimed);
	memset(&job, 0, sizeof(job));
	ck_assert_int_eq(queue_get(DB, id, &job, state, sizeof(state)), 1);
	ck_assert_str_eq(state, "running");
	ck_assert_int_eq(job.id, id);
	ck_assert_str_eq(job.queue, "q1");
	ck_assert_int_eq(job.priority, 7);
	ck_assert_int_eq(job.max_attempts, 4);
	ck_assert_int_eq(job.attempts, 1);
	ck_assert_str_eq(job.unique_key, "u1");
	ck_assert_str_eq(job.worker, "w9");
	ck_assert_int_eq(job.lease_until, claimed.lease_until);
	queue_job_release(&job);
	/* a zeroed struct after release; release twice is safe */
	ck_assert_ptr_null(job.payload);
	queue_job_release(&job);
	/* the state may be left out */
	ck_assert_int_eq(queue_get(DB, id, &job, NULL, 0), 1);
	queue_job_release(&job);
	queue_job_release(&claimed);
}
END_TEST

START_TEST(get_missing)
{
	struct queue_job job;
	char state[32] = "unchanged";

	memset(&job, 0, sizeof(job));
	ck_assert_int_eq(queue_get(DB, 12345, &job, state, sizeof(state)), 0);
	ck_assert_str_eq(state, "unchanged");
	ck_assert_ptr_null(job.payload);
}
END_TEST

START_TEST(worker_rows)
{
	int64_t before = clock_now_ms();

	ck_assert_int_eq(queue_worker_register(DB, "host:1", "host", 1,
	    "a,b"), 0);
	ck_assert_int_eq(t_sql_int(DB, "SELECT pid FROM workers"
	    " WHERE id = 'host:1'"), 1);
	ck_assert_int_ge(t_sql_int(DB, "SELECT heartbeat_at FROM workers"
	    " WHERE id = 'host:1'"), before);
	/* registering again (a restart) replaces the row */
	ck_assert_int_eq(queue_worker_register(DB, "host:1", "host", 2,
	    NULL), 0);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM workers"), 1);
	ck_assert_int_eq(t_sql_int(DB, "SELECT pid FROM workers"), 2);
	ck_assert_int_eq(queue_worker_unregister(DB, "host:1"), 0);
	ck_assert_int_eq(t_sql_int(DB, "SELECT count(*) FROM workers"), 0);
}
END_TEST

static TCase *
tcase(const char *name)
{
	TCase *tc = t_tcase(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	return tc;
}

/* --- batches: queue_claim_types and one commit for several results --- */

static int64_t
add_typed(const char *type, const char *queue, int priority, int64_t run_at)
{
	struct queue_new q;
	int64_t id = 0;

	queue_new_init(&q);
	q.type = type;
	q.queue = queue;
	q.priority = priority;
	q.run_at = run_at;
	ck_assert_int_eq(queue_add(DB, &q, &id, NULL), 0);
	return id;
}

/* Claim a batch of exactly want jobs of types for worker. */
static void
claim_batch(const char *worker, const char *types, struct queue_job *jobs,
    int max, int want)
{
	int n = -1;

	ck_assert_int_eq(queue_claim_types(DB, worker, NULL, types, LEASE,
	    jobs, max, &n), want > 0 ? QUEUE_CLAIMED : QUEUE_EMPTY);
	ck_assert_int_eq(n, want);
}

START_TEST(batch_claim_order_and_max)
{
	struct queue_job jobs[8];
	int64_t now = clock_now_ms(), id[6], later;
	int i;

	id[4] = add_typed("noop", NULL, 200, now - 3000);
	id[2] = add_typed("noop", NULL, 50, now - 100);
	id[0] = add_typed("noop", NULL, 0, now);
	id[3] = add_typed("noop", NULL, 50, now - 50);
	id[1] = add_typed("noop", NULL, 50, now - 200);
	id[5] = add_typed("noop", NULL, 300, now);
	later = add_typed("noop", NULL, 0, now + HOUR);
	memset(jobs, 0, sizeof(jobs));
	claim_batch("w1", "noop", jobs, 4, 4);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(jobs[i].id, id[i]);
		ck_assert_int_eq(jobs[i].attempts, 1);
		ck_assert_str_eq(jobs[i].worker, "w1");
		t_job_state_is(DB, id[i], "running");
		queue_job_release(&jobs[i]);
	}
	/* at most K: the rest wait for the next batch; not due: not taken */
	t_job_state_is(DB, id[4], "queued");
	t_job_state_is(DB, id[5], "queued");
	claim_batch("w1", "noop", jobs, 8, 2);
	ck_assert_int_eq(jobs[0].id, id[4]);
	ck_assert_int_eq(jobs[1].id, id[5]);
	queue_job_release(&jobs[0]);
	queue_job_release(&jobs[1]);
	t_job_state_is(DB, later, "queued");
}
END_TEST

START_TEST(batch_claim_skips_other_types)
{
	struct queue_job jobs[8];
	int64_t now = clock_now_ms(), send, respond, a, b, c;

	/* the most urgent jobs are of types that are not batchable */
	send = add_typed("send", NULL, 0, now - 1000);
	a = add_typed("noop", NULL, 10, now);
	respond = add_typed("respond", NULL, 5, now);
	b = add_typed("noop", NULL, 20, now);
	c = add_typed("contact", NULL, 30, now);
	memset(jobs, 0, sizeof(jobs));
	claim_batch("w1", "noop,contact", jobs, 8, 3);
	ck_assert_int_eq(jobs[0].id, a);
	ck_assert_int_eq(jobs[1].id, b);
	ck_assert_int_eq(jobs[2].id, c);
	queue_job_release(&jobs[0]);
	queue_job_release(&jobs[1]);
	queue_job_release(&jobs[2]);
	t_job_state_is(DB, send, "queued");
	t_job_state_is(DB, respond, "queued");
	ck_assert_int_eq(t_job_col(DB, send, "attempts"), 0);
	/* no type named: nothing is claimed */
	claim_batch("w1", "", jobs, 8, 0);
	claim_batch("w1", "noop", jobs, 8, 0);
	/* the others are still claimed one at a time, most urgent first */
	claim_id("w2", send, &jobs[0]);
	queue_job_release(&jobs[0]);
}
END_TEST

START_TEST(batch_claim_queue_filter)
{
	struct queue_job jobs[4];
	int64_t now = clock_now_ms(), a, b;
	int n = -1;

	add_typed("noop", "slow", 0, now);
	a = add_typed("noop", "fast", 10, now);
	add_typed("send", "fast", 0, now);
	b = add_typed("noop", "fast", 20, now);
	memset(jobs, 0, sizeof(jobs));
	ck_assert_int_eq(queue_claim_types(DB, "w1", "fast", "noop", LEASE,
	    jobs, 4, &n), QUEUE_CLAIMED);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(jobs[0].id, a);
	ck_assert_int_eq(jobs[1].id, b);
	queue_job_release(&jobs[0]);
	queue_job_release(&jobs[1]);
}
END_TEST

/* One job of a batch was taken from us (lease reaped, claimed again by
 * another worker): the group commit records the others and changes
 * nothing of that one. */
START_TEST(batch_fence_stale_member)
{
	struct queue_job jobs[3], other;
	char before[4096], after[4096];
	int i;

	for (i = 0; i < 3; i++)
		add_simple();
	memset(jobs, 0, sizeof(jobs));
	claim_batch("w1", "noop", jobs, 3, 3);
	expire_lease(jobs[1].id);
	ck_assert_int_eq(queue_reap(DB, HOUR), 1);
	claim_id("w2", jobs[1].id, &other);
	snapshot(jobs[1].id, before, sizeof(before));
	ck_assert_int_eq(db_begin(DB), 0);
	ck_assert_int_eq(queue_complete(DB, &jobs[0]), QUEUE_DONE);
	ck_assert_int_eq(queue_complete(DB, &jobs[1]), QUEUE_LOST);
	ck_assert_int_eq(queue_complete(DB, &jobs[2]), QUEUE_DONE);
	ck_assert_int_eq(db_commit(DB), 0);
	snapshot(jobs[1].id, after, sizeof(after));
	ck_assert_str_eq(before, after);
	t_job_state_is(DB, jobs[0].id, "succeeded");
	t_job_state_is(DB, jobs[2].id, "succeeded");
	t_job_state_is(DB, jobs[1].id, "running");
	ck_assert_int_eq(queue_complete(DB, &other), QUEUE_DONE);
	for (i = 0; i < 3; i++)
		queue_job_release(&jobs[i]);
	queue_job_release(&other);
}
END_TEST

/* A worker died holding a batch it never recorded: when the leases run
 * out, every job of it comes back (one attempt spent), and nothing of
 * it was recorded as done. */
START_TEST(batch_dead_worker_returns_all)
{
	struct queue_job jobs[4], again[4];
	int i;

	for (i = 0; i < 4; i++)
		add_simple();
	add_typed("send", NULL, -1, 0);
	memset(jobs, 0, sizeof(jobs));
	claim_batch("w1", "noop", jobs, 4, 4);
	/* not yet expired: nothing is released */
	ck_assert_int_eq(queue_reap(DB, HOUR), 0);
	for (i = 0; i < 4; i++)
		expire_lease(jobs[i].id);
	ck_assert_int_eq(queue_reap(DB, HOUR), 4);
	for (i = 0; i < 4; i++) {
		t_job_state_is(DB, jobs[i].id, "queued");
		ck_assert_int_eq(t_job_col(DB, jobs[i].id, "attempts"), 1);
		ck_assert(is_null(jobs[i].id, "finished_at"));
		/* the dead worker's results are refused */
		ck_assert_int_eq(queue_complete(DB, &jobs[i]), QUEUE_LOST);
	}
	claim_batch("w2", "noop", again, 4, 4);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(again[i].id, jobs[i].id);
		ck_assert_int_eq(again[i].attempts, 2);
		queue_job_release(&jobs[i]);
		queue_job_release(&again[i]);
	}
}
END_TEST

/* The supervisor saw the worker die (waitpid): the whole batch is given
 * back at once. */
START_TEST(batch_released_worker_returns_all)
{
	struct queue_job jobs[3];
	int i;

	for (i = 0; i < 3; i++)
		add_simple();
	memset(jobs, 0, sizeof(jobs));
	claim_batch("w1", "noop", jobs, 3, 3);
	ck_assert_int_eq(queue_release_worker(DB, "w1", "killed"), 3);
	for (i = 0; i < 3; i++) {
		t_job_state_is(DB, jobs[i].id, "queued");
		ck_assert_int_eq(queue_complete(DB, &jobs[i]), QUEUE_LOST);
		queue_job_release(&jobs[i]);
	}
}
END_TEST

/* Results recorded together: a failed member is retried alone, the
 * others succeed, and a member not started goes back without spending
 * its attempt, at its place in the queue. */
START_TEST(batch_failure_retries_only_that_job)
{
	struct queue_job jobs[4], next;
	char text[64];
	int64_t now = clock_now_ms(), run_at;
	int dead = -1, i;

	for (i = 0; i < 4; i++)
		add_typed("noop", NULL, 100, now - 1000 + i);
	memset(jobs, 0, sizeof(jobs));
	claim_batch("w1", "noop", jobs, 4, 4);
	run_at = jobs[3].run_at;
	ck_assert_int_eq(db_begin(DB), 0);
	ck_assert_int_eq(queue_complete(DB, &jobs[0]), QUEUE_DONE);
	ck_assert_int_eq(queue_fail(DB, &jobs[1], "boom", 0, now + HOUR,
	    &dead), QUEUE_DONE);
	ck_assert_int_eq(dead, 0);
	ck_assert_int_eq(queue_complete(DB, &jobs[2]), QUEUE_DONE);
	ck_assert_int_eq(queue_defer(DB, &jobs[3], jobs[3].run_at),
	    QUEUE_DONE);
	ck_assert_int_eq(db_commit(DB), 0);
	t_job_state_is(DB, jobs[0].id, "succeeded");
	t_job_state_is(DB, jobs[2].id, "succeeded");
	t_job_state_is(DB, jobs[1].id, "queued");
	ck_assert_int_eq(t_job_col(DB, jobs[1].id, "attempts"), 1);
	ck_assert_int_ge(t_job_col(DB, jobs[1].id, "run_at"), now + HOUR);
	error_field(jobs[1].id, 0, "error", text, sizeof(text));
	ck_assert_str_eq(text, "boom");
	ck_assert_int_eq(t_sql_int(DB, "SELECT sum(json_array_length(errors))"
	    " FROM jobs WHERE id IN (%lld, %lld, %lld)",
	    (long long)jobs[0].id, (long long)jobs[2].id,
	    (long long)jobs[3].id), 0);
	t_job_state_is(DB, jobs[3].id, "queued");
	ck_assert_int_eq(t_job_col(DB, jobs[3].id, "attempts"), 0);
	ck_assert_int_eq(t_job_col(DB, jobs[3].id, "run_at"), run_at);
	claim_id("w1", jobs[3].id, &next);
	ck_assert_int_eq(next.attempts, 1);
	queue_job_release(&next);
	for (i = 0; i < 4; i++)
		queue_job_release(&jobs[i]);
}
END_TEST

Suite *
suite_queue(void)
{
	Suite *s = suite_create("queue");
	TCase *tc;

	tc = tcase("add");
	tcase_add_test(tc, add_defaults);
	tcase_add_test(tc, add_fields);
	tcase_add_test(tc, add_invalid_refused);
	tcase_add_test(tc, unique_while_live);
	tcase_add_test(tc, unique_after_finished);
	tcase_add_test(tc, add_batch_rollback);
	tcase_add_test(tc, add_batch_commit);
	tcase_add_test(tc, add_many_ids_and_order);
	tcase_add_test(tc, add_many_rolls_back_with_caller);
	suite_add_tcase(s, tc);

	tc = tcase("claim");
	tcase_add_test(tc, claim_empty);
	tcase_add_test(tc, claim_order);
	tcase_add_test(tc, claim_several_ordered);
	tcase_add_test(tc, claim_future_not_due);
	tcase_add_test(tc, claim_queue_filter);
	tcase_add_test(tc, claim_sets_lease);
	tcase_add_test(tc, claim_only_once);
	tcase_add_test(tc, claim_in_caller_transaction);
	suite_add_tcase(s, tc);

	tc = tcase("complete");
	tcase_add_test(tc, complete_succeeds);
	tcase_add_test(tc, complete_and_claim_in_one_transaction);
	suite_add_tcase(s, tc);

	tc = tcase("fence");
	tcase_add_test(tc, fence_after_reap);
	tcase_add_test(tc, fence_after_release);
	tcase_add_test(tc, fence_same_worker_next_attempt);
	tcase_add_test(tc, fence_after_cancel);
	tcase_add_test(tc, fence_after_finish);
	suite_add_tcase(s, tc);

	tc = tcase("fail");
	tcase_add_test(tc, fail_retry_at);
	tcase_add_test(tc, fail_retry_now);
	tcase_add_test(tc, fail_until_dead);
	tcase_add_test(tc, fail_permanent);
	tcase_add_test(tc, fail_error_text_verbatim);
	suite_add_tcase(s, tc);

	tc = tcase("defer_extend");
	tcase_add_test(tc, defer_keeps_attempt);
	tcase_add_test(tc, defer_never_kills);
	tcase_add_test(tc, extend_moves_lease);
	suite_add_tcase(s, tc);

	tc = t_tcase("backoff");	/* no database needed */
	tcase_add_test(tc, backoff_doubles);
	tcase_add_test(tc, backoff_capped);
	tcase_add_test(tc, backoff_jitter);
	suite_add_tcase(s, tc);

	tc = tcase("leases");
	tcase_add_test(tc, heartbeat_own_leases);
	tcase_add_test(tc, worker_job_lookup);
	tcase_add_test(tc, release_requeues);
	tcase_add_test(tc, release_out_of_attempts);
	tcase_add_test(tc, reap_expired_only);
	tcase_add_test(tc, reap_out_of_attempts);
	tcase_add_test(tc, reap_stale_workers);
	suite_add_tcase(s, tc);

	tc = tcase("cancel");
	tcase_add_test(tc, cancel_queued_and_running);
	tcase_add_test(tc, cancel_frees_unique_key);
	tcase_add_test(tc, cancel_refuses_all_or_nothing);
	tcase_add_test(tc, cancel_unknown_id);
	suite_add_tcase(s, tc);

	tc = tcase("retry");
	tcase_add_test(tc, retry_dead);
	tcase_add_test(tc, retry_cancelled);
	tcase_add_test(tc, retry_refuses_live);
	tcase_add_test(tc, retry_unique_conflict);
	tcase_add_test(tc, retry_all_or_nothing);
	suite_add_tcase(s, tc);

	tc = tcase("lookup");
	tcase_add_test(tc, next_due);
	tcase_add_test(tc, next_due_queues);
	tcase_add_test(tc, get_job);
	tcase_add_test(tc, get_missing);
	tcase_add_test(tc, worker_rows);
	suite_add_tcase(s, tc);

	tc = tcase("batch");
	tcase_add_test(tc, batch_claim_order_and_max);
	tcase_add_test(tc, batch_claim_skips_other_types);
	tcase_add_test(tc, batch_claim_queue_filter);
	tcase_add_test(tc, batch_fence_stale_member);
	tcase_add_test(tc, batch_dead_worker_returns_all);
	tcase_add_test(tc, batch_released_worker_returns_all);
	tcase_add_test(tc, batch_failure_retries_only_that_job);
	suite_add_tcase(s, tc);
	return s;
}
