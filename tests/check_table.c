/*
 * check_table: the text renderer of dater-report's views (lib/report/
 * table.c, csv.c): aligned tables fitted to a width, and CSV.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_dater.h"
#include "../lib/log.h"
#include "../lib/report/report.h"
#include "../lib/report/table.h"
#include "../lib/banned.h"

static const struct column cols[] = {
	{ "ID", "id", CELL_NUM, 0, NULL },
	{ "NAME", "name", CELL_TEXT, 0, NULL },
	{ "EXTRA", "extra", CELL_TEXT, -1, NULL },
	{ "NOTE", "note", CELL_TEXT, 0, NULL },
	{ NULL, NULL, 0, 0, NULL }
};

static const char note[] = "the quick brown fox jumps over the lazy dog "
    "and keeps running far beyond the edge of any terminal";

/* The table of rows (a JSON array) fitted to width, as a new string. */
static char *
render(const char *rows, int width)
{
	json_t *r = json_loads(rows, 0, NULL);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(f);
	table_set_width(width);
	ck_assert_int_eq(table_print(f, r, cols, 0), 0);
	table_set_width(0);
	fclose(f);
	json_decref(r);
	return buf;
}

static int
widest(const char *s)
{
	int w = 0, n = 0;

	for (; *s != '\0'; s++) {
		if (*s == '\n') {
			w = n > w ? n : w;
			n = 0;
		} else if (((unsigned char)*s & 0xc0) != 0x80) {
			n++;
		}
	}
	return n > w ? n : w;
}

static char *
rows_with(const char *name, const char *extra)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "[{\"id\": 7, \"name\": \"%s\", "
	    "\"extra\": \"%s\", \"note\": \"%s\"}]", name, extra, note);
	return buf;
}

START_TEST(no_limit_prints_whole)
{
	char *t = render(rows_with("anna", "xyz"), 0);

	ck_assert_ptr_nonnull(strstr(t, "EXTRA"));
	ck_assert_ptr_nonnull(strstr(t, note));
	ck_assert_ptr_nonnull(strstr(t, " 7  anna  xyz    the quick"));
	free(t);
}
END_TEST

START_TEST(fits_hiding_optional_and_wrapping_last)
{
	char *t = render(rows_with("anna", "xyz"), 40), *p, words[512];
	size_t n = 0;
	const char *line;
	int off;

	ck_assert_int_le(widest(t), 40);
	ck_assert_ptr_null(strstr(t, "EXTRA"));
	ck_assert_ptr_null(strstr(t, "xyz"));
	/* The last column folds at blanks: every word is there, in order,
	 * and no line ends in a blank. */
	off = (int)(strstr(t, "NOTE") - t);
	for (line = strchr(t, '\n') + 1; *line != '\0';
	    line = strchr(line, '\n') + 1) {
		p = strchr(line, '\n');
		ck_assert_ptr_nonnull(p);
		ck_assert_int_ne(p[-1], ' ');
		n += (size_t)snprintf(words + n, sizeof(words) - n, "%s%.*s",
		    n > 0 ? " " : "", (int)(p - line - off), line + off);
	}
	ck_assert_str_eq(words, note);
	free(t);
}
END_TEST

START_TEST(cuts_wide_text_columns)
{
	char name[200];
	char *t;

	memset(name, 'n', 150);
	name[150] = '\0';
	t = render(rows_with(name, "xyz"), 60);
	ck_assert_int_le(widest(t), 60);
	ck_assert_ptr_nonnull(strstr(t, "nnn..."));
	free(t);
}
END_TEST

START_TEST(numbers_are_never_cut)
{
	char *t = render("[{\"id\": 123456789012, \"name\": \"a\", "
	    "\"note\": \"b\"}]", 20);

	ck_assert_ptr_nonnull(strstr(t, "123456789012"));
	free(t);
}
END_TEST

/* The table, and what the log says, for rows through
 * table_print_or_none. */
static void
print_or_none(const char *rows, char **table, char **said)
{
	struct t_capture cap;
	json_t *r = json_loads(rows, 0, NULL);
	size_t len = 0;
	FILE *f = open_memstream(table, &len);

	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(f);
	log_set_level(LOG_LEVEL_INFO);
	t_stderr_begin(&cap);
	ck_assert_int_eq(table_print_or_none(f, r, cols, 0, "no rows match"),
	    0);
	*said = t_stderr_end(&cap);
	fclose(f);
	json_decref(r);
}

START_TEST(empty_says_none_once)
{
	char *t, *said;

	print_or_none("[]", &t, &said);
	ck_assert_ptr_nonnull(strstr(t, "ID"));
	ck_assert_ptr_null(strstr(t, "no rows"));
	ck_assert_ptr_nonnull(strstr(said, "no rows match"));
	free(t);
	free(said);
	print_or_none("[{\"id\": 7, \"name\": \"a\", \"note\": \"b\"}]",
	    &t, &said);
	ck_assert_ptr_nonnull(strstr(t, "7"));
	ck_assert_ptr_null(strstr(said, "no rows"));
	free(t);
	free(said);
}
END_TEST

START_TEST(csv_quotes_and_defuses)
{
	static const char *const keys[] = { "a", "b", NULL };
	json_t *r = json_loads("[{\"a\": \"=1+1\", \"b\": \"x,\\\"y\\\"\"},"
	    " {\"a\": 5, \"b\": null}]", 0, NULL);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(r);
	csv_print(f, r, keys);
	fclose(f);
	ck_assert_str_eq(buf, "a,b\r\n\"'=1+1\",\"x,\"\"y\"\"\"\r\n5,\r\n");
	free(buf);
	json_decref(r);
}
END_TEST

Suite *
suite_table(void)
{
	Suite *s = suite_create("table");
	TCase *tc = t_tcase("fit");

	tcase_add_test(tc, no_limit_prints_whole);
	tcase_add_test(tc, fits_hiding_optional_and_wrapping_last);
	tcase_add_test(tc, cuts_wide_text_columns);
	tcase_add_test(tc, numbers_are_never_cut);
	tcase_add_test(tc, empty_says_none_once);
	suite_add_tcase(s, tc);
	tc = t_tcase("csv");
	tcase_add_test(tc, csv_quotes_and_defuses);
	suite_add_tcase(s, tc);
	return s;
}
