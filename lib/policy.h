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

/* The built-in defaults (persona, delays, limits, opt-out phrases in
 * several languages, disclosure on) into p. */
void policy_defaults(struct cfg_policy *p);

/*
 * Whether text is an opt-out: the whole message, trimmed of whitespace
 * and trailing punctuation, equals one of the policy's phrases,
 * case-insensitively (UTF-8 aware for ASCII and Latin/Cyrillic letters
 * as far as practical). "stop" opts out; "don't stop" does not.
 */
int policy_is_opt_out(const struct cfg_policy *p, const char *text);

/*
 * Whether now falls in the quiet hours, in the time zone tz (an IANA
 * name such as "Europe/Berlin"; NULL or "" uses p->timezone, then UTC).
 * When it does, *until_ms (may be NULL) gets the end of the quiet hours.
 * Quiet hours may wrap midnight ("23:00-08:00").
 */
int policy_quiet(const struct cfg_policy *p, const char *tz, int64_t now_ms,
    int64_t *until_ms);

/* A random reply delay within p's range, in ms (arc4random). */
int64_t policy_reply_delay_ms(const struct cfg_policy *p);

/* Parse "HH:MM-HH:MM" into minutes of the day. 0 or -1. */
int policy_parse_quiet(const char *s, int *start_min, int *end_min);

/* The UTC day of ms as "YYYY-MM-DD" (metrics and daily caps) into buf
 * (at least 11 bytes). */
char *policy_day(int64_t ms, char *buf, size_t len);

#endif
