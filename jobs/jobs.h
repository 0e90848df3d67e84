/*
 * jobs: the table of every job type (like git's commands[]). Adding a job
 * type is one new file in jobs/ and one row in jobs.c.
 */
#ifndef DATER_JOBS_H
#define DATER_JOBS_H

#include "../lib/job.h"

/* NULL-terminated. */
extern const struct job_type *const jobs_table[];

/* The names of every type, NULL-terminated (for cfg_load). */
extern const char *const jobs_names[];

extern const struct job_type job_noop;

#endif
