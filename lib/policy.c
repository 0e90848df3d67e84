/*
 * policy: built-in defaults, opt-out matching, quiet hours, reply delays.
 *
 * Opt-out matching folds both the message and each phrase the same way
 * before comparing them whole: UTF-8 is decoded; Latin letters (ASCII,
 * Latin-1, Latin Extended-A) are lowercased and lose their diacritics
 * ("ARRÊTE" and "arrete" both become "arrete"); Cyrillic is lowercased
 * (and ё read as е); apostrophes vanish ("don’t", "don't", "dont" are one
 * word); hyphens and runs of white space become one space; leading
 * white space and ¡ ¿ go, and so do trailing white space and sentence
 * marks (. ! ? , ; : … ‼ ⁉). Everything else, emoji included, must match
 * exactly, so "stop 😂" is not an opt-out. No locale is involved.
 *
 * Quiet hours need local time in the contact's zone. The C library only
 * converts through the TZ variable, so policy_quiet sets TZ, converts,
 * and puts the old value back (dater's processes are single-threaded).
 * Zones are checked where they come in (the config, contact payloads);
 * one the system cannot load now (its data removed since, or stored
 * before those checks) behaves as UTC, with a warning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "policy.h"
#include "log.h"
#include "banned.h"

/*
 * Decode one UTF-8 code point at *s and advance. A malformed sequence
 * yields U+FFFD and advances one byte. Returns 0 at the end.
 */
static unsigned long
utf8_next(const char **s)
{
	const unsigned char *p = (const unsigned char *)*s;
	unsigned long c;
	int n, i;

	if (p[0] == 0)
		return 0;
	if (p[0] < 0x80) {
		*s += 1;
		return p[0];
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 1;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 2;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 3;
		c = p[0] & 0x07;
	} else {
		*s += 1;
		return 0xfffd;
	}
	for (i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*s += 1;
			return 0xfffd;
		}
		c = (c << 6) | (p[i] & 0x3f);
	}
	/* overlong, surrogate or out of range */
	if ((n == 2 && c < 0x800) || (n == 3 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff) {
		*s += 1;
		return 0xfffd;
	}
	*s += n + 1;
	return c;
}

/*
 * Base letters of U+00C0..U+00FF and U+0100..U+017F. '.' lowercases
 * without losing anything (æ, ð, þ, ĳ, ŋ, œ); '-' stays as it is.
 */
static const char latin1_base[] =
    "aaaaaa.ceeeeiiii.nooooo-ouuuuy.-"
    "aaaaaa.ceeeeiiii.nooooo-ouuuuy.y";
static const char latin_ext_a_base[] =
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii..jjkkkllllllllll"
    "nnnnnnn..oooooo..rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";
_Static_assert(sizeof(latin1_base) == 64 + 1, "U+00C0..U+00FF");
_Static_assert(sizeof(latin_ext_a_base) == 128 + 1, "U+0100..U+017F");

static unsigned long
fold_latin_ext_a(unsigned long c)
{
	char b = latin_ext_a_base[c - 0x100];

	if (b != '.')
		return (unsigned char)b;
	return c | 1;	/* ĳ ŋ œ: upper case even, lower case odd */
}

static unsigned long
fold_cyrillic(unsigned long c)
{
	if (c >= 0x410 && c <= 0x42f)
		c += 0x20;
	else if (c >= 0x400 && c <= 0x40f)
		c += 0x50;
	else if ((c >= 0x460 && c <= 0x481) || (c >= 0x48a && c <= 0x4bf) ||
	    (c >= 0x4d0 && c <= 0x4ff))
		c |= 1;
	else if (c >= 0x4c1 && c <= 0x4ce && (c & 1) == 1)
		c += 1;
	else if (c == 0x4c0)
		c = 0x4cf;
	return c == 0x451 ? 0x435 : c;	/* ё -> е */
}

/* The folded form of c: see the top of the file. */
static unsigned long
fold(unsigned long c)
{
	char b;

	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
	if (c >= 0xc0 && c <= 0xff) {
		b = latin1_base[c - 0xc0];
		if (b == '-')
			return c;
		if (b == '.')
			return c < 0xe0 ? c + 0x20 : c;
		return (unsigned char)b;
	}
	if (c >= 0x100 && c <= 0x17f)
		return fold_latin_ext_a(c);
	if (c >= 0x400 && c <= 0x4ff)
		return fold_cyrillic(c);
	return c;
}

static int
is_apostrophe(unsigned long c)
{
	return c == '\'' || c == '`' || c == 0xb4 || c == 0x2018 ||
	    c == 0x2019 || c == 0x02bc || c == 0xff07;
}

/* White space, and hyphens: both separate words. */
static int
is_space(unsigned long c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0 ||
	    (c >= 0x2000 && c <= 0x200b) || c == 0x202f || c == 0x205f ||
	    c == 0x3000 || c == '-' || (c >= 0x2010 && c <= 0x2015);
}

/* What may end the message without changing it. */
static int
is_trailing(unsigned long c)
{
	return is_space(c) || c == '.' || c == '!' || c == '?' || c == ',' ||
	    c == ';' || c == ':' || c == 0x2026 || c == 0x203c ||
	    c == 0x2049 || c == 0xff01 || c == 0xff1f || c == 0x3002;
}

#define FOLD_MAX 80	/* code points; every phrase is shorter */

/*
 * Fold s into cp. Returns the count, or -1 if the folded, trimmed text
 * is longer than FOLD_MAX (then it equals no phrase).
 */
static int
fold_text(const char *s, unsigned long *cp)
{
	unsigned long c;
	int n = 0;

	while ((c = utf8_next(&s)) != 0) {
		if (is_apostrophe(c))
			continue;
		if (is_space(c)) {
			if (n == 0 || cp[n - 1] == ' ')
				continue;
			c = ' ';
		} else if (n == 0 && (c == 0xa1 || c == 0xbf)) {
			continue;	/* ¡ ¿ */
		}
		if (n == FOLD_MAX) {
			/* Full: only what trimming removes may follow. */
			if (is_trailing(c))
				continue;
			return -1;
		}
		cp[n++] = fold(c);
	}
	while (n > 0 && is_trailing(cp[n - 1]))
		n--;
	return n;
}

int
policy_is_opt_out(const struct cfg_policy *p, const char *text)
{
	unsigned long msg[FOLD_MAX], phrase[FOLD_MAX];
	int n, m, i;

	if (p == NULL || text == NULL)
		return 0;
	if ((n = fold_text(text, msg)) <= 0)
		return 0;
	for (i = 0; i < p->n_opt_out && i < CFG_MAX_OPT_OUT; i++) {
		m = fold_text(p->opt_out[i], phrase);
		if (m == n && memcmp(msg, phrase, (size_t)n * sizeof(*msg)) ==
		    0)
			return 1;
	}
	return 0;
}

/* Run the local-time conversion of now in zone and, if quiet, the end of
 * the window. Called with TZ set to the zone. */
static int
quiet_local(const struct cfg_policy *p, time_t now, int64_t *until)
{
	struct tm tm;
	time_t end;
	int m, start = p->quiet_start_min, stop = p->quiet_end_min;
	int quiet, tomorrow = 0;

	if (localtime_r(&now, &tm) == NULL)
		return -1;
	m = tm.tm_hour * 60 + tm.tm_min;
	if (start < stop)
		quiet = m >= start && m < stop;
	else
		quiet = m >= start || m < stop;
	if (!quiet)
		return 0;
	if (start > stop && m >= start)
		tomorrow = 1;	/* wrapped past midnight: ends tomorrow */
	tm.tm_mday += tomorrow;
	tm.tm_hour = stop / 60;
	tm.tm_min = stop % 60;
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	end = mktime(&tm);
	/* A DST jump can push the local end time before now: fall back to
	 * the window's length in plain minutes. */
	if (end == (time_t)-1 || end <= now)
		end = now - now % 60 +
		    (time_t)(((stop - m + 1440) % 1440) * 60);
	*until = (int64_t)end * 1000;
	return 1;
}

int
policy_quiet(const struct cfg_policy *p, const char *tz, int64_t now_ms,
    int64_t *until_ms)
{
	struct clock_zone z;
	const char *zone;
	int64_t until = 0;
	time_t now;
	int quiet, rc;

	if (p == NULL || !p->has_quiet ||
	    p->quiet_start_min == p->quiet_end_min)
		return 0;
	zone = tz != NULL && *tz != '\0' ? tz : p->timezone;
	if ((rc = clock_zone_enter(&z, zone)) < 0) {
		log_err("quiet hours: out of memory");
		return 0;
	}
	if (rc == 1)
		log_warn("quiet hours: time zone '%s' is not in the system's "
		    "zoneinfo: using UTC", zone);
	now = (time_t)(now_ms / 1000 - (now_ms % 1000 < 0));
	quiet = quiet_local(p, now, &until);
	clock_zone_leave(&z);
	if (quiet == 1 && until_ms != NULL)
		*until_ms = until;
	return quiet == 1;
}

int64_t
policy_reply_delay_ms(const struct cfg_policy *p)
{
	int64_t lo = p->reply_delay_min_s, hi = p->reply_delay_max_s, span;

	if (lo < 0)
		lo = 0;
	if (hi < lo)
		hi = lo;
	span = (hi - lo) * 1000;
	if (span >= (int64_t)UINT32_MAX)
		span = (int64_t)UINT32_MAX - 1;
	return lo * 1000 + (int64_t)arc4random_uniform((uint32_t)span + 1);
}

char *
policy_day(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000 - (ms % 1000 < 0));
	struct tm tm;

	if (len == 0)
		return buf;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d", &tm) == 0)
		buf[0] = '\0';
	return buf;
}
