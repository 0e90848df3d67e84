#!/usr/bin/env bash
#
# live.sh: the real-time inbound benchmark ('make bench' runs it after
# conv.sh; it also runs alone). Only 'dater-worker -n 2' runs (no
# scheduler, no poll job): its listener long-polls telegram-test-api, the
# LLM is mock-llm, the bot has reply_delay [1, 1]. BENCH_LIVE_MSGS
# messages from as many people are injected into the emulator one after
# the other (the next once the previous one is answered), each with a
# plain curl POST; for each:
#   - message -> inbound stored: from just before the POST to the
#     created_at of its `inbound` job (the listener's commit);
#   - message -> reply: to the sent_at of the reply (includes the 1 s
#     reply delay).
# p50 and p99 of both are printed beside their baselines from the same
# run: a bare getUpdates round trip to the emulator (curl), and the
# delay plus a bare LLM call and a bare sendMessage (curl). The emulator
# answers getUpdates at once even with a timeout, so the listener backs
# off (100 ms doubling to 2 s) between empty answers: that backoff, not
# dater, bounds the stored latency here; against Telegram, which holds
# the long poll, a message comes back within one round trip.
#
# Figures are printed, never asserted; the exit status is nonzero only
# when something broke (a message not stored or answered in 60 s).
#
# Environment (defaults): BENCH_LIVE_MSGS (30), TMPDIR.

set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=$top/bin
MSGS=${BENCH_LIVE_MSGS:-30}
BASE_ID=300000
LIMIT_SECS=60

for p in "$bin/dater-migrate" "$bin/dater-worker"; do
	if [[ ! -x $p ]]; then
		echo "bench: $p missing: run 'make bench' from the top" >&2
		exit 1
	fi
done
if ! command -v node >/dev/null || ! command -v sqlite3 >/dev/null ||
    ! command -v curl >/dev/null; then
	echo "bench: live inbound: skipped, needs node, sqlite3 and curl" >&2
	exit 0
fi

# shellcheck source=../peers/peers.sh
. "$top/tests/peers/peers.sh" || exit 1
# shellcheck source=../peers/telegram.sh
. "$top/tests/peers/telegram.sh" || exit 1

tmp=
wpid=
cleanup() {
	[[ -n $wpid ]] && kill -TERM "$wpid" 2>/dev/null && wait "$wpid"
	peers_stop_all
	[[ -n $tmp ]] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dater-bench-live.XXXXXX") || exit 1
unset DATER_DB DATER_CONFIG
export BENCH_LIVE_TOKEN=424242:bench-live

broke() {
	echo "bench: BROKEN: live inbound: $*" >&2
	exit 1
}

now_ms() { date +%s%3N; }
q() { sqlite3 -batch -cmd '.timeout 10000' "$tmp/live.db" "$@"; }

# pct P FILE: the P-th percentile (nearest rank) of the numbers in FILE.
pct() {
	sort -n "$2" | awk -v p="$1" '{ v[NR] = $1 } END {
		if (NR == 0) { print 0; exit }
		i = int((p / 100) * NR + 0.999999); if (i < 1) i = 1
		print v[i] }'
}

peers_telegram_start || broke "telegram-test-api did not start"
peers_mock_llm_start || broke "mock-llm did not start"
cat >"$tmp/live.conf" <<EOF
log_level = "warn";
llm = { provider = "openai"; base_url = "$MOCK_LLM_URL"; model = "bench-model";
        api_key_env = ""; timeout = "30s"; };
defaults = { reply_delay = [1, 1]; quiet_hours = "off"; disclosure = false;
             max_per_hour = 100000; max_per_chat_hour = 100000; };
bots = ( { name = "live"; persona = "You are Kim, a baker in Leipzig.";
           transport = { driver = "telegram"; base_url = "$TELEGRAM_URL";
                         token_env = "BENCH_LIVE_TOKEN"; }; } );
EOF
"$bin/dater-migrate" -q -c "$tmp/live.conf" -d "$tmp/live.db" up ||
    broke "dater-migrate"
"$bin/dater-worker" -c "$tmp/live.conf" -d "$tmp/live.db" -n 2 \
    2>>"$tmp/worker.log" &
wpid=$!

# say I: person BASE_ID+I writes; prints the ms just before the POST.
say() {
	local id=$((BASE_ID + $1)) t
	t=$(now_ms)
	curl -fsS -o /dev/null --max-time 10 -H 'Content-Type: application/json' \
	    --data "{\"botToken\": \"$BENCH_LIVE_TOKEN\", \"from\": {\"id\": $id,
	    \"is_bot\": false, \"first_name\": \"P$1\"}, \"chat\": {\"id\": $id,
	    \"type\": \"private\"}, \"text\": \"Hi, where do you bake? ($1)\",
	    \"date\": $((t / 1000))}" "$TELEGRAM_URL/sendMessage" ||
	    broke "could not inject message $1"
	echo "$t"
}

# until SQL: wait (bounded) until SQL prints something not empty or 0.
until_q() {
	local deadline=$(($(date +%s) + LIMIT_SECS)) v
	while :; do
		v=$(q "$1")
		[[ -n $v && $v != 0 ]] && { echo "$v"; return 0; }
		(($(date +%s) >= deadline)) && return 1
		sleep 0.01
	done
}

: >"$tmp/stored" && : >"$tmp/reply"
for ((i = 0; i <= MSGS; i++)); do
	t=$(say "$i")
	id=$((BASE_ID + i))
	st=$(until_q "SELECT created_at FROM jobs WHERE type = 'inbound'
	    AND json_extract(payload, '\$.platform_id') = '$id'") ||
	    broke "message $i was not stored within $LIMIT_SECS s"
	sent=$(until_q "SELECT m.sent_at FROM messages m JOIN contacts c
	    ON c.id = m.contact WHERE c.platform_id = '$id'
	    AND m.direction = 'out' AND m.status = 'sent'") ||
	    broke "message $i was not answered within $LIMIT_SECS s"
	((i == 0)) && continue		# warm-up
	echo $((st - t)) >>"$tmp/stored"
	echo $((sent - t)) >>"$tmp/reply"
done
kill -TERM "$wpid" && wait "$wpid"
wpid=
[[ $(q "SELECT count(*) FROM jobs WHERE type = 'poll'") == 0 ]] ||
    broke "poll jobs ran"

# Baselines: the same requests with curl, one at a time.
bare() {	# URL BODY: ms of one POST
	curl -fsS -o /dev/null --max-time 30 -w '%{time_total}\n' \
	    -H 'Content-Type: application/json' --data "$2" "$1" |
	    awk '{ printf "%d\n", $1 * 1000 + 0.5 }'
}
: >"$tmp/b_get" && : >"$tmp/b_llm" && : >"$tmp/b_send"
for ((i = 0; i < 20; i++)); do
	bare "$TELEGRAM_URL/bot111:bare/getUpdates" '{"timeout": 25}' >>"$tmp/b_get"
	bare "$MOCK_LLM_URL/chat/completions" '{"model": "bench-model",
	    "messages": [{"role": "system", "content": "You are Kim."},
	    {"role": "user", "content": "Hi, where do you bake?"}]}' >>"$tmp/b_llm"
	bare "$TELEGRAM_URL/bot111:bare/sendMessage" \
	    '{"chat_id": 1, "text": "In Leipzig, near the river."}' >>"$tmp/b_send"
done
s50=$(pct 50 "$tmp/stored") s99=$(pct 99 "$tmp/stored")
r50=$(pct 50 "$tmp/reply") r99=$(pct 99 "$tmp/reply")
g50=$(pct 50 "$tmp/b_get") l50=$(pct 50 "$tmp/b_llm") m50=$(pct 50 "$tmp/b_send")
printf "live inbound, message -> inbound stored (listener, -n 2, telegram-test-api, %d messages): p50 %d ms, p99 %d ms  (bare getUpdates round trip p50 %d ms; the emulator ignores the long-poll timeout, so the listener's empty-answer backoff, 100 ms to 2 s, bounds this)\n" \
    "$MSGS" "$s50" "$s99" "$g50"
printf "live inbound, message -> reply sent (reply_delay 1 s, mock-llm): p50 %d ms, p99 %d ms  (delay 1000 ms + bare LLM call %d ms + bare sendMessage %d ms = %d ms; p50 minus that: %d ms)\n" \
    "$r50" "$r99" "$l50" "$m50" $((1000 + l50 + m50)) $((r50 - 1000 - l50 - m50))
exit 0
