#include "jobs.h"

const struct job_type *const jobs_table[] = {
	&job_noop,
	NULL
};

const char *const jobs_names[] = {
	"noop",
	NULL
};
