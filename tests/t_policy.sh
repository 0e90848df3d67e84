#!/bin/bash
# Conversation policies, black box, with the offline LLM and the console
# transport (one outbox file per bot): opt-out stops everything and is
# confirmed once; quiet hours, rate limits and the daily budget defer
# jobs (run_at at the earliest allowed time, no attempt spent); the loop
# guard stops follow-ups; review mode sends nothing until `approve`; the
# AI disclosure is on the first message of a conversation only.
#
# Time passing (for follow-ups) is simulated by moving the contact's last
# outbound time back in the database; no test waits for the clock. The
# budget part needs a priced LLM: tests/peers/fault.js plays it (node).
. "$(dirname "$0")/blackbox-lib.sh"
. "$ROOT/tests/peers/peers.sh" || exit 1
trap 'peers_stop_all; bb_cleanup' EXIT

OPTOUT_REPLY="Understood, no more messages from me. Bye!"
DISC="(AI-assisted replies. Reply STOP to opt out.)"

# The quiet window: from an hour ago to an hour from now, in UTC. It ends
# at QEND (ms), the next time the clock reads its end.
now_s=$(date -u +%s)
QSTART=$(date -u -d "@$((now_s - 3600))" +%H:%M)
QEND_S=$((now_s - now_s % 60 + 3600))
QEND=$(date -u -d "@$QEND_S" +%H:%M)
QEND_MS=$((QEND_S * 1000))

bot() {	# bot NAME SETTINGS: a bot with its own console outbox
	echo "{ name = \"$1\"; transport = { driver = \"console\"; path = \"$TMP/out-$1.jsonl\"; }; $2 }"
}
write_conf "" "
fields = \"$ROOT/etc/fields.json\";
llm = { provider = \"offline\"; };
defaults = { reply_delay = [0, 0]; quiet_hours = \"off\"; timezone = \"UTC\";
             max_per_hour = 0; max_per_chat_hour = 0; max_unanswered = 5;
             opt_out_reply = \"$OPTOUT_REPLY\"; disclosure = \"$DISC\"; };
bots = (
$(bot talk ""),
$(bot quiet "quiet_hours = \"$QSTART-$QEND\";"),
$(bot rate "max_per_hour = 1;"),
$(bot chatrate "max_per_chat_hour = 1;"),
$(bot guard "max_unanswered = 1; followup_after = \"1m\";"),
$(bot nudge "max_unanswered = 2; followup_after = \"1m\";"),
$(bot review "review = true;"),
$(bot plain "disclosure = false;"),
$(bot slow "reply_delay = [3600, 3600];")
);
"
migrate || die "dater-migrate up failed"

# ---- helpers -----------------------------------------------------------

N=0
say() {	# say BOT PLATFORM_ID TEXT: an inbound message, then drain
	N=$((N + 1))
	enqueue -q inbound "$(sqlite3 :memory: "SELECT json_object('bot', '$1',
	    'platform_id', '$2', 'message_id', 'm$N', 'text', '$(printf %s "$3" | sed "s/'/''/g")')")" \
	    >/dev/null || fail "could not enqueue an inbound message"
	settle
}
new_contact() {	# new_contact BOT PLATFORM_ID [EXTRA_JSON_MEMBERS]
	enqueue -q contact "{\"bot\": \"$1\", \"platform_id\": \"$2\", \"consent\": true ${3:+, $3}}" >/dev/null
	settle
}
idle() {
	[ "$(count_jobs "state = 'running' OR (state = 'queued' AND run_at <= $(now_ms))")" = 0 ]
}
settle() { drain -q >>"$TMP/drain.log" 2>&1; drain_until 30 idle || fail "the queue did not settle"; }

cid() { q "SELECT id FROM contacts WHERE platform_id = '$1'"; }
# Lines of BOT's outbox to PLATFORM_ID.
sent() {
	local f=$TMP/out-$1.jsonl
	if [ -f "$f" ]; then grep -c "\"chat_id\":\"$2\"" "$f"; else echo 0; fi
}
# The text of the Nth (1-based) line of BOT's outbox to PLATFORM_ID.
sent_text() {
	local f=$TMP/out-$1.jsonl line
	line=$(grep "\"chat_id\":\"$2\"" "$f" 2>/dev/null | sed -n "${3}p")
	[ -n "$line" ] && sqlite3 :memory: "SELECT json_extract('$(printf %s "$line" | sed "s/'/''/g")', '\$.text')"
}
last_out() { q "SELECT max(id) FROM messages WHERE direction = 'out' AND contact = $(cid "$1")"; }
job_for() {	# job_for TYPE PLATFORM_ID: the contact's newest job of TYPE
	q "SELECT max(id) FROM jobs WHERE type = '$1' AND $(jxn payload contact) = $(cid "$2")"
}
send_job() { q "SELECT max(id) FROM jobs WHERE type = 'send' AND $(jxn payload message) = $1"; }
jstate() { q "SELECT state || '/' || attempts FROM jobs WHERE id = $1"; }
run_at() { q "SELECT run_at FROM jobs WHERE id = $1"; }

# ---- opt-out: stops everything, confirmed once -------------------------------

say talk 100 "hello there"
is "$(sent talk 100)" 1 "a first message is answered (the test can see replies)"
c=$(cid 100)
ini=$(enqueue --in 1h initiate "{\"contact\": $c}")
fol=$(enqueue --in 1h followup "{\"contact\": $c}")
say talk 100 "STOP"
is "$(q "SELECT status FROM contacts WHERE id = $c")" opted_out "\"STOP\" opts the contact out"
is "$(sent talk 100)" 2 "one message more was sent"
is "$(sent_text talk 100 2)" "$OPTOUT_REPLY" "... the confirmation, exactly the configured opt_out_reply"
is "$(state_of "$ini")" cancelled "a pending initiate job is cancelled"
is "$(state_of "$fol")" cancelled "a pending followup job is cancelled"
say talk 100 "stop"
is "$(sent talk 100)" 2 "a second STOP sends nothing"
say talk 100 "Sorry, are you still there?"
is "$(sent talk 100)" 2 "a later message gets no reply"
is "$(q "SELECT count(*) FROM messages WHERE contact = $c AND direction = 'in'")" 4 \
    "... though every message is still stored"
enqueue -q initiate "{\"contact\": $c}" >/dev/null
enqueue -q followup "{\"contact\": $c}" >/dev/null
enqueue -q respond "{\"contact\": $c}" >/dev/null
settle
is "$(sent talk 100)" 2 "initiate, followup and respond jobs enqueued later send nothing either"
is "$(count_jobs "state = 'dead'")" 0 "... and nothing failed"

# Another language, any case, with punctuation.
say talk 101 "hi!"
say talk 101 "Lass mich in Ruhe!"
is "$(q "SELECT status FROM contacts WHERE id = $(cid 101)")" opted_out \
    "\"Lass mich in Ruhe!\" (German) opts out"
is "$(sent talk 101)" 2 "... with one confirmation after the one reply"
is "$(sent_text talk 101 2)" "$OPTOUT_REPLY" "... which is the opt-out reply"
say talk 102 "СТОП"
is "$(q "SELECT status FROM contacts WHERE id = $(cid 102)")" opted_out "\"СТОП\" (Russian, upper case) opts out"
is "$(sent talk 102)" 1 "... confirmed once"
say talk 102 "СТОП"
is "$(sent talk 102)" 1 "... and a second one sends nothing"
# A reply still waiting for its reply delay is cancelled by an opt-out.
say slow 104 "hello, slow bot"
say slow 104 "are you there?"
r=$(job_for respond 104)
is "$(count_jobs "type = 'respond' AND $(jxn payload contact) = $(cid 104)")" 1 \
    "two messages within the reply delay wait for one respond job"
is "$(jstate "$r")" "queued/0" "... which is queued for later"
say slow 104 "stop"
is "$(state_of "$r")" cancelled "an opt-out cancels the waiting respond job"
is "$(sent slow 104)" 1 "... and only the confirmation is sent"
is "$(sent_text slow 104 1)" "$OPTOUT_REPLY" "... which is that message"
# Only the whole message counts.
say talk 103 "Please don't stop writing to me"
is "$(q "SELECT status FROM contacts WHERE id = $(cid 103)")" active "a sentence that contains \"stop\" is not an opt-out"
is "$(sent talk 103)" 1 "... and gets a reply"

# ---- quiet hours defer, in the contact's time zone ---------------------------

say quiet 200 "late night hello"
m=$(last_out 200)
s=$(send_job "$m")
is "$(sent quiet 200)" 0 "quiet hours ($QSTART-$QEND UTC, now inside): the reply is not sent"
is "$(jstate "$s")" "queued/0" "... its send job waits without spending an attempt"
is "$(run_at "$s")" "$QEND_MS" "... until the end of the quiet hours ($QEND UTC)"
is "$(q "SELECT status FROM messages WHERE id = $m")" queued "... and the message stays queued"
settle
is "$(sent quiet 200)" 0 "draining again sends nothing"

new_contact quiet 201 '"timezone": "Etc/GMT-6"'
say quiet 201 "hello from far east"
is "$(sent quiet 201)" 1 "a contact whose local time (UTC+6) is outside the window is answered"

new_contact quiet 202
i=$(enqueue initiate "{\"contact\": $(cid 202)}")
settle
is "$(jstate "$i")" "queued/0" "an opener in quiet hours is deferred, no attempt spent"
is "$(run_at "$i")" "$QEND_MS" "... to the end of the quiet hours"
is "$(q "SELECT count(*) FROM messages WHERE contact = $(cid 202)")" 0 "... and nothing was written yet"

# ---- rate limits defer -------------------------------------------------------

say rate 300 "first!"
is "$(sent rate 300)" 1 "max_per_hour = 1: the first reply goes out"
first_at=$(q "SELECT sent_at FROM messages WHERE id = $(last_out 300)")
say rate 301 "second!"
m=$(last_out 301)
s=$(send_job "$m")
is "$(sent rate 301)" 0 "... the second one (another contact) does not"
is "$(jstate "$s")" "queued/0" "... its send job is deferred without spending an attempt"
is "$(run_at "$s")" "$((first_at + 3600000))" "... until an hour after the first was sent"
is "$(q "SELECT status FROM messages WHERE id = $m")" queued "... and the message stays queued"
# An opt-out while that reply waits: the reply is dropped, and the
# confirmation is not held back by the rate limit.
say rate 301 "stop"
is "$(state_of "$s")" cancelled "an opt-out cancels the contact's waiting send job"
is "$(q "SELECT status FROM messages WHERE id = $m")" failed "... and the waiting reply is never sent"
is "$(sent rate 301)" 1 "the confirmation goes out despite the rate limit"
is "$(sent_text rate 301 1)" "$OPTOUT_REPLY" "... and it is the only message the contact got"

say chatrate 310 "one"
say chatrate 310 "two"
is "$(sent chatrate 310)" 1 "max_per_chat_hour = 1: a second reply to one contact waits"
s=$(send_job "$(last_out 310)")
first_at=$(q "SELECT min(sent_at) FROM messages WHERE contact = $(cid 310)")
is "$(jstate "$s")/$(run_at "$s")" "queued/0/$((first_at + 3600000))" \
    "... deferred (no attempt) to an hour after the first"
say chatrate 311 "other"
is "$(sent chatrate 311)" 1 "... while another contact is answered"

# ---- the loop guard stops follow-ups -----------------------------------------

# followup_after is 1 minute: make the conversation 2 hours older.
age() {
	q "UPDATE contacts SET last_outbound_at = last_outbound_at - 7200000,
	   last_inbound_at = last_inbound_at - 7200000 WHERE id = $(cid "$1");
	   UPDATE messages SET created_at = created_at - 7200000,
	   sent_at = sent_at - 7200000 WHERE contact = $(cid "$1")"
}
say nudge 410 "hey"
age 410
enqueue -q followup "{\"contact\": $(cid 410)}" >/dev/null
settle
is "$(sent nudge 410)" 2 "max_unanswered = 2: one reply, then a follow-up goes out"
is "$(q "SELECT kind FROM messages WHERE id = $(last_out 410)")" followup "... of kind followup"
age 410
enqueue -q followup "{\"contact\": $(cid 410)}" >/dev/null
settle
is "$(sent nudge 410)" 2 "... but not a second follow-up (2 unanswered)"

# Our reply stored in the millisecond the message came in (or the
# platform's clock ahead of ours): the last message is still ours.
say nudge 420 "hey"
age 420
q "UPDATE contacts SET last_inbound_at = last_outbound_at WHERE id = $(cid 420)"
enqueue -q followup "{\"contact\": $(cid 420)}" >/dev/null
settle
is "$(sent nudge 420)" 2 "a reply stamped with its message's millisecond still gets its follow-up"

say guard 400 "hey"
age 400
f=$(enqueue followup "{\"contact\": $(cid 400)}")
settle
is "$(sent guard 400)" 1 "max_unanswered = 1: after the reply, a followup job sends nothing"
is "$(state_of "$f")" succeeded "... and the job is done (not retried)"
is "$(q "SELECT count(*) FROM messages WHERE contact = $(cid 400) AND kind = 'followup'")" 0 \
    "... and writes no message"
say guard 400 "are you there?"
is "$(sent guard 400)" 2 "an answer from the contact is still replied to"

# ---- review mode: nothing until approve --------------------------------------

say review 500 "hi reviewer"
m=$(last_out 500)
is "$(q "SELECT status FROM messages WHERE id = $m")" draft "review mode: the reply is stored as a draft"
is "$(count_jobs "type = 'send' AND $(jxn payload message) = $m")" 0 "... no send job exists"
settle
is "$(sent review 500)" 0 "... and nothing is sent, even after draining again"
draft=$(q "SELECT text FROM messages WHERE id = $m")
a=$(enqueue approve "{\"message\": $m}")
settle
is "$(state_of "$a")" succeeded "dater-enqueue approve: the approve job succeeds"
is "$(sent review 500)" 1 "... and the draft is sent"
is "$(sent_text review 500 1)" "$draft" "... as it was written"
is "$(q "SELECT status FROM messages WHERE id = $m")" sent "... and marked sent"
a2=$(enqueue approve "{\"message\": $m}")
settle
is "$(state_of "$a2")" dead "approving it again fails (not a draft)"
is "$(sent review 500)" 1 "... and sends nothing"
# A draft still waiting when the contact opts out is never sent.
say review 501 "hi again reviewer"
m=$(last_out 501)
is "$(q "SELECT status FROM messages WHERE id = $m")" draft "a second contact's reply waits as a draft"
say review 501 "unsubscribe"
a=$(enqueue approve "{\"message\": $m}")
settle
is "$(q "SELECT status FROM messages WHERE id = $m")" failed "after an opt-out the waiting draft is dropped"
is "$(state_of "$a")" dead "... approving it fails"
is "$(sent review 501)" 1 "... and only the opt-out confirmation was sent"
is "$(sent_text review 501 1)" "$OPTOUT_REPLY" "... which is that message"

# ---- disclosure: on the first message of a conversation only -----------------

say talk 600 "nice to meet you"
say talk 600 "what do you do for fun?"
is "$(sent talk 600)" 2 "two replies went out"
first=$(sent_text talk 600 1)
second=$(sent_text talk 600 2)
check "the first reply carries the disclosure" eval '[[ "$first" == *"$DISC"* ]]'
check "the second reply does not" eval '[[ "$second" != *"$DISC"* ]]'
new_contact talk 601
enqueue -q initiate "{\"contact\": $(cid 601)}" >/dev/null
settle
is "$(sent talk 601)" 1 "an opener is sent to a consenting contact"
check "the opener (first message) carries the disclosure" eval '[[ "$(sent_text talk 601 1)" == *"$DISC"* ]]'
say talk 601 "oh hi"
check "the reply after it does not" eval '[[ "$(sent_text talk 601 2)" != *"$DISC"* ]]'
say plain 602 "hello plain"
check "a bot with disclosure = false adds none" eval '[[ "$(sent_text plain 602 1)" != *"$DISC"* ]]'

# The jobs dater enqueued itself pass dater-enqueue's payload checks.
replay_jobs
is "$RC" 0 "every job made here (inbound, respond, initiate and send (opt-out confirmations included)) passes dater-enqueue's checks"
is "$ERR" "" "... with nothing to say"

# ---- the daily budget defers respond ----------------------------------------

# fault.js plays a priced LLM: 100 + 10 tokens at $1000 per million tokens
# is $0.11 a call, over a budget of $0.05 after the first call.
peers_fault_start '[{"json": {"id": "c1", "object": "chat.completion", "model": "priced",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Lovely to hear from you."},
    "finish_reason": "stop"}], "usage": {"prompt_tokens": 100, "completion_tokens": 10}}}]' \
    "$TMP/fault.log" || die "fault.js did not start"
DB=$(new_db budget)
CONF=$TMP/budget.conf
write_conf "" "
fields = \"$ROOT/etc/fields.json\";
llm = { provider = \"openai\"; base_url = \"$FAULT_URL/v1\"; model = \"priced\"; api_key_env = \"\";
        timeout = \"5s\"; price_in_per_mtok = 1000.0; price_out_per_mtok = 1000.0; };
defaults = { reply_delay = [0, 0]; quiet_hours = \"off\"; max_per_hour = 0; max_per_chat_hour = 0; };
bots = ( $(bot money "daily_budget_usd = 0.05;") );
"
migrate || die "dater-migrate up failed (budget.db)"
llm_calls() { grep -c '/chat/completions' "$FAULT_LOG"; }
midnight() { local t; t=$(now_ms); echo $(( (t / 86400000 + 1) * 86400000 )); }

say money 700 "hi"
is "$(sent money 700)" 1 "the first reply is written and sent (nothing spent yet)"
is "$(q "SELECT round(CAST(sum(cost_usd) AS NUMERIC), 2) FROM metrics_daily WHERE bot = 'money'")" 0.11 \
    "... and its cost is counted from the server's usage and the prices"
before=$(midnight)
say money 701 "hello?"
after=$(midnight)
r=$(job_for respond 701)
is "$(llm_calls)" 1 "with the budget spent, the LLM is not called again"
is "$(sent money 701)" 0 "... no reply is sent"
is "$(jstate "$r")" "queued/0" "... the respond job is deferred without spending an attempt"
ra=$(run_at "$r")
check "... until the next UTC day ($ra)" eval '[ "$ra" = "$before" ] || [ "$ra" = "$after" ]'
new_contact money 702
i=$(enqueue initiate "{\"contact\": $(cid 702)}")
settle
is "$(jstate "$i")" "queued/0" "an opener is deferred by the spent budget too"
is "$(llm_calls)" 1 "... without calling the LLM"

bb_done
