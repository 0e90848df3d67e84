#!/bin/bash
# dater-enqueue: one job from argv, batches from stdin (all or nothing,
# bad lines named), unique keys, scheduling (--at, --in), priorities,
# the admin verbs --cancel and --retry, and the command-line contract.
. "$(dirname "$0")/blackbox-lib.sh"

write_conf
migrate || die "dater-migrate up failed"

# ---- one job ---------------------------------------------------------------

run enqueue noop '{"sleep_ms": 1}'
is "$RC" 0 "enqueue exits 0"
like "$OUT" '^[0-9]+$' "enqueue prints the new job's id"
id=$OUT
is "$(q "SELECT type, state, $(jx payload sleep_ms), attempts FROM jobs WHERE id = $id")" \
    "noop|queued|1|0" "the job is stored queued with its payload"
is "$(q "SELECT queue, priority FROM jobs WHERE id = $id")" "default|100" \
    "defaults: queue 'default', priority 100"

id2=$(enqueue noop)
isnt "$id2" "$id" "a second enqueue gets a new id"
is "$(q "SELECT payload FROM jobs WHERE id = $id2")" "{}" "no payload is stored as {}"

run enqueue --queue mail --max-attempts 7 noop
is "$(q "SELECT queue, max_attempts FROM jobs WHERE id = $OUT")" "mail|7" \
    "--queue and --max-attempts are stored"

# ---- unique keys -------------------------------------------------------------

u1=$(enqueue --unique reply:42 noop)
u2=$(enqueue --unique reply:42 noop)
is "$u2" "$u1" "--unique KEY twice returns the same id while queued"
is "$(count_jobs "unique_key = 'reply:42'")" 1 "a duplicate unique key adds no row"
u3=$(enqueue --unique reply:43 noop)
isnt "$u3" "$u1" "a different unique key gets a new job"

run drain
is "$RC" 0 "drain exits 0 after running the queue"
is "$(state_of "$u1")" succeeded "the unique job ran"
u4=$(enqueue --unique reply:42 noop)
isnt "$u4" "$u1" "after the unique job finished, the same key gets a new id"
is "$(state_of "$u4")" queued "the new unique job is queued"

# Within one batch, the second line with a key gets the first line's id.
printf '%s\n' '{"type":"noop","unique":"b:1"}' '{"type":"noop","unique":"b:1"}' \
    >"$TMP/dup.jsonl"
run_in "$TMP/dup.jsonl" enqueue -
is "$RC" 0 "a batch with a repeated unique key exits 0"
is "$(echo "$OUT" | sort -u | wc -l)" 1 "a repeated unique key in one batch gives one id"
is "$(echo "$OUT" | wc -l)" 2 "... printed once per line"
run drain

# ---- batches from stdin ------------------------------------------------------

before=$(count_jobs)
cat >"$TMP/good.jsonl" <<'EOF'
{"type": "noop"}

{"type": "noop", "payload": {"sleep_ms": 2}, "priority": 5, "queue": "q1"}
{"type": "noop", "in": "1h", "max_attempts": 3, "unique": "batch-u"}
EOF
run_in "$TMP/good.jsonl" enqueue -
is "$RC" 0 "a good batch exits 0"
is "$(echo "$OUT" | grep -c .)" 3 "a batch prints one id per job (blank lines skipped)"
is "$(echo "$OUT" | grep -Ecv '^[0-9]+$')" 0 "every output line is an id"
is "$(echo "$OUT" | sort -u | wc -l)" 3 "the batch's ids are distinct"
is "$(count_jobs)" $((before + 3)) "the batch added its rows"
second=$(echo "$OUT" | sed -n 2p)
is "$(q "SELECT priority, queue, $(jx payload sleep_ms) FROM jobs WHERE id = $second")" \
    "5|q1|2" "each line's fields are stored with its job"
third=$(echo "$OUT" | sed -n 3p)
is "$(q "SELECT max_attempts, unique_key FROM jobs WHERE id = $third")" "3|batch-u" \
    "max_attempts and unique from a line are stored"

# One bad line anywhere rejects the batch: exit 65, the line named, no row.
reject() {	# DESC BADLINE [LINENO]
	local desc=$1 bad=$2 line=${3:-3} n
	n=$(count_jobs)
	{
		echo '{"type": "noop"}'
		echo '{"type": "noop", "payload": {"sleep_ms": 1}}'
		[ "$line" -eq 4 ] && echo ''
		echo "$bad"
		echo '{"type": "noop"}'
	} >"$TMP/bad.jsonl"
	run_in "$TMP/bad.jsonl" enqueue -
	is "$RC" 65 "batch with $desc exits 65"
	like "$ERR" "stdin:$line:" "batch with $desc: the error names stdin:$line"
	is "$OUT" "" "batch with $desc prints no id"
	is "$(count_jobs)" "$n" "batch with $desc enqueues nothing"
}
reject "bad JSON" '{"type": "noop",'
reject "a non-object line" '[1, 2]'
reject "an unknown type" '{"type": "no-such-type"}'
reject "a missing type" '{"payload": {}}'
reject '"priority": "x"' '{"type": "noop", "priority": "x"}'
reject "priority out of range" '{"type": "noop", "priority": 5000}'
reject "an unknown key" '{"type": "noop", "colour": "red"}'
reject "a bad payload field" '{"type": "noop", "payload": {"sleep_ms": -1}}'
reject "an unknown payload field" '{"type": "noop", "payload": {"nap": 1}}'
reject "a bad 'at'" '{"type": "noop", "at": "yesterday"}'
reject "a bad 'in'" '{"type": "noop", "in": "soon"}'
reject "both 'at' and 'in'" '{"type": "noop", "at": 1, "in": "1s"}'
reject "a bad queue name" '{"type": "noop", "queue": "a b"}'
reject "a blank line before the bad one" '{"type": 7}' 4
reject "a payload that is not an object" '{"type": "noop", "payload": [1]}'

unlike "$(q "SELECT count(*) FROM jobs WHERE payload LIKE '%nap%'")" '^[1-9]' \
    "no row from a rejected batch"

run enqueue - </dev/null
is "$RC/$OUT" "0/" "an empty batch exits 0 and prints nothing"

# A failure while writing (an insert the database refuses) rolls the
# whole batch back: the jobs are added in one transaction.
if is_pg; then
	q "CREATE FUNCTION t_boom() RETURNS trigger LANGUAGE plpgsql AS \$\$
	   BEGIN IF NEW.payload LIKE '%boom%' THEN RAISE EXCEPTION 'boom';
	   END IF; RETURN NEW; END \$\$;
	   CREATE TRIGGER t_boom BEFORE INSERT ON jobs FOR EACH ROW
	   EXECUTE FUNCTION t_boom();"
else
	q "CREATE TRIGGER t_boom BEFORE INSERT ON jobs WHEN NEW.payload LIKE '%boom%'
	   BEGIN SELECT RAISE(ABORT, 'boom'); END;"
fi
n=$(count_jobs)
printf '%s\n' '{"type":"noop"}' '{"type":"noop"}' \
    '{"type":"noop","payload":{"trace":"boom"}}' '{"type":"noop"}' >"$TMP/boom.jsonl"
run_in "$TMP/boom.jsonl" enqueue -
isnt "$RC" 0 "a batch whose third insert fails exits nonzero"
is "$OUT" "" "... and prints no id"
is "$(count_jobs)" "$n" "a batch whose third insert fails enqueues nothing (one transaction)"
if is_pg; then
	q "DROP TRIGGER t_boom ON jobs; DROP FUNCTION t_boom()"
else
	q "DROP TRIGGER t_boom"
fi

# ---- --at and --in -------------------------------------------------------

future=2030-01-02T03:04:05Z
future_ms=$(($(date -u -d "$future" +%s) * 1000))
a1=$(enqueue --at "$future" noop)
is "$(q "SELECT run_at FROM jobs WHERE id = '$a1'")" "$future_ms" "--at RFC 3339 (Z) sets run_at"
a2=$(enqueue --at 2030-01-02T05:04:05.250+02:00 noop)
is "$(q "SELECT run_at FROM jobs WHERE id = '$a2'")" "$((future_ms + 250))" \
    "--at RFC 3339 with an offset and fraction sets run_at"
a3=$(enqueue --at "$((future_ms / 1000))" noop)
is "$(q "SELECT run_at FROM jobs WHERE id = '$a3'")" "$future_ms" "--at unix seconds sets run_at"
i1=$(enqueue --in 1h noop)
d=$(q "SELECT run_at - created_at FROM jobs WHERE id = '$i1'")
check "--in 1h sets run_at one hour after creation (got ${d}ms)" \
    test "$d" -ge 3540000 -a "$d" -le 3600000
i2=$(enqueue --in 90s noop)
d=$(q "SELECT run_at - created_at FROM jobs WHERE id = '$i2'")
check "--in 90s sets run_at 90 s after creation (got ${d}ms)" \
    test "$d" -ge 30000 -a "$d" -le 90000
past=$(enqueue --at 2001-01-01T00:00:00Z noop)
run drain
is "$RC" 0 "drain exits 0 with only future jobs left"
is "$(state_of "$past")" succeeded "a job --at in the past runs"
is "$(q "SELECT state || '/' || attempts FROM jobs WHERE id IN ('$a1', '$i1', '$third') ORDER BY id")" \
    "$(printf 'queued/0\nqueued/0\nqueued/0')" "jobs --at the future and --in 1h are not run by --drain"

run enqueue --at tomorrow noop
check "--at with a bad time fails with 64 or 65 (got $RC)" test "$RC" = 64 -o "$RC" = 65
run enqueue --in 5parsecs noop
check "--in with a bad duration fails with 64 or 65 (got $RC)" test "$RC" = 64 -o "$RC" = 65
run enqueue --at "$future" --in 1h noop
is "$RC" 64 "--at and --in together exit 64"

# ---- priorities --------------------------------------------------------------

# Clear the future jobs out of the way, then run one at a time.
q "DELETE FROM jobs WHERE state = 'queued'"
T=$TMP/prio.trace
p_def=$(enqueue noop "{\"trace\": \"$T\"}")
p50=$(enqueue --priority 50 noop "{\"trace\": \"$T\"}")
p0=$(enqueue --priority 0 noop "{\"trace\": \"$T\"}")
p50b=$(enqueue --priority 50 noop "{\"trace\": \"$T\"}")
p1000=$(enqueue --priority 1000 noop "{\"trace\": \"$T\"}")
p10=$(enqueue --priority 10 noop "{\"trace\": \"$T\"}")
run drain -n 1
is "$RC" 0 "drain -n 1 exits 0"
is "$(cut -d' ' -f1 "$T" 2>/dev/null | tr '\n' ' ')" \
    "$p0 $p10 $p50 $p50b $p_def $p1000 " \
    "jobs run by priority (0 first), then in enqueue order"

# ---- --cancel and --retry ------------------------------------------------------

c1=$(enqueue noop)
c2=$(enqueue --in 1h noop)	# stays queued through the drains below
run enqueue --cancel "$c1"
is "$RC" 0 "--cancel of a queued job exits 0"
is "$(state_of "$c1")" cancelled "the cancelled job is cancelled"
run enqueue --cancel "$c1"
is "$RC" 65 "--cancel of a cancelled job exits 65"
like "$ERR" "$c1" "the refusal names the job"
run enqueue --cancel "$c2" "$p0"
is "$RC" 65 "--cancel of a list with a succeeded job exits 65"
like "$ERR" "$p0" "the refusal names the succeeded job"
is "$(state_of "$c2")" queued "a refused --cancel list changes nothing (all or nothing)"
run enqueue --cancel 999999
is "$RC" 65 "--cancel of a missing job exits 65"

dead=$(enqueue noop '{"fail": "permanent"}')
run drain
is "$(state_of "$dead")" dead "a permanent failure is dead"
is "$(state_of "$c2")" queued "(the future job is still queued)"
run enqueue --retry "$dead" "$c2"
is "$RC" 65 "--retry of a list with a queued job exits 65"
like "$ERR" "$c2" "the refusal names the queued job"
is "$(state_of "$dead")" dead "a refused --retry list changes nothing (all or nothing)"
run enqueue --retry "$p0"
is "$RC" 65 "--retry of a succeeded job exits 65"
run enqueue --retry "$dead" "$c1"
is "$RC" 0 "--retry of a dead and a cancelled job exits 0"
is "$(q "SELECT state || '/' || attempts FROM jobs WHERE id IN ($dead, $c1) ORDER BY id")" \
    "$(printf 'queued/0\nqueued/0')" "--retry puts them back queued with attempts reset"
run enqueue --cancel "$c1" "$c2"
is "$RC" 0 "--cancel of several queued jobs exits 0"
is "$(q "SELECT $(agg state) FROM jobs WHERE id IN ($c1, $c2)")" "cancelled,cancelled" \
    "--cancel of a list cancels them all"
# A retried job must not take a unique key another live job holds.
k1=$(enqueue --unique once noop '{"fail": "permanent"}')
run drain
k2=$(enqueue --unique once --in 1h noop)
isnt "$k2" "$k1" "a dead job frees its unique key"
run enqueue --retry "$k1"
is "$RC" 65 "--retry of a job whose unique key is taken again exits 65"
like "$ERR" "$k1" "the refusal names the job"
is "$(state_of "$k1")" dead "the job stays dead"

# --retry --state dead [--type T] [--bot B]: every matching job at once.
run enqueue --retry --state dead
is "$RC" 65 "--retry --state dead refuses the set when one job's unique key is taken"
is "$(state_of "$k1")" dead "... and changes nothing"
run enqueue --cancel "$k2"
d1=$(enqueue noop '{"fail": "permanent"}')
d2=$(enqueue noop '{"fail": "permanent"}')
run drain
run enqueue --retry --state dead --type nosuchtype
is "$RC:$OUT" "0:" "--retry --state dead --type with no match retries nothing, exits 0"
was_dead=$(q "SELECT $(agg id ' ') FROM (SELECT id FROM jobs WHERE state = 'dead' AND type = 'noop' ORDER BY id) d")
like " $was_dead " " $d1 .*$d2 " "(the dead noop jobs: $was_dead)"
run enqueue --retry --state dead --type noop
is "$RC" 0 "--retry --state dead --type noop exits 0"
is "$(printf '%s\n' "$OUT" | sed 's/^queued //' | sort -n | tr '\n' ' ')" "$was_dead " \
    "... printing each job it queued"
is "$(q "SELECT count(*) FROM jobs WHERE state = 'dead'"):$(q "SELECT $(agg "state || '/' || attempts") FROM jobs WHERE id IN ($d1, $d2)")" \
    "0:queued/0,queued/0" "... every dead noop job is queued again, attempts reset"
run enqueue --retry --state queued
is "$RC" 64 "--retry --state queued is a usage error"
run enqueue --retry --state dead "$d1"
is "$RC" 64 "--retry --state with ids is a usage error"
run enqueue --type noop noop
is "$RC" 64 "--type without --retry --state is a usage error"
like "$ERR" "try 'dater-enqueue --help'" "... answered with one line and a hint"

run enqueue --cancel abc
is "$RC" 64 "--cancel with a non-numeric id exits 64"
run enqueue --cancel
is "$RC" 64 "--cancel with no id exits 64"

# ---- a locked database is a temporary failure (75), not bad input ----------
# SQLite only: a sqlite3 shell holds the write lock (PostgreSQL writers
# do not lock each other out of a whole database).
if ! is_pg; then
	BUSY_CONF=$TMP/busy.conf
	{ cat "$CONF"; echo 'busy_timeout = "200ms";'; } >"$BUSY_CONF"
	victim=$(enqueue --in 1h noop)
	mkfifo "$TMP/lock.fifo"
	setsid sqlite3 "$DB" <"$TMP/lock.fifo" >>"$TMP/lock.log" 2>&1 &
	BG_PIDS+=("$!")
	LOCKER=$!
	exec 7>"$TMP/lock.fifo"
	# .timeout: the locker's BEGIN waits out the probe below (its own
	# BEGIN IMMEDIATE; ROLLBACK) instead of failing when the two meet.
	printf '%s\n' ".timeout 10000" \
	    "BEGIN IMMEDIATE; INSERT INTO kv VALUES ('lock', 'held', 0);" >&7
	locked() { ! sqlite3 "$DB" 'BEGIN IMMEDIATE; ROLLBACK;' 2>/dev/null; }
	wait_for 30 locked || fail "could not hold a write lock on the database"
	n=$(q "SELECT count(*) FROM jobs")
	run "$BIN/dater-enqueue" -c "$BUSY_CONF" -d "$DB" noop
	is "$RC" 75 "enqueue while another process holds the write lock exits 75 (try again)"
	run "$BIN/dater-enqueue" -c "$BUSY_CONF" -d "$DB" - <"$TMP/good.jsonl"
	is "$RC" 75 "a batch while the database is locked exits 75"
	run "$BIN/dater-enqueue" -c "$BUSY_CONF" -d "$DB" --cancel "$victim"
	is "$RC" 75 "--cancel while the database is locked exits 75, not 65 (bad input)"
	run "$BIN/dater-enqueue" -c "$BUSY_CONF" -d "$DB" --retry "$victim"
	is "$RC" 75 "--retry while the database is locked exits 75, not 65 (bad input)"
	echo "ROLLBACK; .quit" >&7
	exec 7>&-
	wait "$LOCKER" 2>/dev/null
	is "$(q "SELECT count(*) FROM jobs")" "$n" "nothing was enqueued while locked"
	is "$(state_of "$victim")" queued "nothing was cancelled while locked"
fi

# ---- usage -------------------------------------------------------------------

n=$(count_jobs)
run enqueue
is "$RC" 64 "no arguments exit 64"
run enqueue noop '{}' extra
is "$RC" 64 "too many arguments exit 64"
run enqueue --bogus noop
is "$RC" 64 "an unknown option exits 64"
run enqueue --priority x noop
is "$RC" 64 "--priority x exits 64"
run enqueue --priority 1001 noop
is "$RC" 64 "--priority out of range exits 64"
run enqueue --max-attempts 0 noop
is "$RC" 64 "--max-attempts 0 exits 64"
run enqueue --priority 5 -
is "$RC" 64 "job options with '-' exit 64"
run enqueue noop '{"sleep_ms": '
is "$RC" 65 "a bad JSON payload on argv exits 65"
run enqueue noop '[1]'
is "$RC" 65 "a payload that is not an object exits 65"
run enqueue no-such-type
is "$RC" 65 "an unknown type on argv exits 65"
like "$ERR" "no-such-type" "the error names the unknown type"
is "$(count_jobs)" "$n" "refused commands enqueue nothing"

run "$BIN/dater-enqueue" -h
is "$RC" 0 "-h exits 0"
like "$OUT" "usage: dater-enqueue" "-h prints the usage to stdout"
like "$OUT" "noop" "-h lists the job types"
is "$ERR" "" "-h prints nothing to stderr"
run "$BIN/dater-enqueue" --version
is "$RC" 0 "--version exits 0"
like "$OUT" "^dater-enqueue [0-9]+\.[0-9]+" "--version prints a version"

bb_done
