/*
 * check_redact: the redactor (lib/redact.c): registered secrets of any
 * length, overlapping ones, their percent-encoded and -decoded forms,
 * secrets cut short by truncation, the user info and query string of
 * URLs in running text, and the set taken from a configuration.
 */
#include <stdlib.h>
#include <string.h>

#include "check_dater.h"
#include "../lib/redact.h"
#include "../lib/banned.h"

/* src redacted (with extra) into a static buffer of len bytes. */
static const char *
red(const char *src, const char *extra, size_t len)
{
	static char buf[4096];

	ck_assert_uint_le(len, sizeof(buf));
	ck_assert_uint_eq(redact_str(buf, len, src, extra), strlen(buf));
	return buf;
}

#define RED(src) red((src), NULL, 4096)

START_TEST(test_nothing_registered)
{
	redact_clear();
	ck_assert_str_eq(RED(""), "");
	ck_assert_str_eq(RED("plain text, 10:30, a: //b"),
	    "plain text, 10:30, a: //b");
	ck_assert_str_eq(RED("Cannot POST /hook?token=abc"),
	    "Cannot POST /hook?token=abc");
}
END_TEST

START_TEST(test_empty_secret)
{
	redact_clear();
	ck_assert_int_eq(redact_add(""), 0);
	ck_assert_str_eq(RED("every byte stays"), "every byte stays");
	ck_assert_str_eq(red("every byte stays", "", 4096), "every byte stays");
}
END_TEST

START_TEST(test_secret_lengths)
{
	redact_clear();
	ck_assert_int_eq(redact_add("x"), 0);
	ck_assert_int_eq(redact_add("k3y"), 0);
	ck_assert_int_eq(redact_add("s3cr"), 0);
	ck_assert_int_eq(redact_add("sk-0123456789abcdef0123456789abcdef"),
	    0);
	/* Short secrets only as words of their own. */
	ck_assert_str_eq(RED("key x, example, k3y. k3ys"),
	    "key <redacted>, example, <redacted>. k3ys");
	/* From REDACT_SHORT bytes on, anywhere. */
	ck_assert_str_eq(RED("as3crb"), "a<redacted>b");
	ck_assert_str_eq(RED("Bearer sk-0123456789abcdef0123456789abcdef!"),
	    "Bearer <redacted>!");
	ck_assert_str_eq(RED("sk-0123456789abcdef0123456789abcdef"),
	    "<redacted>");
	ck_assert_str_eq(RED("s3crs3cr"), "<redacted>");
}
END_TEST

START_TEST(test_overlapping)
{
	redact_clear();
	ck_assert_int_eq(redact_add("abcdef"), 0);
	ck_assert_int_eq(redact_add("cdefgh"), 0);
	ck_assert_int_eq(redact_add("bcd0"), 0);
	/* One run for both, nothing of either left. */
	ck_assert_str_eq(RED("1abcdefgh2"), "1<redacted>2");
	ck_assert_str_eq(RED("cdefabcdef"), "cdef<redacted>");
	/* A shorter secret inside a longer one. */
	ck_assert_int_eq(redact_add("bcde"), 0);
	ck_assert_str_eq(RED("xbcdex abcdefx"), "x<redacted>x <redacted>x");
}
END_TEST

START_TEST(test_extra)
{
	redact_clear();
	ck_assert_str_eq(red("/bot123:ABC/sendMessage", "123:ABC", 4096),
	    "/bot<redacted>/sendMessage");
	ck_assert_str_eq(red("nothing here", "123:ABC", 4096), "nothing here");
	ck_assert_str_eq(red("nothing here", NULL, 4096), "nothing here");
}
END_TEST

START_TEST(test_percent_forms)
{
	redact_clear();
	ck_assert_int_eq(redact_add("12:ab/c+d=e f"), 0);
	ck_assert_str_eq(RED("raw 12:ab/c+d=e f."), "raw <redacted>.");
	ck_assert_str_eq(RED("up 12%3Aab%2Fc%2Bd%3De%20f."), "up <redacted>.");
	ck_assert_str_eq(RED("lo 12%3aab%2fc%2bd%3de%20f."), "lo <redacted>.");
	/* A percent-encoded secret is found decoded too. */
	ck_assert_int_eq(redact_add("tok%2Bsecret%21"), 0);
	ck_assert_str_eq(RED("echo tok+secret! and tok%2Bsecret%21"),
	    "echo <redacted> and <redacted>");
}
END_TEST

START_TEST(test_cut_secret)
{
	redact_clear();
	ck_assert_int_eq(redact_add("abcdefghijkl"), 0);
	/* A text that ends inside a secret (a truncated message). */
	ck_assert_str_eq(RED("token abcdefg"), "token <redacted>");
	ck_assert_str_eq(RED("token abcd"), "token <redacted>");
	/* Fewer than REDACT_SHORT bytes of it prove nothing. */
	ck_assert_str_eq(RED("token abc"), "token abc");
	/* Not at the end: just text. */
	ck_assert_str_eq(RED("abcdefg hij"), "abcdefg hij");
	/* Redacting, then cutting, keeps no prefix of the secret. */
	ck_assert_str_eq(red("0123abcdefghijkl", NULL, 8), "0123<re");
}
END_TEST

START_TEST(test_urls_in_text)
{
	redact_clear();
	ck_assert_str_eq(RED("POST https://u:p@host:8443/x/y?token=abc&b=2 "
	    "failed"), "POST https://<redacted>@host:8443/x/y?<redacted> "
	    "failed");
	ck_assert_str_eq(RED("see <http://h/p#access_token=zz> now"),
	    "see <http://h/p#<redacted>> now");
	ck_assert_str_eq(RED("'https://tok@h/' and http://h/?"),
	    "'https://<redacted>@h/' and http://h/?");
	/* An '@' in the path is not user info; a '?' after the URL is
	 * not its query. */
	ck_assert_str_eq(RED("https://h/a@b?q=1 no"),
	    "https://h/a@b?<redacted> no");
	ck_assert_str_eq(RED("https://h/a@b? no"), "https://h/a@b? no");
	ck_assert_str_eq(RED("https://h/a done? yes"), "https://h/a done? yes");
}
END_TEST

START_TEST(test_url_secrets)
{
	redact_clear();
	ck_assert_int_eq(redact_add_url("https://hookuser:hookpass-77c3@"
	    "h.example/hook?v=2&format=json&token=s3cret-Q7w2e9r4#frag-0001"),
	    0);
	/* What a receiver echoes without scheme and host. */
	ck_assert_str_eq(RED("Cannot POST /hook?v=2&format=json&token="
	    "s3cret-Q7w2e9r4"), "Cannot POST /hook?<redacted>");
	ck_assert_str_eq(RED("bad token s3cret-Q7w2e9r4 for hookuser:"
	    "hookpass-77c3"), "bad token <redacted> for <redacted>");
	ck_assert_str_eq(RED("password hookpass-77c3, fragment frag-0001"),
	    "password <redacted>, fragment <redacted>");
	/* Short values and the user name (beside a password) are words. */
	ck_assert_str_eq(RED("version 2 as json for hookuser here"),
	    "version 2 as json for hookuser here");
	/* A token as the user name is one. */
	ck_assert_int_eq(redact_add_url("https://ghp_0123456789@h/"), 0);
	ck_assert_str_eq(RED("user ghp_0123456789 unknown"),
	    "user <redacted> unknown");
	/* Decoded query values too. */
	ck_assert_int_eq(redact_add_url("http://h/?k=a%2Fb%2Bc0123"), 0);
	ck_assert_str_eq(RED("key a/b+c0123"), "key <redacted>");
}
END_TEST

START_TEST(test_utf8_cut)
{
	redact_clear();
	/* "é" is 2 bytes: 3 bytes of room hold one, not half of the next. */
	ck_assert_str_eq(red("\xc3\xa9\xc3\xa9\xc3\xa9", NULL, 4),
	    "\xc3\xa9");
	ck_assert_str_eq(red("\xe2\x82\xac\xe2\x82\xac", NULL, 6),
	    "\xe2\x82\xac");
	ck_assert_str_eq(red("abc", NULL, 1), "");
	ck_assert_str_eq(red("abcdef", NULL, 4), "abc");
	/* A secret of bytes inside a character takes the character. */
	ck_assert_int_eq(redact_add("%A9%C3%A9x"), 0);
	ck_assert_str_eq(red("caf\xc3\xa9\xc3\xa9x!", NULL, 64),
	    "caf<redacted>!");
}
END_TEST

START_TEST(test_long_text)
{
	size_t n = 10000, i;
	char *src = malloc(n + 1), *dst = malloc(n + 64);

	ck_assert_ptr_nonnull(src);
	ck_assert_ptr_nonnull(dst);
	redact_clear();
	ck_assert_int_eq(redact_add("needle-42"), 0);
	for (i = 0; i < n; i++)
		src[i] = 'a' + (char)(i % 26);
	memcpy(src + 9000, "needle-42", 9);
	src[n] = '\0';
	ck_assert_uint_eq(redact_str(dst, n + 64, src, NULL), n + 1);
	ck_assert_ptr_null(strstr(dst, "needle"));
	ck_assert_ptr_nonnull(strstr(dst, REDACT_MARK));
	free(src);
	free(dst);
}
END_TEST

START_TEST(test_config)
{
	struct cfg *c = malloc(sizeof(*c));
	struct cfg_bot *bots = calloc(3, sizeof(*bots));

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(bots);
	cfg_defaults(c);
	ck_assert_int_eq(setenv("T_REDACT_KEY", "sk-redact-0001", 1), 0);
	ck_assert_int_eq(setenv("T_REDACT_TG", "4242:tg-redact", 1), 0);
	ck_assert_int_eq(setenv("T_REDACT_BOTKEY", "sk-bot-key-0003", 1), 0);
	strlcpy(c->llm.api_key_env, "T_REDACT_KEY", sizeof(c->llm.api_key_env));
	c->bots = bots;
	c->nbots = 3;
	strlcpy(bots[0].transport.token_env, "T_REDACT_TG",
	    sizeof(bots[0].transport.token_env));
	bots[1].transport.url = "https://h/hook?token=hook-tok-0001";
	/* a bot's own llm group: its key and its server's query */
	strlcpy(bots[2].llm.api_key_env, "T_REDACT_BOTKEY",
	    sizeof(bots[2].llm.api_key_env));
	bots[2].llm.base_url = "http://127.0.0.1:1/v1?key=llm-q-0004";
	ck_assert_int_eq(redact_config(c), 0);
	ck_assert_str_eq(RED("a sk-redact-0001 b /bot4242:tg-redact/x "
	    "c hook-tok-0001 d 4242%3Atg-redact"),
	    "a <redacted> b /bot<redacted>/x c <redacted> d <redacted>");
	ck_assert_str_eq(RED("e sk-bot-key-0003 f llm-q-0004"),
	    "e <redacted> f <redacted>");
	/* A reload replaces the set. */
	c->nbots = 0;
	strlcpy(c->llm.api_key_env, "", sizeof(c->llm.api_key_env));
	ck_assert_int_eq(redact_config(c), 0);
	ck_assert_str_eq(RED("a sk-redact-0001"), "a sk-redact-0001");
	free(bots);
	free(c);
}
END_TEST

START_TEST(test_cfg_load_registers)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct cfg *c = malloc(sizeof(*c));

	ck_assert_ptr_nonnull(c);
	redact_clear();
	t_tmpdir(dir, sizeof(dir));
	t_path(path, sizeof(path), dir, "dater.conf");
	t_write_file(path, "bots = ( { name = \"b\"; transport = { driver = "
	    "\"webhook\"; url = \"https://h/hook?token=from-the-file-01\"; "
	    "}; } );\n");
	ck_assert_int_eq(cfg_load(c, path, NULL), 0);
	ck_assert_str_eq(RED("Cannot POST /hook?token=from-the-file-01"),
	    "Cannot POST /hook?<redacted>");
	cfg_release(c);
	free(c);
	t_rmtree(dir);
}
END_TEST

Suite *
suite_redact(void)
{
	Suite *s = suite_create("redact");
	TCase *tc;

	tc = t_tcase("secrets");
	tcase_add_test(tc, test_nothing_registered);
	tcase_add_test(tc, test_empty_secret);
	tcase_add_test(tc, test_secret_lengths);
	tcase_add_test(tc, test_overlapping);
	tcase_add_test(tc, test_extra);
	tcase_add_test(tc, test_percent_forms);
	tcase_add_test(tc, test_cut_secret);
	suite_add_tcase(s, tc);
	tc = t_tcase("urls");
	tcase_add_test(tc, test_urls_in_text);
	tcase_add_test(tc, test_url_secrets);
	suite_add_tcase(s, tc);
	tc = t_tcase("bounds");
	tcase_add_test(tc, test_utf8_cut);
	tcase_add_test(tc, test_long_text);
	suite_add_tcase(s, tc);
	tc = t_tcase("config");
	tcase_add_test(tc, test_config);
	tcase_add_test(tc, test_cfg_load_registers);
	suite_add_tcase(s, tc);
	return s;
}
