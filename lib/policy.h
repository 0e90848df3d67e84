/*
 * policy: the per-bot rules that protect the people on the other side,
 * as pure functions of the settings, the clock and counts the caller
 * reads from the store.
 */
#ifndef DATER_POLICY_H
#define DATER_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

/*
 * Whether text (UTF-8) is an opt-out: 1 or 0. The whole message,
 * trimmed of white space, a leading ¡ or ¿ and trailing . ! ? , ; : …,
 * equals one of the policy's phrases, ignoring case (ASCII, Latin-1,
 * Latin Extended-A, Cyrillic), Latin diacritics ("arrete" is "arrête"),
 * apostrophes ("dont" is "don't") and hyphens ("opt-out" is "opt out").
 * "Stop!" opts out; "don't stop" and "stop 😂" do not. NULL: 0.
 */
int policy_is_opt_out(const struct cfg_policy *p, const char *text);

/*
 * Whether now falls in the quiet hours: 1 or 0. Local time is in the
 * zone tz (an IANA name such as "Europe/Berlin"; NULL or "" uses
 * p->timezone, then UTC); a zone clock_zone_known refuses (a file path,
 * a POSIX TZ string, zone data removed since it was checked) is UTC, with
 * a warning logged. When quiet, *until_ms
 * (may be NULL; else untouched) gets the end of the window, by that
 * zone's rules on that day (DST included). Windows may wrap midnight
 * ("23:00-08:00"); start == end or !has_quiet is never quiet. The TZ
 * variable is set for the conversion and restored (single-threaded
 * callers only).
 */
int policy_quiet(const struct cfg_policy *p, const char *tz, int64_t now_ms,
    int64_t *until_ms);

/* A random reply delay in ms, uniform in [min, max] seconds
 * (arc4random_uniform); a negative min counts as 0, max < min as min. */
int64_t policy_reply_delay_ms(const struct cfg_policy *p);

/* The UTC day of ms as "YYYY-MM-DD" (metrics and daily caps) into buf
 * (at least 11 bytes; else ""). Returns buf. */
char *policy_day(int64_t ms, char *buf, size_t len);

#endif
