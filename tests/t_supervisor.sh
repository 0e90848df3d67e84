#!/bin/bash
# dater-worker's supervisor on a bad day. A database that takes no
# writes: --drain gives up on its own with 69 after a bounded number of
# failed worker starts, and the service logs one line per restart (not
# a flood) and says when the database works again. A stopped worker
# (SIGSTOP) whose job runs past its type's timeout: the supervisor kills
# it, records the attempt as timed out and starts a new worker.
#
# "Takes no writes" is another process holding the database's write lock
# for as long as the test wants (sqlite3 in BEGIN EXCLUSIVE, fed from a
# FIFO): unlike chmod it stops root too, and every write fails with
# "database is locked" after the busy timeout.
. "$(dirname "$0")/blackbox-lib.sh"

write_conf '' 'busy_timeout = "100ms";'
migrate || die "dater-migrate up failed"
command -v sqlite3 >/dev/null || die "the sqlite3 CLI is needed"

job_is() { [ "$(state_of "$1")" = "$2" ]; }

LOCK_FIFO=$TMP/lock.fifo
LOCK_OUT=$TMP/lock.out

# Hold the write lock until unlock_db. Programs started meanwhile get
# 7>&- so that only this shell holds the FIFO open.
lock_db() {
	rm -f "$LOCK_FIFO" "$LOCK_OUT"
	mkfifo "$LOCK_FIFO" || return 1
	start_bg "$LOCK_OUT" sh -c 'exec sqlite3 -batch "$1" <"$2"' sh \
	    "$DB" "$LOCK_FIFO"
	LOCKER=$BG
	exec 7>"$LOCK_FIFO"
	echo "BEGIN EXCLUSIVE; SELECT 'locked';" >&7
	wait_for 30 grep -q '^locked$' "$LOCK_OUT"
}

unlock_db() {
	printf '%s\n' "ROLLBACK;" ".exit" >&7
	exec 7>&-
	wait_exit "$LOCKER" 30
}

# SQLite only, the two parts below: a sqlite3 shell holds the database's
# write lock (a PostgreSQL database has no such lock to hold).
if ! is_pg; then
	# ---- --drain gives up when no worker can write ---------------------------------

	j=$(enqueue noop)
	lock_db || die "could not take the database's write lock"
	start_bg "$TMP/drain.log" "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 2 --drain 7>&-
	D=$BG
	# 120 s only guards against a hang: the drain must end by itself.
	wait_exit "$D" 120
	is "$RC" 69 "--drain exits 69 by itself when workers cannot write"
	DLOG=$(cat "$TMP/drain.log")
	is "$(grep -c 'giving up' "$TMP/drain.log")" 1 "it says once that it gives up"
	like "$DLOG" "giving up after [0-9]+ failed starts.*database is locked" \
	    "... after how many failed starts, with the database's error"
	n=$(wc -l <"$TMP/drain.log")
	check "the drain's log is short ($n lines)" test "$n" -le 20
	is "$(state_of "$j")" queued "the job is still queued"
	unlock_db
	run drain
	is "$RC/$(state_of "$j")" "0/succeeded" "once the lock is gone a drain runs the job"

	# ---- the service keeps trying, one line per restart, and recovers ---------------

	WLOG=$TMP/worker.log
	lock_db || die "could not take the database's write lock"
	start_bg "$WLOG" "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 1 7>&-
	W=$BG
	restarts() { grep -c 'exited 69 (.*); restarting' "$WLOG"; }
	wait_for 120 eval '[ "$(restarts)" -ge 8 ]' ||
	    fail "the service did not restart its worker 8 times within 120 s"
	# Lines first, then restarts: more restarts can only loosen the bound.
	lines=$(wc -l <"$WLOG")
	steps=$(restarts)
	check "one line per restart: $lines lines for $steps restarts (at most $((steps + 6)))" \
	    test "$lines" -le $((steps + 6))
	like "$(grep 'restarting' "$WLOG" | tail -1)" \
	    "worker [^ ]+ exited 69 \(register worker in .*database is locked\); restarting (in [0-9]|now)" \
	    "each restart line names the exit status, the reason and the delay"
	check "the service is still running" alive "$W"
	unlock_db
	back() { grep -q 'takes writes again' "$WLOG"; }
	wait_for 60 back
	check "it says when the database takes writes again" back
	k=$(enqueue noop)
	wait_for 60 job_is "$k" succeeded
	is "$(state_of "$k")" succeeded "after recovery its worker runs jobs"
	hb() { grep -q 'heartbeat works again' "$WLOG"; }
	wait_for 30 hb
	check "the heartbeat says it works again" hb
	kill -TERM "$W"
	wait_exit "$W" 30
	is "$RC" 0 "the service exits 0 on SIGTERM after recovering"
fi

# ---- a stopped worker's job timeout is enforced by the supervisor ---------------
#
# The worker is stopped while idle and the job is then claimed for it
# with the same UPDATE a claim makes: a worker stopped in the middle of
# a job, without a race against the worker's own timer (which would
# kill it first if the stop came late).

TCONF=$TMP/timeout.conf
cp "$CONF" "$TCONF"
echo 'jobs = { noop = { timeout = "1s"; }; };' >>"$TCONF"
TLOG=$TMP/timeout.log
start_bg "$TLOG" "$BIN/dater-worker" -c "$TCONF" -d "$DB" -n 1
W=$BG
has_child() { [ "$(children "$W" | wc -l)" -eq 1 ]; }
wait_for 30 has_child || die "the supervisor did not start its worker"
victim=$(children "$W")
registered() { [ "$(q "SELECT count(*) FROM workers WHERE pid = $victim")" = 1 ]; }
wait_for 30 registered || die "worker $victim did not register"
kill -STOP "$victim"
h=$(enqueue --max-attempts 1 noop '{"sleep_ms": 3600000}')
wid=$(q "SELECT id FROM workers WHERE pid = $victim")
q "UPDATE jobs SET state = 'running', attempts = attempts + 1,
   lease_until = $(($(now_ms) + 1000)), worker = '$wid', started_at = $(now_ms)
   WHERE id = $h"
is "$(state_of "$h")" running "the stopped worker holds the job"
wait_for 60 job_is "$h" dead
is "$(state_of "$h")" dead "the job past its timeout ends dead (1 attempt)"
like "$(q "SELECT errors FROM jobs WHERE id = $h")" \
    "timed out.*killed by the supervisor" "its attempt is recorded as timed out"
gone() { ! alive "$victim"; }
wait_for 30 gone
check "the stopped worker was killed" gone
replaced() { has_child && ! children "$W" | grep -qx "$victim"; }
wait_for 30 replaced
check "a new worker replaces it" replaced
like "$(cat "$TLOG")" "job $h \(noop\) ran past its timeout \(1s\)" \
    "the supervisor logs which job it killed for"
n=$(enqueue noop)
wait_for 60 job_is "$n" succeeded
is "$(state_of "$n")" succeeded "the new worker runs jobs"
kill -TERM "$W"
wait_exit "$W" 30
is "$RC" 0 "the supervisor exits 0 on SIGTERM"

bb_done
