#!/bin/bash
# Soak: a few hundred conversations through `dater-worker -n 4` while both
# peers misbehave and worker processes are killed with SIGKILL at random.
# fault.js plays the LLM and the Telegram Bot API from scripts drawn from
# a seeded random generator: answers mixed with drops, 429s, 5xx, slow
# answers (past the client's timeout) and truncated bodies; every reply
# the LLM writes is unique ("{{seq}}"), so each sendMessage POST names
# the message it carries. Half the conversations start with a message
# fetched by poll jobs from getUpdates (which serves updates from the
# offset asked, as Telegram does, between its faults); the other half
# come from a receiver (dater-enqueue inbound), which delivers some of
# them twice. Afterwards, whatever the interleaving:
#   - every inbound message is stored exactly once;
#   - no reply was possibly delivered more than once (POSTs answered 2xx,
#     dropped, truncated or timed out count; 429/5xx delivered nothing),
#     and a reply marked sent was answered 2xx exactly once;
#   - no job is stuck: every job succeeded, or is dead with its reasons;
#     none is running after the final drain;
#   - PRAGMA integrity_check is ok.
# SOAK_SEED=N replays the same scripts and kill choices (the seed is
# printed); SOAK_CONVERSATIONS sets the number of conversations.
. "$(dirname "$0")/blackbox-lib.sh"
. "$ROOT/tests/peers/peers.sh" || exit 1
trap 'peers_stop_all; bb_cleanup' EXIT

SEED=${SOAK_SEED:-$(( (RANDOM << 15) | RANDOM ))}
NCONV=${SOAK_CONVERSATIONS:-200}
NPOLL=$((NCONV / 2))		# through getUpdates
NRECV=$((NCONV - NPOLL))	# through dater-enqueue inbound
NDUP=$((NRECV / 10))
KILL_SECS=${SOAK_KILL_SECS:-15}
echo "# seed $SEED (replay: SOAK_SEED=$SEED $0), $NCONV conversations"
RANDOM=$SEED

export SOAK_TG_TOKEN=424242:soak-test-token
export SOAK_LLM_KEY=sk-soak-test-key-0123456789

# ---- the peers' scripts, from the seed --------------------------------------

python3 - "$SEED" "$NPOLL" >"$TMP/script.json" <<'EOF'
import json, random, sys, time

rng = random.Random(int(sys.argv[1]))
npoll = int(sys.argv[2])

def completion():
	body = json.dumps({"id": "c{{seq}}", "object": "chat.completion",
	    "model": "soak", "choices": [{"index": 0, "message": {"role":
	    "assistant", "content": "Reply {{seq}}: tell me more."},
	    "finish_reason": "stop"}]})
	return {"body": body, "seq": True,
	    "headers": {"Content-Type": "application/json"}}

def sent():
	body = ('{"ok": true, "result": {"message_id": {{seq}}, "chat": '
	    '{"id": 1}, "date": 1, "text": "x"}}')
	return {"body": body, "seq": True, "kind": "ok",
	    "headers": {"Content-Type": "application/json"}}

def pick(table):
	r = rng.random()
	for p, make in table:
		if r < p:
			return make()
		r -= p
	return table[-1][1]()

slow = 1500	# past the 1 s timeouts
llm_faults = [
	(0.08, lambda: {"status": 429, "headers": {"retry-after-ms": "50"},
	    "json": {"error": {"message": "Rate limit reached"}}}),
	(0.08, lambda: {"status": 500, "json": {"error": {"message": "oops"}}}),
	(0.05, lambda: {"drop": True}),
	(0.04, lambda: dict(completion(), truncate=True)),
	(0.03, lambda: dict(completion(), delay_ms=slow)),
	(1.00, completion),
]
tg_faults = [
	(0.08, lambda: {"kind": "nothing", "status": 429, "json": {"ok": False,
	    "error_code": 429, "description": "Too Many Requests: retry after 0",
	    "parameters": {"retry_after": 0}}}),
	(0.07, lambda: {"kind": "nothing", "status": 502, "body": "Bad Gateway"}),
	(0.04, lambda: {"kind": "maybe", "drop": True}),
	(0.03, lambda: dict(sent(), kind="maybe", truncate=True)),
	(0.03, lambda: dict(sent(), kind="maybe", delay_ms=slow)),
	(1.00, sent),
]
poll_faults = [
	(0.10, lambda: {"status": 429, "json": {"ok": False, "error_code": 429,
	    "description": "Too Many Requests: retry after 0",
	    "parameters": {"retry_after": 0}}}),
	(0.08, lambda: {"status": 502, "body": "Bad Gateway"}),
	(0.06, lambda: {"drop": True}),
	(0.05, lambda: {"updates": True, "truncate": True}),
	(0.03, lambda: {"updates": True, "delay_ms": slow}),
	(1.00, lambda: {"updates": True}),
]
# The conversations' first messages, and updates a poll must skip (an
# edit, a bot's message) but move past.
now = int(time.time())
updates = []
for i in range(npoll):
	who = {"id": 7000 + i, "is_bot": False, "first_name": "P%d" % i}
	updates.append({"update_id": 900000 + 2 * i, "message": {
	    "message_id": 10 + i, "date": now, "text": "Hi, I am poll %d" % i,
	    "from": who, "chat": {"id": 7000 + i, "type": "private"}}})
	noise = ({"edited_message": {"message_id": 10 + i, "text": "edit"}}
	    if i % 2 else {"message": {"message_id": 99999, "date": now,
	    "text": "beep", "from": {"id": 1, "is_bot": True},
	    "chat": {"id": 1}}})
	updates.append(dict(noise, update_id=900000 + 2 * i + 1))
llm = [pick(llm_faults) for _ in range(600)] + [completion()]
tg = [pick(tg_faults) for _ in range(400)] + [sent()]
poll = [pick(poll_faults) for _ in range(100)] + [{"updates": True}]
print(json.dumps({"routes": [
	{"path": "^/v1/chat/completions$", "steps": llm},
	{"path": "/sendMessage$", "steps": tg},
	{"path": "/getUpdates$", "steps": poll, "updates": updates, "page": 8},
	{"path": "/sendChatAction$", "steps": [{"json": {"ok": True,
	    "result": True}}]},
]}))
EOF
[ -s "$TMP/script.json" ] || die "could not write the peers' script"
peers_fault_start "$TMP/script.json" "$TMP/fault.log" || die "fault.js did not start"

write_conf 'lease = "30s"; heartbeat = "1s"; poll_interval = "100ms";
           restart_backoff_max = "200ms";' "
llm = { provider = \"openai\"; base_url = \"$FAULT_URL/v1\"; model = \"soak\";
        api_key_env = \"SOAK_LLM_KEY\"; timeout = \"1s\"; };
defaults = { reply_delay = [0, 0]; quiet_hours = \"off\"; disclosure = false;
             max_per_hour = 0; max_per_chat_hour = 0; daily_budget_usd = 0.0; };
bots = ( { name = \"tg\"; transport = { driver = \"telegram\"; base_url = \"$FAULT_URL\";
                                       token_env = \"SOAK_TG_TOKEN\"; timeout = \"1s\"; }; } );
jobs = { respond = { max_attempts = 40; }; send = { max_attempts = 40; }; };
"
migrate || die "dater-migrate up failed"

# ---- the conversations --------------------------------------------------------

# One inbound message per receiver conversation, and NDUP of them
# delivered again (the same message id), in one shuffled batch.
python3 - "$SEED" "$NRECV" "$NDUP" >"$TMP/inbound.jsonl" <<'EOF'
import json, random, sys

rng = random.Random(int(sys.argv[1]) + 1)
n, dup = int(sys.argv[2]), int(sys.argv[3])
lines = []
for i in range(n):
	lines.append({"type": "inbound", "max_attempts": 100, "payload": {
	    "bot": "tg", "platform_id": str(5000 + i), "message_id": "in%d" % i,
	    "text": "Hi, I am number %d" % i}})
lines += [dict(l) for l in rng.sample(lines, dup)]
rng.shuffle(lines)
for l in lines:
	print(json.dumps(l))
EOF
run_in "$TMP/inbound.jsonl" enqueue -q -
is "$RC" 0 "$NRECV conversations from the receiver (and $NDUP deliveries again) enqueued"

start_bg "$TMP/worker.log" "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 4
W=$BG
busy() { [ "$(count_jobs "state IN ('queued', 'running')")" -gt 0 ]; }
# Poll jobs, one queued at a time, until every update was fetched.
polled() {
	[ "$(q "SELECT count(*) FROM messages WHERE direction = 'in' AND contact IN
	       (SELECT id FROM contacts WHERE platform_id LIKE '7%')")" -ge "$NPOLL" ]
}
poll() { enqueue -q --unique soak-poll poll '{"bot": "tg"}' >/dev/null; }
settled() {
	if ! polled; then
		poll
		return 1
	fi
	! busy
}
kills=0
round=0
start=$SECONDS
while [ $((SECONDS - start)) -lt "$KILL_SECS" ] && alive "$W"; do
	round=$((round + 1))
	if settled; then
		break
	fi
	mapfile -t kids < <(children "$W")
	if [ "${#kids[@]}" -gt 0 ]; then
		victim=${kids[RANDOM % ${#kids[@]}]}
		if alive "$victim" && kill -KILL "$victim" 2>/dev/null; then
			kills=$((kills + 1))
		fi
	fi
	sleep "0.$((RANDOM % 3 + 1))"	# 100..300 ms
done
echo "# $kills SIGKILLs to worker processes in $((SECONDS - start)) s"
check "the supervisor survived the kills" alive "$W"
wait_for 240 settled || fail "updates not all fetched, or jobs still queued or running, after 240 s"
kill -TERM "$W"
wait_exit "$W" 60
is "$RC" 0 "the supervisor exits 0 on SIGTERM"
drain -q >>"$TMP/drain.log" 2>&1
is "$?" 0 "a final drain exits 0"
q "SELECT type, state, count(*) FROM jobs GROUP BY type, state" | note

# ---- the invariants -------------------------------------------------------------

is "$(q "SELECT count(*) FROM messages WHERE direction = 'in'")" "$NCONV" \
    "every inbound message is stored: $NCONV rows"
is "$(q "SELECT count(*) FROM (SELECT contact, platform_msg_id FROM messages
         WHERE direction = 'in' GROUP BY 1, 2 HAVING count(*) > 1) d")" 0 \
    "... each exactly once (no message id twice for a contact)"
is "$(q "SELECT count(*) FROM messages m JOIN contacts c ON c.id = m.contact
         WHERE m.direction = 'in'
         AND (m.platform_msg_id = 'in' || (CAST(c.platform_id AS INTEGER) - 5000)
         OR m.platform_msg_id = CAST(CAST(c.platform_id AS INTEGER) - 7000 + 10 AS TEXT))")" "$NCONV" \
    "... each one's own message in its own conversation"
is "$(q "SELECT count(*) FROM messages WHERE direction = 'in' AND text IN ('beep', 'edit')")" 0 \
    "... and none of the updates a poll must skip"

is "$(count_jobs "state NOT IN ('succeeded', 'dead')")" 0 \
    "no job is stuck: all succeeded or dead"
is "$(count_jobs "state = 'running'")" 0 "... none is running after the final drain"
is "$(count_jobs "state = 'dead' AND coalesce($(jlen errors), 0) = 0")" 0 \
    "... and every dead job says why"
q "SELECT type, $(jx errors -1 error) FROM jobs WHERE state = 'dead' LIMIT 5" | note

# sendMessage POSTs by reply text, against the messages.
q "SELECT id || '	' || status || '	' || text FROM messages WHERE direction = 'out'" \
    >"$TMP/out.tsv"
python3 - "$TMP/script.json" "$TMP/fault.log" "$TMP/out.tsv" >"$TMP/sends.txt" <<'EOF'
import collections, json, sys

routes = json.load(open(sys.argv[1]))["routes"]
steps = routes[1]["steps"]
ok = collections.Counter()
maybe = collections.Counter()
for line in open(sys.argv[2]):
	r = json.loads(line)
	if r["route"] != 1:
		continue
	kind = steps[r["step"]].get("kind", "ok")
	text = json.loads(r["body"])["text"]
	if kind == "ok":
		ok[text] += 1
	if kind in ("ok", "maybe"):
		maybe[text] += 1
bad = 0
n = collections.Counter()
for line in open(sys.argv[3]):
	mid, status, text = line.rstrip("\n").split("\t", 2)
	n[status] += 1
	if maybe[text] > 1:
		print("message %s (%s) possibly delivered %d times" % (mid, status, maybe[text]))
		bad += 1
	if status == "sent" and ok[text] != 1:
		print("message %s is sent but was answered 2xx %d times" % (mid, ok[text]))
		bad += 1
print("summary %d %s" % (bad, " ".join("%s=%d" % kv for kv in sorted(n.items()))))
EOF
grep -v '^summary' "$TMP/sends.txt" | head -20 | note
summary=$(sed -n 's/^summary //p' "$TMP/sends.txt")
echo "# replies by status: ${summary#* }"
is "${summary%% *}" 0 "at most one send per reply (POSTs that may have delivered it), one 2xx per sent reply"
check "replies were sent (the soak did not just fail everything)" \
    test "$(q "SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'sent'")" -gt 0

is_pg ||	# SQLite only: its own consistency check
    is "$(q 'PRAGMA integrity_check')" ok "PRAGMA integrity_check: ok"
bb_done
