/*
 * schema: the numbered migrations, in order. Migration i (1-based) moves
 * the database from user_version i-1 to i. Never edit a released
 * migration; add a new one.
 */
#ifndef DATER_SCHEMA_H
#define DATER_SCHEMA_H

extern const char *const schema_migrations[];
extern const int schema_nmigrations;

/* SQLite's JSON functions for PostgreSQL (see schema.c). */
extern const char schema_pg_compat[];

#endif
