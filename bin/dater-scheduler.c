/*
 * dater-scheduler: enqueue due periodic jobs and the domain's due work
 * (openers, follow-ups). Run by cron every minute (--once, the default)
 * or as a long-lived process (--loop); see lib/sched.h for what a run
 * does and why it is idempotent per slot.
 *
 *   dater-scheduler [-nqv] [-c file] [-d db] [--once | --loop] [--now time]
 */
#define _GNU_SOURCE		/* ppoll */
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "../lib/app.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/sched.h"
#include "../jobs/jobs.h"
#include "../lib/banned.h"

static volatile sig_atomic_t got_term;
static volatile sig_atomic_t got_hup;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: dater-scheduler [-nqv] [-c file] [-d db] [--once | --loop] "
	    "[--now time]\n"
	    "Enqueues the jobs of the schedules (and due openers and\n"
	    "follow-ups) whose slot has come, each slot once.\n"
	    "options:\n"
	    "  -c, --config FILE   configuration (else $DATER_CONFIG, ...)\n"
	    "  -d, --db FILE       database (else $DATER_DB, the config's)\n"
	    "      --once          one pass, then exit (the default; for cron)\n"
	    "      --loop          a pass every minute until SIGTERM\n"
	    "      --now TIME      pass as if it were TIME (RFC 3339)\n"
	    "  -n, --dry-run       print what would be enqueued; change nothing\n"
	    "  -q, --quiet         warnings and errors only\n"
	    "  -v, --verbose       say what each pass enqueued\n"
	    "  -h, --help          this help\n"
	    "  -V, --version       the version\n");
}

static int
run_once(const struct cfg *cfg, const char *dbpath, int64_t now, int dry,
    int verbose)
{
	struct sched_report r;
	struct db db;
	int rc;

	if ((rc = app_open_db(&db, cfg, dbpath, 0)) != EX_OK)
		return rc;
	rc = sched_run(&db, cfg, now, dry, stdout, &r);
	if (rc == 0 && (verbose || dry))
		printf("%s%d schedule%s, %d opener%s, %d follow-up%s\n",
		    dry ? "dry run: " : "", r.fired, r.fired == 1 ? "" : "s",
		    r.openers, r.openers == 1 ? "" : "s", r.followups,
		    r.followups == 1 ? "" : "s");
	rc = rc == 0 ? EX_OK : (db_errcode(&db) == DB_BUSY ? EX_TEMPFAIL : EX_UNAVAILABLE);
	db_close(&db);
	return rc;
}

/* Reload on SIGHUP: a broken file is refused, the old one stays. */
static void
reload(struct cfg *cfg, const char *cfgpath, const char *dbpath)
{
	struct cfg *c;

	got_hup = 0;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    app_config(c, cfgpath, dbpath, jobs_names) != EX_OK ||
	    sched_check(c, jobs_table) < 0) {
		log_err("reload refused; keeping the old configuration");
		if (c != NULL)
			cfg_release(c);
		free(c);
		return;
	}
	cfg_move(cfg, c);	/* releases the old one */
	free(c);
	log_info("configuration reloaded");
}

/* Run at the start of every minute until SIGTERM/SIGINT. */
static int
loop(struct cfg *cfg, const char *cfgpath, const char *dbpath, int verbose)
{
	struct sigaction sa;
	struct timespec ts;
	sigset_t block, wait;
	int64_t now, next;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &wait);
	while (!got_term) {
		if (got_hup)
			reload(cfg, cfgpath, dbpath);
		rc = run_once(cfg, dbpath, clock_now_ms(), 0, verbose);
		if (rc == EX_CONFIG)
			return rc;
		now = clock_now_ms();
		next = (now / 60000 + 1) * 60000 + 500;
		ts.tv_sec = (next - now) / 1000;
		ts.tv_nsec = (long)((next - now) % 1000) * 1000000L;
		(void)ppoll(NULL, 0, &ts, &wait);
	}
	return EX_OK;
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "once", no_argument, NULL, 'O' },
		{ "loop", no_argument, NULL, 'L' },
		{ "now", required_argument, NULL, 'N' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cfgpath = NULL, *dbpath = NULL;
	struct cfg *cfg;
	int64_t now = 0;
	int ch, rc, looping = 0, dry = 0, verbose = 0;

	log_init("dater-scheduler", LOG_LEVEL_INFO, 0);
	while ((ch = getopt_long(argc, argv, "c:d:nhVvq", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfgpath = optarg;
			break;
		case 'd':
			dbpath = optarg;
			break;
		case 'O':
			looping = 0;
			break;
		case 'L':
			looping = 1;
			break;
		case 'N':
			if (clock_parse_time(optarg, &now) < 0) {
				log_err("--now '%s': expected an RFC 3339 time "
				    "or unix seconds", optarg);
				return EX_USAGE;
			}
			break;
		case 'n':
			dry = 1;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			app_version("dater-scheduler");
			return EX_OK;
		case 'v':
			verbose = 1;
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'q':
			log_set_level(LOG_LEVEL_WARN);
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
	if (looping && (now != 0 || dry)) {
		log_err("--loop runs on the clock: no --now, no --dry-run");
		log_usage_hint(NULL);
		return EX_USAGE;
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return EX_OSERR;
	if ((rc = app_config(cfg, cfgpath, dbpath, jobs_names)) == EX_OK &&
	    sched_check(cfg, jobs_table) < 0)
		rc = EX_CONFIG;
	if (rc == EX_OK && !verbose)
		log_set_level(cfg->log_level > LOG_LEVEL_WARN ?
		    LOG_LEVEL_WARN : (enum log_level)cfg->log_level);
	if (rc == EX_OK)
		rc = looping ? loop(cfg, cfgpath, dbpath, verbose) :
		    run_once(cfg, dbpath, now != 0 ? now : clock_now_ms(), dry,
		    verbose);
	cfg_release(cfg);
	free(cfg);
	return rc;
}
