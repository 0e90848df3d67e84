#!/bin/bash
# Faults of the HTTP peers, played by tests/peers/fault.js as the LLM, a
# webhook receiver and the Telegram Bot API: a 429 with Retry-After is
# retried no earlier than asked; 500 and timeouts are retried until they
# succeed; 401 is dead at once with the server's message; a body that is
# not a completion is a clear error; drafts quoting the persona or AI
# boilerplate are refused; a send whose outcome is unknown (a timeout, or
# kill -9 of the worker mid-request) is marked `uncertain` and never sent
# twice; Telegram's flood control (parameters.retry_after) defers the
# send, and "blocked by the user" blocks the contact. The API key and the
# bot token appear in no job error, log line, report or database page.
#
# Times are compared with the fault server's own clock (when a request
# arrived) and the job's run_at, never with how long the test took.
. "$(dirname "$0")/blackbox-lib.sh"
. "$ROOT/tests/peers/peers.sh" || exit 1
trap 'peers_stop_all; bb_cleanup' EXIT

export DATER_TEST_LLM_KEY=sk-test-faults-9d3b27c4e1a84f60
export FAULTS_TG_TOKEN=987654:faults-secret-token-x7Q
KEY=$DATER_TEST_LLM_KEY
PERSONA="You are Cleo, a jazz pianist from Lyon who loves night trains."
TOKEN=$FAULTS_TG_TOKEN
LOGS=$TMP/drain.log	# every drain's stderr, with -v (debug)

js() {
	local e=$1
	shift
	node -e 'const a = process.argv.slice(1);
const v = (() => ('"$e"'))();
if (v !== undefined)
	console.log(typeof v === "string" ? v : JSON.stringify(v));' "$@"
}

# freq EXPR: EXPR over R, the requests logged by the fault server since
# the current case began (mark).
MARK=0
mark() { MARK=$(wc -l <"$FAULT_LOG"); }
freq() {
	node -e 'const fs = require("fs");
const R = fs.readFileSync(process.argv[1], "utf8").split("\n")
    .filter(Boolean).slice(Number(process.argv[2])).map((l) => JSON.parse(l));
const v = (() => ('"$1"'))();
if (v !== undefined)
	console.log(typeof v === "string" ? v : JSON.stringify(v));' "$FAULT_LOG" "$MARK"
}
# How many requests to paths matching REGEX since the mark.
nreq() { freq "R.filter((r) => /$1/.test(r.path)).length"; }
# When the Nth (0-based) of them arrived, ms since the epoch.
req_at() { freq "R.filter((r) => /$1/.test(r.path))[$2].at_ms"; }

fault_script() {
	curl -fsS -o /dev/null --max-time 10 -H 'Content-Type: application/json' \
	    --data-binary "$1" "$FAULT_URL/__fault/script" ||
	    fail "could not load a script into fault.js"
}

# A chat completion answering TEXT, as a fault.js step.
completion() {
	js '{status: 200, json: {id: "chatcmpl-1", object: "chat.completion",
	    model: "test-model", choices: [{index: 0, message: {role:
	    "assistant", content: a[0]}, finish_reason: "stop"}]}}' "$1"
}
OKREPLY=$(completion "Sounds lovely, tell me more.")
TG_OK='{"json": {"ok": true, "result": {"message_id": 321, "chat": {"id": 1}, "date": 1, "text": "x"}}}'
HOOK_OK='[{"json": {"id": "w1"}}]'
TG_TYPING='{"path": "/sendChatAction$", "steps": [{"json": {"ok": true, "result": true}}]}'

# routes LLM_STEPS [HOOK_STEPS [TG_STEPS]]: a script for all three peers.
routes() {
	printf '{"routes": [{"path": "^/v1/chat/completions$", "steps": %s},
	    {"path": "^/hook$", "steps": %s},
	    {"path": "/sendMessage$", "steps": %s}, %s]}' \
	    "$1" "${2:-$HOOK_OK}" "${3:-[$TG_OK]}" "$TG_TYPING"
}

vdrain() { drain -v >>"$LOGS" 2>&1; }
idle() {
	[ "$(count_jobs "state = 'running' OR (state = 'queued' AND run_at <= $(now_ms))")" = 0 ]
}
settle() {
	local deadline=$(($(date +%s) + 30))
	vdrain
	while ! idle; do
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.05
		vdrain
	done
}

# say BOT PLATFORM_ID TEXT: an inbound message, then the jobs it starts.
N=0
say() {
	N=$((N + 1))
	enqueue -q inbound "{\"bot\": \"$1\", \"platform_id\": \"$2\",
	    \"message_id\": \"m$N\", \"text\": \"$3\"}" >/dev/null
}
contact_of() { q "SELECT id FROM contacts WHERE platform_id = '$1'"; }
job_of() {	# job_of TYPE PLATFORM_ID: the newest job of the contact
	q "SELECT max(id) FROM jobs WHERE type = '$1' AND $(jxn payload contact) =
	   (SELECT id FROM contacts WHERE platform_id = '$2')"
}
out_of() { q "SELECT max(id) FROM messages WHERE direction = 'out' AND contact = $(contact_of "$1")"; }
send_of() {	# the send job of the contact's newest outbound message
	q "SELECT max(id) FROM jobs WHERE type = 'send'
	   AND $(jxn payload message) = $(out_of "$1")"
}
jstate() { q "SELECT state || '/' || attempts FROM jobs WHERE id = $1"; }
errors() { q "SELECT errors FROM jobs WHERE id = $1"; }
run_at() { q "SELECT run_at FROM jobs WHERE id = $1"; }
outbox_n() { if [ -f "$TMP/outbox.jsonl" ]; then grep -c "\"chat_id\":\"$1\"" "$TMP/outbox.jsonl"; else echo 0; fi; }
job_is() { [ "$(state_of "$1")" = "$2" ]; }

peers_fault_start "$(routes "[$OKREPLY]")" "$TMP/fault.log" || die "fault.js did not start"

write_conf "" "
llm = { provider = \"openai\"; base_url = \"$FAULT_URL/v1\"; model = \"test-model\";
        api_key_env = \"DATER_TEST_LLM_KEY\"; timeout = \"1s\"; };
defaults = { reply_delay = [0, 0]; quiet_hours = \"off\"; disclosure = false;
             max_per_hour = 0; max_per_chat_hour = 0; daily_budget_usd = 0.0; };
bots = (
  { name = \"con\"; persona = \"$PERSONA\"; transport = { driver = \"console\"; path = \"$TMP/outbox.jsonl\"; }; },
  { name = \"hook\"; transport = { driver = \"webhook\"; url = \"$FAULT_URL/hook\"; timeout = \"1s\"; }; },
  { name = \"tg\"; transport = { driver = \"telegram\"; base_url = \"$FAULT_URL\";
                                token_env = \"FAULTS_TG_TOKEN\"; timeout = \"1s\"; }; }
);
"
migrate || die "dater-migrate up failed"

# ---- LLM 429 with Retry-After: not retried before the time asked -----------

mark
fault_script "$(routes "[{\"status\": 429, \"headers\": {\"Retry-After\": \"30\"},
    \"json\": {\"error\": {\"message\": \"Rate limit reached for requests\", \"type\": \"requests\",
    \"code\": \"rate_limit_exceeded\"}}}, $OKREPLY]")"
say con 1001 "Hello there"
vdrain
r=$(job_of respond 1001)
is "$(jstate "$r")" "queued/1" "LLM 429: the respond job is queued again after 1 attempt"
like "$(errors "$r")" "HTTP 429.*Rate limit reached" "... with the status and the server's message in its errors"
t429=$(req_at 'chat\/completions' 0)
ra=$(run_at "$r")
check "... and run_at ($ra) is no earlier than the 429 ($t429) + Retry-After 30 s" \
    test "$ra" -ge $((t429 + 30000))
check "... and not far later either (run_at - 429 = $((ra - t429)) ms < 60 s)" \
    test $((ra - t429)) -lt 60000
vdrain
vdrain
is "$(nreq 'chat\/completions')" 1 "draining again before that time asks the LLM nothing"
is "$(jstate "$r")" "queued/1" "... and spends no attempt"
q "UPDATE jobs SET run_at = 0 WHERE id = $r"	# the 30 s have passed
settle
is "$(jstate "$r")" "succeeded/2" "when it is due, the retry succeeds (attempt 2)"
is "$(outbox_n 1001)" 1 "the reply is delivered once"

# retry-after-ms (OpenAI's header) is honoured the same way.
mark
fault_script "$(routes "[{\"status\": 429, \"headers\": {\"retry-after-ms\": \"45000\"},
    \"json\": {\"error\": {\"message\": \"Slow down\"}}}, $OKREPLY]")"
say con 1002 "Hi again"
vdrain
r=$(job_of respond 1002)
ra=$(run_at "$r")
t429=$(req_at 'chat\/completions' 0)
check "LLM 429 with retry-after-ms 45000: run_at is no earlier than asked ($((ra - t429)) ms >= 45000)" \
    test "$ra" -ge $((t429 + 45000))
q "UPDATE jobs SET run_at = 0 WHERE id = $r"
settle

# ---- LLM 500: retried, then succeeds -----------------------------------------

mark
fault_script "$(routes "[{\"status\": 500, \"json\": {\"error\": {\"message\":
    \"The server had an error while processing your request.\", \"type\": \"server_error\"}}},
    $OKREPLY]")"
say con 1003 "How was your weekend?"
vdrain
r=$(job_of respond 1003)
like "$(jstate "$r")" "^(queued/1|succeeded/2)$" "LLM 500: the respond job is retried, not dead"
like "$(q "SELECT $(jx errors 0 error) FROM jobs WHERE id = $r")" \
    "HTTP 500.*server had an error" "... its first error names the status and the server's message"
drain_until 30 'job_is $r succeeded'
is "$(jstate "$r")" "succeeded/2" "... and it succeeds when the server answers 200"
is "$(nreq 'chat\/completions')" 2 "the LLM was asked exactly twice"
is "$(outbox_n 1003)" 1 "one reply went out"

# ---- LLM 401: permanent, with the server's message, key redacted -------------

mark
fault_script "$(routes "[{\"status\": 401, \"json\": {\"error\": {\"message\":
    \"Incorrect API key provided: $KEY. You can find your API key at https://example.invalid.\",
    \"type\": \"invalid_request_error\", \"code\": \"invalid_api_key\"}}}]")"
say con 1004 "Are you there?"
settle
r=$(job_of respond 1004)
is "$(jstate "$r")" "dead/1" "LLM 401: the respond job is dead after one attempt"
like "$(errors "$r")" "HTTP 401.*Incorrect API key provided" "... with the server's message in its errors"
unlike "$(errors "$r")" "$KEY" "... in which the key the server quoted is not repeated"
is "$(nreq 'chat\/completions')" 1 "the LLM was not asked again"
is "$(q "SELECT count(*) FROM messages WHERE direction = 'out' AND contact = $(contact_of 1004)")" 0 \
    "no reply was stored"

# ---- LLM timeout: retried ----------------------------------------------------

mark
fault_script "$(routes "[{\"delay_ms\": 4000, \"json\": $(js 'JSON.parse(a[0]).json' "$OKREPLY")},
    $OKREPLY]")"
say con 1005 "Slow day?"
vdrain
r=$(job_of respond 1005)
like "$(jstate "$r")" "^(queued/1|succeeded/2)$" "LLM timeout (answer after 4 s, llm.timeout 1 s): retried, not dead"
like "$(q "SELECT $(jx errors 0 error) FROM jobs WHERE id = $r")" \
    "no answer after 1000 ms|timed? ?out" "... the error says it timed out"
drain_until 30 'job_is $r succeeded'
is "$(jstate "$r")" "succeeded/2" "... and the retry succeeds"
is "$(outbox_n 1005)" 1 "one reply went out"

# ---- malformed bodies: clear errors ------------------------------------------

mark
fault_script "$(routes "[{\"status\": 200, \"headers\": {\"Content-Type\": \"text/html\"},
    \"body\": \"<html><body>502 Bad Gateway</body></html>\"}, $OKREPLY]")"
say con 1006 "What's new?"
vdrain
r=$(job_of respond 1006)
e=$(q "SELECT $(jx errors 0 error) FROM jobs WHERE id = $r")
like "$e" "HTTP 200.*not JSON" "a 200 whose body is not JSON: a clear error ($e)"
drain_until 30 'job_is $r succeeded'
is "$(jstate "$r")" "succeeded/2" "... retried, and the next good answer is used"

mark
fault_script "$(routes '[{"status": 200, "json": {"id": "x", "object": "chat.completion"}}]')"
say con 1007 "Anything?"
settle
r=$(job_of respond 1007)
is "$(jstate "$r")" "dead/1" "a 200 JSON body without choices: dead at once (the server is not a chat API)"
like "$(errors "$r")" "choices" "... and the error says what is missing"

mark
fault_script "$(routes "[{\"truncate\": true, \"json\": $(js 'JSON.parse(a[0]).json' "$OKREPLY")},
    $OKREPLY]")"
say con 1008 "Cut off?"
vdrain
r=$(job_of respond 1008)
isnt "$(q "SELECT $(jx errors 0 error) FROM jobs WHERE id = $r")" "" \
    "a truncated answer is an error"
drain_until 30 'job_is $r succeeded'
is "$(jstate "$r")" "succeeded/2" "... retried, then succeeds"
is "$(outbox_n 1008)" 1 "one reply went out"

# ---- drafts that must not go out: the persona, AI boilerplate ---------------

mark
fault_script "$(routes "[$(completion "Sure! $PERSONA"),
    $(completion "As an AI language model, I do not have weekends."),
    $(completion "Mostly reading by the sea.")]")"
say con 1009 "What do you do on weekends?"
vdrain
r=$(job_of respond 1009)
drain_until 30 'job_is $r succeeded'
is "$(jstate "$r")" "succeeded/3" "drafts the checks refuse are retried (3 attempts)"
like "$(q "SELECT $(jx errors 0 error) FROM jobs WHERE id = $r")" "persona" \
    "... a draft quoting the persona is refused, saying so"
like "$(q "SELECT $(jx errors 1 error) FROM jobs WHERE id = $r")" "boilerplate" \
    "... and so is 'As an AI language model'"
is "$(outbox_n 1009)" 1 "only one message went out"
check "... the acceptable one" grep -q '"chat_id":"1009".*Mostly reading by the sea' "$TMP/outbox.jsonl"
is "$(q "SELECT count(*) FROM messages WHERE direction = 'out' AND contact = $(contact_of 1009)")" 1 \
    "the refused drafts were not stored"

# The errors read once: "llm: HTTP 500: ...", not "llm: llm: HTTP 500: ...".
is "$(q "SELECT count(*) FROM jobs, $(jeach jobs.errors)
         WHERE $(jx value error) LIKE 'llm: llm:%'")" 0 \
    "LLM errors name the LLM once (no doubled 'llm: llm:' prefix)"

# ---- webhook send times out after the request was sent: uncertain, once -----

mark
fault_script "$(routes "[$OKREPLY]" '[{"delay_ms": 4000, "json": {"id": "late"}}]')"
say hook 2001 "Hi webhook"
settle
s=$(send_of 2001)
m=$(out_of 2001)
is "$(nreq '^\/hook$')" 1 "webhook timeout: the message was POSTed once"
is "$(q "SELECT status FROM messages WHERE id = $m")" uncertain "... and is marked uncertain"
is "$(jstate "$s")" "dead/1" "... its send job is dead after one attempt"
like "$(errors "$s")" "uncertain|unknown" "... with an error that says the outcome is unknown"
like "$(errors "$s")" "1000 ms|timed? ?out" "... and why (the timeout)"
vdrain
enqueue -q --retry "$s" >/dev/null 2>&1
settle
enqueue -q send "{\"message\": $m}" >/dev/null
settle
is "$(nreq '^\/hook$')" 1 "it is never sent again: not by drains, --retry of the job, nor a new send job"
is "$(q "SELECT status FROM messages WHERE id = $m")" uncertain "... and stays uncertain"

# The worker dies (kill -9 of the whole tree) while the POST is in flight:
# the next run finds the message `sending` and marks it uncertain.
mark
fault_script "$(routes "[$OKREPLY]" '[{"delay_ms": 20000, "json": {"id": "never"}}]')"
say hook 2003 "Hi, about to crash"
start_bg "$TMP/worker-bg.log" "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 1
W=$BG
wait_for 30 eval '[ "$(nreq "^\/hook$")" -ge 1 ]' || fail "the webhook POST never arrived"
m=$(out_of 2003)
is "$(q "SELECT status FROM messages WHERE id = $m")" sending "while the POST is in flight the message is sending"
{
	kill -KILL -- "-$W"
	wait "$W"
} 2>/dev/null
s=$(send_of 2003)
# The lease (1 s) expires; the next drain takes the job again.
drain_until 30 'job_is $s dead' || fail "the interrupted send job did not end within 30 s"
is "$(q "SELECT status FROM messages WHERE id = $m")" uncertain "after kill -9 mid-send the message is uncertain"
like "$(errors "$s")" "uncertain" "... the send job is dead, saying it was not resent"
settle
is "$(nreq '^\/hook$')" 1 "... and it was POSTed exactly once"

# A webhook 500 is a plain failure: retried, then delivered.
mark
fault_script "$(routes "[$OKREPLY]" '[{"status": 500, "body": "oops"}, {"json": {"id": "w2"}}]')"
say hook 2002 "Hi again webhook"
settle
s=$(send_of 2002)
drain_until 30 'job_is $s succeeded'
is "$(jstate "$s")" "succeeded/2" "webhook 500: the send is retried and succeeds"
is "$(q "SELECT status || '|' || platform_msg_id FROM messages WHERE id = $(out_of 2002)")" "sent|w2" \
    "... the message is sent, with the receiver's id"

# ---- telegram sendMessage times out: uncertain, never twice ------------------

mark
fault_script "$(routes "[$OKREPLY]" "" "[{\"delay_ms\": 4000, \"json\": $(js 'JSON.parse(a[0]).json' "$TG_OK")}]")"
say tg 3001 "Hi telegram"
settle
s=$(send_of 3001)
m=$(out_of 3001)
is "$(nreq 'sendMessage$')" 1 "telegram timeout: sendMessage was called once"
is "$(q "SELECT status FROM messages WHERE id = $m")" uncertain "... the message is uncertain"
is "$(jstate "$s")" "dead/1" "... the send job is dead"
like "$(errors "$s")" "uncertain|unknown" "... with an error that says so"
enqueue -q --retry "$s" >/dev/null 2>&1
settle
is "$(nreq 'sendMessage$')" 1 "... and it is not sent again"

# ---- telegram 429 flood control: parameters.retry_after ----------------------

mark
fault_script "$(routes "[$OKREPLY]" "" "[{\"status\": 429, \"json\": {\"ok\": false, \"error_code\": 429,
    \"description\": \"Too Many Requests: retry after 40\", \"parameters\": {\"retry_after\": 40}}},
    $TG_OK]")"
say tg 3002 "Hi flood"
settle
s=$(send_of 3002)
m=$(out_of 3002)
t429=$(req_at 'sendMessage$' 0)
ra=$(run_at "$s")
is "$(jstate "$s")" "queued/1" "telegram 429: the send job waits to be retried"
check "... no earlier than retry_after 40 s after the 429 (run_at - 429 = $((ra - t429)) ms)" \
    test "$ra" -ge $((t429 + 40000))
is "$(q "SELECT status FROM messages WHERE id = $m")" queued "... the message is queued, not uncertain"
like "$(errors "$s")" "429.*Too Many Requests" "... the error has Telegram's description"
vdrain
is "$(nreq 'sendMessage$')" 1 "... and a drain before then sends nothing"
q "UPDATE jobs SET run_at = 0 WHERE id = $s"
settle
is "$(jstate "$s")" "succeeded/2" "when due, it is sent"
is "$(nreq 'sendMessage$')" 2 "... with one more request (the 429 delivered nothing)"
is "$(q "SELECT status || '|' || platform_msg_id FROM messages WHERE id = $m")" "sent|321" \
    "... and the message is sent with Telegram's id"
is "$(freq 'JSON.parse(R.filter((r) => /sendMessage$/.test(r.path))[1].body).chat_id')" 3002 \
    "... to the contact's chat"

# ---- telegram 403 "blocked by the user": the contact is never messaged again --

mark
fault_script "$(routes "[$OKREPLY]" "" '[{"status": 403, "json": {"ok": false, "error_code": 403,
    "description": "Forbidden: bot was blocked by the user"}}]')"
say tg 3003 "Hi, soon I block you"
settle
s=$(send_of 3003)
is "$(jstate "$s")" "dead/1" "telegram 403 blocked: the send is dead at once"
like "$(errors "$s")" "blocked by the user" "... with Telegram's description"
is "$(q "SELECT status FROM contacts WHERE id = $(contact_of 3003)")" blocked "... and the contact is marked blocked"
say tg 3003 "I unblocked you, maybe"
settle
is "$(nreq 'sendMessage$')" 1 "a blocked contact's next message gets no reply"

# ---- the key and the token never leave --------------------------------------

for id in $(q "SELECT id FROM jobs"); do
	"$BIN/dater-report" -c "$CONF" -d "$DB" --json job "$id" >>"$TMP/report.txt" 2>&1
done
"$BIN/dater-report" -c "$CONF" -d "$DB" jobs --limit 1000 >>"$TMP/report.txt" 2>&1
"$BIN/dater-report" -c "$CONF" -d "$DB" --json jobs --limit 1000 >>"$TMP/report.txt" 2>&1
# The database's own bytes: the SQLite file and its -wal, or on
# PostgreSQL a dump of every row.
if is_pg; then
	dbdump >"$TMP/db.dump"
	DB_FILES=("$TMP/db.dump")
else
	q "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
	DB_FILES=("$DB" "$DB-wal")
fi
check "the LLM key was sent to the server (the test can see it)" grep -qF "Bearer $KEY" "$FAULT_LOG"
check "the bot token was in the Telegram URLs (the test can see it)" grep -qF "/bot$TOKEN/" "$FAULT_LOG"
for f in "${DB_FILES[@]}" "$LOGS" "$TMP/report.txt" "$TMP/outbox.jsonl"; do
	[ -f "$f" ] || continue
	check "the LLM key is nowhere in $(basename "$f")" eval '! grep -qaF "$KEY" "$f"'
	check "the bot token is nowhere in $(basename "$f")" eval '! grep -qaF "$TOKEN" "$f"'
done
check "the database holds the job errors the search looked at" grep -qa "Incorrect API key" "${DB_FILES[0]}"

bb_done
