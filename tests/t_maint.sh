#!/bin/bash
# The maintenance jobs through the real binaries (dater-enqueue, then
# dater-worker --drain) on a temp database: backup (verified 0600 copies
# with the same rows in a 0700 dir, the newest backup_keep kept, other
# files left alone, "backups/" beside the database by default), prune
# (old finished jobs go; old queued and recent finished stay), optimize
# (the -wal file, kept alive by another connection, is cut to the
# journal size limit; the database passes integrity_check), rollup (a
# wrong metrics row is fixed, the LLM counts kept, a second run changes
# nothing; the default day is yesterday) and payload checks at enqueue.
#
# On PostgreSQL (DATER_TEST_PG) the same, but: a backup is a pg_dump
# archive (0600, "DATABASE-...Z.dump", rotated alike) that pg_restore
# brings back into another database with the same rows; without
# backup_dir or without pg_dump the job is retried with an error that
# says what is missing; optimize is VACUUM (ANALYZE) (no -wal file).
. "$(dirname "$0")/blackbox-lib.sh"

MAINT='maintenance = { backup_dir = "bk"; backup_keep = 2;
    prune_jobs_after = "7d"; journal_size_limit = "64KB"; };'
write_conf "" "$MAINT"
migrate || die "dater-migrate up failed"

BK=$TMP/bk
DAY_MS=86400000

# run_job TYPE [JSON]: enqueue one job and drain; id = its id, RC =
# drain's status.
run_job() {
	id=$(enqueue "$@") || { fail "enqueue $* failed"; id=0; return 1; }
	drain >>"$TMP/drain.log" 2>&1
	RC=$?
}

mode_of() { stat -c %a "$1"; }
if is_pg; then
	STEM=$PG_BASE SFX=.dump	# the database's name; its schema is public
else
	STEM=dater SFX=.db
fi
backups() { find "$1" -maxdepth 1 -type f -name "$STEM-*Z$SFX" | sort; }
# the last error of job $1
last_error() { q "SELECT $(jx errors -1 error) FROM jobs WHERE id = $1"; }

# ---- backup ----------------------------------------------------------------

for i in 1 2 3 4 5; do enqueue noop "{\"sleep_ms\": $i}" >/dev/null; done
drain >/dev/null 2>&1
mkdir -m 755 "$BK"
echo "operator notes" >"$BK/notes.txt"
echo "not ours" >"$BK/$STEM-manual$SFX"

run_job backup
is "$RC" 0 "drain exits 0 after a backup"
is "$(state_of "$id")" succeeded "the backup job succeeded"
first=$(backups "$BK" | tail -1)
check "a backup file was written in backup_dir ($first)" test -f "$first"
is "$(mode_of "$first")" 600 "the backup file is 0600"
noop_rows="SELECT count(*), $(agg payload) FROM (SELECT payload FROM jobs
    WHERE type = 'noop' ORDER BY id) p"
if is_pg; then
	copy=$(new_db copy)
	pg_restore --clean --if-exists --no-owner --single-transaction \
	    -d "$copy" "$first" 2>"$TMP/restore.err"
	is "$?" 0 "pg_restore reads the backup back"
	is "$(DB=$copy q "$noop_rows")" "$(q "$noop_rows")" \
	    "the backup holds the same rows"
else
	is "$(sqlite3 "$first" 'PRAGMA integrity_check')" ok \
	    "the backup passes integrity_check"
	is "$(sqlite3 "$first" "$noop_rows")" "$(q "$noop_rows")" \
	    "the backup holds the same rows"
	is "$(sqlite3 "$first" 'PRAGMA journal_mode')" delete \
	    "the backup is one file (rollback journal, no -wal needed)"
fi
check "no .part file is left" test -z "$(find "$BK" -name '*.part')"

for i in 2 3 4; do
	run_job backup
	is "$(state_of "$id")" succeeded "backup $i succeeded"
done
is "$(backups "$BK" | wc -l)" 2 "of 4 backups the newest backup_keep=2 are kept"
check "the oldest backup was removed" test ! -e "$first"
is "$(cat "$BK/notes.txt")" "operator notes" "an unrelated file stays"
is "$(cat "$BK/$STEM-manual$SFX")" "not ours" \
    "a file that is not a dater backup stays, whatever its name"

# Without backup_dir: backups/ beside the database, created 0700; on
# PostgreSQL there is no file to put them beside: the job says so.
write_conf "" 'maintenance = { backup_keep = 3; };'
run_job backup
if is_pg; then
	is "$(state_of "$id")" queued "a backup without backup_dir is retried"
	like "$(last_error "$id")" "set maintenance\.backup_dir" \
	    "its error says to set backup_dir"
	q "DELETE FROM jobs WHERE id = $id"
else
	is "$(state_of "$id")" succeeded "a backup with the default dir succeeded"
	is "$(mode_of "$TMP/backups")" 700 "backups/ beside the database is made 0700"
	is "$(backups "$TMP/backups" | wc -l)" 1 "the backup is in backups/"
fi
write_conf "" "$MAINT"

# Without pg_dump (PG_BINDIR names where it is, here nowhere).
if is_pg; then
	mkdir "$TMP/nobin"
	n=$(backups "$BK" | wc -l)
	PG_BINDIR=$TMP/nobin run_job backup
	is "$(state_of "$id")" queued "a backup without pg_dump is retried"
	like "$(last_error "$id")" "pg_dump not found in PG_BINDIR" \
	    "its error says pg_dump is missing and where it looked"
	is "$(backups "$BK" | wc -l)" "$n" "no backup was written or removed"
	check "no .part file is left" test -z "$(find "$BK" -name '*.part')"
	q "DELETE FROM jobs WHERE id = $id"
fi

# ---- prune -----------------------------------------------------------------

now=$(now_ms)
old=$((now - 30 * DAY_MS))
recent=$((now - DAY_MS))
q "DELETE FROM jobs"
q "INSERT INTO jobs (type, state, run_at, created_at, finished_at) VALUES
    ('noop', 'queued', $((now + 3600000)), $old, NULL),
    ('noop', 'succeeded', $old, $old, $old),
    ('noop', 'dead', $old, $old, $old),
    ('noop', 'cancelled', $old, $old, $old),
    ('noop', 'succeeded', $recent, $recent, $recent)"
old_queued=$(q "SELECT id FROM jobs WHERE state = 'queued'")
recent_done=$(q "SELECT id FROM jobs WHERE finished_at = $recent")

run_job prune
is "$RC" 0 "drain exits 0 after prune"
is "$(state_of "$id")" succeeded "the prune job succeeded"
is "$(count_jobs "finished_at = $old")" 0 \
    "old succeeded, dead and cancelled jobs are deleted"
is "$(state_of "$old_queued")" queued "an old queued job survives"
is "$(state_of "$recent_done")" succeeded "a recent finished job stays"
like "$(cat "$TMP/drain.log")" "prune: deleted 3 jobs" \
    "the worker logs what prune deleted"

# ---- optimize --------------------------------------------------------------

if is_pg; then
	run_job optimize
	is "$(state_of "$id")" succeeded "the optimize job succeeded"
	like "$(cat "$TMP/drain.log")" "optimize: VACUUM \(ANALYZE\) of [0-9]+ tables" \
	    "the worker logs the VACUUM"
	is "$(q "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'jobs'
	    AND last_vacuum IS NOT NULL AND last_analyze IS NOT NULL")" 1 \
	    "the jobs table was vacuumed and analyzed"
else
	# Another connection kept open (no transaction) stops the last close from
	# removing the -wal file, so its size after the jobs is what optimize
	# left. Its stdin is a FIFO that stays open until the end.
	mkfifo "$TMP/hold"
	exec 7<>"$TMP/hold"	# read-write: opening it does not block
	# (not start_bg: a background command's stdin would be /dev/null)
	setsid sqlite3 -batch "$DB" <"$TMP/hold" >"$TMP/hold.log" 2>&1 &
	BG=$!
	BG_PIDS+=("$BG")
	echo "SELECT count(*) FROM jobs;" >&7
	holds_db() { ls -l "/proc/$BG/fd" 2>/dev/null | grep -q "$DB\$"; }
	wait_for 60 holds_db || fail "the holding connection did not open the database"

	for i in $(seq 1 3000); do echo '{"type": "noop"}'; done >"$TMP/many.jsonl"
	run_in "$TMP/many.jsonl" enqueue -
	is "$RC" 0 "enqueued 3000 jobs"
	drain -n 2 >/dev/null 2>&1
	wal=$(stat -c %s "$DB-wal" 2>/dev/null || echo 0)
	# Every connection cuts the -wal file back to journal_size_limit when it
	# resets it, so after the drain it is at the limit or above.
	check "the -wal file reached the limit first ($wal bytes >= 65536)" \
	    test "$wal" -ge 65536

	run_job optimize
	is "$(state_of "$id")" succeeded "the optimize job succeeded"
	wal=$(stat -c %s "$DB-wal" 2>/dev/null || echo 0)
	check "after optimize the -wal file is within journal_size_limit ($wal <= 65536)" \
	    test "$wal" -le 65536
	like "$(cat "$TMP/drain.log")" "optimize: checkpoint busy 0" \
	    "the worker logs the checkpoint result"
	is "$(q 'PRAGMA integrity_check')" ok "the database passes integrity_check"
	exec 7>&-
fi

# ---- rollup ----------------------------------------------------------------

day=$(date -u -d '3 days ago' +%F)	# within prune_jobs_after
d0=$(($(date -u -d "$day" +%s) * 1000))
h=3600000
q "INSERT INTO contacts (id, bot, platform_id, initiated_at, created_at, updated_at)
    VALUES (1, 'anna', 'p1', $((d0 + h)), 0, 0), (2, 'anna', 'p2', NULL, 0, 0)"
q "INSERT INTO messages (contact, bot, direction, kind, text, status, created_at, sent_at) VALUES
    (1, 'anna', 'out', 'opener', 'hi', 'sent', $((d0 + h)), $((d0 + h))),
    (1, 'anna', 'in', 'message', 'hey', NULL, $((d0 + 2 * h)), NULL),
    (2, 'anna', 'in', 'message', 'yo', NULL, $((d0 + 3 * h)), NULL),
    (2, 'anna', 'out', 'reply', 'sup', 'sent', $((d0 + 4 * h)), $((d0 + 4 * h))),
    (2, 'anna', 'out', 'reply', 'meh', 'draft', $((d0 + 5 * h)), NULL),
    (2, 'anna', 'in', 'message', 'late', NULL, $((d0 + DAY_MS)), NULL)"
q "INSERT INTO jobs (type, bot, state, run_at, created_at, finished_at) VALUES
    ('send', 'anna', 'dead', 0, 0, $((d0 + 6 * h)))"
q "INSERT INTO metrics_daily VALUES ('anna', '$day', 50, 9, 9, 9, 4, 400, 80, 0.125, 0)"
row() {
	q "SELECT received, sent, initiations, initiation_replies, llm_calls,
	    tokens_in, tokens_out, cost_usd, job_failures FROM metrics_daily
	    WHERE bot = '$1' AND day = '$2'"
}

run_job rollup "{\"day\": \"$day\"}"
is "$(state_of "$id")" succeeded "the rollup job succeeded"
is "$(row anna "$day")" "2|2|1|1|4|400|80|0.125|1" \
    "rollup fixed the wrong counts and kept the LLM counts"
before=$(q "SELECT * FROM metrics_daily ORDER BY bot, day")
run_job rollup "{\"day\": \"$day\"}"
is "$(state_of "$id")" succeeded "a second rollup of the day succeeded"
is "$(q "SELECT * FROM metrics_daily ORDER BY bot, day")" "$before" \
    "a second rollup changes nothing"

yday=$(date -u -d yesterday +%F)
q "INSERT INTO metrics_daily (bot, day, received, llm_calls) VALUES ('anna', '$yday', 7, 3)"
run_job rollup
if [ "$(date -u -d yesterday +%F)" != "$yday" ]; then
	# midnight (UTC) passed meanwhile: the job saw another yesterday
	q "UPDATE metrics_daily SET received = 7 WHERE day = '$yday'"
	yday=$(date -u -d yesterday +%F)
	q "INSERT INTO metrics_daily (bot, day, received, llm_calls) VALUES ('anna', '$yday', 7, 3)"
	run_job rollup
fi
is "$(state_of "$id")" succeeded "rollup without a day succeeded"
zero=0.0
is_pg && zero=0		# how psql prints a double zero
is "$(row anna "$yday")" "0|0|0|0|3|0|0|$zero|0" \
    "rollup without a day recomputes yesterday (UTC)"

# ---- payloads --------------------------------------------------------------

n=$(count_jobs)
run enqueue backup '{"dir": "/tmp"}'
is "$RC" 65 "backup with a field is refused (65)"
like "$ERR" '\.dir: unknown field' "the error names the field"
run enqueue rollup '{"day": "2023-02-29"}'
is "$RC" 65 "rollup with a date that does not exist is refused (65)"
like "$ERR" '\.day' "the error names .day"
run enqueue prune '{"older_than": 3}'
is "$RC" 65 "prune with a field is refused (65)"
run enqueue optimize '[]'
is "$RC" 65 "optimize with a payload that is not an object is refused (65)"
is "$(count_jobs)" "$n" "refused jobs add nothing"

bb_done
