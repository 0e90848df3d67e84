/*
 * jobtypes: the names of the job types the conversation layer of lib/
 * (store, ctl, listener, sched, report) enqueues or reads. The queue
 * layer (queue, worker, job) never names a job type: jobs/jobs.c's table
 * is passed to it. The conversation layer does, because the payloads of
 * these types ({"contact": ID}, {"message": ID}, an inbound update) are
 * its contract with jobs/: it enqueues them and finds a contact's jobs by
 * them. C code names them through these macros; SQL text spells them
 * inside its literals. check_job asserts that each is in jobs_names.
 */
#ifndef DATER_JOBTYPES_H
#define DATER_JOBTYPES_H

#define JT_CONTACT	"contact"
#define JT_INBOUND	"inbound"
#define JT_RESPOND	"respond"
#define JT_SEND		"send"
#define JT_APPROVE	"approve"
#define JT_INITIATE	"initiate"
#define JT_FOLLOWUP	"followup"
#define JT_SUMMARIZE	"summarize"

/* Every name above, NULL-terminated (for the check). */
#define JT_ALL { JT_CONTACT, JT_INBOUND, JT_RESPOND, JT_SEND, JT_APPROVE, \
	JT_INITIATE, JT_FOLLOWUP, JT_SUMMARIZE, NULL }

#endif
