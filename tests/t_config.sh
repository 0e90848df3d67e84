#!/bin/bash
# dater-report config, black box: on a two-bot configuration, the
# effective settings per bot follow built-in -> defaults -> bot (and the
# job settings queue -> jobs.TYPE, schedules the type's queue and
# priority); secrets appear only as the variable's name and set/unset,
# never their values, in the JSON, the tables or on stderr; URLs lose
# their credentials; the view reads no database (none need exist); a
# broken file is refused with its line (exit 78), and so is a time zone
# the system does not have, for every program.
#
# Needs python3 (to read the JSON).
. "$(dirname "$0")/blackbox-lib.sh"

if ! command -v python3 >/dev/null; then
	echo "Bail out! python3 is needed to read the JSON" >&2
	exit 1
fi

TOKEN_VALUE="123456:TG-SECRET-anna-7f3c9e"
KEY_VALUE="sk-T-SECRET-KEY-d41d8cd98f"
URL_PASSWORD="hunter2pw"
URL_SIG="sig0a1b2c3"

mkdir -p "$TMP/etc"
CONF=$TMP/etc/dater.conf
cat >"$CONF" <<EOF
database = "../data/dater.db";	# relative to this file; no such dir
llm = {
	provider = "openai";
	base_url = "http://127.0.0.1:9/v1";
	api_key_env = "DATER_T_KEY";
	temperature = 0.7;
};
jobs = { send = { retry_base = "5s"; }; };
defaults = {
	reply_delay = [5, 10];
	quiet_hours = "22:00-07:00";
	max_per_hour = 20;
	timezone = "Europe/Berlin";
};
bots = (
	{
		name = "anna";
		transport = { driver = "telegram"; token_env = "ANNA_TG_TOKEN"; };
		persona = "I am Anna.";
		model = "gpt-4o";
		max_per_hour = 5;
		review = true;
	},
	{
		name = "ben";
		transport = { driver = "webhook";
		    url = "https://ops:$URL_PASSWORD@hooks.example.org/dater?key=$URL_SIG"; };
		disclosure = false;
		quiet_hours = "off";
	}
);
schedules = (
	{ name = "poll-anna"; cron = "*/5 * * * *"; job = "poll";
	  payload = "{\"bot\": \"anna\"}"; },
	{ name = "ping"; cron = "@hourly"; job = "noop"; queue = "maint";
	  priority = 7; }
);
scheduler = { timezone = "Europe/Berlin"; initiate = false; };
maintenance = { backup_keep = 3; journal_size_limit = "16MB"; };
EOF

report() {
	env ANNA_TG_TOKEN="$TOKEN_VALUE" DATER_T_KEY="$KEY_VALUE" \
	    "$BIN/dater-report" -c "$CONF" "$@"
}

# get JSON EXPR: print the Python expression EXPR over the document d.
get() {
	printf '%s\n' "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1])
print(json.dumps(v) if not isinstance(v, str) else v)' "$2"
}

# ---- the JSON document -------------------------------------------------

run report --json config
is "$RC" 0 "config --json exits 0 without any database"
JSON=$OUT
JERR=$ERR
check "no database was created" test ! -e "$TMP/data"

is "$(get "$JSON" 'd["config"]')" "$CONF" "names the file read"
is "$(get "$JSON" 'd["database"]')" "$TMP/etc/../data/dater.db" \
    "database resolved against the config's directory"
is "$(get "$JSON" '[b["name"] for b in d["bots"]]')" '["anna", "ben"]' \
    "both bots, in order"

A='d["bots"][0]["policy"]'
B='d["bots"][1]["policy"]'
D='d["defaults"]'
is "$(get "$JSON" "$A[\"max_per_hour\"]")" 5 "anna: her own max_per_hour"
is "$(get "$JSON" "$B[\"max_per_hour\"]")" 20 "ben: max_per_hour from defaults"
is "$(get "$JSON" "$D[\"max_per_hour\"]")" 20 "defaults: as the file says"
is "$(get "$JSON" "$A[\"quiet_hours\"]")" "22:00-07:00" \
    "anna: quiet hours from defaults"
is "$(get "$JSON" "$B[\"quiet_hours\"]")" "off" "ben: quiet hours off"
is "$(get "$JSON" "[$A[\"reply_delay_ms\"], $B[\"reply_delay_ms\"]]")" \
    "[[5000, 10000], [5000, 10000]]" "reply delay from defaults, in ms"
is "$(get "$JSON" "[$A[\"timezone\"], $B[\"timezone\"]]")" \
    '["Europe/Berlin", "Europe/Berlin"]' "timezone from defaults"
is "$(get "$JSON" "[$A[\"history_messages\"], $B[\"max_per_chat_hour\"]]")" \
    "[20, 6]" "unset settings keep the built-in defaults"
is "$(get "$JSON" "[$A[\"model\"], $B[\"model\"]]")" '["gpt-4o", "gpt-4o-mini"]' \
    "model: the bot's, else llm.model"
is "$(get "$JSON" "[$A[\"review\"], $B[\"review\"]]")" "[true, false]" \
    "review per bot"
is "$(get "$JSON" "[$A[\"disclosure\"] is not None, $B[\"disclosure\"]]")" \
    "[true, null]" "disclosure: on by default, null when switched off"
is "$(get "$JSON" "$A[\"persona\"]")" "I am Anna." "anna's persona"
is "$(get "$JSON" "len($B[\"opt_out\"]) > 10")" "true" \
    "ben has the built-in opt-out phrases"

T='d["bots"][0]["transport"]'
W='d["bots"][1]["transport"]'
is "$(get "$JSON" "[$T[\"driver\"], $T[\"token_env\"], $T[\"token_set\"]]")" \
    '["telegram", "ANNA_TG_TOKEN", true]' "anna's token: the name, and set"
is "$(get "$JSON" "$T[\"base_url\"]")" "https://api.telegram.org" \
    "telegram base_url default"
is "$(get "$JSON" "[$W[\"driver\"], $W[\"token_env\"], $W[\"token_set\"]]")" \
    '["webhook", null, null]' "ben's webhook has no token"
is "$(get "$JSON" "$W[\"url\"]")" "https://***@hooks.example.org/dater?***" \
    "webhook url without user info and query"

L='d["llm"]'
is "$(get "$JSON" "[$L[\"provider\"], $L[\"api_key_env\"], $L[\"api_key_set\"]]")" \
    '["openai", "DATER_T_KEY", true]' "llm key: the name, and set"
is "$(get "$JSON" "$L[\"temperature\"]")" 0.7 "llm temperature"

is "$(get "$JSON" '[d["jobs"]["send"]["retry_base_ms"], d["jobs"]["noop"]["retry_base_ms"], d["queue"]["retry_base_ms"]]')" \
    "[5000, 15000, 15000]" "job settings: jobs.send over queue"
is "$(get "$JSON" 'all(k in d["jobs"] for k in ["noop", "contact", "inbound", "respond", "send", "approve", "poll", "initiate", "followup", "summarize"])')" \
    true "every job type is listed, not only those the file sets"

S='d["schedules"]'
is "$(get "$JSON" "[(s[\"name\"], s[\"cron\"], s[\"job\"], s[\"queue\"], s[\"priority\"]) for s in $S]")" \
    '[["poll-anna", "*/5 * * * *", "poll", "default", 100], ["ping", "@hourly", "noop", "maint", 7]]' \
    "schedules with their effective queue and priority"
is "$(get "$JSON" "$S[0][\"payload\"]")" '{"bot": "anna"}' \
    "a schedule's payload as JSON"
is "$(get "$JSON" '[d["scheduler"]["timezone"], d["scheduler"]["initiate"], d["scheduler"]["followup"]]')" \
    '["Europe/Berlin", false, true]' "scheduler settings"
is "$(get "$JSON" '[d["maintenance"]["backup_keep"], d["maintenance"]["journal_size_limit"], d["maintenance"]["prune_messages_after_ms"]]')" \
    "[3, 16777216, 0]" "maintenance settings"
is "$(get "$JSON" 'd["maintenance"]["backup_dir"]')" \
    "$TMP/etc/../data/backups" "backups beside the database by default"

# ---- secrets -----------------------------------------------------------

run report config
is "$RC" 0 "config (tables) exits 0"
TABLE=$OUT
TERR=$ERR
like "$TABLE" '^SETTING +\(defaults\) +anna +ben' \
    "the bots side by side, after the defaults"
like "$TABLE" 'token +- +\$ANNA_TG_TOKEN \(set\) +-$' \
    "table: anna's token as its variable, set"
like "$TABLE" '^  api_key +\$DATER_T_KEY \(set\)$' "table: the llm key, set"
like "$TABLE" '^max_per_hour +20 +5 +20$' "table: max_per_hour per bot"
like "$TABLE" '^ping +@hourly +noop +maint +7 +\{\}$' \
    "table: the schedules"

ALL="$JSON$JERR$TABLE$TERR"
for secret in "$TOKEN_VALUE" "$KEY_VALUE" "$URL_PASSWORD" "$URL_SIG"; do
	if printf '%s' "$ALL" | grep -qF -- "$secret"; then
		fail "secret '$secret' must not appear in any output"
	else
		ok "secret '${secret:0:12}...' appears in no output"
	fi
done
# Not even a part of the token (e.g. cut or quoted differently).
unlike "$ALL" 'TG-SECRET|SECRET-KEY' "no fragment of a secret either"

# The same with the variables unset: reported as unset.
run env -u ANNA_TG_TOKEN -u DATER_T_KEY "$BIN/dater-report" -c "$CONF" config --json
is "$RC" 0 "config --json (after the view) exits 0"
is "$(get "$OUT" "[$T[\"token_set\"], $L[\"api_key_set\"]]")" "[false, false]" \
    "unset variables are reported unset"
run env -u DATER_T_KEY ANNA_TG_TOKEN= "$BIN/dater-report" -c "$CONF" config
like "$OUT" '\$ANNA_TG_TOKEN \(unset\)' "an empty variable counts as unset"

# ---- database choice, errors --------------------------------------------

run report -d "$TMP/other.db" --json config
is "$(get "$OUT" 'd["database"]')" "$TMP/other.db" "-d names the database shown"
check "-d's database is not created either" test ! -e "$TMP/other.db"
run env DATER_DB="$TMP/env.db" "$BIN/dater-report" -c "$CONF" --json config
is "$(get "$OUT" 'd["database"]')" "$TMP/env.db" "\$DATER_DB too"

cp "$CONF" "$TMP/bad.conf"
printf 'bots = ( { name = "carl"; } );\n' >>"$TMP/bad.conf"
sed -i '/^bots = ($/,/^);$/d' "$TMP/bad.conf"
run "$BIN/dater-report" -c "$TMP/bad.conf" config
is "$RC" 78 "a bot without a transport: exit 78"
like "$ERR" "bad.conf:[0-9]+: .*no transport" "the error names file and line"

run "$BIN/dater-report" -c "$CONF" config extra
is "$RC" 64 "an extra argument is a usage error"

# ---- time zones the system does not have ---------------------------------

# bad_zone DESC SED ZONE: the config edited by SED is refused by every
# program (exit 78, on a database that is ready) with file:line of the
# zone, and the zone named.
ZONE_DB=$(new_db zone) || die "no database for the zone tests"
"$BIN/dater-migrate" -q -c "$CONF" -d "$ZONE_DB" up >/dev/null ||
    die "dater-migrate up failed"
bad_zone() {
	local desc=$1 line prog
	sed "$2" "$CONF" >"$TMP/zone.conf"
	line=$(grep -n 'BADZONE' "$TMP/zone.conf" | cut -d: -f1)
	sed -i 's/BADZONE//' "$TMP/zone.conf"
	[ -n "$line" ] || die "bad_zone $desc: the edit did not apply"
	for prog in "dater-report config" "dater-enqueue noop" \
	    "dater-scheduler --once --dry-run" "dater-worker --drain"; do
		run env -u TZDIR "$BIN/${prog%% *}" -c "$TMP/zone.conf" \
		    -d "$ZONE_DB" ${prog#* }
		is "$RC" 78 "$desc: ${prog%% *} exits 78"
	done
	like "$ERR" "zone\.conf:$line: 'timezone': unknown time zone '$3'" \
	    "$desc: the error names file:line and the zone"
}
bad_zone "a misspelt scheduler.timezone" \
    's|^scheduler = { timezone = "Europe/Berlin"; initiate = false; };|scheduler = { initiate = false;\n\ttimezone = "Europe/Berln"; }; # BADZONE|' \
    'Europe/Berln'
bad_zone "an unknown defaults.timezone" \
    's|^\ttimezone = "Europe/Berlin";|\ttimezone = "Mars/Olympus_Mons"; # BADZONE|' \
    'Mars/Olympus_Mons'
bad_zone "a POSIX TZ string as a bot's timezone" \
    's|^\t\tdisclosure = false;|&\n\t\ttimezone = "<+06>-6"; # BADZONE|' \
    '<\+06>-6'
bad_zone "a file path as a time zone" \
    's|^\ttimezone = "Europe/Berlin";|\ttimezone = "/usr/share/zoneinfo/UTC"; # BADZONE|' \
    '/usr/share/zoneinfo/UTC'
bad_zone "a zoneinfo file that is not a zone" \
    's|^\ttimezone = "Europe/Berlin";|\ttimezone = "zone1970.tab"; # BADZONE|' \
    'zone1970\.tab'
is "$(DB=$ZONE_DB q 'SELECT count(*) FROM jobs')" 0 \
    "nothing was enqueued with a refused config"

# A zone only $TZDIR has (the C library reads it there too).
mkdir -p "$TMP/zi/Test"
cp /usr/share/zoneinfo/Asia/Tokyo "$TMP/zi/Test/Tokyo"
sed 's|"Europe/Berlin"|"Test/Tokyo"|' "$CONF" >"$TMP/tzdir.conf"
run env -u TZDIR "$BIN/dater-report" -c "$TMP/tzdir.conf" config
is "$RC" 78 "a zone outside the zoneinfo tree is unknown"
run env TZDIR="$TMP/zi" "$BIN/dater-report" -c "$TMP/tzdir.conf" --json config
is "$RC" 0 "... and known with TZDIR pointing at it"
is "$(get "$OUT" 'd["scheduler"]["timezone"]')" "Test/Tokyo" "... and shown"
run env TZDIR="$TMP/zi" "$BIN/dater-report" -c "$CONF" config
is "$RC" 78 "with TZDIR set, only TZDIR is searched, as the C library does"

bb_done
