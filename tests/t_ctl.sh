#!/bin/bash
# Operator control end to end through the real binaries and peers: the
# bot "anna" talks through telegram-test-api with mock-llm writing its
# replies, the bot "rev" is in review mode and delivers to a console
# outbox. A paused bot stores what arrives and answers nothing; resume
# answers each waiting contact once; a paused contact waits alone; a
# takeover stops the bot's replies and `say` delivers the operator's
# words exactly once, stored as written by a person; `edit` changes a
# draft that `approve` then sends; `forget` leaves nothing of a person
# in any table and the same person starts afresh; a bot removed from
# the configuration keeps its jobs waiting. Every command is in the
# audit view; bad arguments exit 64/65 with one line.
#
# Needs node and tests/node_modules (the peers); never the internet.
. "$(dirname "$0")/blackbox-lib.sh"
. "$ROOT/tests/peers/peers.sh" || exit 1
. "$ROOT/tests/peers/telegram.sh" || exit 1
trap 'peers_stop_all; bb_cleanup' EXIT

export DATER_TEST_LLM_KEY=sk-test-ctl-0c9d1e
export ANNA_TG_TOKEN=123456:ctl-test-token
export DATER_ACTOR=ops-tester
TOKEN=$ANNA_TG_TOKEN
OUTBOX=$TMP/outbox.jsonl

ctl() { "$BIN/dater-ctl" -c "$CONF" -d "$DB" "$@"; }
report() { "$BIN/dater-report" -c "$CONF" -d "$DB" "$@"; }
tg_read() { peers_telegram_read "$TOKEN" "$1"; }
nlines() { if [ -z "$1" ]; then echo 0; else printf '%s\n' "$1" | wc -l; fi; }
tg_say() { peers_telegram_say "$TOKEN" "$1" "$2" "{\"id\": $1, \"is_bot\": false, \"first_name\": \"P$1\"}"; }
poll() { enqueue -q poll '{"bot": "anna"}' >/dev/null; }
idle() {
	[ "$(count_jobs "state = 'running' OR (state = 'queued' AND run_at <= $(now_ms))")" = 0 ]
}
settle() { drain -q >>"$TMP/drain.log" 2>&1; drain_until 30 idle; }
contact_of() { q "SELECT id FROM contacts WHERE platform_id = '$1'"; }
outs() { q "SELECT count(*) FROM messages m JOIN contacts c ON c.id = m.contact
            WHERE c.platform_id = '$1' AND m.direction = 'out'"; }
outbox_n() { if [ -f "$OUTBOX" ]; then grep -c "\"chat_id\":\"$1\"" "$OUTBOX"; else echo 0; fi; }

# write_ctl [WITH_REV]: anna, and rev unless WITH_REV is "no".
write_ctl() {
	local rev="{ name = \"rev\"; persona = \"Rev.\"; review = true;
           transport = { driver = \"console\"; path = \"$OUTBOX\"; }; }"
	[ "${1:-}" = no ] && rev=
	write_conf "" "
llm = { provider = \"openai\"; base_url = \"$MOCK_LLM_URL\"; model = \"test-model-x\";
        api_key_env = \"DATER_TEST_LLM_KEY\"; timeout = \"10s\"; };
defaults = { reply_delay = [0, 0]; quiet_hours = \"off\"; };
bots = ( { name = \"anna\"; persona = \"You are Anna.\";
           transport = { driver = \"telegram\"; base_url = \"$TELEGRAM_URL\";
                         token_env = \"ANNA_TG_TOKEN\"; timeout = \"5s\"; }; }${rev:+, $rev} );
"
}

peers_telegram_start "$TMP/telegram.log" || die "telegram-test-api did not start"
peers_mock_llm_start || die "mock-llm did not start"
write_ctl
migrate || die "dater-migrate up failed"

# ---- a paused bot stores but does not reply -----------------------------

run ctl pause anna --reason "checking the persona"
is "$RC|$OUT" "0|bot 'anna' paused" "pause anna"
tg_say 4242 "Are you there?"
tg_say 4343 "Hello?"
tg_say 4343 "Anyone?"
tg_say 4545 "stop"
poll
settle || fail "the queue did not settle"
is "$(q "SELECT count(*) FROM messages WHERE direction = 'in'")" 4 \
    "the paused bot stores the four messages"
is "$(q "SELECT count(*) FROM messages WHERE direction = 'out' AND kind <> 'optout'")" 0 \
    "... and writes nothing"
is "$(nlines "$(tg_read 4242)")$(nlines "$(tg_read 4343)")$(nlines "$(tg_read 4545)")" 000 \
    "... and sends nothing"
is "$(q "SELECT status FROM contacts WHERE platform_id = '4545'")" opted_out \
    "an opt-out is honoured while the bot is paused"
is "$(count_jobs "type = 'respond'")" 0 "... and queues no reply"
is "$(count_jobs "state = 'dead'")" 0 "no job died"
run report bots --json
like "$OUT" '"state": "paused"' "dater-report bots shows anna paused"
like "$OUT" '"why": "paused by ops-tester: checking the persona"' "... by whom and why"
run report bots
like "$OUT" '^anna +today .* paused +[^ ]+ ago +paused by ops-tester' "... in the table too"
like "$(report --prometheus)" 'dater_bot_state\{bot="anna",state="paused"\} 1' \
    "... and in the Prometheus text"

# ---- resume: one reply per waiting contact -------------------------------

run ctl resume anna
is "$RC|$OUT" "0|bot 'anna' resumed; 2 replies enqueued" "resume enqueues one reply per contact"
settle
is "$(nlines "$(tg_read 4242)")" 1 "contact 4242 gets one reply"
is "$(nlines "$(tg_read 4343)")" 1 "contact 4343 (two messages) gets one reply"
like "$(tg_read 4545)" "You won't hear from me again" \
    "the opt-out confirmation went out after the resume, and no reply"
run ctl resume anna
is "$RC|$OUT" "0|bot 'anna' was not paused; 0 replies enqueued" "a second resume owes nothing"
settle
is "$(grep -c '/bot[^/]*/sendMessage' "$TMP/telegram.log")" 3 "three sendMessage calls in all"
like "$(report bots)" '^anna +today .* active +- +running( |$)' "anna is active again"

# ---- one contact paused -------------------------------------------------

C42=$(contact_of 4242)
C43=$(contact_of 4343)
run ctl pause anna "$C42"
is "$RC|$OUT" "0|contact $C42 paused" "pause one contact"
tg_say 4242 "Still there?"
tg_say 4343 "Nice to hear from you"
poll
settle
is "$(nlines "$(tg_read 4343)")" 1 "the other contact is answered"
is "$(nlines "$(tg_read 4242)")" 0 "the paused contact is not"
is "$(q "SELECT count(*) FROM messages WHERE contact = $C42 AND direction = 'in'")" 2 \
    "... but its message is stored"
run ctl resume anna "$C42"
is "$RC|$OUT" "0|contact $C42 resumed; 1 replies enqueued" "resume the contact"
settle
is "$(nlines "$(tg_read 4242)")" 1 "... and it gets its reply"

# ---- takeover and say ----------------------------------------------------

run ctl takeover anna "$C42"
is "$RC|$OUT" "0|contact $C42 taken over; 0 pending bot messages dropped" "takeover"
tg_say 4242 "I would like to talk to a person"
poll
settle
is "$(nlines "$(tg_read 4242)")" 0 "the bot does not reply during a takeover"
before=$(outs 4242)
calls=$(grep -c '/bot[^/]*/sendMessage' "$TMP/telegram.log")
run ctl say anna "$C42" "Hi, this is Sam from the team."
like "$RC|$OUT" '^0\|message [0-9]+ queued for sending \(job [0-9]+\)$' "say queues the message"
MSG=$(printf '%s' "$OUT" | sed -E 's/^message ([0-9]+) .*/\1/')
settle
got=$(tg_read 4242)
is "$(nlines "$got")" 1 "the operator's message arrives once"
like "$got" '"text":"Hi, this is Sam from the team\."' "... with the operator's words"
is "$(q "SELECT status || '|' || author || '|' || direction FROM messages WHERE id = $MSG")" \
    "sent|ops-tester|out" "... stored as sent, written by ops-tester"
poll
settle
is "$(nlines "$(tg_read 4242)")" 0 "nothing more arrives after another drain"
is "$(grep -c '/bot[^/]*/sendMessage' "$TMP/telegram.log")" $((calls + 1)) \
    "the bot called sendMessage exactly once for it"
run_in <(printf 'From stdin,\nsecond line\n') ctl say anna "$C42"
is "$RC" 0 "say reads the text from stdin"
settle
like "$(tg_read 4242)" 'From stdin,\\nsecond line"' "... and it is delivered as written"
is "$(outs 4242)" $((before + 2)) "only the two messages of the operator were added"
run ctl release anna "$C42"
is "$RC|$OUT" "0|contact $C42 released; 0 replies enqueued" \
    "release: the operator answered last, so the bot owes nothing"
tg_say 4242 "Thanks!"
poll
settle
is "$(nlines "$(tg_read 4242)")" 1 "after release the bot replies again"

# ---- edit a draft, then approve -------------------------------------------

enqueue -q inbound '{"bot": "rev", "platform_id": "77", "text": "Hello reviewer", "message_id": "1"}' >/dev/null
settle
DRAFT=$(q "SELECT id FROM messages WHERE bot = 'rev' AND status = 'draft'")
isnt "$DRAFT" "" "review mode leaves a draft"
run ctl edit "$DRAFT" "An edited reply, checked by a person."
is "$RC|$OUT" "0|draft $DRAFT edited" "edit the draft"
enqueue -q approve "{\"message\": $DRAFT}" >/dev/null
settle
is "$(outbox_n 77)" 1 "approve sends the draft once"
like "$(cat "$OUTBOX")" '"text":"An edited reply, checked by a person\."' "... with the edited text"
run ctl edit "$DRAFT" "too late"
is "$RC" 65 "editing a sent message exits 65"
is "$ERR" "dater-ctl: error: message $DRAFT: sent, not a draft awaiting approval" "... saying why"

# ---- forget ----------------------------------------------------------------

PID=987654321
tg_say $PID "zebra-orchid secret words"
poll
settle
CF=$(contact_of $PID)
isnt "$CF" "" "a contact to forget"
is "$(nlines "$(tg_read $PID)")" 1 "... who got a reply"
ctl pause anna "$CF" --reason "zebra-orchid asked to be forgotten" >/dev/null
run ctl forget anna "$CF"
is "$RC" 0 "forget"
like "$OUT" "contact $CF of bot 'anna' forgotten" "forget says whom"
like "$OUT" 'messages +2' "... and counts the messages"
like "$OUT" 'contacts +1' "... and the contact"
dump=$(dbdump)
is "$(printf '%s\n' "$dump" | grep -c -e "$PID" -e zebra-orchid -e "P$PID")" 0 \
    "no table holds the platform id, the name or the words"
is "$(q "SELECT count(*) FROM messages WHERE contact = $CF")" 0 "no message of the contact is left"
tg_say $PID "zebra-orchid again"
poll
settle
CN=$(contact_of $PID)
isnt "$CN" "" "the same person writes again: a new contact"
is "$(q "SELECT count(*) FROM messages WHERE contact = $CN")" 2 "... with a fresh conversation (theirs and a reply)"
is "$(q "SELECT paused || '|' || coalesce(takeover_by, '') FROM contacts WHERE id = $CN")" "0|" \
    "... that starts unheld"

# ---- the audit view --------------------------------------------------------

run report audit --json
for c in pause resume takeover release say edit forget; do
	like "$OUT" "\"command\": \"$c\"" "the audit view shows $c"
done
is "$(q "SELECT count(DISTINCT actor) || '|' || min(actor) FROM audit")" "1|ops-tester" \
    "every row names the actor"
like "$(report audit)" 'ops-tester +forget +anna' "the audit table lists forget"

# ---- a bot removed from the configuration: its jobs wait -------------------

enqueue -q inbound '{"bot": "rev", "platform_id": "78", "text": "Hi", "message_id": "1"}' \
    --in 1h >/dev/null
J=$(q "SELECT max(id) FROM jobs WHERE type = 'inbound' AND bot = 'rev'")
write_ctl no
q "UPDATE jobs SET run_at = $(now_ms) WHERE id = $J"
settle
is "$(q "SELECT state || '|' || attempts FROM jobs WHERE id = $J")" "queued|0" \
    "a job of a removed bot waits (no attempt spent, not dead)"
like "$(report bots)" '^rev +today .* removed +- +not in the configuration' "dater-report bots shows rev removed"
write_ctl
q "UPDATE jobs SET run_at = $(now_ms) WHERE id = $J"
settle
is "$(state_of "$J")" succeeded "the bot back in the configuration runs it"

# ---- bad arguments -----------------------------------------------------------

badarg() {	# EXPECTED_RC ERROR_REGEX ARGS...
	local want=$1 re=$2
	shift 2
	run ctl "$@"
	is "$RC" "$want" "dater-ctl $* exits $want"
	is "$(nlines "$ERR")" 1 "... with one line"
	like "$ERR" "$re" "... naming the problem"
}
badarg 64 'expected a command' 
badarg 64 "unknown command 'frob'" frob
badarg 64 'pause: expected bot \[contact\]' pause
badarg 64 "contact 'abc': expected a positive integer id" pause anna abc
badarg 64 'takeover: expected bot contact' takeover anna
badarg 64 '--reason goes with pause only' resume anna --reason x
badarg 65 "bot 'nobody': not in the configuration or the database" pause nobody
badarg 65 'contact 999999: no such contact' say anna 999999 hi
badarg 65 "contact $C42: belongs to bot 'anna', not 'rev'" forget rev "$C42"
badarg 65 'text: empty' say anna "$C43" "   "
badarg 65 "message 1: written by the contact, not a draft" edit 1 text
n=$(q "SELECT count(*) FROM audit")
run ctl say anna 999999 hi
is "$(q "SELECT count(*) FROM audit")" "$n" "a refused command leaves no audit row"

bb_done
