/*
 * dater-migrate: create or upgrade the database schema, bring in the old
 * system's data, and the admin verbs around that.
 *
 *   dater-migrate [-c FILE] [-d DB] up       apply pending migrations
 *   dater-migrate [-c FILE] [-d DB] status   print current/latest version
 *   dater-migrate import-legacy [--bot NAME] [--dry-run] [--strict] DIR
 *   dater-migrate backup FILE                a verified online copy
 *                                            (PostgreSQL: a pg_dump archive)
 *   dater-migrate restore [--force] FILE     replace the database with one
 *                                            (SQLite only)
 *   dater-migrate check                      integrity and queue invariants
 *   dater-migrate copy [--force] --to DB     the whole database into a new one
 *
 * `up` creates the database (0600, WAL) when it does not exist. Every
 * other program refuses a database that is not at the latest version.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "../lib/app.h"
#include "../lib/clock.h"
#include "../lib/fields.h"
#include "../lib/dbcopy.h"
#include "../lib/dbfile.h"
#include "../lib/legacy.h"
#include "../lib/log.h"
#include "../jobs/jobs.h"
#include "../lib/banned.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: dater-migrate [-qv] [-c file] [-d db] up\n"
	    "       dater-migrate [-qv] [-c file] [-d db] [--json] status\n"
	    "       dater-migrate [-qv] [-c file] [-d db] [--json] import-legacy\n"
	    "                     [--bot name] [--dry-run] [--strict] dir\n"
	    "       dater-migrate [-qv] [-c file] [-d db] backup file\n"
	    "       dater-migrate [-qv] [-c file] [-d db] restore [--force] file\n"
	    "       dater-migrate [-qv] [-c file] [-d db] check\n"
	    "       dater-migrate [-qv] [-c file] [-d db] [--json] copy [--force]\n"
	    "                     --to db\n");
}

/* Options of the subcommands. */
struct opts {
	const char *bot;
	const char *to;		/* copy --to */
	int json, quiet, dry_run, strict, force;
};

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

/* A progress bar on stderr (only set up when stderr is a terminal);
 * done -1: clear it for a message. */
static void
progress(void *arg, int done, int total)
{
	int width = 30, fill = total > 0 ? done * width / total : width;

	if (done < 0) {
		fprintf(stderr, "\r%*s\r", width + 40, "");
		return;
	}
	fprintf(stderr, "\rimporting [%.*s%*s] %d/%d files", fill,
	    "##############################", width - fill, "", done, total);
	if (done == total)
		fprintf(stderr, "\r%*s\r", width + 40, "");
	fflush(stderr);
}

static void
print_counts(const char *what, const struct legacy_counts *c, int json)
{
	if (json)
		printf("\"%s\":{\"imported\":%d,\"updated\":%d,\"skipped\":%d}",
		    what, c->imported, c->updated, c->skipped);
	else
		printf("%-9s %6d imported %6d updated %6d skipped\n", what,
		    c->imported, c->updated, c->skipped);
}

static void
print_report(const struct legacy_report *r, const struct opts *o, int rc)
{
	int rolled = o->dry_run || (o->strict && rc != LEGACY_OK);

	if (o->json) {
		printf("{\"dry_run\":%s,\"written\":%s,", o->dry_run ? "true" :
		    "false", rolled ? "false" : "true");
		print_counts("contacts", &r->contacts, 1);
		putchar(',');
		print_counts("messages", &r->messages, 1);
		putchar(',');
		print_counts("metrics", &r->metrics, 1);
		printf(",\"files\":%d,\"bad_files\":%d}\n", r->files, r->bad);
		return;
	}
	if (o->dry_run)
		printf("dry run: nothing was written; this is what would "
		    "change\n");
	print_counts("contacts", &r->contacts, 0);
	print_counts("messages", &r->messages, 0);
	print_counts("metrics", &r->metrics, 0);
	printf("files     %6d read %6d bad (named above, skipped)\n", r->files,
	    r->bad);
	if (o->strict && rc != LEGACY_OK)
		printf("strict: bad files, nothing was imported\n");
}

static int
cmd_import(const struct cfg *cfg, const char *dbpath, const struct opts *o,
    const char *dir)
{
	struct legacy_opts lo;
	struct legacy_report r;
	struct stat st;
	struct db db;
	json_t *defs = NULL;
	int rc;

	memset(&lo, 0, sizeof(lo));
	lo.dir = dir;
	lo.bot = o->bot != NULL ? o->bot : cfg->nbots == 1 ?
	    cfg->bots[0].name : NULL;
	if (lo.bot == NULL) {
		log_err("import-legacy: --bot is needed (the configuration "
		    "has %d bots)", cfg->nbots);
		return EX_USAGE;
	}
	if (!cfg_valid_name(lo.bot, strlen(lo.bot))) {
		log_err("import-legacy: --bot '%s': not a bot name (1 to %d "
		    "letters, digits, '-', '_' or '.')", lo.bot,
		    CFG_NAME_MAX - 1);
		return EX_USAGE;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_err("'%s': %s", dir, errno == ENOENT ? strerror(errno) :
		    "not a directory");
		return EX_NOINPUT;
	}
	if (cfg->fields[0] != '\0' && (defs = fields_load(cfg->fields)) ==
	    NULL)
		return EX_CONFIG;
	if ((rc = app_open_db(&db, cfg, dbpath, 0)) != EX_OK) {
		json_decref(defs);
		return rc;
	}
	lo.defs = defs;
	lo.dry_run = o->dry_run;
	lo.strict = o->strict;
	if (!o->quiet && isatty(STDERR_FILENO))
		lo.progress = progress;
	rc = legacy_import(&db, &lo, &r);
	db_close(&db);
	json_decref(defs);
	if (rc < 0)
		return EX_SOFTWARE;
	if (!o->quiet || o->json)
		print_report(&r, o, rc);
	return rc == LEGACY_OK ? EX_OK : EX_DATAERR;
}

static int
cmd_backup(const struct cfg *cfg, const char *dbpath, const struct opts *o,
    const char *file)
{
	char err[512];
	struct db db;
	int rc;

	if ((rc = app_open_db(&db, cfg, dbpath, 0)) != EX_OK)
		return rc;
	if (dbfile_backup(&db, app_db_path(cfg, dbpath), file, err,
	    sizeof(err)) < 0) {
		log_err("backup: %s", err);
		rc = EX_CANTCREAT;
	} else if (!o->quiet)
		printf("%s: backed up to %s\n", db.path, file);
	db_close(&db);
	return rc;
}

static int
cmd_restore(const struct cfg *cfg, const char *dbpath, const struct opts *o,
    const char *file)
{
	char err[512];
	struct db db;
	int rc;

	if (access(file, F_OK) < 0) {
		log_err("restore: '%s': %s", file, strerror(errno));
		return EX_NOINPUT;
	}
	if ((rc = app_open_db(&db, cfg, dbpath, DB_CREATE |
	    DB_ANY_VERSION)) != EX_OK)
		return rc;
	switch (dbfile_restore(&db, file, o->force, clock_now_ms(),
	    cfg->worker.lease_ms, err, sizeof(err))) {
	case DBFILE_OK:
		if (!o->quiet)
			printf("%s: restored from %s\n", db.path, file);
		rc = EX_OK;
		break;
	case DBFILE_BAD_INPUT:
		log_err("restore: %s", err);
		rc = EX_DATAERR;
		break;
	case DBFILE_BUSY:
		log_err("restore: %s", err);
		rc = EX_TEMPFAIL;
		break;
	case DBFILE_UNSUPPORTED:
		log_err("restore: %s", err);
		rc = EX_UNAVAILABLE;
		break;
	default:
		log_err("restore: %s", err);
		rc = EX_SOFTWARE;
	}
	db_close(&db);
	return rc;
}

static void
print_problem(void *arg, const char *what)
{
	printf("%s\n", what);
}

static int
cmd_check(const struct cfg *cfg, const char *dbpath, const struct opts *o,
    const char *arg)
{
	struct db db;
	int rc, n = 0;

	if ((rc = app_open_db(&db, cfg, dbpath, DB_READONLY)) != EX_OK)
		return rc;
	if (dbfile_check(&db, print_problem, NULL, &n) < 0)
		rc = EX_SOFTWARE;
	else if (n > 0) {
		log_err("%s: %d problem%s", db.path, n, n == 1 ? "" : "s");
		rc = EX_DATAERR;
	} else if (!o->quiet)
		printf("%s: ok\n", db.path);
	db_close(&db);
	return rc;
}

static void
print_copy(const struct dbcopy_report *r, const struct db *src,
    const struct db *dst, double secs, int json)
{
	int i;

	if (json) {
		printf("{\"tables\":{");
		for (i = 0; i < r->ntables; i++)
			printf("%s\"%s\":%lld", i > 0 ? "," : "", r->t[i].name,
			    (long long)r->t[i].rows);
		printf("},\"rows\":%lld,\"seconds\":%.3f}\n",
		    (long long)r->rows, secs);
		return;
	}
	for (i = 0; i < r->ntables; i++)
		printf("%-14s %10lld rows\n", r->t[i].name,
		    (long long)r->t[i].rows);
	printf("%s: copied %lld rows from %s in %.1f s\n", dst->path,
	    (long long)r->rows, src->path, secs);
}

static int
cmd_copy(const struct cfg *cfg, const char *dbpath, const struct opts *o,
    const char *arg)
{
	struct dbcopy_report r;
	struct db src, dst;
	int64_t t0;
	int rc;

	if (o->to == NULL) {
		log_err("copy: --to is needed");
		log_usage_hint(NULL);
		return EX_USAGE;
	}
	if ((rc = app_open_db(&src, cfg, dbpath, DB_READONLY)) != EX_OK)
		return rc;
	if ((rc = app_open_db(&dst, cfg, o->to, DB_CREATE |
	    DB_ANY_VERSION)) != EX_OK) {
		db_close(&src);
		return rc;
	}
	t0 = clock_mono_ms();
	switch (dbcopy_run(&src, &dst, o->force, clock_now_ms(),
	    cfg->worker.lease_ms, &r)) {
	case DBCOPY_OK:
		if (!o->quiet || o->json)
			print_copy(&r, &src, &dst,
			    (double)(clock_mono_ms() - t0) / 1000.0, o->json);
		rc = EX_OK;
		break;
	case DBCOPY_BUSY:
		rc = EX_TEMPFAIL;
		break;
	case DBCOPY_NOT_EMPTY:
		rc = EX_CANTCREAT;
		break;
	default:
		rc = EX_SOFTWARE;
	}
	db_close(&dst);
	db_close(&src);
	return rc;
}

static int
run_status(const struct cfg *cfg, const char *dbpath, const struct opts *o,
    const char *arg)
{
	return cmd_status(cfg, dbpath, o->json);
}

static int
run_up(const struct cfg *cfg, const char *dbpath, const struct opts *o,
    const char *arg)
{
	return cmd_up(cfg, dbpath, o->quiet);
}

/* The commands (like git's commands[]): name, arguments after it. */
static const struct {
	const char *name;
	int nargs;
	int (*run)(const struct cfg *, const char *, const struct opts *,
	    const char *);
} commands[] = {
	{ "up", 0, run_up },
	{ "status", 0, run_status },
	{ "import-legacy", 1, cmd_import },
	{ "backup", 1, cmd_backup },
	{ "restore", 1, cmd_restore },
	{ "check", 0, cmd_check },
	{ "copy", 0, cmd_copy },
	{ NULL, 0, NULL }
};

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "bot", required_argument, NULL, 'b' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "strict", no_argument, NULL, 's' },
		{ "force", no_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cfgpath = NULL, *dbpath = NULL;
	struct cfg cfg;
	struct opts o;
	int ch, rc;

	log_init("dater-migrate", LOG_LEVEL_INFO, 0);
	memset(&o, 0, sizeof(o));
	while ((ch = getopt_long(argc, argv, "c:d:hVvq", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfgpath = optarg;
			break;
		case 'd':
			dbpath = optarg;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'b':
			o.bot = optarg;
			break;
		case 'n':
			o.dry_run = 1;
			break;
		case 's':
			o.strict = 1;
			break;
		case 'f':
			o.force = 1;
			break;
		case 't':
			o.to = optarg;
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
			o.quiet = 1;
			log_set_level(LOG_LEVEL_WARN);
			break;
		default:
			log_usage_hint(NULL);
			return EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		log_err("no command given");
		log_usage_hint(NULL);
		return EX_USAGE;
	}
	for (ch = 0; commands[ch].name != NULL; ch++)
		if (strcmp(argv[0], commands[ch].name) == 0)
			break;
	if (commands[ch].name == NULL) {
		log_err("unknown command '%s'", argv[0]);
		log_usage_hint(NULL);
		return EX_USAGE;
	}
	if (argc != commands[ch].nargs + 1) {
		log_err("%s: expected %s", argv[0], commands[ch].nargs == 0 ?
		    "no arguments" : "one argument");
		log_usage_hint(NULL);
		return EX_USAGE;
	}
	if ((rc = app_config(&cfg, cfgpath, dbpath, jobs_names)) != EX_OK)
		return rc;
	rc = commands[ch].run(&cfg, dbpath, &o, argv[1]);
	cfg_release(&cfg);
	return rc;
}
