/*
 * fuzz_legacy: the legacy import's readers (field definitions, profiles,
 * conversations, metrics) through legacy_import on an export directory,
 * as a dry run against a migrated database. The first input byte says
 * which file the rest is: 'f' fields.json, 'p' girls_data/fuzz.json,
 * 'c' conversations/1001.json (the contact of a fixed, valid profile),
 * 'm' metrics.json (another byte: its value modulo 4 in that order).
 * Checks the contract: the import says OK or names the bad file, and a
 * dry run leaves the database empty.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "../../lib/db.h"
#include "../../lib/fields.h"
#include "../../lib/legacy.h"
#include "../../lib/banned.h"

static const char profile[] =
    "{\"id\": 1001, \"username\": \"@anna_k\", \"name\": \"Anna\","
    " \"timezone\": \"Europe/Berlin\", \"age\": 27, \"city\": \"Berlin\","
    " \"interests\": [\"climbing\", \"jazz\"]}";

static const char defs_text[] =
    "[{\"name\": \"age\", \"type\": \"integer\"},"
    " {\"name\": \"city\", \"type\": \"string\"},"
    " {\"name\": \"occupation\", \"type\": \"string\"},"
    " {\"name\": \"notes\", \"type\": \"string\", \"visible\": false},"
    " {\"name\": \"interests\", \"type\": \"list\"},"
    " {\"name\": \"birthday\", \"type\": \"date\"},"
    " {\"name\": \"has_children\", \"type\": \"boolean\"},"
    " {\"name\": \"score\", \"type\": \"number\", \"visible\": false,"
    " \"required\": false}]";

static char dir[PATH_MAX], exp_dir[PATH_MAX];
static struct db db;
static struct cfg cfg;
static json_t *defs;

static void
path_in(char *out, size_t len, const char *base, const char *rel)
{
	if (snprintf(out, len, "%s/%s", base, rel) >= (int)len)
		abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char p[PATH_MAX];
	int from, to;

	(void)argc;
	(void)argv;
	fuzz_log_quiet();
	fuzz_tmpdir(dir, sizeof(dir));
	path_in(exp_dir, sizeof(exp_dir), dir, "export");
	path_in(p, sizeof(p), exp_dir, "girls_data");
	if (mkdir(exp_dir, 0700) == -1 || mkdir(p, 0700) == -1)
		abort();
	path_in(p, sizeof(p), exp_dir, "conversations");
	if (mkdir(p, 0700) == -1)
		abort();
	path_in(p, sizeof(p), exp_dir, "girls_data/anna.json");
	fuzz_write(p, (const uint8_t *)profile, strlen(profile));
	path_in(p, sizeof(p), dir, "defs.json");
	fuzz_write(p, (const uint8_t *)defs_text, strlen(defs_text));
	if ((defs = fields_load(p)) == NULL)
		abort();
	cfg_defaults(&cfg);
	cfg.synchronous = CFG_SYNC_OFF;
	path_in(p, sizeof(p), dir, "fuzz.db");
	if (db_open(&db, p, &cfg, DB_CREATE | DB_ANY_VERSION) != 0 ||
	    db_migrate(&db, &from, &to) != 0)
		abort();
	return 0;
}

static int64_t
count(const char *table)
{
	char sql[64];
	struct dbst *st;
	int64_t n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if ((st = db_prepare(&db, sql)) == NULL)
		abort();
	if (db_step(st) == DB_ROW)
		n = db_col_int64(st, 0);
	db_finalize(st);
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const files[] = {
		"girls_data/fuzz.json", "metrics.json", "fields.json",
		"conversations/1001.json"
	};
	struct legacy_opts o;
	struct legacy_report r;
	char p[PATH_MAX];
	const char *rel;
	int rc;

	if (size == 0)
		return 0;
	switch (data[0]) {
	case 'f': rel = "fields.json"; break;
	case 'p': rel = "girls_data/fuzz.json"; break;
	case 'c': rel = "conversations/1001.json"; break;
	case 'm': rel = "metrics.json"; break;
	default: rel = files[data[0] % 4]; break;
	}
	path_in(p, sizeof(p), exp_dir, rel);
	fuzz_write(p, data + 1, size - 1);
	memset(&o, 0, sizeof(o));
	o.dir = exp_dir;
	o.bot = "fuzzbot";
	o.defs = defs;
	o.dry_run = 1;
	rc = legacy_import(&db, &o, &r);
	if (unlink(p) == -1)
		abort();
	if ((rc != LEGACY_OK && rc != LEGACY_BAD_INPUT) ||
	    (rc == LEGACY_BAD_INPUT) != (r.bad > 0) ||
	    count("contacts") != 0 || count("messages") != 0)
		abort();
	return 0;
}
