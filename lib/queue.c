/*
 * queue: all of the queue's SQL is in this file. Times are ms since the
 * epoch. The claim is one UPDATE ... RETURNING over the jobs_due partial
 * index, named with INDEXED BY: without statistics the planner may
 * otherwise pick jobs_next and sort every queued row on each claim.
 * Completions are fenced on (id, state, worker, attempts).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "queue.h"
#include "redact.h"
#include "banned.h"

#define JOB_COLUMNS \
	"id, type, queue, coalesce(bot, ''), payload, priority, run_at," \
	" attempts, max_attempts, unique_key, created_at," \
	" coalesce(lease_until, 0), coalesce(worker, '')"

#define FENCE " WHERE id = ?1 AND state = 'running' AND worker = ?2" \
	" AND attempts = ?3"

/* Error entry appended to a job's errors array: ?4 text, ?5 time. */
#define ERROR_ENTRY \
	"json_insert(errors, '$[#]', json_object('attempt', attempts," \
	" 'at', ?5, 'worker', worker, 'error', ?4))"

void
queue_job_release(struct queue_job *job)
{
	free(job->payload);
	free(job->unique_key);
	memset(job, 0, sizeof(*job));
}

void
queue_new_init(struct queue_new *q)
{
	memset(q, 0, sizeof(*q));
	q->priority = -1;
}

void
queue_new_configure(struct queue_new *q, const struct cfg *cfg)
{
	const struct cfg_job *j = cfg_job_entry(cfg, q->type);
	unsigned set = j != NULL ? j->set : 0;

	if (set & CFG_SET_QUEUE)
		q->queue = j->queue;
	else if (q->queue == NULL)
		q->queue = cfg->queue.queue;
	if (set & CFG_SET_PRIORITY)
		q->priority = j->priority;
	else if (q->priority < 0)
		q->priority = cfg->queue.priority;
	if (set & CFG_SET_MAX_ATTEMPTS)
		q->max_attempts = j->max_attempts;
	else if (q->max_attempts <= 0)
		q->max_attempts = cfg->queue.max_attempts;
}

/* Read a row of JOB_COLUMNS into job. Returns 0 or -1 (out of memory). */
static int
read_job(struct dbst *st, struct queue_job *job)
{
	memset(job, 0, sizeof(*job));
	job->id = db_col_int64(st, 0);
	db_col_copy(st, 1, job->type, sizeof(job->type));
	db_col_copy(st, 2, job->queue, sizeof(job->queue));
	db_col_copy(st, 3, job->bot, sizeof(job->bot));
	job->payload = db_col_dup(st, 4);
	job->priority = db_col_int(st, 5);
	job->run_at = db_col_int64(st, 6);
	job->attempts = db_col_int(st, 7);
	job->max_attempts = db_col_int(st, 8);
	if (!db_col_null(st, 9))
		job->unique_key = db_col_dup(st, 9);
	job->created_at = db_col_int64(st, 10);
	job->lease_until = db_col_int64(st, 11);
	db_col_copy(st, 12, job->worker, sizeof(job->worker));
	if (job->payload == NULL ||
	    (!db_col_null(st, 9) &&
	    job->unique_key == NULL)) {
		queue_job_release(job);
		log_err("out of memory reading a job");
		return -1;
	}
	return 0;
}

static const char sql_find_unique[] =
    "SELECT id FROM jobs WHERE unique_key = ?1"
    " AND state IN ('queued', 'running')";
static const char sql_insert[] =
    "INSERT INTO jobs (type, queue, bot, payload, priority, run_at,"
    " max_attempts, unique_key, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id";

static int
find_unique(struct db *db, const char *key, int64_t *id)
{
	struct dbst *st = db_stmt(db, sql_find_unique);
	int rc;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, key);
	rc = db_step(st);
	if (rc == DB_ROW)
		*id = db_col_int64(st, 0);
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "look up unique key in");
	return rc == DB_ROW;
}

static int
insert(struct db *db, const struct queue_new *q, int64_t now, int64_t *id)
{
	struct dbst *st = db_stmt(db, sql_insert);

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, q->type);
	db_bind_text(st, 2, q->queue != NULL ? q->queue : "default");
	if (q->bot != NULL)
		db_bind_text(st, 3, q->bot);
	db_bind_text(st, 4, q->payload != NULL ? q->payload : "{}");
	db_bind_int(st, 5, q->priority >= 0 ? q->priority :
	    QUEUE_DEFAULT_PRIORITY);
	db_bind_int64(st, 6, q->run_at > 0 ? q->run_at : now);
	db_bind_int(st, 7, q->max_attempts > 0 ? q->max_attempts : 25);
	if (q->unique_key != NULL)
		db_bind_text(st, 8, q->unique_key);
	db_bind_int64(st, 9, now);
	if (db_insert_id(db, st, "enqueue into", id) < 0)
		return -1;
	return db_notify(db);
}

int
queue_add(struct db *db, const struct queue_new *q, int64_t *id,
    int *existed)
{
	int64_t found = 0, newid = 0;
	int own, rc = -1, dup = 0;

	if (db_tx_open(db, &own) < 0)
		return -1;
	if (q->unique_key != NULL &&
	    (dup = find_unique(db, q->unique_key, &found)) < 0)
		goto out;
	if (!dup && insert(db, q, clock_now_ms(), &newid) < 0)
		goto out;
	rc = 0;
out:
	if (db_tx_close(db, own, rc == 0) < 0)
		return -1;
	*id = dup ? found : newid;
	if (existed != NULL)
		*existed = dup;
	return 0;
}

/*
 * Multi-row inserts for queue_add_many: one statement per 100, 10 or 1
 * rows costs far less than a statement per row. Ids are given explicitly
 * (max(id)+1 onwards, read inside the write transaction), so each item's
 * id is known without relying on RETURNING's row order.
 */
#define MANY_COLS "(id, type, queue, bot, payload, priority, run_at," \
	" max_attempts, created_at)"
#define ROW1 "(?,?,?,?,?,?,?,?,?)"
#define ROW10 ROW1 "," ROW1 "," ROW1 "," ROW1 "," ROW1 "," ROW1 "," ROW1 \
	"," ROW1 "," ROW1 "," ROW1
#define ROW100 ROW10 "," ROW10 "," ROW10 "," ROW10 "," ROW10 "," ROW10 \
	"," ROW10 "," ROW10 "," ROW10 "," ROW10
#define MANY_NCOLS 9

static const char sql_insert_1[] =
    "INSERT INTO jobs " MANY_COLS " VALUES " ROW1;
static const char sql_insert_10[] =
    "INSERT INTO jobs " MANY_COLS " VALUES " ROW10;
static const char sql_insert_100[] =
    "INSERT INTO jobs " MANY_COLS " VALUES " ROW100;
/* ?1 new ids, one per row: on SQLite the next ones after the highest
 * (the write lock keeps them ours); on PostgreSQL from the id sequence,
 * which concurrent inserts share. */
static const char sql_next_ids[] =
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
    " WHERE i < ?1) SELECT (SELECT coalesce(max(id), 0) FROM jobs) + i"
    " FROM n";
static const char pg_next_ids[] =
    "SELECT nextval(pg_get_serial_sequence('jobs', 'id'))"
    " FROM generate_series(1, ?1)";

static int
next_ids(struct db *db, size_t n, int64_t *ids)
{
	struct dbst *st = db_stmt2(db, sql_next_ids, pg_next_ids);
	size_t i = 0;
	int rc;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, (int64_t)n);
	while (i < n && (rc = db_step(st)) == DB_ROW)
		ids[i++] = db_col_int64(st, 0);
	db_reset(st);
	return i == n ? 0 : db_fail(db, "read next ids from");
}

/* Insert items[0..n) (none with a unique key), n in {1, 10, 100}. */
static int
insert_rows(struct db *db, const struct queue_new *items, int n,
    int64_t now, const int64_t *ids)
{
	struct dbst *st = db_stmt(db, n == 100 ? sql_insert_100 :
	    n == 10 ? sql_insert_10 : sql_insert_1);
	const struct queue_new *q;
	int i, c;

	if (st == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		q = &items[i];
		c = i * MANY_NCOLS;
		db_bind_int64(st, c + 1, ids[i]);
		db_bind_text(st, c + 2, q->type);
		db_bind_text(st, c + 3, q->queue != NULL ? q->queue :
		    "default");
		if (q->bot != NULL)
			db_bind_text(st, c + 4, q->bot);
		db_bind_text(st, c + 5, q->payload != NULL ? q->payload :
		    "{}");
		db_bind_int(st, c + 6, q->priority >= 0 ? q->priority :
		    QUEUE_DEFAULT_PRIORITY);
		db_bind_int64(st, c + 7, q->run_at > 0 ? q->run_at : now);
		db_bind_int(st, c + 8, q->max_attempts > 0 ?
		    q->max_attempts : 25);
		db_bind_int64(st, c + 9, now);
	}
	return db_run(db, st, "enqueue into", NULL);
}

/* Insert a run of items without unique keys, in the biggest chunks. */
static int
insert_run(struct db *db, const struct queue_new *items, size_t n,
    int64_t now, int64_t *ids)
{
	size_t done = 0;
	int chunk;

	if (next_ids(db, n, ids) < 0)
		return -1;
	while (done < n) {
		chunk = n - done >= 100 ? 100 : n - done >= 10 ? 10 : 1;
		if (insert_rows(db, items + done, chunk, now, ids + done) < 0)
			return -1;
		done += (size_t)chunk;
	}
	return db_notify(db);
}

int
queue_add_many(struct db *db, const struct queue_new *items, size_t n,
    int64_t *ids)
{
	int64_t now = clock_now_ms();
	size_t i = 0, j;
	int own, ok = 0;

	if (db_tx_open(db, &own) < 0)
		return -1;
	while (i < n) {
		if (items[i].unique_key != NULL) {
			if (queue_add(db, &items[i], &ids[i], NULL) < 0)
				goto out;
			i++;
			continue;
		}
		for (j = i; j < n && items[j].unique_key == NULL; j++)
			;
		if (insert_run(db, items + i, j - i, now, ids + i) < 0)
			goto out;
		i = j;
	}
	ok = 1;
out:
	return db_tx_close(db, own, ok);
}

/* On PostgreSQL the rows are locked as they are chosen, and rows that
 * another claim has locked are passed over (SKIP LOCKED): no two
 * workers take one job and none waits for another. */
#define CLAIM_UPDATE \
	"UPDATE jobs SET state = 'running', attempts = attempts + 1," \
	" lease_until = ?1, worker = ?2, started_at = ?3"
#define CLAIM_SET CLAIM_UPDATE \
	" WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_due" \
	" WHERE state = 'queued' AND run_at <= ?3"
#define CLAIM_SET_PG CLAIM_UPDATE \
	" WHERE id = ANY(ARRAY(SELECT id FROM jobs" \
	" WHERE state = 'queued' AND run_at <= ?3"
#define CLAIM_QUEUES " AND queue IN (SELECT value FROM json_each(?5))"
/* ?6 is ",a,b,": a test per row, no temporary table for the list. */
#define CLAIM_TYPES " AND instr(?6, ',' || type || ',') > 0"
#define CLAIM_END " ORDER BY priority, run_at, id LIMIT ?4)" \
	" RETURNING " JOB_COLUMNS
#define CLAIM_END_PG " ORDER BY priority, run_at, id LIMIT ?4" \
	" FOR UPDATE SKIP LOCKED)) RETURNING " JOB_COLUMNS

static const char sql_claim_all[] = CLAIM_SET CLAIM_END;
static const char sql_claim_queues[] = CLAIM_SET CLAIM_QUEUES CLAIM_END;
static const char sql_claim_types[] = CLAIM_SET CLAIM_TYPES CLAIM_END;
static const char sql_claim_both[] =
    CLAIM_SET CLAIM_QUEUES CLAIM_TYPES CLAIM_END;
static const char pg_claim_all[] = CLAIM_SET_PG CLAIM_END_PG;
static const char pg_claim_queues[] =
    CLAIM_SET_PG CLAIM_QUEUES CLAIM_END_PG;
static const char pg_claim_types[] = CLAIM_SET_PG CLAIM_TYPES CLAIM_END_PG;
static const char pg_claim_both[] =
    CLAIM_SET_PG CLAIM_QUEUES CLAIM_TYPES CLAIM_END_PG;

/* "a,b" -> ["a","b"] for json_each. */
static int
queues_json(const char *csv, char *out, size_t len)
{
	const char *p = csv;
	size_t n = 0;

	out[n++] = '[';
	while (*p != '\0') {
		size_t k = strcspn(p, ",");

		if (k > 0) {
			if (n + k + 4 >= len)
				return -1;
			if (out[n - 1] != '[')
				out[n++] = ',';
			out[n++] = '"';
			memcpy(out + n, p, k);	/* names are [A-Za-z0-9._-] */
			n += k;
			out[n++] = '"';
		}
		p += k;
		if (*p == ',')
			p++;
	}
	out[n++] = ']';
	out[n] = '\0';
	return 0;
}

static int
job_order(const void *a, const void *b)
{
	const struct queue_job *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	if (x->run_at != y->run_at)
		return x->run_at < y->run_at ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The claim of queue_claim and queue_claim_types; types NULL: any. */
static int
claim(struct db *db, const char *worker, const char *queues,
    const char *types, int64_t lease_ms, struct queue_job *jobs, int max,
    int *n)
{
	int qf = queues != NULL && *queues != '\0';
	int tf = types != NULL;
	struct dbst *st;
	char qjson[512], tlist[512];
	int64_t now = clock_now_ms();
	int rc, got = 0;

	*n = 0;
	if (max < 1 || (tf && *types == '\0'))
		return QUEUE_EMPTY;
	if (qf && queues_json(queues, qjson, sizeof(qjson)) < 0) {
		log_err("queue list '%s' too long", queues);
		return -1;
	}
	if (tf && (size_t)snprintf(tlist, sizeof(tlist), ",%s,", types) >=
	    sizeof(tlist)) {
		log_err("type list '%s' too long", types);
		return -1;
	}
	st = qf && tf ? db_stmt2(db, sql_claim_both, pg_claim_both) :
	    qf ? db_stmt2(db, sql_claim_queues, pg_claim_queues) :
	    tf ? db_stmt2(db, sql_claim_types, pg_claim_types) :
	    db_stmt2(db, sql_claim_all, pg_claim_all);
	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, now + lease_ms);
	db_bind_text(st, 2, worker);
	db_bind_int64(st, 3, now);
	db_bind_int(st, 4, max);
	if (qf)
		db_bind_text(st, 5, qjson);
	if (tf)
		db_bind_text(st, 6, tlist);
	while ((rc = db_step(st)) == DB_ROW && got < max) {
		if (read_job(st, &jobs[got]) < 0)
			break;
		got++;
	}
	if (rc == DB_ROW) {
		/* Stopped early: the statement must still run to completion
		 * or the claims would be half-made. */
		while ((rc = db_step(st)) == DB_ROW)
			;
	}
	db_reset(st);
	if (rc != DB_DONE) {
		while (got > 0)
			queue_job_release(&jobs[--got]);
		return db_fail(db, "claim from");
	}
	if (got > 1)
		qsort(jobs, (size_t)got, sizeof(jobs[0]), job_order);
	*n = got;
	return got > 0 ? QUEUE_CLAIMED : QUEUE_EMPTY;
}

int
queue_claim(struct db *db, const char *worker, const char *queues,
    int64_t lease_ms, struct queue_job *jobs, int max, int *n)
{
	return claim(db, worker, queues, NULL, lease_ms, jobs, max, n);
}

int
queue_claim_types(struct db *db, const char *worker, const char *queues,
    const char *types, int64_t lease_ms, struct queue_job *jobs, int max,
    int *n)
{
	return claim(db, worker, queues, types, lease_ms, jobs, max, n);
}

static void
bind_fence(struct dbst *st, const struct queue_job *job)
{
	db_bind_int64(st, 1, job->id);
	db_bind_text(st, 2, job->worker);
	db_bind_int(st, 3, job->attempts);
}

static int
fenced(struct db *db, struct dbst *st, const struct queue_job *job,
    const char *what)
{
	int changes = 0;

	if (db_run(db, st, what, &changes) < 0)
		return -1;
	if (changes == 0) {
		log_warn("job %lld: no longer held by %s (lease lost or "
		    "cancelled); result discarded", (long long)job->id,
		    job->worker);
		return QUEUE_LOST;
	}
	return QUEUE_DONE;
}

static const char sql_complete[] =
    "UPDATE jobs SET state = 'succeeded', finished_at = ?4,"
    " lease_until = NULL" FENCE;

int
queue_complete(struct db *db, const struct queue_job *job)
{
	struct dbst *st = db_stmt(db, sql_complete);

	if (st == NULL)
		return -1;
	bind_fence(st, job);
	db_bind_int64(st, 4, clock_now_ms());
	return fenced(db, st, job, "complete job in");
}

static const char sql_fail[] =
    "UPDATE jobs SET"
    " state = CASE WHEN ?6 <> 0 OR attempts >= max_attempts"
    "  THEN 'dead' ELSE 'queued' END,"
    " finished_at = CASE WHEN ?6 <> 0 OR attempts >= max_attempts"
    "  THEN ?7 ELSE NULL END,"
    " run_at = CASE WHEN ?6 <> 0 OR attempts >= max_attempts"
    "  THEN run_at ELSE ?8 END,"
    " errors = " ERROR_ENTRY ","
    " lease_until = NULL,"
    " worker = CASE WHEN ?6 <> 0 OR attempts >= max_attempts"
    "  THEN worker ELSE NULL END" FENCE;

int
queue_fail(struct db *db, const struct queue_job *job, const char *error,
    int permanent, int64_t retry_at, int *dead)
{
	struct dbst *st = db_stmt(db, sql_fail);
	char at[CLOCK_RFC3339_LEN], clean[QUEUE_ERROR_MAX];
	int64_t now = clock_now_ms();
	int rc;

	if (st == NULL)
		return -1;
	bind_fence(st, job);
	/* An error may quote a peer that echoed a secret. */
	(void)redact_str(clean, sizeof(clean), error != NULL ? error :
	    "failed", NULL);
	db_bind_text(st, 4, clean);
	db_bind_text(st, 5, clock_format(now, at, sizeof(at)));
	db_bind_int(st, 6, permanent != 0);
	db_bind_int64(st, 7, now);
	db_bind_int64(st, 8, retry_at > now ? retry_at : now);
	rc = fenced(db, st, job, "record failure in");
	if (rc == QUEUE_DONE && db_notify(db) < 0)
		rc = -1;
	if (rc == QUEUE_DONE && dead != NULL)
		*dead = permanent || job->attempts >= job->max_attempts;
	return rc;
}

static const char sql_defer[] =
    "UPDATE jobs SET state = 'queued', run_at = ?4,"
    " attempts = attempts - 1, lease_until = NULL, worker = NULL" FENCE;

int
queue_defer(struct db *db, const struct queue_job *job, int64_t run_at)
{
	struct dbst *st = db_stmt(db, sql_defer);
	int rc;

	if (st == NULL)
		return -1;
	bind_fence(st, job);
	db_bind_int64(st, 4, run_at);
	rc = fenced(db, st, job, "defer job in");
	if (rc == QUEUE_DONE && db_notify(db) < 0)
		rc = -1;
	return rc;
}

static const char sql_extend[] =
    "UPDATE jobs SET lease_until = ?4" FENCE;

int
queue_extend(struct db *db, const struct queue_job *job, int64_t lease_ms)
{
	struct dbst *st = db_stmt(db, sql_extend);

	if (st == NULL)
		return -1;
	bind_fence(st, job);
	db_bind_int64(st, 4, clock_now_ms() + lease_ms);
	return fenced(db, st, job, "extend lease in");
}

int64_t
queue_backoff(int attempts, int64_t base_ms, int64_t cap_ms)
{
	int64_t d = base_ms, jitter;
	int i;

	if (base_ms <= 0)
		return 0;
	for (i = 1; i < attempts && d < cap_ms; i++)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms;
	jitter = d / 4;
	if (jitter > 0)
		d += (int64_t)arc4random_uniform(jitter > UINT32_MAX - 1 ?
		    UINT32_MAX - 1 : (uint32_t)jitter + 1);
	return d > cap_ms && cap_ms >= base_ms ? cap_ms : d;
}

static const char sql_heartbeat_jobs[] =
    "UPDATE jobs SET lease_until = ?2 WHERE state = 'running'"
    " AND worker = ?1";
static const char sql_heartbeat_worker[] =
    "UPDATE workers SET heartbeat_at = ?2 WHERE id = ?1";

int
queue_heartbeat(struct db *db, const char *worker, int64_t lease_ms)
{
	struct dbst *st;
	int64_t now = clock_now_ms();
	int own, n = 0, ok = 0;

	if (db_tx_open(db, &own) < 0)
		return -1;
	if ((st = db_stmt(db, sql_heartbeat_jobs)) == NULL)
		goto out;
	db_bind_text(st, 1, worker);
	db_bind_int64(st, 2, now + lease_ms);
	if (db_run(db, st, "renew leases in", &n) < 0)
		goto out;
	if ((st = db_stmt(db, sql_heartbeat_worker)) == NULL)
		goto out;
	db_bind_text(st, 1, worker);
	db_bind_int64(st, 2, now);
	ok = db_run(db, st, "heartbeat in", NULL) == 0;
out:
	if (db_tx_close(db, own, ok) < 0)
		return -1;
	return n;
}

/* Release jobs matching ?1 (a worker id) or, with ?1 NULL, every running
 * job whose lease ended before ?3. ?4/?5 are the error text and time. */
static const char sql_release[] =
    "UPDATE jobs SET"
    " state = CASE WHEN attempts >= max_attempts THEN 'dead'"
    "  ELSE 'queued' END,"
    " finished_at = CASE WHEN attempts >= max_attempts THEN ?3"
    "  ELSE NULL END,"
    " run_at = CASE WHEN attempts >= max_attempts THEN run_at"
    "  ELSE ?3 END,"
    " errors = " ERROR_ENTRY ","
    " lease_until = NULL, worker = NULL"
    " WHERE state = 'running' AND"
    " CASE WHEN ?1 IS NULL THEN lease_until < ?3 ELSE worker = ?1 END";
static const char sql_forget_worker[] =
    "DELETE FROM workers WHERE id = ?1";
static const char sql_forget_stale[] =
    "DELETE FROM workers WHERE heartbeat_at < ?1";

static int
release(struct db *db, const char *worker, const char *reason, int64_t now,
    int *n)
{
	struct dbst *st = db_stmt(db, sql_release);
	char at[CLOCK_RFC3339_LEN], clean[QUEUE_ERROR_MAX];

	if (st == NULL)
		return -1;
	if (worker != NULL)
		db_bind_text(st, 1, worker);
	db_bind_int64(st, 3, now);
	(void)redact_str(clean, sizeof(clean), reason, NULL);
	db_bind_text(st, 4, clean);
	db_bind_text(st, 5, clock_format(now, at, sizeof(at)));
	if (db_run(db, st, "release jobs in", n) < 0)
		return -1;
	return *n > 0 ? db_notify(db) : 0;
}

int
queue_release_worker(struct db *db, const char *worker, const char *reason)
{
	struct dbst *st;
	int own, n = 0, ok = 0;

	if (db_tx_open(db, &own) < 0)
		return -1;
	if (release(db, worker, reason, clock_now_ms(), &n) < 0)
		goto out;
	if ((st = db_stmt(db, sql_forget_worker)) == NULL)
		goto out;
	db_bind_text(st, 1, worker);
	ok = db_run(db, st, "remove worker from", NULL) == 0;
out:
	if (db_tx_close(db, own, ok) < 0)
		return -1;
	if (n > 0)
		log_warn("released %d job%s of %s: %s", n, n == 1 ? "" : "s",
		    worker, reason);
	return n;
}

int
queue_reap(struct db *db, int64_t stale_ms)
{
	struct dbst *st;
	int64_t now = clock_now_ms();
	int own, n = 0, ok = 0;

	if (db_tx_open(db, &own) < 0)
		return -1;
	if (release(db, NULL, "lease expired (worker stopped heartbeating)",
	    now, &n) < 0)
		goto out;
	if ((st = db_stmt(db, sql_forget_stale)) == NULL)
		goto out;
	db_bind_int64(st, 1, now - stale_ms);
	ok = db_run(db, st, "remove stale workers from", NULL) == 0;
out:
	if (db_tx_close(db, own, ok) < 0)
		return -1;
	if (n > 0)
		log_warn("released %d job%s whose lease expired", n,
		    n == 1 ? "" : "s");
	return n;
}

static const char sql_state[] = "SELECT state FROM jobs WHERE id = ?1";
static const char sql_cancel[] =
    "UPDATE jobs SET state = 'cancelled', finished_at = ?2,"
    " lease_until = NULL"
    " WHERE id = ?1 AND state IN ('queued', 'running')";
static const char sql_retry[] =
    "UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?2,"
    " finished_at = NULL, lease_until = NULL, worker = NULL"
    " WHERE id = ?1 AND state IN ('dead', 'cancelled')";

/* Apply sql to each id; refuse (roll back) at the first id it can't. */
static int
admin(struct db *db, const char *sql, const int64_t *ids, int n,
    const char *verb, const char *from)
{
	struct dbst *st;
	int i, changes, rc, own;
	char state[32];

	if (db_tx_open(db, &own) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if ((st = db_stmt(db, sql)) == NULL)
			goto fail;
		db_bind_int64(st, 1, ids[i]);
		db_bind_int64(st, 2, clock_now_ms());
		rc = db_step(st);
		db_reset(st);
		if (rc == DB_UNIQUE) {
			log_err("job %lld: another queued or running job holds "
			    "its unique key", (long long)ids[i]);
			goto fail;
		}
		if (rc != DB_DONE) {
			db_fail(db, verb);
			goto fail;
		}
		changes = db_changes(db);
		if (changes == 1)
			continue;
		if ((st = db_stmt(db, sql_state)) == NULL)
			goto fail;
		db_bind_int64(st, 1, ids[i]);
		if (db_step(st) == DB_ROW) {
			db_col_copy(st, 0, state, sizeof(state));
			log_err("job %lld is %s: only %s jobs can be %s",
			    (long long)ids[i], state, from, verb);
		} else {
			log_err("job %lld: no such job", (long long)ids[i]);
		}
		db_reset(st);
		goto fail;
	}
	if (db_notify(db) < 0)
		goto fail;
	return db_tx_close(db, own, 1);
fail:
	db_tx_close(db, own, 0);
	return -1;
}

int
queue_cancel(struct db *db, const int64_t *ids, int n)
{
	return admin(db, sql_cancel, ids, n, "cancelled", "queued or running");
}

int
queue_retry(struct db *db, const int64_t *ids, int n)
{
	return admin(db, sql_retry, ids, n, "retried", "dead or cancelled");
}

static const char sql_cancel_where[] =
    "UPDATE jobs SET state = 'cancelled', finished_at = ?4"
    " WHERE state = 'queued' AND type IN (SELECT value FROM json_each(?1))"
    " AND CAST(json_extract(payload, '$.' || ?2) AS INTEGER) = ?3";

int
queue_cancel_where(struct db *db, const char *types, const char *field,
    int64_t value)
{
	struct dbst *st = db_stmt(db, sql_cancel_where);
	char tjson[512];
	int n = 0;

	if (st == NULL)
		return -1;
	if (queues_json(types, tjson, sizeof(tjson)) < 0) {
		log_err("type list '%s' too long", types);
		return -1;
	}
	db_bind_text(st, 1, tjson);
	db_bind_text(st, 2, field);
	db_bind_int64(st, 3, value);
	db_bind_int64(st, 4, clock_now_ms());
	if (db_run(db, st, "cancel jobs in", &n) < 0)
		return -1;
	return n;
}

static const char sql_retry_where[] =
    "UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?1,"
    " finished_at = NULL, lease_until = NULL, worker = NULL"
    " WHERE state = ?2 AND (?3 IS NULL OR type = ?3)"
    " AND (?4 IS NULL OR bot = ?4) RETURNING id";

int
queue_retry_where(struct db *db, const char *state, const char *type,
    const char *bot, int64_t **ids, int *n)
{
	struct dbst *st;
	int64_t *v = NULL, *p;
	int own, rc, cap = 0;

	*ids = NULL;
	*n = 0;
	if (strcmp(state, "dead") != 0 && strcmp(state, "cancelled") != 0) {
		log_err("only dead or cancelled jobs can be retried, not %s",
		    state);
		return -1;
	}
	if (db_tx_open(db, &own) < 0)
		return -1;
	if ((st = db_stmt(db, sql_retry_where)) == NULL)
		goto fail;
	db_bind_int64(st, 1, clock_now_ms());
	db_bind_text(st, 2, state);
	if (type != NULL)
		db_bind_text(st, 3, type);
	if (bot != NULL)
		db_bind_text(st, 4, bot);
	while ((rc = db_step(st)) == DB_ROW) {
		if (*n == cap) {
			cap = cap > 0 ? cap * 2 : 64;
			if ((p = reallocarray(v, (size_t)cap, sizeof(*v))) ==
			    NULL) {
				log_err("out of memory retrying jobs");
				db_reset(st);
				goto fail;
			}
			v = p;
		}
		v[(*n)++] = db_col_int64(st, 0);
	}
	db_reset(st);
	if (rc == DB_UNIQUE) {
		log_err("a matching job's unique key is held by a queued or "
		    "running job: nothing retried (retry the others by id)");
		goto fail;
	}
	if (rc != DB_DONE) {
		db_fail(db, "retry jobs in");
		goto fail;
	}
	if (db_notify(db) < 0)
		goto fail;
	if (db_tx_close(db, own, 1) < 0)
		goto fail_closed;
	*ids = v;
	return 0;
fail:
	db_tx_close(db, own, 0);
fail_closed:
	free(v);
	*n = 0;
	return -1;
}

static const char sql_next_due[] =
    "SELECT min(run_at) FROM jobs WHERE state = 'queued'";
static const char sql_next_due_queues[] =
    "SELECT run_at FROM jobs WHERE state = 'queued'"
    " AND queue IN (SELECT value FROM json_each(?1))"
    " ORDER BY run_at LIMIT 1";

int
queue_next_due(struct db *db, const char *queues, int64_t *at)
{
	int filter = queues != NULL && *queues != '\0';
	struct dbst *st;
	char qjson[512];
	int rc, found = 0;

	if (filter && queues_json(queues, qjson, sizeof(qjson)) < 0) {
		log_err("queue list '%s' too long", queues);
		return -1;
	}
	st = db_stmt(db, filter ? sql_next_due_queues : sql_next_due);
	if (st == NULL)
		return -1;
	if (filter)
		db_bind_text(st, 1, qjson);
	rc = db_step(st);
	if (rc == DB_ROW && !db_col_null(st, 0)) {
		*at = db_col_int64(st, 0);
		found = 1;
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read next due job from");
	return found;
}

static const char sql_get[] =
    "SELECT " JOB_COLUMNS ", state FROM jobs WHERE id = ?1";

int
queue_get(struct db *db, int64_t id, struct queue_job *job, char *state,
    size_t statelen)
{
	struct dbst *st = db_stmt(db, sql_get);
	int rc, found = 0;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, id);
	rc = db_step(st);
	if (rc == DB_ROW) {
		if (read_job(st, job) < 0) {
			db_reset(st);
			return -1;
		}
		if (state != NULL)
			db_col_copy(st, 13, state, statelen);
		found = 1;
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read job from");
	return found;
}

static const char sql_worker_job[] =
    "SELECT id, type, started_at FROM jobs"
    " WHERE state = 'running' AND worker = ?1"
    " ORDER BY started_at DESC LIMIT 1";

int
queue_worker_job(struct db *db, const char *worker, int64_t *id,
    char *type, size_t typelen, int64_t *started_at)
{
	struct dbst *st = db_stmt(db, sql_worker_job);
	int rc, found = 0;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, worker);
	rc = db_step(st);
	if (rc == DB_ROW) {
		*id = db_col_int64(st, 0);
		db_col_copy(st, 1, type, typelen);
		*started_at = db_col_int64(st, 2);
		found = 1;
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read the running job of a worker from");
	return found;
}

static const char sql_register[] =
    "INSERT INTO workers (id, pid, host, queues, started_at, heartbeat_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (id) DO UPDATE SET"
    " pid = excluded.pid, host = excluded.host, queues = excluded.queues,"
    " started_at = excluded.started_at,"
    " heartbeat_at = excluded.heartbeat_at";

int
queue_worker_register(struct db *db, const char *worker, const char *host,
    long pid, const char *queues)
{
	struct dbst *st = db_stmt(db, sql_register);

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, worker);
	db_bind_int64(st, 2, pid);
	db_bind_text(st, 3, host);
	db_bind_text(st, 4, queues != NULL ? queues : "");
	db_bind_int64(st, 5, clock_now_ms());
	return db_run(db, st, "register worker in", NULL);
}

int
queue_worker_unregister(struct db *db, const char *worker)
{
	struct dbst *st = db_stmt(db, sql_forget_worker);

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, worker);
	return db_run(db, st, "unregister worker from", NULL);
}
