/*
 * pg: statements, transactions and errors on PostgreSQL through libpq,
 * loaded with dlopen on the first connection (like lib/http.c loads
 * libcurl), so that no program records it as a dependency.
 *
 * A statement is translated once (pg_translate), prepared on the server
 * the first time it runs with a given list of parameter types, and run
 * with PQexecPrepared; its whole result is kept until the next reset,
 * and db_step walks it row by row.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"
#include "banned.h"

#define PG_LIBPQ "libpq.so.5"

/* The types of parameters, as pg_type's oids. */
#define PG_UNKNOWN 0
#define PG_INT8 20
#define PG_TEXT 25
#define PG_FLOAT8 701

/* The libpq functions this file calls, from dlsym. */
static struct {
	PGconn *(*connectdb)(const char *);
	ConnStatusType (*status)(const PGconn *);
	char *(*error_message)(const PGconn *);
	void (*finish)(PGconn *);
	PGresult *(*exec)(PGconn *, const char *);
	PGresult *(*prepare)(PGconn *, const char *, const char *, int,
	    const Oid *);
	PGresult *(*exec_prepared)(PGconn *, const char *, int,
	    const char *const *, const int *, const int *, int);
	ExecStatusType (*result_status)(const PGresult *);
	char *(*result_error_field)(const PGresult *, int);
	char *(*result_error_message)(const PGresult *);
	void (*clear)(PGresult *);
	int (*ntuples)(const PGresult *);
	char *(*getvalue)(const PGresult *, int, int);
	int (*getisnull)(const PGresult *, int, int);
	char *(*cmd_tuples)(PGresult *);
	PQnoticeProcessor (*set_notice_processor)(PGconn *,
	    PQnoticeProcessor, void *);
	PGTransactionStatusType (*transaction_status)(const PGconn *);
	int (*socket)(const PGconn *);
	int (*consume_input)(PGconn *);
	PGnotify *(*notifies)(PGconn *);
	void (*freemem)(void *);
} pq;

struct pgst {
	char *sql;		/* translated */
	int n;			/* parameters */
	const char **val;	/* bound values (text), NULL for NULL */
	char **own;		/* the copies among them */
	char (*num)[32];	/* formatted numbers */
	Oid *type;		/* the bound types */
	Oid *ptype;		/* the types it was prepared with */
	unsigned char *guess;	/* types pg.c chose for unbound parameters */
	char name[24];		/* "" until prepared */
	PGresult *res;
	int row, nrows;
};

/* Resolve name from lib into *fn; 0 or -1 (logged). */
static int
pq_sym(void *lib, const char *name, void *fn)
{
	void *p = dlsym(lib, name);

	if (p == NULL) {
		log_err("%s: no %s", PG_LIBPQ, name);
		return -1;
	}
	memcpy(fn, &p, sizeof(p));	/* object to function pointer */
	return 0;
}

/* Load libpq once per process. 0 or -1 (logged). */
static int
pq_load(void)
{
	static int done;
	static const struct {
		const char *name;
		void *fn;
	} sym[] = {
		{ "PQconnectdb", &pq.connectdb },
		{ "PQstatus", &pq.status },
		{ "PQerrorMessage", &pq.error_message },
		{ "PQfinish", &pq.finish },
		{ "PQexec", &pq.exec },
		{ "PQprepare", &pq.prepare },
		{ "PQexecPrepared", &pq.exec_prepared },
		{ "PQresultStatus", &pq.result_status },
		{ "PQresultErrorField", &pq.result_error_field },
		{ "PQresultErrorMessage", &pq.result_error_message },
		{ "PQclear", &pq.clear },
		{ "PQntuples", &pq.ntuples },
		{ "PQgetvalue", &pq.getvalue },
		{ "PQgetisnull", &pq.getisnull },
		{ "PQcmdTuples", &pq.cmd_tuples },
		{ "PQsetNoticeProcessor", &pq.set_notice_processor },
		{ "PQtransactionStatus", &pq.transaction_status },
		{ "PQsocket", &pq.socket },
		{ "PQconsumeInput", &pq.consume_input },
		{ "PQnotifies", &pq.notifies },
		{ "PQfreemem", &pq.freemem },
	};
	void *lib;
	const char *why;
	size_t i;

	if (done)
		return 0;
	if ((lib = dlopen(PG_LIBPQ, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		why = dlerror();
		log_err("cannot load %s (install libpq5): %s", PG_LIBPQ,
		    why != NULL ? why : "unknown error");
		return -1;
	}
	for (i = 0; i < sizeof(sym) / sizeof(sym[0]); i++) {
		if (pq_sym(lib, sym[i].name, sym[i].fn) < 0) {
			dlclose(lib);
			return -1;
		}
	}
	done = 1;
	return 0;
}

/* Notices ("already exists, skipping") are not errors: drop them. */
static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Record a failure on db: its class from the SQLSTATE and the message
 * without libpq's trailing newline. */
static void
fail(struct db *db, const char *state, const char *msg)
{
	size_t n;

	strlcpy(db->pg_state, state != NULL ? state : "", sizeof(db->pg_state));
	if (state == NULL)
		db->pg_err = DB_ERROR;
	else if (strcmp(state, "23505") == 0)
		db->pg_err = DB_UNIQUE;
	else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strcmp(state, "55P03") == 0)
		db->pg_err = DB_BUSY;
	else if (strcmp(state, "53100") == 0)
		db->pg_err = DB_FULL;
	else
		db->pg_err = DB_ERROR;
	strlcpy(db->pg_msg, msg != NULL && *msg != '\0' ? msg :
	    "unknown error", sizeof(db->pg_msg));
	n = strlen(db->pg_msg);
	while (n > 0 && (db->pg_msg[n - 1] == '\n' || db->pg_msg[n - 1] == ' '))
		db->pg_msg[--n] = '\0';
}

/* Check res (which may be NULL); on failure record why and clear it.
 * Returns res or NULL. */
static PGresult *
result(struct db *db, PGresult *res)
{
	ExecStatusType s;
	const char *pos;

	if (res == NULL) {
		fail(db, NULL, pq.error_message(db->pg));
		return NULL;
	}
	s = pq.result_status(res);
	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
		return res;
	fail(db, pq.result_error_field(res, PG_DIAG_SQLSTATE),
	    pq.result_error_field(res, PG_DIAG_MESSAGE_PRIMARY));
	pos = pq.result_error_field(res, PG_DIAG_STATEMENT_POSITION);
	db->pg_pos = pos != NULL ? (int)strtol(pos, NULL, 10) : 0;

	pq.clear(res);
	return NULL;
}

int
pg_exec(struct db *db, const char *sql)
{
	PGresult *res;
	char *t;

	if ((t = pg_translate(sql, 0, NULL)) == NULL) {
		fail(db, NULL, "out of memory");
		return -1;
	}
	res = result(db, pq.exec(db->pg, t));
	free(t);
	if (res == NULL)
		return -1;
	db->pg_changes = (int)strtol(pq.cmd_tuples(res), NULL, 10);
	pq.clear(res);
	return 0;
}

int
pg_open(struct db *db, const char *uri, const struct cfg *cfg, int flags)
{
	char sql[256];

	if (pq_load() < 0)
		return -1;
	db->pg = pq.connectdb(uri);
	if (db->pg == NULL || pq.status(db->pg) != CONNECTION_OK) {
		fail(db, NULL, db->pg != NULL ? pq.error_message(db->pg) :
		    "out of memory");
		log_err("connect to '%s': %s", db->path, db->pg_msg);
		return -1;
	}
	pq.set_notice_processor(db->pg, quiet, NULL);
	/* A lock not had within the busy timeout fails (DB_BUSY), as on
	 * SQLite. synchronous "off" may lose the last commits on a crash
	 * of the server, never corrupts; "normal" and "full" wait for the
	 * WAL flush, PostgreSQL's default. */
	snprintf(sql, sizeof(sql), "SET lock_timeout = %d;"
	    " SET synchronous_commit = %s; SET client_min_messages = warning;"
	    "%s", cfg->busy_timeout_ms, cfg->synchronous == 0 ? "off" : "on",
	    (flags & DB_READONLY) ?
	    " SET default_transaction_read_only = on;" : "");
	if (pg_exec(db, sql) < 0) {
		log_err("database '%s': %s", db->path, db->pg_msg);
		return -1;
	}
	return 0;
}

void
pg_close(struct db *db)
{
	if (db->pg != NULL)
		pq.finish(db->pg);
	db->pg = NULL;
}

int
pg_listen(struct db *db, const char *channel)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "LISTEN %s", channel);
	return pg_exec(db, sql);
}

int
pg_socket(struct db *db)
{
	return db->pg != NULL ? pq.socket(db->pg) : -1;
}

int
pg_notified(struct db *db)
{
	PGnotify *n;
	int any = 0;

	if (pq.consume_input(db->pg) == 0) {
		fail(db, NULL, pq.error_message(db->pg));
		return -1;
	}
	while ((n = pq.notifies(db->pg)) != NULL) {
		pq.freemem(n);
		any = 1;
	}
	return any;
}

int
pg_in_tx(struct db *db)
{
	PGTransactionStatusType s;

	if (db->pg == NULL)
		return 0;
	s = pq.transaction_status(db->pg);
	return s == PQTRANS_INTRANS || s == PQTRANS_INERROR ||
	    s == PQTRANS_ACTIVE;
}

int
pg_tx_failed(struct db *db)
{
	return db->pg != NULL &&
	    pq.transaction_status(db->pg) == PQTRANS_INERROR;
}

/* Statements */

int
pg_stmt_init(struct dbst *st, const char *sql)
{
	struct pgst *p;
	int n;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	st->pg = p;
	if ((p->sql = pg_translate(sql, 0, &n)) == NULL)
		return -1;
	p->n = n;
	if (n > 0 && ((p->val = calloc((size_t)n, sizeof(*p->val))) == NULL ||
	    (p->own = calloc((size_t)n, sizeof(*p->own))) == NULL ||
	    (p->num = calloc((size_t)n, sizeof(*p->num))) == NULL ||
	    (p->type = calloc((size_t)n, sizeof(*p->type))) == NULL ||
	    (p->ptype = calloc((size_t)n, sizeof(*p->ptype))) == NULL ||
	    (p->guess = calloc((size_t)n, sizeof(*p->guess))) == NULL))
		return -1;
	return 0;
}

void
pg_reset(struct dbst *st)
{
	struct pgst *p = st->pg;

	if (p->res != NULL)
		pq.clear(p->res);
	p->res = NULL;
	p->row = p->nrows = 0;
}

void
pg_clear_bindings(struct dbst *st)
{
	struct pgst *p = st->pg;
	int i;

	for (i = 0; i < p->n; i++) {
		free(p->own[i]);
		p->own[i] = NULL;
		p->val[i] = NULL;
	}
}

void
pg_stmt_free(struct dbst *st)
{
	struct pgst *p = st->pg;
	char sql[64];

	if (p == NULL)
		return;
	if (p->res != NULL)
		pq.clear(p->res);
	if (p->name[0] != '\0' && st->db->pg != NULL &&
	    !pg_tx_failed(st->db)) {
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", p->name);
		(void)pg_exec(st->db, sql);
	}
	if (p->own != NULL)
		pg_clear_bindings(st);
	free(p->sql);
	free(p->val);
	free(p->own);
	free(p->num);
	free(p->type);
	free(p->ptype);
	free(p->guess);
	free(p);
	st->pg = NULL;
}

/* The slot of parameter i (1-based), its old copy freed; NULL if out of
 * range. */
static struct pgst *
slot(struct dbst *st, int i)
{
	struct pgst *p = st->pg;

	if (i < 1 || i > p->n)
		return NULL;
	free(p->own[i - 1]);
	p->own[i - 1] = NULL;
	return p;
}

int
pg_bind_text(struct dbst *st, int i, const char *s, int len, int copy)
{
	struct pgst *p = slot(st, i);

	if (p == NULL)
		return -1;
	p->type[i - 1] = PG_TEXT;
	if (s == NULL)
		return pg_bind_null(st, i);
	if (len >= 0 || copy) {
		p->own[i - 1] = len >= 0 ? strndup(s, (size_t)len) : strdup(s);
		if (p->own[i - 1] == NULL)
			return -1;
		s = p->own[i - 1];
	}
	p->val[i - 1] = s;
	return 0;
}

int
pg_bind_int64(struct dbst *st, int i, int64_t v)
{
	struct pgst *p = slot(st, i);

	if (p == NULL)
		return -1;
	snprintf(p->num[i - 1], sizeof(p->num[0]), "%" PRId64, v);
	p->val[i - 1] = p->num[i - 1];
	p->type[i - 1] = PG_INT8;
	return 0;
}

int
pg_bind_double(struct dbst *st, int i, double v)
{
	struct pgst *p = slot(st, i);

	if (p == NULL)
		return -1;
	snprintf(p->num[i - 1], sizeof(p->num[0]), "%.17g", v);
	p->val[i - 1] = p->num[i - 1];
	p->type[i - 1] = PG_FLOAT8;
	return 0;
}

/* A NULL keeps the type bound last (else unknown: PostgreSQL infers it),
 * so a statement that binds NULL now and then is prepared once. */
int
pg_bind_null(struct dbst *st, int i)
{
	struct pgst *p = slot(st, i);

	if (p == NULL)
		return -1;
	p->val[i - 1] = NULL;
	return 0;
}

int
pg_param_count(struct dbst *st)
{
	return st->pg->n;
}

/*
 * After a failed prepare: give a type to the parameters PostgreSQL could
 * not type. A parameter only ever NULL in "?N IS NULL OR col = ?N" has
 * none; try text, and if text does not fit where it is used, bigint.
 * 0 to try again, -1 when there is nothing left to try.
 */
static int
guess_types(struct pgst *p, struct db *db)
{
	const char *d;
	int i, any = 0;
	long n;

	if ((strcmp(db->pg_state, "42P18") == 0 ||
	    strcmp(db->pg_state, "42P08") == 0) &&
	    (d = strchr(db->pg_msg, '$')) != NULL) {
		n = strtol(d + 1, NULL, 10);
		if (n < 1 || n > p->n || p->type[n - 1] != PG_UNKNOWN)
			return -1;
		p->type[n - 1] = PG_TEXT;
		p->guess[n - 1] = 1;
		return 0;
	}
	if (strcmp(db->pg_state, "42883") != 0 &&
	    strcmp(db->pg_state, "42804") != 0)
		return -1;
	/* the parameter right after where it failed ("col = $5") */
	if (db->pg_pos > 0 && (size_t)db->pg_pos <= strlen(p->sql) &&
	    (d = strchr(p->sql + db->pg_pos - 1, '$')) != NULL) {
		n = strtol(d + 1, NULL, 10);
		if (n >= 1 && n <= p->n && p->guess[n - 1] == 1 &&
		    p->type[n - 1] == PG_TEXT) {
			p->type[n - 1] = PG_INT8;
			p->guess[n - 1] = 2;
			return 0;
		}
	}
	for (i = 0; i < p->n; i++) {
		if (p->guess[i] == 1 && p->type[i] == PG_TEXT) {
			p->type[i] = PG_INT8;
			p->guess[i] = 2;
			any = 1;
		}
	}
	return any ? 0 : -1;
}

/* Prepare st on the server for the types bound now, unless it is. */
static int
prepare(struct dbst *st)
{
	struct pgst *p = st->pg;
	struct db *db = st->db;
	PGresult *res;
	char sql[64];
	int tries, tx;

	if (p->name[0] != '\0' && (p->n == 0 ||
	    memcmp(p->type, p->ptype, sizeof(*p->type) * (size_t)p->n) == 0))
		return 0;
	if (p->name[0] != '\0') {
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", p->name);
		if (pg_exec(db, sql) < 0)
			return -1;
	}
	snprintf(p->name, sizeof(p->name), "d%u", ++db->pg_seq);
	/* A failed prepare would end an open transaction: try under a
	 * savepoint. Each statement is prepared once per connection. */
	tx = pg_in_tx(db);
	for (tries = 0;; tries++) {
		if (tx && pg_exec(db, "SAVEPOINT dater_prepare") < 0)
			break;
		res = result(db, pq.prepare(db->pg, p->name, p->sql, p->n,
		    p->type));
		if (tx && pg_exec(db, res != NULL ? "RELEASE dater_prepare" :
		    "ROLLBACK TO dater_prepare") < 0) {
			if (res != NULL)
				pq.clear(res);
			res = NULL;
			break;
		}
		if (res != NULL || tries > 2 * p->n || guess_types(p, db) < 0)
			break;
	}
	if (res == NULL) {
		p->name[0] = '\0';
		return -1;
	}
	pq.clear(res);
	if (p->n > 0)
		memcpy(p->ptype, p->type, sizeof(*p->type) * (size_t)p->n);
	return 0;
}

int
pg_step(struct dbst *st)
{
	struct pgst *p = st->pg;
	struct db *db = st->db;

	if (p->res == NULL) {
		if (prepare(st) < 0)
			return db->pg_err;
		p->res = result(db, pq.exec_prepared(db->pg, p->name, p->n,
		    p->val, NULL, NULL, 0));
		if (p->res == NULL)
			return db->pg_err;
		p->nrows = pq.ntuples(p->res);
		p->row = -1;
		db->pg_changes = (int)strtol(pq.cmd_tuples(p->res), NULL, 10);
	}
	if (p->row < p->nrows)
		p->row++;
	return p->row < p->nrows ? DB_ROW : DB_DONE;
}

const char *
pg_col(struct dbst *st, int col)
{
	struct pgst *p = st->pg;

	if (p->res == NULL || p->row < 0 || p->row >= p->nrows ||
	    pq.getisnull(p->res, p->row, col))
		return NULL;
	return pq.getvalue(p->res, p->row, col);
}

/* Translation */

struct buf {
	char *s;
	size_t len, cap;
	int oom;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	char *ns;
	size_t cap;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap > 0 ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((ns = realloc(b->s, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* The length of the quoted literal or identifier at s ('...' or "...",
 * doubled quotes inside). */
static size_t
quoted(const char *s)
{
	char q = s[0];
	size_t i = 1;

	for (; s[i] != '\0'; i++) {
		if (s[i] == q) {
			if (s[i + 1] != q)
				return i + 1;
			i++;
		}
	}
	return i;
}

/* How many arguments the call whose "(" is at s has (top level commas
 * + 1), or 0 for "()". */
static int
nargs(const char *s)
{
	int depth = 0, n = 1, any = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\'' || s[i] == '"') {
			i += quoted(s + i) - 1;
			any = 1;
			continue;
		}
		if (s[i] == '(')
			depth++;
		else if (s[i] == ')') {
			if (--depth == 0)
				break;
		} else if (s[i] == ',' && depth == 1)
			n++;
		else if (!isspace((unsigned char)s[i]))
			any = 1;
	}
	return any ? n : 0;
}

/* A word of SQL (an identifier or keyword) and its replacement. Note:
 * greatest and least skip NULLs where SQLite's max and min of several
 * return NULL; the SQL keeps NULLs out of them. */
static const char *
rename_word(const char *w, size_t n, const char *after, int ddl)
{
	static const struct {
		const char *from, *to;
		int call;	/* 1: a call with 2+ arguments, 2: any call */
		int ddl;	/* only in the schema */
	} map[] = {
		{ "max", "greatest", 1, 0 },
		{ "min", "least", 1, 0 },
		{ "instr", "strpos", 2, 0 },
		{ "ifnull", "coalesce", 2, 0 },
		{ "json_extract", "dater_json_extract", 2, 0 },
		{ "json_insert", "dater_json_insert", 2, 0 },
		{ "json_remove", "dater_json_remove", 2, 0 },
		{ "json_valid", "dater_json_valid", 2, 0 },
		{ "json_each", "dater_json_each", 2, 0 },
		{ "json_object", "json_build_object", 2, 0 },
		{ "json_array", "json_build_array", 2, 0 },
		{ "json_array_length", "dater_json_array_length", 2, 0 },
		{ "total", "dater_total", 2, 0 },
		{ "INTEGER", "BIGINT", 0, 0 },
		{ "REAL", "DOUBLE PRECISION", 0, 0 },
	};
	size_t i;
	const char *p = after;

	while (isspace((unsigned char)*p))
		p++;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strlen(map[i].from) != n ||
		    strncasecmp(map[i].from, w, n) != 0)
			continue;
		if (map[i].ddl && !ddl)
			continue;
		if (map[i].call && *p != '(')
			continue;
		if (map[i].call == 1 && nargs(p) < 2)
			continue;
		return map[i].to;
	}
	return NULL;
}

/* The length of "INDEXED BY name" at s, or 0. */
static size_t
indexed_by(const char *s)
{
	size_t n = 0;

	if (strncasecmp(s, "INDEXED", 7) != 0 || !isspace((unsigned char)s[7]))
		return 0;
	for (n = 7; isspace((unsigned char)s[n]); n++)
		;
	if (strncasecmp(s + n, "BY", 2) != 0 ||
	    !isspace((unsigned char)s[n + 2]))
		return 0;
	for (n += 2; isspace((unsigned char)s[n]); n++)
		;
	while (isalnum((unsigned char)s[n]) || s[n] == '_')
		n++;
	return n;
}

char *
pg_translate(const char *sql, int ddl, int *nparams)
{
	static const char ipk[] = "INTEGER PRIMARY KEY";
	struct buf b = { NULL, 0, 0, 0 };
	const char *s = sql, *to;
	char num[16];
	int k = 0, max = 0, v;
	size_t n;

	while (*s != '\0') {
		if (*s == '\'' || *s == '"') {
			n = quoted(s);
			put(&b, s, n);
			s += n;
		} else if (*s == '?') {
			s++;
			if (isdigit((unsigned char)*s)) {
				v = (int)strtol(s, (char **)&s, 10);
			} else
				v = ++k;
			if (v > max)
				max = v;
			snprintf(num, sizeof(num), "$%d", v);
			puts_(&b, num);
		} else if (ddl && strncasecmp(s, ipk, sizeof(ipk) - 1) == 0) {
			puts_(&b, "BIGINT GENERATED BY DEFAULT AS IDENTITY"
			    " PRIMARY KEY");
			s += sizeof(ipk) - 1;
		} else if ((n = indexed_by(s)) > 0) {
			s += n;		/* a hint for SQLite's planner */
		} else if (isalpha((unsigned char)*s) || *s == '_') {
			for (n = 0; isalnum((unsigned char)s[n]) || s[n] == '_';
			    n++)
				;
			to = rename_word(s, n, s + n, ddl);
			if (to != NULL)
				puts_(&b, to);
			else
				put(&b, s, n);
			s += n;
		} else {
			put(&b, s, 1);
			s++;
		}
	}
	if (b.s == NULL)
		puts_(&b, "");
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	if (nparams != NULL)
		*nparams = max;
	return b.s;
}
