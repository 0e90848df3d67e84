#!/bin/bash
# What a reply costs in write transactions (inbound -> respond -> send),
# counted by dater's own connections (DATER_DB_STATS: one line per closed
# connection with its commits), so that it cannot creep back up. One
# worker drains N messages from N contacts; the same run with no message
# gives the fixed cost (start-up, registration, the last empty claim).
# With one worker every job but the first is claimed in the transaction
# that records the previous one, so the count is exact: per reply, the
# three jobs' result records (each with the handler's last writes and the
# next claim) and the `sending` mark committed before the transport call.
# Counts nothing that depends on timing (the heartbeat is an hour away).
#
# Needs node (tests/peers/fault.js plays the LLM); never the internet.
. "$(dirname "$0")/blackbox-lib.sh"
. "$ROOT/tests/peers/peers.sh" || exit 1
trap 'peers_stop_all; bb_cleanup' EXIT

N=6
PER_REPLY=4	# write transactions per reply (it was 8)

reply='{"id":"chatcmpl-t","object":"chat.completion","created":1790000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"The sandstone trails near Dresden, mostly. And you?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":50,"completion_tokens":9,"total_tokens":59}}'
peers_fault_start "[{\"status\": 200, \"json\": $reply}]" "$TMP/fault.log" ||
    die "fault.js did not start"

write_conf 'heartbeat = "1h"; lease = "2h"; poll_interval = "1h";' "
log_level = \"warn\";
llm = { provider = \"openai\"; base_url = \"$FAULT_URL/v1\"; model = \"m\";
        api_key_env = \"\"; timeout = \"10s\"; };
defaults = { reply_delay = [0, 0]; quiet_hours = \"off\"; };
bots = ( { name = \"anna\"; persona = \"You are Anna, a botanist.\";
           transport = { driver = \"console\"; path = \"$TMP/outbox.jsonl\"; }; } );
"
migrate || die "migrate failed"

# commits N: drain N new messages with one worker; prints the commits of
# every connection of the run (supervisor and worker).
commits() {
	local i
	for ((i = 1; i <= $1; i++)); do
		printf '{"type":"inbound","payload":{"bot":"anna","platform_id":"%d","message_id":"m%d","text":"Where do you hike?"}}\n' \
		    $((5000 + i)) "$i"
	done | enqueue -q - >/dev/null || return 1
	rm -f "$TMP/stats"
	DATER_DB_STATS=$TMP/stats drain -q -n 1 >>"$TMP/drain.log" 2>&1 ||
	    return 1
	awk '{ c += $2 } END { print c + 0 }' "$TMP/stats"
}

base=$(commits 0)
with=$(commits "$N")
check "the drains ran" test -n "$base" -a -n "$with"
is "$(q "SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'sent'")" \
    "$N" "every contact got its reply"
is "$(wc -l <"$TMP/outbox.jsonl")" "$N" "one line each in the outbox"
is "$(count_jobs "state <> 'succeeded' OR attempts <> 1")" 0 \
    "every job succeeded at its first attempt"
is "$(q "SELECT sum(llm_calls) FROM metrics_daily WHERE bot = 'anna'")" "$N" \
    "every LLM call counted in the metrics"
# The first claim of the run is the only one on its own.
per=$(awk -v b="${base:-0}" -v w="${with:-0}" -v n="$N" \
    'BEGIN { printf "%.2f", (w - b - 1) / n }')
note <<<"write transactions: $base without a message, $with with $N: $per per reply"
check "at most $PER_REPLY write transactions per reply ($per)" \
    awk -v p="$per" -v m="$PER_REPLY" 'BEGIN { exit !(p <= m) }'

bb_done
