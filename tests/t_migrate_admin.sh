#!/bin/bash
# dater-migrate backup, restore and check: a backup is a private,
# verified copy that restores to equal data; restore refuses while a
# worker holds a lease (unless --force) and refuses a bad file; check
# passes a clean database and names each problem of a broken one.
#
# On PostgreSQL (DATER_TEST_PG): backup writes a pg_dump archive (0600,
# the same refusals of odd targets, exit 73 without pg_dump), restore is
# refused (69) and the pg_restore command its message gives brings the
# data back, check names the same problems but SQLite's
# foreign_key_check; the rest (restore itself, integrity_check of a
# damaged file) is SQLite's.
. "$(dirname "$0")/blackbox-lib.sh"

write_conf '' 'bots = ( { name = "anna"; transport = { driver = "console"; }; } );'
migrate || die "migrate up"
mig() { run "$BIN/dater-migrate" -c "$CONF" -d "$DB" "$@"; }
# good_backup FILE: the file is a good backup (a SQLite file passing
# integrity_check, or an archive pg_restore can list)
good_backup() {
	if is_pg; then
		pg_restore -l "$1" >/dev/null 2>&1 && echo ok
	else
		sqlite3 "$1" 'PRAGMA integrity_check'
	fi
}
snapshot() {
	q "SELECT 'c', id, platform_id, profile FROM contacts ORDER BY id;
	   SELECT 'm', id, contact, direction, text, created_at FROM messages ORDER BY id;
	   SELECT 'd', * FROM metrics_daily ORDER BY bot, day;
	   SELECT 'j', id, type, state, payload FROM jobs ORDER BY id"
}

if is_pg; then
	# (import-legacy does not run on PostgreSQL yet: rows by hand)
	q "INSERT INTO contacts (id, bot, platform_id, profile, created_at, updated_at)
	       VALUES (1, 'anna', 'p1', '{\"name\": \"Eva\"}', 1, 1),
	       (2, 'anna', 'p2', '{}', 2, 2);
	   INSERT INTO messages (contact, bot, direction, text, created_at)
	       VALUES (1, 'anna', 'in', 'hello', 10), (2, 'anna', 'in', 'hi', 20);
	   INSERT INTO metrics_daily (bot, day, received, cost_usd)
	       VALUES ('anna', '2026-01-02', 2, 0.5)"
	is "$?" 0 "contacts, messages and metrics (data to back up)"
else
	mig import-legacy "$ROOT/tests/fixtures/legacy/good"
	is "$RC" 0 "the legacy fixtures import (data to back up)"
fi
for i in 1 2 3; do enqueue noop >/dev/null; done
before=$(snapshot)

# ---- check on a clean database ------------------------------------------------

mig check
is "$RC" 0 "check on a clean database exits 0"
like "$OUT" ": ok$" "check says ok"

# ---- backup ---------------------------------------------------------------------

mig backup "$TMP/b1.db"
is "$RC" 0 "backup exits 0"
check "backup writes the file" test -f "$TMP/b1.db"
is "$(stat -c %a "$TMP/b1.db")" 600 "the backup is mode 0600"
is "$(good_backup "$TMP/b1.db")" ok "the backup is good (integrity_check, pg_restore -l)"
is "$(ls -A "$TMP" | grep -c dater-backup)" 0 "backup leaves no temporary folder behind"
check "the backup is one file (no -wal beside it)" test ! -e "$TMP/b1.db-wal"
mig backup "$TMP/nodir/b.db"
is "$RC" 73 "backup into a missing directory exits 73"
# FILE: a regular file or a new name, nothing else (lstat)
# The device: as root, a null device made in $TMP (a regression must not
# replace the real /dev/null on the machine that runs the tests).
DEV=/dev/null
if [ "$(id -u)" = 0 ] && mknod -m 666 "$TMP/null" c 1 3 2>/dev/null; then
	DEV=$TMP/null
fi
mig backup "$DEV"
is "$RC" 73 "backup to $DEV (a device) exits 73"
like "$ERR" "'$DEV' is a character device: refusing" "... and says why"
check "$DEV is still a character device" test -c "$DEV"
mkfifo "$TMP/fifo"
mig backup "$TMP/fifo"
is "$RC" 73 "backup to a FIFO exits 73"
check "the FIFO is still a FIFO" test -p "$TMP/fifo"
echo "keep me" >"$TMP/target"
ln -s "$TMP/target" "$TMP/link"
mig backup "$TMP/link"
is "$RC" 73 "backup to a symbolic link exits 73"
like "$ERR" "is a symbolic link" "... and says so"
check "the link is still a link" test -L "$TMP/link"
is "$(cat "$TMP/target")" "keep me" "the link's target is unchanged"
mkdir "$TMP/adir"
mig backup "$TMP/adir"
is "$RC" 73 "backup to a directory exits 73"
check "the directory is still an empty directory" test -z "$(ls -A "$TMP/adir")"
is "$(ls -A "$TMP" | grep -c dater-backup)" 0 "a refused backup leaves no temporary folder"
echo "old" >"$TMP/b2.db"
mig backup "$TMP/b2.db"
is "$RC" 0 "backup over an existing regular file exits 0"
is "$(good_backup "$TMP/b2.db")" ok "... and replaces it with the copy"
is "$(stat -c %a "$TMP/b2.db")" 600 "... mode 0600"

if is_pg; then
	# without pg_dump (PG_BINDIR names where it is: here nowhere)
	mkdir "$TMP/nobin"
	PG_BINDIR=$TMP/nobin mig backup "$TMP/b3.db"
	is "$RC" 73 "backup without pg_dump exits 73"
	like "$ERR" "pg_dump not found in PG_BINDIR" "... and says what is missing"
	check "... and writes nothing" test ! -e "$TMP/b3.db"
	is "$(ls -A "$TMP" | grep -c dater-backup)" 0 "... nor leaves a temporary folder"

	# restore is refused; the way its message gives brings the data back
	q "DELETE FROM messages; DELETE FROM contacts; DELETE FROM jobs; DELETE FROM metrics_daily"
	mig restore "$TMP/b1.db"
	is "$RC" 69 "restore on PostgreSQL exits 69"
	like "$ERR" "not supported.*pg_restore --clean --if-exists --no-owner --single-transaction" \
	    "... and says how to restore with pg_restore"
	is "$(q 'SELECT count(*) FROM contacts')" 0 "... changing nothing"
	pg_restore --clean --if-exists --no-owner --single-transaction \
	    --dbname="$DB" "$TMP/b1.db" 2>"$TMP/restore.err"
	is "$?" 0 "pg_restore as the message says exits 0"
	is "$(snapshot)" "$before" "... and brings back equal data"
	mig check
	is "$RC" 0 "the restored database checks clean"
	id=$(enqueue noop)
	check "a job enqueued after it gets a new id ($id)" test "${id:-0}" -gt 3
fi

# ---- check on a broken database ------------------------------------------------------

# (on PostgreSQL past the foreign key, as a broken database would be)
nofk=
is_pg && nofk="SET session_replication_role = replica;"
q "$nofk
   INSERT INTO jobs (type, state, run_at, created_at) VALUES ('noop', 'running', 0, 0);
   INSERT INTO jobs (type, state, run_at, created_at, lease_until)
       VALUES ('noop', 'queued', 0, 0, 5);
   INSERT INTO jobs (type, state, run_at, created_at, attempts, max_attempts)
       VALUES ('noop', 'queued', 0, 0, 9, 3);
   INSERT INTO messages (contact, bot, direction, text, created_at)
       VALUES (9999, 'anna', 'in', 'orphan', 0);"
r1=$(q "SELECT id FROM jobs WHERE state = 'running' AND lease_until IS NULL")
q1=$(q "SELECT id FROM jobs WHERE state = 'queued' AND lease_until IS NOT NULL")
a1=$(q "SELECT id FROM jobs WHERE attempts > max_attempts")
m1=$(q "SELECT id FROM messages WHERE text = 'orphan'")
# live jobs with the same unique key: only possible without the index
q "DROP INDEX jobs_unique;
   INSERT INTO jobs (type, run_at, created_at, unique_key) VALUES ('noop', 0, 0, 'k1');
   INSERT INTO jobs (type, run_at, created_at, unique_key) VALUES ('noop', 0, 0, 'k1');"
mig check
is "$RC" 65 "check on a broken database exits 65"
like "$OUT" "^job $r1: running without a lease or a worker$" "a running job without a lease"
like "$OUT" "^job $q1: queued with a lease$" "a queued job with a lease"
like "$OUT" "^job $a1: queued with 9 attempts of at most 3$" "attempts above max_attempts"
like "$OUT" "^message $m1: contact 9999 does not exist$" "a message without its contact"
like "$OUT" "^unique key 'k1' held by 2 live jobs" "a unique key held twice"
if is_pg; then
	# PostgreSQL enforces foreign keys itself: no foreign_key_check
	like "$ERR" "5 problems" "the count of problems goes to stderr"
else
	like "$OUT" "^foreign_key_check: messages row $m1" "foreign_key_check's finding"
	like "$ERR" "6 problems" "the count of problems goes to stderr"
fi

mig check extra
is "$RC" 64 "check with an argument exits 64"

sqlite_only "restore of .db files (user_version, a running worker's leases, the backup job's copy) and integrity_check of a damaged file"


# ---- restore: round trip ------------------------------------------------------

q "DELETE FROM messages; DELETE FROM contacts; DELETE FROM jobs; DELETE FROM metrics_daily"
is "$(q 'SELECT count(*) FROM contacts')" 0 "the data is gone before the restore"
mig restore "$TMP/b1.db"
is "$RC" 0 "restore exits 0"
is "$(snapshot)" "$before" "restore brings back equal data"
is "$(q 'PRAGMA journal_mode')" wal "the restored database stays in WAL mode"
mig check
is "$RC" 0 "the restored database checks clean"

NEWDB=$TMP/fresh.db
run "$BIN/dater-migrate" -c "$CONF" -d "$NEWDB" restore "$TMP/b1.db"
is "$RC" 0 "restore into a database that does not exist yet"
is "$(DB=$NEWDB snapshot)" "$before" "... with equal data"

# ---- restore: refused while a worker holds a lease ------------------------------

id=$(enqueue noop '{"sleep_ms": 3600000}')	# held: killed below
start_bg "$TMP/worker.log" "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 1
WPID=$BG
is_running() { [ "$(state_of "$id")" = running ]; }
wait_for 60 is_running || fail "the slow job did not start"
mig restore "$TMP/b1.db"
is "$RC" 75 "restore while a worker holds a lease exits 75"
like "$ERR" "running job.*lease|worker" "the refusal says why"
like "$ERR" "--force" "the refusal names --force"
is "$(state_of "$id")" running "the refused restore changed nothing"
kill -KILL -- "-$WPID" 2>/dev/null
{ wait "$WPID"; } 2>/dev/null

# kill -9 leaves the lease and the worker row behind: each refuses
q "DELETE FROM workers; UPDATE jobs SET state = 'running', lease_until = $(($(now_ms) + 600000)),
    worker = 'w-dead' WHERE id = $id"
mig restore "$TMP/b1.db"
is "$RC" 75 "a running job with a future lease alone refuses the restore"
# (the worker claimed the queued noop jobs with it, in one batch)
q "UPDATE jobs SET lease_until = $(($(now_ms) - 1000)) WHERE state = 'running';
   INSERT INTO workers (id, pid, host, started_at, heartbeat_at)
       VALUES ('w-live', 1, 'h', 0, $(now_ms))"
mig restore "$TMP/b1.db"
is "$RC" 75 "a worker row with a recent heartbeat alone refuses the restore"
q "DELETE FROM workers"
mig restore "$TMP/b1.db"
is "$RC" 0 "an expired lease and no live worker: restore goes ahead"
q "INSERT INTO jobs (type, state, run_at, created_at, attempts, lease_until, worker)
    VALUES ('noop', 'running', 0, 0, 1, $(($(now_ms) + 600000)), 'w-dead')"
mig restore "$TMP/b1.db"
is "$RC" 75 "a restore is refused again while a lease is held"
mig restore --force "$TMP/b1.db"
is "$RC" 0 "restore --force overrides the refusal"
is "$(snapshot)" "$before" "the forced restore brings back the backup's data"

# ---- restore: a bad file is refused before anything changes ------------------------

echo "not a database" >"$TMP/junk.db"
mig restore "$TMP/junk.db"
is "$RC" 65 "restore of a file that is not a database exits 65"
is "$(snapshot)" "$before" "a refused restore leaves the data alone"
cp "$TMP/b1.db" "$TMP/old.db"
sqlite3 "$TMP/old.db" 'PRAGMA user_version = 1'
mig restore "$TMP/old.db"
is "$RC" 65 "restore of a backup with another schema version exits 65"
like "$ERR" "schema version 1" "... and says which version it has"
sqlite3 "$TMP/other.db" 'CREATE TABLE t (x)' && sqlite3 "$TMP/other.db" \
    "PRAGMA user_version = $(q 'PRAGMA user_version')"
mig restore "$TMP/other.db"
is "$RC" 65 "restore of some other SQLite database exits 65"
mig restore "$TMP/missing.db"
is "$RC" 66 "restore of a missing file exits 66"

# ---- restore of a backup the backup job made ----------------------------------
# The copy holds the backup job itself as running and its worker's row.
# A restore must give the job back to the queue and drop the worker rows,
# so nothing ghostly is counted as alive.

MAINDB=$DB
DB=$TMP/bj.db
migrate || die "migrate up (backup job)"
write_conf '' 'bots = ( { name = "anna"; transport = { driver = "console"; }; } );
maintenance = { backup_dir = "bj"; backup_keep = 5; };'
bj=$(enqueue backup)
drain -q -n 1 >"$TMP/bj.log" 2>&1
is "$(state_of "$bj")" succeeded "the backup job ran"
copy=$(find "$TMP/bj" -name '*.db' | head -1)
is "$(sqlite3 "$copy" "SELECT state FROM jobs WHERE id = $bj")" running \
    "its copy holds the backup job as running"
isnt "$(sqlite3 "$copy" 'SELECT count(*) FROM workers')" 0 \
    "... and the worker's row"
mig restore "$copy"
is "$RC" 0 "restore of the job's backup exits 0"
is "$(q "SELECT count(*) FROM jobs WHERE state = 'running'")" 0 \
    "no job is running after the restore"
is "$(q 'SELECT count(*) FROM workers')" 0 "no worker row is left"
is "$(q "SELECT state || ' ' || attempts || ' ' || (lease_until IS NULL) ||
    ' ' || (worker IS NULL) FROM jobs WHERE id = $bj")" "queued 1 1 1" \
    "the backup job is queued again, its attempt counted, lease and worker cleared"
like "$(q "SELECT json_extract(errors, '\$[#-1].error') FROM jobs WHERE id = $bj")" \
    "restored from a backup while running" "... with an error entry saying why"
run "$BIN/dater-report" -c "$CONF" -d "$DB" --json health \
    --max-heartbeat-age 4000d --max-due-age 4000d
is "$(printf '%s' "$OUT" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print([c["value"] for c in d["checks"] if c["check"] == "workers"])')" "[0]" \
    "health counts no ghost worker as alive"
mig check
is "$RC" 0 "the restored database checks clean"
DB=$MAINDB
write_conf '' 'bots = ( { name = "anna"; transport = { driver = "console"; }; } );'

# integrity_check: a damaged index
cp "$TMP/b1.db" "$TMP/damaged.db"
sqlite3 "$TMP/damaged.db" "PRAGMA writable_schema = ON;
    UPDATE sqlite_master SET sql = replace(sql, 'ON contacts(bot, status)',
        'ON contacts(status, bot)') WHERE name = 'contacts_status';"
run "$BIN/dater-migrate" -c "$CONF" -d "$TMP/damaged.db" check
is "$RC" 65 "check on a database with a damaged index exits 65"
like "$OUT" "^integrity_check: " "integrity_check's finding is named"

bb_done
