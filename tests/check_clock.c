/*
 * check_clock: parsing and formatting of times and durations, the forms
 * users type on command lines and in the config.
 */
#include <sys/stat.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check_dater.h"
#include "../lib/clock.h"
#include "../lib/banned.h"

#define SENTINEL ((int64_t)-4242)

/* 2026-11-25T20:15:00Z */
#define T0 ((int64_t)1795637700 * 1000)

static int64_t
parsed_time(const char *s)
{
	int64_t v = SENTINEL;

	ck_assert_msg(clock_parse_time(s, &v) == 0, "'%s' was rejected", s);
	return v;
}

static void
time_rejected(const char *s)
{
	int64_t v = SENTINEL;

	ck_assert_msg(clock_parse_time(s, &v) == -1, "'%s' was accepted", s);
	ck_assert_msg(v == SENTINEL, "'%s': output changed on error", s);
}

static int64_t
parsed_duration(const char *s)
{
	int64_t v = SENTINEL;

	ck_assert_msg(clock_parse_duration(s, &v) == 0, "'%s' was rejected",
	    s);
	return v;
}

static void
duration_rejected(const char *s)
{
	int64_t v = SENTINEL;

	ck_assert_msg(clock_parse_duration(s, &v) == -1, "'%s' was accepted",
	    s);
	ck_assert_msg(v == SENTINEL, "'%s': output changed on error", s);
}

START_TEST(time_utc)
{
	ck_assert_int_eq(parsed_time("2026-11-25T20:15:00Z"), T0);
	ck_assert_int_eq(parsed_time("1970-01-01T00:00:00Z"), 0);
	/* RFC 3339 allows lower case and a space for the T */
	ck_assert_int_eq(parsed_time("2026-11-25t20:15:00z"), T0);
	ck_assert_int_eq(parsed_time("2026-11-25 20:15:00Z"), T0);
}
END_TEST

START_TEST(time_offsets)
{
	/* local time + offset: 20:15+01:00 is 19:15Z */
	ck_assert_int_eq(parsed_time("2026-11-25T20:15:00+01:00"),
	    T0 - 3600 * 1000);
	ck_assert_int_eq(parsed_time("2026-11-25T20:15:00-05:30"),
	    T0 + 5 * 3600 * 1000 + 30 * 60 * 1000);
	ck_assert_int_eq(parsed_time("2026-11-25T20:15:00+00:00"), T0);
	ck_assert_int_eq(parsed_time("2026-11-25T20:15:00-00:00"), T0);
	/* crossing midnight into the previous day */
	ck_assert_int_eq(parsed_time("2026-11-26T00:30:00+04:15"),
	    parsed_time("2026-11-25T20:15:00Z"));
}
END_TEST

START_TEST(time_fractions)
{
	ck_assert_int_eq(parsed_time("2026-11-25T20:15:00.250Z"), T0 + 250);
	ck_assert_int_eq(parsed_time("2026-11-25T20:15:00.5Z"), T0 + 500);
	ck_assert_int_eq(parsed_time("2026-11-25T20:15:00.07Z"), T0 + 70);
	/* below a millisecond is dropped, not rounded */
	ck_assert_int_eq(parsed_time("2026-11-25T20:15:00.123999Z"),
	    T0 + 123);
	ck_assert_int_eq(parsed_time("2026-11-25T20:15:00.250+01:00"),
	    T0 + 250 - 3600 * 1000);
}
END_TEST

START_TEST(time_calendar)
{
	/* leap days only in leap years (by 4, not by 100, by 400) */
	ck_assert_int_eq(parsed_time("2024-02-29T12:00:00Z"),
	    (int64_t)1709208000 * 1000);
	ck_assert_int_eq(parsed_time("2000-02-29T00:00:00Z"),
	    (int64_t)951782400 * 1000);
	time_rejected("2026-02-29T00:00:00Z");
	time_rejected("2100-02-29T00:00:00Z");
	time_rejected("2026-04-31T00:00:00Z");
	time_rejected("2026-13-01T00:00:00Z");
	time_rejected("2026-00-10T00:00:00Z");
	time_rejected("2026-01-00T00:00:00Z");
	time_rejected("2026-01-32T00:00:00Z");
	time_rejected("2026-01-01T24:00:00Z");
	time_rejected("2026-01-01T23:60:00Z");
	time_rejected("2026-01-01T23:00:61Z");
	time_rejected("2026-01-01T23:00:00+24:00");
	time_rejected("2026-01-01T23:00:00+01:60");
	ck_assert_int_eq(parsed_time("2026-12-31T23:59:59Z") + 1000,
	    parsed_time("2027-01-01T00:00:00Z"));
}
END_TEST

START_TEST(time_garbage)
{
	static const char *bad[] = {
		"", "abc", "now", "2026-11-25", "2026-11-25T20:15:00",
		"2026-11-25T20:15Z", "2026-11-25T20:15:00Zjunk",
		"2026-11-25T20:15:00+0100", "2026-11-25T20:15:00+01",
		"2026-11-25T20:15:00.Z", "2026-11-25X20:15:00Z",
		"26-11-25T20:15:00Z", "2026-1-25T20:15:00Z",
		"2026/11/25T20:15:00Z", " 2026-11-25T20:15:00Z",
		"2026-11-25T20:15:00Z ", "-1790000000", "12abc", "1.",
		".5", "0x10", " 1790000000", "1790000000 ", "1e9",
		"1790000000.5.5", "9999999999999",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		time_rejected(bad[i]);
}
END_TEST

START_TEST(time_unix)
{
	ck_assert_int_eq(parsed_time("1790000000"),
	    (int64_t)1790000000 * 1000);
	ck_assert_int_eq(parsed_time("1790000000.5"),
	    (int64_t)1790000000 * 1000 + 500);
	ck_assert_int_eq(parsed_time("1790000000.123"),
	    (int64_t)1790000000 * 1000 + 123);
	ck_assert_int_eq(parsed_time("0"), 0);
	ck_assert_int_eq(parsed_time("1795637700"), T0);
}
END_TEST

START_TEST(duration_units)
{
	ck_assert_int_eq(parsed_duration("250ms"), 250);
	ck_assert_int_eq(parsed_duration("90s"), 90000);
	ck_assert_int_eq(parsed_duration("10m"), 600000);
	ck_assert_int_eq(parsed_duration("2h"), 7200000);
	ck_assert_int_eq(parsed_duration("1d"), 86400000);
	ck_assert_int_eq(parsed_duration("0s"), 0);
	ck_assert_int_eq(parsed_duration("0ms"), 0);
}
END_TEST

START_TEST(duration_bare)
{
	ck_assert_int_eq(parsed_duration("90"), 90000);
	ck_assert_int_eq(parsed_duration("1"), 1000);
	ck_assert_int_eq(parsed_duration("0"), 0);
}
END_TEST

START_TEST(duration_combined)
{
	ck_assert_int_eq(parsed_duration("1h30m"), 5400000);
	ck_assert_int_eq(parsed_duration("2m30s"), 150000);
	ck_assert_int_eq(parsed_duration("1s500ms"), 1500);
	ck_assert_int_eq(parsed_duration("1d2h3m4s5ms"),
	    86400000 + 2 * 3600000 + 3 * 60000 + 4000 + 5);
}
END_TEST

START_TEST(duration_garbage)
{
	static const char *bad[] = {
		"", "-5s", "-1", "+5s", "5x", "s", "ms", "1.5h", "h1",
		"5 s", " 5s", "5s ", "1h30", "5sm", "5mss", "10 m", "1y",
		"5S", "0x10", "1e3", "1h-30m",
		/* too long to hold: rejected, without overflowing */
		"999999999999d", "99999999999999999999s",
		"999999999999d999999999999d",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		duration_rejected(bad[i]);
}
END_TEST

START_TEST(format_shape)
{
	char buf[CLOCK_RFC3339_LEN];

	ck_assert_str_eq(clock_format(0, buf, sizeof(buf)),
	    "1970-01-01T00:00:00.000Z");
	ck_assert_str_eq(clock_format(T0 + 250, buf, sizeof(buf)),
	    "2026-11-25T20:15:00.250Z");
	ck_assert_str_eq(clock_format(T0 + 7, buf, sizeof(buf)),
	    "2026-11-25T20:15:00.007Z");
	ck_assert_str_eq(clock_format((int64_t)951782400 * 1000 - 1, buf,
	    sizeof(buf)), "2000-02-28T23:59:59.999Z");
	ck_assert_str_eq(clock_format(-1, buf, sizeof(buf)),
	    "1969-12-31T23:59:59.999Z");
	ck_assert_ptr_eq(clock_format(0, buf, sizeof(buf)), buf);
}
END_TEST

START_TEST(format_round_trip)
{
	char buf[CLOCK_RFC3339_LEN];
	int64_t v[] = { 0, 1, 999, 1000, T0, T0 + 1, T0 + 999,
	    (int64_t)951782400 * 1000, (int64_t)4102444800 * 1000 - 1, -1,
	    -1000, -1001, 0 };
	size_t i;

	v[sizeof(v) / sizeof(v[0]) - 1] = clock_now_ms();
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		clock_format(v[i], buf, sizeof(buf));
		ck_assert_uint_eq(strlen(buf), 24);
		ck_assert_msg(parsed_time(buf) == v[i], "%s != %lld", buf,
		    (long long)v[i]);
	}
}
END_TEST

START_TEST(format_duration)
{
	char buf[32];

	ck_assert_str_eq(clock_format_duration(850, buf, sizeof(buf)),
	    "850ms");
	ck_assert_str_eq(clock_format_duration(12000, buf, sizeof(buf)),
	    "12s");
	ck_assert_str_eq(clock_format_duration(200000, buf, sizeof(buf)),
	    "3m20s");
	ck_assert_str_eq(clock_format_duration(2 * 3600000 + 5 * 60000, buf,
	    sizeof(buf)), "2h5m");
	ck_assert_str_eq(clock_format_duration(4 * 86400000LL + 3 * 3600000,
	    buf, sizeof(buf)), "4d3h");
	ck_assert_str_eq(clock_format_duration(0, buf, sizeof(buf)), "0ms");
}
END_TEST

START_TEST(now_is_wall_clock)
{
	time_t before, after;
	int64_t now, m1, m2;

	before = time(NULL);
	now = clock_now_ms();
	after = time(NULL);
	ck_assert_int_ge(now, (int64_t)before * 1000);
	ck_assert_int_lt(now, ((int64_t)after + 1) * 1000);
	m1 = clock_mono_ms();
	m2 = clock_mono_ms();
	ck_assert_int_ge(m2, m1);
}
END_TEST

/* A zoneinfo tree of our own under TZDIR, so the test needs no tzdata:
 * Test/Zone and Test/Link (a symlink to it) are TZif files, the others
 * are not zones. */
static void
fake_zoneinfo(char *dir, size_t len)
{
	char p[PATH_MAX], q[PATH_MAX];

	t_tmpdir(dir, len);
	t_path(p, sizeof(p), dir, "Test");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	t_path(p, sizeof(p), dir, "Test/Zone");
	t_write_file(p, "TZif2\n(zone data)");
	t_path(q, sizeof(q), dir, "Test/Link");
	ck_assert_int_eq(symlink(p, q), 0);
	t_path(p, sizeof(p), dir, "zone.tab");
	t_write_file(p, "# not a zone\n");
	t_path(p, sizeof(p), dir, "Test/Short");
	t_write_file(p, "TZ");
	t_path(p, sizeof(p), dir, "Test/Fifo");
	ck_assert_int_eq(mkfifo(p, 0644), 0);
	t_path(p, sizeof(p), dir, "Test/.hidden");
	t_write_file(p, "TZif2\n");
	ck_assert_int_eq(setenv("TZDIR", dir, 1), 0);
}

START_TEST(zone_known)
{
	char dir[PATH_MAX];

	fake_zoneinfo(dir, sizeof(dir));
	ck_assert_int_eq(clock_zone_known("UTC"), 1);
	ck_assert_int_eq(clock_zone_known("Test/Zone"), 1);
	ck_assert_int_eq(clock_zone_known("Test/Link"), 1);
	/* only TZDIR is searched when it is set, as the C library does */
	ck_assert_int_eq(clock_zone_known("Europe/Berlin"), 0);
	t_rmtree(dir);
}
END_TEST

START_TEST(zone_unknown)
{
	static const char *bad[] = { "", "Test", "Test/", "Test/Nope",
	    "test/zone", "zone.tab", "Test/Short", "Test/Fifo",
	    "Test/.hidden", "Test//Zone", "./Test/Zone", "Test/./Zone",
	    "Test/../Test/Zone", "../Test/Zone", "/Test/Zone", ":Test/Zone",
	    "Test/Zone ", "Test/Zone\n", "<+06>-6", "CET-1CEST", "utc",
	    NULL };
	char dir[PATH_MAX], abs[PATH_MAX], longname[CLOCK_ZONE_MAX + 8];
	size_t i;

	fake_zoneinfo(dir, sizeof(dir));
	for (i = 0; bad[i] != NULL; i++)
		ck_assert_msg(clock_zone_known(bad[i]) == 0, "'%s' accepted",
		    bad[i]);
	ck_assert_int_eq(clock_zone_known(NULL), 0);
	/* a full path is refused even though it names a zone file */
	t_path(abs, sizeof(abs), dir, "Test/Zone");
	ck_assert_int_eq(clock_zone_known(abs), 0);
	/* over-long names never reach the file system */
	memset(longname, 'A', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(clock_zone_known(longname), 0);
	/* UTC needs no zone data at all */
	t_path(abs, sizeof(abs), dir, "nowhere");
	ck_assert_int_eq(setenv("TZDIR", abs, 1), 0);
	ck_assert_int_eq(clock_zone_known("UTC"), 1);
	ck_assert_int_eq(clock_zone_known("Test/Zone"), 0);
	t_rmtree(dir);
}
END_TEST

/* The system's own tzdata (the tests machine installs it). */
START_TEST(zone_system)
{
	ck_assert_int_eq(unsetenv("TZDIR"), 0);
	ck_assert_int_eq(clock_zone_known("Europe/Berlin"), 1);
	ck_assert_int_eq(clock_zone_known("America/Argentina/Buenos_Aires"),
	    1);
	ck_assert_int_eq(clock_zone_known("Etc/GMT-6"), 1);
	ck_assert_int_eq(clock_zone_known("Europe/Berln"), 0);
	ck_assert_int_eq(clock_zone_known("zone1970.tab"), 0);
	ck_assert_int_eq(setenv("TZDIR", "", 1), 0);
	ck_assert_int_eq(clock_zone_known("Asia/Tokyo"), 1);
}
END_TEST

Suite *
suite_clock(void)
{
	Suite *s = suite_create("clock");
	TCase *tc;

	tc = t_tcase("parse_time");
	tcase_add_test(tc, time_utc);
	tcase_add_test(tc, time_offsets);
	tcase_add_test(tc, time_fractions);
	tcase_add_test(tc, time_calendar);
	tcase_add_test(tc, time_garbage);
	tcase_add_test(tc, time_unix);
	suite_add_tcase(s, tc);

	tc = t_tcase("parse_duration");
	tcase_add_test(tc, duration_units);
	tcase_add_test(tc, duration_bare);
	tcase_add_test(tc, duration_combined);
	tcase_add_test(tc, duration_garbage);
	suite_add_tcase(s, tc);

	tc = t_tcase("format");
	tcase_add_test(tc, format_shape);
	tcase_add_test(tc, format_round_trip);
	tcase_add_test(tc, format_duration);
	tcase_add_test(tc, now_is_wall_clock);
	suite_add_tcase(s, tc);

	tc = t_tcase("zone_known");
	tcase_add_test(tc, zone_known);
	tcase_add_test(tc, zone_unknown);
	tcase_add_test(tc, zone_system);
	suite_add_tcase(s, tc);
	return s;
}
