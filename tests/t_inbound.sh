#!/bin/bash
# What a new user meets, through the real binaries and peers: a reply
# longer than Telegram's 4096-character limit arrives in telegram-test-api
# as several messages, each within the limit (in UTF-16 units, as
# Telegram counts), cut at sentences, nothing lost; `/start PAYLOAD`
# records consent and gets the persona's greeting; another command is
# stored and answered by nobody (no LLM call). With fault.js playing a
# second bot's Telegram, a SIGKILL of the tree while part 2 of 3 is in
# flight: the next run never resends part 2 (noted uncertain) and sends
# part 3, so each part went out at most once.
#
# Needs node and tests/node_modules (the peers); never the internet.
. "$(dirname "$0")/blackbox-lib.sh"
. "$ROOT/tests/peers/peers.sh" || exit 1
. "$ROOT/tests/peers/telegram.sh" || exit 1
trap 'peers_stop_all; bb_cleanup' EXIT

export DATER_TEST_LLM_KEY=sk-test-inbound-77aa
export ANNA_TG_TOKEN=123456:inbound-anna
export TGF_TG_TOKEN=654321:inbound-tgf

jsv() {
	local e=$1
	shift
	node -e 'const a = process.argv.slice(1);
const v = (() => ('"$e"'))();
console.log(typeof v === "string" ? v : JSON.stringify(v));' "$@"
}
freq() {
	node -e 'const fs = require("fs");
const R = fs.readFileSync(process.argv[1], "utf8").split("\n")
    .filter(Boolean).map((l) => JSON.parse(l));
const v = (() => ('"$1"'))();
console.log(typeof v === "string" ? v : JSON.stringify(v));' "$FAULT_LOG"
}

# A reply of about 9000 UTF-16 units, with emoji (two units each).
LONG=$(jsv 'Array.from({length: 260}, (_, i) =>
    "Orchid fact " + i + " \u{1F338} is here, and true.").join(" ")')
GREET="Hi, I am Anna. Lovely to meet you!"
completion() {
	jsv 'JSON.stringify({json: {id: "c", object: "chat.completion", model: "m",
    choices: [{index: 0, message: {role: "assistant", content: a[0]},
    finish_reason: "stop"}]}})' "$1"
}
SENT='{"json": {"ok": true, "result": {"message_id": 700, "chat": {"id": 1}, "date": 1, "text": "x"}}}'
peers_fault_start "{\"routes\": [
    {\"path\": \"^/v1/chat/completions\$\", \"steps\": [$(completion "$LONG"), $(completion "$GREET"),
        $(completion "$LONG")]},
    {\"path\": \"/sendMessage\$\", \"steps\": [$SENT,
        {\"delay_ms\": 60000, \"json\": {\"ok\": true, \"result\": {\"message_id\": 701}}}, $SENT]},
    {\"path\": \"/sendChatAction\$\", \"steps\": [{\"json\": {\"ok\": true, \"result\": true}}]},
    {\"path\": \"/getUpdates\$\", \"steps\": [{\"json\": {\"ok\": true, \"result\": []}}]}]}" \
    "$TMP/fault.log" || die "fault.js did not start"
peers_telegram_start "$TMP/telegram.log" || die "telegram-test-api did not start"

write_conf "" "
llm = { provider = \"openai\"; base_url = \"$FAULT_URL/v1\"; model = \"m\";
        api_key_env = \"DATER_TEST_LLM_KEY\"; timeout = \"10s\"; };
defaults = { reply_delay = [1, 1]; quiet_hours = \"off\"; disclosure = false;
             max_reply_chars = 20000; max_per_hour = 0; max_per_chat_hour = 0; };
bots = ( { name = \"anna\"; persona = \"You are Anna.\";
           transport = { driver = \"telegram\"; base_url = \"$TELEGRAM_URL\";
                         token_env = \"ANNA_TG_TOKEN\"; poll_timeout = \"1s\"; }; },
         { name = \"tgf\"; persona = \"You are Tom.\";
           transport = { driver = \"telegram\"; base_url = \"$FAULT_URL\"; listen = false;
                         token_env = \"TGF_TG_TOKEN\"; timeout = \"30s\"; }; } );
"
migrate || die "dater-migrate up failed"
llm_calls() { freq 'R.filter((r) => r.path === "/v1/chat/completions").length'; }
msg_job() {	# the inbound job of the message TEXT
	q "SELECT id FROM jobs WHERE type = 'inbound' AND $(jx payload text) = '$1'"
}

start_bg "$TMP/tree.log" "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 2
W=$BG

# ---- a reply over 4096 characters arrives in parts ---------------------------

peers_telegram_say "$ANNA_TG_TOKEN" 4242 "Tell me everything about orchids" \
    '{"id": 4242, "is_bot": false, "first_name": "Ann"}' || die "could not inject a message"
got=""
collect() {
	local more
	more=$(peers_telegram_read "$ANNA_TG_TOKEN" 4242)
	[ -n "$more" ] && got="$got$more"$'\n'
	[ "$(printf '%s' "$got" | grep -c .)" -ge "$1" ]
}
wait_for 60 collect 3 || fail "the long reply did not arrive within 60 s"
is "$(printf '%s' "$got" | jsv 'require("fs").readFileSync(0, "utf8").split("\n")
    .filter(Boolean).map((l) => JSON.parse(l).text.length <= 4096).join(",")')" "true,true,true" \
    "the long reply came as 3 messages, each at most 4096 UTF-16 units"
is "$(printf '%s' "$got" | jsv 'require("fs").readFileSync(0, "utf8").split("\n")
    .filter(Boolean).map((l) => JSON.parse(l).text).join(" ") === a[0]' "$LONG")" true \
    "... which together are the whole reply, cut at sentences"
is "$(q "SELECT status || '|' || parts_sent FROM messages WHERE direction = 'out'")" "sent|3" \
    "the message is sent, its 3 parts recorded"
is "$(grep -c '/bot[^/]*/sendMessage' "$TMP/telegram.log")" 3 "the bot called sendMessage 3 times"

# ---- /start: consent and a greeting; other commands: no LLM call -------------

peers_telegram_say "$ANNA_TG_TOKEN" 5151 "/start from-ad-42" \
    '{"id": 5151, "is_bot": false, "first_name": "Bea"}'
read_chat() { got=$(peers_telegram_read "$ANNA_TG_TOKEN" "$1"); [ -n "$got" ]; }
wait_for 60 read_chat 5151 || fail "no greeting after /start within 60 s"
is "$(jsv 'JSON.parse(a[0]).text' "${got:-null}")" "$GREET" "/start is answered with the persona's greeting"
is "$(q "SELECT consent || '|' || status FROM contacts WHERE platform_id = '5151'")" "1|active" \
    "... and the person's consent is recorded"
is "$(freq 'JSON.parse(R.filter((r) => r.path === "/v1/chat/completions")[1].body).messages[0].content.includes("pressed Start")')" \
    true "... the LLM was asked for a greeting, not a reply to '/start'"

n=$(llm_calls)
peers_telegram_say "$ANNA_TG_TOKEN" 5151 "/help" '{"id": 5151, "is_bot": false, "first_name": "Bea"}'
peers_telegram_say "$ANNA_TG_TOKEN" 5151 "/settings@anna_bot now" '{"id": 5151, "is_bot": false, "first_name": "Bea"}'
wait_for 60 eval '[ "$(state_of "$(msg_job "/settings@anna_bot now")")" = succeeded ] &&
    [ "$(state_of "$(msg_job /help)")" = succeeded ]' || fail "the commands were not stored within 60 s"
is "$(q "SELECT count(*) FROM messages WHERE text IN ('/help', '/settings@anna_bot now')")" 2 \
    "unknown commands are stored"
is "$(count_jobs "type = 'respond' AND state IN ('queued', 'running')")" 0 "... and nothing is to answer them"
is "$(llm_calls)" "$n" "... no LLM call was made for them"

kill -TERM "$W"
wait_exit "$W" 30
is "$RC" 0 "the tree stops on SIGTERM"

# ---- SIGKILL while part 2 of 3 is in flight: no part twice -------------------

enqueue -q inbound '{"bot": "tgf", "platform_id": "6161", "text": "And more about orchids?",
    "message_id": "9"}' >/dev/null || die "could not enqueue the inbound message"
start_bg "$TMP/tree2.log" "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 1
W=$BG
wait_for 60 eval '[ "$(freq "R.filter((r) => /sendMessage\$/.test(r.path)).length")" -ge 2 ]' ||
    fail "part 2 was not sent within 60 s"
m=$(q "SELECT m.id FROM messages m JOIN contacts c ON c.id = m.contact
       WHERE c.bot = 'tgf' AND m.direction = 'out'")
is "$(q "SELECT status || '|' || parts_sent FROM messages WHERE id = $m")" "sending|1" \
    "while part 2 is in flight: sending, 1 part delivered"
kill -KILL -- "-$W"
wait "$W" 2>/dev/null
s=$(q "SELECT id FROM jobs WHERE type = 'send' AND $(jxn payload message) = $m")
drain_until 60 '[ "$(state_of "$s")" = succeeded ]' || fail "the interrupted send did not finish within 60 s"
is "$(freq 'R.filter((r) => /sendMessage$/.test(r.path)).length')" 3 \
    "after a SIGKILL during part 2: 3 sendMessage calls in all (parts 1, 2, 3), none twice"
is "$(freq 'new Set(R.filter((r) => /sendMessage$/.test(r.path)).map((r) => JSON.parse(r.body).text)).size')" 3 \
    "... three different parts"
is "$(q "SELECT status || '|' || parts_sent FROM messages WHERE id = $m")" "sent|3" \
    "the message is sent with its 3 parts accounted for"
like "$(q "SELECT error FROM messages WHERE id = $m")" "part 2 of 3 uncertain" \
    "... and part 2 is noted as uncertain (not resent)"

# ---- dates far ahead or before 2000 are the receive time ---------------------

before=$(now_ms)
enqueue -q inbound '{"bot": "tgf", "platform_id": "7171", "text": "from 2100", "message_id": "1",
    "at": 4102444800}' >/dev/null
enqueue -q inbound '{"bot": "tgf", "platform_id": "7171", "text": "from 1970", "message_id": "2",
    "at": "1970-01-02T00:00:00Z"}' >/dev/null
enqueue -q inbound '{"bot": "tgf", "platform_id": "7171", "text": "from far beyond", "message_id": "3",
    "at": 1e300}' >/dev/null
drain -q >>"$TMP/drain.log" 2>&1
after=$(now_ms)
is "$(q "SELECT count(*) FROM messages WHERE direction = 'in' AND text LIKE 'from %'
         AND created_at BETWEEN $before AND $after")" 3 \
    "inbound times far in the future or before 2000 are stored as the receive time"

bb_done
