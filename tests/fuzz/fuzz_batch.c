/*
 * fuzz_batch: the enqueue line checker (batch_read, as dater-enqueue
 * reads JSON lines on stdin) against every job type's payload check,
 * with a configuration of one bot ("anna") and profile fields. Input: the
 * lines. Checks the contract:
 * a batch that passes has a type, queue and payload for every item.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "../../jobs/jobs.h"
#include "../../lib/batch.h"
#include "../../lib/banned.h"

static const char conf[] =
    "database = \"fuzz.db\";\n"
    "bots = ( { name = \"anna\"; transport = { driver = \"console\"; };"
    " timezone = \"Europe/Berlin\"; } );\n";

static const char fields[] =
    "[{\"name\": \"age\", \"type\": \"integer\"},"
    " {\"name\": \"city\", \"type\": \"string\", \"required\": false},"
    " {\"name\": \"interests\", \"type\": \"list\"},"
    " {\"name\": \"birthday\", \"type\": \"date\"}]";

static struct cfg cfg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[PATH_MAX], p[PATH_MAX + 16];

	(void)argc;
	(void)argv;
	fuzz_log_quiet();
	fuzz_tmpdir(dir, sizeof(dir));
	snprintf(p, sizeof(p), "%s/fields.json", dir);
	fuzz_write(p, (const uint8_t *)fields, strlen(fields));
	snprintf(p, sizeof(p), "%s/dater.conf", dir);
	fuzz_write(p, (const uint8_t *)conf, strlen(conf));
	if (cfg_load(&cfg, p, jobs_names) == -1)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct batch b;
	FILE *f;
	size_t i;

	if (size == 0)
		return 0;
	if ((f = fmemopen((void *)data, size, "r")) == NULL)
		abort();
	batch_init(&b, jobs_table, &cfg);
	if (batch_read(&b, f, "fuzz") == 0) {
		for (i = 0; i < b.n; i++)
			if (b.items[i].type == NULL ||
			    b.items[i].queue == NULL ||
			    b.items[i].payload == NULL ||
			    b.items[i].max_attempts < 1)
				abort();
	}
	batch_release(&b);
	fclose(f);
	return 0;
}
