/*
 * dater-worker: run jobs. A supervisor forks N worker processes that
 * claim jobs from the queue and run them; see lib/worker.h.
 *
 *   dater-worker [-c file] [-d db] [-n N] [--queues a,b] [--drain]
 *
 * SIGTERM/SIGINT: finish running jobs and exit 0. SIGHUP: reload the
 * configuration. --drain: exit 0 once no job is due, 69 when workers
 * keep failing to use the database.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "../lib/app.h"
#include "../lib/log.h"
#include "../lib/worker.h"
#include "../jobs/jobs.h"
#include "../lib/banned.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: dater-worker [-qv] [-c file] [-d db] [-n workers] "
	    "[--queues a,b] [--drain]\n"
	    "Runs jobs: a supervisor with N worker processes and one listener\n"
	    "per Telegram bot. SIGTERM: finish the running jobs and exit;\n"
	    "SIGHUP: reload the configuration.\n"
	    "options:\n"
	    "  -c, --config FILE   configuration (else $DATER_CONFIG, ...)\n"
	    "  -d, --db FILE       database (else $DATER_DB, the config's)\n"
	    "  -n, --workers N     worker processes (else worker.concurrency)\n"
	    "      --queues a,b    take jobs from these queues only (else\n"
	    "                      worker.queues, else all)\n"
	    "      --drain         exit 0 once no job is due (69 when the\n"
	    "                      workers keep failing); no listeners\n"
	    "  -q, --quiet         warnings and errors only\n"
	    "  -v, --verbose       debug messages\n"
	    "  -h, --help          this help\n"
	    "  -V, --version       the version\n");
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "workers", required_argument, NULL, 'n' },
		{ "queues", required_argument, NULL, 'Q' },
		{ "drain", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	struct worker_opts wo;
	struct cfg cfg;
	const char *dbpath = NULL, *errstr, *nworkers = NULL;
	int ch, rc, level = -1;

	log_init("dater-worker", LOG_LEVEL_INFO, 1);
	memset(&wo, 0, sizeof(wo));
	while ((ch = getopt_long(argc, argv, "c:d:n:hVvq", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			wo.cfg_path = optarg;
			break;
		case 'd':
			dbpath = optarg;
			break;
		case 'n':
			nworkers = optarg;
			break;
		case 'Q':
			if (*optarg == '\0' || strlen(optarg) >= 256 ||
			    !cfg_valid_queues(optarg)) {
				log_err("--queues '%s': expected names "
				    "separated by commas", optarg);
				return EX_USAGE;
			}
			wo.queues = optarg;
			break;
		case 'D':
			wo.drain = 1;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			app_version("dater-worker");
			return EX_OK;
		case 'v':
			level = LOG_LEVEL_DEBUG;
			break;
		case 'q':
			level = LOG_LEVEL_WARN;
			break;
		default:
			log_usage_hint(NULL);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		log_err("unexpected argument '%s'", argv[optind]);
		log_usage_hint(NULL);
		return EX_USAGE;
	}
	if ((rc = app_config(&cfg, wo.cfg_path, dbpath, jobs_names)) != EX_OK)
		return rc;
	if (level >= 0)
		cfg.log_level = level;
	log_set_level((enum log_level)cfg.log_level);
	wo.n = cfg.worker.concurrency;
	if (nworkers != NULL) {
		wo.n = (int)strtonum(nworkers, 1, 256, &errstr);
		if (errstr != NULL) {
			log_err("-n '%s': %s (1..256)", nworkers, errstr);
			cfg_release(&cfg);
			return EX_USAGE;
		}
	}
	wo.db_path = app_db_path(&cfg, dbpath);
	wo.types = jobs_table;
	wo.type_names = jobs_names;
	rc = worker_run(&wo, &cfg);
	cfg_release(&cfg);
	return rc;
}
