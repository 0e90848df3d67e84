/*
 * pg: the PostgreSQL side of db.c. db.c calls these when the database
 * is a libpq URI (cfg_is_pg_uri); nothing else includes this header.
 * libpq is loaded with dlopen on the first connection, so programs on
 * SQLite never load it.
 *
 * SQL is written once, in the dialect both backends share; pg_translate
 * turns SQLite's spellings into PostgreSQL's as a statement is prepared
 * (see pg.c for the list). Parameters are sent as text; integers and
 * doubles carry their type, so PostgreSQL infers the others.
 */
#ifndef DATER_PG_H
#define DATER_PG_H

#include "db.h"

/* Connect db (db->path already holds the printable URI) to uri. The
 * settings are the busy timeout (lock_timeout), synchronous
 * (synchronous_commit) and DB_READONLY. 0 or -1 (logged). */
int pg_open(struct db *db, const char *uri, const struct cfg *cfg,
    int flags);
void pg_close(struct db *db);

/* Run SQL without parameters or results (several statements allowed).
 * 0 or -1 (the error is recorded, not logged). */
int pg_exec(struct db *db, const char *sql);

/* LISTEN on channel; the connection's socket; the notifications that
 * came (1 if any, 0 if none, -1 on a broken connection). */
int pg_listen(struct db *db, const char *channel);
int pg_socket(struct db *db);
int pg_notified(struct db *db);

/* Whether a transaction is open (or failed and not yet rolled back). */
int pg_in_tx(struct db *db);
/* Whether the open transaction failed: only ROLLBACK is accepted. */
int pg_tx_failed(struct db *db);

/* A statement: prepare st->pg for sql (not yet sent to the server). */
int pg_stmt_init(struct dbst *st, const char *sql);
void pg_stmt_free(struct dbst *st);
void pg_clear_bindings(struct dbst *st);

/* Bind: text (copied when copy, or len >= 0), int64, double, NULL. */
int pg_bind_text(struct dbst *st, int i, const char *s, int len, int copy);
int pg_bind_int64(struct dbst *st, int i, int64_t v);
int pg_bind_double(struct dbst *st, int i, double v);
int pg_bind_null(struct dbst *st, int i);
int pg_param_count(struct dbst *st);

int pg_step(struct dbst *st);
void pg_reset(struct dbst *st);

/* The current row's column, NULL for SQL NULL. */
const char *pg_col(struct dbst *st, int col);

/*
 * SQLite's spellings in sql turned into PostgreSQL's, malloc'ed; NULL
 * when out of memory. *nparams (may be NULL) gets the highest
 * parameter number. ddl also maps the column types of the schema.
 */
char *pg_translate(const char *sql, int ddl, int *nparams);

#endif
