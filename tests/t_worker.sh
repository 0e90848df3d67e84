#!/bin/bash
# dater-worker: --drain, retries with backoff to `dead`, permanent
# failures, per-type timeouts, picking up new jobs, SIGTERM (finish the
# running job, exit 0), SIGKILL of a worker (its job released at once, a
# new worker started), SIGKILL of the whole tree (lease expiry brings the
# job back), --queues, cancel of a running job, and SIGHUP reloads.
. "$(dirname "$0")/blackbox-lib.sh"

write_conf
migrate || die "dater-migrate up failed"

WLOG=$TMP/worker.log
TERM_BROKEN=0

# Start a supervisor in the background (its own process group); W = pid.
start_worker() {
	start_bg "$WLOG" "$BIN/dater-worker" -c "${WCONF:-$CONF}" -d "$DB" "$@"
	W=$BG
}

# Wait until the supervisor has N live worker processes.
has_children() { [ "$(children "$W" | wc -l)" -eq "$1" ]; }

# SIGTERM the supervisor and wait (bounded) for it; RC = its status.
# Once SIGTERM has been seen not to work, later stops just kill.
stop_worker() {
	if [ "$TERM_BROKEN" = 1 ]; then
		kill -KILL -- "-$W" 2>/dev/null
		wait "$W" 2>/dev/null
		RC=137
		return
	fi
	kill -TERM "$W"
	wait_exit "$W" 30
	if [ "$RC" = 124 ]; then
		TERM_BROKEN=1
		echo "# dater-worker did not exit within 30 s of SIGTERM; killed it"
		echo "# its last log lines:"
		tail -5 "$WLOG" | note
	fi
}

job_is() { [ "$(state_of "$1")" = "$2" ]; }
errors_of() { q "SELECT errors FROM jobs WHERE id = $1"; }
is_running() { job_is "$1" running; }

# ---- --drain -----------------------------------------------------------------

run drain
is "$RC" 0 "--drain on an empty queue exits 0"

ids=""
for i in 1 2 3 4 5; do ids="$ids $(enqueue noop)"; done
later=$(enqueue --in 1h noop)
run drain -n 2
is "$RC" 0 "--drain exits 0 when all due jobs are done"
is "$(count_jobs "state = 'succeeded'")" 5 "--drain ran every due job"
is "$(state_of "$later")" queued "--drain leaves a job that is not due"
is "$(count_jobs "state = 'running'")" 0 "no job is left running after --drain"
is "$(q 'SELECT count(*) FROM workers')" 0 "drained workers unregister"
q "DELETE FROM jobs"

# ---- a retrying job backs off and ends dead with every error -----------------

r=$(enqueue --max-attempts 3 noop '{"fail": "retry"}')
run drain
is "$RC" 0 "--drain exits 0 after a failed attempt"
is "$(q "SELECT state || '/' || attempts FROM jobs WHERE id = $r")" "queued/1" \
    "after one failure the job is queued again with 1 attempt"
backoff=$(q "SELECT run_at - created_at FROM jobs WHERE id = $r")
check "the retry is scheduled after a backoff (run_at - created_at = ${backoff}ms >= 50)" \
    test "$backoff" -ge 50
drain_until 60 'job_is $r dead' || fail "the retrying job did not end dead within 60 s"
is "$(state_of "$r")" dead "a job that keeps failing ends dead"
is "$(q "SELECT attempts, max_attempts FROM jobs WHERE id = $r")" "3|3" \
    "it used exactly max_attempts attempts"
is "$(q "SELECT $(jlen errors) FROM jobs WHERE id = $r")" 3 \
    "all 3 attempts' errors are kept"
is "$(q "SELECT $(agg "$(jx value attempt)") FROM jobs, $(jeach jobs.errors) WHERE jobs.id = $r")" \
    "1,2,3" "the errors are numbered by attempt"
like "$(errors_of "$r")" "failed as asked \(attempt 3\)" "the errors hold the handler's message"
# The ms between attempts k and k+1 (errors[].at is an ISO 8601 time).
if is_pg; then
	gap="extract(epoch FROM (errors::jsonb #>> ARRAY[(k+1)::text, 'at'])::timestamptz
	     - (errors::jsonb #>> ARRAY[k::text, 'at'])::timestamptz) * 1000"
else
	gap="(julianday(json_extract(errors, '\$[' || (k+1) || '].at'))
	     - julianday(json_extract(errors, '\$[' || k || '].at'))) * 86400000"
fi
gaps=$(q "SELECT $(agg "CAST($gap AS INTEGER)") FROM (SELECT errors, k
          FROM jobs, (SELECT 0 AS k UNION ALL SELECT 1) ks WHERE id = $r ORDER BY k) g")
g1=${gaps%,*}
g2=${gaps#*,}
check "attempt 2 waited for the first backoff (${g1}ms >= 40)" test "$g1" -ge 40
check "attempt 3 waited for a doubled backoff (${g2}ms >= 80)" test "$g2" -ge 80
is "$(q "SELECT CAST(finished_at IS NOT NULL AS INTEGER) FROM jobs WHERE id = $r")" 1 "a dead job has finished_at"

p=$(enqueue noop '{"fail": "permanent"}')
run drain
is "$(q "SELECT state || '/' || attempts || '/' || $(jlen errors) FROM jobs WHERE id = $p")" \
    "dead/1/1" "a permanent failure is dead after 1 attempt with its error"
like "$(errors_of "$p")" "permanently" "the permanent error is kept"

# ---- a job past its type's timeout is killed and counts an attempt -----------

WCONF=$TMP/timeout.conf
cp "$CONF" "$WCONF"
echo 'jobs = { noop = { timeout = "1s"; }; };' >>"$WCONF"
hung=$(enqueue --max-attempts 2 noop '{"sleep_ms": 5000}')
after=$(enqueue noop)
run "$BIN/dater-worker" -c "$WCONF" -d "$DB" -n 1 --drain
is "$RC" 0 "--drain exits 0 after timeouts"
is "$(q "SELECT state || '/' || attempts FROM jobs WHERE id = $hung")" "dead/2" \
    "a job past its timeout is killed each time and ends dead (no attempt ran 5 s to success)"
is "$(q "SELECT count(*) FROM jobs, $(jeach jobs.errors) WHERE jobs.id = $hung
         AND $(jx value error) LIKE '%timed out%'")" 2 \
    "each timed-out attempt is recorded with a 'timed out' error"
is "$(state_of "$after")" succeeded "the pool keeps working after a timeout (next job ran)"
unset WCONF

# ---- a running worker picks up new jobs; SIGTERM finishes the running job ----

start_worker -n 2
wait_for 30 has_children 2 || fail "the supervisor did not start 2 workers"
n1=$(enqueue noop)
wait_for 60 job_is "$n1" succeeded
is "$(state_of "$n1")" succeeded "an idle worker picks up a job enqueued later"
n2=$(enqueue noop)
wait_for 60 job_is "$n2" succeeded
is "$(state_of "$n2")" succeeded "... and the next one"

s=$(enqueue noop '{"sleep_ms": 1500}')
wait_for 60 is_running "$s" || fail "the sleep job never started"
kill -TERM "$W"
wait_exit "$W" 30
if [ "$RC" = 124 ]; then
	TERM_BROKEN=1
	tail -5 "$WLOG" | note
fi
is "$RC" 0 "SIGTERM while a job runs: the supervisor exits 0 (within 30 s)"
is "$(state_of "$s")" succeeded "SIGTERM lets the running job finish (succeeded)"
is "$(q "SELECT count(*) FROM workers")" 0 "workers unregister on SIGTERM"

# SIGTERM reaches a worker that never goes idle: it stops claiming after
# its current job instead of running the whole backlog.
busy_ids=$(for i in $(seq 1 300); do echo '{"type": "noop", "payload": {"sleep_ms": 20}}'; done |
    enqueue - | tr '\n' ' ')
first=${busy_ids%% *}
start_worker -n 1
wait_for 60 job_is "$first" succeeded || fail "the backlog never started"
stop_worker
is "$RC" 0 "SIGTERM to a busy worker: exits 0"
left=$(count_jobs "state = 'queued'")
check "a busy worker stops claiming on SIGTERM ($left of 300 jobs left queued)" test "$left" -gt 0
is "$(count_jobs "state = 'running'")" 0 "... and leaves no job running"
q "DELETE FROM jobs WHERE state = 'queued'"

# ---- SIGKILL of a worker: its job is released at once, a new worker starts ----

start_worker -n 2
wait_for 30 has_children 2 || fail "the supervisor did not start 2 workers"
k=$(enqueue --max-attempts 5 noop '{"sleep_ms": 2000}')
wait_for 60 is_running "$k" || fail "the sleep job never started"
victim=$(q "SELECT worker FROM jobs WHERE id = $k")
victim=${victim##*:}
like "$(children "$W")" "^$victim\$" "the job's worker (pid $victim) is a child of the supervisor"
kill -KILL "$victim"
wait_for 30 eval '[[ $(errors_of '"$k"') == *"killed by signal 9"* ]]'
like "$(errors_of "$k")" "killed by signal 9" \
    "the killed worker's job gets a 'killed by signal 9' error (released by the supervisor)"
like "$(state_of "$k")" "^(queued|running|succeeded)$" "the released job is back in the queue"
new_child() { has_children 2 && ! children "$W" | grep -qx "$victim"; }
wait_for 30 new_child
check "a new worker replaces the killed one" new_child
wait_for 60 job_is "$k" succeeded
is "$(q "SELECT state || '/' || attempts FROM jobs WHERE id = $k")" "succeeded/2" \
    "the released job runs again and succeeds on attempt 2"
stop_worker
is "$RC" 0 "the supervisor exits 0 on SIGTERM after losing a worker"

# ---- SIGKILL of the whole tree: the lease expires, the next worker runs it ----

start_worker -n 1
t=$(enqueue --max-attempts 5 noop '{"sleep_ms": 2000}')
wait_for 60 is_running "$t" || fail "the sleep job never started"
kill -KILL -- "-$W"
wait "$W" 2>/dev/null	# reap it here: no "Killed" notice from bash
is "$(state_of "$t")" running "after kill -9 of the whole tree the job is left running"
drain_until 60 'job_is $t succeeded' || fail "the orphaned job did not run again within 60 s"
is "$(q "SELECT state || '/' || attempts FROM jobs WHERE id = $t")" "succeeded/2" \
    "once its lease expired the next dater-worker brought it back and ran it"
like "$(errors_of "$t")" "lease expired" "the lost attempt is recorded as 'lease expired'"

# ---- --queues -------------------------------------------------------------------

qa=$(enqueue --queue a noop)
qb=$(enqueue --queue b noop)
qd=$(enqueue noop)
run drain --queues a
is "$RC" 0 "--drain --queues a exits 0"
is "$(state_of "$qa")/$(state_of "$qb")/$(state_of "$qd")" "succeeded/queued/queued" \
    "--queues a runs only the jobs of queue a"
run drain --queues b,default
is "$(state_of "$qb")/$(state_of "$qd")" "succeeded/succeeded" "--queues b,default runs both"
run drain --queues 'a b'
is "$RC" 64 "a bad --queues list exits 64"

# ---- a unique key stays taken while its job runs -------------------------------

u=$(enqueue --unique run:1 noop '{"sleep_ms": 1500}')
start_bg "$TMP/drain-u.log" "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 1 --drain
D=$BG
wait_for 60 is_running "$u" || fail "the unique job never started"
is "$(enqueue --unique run:1 noop)" "$u" "--unique KEY returns the running job's id"
wait_exit "$D" 60
is "$(count_jobs "unique_key = 'run:1'")" 1 "no second job was added for a running job's key"

# ---- cancelling a running job discards its result ------------------------------

c=$(enqueue noop '{"sleep_ms": 1500}')
start_bg "$TMP/drain-bg.log" "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 1 --drain
D=$BG
wait_for 60 is_running "$c" || fail "the sleep job never started"
run enqueue --cancel "$c"
is "$RC" 0 "--cancel of a running job exits 0"
wait_exit "$D" 60
is "$RC" 0 "the worker drains and exits 0 after a cancelled job"
is "$(state_of "$c")" cancelled "a cancelled running job stays cancelled when it finishes"

# ---- SIGHUP reloads the configuration; a broken one is refused ------------------

WCONF=$TMP/hup.conf
cp "$CONF" "$WCONF"
start_worker -n 1
wait_for 30 has_children 1 || fail "the supervisor did not start a worker"
{
	cat "$CONF"
	echo 'log_level = "debug";'
	echo 'jobs = { noop = { timeout = "1s"; }; };'
} >"$WCONF.new"
mv "$WCONF.new" "$WCONF"
kill -HUP "$W"
# The supervisor says so at info level, the worker at the new debug level.
reloaded() { [ "$(grep -c 'configuration reloaded' "$WLOG")" -ge 2 ]; }
wait_for 30 reloaded
check "SIGHUP with a valid config: supervisor and worker reload it" reloaded
h=$(enqueue --max-attempts 1 noop '{"sleep_ms": 4000}')
wait_for 60 job_is "$h" dead
like "$(errors_of "$h")" "timed out" "the reloaded setting is in force (the new 1 s timeout killed a 4 s job)"
check "the supervisor is still running after the reload" alive "$W"

echo 'worker = { lease = ; };' >"$WCONF"
kill -HUP "$W"
refused() { grep -q 'refused' "$WLOG"; }
wait_for 30 refused
like "$(grep 'refused' "$WLOG" | head -1)" "refused" "SIGHUP with a broken config logs a refusal"
like "$(cat "$WLOG")" "hup.conf:1" "the refusal names the broken file and line"
h2=$(enqueue noop)
wait_for 60 job_is "$h2" succeeded
is "$(state_of "$h2")" succeeded "after a refused reload the worker keeps running jobs"
check "the supervisor is still running after a refused reload" alive "$W"
stop_worker
is "$RC" 0 "the supervisor exits 0 on SIGTERM"

is "$(count_jobs "state = 'running'")" 0 "no job is left running at the end"

# ---- usage -----------------------------------------------------------------------

run "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 0 --drain
is "$RC" 64 "-n 0 exits 64"
run "$BIN/dater-worker" -c "$CONF" -d "$DB" -n many --drain
is "$RC" 64 "-n many exits 64"
run "$BIN/dater-worker" -c "$CONF" -d "$DB" --drain extra
is "$RC" 64 "an extra argument exits 64"
run "$BIN/dater-worker" -h
is "$RC/$ERR" "0/" "-h exits 0, nothing on stderr"
like "$OUT" "usage: dater-worker" "-h prints the usage to stdout"
run "$BIN/dater-worker" -V
like "$OUT" "^dater-worker [0-9]+\.[0-9]+" "-V prints a version"

bb_done
