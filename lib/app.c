#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "log.h"
#include "banned.h"

int
app_config(struct cfg *cfg, const char *cfg_path, const char *db_path,
    const char *const *types)
{
	if (cfg_load(cfg, cfg_path, types) < 0)
		return EX_CONFIG;
	cfg_use_database(cfg, app_db_path(cfg, db_path));
	return EX_OK;
}

const char *
app_db_path(const struct cfg *cfg, const char *db_path)
{
	const char *env = getenv("DATER_DB");

	if (db_path != NULL)
		return db_path;
	if (env != NULL && *env != '\0')
		return env;
	return cfg->database;
}

int
app_open_db(struct db *db, const struct cfg *cfg, const char *db_path,
    int flags)
{
	int rc = db_open(db, app_db_path(cfg, db_path), cfg, flags);

	if (rc == DB_NOT_READY)
		return EX_CONFIG;
	if (rc < 0)
		return (flags & DB_CREATE) ? EX_CANTCREAT : EX_UNAVAILABLE;
	return EX_OK;
}

void
app_version(const char *name)
{
	printf("%s %s\n", name, DATER_VERSION);
}
