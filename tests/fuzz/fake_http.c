/*
 * fake_http: http_do and http_resp_release for the fuzz harnesses (see
 * fuzz.h), plus their small shared helpers. Linking this object keeps
 * lib/http.o out of the archive, so no harness can reach the network.
 */
#define _XOPEN_SOURCE 700	/* nftw */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "../../lib/http.h"
#include "../../lib/log.h"
#include "../../lib/banned.h"

static struct {
	long status;
	char *body;
	size_t len;
	int64_t retry_after_ms;
} next;

void
fuzz_http_set(long status, const uint8_t *body, size_t len,
    int64_t retry_after_ms)
{
	free(next.body);
	if ((next.body = malloc(len + 1)) == NULL)
		abort();
	if (len > 0)
		memcpy(next.body, body, len);
	next.body[len] = '\0';
	next.len = len;
	next.status = status;
	next.retry_after_ms = retry_after_ms;
}

void
fuzz_http_from(const uint8_t *data, size_t size)
{
	long status = 0;
	size_t i;

	for (i = 0; i < size && i < 4; i++) {
		if (data[i] == '\n')
			break;
		if (data[i] < '0' || data[i] > '9' || i == 3)
			break;
		status = status * 10 + (data[i] - '0');
	}
	if (i < size && i > 0 && i < 4 && data[i] == '\n') {
		fuzz_http_set(status, data + i + 1, size - i - 1,
		    status == 429 || status == 503 ? 1500 : -1);
		return;
	}
	fuzz_http_set(200, data, size, -1);
}

int
http_do(const struct http_req *req, struct http_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->retry_after_ms = -1;
	(void)req;
	if (next.status == 0) {
		resp->fail = HTTP_FAIL_OTHER;
		strlcpy(resp->error, "connection dropped (fuzz)",
		    sizeof(resp->error));
		return -1;
	}
	if ((resp->body = malloc(next.len + 1)) == NULL)
		abort();
	memcpy(resp->body, next.body, next.len + 1);
	resp->body_len = next.len;
	resp->status = next.status;
	resp->retry_after_ms = next.retry_after_ms;
	return 0;
}

void
http_resp_release(struct http_resp *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

void
fuzz_log_quiet(void)
{
	log_init("fuzz", LOG_LEVEL_ERROR, 0);
}

static char tmpdir[PATH_MAX];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_tmpdir(void)
{
	(void)nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void
fuzz_tmpdir(char *dir, size_t len)
{
	const char *t = getenv("TMPDIR");

	if (snprintf(dir, len, "%s/dater-fuzz.XXXXXX", t != NULL && *t != '\0' ?
	    t : "/tmp") >= (int)len || mkdtemp(dir) == NULL) {
		perror("fuzz: mkdtemp");
		abort();
	}
	if (tmpdir[0] == '\0') {
		strlcpy(tmpdir, dir, sizeof(tmpdir));
		(void)atexit(rm_tmpdir);
	}
}

void
fuzz_write(const char *path, const uint8_t *data, size_t size)
{
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    (size > 0 && write(fd, data, size) != (ssize_t)size) ||
	    close(fd) == -1) {
		perror(path);
		abort();
	}
}
