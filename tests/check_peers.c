/*
 * check_peers: the HTTP peers the suites run against (see check_peers.h),
 * and a suite for the fault server itself, since other suites trust what
 * it serves and what its request log says.
 */
#define _GNU_SOURCE		/* environ */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_dater.h"
#include "check_peers.h"
#include "../lib/clock.h"
#include "../lib/http.h"
#include "../lib/banned.h"

extern char **environ;

const char *
t_tests_dir(void)
{
	const char *d = getenv("DATER_TESTS");
	struct stat st;

	if (d != NULL && *d != '\0')
		return d;
	if (stat("tests/peers/fault.js", &st) == 0)
		return "tests";
	if (stat("peers/fault.js", &st) == 0)
		return ".";
	ck_abort_msg("cannot find tests/peers/fault.js: run from the "
	    "repository's root or set DATER_TESTS");
	return NULL;
}

/* The node executable on $PATH, into buf. */
static void
t_node(char *buf, size_t len)
{
	const char *path = getenv("PATH"), *p, *e;
	int n;

	for (p = path != NULL ? path : "/usr/bin:/bin"; *p != '\0'; p = e) {
		e = strchr(p, ':');
		if (e == NULL)
			e = p + strlen(p);
		n = snprintf(buf, len, "%.*s/node", (int)(e - p), p);
		if (n > 0 && (size_t)n < len && access(buf, X_OK) == 0)
			return;
		if (*e == ':')
			e++;
	}
	ck_abort_msg("node is not on PATH (./.ci/deps.sh installs it)");
}

int
t_free_port(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/*
 * Start argv[0] with envp in its own process group, stdout and stderr to
 * out; it gets SIGTERM when this process dies. Everything the child does
 * before execve is async-signal-safe.
 */
static pid_t
t_spawn(char *const argv[], char *const envp[], const char *out)
{
	pid_t parent = getpid(), pid;
	struct sigaction dfl;
	sigset_t none;
	int fd, nul;

	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(fd >= 0, "open '%s': %s", out, strerror(errno));
	nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(nul, 0);
	sigemptyset(&none);
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		(void)setpgid(0, 0);
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		(void)sigaction(SIGPIPE, &dfl, NULL);
		(void)sigaction(SIGTERM, &dfl, NULL);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(nul, 0) == -1 || dup2(fd, 1) == -1 ||
		    dup2(fd, 2) == -1)
			_exit(127);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	(void)setpgid(pid, pid);
	close(fd);
	close(nul);
	return pid;
}

static void
t_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Wait until the peer's output holds marker followed by a port number.
 * Returns the port, or 0 if the peer exited first (its output in *why,
 * for the caller to free).
 */
static int
t_wait_port(const struct t_peer *p, const char *out, const char *marker,
    char **why)
{
	int64_t end = clock_mono_ms() + T_PEER_WAIT_MS;
	char *text, *at, *e;
	long port;
	int status;

	for (;;) {
		text = t_read_file(out);
		if ((at = strstr(text, marker)) != NULL) {
			port = strtol(at + strlen(marker), &e, 10);
			if (*e == '\n' && port > 0 && port < 65536) {
				free(text);
				return (int)port;
			}
		}
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			*why = text;
			return 0;
		}
		ck_assert_msg(clock_mono_ms() < end, "peer did not start "
		    "within %d ms: %s", T_PEER_WAIT_MS, text);
		free(text);
		t_sleep_ms(10);
	}
}

void
t_fault_start(struct t_peer *p, const char *script)
{
	char node[PATH_MAX], js[PATH_MAX], file[PATH_MAX], out[PATH_MAX];
	char *argv[6], *why = NULL;

	memset(p, 0, sizeof(*p));
	t_node(node, sizeof(node));
	t_path(js, sizeof(js), t_tests_dir(), "peers/fault.js");
	t_tmpdir(p->dir, sizeof(p->dir));
	t_path(file, sizeof(file), p->dir, "script.json");
	t_path(p->log, sizeof(p->log), p->dir, "requests.jsonl");
	t_path(out, sizeof(out), p->dir, "fault.out");
	t_write_file(file, script);
	argv[0] = node;
	argv[1] = js;
	argv[2] = "--log";
	argv[3] = p->log;
	argv[4] = file;
	argv[5] = NULL;
	p->pid = t_spawn(argv, environ, out);
	p->port = t_wait_port(p, out, "PORT ", &why);
	if (p->port == 0)
		p->pid = 0;
	ck_assert_msg(p->port > 0, "fault.js exited: %s", why);
	snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d", p->port);
}

/* environ plus HOST and PORT for mock-llm; free the array only. */
static char **
t_mock_env(char *host, char *port)
{
	size_t n = 0, i, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = calloc(n + 3, sizeof(*env));
	ck_assert_ptr_nonnull(env);
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "HOST=", 5) != 0 &&
		    strncmp(environ[i], "PORT=", 5) != 0)
			env[k++] = environ[i];
	env[k++] = host;
	env[k++] = port;
	env[k] = NULL;
	return env;
}

void
t_mock_llm_start(struct t_peer *p)
{
	char node[PATH_MAX], js[PATH_MAX], yaml[PATH_MAX], out[PATH_MAX];
	char host[] = "HOST=127.0.0.1", port[32], *argv[5], **env, *why;
	int try;

	memset(p, 0, sizeof(*p));
	t_node(node, sizeof(node));
	t_path(js, sizeof(js), t_tests_dir(),
	    "node_modules/@dwmkerr/mock-llm/dist/main.js");
	t_path(yaml, sizeof(yaml), t_tests_dir(), "peers/mock-llm.yaml");
	ck_assert_msg(access(js, R_OK) == 0, "no '%s': run ./.ci/deps.sh",
	    js);
	t_tmpdir(p->dir, sizeof(p->dir));
	t_path(out, sizeof(out), p->dir, "mock-llm.out");
	argv[0] = node;
	argv[1] = js;
	argv[2] = "--config";
	argv[3] = yaml;
	argv[4] = NULL;
	/* mock-llm cannot listen on port 0 and say which port it got:
	 * take a free one, and another if someone else took it first. */
	for (try = 0; try < 5; try++) {
		snprintf(port, sizeof(port), "PORT=%d", t_free_port());
		env = t_mock_env(host, port);
		p->pid = t_spawn(argv, env, out);
		free(env);
		why = NULL;
		p->port = t_wait_port(p, out,
		    "server running on 127.0.0.1:", &why);
		if (p->port > 0)
			break;
		p->pid = 0;
		ck_assert_msg(strstr(why, "EADDRINUSE") != NULL,
		    "mock-llm exited: %s", why);
		free(why);
	}
	ck_assert_msg(p->port > 0, "mock-llm found no free port");
	snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d/v1", p->port);
}

void
t_peer_stop(struct t_peer *p)
{
	int64_t end;
	int status;

	if (p->pid > 0) {
		(void)kill(-p->pid, SIGTERM);
		end = clock_mono_ms() + 2000;
		while (waitpid(p->pid, &status, WNOHANG) == 0) {
			if (clock_mono_ms() >= end) {
				(void)kill(-p->pid, SIGKILL);
				(void)waitpid(p->pid, &status, 0);
				break;
			}
			t_sleep_ms(5);
		}
		/* anything the peer spawned */
		(void)kill(-p->pid, SIGKILL);
	}
	if (p->dir[0] != '\0')
		t_rmtree(p->dir);
	memset(p, 0, sizeof(*p));
}

json_t *
t_fault_requests(const struct t_peer *p)
{
	json_error_t err;
	json_t *all, *one;
	char *text, *line, *nl;

	all = json_array();
	ck_assert_ptr_nonnull(all);
	text = t_read_file(p->log);
	for (line = text; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		ck_assert_msg(nl != NULL, "partial line in '%s'", p->log);
		*nl = '\0';
		one = json_loads(line, 0, &err);
		ck_assert_msg(one != NULL, "'%s': %s", p->log, err.text);
		ck_assert_int_eq(json_array_append_new(all, one), 0);
	}
	free(text);
	return all;
}

/* The fault server's own behaviour, through lib/http. */

static void
get(const struct t_peer *p, const char *method, const char *path,
    const char *body, struct http_resp *resp)
{
	static const char *const hdrs[] = { "X-Test: 1", NULL };
	struct http_req req;
	char url[256];

	snprintf(url, sizeof(url), "%s%s", p->url, path);
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.headers = hdrs;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	req.timeout_ms = 10000;
	ck_assert_msg(http_do(&req, resp) == 0, "%s %s: %s", method, path,
	    resp->error);
}

static void
expect(const struct t_peer *p, const char *method, const char *path,
    long status, const char *body)
{
	struct http_resp resp;

	get(p, method, path, NULL, &resp);
	ck_assert_int_eq(resp.status, status);
	if (body != NULL)
		ck_assert_str_eq(resp.body, body);
	http_resp_release(&resp);
}

static json_int_t
num(const json_t *o, const char *k)
{
	ck_assert_msg(json_is_integer(json_object_get(o, k)), "no %s", k);
	return json_integer_value(json_object_get(o, k));
}

static const char *
str(const json_t *o, const char *k)
{
	ck_assert_msg(json_is_string(json_object_get(o, k)), "no %s", k);
	return json_string_value(json_object_get(o, k));
}

START_TEST(fault_steps_in_order)
{
	struct t_peer p;
	struct http_resp resp;
	json_t *log, *r;
	int64_t before = clock_now_ms();

	t_fault_start(&p, "[{\"status\": 201, \"body\": \"a\", \"times\": 2},"
	    " {\"status\": 202, \"json\": {\"x\": [1, \"y\"]}}]");
	expect(&p, "GET", "/one", 201, "a");
	expect(&p, "GET", "/two", 201, "a");
	get(&p, "POST", "/three?q=1", "payload", &resp);
	ck_assert_int_eq(resp.status, 202);
	ck_assert_str_eq(resp.body, "{\"x\":[1,\"y\"]}");
	http_resp_release(&resp);
	expect(&p, "GET", "/four", 202, NULL);	/* the last step repeats */

	log = t_fault_requests(&p);
	ck_assert_int_eq(json_array_size(log), 4);
	r = json_array_get(log, 2);
	ck_assert_str_eq(str(r, "method"), "POST");
	ck_assert_str_eq(str(r, "path"), "/three?q=1");
	ck_assert_str_eq(str(r, "body"), "payload");
	ck_assert_str_eq(str(json_object_get(r, "headers"), "x-test"), "1");
	ck_assert_int_ge(num(r, "at_ms"), before);
	ck_assert_int_le(num(r, "at_ms"), clock_now_ms());
	ck_assert_int_eq(num(json_array_get(log, 0), "step"), 0);
	ck_assert_int_eq(num(json_array_get(log, 1), "step"), 0);
	ck_assert_int_eq(num(r, "step"), 1);
	ck_assert_int_eq(num(json_array_get(log, 3), "step"), 1);
	json_decref(log);
	t_peer_stop(&p);
}
END_TEST

START_TEST(fault_routes_and_control)
{
	struct t_peer p;
	struct http_resp resp;
	json_t *log, *reqs;

	t_fault_start(&p, "{\"routes\": ["
	    "{\"method\": \"POST\", \"path\": \"/send$\", \"steps\": "
	    "[{\"status\": 429}, {\"status\": 200, \"body\": \"sent\"}]},"
	    "{\"path\": \"^/get\", \"steps\": [{\"body\": \"got\"}]}]}");
	expect(&p, "POST", "/bot1/send", 429, NULL);
	expect(&p, "GET", "/getUpdates", 200, "got");
	expect(&p, "POST", "/bot1/send", 200, "sent");
	expect(&p, "GET", "/bot1/send", 404, NULL);	/* method differs */

	/* a new script starts over; control requests are not logged */
	get(&p, "POST", "/__fault/script", "[{\"status\": 418}]", &resp);
	ck_assert_int_eq(resp.status, 200);
	http_resp_release(&resp);
	expect(&p, "POST", "/bot1/send", 418, NULL);
	get(&p, "GET", "/__fault/requests", NULL, &resp);
	reqs = json_loads(resp.body, 0, NULL);
	ck_assert_int_eq(json_array_size(reqs), 5);
	json_decref(reqs);
	http_resp_release(&resp);

	log = t_fault_requests(&p);
	ck_assert_int_eq(json_array_size(log), 5);
	ck_assert_int_eq(num(json_array_get(log, 0), "route"), 0);
	ck_assert_int_eq(num(json_array_get(log, 1), "route"), 1);
	ck_assert_int_eq(num(json_array_get(log, 3), "route"), -1);
	json_decref(log);
	t_peer_stop(&p);
}
END_TEST

START_TEST(fault_stop_leaves_nothing)
{
	struct t_peer p;
	char dir[PATH_MAX];
	pid_t pid;
	struct stat st;

	t_fault_start(&p, "[{}]");
	pid = p.pid;
	strlcpy(dir, p.dir, sizeof(dir));
	t_peer_stop(&p);
	ck_assert_int_eq(kill(pid, 0), -1);
	ck_assert_int_eq(stat(dir, &st), -1);
	ck_assert_int_eq(p.pid, 0);
	t_peer_stop(&p);	/* again: harmless */
}
END_TEST

Suite *
suite_peers(void)
{
	Suite *s = suite_create("peers");
	TCase *tc;

	tc = t_tcase("fault_steps");
	tcase_add_test(tc, fault_steps_in_order);
	suite_add_tcase(s, tc);
	tc = t_tcase("fault_routes");
	tcase_add_test(tc, fault_routes_and_control);
	suite_add_tcase(s, tc);
	tc = t_tcase("fault_stop");
	tcase_add_test(tc, fault_stop_leaves_nothing);
	suite_add_tcase(s, tc);
	return s;
}
