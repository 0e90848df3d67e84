#!/usr/bin/env bash
#
# run.sh: dater's benchmarks ('make bench'). Each figure is printed beside
# a baseline measured in the same run, and the ratio. The baselines are
# the plain-C programs in this directory (no dater code) on databases made
# the same way: 'dater-migrate up' (dater's schema), WAL,
# synchronous=NORMAL, a busy timeout.
#
# Figures are printed, never asserted: a slow machine is not a failure.
# The exit status is nonzero only when something broke: a program failed,
# a drain left jobs unfinished or ran one twice, a job was never picked up.
#
# Throughput runs are repeated BENCH_REPS times, interleaved with their
# baseline so that drift hits both; the best run of each is kept and all
# runs are listed after it.
#
# Environment (defaults): BENCH_REPS (3), BENCH_DRAIN_JOBS (20000),
# BENCH_FULL_JOBS (5000: the synchronous=FULL drains), BENCH_BATCH_JOBS
# (50000), BENCH_LATENCY_JOBS (300), BENCH_BIG_ROWS (1000000),
# BENCH_CLAIM_JOBS (10000), BENCH_IDLE_SECS (5), TMPDIR, and
# BENCH_PARTS (all): the parts to run, comma-separated, of drain (1, 2,
# the group commit drains and 6), queue (3, 4, 5), conv, mixed, botmem,
# startup, live, and the PostgreSQL parts pg-drain, pg-pickup, pg-conv
# (10); BENCH_PG_DRAIN_JOBS (10000).
#
# Then conv.sh: the conversation pipeline (inbound -> respond -> send)
# against LLM peers on loopback; see the BENCH_CONV_* settings there;
# mixed.sh: reply latency with and without a flood of noop jobs in the
# queue (BENCH_MIXED_*); botmem.sh: a worker's peak RSS with 1 bot and with BENCH_BOTS (200)
# bots configured (the BENCH_BOT_* settings there); and live.sh:
# message-to-stored and message-to-reply latency through the listener
# against telegram-test-api (BENCH_LIVE_MSGS).
#
# Last, on PostgreSQL (issue 12), when 'tests/pg-cluster.sh available'
# says it is here (else one line says the parts are skipped), on one
# throw-away cluster (fsync off) started for the run, each beside a
# baseline on the same server: pg-drain, 'dater-worker --drain' -n 2 and
# -n 4 on BENCH_PG_DRAIN_JOBS noop jobs vs raw_pg_loop -c 2 and -c 4 (a
# bare libpq loop, the same SKIP LOCKED claim, one job per transaction),
# also with worker.batch = 1;
# pg-pickup, an idle 'dater-worker -n 1' woken only by NOTIFY (a 10 s
# poll_interval) vs 'raw_pg_loop -l' (a bare LISTEN loop), measured by
# latency with a URI; pg-conv, pgconv.sh: the conversation pipeline
# against mock-llm at -n 4 on PostgreSQL and on SQLite, alternately.

set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=$top/bin

REPS=${BENCH_REPS:-3}
DRAIN_JOBS=${BENCH_DRAIN_JOBS:-20000}
FULL_JOBS=${BENCH_FULL_JOBS:-5000}
PARTS=${BENCH_PARTS:-all}
BATCH_JOBS=${BENCH_BATCH_JOBS:-50000}
LAT_JOBS=${BENCH_LATENCY_JOBS:-300}
BIG_ROWS=${BENCH_BIG_ROWS:-1000000}
CLAIM_JOBS=${BENCH_CLAIM_JOBS:-10000}
IDLE_SECS=${BENCH_IDLE_SECS:-5}
LIMIT_SECS=120		# a foreground run taking longer is hung
STOP_SECS=10		# time to exit after SIGTERM

fail=0
bg_pids=()
tmp=

for p in "$bin/dater-migrate" "$bin/dater-enqueue" "$bin/dater-worker" \
    "$here/raw_loop" "$here/raw_insert" "$here/latency" "$here/jobstat" \
    "$here/raw_pg_loop" "$here/pgconv.sh" \
    "$here/conv.sh" "$here/mixed.sh" "$here/botmem.sh" "$here/startup.sh"; do
	if [[ ! -x $p ]]; then
		echo "bench: $p missing: run 'make bench' from the top" >&2
		exit 1
	fi
done

pgdir=
cleanup() {
	local p
	for p in "${bg_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${bg_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	[[ -n $pgdir ]] && "$top/tests/pg-cluster.sh" stop "$pgdir"
	[[ -n $tmp ]] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dater-bench.XXXXXX") || exit 1

# Pin the settings the figures depend on, whatever etc/dater.conf says.
cat >"$tmp/dater.conf" <<'EOF'
synchronous = "normal";
busy_timeout = "5s";
log_level = "warn";
EOF
export DATER_CONFIG=$tmp/dater.conf
unset DATER_DB

# want PART: is PART among BENCH_PARTS?
want() {
	[[ ,$PARTS, == *,all,* || ,$PARTS, == *,$1,* ]]
}

broke() {
	echo "bench: BROKEN: $*" >&2
	fail=1
}

# REPLY = wall-clock microseconds.
now_us() {
	local t=${EPOCHREALTIME:-}
	if [[ -n $t ]]; then
		REPLY=${t/./}
	else
		REPLY=$(date +%s%6N)
	fi
}

# timed OUT CMD...: run CMD, stdout to OUT; ELAPSED_US gets its wall time.
timed() {
	local out=$1 t0 rc
	shift
	now_us
	t0=$REPLY
	timeout -k 5 "$LIMIT_SECS" "$@" >"$out"
	rc=$?
	now_us
	ELAPSED_US=$((REPLY - t0))
	return $rc
}

rate() {	# jobs us -> jobs/s
	awk -v n="$1" -v us="$2" 'BEGIN { printf "%.0f", n * 1e6 / us }'
}

ratio() {	# a b -> a/b
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}

ms() {		# us -> ms, 2 decimals
	awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'
}

# best VAR RATE: keep the highest rate in VAR, the list of runs in VAR_runs.
best() {
	local -n b=$1 r=$1_runs
	r+="${r:+ }$2"
	if ((b < $2)); then
		b=$2
	fi
}

# migrate DB: a new database with dater's schema.
migrate() {
	mkdir -p "$(dirname "$1")"
	"$bin/dater-migrate" -q -d "$1" up || { broke "dater-migrate $1"; return 1; }
}

# copydb FROM TO: a closed database (its -wal is checkpointed away).
copydb() {
	mkdir -p "$(dirname "$2")"
	rm -f "$2" "$2-wal" "$2-shm"
	cp "$1" "$2"
}

rmdb() {
	rm -f "$1" "$1-wal" "$1-shm"
}

# jobstat DB: the jobstat line of DB, a file or a postgresql:// URI.
jobstat() {
	if [[ $1 == postgresql://* ]]; then
		psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 "$1" -c "SELECT
		    (SELECT count(*) FROM jobs WHERE state = 'queued'),
		    (SELECT count(*) FROM jobs WHERE state = 'running'),
		    (SELECT count(*) FROM jobs WHERE state = 'succeeded'),
		    (SELECT count(*) FROM jobs WHERE state = 'dead'),
		    (SELECT count(*) FROM jobs WHERE state = 'cancelled'),
		    (SELECT count(*) FROM jobs WHERE state = 'succeeded'
		     AND attempts <> 1)"
	else
		"$here/jobstat" "$1"
	fi
}

# expect DB WHAT QUEUED RUNNING SUCCEEDED: check the outcome of a run
# (SUCCEEDED "-" for any); no job may be dead, cancelled or run twice.
expect() {
	local db=$1 what=$2 q r s d c again
	read -r q r s d c again < <(jobstat "$db") ||
	    { broke "$what: jobstat failed"; return 1; }
	if [[ $q != "$3" || $r != "$4" || ($5 != - && $s != "$5") ||
	    $d != 0 || $c != 0 || $again != 0 ]]; then
		broke "$what: queued=$q running=$r succeeded=$s dead=$d" \
		    "cancelled=$c ran-twice=$again (expected queued=$3" \
		    "running=$4 succeeded=$5)"
		return 1
	fi
}

# latency_run WHAT DB CMD...: start the worker CMD on DB (in a directory
# of its own, so nothing else wakes it), let it go idle, enqueue
# LAT_JOBS jobs one at a time; LAT = "count p50 p99 max mean missed".
latency_run() {
	local what=$1 db=$2
	shift 2
	LAT=
	start_bg "$@"
	sleep 0.5
	if ! "$here/latency" -n "$LAT_JOBS" "$db" "$tmp/fifo/trace" \
	    >"$tmp/lat.out"; then
		broke "$what: latency run failed or missed jobs:" \
		    "$(cat "$tmp/lat.out")"
	fi
	stop_bg "$BG_PID" "$what"
	read -r LAT <"$tmp/lat.out"
	expect "$db" "$what" 0 0 -
}

# noop_lines N PAYLOAD: N JSON lines for 'dater-enqueue -'.
noop_lines() {
	local line='{"type":"noop"}'
	[[ -n $2 ]] && line="{\"type\":\"noop\",\"payload\":$2}"
	awk -v n="$1" -v line="$line" \
	    'BEGIN { for (i = 0; i < n; i++) print line }'
}

# children PID: REPLY = the pids of PID's children.
children() {
	local f=/proc/$1/task/$1/children s pid ppid rest
	REPLY=
	if [[ -r $f ]]; then
		read -r REPLY <"$f"
		return 0
	fi
	for s in /proc/[0-9]*/stat; do
		read -r rest 2>/dev/null <"$s" || continue
		pid=${rest%% *}
		read -r _ ppid _ <<<"${rest##*) }"
		[[ $ppid == "$1" ]] && REPLY+="${REPLY:+ }$pid"
	done
	return 0
}

# vm_kb PID FIELD: REPLY = FIELD (VmHWM, VmRSS) of PID in kB, 0 if gone.
vm_kb() {
	local k v u
	REPLY=0
	while read -r k v u; do
		if [[ $k == "$2:" ]]; then
			REPLY=$v
			return
		fi
	done 2>/dev/null <"/proc/$1/status"
}

clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)

# cpu PID...: REPLY = CPU ns used so far by the processes, REPLY2 = their
# voluntary context switches (sleeps that ended, i.e. wake-ups).
cpu() {
	local p ns rest k v
	local -a f
	local -i total=0 wakes=0
	for p in "$@"; do
		if read -r ns rest 2>/dev/null <"/proc/$p/schedstat"; then
			total+=ns
		elif read -r rest 2>/dev/null <"/proc/$p/stat"; then
			# After "pid (comm) ": state is field 3, utime 14.
			read -r -a f <<<"${rest##*) }"
			total+=$(((f[11] + f[12]) * 1000000000 / clk_tck))
		fi
		while read -r k v; do
			[[ $k == voluntary_ctxt_switches: ]] && wakes+=v
		done 2>/dev/null <"/proc/$p/status"
	done
	REPLY=$total
	REPLY2=$wakes
}

start_bg() {	# start_bg CMD...: BG_PID = its pid; its stdout is dropped
	"$@" >/dev/null &
	BG_PID=$!
	bg_pids+=("$BG_PID")
}

forget_bg() {	# forget_bg PID: it has been waited for
	local p keep=()
	for p in "${bg_pids[@]}"; do
		[[ $p != "$1" ]] && keep+=("$p")
	done
	bg_pids=("${keep[@]}")
}

# alive PID: PID exists and is not a zombie.
alive() {
	local rest
	read -r rest 2>/dev/null <"/proc/$1/stat" || return 1
	[[ ${rest##*) } != Z* ]]
}

# stop_bg PID WHAT: SIGTERM, wait; broken unless it exits 0 within
# STOP_SECS (then it and its children get SIGKILL).
stop_bg() {
	local rc i kids
	kill -TERM "$1" 2>/dev/null
	for ((i = 0; i < STOP_SECS * 10; i++)); do
		alive "$1" || break
		sleep 0.1
	done
	if alive "$1"; then
		children "$1"
		kids=$REPLY
		broke "$2 still running ${STOP_SECS} s after SIGTERM: killed"
		kill -KILL "$1" $kids 2>/dev/null
	fi
	wait "$1"
	rc=$?
	forget_bg "$1"
	((rc == 0)) || broke "$2 exited with status $rc"
}

if [[ $(cat "$top/build/flavour" 2>/dev/null) == */san ]]; then
	echo "bench: warning: bin/ is a SANITIZE=1 build; its figures are" \
	    "not representative (run 'make' first)" >&2
fi
echo "dater benchmarks: $(nproc 2>/dev/null || echo ?) cpus," \
    "SQLite $(pkg-config --modversion sqlite3 2>/dev/null || echo ?)," \
    "synchronous=NORMAL, databases in $tmp" \
    "($(df -PT "$tmp" 2>/dev/null | awk 'NR == 2 { print $2 }'))," \
    "best of $REPS"

# ---- 1, 2: raw claim+complete loop vs dater-worker --drain ------------

migrate "$tmp/empty.db" || exit 1
migrate "$tmp/drain/template.db" || exit 1
noop_lines "$DRAIN_JOBS" "" >"$tmp/drain.jsonl"
"$bin/dater-enqueue" -q -d "$tmp/drain/template.db" - \
    <"$tmp/drain.jsonl" >/dev/null || broke "enqueue the drain jobs"
expect "$tmp/drain/template.db" "drain template" "$DRAIN_JOBS" 0 0 || exit 1

if want drain; then
raw=0 raw_runs= n1=0 n1_runs= n2=0 n2_runs= n4=0 n4_runs= raw_rss=0
for ((rep = 0; rep < REPS; rep++)); do
	for kind in raw n1 n2 n4; do
		db=$tmp/drain/run.db
		copydb "$tmp/drain/template.db" "$db"
		if [[ $kind == raw ]]; then
			timed "$tmp/out" "$here/raw_loop" "$db" ||
			    broke "raw_loop failed"
			read -r _ _ raw_rss <"$tmp/out"
		else
			timed "$tmp/out" "$bin/dater-worker" -q -d "$db" \
			    -n "${kind#n}" --drain ||
			    broke "dater-worker -n ${kind#n} --drain failed"
		fi
		if expect "$db" "drain $kind" 0 0 "$DRAIN_JOBS"; then
			best "$kind" "$(rate "$DRAIN_JOBS" "$ELAPSED_US")"
		fi
		rmdb "$db"
	done
done
printf "raw loop (claim + complete, 2 tx/job, %d jobs): %d jobs/s  [runs %s]\n" \
    "$DRAIN_JOBS" "$raw" "$raw_runs"
for kind in n1 n2 n4; do
	declare -n v=$kind vr=${kind}_runs
	printf "drain -n %s: %d jobs/s  (raw loop %d jobs/s, ratio %s, target >= 0.5)  [runs %s]\n" \
	    "${kind#n}" "$v" "$raw" "$(ratio "$v" "$raw")" "$vr"
	unset -n v vr
done

# ---- 2b: group commit: -n 2 vs two raw loops, one job per transaction --
#
# The baseline is what a worker without batches does at best: two
# processes, each completing a job and claiming the next in one
# transaction (raw_loop -1), so one commit per job. dater-worker claims
# due noop jobs in batches (worker.batch, 16 by default) and records a
# batch's results with the next claim: one commit per batch. Measured at
# synchronous=NORMAL and at FULL (an fsync per commit, the choice of an
# operator who cannot lose a reply on power loss); worker.batch = 1 is
# shown too, as the figure without batches.

for sync in normal full; do
	for b in 16 1; do
		printf 'synchronous = "%s";\nbusy_timeout = "5s";\n%s\n%s\n' \
		    "$sync" 'log_level = "warn";' "worker = { batch = $b; };" \
		    >"$tmp/$sync$b.conf"
	done
done
migrate "$tmp/drain/full.db" || exit 1
noop_lines "$FULL_JOBS" "" | "$bin/dater-enqueue" -q \
    -d "$tmp/drain/full.db" - >/dev/null || broke "enqueue the full jobs"
expect "$tmp/drain/full.db" "full template" "$FULL_JOBS" 0 0 || exit 1

# raw_pair DB ARGS...: two 'raw_loop -1 ARGS DB' at once; ELAPSED_US gets
# the wall time of both.
raw_pair() {
	local db=$1 t0 p rc=0
	shift
	now_us
	t0=$REPLY
	timeout -k 5 "$LIMIT_SECS" "$here/raw_loop" -1 "$@" "$db" \
	    >/dev/null &
	p=$!
	timeout -k 5 "$LIMIT_SECS" "$here/raw_loop" -1 "$@" "$db" \
	    >/dev/null || rc=1
	wait "$p" || rc=1
	now_us
	ELAPSED_US=$((REPLY - t0))
	return $rc
}

for sync in normal full; do
	template=$tmp/drain/template.db jobs=$DRAIN_JOBS flag=
	if [[ $sync == full ]]; then
		template=$tmp/drain/full.db jobs=$FULL_JOBS flag=-f
	fi
	pair=0 pair_runs= gc=0 gc_runs= one=0 one_runs=
	for ((rep = 0; rep < REPS; rep++)); do
		for kind in pair gc one; do
			db=$tmp/drain/run.db
			copydb "$template" "$db"
			case $kind in
			pair)
				raw_pair "$db" $flag ||
				    broke "raw_loop -1 $flag (x2) failed" ;;
			gc)
				timed /dev/null env \
				    DATER_CONFIG="$tmp/${sync}16.conf" \
				    "$bin/dater-worker" -q -d "$db" -n 2 --drain ||
				    broke "dater-worker -n 2 --drain ($sync) failed" ;;
			one)
				timed /dev/null env \
				    DATER_CONFIG="$tmp/${sync}1.conf" \
				    "$bin/dater-worker" -q -d "$db" -n 2 --drain ||
				    broke "dater-worker -n 2 --drain ($sync," \
				    "batch 1) failed" ;;
			esac
			if expect "$db" "drain $kind $sync" 0 0 "$jobs"; then
				best "$kind" "$(rate "$jobs" "$ELAPSED_US")"
			fi
			rmdb "$db"
		done
	done
	target=0.8 note=
	if [[ $sync == full ]]; then
		target=1.5
		note="; durable beanstalkd ~7.7k jobs/s on this kind of machine"
	fi
	printf "raw loop x2 (complete + claim, 1 tx/job, synchronous=%s, %d jobs): %d jobs/s  [runs %s]\n" \
	    "$sync" "$jobs" "$pair" "$pair_runs"
	printf "drain -n 2, synchronous=%s, worker.batch = 16: %d jobs/s  (raw loop x2 %d jobs/s, ratio %s, target >= %s%s)  [runs %s]\n" \
	    "$sync" "$gc" "$pair" "$(ratio "$gc" "$pair")" "$target" "$note" \
	    "$gc_runs"
	printf "drain -n 2, synchronous=%s, worker.batch = 1: %d jobs/s  (raw loop x2 %d jobs/s, ratio %s; batches of 16: x%s)  [runs %s]\n" \
	    "$sync" "$one" "$pair" "$(ratio "$one" "$pair")" \
	    "$(ratio "$gc" "$one")" "$one_runs"
done
fi

# ---- 3: batch enqueue from stdin vs raw multi-row inserts -------------

if want queue; then

noop_lines "$BATCH_JOBS" '{"sleep_ms":0}' >"$tmp/batch.jsonl"
enq=0 enq_runs= ins=0 ins_runs= one=0 one_runs=
for ((rep = 0; rep < REPS; rep++)); do
	db=$tmp/batch/run.db
	copydb "$tmp/empty.db" "$db"
	timed /dev/null "$bin/dater-enqueue" -q -d "$db" - \
	    <"$tmp/batch.jsonl" || broke "dater-enqueue - failed"
	expect "$db" "batch enqueue" "$BATCH_JOBS" 0 0 &&
	    best enq "$(rate "$BATCH_JOBS" "$ELAPSED_US")"
	copydb "$tmp/empty.db" "$db"
	timed "$tmp/out" "$here/raw_insert" -r 100 -P '{"sleep_ms":0}' \
	    "$db" "$BATCH_JOBS" || broke "raw_insert failed"
	expect "$db" "raw insert" "$BATCH_JOBS" 0 0 &&
	    best ins "$(rate "$BATCH_JOBS" "$ELAPSED_US")"
	# Not the baseline, a diagnostic: one row per statement, as dater
	# inserts now.
	copydb "$tmp/empty.db" "$db"
	timed "$tmp/out" "$here/raw_insert" -r 1 -P '{"sleep_ms":0}' \
	    "$db" "$BATCH_JOBS" || broke "raw_insert -r 1 failed"
	expect "$db" "raw insert -r 1" "$BATCH_JOBS" 0 0 &&
	    best one "$(rate "$BATCH_JOBS" "$ELAPSED_US")"
	rmdb "$db"
done
printf "batch enqueue (dater-enqueue -, %d lines): %d jobs/s  (raw multi-row insert %d jobs/s, ratio %s, target >= 0.5; raw single-row insert %d jobs/s, ratio %s)  [runs %s | raw %s | single %s]\n" \
    "$BATCH_JOBS" "$enq" "$ins" "$(ratio "$enq" "$ins")" "$one" \
    "$(ratio "$enq" "$one")" "$enq_runs" "$ins_runs" "$one_runs"

# ---- 4: pickup latency of an idle worker, and idle CPU ----------------

mkdir -p "$tmp/fifo"
copydb "$tmp/empty.db" "$tmp/lat/dater.db"
latency_run "latency: dater-worker -n 1" "$tmp/lat/dater.db" \
    "$bin/dater-worker" -q -d "$tmp/lat/dater.db" -n 1
read -r _ d50 d99 dmax _ _ <<<"$LAT"
copydb "$tmp/empty.db" "$tmp/latpoll/poll.db"
latency_run "latency: raw 10 ms poller" "$tmp/latpoll/poll.db" \
    "$here/raw_loop" -p 10 -t "$tmp/fifo/trace" "$tmp/latpoll/poll.db"
read -r _ p50 p99 pmax _ _ <<<"$LAT"
if [[ -n ${d50:-} && -n ${p50:-} ]]; then
	printf "pickup latency (idle dater-worker -n 1, %d jobs): p50 %s ms, p99 %s ms, max %s ms  (naive 10 ms poller p50 %s ms, p99 %s ms, max %s ms; ratio p50 %s, p99 %s; target p50 < 1 ms, p99 < 5 ms)\n" \
	    "$LAT_JOBS" "$(ms "$d50")" "$(ms "$d99")" "$(ms "$dmax")" \
	    "$(ms "$p50")" "$(ms "$p99")" "$(ms "$pmax")" \
	    "$(ratio "$d50" "$p50")" "$(ratio "$d99" "$p99")"
fi

# Idle CPU: dater-worker -n 4 and the 10 ms poller side by side, each on
# its own database in its own directory.
copydb "$tmp/empty.db" "$tmp/idle/dater.db"
copydb "$tmp/empty.db" "$tmp/idlepoll/poll.db"
start_bg "$bin/dater-worker" -q -d "$tmp/idle/dater.db" -n 4
sv=$BG_PID
start_bg "$here/raw_loop" -p 10 "$tmp/idlepoll/poll.db"
poller=$BG_PID
sleep 1
children "$sv"
tree=("$sv" $REPLY)
if ((${#tree[@]} != 5)); then
	broke "idle: dater-worker -n 4 has ${#tree[@]} processes, expected 5"
fi
cpu "${tree[@]}"; d_ns0=$REPLY d_w0=$REPLY2
cpu "$poller"; p_ns0=$REPLY p_w0=$REPLY2
sleep "$IDLE_SECS"
cpu "${tree[@]}"; d_ns1=$REPLY d_w1=$REPLY2
cpu "$poller"; p_ns1=$REPLY p_w1=$REPLY2
stop_bg "$sv" "idle dater-worker -n 4"
stop_bg "$poller" "idle raw poller"
awk -v dn=$((d_ns1 - d_ns0)) -v dw=$((d_w1 - d_w0)) \
    -v pn=$((p_ns1 - p_ns0)) -v pw=$((p_w1 - p_w0)) -v s="$IDLE_SECS" \
    -v np="${#tree[@]}" 'BEGIN {
	printf "idle CPU (dater-worker -n 4, %d processes, %d s): %.3f ms/s" \
	    " (%.4f%% of a core), %.1f wake-ups/s  (naive 10 ms poller" \
	    " %.3f ms/s, %.1f wake-ups/s; ratio %.2f; target: no" \
	    " measurable CPU)\n", np, s, dn / 1e6 / s, dn / 1e7 / s, dw / s,
	    pn / 1e6 / s, pw / s, (pn > 0 ? dn / pn : 0) }'

# ---- 5: claim cost with a million finished jobs -----------------------

migrate "$tmp/big/big.db" || exit 1
migrate "$tmp/small/small.db" || exit 1
timed "$tmp/out" "$here/raw_insert" -f "$tmp/big/big.db" "$BIG_ROWS" ||
    broke "raw_insert -f failed"
build_us=$ELAPSED_US
expect "$tmp/big/big.db" "big table" 0 0 "$BIG_ROWS" || exit 1
big_raw=0 big_raw_runs= small_raw=0 small_raw_runs=
big_dater=0 big_dater_runs= small_dater=0 small_dater_runs=
for ((rep = 0; rep < REPS; rep++)); do
	for size in big small; do
		db=$tmp/$size/$size.db
		"$here/raw_insert" "$db" "$CLAIM_JOBS" >/dev/null ||
		    broke "raw_insert $size"
		timed "$tmp/out" "$here/raw_loop" "$db" ||
		    broke "raw_loop $size failed"
		expect "$db" "raw claims, $size table" 0 0 - &&
		    best "${size}_raw" "$(rate "$CLAIM_JOBS" "$ELAPSED_US")"
		"$here/raw_insert" "$db" "$CLAIM_JOBS" >/dev/null ||
		    broke "raw_insert $size"
		timed "$tmp/out" "$bin/dater-worker" -q -d "$db" -n 1 --drain ||
		    broke "dater-worker --drain on the $size table failed"
		expect "$db" "dater claims, $size table" 0 0 - &&
		    best "${size}_dater" "$(rate "$CLAIM_JOBS" "$ELAPSED_US")"
	done
done
printf "claim+complete with %d finished jobs in the table (built in %s s): raw loop %d jobs/s  (empty table %d jobs/s, ratio %s, target ~1.0)  [runs %s | empty %s]\n" \
    "$BIG_ROWS" "$(awk -v us="$build_us" 'BEGIN { printf "%.1f", us / 1e6 }')" \
    "$big_raw" "$small_raw" "$(ratio "$big_raw" "$small_raw")" \
    "$big_raw_runs" "$small_raw_runs"
printf "drain -n 1 with %d finished jobs in the table: %d jobs/s  (empty table %d jobs/s, ratio %s, target ~1.0)  [runs %s | empty %s]\n" \
    "$BIG_ROWS" "$big_dater" "$small_dater" \
    "$(ratio "$big_dater" "$small_dater")" "$big_dater_runs" \
    "$small_dater_runs"
rmdb "$tmp/big/big.db"
rmdb "$tmp/small/small.db"
fi

# ---- 6: peak RSS of one worker process --------------------------------

if want drain; then

db=$tmp/rss/run.db
copydb "$tmp/drain/template.db" "$db"
start_bg "$bin/dater-worker" -q -d "$db" -n 1 --drain
sv=$BG_PID
w_hwm=0 sv_hwm=0 seen=0
now_us
deadline=$((REPLY + LIMIT_SECS * 1000000))
while alive "$sv"; do
	now_us
	if ((REPLY > deadline)); then
		stop_bg "$sv" "RSS drain (hung)"
		break
	fi
	children "$sv"
	for p in $REPLY; do
		vm_kb "$p" VmHWM
		((REPLY > w_hwm)) && w_hwm=$REPLY
		seen=1
	done
	vm_kb "$sv" VmHWM
	((REPLY > sv_hwm)) && sv_hwm=$REPLY
	sleep 0.02
done
if [[ " ${bg_pids[*]} " == *" $sv "* ]]; then
	wait "$sv" || broke "dater-worker -n 1 --drain (RSS run) failed"
	forget_bg "$sv"
fi
expect "$db" "RSS drain" 0 0 "$DRAIN_JOBS"
((seen)) || broke "RSS: never saw the worker process"
awk -v w="$w_hwm" -v s="$sv_hwm" -v r="$raw_rss" -v n="$DRAIN_JOBS" 'BEGIN {
	printf "peak RSS of one worker (drain -n 1, %d jobs): %.1f MB" \
	    "  (raw loop %.1f MB, ratio %.2f, target <= 1.15; supervisor" \
	    " %.1f MB; target < 8 MB)\n", n, w / 1024, r / 1024,
	    (r > 0 ? w / r : 0), s / 1024 }'
fi

# ---- 7: conversations: the whole pipeline against LLM peers -----------

want conv && { "$here/conv.sh" || fail=1; }
want mixed && { "$here/mixed.sh" || fail=1; }

# ---- 8: what the number of bots costs a worker ---------------------------

want botmem && { "$here/botmem.sh" || fail=1; }
want startup && { "$here/startup.sh" || fail=1; }

# ---- 9: real-time inbound: the listener against telegram-test-api ------

want live && { "$here/live.sh" || fail=1; }

# ---- 10: PostgreSQL (issue 12) -------------------------------------------
#
# On a throw-away cluster (tests/pg-cluster.sh: Unix socket only, fsync
# and synchronous_commit off), every baseline on the same server in the
# same run. Fresh databases are copies of a template database (CREATE
# DATABASE ... TEMPLATE), as the SQLite parts copy a file.

# pg_sql SQL: run SQL in the cluster's maintenance database.
pg_sql() {
	PGOPTIONS='-c client_min_messages=warning' \
	    psql -X -q -v ON_ERROR_STOP=1 "$pg_admin" -c "$1" >/dev/null ||
	    { broke "psql: $1"; return 1; }
}

# pg_copy FROM TO: REPLY = the URI of database TO, a new copy of FROM.
pg_copy() {
	pg_sql "DROP DATABASE IF EXISTS $2 WITH (FORCE)" &&
	    pg_sql "CREATE DATABASE $2 TEMPLATE $1" &&
	    REPLY=$("$top/tests/pg-cluster.sh" uri "$pgdir" "$2")
}

# pg_start: start the cluster; PG_URI = its database "dater".
pg_start() {
	pgdir=$(mktemp -d "${TMPDIR:-/tmp}/dater-pgbench.XXXXXX") ||
	    { pgdir=; return 1; }
	if ! PG_URI=$("$top/tests/pg-cluster.sh" start "$pgdir"); then
		broke "tests/pg-cluster.sh start failed"
		rmdir "$pgdir" 2>/dev/null
		pgdir=
		return 1
	fi
	pg_admin=$("$top/tests/pg-cluster.sh" uri "$pgdir" postgres)
	echo "PostgreSQL $(psql -X -A -t "$PG_URI" -c 'SHOW server_version')" \
	    "(throw-away cluster: fsync off, synchronous_commit off)"
}

# pg_template NAME N: database NAME with dater's schema and N noop jobs.
pg_template() {
	local uri
	uri=$("$top/tests/pg-cluster.sh" newdb "$pgdir" "$1") ||
	    { broke "create the database $1"; return 1; }
	"$bin/dater-migrate" -q -d "$uri" up ||
	    { broke "dater-migrate $uri"; return 1; }
	if (($2 > 0)); then
		noop_lines "$2" "" | "$bin/dater-enqueue" -q -d "$uri" - \
		    >/dev/null || { broke "enqueue $2 jobs on PostgreSQL"; return 1; }
	fi
	expect "$uri" "template $1" "$2" 0 0
}

PG_DRAIN_JOBS=${BENCH_PG_DRAIN_JOBS:-10000}

# pg_drain: dater-worker --drain -n 2, -n 4 vs raw_pg_loop -c 2, -c 4;
# and, as on SQLite, the workers with worker.batch = 1 (no batches: one
# claim per job, as the baseline does).
pg_drain() {
	local rep kind db k
	local raw2=0 raw2_runs= raw4=0 raw4_runs= n2=0 n2_runs= n4=0 n4_runs=
	local one2=0 one2_runs= one4=0 one4_runs=
	printf 'log_level = "warn";\nworker = { batch = 1; };\n' \
	    >"$tmp/pgbatch1.conf"
	pg_template drain_tmpl "$PG_DRAIN_JOBS" || return 1
	for ((rep = 0; rep < REPS; rep++)); do
		for kind in raw2 n2 one2 raw4 n4 one4; do
			pg_copy drain_tmpl drain_run || return 1
			db=$REPLY k=${kind: -1}
			case $kind in
			raw*)
				timed /dev/null "$here/raw_pg_loop" -c "$k" \
				    "$db" || broke "raw_pg_loop -c $k failed" ;;
			n*)
				timed /dev/null "$bin/dater-worker" -q -d "$db" \
				    -n "$k" --drain || broke "dater-worker" \
				    "-n $k --drain on PostgreSQL failed" ;;
			one*)
				timed /dev/null env \
				    DATER_CONFIG="$tmp/pgbatch1.conf" \
				    "$bin/dater-worker" -q -d "$db" -n "$k" \
				    --drain || broke "dater-worker -n $k" \
				    "--drain on PostgreSQL (batch 1) failed" ;;
			esac
			if expect "$db" "pg drain $kind" 0 0 "$PG_DRAIN_JOBS"
			then
				best "$kind" "$(rate "$PG_DRAIN_JOBS" "$ELAPSED_US")"
			fi
		done
	done
	pg_sql "DROP DATABASE IF EXISTS drain_run WITH (FORCE)"
	for k in 2 4; do
		declare -n v=n$k vr=n${k}_runs r=raw$k rr=raw${k}_runs \
		    o=one$k or=one${k}_runs
		printf "PostgreSQL drain -n %s (%d jobs): %d jobs/s  (raw libpq loop x%s, SKIP LOCKED claim + complete, 1 tx/job: %d jobs/s, ratio %s, target >= 0.7)  [runs %s | raw %s]\n" \
		    "$k" "$PG_DRAIN_JOBS" "$v" "$k" "$r" "$(ratio "$v" "$r")" \
		    "$vr" "$rr"
		printf "PostgreSQL drain -n %s, worker.batch = 1: %d jobs/s  (raw libpq loop x%s %d jobs/s, ratio %s; batches of 16: x%s)  [runs %s]\n" \
		    "$k" "$o" "$k" "$r" "$(ratio "$o" "$r")" "$(ratio "$v" "$o")" \
		    "$or"
		unset -n v vr r rr o or
	done
}

# pg_pickup: an idle dater-worker -n 1 woken only by NOTIFY (a 10 s
# poll_interval) vs raw_pg_loop -l, a bare LISTEN loop.
pg_pickup() {
	local db
	printf 'log_level = "warn";\nworker = { poll_interval = "10s"; };\n' \
	    >"$tmp/pgpickup.conf"
	pg_template pickup_tmpl 0 || return 1
	mkdir -p "$tmp/fifo"
	pg_copy pickup_tmpl pickup_dater || return 1
	db=$REPLY
	latency_run "PostgreSQL latency: dater-worker -n 1" "$db" \
	    env DATER_CONFIG="$tmp/pgpickup.conf" "$bin/dater-worker" -q \
	    -d "$db" -n 1
	read -r _ d50 d99 dmax _ _ <<<"$LAT"
	pg_copy pickup_tmpl pickup_raw || return 1
	db=$REPLY
	latency_run "PostgreSQL latency: raw LISTEN loop" "$db" \
	    "$here/raw_pg_loop" -l "$tmp/fifo/trace" "$db"
	read -r _ p50 p99 pmax _ _ <<<"$LAT"
	if [[ -n ${d50:-} && -n ${p50:-} ]]; then
		printf "PostgreSQL pickup latency (idle dater-worker -n 1, poll_interval 10 s: NOTIFY only, %d jobs): p50 %s ms, p99 %s ms, max %s ms  (raw libpq LISTEN loop p50 %s ms, p99 %s ms, max %s ms; ratio p50 %s, p99 %s; target p50 < 5 ms)\n" \
		    "$LAT_JOBS" "$(ms "$d50")" "$(ms "$d99")" "$(ms "$dmax")" \
		    "$(ms "$p50")" "$(ms "$p99")" "$(ms "$pmax")" \
		    "$(ratio "$d50" "$p50")" "$(ratio "$d99" "$p99")"
	fi
}

if want pg-drain || want pg-pickup || want pg-conv; then
	if ! "$top/tests/pg-cluster.sh" available; then
		echo "bench: PostgreSQL parts (pg-drain, pg-pickup, pg-conv)" \
		    "skipped: no PostgreSQL here (apt-get install postgresql)"
	elif pg_start; then
		want pg-drain && pg_drain
		want pg-pickup && pg_pickup
		want pg-conv && { "$here/pgconv.sh" "$pgdir" || fail=1; }
	fi
fi

if ((fail)); then
	echo "bench: something broke (see above)" >&2
	exit 1
fi
exit 0
