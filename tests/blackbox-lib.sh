# Shared helpers for the black-box tests (tests/t_*.sh), sourced by them.
#
# Gives each test: $BIN (the built binaries), $TMP (a private temp dir,
# removed on exit), $DB and $CONF paths inside it, assertions that count
# failures and go on, bounded waits, and background workers started in
# their own process group so that cleanup kills the whole tree.
#
# Reads the database with the sqlite3 CLI (Debian package `sqlite3`), or
# with psql on the PostgreSQL pass. Never depends on the repository's
# etc/dater.conf: every command gets -c "$CONF" explicitly.
#
# Two backends (issue 12). By default $DB is a SQLite file in $TMP. With
# DATER_TEST_PG set to the URI of a PostgreSQL database whose role may
# CREATE DATABASE (what `tests/pg-cluster.sh start DIR` prints; `make
# check-pg` sets it), each test gets a fresh empty database of its own
# instead, dropped at exit, and $DB and $DATER_DB are its URI. Tests
# query it through q (dbq), whose SQL must then work on both: standard
# SQL, with the helpers jx, jxn, jlen, jeach and agg for what the two
# spell differently (JSON, string aggregation). A test (or a part) that
# is about the SQLite file itself starts with sqlite_only (or tests
# is_pg), so the PostgreSQL pass skips it.

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
	is_pg && pg_drop_all
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

# ---- the database: SQLite file or PostgreSQL URI ------------------------

is_pg() { [ -n "${DATER_TEST_PG:-}" ]; }

# pg_uri NAME: $DATER_TEST_PG with its database name replaced by NAME
# (scheme://[authority]/NAME[?query]).
pg_uri() {
	local base=${DATER_TEST_PG%%\?*} query= rest
	[ "$base" != "$DATER_TEST_PG" ] && query=?${DATER_TEST_PG#*\?}
	rest=${base#*://}
	printf '%s://%s/%s%s\n' "${base%%://*}" "${rest%%/*}" "$1" "$query"
}

# pg_admin SQL: run SQL in the database $DATER_TEST_PG names.
# (PGOPTIONS: no NOTICE lines, as for DROP ... IF EXISTS, on stderr.)
pg_admin() {
	PGOPTIONS='-c client_min_messages=warning' \
	    psql -X -q -v ON_ERROR_STOP=1 -d "$DATER_TEST_PG" -c "$1" >/dev/null
}

# This test's databases are PG_BASE and PG_BASE_NAME (new_db), so that
# bb_cleanup finds them all, also those a subshell made.
PG_BASE=$(printf 't_%s_%s' "${TEST_NAME#t_}" $$ | tr -c 'a-z0-9_\n' _)

# pg_drop_all: drop the databases of this test (at exit).
pg_drop_all() {
	local d
	for d in $(psql -X -A -t -q -d "$DATER_TEST_PG" -c "SELECT datname
	    FROM pg_database WHERE datname = '$PG_BASE'
	    OR datname LIKE '$PG_BASE\\_%'" 2>/dev/null); do
		pg_admin "DROP DATABASE IF EXISTS $d WITH (FORCE)" 2>/dev/null
	done
}

# new_db NAME: print the location of a fresh, empty database for the
# test's own use besides $DB: $TMP/NAME.db, or a new PostgreSQL database
# (PG_BASE_NAME) on the PostgreSQL pass. Again for the same NAME: empty
# again.
new_db() {
	if is_pg; then
		pg_admin "DROP DATABASE IF EXISTS ${PG_BASE}_$1 WITH (FORCE)" &&
		    pg_admin "CREATE DATABASE ${PG_BASE}_$1" || return 1
		pg_uri "${PG_BASE}_$1"
	else
		rm -f "$TMP/$1.db" "$TMP/$1.db-wal" "$TMP/$1.db-shm"
		printf '%s\n' "$TMP/$1.db"
	fi
}

# sqlite_only WHY: the rest of the test is about SQLite itself (its file,
# its locks, its shell): on the PostgreSQL pass, stop here, passed with
# a SKIP line. At the top of a test, the whole test is skipped.
sqlite_only() {
	is_pg || return 0
	echo "ok - # SKIP on PostgreSQL: $*"
	echo "# $TEST_NAME: skipped the rest (SQLite only)"
	exit 0
}

# $DATER_DB stays unset: every helper passes -d "$DB", and a command a
# test runs without -d must not find the test's database by accident.
if is_pg; then
	command -v psql >/dev/null ||
		{ echo "Bail out! DATER_TEST_PG is set but psql is not here" >&2
		  exit 1; }
	pg_admin "CREATE DATABASE $PG_BASE" ||
		{ echo "Bail out! cannot create the database $PG_BASE" \
		    "(DATER_TEST_PG=$DATER_TEST_PG)" >&2; exit 1; }
	DB=$(pg_uri "$PG_BASE")
fi

# q SQL (also dbq): query the test database; prints rows as the sqlite3
# shell's list mode does: one line each, '|' between columns, NULL as
# an empty string; no header. SQL that must run on both backends keeps
# to standard SQL and the helpers below. A shell dot-command (.dump) is
# SQLite only.
q() {
	if is_pg; then
		PGOPTIONS='-c client_min_messages=warning' \
		    psql -X -A -t -q -v ON_ERROR_STOP=1 -F '|' -P null= \
		    -d "$DB" -c "$*"
	else
		sqlite3 -batch -cmd '.timeout 10000' "$DB" "$@"
	fi
}
dbq() { q "$@"; }

# dbdump: the database's schema and rows as text, to compare two states
# (the same text for the same content). Without PostgreSQL's sequence
# values: an INSERT ... ON CONFLICT DO NOTHING that adds no row still
# takes one.
dbdump() {
	if is_pg; then
		# pg_dump since the minor releases of August 2025 (15.14,
		# 17.6 ...) frames the dump with a random \restrict key:
		# not the data, and never the same twice
		pg_dump --no-owner --no-privileges -d "$DB" |
		    grep -v -e '^SELECT pg_catalog.setval(' \
		    -e '^\\restrict ' -e '^\\unrestrict '
	else
		sqlite3 -batch "$DB" .dump
	fi
}

# SQL fragments for what SQLite and PostgreSQL spell differently, for use
# inside q's SQL: "SELECT $(jx payload sleep_ms) FROM jobs".
#
#   jx COL KEY...   the JSON value at KEY... in the text column COL, as
#                   the SQL value json_extract gives (text on PostgreSQL:
#                   prints the same); KEY an object key or an array index
#                   (-1 the last element)
#   jxn COL KEY...  the same as a number (to compare with one)
#   jlen COL        json_array_length
#   jeach COL       a FROM item: the elements of the JSON array COL, each
#                   as the column "value" (json_each)
#   agg EXPR [SEP]  group_concat(EXPR, SEP), SEP ',' by default
jx() {
	local col=$1 k path='$' pgpath=
	shift
	for k in "$@"; do
		case $k in
		-[0-9]*) path="$path[#$k]" ;;
		[0-9]*) path="$path[$k]" ;;
		*) path="$path.$k" ;;
		esac
		pgpath="$pgpath${pgpath:+,}$k"
	done
	if is_pg; then
		printf "((%s)::jsonb #>> '{%s}')" "$col" "$pgpath"
	else
		printf "json_extract(%s, '%s')" "$col" "$path"
	fi
}
jxn() {
	if is_pg; then
		printf '(%s)::numeric' "$(jx "$@")"
	else
		jx "$@"
	fi
}
jlen() {
	if is_pg; then
		printf 'jsonb_array_length((%s)::jsonb)' "$1"
	else
		printf 'json_array_length(%s)' "$1"
	fi
}
jeach() {
	if is_pg; then
		printf 'jsonb_array_elements((%s)::jsonb) AS je(value)' "$1"
	else
		printf 'json_each(%s)' "$1"
	fi
}
agg() {
	if is_pg; then
		printf "string_agg((%s)::text, '%s')" "$1" "${2:-,}"
	else
		printf "group_concat(%s, '%s')" "$1" "${2:-,}"
	fi
}

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
	local db obj
	db=$(new_db replay) || return 1
	"$BIN/dater-migrate" -q -c "$CONF" -d "$db" up >/dev/null || return 1
	if is_pg; then
		obj="json_build_object('type', type, 'payload', payload::jsonb)"
	else
		obj="json_object('type', type, 'payload', json(payload))"
	fi
	q "SELECT $obj FROM jobs ORDER BY id" >"$TMP/replay.jsonl"
	run_in "$TMP/replay.jsonl" "$BIN/dater-enqueue" -q -c "$CONF" -d "$db" -
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
