/*
 * check_transport: the console, webhook and telegram transports.
 *
 * HTTP peers are real servers on 127.0.0.1, started by each test and
 * killed at its end (and by the kernel if the test dies: PDEATHSIG):
 * the telegram-test-api emulator (tests/peers/telegram.js) for the
 * Telegram conversation itself, and the scriptable fault server
 * (tests/peers/fault.js) for what the emulator cannot play: flood
 * control, blocked users, timeouts, dropped connections. Tests run from
 * the repository's root (make unit); DATER_TESTS_DIR overrides where
 * tests/ is.
 */
#define _GNU_SOURCE		/* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "check_dater.h"
#include "../lib/clock.h"
#include "../lib/http.h"
#include "../lib/transport.h"
#include "../lib/banned.h"

#define T_TOKEN "123456:AAH-test_Token-value"
#define T_TOKEN_ENV "CHECK_TRANSPORT_TG_TOKEN"
#define T_PEER_WAIT_MS 30000

/* ---- peers ----------------------------------------------------------- */

struct peer {
	pid_t pid;
	int out;		/* its stdout, kept open until stopped */
	int port;
	char url[64];		/* http://127.0.0.1:PORT */
};

static const char *
tests_dir(void)
{
	const char *d = getenv("DATER_TESTS_DIR");

	return d != NULL && *d != '\0' ? d : "tests";
}

/* Read the peer's stdout until "PORT n", within T_PEER_WAIT_MS. */
static int
peer_port(int fd)
{
	char buf[256];
	size_t len = 0;
	int64_t end = clock_mono_ms() + T_PEER_WAIT_MS;
	struct pollfd pfd = { fd, POLLIN, 0 };
	const char *p;
	ssize_t n;

	for (;;) {
		buf[len] = '\0';
		if ((p = strstr(buf, "PORT ")) != NULL && strchr(p, '\n'))
			return (int)strtol(p + 5, NULL, 10);
		if (clock_mono_ms() >= end || len + 1 >= sizeof(buf))
			return -1;
		if (poll(&pfd, 1, (int)(end - clock_mono_ms())) <= 0)
			continue;
		n = read(fd, buf + len, sizeof(buf) - len - 1);
		if (n <= 0)
			return -1;	/* it died: its stderr says why */
		len += (size_t)n;
	}
}

/* Start node SCRIPT ARGS... (a NULL-terminated list) from tests/peers. */
static void
peer_start(struct peer *pe, const char *script, const char *arg1)
{
	char path[PATH_MAX];
	int fds[2];

	memset(pe, 0, sizeof(*pe));
	(void)snprintf(path, sizeof(path), "%s/peers/%s", tests_dir(),
	    script);
	ck_assert_msg(access(path, R_OK) == 0, "'%s': %s (run from the "
	    "repository's root or set DATER_TESTS_DIR)", path,
	    strerror(errno));
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	pe->pid = fork();
	ck_assert_int_ge(pe->pid, 0);
	if (pe->pid == 0) {
#ifdef __linux__
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
		(void)dup2(fds[1], STDOUT_FILENO);
		execlp("node", "node", path, arg1, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	pe->out = fds[0];
	pe->port = peer_port(pe->out);
	ck_assert_msg(pe->port > 0, "%s did not start (node and "
	    "tests/node_modules needed)", script);
	(void)snprintf(pe->url, sizeof(pe->url), "http://127.0.0.1:%d",
	    pe->port);
}

static void
peer_stop(struct peer *pe)
{
	int i, st;

	if (pe->pid <= 0)
		return;
	(void)kill(pe->pid, SIGTERM);
	for (i = 0; i < 500; i++) {
		if (waitpid(pe->pid, &st, WNOHANG) == pe->pid)
			break;
		usleep(10000);
	}
	if (i == 500) {
		(void)kill(pe->pid, SIGKILL);
		(void)waitpid(pe->pid, &st, 0);
	}
	close(pe->out);
	pe->pid = 0;
}

/* The fault server playing script (JSON text). */
static void
fault_start(struct peer *pe, const char *script)
{
	peer_start(pe, "fault.js", script);
}

static void
telegram_start(struct peer *pe)
{
	peer_start(pe, "telegram.js", NULL);
}

/* POST (or GET when body is NULL) to url; the parsed JSON reply, a new
 * reference. Fails the test unless it answers 200 with JSON. */
static json_t *
t_http_json(const char *url, const char *body)
{
	static const char *const hdrs[] = { "Content-Type: application/json",
		NULL };
	struct http_req req;
	struct http_resp resp;
	json_error_t err;
	json_t *v;

	memset(&req, 0, sizeof(req));
	req.method = body != NULL ? "POST" : "GET";
	req.url = url;
	req.headers = hdrs;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	req.timeout_ms = 10000;
	ck_assert_msg(http_do(&req, &resp) == 0, "%s: %s", url, resp.error);
	ck_assert_msg(resp.status == 200, "%s: HTTP %ld: %s", url,
	    resp.status, resp.body);
	v = json_loadb(resp.body, resp.body_len, 0, &err);
	ck_assert_msg(v != NULL, "%s: %s", url, err.text);
	http_resp_release(&resp);
	return v;
}

/* The requests the fault server has seen (new reference, an array). */
static json_t *
fault_requests(const struct peer *pe)
{
	char url[128];
	json_t *v;

	(void)snprintf(url, sizeof(url), "%s/__fault/requests", pe->url);
	v = t_http_json(url, NULL);
	ck_assert(json_is_array(v));
	return v;
}

/* Request i's body parsed as JSON (new reference). */
static json_t *
fault_body(json_t *reqs, size_t i)
{
	const char *s;
	json_t *v;

	s = json_string_value(json_object_get(json_array_get(reqs, i),
	    "body"));
	ck_assert_ptr_nonnull(s);
	v = json_loads(s, 0, NULL);
	ck_assert_msg(v != NULL, "request body is not JSON: %s", s);
	return v;
}

/* A TCP port on 127.0.0.1 that nobody listens on (bound, then closed). */
static int
closed_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void
out_init(struct transport_out *m, const char *chat, const char *text)
{
	memset(m, 0, sizeof(*m));
	m->bot = "anna";
	m->contact_id = 42;
	m->chat_id = chat;
	m->message_id = 7;
	m->text = text;
}

/* ---- drivers --------------------------------------------------------- */

START_TEST(test_known)
{
	struct cfg_transport t;
	struct transport_out m;
	struct transport_result res;
	struct transport_batch b;
	int i;

	ck_assert(transport_known("telegram"));
	ck_assert(transport_known("webhook"));
	ck_assert(transport_known("console"));
	ck_assert(!transport_known("smtp"));
	ck_assert(!transport_known(""));
	ck_assert(!transport_known(NULL));
	/* The loader's list of driver names is the drivers'. */
	for (i = 0; cfg_transport_drivers[i] != NULL; i++)
		ck_assert_msg(transport_known(cfg_transport_drivers[i]),
		    "cfg names driver '%s' that transport lacks",
		    cfg_transport_drivers[i]);
	ck_assert_int_eq(i, transport_count());

	memset(&t, 0, sizeof(t));
	(void)strlcpy(t.driver, "smtp", sizeof(t.driver));
	out_init(&m, "1", "hi");
	ck_assert_int_eq(transport_send(&t, &m, &res), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_ptr_nonnull(strstr(res.error, "'smtp'"));
	ck_assert_int_eq(transport_poll(&t, "", 0, &b, &res), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	transport_batch_release(&b);
	ck_assert_int_eq(transport_typing(&t, "1"), -1);
}
END_TEST

/* Webhook and console have no inbound side: poll gives nothing. */
START_TEST(test_poll_nothing)
{
	static const char *drivers[] = { "webhook", "console" };
	struct cfg_transport t;
	struct transport_result res;
	struct transport_batch b;
	size_t i;

	for (i = 0; i < 2; i++) {
		memset(&t, 0, sizeof(t));
		(void)strlcpy(t.driver, drivers[i], sizeof(t.driver));
		memset(&b, 0xff, sizeof(b));
		ck_assert_int_eq(transport_poll(&t, "17", 0, &b, &res), 0);
		ck_assert_uint_eq(b.n, 0);
		ck_assert_str_eq(b.next_offset, "");
		transport_batch_release(&b);
		ck_assert_int_eq(transport_typing(&t, "1"), 0);
	}
}
END_TEST

/* ---- console --------------------------------------------------------- */

static void
console_cfg(struct cfg_transport *t, const char *path)
{
	memset(t, 0, sizeof(*t));
	(void)strlcpy(t->driver, "console", sizeof(t->driver));
	t->path = path;		/* the caller's, alive for the test */
}

/* The line at *p parsed as JSON; fails unless it is one. Advances *p
 * past the line. */
static json_t *
json_next(const char **p)
{
	const char *nl;
	json_error_t err;
	json_t *v;

	ck_assert_ptr_nonnull(nl = strchr(*p, '\n'));
	v = json_loadb(*p, (size_t)(nl - *p), 0, &err);
	ck_assert_msg(v != NULL, "line is not JSON: %s", err.text);
	*p = nl + 1;
	return v;
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

START_TEST(test_console_line)
{
	static const char text[] = "Hi \"you\"\nsecond line\tand \xc3\xa9t\xc3\xa9"
	    " \xf0\x9f\x99\x82";
	char dir[PATH_MAX], path[PATH_MAX];
	struct cfg_transport t;
	struct transport_out m;
	struct transport_result res;
	struct stat st;
	int64_t before, after, at;
	const char *p;
	json_t *v;
	char *s;

	t_tmpdir(dir, sizeof(dir));
	t_path(path, sizeof(path), dir, "outbox.jsonl");
	console_cfg(&t, path);
	out_init(&m, "4242", text);
	umask(0);	/* the mode must come from the driver alone */
	before = clock_now_ms();
	ck_assert_int_eq(transport_send(&t, &m, &res), 0);
	after = clock_now_ms();
	ck_assert_int_eq(res.status, TRANSPORT_OK);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);

	s = t_read_file(path);
	ck_assert_int_eq(count_lines(s), 1);
	p = s;
	v = json_next(&p);
	ck_assert_int_eq(clock_parse_time(json_string_value(json_object_get(v,
	    "at")), &at), 0);
	ck_assert_int_ge(at, before - before % 1000);
	ck_assert_int_le(at, after);
	ck_assert_str_eq(json_string_value(json_object_get(v, "bot")), "anna");
	ck_assert_int_eq(json_integer_value(json_object_get(v, "contact")), 42);
	ck_assert_str_eq(json_string_value(json_object_get(v, "chat_id")),
	    "4242");
	ck_assert_int_eq(json_integer_value(json_object_get(v, "message_id")),
	    7);
	ck_assert_str_eq(json_string_value(json_object_get(v, "text")), text);
	ck_assert_uint_eq(json_object_size(v), 6);
	json_decref(v);
	free(s);
	t_rmtree(dir);
}
END_TEST

START_TEST(test_console_appends)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct cfg_transport t;
	struct transport_out m;
	struct transport_result res;
	const char *p;
	json_t *v;
	char *s;

	t_tmpdir(dir, sizeof(dir));
	t_path(path, sizeof(path), dir, "outbox.jsonl");
	t_write_file(path, "{\"earlier\": true}\n");
	console_cfg(&t, path);
	out_init(&m, "1", "first");
	ck_assert_int_eq(transport_send(&t, &m, &res), 0);
	m.message_id = 8;
	m.text = "second";
	ck_assert_int_eq(transport_send(&t, &m, &res), 0);

	s = t_read_file(path);
	ck_assert_int_eq(count_lines(s), 3);
	ck_assert_int_eq(strncmp(s, "{\"earlier\": true}\n", 18), 0);
	p = s + 18;
	v = json_next(&p);
	ck_assert_str_eq(json_string_value(json_object_get(v, "text")),
	    "first");
	json_decref(v);
	v = json_next(&p);
	ck_assert_str_eq(json_string_value(json_object_get(v, "text")),
	    "second");
	ck_assert_int_eq(json_integer_value(json_object_get(v, "message_id")),
	    8);
	json_decref(v);
	free(s);
	t_rmtree(dir);
}
END_TEST

/* Path "" means outbox.jsonl in the current directory. */
START_TEST(test_console_default_path)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct cfg_transport t;
	struct transport_out m;
	struct transport_result res;
	char *s;

	t_tmpdir(dir, sizeof(dir));
	ck_assert_int_eq(chdir(dir), 0);
	console_cfg(&t, "");
	out_init(&m, "1", "hello");
	ck_assert_int_eq(transport_send(&t, &m, &res), 0);
	t_path(path, sizeof(path), dir, "outbox.jsonl");
	s = t_read_file(path);
	ck_assert_int_eq(count_lines(s), 1);
	free(s);
	t_rmtree(dir);
}
END_TEST

START_TEST(test_console_error)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct cfg_transport t;
	struct transport_out m;
	struct transport_result res;

	t_tmpdir(dir, sizeof(dir));
	t_path(path, sizeof(path), dir, "no/such/dir/outbox.jsonl");
	console_cfg(&t, path);
	out_init(&m, "1", "hello");
	ck_assert_int_eq(transport_send(&t, &m, &res), -1);
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);
	ck_assert_ptr_nonnull(strstr(res.error, path));
	ck_assert_ptr_nonnull(strstr(res.error, strerror(ENOENT)));

	/* Text that is not UTF-8 can never be written as JSON. */
	t_path(path, sizeof(path), dir, "outbox.jsonl");
	console_cfg(&t, path);
	out_init(&m, "1", "bad \xff byte");
	ck_assert_int_eq(transport_send(&t, &m, &res), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_int_eq(access(path, F_OK), -1);
	t_rmtree(dir);
}
END_TEST

/* Workers appending at once never interleave their lines. */
START_TEST(test_console_concurrent)
{
	enum { WRITERS = 4, LINES = 200, TEXT = 6000 };
	char dir[PATH_MAX], path[PATH_MAX];
	struct cfg_transport t;
	struct transport_out m;
	struct transport_result res;
	char *text, *s;
	const char *p;
	pid_t pids[WRITERS];
	int i, j, st, seen[WRITERS];
	json_t *v;

	t_tmpdir(dir, sizeof(dir));
	t_path(path, sizeof(path), dir, "outbox.jsonl");
	console_cfg(&t, path);
	for (i = 0; i < WRITERS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] != 0)
			continue;
		text = malloc(TEXT + 1);
		memset(text, 'a' + i, TEXT);
		text[TEXT] = '\0';
		out_init(&m, "1", text);
		m.contact_id = i;
		for (j = 0; j < LINES; j++)
			if (transport_send(&t, &m, &res) == -1)
				_exit(1);
		_exit(0);
	}
	for (i = 0; i < WRITERS; i++) {
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	s = t_read_file(path);
	ck_assert_int_eq(count_lines(s), WRITERS * LINES);
	memset(seen, 0, sizeof(seen));
	p = s;
	for (j = 0; j < WRITERS * LINES; j++) {
		v = json_next(&p);
		i = (int)json_integer_value(json_object_get(v, "contact"));
		ck_assert(i >= 0 && i < WRITERS);
		ck_assert_uint_eq(strspn(json_string_value(json_object_get(v,
		    "text")), (char[]){ (char)('a' + i), '\0' }), TEXT);
		seen[i]++;
		json_decref(v);
	}
	for (i = 0; i < WRITERS; i++)
		ck_assert_int_eq(seen[i], LINES);
	free(s);
	t_rmtree(dir);
}
END_TEST

/* ---- webhook (against the fault server) ------------------------------ */

static void
webhook_cfg(struct cfg_transport *t, const char *base)
{
	static char url[CFG_URL_MAX];	/* one transport per test */

	memset(t, 0, sizeof(*t));
	(void)strlcpy(t->driver, "webhook", sizeof(t->driver));
	(void)snprintf(url, sizeof(url), "%s/hook?secret=s3cr3t", base);
	t->url = url;
	t->timeout_ms = 5000;
}

/* Send one message to a fault server playing script; res filled. */
static int
webhook_try(const char *script, int64_t timeout_ms,
    struct transport_result *res, json_t **reqs)
{
	struct peer pe;
	struct cfg_transport t;
	struct transport_out m;
	int rc;

	fault_start(&pe, script);
	webhook_cfg(&t, pe.url);
	if (timeout_ms > 0)
		t.timeout_ms = timeout_ms;
	out_init(&m, "4242", "hello \"there\"");
	rc = transport_send(&t, &m, res);
	if (reqs != NULL)
		*reqs = fault_requests(&pe);
	peer_stop(&pe);
	ck_assert(strstr(res->error, "s3cr3t") == NULL);
	return rc;
}

START_TEST(test_webhook_body)
{
	struct transport_result res;
	json_t *reqs, *r, *b, *h;

	ck_assert_int_eq(webhook_try("[{\"status\": 200, \"json\": "
	    "{\"id\": \"wh-99\"}}]", 0, &res, &reqs), 0);
	ck_assert_int_eq(res.status, TRANSPORT_OK);
	ck_assert_str_eq(res.platform_msg_id, "wh-99");
	ck_assert_uint_eq(json_array_size(reqs), 1);
	r = json_array_get(reqs, 0);
	ck_assert_str_eq(json_string_value(json_object_get(r, "method")),
	    "POST");
	ck_assert_str_eq(json_string_value(json_object_get(r, "path")),
	    "/hook?secret=s3cr3t");
	h = json_object_get(r, "headers");
	ck_assert_str_eq(json_string_value(json_object_get(h, "content-type")),
	    "application/json");
	ck_assert_str_eq(json_string_value(json_object_get(h,
	    "idempotency-key")), "anna:7");
	b = fault_body(reqs, 0);
	ck_assert_str_eq(json_string_value(json_object_get(b, "bot")), "anna");
	ck_assert_int_eq(json_integer_value(json_object_get(b, "contact")), 42);
	ck_assert_str_eq(json_string_value(json_object_get(b, "chat_id")),
	    "4242");
	ck_assert_str_eq(json_string_value(json_object_get(b, "text")),
	    "hello \"there\"");
	ck_assert_int_eq(json_integer_value(json_object_get(b, "message_id")),
	    7);
	json_decref(b);
	json_decref(reqs);
}
END_TEST

START_TEST(test_webhook_2xx)
{
	struct transport_result res;

	/* Any 2xx is delivered; an id is taken when there is one. */
	ck_assert_int_eq(webhook_try("[{\"status\": 204}]", 0, &res, NULL), 0);
	ck_assert_str_eq(res.platform_msg_id, "");
	ck_assert_int_eq(webhook_try("[{\"status\": 202, \"json\": "
	    "{\"id\": 31337}}]", 0, &res, NULL), 0);
	ck_assert_str_eq(res.platform_msg_id, "31337");
	ck_assert_int_eq(webhook_try("[{\"status\": 200, \"body\": \"ok\"}]",
	    0, &res, NULL), 0);
	ck_assert_str_eq(res.platform_msg_id, "");
}
END_TEST

START_TEST(test_webhook_retry)
{
	struct transport_result res;
	int64_t before, after;

	ck_assert_int_eq(webhook_try("[{\"status\": 500, \"body\": "
	    "\"upstream broke\"}]", 0, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);
	ck_assert_int_eq(res.retry_at_ms, 0);
	ck_assert_ptr_nonnull(strstr(res.error, "500"));
	ck_assert_ptr_nonnull(strstr(res.error, "upstream broke"));

	before = clock_now_ms();
	ck_assert_int_eq(webhook_try("[{\"status\": 429, \"headers\": "
	    "{\"Retry-After\": \"7\"}}]", 0, &res, NULL), -1);
	after = clock_now_ms();
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);
	ck_assert_int_ge(res.retry_at_ms, before + 7000);
	ck_assert_int_le(res.retry_at_ms, after + 7000);

	ck_assert_int_eq(webhook_try("[{\"status\": 503, \"headers\": "
	    "{\"Retry-After\": \"3\"}}]", 0, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);
	ck_assert_int_ge(res.retry_at_ms, before + 3000);
}
END_TEST

START_TEST(test_webhook_fatal)
{
	struct transport_result res;

	ck_assert_int_eq(webhook_try("[{\"status\": 400, \"json\": "
	    "{\"error\": \"unknown chat\"}}]", 0, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_int_eq(res.blocked, 0);
	ck_assert_ptr_nonnull(strstr(res.error, "400"));
	ck_assert_ptr_nonnull(strstr(res.error, "unknown chat"));

	ck_assert_int_eq(webhook_try("[{\"status\": 404}]", 0, &res, NULL),
	    -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
}
END_TEST

/* Past the request: it may have arrived, so never again. */
START_TEST(test_webhook_unknown)
{
	struct transport_result res;
	json_t *reqs;

	ck_assert_int_eq(webhook_try("[{\"status\": 200, \"delay_ms\": 10000}]",
	    300, &res, &reqs), -1);
	ck_assert_int_eq(res.status, TRANSPORT_UNKNOWN);
	ck_assert_uint_eq(json_array_size(reqs), 1);
	json_decref(reqs);

	ck_assert_int_eq(webhook_try("[{\"drop\": true}]", 0, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_UNKNOWN);

	ck_assert_int_eq(webhook_try("[{\"status\": 200, \"body\": "
	    "\"a long body cut short\", \"truncate\": true}]", 0, &res, NULL),
	    -1);
	ck_assert_int_eq(res.status, TRANSPORT_UNKNOWN);
}
END_TEST

START_TEST(test_webhook_refused)
{
	struct cfg_transport t;
	struct transport_out m;
	struct transport_result res;
	char base[64];

	(void)snprintf(base, sizeof(base), "http://127.0.0.1:%d",
	    closed_port());
	webhook_cfg(&t, base);
	out_init(&m, "1", "hi");
	ck_assert_int_eq(transport_send(&t, &m, &res), -1);
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);
	ck_assert(strstr(res.error, "s3cr3t") == NULL);

	t.url = "";
	ck_assert_int_eq(transport_send(&t, &m, &res), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
}
END_TEST

/* ---- telegram against the telegram-test-api emulator ----------------- */

static void
telegram_cfg(struct cfg_transport *t, const char *base)
{
	memset(t, 0, sizeof(*t));
	(void)strlcpy(t->driver, "telegram", sizeof(t->driver));
	t->base_url = base;	/* the caller's, alive for the test */
	(void)strlcpy(t->token_env, T_TOKEN_ENV, sizeof(t->token_env));
	t->timeout_ms = 10000;
	ck_assert_int_eq(setenv(T_TOKEN_ENV, T_TOKEN, 1), 0);
}

/* The person in chat 4242 (from is the sender object, JSON) says text. */
static void
tg_say(const struct peer *pe, const char *from, const char *text)
{
	char url[128], body[1024];
	json_t *v;

	(void)snprintf(url, sizeof(url), "%s/sendMessage", pe->url);
	(void)snprintf(body, sizeof(body), "{\"botToken\": \"%s\", "
	    "\"from\": %s, \"chat\": {\"id\": 4242, \"type\": \"private\"}, "
	    "\"text\": \"%s\", \"date\": 1790000000}", T_TOKEN, from, text);
	v = t_http_json(url, body);
	ck_assert(json_is_true(json_object_get(v, "ok")));
	json_decref(v);
}

/* What the bot sent to chat 4242 since the last look (new reference). */
static json_t *
tg_sent(const struct peer *pe)
{
	char url[128], body[256];
	json_t *v, *r;

	(void)snprintf(url, sizeof(url), "%s/getUpdates", pe->url);
	(void)snprintf(body, sizeof(body), "{\"token\": \"%s\", "
	    "\"chatId\": \"4242\"}", T_TOKEN);
	v = t_http_json(url, body);
	r = json_incref(json_object_get(v, "result"));
	json_decref(v);
	ck_assert(json_is_array(r));
	return r;
}

#define ANN "{\"id\": 4242, \"is_bot\": false, \"first_name\": \"Ann\", " \
	"\"last_name\": \"Lee\", \"username\": \"annlee\"}"

START_TEST(test_tg_poll)
{
	struct peer pe;
	struct cfg_transport t;
	struct transport_result res;
	struct transport_batch b;
	struct transport_update *u;
	char offset[64];

	telegram_start(&pe);
	telegram_cfg(&t, pe.url);
	tg_say(&pe, ANN, "hello bot");
	ck_assert_int_eq(transport_poll(&t, "", 0, &b, &res), 0);
	ck_assert_uint_eq(b.n, 1);
	u = &b.ups[0];
	ck_assert_str_eq(u->platform_id, "4242");
	ck_assert_str_eq(u->handle, "annlee");
	ck_assert_str_eq(u->name, "Ann Lee");
	ck_assert_str_eq(u->text, "hello bot");
	ck_assert_int_eq(u->at_ms, 1790000000000LL);
	ck_assert_str_ne(u->message_id, "");
	ck_assert_int_gt(strtol(b.next_offset, NULL, 10), 0);
	(void)strlcpy(offset, b.next_offset, sizeof(offset));
	transport_batch_release(&b);

	/* Nothing new: nothing returned, the offset stays. */
	ck_assert_int_eq(transport_poll(&t, offset, 0, &b, &res), 0);
	ck_assert_uint_eq(b.n, 0);
	ck_assert_str_eq(b.next_offset, "");
	transport_batch_release(&b);
	peer_stop(&pe);
}
END_TEST

/* Updates from bots are skipped, but the offset moves past them. */
START_TEST(test_tg_skip_bots)
{
	struct peer pe;
	struct cfg_transport t;
	struct transport_result res;
	struct transport_batch b;
	long first, next;

	telegram_start(&pe);
	telegram_cfg(&t, pe.url);
	tg_say(&pe, ANN, "first");
	ck_assert_int_eq(transport_poll(&t, "", 0, &b, &res), 0);
	ck_assert_uint_eq(b.n, 1);
	first = strtol(b.next_offset, NULL, 10);
	transport_batch_release(&b);

	tg_say(&pe, "{\"id\": 999, \"is_bot\": true, \"first_name\": "
	    "\"OtherBot\"}", "beep");
	tg_say(&pe, ANN, "second");
	tg_say(&pe, "{\"id\": 998, \"is_bot\": true, \"first_name\": "
	    "\"ThirdBot\"}", "boop");
	ck_assert_int_eq(transport_poll(&t, "", 0, &b, &res), 0);
	ck_assert_uint_eq(b.n, 1);
	ck_assert_str_eq(b.ups[0].text, "second");
	next = strtol(b.next_offset, NULL, 10);
	ck_assert_int_ge(next, first + 3);
	transport_batch_release(&b);
	peer_stop(&pe);
}
END_TEST

/* A user writes, the bot polls and answers, the reply arrives once. */
START_TEST(test_tg_conversation)
{
	struct peer pe;
	struct cfg_transport t;
	struct transport_result res;
	struct transport_batch b;
	struct transport_out m;
	json_t *sent;

	telegram_start(&pe);
	telegram_cfg(&t, pe.url);
	tg_say(&pe, ANN, "how are you?");
	ck_assert_int_eq(transport_poll(&t, "", 0, &b, &res), 0);
	ck_assert_uint_eq(b.n, 1);

	out_init(&m, b.ups[0].platform_id, "fine, thanks \xf0\x9f\x99\x82");
	ck_assert_int_eq(transport_send(&t, &m, &res), 0);
	ck_assert_int_eq(res.status, TRANSPORT_OK);
	ck_assert_int_gt(strtol(res.platform_msg_id, NULL, 10), 0);
	transport_batch_release(&b);

	sent = tg_sent(&pe);
	ck_assert_uint_eq(json_array_size(sent), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    json_array_get(sent, 0), "message"), "text")),
	    "fine, thanks \xf0\x9f\x99\x82");
	json_decref(sent);
	sent = tg_sent(&pe);
	ck_assert_uint_eq(json_array_size(sent), 0);
	json_decref(sent);
	peer_stop(&pe);
}
END_TEST

/* No token, or a token that is not one: FATAL, naming the variable. */
START_TEST(test_tg_token)
{
	struct cfg_transport t;
	struct transport_out m;
	struct transport_result res;
	struct transport_batch b;
	char base[64];

	(void)snprintf(base, sizeof(base), "http://127.0.0.1:%d",
	    closed_port());
	telegram_cfg(&t, base);
	ck_assert_int_eq(unsetenv(T_TOKEN_ENV), 0);
	out_init(&m, "4242", "hi");
	ck_assert_int_eq(transport_send(&t, &m, &res), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_ptr_nonnull(strstr(res.error, "'" T_TOKEN_ENV "'"));
	ck_assert_int_eq(transport_poll(&t, "", 0, &b, &res), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_ptr_nonnull(strstr(res.error, "'" T_TOKEN_ENV "'"));
	ck_assert_int_eq(transport_typing(&t, "4242"), -1);

	ck_assert_int_eq(setenv(T_TOKEN_ENV, "", 1), 0);
	ck_assert_int_eq(transport_send(&t, &m, &res), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);

	ck_assert_int_eq(setenv(T_TOKEN_ENV, "12:ab/../x?y=z", 1), 0);
	ck_assert_int_eq(transport_send(&t, &m, &res), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_ptr_nonnull(strstr(res.error, "'" T_TOKEN_ENV "'"));
	ck_assert(strstr(res.error, "ab/..") == NULL);

	t.token_env[0] = '\0';
	ck_assert_int_eq(transport_send(&t, &m, &res), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
}
END_TEST

/* ---- telegram faults (against the fault server) ---------------------- */

/*
 * sendMessage "hi" to chat against a fault server playing script (with
 * timeout_ms if > 0); res filled, the requests in *reqs if not NULL.
 * Whatever happens, the token is not in the error.
 */
static int
tg_send_try(const char *script, const char *chat, int64_t timeout_ms,
    struct transport_result *res, json_t **reqs)
{
	struct peer pe;
	struct cfg_transport t;
	struct transport_out m;
	int rc;

	fault_start(&pe, script);
	telegram_cfg(&t, pe.url);
	if (timeout_ms > 0)
		t.timeout_ms = timeout_ms;
	out_init(&m, chat, "hi");
	rc = transport_send(&t, &m, res);
	if (reqs != NULL)
		*reqs = fault_requests(&pe);
	peer_stop(&pe);
	ck_assert_msg(strstr(res->error, T_TOKEN) == NULL &&
	    strstr(res->error, "AAH-test") == NULL, "token in '%s'",
	    res->error);
	return rc;
}

START_TEST(test_tg_send_request)
{
	struct transport_result res;
	json_t *reqs, *b;

	ck_assert_int_eq(tg_send_try("[{\"json\": {\"ok\": true, \"result\": "
	    "{\"message_id\": 555, \"date\": 1790000000, \"chat\": {\"id\": "
	    "4242}}}}]", "4242", 0, &res, &reqs), 0);
	ck_assert_str_eq(res.platform_msg_id, "555");
	ck_assert_uint_eq(json_array_size(reqs), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(reqs,
	    0), "path")), "/bot" T_TOKEN "/sendMessage");
	b = fault_body(reqs, 0);
	ck_assert(json_is_integer(json_object_get(b, "chat_id")));
	ck_assert_int_eq(json_integer_value(json_object_get(b, "chat_id")),
	    4242);
	ck_assert_str_eq(json_string_value(json_object_get(b, "text")), "hi");
	json_decref(b);
	json_decref(reqs);

	/* A chat that is not a number goes as a string (@channel). */
	ck_assert_int_eq(tg_send_try("[{\"json\": {\"ok\": true, \"result\": "
	    "{\"message_id\": 1}}}]", "@dater_news", 0, &res, &reqs), 0);
	b = fault_body(reqs, 0);
	ck_assert_str_eq(json_string_value(json_object_get(b, "chat_id")),
	    "@dater_news");
	json_decref(b);
	json_decref(reqs);
}
END_TEST

START_TEST(test_tg_flood)
{
	struct transport_result res;
	int64_t before, after;

	before = clock_now_ms();
	ck_assert_int_eq(tg_send_try("[{\"status\": 429, \"json\": {\"ok\": "
	    "false, \"error_code\": 429, \"description\": \"Too Many Requests: "
	    "retry after 5\", \"parameters\": {\"retry_after\": 5}}}]", "4242",
	    0, &res, NULL), -1);
	after = clock_now_ms();
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);
	ck_assert_int_ge(res.retry_at_ms, before + 5000);
	ck_assert_int_le(res.retry_at_ms, after + 5000);
	ck_assert_ptr_nonnull(strstr(res.error, "Too Many Requests"));

	/* A retry_after past the hour (or past int64 as ms) is an hour. */
	before = clock_now_ms();
	ck_assert_int_eq(tg_send_try("[{\"status\": 429, \"body\": "
	    "\"{\\\"ok\\\": false, \\\"error_code\\\": 429, "
	    "\\\"description\\\": \\\"flood\\\", \\\"parameters\\\": "
	    "{\\\"retry_after\\\": 9223372036854775807}}\"}]",
	    "4242", 0, &res, NULL), -1);
	after = clock_now_ms();
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);
	ck_assert_int_ge(res.retry_at_ms, before + HTTP_RETRY_MAX_MS);
	ck_assert_int_le(res.retry_at_ms, after + HTTP_RETRY_MAX_MS);
	before = clock_now_ms();
	ck_assert_int_eq(tg_send_try("[{\"status\": 429, \"json\": {\"ok\": "
	    "false, \"error_code\": 429, \"description\": \"flood\", "
	    "\"parameters\": {\"retry_after\": 86400}}}]",
	    "4242", 0, &res, NULL), -1);
	after = clock_now_ms();
	ck_assert_int_le(res.retry_at_ms, after + HTTP_RETRY_MAX_MS);
	ck_assert_int_ge(res.retry_at_ms, before + HTTP_RETRY_MAX_MS);

	/* Without parameters, the Retry-After header. */
	before = clock_now_ms();
	ck_assert_int_eq(tg_send_try("[{\"status\": 429, \"headers\": "
	    "{\"Retry-After\": \"9\"}, \"json\": {\"ok\": false, "
	    "\"error_code\": 429, \"description\": \"Too Many Requests\"}}]",
	    "4242", 0, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);
	ck_assert_int_ge(res.retry_at_ms, before + 9000);

	ck_assert_int_eq(tg_send_try("[{\"status\": 502, \"body\": \"<html>"
	    "Bad Gateway</html>\"}]", "4242", 0, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);
	ck_assert_int_eq(res.retry_at_ms, 0);
}
END_TEST

START_TEST(test_tg_blocked)
{
	struct transport_result res;

	ck_assert_int_eq(tg_send_try("[{\"status\": 403, \"json\": {\"ok\": "
	    "false, \"error_code\": 403, \"description\": \"Forbidden: bot was "
	    "blocked by the user\"}}]", "4242", 0, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_int_eq(res.blocked, 1);
	ck_assert_ptr_nonnull(strstr(res.error, "blocked by the user"));

	/* Forbidden for another reason is not the person blocking us. */
	ck_assert_int_eq(tg_send_try("[{\"status\": 403, \"json\": {\"ok\": "
	    "false, \"error_code\": 403, \"description\": \"Forbidden: bot "
	    "can't initiate conversation with a user\"}}]", "4242", 0, &res,
	    NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_int_eq(res.blocked, 0);
}
END_TEST

START_TEST(test_tg_bad_request)
{
	struct transport_result res;

	ck_assert_int_eq(tg_send_try("[{\"status\": 400, \"json\": {\"ok\": "
	    "false, \"error_code\": 400, \"description\": \"Bad Request: chat "
	    "not found\"}}]", "4242", 0, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_int_eq(res.blocked, 0);
	ck_assert_ptr_nonnull(strstr(res.error, "Bad Request: chat not found"));
	ck_assert_ptr_nonnull(strstr(res.error, "'4242'"));

	ck_assert_int_eq(tg_send_try("[{\"status\": 401, \"json\": {\"ok\": "
	    "false, \"error_code\": 401, \"description\": \"Unauthorized\"}}]",
	    "4242", 0, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_ptr_nonnull(strstr(res.error, "'" T_TOKEN_ENV "'"));
}
END_TEST

/* A server that echoes the token does not get it into our errors. */
START_TEST(test_tg_redact)
{
	struct transport_result res;
	char script[512];

	ck_assert_int_eq(tg_send_try("[{\"status\": 400, \"json\": {\"ok\": "
	    "false, \"error_code\": 400, \"description\": \"Bad Request: no "
	    "such path /bot" T_TOKEN "/sendMessage\"}}]", "4242", 0, &res,
	    NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_ptr_nonnull(strstr(res.error, "/bot<redacted>/sendMessage"));

	ck_assert_int_eq(tg_send_try("[{\"status\": 404, \"body\": \"no route "
	    "POST /bot" T_TOKEN "/sendMessage\"}]", "4242", 0, &res, NULL),
	    -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_ptr_nonnull(strstr(res.error, "<redacted>"));

	/* Nor a piece of it, where a long description is cut short. */
	(void)snprintf(script, sizeof(script), "[{\"status\": 400, \"json\": "
	    "{\"ok\": false, \"description\": \"Bad Request: %0232d%s\"}}]",
	    0, T_TOKEN);
	ck_assert_int_eq(tg_send_try(script, "4242", 0, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_msg(strstr(res.error, "123456:AA") == NULL, "token in '%s'",
	    res.error);
	ck_assert_ptr_nonnull(strstr(res.error, "0000<redacted>"));
}
END_TEST

START_TEST(test_tg_unknown)
{
	struct transport_result res;
	json_t *reqs;

	ck_assert_int_eq(tg_send_try("[{\"json\": {\"ok\": true, \"result\": "
	    "{\"message_id\": 1}}, \"delay_ms\": 10000}]", "4242", 300, &res,
	    &reqs), -1);
	ck_assert_int_eq(res.status, TRANSPORT_UNKNOWN);
	ck_assert_uint_eq(json_array_size(reqs), 1);
	json_decref(reqs);

	ck_assert_int_eq(tg_send_try("[{\"drop\": true}]", "4242", 0, &res,
	    NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_UNKNOWN);

	/* A 200 we cannot read was still accepted by someone. */
	ck_assert_int_eq(tg_send_try("[{\"status\": 200, \"body\": \"<html>"
	    "welcome to the captive portal</html>\"}]", "4242", 0, &res, NULL),
	    -1);
	ck_assert_int_eq(res.status, TRANSPORT_UNKNOWN);
	ck_assert_ptr_nonnull(strstr(res.error, "captive portal"));
}
END_TEST

START_TEST(test_tg_refused)
{
	struct cfg_transport t;
	struct transport_out m;
	struct transport_result res;
	struct transport_batch b;
	char base[64];

	(void)snprintf(base, sizeof(base), "http://127.0.0.1:%d/",
	    closed_port());
	telegram_cfg(&t, base);
	out_init(&m, "4242", "hi");
	ck_assert_int_eq(transport_send(&t, &m, &res), -1);
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);
	ck_assert(strstr(res.error, T_TOKEN) == NULL);
	ck_assert_int_eq(transport_poll(&t, "", 0, &b, &res), -1);
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);
	transport_batch_release(&b);
}
END_TEST

START_TEST(test_tg_typing)
{
	struct peer pe;
	struct cfg_transport t;
	json_t *reqs, *b;

	fault_start(&pe, "[{\"json\": {\"ok\": true, \"result\": true}, "
	    "\"times\": 1}, {\"status\": 500, \"json\": {\"ok\": false}}]");
	telegram_cfg(&t, pe.url);
	ck_assert_int_eq(transport_typing(&t, "4242"), 0);
	ck_assert_int_eq(transport_typing(&t, "4242"), -1);
	reqs = fault_requests(&pe);
	peer_stop(&pe);
	ck_assert_uint_eq(json_array_size(reqs), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(reqs,
	    0), "path")), "/bot" T_TOKEN "/sendChatAction");
	b = fault_body(reqs, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(b, "chat_id")),
	    4242);
	ck_assert_str_eq(json_string_value(json_object_get(b, "action")),
	    "typing");
	json_decref(b);
	json_decref(reqs);
}
END_TEST

/* getUpdates from offset against a fault server playing script. */
static int
tg_poll_try(const char *script, const char *offset, int64_t timeout_ms,
    struct transport_batch *b, struct transport_result *res, json_t **reqs)
{
	struct peer pe;
	struct cfg_transport t;
	int rc;

	fault_start(&pe, script);
	telegram_cfg(&t, pe.url);
	if (timeout_ms > 0)
		t.timeout_ms = timeout_ms;
	rc = transport_poll(&t, offset, 0, b, res);
	if (reqs != NULL)
		*reqs = fault_requests(&pe);
	peer_stop(&pe);
	ck_assert_msg(strstr(res->error, T_TOKEN) == NULL, "token in '%s'",
	    res->error);
	return rc;
}

/* Real Telegram's shapes, and the emulator's: only text from people. */
START_TEST(test_tg_poll_shapes)
{
	static const char script[] = "[{\"json\": {\"ok\": true, \"result\": ["
	    "{\"update_id\": 10, \"message\": {\"message_id\": 100, \"from\": "
	    "{\"id\": 5, \"is_bot\": false, \"first_name\": \"Bo\"}, \"chat\": "
	    "{\"id\": 5, \"type\": \"private\"}, \"date\": 1790000000, "
	    "\"text\": \"plain\"}},"
	    "{\"update_id\": 11, \"edited_message\": {\"message_id\": 100, "
	    "\"from\": {\"id\": 5}, \"chat\": {\"id\": 5}, \"date\": 1, "
	    "\"text\": \"edited\"}},"
	    "{\"update_id\": 12, \"message\": {\"message_id\": 101, \"from\": "
	    "{\"id\": 5, \"is_bot\": false}, \"chat\": {\"id\": 5}, \"date\": "
	    "1790000001, \"sticker\": {\"file_id\": \"x\"}}},"
	    "{\"update_id\": 13, \"message\": {\"message_id\": 102, \"from\": "
	    "{\"id\": 6, \"is_bot\": true, \"first_name\": \"B\"}, \"chat\": "
	    "{\"id\": 5}, \"date\": 1790000002, \"text\": \"from a bot\"}},"
	    "{\"update_id\": 14, \"message\": {\"botToken\": \"x\", "
	    "\"message_id\": 103, \"from\": {\"id\": 7, \"first_name\": "
	    "\"Cy\", \"username\": \"cy\"}, \"chat\": {\"id\": -1001234567890, "
	    "\"type\": \"supergroup\", \"title\": \"G\"}, \"date\": "
	    "1790000003123, \"text\": \"ms date\"}}]}}]";
	struct transport_result res;
	struct transport_batch b;
	json_t *reqs, *body;

	ck_assert_int_eq(tg_poll_try(script, "10", 0, &b, &res, &reqs), 0);
	ck_assert_uint_eq(b.n, 3);
	ck_assert_uint_eq(b.skipped, 0);
	ck_assert_str_eq(b.ups[0].platform_id, "5");
	ck_assert_str_eq(b.ups[0].message_id, "100");
	ck_assert_str_eq(b.ups[0].name, "Bo");
	ck_assert_str_eq(b.ups[0].handle, "");
	ck_assert_str_eq(b.ups[0].text, "plain");
	ck_assert_int_eq(b.ups[0].at_ms, 1790000000000LL);
	ck_assert_str_eq(b.ups[1].message_id, "101");
	ck_assert_str_eq(b.ups[1].text, "[sticker]");
	ck_assert_str_eq(b.ups[2].platform_id, "-1001234567890");
	ck_assert_str_eq(b.ups[2].handle, "cy");
	ck_assert_str_eq(b.ups[2].name, "Cy");
	ck_assert_str_eq(b.ups[2].text, "ms date");
	ck_assert_int_eq(b.ups[2].at_ms, 1790000003123LL);
	ck_assert_str_eq(b.next_offset, "15");
	transport_batch_release(&b);

	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(reqs,
	    0), "path")), "/bot" T_TOKEN "/getUpdates");
	body = fault_body(reqs, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(body, "offset")),
	    10);
	ck_assert_int_eq(json_integer_value(json_object_get(body, "timeout")),
	    0);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(body,
	    "allowed_updates"), 0)), "message");
	json_decref(body);
	json_decref(reqs);

	/* No offset yet: none sent; no updates: the offset stays. */
	ck_assert_int_eq(tg_poll_try("[{\"json\": {\"ok\": true, \"result\": "
	    "[]}}]", "", 0, &b, &res, &reqs), 0);
	ck_assert_uint_eq(b.n, 0);
	ck_assert_str_eq(b.next_offset, "");
	body = fault_body(reqs, 0);
	ck_assert_ptr_null(json_object_get(body, "offset"));
	json_decref(body);
	json_decref(reqs);
}
END_TEST

/* parse SRC (a getUpdates body) into b; asserts it parses. */
static void
tg_parse_ok(const char *src, size_t len, struct transport_batch *b)
{
	struct transport_result res;

	ck_assert_msg(transport_telegram_parse(src, len, b, &res) == 0,
	    "parse failed: %s", res.error);
}

#define TG_MSG(uid, rest) "{\"update_id\": " #uid ", \"message\": {" \
	"\"from\": {\"id\": 5, \"first_name\": \"Bo\"}, \"chat\": {\"id\": 5}, " \
	"\"date\": 1790000000, " rest "}}"

/* One unreadable update skips only itself: the ones after it are read
 * and the offset moves past all of them. */
START_TEST(test_tg_parse_unreadable)
{
	static const char body[] = "{\"ok\": true, \"result\": ["
	    TG_MSG(20, "\"message_id\": 1, \"text\": \"bad \\ud800 one\"") ","
	    TG_MSG(21, "\"message_id\": 2, \"text\": \"nul \\u0000 here\"") ","
	    TG_MSG(22, "\"message_id\": 3, \"text\": \"raw \xff\xfe bytes\"") ","
	    TG_MSG(23, "\"message_id\": 4, \"text\": 42") ","
	    "{\"update_id\": 24, \"message\": {\"message_id\": 5, "
	    "\"text\": \"no chat\"}},"
	    TG_MSG(25, "\"message_id\": \"" "0123456789012345678901234567890123"
	    "456789012345678901234567890123456789\", \"text\": \"long id\"") ","
	    "{\"message\": {\"text\": \"no update id\"}},"
	    TG_MSG(26, "\"message_id\": 6, \"text\": \"pair \\ud83d\\ude00 ok\"")
	    "," TG_MSG(27, "\"text\": \"no message id\"") "]}";
	struct transport_batch b;

	tg_parse_ok(body, sizeof(body) - 1, &b);
	ck_assert_uint_eq(b.n, 2);
	ck_assert_str_eq(b.ups[0].text, "pair \xf0\x9f\x98\x80 ok");
	ck_assert_str_eq(b.ups[0].message_id, "6");
	ck_assert_str_eq(b.ups[1].text, "no message id");
	ck_assert_str_eq(b.ups[1].message_id, "u27");
	ck_assert_uint_eq(b.skipped, 7);
	ck_assert_ptr_nonnull(strstr(b.skip_why, "update 20"));
	ck_assert_str_eq(b.next_offset, "28");
	transport_batch_release(&b);

	/* A lone low surrogate, an escape cut short, one bad update only. */
	tg_parse_ok("{\"ok\": true, \"result\": [" TG_MSG(30, "\"message_id\": "
	    "1, \"text\": \"x\\udc00\"") "]}", strlen("{\"ok\": true, "
	    "\"result\": [" TG_MSG(30, "\"message_id\": 1, \"text\": "
	    "\"x\\udc00\"") "]}"), &b);
	ck_assert_uint_eq(b.n, 0);
	ck_assert_uint_eq(b.skipped, 1);
	ck_assert_str_eq(b.next_offset, "31");
	transport_batch_release(&b);
}
END_TEST

/* Structure that is not JSON at all is the whole answer's fault. */
START_TEST(test_tg_parse_garbage)
{
	static const char *const bad[] = {
		"", "{", "[]", "{\"ok\": false}", "{\"ok\": true}",
		"{\"ok\": true, \"result\": {}}", "\xff\xff",
		"{\"ok\": true, \"result\": [\"\\u", "{\"ok\": true, \"result\": [\"\\",
	};
	struct transport_result res;
	struct transport_batch b;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(transport_telegram_parse(bad[i],
		    strlen(bad[i]), &b, &res), -1);
		ck_assert_int_eq(res.status, TRANSPORT_RETRY);
		ck_assert_uint_eq(b.n, 0);
	}
	/* Updates that are not for us, and none at all. */
	tg_parse_ok("{\"ok\": true, \"result\": [1, \"x\", {\"update_id\": 3}]}",
	    strlen("{\"ok\": true, \"result\": [1, \"x\", {\"update_id\": "
	    "3}]}"), &b);
	ck_assert_uint_eq(b.n, 0);
	ck_assert_uint_eq(b.skipped, 2);
	ck_assert_str_eq(b.next_offset, "4");
	transport_batch_release(&b);
}
END_TEST

/* Media arrive as readable placeholders. */
START_TEST(test_tg_parse_media)
{
	static const char body[] = "{\"ok\": true, \"result\": ["
	    TG_MSG(1, "\"message_id\": 1, \"sticker\": {\"emoji\": \"\\ud83d\\ude00\"}") ","
	    TG_MSG(2, "\"message_id\": 2, \"photo\": [{\"file_id\": \"p\"}]") ","
	    TG_MSG(3, "\"message_id\": 3, \"photo\": [], \"caption\": \"my cat\"") ","
	    TG_MSG(4, "\"message_id\": 4, \"voice\": {\"duration\": 5}") ","
	    TG_MSG(5, "\"message_id\": 5, \"document\": {\"file_name\": \"cv.pdf\"}") ","
	    TG_MSG(6, "\"message_id\": 6, \"location\": {\"latitude\": 38.72, "
	    "\"longitude\": -9.14}") ","
	    TG_MSG(7, "\"message_id\": 7, \"contact\": {\"first_name\": \"Al\", "
	    "\"phone_number\": \"+1\"}") ","
	    TG_MSG(8, "\"message_id\": 8, \"video\": {\"duration\": 12}") ","
	    TG_MSG(9, "\"message_id\": 9, \"animation\": {}, \"document\": {}") ","
	    TG_MSG(10, "\"message_id\": 10, \"new_chat_title\": \"x\"") "]}";
	static const char *const want[] = {
		"[sticker \xf0\x9f\x98\x80]", "[photo]", "[photo] my cat",
		"[voice note 5 s]", "[document cv.pdf]",
		"[location 38.72000, -9.14000]", "[contact Al]", "[video 12 s]",
		"[GIF]", "[unsupported message]",
	};
	struct transport_batch b;
	size_t i;

	tg_parse_ok(body, sizeof(body) - 1, &b);
	ck_assert_uint_eq(b.n, 10);
	for (i = 0; i < b.n; i++)
		ck_assert_str_eq(b.ups[i].text, want[i]);
	transport_batch_release(&b);
}
END_TEST

/* Dates far ahead, before 2000 or missing are the receive time. */
START_TEST(test_tg_parse_dates)
{
	char body[1024];
	struct transport_batch b;
	int64_t before, after;

	(void)snprintf(body, sizeof(body), "{\"ok\": true, \"result\": ["
	    TG_MSG(1, "\"message_id\": 1, \"text\": \"ok\"") ","
	    "{\"update_id\": 2, \"message\": {\"message_id\": 2, \"chat\": "
	    "{\"id\": 5}, \"date\": 4102444800, \"text\": \"2100\"}},"
	    "{\"update_id\": 3, \"message\": {\"message_id\": 3, \"chat\": "
	    "{\"id\": 5}, \"date\": 900000000, \"text\": \"1998\"}},"
	    "{\"update_id\": 4, \"message\": {\"message_id\": 4, \"chat\": "
	    "{\"id\": 5}, \"date\": %lld, \"text\": \"ms, an hour ahead\"}},"
	    "{\"update_id\": 5, \"message\": {\"message_id\": 5, \"chat\": "
	    "{\"id\": 5}, \"date\": 9223372036854775807, \"text\": \"max\"}}"
	    "]}", (long long)(clock_now_ms() + 3600 * 1000));
	before = clock_now_ms();
	tg_parse_ok(body, strlen(body), &b);
	after = clock_now_ms();
	ck_assert_uint_eq(b.n, 5);
	ck_assert_int_eq(b.ups[0].at_ms, 1790000000000LL);
	for (size_t i = 1; i < 5; i++) {
		ck_assert_int_ge(b.ups[i].at_ms, before);
		ck_assert_int_le(b.ups[i].at_ms, after);
	}
	transport_batch_release(&b);
}
END_TEST

/* UTF-16 code units of s[0..len). */
static size_t
units16(const char *s, size_t len)
{
	size_t i, u = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c & 0xc0) != 0x80)
			u += c >= 0xf0 ? 2 : 1;
	}
	return u;
}

/* Long replies: parts within the limit (in UTF-16 units), cut after a
 * sentence or at a space, nothing lost but the whitespace at the cuts. */
START_TEST(test_split)
{
	struct cfg_transport tg, con;
	struct transport_part *p;
	char *text, *join;
	size_t n, i, o = 0, k;

	memset(&tg, 0, sizeof(tg));
	strlcpy(tg.driver, "telegram", sizeof(tg.driver));
	memset(&con, 0, sizeof(con));
	strlcpy(con.driver, "console", sizeof(con.driver));
	/* short: one part */
	ck_assert_int_eq(transport_split(&tg, "Hello there.", 0, &p, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(p[0].len, 12);
	free(p);
	/* sentences of 30 bytes with emoji (2 units, 4 bytes) */
	text = malloc(20000);
	ck_assert_ptr_nonnull(text);
	for (i = 0; o + 40 < 20000 - 1; i++)
		o += (size_t)snprintf(text + o, 20000 - o, "Sentence %04zu "
		    "\xf0\x9f\x98\x80 here. ", i);
	text[o - 1] = '\0';
	ck_assert_int_eq(transport_split(&tg, text, 0, &p, &n), 0);
	ck_assert_uint_gt(n, 4);
	join = calloc(1, 20000);
	for (i = 0; i < n; i++) {
		ck_assert_uint_le(units16(text + p[i].off, p[i].len),
		    TRANSPORT_TG_MAX_UNITS);
		if (i + 1 < n)
			ck_assert_uint_ge(units16(text + p[i].off, p[i].len),
			    TRANSPORT_TG_MAX_UNITS / 2);
		ck_assert_int_eq(text[p[i].off + p[i].len - 1], '.');
		ck_assert_int_eq(text[p[i].off], 'S');
		memcpy(join + strlen(join), text + p[i].off, p[i].len);
		if (i + 1 < n)
			join[strlen(join)] = ' ';
	}
	ck_assert_str_eq(join, text);
	free(join);
	free(p);
	/* other drivers: one part however long */
	ck_assert_int_eq(transport_split(&con, text, 0, &p, &n), 0);
	ck_assert_uint_eq(n, 1);
	free(p);
	free(text);
	/* no sentence: at a space; no space: between characters */
	ck_assert_int_eq(transport_split(&tg, "aaaa bbbb cccc", 7, &p, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(p[0].len, 4);
	ck_assert_uint_eq(p[1].off, 5);
	free(p);
	ck_assert_int_eq(transport_split(&tg, "\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xf0\x9f\x98\x80", 3, &p, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(p[0].len, 6);
	ck_assert_uint_eq(p[1].len, 4);
	for (k = 0; k < n; k++)
		ck_assert_uint_le(units16(&("\xc3\xa9\xc3\xa9\xc3\xa9"
		    "\xf0\x9f\x98\x80")[p[k].off], p[k].len), 3);
	free(p);
}
END_TEST

/* Polling delivers nothing, so every transient failure just retries. */
START_TEST(test_tg_poll_faults)
{
	struct transport_result res;
	struct transport_batch b;

	ck_assert_int_eq(tg_poll_try("[{\"status\": 500}]", "", 0, &b, &res,
	    NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);
	ck_assert_uint_eq(b.n, 0);
	ck_assert_ptr_null(b.ups);

	ck_assert_int_eq(tg_poll_try("[{\"json\": {\"ok\": true}, "
	    "\"delay_ms\": 10000}]", "", 300, &b, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);

	ck_assert_int_eq(tg_poll_try("[{\"drop\": true}]", "", 0, &b, &res,
	    NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);

	ck_assert_int_eq(tg_poll_try("[{\"body\": \"{\\\"ok\\\": tr\"}]", "",
	    0, &b, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);
	ck_assert_ptr_nonnull(strstr(res.error, "malformed"));

	ck_assert_int_eq(tg_poll_try("[{\"json\": {\"ok\": true, \"result\": "
	    "{}}}]", "", 0, &b, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);

	ck_assert_int_eq(tg_poll_try("[{\"status\": 409, \"json\": {\"ok\": "
	    "false, \"error_code\": 409, \"description\": \"Conflict: "
	    "terminated by other getUpdates request\"}}]", "", 0, &b, &res,
	    NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_RETRY);

	ck_assert_int_eq(tg_poll_try("[{\"status\": 401, \"json\": {\"ok\": "
	    "false, \"error_code\": 401, \"description\": \"Unauthorized\"}}]",
	    "", 0, &b, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_ptr_nonnull(strstr(res.error, "'" T_TOKEN_ENV "'"));

	ck_assert_int_eq(tg_poll_try("[{\"json\": {\"ok\": true, \"result\": "
	    "[]}}]", "12abc", 0, &b, &res, NULL), -1);
	ck_assert_int_eq(res.status, TRANSPORT_FATAL);
	ck_assert_ptr_nonnull(strstr(res.error, "'12abc'"));
}
END_TEST

Suite *
suite_transport(void)
{
	Suite *s = suite_create("transport");
	TCase *tc;

	tc = t_tcase("dispatch");
	tcase_add_test(tc, test_known);
	tcase_add_test(tc, test_poll_nothing);
	suite_add_tcase(s, tc);

	tc = t_tcase("console");
	tcase_add_test(tc, test_console_line);
	tcase_add_test(tc, test_console_appends);
	tcase_add_test(tc, test_console_default_path);
	tcase_add_test(tc, test_console_error);
	tcase_add_test(tc, test_console_concurrent);
	suite_add_tcase(s, tc);

	tc = t_tcase("webhook");
	tcase_add_test(tc, test_webhook_body);
	tcase_add_test(tc, test_webhook_2xx);
	tcase_add_test(tc, test_webhook_retry);
	tcase_add_test(tc, test_webhook_fatal);
	tcase_add_test(tc, test_webhook_unknown);
	tcase_add_test(tc, test_webhook_refused);
	suite_add_tcase(s, tc);

	tc = t_tcase("telegram_emulator");
	tcase_add_test(tc, test_tg_poll);
	tcase_add_test(tc, test_tg_skip_bots);
	tcase_add_test(tc, test_tg_conversation);
	tcase_add_test(tc, test_tg_token);
	suite_add_tcase(s, tc);

	tc = t_tcase("telegram_faults");
	tcase_add_test(tc, test_tg_send_request);
	tcase_add_test(tc, test_tg_flood);
	tcase_add_test(tc, test_tg_blocked);
	tcase_add_test(tc, test_tg_bad_request);
	tcase_add_test(tc, test_tg_redact);
	tcase_add_test(tc, test_tg_unknown);
	tcase_add_test(tc, test_tg_refused);
	tcase_add_test(tc, test_tg_typing);
	tcase_add_test(tc, test_tg_poll_shapes);
	tcase_add_test(tc, test_tg_parse_unreadable);
	tcase_add_test(tc, test_tg_parse_garbage);
	tcase_add_test(tc, test_tg_parse_media);
	tcase_add_test(tc, test_tg_parse_dates);
	tcase_add_test(tc, test_split);
	tcase_add_test(tc, test_tg_poll_faults);
	suite_add_tcase(s, tc);
	return s;
}
