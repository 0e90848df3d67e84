#include <sys/stat.h>

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "banned.h"

int64_t
clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read exactly n digits at *p into *v; advance *p. */
static int
digits(const char **p, int n, int *v)
{
	int i, x = 0;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		x = x * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return 0;
}

static int
parse_unix(const char *s, int64_t *out)
{
	const char *p = s;
	int64_t sec = 0, ms = 0;
	int n = 0, scale = 100;

	while (isdigit((unsigned char)*p)) {
		if (++n > 12)
			return -1;
		sec = sec * 10 + (*p++ - '0');
	}
	if (n == 0)
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (; isdigit((unsigned char)*p); p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p != '\0')
		return -1;
	*out = sec * 1000 + ms;
	return 0;
}

static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

static int
valid_date(int y, int mo, int d)
{
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	int max;

	if (mo < 1 || mo > 12 || d < 1)
		return 0;
	max = mdays[mo - 1] + (mo == 2 && leap);
	return d <= max;
}

static int
parse_rfc3339(const char *s, int64_t *out)
{
	const char *p = s;
	struct tm tm;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0, ms = 0, scale = 100;
	time_t t;

	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
	    *p++ != '-' || digits(&p, 2, &d))
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) ||
	    *p++ != ':' || digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (; isdigit((unsigned char)*p); p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
			return -1;
		if (oh > 23 || om > 59)
			return -1;
	} else {
		return -1;
	}
	if (*p != '\0' || !valid_date(y, mo, d) || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1 && y != 1969)
		return -1;
	*out = ((int64_t)t - sign * (oh * 3600 + om * 60)) * 1000 + ms;
	return 0;
}

int
clock_parse_time(const char *s, int64_t *out)
{
	if (s == NULL || *s == '\0')
		return -1;
	if (strchr(s, '-') != NULL && strlen(s) >= 10)
		return parse_rfc3339(s, out);
	return parse_unix(s, out);
}

/* The longest duration accepted: 100 years. */
#define DURATION_MAX ((int64_t)100 * 365 * 86400 * 1000)

int
clock_parse_duration(const char *s, int64_t *out)
{
	const char *p = s;
	int64_t total = 0;

	if (s == NULL || *s == '\0')
		return -1;
	while (*p != '\0') {
		int64_t n = 0, mult;
		int nd = 0;

		while (isdigit((unsigned char)*p)) {
			if (++nd > 12)
				return -1;
			n = n * 10 + (*p++ - '0');
		}
		if (nd == 0)
			return -1;
		if (strncmp(p, "ms", 2) == 0) {
			mult = 1;
			p += 2;
		} else if (*p == 's') {
			mult = 1000;
			p++;
		} else if (*p == 'm') {
			mult = 60 * 1000;
			p++;
		} else if (*p == 'h') {
			mult = 3600 * 1000;
			p++;
		} else if (*p == 'd') {
			mult = 86400 * 1000;
			p++;
		} else if (*p == '\0' && p == s + nd) {
			mult = 1000;	/* a bare number: seconds */
		} else {
			return -1;
		}
		/* Check before multiplying: 12 digits of days overflow. */
		if (n > DURATION_MAX / mult)
			return -1;
		total += n * mult;
		if (total > DURATION_MAX)
			return -1;
	}
	*out = total;
	return 0;
}

char *
clock_format(int64_t ms, char *buf, size_t len)
{
	struct tm tm;
	time_t t;
	int64_t frac;

	t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	frac = ms - (int64_t)t * 1000;
	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)frac);
	return buf;
}

char *
clock_format_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s;
	const char *sign = "";

	if (ms < 0) {
		sign = "-";
		ms = -ms;
	}
	s = ms / 1000;
	if (ms < 1000)
		snprintf(buf, len, "%s%lldms", sign, (long long)ms);
	else if (s < 60)
		snprintf(buf, len, "%s%llds", sign, (long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%s%lldm%llds", sign, (long long)(s / 60),
		    (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, len, "%s%lldh%lldm", sign, (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else
		snprintf(buf, len, "%s%lldd%lldh", sign, (long long)(s / 86400),
		    (long long)(s % 86400 / 3600));
	return buf;
}

/* The shape of an IANA zone name: see clock_zone_known. */
static int
zone_name_ok(const char *name)
{
	const char *s;

	if (*name == '\0' || strlen(name) >= CLOCK_ZONE_MAX)
		return 0;
	for (s = name; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("/_-+.", *s) != NULL))
			return 0;
		/* a component may not start with '.' or be empty */
		if ((s == name || s[-1] == '/') && (*s == '.' || *s == '/'))
			return 0;
	}
	return s[-1] != '/';
}

int
clock_zone_known(const char *name)
{
	const char *dir;
	char path[CLOCK_ZONE_MAX + 4096], magic[4];
	struct stat st;
	int fd, ok;

	if (name == NULL)
		return 0;
	if (strcmp(name, "UTC") == 0)
		return 1;
	if (!zone_name_ok(name))
		return 0;
	if ((dir = getenv("TZDIR")) == NULL || *dir == '\0')
		dir = CLOCK_ZONEINFO;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return 0;
	/* O_NONBLOCK: a FIFO planted in the tree must not hang us. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) < 0)
		return 0;
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic) &&
	    memcmp(magic, "TZif", sizeof(magic)) == 0;
	close(fd);
	return ok;
}

int
clock_zone_enter(struct clock_zone *z, const char *zone)
{
	const char *cur;
	int unknown = 0;

	memset(z, 0, sizeof(*z));
	if (zone == NULL || *zone == '\0' || strcmp(zone, "UTC") == 0) {
		z->utc = 1;
		zone = "UTC";
	} else if (!clock_zone_known(zone)) {
		z->utc = unknown = 1;
		zone = "UTC";
	}
	if ((cur = getenv("TZ")) != NULL) {
		if ((z->saved_tz = strdup(cur)) == NULL)
			return -1;
		z->was_set = 1;
	}
	if (setenv("TZ", zone, 1) == -1) {
		free(z->saved_tz);
		z->saved_tz = NULL;
		return -1;
	}
	tzset();
	return unknown;
}

void
clock_zone_leave(struct clock_zone *z)
{
	if (z->was_set)
		(void)setenv("TZ", z->saved_tz, 1);
	else
		(void)unsetenv("TZ");
	tzset();
	free(z->saved_tz);
	z->saved_tz = NULL;
}
