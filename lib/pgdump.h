/*
 * pgdump: PostgreSQL's own client programs (pg_dump) run as a child
 * process, for the backups of a database on PostgreSQL (maint.c).
 *
 * The password never goes on a command line: the URI passed with
 * --dbname has it removed, and the child alone gets it in PGPASSWORD
 * (only when the URI has one; else the environment, ~/.pgpass or the
 * server's trust rules decide, as for any libpq program).
 *
 * Errors: -1 with the reason in err; nothing is logged.
 */
#ifndef DATER_PGDUMP_H
#define DATER_PGDUMP_H

#include <stddef.h>

/*
 * Where the PostgreSQL client program prog ("pg_dump") is: only
 * $PG_BINDIR/prog when PG_BINDIR is set, else the first executable prog
 * in a directory of PATH, else the one of the newest
 * /usr/lib/postgresql/VERSION/bin (Debian keeps them off PATH). out (len
 * bytes) gets its path. 0, or -1 with err naming where it looked and
 * what to install.
 */
int pgdump_find(const char *prog, char *out, size_t len, char *err,
    size_t errlen);

/*
 * uri without its password (user:PASSWORD@ in the authority, a
 * password= parameter) into bare, and the password, percent-decoded,
 * into pw ("" when it has none). 0, or -1 when either does not fit.
 */
int pgdump_split_uri(const char *uri, char *bare, size_t blen, char *pw,
    size_t plen);

/*
 * Run pg_dump --format=custom --no-password --schema=SCHEMA (exactly
 * that schema, with its tables, functions and data) on the database uri,
 * its output written to fd (which the caller owns and closes), its
 * signals unblocked. Waits for it. 0 when it exited 0; else -1 with
 * err holding pg_dump's messages (or why it could not run).
 */
int pgdump_run(const char *uri, const char *schema, int fd, char *err,
    size_t len);

#endif
