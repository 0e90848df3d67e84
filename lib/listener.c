/*
 * listener: see listener.h for the design. The storing and lease SQL,
 * the listener process, and the bookkeeping the supervisor needs to run
 * one listener per bot.
 */
#define _GNU_SOURCE		/* ppoll */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "listener.h"
#include "log.h"
#include "queue.h"
#include "store.h"
#include "jobtypes.h"
#include "banned.h"

#define LISTENER_EMPTY_MIN_MS 100	/* instant empty answers back off */
#define LISTENER_EMPTY_MAX_MS 2000
#define LISTENER_INSTANT_MS 1000	/* an empty answer faster is instant */
#define LISTENER_ERR_MIN_MS 1000	/* failed getUpdates back off */
#define LISTENER_ERR_MAX_MS (60 * 1000)
#define LISTENER_STABLE_MS 10000	/* a listener that lived this long */
#define LISTENER_STORE_TRIES 20

/* ---- storing ---------------------------------------------------------- */

int
listener_offset(struct db *db, const char *bot, char *buf, size_t len)
{
	char key[CFG_NAME_MAX + 32];

	buf[0] = '\0';
	(void)snprintf(key, sizeof(key), "poll.offset.%s", bot);
	return store_kv_get(db, key, buf, len) < 0 ? -1 : 0;
}

static int
enqueue_update(struct db *db, const struct cfg *cfg, const char *bot,
    const struct transport_update *u)
{
	struct queue_new q;
	char at[CLOCK_RFC3339_LEN], key[256], *payload;
	json_t *j;
	int64_t id;
	int rc;

	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "bot", bot,
	    "platform_id", u->platform_id, "text", u->text != NULL ? u->text :
	    "", "message_id", u->message_id, "name", u->name, "handle",
	    u->handle, "at", clock_format(u->at_ms > 0 ? u->at_ms :
	    clock_now_ms(), at, sizeof(at)));
	/* No name or username: the keys are left out (inbound's check
	 * wants a non-empty string where one is given). */
	if (j != NULL && u->name[0] == '\0')
		json_object_del(j, "name");
	if (j != NULL && u->handle[0] == '\0')
		json_object_del(j, "handle");
	if (j == NULL || (payload = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		log_err("bot '%s': out of memory storing an update", bot);
		return -1;
	}
	json_decref(j);
	(void)snprintf(key, sizeof(key), "inbound:%s:%s:%s", bot,
	    u->platform_id, u->message_id);
	queue_new_init(&q);
	q.type = JT_INBOUND;
	q.payload = payload;
	q.unique_key = key;
	q.priority = 10;
	q.bot = bot;
	queue_new_configure(&q, cfg);
	rc = queue_add(db, &q, &id, NULL);
	free(payload);
	return rc;
}

int
listener_store(struct db *db, const struct cfg *cfg, const char *bot,
    const struct transport_batch *b)
{
	char key[CFG_NAME_MAX + 32];
	size_t i;
	int ok = 0;

	if (b->n == 0 && b->skipped == 0 && b->next_offset[0] == '\0')
		return 0;
	if (db_begin(db) < 0)
		return -1;
	for (i = 0; i < b->n; i++)
		if (enqueue_update(db, cfg, bot, &b->ups[i]) < 0)
			goto out;
	(void)snprintf(key, sizeof(key), "poll.offset.%s", bot);
	if (b->next_offset[0] != '\0' &&
	    store_kv_set(db, key, b->next_offset) < 0)
		goto out;
	(void)snprintf(key, sizeof(key), "poll.skipped.%s", bot);
	if (b->skipped > 0 && store_kv_add(db, key, (int64_t)b->skipped) < 0)
		goto out;
	ok = db_commit(db) == 0;
out:
	if (!ok) {
		db_rollback(db);
		return -1;
	}
	if (b->skipped > 0)
		log_warn("bot '%s': skipped %zu unreadable update%s (%s)", bot,
		    b->skipped, b->skipped == 1 ? "" : "s", b->skip_why);
	return 0;
}

/* ---- the lease -------------------------------------------------------- */

/* since stays when the same tree renews; lease_until only grows. */
static const char sql_lease_take[] =
    "INSERT INTO listeners (bot, holder, host, pid, since, lease_until)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    " ON CONFLICT (bot) DO UPDATE SET holder = excluded.holder,"
    " host = excluded.host, pid = excluded.pid,"
    " since = CASE WHEN listeners.holder = excluded.holder"
    "  THEN listeners.since ELSE excluded.since END,"
    " lease_until = max(listeners.lease_until, excluded.lease_until)"
    " WHERE listeners.holder = excluded.holder"
    " OR listeners.lease_until <= excluded.since";

int
listener_lease_take(struct db *db, const char *bot, const char *holder,
    const char *host, long pid, int64_t lease_ms)
{
	struct dbst *st;
	int64_t now = clock_now_ms();
	int n = 0, ok = 0;

	if (db_begin(db) < 0)
		return -1;
	if ((st = db_stmt(db, sql_lease_take)) == NULL)
		goto out;
	db_bind_text(st, 1, bot);
	db_bind_text(st, 2, holder);
	db_bind_text(st, 3, host);
	db_bind_int64(st, 4, pid);
	db_bind_int64(st, 5, now);
	db_bind_int64(st, 6, now + lease_ms);
	if (db_run(db, st, "take the listener lease in", &n) < 0)
		goto out;
	ok = db_commit(db) == 0;
out:
	if (!ok) {
		db_rollback(db);
		return -1;
	}
	return n == 1;
}

static const char sql_lease_renew[] =
    "UPDATE listeners SET lease_until = max(lease_until, ?3)"
    " WHERE holder = ?1 AND pid = ?2";

int
listener_lease_renew(struct db *db, const char *holder, long pid,
    int64_t lease_ms)
{
	struct dbst *st = db_stmt(db, sql_lease_renew);

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, holder);
	db_bind_int64(st, 2, pid);
	db_bind_int64(st, 3, clock_now_ms() + lease_ms);
	return db_run(db, st, "renew the listener lease in", NULL);
}

static const char sql_lease_drop[] =
    "DELETE FROM listeners WHERE holder = ?1 AND (?2 IS NULL OR bot = ?2)";

int
listener_lease_drop(struct db *db, const char *holder, const char *bot)
{
	struct dbst *st = db_stmt(db, sql_lease_drop);

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, holder);
	if (bot != NULL)
		db_bind_text(st, 2, bot);
	return db_run(db, st, "drop the listener lease in", NULL);
}

static const char sql_lease_get[] =
    "SELECT bot, holder, host, pid, since, lease_until FROM listeners"
    " WHERE bot = ?1";

int
listener_lease_get(struct db *db, const char *bot,
    struct listener_lease *out)
{
	struct dbst *st = db_stmt(db, sql_lease_get);
	int rc, found = 0;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, bot);
	rc = db_step(st);
	if (rc == DB_ROW) {
		memset(out, 0, sizeof(*out));
		db_col_copy(st, 0, out->bot, sizeof(out->bot));
		db_col_copy(st, 1, out->holder, sizeof(out->holder));
		db_col_copy(st, 2, out->host, sizeof(out->host));
		out->pid = (long)db_col_int64(st, 3);
		out->since = db_col_int64(st, 4);
		out->lease_until = db_col_int64(st, 5);
		found = 1;
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, "read the listener lease from");
	return found;
}

/* ---- the listener process --------------------------------------------- */

static volatile sig_atomic_t lst_term;

static void
lst_on_signal(int sig)
{
	if (sig == SIGTERM || sig == SIGINT)
		lst_term = 1;
}

struct lst {
	const struct listener_env *env;
	const struct cfg *cfg;
	const struct cfg_bot *bot;
	struct db db;
	sigset_t wait_mask;	/* sleeping: TERM and INT let through */
	int held;		/* we hold the lease: 1, 0, -1 unknown */
	int64_t empty_ms;	/* the backoff of instant empty answers */
	int64_t err_ms;		/* the backoff of failures */
};

/* Sleep ms, or until SIGTERM/SIGINT. */
static void
lst_sleep(struct lst *l, int64_t ms)
{
	struct timespec ts;

	if (ms <= 0 || lst_term)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	(void)ppoll(NULL, 0, &ts, &l->wait_mask);
}

/*
 * getUpdates with SIGTERM at its default action: a stop during the long
 * poll ends the process at once (the offset has not moved; the updates
 * come again). Outside of it, TERM only sets the flag.
 */
static int
lst_fetch(struct lst *l, const char *offset, struct transport_batch *b,
    struct transport_result *res)
{
	struct sigaction dfl, old;
	sigset_t term;
	int rc;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	memset(b, 0, sizeof(*b));
	memset(res, 0, sizeof(*res));
	if (lst_term)
		return -1;
	sigaction(SIGTERM, &dfl, &old);
	sigaction(SIGINT, &dfl, NULL);
	sigprocmask(SIG_UNBLOCK, &term, NULL);
	rc = transport_poll(&l->bot->transport, offset,
	    (int)(l->bot->transport.poll_timeout_ms / 1000), b, res);
	sigprocmask(SIG_BLOCK, &term, NULL);
	sigaction(SIGTERM, &old, NULL);
	sigaction(SIGINT, &old, NULL);
	return rc;
}

/* A failed getUpdates: say so once per backoff step, then wait. */
static void
lst_failed(struct lst *l, const struct transport_result *res)
{
	int64_t wait, now = clock_now_ms();

	l->err_ms = l->err_ms == 0 ? LISTENER_ERR_MIN_MS :
	    l->err_ms * 2 > LISTENER_ERR_MAX_MS ? LISTENER_ERR_MAX_MS :
	    l->err_ms * 2;
	wait = l->err_ms;
	if (res->retry_at_ms > now && res->retry_at_ms - now > wait)
		wait = res->retry_at_ms - now;
	log_warn("bot '%s': listener: %s; again in %lld ms", l->bot->name,
	    res->error, (long long)wait);
	lst_sleep(l, wait);
}

/* An answer came: store it; back off when it was empty at once. */
static void
lst_got(struct lst *l, const struct transport_batch *b, int64_t took_ms)
{
	int try;

	l->err_ms = 0;
	if (b->n == 0 && b->skipped == 0) {
		if (took_ms < LISTENER_INSTANT_MS) {
			l->empty_ms = l->empty_ms == 0 ? LISTENER_EMPTY_MIN_MS :
			    l->empty_ms * 2 > LISTENER_EMPTY_MAX_MS ?
			    LISTENER_EMPTY_MAX_MS : l->empty_ms * 2;
			lst_sleep(l, l->empty_ms);
		}
		if (b->next_offset[0] == '\0')
			return;
	} else
		l->empty_ms = 0;
	for (try = 0; try < LISTENER_STORE_TRIES && !lst_term; try++) {
		if (listener_store(&l->db, l->cfg, l->bot->name, b) == 0)
			return;
		lst_sleep(l, 50LL * (try + 1));
	}
	log_err("bot '%s': listener: could not store %zu update%s; they "
	    "will be fetched again", l->bot->name, b->n, b->n == 1 ? "" : "s");
}

/* Say once that another tree holds the lease. */
static void
lst_waiting(struct lst *l)
{
	struct listener_lease o;

	if (listener_lease_get(&l->db, l->bot->name, &o) == 1)
		log_info("bot '%s': the listener lease is held by dater-worker "
		    "%s (pid %ld); waiting", l->bot->name, o.holder, o.pid);
}

/* Hold the lease, or wait for it. 1: go ahead and poll. */
static int
lst_lease(struct lst *l)
{
	int rc;

	rc = listener_lease_take(&l->db, l->bot->name, l->env->holder,
	    l->env->host, (long)getpid(), l->cfg->worker.lease_ms);
	if (rc == 1 && l->held != 1)
		log_info("bot '%s': listening (getUpdates timeout %lld s)",
		    l->bot->name,
		    (long long)(l->bot->transport.poll_timeout_ms / 1000));
	else if (rc == 0 && l->held != 0)
		lst_waiting(l);
	if (rc >= 0)
		l->held = rc;
	if (rc != 1)
		lst_sleep(l, rc < 0 ? 1000 : l->cfg->worker.heartbeat_ms);
	return rc == 1;
}

static int
lst_loop(struct lst *l)
{
	struct transport_batch b;
	struct transport_result res;
	char offset[64];
	int64_t t0;

	while (!lst_term) {
		if (!lst_lease(l))
			continue;
		if (listener_offset(&l->db, l->bot->name, offset,
		    sizeof(offset)) < 0) {
			lst_sleep(l, 1000);
			continue;
		}
		t0 = clock_mono_ms();
		if (lst_fetch(l, offset, &b, &res) < 0) {
			if (!lst_term)
				lst_failed(l, &res);
			continue;
		}
		lst_got(l, &b, clock_mono_ms() - t0);
		transport_batch_release(&b);
	}
	return EX_OK;
}

static void __attribute__((noreturn))
lst_main(const struct listener_env *env, const struct cfg *cfg,
    const char *bot, pid_t parent)
{
	struct sigaction sa;
	struct lst *l;
	sigset_t block;
	int rc;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(EX_OK);
	lst_term = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = lst_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);	/* the supervisor restarts us */
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	if ((l = calloc(1, sizeof(*l))) == NULL)
		_exit(EX_OSERR);
	sigprocmask(SIG_BLOCK, &block, &l->wait_mask);
	sigdelset(&l->wait_mask, SIGTERM);
	sigdelset(&l->wait_mask, SIGINT);
	log_init("dater-worker", (enum log_level)cfg->log_level, 1);
	l->env = env;
	l->cfg = cfg;
	l->held = -1;
	if ((l->bot = cfg_bot(cfg, bot)) == NULL)
		_exit(EX_OK);
	if (db_open(&l->db, env->db_path, cfg, 0) != 0)
		_exit(EX_UNAVAILABLE);
	rc = lst_loop(l);
	db_close(&l->db);
	free(l);
	_exit(rc);
}

/* ---- supervision ------------------------------------------------------ */

struct lst_child {
	char bot[CFG_NAME_MAX];
	char *sig;		/* its transport as started: a change
				 * restarts it (see lst_sig) */
	pid_t pid;		/* 0: not running */
	int64_t started;	/* mono ms */
	int64_t restart_at;	/* mono ms; 0: none pending */
	int crashes;		/* consecutive short lives */
	int retired;		/* not wanted: forget it once it exits */
};

struct listener_set {
	const struct listener_env *env;
	struct lst_child *kids;
	size_t n, cap;
	int stopping;
};

struct listener_set *
listener_set_new(const struct listener_env *env)
{
	struct listener_set *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_err("out of memory");
		return NULL;
	}
	s->env = env;
	return s;
}

void
listener_set_free(struct listener_set *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		free(s->kids[i].sig);
	free(s->kids);
	free(s);
}

/* What of a bot's transport its listener was started with, as one string
 * (the cfg's own strings do not outlive a reload). NULL: out of memory. */
static char *
lst_sig(const struct cfg_transport *t)
{
	char *sig;

	if (asprintf(&sig, "%s\n%s\n%s\n%lld\n%d\n%lld", t->driver,
	    t->base_url != NULL ? t->base_url : "", t->token_env,
	    (long long)t->timeout_ms, t->listen,
	    (long long)t->poll_timeout_ms) < 0)
		return NULL;
	return sig;
}

/* Forget child i (not running). */
static void
lst_forget(struct listener_set *s, size_t i)
{
	free(s->kids[i].sig);
	s->kids[i] = s->kids[--s->n];
}

static int
lst_wanted(const struct cfg_bot *b)
{
	return strcmp(b->transport.driver, "telegram") == 0 &&
	    b->transport.listen;
}

static void
lst_spawn(struct listener_set *s, const struct cfg *cfg, struct lst_child *c)
{
	pid_t pid, parent = getpid();

	fflush(NULL);
	if ((pid = fork()) < 0) {
		log_err("fork: %s", strerror(errno));
		c->restart_at = clock_mono_ms() + 1000;
		return;
	}
	if (pid == 0)
		lst_main(s->env, cfg, c->bot, parent);
	c->pid = pid;
	c->started = clock_mono_ms();
	c->restart_at = 0;
	log_debug("started the listener of bot '%s' (pid %ld)", c->bot,
	    (long)pid);
}

static struct lst_child *
lst_find(struct listener_set *s, const char *bot)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!s->kids[i].retired && strcmp(s->kids[i].bot, bot) == 0)
			return &s->kids[i];
	return NULL;
}

static struct lst_child *
lst_add(struct listener_set *s, const struct cfg_bot *b)
{
	struct lst_child *k;
	size_t cap;

	if (s->n == s->cap) {
		cap = s->cap == 0 ? 8 : s->cap * 2;
		if ((k = reallocarray(s->kids, cap, sizeof(*k))) == NULL) {
			log_err("out of memory");
			return NULL;
		}
		s->kids = k;
		s->cap = cap;
	}
	k = &s->kids[s->n];
	memset(k, 0, sizeof(*k));
	if ((k->sig = lst_sig(&b->transport)) == NULL) {
		log_err("out of memory");
		return NULL;
	}
	s->n++;
	strlcpy(k->bot, b->name, sizeof(k->bot));
	k->restart_at = 1;	/* due now */
	return k;
}

/* Retire c: stop it, or forget it at once if it is not running. */
static void
lst_retire(struct listener_set *s, size_t i)
{
	struct lst_child *c = &s->kids[i];

	if (c->pid > 0) {
		c->retired = 1;
		kill(c->pid, SIGTERM);
		return;
	}
	lst_forget(s, i);
}

void
listener_sync(struct listener_set *s, const struct cfg *cfg)
{
	const struct cfg_bot *b;
	struct lst_child *c;
	int64_t now = clock_mono_ms();
	size_t i;
	char *sig;
	int k, same;

	if (s->stopping)
		return;
	for (i = s->n; i-- > 0;) {
		c = &s->kids[i];
		if (c->retired)
			continue;
		b = cfg_bot(cfg, c->bot);
		if (b == NULL || !lst_wanted(b)) {
			lst_retire(s, i);
			continue;
		}
		if ((sig = lst_sig(&b->transport)) == NULL)
			continue;	/* keep it as it is */
		same = strcmp(sig, c->sig) == 0;
		free(sig);
		if (!same)
			lst_retire(s, i);
	}
	for (k = 0; k < cfg->nbots; k++)
		if (lst_wanted(&cfg->bots[k]) &&
		    lst_find(s, cfg->bots[k].name) == NULL)
			(void)lst_add(s, &cfg->bots[k]);
	for (i = 0; i < s->n; i++) {
		c = &s->kids[i];
		if (c->pid == 0 && !c->retired && c->restart_at > 0 &&
		    c->restart_at <= now)
			lst_spawn(s, cfg, c);
	}
}

int
listener_reaped(struct listener_set *s, const struct cfg *cfg, pid_t pid,
    int status)
{
	struct lst_child *c;
	struct db db;
	int64_t now = clock_mono_ms(), delay;
	size_t i;

	for (i = 0; i < s->n && s->kids[i].pid != pid; i++)
		;
	if (i == s->n)
		return 0;
	c = &s->kids[i];
	c->pid = 0;
	if (s->stopping || c->retired) {
		/* no longer wanted here: another tree may take it at once */
		if (c->retired && db_open(&db, s->env->db_path, cfg, 0) == 0) {
			(void)listener_lease_drop(&db, s->env->holder, c->bot);
			db_close(&db);
		}
		lst_forget(s, i);
		return 1;
	}
	if (WIFSIGNALED(status))
		log_warn("the listener of bot '%s' died: killed by signal %d "
		    "(%s)", c->bot, WTERMSIG(status), strsignal(WTERMSIG(
		    status)));
	else
		log_warn("the listener of bot '%s' exited with status %d",
		    c->bot, WEXITSTATUS(status));
	c->crashes = now - c->started < LISTENER_STABLE_MS ? c->crashes + 1 :
	    1;
	delay = c->crashes <= 1 ? 0 : 100LL << (c->crashes < 12 ?
	    c->crashes - 2 : 10);
	if (delay > cfg->worker.restart_max_ms)
		delay = cfg->worker.restart_max_ms;
	c->restart_at = now + (delay > 0 ? delay : 1);
	return 1;
}

void
listener_stop(struct listener_set *s, int sig)
{
	size_t i;

	s->stopping = 1;
	for (i = 0; i < s->n; i++)
		if (s->kids[i].pid > 0)
			kill(s->kids[i].pid, sig);
}

int
listener_running(const struct listener_set *s)
{
	size_t i;
	int n = 0;

	for (i = 0; i < s->n; i++)
		n += s->kids[i].pid > 0;
	return n;
}

int64_t
listener_next_restart(const struct listener_set *s)
{
	int64_t at = INT64_MAX;
	size_t i;

	if (s->stopping)
		return at;
	for (i = 0; i < s->n; i++)
		if (s->kids[i].pid == 0 && !s->kids[i].retired &&
		    s->kids[i].restart_at > 0 && s->kids[i].restart_at < at)
			at = s->kids[i].restart_at;
	return at;
}

void
listener_heartbeat(struct listener_set *s, struct db *db,
    const struct cfg *cfg)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->kids[i].pid > 0 && !s->kids[i].retired)
			(void)listener_lease_renew(db, s->env->holder,
			    (long)s->kids[i].pid, cfg->worker.lease_ms);
}
