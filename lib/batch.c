#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "clock.h"
#include "fields.h"
#include "log.h"
#include "banned.h"

void
batch_init(struct batch *b, const struct job_type *const *types,
    const struct cfg *cfg)
{
	memset(b, 0, sizeof(*b));
	b->types = types;
	b->cfg = cfg;
}

static void
item_release(struct queue_new *q)
{
	free((char *)q->type);
	free((char *)q->queue);
	free((char *)q->payload);
	free((char *)q->unique_key);
	free((char *)q->bot);
	memset(q, 0, sizeof(*q));
}

void
batch_release(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		item_release(&b->items[i]);
	free(b->items);
	b->items = NULL;
	b->n = b->cap = 0;
	json_decref(b->fields);
	b->fields = NULL;
	b->fields_state = 0;
}

/* The profile check of payload for type, reading the definitions on the
 * first job that needs them. */
static int
check_fields(struct batch *b, const struct job_type *type,
    const json_t *payload, char *err, size_t len)
{
	if (type->check_fields == NULL)
		return 0;
	if (b->fields_state == 0) {
		b->fields_state = 1;
		if (b->cfg != NULL && b->cfg->fields[0] != '\0' &&
		    (b->fields = fields_load(b->cfg->fields)) == NULL)
			b->fields_state = -1;
	}
	if (b->fields_state < 0) {
		b->config_error = 1;
		/* fields_load said which file and why */
		snprintf(err, len, "the profile field definitions could not "
		    "be read");
		return -1;
	}
	return job_check_fields(type, b->fields, payload, err, len);
}

/* "at": RFC 3339 / unix seconds; "in": duration. Into *run_at. */
static int
get_when(const char *key, const json_t *v, int64_t now, int64_t *run_at,
    char *err, size_t len)
{
	int64_t ms;
	int is_at = strcmp(key, "at") == 0;

	if (json_is_string(v)) {
		if ((is_at ? clock_parse_time(json_string_value(v), &ms) :
		    clock_parse_duration(json_string_value(v), &ms)) < 0)
			goto bad;
	} else if (json_is_number(v) && json_number_value(v) >= 0 &&
	    json_number_value(v) < 1e11) {
		ms = (int64_t)(json_number_value(v) * 1000);
	} else {
		goto bad;
	}
	*run_at = is_at ? ms : now + ms;
	return 0;
bad:
	snprintf(err, len, is_at ? "at: expected an RFC 3339 time or unix "
	    "seconds" : "in: expected a duration like \"90s\", \"10m\", "
	    "\"2h\", \"1d\" or seconds");
	return -1;
}

static int
get_int(const char *key, const json_t *v, int lo, int hi, int *out,
    char *err, size_t len)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi) {
		snprintf(err, len, "%s: expected an integer %d..%d", key, lo,
		    hi);
		return -1;
	}
	*out = (int)json_integer_value(v);
	return 0;
}

/* Check every field of obj into q (strings borrowed from obj). */
static int
parse_fields(const json_t *obj, int64_t now, struct queue_new *q,
    const json_t **payload, char *err, size_t len)
{
	const char *key;
	const json_t *v;
	int when = 0;

	json_object_foreach((json_t *)obj, key, v) {
		if (strcmp(key, "type") == 0) {
			if (!json_is_string(v)) {
				snprintf(err, len, "type: expected a string");
				return -1;
			}
			q->type = json_string_value(v);
		} else if (strcmp(key, "payload") == 0) {
			*payload = v;
		} else if (strcmp(key, "at") == 0 || strcmp(key, "in") == 0) {
			if (when++) {
				snprintf(err, len, "%s: give \"at\" or \"in\", "
				    "not both", key);
				return -1;
			}
			if (get_when(key, v, now, &q->run_at, err, len) < 0)
				return -1;
		} else if (strcmp(key, "priority") == 0) {
			if (get_int(key, v, 0, 1000, &q->priority, err, len))
				return -1;
		} else if (strcmp(key, "max_attempts") == 0) {
			if (get_int(key, v, 1, 1000, &q->max_attempts, err,
			    len))
				return -1;
		} else if (strcmp(key, "unique") == 0) {
			if (!json_is_string(v) || json_string_length(v) == 0 ||
			    json_string_length(v) > 512) {
				snprintf(err, len, "unique: expected a "
				    "non-empty string (at most 512 bytes)");
				return -1;
			}
			q->unique_key = json_string_value(v);
		} else if (strcmp(key, "queue") == 0) {
			if (!json_is_string(v) ||
			    !cfg_valid_name(json_string_value(v),
			    json_string_length(v))) {
				snprintf(err, len, "queue: expected a name of "
				    "letters, digits, '-', '_', '.'");
				return -1;
			}
			q->queue = json_string_value(v);
		} else {
			snprintf(err, len, "%s: unknown field (known: type, "
			    "payload, at, in, priority, unique, max_attempts, "
			    "queue)", key);
			return -1;
		}
	}
	return 0;
}

static int
grow(struct batch *b)
{
	struct queue_new *n;
	size_t cap;

	if (b->n < b->cap)
		return 0;
	cap = b->cap ? b->cap * 2 : 64;
	if ((n = reallocarray(b->items, cap, sizeof(*n))) == NULL)
		return -1;
	b->items = n;
	b->cap = cap;
	return 0;
}

int
batch_add_json(struct batch *b, const json_t *obj, int64_t now, char *err,
    size_t errlen)
{
	struct queue_new q, *it;
	const struct job_type *type;
	const json_t *payload = NULL, *checked;
	const char *bot;
	json_t *empty = NULL;
	int rc;
	struct cfg_job js;
	char why[QUEUE_ERROR_MAX];

	b->config_error = 0;
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "expected a JSON object");
		return -1;
	}
	queue_new_init(&q);
	if (parse_fields(obj, now, &q, &payload, err, errlen) < 0)
		return -1;
	if (q.type == NULL) {
		snprintf(err, errlen, "type: missing");
		return -1;
	}
	if ((type = job_find(b->types, q.type)) == NULL) {
		snprintf(err, errlen, "type: unknown job type '%s'", q.type);
		return -1;
	}
	if (payload == NULL && (empty = json_object()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	checked = payload != NULL ? payload : empty;
	rc = job_check(type, b->cfg, checked, why, sizeof(why));
	if (rc == 0)
		rc = check_fields(b, type, checked, why, sizeof(why));
	json_decref(empty);
	if (rc < 0) {
		/* payload paths read "payload.x"; a config error stands alone */
		snprintf(err, errlen, "%s%s%s", b->config_error ? "" :
		    "payload", b->config_error || why[0] == '.' ? "" : ": ",
		    why);
		return -1;
	}
	cfg_job_settings(b->cfg, q.type, &js);
	if (grow(b) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	it = &b->items[b->n];
	*it = q;
	it->type = strdup(q.type);
	it->queue = strdup(q.queue != NULL ? q.queue : js.queue);
	it->payload = payload != NULL ? json_dumps(payload, JSON_COMPACT |
	    JSON_ENCODE_ANY) : strdup("{}");
	it->unique_key = q.unique_key != NULL ? strdup(q.unique_key) : NULL;
	/* Jobs about one bot say so, for reports and per-bot metrics. */
	bot = json_string_value(json_object_get(payload, "bot"));
	it->bot = bot != NULL && cfg_valid_name(bot, strlen(bot)) ?
	    strdup(bot) : NULL;
	if (it->priority < 0)
		it->priority = job_priority(type, b->cfg, q.type);
	if (it->max_attempts == 0)
		it->max_attempts = js.max_attempts;
	if (it->type == NULL || it->queue == NULL || it->payload == NULL ||
	    (q.unique_key != NULL && it->unique_key == NULL)) {
		item_release(it);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	b->n++;
	return 0;
}

int
batch_read(struct batch *b, FILE *f, const char *name)
{
	char *line = NULL, err[QUEUE_ERROR_MAX];
	size_t cap = 0, lineno = 0;
	ssize_t len;
	json_error_t jerr;
	json_t *obj;
	int64_t now = clock_now_ms();
	int rc = 0;

	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		obj = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES,
		    &jerr);
		if (obj == NULL) {
			log_err("%s:%zu: bad JSON at column %d: %s", name,
			    lineno, jerr.column, jerr.text);
			rc = -1;
			break;
		}
		rc = batch_add_json(b, obj, now, err, sizeof(err));
		json_decref(obj);
		if (rc < 0) {
			log_err("%s:%zu: %s", name, lineno, err);
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		log_err("%s: read error: %s", name, strerror(errno));
		rc = -1;
	}
	free(line);
	return rc;
}

int
batch_enqueue(struct batch *b, struct db *db, int64_t *ids)
{
	if (queue_add_many(db, b->items, b->n, ids) < 0) {
		log_err("nothing enqueued");
		return -1;
	}
	return 0;
}
