/*
 * cfg: libconfig is read into a config_t, every setting is checked
 * against a table of known keys (type and range), and the values are
 * copied into a fresh struct cfg that replaces the caller's only when the
 * whole file is valid.
 */
#include <errno.h>
#include <libconfig.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "clock.h"
#include "log.h"
#include "banned.h"

#define CFG_SYSTEM_PATH "/etc/dater/dater.conf"
#define CFG_DEFAULT_DB "/var/lib/dater/dater.db"

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
	strlcpy(cfg->queue.queue, "default", sizeof(cfg->queue.queue));
	cfg->queue.priority = 100;
	cfg->queue.max_attempts = 25;
	cfg->queue.timeout_ms = 5 * 60 * 1000;
	cfg->queue.retry_base_ms = 15 * 1000;
	cfg->queue.retry_cap_ms = 6 * 3600 * 1000;
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
		return bad(s, file, "too long (at most %s bytes)",
		    len == CFG_NAME_MAX ? "63" : "4095");
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
		} else {
			return bad(s, file, "unknown setting (known: "
			    "concurrency, queues, lease, heartbeat, "
			    "poll_interval, restart_backoff_max, "
			    "shutdown_grace)");
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
		} else if (strcmp(k, "worker") == 0 ||
		    strcmp(k, "queue") == 0) {
			return bad(s, file, "expected a group { ... }");
		} else {
			return bad(s, file, "unknown setting (known: database, "
			    "synchronous, busy_timeout, log_level, worker, "
			    "queue, jobs)");
		}
		if (rc < 0)
			return -1;
	}
	return i < n ? -1 : 0;
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

int
cfg_load(struct cfg *cfg, const char *path, const char *const *job_types)
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
		*cfg = *c;
		free(c);
		return 0;
	}
	config_init(&lc);
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
	if (load_top(config_root_setting(&lc), file, dir, job_types, c) < 0)
		goto out;
	*cfg = *c;
	rc = 0;
out:
	config_destroy(&lc);
	free(c);
	return rc;
}

void
cfg_job_settings(const struct cfg *cfg, const char *type,
    struct cfg_job *out)
{
	const struct cfg_job *j = NULL;
	int i;

	*out = cfg->queue;
	strlcpy(out->type, type, sizeof(out->type));
	for (i = 0; i < cfg->njobs; i++)
		if (strcmp(cfg->jobs[i].type, type) == 0)
			j = &cfg->jobs[i];
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
