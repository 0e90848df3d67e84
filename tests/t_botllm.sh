#!/bin/bash
# Per-bot LLM settings: each bot's replies come from its own LLM server.
# Two fault.js servers play two OpenAI-compatible LLMs on two ports, each
# answering with its own text. Bot "ada" uses the global llm group
# (server A); bot "bea" has its own `llm = { ... }` (server B, another
# model, key variable and temperature); bot "cy" overrides only the
# provider (offline). Each reply must come from its own server, and each
# server must see only its own bot's request, with its own model and key.
# `dater-report config` shows each bot's effective LLM with the keys only
# as set/unset. Console transports; nothing beyond loopback.
. "$(dirname "$0")/blackbox-lib.sh"
. "$ROOT/tests/peers/peers.sh" || exit 1
trap 'peers_stop_all; bb_cleanup' EXIT

export KEY_A=sk-test-a-0c5b1f88e2
export KEY_B=sk-test-b-77d2a0e641

# A chat completion answering TEXT, as a fault.js script.
answer() {
	printf '[{"status": 200, "json": {"id": "c1", "object": "chat.completion",
	  "model": "%s", "choices": [{"index": 0, "message": {"role":
	  "assistant", "content": "%s"}, "finish_reason": "stop"}], "usage":
	  {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}}]' \
	    "$1" "$2"
}

peers_fault_start "$(answer model-a "Hello from server A")" "$TMP/a.log" ||
    die "fault.js A did not start"
URL_A=$FAULT_URL
peers_fault_start "$(answer model-b "Hello from server B")" "$TMP/b.log" ||
    die "fault.js B did not start"
URL_B=$FAULT_URL
isnt "$URL_A" "$URL_B" "the two LLM servers listen on different ports"

bot() {	# bot NAME SETTINGS
	echo "{ name = \"$1\"; transport = { driver = \"console\";
	        path = \"$TMP/out-$1.jsonl\"; }; $2 }"
}
write_conf "" "
llm = { provider = \"openai\"; base_url = \"$URL_A/v1\"; model = \"model-a\";
        api_key_env = \"KEY_A\"; timeout = \"10s\"; };
defaults = { reply_delay = [0, 0]; quiet_hours = \"off\"; disclosure = false; };
bots = (
$(bot ada ""),
$(bot bea "llm = { base_url = \"$URL_B/v1\"; model = \"model-b\";
                   api_key_env = \"KEY_B\"; temperature = 0.3; };"),
$(bot cy "llm = { provider = \"offline\"; };")
);
"
migrate || die "dater-migrate up failed"

idle() {
	[ "$(count_jobs "state = 'running' OR (state = 'queued' AND run_at <= $(now_ms))")" = 0 ]
}
for b in ada bea cy; do
	enqueue -q inbound "{\"bot\": \"$b\", \"platform_id\": \"p-$b\",
	    \"message_id\": \"m-$b\", \"text\": \"hi $b, how are you?\"}" >/dev/null ||
	    fail "could not enqueue an inbound message for $b"
done
drain -q >>"$TMP/drain.log" 2>&1
drain_until 60 idle || fail "the queue did not settle"

is "$(count_jobs "type = 'send' AND state = 'succeeded'")" 3 "three replies were sent"
reply() { q "SELECT m.text FROM messages m JOIN contacts c ON c.id = m.contact
             WHERE c.bot = '$1' AND m.direction = 'out'"; }
model() { q "SELECT m.model FROM messages m JOIN contacts c ON c.id = m.contact
             WHERE c.bot = '$1' AND m.direction = 'out'"; }
is "$(reply ada)" "Hello from server A" "ada's reply came from the global LLM (server A)"
is "$(reply bea)" "Hello from server B" "bea's reply came from her own LLM (server B)"
is "$(model bea)" "model-b" "... written by bea's model"
reply_cy=$(reply cy)
isnt "$reply_cy" "" "cy (offline provider) got a reply"
unlike "$reply_cy" "server A|server B" "... not from either server"

# What each server saw.
field() {	# field LOG JS-EXPR over the one request R
	node -e 'const fs = require("fs");
const R = fs.readFileSync(process.argv[1], "utf8").split("\n")
    .filter(Boolean).map((l) => JSON.parse(l))
    .filter((r) => r.path.endsWith("/chat/completions"));
const B = R.length ? JSON.parse(R[0].body) : {};
console.log(String((() => ('"$2"'))()));' "$1"
}
is "$(field "$TMP/a.log" 'R.length')" 1 "server A got exactly one completion request"
is "$(field "$TMP/b.log" 'R.length')" 1 "server B got exactly one completion request"
is "$(field "$TMP/a.log" 'B.model')" model-a "server A was asked for model-a"
is "$(field "$TMP/b.log" 'B.model')" model-b "server B was asked for model-b"
is "$(field "$TMP/a.log" 'R[0].headers.authorization')" "Bearer $KEY_A" \
    "server A got the global key"
is "$(field "$TMP/b.log" 'R[0].headers.authorization')" "Bearer $KEY_B" \
    "server B got bea's key"
is "$(field "$TMP/b.log" 'B.temperature')" 0.3 "bea's temperature was sent to B"
is "$(field "$TMP/a.log" 'B.temperature')" undefined "ada's request has no temperature"
like "$(field "$TMP/a.log" 'JSON.stringify(B.messages)')" "hi ada" \
    "server A saw ada's conversation"
like "$(field "$TMP/b.log" 'JSON.stringify(B.messages)')" "hi bea" \
    "server B saw bea's conversation"

# The effective per-bot LLM in the report; keys only as set/unset.
run "$BIN/dater-report" -c "$CONF" -d "$DB" --json config
is "$RC" 0 "dater-report config runs"
j() { printf '%s' "$OUT" | node -e 'let s = ""; process.stdin.on("data", (d) => s += d).on("end", () => {
const D = JSON.parse(s); console.log(String((() => ('"$1"'))())); });'; }
is "$(j 'D.bots[1].llm.base_url')" "$URL_B/v1" "the report shows bea's base_url"
is "$(j 'D.bots[1].llm.model + " " + D.bots[1].llm.api_key_env + " " + D.bots[1].llm.api_key_set')" \
    "model-b KEY_B true" "... her model and key variable, set"
is "$(j 'D.bots[0].llm.model + " " + D.bots[2].llm.provider')" "model-a offline" \
    "ada inherits the global model; cy's provider is offline"
unlike "$OUT" "$KEY_A|$KEY_B" "no key appears in the report"
run "$BIN/dater-report" -c "$CONF" -d "$DB" config
like "$OUT" "llm.base_url +.*$URL_B" "the table shows each bot's LLM"
unlike "$OUT" "$KEY_A|$KEY_B" "no key appears in the table"

bb_done
