/*
 * check_log: what lib/log.c writes to fd 2: one line per call whatever
 * the message holds (controls, terminal escapes, C1 controls, invalid
 * UTF-8 are escaped; valid UTF-8 is kept), secrets redacted, levels.
 */
#include <stdlib.h>
#include <string.h>

#include "check_dater.h"
#include "../lib/log.h"
#include "../lib/redact.h"
#include "../lib/banned.h"

/* The text of one log_err(fmt-less) call of msg, as written. */
static char *
logged(const char *msg)
{
	struct t_capture cap;

	log_init("t", LOG_LEVEL_INFO, 0);
	t_stderr_begin(&cap);
	log_err("%s", msg);
	return t_stderr_end(&cap);
}

#define LOGGED_IS(msg, want) do {					\
	char *got_ = logged(msg);					\
	ck_assert_str_eq(got_, "t: error: " want "\n");			\
	free(got_);							\
} while (0)

START_TEST(test_plain)
{
	LOGGED_IS("open 'var/dater.db': no such file", "open 'var/dater.db': "
	    "no such file");
	LOGGED_IS("back\\slash kept", "back\\slash kept");
}
END_TEST

START_TEST(test_c0_and_del)
{
	LOGGED_IS("a\nb\rc\td", "a\\nb\\rc\\td");
	LOGGED_IS("Bad Request\n\x1b[2Jforged: error: x",
	    "Bad Request\\n\\x1b[2Jforged: error: x");
	LOGGED_IS("\x01\x07\x08\x1f\x7f.", "\\x01\\x07\\x08\\x1f\\x7f.");
}
END_TEST

START_TEST(test_c1)
{
	/* U+009B (CSI) and U+0085 (NEL) as UTF-8; U+00A0 is printable. */
	LOGGED_IS("a\xc2\x9b" "2Jb\xc2\x85" "c\xc2\xa0" "d",
	    "a\\u009b2Jb\\u0085c\xc2\xa0" "d");
	LOGGED_IS("\xc2\x80\xc2\x9f", "\\u0080\\u009f");
}
END_TEST

START_TEST(test_utf8)
{
	/* Valid text, 2 to 4 bytes a character, is kept as is. */
	LOGGED_IS("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad");
	/* Invalid: a stray continuation byte, 0xff, an overlong '/', a
	 * surrogate, above U+10FFFF, a sequence cut short. */
	LOGGED_IS("a\x80" "b\xff" "c", "a\\x80b\\xffc");
	LOGGED_IS("\xc0\xaf", "\\xc0\\xaf");
	LOGGED_IS("\xed\xa0\x80", "\\xed\\xa0\\x80");
	LOGGED_IS("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
	LOGGED_IS("x\xe2\x82", "x\\xe2\\x82");
	LOGGED_IS("\xe2\x82" "a", "\\xe2\\x82" "a");
}
END_TEST

START_TEST(test_one_line)
{
	char msg[3000], *got;
	size_t i, n;

	for (i = 0; i < sizeof(msg) - 1; i++)
		msg[i] = i % 3 == 0 ? '\n' : i % 3 == 1 ? '\x1b' : 'x';
	msg[sizeof(msg) - 1] = '\0';
	got = logged(msg);
	n = strlen(got);
	ck_assert_uint_gt(n, 100);
	ck_assert_int_eq(got[n - 1], '\n');
	ck_assert_ptr_eq(strchr(got, '\n'), got + n - 1);
	ck_assert_ptr_null(strchr(got, '\x1b'));
	/* Cut between escapes, never inside one. */
	ck_assert(n >= 2 && got[n - 2] != '\\');
	free(got);
}
END_TEST

START_TEST(test_redacted)
{
	redact_clear();
	ck_assert_int_eq(redact_add("hook-s3cret-0001"), 0);
	LOGGED_IS("webhook: HTTP 404: Cannot POST /hook?token=hook-s3cret-0001"
	    "\n", "webhook: HTTP 404: Cannot POST /hook?token=<redacted>\\n");
	LOGGED_IS("llm: POST https://user:pw@h/v1?key=x failed",
	    "llm: POST https://<redacted>@h/v1?<redacted> failed");
	redact_clear();
}
END_TEST

START_TEST(test_levels)
{
	struct t_capture cap;
	char *got;

	log_init("t", LOG_LEVEL_WARN, 1);
	t_stderr_begin(&cap);
	log_info("not shown");
	log_debug("not shown");
	log_warn("shown\x1b");
	got = t_stderr_end(&cap);
	ck_assert_ptr_nonnull(strstr(got, "]: warning: shown\\x1b\n"));
	ck_assert_ptr_null(strstr(got, "not shown"));
	ck_assert_int_eq(strncmp(got, "t[", 2), 0);
	free(got);
}
END_TEST

Suite *
suite_log(void)
{
	Suite *s = suite_create("log");
	TCase *tc;

	tc = t_tcase("escape");
	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_c0_and_del);
	tcase_add_test(tc, test_c1);
	tcase_add_test(tc, test_utf8);
	tcase_add_test(tc, test_one_line);
	suite_add_tcase(s, tc);
	tc = t_tcase("redact");
	tcase_add_test(tc, test_redacted);
	suite_add_tcase(s, tc);
	tc = t_tcase("levels");
	tcase_add_test(tc, test_levels);
	suite_add_tcase(s, tc);
	return s;
}
