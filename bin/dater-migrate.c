/*
 * dater-migrate: create or upgrade the database schema.
 *
 *   dater-migrate [-c FILE] [-d DB] up       apply pending migrations
 *   dater-migrate [-c FILE] [-d DB] status   print current/latest version
 *
 * `up` creates the database (0600, WAL) when it does not exist. Every
 * other program refuses a database that is not at the latest version.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "../lib/app.h"
#include "../lib/log.h"
#include "../jobs/jobs.h"
#include "../lib/banned.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: dater-migrate [-qv] [-c file] [-d db] up\n"
	    "       dater-migrate [-qv] [-c file] [-d db] status\n");
}

static int
cmd_status(const struct cfg *cfg, const char *dbpath, int json)
{
	struct db db;
	int rc, v;

	rc = app_open_db(&db, cfg, dbpath, DB_ANY_VERSION | DB_READONLY);
	if (rc != EX_OK)
		return rc == EX_CONFIG ? EX_NOINPUT : rc;
	if (db_version(&db, &v) < 0) {
		db_close(&db);
		return EX_UNAVAILABLE;
	}
	if (json)
		printf("{\"database\":\"%s\",\"version\":%d,\"latest\":%d,"
		    "\"pending\":%d}\n", db.path, v, db_latest_version(),
		    v < db_latest_version() ? db_latest_version() - v : 0);
	else
		printf("database %s\nversion  %d\nlatest   %d%s\n", db.path, v,
		    db_latest_version(), v < db_latest_version() ?
		    "  (run 'dater-migrate up')" : "");
	db_close(&db);
	return EX_OK;
}

static int
cmd_up(const struct cfg *cfg, const char *dbpath, int quiet)
{
	struct db db;
	int rc, from, to;

	rc = app_open_db(&db, cfg, dbpath, DB_CREATE | DB_ANY_VERSION);
	if (rc != EX_OK)
		return rc;
	rc = db_migrate(&db, &from, &to) < 0 ? EX_SOFTWARE : EX_OK;
	if (rc == EX_OK && !quiet) {
		if (from == to)
			printf("%s: at version %d, nothing to do\n", db.path,
			    to);
		else
			printf("%s: migrated from version %d to %d\n",
			    db.path, from, to);
	}
	db_close(&db);
	return rc;
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cfgpath = NULL, *dbpath = NULL;
	struct cfg cfg;
	int ch, rc, quiet = 0, json = 0;

	log_init("dater-migrate", LOG_LEVEL_INFO, 0);
	while ((ch = getopt_long(argc, argv, "c:d:hVvq", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfgpath = optarg;
			break;
		case 'd':
			dbpath = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			app_version("dater-migrate");
			return EX_OK;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'q':
			quiet = 1;
			log_set_level(LOG_LEVEL_WARN);
			break;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1) {
		usage(stderr);
		return EX_USAGE;
	}
	if ((rc = app_config(&cfg, cfgpath, dbpath, jobs_names)) != EX_OK)
		return rc;
	if (strcmp(argv[0], "up") == 0)
		return cmd_up(&cfg, dbpath, quiet);
	if (strcmp(argv[0], "status") == 0)
		return cmd_status(&cfg, dbpath, json);
	log_err("unknown command '%s'", argv[0]);
	usage(stderr);
	return EX_USAGE;
}
