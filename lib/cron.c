/*
 * cron: parsing of 5-field cron expressions and the search for the next
 * and previous firing time in a time zone.
 *
 * Parsing follows Vixie cron with a few choices of our own: a day field
 * counts as unrestricted only when it is a lone "*" (Vixie looks at the
 * first character, so there a star with a step counts as "*" too);
 * Sunday may end a range of names ("FRI-SUN" = 5-7); "a/n" runs to the
 * field's end, Saturday for days of the week ("1/2" = MON,WED,FRI); a
 * step may be at most the field's span ("*" + "/60" for minutes = 0).
 *
 * The search runs on local wall-clock time ("wall": the local date and
 * time as seconds since 1970-01-01 00:00 as if the zone were UTC) and
 * steps by fields: a month that cannot match is skipped whole, then a
 * day, then an hour, so a year is crossed in a few dozen steps and an
 * impossible date ("0 0 30 2 *") gives up after five years of months.
 *
 * Each matching wall minute W fires at one instant, utc_of(W):
 *   - a wall time that exists once fires then;
 *   - one repeated when the clocks go back fires at its first
 *     occurrence only (the second pass through the hour fires nothing);
 *   - one skipped when the clocks go forward fires at the first existing
 *     minute after the gap, the instant of the change (02:30 on the night
 *     New York springs forward fires at 03:00 EDT); several skipped
 *     minutes collapse into that one firing.
 * utc_of never decreases as W grows, so the next firing after t is
 * utc_of of the first matching W past wall(t) whose instant is past t,
 * and the previous one the mirror image. The zone's offsets come from
 * localtime_r under TZ (set for the call, then restored); UTC itself
 * needs no zone at all. The configuration refuses zones the system does
 * not have (clock_zone_known); one whose data went away after it was
 * loaded is UTC, with a warning, rather than glibc's silent fallback.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "cron.h"
#include "log.h"
#include "banned.h"

#define MINUTE 60
#define DAY 86400

/* How far the search looks: five years of months. */
#define HORIZON_MONTHS 60

/* Times outside +-10^11 s (about year 5000) are refused, which keeps
 * every sum below far from overflow. */
#define TIME_LIMIT 100000000000LL

enum field {
	F_MINUTE, F_HOUR, F_MDAY, F_MONTH, F_WDAY, F_COUNT
};

struct field_def {
	const char *name;
	int min, max;		/* the values a user may write */
	int star_max;		/* the top of "*" and of "a/n" */
	const char *const *names;	/* three-letter names for min.. */
};

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
	"nov", "dec", NULL
};
static const char *const wday_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

static const struct field_def fields[F_COUNT] = {
	{ "minute", 0, 59, 59, NULL },
	{ "hour", 0, 23, 23, NULL },
	{ "day-of-month", 1, 31, 31, NULL },
	{ "month", 1, 12, 12, month_names },
	/* 7 is Sunday too; "*" and "1/2" stop at Saturday */
	{ "day-of-week", 0, 7, 6, wday_names },
};

static const struct {
	const char *name;
	const char *fields;
} macros[] = {
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

static void fail(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || len == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, len, fmt, ap);	/* a cut message will do */
	va_end(ap);
}

/* The number in s[0..n) (digits only) within min..max into *v. */
static int
parse_number(const char *s, size_t n, int min, int max, int *v)
{
	const char *errstr;
	char buf[16];
	long long x;

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	x = strtonum(buf, min, max, &errstr);
	if (errstr != NULL)
		return -1;
	*v = (int)x;
	return 0;
}

/*
 * Parse one value at *p: digits, or a name in a field that has names.
 * The token ends at '-', '/', ',' or the end of the field.
 */
static int
parse_value(const struct field_def *f, const char **p, const char *end,
    int *v, char *err, size_t len)
{
	const char *s = *p;
	size_t n = 0, digits = 0;
	int i;

	while (s + n < end && isalnum((unsigned char)s[n]))
		digits += isdigit((unsigned char)s[n++]) != 0;
	if (n == 0) {
		if (s == end)
			fail(err, len, "%s: missing value", f->name);
		else
			fail(err, len, "%s: unexpected '%c'", f->name, *s);
		return -1;
	}
	*p = s + n;
	if (digits == n) {
		if (parse_number(s, n, f->min, f->max, v) == 0)
			return 0;
		fail(err, len, "%s: %.*s is out of range %d-%d", f->name,
		    (int)n, s, f->min, f->max);
		return -1;
	}
	for (i = 0; f->names != NULL && f->names[i] != NULL; i++) {
		if (n == 3 && strncasecmp(s, f->names[i], 3) == 0) {
			*v = f->min + i;
			return 0;
		}
	}
	if (f->names == NULL || digits > 0)
		fail(err, len, "%s: '%.*s' is not a number", f->name, (int)n,
		    s);
	else
		fail(err, len, "%s: unknown name '%.*s'", f->name, (int)n, s);
	return -1;
}

/* The step after the '/' at *p, up to end; s..end is the item. */
static int
parse_step(const struct field_def *f, const char **p, const char *s,
    const char *end, int *step, char *err, size_t len)
{
	const char *q = *p + 1;
	size_t n = 0;
	int span = f->star_max - f->min + 1;

	while (q + n < end && isdigit((unsigned char)q[n]))
		n++;
	if (n == 0) {
		fail(err, len, "%s: bad step in '%.*s'", f->name,
		    (int)(end - s), s);
		return -1;
	}
	if (parse_number(q, n, 1, span, step) == -1) {
		fail(err, len, "%s: step %.*s is out of range 1-%d", f->name,
		    (int)n, q, span);
		return -1;
	}
	*p = q + n;
	return 0;
}

/* One list item: "*", "a", "a-b", each optionally "/step". */
static int
parse_item(enum field fi, const char *s, const char *end, uint64_t *bits,
    char *err, size_t len)
{
	const struct field_def *f = &fields[fi];
	const char *p = s;
	int lo, hi, step = 1, v;

	if (*p == '*') {
		p++;
		lo = f->min;
		hi = f->star_max;
	} else {
		if (parse_value(f, &p, end, &lo, err, len) == -1)
			return -1;
		hi = lo;
		if (p < end && *p == '-') {
			p++;
			if (parse_value(f, &p, end, &hi, err, len) == -1)
				return -1;
			/* "FRI-SUN": Sunday ends a week */
			if (fi == F_WDAY && hi == 0 && lo > 0 &&
			    isalpha((unsigned char)p[-1]))
				hi = 7;
			if (hi < lo) {
				fail(err, len, "%s: range '%.*s' is reversed",
				    f->name, (int)(p - s), s);
				return -1;
			}
		} else if (p < end && *p == '/') {
			hi = f->star_max > lo ? f->star_max : lo;
		}
	}
	if (p < end && *p == '/' &&
	    parse_step(f, &p, s, end, &step, err, len) == -1)
		return -1;
	if (p != end) {
		fail(err, len, "%s: unexpected '%.*s' in '%.*s'", f->name,
		    (int)(end - p), p, (int)(end - s), s);
		return -1;
	}
	for (v = lo; v <= hi; v += step)
		*bits |= (uint64_t)1 << (fi == F_WDAY ? v % 7 : v);
	return 0;
}

/* A comma-separated list of items: the field text s..end. */
static int
parse_field(enum field fi, const char *s, const char *end, uint64_t *bits,
    char *err, size_t len)
{
	const char *item = s, *comma;

	*bits = 0;
	for (;;) {
		comma = memchr(item, ',', (size_t)(end - item));
		if (comma == NULL)
			comma = end;
		if (comma == item) {
			fail(err, len, "%s: empty list item in '%.*s'",
			    fields[fi].name, (int)(end - s), s);
			return -1;
		}
		if (parse_item(fi, item, comma, bits, err, len) == -1)
			return -1;
		if (comma == end)
			return 0;
		item = comma + 1;
	}
}

static int
is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* The field is a lone "*"; a star with a step restricts the day. */
static int
is_star(const char *s, const char *end)
{
	return end - s == 1 && *s == '*';
}

static int
parse_macro(const char *expr, struct cron *c, char *err, size_t len)
{
	const char *end = expr, *rest;
	size_t i, n;

	while (*end != '\0' && !is_blank(*end))
		end++;
	n = (size_t)(end - expr);
	for (rest = end; is_blank(*rest); rest++)
		continue;
	if (*rest != '\0') {
		fail(err, len, "unexpected '%s' after '%.*s'", rest, (int)n,
		    expr);
		return -1;
	}
	if (n == 7 && strncasecmp(expr, "@reboot", n) == 0) {
		fail(err, len, "'@reboot' is not supported");
		return -1;
	}
	for (i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
		if (strlen(macros[i].name) == n &&
		    strncasecmp(expr, macros[i].name, n) == 0)
			return cron_parse(macros[i].fields, c, err, len);
	}
	fail(err, len, "unknown macro '%.*s'", (int)n, expr);
	return -1;
}

int
cron_parse(const char *expr, struct cron *c, char *err, size_t len)
{
	const char *start[F_COUNT], *end[F_COUNT], *p = expr;
	uint64_t bits[F_COUNT];
	struct cron out;
	int n = 0, i;

	while (is_blank(*p))
		p++;
	if (*p == '\0') {
		fail(err, len, "empty expression");
		return -1;
	}
	if (*p == '@')
		return parse_macro(p, c, err, len);
	while (*p != '\0') {
		if (n < F_COUNT)
			start[n] = p;
		while (*p != '\0' && !is_blank(*p))
			p++;
		if (n < F_COUNT)
			end[n] = p;
		n++;
		while (is_blank(*p))
			p++;
	}
	if (n != F_COUNT) {
		fail(err, len, "expected 5 fields (minute hour day-of-month "
		    "month day-of-week), got %d", n);
		return -1;
	}
	for (i = 0; i < F_COUNT; i++) {
		if (parse_field(i, start[i], end[i], &bits[i], err, len) == -1)
			return -1;
	}
	memset(&out, 0, sizeof(out));
	out.minutes = bits[F_MINUTE];
	out.hours = (uint32_t)bits[F_HOUR];
	out.mdays = (uint32_t)bits[F_MDAY];
	out.months = (uint16_t)bits[F_MONTH];
	out.wdays = (uint8_t)bits[F_WDAY];
	out.mday_any = is_star(start[F_MDAY], end[F_MDAY]);
	out.wday_any = is_star(start[F_WDAY], end[F_WDAY]);
	*c = out;
	return 0;
}

/* Calendar arithmetic, proleptic Gregorian (after H. Hinnant). */

struct civil {
	int y, mo, d, h, mi;
};

static int64_t
days_from_civil(int64_t y, int mo, int d)
{
	int64_t era, yoe, doy, doe;

	y -= mo <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, struct civil *c)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	c->d = (int)(doy - (153 * mp + 2) / 5 + 1);
	c->mo = (int)(mp < 10 ? mp + 3 : mp - 9);
	c->y = (int)(yoe + era * 400 + (c->mo <= 2));
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The wall minute containing wall second w. */
static void
civil_of_wall(int64_t w, struct civil *c)
{
	int64_t days = floor_div(w, DAY), sec = w - days * DAY;

	civil_from_days(days, c);
	c->h = (int)(sec / 3600);
	c->mi = (int)(sec % 3600 / 60);
}

static int64_t
wall_of_civil(const struct civil *c)
{
	return days_from_civil(c->y, c->mo, c->d) * DAY + c->h * 3600 +
	    c->mi * MINUTE;
}

static int
days_in_month(int y, int mo)
{
	static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
	    31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return dim[mo - 1] + (mo == 2 && leap);
}

/* Vixie cron: with both day fields restricted either one will do. */
static int
day_matches(const struct cron *c, const struct civil *t)
{
	int64_t days = days_from_civil(t->y, t->mo, t->d);
	int wday = (int)(days - floor_div(days + 4, 7) * 7 + 4);
	int md = (c->mdays >> t->d) & 1, wd = (c->wdays >> wday) & 1;

	if (c->mday_any || c->wday_any)
		return (c->mday_any || md) && (c->wday_any || wd);
	return md || wd;
}

/* The first set bit of mask in from..max, or -1. */
static int
bit_ge(uint64_t mask, int from, int max)
{
	for (; from <= max; from++) {
		if ((mask >> from) & 1)
			return from;
	}
	return -1;
}

/* The last set bit of mask in min..from, or -1. */
static int
bit_le(uint64_t mask, int from, int min)
{
	for (; from >= min; from--) {
		if ((mask >> from) & 1)
			return from;
	}
	return -1;
}

/*
 * Move t forward to the first matching wall minute at or after it, within
 * month index (y * 12 + mo - 1) limit. 0, or -1 past the limit.
 */
static int
match_ge(const struct cron *c, struct civil *t, int64_t limit)
{
	int b;

	for (;;) {
		if ((int64_t)t->y * 12 + t->mo - 1 > limit)
			return -1;
		if ((b = bit_ge(c->months, t->mo, 12)) != t->mo) {
			if (b < 0) {
				t->y++;
				b = 1;
			}
			*t = (struct civil){ t->y, b, 1, 0, 0 };
		} else if (t->d > days_in_month(t->y, t->mo)) {
			*t = (struct civil){ t->y, t->mo + 1, 1, 0, 0 };
		} else if (!day_matches(c, t) ||
		    (b = bit_ge(c->hours, t->h, 23)) < 0) {
			*t = (struct civil){ t->y, t->mo, t->d + 1, 0, 0 };
		} else if (b != t->h) {
			t->h = b;
			t->mi = 0;
		} else if ((b = bit_ge(c->minutes, t->mi, 59)) < 0) {
			t->h++;
			t->mi = 0;
		} else {
			t->mi = b;
			return 0;
		}
	}
}

/* The mirror image: the last matching wall minute at or before t. */
static int
match_le(const struct cron *c, struct civil *t, int64_t limit)
{
	int b;

	for (;;) {
		if ((int64_t)t->y * 12 + t->mo - 1 < limit)
			return -1;
		if ((b = bit_le(c->months, t->mo, 1)) != t->mo) {
			if (b < 0) {
				t->y--;
				b = 12;
			}
			*t = (struct civil){ t->y, b, days_in_month(t->y, b),
			    23, 59 };
		} else if (t->d < 1) {
			t->mo--;
			if (t->mo < 1) {
				t->y--;
				t->mo = 12;
			}
			t->d = days_in_month(t->y, t->mo);
			t->h = 23;
			t->mi = 59;
		} else if (!day_matches(c, t) ||
		    (b = bit_le(c->hours, t->h, 0)) < 0) {
			*t = (struct civil){ t->y, t->mo, t->d - 1, 23, 59 };
		} else if (b != t->h) {
			t->h = b;
			t->mi = 59;
		} else if ((b = bit_le(c->minutes, t->mi, 0)) < 0) {
			t->h--;
			t->mi = 59;
		} else {
			t->mi = b;
			return 0;
		}
	}
}

/* clock_zone_enter, warning when the zone is unknown (UTC instead). */
static int
zone_enter(struct clock_zone *z, const char *tz)
{
	int rc = clock_zone_enter(z, tz);

	if (rc == 1)
		log_warn("time zone '%s' is not in the system's zoneinfo: "
		    "using UTC", tz);
	return rc < 0 ? -1 : 0;
}

/* The zone's UTC offset at instant t, in seconds east. */
static int
zone_offset(const struct clock_zone *z, int64_t t, int64_t *off)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (z->utc) {
		*off = 0;
		return 0;
	}
	if ((int64_t)tt != t || localtime_r(&tt, &tm) == NULL)
		return -1;
	*off = tm.tm_gmtoff;
	return 0;
}

/*
 * The instant at which a wall time in a gap fires: the change between
 * lo (offset olo) and hi (a later offset), rounded up to a whole local
 * minute.
 */
static int
gap_end(const struct clock_zone *z, int64_t lo, int64_t hi, int64_t olo,
    int64_t *t)
{
	int64_t mid, o, r;

	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (zone_offset(z, mid, &o) == -1)
			return -1;
		if (o == olo)
			lo = mid;
		else
			hi = mid;
	}
	if (zone_offset(z, hi, &o) == -1)
		return -1;
	r = (hi + o) - floor_div(hi + o, MINUTE) * MINUTE;
	*t = r == 0 ? hi : hi + MINUTE - r;
	return 0;
}

/*
 * utc_of: the instant wall time w fires at (see the top of the file).
 * Zones change offset at most once within a day, so the offsets a day
 * before and a day after are the only candidates.
 */
static int
utc_of(const struct clock_zone *z, int64_t w, int64_t *t)
{
	int64_t oa, ob, ta, tb, va, vb;

	if (z->utc) {
		*t = w;
		return 0;
	}
	if (zone_offset(z, w - DAY, &oa) == -1 ||
	    zone_offset(z, w + DAY, &ob) == -1)
		return -1;
	ta = w - oa;
	tb = w - ob;
	if (zone_offset(z, ta, &va) == -1 || zone_offset(z, tb, &vb) == -1)
		return -1;
	if (va == oa && vb == ob)
		*t = ta < tb ? ta : tb;
	else if (va == oa)
		*t = ta;
	else if (vb == ob)
		*t = tb;
	else if (tb < ta)
		return gap_end(z, tb, ta, vb, t);
	else
		*t = ta;	/* no zone does this; any answer will do */
	return 0;
}

/* The wall time at instant t. */
static int
wall_of(const struct clock_zone *z, int64_t t, int64_t *w)
{
	int64_t off;

	if (zone_offset(z, t, &off) == -1)
		return -1;
	*w = t + off;
	return 0;
}

static int
next_in_zone(const struct cron *c, const struct clock_zone *z, int64_t after,
    int64_t *next)
{
	struct civil t;
	int64_t w, limit, u;

	if (wall_of(z, after, &w) == -1)
		return -1;
	civil_of_wall(w + MINUTE, &t);
	limit = (int64_t)t.y * 12 + t.mo - 1 + HORIZON_MONTHS;
	for (;;) {
		if (match_ge(c, &t, limit) == -1 ||
		    utc_of(z, wall_of_civil(&t), &u) == -1)
			return -1;
		if (u > after)
			break;
		/* the second pass through a repeated hour */
		civil_of_wall(wall_of_civil(&t) + MINUTE, &t);
	}
	*next = u;
	return 0;
}

static int
prev_in_zone(const struct cron *c, const struct clock_zone *z, int64_t at,
    int64_t *slot)
{
	struct civil t;
	int64_t w, limit, u, onow, oback;

	/* After the clocks went back, the walls of the first pass up to
	 * the change fired before at even if they lie ahead of its wall. */
	if (zone_offset(z, at, &onow) == -1 ||
	    zone_offset(z, at - DAY, &oback) == -1)
		return -1;
	w = at + (oback > onow ? oback : onow);
	civil_of_wall(w, &t);
	limit = (int64_t)t.y * 12 + t.mo - 1 - HORIZON_MONTHS;
	for (;;) {
		if (match_le(c, &t, limit) == -1 ||
		    utc_of(z, wall_of_civil(&t), &u) == -1)
			return -1;
		if (u <= at)
			break;
		civil_of_wall(wall_of_civil(&t) - MINUTE, &t);
	}
	*slot = u;
	return 0;
}

int
cron_next(const struct cron *c, const char *tz, int64_t after_s,
    int64_t *next_s)
{
	struct clock_zone z;
	int rc;

	if (after_s < -TIME_LIMIT || after_s > TIME_LIMIT ||
	    zone_enter(&z, tz) == -1)
		return -1;
	rc = next_in_zone(c, &z, after_s, next_s);
	clock_zone_leave(&z);
	return rc;
}

int
cron_prev(const struct cron *c, const char *tz, int64_t at_s,
    int64_t *slot_s)
{
	struct clock_zone z;
	int rc;

	if (at_s < -TIME_LIMIT || at_s > TIME_LIMIT ||
	    zone_enter(&z, tz) == -1)
		return -1;
	rc = prev_in_zone(c, &z, at_s, slot_s);
	clock_zone_leave(&z);
	return rc;
}
