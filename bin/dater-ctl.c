/*
 * dater-ctl: steer running bots and contacts. Each command takes effect
 * at once, in one transaction with its row in the audit table
 * (`dater-report audit` shows them):
 *
 *   dater-ctl pause BOT [CONTACT]       hold a bot, or one contact
 *   dater-ctl resume BOT [CONTACT]      let it act again; owed replies go
 *   dater-ctl takeover BOT CONTACT      a person takes the conversation
 *   dater-ctl release BOT CONTACT       the bot may answer again
 *   dater-ctl say BOT CONTACT [TEXT|-]  the operator's own message
 *   dater-ctl edit MESSAGE [TEXT|-]     change a draft before approve
 *   dater-ctl forget BOT CONTACT        erase a person on request
 *
 * The logic is in lib/ctl.c; this file parses arguments and prints.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "../jobs/jobs.h"
#include "../lib/app.h"
#include "../lib/ctl.h"
#include "../lib/log.h"
#include "../lib/store.h"
#include "../lib/banned.h"

struct opts {
	int json;
	int quiet;
	const char *reason;		/* pause --reason */
};

/* The parsed operands of a command. */
struct args {
	const char *bot;
	int64_t contact;		/* 0: none */
	int64_t message;
	char *text;			/* owned */
};

typedef int (*ctl_fn)(struct ctl *, const struct args *,
    const struct opts *, json_t **);

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: dater-ctl [-jqv] [-c file] [-d db] command [args]\n"
	    "commands:\n"
	    "  pause bot [contact] [--reason text]  hold a bot or one contact\n"
	    "  resume bot [contact]     act again; owed replies are enqueued\n"
	    "  takeover bot contact     a person takes the conversation\n"
	    "  release bot contact      the bot may answer again\n"
	    "  say bot contact [text|-] send the operator's message (text "
	    "from stdin\n"
	    "                           when '-' or absent)\n"
	    "  edit message [text|-]    change a draft awaiting approval\n"
	    "  forget bot contact       erase a contact and their data\n");
}

/* A positive id operand; EX_USAGE (logged) if it is not one. */
static int
id_arg(const char *what, const char *s, int64_t *id)
{
	const char *errstr;

	*id = strtonum(s, 1, LLONG_MAX, &errstr);
	if (errstr != NULL) {
		log_err("%s '%s': expected a positive integer id (%s)", what,
		    s, errstr);
		return EX_USAGE;
	}
	return EX_OK;
}

static int
bot_arg(const char *s, const char **bot)
{
	if (s[0] == '\0' || strlen(s) >= STORE_ID_MAX) {
		log_err("bot '%s': expected a name of 1 to %d bytes", s,
		    STORE_ID_MAX - 1);
		return EX_USAGE;
	}
	*bot = s;
	return EX_OK;
}

/* The text operand, or stdin when it is "-" or absent (one trailing
 * newline dropped). EX_DATAERR for NUL bytes or too much text. */
static int
text_arg(const char *s, char **text)
{
	size_t n;
	char *buf;

	if (s != NULL && strcmp(s, "-") != 0) {
		*text = strdup(s);
		return *text != NULL ? EX_OK : EX_OSERR;
	}
	if ((buf = malloc(CTL_TEXT_MAX + 2)) == NULL)
		return EX_OSERR;
	n = fread(buf, 1, CTL_TEXT_MAX + 1, stdin);
	if (ferror(stdin)) {
		log_err("stdin: read error");
		free(buf);
		return EX_IOERR;
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		log_err("stdin: NUL byte at offset %zu", strlen(buf));
		free(buf);
		return EX_DATAERR;
	}
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n > CTL_TEXT_MAX) {
		log_err("stdin: more than %d bytes", CTL_TEXT_MAX);
		free(buf);
		return EX_DATAERR;
	}
	*text = buf;
	return EX_OK;
}

/* ---- the commands ---- */

static int
run_pause(struct ctl *c, const struct args *a, const struct opts *o,
    json_t **res)
{
	return ctl_pause(c, a->bot, a->contact, o->reason, res);
}

static int
run_resume(struct ctl *c, const struct args *a, const struct opts *o,
    json_t **res)
{
	return ctl_resume(c, a->bot, a->contact, res);
}

static int
run_takeover(struct ctl *c, const struct args *a, const struct opts *o,
    json_t **res)
{
	return ctl_takeover(c, a->bot, a->contact, res);
}

static int
run_release(struct ctl *c, const struct args *a, const struct opts *o,
    json_t **res)
{
	return ctl_release(c, a->bot, a->contact, res);
}

static int
run_say(struct ctl *c, const struct args *a, const struct opts *o,
    json_t **res)
{
	return ctl_say(c, a->bot, a->contact, a->text, res);
}

static int
run_edit(struct ctl *c, const struct args *a, const struct opts *o,
    json_t **res)
{
	return ctl_edit(c, a->message, a->text, res);
}

static int
run_forget(struct ctl *c, const struct args *a, const struct opts *o,
    json_t **res)
{
	return ctl_forget(c, a->bot, a->contact, res);
}

/* Operand shapes. */
enum shape {
	BOT_OPT_CONTACT,	/* BOT [CONTACT] */
	BOT_CONTACT,		/* BOT CONTACT */
	BOT_CONTACT_TEXT,	/* BOT CONTACT [TEXT|-] */
	MESSAGE_TEXT		/* MESSAGE [TEXT|-] */
};

static const struct command {
	const char *name;
	enum shape shape;
	ctl_fn run;
} commands[] = {
	{ "pause", BOT_OPT_CONTACT, run_pause },
	{ "resume", BOT_OPT_CONTACT, run_resume },
	{ "takeover", BOT_CONTACT, run_takeover },
	{ "release", BOT_CONTACT, run_release },
	{ "say", BOT_CONTACT_TEXT, run_say },
	{ "edit", MESSAGE_TEXT, run_edit },
	{ "forget", BOT_CONTACT, run_forget },
	{ NULL, 0, NULL }
};

/* Parse argv[1..argc) (argv[0] is the command) into a. */
static int
parse_args(const struct command *cmd, int argc, char **argv, struct args *a)
{
	static const int lo[] = { 2, 3, 3, 2 }, hi[] = { 3, 3, 4, 3 };
	int rc;

	memset(a, 0, sizeof(*a));
	if (argc < lo[cmd->shape] || argc > hi[cmd->shape]) {
		log_err("%s: expected %s", cmd->name,
		    cmd->shape == BOT_OPT_CONTACT ? "bot [contact]" :
		    cmd->shape == BOT_CONTACT ? "bot contact" :
		    cmd->shape == BOT_CONTACT_TEXT ? "bot contact [text|-]" :
		    "message [text|-]");
		return EX_USAGE;
	}
	if (cmd->shape == MESSAGE_TEXT) {
		if ((rc = id_arg("message", argv[1], &a->message)) != EX_OK)
			return rc;
		return text_arg(argc > 2 ? argv[2] : NULL, &a->text);
	}
	if ((rc = bot_arg(argv[1], &a->bot)) != EX_OK ||
	    (argc > 2 && (rc = id_arg("contact", argv[2], &a->contact)) !=
	    EX_OK))
		return rc;
	if (cmd->shape == BOT_CONTACT_TEXT)
		return text_arg(argc > 3 ? argv[3] : NULL, &a->text);
	return EX_OK;
}

/* ---- printing ---- */

static long long
num(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void
print_forget(const json_t *res)
{
	const json_t *del = json_object_get(res, "deleted"), *v;
	const char *k;

	printf("contact %lld of bot '%s' forgotten; rows changed:\n",
	    num(res, "contact"), json_string_value(json_object_get(res,
	    "bot")));
	json_object_foreach((json_t *)del, k, v)
		printf("  %-14s %lld\n", k, (long long)json_integer_value(v));
}

/* One line (forget: a list) saying what happened. */
static void
print_human(const char *cmd, const json_t *res)
{
	const char *bot = json_string_value(json_object_get(res, "bot"));
	int changed = json_is_true(json_object_get(res, "changed"));
	char who[96];

	if (json_is_integer(json_object_get(res, "contact")))
		snprintf(who, sizeof(who), "contact %lld", num(res,
		    "contact"));
	else
		snprintf(who, sizeof(who), "bot '%s'", bot != NULL ? bot : "");
	if (strcmp(cmd, "pause") == 0)
		printf("%s %s\n", who, changed ? "paused" :
		    "was paused already");
	else if (strcmp(cmd, "resume") == 0 || strcmp(cmd, "release") == 0)
		printf("%s %s; %lld replies enqueued\n", who, changed ?
		    (cmd[2] == 's' ? "resumed" : "released") :
		    (cmd[2] == 's' ? "was not paused" : "was not taken over"),
		    num(res, "responds"));
	else if (strcmp(cmd, "takeover") == 0)
		printf("%s %s; %lld pending bot messages dropped\n", who,
		    changed ? "taken over" : "was taken over already",
		    num(res, "dropped_messages"));
	else if (strcmp(cmd, "say") == 0)
		printf("message %lld queued for sending (job %lld)\n",
		    num(res, "message"), num(res, "job"));
	else if (strcmp(cmd, "edit") == 0)
		printf("draft %lld edited\n", num(res, "message"));
	else
		print_forget(res);
}

static int
run(const struct command *cmd, const struct args *a, const struct opts *o,
    const struct cfg *cfg, const char *dbpath)
{
	struct db db;
	struct ctl c;
	json_t *res = NULL;
	int rc;

	if ((rc = app_open_db(&db, cfg, dbpath, 0)) != EX_OK)
		return rc;
	if (ctl_init(&c, &db, cfg) < 0) {
		db_close(&db);
		return EX_CONFIG;
	}
	rc = cmd->run(&c, a, o, &res);
	db_close(&db);
	if (rc == CTL_REFUSED)
		return EX_DATAERR;
	if (rc < 0)
		return EX_TEMPFAIL;
	if (o->json)
		rc = json_dumpf(res, stdout, JSON_COMPACT) < 0 ||
		    putchar('\n') == EOF;
	else if (!o->quiet)
		print_human(cmd->name, res);
	json_decref(res);
	return fflush(stdout) == 0 && rc == 0 ? EX_OK : EX_IOERR;
}

int
main(int argc, char *argv[])
{
	static const struct option lopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "reason", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cfgpath = NULL, *dbpath = NULL;
	const struct command *cmd;
	struct cfg cfg;
	struct opts o;
	struct args a;
	int ch, rc;

	log_init("dater-ctl", LOG_LEVEL_INFO, 0);
	memset(&o, 0, sizeof(o));
	while ((ch = getopt_long(argc, argv, "c:d:jr:hVvq", lopts, NULL)) !=
	    -1) {
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
		case 'r':
			o.reason = optarg;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			app_version("dater-ctl");
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
		log_err("expected a command (see dater-ctl --help)");
		return EX_USAGE;
	}
	for (cmd = commands; cmd->name != NULL; cmd++)
		if (strcmp(argv[0], cmd->name) == 0)
			break;
	if (cmd->name == NULL) {
		log_err("unknown command '%s' (see dater-ctl --help)", argv[0]);
		return EX_USAGE;
	}
	if (o.reason != NULL && strcmp(cmd->name, "pause") != 0) {
		log_err("%s: --reason goes with pause only", cmd->name);
		return EX_USAGE;
	}
	if ((rc = parse_args(cmd, argc, argv, &a)) != EX_OK) {
		free(a.text);
		return rc;
	}
	if ((rc = app_config(&cfg, cfgpath, dbpath, jobs_names)) == EX_OK) {
		rc = run(cmd, &a, &o, &cfg, dbpath);
		cfg_release(&cfg);
	}
	free(a.text);
	return rc;
}
