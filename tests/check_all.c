/*
 * check_all: the one test runner. It builds an SRunner from every suite
 * constructor in tests/check_*.c (the Makefile lists each "suite_NAME"
 * defined there in suites.inc as SUITE(NAME), so a new suite file needs
 * no edit here), runs them (Check forks each test) and exits nonzero
 * when any test failed. CK_RUN_SUITE and CK_RUN_CASE pick a suite or
 * test case, as with any Check runner.
 */
#include <stdlib.h>

#include "check_dater.h"
#include "../lib/log.h"
#include "../lib/banned.h"

int
main(void)
{
	SRunner *sr;
	int failed;

	log_init("check_all", LOG_LEVEL_INFO, 0);
	sr = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(sr, suite_##name());
#include "suites.inc"
#undef SUITE
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
