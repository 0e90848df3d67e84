#!/bin/bash
# dater-migrate import-legacy: every accepted variant of the old system's
# export lands where it belongs; a second run changes nothing; --dry-run
# writes nothing; bad files are named (file and JSON path) and skipped
# with exit 65; --strict imports nothing when any file is bad.
. "$(dirname "$0")/blackbox-lib.sh"

FIX=$ROOT/tests/fixtures/legacy
write_conf '' 'bots = ( { name = "anna"; transport = { driver = "console"; }; } );'
cp "$ROOT/etc/fields.json" "$TMP/fields.json"	# the configured fields
migrate || die "migrate up"
imp() { run "$BIN/dater-migrate" -c "$CONF" -d "$DB" import-legacy "$@"; }
counts() {
	q "SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM messages),
	    (SELECT count(*) FROM metrics_daily)"
}

# ---- a good export ----------------------------------------------------------

imp "$FIX/good"
is "$RC" 0 "importing a good export exits 0"
is "$ERR" "" "a good export logs nothing (and no progress bar off a terminal)"
like "$OUT" "^contacts +4 imported +0 updated +0 skipped" "summary: 4 contacts imported"
like "$OUT" "^messages +12 imported +0 updated +1 skipped" \
    "summary: 11 messages imported, the system message skipped"
like "$OUT" "^metrics +2 imported" "summary: 2 metrics days imported"
is "$(counts)" "4|12|2" "4 contacts, 12 messages, 2 metrics rows"

# contacts: id/telegram_id/platform_id/user_id, username/handle, name/display_name
is "$(q "SELECT platform_id, handle, name, timezone, consent, status FROM contacts
    WHERE platform_id = '1001'")" "1001|anna_k|Anna|Europe/Berlin|1|active" \
    "an integer id, '@username', name, timezone and consent map to the contact"
is "$(q "SELECT profile FROM contacts WHERE platform_id = '1001'")" \
    '{"age":27,"city":"Berlin","interests":["climbing","jazz"]}' \
    "the other keys make the profile"
is "$(q "SELECT platform_id || ':' || handle || ':' || name FROM contacts
    WHERE platform_id IN ('2002', '4004') ORDER BY 1")" "2002:maria:Maria
4004:zoe:Zoe" "telegram_id and user_id, username and handle map too"
is "$(q "SELECT name, timezone, $(jx profile birthday)
    FROM contacts WHERE platform_id = '3003'")" "Lena|UTC|1995-04-12" \
    "an array of profiles: platform_id, display_name, tz"
is "$(q "SELECT count(*) FROM contacts WHERE bot <> 'anna'")" 0 \
    "profiles without a bot belong to the only configured bot"

# conversations: by file name (platform id or username) or a contact key
anna="(SELECT id FROM contacts WHERE platform_id = '1001')"
is "$(q "SELECT direction || ':' || kind || ':' || coalesce(status, '-') || ':' ||
    created_at || ':' || coalesce(CAST(sent_at AS TEXT), '-') FROM messages WHERE contact = $anna
    ORDER BY id")" "out:opener:sent:1740823200000:1740823200000
in:message:-:1740825015250:-
out:reply:sent:1740825060000:1740825060000" \
    "role user/assistant, RFC 3339 with an offset and fractions, opener then reply"
is "$(q "SELECT platform_msg_id FROM messages WHERE contact = $anna ORDER BY id")" \
    "legacy:1
legacy:2
legacy:3" "a message's own id becomes its legacy key"
is "$(q "SELECT count(*) FROM messages WHERE text LIKE 'You are%'")" 0 \
    "system messages are not imported"
maria="(SELECT id FROM contacts WHERE platform_id = '2002')"
is "$(q "SELECT direction || ':' || created_at FROM messages WHERE contact = $maria
    ORDER BY id")" "in:1741000000000
out:1741000060500
in:1741000120000" "from her/me, content, epoch seconds (and a fraction), by username file"
lena="(SELECT id FROM contacts WHERE platform_id = '3003')"
is "$(q "SELECT direction || ':' || text || ':' || created_at FROM messages
    WHERE contact = $lena ORDER BY id")" "in:ok:1741100000000
in:ok:1741100000000
out:ok what? :):1741100005000" \
    "an object with contact and messages, 'message', epoch ms, from contact/bot, a repeat kept"
is "$(q "SELECT count(DISTINCT platform_msg_id) FROM messages WHERE contact = $lena")" 3 \
    "a repeated message gets a key of its own"
zoe="(SELECT id FROM contacts WHERE platform_id = '4004')"
is "$(q "SELECT created_at FROM messages WHERE contact = $zoe ORDER BY id")" \
    "1741200000000
1741200300000
1741197600123" "epoch seconds and milliseconds as strings, a time without an offset as UTC"
is "$(q "SELECT last_inbound_at, last_outbound_at, unanswered, initiated_at
    FROM contacts WHERE platform_id = '1001'")" \
    "1740825015250|1740825060000|1|1740823200000" \
    "the contact's conversation state follows its imported messages"

# metrics: full names and legacy aliases; bot from --bot when not given
is "$(q "SELECT * FROM metrics_daily ORDER BY day")" \
    "anna|2025-03-01|12|15|2|1|18|9000|1200|0.42|0
anna|2025-03-02|7|9|1|0|0|0|0|0.2|0" "metrics.json rows land in metrics_daily"

# ---- a second run changes nothing --------------------------------------------

before=$(counts)
dbdump >"$TMP/dump1"
imp "$FIX/good"
is "$RC" 0 "a second import exits 0"
like "$OUT" "^contacts +0 imported +0 updated +4 skipped" "second run: contacts skipped"
like "$OUT" "^messages +0 imported +0 updated +13 skipped" "second run: messages skipped"
like "$OUT" "^metrics +0 imported +0 updated +2 skipped" "second run: metrics skipped"
is "$(counts)" "$before" "a second import keeps the row counts"
dbdump >"$TMP/dump2"
check "a second import leaves the database byte-for-byte the same (dump)" \
    cmp -s "$TMP/dump1" "$TMP/dump2"

# A changed profile is updated, the rest skipped.
mkdir -p "$TMP/changed/girls_data"
cp "$FIX/good/girls_data/zoe.json" "$TMP/changed/girls_data/"
sed -i 's/met at the gym/met at the climbing gym/' "$TMP/changed/girls_data/zoe.json"
imp "$TMP/changed"
is "$RC" 0 "an export with a changed profile imports"
like "$OUT" "^contacts +0 imported +1 updated +0 skipped" "the changed profile counts as updated"
is "$(q "SELECT $(jx profile notes) FROM contacts WHERE platform_id = '4004'")" \
    "met at the climbing gym" "the changed profile is stored"

# The object form of metrics.json, aliases, a record's own bot.
imp --bot anna "$FIX/more"
is "$RC" 0 "metrics as {bot: {day: {...}}} import"
is "$(q "SELECT bot || ' ' || day || ' ' || received || ' ' || sent || ' ' ||
    tokens_in || ' ' || tokens_out || ' ' || job_failures FROM metrics_daily
    WHERE day >= '2025-03-03' ORDER BY bot, day")" "anna 2025-03-03 3 4 100 50 1
anna 2025-03-04 1 1 0 0 0
other 2025-03-03 5 0 0 0 0" "metric aliases map to the columns, per bot and day"
is "$(q "SELECT bot || ':' || name FROM contacts WHERE platform_id = '5005'")" \
    "other:Olga" "a profile's own bot wins over --bot"

# ---- dry run -----------------------------------------------------------------

DB=$(new_db dry)
migrate || die "migrate up (dry)"
dbdump >"$TMP/dry1"
imp --dry-run "$FIX/good"
is "$RC" 0 "a dry run of a good export exits 0"
like "$OUT" "dry run" "a dry run says so"
like "$OUT" "^contacts +4 imported" "a dry run reports what would be imported"
is "$(counts)" "0|0|0" "a dry run writes nothing"
dbdump >"$TMP/dry2"
check "a dry run leaves the dump unchanged" cmp -s "$TMP/dry1" "$TMP/dry2"
imp --dry-run --json "$FIX/good"
like "$OUT" '"dry_run":true,"written":false,"contacts":\{"imported":4' \
    "--json: the summary as JSON"

# ---- bad files ---------------------------------------------------------------

MIX=$TMP/mixed
cp -r "$FIX/good" "$MIX"
cp -r "$FIX/bad/." "$MIX/"

DB=$(new_db strict)
migrate || die "migrate up (strict)"
imp --strict "$MIX"
is "$RC" 65 "--strict with bad files exits 65"
is "$(counts)" "0|0|0" "--strict with bad files imports nothing"
like "$OUT" "nothing was imported" "--strict says nothing was imported"
like "$ERR" "girls_data/truncated.json: line 1 column" "--strict still names every bad file"

DB=$(new_db mixed)
migrate || die "migrate up (mixed)"
imp "$MIX"
is "$RC" 65 "bad files make the run exit 65"
is "$(counts)" "4|12|0" "the good files are imported all the same"
like "$OUT" "^files +[0-9]+ read +10 bad" "the summary counts 10 bad files"
like "$ERR" "girls_data/truncated\.json: line 1 column 25: premature end of input" \
    "truncated JSON: named with line and column"
like "$ERR" "girls_data/types\.json: age: expected an integer" \
    "a wrong type in a profile: named with the field"
like "$ERR" "girls_data/nameless\.json: \[0\]\.name: expected a string" \
    "a wrong type of a mapped key: named with its JSON path"
like "$ERR" "girls_data/dup\.json: \[1\]: duplicate id '7007'" \
    "duplicate ids within a file"
like "$ERR" "girls_data/dup_other\.json: duplicate id '1001' \(also in girls_data/anna\.json\)" \
    "duplicate ids across files"
like "$ERR" "conversations/2002\.json: \[3\]\.text: expected a string" \
    "a wrong message type: file and JSON path"
like "$ERR" "conversations/ghost\.json: unknown contact 'ghost'" "an unknown contact"
like "$ERR" "conversations/dupids\.json: messages\[1\]\.id: duplicate id 'a5'" \
    "duplicate message ids"
like "$ERR" "conversations/badrole\.json: messages\[0\]\.role: 'narrator'" \
    "an unknown role"
like "$ERR" "metrics\.json: \[0\]: '2025-02-30' is not a day" "a bad metrics day"
is "$(q "SELECT count(*) FROM contacts WHERE platform_id IN ('6006', '7007', '8008', '9009')")" 0 \
    "no contact of a bad file is imported"
is "$(q "SELECT count(*) FROM messages WHERE text IN ('one', 'two', 'three', 'x', 'y')")" 0 \
    "no message of a bad file is imported"
is "$(q "SELECT name FROM contacts WHERE platform_id = '1001'")" "Anna" \
    "a duplicate in a later file does not overwrite the first"

# ---- bot names and days: rejected, never cut short -------------------------
# Each export holds one bad metrics.json (or profile); the file is named
# with its JSON path, exit 65, and nothing of it is imported.

long_bot=$(printf 'b%.0s' $(seq 70))	# 70 bytes: longer than a bot name
DB=$(new_db names)
migrate || die "migrate up (names)"
bad_export() {	# NAME FILE JSON: an export with one file
	mkdir -p "$TMP/$1/$(dirname "$2")"
	printf '%s\n' "$3" >"$TMP/$1/$2"
}
bad_export longday metrics.json \
    '{"anna": {"2025-03-05-and-then-some": {"received": 1}}}'
imp "$TMP/longday"
is "$RC" 65 "an over-long day in the object form exits 65"
like "$ERR" "metrics\.json: anna\.2025-03-05-and-then-some: .*is not a day" \
    "... named with the file and JSON path"
is "$(q "SELECT count(*) FROM metrics_daily")" 0 "... and nothing of it is imported"

bad_export longbot metrics.json \
    "{\"${long_bot}x\": {\"2025-03-05\": {\"received\": 1}},
      \"${long_bot}y\": {\"2025-03-06\": {\"received\": 2}}}"
imp "$TMP/longbot"
is "$RC" 65 "an over-long bot name in the object form exits 65"
like "$ERR" "metrics\.json: ${long_bot}x: not a bot name \(71 bytes" \
    "... named with the file and JSON path"
is "$(q "SELECT count(*) FROM metrics_daily")" 0 "... no two bots merged into one"

bad_export oddbot metrics.json \
    '[{"bot": "an\nna", "day": "2025-03-05", "received": 1}]'
imp "$TMP/oddbot"
is "$RC" 65 "a bot name with a newline (array form) exits 65"
like "$ERR" "metrics\.json: \[0\]\.bot: not a bot name" \
    "... named with the file and JSON path"
bad_export oddkey metrics.json '{"../x y": {"2025-03-05": {"received": 1}}}'
imp "$TMP/oddkey"
is "$RC" 65 "a bot name that is not a name (object form) exits 65"
like "$ERR" "metrics\.json: \.\./x y: not a bot name" \
    "... named with the file and JSON path"
bad_export longbot_arr metrics.json \
    "[{\"bot\": \"${long_bot}\", \"day\": \"2025-03-05\", \"received\": 1}]"
imp "$TMP/longbot_arr"
is "$RC" 65 "an over-long bot name (array form) exits 65"
like "$ERR" "metrics\.json: \[0\]\.bot: longer than" "... named with its JSON path"
is "$(q "SELECT count(*) FROM metrics_daily")" 0 "no metrics row from any of them"

bad_export profbot girls_data/p.json '{"id": 7107, "name": "P", "bot": "no bot!"}'
imp "$TMP/profbot"
is "$RC" 65 "a profile with a bad bot name exits 65"
like "$ERR" "girls_data/p\.json: bot: not a bot name" \
    "... named with the file and JSON path"
is "$(q "SELECT count(*) FROM contacts")" 0 "... and the profile is not imported"

imp --bot 'no/bot' "$FIX/good"
is "$RC" 64 "--bot that is not a bot name exits 64"
is "$(q "SELECT count(*) FROM contacts")" 0 "... before anything is imported"

# ---- the progress bar: on a terminal only ------------------------------------

if command -v script >/dev/null; then
	DB=$(new_db tty)
	migrate || die "migrate up (tty)"
	tty_out=$(script -qec "'$BIN/dater-migrate' -c '$CONF' -d '$DB' import-legacy '$FIX/good' 2>&1 >/dev/null" /dev/null)
	like "$tty_out" "importing \[#+ *\] [0-9]+/9 files" "a progress bar on stderr when it is a terminal"
else
	echo "# no script(1): progress bar on a terminal not tested"
fi

# ---- usage -------------------------------------------------------------------

imp "$TMP/nope"
is "$RC" 66 "a missing export directory exits 66"
run "$BIN/dater-migrate" -c "$CONF" -d "$DB" import-legacy
is "$RC" 64 "import-legacy without a directory exits 64"
write_conf '' 'bots = ( { name = "a"; transport = { driver = "console"; }; },
    { name = "b"; transport = { driver = "console"; }; } );'
imp "$FIX/good"
is "$RC" 64 "two configured bots and no --bot: exit 64"
like "$ERR" "--bot" "... naming --bot"

bb_done
