/*
 * log: diagnostics to stderr, one line each, prefixed with the program
 * name (and the pid for long-running programs). Errors are reported once,
 * where the cause is known; callers propagate -1.
 */
#ifndef DATER_LOG_H
#define DATER_LOG_H

#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

/* Set the program name (borrowed: must outlive all logging), the level,
 * and whether each line carries the pid. Safe to call again (SIGHUP). */
void log_init(const char *progname, enum log_level level, int with_pid);

/* Change the level only. */
void log_set_level(enum log_level level);

/* After a usage error: "PROG: try 'PROG [view] --help'" on stderr (one
 * line instead of the whole usage). */
void log_usage_hint(const char *view);

/*
 * Keep the text of every error logged from now on (without the prefix,
 * truncated to fit) in buf, len bytes, borrowed: it must outlive the
 * capture. If quiet, errors are kept but not printed. buf NULL ends the
 * capture. A worker process uses it to tell its supervisor why it
 * failed, and to stay quiet while it retries a failure already shown.
 */
void log_capture(char *buf, size_t len, int quiet);

/* Parse "error", "warn", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *s);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Format an error into err (len bytes) for a caller to report; returns
 * -1, so that "return log_errf(err, len, ...);" fails a function. */
int log_errf(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
