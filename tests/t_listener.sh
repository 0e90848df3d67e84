#!/bin/bash
# Real-time inbound: dater-worker's long-poll listeners, through the real
# binaries. A message injected into telegram-test-api with only
# `dater-worker -n 2` running (no scheduler, no poll job) is stored and
# answered; with a second tree on the same database exactly one tree
# holds each bot's listener lease; after a SIGKILL of the holding tree
# the other takes over once the lease (1 s here) ran out; SIGHUP stops
# the listener of a bot removed from the configuration and starts one
# for a bot added. fault.js plays the LLM and a second bot's Telegram:
# a 409 and a 429 with retry_after are waited out; unreadable updates
# (a lone surrogate, a NUL, no chat)
# are skipped and counted while the updates after them are stored; an
# update without message_id gets its update's id; media arrive as
# placeholders; a burst stored in any order reaches the LLM in the
# platform's order, with "typing" shown after the reply delay.
#
# Needs node and tests/node_modules (the peers); never the internet.
. "$(dirname "$0")/blackbox-lib.sh"
. "$ROOT/tests/peers/peers.sh" || exit 1
. "$ROOT/tests/peers/telegram.sh" || exit 1
trap 'peers_stop_all; bb_cleanup' EXIT

export DATER_TEST_LLM_KEY=sk-test-listener-0c1d
export ANNA_TG_TOKEN=123456:listener-anna
export FZ_TG_TOKEN=654321:listener-fz
export CY_TG_TOKEN=777777:listener-cy	# a bot added on SIGHUP
HOST=$(hostname)

# jsv EXPR ARG...: a JavaScript expression over a[] (strings printed raw).
jsv() {
	local e=$1
	shift
	node -e 'const a = process.argv.slice(1);
const v = (() => ('"$e"'))();
console.log(typeof v === "string" ? v : JSON.stringify(v));' "$@"
}
# freq EXPR: the same over R, the requests the fault server has logged.
freq() {
	node -e 'const fs = require("fs");
const R = fs.readFileSync(process.argv[1], "utf8").split("\n")
    .filter(Boolean).map((l) => JSON.parse(l));
const v = (() => ('"$1"'))();
console.log(typeof v === "string" ? v : JSON.stringify(v));' "$FAULT_LOG"
}

# The updates fault.js hands the bot "fz": a 409, a 429 asking for 1 s,
# then one batch, then nothing. Dates a minute ago; ids as Telegram's.
T=$(($(date +%s) - 60))
BATCH=$(jsv '(() => {
const t = Number(a[0]);
const m = (uid, chat, extra, date) => ({ update_id: uid, message: Object.assign(
    { from: { id: chat, is_bot: false, first_name: "P" + chat },
      chat: { id: chat, type: "private" }, date: date || t }, extra) });
const ups = [
  m(100, 99, { message_id: 1, text: "LONE_SURROGATE" }),
  m(101, 99, { message_id: 2, text: "NUL_HERE" }),
  { update_id: 102, message: { message_id: 3, date: t, text: "no chat at all" } },
  m(103, 99, { message_id: 4, text: "still here after the bad ones" }),
  m(104, 99, { text: "a message without message_id" }),
  m(110, 88, { message_id: 10, sticker: { emoji: "\u{1F600}", file_id: "s" } }),
  m(111, 88, { message_id: 11, photo: [{ file_id: "p" }], caption: "my cat" }),
  m(112, 88, { message_id: 12, voice: { duration: 5, file_id: "v" } }),
  m(113, 88, { message_id: 13, document: { file_name: "cv.pdf", file_id: "d" } }),
  m(114, 88, { message_id: 14, location: { latitude: 38.72, longitude: -9.14 } }),
  m(120, 77, { message_id: 53, text: "ORDER-4 same second, higher id" }, t + 3),
  m(121, 77, { message_id: 50, text: "ORDER-1 first" }, t),
  m(122, 77, { message_id: 52, text: "ORDER-3 same second, lower id" }, t + 3),
  m(123, 77, { message_id: 51, text: "ORDER-2 second" }, t + 1),
];
return JSON.stringify({ ok: true, result: ups })
    .replace("LONE_SURROGATE", "bad \\ud800 text")
    .replace("NUL_HERE", "nul \\u0000 text");
})()' "$T")
EMPTY='{"json": {"ok": true, "result": []}}'
COMPLETION='{"json": {"id": "c1", "object": "chat.completion", "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Nice to hear from you."},
    "finish_reason": "stop"}]}}'
SCRIPT=$(jsv '(() => JSON.stringify({ routes: [
  { path: "^/v1/chat/completions$", steps: [JSON.parse(a[2])] },
  { path: "/getUpdates$", steps: [
    { status: 409, json: { ok: false, error_code: 409, description:
      "Conflict: terminated by other getUpdates request" } },
    { status: 429, json: { ok: false, error_code: 429, description:
      "Too Many Requests: retry after 1", parameters: { retry_after: 1 } } },
    { body: a[0], headers: { "Content-Type": "application/json" } },
    JSON.parse(a[1])] },
  { path: "/sendMessage$", steps: [{ json: { ok: true, result:
    { message_id: 900, chat: { id: 1 }, date: 1, text: "x" } } }] },
  { path: "/sendChatAction$", steps: [{ json: { ok: true, result: true } }] },
] }))()' "$BATCH" "$EMPTY" "$COMPLETION")

peers_telegram_start "$TMP/telegram.log" || die "telegram-test-api did not start"
peers_fault_start "$SCRIPT" "$TMP/fault.log" || die "fault.js did not start"

write_conf "" "
llm = { provider = \"openai\"; base_url = \"$FAULT_URL/v1\"; model = \"m\";
        api_key_env = \"DATER_TEST_LLM_KEY\"; timeout = \"10s\"; };
defaults = { reply_delay = [1, 1]; quiet_hours = \"off\"; disclosure = false; };
bots = ( { name = \"anna\"; transport = { driver = \"telegram\"; base_url = \"$TELEGRAM_URL\";
                                         token_env = \"ANNA_TG_TOKEN\"; poll_timeout = \"2s\"; }; },
         { name = \"fz\"; transport = { driver = \"telegram\"; base_url = \"$FAULT_URL\";
                                       token_env = \"FZ_TG_TOKEN\"; timeout = \"5s\"; }; } );
"
migrate || die "dater-migrate up failed"

holder() { q "SELECT holder FROM listeners WHERE bot = '$1'"; }
sent_to() {
	q "SELECT count(*) FROM messages m JOIN contacts c ON c.id = m.contact
	   WHERE c.bot = '$1' AND c.platform_id = '$2' AND m.direction = 'out' AND m.status = 'sent'"
}
texts_of() {
	q "SELECT $(agg text ' / ') FROM (SELECT m.text FROM messages m
	   JOIN contacts c ON c.id = m.contact WHERE c.bot = '$1' AND c.platform_id = '$2'
	   AND m.direction = 'in' ORDER BY m.platform_msg_id) t"
}

# ---- one tree: a message is stored and answered without poll jobs -----------

start_bg "$TMP/tree-a.log" "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 2
A=$BG
wait_for 30 eval '[ "$(holder anna)" = "$HOST:$A" ]' ||
    fail "tree A did not take the listener lease of anna"
is "$(q "SELECT host || '|' ||
         CAST(pid IN ($(children "$A" | paste -sd,)) AS INTEGER) || '|' ||
         CAST(since <= lease_until AS INTEGER) FROM listeners
         WHERE bot = 'anna'")" "$HOST|1|1" \
    "the lease names the host, one of the tree's processes, since and until"

peers_telegram_say "$ANNA_TG_TOKEN" 4242 "Are you there?" \
    '{"id": 4242, "is_bot": false, "first_name": "Ann"}' || die "could not inject a message"
wait_for 60 eval '[ "$(sent_to anna 4242)" = 1 ]' ||
    fail "the message was not answered within 60 s by a lone dater-worker"
is "$(texts_of anna 4242)" "Are you there?" "the message was stored once"
is "$(count_jobs "type = 'poll'")" 0 "... without any poll job"
got=$(peers_telegram_read "$ANNA_TG_TOKEN" 4242)
is "$(printf '%s\n' "$got" | grep -c .)" 1 "exactly one reply arrived in the emulator"
is "$(q "SELECT count(*) FROM kv WHERE key = 'poll.offset.anna'")" 1 "the update offset is kept"

# ---- fz: faults, unreadable updates, media, order ---------------------------

wait_for 60 eval '[ "$(q "SELECT value FROM kv WHERE key = '"'poll.offset.fz'"'")" = 124 ]' ||
    fail "the batch after a 409 and a 429 was not stored within 60 s"
is "$(freq 'R.filter((r) => /getUpdates$/.test(r.path)).slice(0, 3).map((r) => JSON.parse(r.body).timeout).join(",")')" \
    "25,25,25" "getUpdates asks for the default timeout (25 s)"
like "$(cat "$TMP/tree-a.log")" "HTTP 409" "the 409 was logged and waited out"
is "$(q "SELECT value FROM kv WHERE key = 'poll.skipped.fz'")" 3 \
    "three unreadable updates were skipped and counted"
like "$(cat "$TMP/tree-a.log")" "skipped 3 unreadable updates \(update 100: " \
    "... with a warning naming the first"
is "$(texts_of fz 99)" "still here after the bad ones / a message without message_id" \
    "the updates after the bad ones were stored"
is "$(q "SELECT platform_msg_id FROM messages WHERE text = 'a message without message_id'")" "u104" \
    "a message without message_id is identified by its update"
is "$(texts_of fz 88)" "[sticker 😀] / [photo] my cat / [voice note 5 s] / [document cv.pdf] / [location 38.72000, -9.14000]" \
    "media are stored as readable placeholders"
wait_for 60 eval '[ "$(sent_to fz 77)" = 1 ] && [ "$(sent_to fz 88)" = 1 ]' ||
    fail "the bursts were not answered within 60 s"
is "$(freq 'R.filter((r) => r.path === "/v1/chat/completions").map((r) => JSON.parse(r.body).messages)
    .filter((ms) => ms.some((m) => /ORDER-/.test(m.content))).map((ms) => ms.filter((m) => m.role === "user")
    .map((m) => m.content.match(/ORDER-[0-9]/g).join(",")).join(",")).join(" ")')" "ORDER-1,ORDER-2,ORDER-3,ORDER-4" \
    "a burst reaches the LLM in the platform's order (date, then message id), once"
is "$(freq 'R.filter((r) => r.path === "/v1/chat/completions").some((r) => r.body.includes("[sticker"))')" \
    true "... and a sticker is something the LLM is told about"
is "$(freq '((g, t) => t.length === 1 && JSON.parse(t[0].body).action === "typing" &&
    t[0].at_ms >= g + 1000)(R.filter((r) => /getUpdates$/.test(r.path))[2].at_ms,
    R.filter((r) => /sendChatAction$/.test(r.path) && JSON.parse(r.body).chat_id === 77))')" true \
    "typing is shown once for the burst, after the reply delay (1 s), not when it arrived"

# A poll job while a listener holds the bot does not call getUpdates.
p=$(enqueue -q poll '{"bot": "fz"}')
wait_for 30 eval '[ "$(state_of "$p")" = succeeded ]' || fail "the poll job did not run"
is "$(freq 'R.filter((r) => /getUpdates$/.test(r.path) && JSON.parse(r.body).timeout === 0).length')" 0 \
    "a poll job stands aside while a listener holds the bot"

# ---- a second tree: one holder per bot; SIGKILL: the other takes over --------

start_bg "$TMP/tree-b.log" "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 1
B=$BG
wait_for 30 eval 'grep -q "bot .anna.: the listener lease is held by dater-worker $HOST:$A" "$TMP/tree-b.log"' ||
    fail "tree B's listener did not find the lease taken"
is "$(q "SELECT $(agg "bot || '=' || holder" ' ') FROM (SELECT * FROM listeners ORDER BY bot) l")" \
    "anna=$HOST:$A fz=$HOST:$A" "with two trees running, tree A still holds both listeners"
unlike "$(cat "$TMP/tree-b.log")" "listening" "tree B never listened"

kill -KILL -- "-$A"
wait "$A" 2>/dev/null
wait_for 30 eval '[ "$(holder anna)" = "$HOST:$B" ] && [ "$(holder fz)" = "$HOST:$B" ]' ||
    fail "tree B did not take over the listeners after tree A was killed"
like "$(cat "$TMP/tree-b.log")" "bot 'anna': listening" "tree B's listener says it took over"
peers_telegram_say "$ANNA_TG_TOKEN" 4343 "Hello after the crash" \
    '{"id": 4343, "is_bot": false, "first_name": "Bo"}'
wait_for 60 eval '[ "$(sent_to anna 4343)" = 1 ]' ||
    fail "a message after the takeover was not answered within 60 s"
is "$(texts_of anna 4343)" "Hello after the crash" "... it was stored once, by tree B"

run "$BIN/dater-report" -c "$CONF" -d "$DB" -j bots
is "$(jsv 'JSON.parse(a[0]).bots.map((b) => b.name + "=" + b.listener + "/" + b.updates_skipped +
    "/" + (b.listener_since !== null)).join(" ")' "$OUT")" "anna=$HOST:$B/0/true fz=$HOST:$B/3/true" \
    "dater-report bots shows which tree holds each listener, since when, and the skipped updates"
run "$BIN/dater-report" -c "$CONF" -d "$DB" bots
like "$OUT" "LISTENER.*SKIPPED" "... in its table too"
run "$BIN/dater-report" -c "$CONF" -d "$DB" --prometheus
is "$(printf '%s\n' "$OUT" | grep -c '^dater_listener_up{bot="\(anna\|fz\)"} 1$')" 2 \
    "Prometheus: dater_listener_up is 1 for both bots"
like "$OUT" 'dater_listener_since_seconds\{bot="anna"\} [0-9]' "... with the time it was taken"
is "$(printf '%s\n' "$OUT" | grep '^dater_updates_skipped_total' | tr '\n' ' ')" \
    'dater_updates_skipped_total{bot="anna"} 0 dater_updates_skipped_total{bot="fz"} 3 ' \
    "... and dater_updates_skipped_total counts the unreadable updates"
run "$BIN/dater-report" -c "$CONF" -d "$DB" html -o "$TMP/dash.html"
is "$(jsv 'JSON.parse(a[0]).tables["table-bots"].slice(1).map((r) => [r[0], r[1], r[4], r[5] !== "-", r[9]].join("/")).join(" ")' \
    "$(python3 "$ROOT/tests/dashboard_check.py" html "$TMP/dash.html")")" \
    "anna/active/$HOST:$B/true/0 fz/active/$HOST:$B/true/3" \
    "the dashboard's bots table shows each listener's tree, since when, and the skipped updates"

# SIGHUP: a bot removed loses its listener (and its lease is freed at
# once), a bot added gets one.
write_conf "" "
llm = { provider = \"openai\"; base_url = \"$FAULT_URL/v1\"; model = \"m\";
        api_key_env = \"DATER_TEST_LLM_KEY\"; timeout = \"10s\"; };
defaults = { reply_delay = [1, 1]; quiet_hours = \"off\"; disclosure = false; };
bots = ( { name = \"anna\"; transport = { driver = \"telegram\"; base_url = \"$TELEGRAM_URL\";
                                         token_env = \"ANNA_TG_TOKEN\"; poll_timeout = \"2s\"; }; },
         { name = \"cy\"; transport = { driver = \"telegram\"; base_url = \"$TELEGRAM_URL\";
                                       token_env = \"CY_TG_TOKEN\"; }; } );
"
kill -HUP "$B"
leases() { q "SELECT $(agg "bot || '=' || holder" ' ') FROM (SELECT * FROM listeners ORDER BY bot) l"; }
wait_for 30 eval '[ "$(leases)" = "anna=$HOST:$B cy=$HOST:$B" ]' ||
    fail "after SIGHUP the listeners did not follow the configuration"
is "$(q "SELECT $(agg bot ' ') FROM (SELECT bot FROM listeners ORDER BY bot) l")" "anna cy" \
    "SIGHUP: the removed bot's listener stopped and freed its lease; the new bot's listener runs"
peers_telegram_say "$CY_TG_TOKEN" 8181 "Hello new bot" '{"id": 8181, "is_bot": false, "first_name": "Di"}'
wait_for 60 eval '[ "$(texts_of cy 8181)" = "Hello new bot" ]' ||
    fail "the new bot's message was not stored within 60 s"

kill -TERM "$B"
wait_exit "$B" 30
is "$RC" 0 "SIGTERM stops tree B with its listeners (a long poll is abandoned)"
is "$(q "SELECT count(*) FROM listeners")" 0 "... and frees their leases"
run "$BIN/dater-report" -c "$CONF" -d "$DB" --prometheus
like "$OUT" 'dater_listener_up\{bot="anna"\} 0' "Prometheus: no listener is up once the tree stopped"
unlike "$OUT" 'dater_listener_since_seconds\{' "... and none has a since"

bb_done
