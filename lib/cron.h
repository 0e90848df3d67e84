/*
 * cron: standard 5-field cron expressions (minute hour day-of-month month
 * day-of-week) with lists, ranges, steps ("0-30/10", a star with "/15"),
 * names ("MON-FRI", "JAN,JUL"), 0 or 7 for Sunday, the macros
 * @yearly/@annually, @monthly, @weekly, @daily/@midnight, @hourly, and
 * Vixie cron's rule: when both day fields are restricted, a day matches
 * if either matches. Times are evaluated in an IANA time zone.
 */
#ifndef DATER_CRON_H
#define DATER_CRON_H

#include <stddef.h>
#include <stdint.h>

struct cron {
	uint64_t minutes;	/* bit m: minute m (0..59) */
	uint32_t hours;		/* bit h (0..23) */
	uint32_t mdays;		/* bit d (1..31) */
	uint16_t months;	/* bit m (1..12) */
	uint8_t wdays;		/* bit w (0..6, 0 = Sunday) */
	int mday_any;		/* the field was a lone "*" (not star + step) */
	int wday_any;
};

/* Parse expr into c. Returns 0, or -1 with the reason in err (naming
 * the field: "hour: 24 is out of range 0-23"; err may be NULL) and c
 * untouched. */
int cron_parse(const char *expr, struct cron *c, char *err, size_t len);

/*
 * The first time the expression fires strictly after after_s (unix
 * seconds), in time zone tz (NULL or "": UTC), into *next_s. Across a
 * daylight-saving change a skipped local time fires at the next existing
 * minute, the instant of the change (02:30 on the night New York springs
 * forward fires at 03:00 EDT; several skipped minutes fire once there),
 * and a repeated one fires once, at its first occurrence. Returns 0, or
 * -1 if it never fires within five years (e.g. "0 0 30 2 *").
 *
 * tz is set in TZ for the call and the old TZ restored (not thread-safe);
 * a zone that clock_zone_known refuses (a bad name, or zone data removed
 * since the configuration was checked) is UTC, with a warning logged.
 */
int cron_next(const struct cron *c, const char *tz, int64_t after_s,
    int64_t *next_s);

/* The latest time at or before at_s at which it fires (the current slot),
 * into *slot_s. 0, or -1 if none within five years. */
int cron_prev(const struct cron *c, const char *tz, int64_t at_s,
    int64_t *slot_s);

#endif
