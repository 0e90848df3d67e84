#include "jobs.h"

/* Every job type. Adding one: a new file in jobs/ and a row here. */
const struct job_type *const jobs_table[] = {
	&job_noop,
	&job_contact,
	&job_inbound,
	&job_respond,
	&job_send,
	&job_approve,
	&job_poll,
	&job_initiate,
	&job_followup,
	&job_summarize,
	&job_backup,
	&job_prune,
	&job_optimize,
	&job_rollup,
	NULL
};

const char *const jobs_names[] = {
	"noop",
	"contact",
	"inbound",
	"respond",
	"send",
	"approve",
	"poll",
	"initiate",
	"followup",
	"summarize",
	"backup",
	"prune",
	"optimize",
	"rollup",
	NULL
};
