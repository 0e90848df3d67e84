/*
 * latency: pickup latency of an idle worker, enqueue to start.
 *
 *   latency [-n count] [-w warmup] DB FIFO
 *
 * DB is a SQLite file, or a postgresql:// URI (issue 12): then each
 * enqueue also sends the NOTIFY that dater's enqueue sends in the same
 * transaction (SELECT pg_notify('dater_jobs', '')), the wake-up an idle
 * worker on PostgreSQL waits for.
 *
 * Enqueues one noop job at a time, after a random 5..20 ms gap, with the
 * payload {"trace": FIFO}: the job writes a line starting with its id to
 * FIFO when it starts (dater's noop does; so does 'raw_loop -t'). The
 * latency of a job runs from just before its enqueue's COMMIT to the
 * moment its line can be read from FIFO, both on CLOCK_MONOTONIC; the
 * FIFO is held open for reading and writing, so the job's open() never
 * blocks and the reader never sees end-of-file.
 *
 * Prints "count p50_us p99_us max_us mean_us missed"; a job whose line
 * does not come within 5 s is missed. Exit 1 if any was missed.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench.h"

#define MISS_US 5000000

/* As dater's queue_add inserts a job. */
static const char sql_insert[] =
    "INSERT INTO jobs (type, queue, bot, payload, priority, run_at,"
    " max_attempts, unique_key, created_at)"
    " VALUES ('noop', 'default', NULL, ?1, 100, ?2, 25, NULL, ?2)";

/* The same on PostgreSQL, with the wake-up of the idle workers. */
static const char pg_insert[] =
    "INSERT INTO jobs (type, queue, bot, payload, priority, run_at,"
    " max_attempts, unique_key, created_at)"
    " VALUES ('noop', 'default', NULL, $1, 100, $2, 25, NULL, $2)"
    " RETURNING id";
static const char pg_notify[] = "SELECT pg_notify('dater_jobs', '')";

/* Where the jobs go: a SQLite database or a PostgreSQL connection. */
struct enq {
	sqlite3 *db;
	sqlite3_stmt *begin, *insert, *commit;
	PGconn *pg;
	const char *payload;
};

struct fifo {
	int fd;
	char buf[4096];
	size_t len;
};

/* Throw away whatever stale lines the FIFO holds. */
static void
fifo_flush(struct fifo *f)
{
	while (read(f->fd, f->buf, sizeof(f->buf)) > 0)
		;
	f->len = 0;
}

/* Consume complete lines; returns 1 if one starts with id. */
static int
fifo_scan(struct fifo *f, long long id)
{
	char *nl, *line = f->buf;
	int hit = 0;

	while ((nl = memchr(line, '\n', f->len - (size_t)(line - f->buf)))
	    != NULL) {
		*nl = '\0';
		if (strtoll(line, NULL, 10) == id)
			hit = 1;
		line = nl + 1;
	}
	f->len -= (size_t)(line - f->buf);
	memmove(f->buf, line, f->len);
	return hit;
}

/* Wait for the line of job id; returns its arrival time, or -1. */
static int64_t
fifo_wait(struct fifo *f, long long id, int64_t since)
{
	struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
	int64_t now, left;
	ssize_t n;

	for (;;) {
		now = bench_mono_us();
		if ((left = since + MISS_US - now) <= 0)
			return -1;
		if (poll(&pfd, 1, (int)(left / 1000) + 1) < 0) {
			if (errno == EINTR)
				continue;
			err(71, "poll");
		}
		now = bench_mono_us();
		if (!(pfd.revents & POLLIN))
			continue;
		if (f->len == sizeof(f->buf))
			f->len = 0;	/* a line that long is not ours */
		n = read(f->fd, f->buf + f->len, sizeof(f->buf) - f->len);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			err(74, "read fifo");
		if (n > 0) {
			f->len += (size_t)n;
			if (fifo_scan(f, id))
				return now;
		}
	}
}

static void
enq_open(struct enq *e, const char *target, const char *payload)
{
	memset(e, 0, sizeof(*e));
	e->payload = payload;
	if (strncmp(target, "postgresql://", 13) == 0 ||
	    strncmp(target, "postgres://", 11) == 0) {
		e->pg = PQconnectdb(target);
		if (PQstatus(e->pg) != CONNECTION_OK)
			errx(69, "connect: %s", PQerrorMessage(e->pg));
		return;
	}
	e->db = bench_open(target);
	e->begin = bench_prepare(e->db, "BEGIN IMMEDIATE");
	e->insert = bench_prepare(e->db, sql_insert);
	e->commit = bench_prepare(e->db, "COMMIT");
	sqlite3_bind_text(e->insert, 1, payload, -1, SQLITE_STATIC);
}

static void
enq_close(struct enq *e)
{
	if (e->pg != NULL) {
		PQfinish(e->pg);
		return;
	}
	sqlite3_finalize(e->begin);
	sqlite3_finalize(e->insert);
	sqlite3_finalize(e->commit);
	sqlite3_close(e->db);
}

static PGresult *
pg_run(PGconn *pg, const char *sql, int nv, const char *const *v, int want)
{
	PGresult *r = PQexecParams(pg, sql, nv, NULL, v, NULL, NULL, 0);

	if ((int)PQresultStatus(r) != want)
		errx(70, "%s: %s", sql, PQerrorMessage(pg));
	return r;
}

/* PostgreSQL: enqueue one job, *t0 set just before the COMMIT. */
static long long
enq_pg(struct enq *e, int64_t *t0)
{
	char now[24];
	const char *v[2] = { e->payload, now };
	long long id;
	PGresult *r;

	snprintf(now, sizeof(now), "%lld", (long long)bench_wall_ms());
	PQclear(pg_run(e->pg, "BEGIN", 0, NULL, PGRES_COMMAND_OK));
	r = pg_run(e->pg, pg_insert, 2, v, PGRES_TUPLES_OK);
	id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQclear(pg_run(e->pg, pg_notify, 0, NULL, PGRES_TUPLES_OK));
	*t0 = bench_mono_us();
	PQclear(pg_run(e->pg, "COMMIT", 0, NULL, PGRES_COMMAND_OK));
	return id;
}

/* Enqueue one job; returns its id, *t0 set just before the COMMIT. */
static long long
enq_one(struct enq *e, int64_t *t0)
{
	long long id;

	if (e->pg != NULL)
		return enq_pg(e, t0);
	bench_done(e->db, e->begin, "begin");
	sqlite3_bind_int64(e->insert, 2, bench_wall_ms());
	bench_done(e->db, e->insert, "insert");
	id = sqlite3_last_insert_rowid(e->db);
	*t0 = bench_mono_us();
	bench_done(e->db, e->commit, "commit");
	return id;
}

static void
nap_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[n]. */
static int64_t
pct(const int64_t *v, long n, int p)
{
	long k = (n * p + 99) / 100;

	return v[k > 0 ? k - 1 : 0];
}

int
main(int argc, char *argv[])
{
	struct enq e;
	struct fifo f;
	char payload[4200];
	int64_t *lat, t0, t1, sum = 0;
	long count = 300, warm = 5, i, k = 0, missed = 0;
	long long id;
	int ch;

	while ((ch = getopt(argc, argv, "n:w:")) != -1) {
		switch (ch) {
		case 'n':
			count = bench_count(optarg, "-n");
			break;
		case 'w':
			warm = strcmp(optarg, "0") == 0 ? 0 :
			    bench_count(optarg, "-w");
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 2)
		goto usage;
	if (strpbrk(argv[optind + 1], "\"\\") != NULL ||
	    snprintf(payload, sizeof(payload), "{\"trace\":\"%s\"}",
	    argv[optind + 1]) >= (int)sizeof(payload))
		errx(64, "fifo path must be short and need no JSON escapes");
	if (mkfifo(argv[optind + 1], 0600) < 0 && errno != EEXIST)
		err(73, "mkfifo '%s'", argv[optind + 1]);
	f.len = 0;
	f.fd = open(argv[optind + 1], O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (f.fd < 0)
		err(66, "open '%s'", argv[optind + 1]);
	if ((lat = calloc((size_t)count, sizeof(*lat))) == NULL)
		err(71, "calloc");
	srandom((unsigned)(getpid() ^ bench_mono_us()));
	enq_open(&e, argv[optind], payload);
	for (i = 0; i < warm + count; i++) {
		nap_us(5000 + random() % 15001);
		fifo_flush(&f);
		id = enq_one(&e, &t0);
		t1 = fifo_wait(&f, id, t0);
		if (i < warm)
			continue;
		if (t1 < 0) {
			missed++;
			continue;
		}
		lat[k++] = t1 - t0;
		sum += t1 - t0;
	}
	enq_close(&e);
	if (k == 0) {
		printf("0 -1 -1 -1 -1 %ld\n", missed);
		return 1;
	}
	qsort(lat, (size_t)k, sizeof(*lat), cmp_i64);
	printf("%ld %lld %lld %lld %lld %ld\n", k, (long long)pct(lat, k, 50),
	    (long long)pct(lat, k, 99), (long long)lat[k - 1],
	    (long long)(sum / k), missed);
	free(lat);
	return missed > 0;
usage:
	fprintf(stderr, "usage: latency [-n count] [-w warmup] db fifo\n");
	return 64;
}
