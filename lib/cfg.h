/*
 * cfg: the configuration (libconfig), loaded once at start and again on
 * SIGHUP. Everything is copied out of the config_t into plain fields, so a
 * struct cfg owns no heap memory and can be copied; a failed reload leaves
 * the caller's old struct untouched.
 *
 * Search order when no file is given: $DATER_CONFIG, etc/dater.conf beside
 * the binaries' tree (../etc/dater.conf, then ../etc/dater/dater.conf from
 * the executable's directory), /etc/dater/dater.conf; with none of them,
 * the built-in defaults.
 * Relative paths in the file resolve against the file's directory.
 */
#ifndef DATER_CFG_H
#define DATER_CFG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_NAME_MAX 64
#define CFG_MAX_JOBS 64

/* Per-job-type settings; the global ones in cfg.queue are the defaults. */
struct cfg_job {
	char type[CFG_NAME_MAX];	/* "" for the global defaults */
	char queue[CFG_NAME_MAX];
	int priority;			/* 0 = most urgent */
	int max_attempts;
	int64_t timeout_ms;		/* the handler's process is killed after */
	int64_t retry_base_ms;		/* first retry delay; doubles each time */
	int64_t retry_cap_ms;		/* no retry delay is longer */
	unsigned set;			/* CFG_SET_* bits given in the file */
};

enum {
	CFG_SET_QUEUE = 1,
	CFG_SET_PRIORITY = 2,
	CFG_SET_MAX_ATTEMPTS = 4,
	CFG_SET_TIMEOUT = 8,
	CFG_SET_RETRY_BASE = 16,
	CFG_SET_RETRY_CAP = 32
};

enum cfg_sync { CFG_SYNC_OFF = 0, CFG_SYNC_NORMAL = 1, CFG_SYNC_FULL = 2 };

struct cfg {
	char path[PATH_MAX];		/* file loaded; "" = built-in defaults */
	char database[PATH_MAX];	/* resolved against the file's dir */
	enum cfg_sync synchronous;
	int busy_timeout_ms;
	int log_level;			/* enum log_level */
	struct {
		int concurrency;	/* default for dater-worker -n */
		char queues[256];	/* comma-separated; "" = all queues */
		int64_t lease_ms;	/* a claim holds its job this long */
		int64_t heartbeat_ms;	/* supervisor renews leases this often */
		int64_t poll_ms;	/* idle fallback poll */
		int64_t restart_max_ms;	/* cap of the crash-restart backoff */
		int64_t grace_ms;	/* SIGTERM: wait this long for jobs */
	} worker;
	struct cfg_job queue;		/* defaults for every job type */
	struct cfg_job jobs[CFG_MAX_JOBS];
	int njobs;
};

/* Fill cfg with the built-in defaults. */
void cfg_defaults(struct cfg *cfg);

/*
 * Load the configuration: from path if not NULL (an error if missing),
 * else by the search order above. job_types, if not NULL, is a
 * NULL-terminated list of the known job type names; a "jobs" entry for
 * any other name is an error. On error, logs "file:line: why" and
 * returns -1 with *cfg untouched.
 */
int cfg_load(struct cfg *cfg, const char *path, const char *const *job_types);

/* The effective settings for a job type: defaults overlaid with the
 * type's own entry. Always succeeds. */
void cfg_job_settings(const struct cfg *cfg, const char *type,
    struct cfg_job *out);

/* Whether p[0..n) is a name for a queue or job type: 1 to 63 letters,
 * digits, '-', '_' or '.'. */
int cfg_valid_name(const char *p, size_t n);

/* Whether s is "" or names like that separated by single commas. */
int cfg_valid_queues(const char *s);

/* Name of a synchronous mode: "off", "normal", "full". */
const char *cfg_sync_name(enum cfg_sync s);

#endif
