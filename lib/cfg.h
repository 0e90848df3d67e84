/*
 * cfg: the configuration (libconfig), loaded once at start and again on
 * SIGHUP. Everything is copied out of the config_t.
 *
 * Ownership, the one rule: a struct cfg owns its bots and schedules
 * arrays and every string its pointers lead to (or they are static
 * text), all in one list of blocks that cfg_release() frees. So a struct
 * cfg is never copied by value (the copy would share them): it travels
 * as a pointer, and ownership moves only with cfg_move(). Pointers into
 * a cfg (a bot, its persona) live until that cfg is released. A reload
 * loads into a new struct and, on success, moves it over the old one
 * (which releases the old); a failed reload leaves the old untouched.
 * Within one cfg, policies may share strings (every bot starts from the
 * defaults), which is why nothing but cfg_release() frees them.
 *
 * There is no fixed number of bots: the arrays are sized from the file.
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
#define CFG_BATCH_DEFAULT 16	/* worker.batch */
#define CFG_BATCH_MAX 256

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

#define CFG_MAX_OPT_OUT 48	/* phrases per policy */
#define CFG_PHRASE_MAX 64	/* an opt-out phrase, with its NUL */
#define CFG_TEXT_MAX 4096	/* persona, with its NUL */
#define CFG_LINE_MAX 512	/* short texts: disclosure, replies */
#define CFG_URL_MAX 512
#define CFG_POLL_TIMEOUT_MAX_MS (600LL * 1000)

struct cfg_mem;			/* the blocks a struct cfg owns */

/* The LLM: OpenAI-compatible Chat Completions, or the offline provider.
 * The global `llm` group; every bot has its own effective copy (the
 * global one overlaid with `defaults.llm`, then the bot's `llm`). */
struct cfg_llm {
	char provider[16];		/* "openai" or "offline" */
	const char *base_url;		/* POST {base_url}/chat/completions */
	char model[128];
	char api_key_env[64];		/* the variable holding the key; "" none */
	int64_t timeout_ms;
	int max_completion_tokens;
	double temperature;
	int has_temperature;		/* 0: omitted from the request */
	double price_in_per_mtok;	/* USD per million tokens */
	double price_out_per_mtok;
};

/* A bot's messaging transport. The string pointers of a loaded one are
 * never NULL ("" when unset); one built by hand must set those its driver
 * reads. URLs are shorter than CFG_URL_MAX. */
struct cfg_transport {
	char driver[16];		/* "telegram", "webhook", "console" */
	const char *base_url;		/* telegram: https://api.telegram.org */
	char token_env[64];		/* telegram: variable with the token */
	const char *url;		/* webhook: where to POST */
	const char *path;		/* console: the outbox file; "" none */
	int path_default;		/* path is outbox.jsonl beside the db */
	int64_t timeout_ms;
	int listen;			/* telegram: a long-poll listener */
	int64_t poll_timeout_ms;	/* its getUpdates timeout (whole s) */
};

/* A bot's policies; inherited built-in -> `defaults` -> `bots[i]`.
 * The string pointers are never NULL; they point to static text or into
 * the cfg that holds the policy. */
struct cfg_policy {
	const char *persona;		/* at most CFG_TEXT_MAX - 1 bytes */
	char model[128];		/* "" = llm.model */
	int reply_delay_min_s, reply_delay_max_s;
	int quiet_start_min, quiet_end_min;	/* minutes of the day */
	int has_quiet;
	char timezone[64];		/* for contacts without one; "" = UTC */
	int max_per_hour;		/* outbound per bot; 0 = no limit */
	int max_per_chat_hour;		/* outbound per contact; 0 = no limit */
	int max_initiations_per_day;
	int max_unanswered;		/* loop guard */
	int64_t followup_after_ms;	/* quiet this long: a follow-up */
	int64_t followup_horizon_ms;	/* no nudges to conversations whose
					 * last message is older; 0 = none */
	const char *const *opt_out;	/* n_opt_out phrases */
	int n_opt_out;
	const char *opt_out_reply;	/* < CFG_LINE_MAX bytes */
	const char *disclosure;		/* "" = off; < CFG_LINE_MAX bytes */
	int review;			/* drafts wait for approval */
	double daily_budget_usd;	/* 0 = no budget */
	int history_messages;
	int summary_after;		/* messages before summarizing */
	int max_reply_chars;		/* drafts longer are refused */
};

struct cfg_bot {
	char name[CFG_NAME_MAX];
	struct cfg_transport transport;
	struct cfg_policy policy;
	struct cfg_llm llm;		/* the effective LLM settings */
};

#define CFG_MAX_SCHEDULES 64	/* a sanity bound, not a buffer */

/* A periodic job: `schedules = ( { name; cron; job; payload; ... } )`. */
struct cfg_schedule {
	char name[CFG_NAME_MAX];
	char cron[128];			/* 5 fields or a macro (cron.h) */
	char job[CFG_NAME_MAX];		/* a job type */
	char payload[1024];		/* JSON object text; "{}" default */
	char queue[CFG_NAME_MAX];	/* "" = the type's */
	int priority;			/* -1 = the type's */
};

/* The maintenance jobs' settings: `maintenance = { ... }`. */
struct cfg_maint {
	char backup_dir[PATH_MAX];	/* default: backups/ beside the db */
	int backup_keep;		/* newest N backups kept */
	int64_t prune_jobs_after_ms;	/* finished jobs older are deleted */
	int64_t prune_messages_after_ms;	/* 0 = keep messages */
	int64_t journal_size_limit;	/* bytes the -wal file is cut to */
};

/* The health checks' thresholds, `health = { ... }`: one definition for
 * dater-report health, the dashboard and the Prometheus export. */
struct cfg_health {
	int64_t max_due_age_ms;		/* the oldest due job may wait */
	int64_t max_heartbeat_age_ms;	/* 0: 3 heartbeats, at least 30 s */
	int max_dead_per_hour;		/* more dead jobs an hour fail */
};

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
		int batch;		/* batchable jobs claimed per commit */
	} worker;
	struct cfg_job queue;		/* defaults for every job type */
	struct cfg_job jobs[CFG_MAX_JOBS];
	int njobs;
	char fields[PATH_MAX];		/* profile field definitions (JSON) */
	struct cfg_llm llm;
	struct cfg_policy defaults;	/* built-in overlaid with `defaults` */
	struct cfg_llm defaults_llm;	/* llm overlaid with `defaults.llm` */
	struct cfg_bot *bots;		/* nbots of them, owned */
	int nbots;
	struct cfg_schedule *schedules;	/* nschedules of them, owned */
	int nschedules;
	char sched_timezone[64];	/* scheduler.timezone; "" = UTC */
	int sched_initiate;		/* scheduler enqueues due openers */
	int sched_followup;		/* ... and follow-ups */
	struct cfg_maint maint;
	struct cfg_health health;
	struct cfg_mem *mem;		/* what the pointers above lead to */
};

/* Use the database at path (a -d or $DATER_DB override): cfg->database
 * and what defaults to living beside it (console outboxes) follow it. */
void cfg_use_database(struct cfg *cfg, const char *path);

/* Whether a database name is a PostgreSQL URI (postgresql:// or
 * postgres://); anything else names a SQLite file. */
int cfg_is_pg_uri(const char *name);

/* The bot named name, or NULL. */
const struct cfg_bot *cfg_bot(const struct cfg *cfg, const char *name);

/* Fill cfg with the built-in defaults (no bots). cfg is overwritten,
 * not released: it must own nothing (zeroed, released, or never used);
 * the result owns nothing either. */
void cfg_defaults(struct cfg *cfg);

/*
 * Load the configuration: from path if not NULL (an error if missing),
 * else by the search order above. job_types, if not NULL, is a
 * NULL-terminated list of the known job type names; a "jobs" entry for
 * any other name is an error. On success *cfg is overwritten (not
 * released: give a struct that owns nothing; to reload, load into a new
 * one and cfg_move() it over the old) and owns what it holds: release it
 * with cfg_release(). On error, logs "file:line: why" and returns -1
 * with *cfg untouched. On success the secrets the configuration
 * names replace the process's set (redact_config).
 */
int cfg_load(struct cfg *cfg, const char *path, const char *const *job_types);

/* Free everything cfg owns and zero it. Safe on a zeroed struct and on
 * one from cfg_defaults(). */
void cfg_release(struct cfg *cfg);

/* Move src's configuration into dst: dst's old one is released, src is
 * left zeroed. The only way a configuration changes hands. */
void cfg_move(struct cfg *dst, struct cfg *src);

/* The effective settings for a job type: defaults overlaid with the
 * type's own entry. Always succeeds. */
void cfg_job_settings(const struct cfg *cfg, const char *type,
    struct cfg_job *out);

/* The type's own `jobs.TYPE` entry (its set bits say what the file
 * gave), or NULL. Borrowed from cfg. */
const struct cfg_job *cfg_job_entry(const struct cfg *cfg, const char *type);

/* Whether p[0..n) is a name for a queue or job type: 1 to 63 letters,
 * digits, '-', '_' or '.'. */
int cfg_valid_name(const char *p, size_t n);

/* Whether s is "" or names like that separated by single commas. */
int cfg_valid_queues(const char *s);

/* Name of a synchronous mode: "off", "normal", "full". */
const char *cfg_sync_name(enum cfg_sync s);

/* The built-in defaults into p (all of it overwritten): a warm, honest
 * persona; model ""; reply delay 20-90 s; quiet 23:00-08:00; 30 an hour
 * per bot, 6 per chat; 10 initiations a day; 2 unanswered; follow-up
 * after 2 days, none to conversations quiet for over 14 days; 44 opt-out
 * phrases in English, German, French, Spanish,
 * Italian, Portuguese, Russian, Ukrainian and Polish (room left for 4
 * more); a confirmation reply; disclosure on; no review; no daily
 * budget (0); 20 history messages; summary after 40; 1000 characters.
 * The strings are static. */
void cfg_policy_defaults(struct cfg_policy *p);

/* Parse exactly "HH:MM-HH:MM" (00:00 to 23:59) into minutes of the
 * day. 0, or -1 with the outputs untouched. */
int cfg_parse_quiet(const char *s, int *start_min, int *end_min);

/* The transport drivers a bot may name (NULL-terminated): the loader
 * refuses any other, knowing the names only (lib/transport*.c has the
 * drivers; check_transport keeps the two lists equal). */
extern const char *const cfg_transport_drivers[];

/* Whether s is one of list (NULL-terminated): 1 or 0. */
int cfg_in_list(const char *const *list, const char *s);

#endif
