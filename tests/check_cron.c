/*
 * check_cron: cron expressions as the scheduler uses them. A table of
 * expressions and start times with the next firing time and the slot at
 * or before the start, parse errors that name the field, and cron_next
 * and cron_prev against brute-force references: minute by minute across
 * daylight-saving changes, day by day for random expressions in UTC.
 */
#include <sys/stat.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check_dater.h"
#include "../lib/clock.h"
#include "../lib/cron.h"
#include "../lib/banned.h"

#define SENTINEL ((int64_t)-4242)

static struct cron
parsed(const char *expr)
{
	struct cron c;
	char err[128] = "";

	ck_assert_msg(cron_parse(expr, &c, err, sizeof(err)) == 0,
	    "'%s' was rejected: %s", expr, err);
	return c;
}

/* Unix seconds of an RFC 3339 time. */
static int64_t
secs(const char *rfc3339)
{
	int64_t ms;

	ck_assert_msg(clock_parse_time(rfc3339, &ms) == 0, "bad time '%s'",
	    rfc3339);
	return ms / 1000;
}

static const char *
fmt(int64_t s, char *buf)
{
	return clock_format(s * 1000, buf, CLOCK_RFC3339_LEN);
}

/*
 * One row: after `from`, expr in tz fires next at `next`; the slot at or
 * before `from` is `prev` (NULL: none within five years).
 */
struct row {
	const char *expr;
	const char *tz;
	const char *from;
	const char *next;
	const char *prev;
};

static const struct row table[] = {
	/* 2026-03-10 is a Tuesday */
	{ "* * * * *", NULL, "2026-03-10T12:34:56Z",
	    "2026-03-10T12:35:00Z", "2026-03-10T12:34:00Z" },
	{ "* * * * *", NULL, "2026-03-10T12:34:00Z",
	    "2026-03-10T12:35:00Z", "2026-03-10T12:34:00Z" },
	{ "*/15 * * * *", NULL, "2026-03-10T12:34:56Z",
	    "2026-03-10T12:45:00Z", "2026-03-10T12:30:00Z" },
	{ "*/15 * * * *", NULL, "2026-03-10T23:50:00Z",
	    "2026-03-11T00:00:00Z", "2026-03-10T23:45:00Z" },
	{ "0 */6 * * *", NULL, "2026-03-10T12:34:56Z",
	    "2026-03-10T18:00:00Z", "2026-03-10T12:00:00Z" },
	{ "0 */6 * * *", NULL, "2026-03-10T18:00:00Z",
	    "2026-03-11T00:00:00Z", "2026-03-10T18:00:00Z" },
	/* weekdays: from Friday after the run to Monday */
	{ "30 2 * * 1-5", NULL, "2026-03-13T03:00:00Z",
	    "2026-03-16T02:30:00Z", "2026-03-13T02:30:00Z" },
	{ "30 2 * * 1-5", NULL, "2026-03-15T12:00:00Z",
	    "2026-03-16T02:30:00Z", "2026-03-13T02:30:00Z" },
	/* month ends */
	{ "0 0 31 * *", NULL, "2026-02-10T00:00:00Z",
	    "2026-03-31T00:00:00Z", "2026-01-31T00:00:00Z" },
	{ "0 0 31 * *", NULL, "2026-04-01T00:00:00Z",
	    "2026-05-31T00:00:00Z", "2026-03-31T00:00:00Z" },
	{ "0 0 30 2 *", NULL, "2026-01-01T00:00:00Z", NULL, NULL },
	{ "0 0 31 4,6,9,11 *", NULL, "2026-01-01T00:00:00Z", NULL, NULL },
	/* leap days */
	{ "0 12 29 2 *", NULL, "2026-01-01T00:00:00Z",
	    "2028-02-29T12:00:00Z", "2024-02-29T12:00:00Z" },
	{ "0 12 29 2 *", NULL, "2028-02-29T12:00:00Z",
	    "2032-02-29T12:00:00Z", "2028-02-29T12:00:00Z" },
	{ "0 0 28-31 2 *", NULL, "2027-03-01T00:00:00Z",
	    "2028-02-28T00:00:00Z", "2027-02-28T00:00:00Z" },
	/* steps with ranges and starts */
	{ "10-50/20 * * * *", NULL, "2026-03-10T12:34:56Z",
	    "2026-03-10T12:50:00Z", "2026-03-10T12:30:00Z" },
	{ "10-50/20 * * * *", NULL, "2026-03-10T12:55:00Z",
	    "2026-03-10T13:10:00Z", "2026-03-10T12:50:00Z" },
	{ "5/20 * * * *", NULL, "2026-03-10T12:46:00Z",
	    "2026-03-10T13:05:00Z", "2026-03-10T12:45:00Z" },
	{ "0 0 1/10 * *", NULL, "2026-03-22T00:00:00Z",
	    "2026-03-31T00:00:00Z", "2026-03-21T00:00:00Z" },
	/* names: the first Monday of July, the last of January */
	{ "0 9 * JAN,JUL MON", NULL, "2026-03-10T00:00:00Z",
	    "2026-07-06T09:00:00Z", "2026-01-26T09:00:00Z" },
	{ "0 9 * jan-mar fri", NULL, "2026-03-28T00:00:00Z",
	    "2027-01-01T09:00:00Z", "2026-03-27T09:00:00Z" },
	/* macros */
	{ "@hourly", NULL, "2026-03-10T12:34:56Z",
	    "2026-03-10T13:00:00Z", "2026-03-10T12:00:00Z" },
	{ "@daily", NULL, "2026-03-10T12:34:56Z",
	    "2026-03-11T00:00:00Z", "2026-03-10T00:00:00Z" },
	{ "@midnight", NULL, "2026-03-10T12:34:56Z",
	    "2026-03-11T00:00:00Z", "2026-03-10T00:00:00Z" },
	{ "@weekly", NULL, "2026-03-10T12:34:56Z",
	    "2026-03-15T00:00:00Z", "2026-03-08T00:00:00Z" },
	{ "@monthly", NULL, "2026-03-10T12:34:56Z",
	    "2026-04-01T00:00:00Z", "2026-03-01T00:00:00Z" },
	{ "@yearly", NULL, "2026-03-10T12:34:56Z",
	    "2027-01-01T00:00:00Z", "2026-01-01T00:00:00Z" },
	{ "@annually", NULL, "2026-12-31T23:59:59Z",
	    "2027-01-01T00:00:00Z", "2026-01-01T00:00:00Z" },
	/* Sunday is 0, 7 and SUN, also at the end of a range */
	{ "0 8 * * 7", NULL, "2026-03-10T00:00:00Z",
	    "2026-03-15T08:00:00Z", "2026-03-08T08:00:00Z" },
	{ "0 8 * * 0", NULL, "2026-03-10T00:00:00Z",
	    "2026-03-15T08:00:00Z", "2026-03-08T08:00:00Z" },
	{ "0 8 * * 6-7", NULL, "2026-03-10T00:00:00Z",
	    "2026-03-14T08:00:00Z", "2026-03-08T08:00:00Z" },
	{ "0 8 * * FRI-SUN", NULL, "2026-03-10T00:00:00Z",
	    "2026-03-13T08:00:00Z", "2026-03-08T08:00:00Z" },
	/* both day fields restricted: either matches (the 1st or Monday) */
	{ "0 0 1 * MON", NULL, "2026-03-10T12:00:00Z",
	    "2026-03-16T00:00:00Z", "2026-03-09T00:00:00Z" },
	{ "0 0 1 * MON", NULL, "2026-03-31T12:00:00Z",
	    "2026-04-01T00:00:00Z", "2026-03-30T00:00:00Z" },
	/* "*" + step is a restriction too: the 1st, 11th, 21st, 31st or
	 * Monday */
	{ "0 0 */10 * MON", NULL, "2026-03-10T12:00:00Z",
	    "2026-03-11T00:00:00Z", "2026-03-09T00:00:00Z" },
	/* one day field "*": only the other counts */
	{ "0 0 * * MON", NULL, "2026-03-31T12:00:00Z",
	    "2026-04-06T00:00:00Z", "2026-03-30T00:00:00Z" },
	{ "0 0 1 * *", NULL, "2026-03-10T12:00:00Z",
	    "2026-04-01T00:00:00Z", "2026-03-01T00:00:00Z" },
	/* year rollover */
	{ "* * * * *", NULL, "2026-12-31T23:59:00Z",
	    "2027-01-01T00:00:00Z", "2026-12-31T23:59:00Z" },
	{ "59 23 31 12 *", NULL, "2027-01-01T00:00:30Z",
	    "2027-12-31T23:59:00Z", "2026-12-31T23:59:00Z" },
	/* a zone without daylight saving: 09:00 in Tokyo is 00:00 UTC */
	{ "0 9 * * *", "Asia/Tokyo", "2026-03-10T12:00:00Z",
	    "2026-03-11T00:00:00Z", "2026-03-10T00:00:00Z" },
	{ "0 0 1 1 *", "Asia/Tokyo", "2026-06-01T00:00:00Z",
	    "2026-12-31T15:00:00Z", "2025-12-31T15:00:00Z" },
	/* an unknown zone is UTC (with a warning) */
	{ "0 9 * * *", "Nowhere/Atlantis", "2026-03-10T12:00:00Z",
	    "2026-03-11T09:00:00Z", "2026-03-10T09:00:00Z" },
	/*
	 * Berlin springs forward on 2026-03-29 at 01:00 UTC (02:00 CET ->
	 * 03:00 CEST) and falls back on 2026-10-25 at 01:00 UTC (03:00 CEST
	 * -> 02:00 CET). 09:00 local moves from 08:00 to 07:00 UTC and back.
	 */
	{ "0 9 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
	    "2026-03-29T07:00:00Z", "2026-03-28T08:00:00Z" },
	{ "0 9 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
	    "2026-10-25T08:00:00Z", "2026-10-24T07:00:00Z" },
	/* 02:30 does not exist on 03-29: it fires at 03:00 CEST */
	{ "30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
	    "2026-03-29T01:00:00Z", "2026-03-28T01:30:00Z" },
	{ "30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z",
	    "2026-03-30T00:30:00Z", "2026-03-29T01:00:00Z" },
	/* every skipped minute collapses into one firing at 03:00 */
	{ "*/10 2 * * *", "Europe/Berlin", "2026-03-29T00:55:00Z",
	    "2026-03-29T01:00:00Z", "2026-03-28T01:50:00Z" },
	{ "*/10 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z",
	    "2026-03-30T00:00:00Z", "2026-03-29T01:00:00Z" },
	/* 02:30 happens twice on 10-25: it fires at the first (CEST) */
	{ "30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
	    "2026-10-25T00:30:00Z", "2026-10-24T00:30:00Z" },
	{ "30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z",
	    "2026-10-26T01:30:00Z", "2026-10-25T00:30:00Z" },
	/* in the second pass the slot is still the first 02:30 */
	{ "*/30 * * * *", "Europe/Berlin", "2026-10-25T01:45:00Z",
	    "2026-10-25T02:00:00Z", "2026-10-25T00:30:00Z" },
	{ "0 * * * *", "Europe/Berlin", "2026-10-25T00:30:00Z",
	    "2026-10-25T02:00:00Z", "2026-10-25T00:00:00Z" },
	/* New York springs forward on 2026-03-08 at 07:00 UTC */
	{ "30 2 * * *", "America/New_York", "2026-03-08T05:00:00Z",
	    "2026-03-08T07:00:00Z", "2026-03-07T07:30:00Z" },
	{ "30 2 * * *", "America/New_York", "2026-03-08T07:30:00Z",
	    "2026-03-09T06:30:00Z", "2026-03-08T07:00:00Z" },
	{ "0 * * * *", "America/New_York", "2026-03-08T06:30:00Z",
	    "2026-03-08T07:00:00Z", "2026-03-08T06:00:00Z" },
	{ "0 * * * *", "America/New_York", "2026-03-08T07:00:00Z",
	    "2026-03-08T08:00:00Z", "2026-03-08T07:00:00Z" },
};

static void
check_next(const struct row *r, int64_t from, const char *want)
{
	struct cron c = parsed(r->expr);
	char a[CLOCK_RFC3339_LEN], b[CLOCK_RFC3339_LEN];
	int64_t got = SENTINEL;

	if (want == NULL) {
		ck_assert_msg(cron_next(&c, r->tz, from, &got) == -1 &&
		    got == SENTINEL, "'%s' after %s: fires at %s", r->expr,
		    fmt(from, a), fmt(got, b));
		return;
	}
	ck_assert_msg(cron_next(&c, r->tz, from, &got) == 0,
	    "'%s' in %s after %s: never fires", r->expr, r->tz, fmt(from, a));
	ck_assert_msg(got == secs(want), "'%s' in %s after %s: %s, not %s",
	    r->expr, r->tz, fmt(from, a), fmt(got, b), want);
}

static void
check_prev(const struct row *r, int64_t at, const char *want)
{
	struct cron c = parsed(r->expr);
	char a[CLOCK_RFC3339_LEN], b[CLOCK_RFC3339_LEN];
	int64_t got = SENTINEL;

	if (want == NULL) {
		ck_assert_msg(cron_prev(&c, r->tz, at, &got) == -1 &&
		    got == SENTINEL, "'%s' at %s: slot %s", r->expr,
		    fmt(at, a), fmt(got, b));
		return;
	}
	ck_assert_msg(cron_prev(&c, r->tz, at, &got) == 0,
	    "'%s' in %s at %s: no slot", r->expr, r->tz, fmt(at, a));
	ck_assert_msg(got == secs(want), "'%s' in %s at %s: slot %s, not %s",
	    r->expr, r->tz, fmt(at, a), fmt(got, b), want);
}

START_TEST(next_table)
{
	const struct row *r = &table[_i];

	check_next(r, secs(r->from), r->next);
	/* nothing fires between the slot and the next time */
	if (r->prev != NULL && r->next != NULL)
		check_next(r, secs(r->prev), r->next);
}
END_TEST

START_TEST(prev_table)
{
	const struct row *r = &table[_i];

	check_prev(r, secs(r->from), r->prev);
	if (r->next != NULL) {
		/* a firing time is its own slot; a second earlier is not */
		check_prev(r, secs(r->next), r->next);
		check_prev(r, secs(r->next) - 1, r->prev);
	}
}
END_TEST

/* An expression that parses to the same as another. */
static void
same(const char *a, const char *b)
{
	struct cron x = parsed(a), y = parsed(b);

	ck_assert_msg(memcmp(&x, &y, sizeof(x)) == 0, "'%s' != '%s'", a, b);
}

START_TEST(parse_fields)
{
	struct cron c;

	c = parsed("0 9 * jan,Jul mon");
	ck_assert(c.minutes == 1 && c.hours == 1u << 9);
	ck_assert(c.months == (1u << 1 | 1u << 7) && c.wdays == 1u << 1);
	ck_assert(c.mdays == 0xfffffffeu && c.mday_any && !c.wday_any);
	c = parsed("10-50/20,3 */8 1/10 */5 5-7");
	ck_assert(c.minutes == (1ull << 3 | 1ull << 10 | 1ull << 30 |
	    1ull << 50));
	ck_assert(c.hours == (1u << 0 | 1u << 8 | 1u << 16));
	ck_assert(c.mdays == (1u << 1 | 1u << 11 | 1u << 21 | 1u << 31));
	ck_assert(c.months == (1u << 1 | 1u << 6 | 1u << 11));
	ck_assert(c.wdays == (1u << 0 | 1u << 5 | 1u << 6));
	ck_assert(!c.mday_any && !c.wday_any);
	c = parsed("* * * * *");
	ck_assert(c.minutes == (1ull << 60) - 1 && c.hours == 0xffffffu);
	ck_assert(c.months == 0x1ffe && c.wdays == 0x7f);
	ck_assert(c.mday_any && c.wday_any);
	c = parsed("* * */1 * */1");	/* a step restricts the field */
	ck_assert(!c.mday_any && !c.wday_any && c.wdays == 0x7f);
	c = parsed("0 0 * * 1/2");	/* stops at Saturday */
	ck_assert(c.wdays == (1u << 1 | 1u << 3 | 1u << 5));

	same("0 0 * * 7", "0 0 * * 0");
	same("0 0 * * sun", "0 0 * * SUN");
	same("0 0 * * FRI-SUN", "0 0 * * 5,6,0");
	same("\t0  9 * *\t* ", "0 9 * * *");
	same("@weekly", "0 0 * * 0");
	same("@HOURLY", "0 * * * *");
	same("  @daily ", "0 0 * * *");
	same("@yearly", "0 0 1 1 *");
	same("@monthly", "0 0 1 * *");
	same("*/60 */24 */31 */12 */7", "0 0 1 1 0");
}
END_TEST

/* Full ranges written out set the same bits as "*" but restrict. */
START_TEST(parse_full_ranges)
{
	struct cron a = parsed("0-59 0-23 1-31 JAN-DEC SUN-SAT");
	struct cron b = parsed("* * * * *");

	ck_assert(a.minutes == b.minutes && a.hours == b.hours);
	ck_assert(a.mdays == b.mdays && a.months == b.months);
	ck_assert(a.wdays == b.wdays && !a.mday_any && !a.wday_any);
}
END_TEST

static const struct {
	const char *expr;
	const char *err;	/* the start of the message */
} bad[] = {
	{ "", "empty expression" },
	{ " \t ", "empty expression" },
	{ "* * * *", "expected 5 fields" },
	{ "0 * * * * *", "expected 5 fields (minute hour day-of-month month "
	    "day-of-week), got 6" },
	{ "0 0 * * * 2026", "expected 5 fields" },
	{ "60 * * * *", "minute: 60 is out of range 0-59" },
	{ "* 24 * * *", "hour: 24 is out of range 0-23" },
	{ "* * 0 * *", "day-of-month: 0 is out of range 1-31" },
	{ "* * 32 * *", "day-of-month: 32 is out of range 1-31" },
	{ "* * * 0 *", "month: 0 is out of range 1-12" },
	{ "* * * 13 *", "month: 13 is out of range 1-12" },
	{ "* * * * 8", "day-of-week: 8 is out of range 0-7" },
	{ "99999999999999999999 * * * *", "minute: 99999999999999999999 is "
	    "out of range 0-59" },
	{ "5-2 * * * *", "minute: range '5-2' is reversed" },
	{ "* * * * FRI-MON", "day-of-week: range 'FRI-MON' is reversed" },
	{ "* * * * 5-0", "day-of-week: range '5-0' is reversed" },
	{ "*/0 * * * *", "minute: step 0 is out of range 1-60" },
	{ "* 1-5/0 * * *", "hour: step 0 is out of range 1-24" },
	{ "* * * */13 *", "month: step 13 is out of range 1-12" },
	{ "* * * * */", "day-of-week: bad step" },
	{ "*/x * * * *", "minute: bad step" },
	{ "1,,2 * * * *", "minute: empty list item" },
	{ ",1 * * * *", "minute: empty list item" },
	{ "* 1, * * *", "hour: empty list item" },
	{ "* * * FOO *", "month: unknown name 'FOO'" },
	{ "* * * * MONDAY", "day-of-week: unknown name 'MONDAY'" },
	{ "* * * MON *", "month: unknown name 'MON'" },
	{ "* * MON * *", "day-of-month: 'MON' is not a number" },
	{ "5x * * * *", "minute: '5x' is not a number" },
	{ "*5 * * * *", "minute: unexpected '5' in '*5'" },
	{ "1-2-3 * * * *", "minute: unexpected '-3' in '1-2-3'" },
	{ "1- * * * *", "minute: missing value" },
	{ "-1 * * * *", "minute: unexpected '-'" },
	{ "* * ? * *", "day-of-month: unexpected '?'" },
	{ "* * L * *", "day-of-month: 'L' is not a number" },
	{ "@reboot", "'@reboot' is not supported" },
	{ "@daily x", "unexpected 'x' after '@daily'" },
	{ "@often", "unknown macro '@often'" },
	{ "@", "unknown macro '@'" },
};

START_TEST(parse_errors)
{
	struct cron c, before;
	char err[256];

	memset(&c, 0xa5, sizeof(c));
	before = c;
	err[0] = '\0';
	ck_assert_msg(cron_parse(bad[_i].expr, &c, err, sizeof(err)) == -1,
	    "'%s' was accepted", bad[_i].expr);
	ck_assert_msg(strncmp(err, bad[_i].err, strlen(bad[_i].err)) == 0,
	    "'%s': \"%s\", expected \"%s\"", bad[_i].expr, err, bad[_i].err);
	ck_assert_msg(memcmp(&c, &before, sizeof(c)) == 0,
	    "'%s': output changed on error", bad[_i].expr);
}
END_TEST

START_TEST(parse_error_buffer)
{
	struct cron c;
	char err[8];

	/* a short buffer gets a cut message, no buffer none */
	ck_assert(cron_parse("61 * * * *", &c, err, sizeof(err)) == -1);
	ck_assert_str_eq(err, "minute:");
	ck_assert(cron_parse("61 * * * *", &c, NULL, 0) == -1);
}
END_TEST

/* Copy a binary file (t_write_file stops at a NUL). */
static void
copy_file(const char *from, const char *to)
{
	char buf[4096];
	FILE *in, *out;
	size_t n;

	ck_assert_ptr_nonnull(in = fopen(from, "rb"));
	ck_assert_ptr_nonnull(out = fopen(to, "wb"));
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	ck_assert(!ferror(in));
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
}

/*
 * Zone data removed after the configuration was checked: the schedule
 * runs in UTC, and says so (glibc alone would fall back silently).
 */
START_TEST(zone_removed_warns)
{
	struct cron c = parsed("0 9 * * *");
	struct t_capture cap;
	char dir[PATH_MAX], sub[PATH_MAX], zone[PATH_MAX], *log;
	int64_t t, now = 1773144000;	/* 2026-03-10T12:00:00Z */

	t_tmpdir(dir, sizeof(dir));
	t_path(sub, sizeof(sub), dir, "Asia");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	t_path(zone, sizeof(zone), dir, "Asia/Tokyo");
	copy_file("/usr/share/zoneinfo/Asia/Tokyo", zone);
	ck_assert_int_eq(setenv("TZDIR", dir, 1), 0);
	ck_assert(cron_next(&c, "Asia/Tokyo", now, &t) == 0);
	ck_assert_int_eq(t, secs("2026-03-11T00:00:00Z"));
	ck_assert_int_eq(unlink(zone), 0);
	t_stderr_begin(&cap);
	ck_assert(cron_next(&c, "Asia/Tokyo", now, &t) == 0);
	log = t_stderr_end(&cap);
	ck_assert_int_eq(t, secs("2026-03-11T09:00:00Z"));
	ck_assert_msg(strstr(log, "time zone 'Asia/Tokyo' is not in the "
	    "system's zoneinfo: using UTC") != NULL, "log: '%s'", log);
	free(log);
	/* UTC needs no data and no word */
	t_stderr_begin(&cap);
	ck_assert(cron_prev(&c, "UTC", now, &t) == 0);
	log = t_stderr_end(&cap);
	ck_assert_int_eq(t, secs("2026-03-10T09:00:00Z"));
	ck_assert_str_eq(log, "");
	free(log);
	t_rmtree(dir);
}
END_TEST

START_TEST(tz_restored)
{
	struct cron c = parsed("0 9 * * *");
	int64_t t;
	time_t now = 1773144000;	/* 2026-03-10T12:00:00Z */
	struct tm tm;

	ck_assert(setenv("TZ", "Asia/Tokyo", 1) == 0);
	tzset();
	ck_assert(cron_next(&c, "America/New_York", now, &t) == 0);
	ck_assert_int_eq(t, secs("2026-03-10T13:00:00Z"));
	ck_assert_str_eq(getenv("TZ"), "Asia/Tokyo");
	ck_assert(localtime_r(&now, &tm) != NULL && tm.tm_hour == 21);
	ck_assert(cron_prev(&c, "Europe/Berlin", now, &t) == 0);
	ck_assert_int_eq(t, secs("2026-03-10T08:00:00Z"));
	ck_assert_str_eq(getenv("TZ"), "Asia/Tokyo");

	ck_assert(unsetenv("TZ") == 0);
	tzset();
	ck_assert(cron_next(&c, "Asia/Tokyo", now, &t) == 0);
	ck_assert(getenv("TZ") == NULL);
	ck_assert(cron_prev(&c, "", now, &t) == 0);
	ck_assert_int_eq(t, secs("2026-03-10T09:00:00Z"));
	ck_assert(getenv("TZ") == NULL);
}
END_TEST

START_TEST(far_times)
{
	struct cron c = parsed("0 0 1 1 *");
	int64_t t = SENTINEL;

	ck_assert(cron_next(&c, NULL, INT64_MAX, &t) == -1 && t == SENTINEL);
	ck_assert(cron_prev(&c, NULL, INT64_MIN, &t) == -1 && t == SENTINEL);
	/* 1970 began at 1969-12-31T23:00:00Z in Berlin */
	ck_assert(cron_prev(&c, "Europe/Berlin", -1, &t) == 0);
	ck_assert_int_eq(t, secs("1969-12-31T23:00:00Z"));
	ck_assert(cron_next(&c, "Europe/Berlin", -1, &t) == 0);
	ck_assert_int_eq(t, secs("1970-12-31T23:00:00Z"));
	ck_assert(cron_prev(&c, NULL, secs("2399-06-01T00:00:00Z"), &t) == 0);
	ck_assert_int_eq(t, secs("2399-01-01T00:00:00Z"));
}
END_TEST

/*
 * The references call ck_abort_msg, not ck_assert: Check reports every
 * passed assertion to the runner, which costs a write in a hot loop.
 *
 * The reference: minute by minute through UTC, with the zone's wall
 * clock from localtime_r. A firing wall minute fires the first time the
 * wall clock reaches or passes it: a repeated one once, a skipped one at
 * the first minute after the gap.
 */
static int
ref_day(const struct cron *c, const struct tm *tm)
{
	int md, wd;

	if (!(c->months >> (tm->tm_mon + 1) & 1))
		return 0;
	md = c->mdays >> tm->tm_mday & 1;
	wd = c->wdays >> tm->tm_wday & 1;
	if (c->mday_any && c->wday_any)
		return 1;
	if (c->mday_any)
		return wd;
	if (c->wday_any)
		return md;
	return md || wd;
}

static int
ref_match(const struct cron *c, int64_t wall)
{
	time_t tt = (time_t)wall;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		ck_abort_msg("gmtime_r %lld", (long long)wall);
	return (c->minutes >> tm.tm_min & 1) && (c->hours >> tm.tm_hour & 1) &&
	    ref_day(c, &tm);
}

static int64_t
ref_wall(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL)
		ck_abort_msg("localtime_r %lld", (long long)t);
	return t + tm.tm_gmtoff;
}

#define REF_MAX 8000

/* The firing instants in [lo, hi] (whole minutes), in order. */
static size_t
ref_firings(const struct cron *c, const char *tz, int64_t lo, int64_t hi,
    int64_t *out)
{
	int64_t t, w, seen;
	size_t n = 0;

	ck_assert(setenv("TZ", tz, 1) == 0);
	tzset();
	seen = ref_wall(lo - 60);
	for (t = lo; t <= hi; t += 60) {
		int fires = 0;

		for (w = ref_wall(t); w > seen; w -= 60)
			fires |= ref_match(c, w);
		if (ref_wall(t) > seen)
			seen = ref_wall(t);
		if (fires) {
			if (n == REF_MAX)
				ck_abort_msg("more than %d firings", REF_MAX);
			out[n++] = t;
		}
	}
	return n;
}

static const char *const dst_exprs[] = {
	"* * * * *", "*/15 * * * *", "30 * * * *", "0 * * * *",
	"30 2 * * *", "*/7 1-3 * * *", "15,45 1,2 * * *", "0 3 * * *",
	"59 1 * * *", "0 0 * * *", "45 1,2 * * SUN", "0,30 2 25 * *",
	"20 2 4,5,8 * MON",
};

static const struct {
	const char *tz;
	const char *change;
} dst_changes[] = {
	{ "Europe/Berlin", "2026-03-29T01:00:00Z" },
	{ "Europe/Berlin", "2026-10-25T01:00:00Z" },
	{ "America/New_York", "2026-03-08T07:00:00Z" },
	{ "America/New_York", "2026-11-01T06:00:00Z" },
	/* half-hour changes at 02:00 local */
	{ "Australia/Lord_Howe", "2026-04-04T15:00:00Z" },
	{ "Australia/Lord_Howe", "2026-10-03T15:30:00Z" },
	{ "Asia/Kolkata", "2026-03-29T01:00:00Z" },
};

/*
 * Around each change, from every minute, and a second either side of
 * each firing (elsewhere a second changes no answer). An answer the
 * reference window does not hold must lie outside it.
 */
static void
dst_check(const struct cron *c, const char *expr, const char *tz,
    int64_t t, const int64_t *fire, size_t n, int64_t lo, int64_t hi)
{
	char a[CLOCK_RFC3339_LEN], b[CLOCK_RFC3339_LEN];
	char w[CLOCK_RFC3339_LEN];
	int64_t got = SENTINEL;
	size_t k = 0;
	int rc;

	while (k < n && fire[k] <= t)
		k++;
	rc = cron_next(c, tz, t, &got);
	if (k < n)
		ck_assert_msg(rc == 0 && got == fire[k], "'%s' in %s after %s: "
		    "%s, not %s", expr, tz, fmt(t, a), fmt(got, b),
		    fmt(fire[k], w));
	else
		ck_assert_msg(rc == -1 || got > hi, "'%s' in %s after %s: %s",
		    expr, tz, fmt(t, a), fmt(got, b));
	got = SENTINEL;
	rc = cron_prev(c, tz, t, &got);
	if (k > 0)
		ck_assert_msg(rc == 0 && got == fire[k - 1], "'%s' in %s at %s:"
		    " slot %s, not %s", expr, tz, fmt(t, a), fmt(got, b),
		    fmt(fire[k - 1], w));
	else
		ck_assert_msg(rc == -1 || got < lo, "'%s' in %s at %s: slot %s",
		    expr, tz, fmt(t, a), fmt(got, b));
}

START_TEST(dst_reference)
{
	static int64_t fire[REF_MAX];
	const char *tz = dst_changes[_i].tz;
	int64_t change = secs(dst_changes[_i].change), lo, hi, t;
	size_t e, n, k;

	lo = change - 2 * 86400;
	hi = change + 2 * 86400;
	for (e = 0; e < sizeof(dst_exprs) / sizeof(dst_exprs[0]); e++) {
		struct cron c = parsed(dst_exprs[e]);

		n = ref_firings(&c, tz, lo, hi, fire);
		k = 0;
		for (t = change - 3 * 3600; t <= change + 3 * 3600; t += 60) {
			dst_check(&c, dst_exprs[e], tz, t, fire, n, lo, hi);
			while (k < n && fire[k] < t)
				k++;
			if (k == n || fire[k] != t)
				continue;
			dst_check(&c, dst_exprs[e], tz, t - 1, fire, n, lo, hi);
			dst_check(&c, dst_exprs[e], tz, t + 1, fire, n, lo, hi);
		}
	}
}
END_TEST

/* A small deterministic generator (xorshift64), for reproducible runs. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A random mask over bits lo..hi, each bit kept with probability 1/k;
 * never empty. */
static uint64_t
rnd_mask(uint64_t *s, int lo, int hi, int k)
{
	uint64_t m = 0;
	int i;

	for (i = lo; i <= hi; i++) {
		if (rnd(s) % (uint64_t)k == 0)
			m |= 1ull << i;
	}
	if (m == 0)
		m = 1ull << (lo + (int)(rnd(s) % (uint64_t)(hi - lo + 1)));
	return m;
}

/* The reference in UTC: day by day, then minute by minute in a day
 * that matches. */
static int
ref_utc(const struct cron *c, int64_t t, int dir, int64_t *out)
{
	int64_t day = t / 86400 * 86400, m, at;
	time_t tt;
	struct tm tm;
	int i;

	for (i = 0; i <= 5 * 366; i++, day += dir * 86400) {
		tt = (time_t)day;
		if (gmtime_r(&tt, &tm) == NULL)
			ck_abort_msg("gmtime_r %lld", (long long)day);
		if (!ref_day(c, &tm))
			continue;
		for (m = 0; m < 1440; m++) {
			at = day + (dir > 0 ? m : 1439 - m) * 60;
			if ((dir > 0 ? at > t : at <= t) && ref_match(c, at)) {
				*out = at;
				return 0;
			}
		}
	}
	return -1;
}

START_TEST(random_utc)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull + (uint64_t)_i;
	char a[CLOCK_RFC3339_LEN], b[CLOCK_RFC3339_LEN];
	char w[CLOCK_RFC3339_LEN];
	int i;

	for (i = 0; i < 40; i++) {
		struct cron c;
		int64_t t, want, got;
		int rn, rp;

		memset(&c, 0, sizeof(c));
		c.minutes = rnd_mask(&seed, 0, 59, 8);
		c.hours = (uint32_t)rnd_mask(&seed, 0, 23, 4);
		c.mdays = (uint32_t)rnd_mask(&seed, 1, 31, 1 + rnd(&seed) % 12);
		c.months = (uint16_t)rnd_mask(&seed, 1, 12, 1 + rnd(&seed) % 4);
		c.wdays = (uint8_t)rnd_mask(&seed, 0, 6, 1 + rnd(&seed) % 4);
		c.mday_any = rnd(&seed) % 3 == 0;
		c.wday_any = rnd(&seed) % 3 == 0;
		/* between 2020 and 2040 */
		t = 1577836800 + (int64_t)(rnd(&seed) % 631152000);
		rn = ref_utc(&c, t, 1, &want);
		got = SENTINEL;
		ck_assert_int_eq(cron_next(&c, NULL, t, &got), rn);
		ck_assert_msg(rn == -1 || got == want, "next after %s: %s, "
		    "not %s", fmt(t, a), fmt(got, b), fmt(want, w));
		rp = ref_utc(&c, t, -1, &want);
		ck_assert_int_eq(cron_prev(&c, NULL, t, &got), rp);
		ck_assert_msg(rp == -1 || got == want, "prev at %s: %s, "
		    "not %s", fmt(t, a), fmt(got, b), fmt(want, w));
	}
}
END_TEST

Suite *
suite_cron(void)
{
	Suite *s = suite_create("cron");
	TCase *tc;

	tc = t_tcase("parse");
	tcase_add_test(tc, parse_fields);
	tcase_add_test(tc, parse_full_ranges);
	tcase_add_loop_test(tc, parse_errors, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, parse_error_buffer);
	suite_add_tcase(s, tc);

	tc = t_tcase("table");
	tcase_add_loop_test(tc, next_table, 0,
	    sizeof(table) / sizeof(table[0]));
	tcase_add_loop_test(tc, prev_table, 0,
	    sizeof(table) / sizeof(table[0]));
	suite_add_tcase(s, tc);

	tc = t_tcase("zones");
	tcase_add_test(tc, tz_restored);
	tcase_add_test(tc, zone_removed_warns);
	tcase_add_test(tc, far_times);
	tcase_add_loop_test(tc, dst_reference, 0,
	    sizeof(dst_changes) / sizeof(dst_changes[0]));
	suite_add_tcase(s, tc);

	tc = t_tcase("reference");
	tcase_add_loop_test(tc, random_utc, 0, 8);
	suite_add_tcase(s, tc);
	return s;
}
