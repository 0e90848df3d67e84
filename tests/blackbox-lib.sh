# Shared helpers for the black-box tests (tests/t_*.sh), sourced by them.
#
# Gives each test: $BIN (the built binaries), $TMP (a private temp dir,
# removed on exit), $DB and $CONF paths inside it, assertions that count
# failures and go on, bounded waits, and background workers started in
# their own process group so that cleanup kills the whole tree.
#
# Reads the database with the sqlite3 CLI (Debian package `sqlite3`).
# Never depends on the repository's etc/dater.conf: every command gets
# -c "$CONF" explicitly.

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/bin
TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dater-$TEST_NAME.XXXXXX") || exit 70
DB=$TMP/dater.db
CONF=$TMP/dater.conf
unset DATER_CONFIG DATER_DB
# Tables in full: dater-report fits them to $COLUMNS when it is set.
unset COLUMNS

BG_PIDS=()		# process-group leaders started by start_bg
N_OK=0
N_FAIL=0

bb_cleanup() {
	local p
	for p in "${BG_PIDS[@]}"; do
		kill -KILL -- "-$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap bb_cleanup EXIT
trap 'echo "$TEST_NAME: interrupted" >&2; exit 130' INT TERM HUP

for _p in dater-migrate dater-enqueue dater-worker; do
	if [ ! -x "$BIN/$_p" ]; then
		echo "Bail out! $BIN/$_p is not built (run make)" >&2
		exit 1
	fi
done

# ---- assertions --------------------------------------------------------

ok() {
	N_OK=$((N_OK + 1))
	echo "ok - $*"
}

fail() {
	N_FAIL=$((N_FAIL + 1))
	echo "not ok - $*"
}

# Print an indented diagnostic (after a failure).
note() {
	sed 's/^/#   /'
}

# check DESC CMD...: passes if CMD succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then
		ok "$desc"
	else
		fail "$desc"
		echo "#   command failed: $*"
	fi
}

# is ACTUAL EXPECTED DESC
is() {
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		fail "$3"
		printf '#   got:      %s\n#   expected: %s\n' "$1" "$2"
	fi
}

# isnt ACTUAL UNEXPECTED DESC
isnt() {
	if [ "$1" != "$2" ]; then
		ok "$3"
	else
		fail "$3"
		printf '#   got %s, expected anything else\n' "$1"
	fi
}

# like TEXT REGEX DESC (grep -E)
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		ok "$3"
	else
		fail "$3"
		printf '#   expected to match /%s/, got:\n' "$2"
		printf '%s\n' "$1" | head -20 | note
	fi
}

unlike() {
	if ! printf '%s\n' "$1" | grep -Eq -- "$2"; then
		ok "$3"
	else
		fail "$3"
		printf '#   expected not to match /%s/, got:\n' "$2"
		printf '%s\n' "$1" | head -20 | note
	fi
}

# Stop the test now (a step later ones depend on failed).
die() {
	fail "$*"
	bb_done
}

# End of a test: exit 0 only if every assertion passed.
bb_done() {
	echo "# $TEST_NAME: $N_OK passed, $N_FAIL failed"
	[ "$N_FAIL" -eq 0 ] && [ "$N_OK" -gt 0 ]
	exit $?
}

# ---- running commands --------------------------------------------------

# run CMD...: runs it with stdin from /dev/null unless redirected by the
# caller; sets OUT, ERR and RC.
run() {
	"$@" >"$TMP/.out" 2>"$TMP/.err"
	RC=$?
	OUT=$(cat "$TMP/.out")
	ERR=$(cat "$TMP/.err")
}

# run_in FILE CMD...: the same with stdin from FILE.
run_in() {
	local in=$1
	shift
	"$@" <"$in" >"$TMP/.out" 2>"$TMP/.err"
	RC=$?
	OUT=$(cat "$TMP/.out")
	ERR=$(cat "$TMP/.err")
}

migrate() { "$BIN/dater-migrate" -q -c "$CONF" -d "$DB" up >/dev/null; }
enqueue() { "$BIN/dater-enqueue" -c "$CONF" -d "$DB" "$@"; }
drain() { "$BIN/dater-worker" -c "$CONF" -d "$DB" --drain "$@"; }

# replay_jobs: feed every job in $DB (type and payload) to dater-enqueue,
# into a scratch database: the jobs dater made itself must pass the
# checks a user's job gets. Sets OUT, ERR and RC as run does.
replay_jobs() {
	local db=$TMP/replay.db
	rm -f "$db" "$db-wal" "$db-shm"
	"$BIN/dater-migrate" -q -c "$CONF" -d "$db" up >/dev/null || return 1
	q "SELECT json_object('type', type, 'payload', json(payload))
	   FROM jobs ORDER BY id" >"$TMP/replay.jsonl"
	run_in "$TMP/replay.jsonl" "$BIN/dater-enqueue" -q -c "$CONF" -d "$db" -
}

# q SQL: query the test database (prints rows, '|' between columns).
q() {
	sqlite3 -batch -cmd '.timeout 10000' "$DB" "$@"
}

state_of() { q "SELECT state FROM jobs WHERE id = $1"; }
count_jobs() { q "SELECT count(*) FROM jobs ${1:+WHERE $1}"; }

now_ms() { date +%s%3N; }

# A config with short retry/lease settings: write_conf [WORKER [EXTRA]]
# where WORKER replaces the worker group's settings and EXTRA is appended.
write_conf() {
	local worker='heartbeat = "200ms"; lease = "1s"; poll_interval = "200ms";
           restart_backoff_max = "200ms";'
	[ -n "${1:-}" ] && worker=$1
	cat >"$CONF" <<EOF
queue = { retry_base = "50ms"; retry_cap = "200ms"; };
worker = { $worker };
${2:-}
EOF
}

# ---- processes and waiting ---------------------------------------------

# Is PID alive (and not a zombie)? No fork: the chaos loop calls this.
alive() {
	local line=
	read -r line 2>/dev/null <"/proc/$1/stat" || return 1
	line=${line##*) }
	line=${line%% *}
	[ -n "$line" ] && [ "$line" != Z ] && [ "$line" != X ]
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds; 1 if it
# never did. Bounds every wait so that a hang cannot stall CI.
wait_for() {
	local deadline=$(($(date +%s) + $1))
	shift
	while ! "$@"; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			return 1
		fi
		sleep 0.1
	done
	return 0
}

# start_bg LOG CMD...: start CMD in the background in a process group of
# its own (killed with all its children at exit); BG gets its pid.
start_bg() {
	local log=$1
	shift
	setsid "$@" >>"$log" 2>&1 &
	BG=$!
	BG_PIDS+=("$BG")
}

# wait_exit PID SECONDS: wait for a background process to exit within a
# bound; sets RC to its status (or 124 if it did not exit, after
# killing its process group).
wait_exit() {
	if wait_for "$2" eval '! alive '"$1"; then
		wait "$1" 2>/dev/null
		RC=$?
	else
		kill -KILL -- "-$1" 2>/dev/null
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		RC=124
	fi
}

# The live children of a process (the worker processes of a supervisor),
# read from /proc so that neither procps nor a fork per process is needed.
children() {
	local f line st ppid
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		line=${line##*) }	# "STATE PPID ..." after "PID (COMM) "
		st=${line%% *}
		line=${line#* }
		ppid=${line%% *}
		if [ "$ppid" = "$1" ] && [ "$st" != Z ] && [ "$st" != X ]; then
			f=${f#/proc/}
			echo "${f%/stat}"
		fi
	done
}

# Drain in a bounded loop until CONDITION (a shell expression) holds:
# for jobs that back off (a drain exits while nothing is due).
drain_until() {
	local secs=$1 cond=$2 deadline
	deadline=$(($(date +%s) + secs))
	while ! eval "$cond"; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			return 1
		fi
		drain -q >>"$TMP/drain.log" 2>&1
		sleep 0.05
	done
	return 0
}
