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
extern const struct job_type job_contact;
extern const struct job_type job_inbound;
extern const struct job_type job_respond;
extern const struct job_type job_send;
extern const struct job_type job_approve;
extern const struct job_type job_poll;
extern const struct job_type job_initiate;
extern const struct job_type job_followup;
extern const struct job_type job_summarize;
extern const struct job_type job_backup;
extern const struct job_type job_prune;
extern const struct job_type job_optimize;
extern const struct job_type job_rollup;

#endif
