/*
 * legacy: see legacy.h. Each file is parsed and checked into plain
 * structs (or kept as its jansson tree) first and only then written, so
 * a bad file writes nothing; the whole run is one transaction, which a
 * dry run or a strict run with a bad file rolls back. The SQL the store
 * module has no function for (a contact compared before it is written,
 * a message with its own times, a metrics row set rather than added to)
 * lives here behind legacy_ functions.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "fields.h"
#include "legacy.h"
#include "log.h"
#include "maint.h"
#include "store.h"
#include "banned.h"

#define ERR_MAX 512
#define JPATH_MAX 256
#define MS_THRESHOLD 100000000000LL	/* larger epoch numbers are ms */

/* JSON paths: "" is the root; "key", "[2]", "[2].key". */
static void
jkey(char *out, size_t len, const char *path, const char *key)
{
	/* a path cut short still names the place well enough */
	if (snprintf(out, len, "%s%s%s", path, *path != '\0' ? "." : "",
	    key) >= (int)len)
		out[len - 1] = '\0';
}

static void
jidx(char *out, size_t len, const char *path, size_t i)
{
	if (snprintf(out, len, "%s[%zu]", path, i) >= (int)len)
		out[len - 1] = '\0';
}

/* "path: " or "" at the root. */
#define JP(p) (p), (*(p) != '\0' ? ": " : "")

/* The first of keys present in obj, its name in *which. */
static json_t *
first_of(const json_t *obj, const char *const *keys, const char **which)
{
	json_t *v;

	for (; *keys != NULL; keys++) {
		if ((v = json_object_get(obj, *keys)) != NULL &&
		    !json_is_null(v)) {
			*which = *keys;
			return v;
		}
	}
	return NULL;
}

/* An id: a non-empty string or an integer, as text. */
static int
id_text(const json_t *v, const char *path, char *out, size_t len, char *err,
    size_t errlen)
{
	int n;

	if (json_is_integer(v))
		n = snprintf(out, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_string(v) && json_string_length(v) > 0 &&
	    strlen(json_string_value(v)) == json_string_length(v))
		n = snprintf(out, len, "%s", json_string_value(v));
	else
		return log_errf(err, errlen, "%s: expected a non-empty string or "
		    "an integer", path);
	if (n < 0 || (size_t)n >= len)
		return log_errf(err, errlen, "%s: longer than %zu bytes", path,
		    len - 1);
	return 0;
}

/* ---- files ------------------------------------------------------------- */

static int
json_file_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 &&
	    strcmp(d->d_name + n - 5, ".json") == 0;
}

/* The *.json names in DIR/sub, sorted; *n 0 when the folder is missing. */
static int
list_json(const char *dir, const char *sub, struct dirent ***names, int *n)
{
	char path[PATH_MAX];

	*names = NULL;
	*n = 0;
	if (snprintf(path, sizeof(path), "%s/%s", dir, sub) >=
	    (int)sizeof(path)) {
		log_err("'%s/%s': path too long", dir, sub);
		return -1;
	}
	if ((*n = scandir(path, names, json_file_filter, alphasort)) < 0) {
		*n = 0;
		*names = NULL;
		if (errno == ENOENT)
			return 0;
		log_err("read '%s': %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void
free_names(struct dirent **names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Load DIR/rel as JSON (duplicate keys are an error). NULL + err. */
static json_t *
load_json(const char *dir, const char *rel, char *err, size_t len)
{
	char path[PATH_MAX];
	json_error_t je;
	json_t *j;

	if (snprintf(path, sizeof(path), "%s/%s", dir, rel) >=
	    (int)sizeof(path)) {
		log_errf(err, len, "path too long");
		return NULL;
	}
	if ((j = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		if (je.line > 0)
			log_errf(err, len, "line %d column %d: %s", je.line,
			    je.column, je.text);
		else
			log_errf(err, len, "%s", je.text);
	}
	return j;
}

/* ---- the import's state -------------------------------------------------- */

struct run {
	struct db *db;
	const struct legacy_opts *o;
	struct legacy_report *r;
	json_t *legacy_defs;	/* DIR/fields.json, or NULL */
	json_t *seen;		/* "bot/platform_id" -> file that defined it */
	int done, total;
};

/* Before logging: let a progress bar get out of the way. */
static void
progress_clear(const struct legacy_opts *o)
{
	if (o->progress != NULL)
		o->progress(o->progress_arg, -1, 0);
}

static void
bad_file(struct run *run, const char *rel, const char *why)
{
	progress_clear(run->o);
	log_err("%s: %s", rel, why);
	run->r->bad++;
}

static void
file_done(struct run *run)
{
	run->done++;
	run->r->files++;
	if (run->o->progress != NULL)
		run->o->progress(run->o->progress_arg, run->done, run->total);
}

/* ---- fields.json --------------------------------------------------------- */

/* Warn about legacy fields the configured definitions lack or type
 * differently: profiles using them will be refused. */
static void
compare_defs(const json_t *legacy, const json_t *conf)
{
	const json_t *d, *c = NULL;
	size_t i, j;
	const char *name, *type;

	if (conf == NULL)
		return;
	json_array_foreach(legacy, i, d) {
		name = json_string_value(json_object_get(d, "name"));
		type = json_string_value(json_object_get(d, "type"));
		json_array_foreach(conf, j, c) {
			if (strcmp(name, json_string_value(json_object_get(c,
			    "name"))) == 0)
				break;
		}
		if (j == json_array_size(conf))
			log_warn("fields.json: field '%s' is not in the "
			    "configured fields: profiles that use it are "
			    "refused until it is added there", name);
		else if (strcmp(type, json_string_value(json_object_get(c,
		    "type"))) != 0)
			log_warn("fields.json: field '%s' is a %s here and a "
			    "%s in the configured fields", name, type,
			    json_string_value(json_object_get(c, "type")));
	}
}

static void
import_fields(struct run *run)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/fields.json", run->o->dir);
	if (access(path, F_OK) < 0)
		return;
	/* fields_load names the file and the place itself */
	progress_clear(run->o);
	if ((run->legacy_defs = fields_load(path)) == NULL)
		run->r->bad++;
	else
		compare_defs(run->legacy_defs, run->o->defs);
	file_done(run);
}

/* ---- contacts ------------------------------------------------------------ */

struct contact_rec {
	char bot[STORE_ID_MAX];
	char platform_id[STORE_ID_MAX];
	char handle[STORE_ID_MAX];	/* "" = none */
	char name[128];			/* "" = none */
	char timezone[64];		/* "" = none */
	int consent;			/* -1: not given */
	char *profile;			/* owned, compact with sorted keys */
};

static const char *const k_bot[] = { "bot", NULL };
static const char *const k_pid[] = {
	"platform_id", "telegram_id", "user_id", "id", NULL
};
static const char *const k_handle[] = { "username", "handle", NULL };
static const char *const k_name[] = { "name", "display_name", NULL };
static const char *const k_tz[] = { "timezone", "tz", NULL };
static const char *const k_consent[] = { "consent", NULL };

/* Copy the string under one of keys into out ("" if absent). */
static int
opt_string(const json_t *obj, const char *const *keys, const char *path,
    char *out, size_t len, char *err, size_t errlen)
{
	const char *which;
	char jp[JPATH_MAX];
	json_t *v = first_of(obj, keys, &which);

	*out = '\0';
	if (v == NULL)
		return 0;
	jkey(jp, sizeof(jp), path, which);
	if (!json_is_string(v))
		return log_errf(err, errlen, "%s: expected a string", jp);
	if (strlcpy(out, json_string_value(v), len) >= len)
		return log_errf(err, errlen, "%s: longer than %zu bytes", jp,
		    len - 1);
	return 0;
}

/*
 * A bot name read from a file, at JSON path jp: the form a configured
 * bot's name has (cfg_valid_name), so it is never cut short (two bots
 * would merge) and never odd text.
 */
static int
check_bot(const char *name, const char *jp, char *err, size_t len)
{
	if (cfg_valid_name(name, strlen(name)))
		return 0;
	/* the name itself stays out: it may hold anything */
	return log_errf(err, len, "%s%snot a bot name (%zu bytes; 1 to %d "
	    "letters, digits, '-', '_' or '.')", JP(jp), strlen(name),
	    CFG_NAME_MAX - 1);
}

/* The bot under "bot" in obj into out, checked; "" when absent. */
static int
opt_bot(const json_t *obj, const char *path, char *out, size_t len,
    char *err, size_t errlen)
{
	char jp[JPATH_MAX];

	if (opt_string(obj, k_bot, path, out, len, err, errlen) < 0)
		return -1;
	jkey(jp, sizeof(jp), path, "bot");
	return out[0] == '\0' ? 0 : check_bot(out, jp, err, errlen);
}

/* Check a profile against definitions; err gets "path.field: why". */
static int
check_profile(const json_t *defs, const json_t *profile, const char *path,
    const char *what, char *err, size_t len)
{
	char e[ERR_MAX];
	const char *rest;

	if (defs == NULL || fields_validate(defs, profile, e, sizeof(e)) == 0)
		return 0;
	/* "profile.age: ..." -> "[2].age: ..." */
	rest = strncmp(e, "profile", 7) == 0 ? e + 7 : e;
	if (*path == '\0' && *rest == '.')
		rest++;
	return log_errf(err, len, "%s%s (%s)", path, rest, what);
}

static int
parse_contact_ids(struct contact_rec *c, const json_t *obj, const char *path,
    const char *bot, char *err, size_t len)
{
	char jp[JPATH_MAX];
	const char *which;
	json_t *v;

	if (opt_bot(obj, path, c->bot, sizeof(c->bot), err, len) < 0)
		return -1;
	if (c->bot[0] == '\0')
		strlcpy(c->bot, bot, sizeof(c->bot));
	if ((v = first_of(obj, k_pid, &which)) == NULL)
		return log_errf(err, len, "%s%sno id (one of platform_id, "
		    "telegram_id, user_id, id)", JP(path));
	jkey(jp, sizeof(jp), path, which);
	if (id_text(v, jp, c->platform_id, sizeof(c->platform_id), err,
	    len) < 0)
		return -1;
	if (opt_string(obj, k_handle, path, c->handle, sizeof(c->handle),
	    err, len) < 0)
		return -1;
	if (c->handle[0] == '@')
		memmove(c->handle, c->handle + 1, strlen(c->handle));
	return 0;
}

/* One profile object into c (profile owned by c on success). */
static int
parse_contact(struct run *run, const json_t *obj, const char *path,
    struct contact_rec *c, char *err, size_t len)
{
	static const char *const *mapped[] = {
		k_bot, k_pid, k_handle, k_name, k_tz, k_consent, NULL
	};
	char jp[JPATH_MAX];
	const char *key, *which;
	json_t *profile, *v;
	int i, rc = -1;

	memset(c, 0, sizeof(*c));
	c->consent = -1;
	if (!json_is_object(obj))
		return log_errf(err, len, "%s%sexpected an object", JP(path));
	if (parse_contact_ids(c, obj, path, run->o->bot, err, len) < 0 ||
	    opt_string(obj, k_name, path, c->name, sizeof(c->name), err,
	    len) < 0 ||
	    opt_string(obj, k_tz, path, c->timezone, sizeof(c->timezone), err,
	    len) < 0)
		return -1;
	if ((v = first_of(obj, k_consent, &which)) != NULL) {
		jkey(jp, sizeof(jp), path, which);
		if (!json_is_boolean(v))
			return log_errf(err, len, "%s: expected true or false", jp);
		c->consent = json_is_true(v);
	}
	if ((profile = json_object()) == NULL)
		return log_errf(err, len, "out of memory");
	json_object_foreach((json_t *)obj, key, v) {
		for (i = 0; mapped[i] != NULL; i++)
			if (cfg_in_list(mapped[i], key))
				break;
		if (mapped[i] == NULL && json_object_set(profile, key, v) < 0) {
			log_errf(err, len, "out of memory");
			goto out;
		}
	}
	if (check_profile(run->legacy_defs, profile, path, "fields.json", err,
	    len) < 0 || check_profile(run->o->defs, profile, path,
	    "the configured fields", err, len) < 0)
		goto out;
	if ((c->profile = json_dumps(profile, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_ENSURE_ASCII)) == NULL) {
		log_errf(err, len, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(profile);
	return rc;
}

static void
free_contacts(struct contact_rec *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(c[i].profile);
	free(c);
}

/* Parse a girls_data file into *out[0..*n); duplicate ids (within the
 * file or with an earlier file) are errors. */
static int
parse_contacts(struct run *run, const json_t *j, const char *rel,
    struct contact_rec **out, size_t *n, char *err, size_t len)
{
	struct contact_rec *c;
	char jp[JPATH_MAX], key[2 * STORE_ID_MAX + 2];
	size_t i, k, cnt = json_is_array(j) ? json_array_size(j) : 1;
	const json_t *prev;

	if (!json_is_array(j) && !json_is_object(j))
		return log_errf(err, len, "expected a profile object or an "
		    "array of them");
	if ((c = calloc(cnt > 0 ? cnt : 1, sizeof(*c))) == NULL)
		return log_errf(err, len, "out of memory");
	for (i = 0; i < cnt; i++) {
		if (json_is_array(j))
			jidx(jp, sizeof(jp), "", i);
		else
			jp[0] = '\0';
		if (parse_contact(run, json_is_array(j) ?
		    json_array_get(j, i) : j, jp, &c[i], err, len) < 0)
			goto fail;
		for (k = 0; k < i; k++) {
			if (strcmp(c[k].bot, c[i].bot) == 0 &&
			    strcmp(c[k].platform_id, c[i].platform_id) == 0) {
				log_errf(err, len, "%s%sduplicate id '%s' (also "
				    "at [%zu])", JP(jp), c[i].platform_id, k);
				goto fail;
			}
		}
		snprintf(key, sizeof(key), "%s/%s", c[i].bot, c[i].platform_id);
		if ((prev = json_object_get(run->seen, key)) != NULL) {
			log_errf(err, len, "%s%sduplicate id '%s' (also in %s)",
			    JP(jp), c[i].platform_id, json_string_value(prev));
			goto fail;
		}
	}
	*out = c;
	*n = cnt;
	return 0;
fail:
	free_contacts(c, i + 1);
	return -1;
}

/* Column by column, in SQL both backends speak (PostgreSQL has no
 * "a IS b" for values): an optional value (?3, ?4, ?6; never "", see
 * bind_nz) that is given must equal the column, which NULL never does. */
static const char sql_contact_same[] =
    "SELECT id, (?3 IS NULL OR coalesce(handle, '') = ?3)"
    " AND (?4 IS NULL OR coalesce(name, '') = ?4)"
    " AND profile = ?5 AND (?6 IS NULL OR coalesce(timezone, '') = ?6)"
    " AND (?7 < 0 OR consent = ?7)"
    " FROM contacts WHERE bot = ?1 AND platform_id = ?2";

static const char *
nz(const char *s)
{
	return *s != '\0' ? s : NULL;
}

static void
bind_nz(struct dbst *st, int i, const char *s)
{
	if (*s != '\0')
		db_bind_text(st, i, s);
	else
		db_bind_null(st, i);
}

/* Whether the contact exists (1) and already holds what c says (*same). */
static int
legacy_contact_same(struct db *db, const struct contact_rec *c, int *same)
{
	struct dbst *st = db_stmt(db, sql_contact_same);
	int rc;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, c->bot);
	db_bind_text(st, 2, c->platform_id);
	bind_nz(st, 3, c->handle);
	bind_nz(st, 4, c->name);
	db_bind_text(st, 5, c->profile);
	bind_nz(st, 6, c->timezone);
	db_bind_int(st, 7, c->consent);
	rc = db_step(st);
	*same = rc == DB_ROW && db_col_int(st, 1);
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read contact from");
	return rc == DB_ROW;
}

static int legacy_contact_hold(struct db *, int64_t);

static int
write_contacts(struct run *run, const struct contact_rec *c, size_t n,
    const char *rel)
{
	struct store_contact_in in;
	char key[2 * STORE_ID_MAX + 2];
	int64_t id;
	int exists, same;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((exists = legacy_contact_same(run->db, &c[i], &same)) < 0)
			return -1;
		snprintf(key, sizeof(key), "%s/%s", c[i].bot, c[i].platform_id);
		if (json_object_set_new(run->seen, key, json_string(rel)) < 0) {
			log_err("out of memory");
			return -1;
		}
		if (exists && same) {
			run->r->contacts.skipped++;
			continue;
		}
		memset(&in, 0, sizeof(in));
		in.bot = c[i].bot;
		in.platform_id = c[i].platform_id;
		in.handle = nz(c[i].handle);
		in.name = nz(c[i].name);
		in.profile = c[i].profile;
		in.timezone = nz(c[i].timezone);
		in.consent = c[i].consent;
		if (store_contact_upsert(run->db, &in, &id, NULL) < 0)
			return -1;
		/* never nudged until the person writes again */
		if (!exists && legacy_contact_hold(run->db, id) < 0)
			return -1;
		if (exists)
			run->r->contacts.updated++;
		else
			run->r->contacts.imported++;
	}
	return 0;
}

static int
import_contact_file(struct run *run, const char *rel)
{
	struct contact_rec *c = NULL;
	char err[ERR_MAX];
	json_t *j;
	size_t n = 0;
	int rc = 0;

	if ((j = load_json(run->o->dir, rel, err, sizeof(err))) == NULL ||
	    parse_contacts(run, j, rel, &c, &n, err, sizeof(err)) < 0)
		bad_file(run, rel, err);
	else
		rc = write_contacts(run, c, n, rel);
	free_contacts(c, n);
	json_decref(j);
	file_done(run);
	return rc;
}

/* ---- conversations ------------------------------------------------------- */

struct msg_rec {
	int inbound;
	const char *text;	/* borrowed from the file's JSON */
	int64_t at;
	char key[STORE_ID_MAX];	/* platform_msg_id */
};

static const char *const k_text[] = { "text", "content", "message", NULL };
static const char *const k_time[] = {
	"timestamp", "time", "date", "ts", "created_at", "sent_at", NULL
};
static const char *const in_words[] = { "user", "her", "contact", "in", NULL };
static const char *const out_words[] = {
	"assistant", "me", "bot", "out", NULL
};

/* Epoch seconds or, from MS_THRESHOLD on, milliseconds. */
static int
epoch_ms(double v, int64_t *ms)
{
	if (v < 0 || v > 1e15)
		return -1;
	*ms = v >= (double)MS_THRESHOLD ? (int64_t)v : (int64_t)(v * 1000);
	return 0;
}

/* A time without an offset (Python's naive isoformat()) is UTC. */
static int
naive_time(const char *s, int64_t *ms)
{
	char buf[64];

	if (snprintf(buf, sizeof(buf), "%sZ", s) >= (int)sizeof(buf))
		return -1;
	return clock_parse_time(buf, ms);
}

static int
parse_time(const json_t *v, const char *jp, int64_t *ms, char *err,
    size_t len)
{
	const char *s;
	char *end;
	double d;

	if (json_is_number(v)) {
		if (epoch_ms(json_number_value(v), ms) < 0)
			return log_errf(err, len, "%s: not a time", jp);
		return 0;
	}
	if (!json_is_string(v))
		return log_errf(err, len, "%s: expected an RFC 3339 time or epoch "
		    "seconds or milliseconds", jp);
	s = json_string_value(v);
	if (*s >= '0' && *s <= '9' && strchr(s, '-') == NULL) {
		errno = 0;
		d = strtod(s, &end);
		if (errno == 0 && *end == '\0' && epoch_ms(d, ms) == 0)
			return 0;
	} else if (clock_parse_time(s, ms) == 0 || naive_time(s, ms) == 0)
		return 0;
	return log_errf(err, len, "%s: '%s' is not an RFC 3339 time or epoch "
	    "seconds or milliseconds", jp, s);
}

/* Direction from role or from; *skip for a system message. */
static int
parse_direction(const json_t *m, const char *path, int *inbound, int *skip,
    char *err, size_t len)
{
	static const char *const k_dir[] = { "role", "from", "direction",
	    NULL };
	char jp[JPATH_MAX];
	const char *which, *s;
	json_t *v;

	*skip = 0;
	if ((v = first_of(m, k_dir, &which)) == NULL)
		return log_errf(err, len, "%s: no sender (role or from)", path);
	jkey(jp, sizeof(jp), path, which);
	if (!json_is_string(v))
		return log_errf(err, len, "%s: expected a string", jp);
	s = json_string_value(v);
	if (cfg_in_list(in_words, s))
		*inbound = 1;
	else if (cfg_in_list(out_words, s))
		*inbound = 0;
	else if (strcmp(s, "system") == 0)
		*skip = 1;
	else
		return log_errf(err, len, "%s: '%s' is not one of user, assistant, "
		    "system, me, her, contact, bot", jp, s);
	return 0;
}

/* FNV-1a, 64 bits: stable across runs and machines. */
static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n-- > 0) {
		h ^= *b++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* m->key: from the message's id, or a hash; keys is the file's set. */
static int
message_key(struct msg_rec *m, const json_t *obj, const char *path,
    json_t *keys, char *err, size_t len)
{
	char jp[JPATH_MAX], id[STORE_ID_MAX - 8];
	const json_t *v, *prev;
	uint64_t h;
	int i;

	if ((v = json_object_get(obj, "id")) != NULL && !json_is_null(v)) {
		jkey(jp, sizeof(jp), path, "id");
		if (id_text(v, jp, id, sizeof(id), err, len) < 0)
			return -1;
		snprintf(m->key, sizeof(m->key), "legacy:%s", id);
		if ((prev = json_object_get(keys, m->key)) != NULL)
			return log_errf(err, len, "%s: duplicate id '%s' (also at "
			    "%s)", jp, id, json_string_value(prev));
	} else {
		h = fnv(0xcbf29ce484222325ULL, m->inbound ? "in" : "out", 3);
		h = fnv(h, &m->at, sizeof(m->at));
		h = fnv(h, m->text, strlen(m->text));
		/* the same message twice at the same time: a second key */
		for (i = 0;; i++) {
			snprintf(m->key, sizeof(m->key), i == 0 ? "legacy:h%016llx"
			    : "legacy:h%016llx-%d", (unsigned long long)h, i);
			if (json_object_get(keys, m->key) == NULL)
				break;
		}
	}
	return json_object_set_new(keys, m->key, json_string(path)) < 0 ?
	    log_errf(err, len, "out of memory") : 0;
}

static int
parse_message(const json_t *obj, const char *path, struct msg_rec *m,
    int *skip, json_t *keys, char *err, size_t len)
{
	char jp[JPATH_MAX];
	const char *which;
	json_t *v;

	if (!json_is_object(obj))
		return log_errf(err, len, "%s: expected an object", path);
	if (parse_direction(obj, path, &m->inbound, skip, err, len) < 0)
		return -1;
	if ((v = first_of(obj, k_text, &which)) == NULL)
		return log_errf(err, len, "%s: no text (text, content or message)",
		    path);
	jkey(jp, sizeof(jp), path, which);
	if (!json_is_string(v))
		return log_errf(err, len, "%s: expected a string", jp);
	m->text = json_string_value(v);
	if ((v = first_of(obj, k_time, &which)) == NULL)
		return log_errf(err, len, "%s: no time (timestamp, time, date, ts "
		    "or created_at)", path);
	jkey(jp, sizeof(jp), path, which);
	if (parse_time(v, jp, &m->at, err, len) < 0)
		return -1;
	if (*skip)
		return 0;
	return message_key(m, obj, path, keys, err, len);
}

/* The messages array and the name of the contact (the "contact" key or
 * another id key of an object, else the file's name without .json). */
static int
conversation_parts(const json_t *j, const char *file, json_t **msgs,
    const char **base, char *who, size_t wlen, char *err, size_t len)
{
	static const char *const k_who[] = {
		"contact", "platform_id", "telegram_id", "user_id", "username",
		NULL
	};
	const char *which;
	char jp[JPATH_MAX];
	json_t *v;
	size_t n;

	*base = "";
	if (json_is_array(j)) {
		*msgs = (json_t *)j;
		n = strlen(file) - 5;
		if (n >= wlen)
			return log_errf(err, len, "file name too long");
		memcpy(who, file, n);
		who[n] = '\0';
		return 0;
	}
	if (!json_is_object(j))
		return log_errf(err, len, "expected an array of messages or an "
		    "object with \"messages\"");
	*msgs = json_object_get(j, "messages");
	*base = "messages";
	if (!json_is_array(*msgs))
		return log_errf(err, len, "messages: expected an array");
	if ((v = first_of(j, k_who, &which)) == NULL)
		return log_errf(err, len, "no contact (contact, platform_id, "
		    "telegram_id, user_id or username)");
	jkey(jp, sizeof(jp), "", which);
	if (id_text(v, jp, who, wlen, err, len) < 0)
		return -1;
	return 0;
}

static const char sql_find_contact[] =
    "SELECT id FROM contacts WHERE bot = ?1 AND platform_id = ?2"
    " UNION ALL SELECT id FROM contacts WHERE bot = ?1 AND handle = ?3"
    " LIMIT 1";

/* The contact of bot whose platform id, else handle, is who. 1, 0, -1. */
static int
legacy_contact_find(struct db *db, const char *bot, const char *who,
    int64_t *id)
{
	struct dbst *st = db_stmt(db, sql_find_contact);
	int rc;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, bot);
	db_bind_text(st, 2, who);
	db_bind_text(st, 3, *who == '@' ? who + 1 : who);
	rc = db_step(st);
	if (rc == DB_ROW)
		*id = db_col_int64(st, 0);
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read contact from");
	return rc == DB_ROW;
}

static const char sql_msg_exists[] =
    "SELECT 1 FROM messages WHERE contact = ?1 AND direction = ?2"
    " AND platform_msg_id = ?3";
static const char sql_msg_insert[] =
    "INSERT INTO messages (contact, bot, direction, kind, text,"
    " platform_msg_id, status, created_at, sent_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
    " CASE WHEN ?3 = 'out' THEN 'sent' END, ?7,"
    " CASE WHEN ?3 = 'out' THEN ?7 END)";

/* Store one legacy message unless its key is there: *added 1 or 0. */
static int
legacy_msg_put(struct db *db, int64_t contact, const char *bot,
    const struct msg_rec *m, const char *kind, int *added)
{
	const char *dir = m->inbound ? "in" : "out";
	struct dbst *st;
	int rc;

	if ((st = db_stmt(db, sql_msg_exists)) == NULL)
		return -1;
	db_bind_int64(st, 1, contact);
	db_bind_text(st, 2, dir);
	db_bind_text(st, 3, m->key);
	rc = db_step(st);
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read message from");
	if ((*added = rc == DB_DONE) == 0)
		return 0;
	if ((st = db_stmt(db, sql_msg_insert)) == NULL)
		return -1;
	db_bind_int64(st, 1, contact);
	db_bind_text(st, 2, bot);
	db_bind_text(st, 3, dir);
	db_bind_text(st, 4, kind);
	db_bind_text(st, 5, m->text);
	db_bind_text(st, 6, m->key);
	db_bind_int64(st, 7, m->at);
	rc = db_step(st);
	db_reset(st);
	return rc == DB_DONE ? 0 : db_fail(db, "store message in");
}

/* The contact's conversation state from its messages, as the store keeps
 * it for live ones; written only where it differs. */
static const char sql_contact_refresh[] =
    "WITH s AS (SELECT"
    " (SELECT max(created_at) FROM messages WHERE contact = ?1"
    "  AND direction = 'in') AS li,"
    " (SELECT max(sent_at) FROM messages WHERE contact = ?1"
    "  AND direction = 'out') AS lo,"
    " (SELECT min(sent_at) FROM messages WHERE contact = ?1"
    "  AND kind = 'opener') AS ini)"
    " UPDATE contacts SET"
    " last_inbound_at = (SELECT li FROM s),"
    " last_outbound_at = (SELECT lo FROM s),"
    " initiated_at = coalesce(initiated_at, (SELECT ini FROM s)),"
    " unanswered = (SELECT count(*) FROM messages WHERE contact = ?1"
    "  AND direction = 'out' AND sent_at IS NOT NULL"
    "  AND sent_at > coalesce((SELECT li FROM s), 0)),"
    " status = CASE WHEN status = 'new' THEN 'active' ELSE status END,"
    " nudge_hold = 1, updated_at = ?2"
    " WHERE id = ?1";
static const char sql_contact_hold[] =
    "UPDATE contacts SET nudge_hold = 1 WHERE id = ?1";

static int
legacy_contact_refresh(struct db *db, int64_t contact)
{
	struct dbst *st = db_stmt(db, sql_contact_refresh);
	int rc;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, contact);
	db_bind_int64(st, 2, clock_now_ms());
	rc = db_step(st);
	db_reset(st);
	return rc == DB_DONE ? 0 : db_fail(db, "update contact in");
}

/* Hold a contact the import created from nudges (openers, follow-ups). */
static int
legacy_contact_hold(struct db *db, int64_t contact)
{
	struct dbst *st = db_stmt(db, sql_contact_hold);
	int rc;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, contact);
	rc = db_step(st);
	db_reset(st);
	return rc == DB_DONE ? 0 : db_fail(db, "update contact in");
}

/* Parse every message of the file into m[0..*n) (system ones left out). */
static int
parse_messages(const json_t *msgs, const char *base, struct msg_rec *m,
    size_t *n, char *err, size_t len)
{
	char jp[JPATH_MAX];
	json_t *keys, *v;
	size_t i;
	int skip = 0, rc = -1;

	if ((keys = json_object()) == NULL)
		return log_errf(err, len, "out of memory");
	*n = 0;
	json_array_foreach(msgs, i, v) {
		jidx(jp, sizeof(jp), base, i);
		memset(&m[*n], 0, sizeof(m[*n]));
		if (parse_message(v, jp, &m[*n], &skip, keys, err, len) < 0)
			goto out;
		if (!skip)
			(*n)++;
	}
	rc = 0;
out:
	json_decref(keys);
	return rc;
}

static int
write_messages(struct run *run, int64_t contact, const char *bot,
    const struct msg_rec *m, size_t n, size_t nsys)
{
	size_t i;
	int added = 0, any = 0, seen_in = 0;

	run->r->messages.skipped += (int)nsys;
	for (i = 0; i < n; i++) {
		if (legacy_msg_put(run->db, contact, bot, &m[i], m[i].inbound ?
		    "message" : seen_in ? "reply" : "opener", &added) < 0)
			return -1;
		seen_in |= m[i].inbound;
		any |= added;
		if (added)
			run->r->messages.imported++;
		else
			run->r->messages.skipped++;
	}
	return any ? legacy_contact_refresh(run->db, contact) : 0;
}

static int
import_conversation_file(struct run *run, const char *file, const char *rel)
{
	struct msg_rec *m = NULL;
	char err[ERR_MAX], who[STORE_ID_MAX];
	const char *base;
	json_t *j = NULL, *msgs = NULL;
	int64_t contact = 0;
	size_t n = 0;
	int rc = 0, found;

	if ((j = load_json(run->o->dir, rel, err, sizeof(err))) == NULL ||
	    conversation_parts(j, file, &msgs, &base, who, sizeof(who), err,
	    sizeof(err)) < 0)
		goto bad;
	if ((m = calloc(json_array_size(msgs) + 1, sizeof(*m))) == NULL) {
		log_errf(err, sizeof(err), "out of memory");
		goto bad;
	}
	if (parse_messages(msgs, base, m, &n, err, sizeof(err)) < 0)
		goto bad;
	if ((found = legacy_contact_find(run->db, run->o->bot, who,
	    &contact)) < 0) {
		rc = -1;
		goto out;
	}
	if (!found) {
		log_errf(err, sizeof(err), "unknown contact '%s' (no profile of "
		    "bot '%s' has that id or username)", who, run->o->bot);
		goto bad;
	}
	rc = write_messages(run, contact, run->o->bot, m, n,
	    json_array_size(msgs) - n);
	goto out;
bad:
	bad_file(run, rel, err);
out:
	free(m);
	json_decref(j);
	file_done(run);
	return rc;
}

/* ---- metrics.json -------------------------------------------------------- */

struct metric_rec {
	char bot[STORE_ID_MAX];
	char day[MAINT_DAY_LEN];
	struct store_metrics m;
};

/* Each column and the legacy names it goes by. */
static const struct {
	const char *const names[4];
	size_t off;
} metric_cols[] = {
	{ { "received", "messages_received", "incoming", NULL },
	    offsetof(struct store_metrics, received) },
	{ { "sent", "messages_sent", "outgoing", NULL },
	    offsetof(struct store_metrics, sent) },
	{ { "initiations", "openers", NULL },
	    offsetof(struct store_metrics, initiations) },
	{ { "initiation_replies", "opener_replies", NULL },
	    offsetof(struct store_metrics, initiation_replies) },
	{ { "llm_calls", NULL }, offsetof(struct store_metrics, llm_calls) },
	{ { "tokens_in", "prompt_tokens", NULL },
	    offsetof(struct store_metrics, tokens_in) },
	{ { "tokens_out", "completion_tokens", NULL },
	    offsetof(struct store_metrics, tokens_out) },
	{ { "job_failures", "failures", "errors", NULL },
	    offsetof(struct store_metrics, job_failures) },
};
#define NCOLS (sizeof(metric_cols) / sizeof(metric_cols[0]))

static int
metric_value(struct metric_rec *r, const char *key, const json_t *v,
    const char *jp, char *err, size_t len)
{
	json_int_t x;
	size_t c;

	if (strcmp(key, "cost_usd") == 0 || strcmp(key, "cost") == 0) {
		if (!json_is_number(v) || json_number_value(v) < 0)
			return log_errf(err, len, "%s: expected a number >= 0", jp);
		r->m.cost_usd = json_number_value(v);
		return 0;
	}
	for (c = 0; c < NCOLS; c++)
		if (cfg_in_list(metric_cols[c].names, key))
			break;
	if (c == NCOLS)
		return log_errf(err, len, "%s: unknown metric", jp);
	x = json_integer_value(v);
	if (!json_is_integer(v) || x < 0 || x > INT_MAX)
		return log_errf(err, len, "%s: expected an integer from 0 to %d",
		    jp, INT_MAX);
	*(int *)((char *)&r->m + metric_cols[c].off) = (int)x;
	return 0;
}

/* One day's object; bot and day may come from it or from outside. */
static int
parse_metric(const json_t *obj, const char *path, const char *bot,
    const char *day, struct metric_rec *r, char *err, size_t len)
{
	static const char *const k_day[] = { "day", "date", NULL };
	char jp[JPATH_MAX];
	const char *key;
	int64_t ms;
	json_t *v;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(obj))
		return log_errf(err, len, "%s%sexpected an object", JP(path));
	if (opt_bot(obj, path, r->bot, sizeof(r->bot), err, len) < 0 ||
	    opt_string(obj, k_day, path, r->day, sizeof(r->day), err,
	    len) < 0)
		return -1;
	/* from outside: checked by the caller, never cut short here */
	if (r->bot[0] == '\0' &&
	    strlcpy(r->bot, bot, sizeof(r->bot)) >= sizeof(r->bot))
		return log_errf(err, len, "%s%sbot name too long", JP(path));
	if (r->day[0] == '\0' && day != NULL &&
	    strlcpy(r->day, day, sizeof(r->day)) >= sizeof(r->day))
		return log_errf(err, len, "%s%s'%.*s...' is not a day "
		    "(YYYY-MM-DD)", JP(path), 20, day);
	if (r->day[0] == '\0')
		return log_errf(err, len, "%s%sno day", JP(path));
	if (maint_parse_day(r->day, &ms) < 0)
		return log_errf(err, len, "%s%s'%s' is not a day (YYYY-MM-DD)",
		    JP(path), r->day);
	json_object_foreach((json_t *)obj, key, v) {
		if (cfg_in_list(k_bot, key) || cfg_in_list(k_day, key))
			continue;
		jkey(jp, sizeof(jp), path, key);
		if (metric_value(r, key, v, jp, err, len) < 0)
			return -1;
	}
	return 0;
}

struct metric_rows {
	struct metric_rec *v;
	size_t n, cap;
	json_t *seen;		/* "bot/day" -> the JSON path that had it */
};

static int
add_metric(struct metric_rows *rows, const struct metric_rec *r,
    const char *jp, char *err, size_t len)
{
	char key[STORE_ID_MAX + MAINT_DAY_LEN + 1];
	struct metric_rec *nv;
	json_t *prev;

	snprintf(key, sizeof(key), "%s/%s", r->bot, r->day);
	if ((prev = json_object_get(rows->seen, key)) != NULL)
		return log_errf(err, len, "%s%sduplicate day %s of bot '%s' (also "
		    "at %s)", JP(jp), r->day, r->bot, json_string_value(prev));
	if (json_object_set_new(rows->seen, key, json_string(jp)) < 0)
		return log_errf(err, len, "out of memory");
	if (rows->n == rows->cap) {
		rows->cap = rows->cap > 0 ? rows->cap * 2 : 16;
		if ((nv = reallocarray(rows->v, rows->cap,
		    sizeof(*nv))) == NULL)
			return log_errf(err, len, "out of memory");
		rows->v = nv;
	}
	rows->v[rows->n++] = *r;
	return 0;
}

/* metrics.json: an array of {bot, day, ...}, or {BOT: {DAY: {...}}}. */
static int
parse_metrics(const json_t *j, const char *bot, struct metric_rows *rows,
    char *err, size_t len)
{
	struct metric_rec r;
	char jp[JPATH_MAX], bp[JPATH_MAX];
	const char *b, *d;
	json_t *days, *v;
	size_t i;

	if (json_is_array(j)) {
		json_array_foreach(j, i, v) {
			jidx(jp, sizeof(jp), "", i);
			if (parse_metric(v, jp, bot, NULL, &r, err, len) < 0 ||
			    add_metric(rows, &r, jp, err, len) < 0)
				return -1;
		}
		return 0;
	}
	if (!json_is_object(j))
		return log_errf(err, len, "expected an array of daily rows or an "
		    "object of bots");
	json_object_foreach((json_t *)j, b, days) {
		jkey(bp, sizeof(bp), "", b);
		if (check_bot(b, bp, err, len) < 0)
			return -1;
		if (!json_is_object(days))
			return log_errf(err, len, "%s: expected an object of days",
			    bp);
		json_object_foreach(days, d, v) {
			jkey(jp, sizeof(jp), bp, d);
			if (parse_metric(v, jp, b, d, &r, err, len) < 0 ||
			    add_metric(rows, &r, jp, err, len) < 0)
				return -1;
		}
	}
	return 0;
}

static const char sql_metrics_row[] =
    "SELECT received = ?3 AND sent = ?4 AND initiations = ?5"
    " AND initiation_replies = ?6 AND llm_calls = ?7 AND tokens_in = ?8"
    " AND tokens_out = ?9 AND cost_usd = ?10 AND job_failures = ?11"
    " FROM metrics_daily WHERE bot = ?1 AND day = ?2";
static const char sql_metrics_set[] =
    "INSERT INTO metrics_daily (bot, day, received, sent, initiations,"
    " initiation_replies, llm_calls, tokens_in, tokens_out, cost_usd,"
    " job_failures) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    " ON CONFLICT (bot, day) DO UPDATE SET"
    " received = ?3, sent = ?4, initiations = ?5, initiation_replies = ?6,"
    " llm_calls = ?7, tokens_in = ?8, tokens_out = ?9, cost_usd = ?10,"
    " job_failures = ?11";

static void
bind_metrics(struct dbst *st, const struct metric_rec *r)
{
	db_bind_text(st, 1, r->bot);
	db_bind_text(st, 2, r->day);
	db_bind_int(st, 3, r->m.received);
	db_bind_int(st, 4, r->m.sent);
	db_bind_int(st, 5, r->m.initiations);
	db_bind_int(st, 6, r->m.initiation_replies);
	db_bind_int(st, 7, r->m.llm_calls);
	db_bind_int(st, 8, r->m.tokens_in);
	db_bind_int(st, 9, r->m.tokens_out);
	db_bind_double(st, 10, r->m.cost_usd);
	db_bind_int(st, 11, r->m.job_failures);
}

/* Set a day's row to r: counts it imported, updated or skipped. */
static int
legacy_metrics_put(struct db *db, const struct metric_rec *r,
    struct legacy_counts *c)
{
	struct dbst *st = db_stmt(db, sql_metrics_row);
	int rc, same = 0;

	if (st == NULL)
		return -1;
	bind_metrics(st, r);
	rc = db_step(st);
	if (rc == DB_ROW)
		same = db_col_int(st, 0);
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read metrics from");
	if (same) {
		c->skipped++;
		return 0;
	}
	if ((st = db_stmt(db, sql_metrics_set)) == NULL)
		return -1;
	bind_metrics(st, r);
	if (db_step(st) != DB_DONE) {
		db_reset(st);
		return db_fail(db, "store metrics in");
	}
	db_reset(st);
	if (rc == DB_ROW)
		c->updated++;
	else
		c->imported++;
	return 0;
}

static int
import_metrics(struct run *run)
{
	struct metric_rows rows;
	char path[PATH_MAX], err[ERR_MAX];
	json_t *j = NULL;
	size_t i;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/metrics.json", run->o->dir);
	if (access(path, F_OK) < 0)
		return 0;
	memset(&rows, 0, sizeof(rows));
	if ((rows.seen = json_object()) == NULL) {
		log_err("out of memory");
		return -1;
	}
	if ((j = load_json(run->o->dir, "metrics.json", err,
	    sizeof(err))) == NULL || parse_metrics(j, run->o->bot, &rows, err,
	    sizeof(err)) < 0)
		bad_file(run, "metrics.json", err);
	else {
		for (i = 0; i < rows.n && rc == 0; i++)
			rc = legacy_metrics_put(run->db, &rows.v[i],
			    &run->r->metrics);
	}
	free(rows.v);
	json_decref(rows.seen);
	json_decref(j);
	file_done(run);
	return rc;
}

/* ---- the import ---------------------------------------------------------- */

static int
import_all(struct run *run, struct dirent **girls, int ng,
    struct dirent **convs, int nc)
{
	char rel[PATH_MAX];
	int i;

	import_fields(run);
	for (i = 0; i < ng; i++) {
		snprintf(rel, sizeof(rel), "girls_data/%s", girls[i]->d_name);
		if (import_contact_file(run, rel) < 0)
			return -1;
	}
	for (i = 0; i < nc; i++) {
		snprintf(rel, sizeof(rel), "conversations/%s",
		    convs[i]->d_name);
		if (import_conversation_file(run, convs[i]->d_name, rel) < 0)
			return -1;
	}
	return import_metrics(run);
}

int
legacy_import(struct db *db, const struct legacy_opts *o,
    struct legacy_report *r)
{
	struct dirent **girls = NULL, **convs = NULL;
	struct run run;
	struct stat st;
	char path[PATH_MAX];
	int ng = 0, nc = 0, rc = -1;

	memset(r, 0, sizeof(*r));
	memset(&run, 0, sizeof(run));
	run.db = db;
	run.o = o;
	run.r = r;
	if (stat(o->dir, &st) < 0) {
		log_err("'%s': %s", o->dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("'%s': not a directory", o->dir);
		return -1;
	}
	if (list_json(o->dir, "girls_data", &girls, &ng) < 0 ||
	    list_json(o->dir, "conversations", &convs, &nc) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/fields.json", o->dir);
	run.total = ng + nc + (access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/metrics.json", o->dir);
	run.total += access(path, F_OK) == 0;
	if ((run.seen = json_object()) == NULL || db_begin(db) < 0)
		goto out;
	if (import_all(&run, girls, ng, convs, nc) < 0) {
		db_rollback(db);
		goto out;
	}
	if (o->dry_run || (o->strict && r->bad > 0))
		db_rollback(db);
	else if (db_commit(db) < 0)
		goto out;
	rc = r->bad > 0 ? LEGACY_BAD_INPUT : LEGACY_OK;
out:
	free_names(girls, ng);
	free_names(convs, nc);
	json_decref(run.seen);
	json_decref(run.legacy_defs);
	return rc;
}
