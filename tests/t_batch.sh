#!/bin/bash
# dater-worker with worker.batch: due jobs of a batchable type (noop) are
# claimed together (a job of another type is left for a claim of its
# own) and their results recorded in one commit; a worker killed in the
# middle of a batch has recorded none of it, and every job of the batch
# comes back (a finished handler runs again); SIGTERM in the middle of a
# batch finishes the running job and gives the jobs not started back
# without spending an attempt; worker.batch = 1 claims one job at a time.
. "$(dirname "$0")/blackbox-lib.sh"

TRACE=$TMP/trace
WLOG=$TMP/worker.log

conf() {
	write_conf "heartbeat = \"200ms\"; lease = \"10s\";
	    poll_interval = \"200ms\"; restart_backoff_max = \"200ms\";
	    batch = $1;"
}

start_worker() {
	start_bg "$WLOG" "$BIN/dater-worker" -c "$CONF" -d "$DB" "$@"
	W=$BG
}

# noop JOB: enqueue a traced noop with extra payload fields; prints its id.
noop() {
	enqueue "${@:2}" noop "{\"trace\": \"$TRACE\"${1:+, $1}}"
}

traced() { grep -q "^$1 " "$TRACE" 2>/dev/null; }
# The attempts traced for a job, in order: "1 2".
trace_of() { awk -v id="$1" '$1 == id { printf "%s%s", s, $2; s = " " }' \
    "$TRACE" 2>/dev/null; }
row() { q "SELECT state || '/' || attempts FROM jobs WHERE id = $1"; }
worker_of() { q "SELECT coalesce(worker, '') FROM jobs WHERE id = $1"; }
has_children() { [ "$(children "$W" | wc -l)" -eq "$1" ]; }

conf 4
migrate || die "dater-migrate up failed"

# ---- a killed worker's batch comes back whole ------------------------------

a=$(noop "")
b=$(noop '"sleep_ms": 600000' --max-attempts 1)
x=$(enqueue optimize)	# not batchable: claimed on its own
c=$(noop "")
d=$(noop "")
start_worker -n 1
wait_for 60 traced "$b" || fail "the second job of the batch never started"
w=$(worker_of "$a")
check "the first job's handler ran" traced "$a"
is "$(row "$a")" running/1 \
    "a finished handler's result waits for the batch's commit"
is "$(worker_of "$b")/$(worker_of "$c")/$(worker_of "$d")" "$w/$w/$w" \
    "the 4 due noop jobs were claimed by one worker in one batch"
is "$(row "$c")/$(row "$d")" running/1/running/1 \
    "the jobs not started yet are held by the batch"
check "the jobs not started yet did not run" eval '! traced '"$c"
is "$(row "$x")" queued/0 "a job of a type not batchable is left out of the batch"
victim=${w##*:}
kill -KILL "$victim"
wait_for 60 eval '[ "$(row '"$a"')$(row '"$c"')$(row '"$d"')" = \
    succeeded/2succeeded/2succeeded/2 ]' ||
    fail "the killed worker's jobs did not run again"
is "$(row "$a")/$(row "$c")/$(row "$d")" \
    succeeded/2/succeeded/2/succeeded/2 \
    "every job of the killed batch came back and ran on attempt 2"
is "$(state_of "$b")" dead "the job that was running when killed used its one attempt"
wait_for 60 eval '[ "$(row '"$x"')" = succeeded/1 ]'
is "$(row "$x")" succeeded/1 "the job left out ran on its own claim"
like "$(q "SELECT errors FROM jobs WHERE id = $a")" "killed by signal 9" \
    "the lost attempt of a finished handler says why"
is "$(trace_of "$a")" "1 2" \
    "a handler that finished but was not recorded runs again"
is "$(trace_of "$c")|$(trace_of "$d")" "2|2" \
    "the handlers not started ran once, on the attempt after the kill"
kill -TERM "$W"
wait_exit "$W" 30
is "$RC" 0 "the supervisor exits 0 on SIGTERM"
q "DELETE FROM jobs"
rm -f "$TRACE"

# ---- SIGTERM in the middle of a batch ----------------------------------------

e=$(noop '"sleep_ms": 3000')
f=$(noop "")
g=$(noop "")
start_worker -n 1
wait_for 60 traced "$e" || fail "the first job of the batch never started"
kill -TERM "$W"
wait_exit "$W" 30
is "$RC" 0 "SIGTERM in the middle of a batch: exits 0"
is "$(row "$e")" succeeded/1 "the running job finished"
is "$(row "$f")/$(row "$g")" queued/0/queued/0 \
    "the jobs not started went back without spending an attempt"
check "... and did not run" eval '! traced '"$f"' && ! traced '"$g"
run drain
is "$(row "$f")/$(row "$g")" succeeded/1/succeeded/1 \
    "the given-back jobs run on their first attempt"
q "DELETE FROM jobs"
rm -f "$TRACE"

# ---- worker.batch = 1: one job at a time ------------------------------------

conf 1
h=$(noop '"sleep_ms": 600000')
i=$(noop "")
start_worker -n 1
wait_for 60 traced "$h" || fail "the job never started"
is "$(row "$i")" queued/0 "with worker.batch = 1 the next job stays queued"
kill -KILL -- "-$W"
wait "$W" 2>/dev/null

# ---- the setting is checked ----------------------------------------------------

conf 0
run drain
is "$RC" 78 "worker.batch = 0 is refused (exit 78)"
like "$ERR" "batch" "... naming the setting"

bb_done
