# peers.sh: start and stop the HTTP peers of dater's tests on loopback.
# Source it from a POSIX shell script (sh, dash, bash):
#
#   . tests/peers/peers.sh
#   trap peers_stop_all EXIT
#   trap 'exit 1' INT TERM HUP      # dash runs no EXIT trap on a signal
#   peers_mock_llm_start            # sets MOCK_LLM_URL, MOCK_LLM_PID
#   peers_fault_start '[{"status": 500}]' "$tmp/fault.log"
#                                   # sets FAULT_URL, FAULT_PID, FAULT_LOG
#   ... base_url = "$MOCK_LLM_URL" ...   (chat completions under it)
#   peers_stop "$FAULT_PID"         # one peer
#   peers_stop_all                  # every peer this shell started
#
# Every peer runs in its own process group (setsid), so stopping it also
# stops what it spawned (npx -> node). Waits are bounded (PEERS_WAIT_S,
# default 20 s); a peer that does not come up is an error (return 1, with
# its output on stderr). Needs node, and tests/node_modules from
# ./.ci/deps.sh (npm ci); npx runs with --no-install, never the network.
#
# peers_mock_llm_start [YAML]
#	mock-llm with YAML (default tests/peers/mock-llm.yaml, see the rules
#	and markers there) on a free port: HOST=127.0.0.1 PORT=<port> npx
#	mock-llm, run in tests/peers (which holds mock-llm.yaml).
#	Returns when GET /health answers. MOCK_LLM_URL is the base URL for
#	dater's llm.base_url (http://127.0.0.1:PORT/v1).
# peers_fault_start SCRIPT [LOG]
#	tests/peers/fault.js with SCRIPT (a file, or the JSON text; the format
#	is at the top of fault.js), logging requests as JSON lines to LOG
#	(default: a file in PEERS_TMP). FAULT_URL is http://127.0.0.1:PORT.
# peers_free_port
#	prints a TCP port that was free on 127.0.0.1 a moment ago.

# Where this file is: bash knows; other shells may say so in PEERS_SH
# before sourcing; else the repository's root is the current directory.
_peers_src=${PEERS_SH:-${BASH_SOURCE:-tests/peers/peers.sh}}
PEERS_DIR=$(cd "$(dirname -- "$_peers_src")" 2>/dev/null && pwd)
if [ ! -f "$PEERS_DIR/fault.js" ]; then
	echo "peers: cannot find tests/peers (set PEERS_SH)" >&2
	return 1
fi
PEERS_TESTS=$(dirname -- "$PEERS_DIR")
PEERS_WAIT_S=${PEERS_WAIT_S:-20}
PEERS_PIDS=""
PEERS_TMP=""
PEERS_SEQ=0

peers_tmp() {
	if [ -z "$PEERS_TMP" ]; then
		PEERS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/dater-peers.XXXXXX") ||
		    return 1
	fi
}

peers_free_port() {
	node -e '
const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => {
	console.log(s.address().port);
	s.close();
});'
}

# peers_spawn NAME DIR CMD...: run CMD in DIR in a new session (so in
# its own process group), output to $PEERS_OUT; sets PEERS_LAST to the
# process group id.
peers_spawn() {
	_name=$1 _dir=$2
	shift 2
	PEERS_SEQ=$((PEERS_SEQ + 1))
	PEERS_OUT=$PEERS_TMP/$_name.$PEERS_SEQ.out
	_pidf=$PEERS_TMP/$_name.$PEERS_SEQ.pid
	(cd "$_dir" && exec setsid sh -c 'echo $$ > "$0"; exec "$@"' \
	    "$_pidf" "$@") >"$PEERS_OUT" 2>&1 </dev/null &
	_n=0
	while [ ! -s "$_pidf" ]; do
		_n=$((_n + 1))
		[ $_n -le $((PEERS_WAIT_S * 100)) ] || return 1
		sleep 0.01
	done
	PEERS_LAST=$(cat "$_pidf")
	PEERS_PIDS="$PEERS_PIDS $PEERS_LAST"
}

# peers_alive PGID: whether the peer's leader still runs.
peers_alive() {
	kill -0 "$1" 2>/dev/null
}

peers_mock_llm_start() {
	_yaml=${1:-$PEERS_DIR/mock-llm.yaml}
	peers_tmp || return 1
	[ -f "$_yaml" ] || { echo "peers: no rules '$_yaml'" >&2; return 1; }
	_yaml=$(cd "$(dirname -- "$_yaml")" && pwd)/$(basename -- "$_yaml")
	for _try in 1 2 3; do
		_port=$(peers_free_port) || return 1
		# In tests/peers, npx finds mock-llm in tests/node_modules
		# and mock-llm finds ./mock-llm.yaml (--config: another file).
		peers_spawn mock-llm "$PEERS_DIR" env HOST=127.0.0.1 \
		    PORT="$_port" npx --no-install mock-llm --config "$_yaml" ||
		    return 1
		_pid=$PEERS_LAST
		_n=0
		while peers_alive "$_pid" &&
		    [ $_n -lt $((PEERS_WAIT_S * 20)) ]; do
			if curl -fsS -o /dev/null --max-time 1 \
			    "http://127.0.0.1:$_port/health" 2>/dev/null; then
				MOCK_LLM_PID=$_pid
				MOCK_LLM_URL="http://127.0.0.1:$_port/v1"
				export MOCK_LLM_PID MOCK_LLM_URL
				return 0
			fi
			_n=$((_n + 1))
			sleep 0.05
		done
		peers_stop "$_pid"
		# Lost the port to someone else: try another one.
		grep -q EADDRINUSE "$PEERS_OUT" || break
	done
	echo "peers: mock-llm did not start:" >&2
	cat "$PEERS_OUT" >&2
	return 1
}

peers_fault_start() {
	[ $# -ge 1 ] || { echo "usage: peers_fault_start SCRIPT [LOG]" >&2;
	    return 1; }
	peers_tmp || return 1
	FAULT_LOG=${2:-$PEERS_TMP/fault.$$.$(date +%s%N).log}
	case $FAULT_LOG in
	/*) ;;
	*) FAULT_LOG=$(pwd)/$FAULT_LOG ;;
	esac
	_script=$1
	case $_script in
	'['* | '{'* | /*) ;;
	*) _script=$(pwd)/$_script ;;
	esac
	peers_spawn fault "$PEERS_DIR" node fault.js --log "$FAULT_LOG" \
	    "$_script" || return 1
	_pid=$PEERS_LAST
	_n=0
	while peers_alive "$_pid" && [ $_n -lt $((PEERS_WAIT_S * 100)) ]; do
		_port=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$PEERS_OUT")
		if [ -n "$_port" ]; then
			FAULT_PID=$_pid
			FAULT_URL="http://127.0.0.1:$_port"
			export FAULT_PID FAULT_URL FAULT_LOG
			return 0
		fi
		_n=$((_n + 1))
		sleep 0.01
	done
	peers_stop "$_pid"
	echo "peers: fault.js did not start:" >&2
	cat "$PEERS_OUT" >&2
	return 1
}

# peers_stop PGID: TERM the peer's process group, KILL it after 2 s.
peers_stop() {
	_pg=$1
	[ -n "$_pg" ] || return 0
	kill -TERM -- "-$_pg" 2>/dev/null || return 0
	_n=0
	while kill -0 -- "-$_pg" 2>/dev/null && [ $_n -lt 200 ]; do
		_n=$((_n + 1))
		sleep 0.01
	done
	kill -KILL -- "-$_pg" 2>/dev/null
	_rest=""
	for _p in $PEERS_PIDS; do
		[ "$_p" = "$_pg" ] || _rest="$_rest $_p"
	done
	PEERS_PIDS=$_rest
	return 0
}

peers_stop_all() {
	for _p in $PEERS_PIDS; do
		peers_stop "$_p"
	done
	if [ -n "$PEERS_TMP" ]; then
		rm -rf "$PEERS_TMP"
		PEERS_TMP=""
	fi
}
