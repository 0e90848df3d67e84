/*
 * check_all: the one test runner. It builds an SRunner from every suite
 * constructor in check_dater.h, runs them (Check forks each test) and
 * exits nonzero when any test failed. CK_RUN_SUITE and CK_RUN_CASE pick
 * a suite or test case, as with any Check runner.
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
	sr = srunner_create(suite_clock());
	srunner_add_suite(sr, suite_cfg());
	srunner_add_suite(sr, suite_db());
	srunner_add_suite(sr, suite_queue());
	srunner_add_suite(sr, suite_job());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
