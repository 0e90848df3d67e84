/*
 * pgdump: see pgdump.h. Everything the child needs (argv, environment)
 * is built before fork(), so that the child only calls
 * async-signal-safe functions before execve.
 */
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pgdump.h"
#include "banned.h"

#define PGDUMP_GLOB "/usr/lib/postgresql/*/bin/"
#define PGDUMP_MSG 1024		/* bytes of pg_dump's stderr kept */

extern char **environ;

static int
executable(const char *dir, const char *prog, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", dir, prog);

	return n > 0 && (size_t)n < len && access(out, X_OK) == 0;
}

/* The version number in "/usr/lib/postgresql/VERSION/bin/prog". */
static long
glob_version(const char *path)
{
	return strtol(path + sizeof("/usr/lib/postgresql/") - 1, NULL, 10);
}

int
pgdump_find(const char *prog, char *out, size_t len, char *err,
    size_t errlen)
{
	const char *bindir = getenv("PG_BINDIR"), *path = getenv("PATH");
	char dir[PATH_MAX], pat[PATH_MAX];
	glob_t g;
	size_t i, n, best;

	if (bindir != NULL && *bindir != '\0') {
		if (executable(bindir, prog, out, len))
			return 0;
		return log_errf(err, errlen, "%s not found in PG_BINDIR '%s'",
		    prog, bindir);
	}
	while (path != NULL && *path != '\0') {
		n = strcspn(path, ":");
		if (n > 0 && n < sizeof(dir)) {
			memcpy(dir, path, n);
			dir[n] = '\0';
			if (executable(dir, prog, out, len))
				return 0;
		}
		path += n;
		if (*path == ':')
			path++;
	}
	snprintf(pat, sizeof(pat), "%s%s", PGDUMP_GLOB, prog);
	if (glob(pat, 0, NULL, &g) == 0) {
		for (i = 1, best = 0; i < g.gl_pathc; i++)
			if (glob_version(g.gl_pathv[i]) >
			    glob_version(g.gl_pathv[best]))
				best = i;
		n = strlcpy(out, g.gl_pathv[best], len);
		globfree(&g);
		if (n < len && access(out, X_OK) == 0)
			return 0;
	}
	return log_errf(err, errlen, "%s not found on PATH or in %s (install "
	    "postgresql-client, or set PG_BINDIR)", prog, PGDUMP_GLOB);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* s[0..n) percent-decoded into out (len bytes). */
static int
decode(const char *s, size_t n, char *out, size_t len)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (o + 1 >= len)
			return -1;
		if (s[i] == '%' && i + 2 < n &&
		    (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return 0;
}

/* Append s[0..n) to out at *o. */
static int
append(char *out, size_t len, size_t *o, const char *s, size_t n)
{
	if (*o + n + 1 > len)
		return -1;
	memcpy(out + *o, s, n);
	*o += n;
	out[*o] = '\0';
	return 0;
}

int
pgdump_split_uri(const char *uri, char *bare, size_t blen, char *pw,
    size_t plen)
{
	const char *start, *at, *colon, *p, *q;
	size_t o = 0, n;
	int first = 1;

	if (blen == 0 || plen == 0)
		return -1;
	bare[0] = pw[0] = '\0';
	if ((start = strstr(uri, "://")) == NULL)
		return strlcpy(bare, uri, blen) < blen ? 0 : -1;
	start += 3;
	at = start + strcspn(start, "@/?");
	colon = *at == '@' ? memchr(start, ':', (size_t)(at - start)) : NULL;
	if (colon != NULL) {
		if (append(bare, blen, &o, uri, (size_t)(colon - uri)) < 0 ||
		    decode(colon + 1, (size_t)(at - colon - 1), pw, plen) < 0)
			return -1;
		p = at;
	} else
		p = uri;
	n = strcspn(p, "?");
	if (append(bare, blen, &o, p, n) < 0)
		return -1;
	if (p[n] != '?')
		return 0;
	/* the query, each parameter but password= */
	for (p += n + 1; *p != '\0'; p = *q == '&' ? q + 1 : q) {
		q = p + strcspn(p, "&");
		if (strncmp(p, "password=", 9) == 0) {
			if (decode(p + 9, (size_t)(q - p - 9), pw, plen) < 0)
				return -1;
			continue;
		}
		if (append(bare, blen, &o, first ? "?" : "&", 1) < 0 ||
		    append(bare, blen, &o, p, (size_t)(q - p)) < 0)
			return -1;
		first = 0;
	}
	return 0;
}

/* The environment for the child: ours without PGPASSWORD, plus
 * PGPASSWORD=pw when pw is not "". NULL when out of memory; free the
 * array and its last-but-NULL entry when pw was added. */
static char **
child_env(const char *pw, char **added)
{
	char **env;
	size_t n = 0, i, o = 0;

	*added = NULL;
	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 2, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (*pw == '\0' || strncmp(environ[i], "PGPASSWORD=", 11) != 0)
			env[o++] = environ[i];
	if (*pw != '\0') {
		if ((*added = malloc(strlen(pw) + 12)) == NULL) {
			free(env);
			return NULL;
		}
		snprintf(*added, strlen(pw) + 12, "PGPASSWORD=%s", pw);
		env[o++] = *added;
	}
	env[o] = NULL;
	return env;
}

/* In the child: stdout to out, stderr to errfd, signals as new. */
static void
exec_child(const char *path, char *const argv[], char *const env[], int out,
    int errfd)
{
	sigset_t none;

	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)signal(SIGPIPE, SIG_DFL);
	if (dup2(out, STDOUT_FILENO) < 0 || dup2(errfd, STDERR_FILENO) < 0)
		_exit(126);
	execve(path, argv, env);
	_exit(127);
}

/* Read the child's stderr to its end; keep the start, newlines as "; ". */
static void
read_messages(int fd, char *msg, size_t len)
{
	char buf[512];
	size_t o = 0, i;
	ssize_t n;

	msg[0] = '\0';
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (i = 0; i < (size_t)n && o + 3 < len; i++) {
			if (buf[i] == '\n') {
				msg[o++] = ';';
				msg[o++] = ' ';
			} else
				msg[o++] = buf[i];
		}
		msg[o] = '\0';
	}
	while (o > 0 && (msg[o - 1] == ' ' || msg[o - 1] == ';'))
		msg[--o] = '\0';
}

int
pgdump_run(const char *uri, const char *schema, int fd, char *err,
    size_t len)
{
	char prog[PATH_MAX], bare[PATH_MAX], pw[512], msg[PGDUMP_MSG];
	char *dbarg = NULL, *schemaarg = NULL, *added = NULL, **env = NULL;
	char *argv[7];
	size_t i, o;
	int pipefd[2] = { -1, -1 }, status, rc = -1;
	pid_t pid;

	if (pgdump_find("pg_dump", prog, sizeof(prog), err, len) < 0)
		return -1;
	if (pgdump_split_uri(uri, bare, sizeof(bare), pw, sizeof(pw)) < 0)
		return log_errf(err, len, "pg_dump: the database URI is too "
		    "long");
	/* the schema as an exact pattern: "name", '"' doubled */
	if ((schemaarg = malloc(strlen(schema) * 2 + 16)) == NULL)
		goto oom;
	o = (size_t)snprintf(schemaarg, 16, "--schema=\"");
	for (i = 0; schema[i] != '\0'; i++) {
		if (schema[i] == '"')
			schemaarg[o++] = '"';
		schemaarg[o++] = schema[i];
	}
	schemaarg[o++] = '"';
	schemaarg[o] = '\0';
	if ((dbarg = malloc(strlen(bare) + 16)) == NULL)
		goto oom;
	snprintf(dbarg, strlen(bare) + 16, "--dbname=%s", bare);
	if ((env = child_env(pw, &added)) == NULL)
		goto oom;
	argv[0] = prog;
	argv[1] = "--format=custom";
	argv[2] = "--no-password";
	argv[3] = schemaarg;
	argv[4] = dbarg;
	argv[5] = NULL;
	if (pipe(pipefd) < 0 || fcntl(pipefd[0], F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(pipefd[1], F_SETFD, FD_CLOEXEC) < 0) {
		log_errf(err, len, "pg_dump: pipe: %s", strerror(errno));
		goto out;
	}
	if ((pid = fork()) < 0) {
		log_errf(err, len, "pg_dump: fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		exec_child(prog, argv, env, fd, pipefd[1]);
	close(pipefd[1]);
	pipefd[1] = -1;
	read_messages(pipefd[0], msg, sizeof(msg));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			log_errf(err, len, "pg_dump: wait: %s", strerror(errno));
			goto out;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rc = 0;
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		log_errf(err, len, "cannot run '%s'", prog);
	else if (WIFEXITED(status))
		log_errf(err, len, "'%s' exited %d: %s", prog,
		    WEXITSTATUS(status), msg[0] != '\0' ? msg : "no message");
	else
		log_errf(err, len, "'%s' killed by signal %d", prog,
		    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	goto out;
oom:
	log_errf(err, len, "pg_dump: out of memory");
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (added != NULL) {
		explicit_bzero(added, strlen(added));
		free(added);
	}
	explicit_bzero(pw, sizeof(pw));
	free(env);
	free(dbarg);
	free(schemaarg);
	return rc;
}
