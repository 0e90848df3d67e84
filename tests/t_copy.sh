#!/bin/bash
# dater-migrate copy --to: a SQLite database with rows in every table is
# copied into PostgreSQL (a SQLite file when DATER_TEST_PG is unset: the
# PostgreSQL legs are skipped, said in a comment line) and from there
# into a new SQLite file, whose dump is the source's, value for value;
# the counts per table are printed and right; ids go on past the copied
# ones; a target with rows, a source whose workers hold leases (unless
# --force) are refused; a copy that fails half way leaves the target
# without a row.
. "$(dirname "$0")/blackbox-lib.sh"

write_conf '' 'bots = ( { name = "anna"; transport = { driver = "console"; }; } );'
mig() { run "$BIN/dater-migrate" -c "$CONF" "$@"; }
# sq FILE SQL: SQLite's shell on a file.
sq() { sqlite3 -batch -cmd '.timeout 10000' "$@"; }
# on DB SQL: SQL on a database of this test, a file or a URI.
on() {
	case $1 in
	postgres://*|postgresql://*) (DB=$1; q "$2") ;;
	*) sq "$1" "$2" ;;
	esac
}
# all_rows DB: the rows of every dater table of DB (0 when empty).
all_rows() {
	on "$1" "SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM
	    workers) + (SELECT count(*) FROM kv) + (SELECT count(*) FROM
	    contacts) + (SELECT count(*) FROM messages) + (SELECT count(*) FROM
	    metrics_daily) + (SELECT count(*) FROM listeners) + (SELECT
	    count(*) FROM bot_state) + (SELECT count(*) FROM audit)"
}

# ---- the source: SQLite, rows in every table ---------------------------------

SRC=$TMP/src.db
mig -d "$SRC" up
is "$RC" 0 "the source is created"
mig -d "$SRC" import-legacy "$ROOT/tests/fixtures/legacy/good"
is "$RC" 0 "the legacy fixtures import into the source"
for i in 1 2 3; do
	"$BIN/dater-enqueue" -q -c "$CONF" -d "$SRC" noop >/dev/null
done
sq "$SRC" "INSERT INTO jobs (id, type, payload, state, run_at, created_at,
	finished_at, errors) VALUES (5000, 'noop', '{\"t\":\"it''s ü\"}',
	'dead', 1, 9007199254740993, 3, '[\"boom\"]');
    INSERT INTO workers (id, pid, host, started_at, heartbeat_at)
	VALUES ('h:9', 9, 'h', 1, 2);
    INSERT INTO kv (key, value, updated_at) VALUES ('poll.offset.anna', '77', 1);
    INSERT INTO listeners (bot, holder, host, pid, since, lease_until)
	VALUES ('anna', 'h:9', 'h', 10, 1, 2);
    INSERT INTO bot_state (bot, paused, paused_by, reason, updated_at)
	VALUES ('anna', 1, 'op', 'lunch', 3);
    INSERT INTO audit (id, at, actor, command, bot, detail)
	VALUES (70, 1, 'op', 'pause', 'anna', '{\"why\":\"lunch\"}');
    UPDATE metrics_daily SET cost_usd = 0.30000000000000004
	WHERE rowid = (SELECT min(rowid) FROM metrics_daily)" ||
    die "fill the source"
for t in jobs workers kv contacts messages metrics_daily listeners bot_state audit; do
	n=$(sq "$SRC" "SELECT count(*) FROM $t")
	[ "$n" -gt 0 ] || fail "the source has rows in $t"
done
total=$(all_rows "$SRC")

# ---- SQLite -> PostgreSQL -> SQLite ------------------------------------------

if is_pg; then
	MID=$(new_db mid) || die "create the PostgreSQL target"
else
	echo "# DATER_TEST_PG is not set: the PostgreSQL legs are skipped" \
	    "(SQLite -> SQLite -> SQLite)"
	MID=$TMP/mid.db
fi
mig -d "$SRC" copy
is "$RC" 64 "copy without --to is a usage error"

mig -d "$SRC" copy --to "$MID"
is "$RC" 0 "copy into a new database exits 0"
want=
for t in jobs workers kv contacts messages metrics_daily listeners bot_state audit; do
	want+=$(printf '%-14s %10d rows' "$t" "$(sq "$SRC" "SELECT count(*) FROM $t")")$'\n'
done
is "$(printf '%s\n' "$OUT" | grep ' rows$')" "${want%$'\n'}" \
    "copy prints each table's rows, those of the source"
like "$OUT" ": copied $total rows from $SRC in [0-9.]+ s$" "and the total"
is "$(all_rows "$MID")" "$total" "the target holds every row"
is "$(on "$MID" "SELECT created_at FROM jobs WHERE id = 5000")" 9007199254740993 \
    "ids and integers past 2^53 are kept"
is "$(on "$MID" "SELECT payload FROM jobs WHERE id = 5000")" '{"t":"it'"'"'s ü"}' \
    "text with quotes and UTF-8 is kept"

BACK=$TMP/back.db
mig -d "$MID" --json copy --to "$BACK"
is "$RC" 0 "copy back into a new SQLite file exits 0"
like "$OUT" "^\{\"tables\":\{\"jobs\":[0-9]+,.*\"audit\":1\},\"rows\":$total," \
    "--json: the counts as one object"
sq "$SRC" .dump >"$TMP/src.sql"
sq "$BACK" .dump >"$TMP/back.sql"
check "the copy of the copy dumps as the source (schema, ids, every value)" \
    cmp -s "$TMP/src.sql" "$TMP/back.sql"
diff "$TMP/src.sql" "$TMP/back.sql" | head -10 | note
check "reals keep all 17 digits" grep -q '0.30000000000000004' "$TMP/back.sql"

# New rows in the target go on after the copied ids.
max=$(on "$MID" "SELECT max(id) FROM jobs")
id=$("$BIN/dater-enqueue" -c "$CONF" -d "$MID" noop 2>/dev/null)
is "$id" "$((max + 1))" "a job enqueued into the target gets the next id"

# ---- refusals ----------------------------------------------------------------

before=$(sq "$BACK" .dump)
mig -d "$SRC" copy --to "$BACK"
is "$RC" 73 "a target with rows is refused (exit 73)"
like "$ERR" "is not empty \([0-9]+ rows in jobs\)" "... and says why"
is "$(sq "$BACK" .dump)" "$before" "... and is left as it was"

sq "$SRC" "UPDATE jobs SET state = 'running', worker = 'h:9',
    lease_until = $(($(now_ms) + 600000)) WHERE id = 5000"
T2=$(new_db busy)
mig -d "$SRC" copy --to "$T2"
is "$RC" 75 "a source whose running job holds a lease is refused (exit 75)"
like "$ERR" "1 running job holds a lease.*use --force" "... and says why"
is "$(all_rows "$T2")" 0 "... and nothing is copied"
mig -d "$SRC" copy --force --to "$T2"
is "$RC" 0 "--force copies all the same"
is "$(all_rows "$T2")" "$total" "... every row"

# A copy that fails at the last table keeps no row of the earlier ones.
sq "$SRC" "UPDATE jobs SET state = 'dead', worker = NULL, lease_until = NULL
    WHERE id = 5000; ALTER TABLE audit ADD COLUMN extra TEXT"
T3=$(new_db half)
mig -d "$SRC" copy --to "$T3"
is "$RC" 70 "a copy that fails half way exits 70"
like "$ERR" "table 'audit' has other columns" "... naming the table"
is "$(all_rows "$T3")" 0 "... and the target keeps no row"

bb_done
