/*
 * dbcopy: see dbcopy.h. The tables are a fixed list in an order that
 * keeps references whole (contacts before messages); a table of the
 * source that is not on it stops the copy, so a migration that adds one
 * must add it here. Columns are read from each database's catalogue
 * (the same names and kinds on both, or the copy stops), so a column a
 * migration adds is copied without a change here. Values travel by
 * kind: integers as int64, reals as doubles (SQLite prints a REAL as
 * text with 15 digits, which would lose the last), text as text.
 *
 * Rows are inserted DBCOPY_BATCH to a statement: on PostgreSQL every
 * statement is a round trip to the server. A table with integer ids is
 * read DBCOPY_PAGE rows at a time in the order of its ids (PostgreSQL's
 * statements hold their whole result in memory); the snapshot makes the
 * pages one reading.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dbcopy.h"
#include "log.h"
#include "banned.h"

#define DBCOPY_COLS 64		/* columns of a table, at most */
#define DBCOPY_BATCH 64		/* rows per INSERT */
#define DBCOPY_NAME 64
#define DBCOPY_PAGE 10000	/* rows per SELECT of a table with ids */

/* In the order copied: referenced tables first. */
static const char *const dbcopy_tables[] = {
	"jobs", "workers", "kv", "contacts", "messages", "metrics_daily",
	"listeners", "bot_state", "audit", NULL
};

enum { COL_TEXT, COL_INT, COL_REAL };

struct col {
	char name[DBCOPY_NAME];
	int kind;
};

struct tab {
	const char *name;
	int n;
	struct col c[DBCOPY_COLS];
};

/* One value read from the source. */
struct val {
	int null;
	int64_t i;
	double d;
	char *s;		/* owned */
};

/* The tables of a database, each the catalogue's own; on PostgreSQL the
 * schema version's table (db.c) is not dater data. */
static const char sql_tables[] =
    "SELECT name FROM sqlite_master WHERE type = 'table'"
    " AND name NOT LIKE 'sqlite%'";
static const char pg_tables[] =
    "SELECT table_name FROM information_schema.tables"
    " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    " AND table_name <> 'dater_schema'";

static const char sql_columns[] =
    "SELECT name, type FROM pragma_table_info(?1) ORDER BY cid";
static const char pg_columns[] =
    "SELECT column_name, data_type FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = ?1"
    " ORDER BY ordinal_position";

/* The same rule as dbfile_restore's. */
static const char sql_leases[] =
    "SELECT (SELECT count(*) FROM jobs WHERE state = 'running'"
    "  AND lease_until > ?1),"
    " (SELECT count(*) FROM workers WHERE heartbeat_at >= ?2)";

/* The index of name in dbcopy_tables, or -1. */
static int
table_index(const char *name)
{
	int i;

	for (i = 0; dbcopy_tables[i] != NULL; i++)
		if (strcmp(dbcopy_tables[i], name) == 0)
			return i;
	return -1;
}

/*
 * Which of dbcopy_tables db has (have[i]); a table not on the list is
 * an error. 0 or -1 (logged).
 */
static int
tables_of(struct db *db, int have[DBCOPY_TABLES])
{
	struct dbst *st = db_stmt2(db, sql_tables, pg_tables);
	const char *name;
	int rc, i, bad = 0;

	memset(have, 0, sizeof(int) * DBCOPY_TABLES);
	if (st == NULL)
		return -1;
	while ((rc = db_step(st)) == DB_ROW) {
		name = db_col_text(st, 0);
		if ((i = table_index(name)) >= 0) {
			have[i] = 1;
			continue;
		}
		log_err("copy: '%s' has a table '%s' this dater does not "
		    "know how to copy", db->path, name);
		bad = 1;
	}
	db_reset(st);
	if (rc != DB_DONE)
		return db_fail(db, "read the tables of");
	return bad ? -1 : 0;
}

/* Whether type holds word, in any case. */
static int
has(const char *type, const char *word)
{
	size_t n = strlen(word);

	for (; *type != '\0'; type++)
		if (strncasecmp(type, word, n) == 0)
			return 1;
	return 0;
}

/* The kind of a declared type: SQLite's affinity rules, which also read
 * PostgreSQL's names (bigint, double precision, text). */
static int
col_kind(const char *type)
{
	if (type == NULL)
		return COL_TEXT;
	if (has(type, "int"))
		return COL_INT;
	if (has(type, "real") || has(type, "doub") || has(type, "floa"))
		return COL_REAL;
	return COL_TEXT;
}

/* The columns of table name in db into *t. 0 or -1 (logged). */
static int
columns_of(struct db *db, const char *name, struct tab *t)
{
	struct dbst *st = db_stmt2(db, sql_columns, pg_columns);
	const char *c;
	int rc;

	memset(t, 0, sizeof(*t));
	t->name = name;
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, name);
	while ((rc = db_step(st)) == DB_ROW) {
		c = db_col_text(st, 0);
		if (t->n == DBCOPY_COLS || c == NULL ||
		    strlen(c) >= DBCOPY_NAME || strchr(c, '"') != NULL) {
			db_reset(st);
			log_err("copy: '%s': table '%s': a column this copy "
			    "cannot name", db->path, name);
			return -1;
		}
		strlcpy(t->c[t->n].name, c, DBCOPY_NAME);
		t->c[t->n].kind = col_kind(db_col_text(st, 1));
		t->n++;
	}
	db_reset(st);
	if (rc != DB_DONE)
		return db_fail(db, "read the columns of");
	return 0;
}

/* Whether dst's table has the same columns (names and kinds) as src's,
 * in any order. */
static int
same_columns(const struct tab *s, const struct tab *d)
{
	int i, j;

	if (s->n != d->n)
		return 0;
	for (i = 0; i < s->n; i++) {
		for (j = 0; j < d->n; j++)
			if (strcmp(s->c[i].name, d->c[j].name) == 0)
				break;
		if (j == d->n || s->c[i].kind != d->c[j].kind)
			return 0;
	}
	return 1;
}

/* count(*) of table into *n. 0 or -1 (logged). */
static int
count_rows(struct db *db, const char *table, int64_t *n)
{
	char sql[128];
	struct dbst *st;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", table);
	if ((st = db_prepare(db, sql)) == NULL)
		return -1;
	if ((rc = db_step(st)) == DB_ROW)
		*n = db_col_int64(st, 0);
	db_finalize(st);
	return rc == DB_ROW ? 0 : db_fail(db, "count rows in");
}

/* Whether dst has no row in any dater table it has: 1, 0 (logged), -1. */
static int
target_empty(struct db *dst)
{
	int have[DBCOPY_TABLES], i;
	int64_t n;

	if (tables_of(dst, have) < 0)
		return -1;
	for (i = 0; dbcopy_tables[i] != NULL; i++) {
		if (!have[i])
			continue;
		if (count_rows(dst, dbcopy_tables[i], &n) < 0)
			return -1;
		if (n > 0) {
			log_err("copy: '%s' is not empty (%lld row%s in %s): "
			    "copy only into a new database", dst->path,
			    (long long)n, n == 1 ? "" : "s", dbcopy_tables[i]);
			return 0;
		}
	}
	return 1;
}

/* Refuse while workers hold the source: DBCOPY_OK, DBCOPY_BUSY, -1. */
static int
leases_free(struct db *src, int64_t now, int64_t live_ms)
{
	struct dbst *st = db_stmt(src, sql_leases);
	int rc, jobs = 0, workers = 0;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, now);
	db_bind_int64(st, 2, now - live_ms);
	if ((rc = db_step(st)) == DB_ROW) {
		jobs = db_col_int(st, 0);
		workers = db_col_int(st, 1);
	}
	db_reset(st);
	if (rc != DB_ROW)
		return db_fail(src, "read jobs from");
	if (jobs == 0 && workers == 0)
		return DBCOPY_OK;
	log_err("copy: '%s' is in use: %d running job%s hold%s a lease, "
	    "%d worker%s alive; stop the workers or use --force", src->path,
	    jobs, jobs == 1 ? "" : "s", jobs == 1 ? "s" : "", workers,
	    workers == 1 ? " is" : "s are");
	return DBCOPY_BUSY;
}

/* Append s to out (len bytes); -1 when it does not fit. */
static int
cat(char *out, size_t len, const char *s)
{
	return strlcat(out, s, len) < len ? 0 : -1;
}

/* The index of t's integer id column, or -1. */
static int
id_col(const struct tab *t)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->c[i].name, "id") == 0 && t->c[i].kind == COL_INT)
			return i;
	return -1;
}

/* "SELECT "a", "b" FROM "t"" into out, by pages of ids when it has
 * them ("WHERE id > ?1 ORDER BY id LIMIT n"). */
static int
select_sql(const struct tab *t, char *out, size_t len)
{
	char q[DBCOPY_NAME + 4];
	int i;

	out[0] = '\0';
	if (cat(out, len, "SELECT ") < 0)
		return -1;
	for (i = 0; i < t->n; i++) {
		snprintf(q, sizeof(q), "%s\"%s\"", i > 0 ? ", " : "",
		    t->c[i].name);
		if (cat(out, len, q) < 0)
			return -1;
	}
	snprintf(q, sizeof(q), " FROM \"%s\"", t->name);
	if (cat(out, len, q) < 0)
		return -1;
	if (id_col(t) < 0)
		return 0;
	snprintf(q, sizeof(q), " WHERE id > ?1 ORDER BY id LIMIT %d",
	    DBCOPY_PAGE);
	return cat(out, len, q);
}

/* "INSERT INTO "t" ("a", "b") VALUES (?1, ?2), (?3, ?4)" for rows rows. */
static char *
insert_sql(const struct tab *t, int rows)
{
	size_t len = 64 + (size_t)t->n * (DBCOPY_NAME + 4) +
	    (size_t)rows * (size_t)t->n * 16;
	char *out, q[DBCOPY_NAME + 8];
	int i, r;

	if ((out = malloc(len)) == NULL)
		return NULL;
	snprintf(out, len, "INSERT INTO \"%s\" (", t->name);
	for (i = 0; i < t->n; i++) {
		snprintf(q, sizeof(q), "%s\"%s\"", i > 0 ? ", " : "",
		    t->c[i].name);
		strlcat(out, q, len);
	}
	strlcat(out, ") VALUES ", len);
	for (r = 0; r < rows; r++) {
		for (i = 0; i < t->n; i++) {
			snprintf(q, sizeof(q), "%s?%d", i > 0 ? ", " :
			    r > 0 ? "), (" : "(", r * t->n + i + 1);
			strlcat(out, q, len);
		}
	}
	strlcat(out, ")", len);	/* len holds it all: 16 a parameter */
	return out;
}

/* Read column i of st's row into v (its old text freed). */
static int
read_val(struct dbst *st, int i, int kind, struct val *v)
{
	free(v->s);
	memset(v, 0, sizeof(*v));
	if ((v->null = db_col_null(st, i)))
		return 0;
	if (kind == COL_INT)
		v->i = db_col_int64(st, i);
	else if (kind == COL_REAL)
		v->d = db_col_double(st, i);
	else if ((v->s = db_col_dup(st, i)) == NULL)
		return -1;
	return 0;
}

static void
bind_val(struct dbst *st, int p, int kind, const struct val *v)
{
	if (v->null)
		db_bind_null(st, p);
	else if (kind == COL_INT)
		db_bind_int64(st, p, v->i);
	else if (kind == COL_REAL)
		db_bind_double(st, p, v->d);
	else
		db_bind_text(st, p, v->s);
}

/* Insert rows rows of vals (rows * t->n values) into dst with st, or a
 * statement made for them when st is NULL. 0 or -1 (logged). */
static int
flush(struct db *dst, struct dbst *st, const struct tab *t,
    const struct val *vals, int rows)
{
	struct dbst *own = NULL;
	char *sql;
	int r, i, rc;

	if (rows == 0)
		return 0;
	if (st == NULL) {
		if ((sql = insert_sql(t, rows)) == NULL) {
			log_err("out of memory");
			return -1;
		}
		own = st = db_prepare(dst, sql);
		free(sql);
		if (st == NULL)
			return -1;
	}
	for (r = 0; r < rows; r++)
		for (i = 0; i < t->n; i++)
			bind_val(st, r * t->n + i + 1, t->c[i].kind,
			    &vals[r * t->n + i]);
	rc = db_step(st);
	db_reset(st);
	db_finalize(own);
	if (rc != DB_DONE) {
		log_err("copy: table '%s' into '%s': %s", t->name, dst->path,
		    db_errmsg(dst));
		return -1;
	}
	return 0;
}

/* A table being copied: its statements and the rows not yet inserted. */
struct copying {
	const struct tab *t;
	struct db *src, *dst;
	struct dbst *sel, *ins;
	struct val *vals;	/* DBCOPY_BATCH rows */
	int n;			/* rows in vals */
	int idc;		/* the id column, or -1 */
	int64_t last;		/* the last id read */
	int64_t rows;		/* rows read */
};

/* Read one page (or the whole table) into dst; *got its rows. */
static int
copy_page(struct copying *c, int *got)
{
	const struct tab *t = c->t;
	struct val *row;
	int i, step;

	*got = 0;
	if (c->idc >= 0)
		db_bind_int64(c->sel, 1, c->last);
	while ((step = db_step(c->sel)) == DB_ROW) {
		row = &c->vals[c->n * t->n];
		for (i = 0; i < t->n; i++)
			if (read_val(c->sel, i, t->c[i].kind, &row[i]) < 0) {
				db_reset(c->sel);
				log_err("out of memory");
				return -1;
			}
		if (c->idc >= 0)
			c->last = row[c->idc].i;
		(*got)++;
		c->rows++;
		if (++c->n == DBCOPY_BATCH) {
			c->n = 0;
			if (flush(c->dst, c->ins, t, c->vals, DBCOPY_BATCH) < 0) {
				db_reset(c->sel);
				return -1;
			}
		}
	}
	db_reset(c->sel);
	return step == DB_DONE ? 0 : db_fail(c->src, "read rows from");
}

/* Copy table t from src into dst; *rows gets the rows copied. */
static int
copy_table(struct db *src, struct db *dst, const struct tab *t,
    int64_t *rows)
{
	struct copying c;
	char sql[DBCOPY_COLS * (DBCOPY_NAME + 4) + 128], *isql = NULL;
	int i, got, rc = -1;
	size_t nv = (size_t)DBCOPY_BATCH * (size_t)t->n;

	memset(&c, 0, sizeof(c));
	c.t = t;
	c.src = src;
	c.dst = dst;
	c.idc = id_col(t);
	c.last = INT64_MIN;
	if ((c.vals = calloc(nv, sizeof(*c.vals))) == NULL) {
		log_err("out of memory");
		return -1;
	}
	if (select_sql(t, sql, sizeof(sql)) < 0 ||
	    (c.sel = db_prepare(src, sql)) == NULL ||
	    (isql = insert_sql(t, DBCOPY_BATCH)) == NULL ||
	    (c.ins = db_prepare(dst, isql)) == NULL)
		goto out;
	do {
		if (copy_page(&c, &got) < 0)
			goto out;
	} while (c.idc >= 0 && got == DBCOPY_PAGE);
	rc = flush(dst, NULL, t, c.vals, c.n);
	*rows = c.rows;
out:
	for (i = 0; (size_t)i < nv; i++)
		free(c.vals[i].s);
	free(c.vals);
	free(isql);
	db_finalize(c.sel);
	db_finalize(c.ins);
	return rc;
}

/* On PostgreSQL: the identity sequence of t's id (if it has one) set so
 * that the next id is past the largest copied. */
static int
move_sequence(struct db *dst, const struct tab *t)
{
	char sql[256];
	struct dbst *st;
	int rc;

	if (dst->pg == NULL || id_col(t) < 0)
		return 0;
	/* no sequence: pg_get_serial_sequence is NULL, setval does nothing */
	snprintf(sql, sizeof(sql), "SELECT setval(pg_get_serial_sequence(?1,"
	    " 'id'), coalesce((SELECT max(id) FROM \"%s\"), 0) + 1, false)",
	    t->name);
	if ((st = db_prepare(dst, sql)) == NULL)
		return -1;
	db_bind_text(st, 1, t->name);
	rc = db_step(st);
	db_finalize(st);
	return rc == DB_ROW ? 0 : db_fail(dst, "move the id sequence in");
}

/* The table's columns on both sides; they must agree. */
static int
table_columns(struct db *src, struct db *dst, const char *name,
    struct tab *t)
{
	struct tab d;

	if (columns_of(src, name, t) < 0 || columns_of(dst, name, &d) < 0)
		return -1;
	if (!same_columns(t, &d)) {
		log_err("copy: table '%s' has other columns in '%s' than in "
		    "'%s'", name, dst->path, src->path);
		return -1;
	}
	return 0;
}

/* Copy every table, inside the open transactions. */
static int
copy_all(struct db *src, struct db *dst, struct dbcopy_report *r)
{
	struct tab t;
	int have[DBCOPY_TABLES], i;
	int64_t rows, n;

	if (tables_of(src, have) < 0)
		return -1;
	for (i = 0; dbcopy_tables[i] != NULL; i++) {
		if (!have[i]) {
			log_err("copy: '%s' has no table '%s'", src->path,
			    dbcopy_tables[i]);
			return -1;
		}
		if (table_columns(src, dst, dbcopy_tables[i], &t) < 0 ||
		    copy_table(src, dst, &t, &rows) < 0 ||
		    move_sequence(dst, &t) < 0)
			return -1;
		/* the counts: the source's snapshot and the target */
		if (count_rows(src, t.name, &n) < 0)
			return -1;
		if (n != rows) {
			log_err("copy: table '%s': %lld rows read from '%s', "
			    "which counts %lld", t.name, (long long)rows,
			    src->path, (long long)n);
			return -1;
		}
		if (count_rows(dst, t.name, &n) < 0)
			return -1;
		if (n != rows) {
			log_err("copy: table '%s': %lld rows copied, %lld in "
			    "'%s'", t.name, (long long)rows, (long long)n,
			    dst->path);
			return -1;
		}
		r->t[r->ntables].name = dbcopy_tables[i];
		r->t[r->ntables++].rows = rows;
		r->rows += rows;
	}
	return 0;
}

/* Start the source's snapshot: every table read as of one moment. */
static int
snapshot_begin(struct db *src)
{
	return db_exec(src, src->pg != NULL ? "BEGIN ISOLATION LEVEL"
	    " REPEATABLE READ READ ONLY" : "BEGIN DEFERRED");
}

int
dbcopy_run(struct db *src, struct db *dst, int force, int64_t now,
    int64_t live_ms, struct dbcopy_report *r)
{
	int rc = -1, v;

	memset(r, 0, sizeof(*r));
	if (db_version(dst, &v) < 0)
		return -1;
	r->from = r->to = v;
	/* A database with rows is refused before it is migrated. */
	if (v > 0 && (rc = target_empty(dst)) != 1)
		return rc < 0 ? -1 : DBCOPY_NOT_EMPTY;
	if (db_migrate(dst, &r->from, &r->to) < 0)
		return -1;
	if (snapshot_begin(src) < 0)
		return -1;
	if (!force && (rc = leases_free(src, now, live_ms)) != DBCOPY_OK)
		goto out;
	rc = -1;
	if (db_begin(dst) < 0)
		goto out;
	if ((v = target_empty(dst)) != 1) {
		rc = v < 0 ? -1 : DBCOPY_NOT_EMPTY;
		goto out;
	}
	if (copy_all(src, dst, r) < 0 || db_commit(dst) < 0)
		goto out;
	rc = DBCOPY_OK;
out:
	if (rc != DBCOPY_OK) {
		db_rollback(dst);
		r->ntables = 0;
		r->rows = 0;
	}
	db_rollback(src);	/* read only: nothing to keep */
	return rc;
}
