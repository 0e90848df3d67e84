#!/bin/bash
# make demo: run dater's main job on the built-in defaults: the shipped
# etc/dater.conf, a fresh SQLite database in var/, no network, no key.
# Enqueues a handful of jobs (some succeed, one retries, one fails for
# good, one waits for later), drains them with two workers, and prints
# the queue.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/bin"
conf="$root/etc/dater.conf"
db="$root/var/dater.db"

rm -f "$db" "$db-wal" "$db-shm"
"$bin/dater-migrate" -c "$conf" up

echo "== enqueue"
"$bin/dater-enqueue" -c "$conf" -q noop '{}' >/dev/null
"$bin/dater-enqueue" -c "$conf" -q --priority 0 noop '{"sleep_ms": 50}' >/dev/null
"$bin/dater-enqueue" -c "$conf" -q --unique demo-once noop >/dev/null
"$bin/dater-enqueue" -c "$conf" -q --unique demo-once noop >/dev/null
"$bin/dater-enqueue" -c "$conf" -q --max-attempts 3 noop '{"fail": "retry"}' >/dev/null
"$bin/dater-enqueue" -c "$conf" -q noop '{"fail": "permanent"}' >/dev/null
"$bin/dater-enqueue" -c "$conf" -q --in 1h noop >/dev/null
printf '%s\n' '{"type": "noop", "payload": {"sleep_ms": 20}}' \
    '{"type": "noop", "priority": 10}' \
    '{"type": "noop", "queue": "bulk"}' |
    "$bin/dater-enqueue" -c "$conf" - | tr '\n' ' '
echo "(ids from the batch)"

echo "== dater-worker -n 2 --drain"
"$bin/dater-worker" -c "$conf" -n 2 --drain

echo "== dater-report queue"
if [ -x "$bin/dater-report" ]; then
	"$bin/dater-report" -c "$conf" queue
	echo "== dater-report jobs"
	"$bin/dater-report" -c "$conf" jobs
else
	echo "(dater-report not built)"
fi
