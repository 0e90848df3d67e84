/*
 * check_peers.h: HTTP peers on loopback for the Check suites
 * (tests/check_peers.c): tests/peers/fault.js, the scriptable fault
 * server, and mock-llm, the OpenAI-compatible peer (rules and markers in
 * tests/peers/mock-llm.yaml). Each runs as a child process in its own
 * process group, bound to 127.0.0.1 on a free port, and gets SIGTERM if
 * the process that started it dies (a failed test leaves nothing behind).
 *
 * The peers live in tests/peers beside tests/node_modules; tests run from
 * the repository's root (as `make unit` does), or $DATER_TESTS names the
 * tests directory. Every helper fails the running test on error; every
 * wait is bounded (T_PEER_WAIT_MS).
 *
 * A peer may be started inside a test (it dies with the test's process),
 * or once for a TCase from an unchecked fixture (tcase_add_unchecked_
 * fixture), whose values the forked tests inherit.
 */
#ifndef CHECK_PEERS_H
#define CHECK_PEERS_H

#include <jansson.h>
#include <limits.h>
#include <sys/types.h>

#define T_PEER_WAIT_MS 20000

struct t_peer {
	pid_t pid;		/* 0: not running */
	int port;
	char url[128];		/* fault: http://127.0.0.1:PORT;
				 * mock-llm: http://127.0.0.1:PORT/v1 */
	char dir[PATH_MAX];	/* temp dir: the peer's output and log */
	char log[PATH_MAX];	/* fault: the request log (JSON lines) */
};

/* The tests directory (holding peers/ and node_modules/). */
const char *t_tests_dir(void);

/*
 * Start tests/peers/fault.js with script, the JSON text of a script
 * (format at the top of fault.js). Returns when it listens.
 */
void t_fault_start(struct t_peer *p, const char *script);

/* Start mock-llm with tests/peers/mock-llm.yaml; returns when it
 * listens. */
void t_mock_llm_start(struct t_peer *p);

/* Stop the peer (SIGTERM to its group, SIGKILL after 2 s), reap it and
 * remove its dir. Safe on a stopped or zeroed peer. */
void t_peer_stop(struct t_peer *p);

/*
 * The requests fault.js has logged so far: a new reference to an array
 * of objects {"method", "path", "headers", "body", "at_ms", "route",
 * "step"}; the caller json_decref()s it.
 */
json_t *t_fault_requests(const struct t_peer *p);

/* A TCP port on 127.0.0.1 where nothing listens (bound, then closed). */
int t_free_port(void);

#endif
