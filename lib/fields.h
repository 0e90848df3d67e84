/*
 * fields: the contact profile's fields, defined in etc/fields.json:
 *
 *   [{"name": "city", "type": "string", "visible": true,
 *     "required": false, "description": "where they live"}, ...]
 *
 * type is one of "string", "integer", "number", "boolean", "date"
 * (YYYY-MM-DD), "list" (array of strings). `visible` fields are shown to
 * the LLM; the others are kept for the operator only.
 */
#ifndef DATER_FIELDS_H
#define DATER_FIELDS_H

#include <jansson.h>
#include <stddef.h>

/* Read and check a definitions file: an array of objects with a unique
 * name ([a-z0-9_], 1 to 63), a known type, and optional visible
 * (default true), required (default false) and description; no other
 * keys. Returns a new reference to the array, or NULL with the error
 * logged ("path: [2].type: ...", "path:3:9: <JSON syntax error>"). */
json_t *fields_load(const char *path);

/*
 * Check a profile object against the definitions (as fields_load
 * returns them): unknown fields, wrong types and missing required
 * fields are errors naming the field ("profile.age: expected an
 * integer", "profile.interests[1]: expected a string"). A null value is
 * an unset field. defs NULL accepts any object. Returns 0, or -1 with
 * the first error in err (may be NULL; truncated to len). Logs nothing.
 */
int fields_validate(const json_t *defs, const json_t *profile, char *err,
    size_t len);

/* Whether the field called name is visible to the LLM (unknown: no;
 * defs NULL: yes, as in prompt_in). */
int fields_visible(const json_t *defs, const char *name);

#endif
