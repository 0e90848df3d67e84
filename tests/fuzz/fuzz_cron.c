/*
 * fuzz_cron: the cron parser and the next/previous firing time search.
 * Input: the expression; optionally "\n" and a byte choosing a time
 * zone; optionally "\n" and unix seconds to search from. Checks the
 * contract: a parse error leaves the struct untouched and says why; next
 * is after the start, prev at or before it, and next from next moves on.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "../../lib/cron.h"
#include "../../lib/banned.h"

static const char *const zones[] = {
	"", "UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe",
	"Asia/Kolkata", "Pacific/Chatham", "America/Santiago"
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_quiet();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cron c, untouched;
	char expr[512], err[256];
	const char *tz = "America/New_York", *nl, *nl2;
	int64_t at = 1772953140, next, next2, prev;	/* 2026-03-08 06:59Z */
	size_t n;
	char num[24];

	if (size >= sizeof(expr))
		return 0;
	memcpy(expr, data, size);
	expr[size] = '\0';
	if (strlen(expr) != size)
		return 0;
	if ((nl = strchr(expr, '\n')) != NULL) {
		expr[nl - expr] = '\0';
		tz = zones[(unsigned char)nl[1] % (sizeof(zones) /
		    sizeof(zones[0]))];
		if (nl[1] != '\0' && (nl2 = strchr(nl + 2, '\n')) != NULL &&
		    (n = strlen(nl2 + 1)) < sizeof(num)) {
			memcpy(num, nl2 + 1, n + 1);
			at = strtoll(num, NULL, 10);
		}
	}
	memset(&c, 0xa5, sizeof(c));
	untouched = c;
	err[0] = '\0';
	if (cron_parse(expr, &c, err, sizeof(err)) == -1) {
		if (memcmp(&c, &untouched, sizeof(c)) != 0 || err[0] == '\0')
			abort();
		return 0;
	}
	if (cron_next(&c, tz, at, &next) == 0) {
		if (next <= at)
			abort();
		if (cron_next(&c, tz, next, &next2) == 0 && next2 <= next)
			abort();
	}
	if (cron_prev(&c, tz, at, &prev) == 0 && prev > at)
		abort();
	return 0;
}
