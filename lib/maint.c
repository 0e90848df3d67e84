/*
 * maint: see maint.h. The backup goes through a ".part" file that is
 * renamed only once it passed integrity_check, so a name without ".part"
 * is always a complete, verified copy; rotation trusts the time in the
 * names (fixed width, so their order is the time order), not mtimes that
 * a copy or restore may change.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"
#include "clock.h"
#include "log.h"
#include "maint.h"
#include "pgdump.h"
#include "banned.h"

#define DAY_MS (86400LL * 1000)
#define BACKUP_TRIES 1000	/* names tried when one is taken */
#define PART_STALE_MS (3600LL * 1000)
#define BACKUP_BUSY_TRIES 100	/* sqlite3_backup_step busy retries */

static void
nap(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
outside_tx(struct db *db, char *err, size_t len, const char *what)
{
	if (db->sql == NULL && db->pg == NULL)
		return log_errf(err, len, "%s: database not open", what);
	if (db_in_tx(db))
		return log_errf(err, len, "%s: called inside a transaction", what);
	return 0;
}

/* ---- days ------------------------------------------------------------- */

int
maint_parse_day(const char *s, int64_t *start_ms)
{
	struct tm tm, back;
	time_t t;
	int i;

	for (i = 0; i < 10; i++) {
		if (i == 4 || i == 7) {
			if (s[i] != '-')
				return -1;
		} else if (s[i] < '0' || s[i] > '9')
			return -1;
	}
	if (s[10] != '\0')
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 +
	    (s[2] - '0') * 10 + (s[3] - '0') - 1900;
	tm.tm_mon = (s[5] - '0') * 10 + (s[6] - '0') - 1;
	tm.tm_mday = (s[8] - '0') * 10 + (s[9] - '0');
	if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 ||
	    tm.tm_mday < 1)
		return -1;
	back = tm;
	if ((t = timegm(&back)) == (time_t)-1)
		return -1;
	/* timegm normalizes 02-30 to 03-02: a real date comes back as is */
	if (back.tm_year != tm.tm_year || back.tm_mon != tm.tm_mon ||
	    back.tm_mday != tm.tm_mday)
		return -1;
	*start_ms = (int64_t)t * 1000;
	return 0;
}

char *
maint_format_day(int64_t ms, char *buf, size_t len)
{
	char t[CLOCK_RFC3339_LEN];

	clock_format(ms, t, sizeof(t));
	t[10] = '\0';
	strlcpy(buf, t, len);
	return buf;
}

/* ---- backup: names ---------------------------------------------------- */

/* The database's file name without a trailing ".db": "dater". */
static int
backup_stem(const char *dbpath, char *stem, size_t len)
{
	const char *base = strrchr(dbpath, '/');
	size_t n;

	base = base != NULL ? base + 1 : dbpath;
	n = strlen(base);
	if (n > 3 && strcmp(base + n - 3, ".db") == 0)
		n -= 3;
	if (n == 0 || n >= len)
		return -1;
	memcpy(stem, base, n);
	stem[n] = '\0';
	return 0;
}

/* Whether name is exactly STEM-YYYYMMDDTHHMMSS.mmmZ followed by suffix. */
static int
is_backup_name(const char *name, const char *stem, const char *suffix)
{
	static const char form[] = "dddddddd" "T" "dddddd" "." "ddd" "Z";
	size_t n = strlen(stem), i;

	if (strncmp(name, stem, n) != 0 || name[n] != '-')
		return 0;
	name += n + 1;
	for (i = 0; form[i] != '\0'; i++) {
		if (form[i] == 'd' ? (name[i] < '0' || name[i] > '9') :
		    name[i] != form[i])
			return 0;
	}
	return strcmp(name + i, suffix) == 0;
}

/* On PostgreSQL: DATABASE, or DATABASE.SCHEMA when dater's schema is not
 * "public", other characters than [A-Za-z0-9._-] as '_'. */
static int
backup_stem_pg(struct db *db, char *stem, size_t len, char *schema,
    size_t slen, char *err, size_t errlen)
{
	struct dbst *st;
	char dbname[128];
	size_t i;
	int n, row = 0;

	if ((st = db_prepare(db, "SELECT current_database(),"
	    " current_schema()")) == NULL ||
	    !(row = db_step(st) == DB_ROW) || db_col_null(st, 1)) {
		log_errf(err, errlen, "backup: the database and schema of '%s': "
		    "%s", db->path, row ? "no schema on the search path" :
		    db_errmsg(db));
		db_finalize(st);
		return -1;
	}
	db_col_copy(st, 0, dbname, sizeof(dbname));
	db_col_copy(st, 1, schema, slen);
	db_finalize(st);
	if (strcmp(schema, "public") == 0)
		n = snprintf(stem, len, "%s", dbname);
	else
		n = snprintf(stem, len, "%s.%s", dbname, schema);
	if (n <= 0 || (size_t)n >= len)
		return log_errf(err, errlen, "backup: cannot name a backup of "
		    "'%s'", db->path);
	for (i = 0; stem[i] != '\0'; i++)
		if (!isalnum((unsigned char)stem[i]) && stem[i] != '.' &&
		    stem[i] != '-' && stem[i] != '_')
			stem[i] = '_';
	return 0;
}

/* "STEM-YYYYMMDDTHHMMSS.mmmZ" for ms into buf. */
static int
backup_name(const char *stem, int64_t ms, char *buf, size_t len)
{
	char ts[32];
	struct tm tm;
	time_t t = (time_t)(ms / 1000);
	int n;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%S", &tm) != 15)
		return -1;
	n = snprintf(buf, len, "%s-%s.%03dZ", stem, ts, (int)(ms % 1000));
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* ---- backup: files ---------------------------------------------------- */

/* mkdir -p dir; the directories made here get 0700. */
static int
make_dir(const char *dir, char *err, size_t len)
{
	char path[PATH_MAX];
	struct stat st;
	char *p;

	if (strlcpy(path, dir, sizeof(path)) >= sizeof(path))
		return log_errf(err, len, "backup dir '%s': path too long", dir);
	for (p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (p[-1] != '/') {
			char c = *p;

			*p = '\0';
			if (mkdir(path, 0700) == 0) {
				if (chmod(path, 0700) < 0)
					return log_errf(err, len, "chmod '%s': %s",
					    path, strerror(errno));
			} else if (errno != EEXIST) {
				return log_errf(err, len, "create '%s': %s", path,
				    strerror(errno));
			}
			*p = c;
		}
		if (*p == '\0')
			break;
	}
	if (stat(dir, &st) < 0)
		return log_errf(err, len, "backup dir '%s': %s", dir,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return log_errf(err, len, "backup dir '%s': not a directory", dir);
	return 0;
}

/* The backup dir: dir, or "backups" beside the database. */
static int
backup_dir(const struct db *db, const char *dir, char *out, size_t len,
    char *err, size_t errlen)
{
	const char *slash = strrchr(db->path, '/');
	int n;

	if (dir != NULL && *dir != '\0')
		n = snprintf(out, len, "%s", dir);
	else if (db->pg != NULL)
		return log_errf(err, errlen, "backup of '%s': set "
		    "maintenance.backup_dir (a database on PostgreSQL has no "
		    "file to put backups beside)", db->path);
	else if (slash == NULL)
		n = snprintf(out, len, "backups");
	else
		n = snprintf(out, len, "%.*s/backups",
		    (int)(slash - db->path), db->path);
	if (n < 0 || (size_t)n >= len)
		return log_errf(err, errlen, "backup dir: path too long");
	return 0;
}

/*
 * Create dir/NAME.SFX.part (0600, exclusive) for a NAME whose SFX (".db",
 * ".dump") does not exist yet, starting from the time now and moving on by a
 * millisecond while names are taken. part and final get the paths.
 */
static int
create_part(const char *dir, const char *stem, const char *sfx, int64_t now,
    char *part, char *final, size_t len, char *err, size_t errlen)
{
	char name[PATH_MAX];
	struct stat st;
	int fd, i, n;

	for (i = 0; i < BACKUP_TRIES; i++) {
		if (backup_name(stem, now + i, name, sizeof(name)) < 0)
			return log_errf(err, errlen, "backup: name too long");
		n = snprintf(final, len, "%s/%s%s", dir, name, sfx);
		if (n < 0 || (size_t)n >= len ||
		    snprintf(part, len, "%s/%s%s.part", dir, name, sfx) >=
		    (int)len)
			return log_errf(err, errlen, "backup: path too long");
		/* anything there, a dangling link too, takes the name */
		if (lstat(final, &st) == 0 || errno != ENOENT)
			continue;
		fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0)
			return log_errf(err, errlen, "create '%s': %s", part,
			    strerror(errno));
		/* exactly 0600 whatever the umask */
		if (fchmod(fd, 0600) < 0) {
			log_errf(err, errlen, "chmod '%s': %s", part,
			    strerror(errno));
			close(fd);
			unlink(part);
			return -1;
		}
		close(fd);
		return 0;
	}
	return log_errf(err, errlen, "backup: no free name in '%s'", dir);
}

static int
fsync_path(const char *path, int flags, char *err, size_t len)
{
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | flags)) < 0)
		return log_errf(err, len, "open '%s': %s", path, strerror(errno));
	rc = fsync(fd);
	close(fd);
	if (rc < 0)
		return log_errf(err, len, "fsync '%s': %s", path, strerror(errno));
	return 0;
}

/* ---- backup: copy and verify ------------------------------------------ */

/* Run one pragma on conn whose single row must be the text want. */
static int
pragma_is(sqlite3 *conn, const char *sql, const char *want, const char *path,
    char *err, size_t len)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	int rc = -1;

	if (sqlite3_prepare_v2(conn, sql, -1, &st, NULL) != SQLITE_OK) {
		log_errf(err, len, "'%s': %s", path, sqlite3_errmsg(conn));
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_ROW) {
		log_errf(err, len, "'%s': %s: %s", path, sql,
		    sqlite3_errmsg(conn));
		goto out;
	}
	t = sqlite3_column_text(st, 0);
	if (t == NULL || strcmp((const char *)t, want) != 0) {
		log_errf(err, len, "'%s': %s says '%s'", path, sql,
		    t != NULL ? (const char *)t : "(null)");
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		log_errf(err, len, "'%s': %s: more than one problem, first "
		    "shown", path, sql);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Copy db into the (empty) file part and make it a rollback-journal
 * database, one file that needs no -wal beside it. */
static int
copy_into(struct db *db, const char *part, char *err, size_t len)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *b;
	int rc = -1, src, done, tries = 0;

	if (sqlite3_open_v2(part, &dst, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_errf(err, len, "open '%s': %s", part, dst != NULL ?
		    sqlite3_errmsg(dst) : "out of memory");
		goto out;
	}
	if ((b = sqlite3_backup_init(dst, "main", db->sql, "main")) == NULL) {
		log_errf(err, len, "backup '%s': %s", db->path,
		    sqlite3_errmsg(dst));
		goto out;
	}
	/* all pages in one step: one read snapshot of the source, which in
	 * WAL mode blocks no writer */
	while ((src = sqlite3_backup_step(b, -1)) == SQLITE_BUSY ||
	    src == SQLITE_LOCKED) {
		if (++tries > BACKUP_BUSY_TRIES)
			break;
		nap(50);
	}
	/* finish reports errors, not a copy left short by SQLITE_BUSY */
	done = sqlite3_backup_finish(b);
	if (src != SQLITE_DONE || done != SQLITE_OK) {
		log_errf(err, len, "backup '%s' to '%s': %s", db->path, part,
		    sqlite3_errstr(done != SQLITE_OK ? done : src));
		goto out;
	}
	if (pragma_is(dst, "PRAGMA journal_mode = DELETE", "delete", part,
	    err, len) < 0)
		goto out;
	rc = 0;
out:
	if (dst != NULL && sqlite3_close(dst) != SQLITE_OK && rc == 0)
		rc = log_errf(err, len, "close '%s': busy", part);
	return rc;
}

/* Open the copy read-only: it must pass integrity_check. */
static int
verify(const char *path, char *err, size_t len)
{
	sqlite3 *conn = NULL;
	int rc = -1;

	if (sqlite3_open_v2(path, &conn, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_errf(err, len, "verify: open '%s': %s", path, conn != NULL ?
		    sqlite3_errmsg(conn) : "out of memory");
		goto out;
	}
	if (pragma_is(conn, "PRAGMA integrity_check", "ok", path, err,
	    len) < 0)
		goto out;
	rc = 0;
out:
	sqlite3_close(conn);
	return rc;
}

/* ---- backup: rotation ------------------------------------------------- */

static int
cmp_desc(const void *a, const void *b)
{
	return strcmp(*(char *const *)b, *(char *const *)a);
}

/* Whether name in dirfd is a regular file (not a link), with its mtime. */
static int
regular(int dirfd, const char *name, int64_t *mtime_ms)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode))
		return 0;
	*mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 +
	    st.st_mtim.tv_nsec / 1000000;
	return 1;
}

static void
remove_file(int dirfd, const char *dir, const char *name, int *removed)
{
	if (unlinkat(dirfd, name, 0) == 0)
		(*removed)++;
	else
		log_warn("backup rotation: remove '%s/%s': %s", dir, name,
		    strerror(errno));
}

/*
 * Keep the newest keep backups of stem in dir, counting `keep_name` (the
 * new one) first whatever its time; remove stale .part files. Problems
 * are warnings: the new backup is good whatever happens here.
 */
static void
rotate(const char *dir, const char *stem, const char *sfx,
    const char *keep_name, int keep, int64_t now, int *removed)
{
	char part[16], journal[24];
	DIR *d;
	struct dirent *e;
	char **names = NULL, **grown;
	size_t n = 0, cap = 0, i;
	int64_t mtime;

	snprintf(part, sizeof(part), "%s.part", sfx);
	snprintf(journal, sizeof(journal), "%s.part-journal", sfx);
	if ((d = opendir(dir)) == NULL) {
		log_warn("backup rotation: open '%s': %s", dir,
		    strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (is_backup_name(e->d_name, stem, part) ||
		    is_backup_name(e->d_name, stem, journal)) {
			if (regular(dirfd(d), e->d_name, &mtime) &&
			    mtime < now - PART_STALE_MS)
				remove_file(dirfd(d), dir, e->d_name, removed);
			continue;
		}
		if (!is_backup_name(e->d_name, stem, sfx) ||
		    strcmp(e->d_name, keep_name) == 0 ||
		    !regular(dirfd(d), e->d_name, &mtime))
			continue;
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((grown = reallocarray(names, cap,
			    sizeof(*names))) == NULL)
				goto out;
			names = grown;
		}
		if ((names[n] = strdup(e->d_name)) == NULL)
			goto out;
		n++;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_desc);
	for (i = keep > 0 ? (size_t)keep - 1 : 0; i < n; i++)
		remove_file(dirfd(d), dir, names[i], removed);
out:
	if (e != NULL)
		log_warn("backup rotation in '%s': out of memory", dir);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
}

/* Remove a failed copy and what SQLite may have left beside it (a
 * rollback that a full disk cut short leaves its -journal). */
static void
unlink_part(const char *part)
{
	static const char *const sfx[] = { "", "-journal", "-wal", "-shm" };
	char p[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
		if (snprintf(p, sizeof(p), "%s%s", part, sfx[i]) <
		    (int)sizeof(p))
			(void)unlink(p);
}

/* pg_dump of dater's schema into part; then it must start as a custom
 * format archive does. */
static int
dump_into(const char *uri, const char *schema, const char *part, char *err,
    size_t len)
{
	char magic[5];
	int fd, rc;

	if ((fd = open(part, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return log_errf(err, len, "open '%s': %s", part,
		    strerror(errno));
	rc = pgdump_run(uri, schema, fd, err, len);
	if (rc == 0 && (pread(fd, magic, sizeof(magic), 0) !=
	    (ssize_t)sizeof(magic) || memcmp(magic, "PGDMP", 5) != 0))
		rc = log_errf(err, len, "pg_dump wrote no archive into '%s'",
		    part);
	close(fd);
	return rc;
}

int
maint_backup(struct db *db, const char *uri, const char *dir, int keep,
    struct maint_backup *r)
{
	char bdir[PATH_MAX], stem[256], part[PATH_MAX], final[PATH_MAX];
	char schema[128];
	const char *base, *sfx = db->pg != NULL ? ".dump" : ".db";
	struct stat st;
	int64_t now = clock_now_ms();
	int made = 0, rc = -1;

	memset(r, 0, sizeof(*r));
	if (outside_tx(db, r->error, sizeof(r->error), "backup") < 0)
		return -1;
	if (db->pg != NULL) {
		if (backup_stem_pg(db, stem, sizeof(stem), schema,
		    sizeof(schema), r->error, sizeof(r->error)) < 0)
			return -1;
	} else if (backup_stem(db->path, stem, sizeof(stem)) < 0)
		return log_errf(r->error, sizeof(r->error), "backup: cannot name "
		    "a backup of '%s'", db->path);
	if (backup_dir(db, dir, bdir, sizeof(bdir), r->error,
	    sizeof(r->error)) < 0 ||
	    make_dir(bdir, r->error, sizeof(r->error)) < 0 ||
	    create_part(bdir, stem, sfx, now, part, final, sizeof(part),
	    r->error, sizeof(r->error)) < 0)
		return -1;
	made = 1;
	if (db->pg != NULL) {
		/* the name opened, with its password, if it is a URI */
		if (dump_into(uri != NULL && cfg_is_pg_uri(uri) ? uri :
		    db->path, schema, part,
		    r->error, sizeof(r->error)) < 0 ||
		    fsync_path(part, 0, r->error, sizeof(r->error)) < 0)
			goto out;
		strlcpy(r->how, "pg_dump", sizeof(r->how));
	} else if (copy_into(db, part, r->error, sizeof(r->error)) < 0 ||
	    fsync_path(part, 0, r->error, sizeof(r->error)) < 0 ||
	    verify(part, r->error, sizeof(r->error)) < 0)
		goto out;
	else
		strlcpy(r->how, "integrity ok", sizeof(r->how));
	/* a link or a device put at final meanwhile is refused */
	switch (atomic_replace(part, final, r->error, sizeof(r->error))) {
	case ATOMIC_OK:
		break;
	case ATOMIC_CANTCREAT:
		goto out;
	default:		/* renamed; the directory fsync failed */
		made = 0;
		goto out;
	}
	made = 0;
	if (stat(final, &st) == 0)
		r->bytes = (int64_t)st.st_size;
	strlcpy(r->path, final, sizeof(r->path));
	base = strrchr(final, '/') + 1;
	rotate(bdir, stem, sfx, base, keep, now, &r->removed);
	rc = 0;
out:
	if (made)
		unlink_part(part);
	return rc;
}

/* ---- prune ------------------------------------------------------------ */

/* Finished jobs, by the partial index jobs_finished. */
static const char sql_prune_jobs[] =
    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs"
    " WHERE state IN ('succeeded','dead','cancelled') AND finished_at < ?1"
    " AND id < (SELECT max(id) FROM jobs) LIMIT ?2)";
/* Messages nothing waits for: inbound, sent, failed. Old rows come
 * first in rowid order, so a batch stops scanning early. */
static const char sql_prune_messages[] =
    "DELETE FROM messages WHERE id IN (SELECT id FROM messages"
    " WHERE created_at < ?1 AND (direction = 'in'"
    " OR status IN ('sent', 'failed'))"
    " AND id < (SELECT max(id) FROM messages) LIMIT ?2)";
/* Worker rows left by a tree that died without unregistering. */
static const char sql_prune_workers[] =
    "DELETE FROM workers WHERE id IN (SELECT id FROM workers w"
    " WHERE heartbeat_at < ?1 AND NOT EXISTS (SELECT 1 FROM jobs"
    " WHERE state = 'running' AND worker = w.id) LIMIT ?2)";

void
maint_prune_init(struct maint_prune *p, const struct cfg *cfg, int64_t now)
{
	int64_t stale = 10 * cfg->worker.lease_ms, keep;

	memset(p, 0, sizeof(*p));
	p->jobs_before = now - cfg->maint.prune_jobs_after_ms;
	/* never messages of the last day: rate limits and caps count them */
	keep = cfg->maint.prune_messages_after_ms;
	if (keep > 0)
		p->messages_before = now - (keep > DAY_MS ? keep : DAY_MS);
	p->workers_before = now - (stale > 3600 * 1000 ? stale : 3600 * 1000);
	p->batch = MAINT_PRUNE_BATCH;
}

/* Delete in batches of `batch` rows, one transaction each, until a batch
 * comes up short. */
static int
prune_batches(struct db *db, const char *sql, int64_t before, int batch,
    int64_t *count, char *err, size_t len, const char *what)
{
	struct dbst *st;
	int rc, n;

	for (;;) {
		if (db_begin(db) < 0)
			return log_errf(err, len, "prune %s: %s", what,
			    db_errmsg(db));
		if ((st = db_stmt(db, sql)) == NULL) {
			log_errf(err, len, "prune %s: %s", what,
			    db_errmsg(db));
			db_rollback(db);
			return -1;
		}
		db_bind_int64(st, 1, before);
		db_bind_int(st, 2, batch);
		rc = db_step(st);
		n = db_changes(db);
		db_reset(st);
		if (rc != DB_DONE) {
			log_errf(err, len, "prune %s in '%s': %s", what, db->path,
			    db_errmsg(db));
			db_rollback(db);
			return -1;
		}
		if (db_commit(db) < 0) {
			db_rollback(db);
			return log_errf(err, len, "prune %s: commit failed",
			    what);
		}
		*count += n;
		if (n < batch)
			return 0;
		/* let the workers waiting for the lock in first */
		nap(2);
	}
}

int
maint_prune(struct db *db, struct maint_prune *p)
{
	int batch = p->batch > 0 ? p->batch : MAINT_PRUNE_BATCH;

	p->jobs = p->messages = p->workers = 0;
	p->error[0] = '\0';
	if (outside_tx(db, p->error, sizeof(p->error), "prune") < 0)
		return -1;
	if (p->jobs_before > 0 && prune_batches(db, sql_prune_jobs,
	    p->jobs_before, batch, &p->jobs, p->error, sizeof(p->error),
	    "jobs") < 0)
		return -1;
	if (p->messages_before > 0 && prune_batches(db, sql_prune_messages,
	    p->messages_before, batch, &p->messages, p->error,
	    sizeof(p->error), "messages") < 0)
		return -1;
	if (p->workers_before > 0 && prune_batches(db, sql_prune_workers,
	    p->workers_before, batch, &p->workers, p->error,
	    sizeof(p->error), "workers") < 0)
		return -1;
	return 0;
}

/* ---- optimize --------------------------------------------------------- */

static int
exec_err(struct db *db, const char *sql, char *err, size_t len)
{
	char *msg = NULL;

	if (sqlite3_exec(db->sql, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	log_errf(err, len, "%s on '%s': %s", sql, db->path, msg != NULL ? msg :
	    sqlite3_errmsg(db->sql));
	sqlite3_free(msg);
	return -1;
}

/* dater's tables: those of the schema first on the search path. */
static const char sql_pg_tables[] =
    "SELECT string_agg(quote_ident(schemaname) || '.' ||"
    " quote_ident(tablename), ', ' ORDER BY tablename), count(*)"
    " FROM pg_tables WHERE schemaname = current_schema()";

/* VACUUM (ANALYZE) of every table of dater's schema, in autocommit. */
static int
optimize_pg(struct db *db, struct maint_optimize *r)
{
	struct dbst *st;
	char *list = NULL, *sql = NULL;
	int rc = -1;

	r->wal_before = r->wal_bytes = -1;
	if ((st = db_prepare(db, sql_pg_tables)) == NULL ||
	    db_step(st) != DB_ROW) {
		log_errf(r->error, sizeof(r->error), "optimize: the tables of "
		    "'%s': %s", db->path, db_errmsg(db));
		goto out;
	}
	r->tables = db_col_int(st, 1);
	snprintf(r->done, sizeof(r->done), "VACUUM (ANALYZE) of %d tables",
	    r->tables);
	if (r->tables == 0) {
		rc = 0;		/* nothing to vacuum */
		goto out;
	}
	if ((list = db_col_dup(st, 0)) == NULL ||
	    (sql = malloc(strlen(list) + 32)) == NULL) {
		log_errf(r->error, sizeof(r->error), "optimize: out of memory");
		goto out;
	}
	snprintf(sql, strlen(list) + 32, "VACUUM (ANALYZE) %s", list);
	/* outside any transaction block, as VACUUM must be */
	if (db_exec(db, sql) < 0) {
		log_errf(r->error, sizeof(r->error), "VACUUM (ANALYZE) on '%s': "
		    "%s", db->path, db_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	db_finalize(st);
	free(list);
	free(sql);
	return rc;
}

int
maint_optimize(struct db *db, int64_t journal_size_limit,
    struct maint_optimize *r)
{
	static const char ckpt[] = "PRAGMA wal_checkpoint(TRUNCATE)";
	char sql[64], wal[PATH_MAX + 8];
	sqlite3_stmt *st = NULL;
	struct stat sb;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (outside_tx(db, r->error, sizeof(r->error), "optimize") < 0)
		return -1;
	if (db->pg != NULL)
		return optimize_pg(db, r);
	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %lld",
	    (long long)journal_size_limit);
	snprintf(wal, sizeof(wal), "%s-wal", db->path);
	r->wal_before = stat(wal, &sb) == 0 ? (int64_t)sb.st_size : -1;
	if (exec_err(db, "PRAGMA optimize", r->error, sizeof(r->error)) < 0 ||
	    exec_err(db, sql, r->error, sizeof(r->error)) < 0)
		goto out;
	if (sqlite3_prepare_v2(db->sql, ckpt, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		log_errf(r->error, sizeof(r->error), "%s on '%s': %s", ckpt,
		    db->path, sqlite3_errmsg(db->sql));
		goto out;
	}
	r->busy = sqlite3_column_int(st, 0);
	r->log = sqlite3_column_int(st, 1);
	r->checkpointed = sqlite3_column_int(st, 2);
	r->wal_bytes = stat(wal, &sb) == 0 ? (int64_t)sb.st_size : -1;
	snprintf(r->done, sizeof(r->done), "checkpoint busy %d, log %d, "
	    "checkpointed %d; -wal %lld -> %lld bytes", r->busy, r->log,
	    r->checkpointed, (long long)r->wal_before,
	    (long long)r->wal_bytes);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* ---- rollup ----------------------------------------------------------- */

/*
 * ?1, ?2: the day's first and past-the-last ms; ?3 the day; ?4, ?5, ?6:
 * recompute the message counts, initiation_replies, job_failures. A
 * column not recomputed keeps its value (and is 0 in a new row). One
 * pass over the messages of the day (no index on created_at: a scan,
 * once a day). Counts are sums of CASE, the flags compared with 0:
 * PostgreSQL neither sums booleans nor takes an integer for one.
 */
static const char sql_rollup[] =
    "WITH src (bot, received, sent, initiations, replies) AS ("
    " SELECT bot,"
    "  sum(CASE WHEN direction = 'in' AND created_at >= ?1"
    "   AND created_at < ?2 THEN 1 ELSE 0 END),"
    "  sum(CASE WHEN direction = 'out' AND sent_at >= ?1 AND sent_at < ?2"
    "   THEN 1 ELSE 0 END),"
    "  sum(CASE WHEN direction = 'out' AND kind = 'opener'"
    "   AND sent_at >= ?1 AND sent_at < ?2 THEN 1 ELSE 0 END),"
    "  sum(CASE WHEN ?5 <> 0 AND direction = 'in' AND created_at >= ?1"
    "   AND created_at < ?2"
    "   AND EXISTS (SELECT 1 FROM contacts c WHERE c.id = m.contact"
    "    AND c.initiated_at <= m.created_at)"
    "   AND NOT EXISTS (SELECT 1 FROM messages p WHERE p.contact = m.contact"
    "    AND p.direction = 'in' AND p.id < m.id) THEN 1 ELSE 0 END)"
    " FROM messages m"
    " WHERE ?4 <> 0 AND ((direction = 'in' AND created_at >= ?1"
    "  AND created_at < ?2) OR (direction = 'out' AND sent_at >= ?1"
    "  AND sent_at < ?2))"
    " GROUP BY bot),"
    " fail (bot, n) AS ("
    " SELECT bot, count(*) FROM jobs WHERE ?6 <> 0 AND state = 'dead'"
    "  AND finished_at >= ?1 AND finished_at < ?2"
    "  AND bot IS NOT NULL AND bot <> '' GROUP BY bot),"
    " bots (bot) AS (SELECT bot FROM src UNION SELECT bot FROM fail"
    "  UNION SELECT bot FROM metrics_daily WHERE day = ?3)"
    " INSERT INTO metrics_daily AS m (bot, day, received, sent, initiations,"
    "  initiation_replies, job_failures)"
    " SELECT b.bot, ?3, coalesce(s.received, 0), coalesce(s.sent, 0),"
    "  coalesce(s.initiations, 0), coalesce(s.replies, 0),"
    "  coalesce(f.n, 0)"
    " FROM bots b LEFT JOIN src s ON s.bot = b.bot"
    "  LEFT JOIN fail f ON f.bot = b.bot"
    " WHERE true"
    " ON CONFLICT (bot, day) DO UPDATE SET"
    " received = CASE WHEN ?4 <> 0 THEN excluded.received ELSE m.received END,"
    " sent = CASE WHEN ?4 <> 0 THEN excluded.sent ELSE m.sent END,"
    " initiations = CASE WHEN ?4 <> 0 THEN excluded.initiations"
    "  ELSE m.initiations END,"
    " initiation_replies = CASE WHEN ?5 <> 0 THEN excluded.initiation_replies"
    "  ELSE m.initiation_replies END,"
    " job_failures = CASE WHEN ?6 <> 0 THEN excluded.job_failures"
    "  ELSE m.job_failures END";

int
maint_rollup(struct db *db, const char *day, int64_t messages_kept_since,
    int64_t jobs_kept_since, struct maint_rollup *r)
{
	struct dbst *st;
	int64_t start;
	int rc;

	memset(r, 0, sizeof(*r));
	if (outside_tx(db, r->error, sizeof(r->error), "rollup") < 0)
		return -1;
	if (maint_parse_day(day, &start) < 0)
		return log_errf(r->error, sizeof(r->error), "rollup: '%s' is not "
		    "a day (YYYY-MM-DD)", day);
	r->messages = messages_kept_since <= start;
	r->replies = messages_kept_since == 0;
	r->failures = jobs_kept_since <= start;
	if (db_begin(db) < 0)
		return log_errf(r->error, sizeof(r->error), "rollup %s: %s", day,
		    db_errmsg(db));
	if ((st = db_stmt(db, sql_rollup)) == NULL) {
		log_errf(r->error, sizeof(r->error), "rollup %s: %s", day,
		    db_errmsg(db));
		db_rollback(db);
		return -1;
	}
	db_bind_int64(st, 1, start);
	db_bind_int64(st, 2, start + DAY_MS);
	db_bind_text(st, 3, day);
	db_bind_int(st, 4, r->messages);
	db_bind_int(st, 5, r->replies);
	db_bind_int(st, 6, r->failures);
	rc = db_step(st);
	r->rows = db_changes(db);
	db_reset(st);
	if (rc != DB_DONE) {
		log_errf(r->error, sizeof(r->error), "rollup %s in '%s': %s", day,
		    db->path, db_errmsg(db));
		db_rollback(db);
		return -1;
	}
	if (db_commit(db) < 0) {
		db_rollback(db);
		return log_errf(r->error, sizeof(r->error), "rollup %s: commit "
		    "failed", day);
	}
	return 0;
}
