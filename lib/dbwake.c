/*
 * dbwake: how an idle worker learns that another process may have made
 * work, per backend (see db.h). On SQLite every commit writes the -wal
 * file, so an inotify watch on the database's directory sees it; the
 * watch is held only while idle, because a busy worker would be sent an
 * event for every page anyone writes (measured: at -n 16, about a tenth
 * of the CPU). On PostgreSQL the connection LISTENs on DB_CHANNEL and
 * db_notify sends to it in the transaction that makes jobs due, the way
 * River and graphile-worker do (a NOTIFY, delivered at commit).
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "pg.h"
#include "banned.h"

#define DB_CHANNEL "dater_jobs"

/* Set up the watch once: 0, or -1 when there will be none (said once). */
static int
wake_setup(struct db *db)
{
	char dir[PATH_MAX], base[PATH_MAX];

	if (db->wake.on)
		return db->wake.fd >= 0 ? 0 : -1;
	db->wake.on = 1;
	db->wake.fd = db->wake.wd = -1;
	if (db->pg != NULL) {
		if (pg_listen(db, DB_CHANNEL) < 0) {
			log_warn("listen on '%s': %s; polling instead",
			    db->path, db->pg_msg);
			return -1;
		}
		db->wake.fd = pg_socket(db);
		return db->wake.fd >= 0 ? 0 : -1;
	}
	strlcpy(dir, db->path, sizeof(dir));
	strlcpy(base, db->path, sizeof(base));
	if (snprintf(db->wake.name, sizeof(db->wake.name), "%s-wal",
	    basename(base)) >= (int)sizeof(db->wake.name))
		return -1;
	strlcpy(db->wake.dir, dirname(dir), sizeof(db->wake.dir));
	db->wake.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (db->wake.fd < 0) {
		log_warn("inotify: %s; polling instead", strerror(errno));
		return -1;
	}
	return 0;
}

void
db_wake_arm(struct db *db)
{
	if (wake_setup(db) < 0 || db->pg != NULL || db->wake.wd >= 0)
		return;
	db->wake.wd = inotify_add_watch(db->wake.fd, db->wake.dir,
	    IN_MODIFY | IN_CREATE | IN_MOVED_TO);
	if (db->wake.wd < 0) {
		log_warn("inotify watch '%s': %s; polling instead",
		    db->wake.dir, strerror(errno));
		close(db->wake.fd);
		db->wake.fd = -1;
	}
}

void
db_wake_disarm(struct db *db)
{
	if (db->pg != NULL || db->wake.fd < 0 || db->wake.wd < 0)
		return;
	(void)inotify_rm_watch(db->wake.fd, db->wake.wd);
	db->wake.wd = -1;
	(void)db_wake_drain(db);
}

int
db_wake_fd(struct db *db)
{
	return db->wake.on ? db->wake.fd : -1;
}

/* Read every pending inotify event; 1 if any touched the -wal file. */
static int
inotify_drain(struct db *db)
{
	char buf[8192]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	char *p;
	int hit = 0;

	while ((n = read(db->wake.fd, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if ((ev->mask & IN_Q_OVERFLOW) || (ev->len > 0 &&
			    strcmp(ev->name, db->wake.name) == 0))
				hit = 1;
		}
	}
	return hit;
}

int
db_wake_drain(struct db *db)
{
	int rc;

	if (!db->wake.on || db->wake.fd < 0)
		return 0;
	if (db->pg == NULL)
		return inotify_drain(db);
	if ((rc = pg_notified(db)) < 0) {
		/* a broken connection: the next statement says so */
		return 1;
	}
	return rc;
}

void
db_wake_close(struct db *db)
{
	if (db->wake.on && db->pg == NULL && db->wake.fd >= 0)
		close(db->wake.fd);
	db->wake.on = 0;
	db->wake.fd = db->wake.wd = -1;
}

static const char sql_notify[] = "SELECT pg_notify('" DB_CHANNEL "', '')";

int
db_notify(struct db *db)
{
	struct dbst *st;
	int rc;

	if (db->pg == NULL)
		return 0;
	if ((st = db_stmt(db, sql_notify)) == NULL)
		return -1;
	while ((rc = db_step(st)) == DB_ROW)
		;
	db_reset(st);
	return rc == DB_DONE ? 0 : db_fail(db, "notify the workers of");
}
