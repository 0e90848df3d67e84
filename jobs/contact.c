/*
 * contact: create or update a contact from a pipeline.
 * {"bot", "platform_id", "handle", "name", "profile": {...}, "consent",
 *  "timezone"}
 *
 * The profile is checked against the field definitions (etc/fields.json)
 * when the job is enqueued and again when it runs (the file may change in
 * between): an unknown field or a wrong type is refused, naming the
 * field. The time zone must be one the system knows (clock_zone_known).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "jobs.h"
#include "../lib/clock.h"
#include "../lib/fields.h"
#include "../lib/banned.h"

/* The payload's keys (job_check refuses others). */
static const char *const contact_keys[] = {
	"bot", "platform_id", "handle", "name", "profile", "consent",
	"timezone", NULL
};

static int
contact_check(const struct cfg *cfg, const json_t *p, char *err, size_t len)
{
	const json_t *v;

	if (conv_check_bot(cfg, p, err, len) < 0 ||
	    conv_check_string(p, "platform_id", 1, err, len) < 0 ||
	    conv_check_string(p, "handle", 0, err, len) < 0 ||
	    conv_check_string(p, "name", 0, err, len) < 0 ||
	    conv_check_string(p, "timezone", 0, err, len) < 0)
		return -1;
	v = json_object_get(p, "timezone");
	if (v != NULL && !clock_zone_known(json_string_value(v))) {
		snprintf(err, len, ".timezone: unknown time zone '%s' (not in "
		    "the system's zoneinfo; an IANA name such as "
		    "\"Europe/Berlin\", or \"UTC\")", json_string_value(v));
		return -1;
	}
	v = json_object_get(p, "profile");
	if (v != NULL && !json_is_object(v)) {
		snprintf(err, len, ".profile: expected an object");
		return -1;
	}
	v = json_object_get(p, "consent");
	if (v != NULL && !json_is_boolean(v)) {
		snprintf(err, len, ".consent: expected true or false");
		return -1;
	}
	return 0;
}

static int
contact_check_fields(const json_t *defs, const json_t *p, char *err,
    size_t len)
{
	const json_t *profile = json_object_get(p, "profile");
	char why[256];

	if (profile == NULL || fields_validate(defs, profile, why,
	    sizeof(why)) == 0)
		return 0;
	snprintf(err, len, ".%s", why);
	return -1;
}

static enum job_result
contact_run(struct job_ctx *ctx, struct job_outcome *out)
{
	struct store_contact_in in;
	const json_t *p = ctx->payload, *profile, *consent;
	json_t *defs = NULL;
	char pid[32], err[256], *ptext = NULL;
	int64_t id;
	enum job_result r = JOB_OK;

	memset(&in, 0, sizeof(in));
	in.bot = json_string_value(json_object_get(p, "bot"));
	if (in.bot == NULL)
		return job_fail(out, "payload needs bot");
	if (cfg_bot(ctx->cfg, in.bot) == NULL)
		return conv_no_bot(out, in.bot);
	in.platform_id = conv_text_id(p, "platform_id", pid, sizeof(pid));
	in.handle = json_string_value(json_object_get(p, "handle"));
	in.name = json_string_value(json_object_get(p, "name"));
	in.timezone = json_string_value(json_object_get(p, "timezone"));
	consent = json_object_get(p, "consent");
	in.consent = consent == NULL ? -1 : json_is_true(consent);
	profile = json_object_get(p, "profile");
	if (profile != NULL && ctx->cfg->fields[0] != '\0') {
		if ((defs = fields_load(ctx->cfg->fields)) == NULL)
			return job_fail(out, "profile fields '%s' could not be "
			    "read", ctx->cfg->fields);
		if (fields_validate(defs, profile, err, sizeof(err)) < 0) {
			json_decref(defs);
			return job_fail(out, "%s", err);
		}
		json_decref(defs);
	}
	if (profile != NULL) {
		ptext = json_dumps(profile, JSON_COMPACT | JSON_SORT_KEYS);
		in.profile = ptext;
	}
	if (store_contact_upsert(ctx->db, &in, &id, NULL) < 0)
		r = job_retry(out, 0, "database error storing the contact");
	free(ptext);
	return r;
}

const struct job_type job_contact = {
	.name = "contact",
	.summary = "create or update a contact; {\"bot\", \"platform_id\", "
	    "\"name\", \"profile\", \"consent\", \"timezone\"}",
	.keys = contact_keys,
	.check = contact_check,
	.check_fields = contact_check_fields,
	.run = contact_run,
};
