#include "jobs.h"

/*
 * Every job type, once. Adding one: a new file in jobs/ defining
 * job_NAME (whose .name is "NAME") and a row here. The table the worker
 * runs and the names cfg and dater-enqueue check against come from this
 * one list (check_job asserts each name is its type's).
 */
#define JOBS(X) \
	X(noop) X(contact) X(inbound) X(respond) X(send) X(approve) X(poll) \
	X(initiate) X(followup) X(summarize) X(backup) X(prune) \
	X(optimize) X(rollup)

#define JOB_ROW(n) &job_##n,
#define JOB_NAME(n) #n,

const struct job_type *const jobs_table[] = { JOBS(JOB_ROW) NULL };
const char *const jobs_names[] = { JOBS(JOB_NAME) NULL };
