/*
 * fuzz_cfg: the configuration loader (cfg_load) on a file holding the
 * input, with every job type known. Checks the contract: a failed load
 * leaves the caller's struct untouched; a good one owns what it holds
 * (released, so a leak shows).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "../../jobs/jobs.h"
#include "../../lib/cfg.h"
#include "../../lib/banned.h"

static char dir[PATH_MAX], file[PATH_MAX];
static struct cfg cfg, before;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_quiet();
	fuzz_tmpdir(dir, sizeof(dir));
	if (snprintf(file, sizeof(file), "%s/dater.conf", dir) >=
	    (int)sizeof(file))
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write(file, data, size);
	memset(&cfg, 0x5a, sizeof(cfg));
	before = cfg;
	if (cfg_load(&cfg, file, jobs_names) == -1) {
		if (memcmp(&cfg, &before, sizeof(cfg)) != 0)
			abort();
		return 0;
	}
	cfg_release(&cfg);
	return 0;
}
