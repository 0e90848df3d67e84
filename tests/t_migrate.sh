#!/bin/bash
# dater-migrate: `up` creates a private WAL database and is idempotent,
# `status` reports the version, and the other programs refuse a missing,
# unmigrated or too new database with a message naming the fix.
. "$(dirname "$0")/blackbox-lib.sh"
sqlite_only "the database file (mode 0600, WAL, PRAGMA user_version, sqlite_master, copies of the .db file)"

write_conf

# ---- up creates the database ---------------------------------------------

run "$BIN/dater-migrate" -c "$CONF" -d "$DB" up
is "$RC" 0 "up on a new path exits 0"
check "up creates the database file" test -f "$DB"
is "$(stat -c %a "$DB")" 600 "the new database is mode 0600"
is "$(q 'PRAGMA journal_mode')" wal "the database is in WAL mode"
latest=$(q 'PRAGMA user_version')
check "up sets a schema version > 0 (got '$latest')" test "$latest" -gt 0
is "$(q "SELECT count(*) FROM sqlite_master WHERE name IN ('jobs','workers')")" 2 \
    "up creates the jobs and workers tables"

run "$BIN/dater-migrate" -c "$CONF" -d "$DB" status
is "$RC" 0 "status exits 0"
like "$OUT" "^version +$latest\$" "status shows the current version"
like "$OUT" "^latest +$latest\$" "status shows the latest version"

run "$BIN/dater-migrate" -c "$CONF" -d "$DB" --json status
like "$OUT" "\"version\": *$latest" "status --json shows the version"

# ---- up twice --------------------------------------------------------------

id=$(enqueue noop)
run "$BIN/dater-migrate" -c "$CONF" -d "$DB" up
is "$RC" 0 "up on a current database exits 0"
is "$(q 'PRAGMA user_version')" "$latest" "a second up keeps the version"
is "$(count_jobs)" 1 "a second up keeps the data"
is "$(stat -c %a "$DB")" 600 "a second up keeps mode 0600"

# ---- an existing version-0 database is upgraded --------------------------

OLD=$TMP/old.db
sqlite3 "$OLD" 'CREATE TABLE unrelated (x); INSERT INTO unrelated VALUES (1);'
run "$BIN/dater-migrate" -c "$CONF" -d "$OLD" status
is "$RC" 0 "status on a version-0 database exits 0"
like "$OUT" "^version +0\$" "status shows version 0"
like "$OUT" "dater-migrate.*up" "status of an old database names 'dater-migrate up'"
run "$BIN/dater-enqueue" -c "$CONF" -d "$OLD" noop
is "$RC" 78 "enqueue refuses a version-0 database (exit 78)"
like "$ERR" "dater-migrate .*up" "enqueue names 'dater-migrate ... up'"
is "$OUT" "" "enqueue prints no id on a refused database"
run "$BIN/dater-migrate" -c "$CONF" -d "$OLD" up
is "$RC" 0 "up upgrades a version-0 database"
is "$(sqlite3 "$OLD" 'PRAGMA user_version')" "$latest" "the old database is now current"
is "$(sqlite3 "$OLD" 'SELECT x FROM unrelated')" 1 "up keeps existing data"
run "$BIN/dater-enqueue" -c "$CONF" -d "$OLD" noop
is "$RC" 0 "enqueue works after up"

# ---- missing and unmigrated databases are refused ------------------------

MISSING=$TMP/missing.db
for prog in enqueue worker; do
	if [ $prog = enqueue ]; then
		run "$BIN/dater-enqueue" -c "$CONF" -d "$MISSING" noop
	else
		run "$BIN/dater-worker" -c "$CONF" -d "$MISSING" --drain
	fi
	is "$RC" 78 "dater-$prog on a missing database exits 78"
	like "$ERR" "dater-migrate .*up" \
	    "dater-$prog on a missing database names 'dater-migrate ... up'"
	check "dater-$prog does not create the missing database" \
	    test ! -e "$MISSING"
done

EMPTY=$TMP/empty.db
: >"$EMPTY"
for prog in enqueue worker; do
	if [ $prog = enqueue ]; then
		run "$BIN/dater-enqueue" -c "$CONF" -d "$EMPTY" noop
	else
		run "$BIN/dater-worker" -c "$CONF" -d "$EMPTY" --drain
	fi
	is "$RC" 78 "dater-$prog on an unmigrated (empty) database exits 78"
	like "$ERR" "dater-migrate .*up" \
	    "dater-$prog on an unmigrated database names 'dater-migrate ... up'"
done
is "$(sqlite3 "$EMPTY" "SELECT count(*) FROM sqlite_master WHERE name = 'jobs'")" 0 \
    "a refused database gets no tables"

run "$BIN/dater-migrate" -c "$CONF" -d "$MISSING" status
isnt "$RC" 0 "status on a missing database fails"
check "status does not create the database" test ! -e "$MISSING"

# A schema newer than this dater: refuse rather than guess.
NEW=$TMP/new.db
cp "$DB" "$NEW"
sqlite3 "$NEW" "PRAGMA user_version = $((latest + 1))"
run "$BIN/dater-enqueue" -c "$CONF" -d "$NEW" noop
is "$RC" 78 "enqueue refuses a database newer than it knows (exit 78)"

# ---- where the database comes from ---------------------------------------

mkdir "$TMP/etc" "$TMP/elsewhere"
cat >"$TMP/etc/rel.conf" <<'EOF'
database = "../var-rel.db";
EOF
(cd "$TMP/elsewhere" && "$BIN/dater-migrate" -q -c ../etc/rel.conf up)
check "a relative 'database' resolves against the config file's directory" \
    test -f "$TMP/var-rel.db"
id=$(cd / && DATER_DB=$DB "$BIN/dater-enqueue" -c "$TMP/etc/rel.conf" noop)
is "$(q "SELECT count(*) FROM jobs WHERE id = '$id'")" 1 '$DATER_DB overrides the config'"'"'s database'

# ---- usage -----------------------------------------------------------------

run "$BIN/dater-migrate" -c "$CONF" -d "$DB" sideways
is "$RC" 64 "an unknown command exits 64"
run "$BIN/dater-migrate" -c "$CONF" -d "$DB"
is "$RC" 64 "no command exits 64"
run "$BIN/dater-migrate" -h
is "$RC" 0 "-h exits 0"
like "$OUT" "usage: dater-migrate" "-h prints the usage to stdout"
run "$BIN/dater-migrate" -V
like "$OUT" "^dater-migrate [0-9]+\.[0-9]+" "-V prints a version"

BROKEN=$TMP/broken.conf
printf 'worker = { lease = ; };\n' >"$BROKEN"
run "$BIN/dater-migrate" -c "$BROKEN" -d "$DB" status
is "$RC" 78 "a broken config exits 78"
like "$ERR" "broken.conf:1" "a broken config is named with file:line"

bb_done
