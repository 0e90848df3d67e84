#!/bin/bash
# make demo: run dater's main job on the built-in defaults: the shipped
# etc/dater.conf (the offline LLM, the console transport), a fresh SQLite
# database in var/, no network, no key. Feeds a few contacts and their
# messages through `dater-enqueue -`, drains the queue with two workers,
# and prints the conversations the bot held and the queue.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/bin"
conf="$root/etc/dater.conf"
db="$root/var/dater.db"
outbox="$root/var/outbox.jsonl"

rm -f "$db" "$db-wal" "$db-shm" "$outbox"
"$bin/dater-migrate" -c "$conf" up

echo "== contacts and inbound messages (dater-enqueue -)"
cat <<'JOBS' | "$bin/dater-enqueue" -c "$conf" -q - >/dev/null
{"type": "contact", "payload": {"bot": "demo", "platform_id": "1001", "name": "Mia", "timezone": "Europe/Berlin", "consent": true, "profile": {"city": "Berlin", "interests": ["climbing", "jazz"], "how_we_met": "climbing gym", "notes": "prefers evenings"}}}
{"type": "contact", "payload": {"bot": "demo", "platform_id": "1002", "name": "Lena", "consent": true, "profile": {"city": "Hamburg", "occupation": "architect", "interests": ["sailing"]}}}
{"type": "contact", "payload": {"bot": "demo", "platform_id": "1003", "name": "Sara", "consent": false}}
JOBS
"$bin/dater-worker" -c "$conf" -q -n 1 --drain

cat <<'JOBS' | "$bin/dater-enqueue" -c "$conf" -q - >/dev/null
{"type": "inbound", "payload": {"bot": "demo", "platform_id": "1001", "message_id": "m1", "text": "Hey! Are you going to the gym on Thursday?"}}
{"type": "inbound", "payload": {"bot": "demo", "platform_id": "1001", "message_id": "m1", "text": "Hey! Are you going to the gym on Thursday?"}}
{"type": "inbound", "payload": {"bot": "demo", "platform_id": "1003", "message_id": "s1", "text": "STOP"}}
{"type": "initiate", "payload": {"contact": 2}}
{"type": "initiate", "payload": {"contact": 3}}
JOBS
echo "(the second m1 is a re-delivery: stored once; Sara opted out; Lena gets an opener; Sara has no consent for one)"

echo "== dater-worker -n 2 --drain"
"$bin/dater-worker" -c "$conf" -n 2 --drain

echo "== the outbox (console transport: $outbox)"
python3 - "$outbox" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    print("to %s (contact %s): %s" % (m["chat_id"], m["contact"], m["text"].replace("\n", " / ")))
PY

echo "== dater-report queue"
"$bin/dater-report" -c "$conf" queue
