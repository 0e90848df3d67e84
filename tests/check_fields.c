/*
 * check_fields: profile field definitions (etc/fields.json and broken
 * ones, with errors naming the file and the JSON path) and profiles
 * checked against them, with errors naming the field.
 */
#include <stdlib.h>
#include <string.h>

#include "check_dater.h"
#include "../lib/fields.h"
#include "../lib/banned.h"

/* Load definitions written to a temp file; NULL expected: the error
 * text must contain want. */
static json_t *
load_text(const char *text, const char *want)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct t_capture cap;
	json_t *defs;
	char *err;

	t_tmpdir(dir, sizeof(dir));
	t_path(path, sizeof(path), dir, "fields.json");
	t_write_file(path, text);
	t_stderr_begin(&cap);
	defs = fields_load(path);
	err = t_stderr_end(&cap);
	if (want != NULL) {
		ck_assert_msg(defs == NULL, "accepted: %s", text);
		ck_assert_msg(strstr(err, path) != NULL, "no file name in '%s'",
		    err);
		ck_assert_msg(strstr(err, want) != NULL, "'%s' not in '%s'",
		    want, err);
	} else {
		ck_assert_msg(defs != NULL, "rejected: %s", err);
		ck_assert_str_eq(err, "");
	}
	free(err);
	t_rmtree(dir);
	return defs;
}

static const char defs_text[] =
    "[{\"name\": \"name\", \"type\": \"string\", \"required\": true},\n"
    " {\"name\": \"age\", \"type\": \"integer\"},\n"
    " {\"name\": \"height_m\", \"type\": \"number\"},\n"
    " {\"name\": \"smoker\", \"type\": \"boolean\"},\n"
    " {\"name\": \"birthday\", \"type\": \"date\"},\n"
    " {\"name\": \"interests\", \"type\": \"list\", \"visible\": true},\n"
    " {\"name\": \"notes\", \"type\": \"string\", \"visible\": false,\n"
    "  \"description\": \"operator only\"}]\n";

START_TEST(shipped_file)
{
	json_t *defs, *p;
	char err[256] = "";

	defs = fields_load("etc/fields.json");
	ck_assert_msg(defs != NULL, "etc/fields.json does not load");
	ck_assert_int_ge(json_array_size(defs), 10);
	/* the fields a dating assistant relies on */
	ck_assert(fields_visible(defs, "name"));
	ck_assert(fields_visible(defs, "city"));
	ck_assert(fields_visible(defs, "interests"));
	ck_assert(fields_visible(defs, "languages"));
	ck_assert(fields_visible(defs, "how_we_met"));
	ck_assert(!fields_visible(defs, "notes"));
	/* nothing is required: a contact from a bare inbound message fits */
	p = json_object();
	ck_assert_int_eq(fields_validate(defs, p, err, sizeof(err)), 0);
	json_decref(p);
	p = json_pack("{s:s, s:i, s:s, s:[s,s], s:s, s:s}", "name", "Maria",
	    "age", 31, "city", "Lisbon", "interests", "surfing", "jazz",
	    "birthday", "1994-06-02", "notes", "met at the conference");
	ck_assert_int_eq(fields_validate(defs, p, err, sizeof(err)), 0);
	json_decref(p);
	json_decref(defs);
}
END_TEST

START_TEST(load_good)
{
	json_t *defs = load_text(defs_text, NULL);

	ck_assert_int_eq(json_array_size(defs), 7);
	ck_assert_int_eq(fields_visible(defs, "name"), 1);	/* default */
	ck_assert_int_eq(fields_visible(defs, "interests"), 1);
	ck_assert_int_eq(fields_visible(defs, "notes"), 0);
	ck_assert_int_eq(fields_visible(defs, "unknown"), 0);
	ck_assert_int_eq(fields_visible(NULL, "anything"), 1);
	json_decref(defs);
	/* an empty list is valid: no profile fields */
	defs = load_text("[]", NULL);
	json_decref(defs);
}
END_TEST

START_TEST(load_broken)
{
	load_text("{\"name\": \"x\"}", "expected an array");
	load_text("[1]", "[0]: expected an object");
	load_text("[{\"name\": \"a\", \"type\": \"string\"},\n"
	    " {\"name\": \"b\", \"type\": \"string\"},\n"
	    " {\"name\": \"c\", \"type\": \"string\"},\n"
	    " {\"name\": \"d\", \"type\": \"x\"}]",
	    "[3].type: unknown type 'x'");
	load_text("[{\"type\": \"string\"}]", "[0].name: expected a string");
	load_text("[{\"name\": \"City\", \"type\": \"string\"}]",
	    "[0].name: 'City' is not a field name");
	load_text("[{\"name\": \"\", \"type\": \"string\"}]",
	    "[0].name: '' is not a field name");
	load_text("[{\"name\": \"a b\", \"type\": \"string\"}]",
	    "[0].name: 'a b' is not a field name");
	load_text("[{\"name\": \"a\", \"type\": \"string\"},"
	    " {\"name\": \"a\", \"type\": \"list\"}]",
	    "[1].name: 'a' is already defined at [0]");
	load_text("[{\"name\": \"a\"}]", "[0].type: expected a string");
	load_text("[{\"name\": \"a\", \"type\": \"string\", \"visible\": 1}]",
	    "[0].visible: expected true or false");
	load_text("[{\"name\": \"a\", \"type\": \"string\", "
	    "\"required\": \"yes\"}]", "[0].required: expected true or false");
	load_text("[{\"name\": \"a\", \"type\": \"string\", "
	    "\"description\": 3}]", "[0].description: expected a string");
	load_text("[{\"name\": \"a\", \"type\": \"string\", \"visble\": true}]",
	    "[0].visble: unknown key");
	/* JSON errors name the line */
	load_text("[\n{\"name\": \"a\",\n \"type\": }]", ":3:");
	load_text("[{\"name\": \"a\", \"name\": \"b\", \"type\": \"string\"}]",
	    "duplicate");
}
END_TEST

START_TEST(load_missing_file)
{
	struct t_capture cap;
	char *err;

	t_stderr_begin(&cap);
	ck_assert_ptr_null(fields_load("/nonexistent/fields.json"));
	err = t_stderr_end(&cap);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/fields.json"));
	free(err);
}
END_TEST

/* Validate a profile (JSON text) against defs; want NULL: valid, else
 * the exact error. */
static void
profile(const json_t *defs, const char *text, const char *want)
{
	char err[256] = "";
	json_error_t je;
	json_t *p;
	int rc;

	p = json_loads(text, 0, &je);
	ck_assert_msg(p != NULL, "bad test JSON '%s': %s", text, je.text);
	rc = fields_validate(defs, p, err, sizeof(err));
	json_decref(p);
	if (want == NULL) {
		ck_assert_msg(rc == 0, "'%s' rejected: %s", text, err);
		return;
	}
	ck_assert_msg(rc == -1, "'%s' accepted", text);
	ck_assert_str_eq(err, want);
}

START_TEST(validate_good)
{
	json_t *defs = load_text(defs_text, NULL);

	profile(defs, "{\"name\": \"Ana\"}", NULL);
	profile(defs, "{\"name\": \"Ana\", \"age\": 30, \"height_m\": 1.68, "
	    "\"smoker\": false, \"birthday\": \"2000-02-29\", "
	    "\"interests\": [\"chess\", \"salsa\"], \"notes\": \"x\"}", NULL);
	/* a number may be written as an integer; null means unset */
	profile(defs, "{\"name\": \"Ana\", \"height_m\": 2, \"age\": null}",
	    NULL);
	profile(defs, "{\"name\": \"Ana\", \"interests\": []}", NULL);
	json_decref(defs);
}
END_TEST

START_TEST(validate_bad)
{
	json_t *defs = load_text(defs_text, NULL);

	profile(defs, "{\"name\": \"Ana\", \"shoe\": 38}",
	    "profile.shoe: unknown field");
	profile(defs, "{\"name\": \"Ana\", \"age\": \"30\"}",
	    "profile.age: expected an integer");
	profile(defs, "{\"name\": \"Ana\", \"age\": 30.5}",
	    "profile.age: expected an integer");
	profile(defs, "{\"name\": \"Ana\", \"height_m\": \"tall\"}",
	    "profile.height_m: expected a number");
	profile(defs, "{\"name\": \"Ana\", \"smoker\": \"no\"}",
	    "profile.smoker: expected true or false");
	profile(defs, "{\"name\": 7}", "profile.name: expected a string");
	profile(defs, "{\"name\": \"Ana\", \"birthday\": 19940602}",
	    "profile.birthday: expected a date (YYYY-MM-DD)");
	profile(defs, "{\"name\": \"Ana\", \"birthday\": \"2023-02-29\"}",
	    "profile.birthday: '2023-02-29' is not a date (YYYY-MM-DD)");
	profile(defs, "{\"name\": \"Ana\", \"birthday\": \"02.06.1994\"}",
	    "profile.birthday: '02.06.1994' is not a date (YYYY-MM-DD)");
	profile(defs, "{\"name\": \"Ana\", \"birthday\": \"1994-13-01\"}",
	    "profile.birthday: '1994-13-01' is not a date (YYYY-MM-DD)");
	profile(defs, "{\"name\": \"Ana\", \"interests\": \"chess\"}",
	    "profile.interests: expected a list of strings");
	profile(defs, "{\"name\": \"Ana\", \"interests\": [\"chess\", 3]}",
	    "profile.interests[1]: expected a string");
	profile(defs, "{\"age\": 30}",
	    "profile.name: required field is missing");
	profile(defs, "{\"name\": null}",
	    "profile.name: required field is missing");
	profile(defs, "[]", "profile: expected an object");
	json_decref(defs);
}
END_TEST

START_TEST(validate_edges)
{
	json_t *defs = load_text(defs_text, NULL), *p;
	char err[8];

	/* no definitions: any object */
	p = json_pack("{s:i}", "whatever", 1);
	ck_assert_int_eq(fields_validate(NULL, p, NULL, 0), 0);
	ck_assert_int_eq(fields_validate(NULL, NULL, NULL, 0), -1);
	json_decref(p);
	/* a short buffer truncates, never overflows */
	p = json_pack("{s:s, s:s}", "name", "Ana", "unknown_field", "x");
	ck_assert_int_eq(fields_validate(defs, p, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "profile");
	json_decref(p);
	json_decref(defs);
}
END_TEST

Suite *
suite_fields(void)
{
	Suite *s = suite_create("fields");
	TCase *tc;

	tc = t_tcase("load");
	tcase_add_test(tc, shipped_file);
	tcase_add_test(tc, load_good);
	tcase_add_test(tc, load_broken);
	tcase_add_test(tc, load_missing_file);
	suite_add_tcase(s, tc);
	tc = t_tcase("validate");
	tcase_add_test(tc, validate_good);
	tcase_add_test(tc, validate_bad);
	tcase_add_test(tc, validate_edges);
	suite_add_tcase(s, tc);
	return s;
}
