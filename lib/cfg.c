/*
 * cfg: libconfig is read into a config_t, every setting is checked
 * against a table of known keys (type and range), and the values are
 * copied into a fresh struct cfg that replaces the caller's only when the
 * whole file is valid. Arrays and long strings go into blocks on the
 * cfg's own list (cfg_alloc), sized to what the file holds, and are freed
 * together by cfg_release().
 */
#include <errno.h>
#include <stddef.h>
#include <jansson.h>
#include <libconfig.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "clock.h"
#include "cron.h"
#include "log.h"
#include "redact.h"
#include "banned.h"

#define CFG_SYSTEM_PATH "/etc/dater/dater.conf"
#define CFG_DEFAULT_DB "/var/lib/dater/dater.db"

/* One block a struct cfg owns. */
struct cfg_mem {
	struct cfg_mem *next;
	max_align_t data[];
};

/* n zeroed bytes owned by c, or NULL (logged). */
static void *
cfg_alloc(struct cfg *c, size_t n)
{
	struct cfg_mem *m;

	if (n > SIZE_MAX - sizeof(*m) ||
	    (m = calloc(1, sizeof(*m) + n)) == NULL) {
		log_err("config: out of memory");
		return NULL;
	}
	m->next = c->mem;
	c->mem = m;
	return m->data;
}

/* A copy of s owned by c, or NULL (logged). */
static const char *
cfg_strdup(struct cfg *c, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	if ((p = cfg_alloc(c, n)) != NULL)
		memcpy(p, s, n);
	return p;
}

void
cfg_release(struct cfg *cfg)
{
	struct cfg_mem *m, *next;

	for (m = cfg->mem; m != NULL; m = next) {
		next = m->next;
		free(m);
	}
	memset(cfg, 0, sizeof(*cfg));
}

void
cfg_move(struct cfg *dst, struct cfg *src)
{
	if (dst == src)
		return;
	cfg_release(dst);
	memcpy(dst, src, sizeof(*dst));
	memset(src, 0, sizeof(*src));
}

void
cfg_defaults(struct cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strlcpy(cfg->database, CFG_DEFAULT_DB, sizeof(cfg->database));
	cfg->synchronous = CFG_SYNC_NORMAL;
	cfg->busy_timeout_ms = 5000;
	cfg->log_level = 2;	/* LOG_LEVEL_INFO */
	cfg->worker.concurrency = 1;
	cfg->worker.lease_ms = 60 * 1000;
	cfg->worker.heartbeat_ms = 10 * 1000;
	cfg->worker.poll_ms = 1000;
	cfg->worker.restart_max_ms = 30 * 1000;
	cfg->worker.grace_ms = 30 * 1000;
	cfg->worker.batch = CFG_BATCH_DEFAULT;
	strlcpy(cfg->queue.queue, "default", sizeof(cfg->queue.queue));
	cfg->queue.priority = 100;
	cfg->queue.max_attempts = 25;
	cfg->queue.timeout_ms = 5 * 60 * 1000;
	cfg->queue.retry_base_ms = 15 * 1000;
	cfg->queue.retry_cap_ms = 6 * 3600 * 1000;
	strlcpy(cfg->llm.provider, "offline", sizeof(cfg->llm.provider));
	cfg->llm.base_url = "https://api.openai.com/v1";
	strlcpy(cfg->llm.model, "gpt-4o-mini", sizeof(cfg->llm.model));
	strlcpy(cfg->llm.api_key_env, "OPENAI_API_KEY",
	    sizeof(cfg->llm.api_key_env));
	cfg->llm.timeout_ms = 60 * 1000;
	cfg->llm.max_completion_tokens = 400;
	cfg_policy_defaults(&cfg->defaults);
	cfg->defaults_llm = cfg->llm;
	cfg->sched_initiate = 1;
	cfg->sched_followup = 1;
	cfg->maint.backup_keep = 7;
	cfg->maint.prune_jobs_after_ms = 30LL * 86400 * 1000;
	cfg->maint.journal_size_limit = 64LL << 20;
	cfg->health.max_due_age_ms = 5 * 60 * 1000;
	cfg->health.max_dead_per_hour = 10;
}

const char *
cfg_sync_name(enum cfg_sync s)
{
	switch (s) {
	case CFG_SYNC_OFF:
		return "off";
	case CFG_SYNC_FULL:
		return "full";
	default:
		return "normal";
	}
}

/* Where a setting came from, for messages: "file:line". */
static void
where(const config_setting_t *s, const char *file, char *buf, size_t len)
{
	const char *f = config_setting_source_file(s);

	snprintf(buf, len, "%s:%d", f != NULL ? f : file,
	    config_setting_source_line(s));
}

static int bad(const config_setting_t *, const char *, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static int
bad(const config_setting_t *s, const char *file, const char *fmt, ...)
{
	char loc[PATH_MAX + 16], msg[512];
	va_list ap;

	where(s, file, loc, sizeof(loc));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("%s: '%s': %s", loc, config_setting_name(s) != NULL ?
	    config_setting_name(s) : "?", msg);
	return -1;
}

static int
get_int(const config_setting_t *s, const char *file, long long lo,
    long long hi, long long *out)
{
	long long v;
	char range[96];

	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		return bad(s, file, "expected an integer");
	if (v < lo || v > hi) {
		snprintf(range, sizeof(range), "%lld..%lld", lo, hi);
		return bad(s, file, "out of range (%s)", range);
	}
	*out = v;
	return 0;
}

static int
get_str(const config_setting_t *s, const char *file, char *out, size_t len)
{
	const char *v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return bad(s, file, "expected a string");
	v = config_setting_get_string(s);
	if (strlcpy(out, v, len) >= len)
		return bad(s, file, "too long (at most %zu bytes)", len - 1);
	return 0;
}

/* A time zone: "" (none: UTC) or a name clock_zone_known accepts. */
static int
get_zone(const config_setting_t *s, const char *file, char *out, size_t len)
{
	char tz[CLOCK_ZONE_MAX];

	if (get_str(s, file, tz, sizeof(tz)) < 0)
		return -1;
	if (tz[0] != '\0' && !clock_zone_known(tz))
		return bad(s, file, "unknown time zone '%s' (not in the "
		    "system's zoneinfo; an IANA name such as "
		    "\"Europe/Berlin\", or \"UTC\")", tz);
	return strlcpy(out, tz, len) < len ? 0 :
	    bad(s, file, "too long (at most %zu bytes)", len - 1);
}

/* A string of fewer than max bytes, copied into c. */
static int
get_text(const config_setting_t *s, const char *file, struct cfg *c,
    size_t max, const char **out)
{
	const char *v, *p;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return bad(s, file, "expected a string");
	v = config_setting_get_string(s);
	if (strlen(v) >= max)
		return bad(s, file, "too long (at most %zu bytes)", max - 1);
	if ((p = cfg_strdup(c, v)) == NULL)
		return -1;
	*out = p;
	return 0;
}

/* A duration: "90s", "250ms", "2h" or an integer number of seconds. */
static int
get_duration(const config_setting_t *s, const char *file, int64_t lo,
    int64_t *out)
{
	int64_t v;
	long long n;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		if (clock_parse_duration(config_setting_get_string(s), &v) < 0)
			return bad(s, file, "not a duration (like \"250ms\", "
			    "\"90s\", \"10m\", \"2h\", \"1d\")");
	} else {
		if (get_int(s, file, 0, 100LL * 365 * 86400, &n) < 0)
			return -1;
		v = n * 1000;
	}
	if (v < lo)
		return bad(s, file, "too short");
	*out = v;
	return 0;
}

/* The n bytes at p are only letters, digits, '-', '_' and '.' (queue.c
 * puts queue names into JSON unescaped). */
int
cfg_valid_name(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n >= CFG_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!(p[i] == '-' || p[i] == '_' || p[i] == '.' ||
		    (p[i] >= 'a' && p[i] <= 'z') ||
		    (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9')))
			return 0;
	return 1;
}

int
cfg_valid_queues(const char *s)
{
	const char *p = s;
	size_t k;

	if (*s == '\0')
		return 1;
	do {
		k = strcspn(p, ",");
		if (!cfg_valid_name(p, k))
			return 0;
		p += k;
	} while (*p++ == ',');
	return 1;
}

static int
get_name(const config_setting_t *s, const char *file, char *out)
{
	if (get_str(s, file, out, CFG_NAME_MAX) < 0)
		return -1;
	if (*out == '\0')
		return bad(s, file, "must not be empty");
	if (!cfg_valid_name(out, strlen(out)))
		return bad(s, file, "only letters, digits, '-', '_' "
		    "and '.' are allowed");
	return 0;
}

/* One job-settings group: the global "queue" or "jobs.TYPE". */
static int
load_job(const config_setting_t *g, const char *file, struct cfg_job *j)
{
	int i, n = config_setting_length(g);
	long long v;

	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);

		if (strcmp(k, "queue") == 0) {
			if (get_name(s, file, j->queue) < 0)
				return -1;
			j->set |= CFG_SET_QUEUE;
		} else if (strcmp(k, "priority") == 0) {
			if (get_int(s, file, 0, 1000, &v) < 0)
				return -1;
			j->priority = (int)v;
			j->set |= CFG_SET_PRIORITY;
		} else if (strcmp(k, "max_attempts") == 0) {
			if (get_int(s, file, 1, 1000, &v) < 0)
				return -1;
			j->max_attempts = (int)v;
			j->set |= CFG_SET_MAX_ATTEMPTS;
		} else if (strcmp(k, "timeout") == 0) {
			if (get_duration(s, file, 1000, &j->timeout_ms) < 0)
				return -1;
			j->set |= CFG_SET_TIMEOUT;
		} else if (strcmp(k, "retry_base") == 0) {
			if (get_duration(s, file, 1, &j->retry_base_ms) < 0)
				return -1;
			j->set |= CFG_SET_RETRY_BASE;
		} else if (strcmp(k, "retry_cap") == 0) {
			if (get_duration(s, file, 1, &j->retry_cap_ms) < 0)
				return -1;
			j->set |= CFG_SET_RETRY_CAP;
		} else {
			return bad(s, file, "unknown setting (known: queue, "
			    "priority, max_attempts, timeout, retry_base, "
			    "retry_cap)");
		}
	}
	if (j->retry_cap_ms < j->retry_base_ms &&
	    (j->set & (CFG_SET_RETRY_BASE | CFG_SET_RETRY_CAP)) ==
	    (CFG_SET_RETRY_BASE | CFG_SET_RETRY_CAP))
		return bad(g, file, "retry_cap is shorter than retry_base");
	return 0;
}

static int
load_queues(const config_setting_t *s, const char *file, char *out,
    size_t len)
{
	int i, n;
	char name[CFG_NAME_MAX];

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		/* "a,b": the same names the list form allows, so that
		 * "fast, slow" is an error, not a queue named " slow" */
		if (get_str(s, file, out, len) < 0)
			return -1;
		if (!cfg_valid_queues(out))
			return bad(s, file, "expected queue names "
			    "separated by commas (letters, digits, "
			    "'-', '_' and '.')");
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST)
		return bad(s, file, "expected a list of queue names");
	*out = '\0';
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		if (get_name(config_setting_get_elem(s, (unsigned)i), file,
		    name) < 0)
			return -1;
		if ((i > 0 && strlcat(out, ",", len) >= len) ||
		    strlcat(out, name, len) >= len)
			return bad(s, file, "too many queues");
	}
	return 0;
}

static int
load_worker(const config_setting_t *g, const char *file, struct cfg *c)
{
	int i, n = config_setting_length(g);
	long long v;

	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		int rc;

		if (strcmp(k, "concurrency") == 0) {
			rc = get_int(s, file, 1, 256, &v);
			c->worker.concurrency = (int)v;
		} else if (strcmp(k, "queues") == 0) {
			rc = load_queues(s, file, c->worker.queues,
			    sizeof(c->worker.queues));
		} else if (strcmp(k, "lease") == 0) {
			rc = get_duration(s, file, 1000, &c->worker.lease_ms);
		} else if (strcmp(k, "heartbeat") == 0) {
			rc = get_duration(s, file, 100,
			    &c->worker.heartbeat_ms);
		} else if (strcmp(k, "poll_interval") == 0) {
			rc = get_duration(s, file, 10, &c->worker.poll_ms);
		} else if (strcmp(k, "restart_backoff_max") == 0) {
			rc = get_duration(s, file, 100,
			    &c->worker.restart_max_ms);
		} else if (strcmp(k, "shutdown_grace") == 0) {
			rc = get_duration(s, file, 0, &c->worker.grace_ms);
		} else if (strcmp(k, "batch") == 0) {
			rc = get_int(s, file, 1, CFG_BATCH_MAX, &v);
			c->worker.batch = (int)v;
		} else {
			return bad(s, file, "unknown setting (known: "
			    "concurrency, queues, lease, heartbeat, "
			    "poll_interval, restart_backoff_max, "
			    "shutdown_grace, batch)");
		}
		if (rc < 0)
			return -1;
	}
	if (c->worker.heartbeat_ms * 2 > c->worker.lease_ms)
		return bad(g, file, "heartbeat must be at most half the "
		    "lease");
	return 0;
}

static int
known_type(const char *name, const char *const *types)
{
	if (types == NULL)
		return 1;
	for (; *types != NULL; types++)
		if (strcmp(*types, name) == 0)
			return 1;
	return 0;
}

static int
load_jobs(const config_setting_t *g, const char *file,
    const char *const *types, struct cfg *c)
{
	int i, n = config_setting_length(g);

	if (!config_setting_is_group(g))
		return bad(g, file, "expected a group of job types");
	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		struct cfg_job *j;

		if (!config_setting_is_group(s))
			return bad(s, file, "expected a group of settings");
		if (!known_type(config_setting_name(s), types))
			return bad(s, file, "unknown job type");
		if (c->njobs == CFG_MAX_JOBS)
			return bad(s, file, "too many job types");
		j = &c->jobs[c->njobs++];
		memset(j, 0, sizeof(*j));
		strlcpy(j->type, config_setting_name(s), sizeof(j->type));
		if (load_job(s, file, j) < 0)
			return -1;
	}
	return 0;
}

/* Spell a path's directory without "..": "/a/etc/../var/x" ->
 * "/a/var/x", when the directory exists; otherwise leave it. */
static void
normalize(char *path, size_t len)
{
	char dir[PATH_MAX], base[PATH_MAX], real[PATH_MAX], tmp[PATH_MAX];

	strlcpy(dir, path, sizeof(dir));
	strlcpy(base, path, sizeof(base));
	if (realpath(dirname(dir), real) == NULL)
		return;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s", real,
	    basename(base)) < sizeof(tmp))
		strlcpy(path, tmp, len);
}

/* Resolve a path from the file against the file's directory. */
static int
resolve(const config_setting_t *s, const char *file, const char *dir,
    char *out, size_t len)
{
	char v[PATH_MAX];

	if (get_str(s, file, v, sizeof(v)) < 0)
		return -1;
	if (v[0] == '\0')
		return bad(s, file, "must not be empty");
	if (v[0] == '/' || dir[0] == '\0') {
		if (strlcpy(out, v, len) >= len)
			return bad(s, file, "path too long");
	} else if ((size_t)snprintf(out, len, "%s/%s", dir, v) >= len) {
		return bad(s, file, "path too long");
	}
	normalize(out, len);
	return 0;
}

static int load_llm(const config_setting_t *, const char *, struct cfg *,
    struct cfg_llm *);
static int load_schedules(const config_setting_t *, const char *,
    const char *const *, struct cfg *);
static int load_health(const config_setting_t *, const char *,
    struct cfg_health *);
static int load_scheduler(const config_setting_t *, const char *,
    struct cfg *);
static int load_maint(const config_setting_t *, const char *, const char *,
    struct cfg_maint *);
static int load_bots(const config_setting_t *, const char *, const char *,
    struct cfg *);

static int
load_top(const config_setting_t *root, const char *file, const char *dir,
    const char *const *types, struct cfg *c)
{
	int i, n = config_setting_length(root);
	long long v;
	char str[64];

	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(root,
		    (unsigned)i);
		const char *k = config_setting_name(s);
		int rc;

		if (strcmp(k, "database") == 0) {
			rc = resolve(s, file, dir, c->database,
			    sizeof(c->database));
		} else if (strcmp(k, "synchronous") == 0) {
			if ((rc = get_str(s, file, str, sizeof(str))) < 0)
				break;
			if (strcmp(str, "off") == 0)
				c->synchronous = CFG_SYNC_OFF;
			else if (strcmp(str, "normal") == 0)
				c->synchronous = CFG_SYNC_NORMAL;
			else if (strcmp(str, "full") == 0)
				c->synchronous = CFG_SYNC_FULL;
			else
				return bad(s, file, "expected \"off\", "
				    "\"normal\" or \"full\"");
		} else if (strcmp(k, "busy_timeout") == 0) {
			int64_t ms;

			rc = get_duration(s, file, 0, &ms);
			if (rc == 0 && ms > 3600 * 1000)
				return bad(s, file, "longer than an hour");
			c->busy_timeout_ms = (int)ms;
		} else if (strcmp(k, "log_level") == 0) {
			if ((rc = get_str(s, file, str, sizeof(str))) < 0)
				break;
			if ((v = log_level_parse(str)) < 0)
				return bad(s, file, "expected \"error\", "
				    "\"warn\", \"info\" or \"debug\"");
			c->log_level = (int)v;
		} else if (strcmp(k, "worker") == 0 &&
		    config_setting_is_group(s)) {
			rc = load_worker(s, file, c);
		} else if (strcmp(k, "queue") == 0 &&
		    config_setting_is_group(s)) {
			rc = load_job(s, file, &c->queue);
		} else if (strcmp(k, "jobs") == 0) {
			rc = load_jobs(s, file, types, c);
		} else if (strcmp(k, "fields") == 0) {
			rc = resolve(s, file, dir, c->fields, sizeof(c->fields));
		} else if (strcmp(k, "llm") == 0) {
			rc = load_llm(s, file, c, &c->llm);
		} else if (strcmp(k, "schedules") == 0) {
			rc = load_schedules(s, file, types, c);
		} else if (strcmp(k, "scheduler") == 0) {
			rc = load_scheduler(s, file, c);
		} else if (strcmp(k, "maintenance") == 0) {
			rc = load_maint(s, file, dir, &c->maint);
		} else if (strcmp(k, "health") == 0) {
			rc = load_health(s, file, &c->health);
		} else if (strcmp(k, "defaults") == 0 ||
		    strcmp(k, "bots") == 0) {
			rc = 0;		/* load_bots(), once all is read */
		} else if (strcmp(k, "worker") == 0 ||
		    strcmp(k, "queue") == 0) {
			return bad(s, file, "expected a group { ... }");
		} else {
			return bad(s, file, "unknown setting (known: database, "
			    "synchronous, busy_timeout, log_level, worker, "
			    "queue, jobs, fields, llm, defaults, bots, "
			    "schedules, scheduler, maintenance, health)");
		}
		if (rc < 0)
			return -1;
	}
	return i < n ? -1 : 0;
}

/* ---- llm, defaults, bots -------------------------------------------- */

static int
get_double(const config_setting_t *s, const char *file, double lo, double hi,
    double *out)
{
	double v = 0;

	if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		v = config_setting_get_float(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = (double)config_setting_get_int64(s);
	else
		return bad(s, file, "expected a number");
	if (v < lo || v > hi)
		return bad(s, file, "out of range (%g..%g)", lo, hi);
	*out = v;
	return 0;
}

static int
get_bool(const config_setting_t *s, const char *file, int *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return bad(s, file, "expected true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

static int
get_intv(const config_setting_t *s, const char *file, long long lo,
    long long hi, int *out)
{
	long long v = 0;

	if (get_int(s, file, lo, hi, &v) < 0)
		return -1;
	*out = (int)v;
	return 0;
}

static int
load_llm(const config_setting_t *g, const char *file, struct cfg *c,
    struct cfg_llm *l)
{
	int i, n, rc;

	if (!config_setting_is_group(g))
		return bad(g, file, "expected a group { ... }");
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);

		if (strcmp(k, "provider") == 0) {
			rc = get_str(s, file, l->provider, sizeof(l->provider));
			if (rc == 0 && strcmp(l->provider, "openai") != 0 &&
			    strcmp(l->provider, "offline") != 0)
				return bad(s, file, "expected \"openai\" or "
				    "\"offline\"");
		} else if (strcmp(k, "base_url") == 0) {
			rc = get_text(s, file, c, CFG_URL_MAX, &l->base_url);
			if (rc == 0 && strncmp(l->base_url, "http://", 7) != 0 &&
			    strncmp(l->base_url, "https://", 8) != 0)
				return bad(s, file, "expected an http:// or "
				    "https:// URL");
		} else if (strcmp(k, "model") == 0) {
			rc = get_str(s, file, l->model, sizeof(l->model));
		} else if (strcmp(k, "api_key_env") == 0) {
			rc = get_str(s, file, l->api_key_env,
			    sizeof(l->api_key_env));
		} else if (strcmp(k, "timeout") == 0) {
			rc = get_duration(s, file, 1000, &l->timeout_ms);
		} else if (strcmp(k, "max_completion_tokens") == 0) {
			rc = get_intv(s, file, 1, 100000,
			    &l->max_completion_tokens);
		} else if (strcmp(k, "temperature") == 0) {
			rc = get_double(s, file, 0, 2, &l->temperature);
			l->has_temperature = rc == 0;
		} else if (strcmp(k, "price_in_per_mtok") == 0) {
			rc = get_double(s, file, 0, 10000,
			    &l->price_in_per_mtok);
		} else if (strcmp(k, "price_out_per_mtok") == 0) {
			rc = get_double(s, file, 0, 10000,
			    &l->price_out_per_mtok);
		} else {
			return bad(s, file, "unknown setting (known: provider, "
			    "base_url, model, api_key_env, timeout, "
			    "max_completion_tokens, temperature, "
			    "price_in_per_mtok, price_out_per_mtok)");
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int
load_strings(const config_setting_t *s, const char *file, struct cfg *c,
    struct cfg_policy *p)
{
	const char **v;
	int i, n;

	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST)
		return bad(s, file, "expected a list of phrases");
	n = config_setting_length(s);
	if (n > CFG_MAX_OPT_OUT)
		return bad(s, file, "too many phrases (at most %d)",
		    CFG_MAX_OPT_OUT);
	if ((v = cfg_alloc(c, (size_t)(n + 1) * sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		if (get_text(e, file, c, CFG_PHRASE_MAX, &v[i]) < 0)
			return -1;
		if (v[i][0] == '\0')
			return bad(e, file, "an empty opt-out phrase");
	}
	p->opt_out = v;
	p->n_opt_out = n;
	return 0;
}

static int
load_delay(const config_setting_t *s, const char *file, struct cfg_policy *p)
{
	long long lo, hi;

	if ((config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST) ||
	    config_setting_length(s) != 2)
		return bad(s, file, "expected [min_seconds, max_seconds]");
	if (get_int(config_setting_get_elem(s, 0), file, 0, 86400, &lo) < 0 ||
	    get_int(config_setting_get_elem(s, 1), file, 0, 86400, &hi) < 0)
		return -1;
	if (hi < lo)
		return bad(s, file, "the maximum is below the minimum");
	p->reply_delay_min_s = (int)lo;
	p->reply_delay_max_s = (int)hi;
	return 0;
}

static int
load_quiet(const config_setting_t *s, const char *file, struct cfg_policy *p)
{
	char v[32];

	if (config_setting_type(s) == CONFIG_TYPE_BOOL &&
	    !config_setting_get_bool(s)) {
		p->has_quiet = 0;
		return 0;
	}
	if (get_str(s, file, v, sizeof(v)) < 0)
		return -1;
	if (v[0] == '\0' || strcmp(v, "off") == 0) {
		p->has_quiet = 0;
		return 0;
	}
	if (cfg_parse_quiet(v, &p->quiet_start_min, &p->quiet_end_min) < 0)
		return bad(s, file, "expected \"HH:MM-HH:MM\" or \"off\"");
	p->has_quiet = 1;
	return 0;
}

/* "disclosure": a text, or false / "" to switch it off. */
static int
load_disclosure(const config_setting_t *s, const char *file, struct cfg *c,
    struct cfg_policy *p)
{
	if (config_setting_type(s) == CONFIG_TYPE_BOOL) {
		if (config_setting_get_bool(s))
			return bad(s, file, "give the disclosure text, or "
			    "false");
		p->disclosure = "";
		return 0;
	}
	return get_text(s, file, c, CFG_LINE_MAX, &p->disclosure);
}

/* One policy setting k; 1 if k is not a policy key. */
static int
load_policy_key(const config_setting_t *s, const char *k, const char *file,
    struct cfg *c, struct cfg_policy *p)
{
	if (strcmp(k, "persona") == 0)
		return get_text(s, file, c, CFG_TEXT_MAX, &p->persona);
	if (strcmp(k, "model") == 0)
		return get_str(s, file, p->model, sizeof(p->model));
	if (strcmp(k, "reply_delay") == 0)
		return load_delay(s, file, p);
	if (strcmp(k, "quiet_hours") == 0)
		return load_quiet(s, file, p);
	if (strcmp(k, "timezone") == 0)
		return get_zone(s, file, p->timezone, sizeof(p->timezone));
	if (strcmp(k, "max_per_hour") == 0)
		return get_intv(s, file, 0, 100000, &p->max_per_hour);
	if (strcmp(k, "max_per_chat_hour") == 0)
		return get_intv(s, file, 0, 100000, &p->max_per_chat_hour);
	if (strcmp(k, "max_initiations_per_day") == 0)
		return get_intv(s, file, 0, 100000,
		    &p->max_initiations_per_day);
	if (strcmp(k, "max_unanswered") == 0)
		return get_intv(s, file, 0, 100, &p->max_unanswered);
	if (strcmp(k, "followup_after") == 0)
		return get_duration(s, file, 60 * 1000, &p->followup_after_ms);
	if (strcmp(k, "followup_horizon") == 0)
		return get_duration(s, file, 0, &p->followup_horizon_ms);
	if (strcmp(k, "opt_out") == 0)
		return load_strings(s, file, c, p);
	if (strcmp(k, "opt_out_reply") == 0)
		return get_text(s, file, c, CFG_LINE_MAX, &p->opt_out_reply);
	if (strcmp(k, "disclosure") == 0)
		return load_disclosure(s, file, c, p);
	if (strcmp(k, "review") == 0)
		return get_bool(s, file, &p->review);
	if (strcmp(k, "daily_budget_usd") == 0)
		return get_double(s, file, 0, 1e6, &p->daily_budget_usd);
	if (strcmp(k, "history_messages") == 0)
		return get_intv(s, file, 1, 1000, &p->history_messages);
	if (strcmp(k, "summary_after") == 0)
		return get_intv(s, file, 2, 100000, &p->summary_after);
	if (strcmp(k, "max_reply_chars") == 0)
		return get_intv(s, file, 1, 100000, &p->max_reply_chars);
	return 1;
}

#define POLICY_KEYS "persona, model, reply_delay, quiet_hours, timezone, " \
	"max_per_hour, max_per_chat_hour, max_initiations_per_day, " \
	"max_unanswered, followup_after, followup_horizon, opt_out, " \
	"opt_out_reply, disclosure, review, daily_budget_usd, " \
	"history_messages, " \
	"summary_after, max_reply_chars"

static int
load_policy(const config_setting_t *g, const char *file, struct cfg *c,
    struct cfg_policy *p)
{
	int i, n = config_setting_length(g), rc;

	if (!config_setting_is_group(g))
		return bad(g, file, "expected a group { ... }");
	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);

		if (strcmp(config_setting_name(s), "llm") == 0)
			continue;	/* load_bots() */
		rc = load_policy_key(s, config_setting_name(s), file, c, p);
		if (rc > 0)
			return bad(s, file, "unknown setting (known: llm, "
			    POLICY_KEYS ")");
		if (rc < 0)
			return -1;
	}
	return 0;
}

int
cfg_in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

const char *const cfg_transport_drivers[] = {
	"telegram", "webhook", "console", NULL
};

static int
load_transport(const config_setting_t *g, const char *file, const char *dir,
    struct cfg *c, struct cfg_transport *t)
{
	char path[PATH_MAX];
	int i, n, rc;

	if (!config_setting_is_group(g))
		return bad(g, file, "expected a group { driver = ...; }");
	t->listen = 1;
	t->poll_timeout_ms = 25 * 1000;
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);

		if (strcmp(k, "driver") == 0) {
			rc = get_str(s, file, t->driver, sizeof(t->driver));
			if (rc == 0 && !cfg_in_list(cfg_transport_drivers, t->driver))
				return bad(s, file, "unknown driver (known: "
				    "telegram, webhook, console)");
		} else if (strcmp(k, "base_url") == 0) {
			rc = get_text(s, file, c, CFG_URL_MAX, &t->base_url);
		} else if (strcmp(k, "token_env") == 0) {
			rc = get_str(s, file, t->token_env,
			    sizeof(t->token_env));
		} else if (strcmp(k, "url") == 0) {
			rc = get_text(s, file, c, CFG_URL_MAX, &t->url);
		} else if (strcmp(k, "path") == 0) {
			rc = resolve(s, file, dir, path, sizeof(path));
			if (rc == 0 && (t->path = cfg_strdup(c, path)) == NULL)
				rc = -1;
		} else if (strcmp(k, "timeout") == 0) {
			rc = get_duration(s, file, 100, &t->timeout_ms);
		} else if (strcmp(k, "listen") == 0) {
			rc = get_bool(s, file, &t->listen);
		} else if (strcmp(k, "poll_timeout") == 0) {
			rc = get_duration(s, file, 0, &t->poll_timeout_ms);
			if (rc == 0 && (t->poll_timeout_ms % 1000 != 0 ||
			    t->poll_timeout_ms > CFG_POLL_TIMEOUT_MAX_MS))
				return bad(s, file, "expected whole seconds "
				    "from 0s to 600s");
		} else {
			return bad(s, file, "unknown setting (known: driver, "
			    "base_url, token_env, url, path, timeout, listen, "
			    "poll_timeout)");
		}
		if (rc < 0)
			return -1;
	}
	if (t->driver[0] == '\0')
		return bad(g, file, "no driver (telegram, webhook, console)");
	if (strcmp(t->driver, "telegram") == 0 && t->token_env[0] == '\0')
		return bad(g, file, "telegram needs token_env, the environment "
		    "variable that holds the bot token");
	if (strcmp(t->driver, "webhook") == 0 && t->url[0] == '\0')
		return bad(g, file, "webhook needs url");
	return 0;
}

/* Defaults a transport gets from the rest of the configuration (the
 * console's outbox: see cfg_use_database). */
static void
transport_defaults(struct cfg_transport *t)
{
	if (t->timeout_ms == 0)
		t->timeout_ms = 30 * 1000;
	if (strcmp(t->driver, "telegram") == 0 && t->base_url[0] == '\0')
		t->base_url = "https://api.telegram.org";
	if (strcmp(t->driver, "console") == 0 && t->path[0] == '\0')
		t->path_default = 1;
}

int
cfg_is_pg_uri(const char *name)
{
	return strncmp(name, "postgresql://", 13) == 0 ||
	    strncmp(name, "postgres://", 11) == 0;
}

void
cfg_use_database(struct cfg *c, const char *path)
{
	char dir[PATH_MAX], out[PATH_MAX];
	const char *p;
	int i;

	if (path != c->database)
		strlcpy(c->database, path, sizeof(c->database));
	strlcpy(dir, c->database, sizeof(dir));
	strlcpy(dir, dirname(dir), sizeof(dir));
	for (i = 0; i < c->nbots; i++) {
		struct cfg_transport *t = &c->bots[i].transport;

		/* beside the database: var/outbox.jsonl; "" (the console's
		 * own default, in the working directory) if that cannot be
		 * had or the database is no file */
		if (!t->path_default)
			continue;
		p = "";
		if (!cfg_is_pg_uri(c->database) && (size_t)snprintf(out, sizeof(out), "%s/outbox.jsonl",
		    dir) < sizeof(out) && (p = cfg_strdup(c, out)) == NULL)
			p = "";
		t->path = p;
	}
}

static int
load_bot(const config_setting_t *g, const char *file, const char *dir,
    struct cfg *c, struct cfg_bot *b)
{
	const config_setting_t *s;
	int i, n, rc, has_transport = 0;

	if (!config_setting_is_group(g))
		return bad(g, file, "expected a group { name = ...; ... }");
	b->policy = c->defaults;	/* shares the defaults' strings */
	b->transport.path = "";
	b->transport.base_url = "";
	b->transport.url = "";
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		const char *k;

		s = config_setting_get_elem(g, (unsigned)i);
		k = config_setting_name(s);
		if (strcmp(k, "name") == 0) {
			rc = get_name(s, file, b->name);
		} else if (strcmp(k, "transport") == 0) {
			rc = load_transport(s, file, dir, c, &b->transport);
			has_transport = 1;
		} else if (strcmp(k, "llm") == 0) {
			rc = load_llm(s, file, c, &b->llm);
		} else {
			rc = load_policy_key(s, k, file, c, &b->policy);
			if (rc > 0)
				return bad(s, file, "unknown setting (known: "
				    "name, transport, llm, " POLICY_KEYS ")");
		}
		if (rc < 0)
			return -1;
	}
	if (b->name[0] == '\0')
		return bad(g, file, "a bot without a name");
	if (!has_transport)
		return bad(g, file, "bot '%s' has no transport", b->name);
	transport_defaults(&b->transport);
	return 0;
}

/*
 * `defaults` first, then `bots`, each bot starting from the defaults: its
 * policy from c->defaults, its LLM from the global llm overlaid with
 * `defaults.llm` (then the bot's own `llm` in load_bot). The bots array
 * is as long as the list.
 */
static int
load_bots(const config_setting_t *root, const char *file, const char *dir,
    struct cfg *c)
{
	const config_setting_t *d, *bots, *dl;
	int i, j, n;

	d = config_setting_get_member(root, "defaults");
	if (d != NULL && load_policy(d, file, c, &c->defaults) < 0)
		return -1;
	c->defaults_llm = c->llm;
	if (d != NULL && (dl = config_setting_get_member(d, "llm")) != NULL &&
	    load_llm(dl, file, c, &c->defaults_llm) < 0)
		return -1;
	if ((bots = config_setting_get_member(root, "bots")) == NULL)
		return 0;
	if (config_setting_type(bots) != CONFIG_TYPE_LIST &&
	    !(config_setting_type(bots) == CONFIG_TYPE_ARRAY &&
	    config_setting_length(bots) == 0))
		return bad(bots, file, "expected a list ( { ... }, ... )");
	n = config_setting_length(bots);
	if (n > 0 && (c->bots = cfg_alloc(c, (size_t)n *
	    sizeof(*c->bots))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		c->bots[i].llm = c->defaults_llm;
		if (load_bot(config_setting_get_elem(bots, (unsigned)i), file,
		    dir, c, &c->bots[i]) < 0)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(c->bots[j].name, c->bots[i].name) == 0)
				return bad(config_setting_get_elem(bots,
				    (unsigned)i), file, "a second bot named "
				    "'%s'", c->bots[i].name);
	}
	c->nbots = n;
	return 0;
}

/* ---- schedules, scheduler, maintenance ------------------------------- */

static int
load_schedule(const config_setting_t *g, const char *file,
    const char *const *types, struct cfg_schedule *sc)
{
	json_t *j;
	json_error_t jerr;
	struct cron cr;
	char why[256];
	long long v;
	int i, n, rc;

	if (!config_setting_is_group(g))
		return bad(g, file, "expected a group { name; cron; job; }");
	strlcpy(sc->payload, "{}", sizeof(sc->payload));
	sc->priority = -1;
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);

		if (strcmp(k, "name") == 0) {
			rc = get_name(s, file, sc->name);
		} else if (strcmp(k, "cron") == 0) {
			rc = get_str(s, file, sc->cron, sizeof(sc->cron));
			if (rc == 0 && cron_parse(sc->cron, &cr, why,
			    sizeof(why)) < 0)
				return bad(s, file, "%s", why);
		} else if (strcmp(k, "job") == 0) {
			rc = get_name(s, file, sc->job);
			if (rc == 0 && !known_type(sc->job, types))
				return bad(s, file, "unknown job type '%s'",
				    sc->job);
		} else if (strcmp(k, "payload") == 0) {
			if ((rc = get_str(s, file, sc->payload,
			    sizeof(sc->payload))) < 0)
				return -1;
			j = json_loads(sc->payload, JSON_REJECT_DUPLICATES,
			    &jerr);
			rc = json_is_object(j) ? 0 : -1;
			json_decref(j);
			if (rc < 0)
				return bad(s, file, "expected a JSON object "
				    "('{\"bot\": \"anna\"}')");
		} else if (strcmp(k, "queue") == 0) {
			rc = get_name(s, file, sc->queue);
		} else if (strcmp(k, "priority") == 0) {
			rc = get_int(s, file, 0, 1000, &v);
			sc->priority = (int)v;
		} else {
			return bad(s, file, "unknown setting (known: name, cron, "
			    "job, payload, queue, priority)");
		}
		if (rc < 0)
			return -1;
	}
	if (sc->name[0] == '\0' || sc->cron[0] == '\0' || sc->job[0] == '\0')
		return bad(g, file, "a schedule needs name, cron and job");
	return 0;
}

static int
load_schedules(const config_setting_t *l, const char *file,
    const char *const *types, struct cfg *c)
{
	int i, j, n = config_setting_length(l);

	if (config_setting_type(l) != CONFIG_TYPE_LIST &&
	    !(config_setting_type(l) == CONFIG_TYPE_ARRAY && n == 0))
		return bad(l, file, "expected a list ( { ... }, ... )");
	if (n > CFG_MAX_SCHEDULES)
		return bad(l, file, "too many schedules (at most %d)",
		    CFG_MAX_SCHEDULES);
	if (n > 0 && (c->schedules = cfg_alloc(c, (size_t)n *
	    sizeof(*c->schedules))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(l, (unsigned)i);

		if (load_schedule(g, file, types, &c->schedules[i]) < 0)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(c->schedules[j].name,
			    c->schedules[i].name) == 0)
				return bad(g, file, "a second schedule named "
				    "'%s'", c->schedules[i].name);
	}
	c->nschedules = n;
	return 0;
}

static int
load_scheduler(const config_setting_t *g, const char *file, struct cfg *c)
{
	int i, n, rc;

	if (!config_setting_is_group(g))
		return bad(g, file, "expected a group { ... }");
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);

		if (strcmp(k, "timezone") == 0)
			rc = get_zone(s, file, c->sched_timezone,
			    sizeof(c->sched_timezone));
		else if (strcmp(k, "initiate") == 0)
			rc = get_bool(s, file, &c->sched_initiate);
		else if (strcmp(k, "followup") == 0)
			rc = get_bool(s, file, &c->sched_followup);
		else
			return bad(s, file, "unknown setting (known: timezone, "
			    "initiate, followup)");
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int
load_health(const config_setting_t *g, const char *file,
    struct cfg_health *h)
{
	int i, n, rc;
	long long v;

	if (!config_setting_is_group(g))
		return bad(g, file, "expected a group { ... }");
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);

		if (strcmp(k, "max_due_age") == 0) {
			rc = get_duration(s, file, 1000, &h->max_due_age_ms);
		} else if (strcmp(k, "max_heartbeat_age") == 0) {
			rc = get_duration(s, file, 1000,
			    &h->max_heartbeat_age_ms);
		} else if (strcmp(k, "max_dead_per_hour") == 0) {
			rc = get_int(s, file, 0, 1000000, &v);
			h->max_dead_per_hour = (int)v;
		} else {
			return bad(s, file, "unknown setting (known: "
			    "max_due_age, max_heartbeat_age, "
			    "max_dead_per_hour)");
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* A size: integer bytes, or a string with a unit ("64MB", "512KB"). */
static int
get_size(const config_setting_t *s, const char *file, int64_t *out)
{
	const char *v, *errstr;
	char num[32];
	long long n, mult = 1;
	size_t k;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		if (get_int(s, file, 0, 1LL << 40, &n) < 0)
			return -1;
		*out = n;
		return 0;
	}
	v = config_setting_get_string(s);
	k = strspn(v, "0123456789");
	if (k == 0 || k >= sizeof(num))
		return bad(s, file, "expected a size like \"64MB\"");
	if (strcmp(v + k, "") == 0 || strcmp(v + k, "B") == 0)
		mult = 1;
	else if (strcmp(v + k, "KB") == 0)
		mult = 1LL << 10;
	else if (strcmp(v + k, "MB") == 0)
		mult = 1LL << 20;
	else if (strcmp(v + k, "GB") == 0)
		mult = 1LL << 30;
	else
		return bad(s, file, "expected a size like \"64MB\" (B, KB, "
		    "MB, GB)");
	memcpy(num, v, k);
	num[k] = '\0';
	n = strtonum(num, 0, (1LL << 40) / mult, &errstr);
	if (errstr != NULL)
		return bad(s, file, "size %s", errstr);
	*out = n * mult;
	return 0;
}

static int
load_maint(const config_setting_t *g, const char *file, const char *dir,
    struct cfg_maint *m)
{
	int i, n, rc;
	long long v;

	if (!config_setting_is_group(g))
		return bad(g, file, "expected a group { ... }");
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);

		if (strcmp(k, "backup_dir") == 0) {
			rc = resolve(s, file, dir, m->backup_dir,
			    sizeof(m->backup_dir));
		} else if (strcmp(k, "backup_keep") == 0) {
			rc = get_int(s, file, 1, 10000, &v);
			m->backup_keep = (int)v;
		} else if (strcmp(k, "prune_jobs_after") == 0) {
			rc = get_duration(s, file, 60 * 1000,
			    &m->prune_jobs_after_ms);
		} else if (strcmp(k, "prune_messages_after") == 0) {
			rc = get_duration(s, file, 0,
			    &m->prune_messages_after_ms);
		} else if (strcmp(k, "journal_size_limit") == 0) {
			rc = get_size(s, file, &m->journal_size_limit);
		} else {
			return bad(s, file, "unknown setting (known: backup_dir, "
			    "backup_keep, prune_jobs_after, "
			    "prune_messages_after, journal_size_limit)");
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

const struct cfg_bot *
cfg_bot(const struct cfg *cfg, const char *name)
{
	int i;

	for (i = 0; i < cfg->nbots; i++)
		if (strcmp(cfg->bots[i].name, name) == 0)
			return &cfg->bots[i];
	return NULL;
}

/* The file to read, by the search order; "" if none exists. */
static int
find_file(const char *path, char *out, size_t len)
{
	const char *env = getenv("DATER_CONFIG");
	char exe[PATH_MAX], *d;
	ssize_t n;

	if (path != NULL || (env != NULL && *env != '\0')) {
		const char *p = path != NULL ? path : env;

		if (access(p, R_OK) < 0) {
			log_err("config '%s': %s", p, strerror(errno));
			return -1;
		}
		strlcpy(out, p, len);
		return 0;
	}
	*out = '\0';
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		d = dirname(exe);	/* .../bin */
		/* A checkout keeps etc/dater.conf; `make install` puts it in
		 * PREFIX/etc/dater/. */
		if (snprintf(out, len, "%s/../etc/dater.conf", d) < (int)len &&
		    access(out, R_OK) == 0)
			return 0;
		if (snprintf(out, len, "%s/../etc/dater/dater.conf", d) <
		    (int)len && access(out, R_OK) == 0)
			return 0;
	}
	if (access(CFG_SYSTEM_PATH, R_OK) == 0) {
		strlcpy(out, CFG_SYSTEM_PATH, len);
		return 0;
	}
	*out = '\0';
	return 0;
}

/*
 * Refuse @include: libconfig 1.5 ends the process (flex's fatal error,
 * exit 2) on an include of a directory, and resolves a relative one
 * against the working directory, not the file's. 0, or -1 logged with
 * the line.
 */
static int
no_includes(const char *file)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0, n = 0;
	int rc = 0;

	if ((f = fopen(file, "r")) == NULL) {
		log_err("config '%s': %s", file, strerror(errno));
		return -1;
	}
	while (rc == 0 && getline(&line, &cap, f) != -1) {
		n++;
		if (strncmp(line + strspn(line, " \t"), "@include", 8) == 0) {
			log_err("%s:%zu: @include is not supported", file, n);
			rc = -1;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

static int
cfg_read(struct cfg *cfg, const char *path, const char *const *job_types)
{
	struct cfg *c;
	config_t lc;
	char file[PATH_MAX], dir[PATH_MAX];
	int rc = -1;

	if (find_file(path, file, sizeof(file)) < 0)
		return -1;
	if ((c = malloc(sizeof(*c))) == NULL) {
		log_err("config: out of memory");
		return -1;
	}
	cfg_defaults(c);
	if (file[0] == '\0') {
		memcpy(cfg, c, sizeof(*cfg));	/* owns nothing yet */
		free(c);
		return 0;
	}
	config_init(&lc);
	if (no_includes(file) < 0)
		goto out;
	if (config_read_file(&lc, file) != CONFIG_TRUE) {
		log_err("%s:%d: %s", config_error_file(&lc) != NULL ?
		    config_error_file(&lc) : file, config_error_line(&lc),
		    config_error_text(&lc));
		goto out;
	}
	strlcpy(dir, file, sizeof(dir));
	strlcpy(dir, dirname(dir), sizeof(dir));
	if (realpath(file, c->path) == NULL)
		strlcpy(c->path, file, sizeof(c->path));
	if (load_top(config_root_setting(&lc), file, dir, job_types, c) < 0 ||
	    load_bots(config_root_setting(&lc), file, dir, c) < 0)
		goto out;
	/* The profile fields: beside the config unless it says where; none
	 * if there is no such file. */
	if (c->fields[0] == '\0' && (strlcpy(c->fields, dir, sizeof(c->fields))
	    >= sizeof(c->fields) || strlcat(c->fields, "/fields.json",
	    sizeof(c->fields)) >= sizeof(c->fields) ||
	    access(c->fields, F_OK) < 0))
		c->fields[0] = '\0';
	cfg_use_database(c, c->database);
	memcpy(cfg, c, sizeof(*cfg));	/* the move: c's blocks are cfg's */
	memset(c, 0, sizeof(*c));
	rc = 0;
out:
	config_destroy(&lc);
	cfg_release(c);
	free(c);
	return rc;
}

const struct cfg_job *
cfg_job_entry(const struct cfg *cfg, const char *type)
{
	const struct cfg_job *j = NULL;
	int i;

	for (i = 0; i < cfg->njobs; i++)
		if (strcmp(cfg->jobs[i].type, type) == 0)
			j = &cfg->jobs[i];
	return j;
}

void
cfg_job_settings(const struct cfg *cfg, const char *type,
    struct cfg_job *out)
{
	const struct cfg_job *j = cfg_job_entry(cfg, type);

	*out = cfg->queue;
	strlcpy(out->type, type, sizeof(out->type));
	if (j == NULL)
		return;
	if (j->set & CFG_SET_QUEUE)
		strlcpy(out->queue, j->queue, sizeof(out->queue));
	if (j->set & CFG_SET_PRIORITY)
		out->priority = j->priority;
	if (j->set & CFG_SET_MAX_ATTEMPTS)
		out->max_attempts = j->max_attempts;
	if (j->set & CFG_SET_TIMEOUT)
		out->timeout_ms = j->timeout_ms;
	if (j->set & CFG_SET_RETRY_BASE)
		out->retry_base_ms = j->retry_base_ms;
	if (j->set & CFG_SET_RETRY_CAP)
		out->retry_cap_ms = j->retry_cap_ms;
	if (out->retry_cap_ms < out->retry_base_ms)
		out->retry_cap_ms = out->retry_base_ms;
}

int
cfg_load(struct cfg *cfg, const char *path, const char *const *job_types)
{
	struct cfg *c;
	int rc = -1;

	if ((c = malloc(sizeof(*c))) == NULL) {
		log_err("config: out of memory");
		return -1;
	}
	/* Every load and reload registers the secrets it names, so no
	 * program can log or store one unredacted. */
	if (cfg_read(c, path, job_types) == 0 && redact_config(c) == 0) {
		*cfg = *c;
		rc = 0;
	}
	free(c);
	return rc;
}
