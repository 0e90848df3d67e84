#!/bin/bash
# A full disk: the database on a small tmpfs filled to the last byte (dd
# until ENOSPC) while a service holds it open (a sqlite3 connection, as
# a running worker would). Then:
#   - dater-enqueue refuses a batch with a clear error and exit 75, and
#     the number of jobs does not change;
#   - dater-worker --drain gives up with a sysexits code of its own
#     instead of restarting its workers forever;
#   - the backup job, with less room than a copy needs, fails and leaves
#     no partial file in the backup directory;
#   - a console send to a full outbox (its own small tmpfs, so that the
#     database can still record the failure) fails, the message is not
#     marked sent, and the outbox holds no partial line, even when part
#     of the line fit;
# and once the space is back the same work completes and PRAGMA
# integrity_check is ok.
#
# Mounting needs root (CI runs as root): otherwise, or if mount fails,
# the test says it skipped and passes, unless DATER_REQUIRE_TMPFS is set
# (.ci/run sets it), when that is a failure.
. "$(dirname "$0")/blackbox-lib.sh"
sqlite_only "a SQLite file on a small tmpfs filled to ENOSPC, held open by a sqlite3 shell; PRAGMA integrity_check"

skip() {
	if [ -n "${DATER_REQUIRE_TMPFS:-}" ]; then
		die "DATER_REQUIRE_TMPFS is set, but $*"
	fi
	echo "ok - skipped: $*"
	exit 0
}

FS=$TMP/fs	# the database and the backups
OBX=$TMP/out	# the console outbox
mounted=()
df_cleanup() {
	local p m
	exec 7>&- 2>/dev/null
	for p in "${BG_PIDS[@]}"; do
		kill -KILL -- "-$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	for m in "${mounted[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	bb_cleanup
}
trap df_cleanup EXIT

[ "$(id -u)" = 0 ] || skip "needs root to mount a tmpfs"
mkdir -p "$FS" "$OBX"
mount -t tmpfs -o size=16m,mode=0700 dater-diskfull "$FS" 2>"$TMP/mount.err" ||
    skip "mount -t tmpfs failed: $(cat "$TMP/mount.err")"
mounted=("$FS")
mount -t tmpfs -o size=64k,mode=0700 dater-outbox "$OBX" 2>"$TMP/mount.err" ||
    skip "mount -t tmpfs failed: $(cat "$TMP/mount.err")"
mounted=("$OBX" "$FS")

DB=$FS/dater.db
OUTBOX=$OBX/outbox.jsonl
# A failed send or backup waits an hour, so a drain runs it once and the
# test says when it is due again.
write_conf "" "
llm = { provider = \"offline\"; };
defaults = { reply_delay = [0, 0]; quiet_hours = \"off\"; disclosure = false;
             max_per_hour = 0; max_per_chat_hour = 0; daily_budget_usd = 0.0; };
bots = ( { name = \"con\"; transport = { driver = \"console\"; path = \"$OUTBOX\"; }; } );
maintenance = { backup_dir = \"$FS/backups\"; };
jobs = { send = { retry_base = \"1h\"; }; backup = { retry_base = \"1h\"; }; };
"
migrate || die "dater-migrate up failed"

N=0
say() {
	N=$((N + 1))
	enqueue -q inbound "{\"bot\": \"con\", \"platform_id\": \"$1\",
	    \"message_id\": \"m$N\", \"text\": \"$2\"}" >/dev/null
}
due_idle() {
	[ "$(count_jobs "state = 'running' OR (state = 'queued' AND run_at <= $(now_ms))")" = 0 ]
}
outbox_lines() { if [ -f "$OUTBOX" ]; then wc -l <"$OUTBOX"; else echo 0; fi; }
# Every line of the outbox is a whole JSON object.
outbox_whole() {
	python3 -c 'import json, sys
data = open(sys.argv[1], "rb").read()
assert data == b"" or data.endswith(b"\n"), "no newline at the end"
for line in data.splitlines():
	assert isinstance(json.loads(line), dict)' "$OUTBOX"
}
# fill DIR: a filler file until the file system is full (dd stops at
# ENOSPC); then even a one-page file cannot be created.
fill() {
	dd if=/dev/zero of="$1/filler" bs=64k >/dev/null 2>&1
	if head -c 4096 /dev/zero >"$1/probe" 2>/dev/null; then
		rm -f "$1/probe"
		return 1
	fi
	rm -f "$1/probe"
}

# ---- with room: a first reply, and a database bigger than the room a
# backup will get later ----------------------------------------------------

say 100 "Hello there"
drain_until 60 due_idle || fail "the first conversation did not settle"
is "$(outbox_lines)" 1 "with room, the first reply is in the outbox"
python3 -c 'import json
for i in range(2000):
	print(json.dumps({"type": "noop", "in": "3650d", "unique": "%04d" % i + "u" * 496}))' \
    >"$TMP/bulk.jsonl"
run_in "$TMP/bulk.jsonl" enqueue -q -
q "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
size=$(stat -c %s "$DB")
is "$RC" 0 "2000 jobs with 500-byte unique keys enqueued (not due for years)"
check "... the database ($((size / 1024)) kB) is bigger than the 512 kB a backup will get" \
    test "$size" -gt $((1024 * 1024))

# The service that keeps the database open (its -shm and -wal stay).
mkfifo "$TMP/holder.in"
start_bg "$TMP/holder.log" sh -c 'exec sqlite3 -batch "$0" <"$1"' "$DB" "$TMP/holder.in"
exec 7>"$TMP/holder.in"
echo "SELECT 'holder ' || count(*) FROM jobs;" >&7
wait_for 30 grep -q '^holder ' "$TMP/holder.log" || die "the sqlite3 holder did not start"

# ---- the disk is full -------------------------------------------------------

check "the tmpfs is filled to the last page" fill "$FS"
before=$(count_jobs)
for i in $(seq 1 50); do
	echo '{"type": "noop", "payload": {"sleep_ms": 1}}'
done >"$TMP/batch.jsonl"
run_in "$TMP/batch.jsonl" enqueue -
like "$RC" '^(73|75)$' "full disk: dater-enqueue refuses the batch with exit 73 or 75 (got $RC)"
like "$ERR" "full|No space" "... saying the disk is full: $(echo "$ERR" | head -1)"
is "$OUT" "" "... and prints no job id"
is "$(count_jobs)" "$before" "... and no job was added (nothing half-written)"

start_bg "$TMP/drain-full.log" "$BIN/dater-worker" -c "$CONF" -d "$DB" --drain -n 2
D=$BG
wait_exit "$D" 60
like "$RC" '^(6[4-9]|7[0-8])$' \
    "full disk: dater-worker --drain gives up with a sysexits code (got $RC; 124 = still restarting after 60 s)"
tail -3 "$TMP/drain-full.log" | note
is "$(count_jobs)" "$before" "... and the jobs are as they were"

# ---- the backup job with less room than a copy needs --------------------------

truncate -s -512K "$FS/filler"
echo "# $(df -k "$FS" | tail -1)"
B=$(enqueue -q backup) || die "could not enqueue the backup job with 512 kB free"
drain -q >>"$TMP/drain.log" 2>&1
is "$(q "SELECT state || '/' || attempts FROM jobs WHERE id = $B")" "queued/1" \
    "backup with 512 kB free: the job failed once and waits to be retried"
like "$(q "SELECT errors FROM jobs WHERE id = $B")" "full|No space" \
    "... its error says the disk is full"
is "$(ls -A "$FS/backups" 2>/dev/null)" "" "... and no partial backup file is left"

# ---- a console send to a full outbox ----------------------------------------------

# Pad the outbox so that 24 bytes are left in its last page, then fill
# its tmpfs: the next line half fits, and must not stay half written.
size=$(stat -c %s "$OUTBOX")
pad=$(( ((4060 - size % 4096) % 4096 + 4096) % 4096 ))	# the line is pad + 12
[ "$pad" -gt 0 ] || pad=4096
python3 -c 'import json, sys; print(json.dumps({"pad": "p" * int(sys.argv[1])}))' "$pad" >>"$OUTBOX"
is "$(( $(stat -c %s "$OUTBOX") % 4096 ))" $((4096 - 24)) "the outbox ends 24 bytes before a page boundary"
check "the outbox's tmpfs is filled to the last page" fill "$OBX"
lines=$(outbox_lines)
bytes=$(stat -c %s "$OUTBOX")
say 101 "Are you there?"
drain -q >>"$TMP/drain.log" 2>&1
m=$(q "SELECT max(id) FROM messages WHERE direction = 'out' AND contact =
       (SELECT id FROM contacts WHERE platform_id = '101')")
s=$(q "SELECT max(id) FROM jobs WHERE type = 'send' AND json_extract(payload, '\$.message') = $m")
isnt "$m" "" "full outbox: the reply was drafted and stored"
isnt "$(q "SELECT status FROM messages WHERE id = $m")" sent "... but it is not marked sent"
is "$(q "SELECT state || '/' || attempts FROM jobs WHERE id = $s")" "queued/1" \
    "... its send job failed once and waits to be retried"
like "$(q "SELECT errors FROM jobs WHERE id = $s")" "short write|No space" \
    "... with the write error in its errors"
check "... every outbox line is a whole JSON object (no partial line)" outbox_whole
is "$(stat -c %s "$OUTBOX")" "$bytes" "... and the outbox is as long as before ($bytes bytes)"
is "$(outbox_lines)" "$lines" "... with as many lines"

# ---- space comes back: the same work completes -------------------------------------

rm -f "$FS/filler" "$OBX/filler"
run_in "$TMP/batch.jsonl" enqueue -q -
is "$RC" 0 "with space again the same batch is enqueued"
is "$(count_jobs "type = 'noop' AND json_extract(payload, '\$.sleep_ms') = 1")" 50 "... all 50 jobs"
q "UPDATE jobs SET run_at = 0 WHERE id IN ($B, $s)" >/dev/null
drain_until 120 due_idle || fail "the work did not complete within 120 s"
drain -q >>"$TMP/drain.log" 2>&1
is "$?" 0 "a drain exits 0"
is "$(q "SELECT state FROM jobs WHERE id = $B")" succeeded "the backup job succeeds"
is "$(ls "$FS/backups" | wc -l)" 1 "... and leaves one backup"
is "$(q "SELECT status FROM messages WHERE id = $m")" sent "the reply is sent"
is "$(grep -c '"chat_id":"101"' "$OUTBOX")" 1 "... once, in the outbox"
check "... every outbox line is a whole JSON object" outbox_whole
is "$(count_jobs "type = 'noop' AND state = 'succeeded'")" 50 "the 50 noop jobs ran"
exec 7>&-
is "$(q 'PRAGMA integrity_check')" ok "PRAGMA integrity_check: ok"
bb_done
