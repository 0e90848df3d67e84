/*
 * latency: pickup latency of an idle worker, enqueue to start.
 *
 *   latency [-n count] [-w warmup] DB FIFO
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

#include "bench.h"

#define MISS_US 5000000

/* As dater's queue_add inserts a job. */
static const char sql_insert[] =
    "INSERT INTO jobs (type, queue, bot, payload, priority, run_at,"
    " max_attempts, unique_key, created_at)"
    " VALUES ('noop', 'default', NULL, ?1, 100, ?2, 25, NULL, ?2)";

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
	sqlite3_stmt *st_begin, *st_insert, *st_commit;
	struct fifo f;
	sqlite3 *db;
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
	db = bench_open(argv[optind]);
	st_begin = bench_prepare(db, "BEGIN IMMEDIATE");
	st_insert = bench_prepare(db, sql_insert);
	st_commit = bench_prepare(db, "COMMIT");
	sqlite3_bind_text(st_insert, 1, payload, -1, SQLITE_STATIC);
	for (i = 0; i < warm + count; i++) {
		nap_us(5000 + random() % 15001);
		fifo_flush(&f);
		bench_done(db, st_begin, "begin");
		sqlite3_bind_int64(st_insert, 2, bench_wall_ms());
		bench_done(db, st_insert, "insert");
		id = sqlite3_last_insert_rowid(db);
		t0 = bench_mono_us();
		bench_done(db, st_commit, "commit");
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
	sqlite3_finalize(st_begin);
	sqlite3_finalize(st_insert);
	sqlite3_finalize(st_commit);
	sqlite3_close(db);
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
