/*
 * app: what every program does first: load the configuration (-c, else
 * the search order in cfg.h), pick the database (-d, else $DATER_DB, else
 * the config's), and open it. Returns a sysexits code for main() to exit
 * with, so every program maps the same failures to the same codes.
 */
#ifndef DATER_APP_H
#define DATER_APP_H

#include <sysexits.h>

#include "cfg.h"
#include "db.h"

/* Load the configuration into cfg and point it at the database in use
 * (db_path, $DATER_DB or its own; see cfg_use_database). job_types as for
 * cfg_load (may be NULL). Returns EX_OK, with cfg owning what it holds
 * (cfg_release it), or EX_CONFIG (logged) with cfg untouched. */
int app_config(struct cfg *cfg, const char *cfg_path, const char *db_path,
    const char *const *job_types);

/* The database path: db_path if not NULL, else $DATER_DB, else
 * cfg->database. Borrowed from the arguments or the environment. */
const char *app_db_path(const struct cfg *cfg, const char *db_path);

/*
 * Open the database (flags as for db_open). Returns EX_OK, EX_CONFIG when
 * it is missing or needs 'dater-migrate up' (the message says so), or
 * EX_UNAVAILABLE/EX_CANTCREAT/EX_NOINPUT as fits. Logged.
 */
int app_open_db(struct db *db, const struct cfg *cfg, const char *db_path,
    int flags);

/* Print "NAME VERSION" to stdout (for -V). */
void app_version(const char *name);

#endif
