#!/bin/bash
# Chaos: thousands of noop jobs run by two `dater-worker -n 2` trees (two
# hosts sharing one queue) while worker processes are killed with SIGKILL
# at random, and at last one whole tree (its supervisor too, as when a
# host dies): the other tree gives that tree's jobs back when their
# leases expire. The same test runs on SQLite and on PostgreSQL (make
# check's second pass). At the end every job must
# be `succeeded`, none `running`, and none may have run after it had
# succeeded. Each job appends "id attempt pid" to a trace file when it
# starts; a claim counts an attempt, so a run after success would show
# up as a second trace line for an attempt or a traced attempt above the
# job's final `attempts`.
. "$(dirname "$0")/blackbox-lib.sh"

JOBS=${CHAOS_JOBS:-3000}
KILL_SECS=${CHAOS_KILL_SECS:-8}
MIN_KILLS=10

# The supervisor gives a killed worker's job back at once; the lease is
# the backstop for a dead tree: short enough here that the dead tree's
# jobs come back soon, eight heartbeats long so a busy machine seldom
# loses an attempt to it (and if it does, fencing keeps the result once).
# Noop jobs are claimed in batches of BATCH: a kill loses the results of
# at most one batch, finished handlers included.
BATCH=16
write_conf "lease = \"4s\"; heartbeat = \"500ms\"; poll_interval = \"200ms\";
           restart_backoff_max = \"200ms\"; batch = $BATCH;"
migrate || die "dater-migrate up failed"
TRACE=$TMP/trace
HOST=$(hostname)
WLOG=$TMP/worker.log

# ---- the jobs ----------------------------------------------------------------

awk -v n="$JOBS" -v t="$TRACE" 'BEGIN {
	srand(); for (i = 0; i < n; i++)
		printf "{\"type\":\"noop\",\"max_attempts\":100,\"payload\":" \
		    "{\"sleep_ms\":%d,\"trace\":\"%s\"}}\n", int(rand() * 4), t
}' >"$TMP/jobs.jsonl"
run_in "$TMP/jobs.jsonl" enqueue -
is "$RC" 0 "enqueue $JOBS jobs in one batch"
is "$(count_jobs "state = 'queued'")" "$JOBS" "$JOBS jobs are queued"

# ---- run them while killing workers ------------------------------------------

start_bg "$WLOG" "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 2
W=$BG
start_bg "$TMP/worker-b.log" "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 2
WB=$BG
busy() { [ "$(count_jobs "state IN ('queued', 'running')")" -gt 0 ]; }

# The loop forks little (a sqlite3 look every 10 rounds), so kills come
# every 20..50 ms rather than at the pace of the checks.
# A host dies: tree B, supervisor and workers at once, whatever they
# hold (b_held: what they still held once dead). Tree A gives those jobs
# back once their leases expire.
kill_tree_b() {
	local bkids
	bkids=$(children "$WB" | paste -sd' ')
	kill -KILL "$WB" $bkids 2>/dev/null
	for p in $WB $bkids; do
		while alive "$p"; do sleep 0.01; done
	done
	b_held=$(q "SELECT id FROM jobs WHERE state = 'running' AND
	            worker IN ('$HOST:$(echo $bkids | sed "s/ /', '$HOST:/g")')" |
	         paste -sd' ')
	kills=$((kills + $(echo $bkids | wc -w)))
	b_killed=1
	echo "# killed tree B ($WB $bkids) holding jobs: ${b_held:-none}"
}

kills=0
round=0
b_killed=
start=$SECONDS
while [ $((SECONDS - start)) -lt "$KILL_SECS" ] && alive "$W"; do
	round=$((round + 1))
	if [ $((round % 10)) = 0 ]; then
		# Once half the jobs are done (or all of them), a host dies.
		if [ -z "$b_killed" ] &&
		    [ "$(count_jobs "state = 'queued'")" -le $((JOBS / 2)) ]; then
			kill_tree_b
		fi
		busy || break
	fi
	mapfile -t kids < <(children "$W"; alive "$WB" && children "$WB")
	if [ "${#kids[@]}" -gt 0 ]; then
		victim=${kids[RANDOM % ${#kids[@]}]}
		if alive "$victim" && kill -KILL "$victim" 2>/dev/null; then
			kills=$((kills + 1))
		fi
	fi
	sleep "0.0$((RANDOM % 31 + 20))"	# 20..50 ms
done
echo "# delivered $kills SIGKILLs to worker processes in $((SECONDS - start)) s;" \
    "$(count_jobs "state IN ('queued', 'running')") jobs were left then"
check "at least $MIN_KILLS kills landed while jobs ran ($kills)" test "$kills" -ge "$MIN_KILLS"
check "tree A's supervisor survived the kills" alive "$W"
[ -n "$b_killed" ] || kill_tree_b

settled() { ! busy; }
wait_for 120 settled || fail "jobs still queued or running after 120 s"
kill -TERM "$W"
wait_exit "$W" 30
is "$RC" 0 "the supervisor exits 0 on SIGTERM after the chaos"

# ---- the verdict ---------------------------------------------------------------

is "$(count_jobs "state = 'succeeded'")" "$JOBS" "every job succeeded"
if [ -n "$b_held" ]; then
	is "$(count_jobs "id IN ($(echo $b_held | tr ' ' ,)) AND
	    (state <> 'succeeded' OR $(jlen errors) = 0)")" 0 \
	    "the $(echo $b_held | wc -w) jobs the dead tree B held were given back (lease expired) and done"
else
	echo "# tree B held no job when it was killed"
fi
is "$(count_jobs "state = 'running'")" 0 "no job is left running"
q "SELECT state, count(*) FROM jobs GROUP BY state" | note
released=$(count_jobs "$(jlen errors) > 0")
echo "# $released jobs lost an attempt to a kill and ran again;" \
    "max attempts $(q 'SELECT max(attempts) FROM jobs')"
check "kills hit running jobs (some job was released and re-run)" test "$released" -gt 0

# Every attempt but the last ended with an error (the kill), numbered
# 1..attempts-1: a job claimed again after it succeeded would break this
# or the count below.
bad=$(q "SELECT id, attempts, $(jlen errors) FROM jobs
         WHERE $(jlen errors) != attempts - 1
            OR (SELECT count(DISTINCT $(jxn value attempt))
                FROM $(jeach jobs.errors)
                WHERE $(jxn value attempt) BETWEEN 1 AND jobs.attempts - 1)
               != attempts - 1 LIMIT 10")
is "$bad" "" "every job has one error per lost attempt (1..attempts-1) and none for its success"
nerr=$(q "SELECT count(*) FROM jobs, $(jeach jobs.errors)")
check "no more lost attempts ($nerr) than kills delivered ($kills) times the batch ($BATCH): each kill ends at most one batch" \
    test "$nerr" -le "$((kills * BATCH))"
nother=$(q "SELECT count(*) FROM jobs, $(jeach jobs.errors)
            WHERE $(jx value error) NOT LIKE '%killed by signal 9%'
            AND $(jx value error) NOT LIKE '%lease expired%'")
is "$nother" 0 "every lost attempt was lost to a SIGKILL (or to the dead tree's lease)"

q "SELECT id, attempts FROM jobs" | tr '|' ' ' >"$TMP/attempts"
awk '
	NR == FNR { attempts[$1] = $2; next }
	{
		if (($1, $2) in seen) {
			printf "job %s attempt %s ran twice\n", $1, $2
			bad++
		}
		seen[$1, $2] = 1
		if ($2 > max[$1]) max[$1] = $2
	}
	END {
		for (id in attempts) {
			if (!(id in max)) {
				printf "job %s never traced a run\n", id
				bad++
			} else if (max[id] != attempts[id]) {
				printf "job %s: traced attempt %s, final attempts %s\n",
				    id, max[id], attempts[id]
				bad++
			}
		}
		for (id in max)
			if (!(id in attempts)) {
				printf "trace names unknown job %s\n", id
				bad++
			}
		exit bad > 0
	}' "$TMP/attempts" "$TRACE" >"$TMP/verdict"
vrc=$?
[ "$vrc" -eq 0 ] || head -20 "$TMP/verdict" | note
is "$vrc" 0 "no job ran after it had succeeded (one trace line per attempt, the last one = final attempts)"
echo "# $(wc -l <"$TRACE") runs traced for $JOBS jobs"

bb_done
