/*
 * dater-enqueue: add jobs to the queue, and the admin verbs on jobs.
 *
 *   dater-enqueue [options] TYPE [JSON]   one job; prints its id
 *   dater-enqueue [options] -             JSON lines from stdin, all in one
 *                                         transaction; one id per line
 *   dater-enqueue --cancel ID...          queued/running -> cancelled
 *   dater-enqueue --retry ID...           dead/cancelled -> queued
 *
 * A bad line rejects the whole batch (exit 65, the line named, nothing
 * enqueued). A duplicate unique key prints the existing job's id.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "../lib/app.h"
#include "../lib/batch.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "../jobs/jobs.h"
#include "../lib/banned.h"

enum mode { MODE_ADD, MODE_CANCEL, MODE_RETRY };

static void
usage(FILE *f)
{
	const struct job_type *const *t;

	fprintf(f,
	    "usage: dater-enqueue [-qv] [-c file] [-d db] [--at time | --in "
	    "duration]\n"
	    "                     [--priority n] [--unique key] "
	    "[--max-attempts n]\n"
	    "                     [--queue name] type [json]\n"
	    "       dater-enqueue [-qv] [-c file] [-d db] -\n"
	    "       dater-enqueue [-qv] [-c file] [-d db] --cancel id ...\n"
	    "       dater-enqueue [-qv] [-c file] [-d db] --retry id ...\n"
	    "       dater-enqueue [-qv] [-c file] [-d db] --retry --state dead"
	    "|cancelled\n"
	    "                     [--type type] [--bot bot]\n"
	    "job types:\n");
	for (t = jobs_table; *t != NULL; t++)
		fprintf(f, "  %-12s %s\n", (*t)->name, (*t)->summary);
}

/* Build the job object from argv options, as a stdin line would be. */
static int
argv_job(json_t *job, int argc, char **argv)
{
	json_error_t jerr;
	json_t *payload;

	if (json_object_set_new(job, "type", json_string(argv[0])) < 0)
		return EX_DATAERR;
	if (argc == 2) {
		payload = json_loads(argv[1], JSON_REJECT_DUPLICATES, &jerr);
		if (payload == NULL) {
			log_err("payload: bad JSON at column %d: %s",
			    jerr.column, jerr.text);
			return EX_DATAERR;
		}
		json_object_set_new(job, "payload", payload);
	}
	return EX_OK;
}

static int
set_int_opt(json_t *job, const char *key, const char *arg, long long lo,
    long long hi)
{
	const char *errstr;
	long long v = strtonum(arg, lo, hi, &errstr);

	if (errstr != NULL) {
		log_err("--%s '%s': %s (%lld..%lld)", key, arg, errstr, lo, hi);
		return -1;
	}
	json_object_set_new(job, key, json_integer(v));
	return 0;
}

static int
parse_ids(int argc, char **argv, int64_t **ids)
{
	const char *errstr;
	int i;

	if (argc == 0) {
		log_err("no job ids given");
		return -1;
	}
	if ((*ids = calloc((size_t)argc, sizeof(**ids))) == NULL)
		return -1;
	for (i = 0; i < argc; i++) {
		(*ids)[i] = strtonum(argv[i], 1, LLONG_MAX, &errstr);
		if (errstr != NULL) {
			log_err("job id '%s': %s", argv[i], errstr);
			free(*ids);
			return -1;
		}
	}
	return 0;
}

static int
admin(struct db *db, enum mode mode, int argc, char **argv, int quiet)
{
	int64_t *ids;
	int i, rc;

	if (parse_ids(argc, argv, &ids) < 0)
		return EX_USAGE;
	rc = mode == MODE_CANCEL ? queue_cancel(db, ids, argc) :
	    queue_retry(db, ids, argc);
	if (rc == 0 && !quiet)
		for (i = 0; i < argc; i++)
			printf("%s %lld\n", mode == MODE_CANCEL ? "cancelled" :
			    "queued", (long long)ids[i]);
	free(ids);
	if (rc == 0)
		return EX_OK;
	/* A refusal is bad input; a locked database is worth a retry. */
	return db_errcode(db) == DB_BUSY ?
	    EX_TEMPFAIL : EX_DATAERR;
}

/* --retry --state S [--type T] [--bot B]: every matching job. */
struct where {
	const char *state, *type, *bot;
};

static int
retry_where(struct db *db, const struct where *w, int quiet)
{
	int64_t *ids;
	int i, n;

	if (queue_retry_where(db, w->state, w->type, w->bot, &ids, &n) < 0)
		return db_errcode(db) == DB_BUSY ?
		    EX_TEMPFAIL : EX_DATAERR;
	for (i = 0; !quiet && i < n; i++)
		printf("queued %lld\n", (long long)ids[i]);
	if (n == 0)
		log_info("no %s job matches: nothing retried", w->state);
	free(ids);
	if (fflush(stdout) != 0) {
		log_err("stdout: write error");
		return EX_IOERR;
	}
	return EX_OK;
}

static int
add(struct db *db, struct batch *b)
{
	int64_t *ids;
	size_t i;
	int rc = EX_OK;

	if (b->n == 0)
		return EX_OK;
	if ((ids = calloc(b->n, sizeof(*ids))) == NULL) {
		log_err("out of memory");
		return EX_OSERR;
	}
	/* A locked database or a full disk: the same batch may go in
	 * later. */
	if (batch_enqueue(b, db, ids) < 0)
		rc = db_errcode(db) == DB_BUSY ||
		    db_errcode(db) == DB_FULL ?
		    EX_TEMPFAIL : EX_UNAVAILABLE;
	for (i = 0; rc == EX_OK && i < b->n; i++)
		printf("%lld\n", (long long)ids[i]);
	free(ids);
	if (rc == EX_OK && fflush(stdout) != 0) {
		log_err("stdout: write error");
		rc = EX_IOERR;
	}
	return rc;
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "at", required_argument, NULL, 'a' },
		{ "in", required_argument, NULL, 'i' },
		{ "priority", required_argument, NULL, 'p' },
		{ "unique", required_argument, NULL, 'u' },
		{ "max-attempts", required_argument, NULL, 'm' },
		{ "queue", required_argument, NULL, 'Q' },
		{ "cancel", no_argument, NULL, 'C' },
		{ "retry", no_argument, NULL, 'R' },
		{ "state", required_argument, NULL, 'S' },
		{ "type", required_argument, NULL, 'T' },
		{ "bot", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cfgpath = NULL, *dbpath = NULL;
	char err[QUEUE_ERROR_MAX];
	enum mode mode = MODE_ADD;
	struct where where = { NULL, NULL, NULL };
	struct batch b;
	struct cfg cfg;
	struct db db;
	json_t *job;
	int ch, rc, quiet = 0;

	log_init("dater-enqueue", LOG_LEVEL_INFO, 0);
	if ((job = json_object()) == NULL)
		return EX_OSERR;
	while ((ch = getopt_long(argc, argv, "c:d:hVvq", opts, NULL)) != -1) {
		rc = 0;
		switch (ch) {
		case 'c':
			cfgpath = optarg;
			break;
		case 'd':
			dbpath = optarg;
			break;
		case 'a':
			if (json_object_get(job, "in") != NULL)
				rc = -1, log_err("give --at or --in, not both");
			json_object_set_new(job, "at", json_string(optarg));
			break;
		case 'i':
			if (json_object_get(job, "at") != NULL)
				rc = -1, log_err("give --at or --in, not both");
			json_object_set_new(job, "in", json_string(optarg));
			break;
		case 'p':
			rc = set_int_opt(job, "priority", optarg, 0, 1000);
			break;
		case 'm':
			rc = set_int_opt(job, "max_attempts", optarg, 1, 1000);
			break;
		case 'u':
			json_object_set_new(job, "unique", json_string(optarg));
			break;
		case 'Q':
			json_object_set_new(job, "queue", json_string(optarg));
			break;
		case 'C':
			mode = MODE_CANCEL;
			break;
		case 'R':
			mode = MODE_RETRY;
			break;
		case 'S':
			where.state = optarg;
			break;
		case 'T':
			where.type = optarg;
			break;
		case 'B':
			where.bot = optarg;
			break;
		case 'h':
			usage(stdout);
			json_decref(job);
			return EX_OK;
		case 'V':
			app_version("dater-enqueue");
			json_decref(job);
			return EX_OK;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'q':
			quiet = 1;
			log_set_level(LOG_LEVEL_WARN);
			break;
		default:
			rc = -1;
			break;
		}
		if (rc < 0) {
			log_usage_hint(NULL);
			json_decref(job);
			return EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (where.state == NULL && (where.type != NULL || where.bot != NULL)) {
		log_err("--type and --bot select with --retry --state");
		rc = -1;
	} else if (where.state != NULL && (mode != MODE_RETRY || argc > 0)) {
		log_err("--state selects the jobs of --retry, without ids");
		rc = -1;
	} else if (where.state != NULL && strcmp(where.state, "dead") != 0 &&
	    strcmp(where.state, "cancelled") != 0) {
		log_err("--state %s: only dead or cancelled jobs can be retried",
		    where.state);
		rc = -1;
	}
	if (rc < 0) {
		log_usage_hint(NULL);
		json_decref(job);
		return EX_USAGE;
	}
	if (mode == MODE_ADD && (argc < 1 || argc > 2 ||
	    (strcmp(argv[0], "-") == 0 && (argc != 1 ||
	    json_object_size(job) > 0)))) {
		log_err(argc < 1 ? "no job type given" : "expected a type and "
		    "one JSON payload, or - alone");
		log_usage_hint(NULL);
		json_decref(job);
		return EX_USAGE;
	}
	if ((rc = app_config(&cfg, cfgpath, dbpath, jobs_names)) != EX_OK) {
		json_decref(job);
		return rc;
	}
	batch_init(&b, jobs_table, &cfg);
	if (mode == MODE_ADD && strcmp(argv[0], "-") == 0) {
		if (batch_read(&b, stdin, "stdin") < 0)
			rc = ferror(stdin) ? EX_IOERR : b.config_error ?
			    EX_CONFIG : EX_DATAERR;
	} else if (mode == MODE_ADD) {
		if ((rc = argv_job(job, argc, argv)) == EX_OK &&
		    batch_add_json(&b, job, clock_now_ms(), err,
		    sizeof(err)) < 0) {
			log_err("%s", err);
			rc = b.config_error ? EX_CONFIG : EX_DATAERR;
		}
	}
	json_decref(job);
	if (rc == EX_OK)
		rc = app_open_db(&db, &cfg, dbpath, 0);
	if (rc == EX_OK) {
		rc = mode == MODE_ADD ? add(&db, &b) : where.state != NULL ?
		    retry_where(&db, &where, quiet) :
		    admin(&db, mode, argc, argv, quiet);
		db_close(&db);
	}
	batch_release(&b);
	cfg_release(&cfg);
	return rc;
}
