#!/bin/bash
# dater-report, black box: on a temp database filled through the real
# dater-migrate, dater-enqueue and dater-worker, every view's --json
# document parses and its numbers match what was enqueued and run; the
# tables agree; bad ids, views and options get the documented exit codes.
#
# Needs python3 (to read the JSON); no sqlite3 CLI.
set -u

BIN=$(cd "$(dirname "$0")/../bin" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dater-t_report.XXXXXX") || exit 70
DB=$TMP/dater.db
CONF=$TMP/dater.conf
BG=
unset DATER_CONFIG DATER_DB
N_OK=0
N_FAIL=0

cleanup() {
	if [ -n "$BG" ]; then
		kill -KILL -- "-$BG" 2>/dev/null
		kill -KILL "$BG" 2>/dev/null
		wait "$BG" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo "t_report: interrupted" >&2; exit 130' INT TERM HUP

for p in dater-report dater-migrate dater-enqueue dater-worker; do
	if [ ! -x "$BIN/$p" ]; then
		echo "Bail out! $BIN/$p is not built (run make)" >&2
		exit 1
	fi
done
if ! command -v python3 >/dev/null; then
	echo "Bail out! python3 is needed to read the JSON" >&2
	exit 1
fi

# ---- assertions ------------------------------------------------------------

ok() { N_OK=$((N_OK + 1)); echo "ok - $*"; }
fail() { N_FAIL=$((N_FAIL + 1)); echo "not ok - $*"; }

# is ACTUAL EXPECTED DESC
is() {
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		fail "$3"
		printf '#   got:      %s\n#   expected: %s\n' "$1" "$2"
	fi
}

# like TEXT REGEX DESC (grep -E, any line)
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		ok "$3"
	else
		fail "$3"
		printf '#   expected to match /%s/, got:\n' "$2"
		printf '%s\n' "$1" | head -20 | sed 's/^/#   /'
	fi
}

unlike() {
	if ! printf '%s\n' "$1" | grep -Eq -- "$2"; then
		ok "$3"
	else
		fail "$3"
		printf '#   expected not to match /%s/, got:\n' "$2"
		printf '%s\n' "$1" | head -20 | sed 's/^/#   /'
	fi
}

done_() {
	echo "# t_report: $N_OK passed, $N_FAIL failed"
	[ "$N_FAIL" -eq 0 ] && [ "$N_OK" -gt 0 ]
	exit $?
}

# run CMD...: sets OUT, ERR, RC.
run() {
	"$@" </dev/null >"$TMP/.out" 2>"$TMP/.err"
	RC=$?
	OUT=$(cat "$TMP/.out")
	ERR=$(cat "$TMP/.err")
}

# report ARGS...: dater-report on the test database (via run).
report() { run "$BIN/dater-report" -c "$CONF" -d "$DB" "$@"; }

# py EXPR: evaluate a Python expression over the JSON document in $OUT
# (bound to d) and print the result (JSON-encoded unless a string);
# "ERROR: ..." if $OUT does not parse.
py() {
	printf '%s' "$OUT" | python3 -c '
import json, re, sys
try:
    d = json.load(sys.stdin)
except ValueError as e:
    print("ERROR: not JSON: %s" % e)
    sys.exit(0)
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
def t(v):
    return v is None or bool(RFC3339.match(v))
try:
    v = eval(sys.argv[1])
except Exception as e:
    print("ERROR: %s: %s" % (type(e).__name__, e))
    sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v))
' "$1"
}

# jis EXPR EXPECTED DESC: py EXPR prints EXPECTED.
jis() { is "$(py "$1")" "$2" "$3"; }

enqueue() { "$BIN/dater-enqueue" -q -c "$CONF" -d "$DB" "$@"; }

# ---- a database with known contents ----------------------------------------

cat >"$CONF" <<'EOF'
worker = { heartbeat = "200ms"; lease = "5s"; poll_interval = "200ms"; };
EOF
"$BIN/dater-migrate" -q -c "$CONF" -d "$DB" up >/dev/null ||
    { fail "dater-migrate up"; done_; }

# 4 due in default, 1 due in bulk, 2 scheduled (one in bulk), 1 to fail
# for good, 1 out of attempts at once, 1 to cancel: 10 jobs.
for i in 1 2 3 4; do enqueue noop >/dev/null; done
enqueue --queue bulk noop '{"sleep_ms": 1}' >/dev/null
enqueue --in 1h noop >/dev/null
enqueue --in 2h --queue bulk --unique later noop >/dev/null
dead1=$(enqueue noop '{"fail": "permanent"}')
dead2=$(enqueue --max-attempts 1 noop '{"fail": "retry"}')
cancel=$(enqueue noop)
first=1

# ---- queue, before any work -------------------------------------------------

report --json queue
is "$RC" 0 "queue --json exits 0"
jis 'type(d).__name__' dict "queue --json is one JSON object"
jis '[d[k] for k in ("queued","due","scheduled","running","succeeded","dead","cancelled","total")]' \
    '[10, 8, 2, 0, 0, 0, 0, 10]' "queue counts: 10 queued (8 due, 2 scheduled)"
jis 'd["by_type"]["noop"]["queued"], d["by_type"]["noop"]["scheduled"]' \
    '[10, 2]' "queue by_type counts the noop jobs"
jis 'd["by_queue"]["bulk"]' \
    '{"queued": 2, "due": 1, "scheduled": 1, "running": 0}' \
    "queue by_queue splits the bulk queue"
jis 'd["by_queue"]["default"]["queued"]' 8 "queue by_queue: 8 in default"
jis 'd["oldest_due_id"]' "$first" "the oldest due job is the first enqueued"
jis 'isinstance(d["oldest_due_age_ms"], int) and d["oldest_due_age_ms"] >= 0' \
    true "oldest_due_age_ms is a non-negative integer"
jis 't(d["generated_at"]) and t(d["oldest_due_at"]) and d["next_scheduled_at"] is not None and t(d["next_scheduled_at"])' \
    true "queue times are RFC 3339 UTC with milliseconds"
jis 'd["workers"], d["lease_expired"]' '[0, 0]' "no workers, no expired leases"
like "$(tail -c 1 "$TMP/.out" | od -An -c)" '\\n' "the JSON ends with a newline"

report queue
is "$RC" 0 "queue (table) exits 0"
like "$OUT" '^queued +10 +8 due, 2 scheduled$' "the table shows 10 queued, 8 due"
like "$OUT" '^oldest due +job 1 \(noop\)' "the table names the oldest due job"
like "$OUT" '^noop +10 +10 +8 +2 ' "the per-type table row agrees with the JSON"
unlike "$OUT" ' $' "no table line ends in blanks"

# ---- run the due jobs --------------------------------------------------------

enqueue --cancel "$cancel" >/dev/null
timeout 60 "$BIN/dater-worker" -q -c "$CONF" -d "$DB" -n 2 --drain \
    >"$TMP/drain.log" 2>&1
is "$?" 0 "dater-worker --drain runs the due jobs"

report --json queue
jis '[d[k] for k in ("queued","due","scheduled","running","succeeded","dead","cancelled","total")]' \
    '[2, 0, 2, 0, 5, 2, 1, 10]' \
    "after the drain: 5 succeeded, 2 dead, 1 cancelled, 2 scheduled"
jis '[d["by_type"]["noop"][k] for k in ("succeeded","dead","cancelled","total")]' \
    '[5, 2, 1, 10]' "by_type agrees after the drain"
jis 'd["oldest_due_id"], d["oldest_due_age_ms"]' '[null, null]' \
    "nothing due: oldest_due_* are null"

# ---- jobs --------------------------------------------------------------------

report --json jobs
is "$RC" 0 "jobs --json exits 0"
jis 'len(d["jobs"]), d["truncated"]' '[10, false]' "jobs lists all 10 jobs"
jis '[j["id"] for j in d["jobs"]] == sorted([j["id"] for j in d["jobs"]], reverse=True)' \
    true "jobs are newest first"
jis 'sorted(d["jobs"][0].keys()) == sorted(["id","type","queue","bot","state","priority","attempts","max_attempts","run_at","created_at","started_at","finished_at","lease_until","worker","unique_key","last_error"])' \
    true "each job row has the documented keys"
jis 'all(t(j[k]) for j in d["jobs"] for k in ("run_at","created_at","started_at","finished_at","lease_until"))' \
    true "job times are RFC 3339 or null"

report jobs --state dead --json
jis 'sorted(j["id"] for j in d["jobs"])' "[$dead1, $dead2]" \
    "jobs --state dead lists the two dead jobs"
jis 'all(j["state"] == "dead" and j["last_error"] for j in d["jobs"])' true \
    "dead jobs carry their last error"
jis 'd["filter"]["state"], d["filter"]["limit"]' '["dead", 50]' \
    "the document echoes the filter"

report --json jobs --limit 3
jis '[j["id"] for j in d["jobs"]], d["truncated"]' '[[10, 9, 8], true]' \
    "--limit 3 gives the 3 newest and says more match"
report --json jobs --queue bulk --state queued
jis '[j["unique_key"] for j in d["jobs"]]' '["later"]' \
    "--queue and --state combine"
report --json jobs --type nosuch
jis 'd["jobs"]' '[]' "an unknown type matches nothing"

report jobs --state dead
is "$RC" 0 "jobs (table) exits 0"
like "$(printf '%s\n' "$OUT" | head -1)" \
    '^ID +TYPE +QUEUE +STATE +PRI +ATTEMPTS +RUN AT +CREATED +LAST ERROR$' \
    "the jobs table has a header"
is "$(printf '%s\n' "$OUT" | wc -l)" 3 "the jobs table has one line per job"
like "$OUT" "^ +$dead1 +noop +default +dead .*failed permanently" \
    "the table shows the permanent failure"

# ---- job ---------------------------------------------------------------------

report --json job "$dead2"
is "$RC" 0 "job --json exits 0"
jis 'd["id"], d["state"], d["attempts"], d["max_attempts"]' \
    "[$dead2, \"dead\", 1, 1]" "job shows the dead job's state and attempts"
jis 'd["payload"]' '{"fail": "retry"}' "job shows the payload as JSON"
jis 'len(d["errors"]), d["errors"][0]["attempt"]' '[1, 1]' \
    "job lists the attempt's error"
jis 't(d["errors"][0]["at"]) and bool(d["errors"][0]["worker"]) and "failed as asked" in d["errors"][0]["error"]' \
    true "the error has its time, worker and text"
jis 'd["last_error"] == d["errors"][-1]["error"]' true \
    "last_error is the last attempt's error"

report job "$cancel" --json
jis 'd["state"], d["errors"], t(d["finished_at"]) and d["finished_at"] is not None' \
    '["cancelled", [], true]' "a cancelled job: no errors, a finish time"

report job "$dead1"
is "$RC" 0 "job (table) exits 0"
like "$OUT" '^state +dead$' "the job table shows the state"
like "$OUT" '^payload +\{$' "the job table shows the payload"
like "$OUT" '^ +1 +[0-9T:.-]+Z +[^ ]+ +noop: failed permanently' \
    "the job table lists the error"

report job 99999
is "$RC" 66 "an unknown job id exits 66"
like "$ERR" "99999" "the error names the id"
is "$OUT" "" "nothing on stdout for an unknown id"

# ---- workers -----------------------------------------------------------------

report --json workers
jis 'd["workers"], d["orphaned"]' '[[], []]' "no workers after the drain"

slow=$(enqueue noop '{"sleep_ms": 2000}')
setsid "$BIN/dater-worker" -q -c "$CONF" -d "$DB" -n 1 --drain \
    >"$TMP/worker.log" 2>&1 &
BG=$!
seen=
for _ in $(seq 100); do
	report --json workers
	if [ "$(py '[j["id"] for w in d["workers"] for j in w["jobs"]]')" = \
	    "[$slow]" ]; then
		seen=1
		break
	fi
	sleep 0.05
done
if [ -n "$seen" ]; then
	ok "workers shows the worker running the slow job"
	jis 'len(d["workers"]), d["orphaned"]' '[1, []]' "one worker, no orphans"
	jis '[w["id"] == "%s:%d" % (w["host"], w["pid"]) for w in d["workers"]]' \
	    '[true]' "a worker's id is host:pid"
	jis '[t(w["started_at"]) and t(w["heartbeat_at"]) and w["heartbeat_age_ms"] >= 0 for w in d["workers"]]' \
	    '[true]' "a worker has its start and heartbeat times"
	report workers
	like "$OUT" "^[^ ]+:[0-9]+ +[0-9]+ .* $slow noop$" \
	    "the workers table shows the running job"
	report --json queue
	jis 'd["running"], d["workers"]' '[1, 1]' "queue counts the running job"
else
	fail "workers shows the worker running the slow job"
	sed 's/^/#   /' "$TMP/worker.log"
fi
for _ in $(seq 200); do
	kill -0 "$BG" 2>/dev/null || break
	sleep 0.05
done
wait "$BG"
is "$?" 0 "the worker drained and exited"
BG=

# ---- usage and refusals --------------------------------------------------

run "$BIN/dater-report" -c "$CONF" -d "$DB"
is "$RC" 64 "no view exits 64"
report sideways
is "$RC" 64 "an unknown view exits 64"
like "$ERR" "sideways" "the error names the view"
report jobs --state bogus
is "$RC" 64 "an unknown state exits 64"
report jobs --limit 0
is "$RC" 64 "--limit 0 exits 64"
report job abc
is "$RC" 64 "a malformed id exits 64"
report --frobnicate queue
is "$RC" 64 "an unknown option exits 64"
run "$BIN/dater-report" -h
is "$RC" 0 "-h exits 0"
like "$OUT" "^usage: dater-report" "-h prints the usage on stdout"
run "$BIN/dater-report" -V
like "$OUT" "^dater-report [0-9]+\.[0-9]+" "-V prints the version"

run "$BIN/dater-report" -c "$CONF" -d "$TMP/missing.db" queue
is "$RC" 78 "a missing database exits 78"
like "$ERR" "dater-migrate" "the error names dater-migrate"
test ! -e "$TMP/missing.db" && ok "a missing database is not created" ||
    fail "a missing database is not created"
: >"$TMP/empty.db"
run "$BIN/dater-report" -c "$CONF" -d "$TMP/empty.db" queue
is "$RC" 78 "an unmigrated database exits 78"

done_
