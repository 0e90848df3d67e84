/*
 * check_policy: the rules that protect the people on the other side:
 * opt-out phrases in several languages, quiet hours in the contact's
 * time zone, reply delays, and the built-in defaults.
 */
#include <stdlib.h>
#include <string.h>

#include "check_dater.h"
#include "../lib/clock.h"
#include "../lib/policy.h"
#include "../lib/banned.h"

#define SENTINEL ((int64_t)-4242)

static int64_t
at(const char *rfc3339)
{
	int64_t ms = 0;

	ck_assert_msg(clock_parse_time(rfc3339, &ms) == 0, "bad time '%s'",
	    rfc3339);
	return ms;
}

static void
opt_out(const struct cfg_policy *p, const char *text)
{
	ck_assert_msg(policy_is_opt_out(p, text) == 1,
	    "'%s' should opt out", text);
}

static void
no_opt_out(const struct cfg_policy *p, const char *text)
{
	ck_assert_msg(policy_is_opt_out(p, text) == 0,
	    "'%s' should not opt out", text);
}

START_TEST(opt_out_english)
{
	struct cfg_policy p;

	cfg_policy_defaults(&p);
	opt_out(&p, "stop");
	opt_out(&p, "STOP");
	opt_out(&p, "Stop!");
	opt_out(&p, "  stop.  \n");
	opt_out(&p, "Stop?!");
	opt_out(&p, "stop…");
	opt_out(&p, "Unsubscribe");
	opt_out(&p, "opt out");
	opt_out(&p, "Opt-Out");
	opt_out(&p, "Leave me   alone!!");
	opt_out(&p, "don't text me");
	opt_out(&p, "Don’t text me.");	/* curly apostrophe */
	opt_out(&p, "dont text me");
	opt_out(&p, "DO NOT CONTACT ME");
}
END_TEST

START_TEST(opt_out_other_languages)
{
	struct cfg_policy p;

	cfg_policy_defaults(&p);
	/* German */
	opt_out(&p, "Stopp");
	opt_out(&p, "ABMELDEN");
	opt_out(&p, "Hör auf!");
	opt_out(&p, "HÖR AUF");
	opt_out(&p, "Lass mich in Ruhe.");
	/* French, with and without accents */
	opt_out(&p, "Arrête");
	opt_out(&p, "ARRÊTE !");
	opt_out(&p, "arrete");
	opt_out(&p, "Désabonner");
	opt_out(&p, "laisse moi tranquille");
	opt_out(&p, "Ne m’écris plus");
	/* Spanish */
	opt_out(&p, "¡Basta!");
	opt_out(&p, "Para.");
	opt_out(&p, "DÉJAME EN PAZ");
	/* Italian */
	opt_out(&p, "Smettila!");
	opt_out(&p, "Non scrivermi più");
	/* Portuguese */
	opt_out(&p, "Pare");
	opt_out(&p, "NÃO ME MANDE MENSAGENS");
	/* Russian and Ukrainian: Cyrillic case folding */
	opt_out(&p, "СТОП");
	opt_out(&p, "Стоп!");
	opt_out(&p, "Хватит");
	opt_out(&p, "ОТПИШИСЬ");
	opt_out(&p, "Не пиши мне!");
	opt_out(&p, "Досить");
	opt_out(&p, "НЕ ПИШИ МЕНІ");
	/* Polish */
	opt_out(&p, "PRZESTAŃ");
	opt_out(&p, "przestan");
	opt_out(&p, "Nie pisz do mnie.");
}
END_TEST

START_TEST(opt_out_not)
{
	struct cfg_policy p;

	cfg_policy_defaults(&p);
	no_opt_out(&p, "stop it please tell me more");
	no_opt_out(&p, "don't stop");
	no_opt_out(&p, "stopwatch");
	no_opt_out(&p, "Stop 😂");
	no_opt_out(&p, "s t o p");
	no_opt_out(&p, "para mí un café");
	no_opt_out(&p, "I can't stop thinking about you");
	no_opt_out(&p, "Стоп-кран");
	no_opt_out(&p, "");
	no_opt_out(&p, "   ");
	no_opt_out(&p, "!!!");
	no_opt_out(&p, NULL);
	/* a long message that ends in "stop" */
	no_opt_out(&p, "I have been thinking about what you said yesterday "
	    "and honestly I think we should talk about it before you stop");
}
END_TEST

START_TEST(opt_out_configured)
{
	static const char *const phrases[] = { "Bitte aufhören", "enough!" };
	struct cfg_policy p;
	char pad[200];

	memset(&p, 0, sizeof(p));
	p.opt_out = phrases;
	p.n_opt_out = 2;
	opt_out(&p, "BITTE AUFHÖREN");
	opt_out(&p, "bitte aufhoren!!");
	opt_out(&p, "Enough");
	/* only the configured phrases count */
	no_opt_out(&p, "stop");
	p.n_opt_out = 0;
	no_opt_out(&p, "enough");
	/* trailing marks beyond the folding buffer are still trimmed */
	p.n_opt_out = 2;
	memset(pad, '!', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	memcpy(pad, "enough", 6);
	opt_out(&p, pad);
	pad[100] = 'x';
	no_opt_out(&p, pad);
}
END_TEST

START_TEST(opt_out_malformed_utf8)
{
	struct cfg_policy p;

	cfg_policy_defaults(&p);
	no_opt_out(&p, "st\xffop");
	no_opt_out(&p, "\xc3");
	no_opt_out(&p, "stop\xe2\x80");
}
END_TEST

/* A policy with the given window and nothing else. */
static void
quiet_policy(struct cfg_policy *p, const char *window, const char *tz)
{
	cfg_policy_defaults(p);
	ck_assert_int_eq(cfg_parse_quiet(window, &p->quiet_start_min,
	    &p->quiet_end_min), 0);
	p->has_quiet = 1;
	strlcpy(p->timezone, tz, sizeof(p->timezone));
}

static void
is_quiet(const struct cfg_policy *p, const char *tz, const char *now,
    const char *until)
{
	int64_t u = SENTINEL;

	ck_assert_msg(policy_quiet(p, tz, at(now), &u) == 1,
	    "%s in %s should be quiet", now, tz != NULL ? tz : "(null)");
	ck_assert_msg(u == at(until), "%s in %s: quiet until %lld, want %s",
	    now, tz != NULL ? tz : "(null)", (long long)u, until);
}

static void
not_quiet(const struct cfg_policy *p, const char *tz, const char *now)
{
	int64_t u = SENTINEL;

	ck_assert_msg(policy_quiet(p, tz, at(now), &u) == 0,
	    "%s in %s should not be quiet", now, tz != NULL ? tz : "(null)");
	ck_assert_msg(u == SENTINEL, "until changed when not quiet");
}

START_TEST(quiet_new_york)
{
	struct cfg_policy p;

	quiet_policy(&p, "23:00-08:00", "");
	/* 23:30 EST: quiet until 08:00 EST the next morning */
	is_quiet(&p, "America/New_York", "2026-01-15T23:30:00-05:00",
	    "2026-01-16T08:00:00-05:00");
	/* just after midnight and just before the end */
	is_quiet(&p, "America/New_York", "2026-01-16T00:10:00-05:00",
	    "2026-01-16T08:00:00-05:00");
	is_quiet(&p, "America/New_York", "2026-01-16T07:59:59-05:00",
	    "2026-01-16T08:00:00-05:00");
	is_quiet(&p, "America/New_York", "2026-01-15T23:00:00-05:00",
	    "2026-01-16T08:00:00-05:00");
	not_quiet(&p, "America/New_York", "2026-01-16T08:00:00-05:00");
	not_quiet(&p, "America/New_York", "2026-01-15T22:59:59-05:00");
	not_quiet(&p, "America/New_York", "2026-01-15T14:00:00-05:00");
	/* until may be NULL */
	ck_assert_int_eq(policy_quiet(&p, "America/New_York",
	    at("2026-01-16T03:00:00-05:00"), NULL), 1);
}
END_TEST

START_TEST(quiet_same_instant_other_zones)
{
	struct cfg_policy p;
	const char *now = "2026-01-16T04:30:00Z";

	quiet_policy(&p, "23:00-08:00", "");
	/* 23:30 in New York, 13:30 in Tokyo, 04:30 in UTC */
	is_quiet(&p, "America/New_York", now, "2026-01-16T13:00:00Z");
	not_quiet(&p, "Asia/Tokyo", now);
	is_quiet(&p, "UTC", now, "2026-01-16T08:00:00Z");
	/* 02:00 in Tokyo: quiet until 08:00 JST, 23:00 UTC the day before */
	is_quiet(&p, "Asia/Tokyo", "2026-01-15T17:00:00Z",
	    "2026-01-15T23:00:00Z");
	/* A zone with a fixed offset: "Etc/GMT-3" is UTC+3 (POSIX signs).
	 * 04:30Z is 07:30 there. */
	is_quiet(&p, "Etc/GMT-3", now, "2026-01-16T05:00:00Z");
	not_quiet(&p, "Etc/GMT-3", "2026-01-16T05:00:00Z");
}
END_TEST

START_TEST(quiet_dst_night)
{
	struct cfg_policy p;

	quiet_policy(&p, "23:00-08:00", "");
	/* New York springs forward at 02:00 on 2026-03-08: the night is an
	 * hour shorter and ends at 08:00 EDT (12:00Z, not 13:00Z). */
	is_quiet(&p, "America/New_York", "2026-03-07T23:30:00-05:00",
	    "2026-03-08T08:00:00-04:00");
	/* and falls back on 2026-11-01: 08:00 EST is 13:00Z */
	is_quiet(&p, "America/New_York", "2026-10-31T23:30:00-04:00",
	    "2026-11-01T08:00:00-05:00");
}
END_TEST

START_TEST(quiet_zone_fallbacks)
{
	struct cfg_policy p;
	struct t_capture cap;
	char *log;

	/* no contact zone: the policy's, then UTC */
	quiet_policy(&p, "23:00-08:00", "Asia/Tokyo");
	is_quiet(&p, NULL, "2026-01-15T17:00:00Z", "2026-01-15T23:00:00Z");
	is_quiet(&p, "", "2026-01-15T17:00:00Z", "2026-01-15T23:00:00Z");
	not_quiet(&p, NULL, "2026-01-16T04:30:00Z");
	/* the contact's zone wins over the policy's */
	is_quiet(&p, "America/New_York", "2026-01-16T04:30:00Z",
	    "2026-01-16T13:00:00Z");
	p.timezone[0] = '\0';
	is_quiet(&p, NULL, "2026-01-16T04:30:00Z", "2026-01-16T08:00:00Z");
	not_quiet(&p, NULL, "2026-01-15T17:00:00Z");
	/* unknown zones, file paths and POSIX TZ strings are UTC, and
	 * each time that happens it is said */
	t_stderr_begin(&cap);
	is_quiet(&p, "Mars/Olympus_Mons", "2026-01-16T04:30:00Z",
	    "2026-01-16T08:00:00Z");
	is_quiet(&p, "../../../etc/passwd", "2026-01-16T04:30:00Z",
	    "2026-01-16T08:00:00Z");
	is_quiet(&p, "/usr/share/zoneinfo/Asia/Tokyo", "2026-01-16T04:30:00Z",
	    "2026-01-16T08:00:00Z");
	is_quiet(&p, "<+09>-9", "2026-01-16T04:30:00Z",
	    "2026-01-16T08:00:00Z");
	log = t_stderr_end(&cap);
	ck_assert_msg(strstr(log, "time zone 'Mars/Olympus_Mons' is not in "
	    "the system's zoneinfo: using UTC") != NULL, "log: '%s'", log);
	ck_assert_ptr_nonnull(strstr(log, "'../../../etc/passwd'"));
	ck_assert_ptr_nonnull(strstr(log, "'<+09>-9'"));
	free(log);
	/* UTC and no zone at all are not worth a word */
	t_stderr_begin(&cap);
	is_quiet(&p, "UTC", "2026-01-16T04:30:00Z", "2026-01-16T08:00:00Z");
	is_quiet(&p, NULL, "2026-01-16T04:30:00Z", "2026-01-16T08:00:00Z");
	log = t_stderr_end(&cap);
	ck_assert_str_eq(log, "");
	free(log);
}
END_TEST

START_TEST(quiet_daytime_window_and_off)
{
	struct cfg_policy p;

	quiet_policy(&p, "13:00-15:30", "Europe/Berlin");
	/* 14:00 CET is 13:00Z */
	is_quiet(&p, NULL, "2026-01-15T13:00:00Z", "2026-01-15T14:30:00Z");
	not_quiet(&p, NULL, "2026-01-15T14:30:00Z");
	not_quiet(&p, NULL, "2026-01-15T11:59:00Z");
	not_quiet(&p, NULL, "2026-01-15T23:30:00Z");
	p.has_quiet = 0;
	not_quiet(&p, NULL, "2026-01-15T13:00:00Z");
	/* an empty window is never quiet */
	quiet_policy(&p, "08:00-08:00", "");
	not_quiet(&p, NULL, "2026-01-15T08:00:00Z");
}
END_TEST

START_TEST(quiet_restores_tz)
{
	struct cfg_policy p;
	const char *tz;

	quiet_policy(&p, "23:00-08:00", "");
	ck_assert_int_eq(setenv("TZ", "Europe/Berlin", 1), 0);
	(void)policy_quiet(&p, "Asia/Tokyo", at("2026-01-15T17:00:00Z"), NULL);
	tz = getenv("TZ");
	ck_assert_ptr_nonnull(tz);
	ck_assert_str_eq(tz, "Europe/Berlin");
	ck_assert_int_eq(unsetenv("TZ"), 0);
	(void)policy_quiet(&p, "Asia/Tokyo", at("2026-01-15T17:00:00Z"), NULL);
	ck_assert_ptr_null(getenv("TZ"));
}
END_TEST

START_TEST(reply_delay_range)
{
	struct cfg_policy p;
	int64_t d, lo = INT64_MAX, hi = 0;
	int i;

	cfg_policy_defaults(&p);
	for (i = 0; i < 20000; i++) {
		d = policy_reply_delay_ms(&p);
		ck_assert_msg(d >= 20000 && d <= 90000, "delay %lld ms",
		    (long long)d);
		if (d < lo)
			lo = d;
		if (d > hi)
			hi = d;
	}
	/* spread over the range, not stuck at one end */
	ck_assert_int_lt(lo, 21000);
	ck_assert_int_gt(hi, 89000);
	p.reply_delay_min_s = p.reply_delay_max_s = 5;
	ck_assert_int_eq(policy_reply_delay_ms(&p), 5000);
	p.reply_delay_min_s = 7;
	p.reply_delay_max_s = 3;	/* a reversed range is the minimum */
	ck_assert_int_eq(policy_reply_delay_ms(&p), 7000);
	p.reply_delay_min_s = p.reply_delay_max_s = 0;
	ck_assert_int_eq(policy_reply_delay_ms(&p), 0);
}
END_TEST

START_TEST(parse_quiet)
{
	static const char *bad[] = {
		"24:00-08:00", "23:60-08:00", "3:00-08:00", "23:00-8:00",
		"23:00-08:00 ", " 23:00-08:00", "23:00/08:00", "2300-0800",
		"23:00", "", "23:00\xe2\x80\x93" "08:00", "ab:cd-ef:gh",
		"23:00-08:60", NULL
	};
	int s = -1, e = -1;
	size_t i;

	ck_assert_int_eq(cfg_parse_quiet("23:00-08:00", &s, &e), 0);
	ck_assert_int_eq(s, 23 * 60);
	ck_assert_int_eq(e, 8 * 60);
	ck_assert_int_eq(cfg_parse_quiet("00:00-23:59", &s, &e), 0);
	ck_assert_int_eq(s, 0);
	ck_assert_int_eq(e, 23 * 60 + 59);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = e = -7;
		ck_assert_msg(cfg_parse_quiet(bad[i], &s, &e) == -1,
		    "'%s' was accepted", bad[i] != NULL ? bad[i] : "(null)");
		ck_assert_msg(s == -7 && e == -7, "output changed on error");
	}
}
END_TEST

START_TEST(day_utc)
{
	char buf[16];

	ck_assert_str_eq(policy_day(0, buf, sizeof(buf)), "1970-01-01");
	ck_assert_str_eq(policy_day(at("2026-11-25T23:59:59.999Z"), buf,
	    sizeof(buf)), "2026-11-25");
	ck_assert_str_eq(policy_day(at("2026-11-26T00:00:00Z"), buf,
	    sizeof(buf)), "2026-11-26");
	/* the UTC day, whatever the local zone */
	ck_assert_int_eq(setenv("TZ", "Asia/Tokyo", 1), 0);
	ck_assert_str_eq(policy_day(at("2026-11-25T20:00:00Z"), buf,
	    sizeof(buf)), "2026-11-25");
	ck_assert_str_eq(policy_day(-1, buf, sizeof(buf)), "1969-12-31");
}
END_TEST

START_TEST(defaults)
{
	struct cfg_policy p;
	int i, s, e;

	memset(&p, 0x5a, sizeof(p));
	cfg_policy_defaults(&p);
	ck_assert_int_gt(strlen(p.persona), 40);
	ck_assert_str_eq(p.model, "");
	ck_assert_int_eq(p.reply_delay_min_s, 20);
	ck_assert_int_eq(p.reply_delay_max_s, 90);
	ck_assert_int_eq(cfg_parse_quiet("23:00-08:00", &s, &e), 0);
	ck_assert_int_eq(p.quiet_start_min, s);
	ck_assert_int_eq(p.quiet_end_min, e);
	ck_assert_int_eq(p.has_quiet, 1);
	ck_assert_str_eq(p.timezone, "");
	ck_assert_int_eq(p.max_per_hour, 30);
	ck_assert_int_eq(p.max_per_chat_hour, 6);
	ck_assert_int_eq(p.max_initiations_per_day, 10);
	ck_assert_int_eq(p.max_unanswered, 2);
	ck_assert_int_eq(p.followup_after_ms, (int64_t)2 * 86400 * 1000);
	ck_assert_int_ge(p.n_opt_out, 30);
	/* room left for a config's own phrases */
	ck_assert_int_lt(p.n_opt_out, CFG_MAX_OPT_OUT);
	for (i = 0; i < p.n_opt_out; i++)
		opt_out(&p, p.opt_out[i]);
	ck_assert_int_gt(strlen(p.opt_out_reply), 0);
	/* disclosure on, and it says AI */
	ck_assert_ptr_nonnull(strstr(p.disclosure, "AI"));
	ck_assert_int_eq(p.review, 0);
	ck_assert(p.daily_budget_usd == 0);
	ck_assert_int_eq(p.history_messages, 20);
	ck_assert_int_eq(p.summary_after, 40);
	ck_assert_int_eq(p.max_reply_chars, 1000);
}
END_TEST

Suite *
suite_policy(void)
{
	Suite *s = suite_create("policy");
	TCase *tc;

	tc = t_tcase("opt_out");
	tcase_add_test(tc, opt_out_english);
	tcase_add_test(tc, opt_out_other_languages);
	tcase_add_test(tc, opt_out_not);
	tcase_add_test(tc, opt_out_configured);
	tcase_add_test(tc, opt_out_malformed_utf8);
	suite_add_tcase(s, tc);
	tc = t_tcase("quiet");
	tcase_add_test(tc, quiet_new_york);
	tcase_add_test(tc, quiet_same_instant_other_zones);
	tcase_add_test(tc, quiet_dst_night);
	tcase_add_test(tc, quiet_zone_fallbacks);
	tcase_add_test(tc, quiet_daytime_window_and_off);
	tcase_add_test(tc, quiet_restores_tz);
	suite_add_tcase(s, tc);
	tc = t_tcase("delay");
	tcase_add_test(tc, reply_delay_range);
	suite_add_tcase(s, tc);
	tc = t_tcase("parse");
	tcase_add_test(tc, parse_quiet);
	tcase_add_test(tc, day_utc);
	suite_add_tcase(s, tc);
	tc = t_tcase("defaults");
	tcase_add_test(tc, defaults);
	suite_add_tcase(s, tc);
	return s;
}
