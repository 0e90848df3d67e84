/*
 * fields: profile field definitions and the checks of profiles against
 * them. Definitions are checked once, when loaded, so the other
 * functions can trust their shape; absent "visible" means true and
 * absent "required" false.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "fields.h"
#include "log.h"
#include "banned.h"

#define FIELD_NAME_MAX 63

static const char *const types[] = {
	"string", "integer", "number", "boolean", "date", "list", NULL
};

static const char *const keys[] = {
	"name", "type", "visible", "required", "description", NULL
};

static int
valid_field_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > FIELD_NAME_MAX)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* One definition, the i-th; logs "path: [i].key: why" and returns -1. */
static int
check_def(const char *path, const json_t *defs, size_t i)
{
	const json_t *d = json_array_get(defs, i), *v, *o;
	const char *key;
	size_t j;

	if (!json_is_object(d)) {
		log_err("%s: [%zu]: expected an object", path, i);
		return -1;
	}
	json_object_foreach((json_t *)d, key, v) {
		if (!cfg_in_list(keys, key)) {
			log_err("%s: [%zu].%s: unknown key", path, i, key);
			return -1;
		}
	}
	v = json_object_get(d, "name");
	if (!json_is_string(v)) {
		log_err("%s: [%zu].name: expected a string", path, i);
		return -1;
	}
	if (!valid_field_name(json_string_value(v))) {
		log_err("%s: [%zu].name: '%s' is not a field name (1 to %d of "
		    "a-z, 0-9, _)", path, i, json_string_value(v),
		    FIELD_NAME_MAX);
		return -1;
	}
	for (j = 0; j < i; j++) {
		o = json_object_get(json_array_get(defs, j), "name");
		if (json_equal(o, v)) {
			log_err("%s: [%zu].name: '%s' is already defined at "
			    "[%zu]", path, i, json_string_value(v), j);
			return -1;
		}
	}
	v = json_object_get(d, "type");
	if (!json_is_string(v)) {
		log_err("%s: [%zu].type: expected a string", path, i);
		return -1;
	}
	if (!cfg_in_list(types, json_string_value(v))) {
		log_err("%s: [%zu].type: unknown type '%s' (string, integer, "
		    "number, boolean, date, list)", path, i,
		    json_string_value(v));
		return -1;
	}
	if ((v = json_object_get(d, "visible")) != NULL &&
	    !json_is_boolean(v)) {
		log_err("%s: [%zu].visible: expected true or false", path, i);
		return -1;
	}
	if ((v = json_object_get(d, "required")) != NULL &&
	    !json_is_boolean(v)) {
		log_err("%s: [%zu].required: expected true or false", path, i);
		return -1;
	}
	if ((v = json_object_get(d, "description")) != NULL &&
	    !json_is_string(v)) {
		log_err("%s: [%zu].description: expected a string", path, i);
		return -1;
	}
	return 0;
}

json_t *
fields_load(const char *path)
{
	json_error_t e;
	json_t *defs;
	size_t i;

	defs = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	if (defs == NULL) {
		if (e.line > 0)
			log_err("%s:%d:%d: %s", path, e.line, e.column, e.text);
		else
			log_err("%s: %s", path, e.text);
		return NULL;
	}
	if (!json_is_array(defs)) {
		log_err("%s: expected an array of field definitions", path);
		json_decref(defs);
		return NULL;
	}
	for (i = 0; i < json_array_size(defs); i++) {
		if (check_def(path, defs, i) == -1) {
			json_decref(defs);
			return NULL;
		}
	}
	return defs;
}

/* The definition named name, or NULL (borrowed). */
static const json_t *
find_def(const json_t *defs, const char *name)
{
	const json_t *d;
	size_t i;

	json_array_foreach(defs, i, d) {
		if (strcmp(json_string_value(json_object_get(d, "name")),
		    name) == 0)
			return d;
	}
	return NULL;
}

static int
flag(const json_t *def, const char *key, int dflt)
{
	const json_t *v = json_object_get(def, key);

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

int
fields_visible(const json_t *defs, const char *name)
{
	const json_t *d;

	if (defs == NULL)
		return 1;
	if (name == NULL || (d = find_def(defs, name)) == NULL)
		return 0;
	return flag(d, "visible", 1);
}

static int bad(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static int
bad(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Whether s is a real calendar date written YYYY-MM-DD. */
static int
valid_date(const char *s)
{
	static const int mdays[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	int i, y, m, d, leap;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	    (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (m < 1 || m > 12 || d < 1)
		return 0;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return d <= mdays[m - 1] + (m == 2 && leap);
}

/* One value against its definition's type. */
static int
check_value(const json_t *def, const char *key, const json_t *v, char *err,
    size_t len)
{
	const char *type = json_string_value(json_object_get(def, "type"));
	const json_t *e;
	size_t i;

	if (strcmp(type, "string") == 0 && !json_is_string(v))
		return bad(err, len, "profile.%s: expected a string", key);
	if (strcmp(type, "integer") == 0 && !json_is_integer(v))
		return bad(err, len, "profile.%s: expected an integer", key);
	if (strcmp(type, "number") == 0 && !json_is_number(v))
		return bad(err, len, "profile.%s: expected a number", key);
	if (strcmp(type, "boolean") == 0 && !json_is_boolean(v))
		return bad(err, len, "profile.%s: expected true or false", key);
	if (strcmp(type, "date") == 0) {
		if (!json_is_string(v))
			return bad(err, len, "profile.%s: expected a date "
			    "(YYYY-MM-DD)", key);
		if (!valid_date(json_string_value(v)))
			return bad(err, len, "profile.%s: '%s' is not a date "
			    "(YYYY-MM-DD)", key, json_string_value(v));
	}
	if (strcmp(type, "list") == 0) {
		if (!json_is_array(v))
			return bad(err, len, "profile.%s: expected a list of "
			    "strings", key);
		json_array_foreach(v, i, e) {
			if (!json_is_string(e))
				return bad(err, len, "profile.%s[%zu]: "
				    "expected a string", key, i);
		}
	}
	return 0;
}

int
fields_validate(const json_t *defs, const json_t *profile, char *err,
    size_t len)
{
	const json_t *v, *d;
	const char *key;
	size_t i;

	if (!json_is_object(profile))
		return bad(err, len, "profile: expected an object");
	if (defs == NULL)
		return 0;
	json_object_foreach((json_t *)profile, key, v) {
		if ((d = find_def(defs, key)) == NULL)
			return bad(err, len, "profile.%s: unknown field", key);
		if (!json_is_null(v) && check_value(d, key, v, err, len) == -1)
			return -1;
	}
	json_array_foreach(defs, i, d) {
		key = json_string_value(json_object_get(d, "name"));
		v = json_object_get(profile, key);
		if (flag(d, "required", 0) && (v == NULL || json_is_null(v)))
			return bad(err, len, "profile.%s: required field is "
			    "missing", key);
	}
	return 0;
}
