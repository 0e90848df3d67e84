/*
 * log: one write(2) per line, so lines from several worker processes
 * sharing stderr never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "banned.h"

static struct {
	const char *prog;
	enum log_level level;
	int with_pid;
	char *keep;		/* log_capture: the last error's text */
	size_t keeplen;
	int quiet;		/* log_capture: errors are not printed */
} log_state = { "dater", LOG_LEVEL_INFO, 0, NULL, 0, 0 };

void
log_init(const char *progname, enum log_level level, int with_pid)
{
	log_state.prog = progname;
	log_state.level = level;
	log_state.with_pid = with_pid;
}

void
log_set_level(enum log_level level)
{
	log_state.level = level;
}

void
log_capture(char *buf, size_t len, int quiet)
{
	log_state.keep = len > 0 ? buf : NULL;
	log_state.keeplen = len;
	log_state.quiet = buf != NULL && quiet;
	if (log_state.keep != NULL)
		*log_state.keep = '\0';
}

int
log_level_parse(const char *s)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

static void
log_emit(enum log_level level, const char *fmt, va_list ap)
{
	static const char *tags[] = { "error: ", "warning: ", "", "debug: " };
	char line[2048];
	int n, m;

	if (level == LOG_LEVEL_ERROR && log_state.keep != NULL) {
		va_list aq;

		va_copy(aq, ap);
		(void)vsnprintf(log_state.keep, log_state.keeplen, fmt, aq);
		va_end(aq);
		if (log_state.quiet)
			return;
	}
	if (level > log_state.level)
		return;
	if (log_state.with_pid)
		n = snprintf(line, sizeof(line), "%s[%ld]: %s", log_state.prog,
		    (long)getpid(), tags[level]);
	else
		n = snprintf(line, sizeof(line), "%s: %s", log_state.prog,
		    tags[level]);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 2)
		n = sizeof(line) - 2;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;	/* truncated: keep what fits */
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

#define LOG_FN(name, level)                     \
	void name(const char *fmt, ...)         \
	{                                       \
		va_list ap;                     \
		va_start(ap, fmt);              \
		log_emit(level, fmt, ap);       \
		va_end(ap);                     \
	}

LOG_FN(log_err, LOG_LEVEL_ERROR)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)
