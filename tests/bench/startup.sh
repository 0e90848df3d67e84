#!/usr/bin/env bash
#
# startup.sh: what one call of a program costs, as cron and shell
# pipelines pay it ('make bench' runs it after botmem.sh; it also runs
# alone). On one database made by 'dater-migrate up', interleaved, each
# BENCH_STARTUP_REPS (100) times:
#
#   dater-enqueue noop '{}'      beside the sqlite3 shell inserting one
#                                jobs row (the baseline)
#   dater-enqueue --version      beside 'sqlite3 -version' (exec and
#                                load, no work)
#   dater-report queue           beside the sqlite3 shell counting the
#                                jobs per state, type and queue, and the
#                                workers
#
# Printed per command: the median and the best wall time of one call,
# the mean CPU time (user + system) of one call, and the ratios to the
# baseline beside the targets (one-job enqueue and the queue report at
# most 1.5x the sqlite3 shell); then the shared libraries each program
# loads. Figures are printed, never asserted; the exit status is nonzero
# only when something broke (a call failed, a job went missing).
#
# Environment (defaults): BENCH_STARTUP_REPS (100), TMPDIR.

set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=$top/bin

REPS=${BENCH_STARTUP_REPS:-100}
TARGET=1.5

for p in "$bin/dater-migrate" "$bin/dater-enqueue" "$bin/dater-report"; do
	if [[ ! -x $p ]]; then
		echo "startup: $p missing: run 'make bench' from the top" >&2
		exit 1
	fi
done
if ! command -v sqlite3 >/dev/null; then
	echo "startup: no sqlite3 shell (Debian: apt-get install sqlite3)" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dater-startup.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
fail=0

broke() {
	echo "startup: BROKEN: $*" >&2
	fail=1
}

# The settings the figures depend on, as run.sh pins them.
cat >"$tmp/dater.conf" <<'EOF'
synchronous = "normal";
busy_timeout = "5s";
log_level = "warn";
EOF
export DATER_CONFIG=$tmp/dater.conf
unset DATER_DB
db=$tmp/startup.db

# REPLY = wall-clock microseconds.
now_us() {
	local t=${EPOCHREALTIME:-}
	if [[ -n $t ]]; then
		REPLY=${t/./}
	else
		REPLY=$(date +%s%6N)
	fi
}

# REPLY = the user + system microseconds of every child this shell has
# waited for. 'times' runs in this shell (a subshell would count its own
# children) and so does the arithmetic: no fork between two readings.
children_us() {
	local u s
	times >"$tmp/times"
	{ read -r _ && read -r u s; } <"$tmp/times"
	secs_us "$u"
	u=$REPLY
	secs_us "$s"
	REPLY=$((u + REPLY))
}

# secs_us 1m2.345s: REPLY = 62345000
secs_us() {
	local m=${1%%m*} f=${1#*m}
	f=${f%s}
	REPLY=$((10#$m * 60000000 + 10#${f%.*} * 1000000 + 10#${f#*.} * 1000))
}

declare -A wall cpu

# one NAME CMD...: run CMD once (stdout dropped); its wall time goes on
# the list wall[NAME], its CPU time adds up in cpu[NAME].
one() {
	local name=$1 t0 c0
	shift
	children_us
	c0=$REPLY
	now_us
	t0=$REPLY
	"$@" >/dev/null || broke "$name: '$*' failed"
	now_us
	wall[$name]+="$((REPLY - t0)) "
	children_us
	cpu[$name]=$((${cpu[$name]:-0} + REPLY - c0))
}

"$bin/dater-migrate" -q -d "$db" up || { broke "dater-migrate up"; exit 1; }

insert_sql() {
	local now
	now_us
	now=$((REPLY / 1000))
	REPLY="INSERT INTO jobs (type, payload, run_at, created_at)
	    VALUES ('noop', '{}', $now, $now);"
}
count_sql="SELECT state, type, queue, count(*) FROM jobs
    GROUP BY state, type, queue; SELECT count(*) FROM workers;"
# -init /dev/null: no ~/.sqliterc; the busy timeout and synchronous as
# dater sets them.
sql=(sqlite3 -init /dev/null -cmd '.timeout 5000' -cmd
    'PRAGMA synchronous=NORMAL')

for ((i = 0; i < REPS; i++)); do
	one enqueue "$bin/dater-enqueue" -d "$db" noop '{}'
	insert_sql
	one insert "${sql[@]}" "$db" "$REPLY"
	one version "$bin/dater-enqueue" --version
	one sqlversion sqlite3 -version
	one report "$bin/dater-report" -d "$db" queue
	one count "${sql[@]}" -readonly "$db" "$count_sql"
done

n=$(sqlite3 -init /dev/null -readonly "$db" \
    "SELECT count(*) FROM jobs WHERE type = 'noop'" 2>/dev/null)
[[ $n == $((2 * REPS)) ]] ||
	broke "$((2 * REPS)) noop jobs expected, the database has '$n'"

# stats NAME: REPLY = "median best cpu" in ms (the CPU a mean per call).
stats() {
	REPLY=$(tr ' ' '\n' <<<"${wall[$1]}" | grep . | sort -n |
	    awk -v c="${cpu[$1]}" -v n="$REPS" '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.2f %.2f %.2f", m / 1000, v[1] / 1000, c / n / 1000 }')
}

# line WHAT NAME BASE_WHAT BASE TARGET: one figure beside its baseline.
line() {
	local a b
	stats "$2"
	read -ra a <<<"$REPLY"
	stats "$4"
	read -ra b <<<"$REPLY"
	awk -v w="$1" -v bw="$3" -v t="$5" -v n="$REPS" \
	    -v am="${a[0]}" -v ab="${a[1]}" -v ac="${a[2]}" \
	    -v bm="${b[0]}" -v bb="${b[1]}" -v bc="${b[2]}" 'BEGIN {
		rm = bm > 0 ? am / bm : 0
		rb = bb > 0 ? ab / bb : 0
		rc = bc > 0 ? ac / bc : 0
		tt = t == "" ? "" : ", target <= " t
		printf "start-up: %s: %.2f ms median, %.2f best, %.2f CPU" \
		    "  (%s %.2f median, %.2f best, %.2f CPU; ratio %.2f" \
		    " median, %.2f best, %.2f CPU%s)  [%d calls each]\n",
		    w, am, ab, ac, bw, bm, bb, bc, rm, rb, rc, tt, n }'
}

line "dater-enqueue noop '{}' (one job)" enqueue \
    "sqlite3 shell one-row insert" insert "$TARGET"
line "dater-report queue" report \
    "sqlite3 shell count per state, type, queue" count "$TARGET"
line "dater-enqueue --version" version "sqlite3 -version" sqlversion ""

# The shared libraries each program records, libcurl's included.
list=
for p in enqueue report migrate ctl scheduler worker; do
	list+="${list:+, }dater-$p $(ldd "$bin/dater-$p" 2>/dev/null | grep -c '=>')"
done
echo "start-up: shared libraries loaded: $list (sqlite3 shell" \
    "$(ldd "$(command -v sqlite3)" 2>/dev/null | grep -c '=>'))"

exit "$fail"
