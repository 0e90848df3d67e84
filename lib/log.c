/*
 * log: one write(2) per line, so lines from several worker processes
 * sharing stderr never interleave.
 *
 * A message may quote a peer (an error body, a name), so it is first
 * redacted (redact.h) and then escaped: control characters (C0, DEL, and
 * C1 as UTF-8) and bytes that are not valid UTF-8 are written as \n, \t,
 * \r, \xHH or \u00HH, so that one call is always one line and nothing
 * reaches a terminal as an escape sequence. Valid UTF-8 text is kept.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "redact.h"
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
log_usage_hint(const char *view)
{
	if (view != NULL)
		fprintf(stderr, "%s: try '%s %s --help'\n", log_state.prog,
		    log_state.prog, view);
	else
		fprintf(stderr, "%s: try '%s --help'\n", log_state.prog,
		    log_state.prog);
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

#define LOG_MSG_MAX 2048
#define LOG_PREFIX_MAX 128

/* Length of the valid UTF-8 sequence at s (NUL-terminated) of 2 to 4
 * bytes, 0 if s does not start one (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static size_t
log_utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ?
		    3 : 0;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 &&
		    (s[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

/*
 * Copy src into dst (cap bytes, no NUL added) with the controls and
 * invalid bytes escaped; an escape or a character that does not fit is
 * left out with all after it. Returns the bytes written.
 */
static size_t
log_escape(char *dst, size_t cap, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	char esc[8];
	const char *p;
	size_t n = 0, k, adv;

	while (*s != '\0') {
		adv = *s < 0x80 ? 1 : log_utf8_len(s);	/* bytes read */
		p = esc;
		if (*s == '\n' || *s == '\r' || *s == '\t')
			k = (size_t)snprintf(esc, sizeof(esc), "\\%c",
			    *s == '\n' ? 'n' : *s == '\r' ? 'r' : 't');
		else if (*s < 0x20 || *s == 0x7f || adv == 0) {
			k = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *s);
			adv = 1;
		} else if (*s == 0xc2 && s[1] < 0xa0)	/* C1: U+0080..009F */
			k = (size_t)snprintf(esc, sizeof(esc), "\\u00%02x",
			    s[1]);
		else {
			p = (const char *)s;
			k = adv;
		}
		if (k > cap - n)
			break;
		memcpy(dst + n, p, k);
		n += k;
		s += adv;
	}
	return n;
}

static void log_emit(enum log_level, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

static void
log_emit(enum log_level level, const char *fmt, va_list ap)
{
	static const char *tags[] = { "error: ", "warning: ", "", "debug: " };
	/* A line of at most LOG_MSG_MAX bytes (< PIPE_BUF) is written
	 * whole even to a pipe; escapes that do not fit are cut. */
	char msg[LOG_MSG_MAX], clean[LOG_MSG_MAX], line[LOG_MSG_MAX];
	int n;

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
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		return;
	(void)redact_str(clean, sizeof(clean), msg, NULL);
	if (log_state.with_pid)
		n = snprintf(line, LOG_PREFIX_MAX, "%s[%ld]: %s",
		    log_state.prog, (long)getpid(), tags[level]);
	else
		n = snprintf(line, LOG_PREFIX_MAX, "%s: %s", log_state.prog,
		    tags[level]);
	if (n < 0)
		return;
	if (n >= LOG_PREFIX_MAX)
		n = LOG_PREFIX_MAX - 1;	/* a long program name: cut */
	n += (int)log_escape(line + n, sizeof(line) - (size_t)n - 1, clean);
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

int
log_errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}
