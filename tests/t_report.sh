#!/bin/bash
# dater-report, black box: on a temp database filled through the real
# dater-migrate, dater-enqueue and dater-worker, every view's --json
# document parses and its numbers match what was enqueued and run; the
# tables agree; bad ids, views and options get the documented exit codes.
#
# Then a database of conversations (contacts, offline LLM replies, an
# opt-out, a draft, a dead job): bots, contacts, conversation, metrics,
# health and the Prometheus text, in every format, checked against the
# database.
#
# Needs python3 (JSON, CSV, the database via its sqlite3 module); no
# sqlite3 CLI.
set -u

# SQLite only: rows written and read with python3's sqlite3 module on the
# .db file (this test does not use blackbox-lib.sh, nor its q).
if [ -n "${DATER_TEST_PG:-}" ]; then
	echo "ok - # SKIP on PostgreSQL: python3's sqlite3 module on the .db file"
	exit 0
fi

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
isnt() {
	if [ "$1" != "$2" ]; then
		N_OK=$((N_OK + 1)); echo "ok - $3"
	else
		N_FAIL=$((N_FAIL + 1)); echo "not ok - $3"
		printf '#   got %s, expected anything else\n' "$1"
	fi
}
fail() { N_FAIL=$((N_FAIL + 1)); echo "not ok - $*"; }
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
worker = { heartbeat = "200ms"; lease = "5s"; poll_interval = "200ms";
    shutdown_grace = "100ms"; };
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

# The job is held by the test, not by a clock: it sleeps for an hour, and
# the test cancels it and stops the worker itself after the assertions.
# The loops only wait (bounded) for a state, never for time to pass.
slow=$(enqueue noop '{"sleep_ms": 3600000}')
setsid "$BIN/dater-worker" -q -c "$CONF" -d "$DB" -n 1 --drain \
    >"$TMP/worker.log" 2>&1 &
BG=$!
seen=
for _ in $(seq 1200); do
	report --json workers
	if [ "$(py '[j["id"] for w in d["workers"] for j in w["jobs"]]')" = \
	    "[$slow]" ]; then
		seen=1
		break
	fi
	kill -0 "$BG" 2>/dev/null || break
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
# End it: cancel the job, then SIGTERM the tree; the supervisor kills the
# worker (still in its hour-long job) once shutdown_grace is over.
"$BIN/dater-enqueue" -q -c "$CONF" -d "$DB" --cancel "$slow" >/dev/null
is "$?" 0 "the held job is cancelled"
kill -TERM "$BG"
wait "$BG"
is "$?" 0 "the worker tree stopped on SIGTERM"
BG=
report --json job "$slow"
jis 'd["state"]' cancelled "the held job stays cancelled"
report --json workers
jis 'd["workers"], d["orphaned"]' '[[], []]' "no worker rows left behind"

# ---- usage and refusals --------------------------------------------------

run "$BIN/dater-report" -c "$CONF" -d "$DB"
is "$RC" 64 "no view exits 64"
report sideways
is "$RC" 64 "an unknown view exits 64"
like "$ERR" "sideways" "the error names the view"
is "$ERR" "dater-report: error: unknown view 'sideways'
dater-report: try 'dater-report --help'" "... in one line, with a hint instead of the whole usage"
report jobs --state bogus
is "$RC" 64 "an unknown state exits 64"
like "$ERR" "try 'dater-report jobs --help'" "a view's usage error points at the view's help"
report jobs --help
is "$RC" 0 "jobs --help exits 0"
like "$OUT" "^usage: dater-report \[options\] jobs \[--state S\]" "... printing the view's synopsis"
like "$OUT" "--state S +queued, running" "... and its options"
for v in queue jobs job workers config bots audit contacts conversation metrics health prometheus html; do
	run "$BIN/dater-report" "$v" --help
	is "$RC:$(printf '%s\n' "$OUT" | head -1 | grep -c "^usage: dater-report \[options\] $v")" "0:1" "$v --help"
done
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

# ---- conversations: bots, contacts, conversation, metrics, health -----------
#
# A second database, filled the way production fills it: contacts and
# inbound messages through dater-enqueue, replies from the offline LLM
# through dater-worker --drain, an opt-out, a bot in review mode (its
# reply stays a draft), a dead job. Every view is then read in every
# format and checked against the database itself (python3's sqlite3,
# read-only).

DB=$TMP/conv.db
CONF=$TMP/conv.conf
cat >"$CONF" <<'EOF'
worker = { heartbeat = "200ms"; lease = "5s"; poll_interval = "200ms"; };
queue = { retry_base = "50ms"; retry_cap = "200ms"; };
llm = { provider = "offline"; };
defaults = { reply_delay = [0, 0]; quiet_hours = "off";
    daily_budget_usd = 5.0; };
bots = (
	{ name = "demo"; transport = { driver = "console"; }; },
	{ name = "rev"; transport = { driver = "console"; }; review = true;
	  daily_budget_usd = 0.0; }
);
EOF
"$BIN/dater-migrate" -q -c "$CONF" -d "$DB" up >/dev/null ||
    { fail "dater-migrate up (conversations)"; done_; }
enqueue - >/dev/null <<'EOF'
{"type": "contact", "payload": {"bot": "demo", "platform_id": "1001", "name": "Mia, \"M\"", "consent": true, "profile": {"city": "Berlin"}}}
{"type": "contact", "payload": {"bot": "demo", "platform_id": "1002", "name": "Lena", "consent": true}}
{"type": "contact", "payload": {"bot": "demo", "platform_id": "1003", "name": "Sara", "consent": false}}
{"type": "contact", "payload": {"bot": "rev", "platform_id": "2001", "name": "Ida"}}
EOF
timeout 60 "$BIN/dater-worker" -q -c "$CONF" -d "$DB" -n 1 --drain
enqueue - >/dev/null <<'EOF'
{"type": "inbound", "payload": {"bot": "demo", "platform_id": "1001", "message_id": "m1", "text": "Hey, gym on Thursday?"}}
{"type": "inbound", "payload": {"bot": "demo", "platform_id": "1003", "message_id": "s1", "text": "STOP"}}
{"type": "inbound", "payload": {"bot": "rev", "platform_id": "2001", "message_id": "r1", "text": "hello there"}}
{"type": "initiate", "payload": {"contact": 2}}
{"type": "send", "payload": {"message": 424242}}
EOF
timeout 60 "$BIN/dater-worker" -q -c "$CONF" -d "$DB" -n 2 --drain \
    >"$TMP/drain2.log" 2>&1
is "$?" 0 "the conversations are drained"

# sql QUERY: one value (or a JSON list of rows) from the test database.
sql() {
	python3 -c '
import json, sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
r = c.execute(sys.argv[2]).fetchall()
v = r[0][0] if len(r) == 1 and len(r[0]) == 1 else r
if isinstance(v, str) and v[:1] in "[{":
    v = json.loads(v)	# SQL json_*() text, printed as py() prints
print(v if isinstance(v, str) else json.dumps(v))
' "$DB" "$1"
}

# csvpy EXPR: EXPR over the CSV in $OUT parsed by the csv module (h: the
# header, rows: a list of dicts), like py.
csvpy() {
	printf '%s' "$OUT" | python3 -c '
import csv, io, json, sys
text = sys.stdin.read()
rd = list(csv.reader(io.StringIO(text, newline="")))
h, rows = rd[0], [dict(zip(rd[0], r)) for r in rd[1:]]
ok_shape = all(len(r) == len(h) for r in rd)
try:
    v = eval(sys.argv[1])
except Exception as e:
    print("ERROR: %s: %s" % (type(e).__name__, e))
    sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v))
' "$1"
}

sent=$(sql "SELECT count(*) FROM messages WHERE status = 'sent'")
isnt "$sent" 0 "some messages were sent"
isnt "$(sql "SELECT count(*) FROM jobs WHERE state = 'dead'")" 0 \
    "the send of a missing message died"

# bots
report --json bots
is "$RC" 0 "bots --json exits 0"
jis '[b["name"] for b in d["bots"]]' '["demo", "rev"]' \
    "bots lists the configured bots in config order"
jis 'd["today"] == d["generated_at"][:10] and len(d["since"]) == 10' true \
    "bots names today and the first day of the 7"
jis 'sorted(d["bots"][0]["today"].keys()) == sorted(["received","sent","initiations","initiation_replies","reply_rate","median_reply_ms","llm_calls","tokens_in","tokens_out","cost_usd","job_failures"])' \
    true "a period has the documented keys"
demo_m=$(sql "SELECT json_array(received, sent, initiations, llm_calls, tokens_in, tokens_out, job_failures) FROM metrics_daily WHERE bot = 'demo'")
jis '[d["bots"][0]["today"][k] for k in ("received","sent","initiations","llm_calls","tokens_in","tokens_out","job_failures")]' \
    "$(printf '%s' "$demo_m" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))')" \
    "bots today matches metrics_daily"
jis 'd["bots"][0]["today"] == d["bots"][0]["last_7_days"]' true \
    "all of the data is from today, so 7 days = today"
jis 'd["bots"][0]["opted_out"], d["bots"][0]["contacts"]' '[1, 3]' \
    "demo: 3 contacts, 1 opted out"
jis 'd["bots"][0]["today"]["reply_rate"], d["bots"][0]["today"]["initiations"]' \
    '[0.0, 1]' "one opener, no reply yet: reply rate 0"
jis 'isinstance(d["bots"][0]["today"]["median_reply_ms"], int) and d["bots"][0]["today"]["median_reply_ms"] >= 0' \
    true "the median reply time is a duration in ms"
jis 'd["bots"][0]["daily_budget_usd"], abs(d["bots"][0]["budget_left_usd"] - (5.0 - d["bots"][0]["today"]["cost_usd"])) < 1e-9' \
    '[5.0, true]' "budget left = budget - today's cost"
jis 'd["bots"][1]["daily_budget_usd"], d["bots"][1]["budget_left_usd"]' \
    '[null, null]' "no budget: budget fields are null"
report --csv bots
is "$RC" 0 "bots --csv exits 0"
csvpy_ok=$(csvpy 'ok_shape and h[:4] == ["bot","period","received","sent"]')
is "$csvpy_ok" true "bots CSV has a header and even rows"
is "$(csvpy '[(r["bot"], r["period"]) for r in rows]')" \
    '[["demo", "today"], ["demo", "7d"], ["rev", "today"], ["rev", "7d"]]' \
    "bots CSV: a row per bot and period"
is "$(csvpy 'rows[0]["received"]')" "$(sql "SELECT received FROM metrics_daily WHERE bot = 'demo'")" \
    "bots CSV numbers match the database"
report bots
like "$OUT" '^BOT +PERIOD +RECV +SENT +OPENERS +REPLY RATE +MEDIAN REPLY' \
    "bots table has a header"
like "$OUT" '^demo +today +[0-9]+ +[0-9]+ +1 +0% ' "bots table row for demo"

# contacts
report --json contacts
is "$RC" 0 "contacts --json exits 0"
jis '[c["id"] for c in d["contacts"]]' \
    "$(sql "SELECT json_group_array(id) FROM (SELECT id FROM contacts ORDER BY id)")" \
    "contacts lists every contact"
jis '[(c["messages_in"], c["messages_out"]) for c in d["contacts"]]' \
    "$(sql "SELECT json_group_array(json_array((SELECT count(*) FROM messages m WHERE m.contact = c.id AND direction = 'in'), (SELECT count(*) FROM messages m WHERE m.contact = c.id AND direction = 'out'))) FROM (SELECT id FROM contacts ORDER BY id) c")" \
    "contacts message counts match the database"
jis 'all(t(c["last_inbound_at"]) and t(c["last_outbound_at"]) and t(c["created_at"]) for c in d["contacts"])' \
    true "contact times are RFC 3339 or null"
report --json contacts --status opted_out
jis '[c["name"] for c in d["contacts"]], d["filter"]["status"]' \
    '[["Sara"], "opted_out"]' "contacts --status opted_out"
report --json contacts --bot rev
jis '[c["platform_id"] for c in d["contacts"]]' '["2001"]' "contacts --bot rev"
report --json contacts --limit 2
jis 'len(d["contacts"]), d["truncated"]' '[2, true]' "contacts --limit 2"
report --csv contacts
is "$(csvpy 'ok_shape and [r["name"] for r in rows]')" \
    '["Mia, \"M\"", "Lena", "Sara", "Ida"]' \
    "contacts CSV quotes commas and quotes (RFC 4180)"
is "$(python3 -c 'import sys; b = open(sys.argv[1], "rb").read(); print(b.count(b"\r\n") == b.count(b"\n") == 5)' "$TMP/.out")" \
    True "CSV lines end in CRLF"
report contacts
like "$OUT" '^ +3 +demo +1003 +Sara +opted_out +no ' "contacts table row"
report contacts --status gone
is "$RC" 64 "an unknown contact status exits 64"

# jobs --bot, --contact
mia=$(sql "SELECT id FROM contacts WHERE platform_id = '1001'")
report --json jobs --contact "$mia" --limit 1000
jis 'sorted(set(j["type"] for j in d["jobs"]))' '["contact", "inbound", "respond", "send"]' \
    "jobs --contact: the contact's own jobs, of every kind"
jis 'd["filter"]["contact"]' "$mia" "... named in the filter"
jis 'all("1002" not in json.dumps(j) and "2001" not in json.dumps(j) for j in d["jobs"])' true \
    "... and none of another contact's"
report --json jobs --bot rev --limit 1000
jis 'len(d["jobs"]) > 0 and all(j["bot"] == "rev" for j in d["jobs"])' true "jobs --bot: only that bot's"
report jobs --contact 0
is "$RC" 64 "jobs --contact 0 is a usage error"

# conversation
ida=$(sql "SELECT id FROM contacts WHERE platform_id = '2001'")
report --json conversation "$mia"
is "$RC" 0 "conversation --json exits 0"
jis 'd["contact"]["name"], d["contact"]["profile"]' \
    '["Mia, \"M\"", {"city": "Berlin"}]' "the header has the name and profile"
jis '[(m["direction"], m["kind"], m["status"]) for m in d["messages"]]' \
    "$(sql "SELECT json_group_array(json_array(direction, kind, status)) FROM (SELECT * FROM messages WHERE contact = $mia ORDER BY id)")" \
    "the transcript matches the database, oldest first"
jis 'all(t(m["at"]) and m["at"] is not None for m in d["messages"])' true \
    "every message has a time"
report --json conversation "$ida"
jis '[(m["direction"], m["status"], m["mark"]) for m in d["messages"]]' \
    '[["in", null, null], ["out", "draft", "DRAFT"]]' \
    "review mode: the reply is a marked draft"
report conversation "$ida"
like "$OUT" '->.*\[DRAFT\]' "the table marks the draft"
like "$OUT" '^name +Ida$' "the table shows the contact header"
# An uncertain send, as a crashed send leaves it (written as data).
python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE messages SET status = ? WHERE contact = ? AND direction = ?", ("uncertain", int(sys.argv[2]), "out"))
c.commit()' "$DB" "$mia"
report conversation "$mia"
like "$OUT" '\[UNCERTAIN\]' "an uncertain send is marked"
report --csv conversation "$mia"
is "$(csvpy 'ok_shape and [r["mark"] for r in rows if r["direction"] == "out"]')" \
    '["UNCERTAIN"]' "conversation CSV has the mark"
# Tables fit the terminal ($COLUMNS, else the terminal's width; never a
# pipe's): optional columns are hidden, wide text columns cut, a text
# column last wraps so nothing of it is lost; --wide prints them whole.
# widest: the longest line of $OUT, in characters.
widest() { printf '%s\n' "$OUT" | python3 -c 'import sys; print(max(len(l) for l in sys.stdin.read().split("\n")))'; }
COLUMNS=80 report bots
is "$(widest)" "$(( $(widest) <= 80 ? $(widest) : 0 ))" "COLUMNS=80: bots fits in 80 columns"
like "$(printf '%s\n' "$OUT" | head -1)" '^BOT +PERIOD .*STATE +WHY$' "... keeping the bot, its numbers, state and why"
unlike "$OUT" 'TOK IN' "... hiding the optional columns"
COLUMNS=80 report --wide bots
like "$OUT" 'TOK IN.*LISTENING SINCE' "--wide shows every column"
is "$(( $(widest) > 80 ))" 1 "... however wide"
report bots
like "$OUT" 'TOK IN.*LISTENING SINCE' "into a pipe without COLUMNS, tables are whole"
reply=$(sql "SELECT text FROM messages WHERE contact = $mia AND direction = 'out' ORDER BY id DESC LIMIT 1")
COLUMNS=60 report conversation "$mia"
is "$(( $(widest) <= 60 ))" 1 "COLUMNS=60: the transcript fits in 60 columns"
is "$(printf '%s\n' "$OUT" | python3 -c '
import sys
lines = sys.stdin.read().split("\n")
h = [i for i, l in enumerate(lines) if l.startswith("TIME")][0]
off = lines[h].index("TEXT")
col = " ".join(" ".join(l[off:] for l in lines[h + 1:]).split())
print(" ".join(sys.argv[1].split()) in col)' "$reply")" True \
    "... its text column wraps: the whole reply is there, word by word"
COLUMNS=70 report jobs --limit 500
is "$(( $(widest) <= 70 ))" 1 "COLUMNS=70: jobs fits, its last error wrapped"
# CSV injection (OWASP): names and texts come from remote users. On a copy
# of the database, a contact whose name is a formula and messages that
# start with =, +, -, @, tab or CR or hold terminal escapes.
python3 -c '
import sqlite3, sys
src = sqlite3.connect(sys.argv[1])
dst = sqlite3.connect(sys.argv[2])
src.backup(dst)
c = dst.execute("INSERT INTO contacts (bot, platform_id, name, created_at, updated_at) VALUES (?, ?, ?, 0, 0)",
    ("demo", "6666", "=HYPERLINK(\"http://evil.example/\",\"x\")"))
for i, t in enumerate(["@SUM(1)", "\x1b[31mred", "+1", "-2", "\tTAB", "\rCR",
    "a\x1b]0;title\x07b", "c\u009bd", "two\nlines", "plain"]):
    dst.execute("INSERT INTO messages (contact, bot, direction, text, created_at) VALUES (?, ?, ?, ?, ?)",
        (c.lastrowid, "demo", "in", t, i))
dst.commit()
print(c.lastrowid)' "$DB" "$TMP/inj.db" >"$TMP/inj.id"
inj=$(cat "$TMP/inj.id")
run "$BIN/dater-report" -c "$CONF" -d "$TMP/inj.db" --csv contacts
is "$(csvpy '[r["name"] for r in rows if r["platform_id"] == "6666"]')" \
    '["'"'"'=HYPERLINK(\"http://evil.example/\",\"x\")"]' \
    "a name that is a formula gets a quote in front (CSV injection)"
like "$OUT" ",\"'=HYPERLINK\(" "... inside the quoted field"
run "$BIN/dater-report" -c "$CONF" -d "$TMP/inj.db" --csv conversation "$inj"
is "$(csvpy 'ok_shape and [r["text"] for r in rows]')" \
    '["'"'"'@SUM(1)", "\\x1b[31mred", "'"'"'+1", "'"'"'-2", "'"'"'\\x09TAB", "'"'"'\\x0dCR", "a\\x1b]0;title\\x07b", "c\\x9bd", "two\nlines", "plain"]' \
    "texts starting with = + - @ tab CR are quoted; control characters escaped"
is "$(python3 -c 'import sys; b = open(sys.argv[1], "rb").read(); print(any(c < 32 and c not in (10, 13) or c == 127 for c in b), b"\xc2\x9b" in b, b.count(b"\r") == b.count(b"\r\n"))' "$TMP/.out")" \
    "False False True" "no control byte but the line ends reaches the CSV"
# Why a message is unanswered: the reply job in the way and its error
# (on a copy: the contact writes again and the respond job dies).
python3 -c '
import sqlite3, sys
src = sqlite3.connect(sys.argv[1])
dst = sqlite3.connect(sys.argv[2])
src.backup(dst)
mia = int(sys.argv[3])
dst.execute("INSERT INTO messages (contact, bot, direction, text, created_at) VALUES (?, ?, ?, ?, ?)",
    (mia, "demo", "in", "are you there?", 4102444800000))
dst.execute("UPDATE contacts SET unanswered = 1, last_inbound_at = 4102444800000 WHERE id = ?", (mia,))
dst.execute("INSERT INTO jobs (type, bot, payload, state, attempts, max_attempts, run_at, created_at, finished_at, errors)"
    " VALUES (?, ?, ?, ?, 3, 3, 0, 4102444800001, 4102444800002, ?)",
    ("respond", "demo", "{\"contact\": %d}" % mia, "dead", "[{\"error\": \"llm: 401 Unauthorized\"}]"))
dst.commit()' "$DB" "$TMP/why.db" "$mia"
run "$BIN/dater-report" -c "$CONF" -d "$TMP/why.db" --json conversation "$mia"
jis '(d["waiting"]["type"], d["waiting"]["state"], d["waiting"]["error"])' \
    '["respond", "dead", "llm: 401 Unauthorized"]' "conversation: an unanswered message names the dead reply job"
run "$BIN/dater-report" -c "$CONF" -d "$TMP/why.db" conversation "$mia"
like "$OUT" "unanswered: respond job [0-9]+ is dead after 3 of 3 attempts: llm: 401 Unauthorized" \
    "... and says why under the transcript"
report --json conversation "$mia"
jis 'd["waiting"]["why"]' "the reply's send was cut off: it may or may not have reached the person (never sent twice)" \
    "a reply whose send was cut off is why the message counts as unanswered"
lena=$(sql "SELECT contact FROM messages m WHERE direction = 'out' AND status = 'sent' AND id = (SELECT max(id) FROM messages WHERE contact = m.contact) LIMIT 1")
report --json conversation "$lena"
jis 'd["waiting"]' null "an answered conversation has nothing waiting"
report conversation 99999
is "$RC" 66 "an unknown contact exits 66"
like "$ERR" 99999 "the error names the contact"
report conversation
is "$RC" 64 "conversation without an id exits 64"

# metrics
report --json metrics
is "$RC" 0 "metrics --json exits 0"
jis '[(r["day"], r["bot"], r["received"], r["sent"], r["llm_calls"]) for r in d["days"]]' \
    "$(sql "SELECT json_group_array(json_array(day, bot, received, sent, llm_calls)) FROM (SELECT * FROM metrics_daily ORDER BY day, bot)")" \
    "metrics is the metrics_daily series"
report --json metrics --bot rev --since 2000-01-01
jis '[r["bot"] for r in d["days"]], d["filter"]' \
    '[["rev"], {"since": "2000-01-01", "bot": "rev"}]' "metrics --bot --since"
report --json metrics --since 2999-01-01
jis 'd["days"]' '[]' "metrics --since a future day: none"
report --csv metrics
is "$(csvpy 'ok_shape and h == ["day","bot","received","sent","initiations","initiation_replies","llm_calls","tokens_in","tokens_out","cost_usd","job_failures"] and len(rows)')" \
    "$(sql "SELECT count(*) FROM metrics_daily")" "metrics CSV has a row per day and bot"
report metrics --since 2026-13-45
is "$RC" 64 "a bad --since exits 64"

# health
report --json health
is "$RC" 0 "health exits 0 on a healthy database"
jis 'd["healthy"], [c["check"] for c in d["checks"]]' \
    '[true, ["due_age", "workers", "dead_rate", "lease_expired", "budget:demo"]]' \
    "health lists each check"
report --csv health
is "$(csvpy 'ok_shape and [(r["check"], r["ok"]) for r in rows][0]')" \
    '["due_age", "true"]' "health CSV"
report health --max-dead-rate 0
is "$RC" 1 "health exits 1 when jobs die above the rate"
like "$OUT" '^dead_rate +FAIL +[0-9]+ jobs died' "the table names the failing check"
like "$OUT" '^UNHEALTHY$' "and says UNHEALTHY"
enqueue --at 2020-01-01T00:00:00Z noop >/dev/null
report --json health
is "$RC" 1 "an old due job makes health exit 1"
jis '[c["check"] for c in d["checks"] if not c["ok"]]' '["due_age", "workers"]' \
    "due_age fails, and no worker runs while jobs wait"
report health --max-due-age 4000d --max-heartbeat-age 4000d
is "$RC" 0 "wider thresholds: healthy again"
# The thresholds live in the configuration (health = { ... }); options
# override them for one run.
{ cat "$CONF"; echo 'health = { max_due_age = "4000d"; max_heartbeat_age = "4000d"; max_dead_per_hour = 100; };'; } >"$TMP/health.conf"
run "$BIN/dater-report" -c "$TMP/health.conf" -d "$DB" --json health
is "$RC:$(py '[c["threshold"] for c in d["checks"]][:3]')" "0:[345600000000, 345600000000, 100]" \
    "health = { ... } in the configuration sets the thresholds"
run "$BIN/dater-report" -c "$TMP/health.conf" -d "$DB" --json health --max-due-age 1m
is "$RC:$(py '[c["check"] for c in d["checks"] if not c["ok"]]')" '1:["due_age"]' \
    "... and an option overrides one for the run"
run "$BIN/dater-report" -c "$TMP/health.conf" -d "$DB" --prometheus
PROM_OUT=$OUT
is "$(printf '%s\n' "$PROM_OUT" | grep '^dater_health' | tr '\n' ' ')" \
    'dater_healthy 1 dater_health_ok{check="due_age"} 1 dater_health_ok{check="workers"} 1 dater_health_ok{check="dead_rate"} 1 dater_health_ok{check="lease_expired"} 1 dater_health_ok{check="budget:demo"} 1 ' \
    "Prometheus: dater_healthy and dater_health_ok per check, with the configured thresholds"
echo 'health = { max_dead_per_hour = -1; };' >"$TMP/bad-health.conf"
run "$BIN/dater-report" -c "$TMP/bad-health.conf" -d "$DB" health
is "$RC" 78 "a bad health threshold is a configuration error (78)"
like "$ERR" "bad-health.conf:1: .*max_dead_per_hour" "... naming the file, line and setting"
# A running job whose lease ran out long ago: no live tree reclaims it.
python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE jobs SET state = ?, lease_until = 1000, worker = ? WHERE id = (SELECT max(id) FROM jobs WHERE state = ?)", ("running", "gone:1", "succeeded"))
c.commit()' "$DB"
report --json health --max-due-age 4000d --max-heartbeat-age 4000d
is "$RC:$(py '[(c["check"], c["value"]) for c in d["checks"] if not c["ok"]]')" \
    '1:[["lease_expired", 1]]' "a running job with a long-expired lease fails lease_expired"
python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE jobs SET state = ?, lease_until = NULL, worker = NULL WHERE state = ?", ("succeeded", "running"))
c.commit()' "$DB"
python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE metrics_daily SET cost_usd = 6.5 WHERE bot = ?", ("demo",))
c.commit()' "$DB"
report health --max-due-age 4000d --max-heartbeat-age 4000d
is "$RC" 1 "an exhausted budget makes health exit 1"
like "$OUT" "^budget:demo +FAIL .*budget exhausted" "the reason names the bot"
report health --max-due-age soon
is "$RC" 64 "a bad duration exits 64"
python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE metrics_daily SET cost_usd = 0 WHERE bot = ?", ("demo",))
c.execute("INSERT INTO workers (id, pid, host, started_at, heartbeat_at) VALUES (?, 1, ?, 0, 0)", ("gone:1", "gone"))
c.commit()' "$DB"
report --json health --max-due-age 4000d
jis '[(c["check"], c["value"]) for c in d["checks"] if not c["ok"]]' \
    '[["workers", 0]]' "a registered worker without a recent heartbeat fails"
jis '[c["detail"] for c in d["checks"] if c["check"] == "workers"]' \
    '["1 workers registered, none sent a heartbeat in the last 30s"]' \
    "the reason says so"
python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("DELETE FROM workers")
c.execute("UPDATE metrics_daily SET cost_usd = 6.5 WHERE bot = ?", ("demo",))
c.commit()' "$DB"

# queue and jobs as CSV
report --csv queue
is "$(csvpy 'ok_shape and [(r["type"], r["dead"]) for r in rows if r["type"] == "send"]')" \
    "[[\"send\", \"$(sql "SELECT count(*) FROM jobs WHERE type = 'send' AND state = 'dead'")\"]]" \
    "queue CSV: a row per type"
report --csv jobs --limit 500
is "$(csvpy 'ok_shape and len(rows)')" "$(sql "SELECT count(*) FROM jobs")" \
    "jobs CSV: a row per job"

# prometheus: a strict parser of the text exposition format
PROM_PY='
import re, sys
text = sys.stdin.read()
assert text.endswith("\n"), "no final newline"
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
lab_re = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\n]|\\[\\\"n])*)\"")
help_, type_, samples = {}, {}, {}
cur = None
for ln in text.split("\n")[:-1]:
    m = re.match(r"^# HELP (" + name_re + r") (.+)$", ln)
    if m:
        assert m.group(1) not in help_, "two HELP for " + m.group(1)
        help_[m.group(1)] = m.group(2); cur = m.group(1); continue
    m = re.match(r"^# TYPE (" + name_re + r") (counter|gauge|histogram)$", ln)
    if m:
        assert m.group(1) == cur and m.group(1) not in type_, "TYPE without HELP: " + ln
        type_[m.group(1)] = m.group(2); continue
    m = re.match(r"^(" + name_re + r")(?:\{(.*)\})? (\S+)$", ln)
    assert m, "bad line: " + repr(ln)
    name, labels, val = m.groups()
    base = name
    if cur in type_ and type_[cur] == "histogram":
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert base != name, "a histogram sample without _bucket, _sum or _count: " + ln
    assert base == cur and base in type_, "sample outside its group: " + ln
    if type_[base] == "counter":
        assert name.endswith("_total"), "counter not _total: " + name
    lab = {}
    if labels is not None:
        pos = 0
        while pos < len(labels):
            lm = lab_re.match(labels, pos)
            assert lm, "bad labels: " + labels
            v = re.sub(r"\\(.)", lambda x: {"n": "\n"}.get(x.group(1), x.group(1)), lm.group(2))
            lab[lm.group(1)] = v
            pos = lm.end()
            if pos < len(labels):
                assert labels[pos] == ",", "bad label separator: " + labels
                pos += 1
    key = (name, tuple(sorted(lab.items())))
    assert key not in samples, "duplicate sample: " + ln
    samples[key] = float(val)
def s(name, **lab):
    return samples.get((name, tuple(sorted(lab.items()))))
# Every histogram series: buckets never decrease, +Inf is the count.
for (name, lab), v in list(samples.items()):
    if name.endswith("_count") and type_.get(name[:-6]) == "histogram":
        base, rest = name[:-6], dict(lab)
        bk = sorted(((float(dict(l)["le"]), c) for (n, l), c in samples.items()
                     if n == base + "_bucket" and {k: x for k, x in l if k != "le"} == rest))
        assert bk and bk[-1] == (float("inf"), v), "+Inf bucket is not the count: " + base
        assert all(a[1] <= b[1] for a, b in zip(bk, bk[1:])), "buckets decrease: " + base
'
# prom EXPR: EXPR over the parsed exposition in $OUT; "ERROR ..." when it
# does not parse.
prom() {
	python3 -c "$PROM_PY"'
try:
    v = eval(sys.argv[1])
except Exception as e:
    print("ERROR: %s: %s" % (type(e).__name__, e)); sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v))
' "$1" <"$PROM_FILE" 2>&1 | tail -1
}
PROM_FILE=$TMP/.out
PROM_PY="import json
$PROM_PY"

report --prometheus
is "$RC" 0 "--prometheus exits 0"
is "$(prom 'len(samples) > 0')" true "the exposition parses strictly"
for st in queued running succeeded dead cancelled; do
	is "$(prom "int(s('dater_jobs', state='$st'))")" \
	    "$(sql "SELECT count(*) FROM jobs WHERE state = '$st'")" \
	    "dater_jobs{state=\"$st\"} matches the database"
done
is "$(prom "int(s('dater_jobs_by_type', type='send', state='dead'))")" \
    "$(sql "SELECT count(*) FROM jobs WHERE type = 'send' AND state = 'dead'")" \
    "dater_jobs_by_type{type,state} matches"
is "$(prom "int(s('dater_messages_received_total', bot='demo')), int(s('dater_messages_sent_total', bot='demo')), int(s('dater_llm_calls_total', bot='demo'))")" \
    "$(sql "SELECT json_array(received, sent, llm_calls) FROM metrics_daily WHERE bot = 'demo'" | tr -d ' ' | sed 's/,/, /g')" \
    "per-bot counters match metrics_daily"
is "$(prom "s('dater_cost_usd_total', bot='demo'), s('dater_budget_left_usd', bot='demo')")" \
    "[6.5, -1.5]" "cost and budget left per bot"
is "$(prom "s('dater_oldest_due_age_seconds') > 1e8, s('dater_workers_alive')")" \
    "[true, 0.0]" "the old due job's age; no live workers"
is "$(prom "int(s('dater_contacts', bot='demo', status='opted_out'))")" 1 \
    "contacts per bot and status"
is "$(prom "int(s('dater_job_duration_seconds_count', type='send'))")" \
    "$(sql "SELECT count(*) FROM jobs WHERE type = 'send' AND state IN ('succeeded', 'dead') AND started_at IS NOT NULL")" \
    "dater_job_duration_seconds: a histogram per type over the finished jobs"
is "$(prom "s('dater_job_duration_seconds_bucket', type='send', le='+Inf') >= s('dater_job_duration_seconds_bucket', type='send', le='0.01')")" \
    true "... with cumulative buckets"
is "$(prom "int(s('dater_reply_latency_seconds_count', bot='demo')) > 0")" true \
    "dater_reply_latency_seconds: a histogram per bot"
# A configured bot without any data still has its series, at zero.
sed 's/daily_budget_usd = 0.0; }/daily_budget_usd = 0.0; }, { name = "ghost"; transport = { driver = "console"; }; }/' \
    "$CONF" >"$TMP/ghost.conf"
run "$BIN/dater-report" -c "$TMP/ghost.conf" -d "$DB" --prometheus
PROM_FILE=$TMP/ghost.prom
printf '%s\n' "$OUT" >"$PROM_FILE"
is "$(prom "s('dater_messages_received_total', bot='ghost'), s('dater_llm_calls_total', bot='ghost'), s('dater_reply_latency_seconds_count', bot='ghost'), s('dater_reply_latency_seconds_bucket', bot='ghost', le='+Inf')")" \
    "[0.0, 0.0, 0.0, 0.0]" "a configured bot with no data yet has zero series, not none"
PROM_FILE=$TMP/.out
report prometheus -o "$TMP/dater.prom"
is "$RC:$OUT" "0:" "prometheus -o FILE writes nothing to stdout"
PROM_FILE=$TMP/dater.prom
is "$(prom 'len(samples) > 0')" true "the file parses"
PROM_FILE=$TMP/.out
is "$(stat -c %a "$TMP/dater.prom")" 644 "the file is mode 0644"
is "$(ls -a "$TMP" | grep -c '^\.dater\.prom\.')" 0 "no temporary file is left"
report --prometheus -o "$TMP/nodir/x.prom"
is "$RC" 73 "an uncreatable -o exits 73"

# -o FILE: a regular file or a new name, nothing else (lstat)
# The device: as root, a null device made in $TMP (a regression must not
# replace the real /dev/null on the machine that runs the tests).
DEV=/dev/null
if [ "$(id -u)" = 0 ] && mknod -m 666 "$TMP/null" c 1 3 2>/dev/null; then
	DEV=$TMP/null
fi
report prometheus -o "$DEV"
is "$RC" 73 "-o $DEV (a device) exits 73"
like "$ERR" "'$DEV' is a character device: refusing" "... and says why"
check "$DEV is still a character device" test -c "$DEV"
mkfifo "$TMP/fifo"
report prometheus -o "$TMP/fifo"
is "$RC" 73 "-o a FIFO exits 73"
check "the FIFO is still a FIFO" test -p "$TMP/fifo"
echo "keep me" >"$TMP/target"
ln -s "$TMP/target" "$TMP/link"
report prometheus -o "$TMP/link"
is "$RC" 73 "-o a symbolic link to a file exits 73"
like "$ERR" "is a symbolic link" "... and says so"
check "the link is still a link" test -L "$TMP/link"
is "$(cat "$TMP/target")" "keep me" "the link's target is unchanged"
ln -s "$TMP/nowhere" "$TMP/dangling"
report prometheus -o "$TMP/dangling"
is "$RC" 73 "-o a dangling symbolic link exits 73"
check "nothing was created where it points" test ! -e "$TMP/nowhere"
mkdir "$TMP/adir"
report prometheus -o "$TMP/adir"
is "$RC" 73 "-o a directory exits 73"
check "the directory is still a directory" test -d "$TMP/adir"
is "$(ls -a "$TMP" | grep -c '^\.\(fifo\|link\|dangling\|adir\)\.')" 0 \
    "no temporary file is left by a refusal"
echo "old" >"$TMP/regular.prom"
report prometheus -o "$TMP/regular.prom"
is "$RC" 0 "-o an existing regular file replaces it"
like "$(cat "$TMP/regular.prom")" "^# TYPE dater_" "... with the new text"
report prometheus -o "$TMP/new.prom"
is "$RC" 0 "-o a new name creates it"
check "... as a regular file" test -f "$TMP/new.prom"
report --prometheus queue
is "$RC" 64 "--prometheus with another view exits 64"
report --csv job 1
is "$RC:$(csvpy 'ok_shape and [(r["id"], r["type"]) for r in rows]')" \
    "0:[[\"1\", \"$(sql "SELECT type FROM jobs WHERE id = 1")\"]]" "job --csv: the job as one row"
report --csv workers
is "$RC:$(printf '%s' "$OUT" | head -1)" "0:id,pid,host,queues,started_at,heartbeat_at,heartbeat_age_ms,jobs"$'\r' \
    "workers --csv: a row per worker under its header"
report --csv config
is "$RC" 0 "config --csv exits 0"
is "$(csvpy 'ok_shape and [r["value"] for r in rows if r["setting"] in ("worker.lease_ms", "bots.demo.transport.driver")]')" \
    '["5000", "console"]' "config --csv: every setting by its dotted path (bots by name)"

# label escaping: a bot name with a quote and a backslash
python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT INTO metrics_daily (bot, day, received) VALUES (?, ?, 7)", ("we\"ird\\\\bot", "2026-01-01"))
c.commit()' "$DB"
report --prometheus
is "$(prom "int(s('dater_messages_received_total', bot='we\"ird\\\\\\\\bot'))")" 7 \
    "label values are escaped and parse back"
like "$OUT" 'bot="we\\"ird\\\\\\\\bot"' "the escapes are in the text"

done_
