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

/* Read and check a definitions file. Returns a new reference to the
 * array, or NULL with the error logged ("path: [2].type: ..."). */
json_t *fields_load(const char *path);

/*
 * Check a profile object against the definitions: unknown fields, wrong
 * types and missing required fields are errors naming the field
 * ("profile.age: expected an integer"). Returns 0 or -1 with err set.
 */
int fields_validate(const json_t *defs, const json_t *profile, char *err,
    size_t len);

/* Whether the field called name is visible to the LLM (unknown: no). */
int fields_visible(const json_t *defs, const char *name);

#endif
