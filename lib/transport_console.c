/*
 * transport_console: "deliver" a message by appending one JSON line to a
 * file (the demo's outbox). The line is built in memory and written with
 * a single write(2) on an O_APPEND descriptor, under flock(2), so lines
 * from concurrent workers never interleave; a short write (a full disk)
 * is cut off again, so the file never holds part of a line. No fsync:
 * the outbox is a demo and a log, not a mailbox.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "transport_impl.h"
#include "banned.h"

#define CONSOLE_DEFAULT_PATH "outbox.jsonl"

/* The line for m, newline-terminated, or NULL with res set. The caller
 * frees it. */
static char *
console_line(const struct transport_out *m, struct transport_result *res)
{
	char at[CLOCK_RFC3339_LEN];
	json_t *o;
	char *s, *line = NULL;
	size_t n;

	clock_format(clock_now_ms(), at, sizeof(at));
	o = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s}", "at", at, "bot",
	    m->bot, "contact", (json_int_t)m->contact_id, "chat_id",
	    m->chat_id, "message_id", (json_int_t)m->message_id, "text",
	    m->text);
	if (o == NULL) {
		(void)transport_result_set(res, TRANSPORT_FATAL,
		    "console: message %lld: text or ids are not valid UTF-8",
		    (long long)m->message_id);
		return NULL;
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s != NULL) {
		n = strlen(s);
		if ((line = malloc(n + 2)) != NULL) {
			memcpy(line, s, n);
			line[n] = '\n';
			line[n + 1] = '\0';
		}
		free(s);
	}
	if (line == NULL)
		(void)transport_result_set(res, TRANSPORT_RETRY,
		    "console: out of memory");
	return line;
}

static int
console_send(const struct cfg_transport *t, const struct transport_out *m,
    struct transport_result *res)
{
	const char *path = t->path[0] != '\0' ? t->path : CONSOLE_DEFAULT_PATH;
	struct stat st;
	char *line;
	size_t len;
	ssize_t w;
	int fd, rc = -1;

	if ((line = console_line(m, res)) == NULL)
		return -1;
	len = strlen(line);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd == -1) {
		(void)transport_result_set(res, TRANSPORT_RETRY,
		    "open '%s': %s", path, strerror(errno));
		goto out;
	}
	/* Under the lock the line goes at st_size, where a short write
	 * is cut back to. */
	if (flock(fd, LOCK_EX) == -1 || fstat(fd, &st) == -1) {
		(void)transport_result_set(res, TRANSPORT_RETRY,
		    "lock '%s': %s", path, strerror(errno));
		(void)close(fd);
		goto out;
	}
	do
		w = write(fd, line, len);
	while (w == -1 && errno == EINTR);
	if (w == -1)
		(void)transport_result_set(res, TRANSPORT_RETRY,
		    "write '%s': %s", path, strerror(errno));
	else if ((size_t)w != len)
		(void)transport_result_set(res, TRANSPORT_RETRY,
		    "write '%s': short write (%zd of %zu bytes; %s)", path, w,
		    len, ftruncate(fd, st.st_size) == 0 ? "cut off again" :
		    "could not cut it off");
	else
		rc = 0;
	/* After a full write the line is in the file unless close says
	 * otherwise (NFS): then it may or may not be. */
	if (close(fd) == -1 && rc == 0)
		rc = transport_result_set(res, TRANSPORT_UNKNOWN,
		    "close '%s': %s", path, strerror(errno));
out:
	free(line);
	return rc;
}

static int
console_typing(const struct cfg_transport *t, const char *chat_id)
{
	return 0;
}

static int
console_poll(const struct cfg_transport *t, const char *offset,
    int wait_s, struct transport_batch *out, struct transport_result *res)
{
	return 0;
}

const struct transport_driver transport_console_driver = {
	"console", console_send, console_typing, console_poll
};
