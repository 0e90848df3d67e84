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
} log_state = { "dater", LOG_LEVEL_INFO, 0 };

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
