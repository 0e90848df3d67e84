/*
 * listener: real-time inbound. dater-worker's supervisor runs one
 * listener process per Telegram bot whose transport has `listen` on; it
 * long-polls getUpdates (timeout poll_timeout) and stores each update as
 * an `inbound` job, moving the update offset in the same transaction
 * (listener_store, which the `poll` job shares), so a crash or SIGKILL
 * at any moment re-fetches rather than loses.
 *
 * One listener per bot across every dater-worker tree on the database:
 * the `listeners` table holds a lease per bot, taken with one
 * conditional upsert (free, expired, or already this tree's), renewed by
 * the holding tree's supervisor on every heartbeat and by the listener
 * before every getUpdates, dropped when the tree stops. A tree that dies
 * keeps it until lease_until (worker.lease); then another tree's
 * listener, which retries every heartbeat, takes it over.
 *
 * An empty answer that came at once (a server that ignores the timeout,
 * as the test emulator does) backs off 100 ms doubling to 2 s until
 * updates come; errors back off 1 s doubling to a minute (or as long as
 * Telegram's retry_after says, at most an hour).
 *
 * Signals (the listener process): SIGTERM/SIGINT end it; a long poll in
 * progress is abandoned (nothing is lost: the offset only moves with the
 * stored jobs). SIGHUP is the supervisor's: it reloads the configuration
 * and starts, stops or restarts listeners to match it.
 */
#ifndef DATER_LISTENER_H
#define DATER_LISTENER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cfg.h"
#include "db.h"
#include "transport.h"

/* ---- storing what a poll fetched (shared with jobs/poll.c) ---- */

/* The update offset kept for bot ("" if none yet) into buf. 0 or -1. */
int listener_offset(struct db *db, const char *bot, char *buf, size_t len);

/*
 * In one transaction: one `inbound` job per update of b (unique per bot,
 * chat and message id), the offset moved to b->next_offset, and
 * b->skipped added to the bot's count of unreadable updates (kv
 * "poll.skipped.BOT", warned about here). Returns 0, or -1 with nothing
 * stored (logged). The jobs take cfg's jobs.inbound settings.
 */
int listener_store(struct db *db, const struct cfg *cfg, const char *bot,
    const struct transport_batch *b);

/* ---- the lease ---- */

struct listener_lease {
	char bot[CFG_NAME_MAX];
	char holder[128];	/* the tree: "host:pid" of its supervisor */
	char host[64];
	long pid;		/* the listener process */
	int64_t since;		/* ms: when this tree took it */
	int64_t lease_until;	/* ms */
};

/*
 * Take or renew bot's lease for holder (listener process pid on host)
 * until now + lease_ms: when it is free, expired, or holder's already.
 * Returns 1 if holder holds it now, 0 if another tree does, -1 on error.
 */
int listener_lease_take(struct db *db, const char *bot, const char *holder,
    const char *host, long pid, int64_t lease_ms);

/* Renew the leases holder's listener process pid holds (the
 * supervisor's heartbeat). 0 or -1. */
int listener_lease_renew(struct db *db, const char *holder, long pid,
    int64_t lease_ms);

/* Drop holder's lease of bot (NULL: all of holder's). 0 or -1. */
int listener_lease_drop(struct db *db, const char *holder, const char *bot);

/* Bot's lease row (even expired). 1 found (*out filled), 0 none, -1. */
int listener_lease_get(struct db *db, const char *bot,
    struct listener_lease *out);

/* ---- supervision (called by lib/worker.c's supervisor) ---- */

struct listener_set;

/* What every listener of a tree shares. Strings borrowed for the set's
 * life. */
struct listener_env {
	const char *db_path;
	const char *holder;	/* the tree id: "host:supervisor pid" */
	const char *host;
};

/* A new, empty set, or NULL (logged). Free with listener_set_free; it
 * must hold no running listener by then. */
struct listener_set *listener_set_new(const struct listener_env *env);
void listener_set_free(struct listener_set *s);

/*
 * Make the running listeners match cfg (the bots whose transport is
 * telegram with listen on): start the missing ones, SIGTERM the ones no
 * longer wanted and restart those whose transport settings changed.
 * Restarts pending after a crash are started once due. Does nothing
 * while stopping. Call after fork-safe points only (it forks).
 */
void listener_sync(struct listener_set *s, const struct cfg *cfg);

/* A child exited: 1 if it was one of the set's listeners (its restart
 * is scheduled with backoff, or it is forgotten if retired), else 0. */
int listener_reaped(struct listener_set *s, const struct cfg *cfg,
    pid_t pid, int status);

/* Stop: no more (re)starts; send sig to every running listener. */
void listener_stop(struct listener_set *s, int sig);

/* Running listeners. */
int listener_running(const struct listener_set *s);

/* The earliest pending restart (mono ms), or INT64_MAX. */
int64_t listener_next_restart(const struct listener_set *s);

/* The heartbeat: renew the leases of the running listeners. */
void listener_heartbeat(struct listener_set *s, struct db *db,
    const struct cfg *cfg);

#endif
