/*
 * clock: wall-clock time in milliseconds since the epoch (the unit every
 * time column holds), and parsing/formatting of the time forms dater
 * accepts: RFC 3339, unix seconds, and durations such as "90s" or "2h".
 */
#ifndef DATER_CLOCK_H
#define DATER_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t clock_now_ms(void);

/* Milliseconds from CLOCK_MONOTONIC, for intervals and deadlines. */
int64_t clock_mono_ms(void);

/*
 * Parse an absolute time: RFC 3339 ("2026-11-25T20:15:00Z",
 * "2026-11-25T20:15:00.250+01:00") or unix seconds ("1790000000", may
 * have a fraction). Returns 0 and stores ms in *out, or -1 (out untouched).
 */
int clock_parse_time(const char *s, int64_t *out);

/*
 * Parse a duration: a non-negative number with a unit, ms s m h d
 * ("250ms", "90s", "10m", "2h", "1d"); a bare number means seconds.
 * Several parts may follow each other ("1h30m"). Returns 0 and stores ms
 * in *out, or -1 (out untouched).
 */
int clock_parse_duration(const char *s, int64_t *out);

/*
 * Format ms as RFC 3339 UTC with milliseconds, "2026-11-25T20:15:00.250Z",
 * into buf (at least CLOCK_RFC3339_LEN bytes). Returns buf.
 */
#define CLOCK_RFC3339_LEN 32
char *clock_format(int64_t ms, char *buf, size_t len);

/*
 * Whether name is a time zone this system can load: "UTC" (needs no
 * data), or an IANA name such as "Europe/Berlin" that resolves to a TZif
 * file under $TZDIR when that is set, else /usr/share/zoneinfo (where
 * the C library looks). Names are at most CLOCK_ZONE_MAX - 1 bytes of
 * A-Z a-z 0-9 / _ - + . with no component that starts with '.' (so no
 * "..") and no leading '/': never a file path, nor a POSIX TZ string
 * such as "<+06>-6". Returns 1 or 0; logs nothing.
 */
#define CLOCK_ZONE_MAX 64
#define CLOCK_ZONEINFO "/usr/share/zoneinfo"
int clock_zone_known(const char *name);

/* Format a duration in ms compactly for humans ("850ms", "12s", "3m20s",
 * "2h5m", "4d3h") into buf. Returns buf. */
char *clock_format_duration(int64_t ms, char *buf, size_t len);

/*
 * Local time in a zone for a moment: clock_zone_enter sets TZ to zone
 * (an IANA name; NULL, "" and "UTC" are UTC, with z->utc set so callers
 * may use gmtime_r) and clock_zone_leave puts the old TZ back (call it
 * after 0 and 1). Single-threaded callers only. Returns 0; 1 when
 * clock_zone_known refuses the zone and UTC stands in (the caller warns);
 * -1 when out of memory (TZ unchanged, nothing to leave).
 */
struct clock_zone {
	int utc;
	char *saved_tz;		/* TZ before, NULL if it was unset */
	int was_set;
};

int clock_zone_enter(struct clock_zone *z, const char *zone);
void clock_zone_leave(struct clock_zone *z);

#endif
