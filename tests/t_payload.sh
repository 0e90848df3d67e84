#!/bin/bash
# dater-enqueue checks every payload in full before anything is written:
# a key the job type does not know is refused, for every type; a contact
# profile that breaks the field definitions (fields.json) is refused at
# enqueue, not when the job runs; so is a contact time zone the system
# does not have. Each is exit 65 with the line and the JSON path, and
# nothing is enqueued. fields.json is read only for a batch with a
# contact job (a broken one is then a configuration error, 78). A zone
# whose data goes away after it was accepted is UTC when the job runs,
# and the worker says so.
. "$(dirname "$0")/blackbox-lib.sh"

BOT="{ name = \"anna\"; transport = { driver = \"console\"; path = \"$TMP/out.jsonl\"; }; }"
write_conf "" "
fields = \"$ROOT/etc/fields.json\";
llm = { provider = \"offline\"; };
defaults = { reply_delay = [0, 0]; quiet_hours = \"03:00-03:01\";
             max_per_hour = 0; max_per_chat_hour = 0; };
bots = ( $BOT );
"
migrate || die "dater-migrate up failed"

# refused DESC LINE PATTERN: a batch whose second line is LINE exits 65,
# names stdin:2 and PATTERN, prints no id and enqueues nothing.
refused() {
	local desc=$1 bad=$2 pat=$3 n
	n=$(count_jobs)
	printf '%s\n' '{"type": "noop"}' "$bad" '{"type": "noop"}' >"$TMP/bad.jsonl"
	run_in "$TMP/bad.jsonl" enqueue -
	is "$RC" 65 "$desc: exit 65"
	like "$ERR" "stdin:2: $pat" "$desc: the error names stdin:2 and the path"
	is "$OUT" "" "$desc: no id printed"
	is "$(count_jobs)" "$n" "$desc: nothing enqueued"
}

# ---- unknown payload keys, every type ----------------------------------------

# A payload each type accepts.
declare -A GOOD=(
	[noop]='{}'
	[contact]='{"bot": "anna", "platform_id": "1"}'
	[inbound]='{"bot": "anna", "platform_id": "1", "text": "hi"}'
	[respond]='{"contact": 1}'
	[send]='{"message": 1}'
	[approve]='{"message": 1}'
	[poll]='{"bot": "anna"}'
	[initiate]='{"contact": 1}'
	[followup]='{"contact": 1}'
	[summarize]='{"contact": 1}'
	[backup]='{}'
	[prune]='{}'
	[optimize]='{}'
	[rollup]='{}'
)
types=$("$BIN/dater-enqueue" -h | sed -n '/^job types:/,$p' | awk 'NR > 1 {print $1}')
isnt "$types" "" "dater-enqueue -h lists the job types"
for t in $types; do
	[ -n "${GOOD[$t]:-}" ] || { fail "no known-good payload for type '$t' in this test"; continue; }
	run enqueue "$t" "${GOOD[$t]}" --in 1d
	is "$RC" 0 "$t: its plain payload is accepted"
	with=${GOOD[$t]%\}}
	[ "$with" = "{" ] || with="$with, "
	with="$with\"status\": \"active\"}"
	refused "$t with \"status\"" "{\"type\": \"$t\", \"payload\": $with}" \
	    'payload\.status: unknown field'
done
like "$ERR" '\(known: |takes no payload' "the refusal says what the type takes"

run enqueue contact '{"bot": "anna", "platform_id": "1", "status": "active"}'
is "$RC" 65 "an unknown key on the command line: exit 65"
like "$ERR" 'payload\.status: unknown field \(known: bot, platform_id, handle, name, profile, consent, timezone\)' \
    "... naming the key and the keys contact takes"

# ---- contact profiles against fields.json --------------------------------------

C='"bot": "anna", "platform_id": "7"'
refused "a profile field of the wrong type" \
    "{\"type\": \"contact\", \"payload\": {$C, \"profile\": {\"age\": \"thirty\"}}}" \
    'payload\.profile\.age: expected an integer'
refused "a profile field fields.json does not define" \
    "{\"type\": \"contact\", \"payload\": {$C, \"profile\": {\"shoe_size\": 42}}}" \
    'payload\.profile\.shoe_size: unknown field'
refused "a bad list item in a profile" \
    "{\"type\": \"contact\", \"payload\": {$C, \"profile\": {\"interests\": [\"jazz\", 3]}}}" \
    'payload\.profile\.interests\[1\]'
refused "a bad date in a profile" \
    "{\"type\": \"contact\", \"payload\": {$C, \"profile\": {\"birthday\": \"1990-02-30\"}}}" \
    'payload\.profile\.birthday'
run enqueue contact "{$C, \"profile\": {\"age\": 30.5}}"
is "$RC" 65 "a bad profile on the command line: exit 65"
like "$ERR" 'payload\.profile\.age' "... naming the field"

run enqueue contact "{$C, \"name\": \"Mia\", \"profile\": {\"age\": 30, \"interests\": [\"jazz\"], \"birthday\": \"1996-02-29\"}}"
is "$RC" 0 "a profile that fits fields.json is accepted"
run drain
is "$(q "SELECT $(jx profile age) FROM contacts WHERE platform_id = '7'")" 30 \
    "... and stored when the job runs"

# fields.json is read only when a contact job is in the batch: a broken
# one does not stop other jobs, and stops a contact with exit 78.
printf '[{"name": "age", "type": "integer"},\n' >"$TMP/broken-fields.json"
sed "s|^fields = .*|fields = \"$TMP/broken-fields.json\";|" "$CONF" >"$TMP/broken.conf"
grep -q broken-fields "$TMP/broken.conf" || die "could not point the config at broken-fields.json"
n=$(count_jobs)
printf '%s\n' '{"type": "noop"}' '{"type": "poll", "payload": {"bot": "anna"}, "in": "1d"}' \
    >"$TMP/nocontact.jsonl"
run_in "$TMP/nocontact.jsonl" "$BIN/dater-enqueue" -c "$TMP/broken.conf" -d "$DB" -
is "$RC" 0 "a batch without a contact job does not read fields.json"
printf '%s\n' '{"type": "noop"}' "{\"type\": \"contact\", \"payload\": {$C}}" >"$TMP/contact.jsonl"
n=$(count_jobs)
run_in "$TMP/contact.jsonl" "$BIN/dater-enqueue" -c "$TMP/broken.conf" -d "$DB" -
is "$RC" 78 "a contact job with an unreadable fields.json: exit 78 (configuration)"
like "$ERR" "broken-fields\.json" "... naming the file"
like "$ERR" "stdin:2: the profile field definitions could not be read" "... and the line"
is "$(count_jobs)" "$n" "... and nothing is enqueued"

# ---- contact time zones ----------------------------------------------------------

refused "an unknown time zone" \
    "{\"type\": \"contact\", \"payload\": {$C, \"timezone\": \"Europe/Berln\"}}" \
    "payload\.timezone: unknown time zone 'Europe/Berln'"
refused "a POSIX TZ string" \
    "{\"type\": \"contact\", \"payload\": {$C, \"timezone\": \"<+06>-6\"}}" \
    "payload\.timezone: unknown time zone"
refused "a file path as a time zone" \
    "{\"type\": \"contact\", \"payload\": {$C, \"timezone\": \"/etc/localtime\"}}" \
    "payload\.timezone: unknown time zone"
refused "a path out of the zoneinfo tree" \
    "{\"type\": \"contact\", \"payload\": {$C, \"timezone\": \"../../../etc/localtime\"}}" \
    "payload\.timezone: unknown time zone"
refused "a zoneinfo file that is not a zone" \
    "{\"type\": \"contact\", \"payload\": {$C, \"timezone\": \"zone1970.tab\"}}" \
    "payload\.timezone: unknown time zone"
for tz in UTC Europe/Berlin America/Argentina/Buenos_Aires Etc/GMT-6; do
	run enqueue contact "{$C, \"timezone\": \"$tz\"}"
	is "$RC" 0 "time zone $tz is accepted"
done

# A zone from \$TZDIR (as the C library reads it), removed after the
# contact was accepted: quiet hours are then read in UTC, with a warning.
mkdir -p "$TMP/zi/Test"
cp /usr/share/zoneinfo/Asia/Tokyo "$TMP/zi/Test/Tokyo"
run enqueue contact '{"bot": "anna", "platform_id": "8", "timezone": "Test/Tokyo"}'
is "$RC" 65 "a zone that only \$TZDIR has is unknown without it"
run env TZDIR="$TMP/zi" "$BIN/dater-enqueue" -c "$CONF" -d "$DB" contact \
    '{"bot": "anna", "platform_id": "8", "timezone": "Test/Tokyo"}'
is "$RC" 0 "... and known with TZDIR pointing at it"
run env TZDIR="$TMP/zi" "$BIN/dater-worker" -c "$CONF" -d "$DB" --drain
is "$(q "SELECT timezone FROM contacts WHERE platform_id = '8'")" "Test/Tokyo" "the contact has the zone"
rm "$TMP/zi/Test/Tokyo"
run enqueue inbound '{"bot": "anna", "platform_id": "8", "text": "hello", "message_id": "m1"}'
is "$RC" 0 "a message from that contact is enqueued"
run env TZDIR="$TMP/zi" "$BIN/dater-worker" -c "$CONF" -d "$DB" --drain
is "$RC" 0 "the worker drains"
like "$ERR" "time zone 'Test/Tokyo' is not in the system's zoneinfo: using UTC" \
    "the worker says the zone's data is gone and UTC is used"

bb_done
