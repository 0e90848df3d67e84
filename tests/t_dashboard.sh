#!/bin/bash
# The HTML dashboard (lib/report/html.c), black box: rendered from a
# database filled by the real binaries (contacts, inbound messages, the
# offline LLM's replies through the console transport, failing, cancelled
# and scheduled jobs) plus backdated rows for the days and hours before,
# and from an empty database. The page must parse with balanced tags,
# hold the four charts (titles, axes, legends, hover titles) and the
# tables with the numbers in the database, carry no script and nothing
# external, and show a bot name with markup escaped. Then headless
# Chromium renders it to a PNG, which must not be blank and must show the
# charts' colours.
#
# Needs python3, the sqlite3 CLI and Debian's chromium (/usr/bin/chromium
# or $CHROMIUM): without chromium the test fails, it does not skip.
# DASHBOARD_KEEP=DIR keeps the pages and screenshots there.
. "$(dirname "$0")/blackbox-lib.sh"

CHECK=$ROOT/tests/dashboard_check.py
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
EVIL_BOT='<script>alert(1)</script>'
EVIL_BOT_ESC='&lt;script&gt;alert(1)&lt;/script&gt;'
EVIL_TYPE='<img src=x onerror=alert(2)>'

for p in python3 sqlite3; do
	command -v "$p" >/dev/null || { echo "Bail out! $p is needed" >&2; exit 1; }
done

# ---- rendering ---------------------------------------------------------

# render DB FILE: dater-report html -o FILE on DB; sets OUT, ERR, RC.
render() {
	run "$BIN/dater-report" -c "$CONF" -d "$1" html -o "$2"
	if [ "$RC" -ne 0 ]; then
		printf '%s\n' "$ERR" | note
	fi
}

# ---- reading the page ----------------------------------------------------

PAGE=
# page FILE: parse FILE (dashboard_check.py html) into PAGE.
page() {
	PAGE=$(python3 "$CHECK" html "$1" "$EVIL_BOT" "$EVIL_BOT_ESC" \
	    "$EVIL_TYPE" 2>&1)
}

# py DOC EXPR: a Python expression over the JSON document DOC (bound to
# d), printed (JSON unless a string); "ERROR: ..." when it fails.
py() {
	printf '%s' "$1" | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError as e:
    print("ERROR: not JSON: %s" % e)
    sys.exit(0)
try:
    v = eval(sys.argv[1])
except Exception as e:
    print("ERROR: %s: %s" % (type(e).__name__, e))
    sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v))
' "$2"
}

# pis EXPR EXPECTED DESC: over the page.
pis() { is "$(py "$PAGE" "$1")" "$2" "$3"; }

CHARTS='("chart-jobs", "chart-messages", "chart-latency", "chart-tokens")'

# The structure every rendering has, data or not.
page_common() {
	local what=$1
	pis 'd.get("error") or d["errors"]' '[]' "$what: tags balance"
	pis 'd["doctype"]' true "$what: an HTML5 doctype"
	pis 'd["scripts"], d["handlers"]' '[0, []]' \
	    "$what: no script, no event handler"
	pis 'd["external"]' '[]' "$what: nothing external (src, href, url())"
	pis "sorted(d['charts'])" \
	    '["chart-jobs", "chart-latency", "chart-messages", "chart-tokens"]' \
	    "$what: the four charts"
	pis "all('chart' in d['charts'][c]['class'].split() and d['charts'][c]['title'] for c in $CHARTS)" \
	    true "$what: every chart is an svg.chart with a <title>"
	pis "[len(d['charts'][c]['legend']) > 0 for c in $CHARTS]" \
	    '[true, true, true, true]' "$what: every chart has a legend"
	pis "[sum(t in d['charts'][c]['texts'] for t in ('jobs', 'messages', 'time to reply', 'tokens')) == 1 and any('(UTC)' in t for t in d['charts'][c]['texts']) for c in $CHARTS]" \
	    '[true, true, true, true]' "$what: every chart labels its axes"
	pis 'd["charts"]["chart-jobs"]["legend"]' \
	    '["queued", "running", "succeeded", "dead", "cancelled"]' \
	    "$what: the jobs legend names the states"
	pis 'sorted(d["tables"])' '["table-bots", "table-health", "table-queue", "table-trouble", "table-types", "table-workers"]' \
	    "$what: the bots, queue, health, jobs-that-need-a-look, workers and per-type tables"
	pis 'd["tables"]["table-trouble"][0]' '["job", "type", "bot", "state", "attempts", "when", "last error"]' \
	    "$what: the jobs that need a look, with their last error"
	pis 'd["tables"]["table-bots"][0]' '["bot", "state", "why", "since", "listener", "listening since", "received / sent today", "cost today", "budget left", "updates skipped"]' \
	    "$what: the bots table's columns"
	pis '[r[0] for r in d["tables"]["table-health"][1:]]' \
	    '["oldest due job age", "live workers", "dead jobs in the last hour", "running jobs with an expired lease"]' \
	    "$what: the health checks"
}

# cell TABLE ROW-LABEL: the second cell of the row whose first is LABEL.
cell() {
	py "$PAGE" "[r[1] for r in d['tables']['$1'] if r[0] == '$2'][0]"
}

# ---- the screenshot --------------------------------------------------------

# shot FILE PNG: headless Chromium's screenshot of FILE; RC.
shot() {
	local ud
	ud=$(mktemp -d "$TMP/chrome.XXXXXX")
	timeout -k 10 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
	    --disable-quic --no-first-run --disable-background-networking \
	    --disable-component-update --disable-sync --hide-scrollbars \
	    --force-device-scale-factor=1 --user-data-dir="$ud" \
	    --window-size=1280,1500 --screenshot="$2" "file://$1" \
	    >"$TMP/chromium.log" 2>&1 </dev/null
	RC=$?
	rm -rf "$ud"
}

PNG=
# png FILE COLOUR...: decode FILE into PNG (counts of those colours).
png() { PNG=$(python3 "$CHECK" png "$@" 2>&1); }

# The fills of: succeeded jobs, the first bot, tokens out, median line.
GREEN='#5bb974'
# A bot's colour follows from its name alone: the palette entry at
# FNV-1a(name) mod 8 (the next free one when two names meet).
PALETTE='["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]'
colour_of() {
	python3 -c '
import json, sys
h = 2166136261
for c in sys.argv[1].encode():
    h = ((h ^ c) * 16777619) & 0xffffffff
print(json.loads(sys.argv[2])[h % 8])' "$1" "$PALETTE"
}
BOT1=$(colour_of demo)
TOKOUT='#3f7fc4'
P50='#2f6fba'

have_chromium() {
	if [ -x "$CHROMIUM" ]; then
		return 0
	fi
	fail "headless Chromium is needed to check the rendering:" \
	    "no $CHROMIUM (apt-get install chromium)"
	return 1
}

# ---- an empty database --------------------------------------------------------

cat >"$CONF" <<EOF
worker = { heartbeat = "200ms"; lease = "5s"; poll_interval = "200ms"; };
fields = "$ROOT/etc/fields.json";
llm = { provider = "offline"; price_in_per_mtok = 3.0;
        price_out_per_mtok = 15.0; };
defaults = { reply_delay = [0, 0]; quiet_hours = "off"; };
bots = ( { name = "demo"; transport = { driver = "console"; }; } );
health = { max_dead_per_hour = 0; };
EOF
migrate || die "dater-migrate up"

render "$DB" "$TMP/empty.html"
is "$RC" 0 "dater-report html -o renders an empty database"
is "$OUT" "" "... writing nothing to stdout"
page "$TMP/empty.html"
page_common "empty"
pis "[d['charts'][c]['empty'] for c in $CHARTS]" '[true, true, true, true]' \
    "empty: every chart says 'no data yet'"
pis "[d['charts'][c]['bars'] + d['charts'][c]['points'] for c in $CHARTS]" \
    '[0, 0, 0, 0]' "empty: no bars, no points"
pis 'd["tables"]["table-types"][1:]' '[["no jobs yet"]]' \
    "empty: the per-type table says there are no jobs"
is "$(cell table-queue total)" 0 "empty: the queue table counts 0 jobs"
pis 'd["tiles"]["tile-workers"]' '0 / 0' "empty: no live workers"
pis 'd["tiles"]["tile-drafts"], d["tables"]["table-trouble"][1:], d["tables"]["table-workers"][1:]' \
    '["0", [["no job died in the last day and none is retrying"]], [["no worker registered"]]]' \
    "empty: no drafts, no job in trouble, no worker"
pis 'd["tables"]["table-bots"][1:]' '[["demo", "active", "running", "-", "-", "-", "0 / 0", "$0.00", "-", "0"]]' \
    "empty: the configured bot is active, with no listener and no traffic"

if have_chromium; then
	shot "$TMP/empty.html" "$TMP/empty.png"
	is "$RC" 0 "chromium renders the empty page"
	png "$TMP/empty.png" "$GREEN" "$BOT1"
	py "$PNG" 'd.get("error", "")' | grep . | note
	is "$(py "$PNG" 'd["nonwhite"] > 0.003 and d["colours"] > 20')" true \
	    "the empty page's screenshot is not blank (text, axes, cards)"
	EMPTY_PNG=$PNG
	is "$(py "$PNG" "d['hits']['$GREEN'] <= 150 and d['hits']['$BOT1'] == 0")" \
	    true "the empty page's screenshot has the legends but no bars: $(
	    py "$PNG" 'd["hits"]')"
fi

# ---- a database with real traffic -------------------------------------------

cat <<'JOBS' | enqueue -q - >/dev/null || die "enqueue the contacts"
{"type": "contact", "payload": {"bot": "demo", "platform_id": "1001", "name": "Mia", "consent": true}}
{"type": "contact", "payload": {"bot": "demo", "platform_id": "1002", "name": "<script>alert('contact')</script>", "consent": true}}
JOBS
drain -q -n 1 >>"$TMP/drain.log" 2>&1 || die "drain the contact jobs"
cat <<'JOBS' | enqueue -q - >/dev/null || die "enqueue the messages"
{"type": "inbound", "payload": {"bot": "demo", "platform_id": "1001", "message_id": "m1", "text": "Hey! Climbing on Thursday?"}}
{"type": "inbound", "payload": {"bot": "demo", "platform_id": "1002", "message_id": "n1", "text": "hello there"}}
JOBS
drain -q -n 2 >>"$TMP/drain.log" 2>&1 || die "drain the conversation"
enqueue -q noop '{"fail": "permanent"}' >/dev/null
enqueue -q --in 2h noop >/dev/null
cancel=$(enqueue -q noop)
enqueue -q --cancel "$cancel" >/dev/null
drain -q -n 1 >>"$TMP/drain.log" 2>&1
sent=$(q "SELECT count(*) FROM messages WHERE direction = 'out' AND sent_at IS NOT NULL")
isnt "$sent" 0 "the offline LLM's replies were sent ($sent)"

# History the real binaries cannot backdate: earlier days' metrics (a
# second bot whose name is markup), conversations with known reply
# times, jobs in earlier hours, and a job type that is markup.
# Conversations at 10:00 UTC three and two days ago: reply times 1 min
# and 5 min (the second wait starts at the first of two messages), and
# 2 min.
now=$(now_ms)
t3=$(( now / 86400000 * 86400000 - 3 * 86400000 + 36000000 ))
t2=$(( t3 + 86400000 ))
# The UTC day (YYYY-MM-DD) n.d days ago.
if is_pg; then
	day_ago="to_char(to_timestamp($now / 1000 - n.d * 86400) AT TIME ZONE 'UTC',
	    'YYYY-MM-DD')"
else
	day_ago="date($now / 1000 - n.d * 86400, 'unixepoch')"
fi
q "
INSERT INTO metrics_daily (bot, day, received, sent, llm_calls, tokens_in,
    tokens_out, cost_usd)
SELECT b.bot, $day_ago, 3 + n.d % 5,
    2 + n.d % 4, 4, 900 + 40 * n.d, 200 + 10 * n.d, 0.002 * n.d
FROM (SELECT 'demo' AS bot UNION ALL SELECT '$EVIL_BOT') b,
     (WITH RECURSIVE k(d) AS (SELECT 1 UNION ALL SELECT d + 1 FROM k
      WHERE d < 20) SELECT d FROM k) n;
INSERT INTO contacts (bot, platform_id, name, created_at, updated_at)
VALUES ('demo', 'hist', 'History', $((now - 40 * 86400000)), $now);
INSERT INTO messages (contact, bot, direction, kind, text, status,
    created_at, sent_at)
SELECT c.id, 'demo', m.dir, m.kind, 'x', m.status, m.at,
    CASE WHEN m.dir = 'out' THEN m.at END
FROM contacts c, (
    SELECT 1 AS o, 'in' AS dir, 'message' AS kind, NULL AS status,
        $t3 AS at
    UNION ALL SELECT 2, 'out', 'reply', 'sent', $t3 + 60000
    UNION ALL SELECT 3, 'in', 'message', NULL, $t3 + 3600000
    UNION ALL SELECT 4, 'in', 'message', NULL, $t3 + 3610000
    UNION ALL SELECT 5, 'out', 'reply', 'sent', $t3 + 3900000
    UNION ALL SELECT 6, 'in', 'message', NULL, $t2
    UNION ALL SELECT 7, 'out', 'reply', 'sent', $t2 + 120000
) m WHERE c.platform_id = 'hist' ORDER BY m.o;
INSERT INTO jobs (type, state, run_at, attempts, created_at, started_at,
    finished_at)
SELECT 'noop', CASE WHEN h % 7 = 0 THEN 'dead' ELSE 'succeeded' END,
    $now - h * 3600000, 1, $now - h * 3600000, $now - h * 3600000,
    $now - h * 3600000 + 500
FROM (WITH RECURSIVE k(h) AS (SELECT 2 UNION ALL SELECT h + 1 FROM k
      WHERE h < 40) SELECT h FROM k) hs, (SELECT 1 UNION ALL SELECT 2) two;
INSERT INTO jobs (type, state, run_at, created_at, finished_at)
VALUES ('$EVIL_TYPE', 'cancelled', $now - 7200000, $now - 7200000,
    $now - 7100000);
" || die "insert the history"

today=$(date -u -d "@$((now / 1000))" +%F)
render "$DB" "$TMP/dash.html"
is "$RC" 0 "the filled database renders"
page "$TMP/dash.html"
page_common "filled"
pis "[d['charts'][c]['empty'] for c in $CHARTS]" '[false, false, false, false]' \
    "filled: no chart says 'no data yet'"
pis 'd["charts"]["chart-jobs"]["bars"] >= 39' true \
    "filled: the jobs chart has a bar segment per busy hour"
pis 'any(t.endswith(": 2 succeeded") for t in d["charts"]["chart-jobs"]["tips"])' \
    true "filled: a jobs bar's hover title names its count and state"
pis 'any(t.endswith(" dead") for t in d["charts"]["chart-jobs"]["tips"])' \
    true "filled: dead jobs have their own segments"
pis 'd["charts"]["chart-messages"]["legend"][0]' demo \
    "filled: the messages legend names the busiest bot first"
pis 'd["charts"]["chart-messages"]["swatches"]["demo"]' "$BOT1" \
    "filled: ... in the colour its name gives it"
pis "d['charts']['chart-messages']['swatches']['${EVIL_BOT:0:24}\u2026'] == '$(colour_of "$EVIL_BOT")'" \
    true "filled: ... and the other bot in its own"
pis "d['charts']['chart-messages']['legend'][1] == '${EVIL_BOT:0:24}\u2026'" \
    true "filled: ... and the other one, cut to 24 bytes"
pis "any(', $EVIL_BOT: ' in t for t in d['charts']['chart-messages']['tips'])" \
    true "filled: a bar's hover title names the bot in full"
pis 'd["charts"]["chart-messages"]["bars"] >= 80' true \
    "filled: received and sent bars per bot and day"
recv=$(q "SELECT received FROM metrics_daily WHERE bot = 'demo' AND day = '$today'")
pis "'$today, demo: $recv received' in d['charts']['chart-messages']['tips']" \
    true "filled: today's bar counts demo's $recv received messages"
pis 'd["charts"]["chart-latency"]["points"] >= 4' true \
    "filled: latency points for the backdated days and today"
d3=$(date -u -d "@$((t3 / 1000))" +%F)
d2=$(date -u -d "@$((t2 / 1000))" +%F)
pis "'$d3: median 1m0s, p90 5m0s (2 replies)' in d['charts']['chart-latency']['tips']" \
    true "filled: median and p90 from the first unanswered message"
pis "'$d2: median 2m0s, p90 2m0s (1 reply)' in d['charts']['chart-latency']['tips']" \
    true "filled: a day with one reply"
pis 'd["charts"]["chart-tokens"]["bars"] >= 40 and d["charts"]["chart-tokens"]["points"] >= 20' \
    true "filled: token bars and cost points"
pis 'any("USD" == t for t in d["charts"]["chart-tokens"]["texts"]) and any(t.startswith("$") for t in d["charts"]["chart-tokens"]["texts"])' \
    true "filled: the cost has its own labelled axis in USD"

total=$(q "SELECT count(*) FROM jobs")
dead=$(q "SELECT count(*) FROM jobs WHERE state = 'dead'")
is "$(cell table-queue total)" "$total" "filled: the queue table counts $total jobs"
is "$(cell table-queue dead)" "$dead" "filled: ... $dead of them dead"
is "$(cell table-queue 'queued, scheduled later')" 1 \
    "filled: ... 1 scheduled for later"
is "$(cell table-health 'dead jobs in the last hour')" 1 \
    "filled: one job died in the last hour"
pis '[r[2:] for r in d["tables"]["table-health"] if r[0] == "dead jobs in the last hour"]' \
    '[["at most 0", "attention"]]' "filled: which the health table flags (health.max_dead_per_hour = 0)"
run "$BIN/dater-report" -c "$CONF" -d "$DB" -j health
is "$(py "$PAGE" "[r[3] for r in d['tables']['table-health'][1:]]")" \
    "$(py "$OUT" "['ok' if c['ok'] else 'attention' for c in d['checks']]")" \
    "filled: the dashboard's health is dater-report health's, check by check"
pis "[r[0] for r in d['tables']['table-types'][1:]][0], 'noop' in [r[0] for r in d['tables']['table-types']]" \
    "[\"$EVIL_TYPE\", true]" "filled: the per-type table lists the types, sorted"

sent_today=$(q "SELECT sent FROM metrics_daily WHERE bot = 'demo' AND day = '$today'")
pis "[r[:3] + [r[6]] for r in d['tables']['table-bots'][1:]]" \
    "[[\"demo\", \"active\", \"running\", \"$recv / $sent_today\"], [\"$EVIL_BOT\", \"removed\", \"not in the configuration; 0 queued jobs wait\", \"0 / 0\"]]" \
    "filled: the bots table: the configured bot active with today's traffic, the one only in the data removed, and why"
failed=$(q "SELECT id FROM jobs WHERE errors LIKE '%failed permanently%'")
pis "[r[3:5] + r[6:] for r in d['tables']['table-trouble'] if r[0] == '$failed']" \
    '[["dead", "1/25", "noop: failed permanently as asked"]]' \
    "filled: the job that died is in the jobs that need a look, with its error"
pis "[int(r[0]) for r in d['tables']['table-trouble'][1:]] == sorted((int(r[0]) for r in d['tables']['table-trouble'][1:]), reverse=True)" \
    true "filled: ... newest first"
pis "d['raw_has']['$EVIL_BOT']" false "the bot name's markup is not in the page raw"
pis "d['raw_has']['$EVIL_BOT_ESC']" true "... but escaped"
pis "d['raw_has']['$EVIL_TYPE']" false "the job type's markup is not in the page raw"
unlike "$(cat "$TMP/dash.html")" 'https?://' "no URL anywhere in the page"

# --refresh N: a browser reloads the page every N seconds.
run "$BIN/dater-report" -c "$CONF" -d "$DB" html -o "$TMP/refresh.html" --refresh 30
is "$RC" 0 "html --refresh 30 renders"
like "$(grep -c '<meta http-equiv="refresh" content="30">' "$TMP/refresh.html")" '^1$' \
    "... with a meta refresh of 30 s"
is "$(grep -c 'http-equiv' "$TMP/dash.html")" 0 "without --refresh the page does not reload"
run "$BIN/dater-report" -c "$CONF" -d "$DB" html -o "$TMP/refresh.html" --refresh 0
is "$RC" 64 "--refresh 0 is a usage error"
run "$BIN/dater-report" -c "$CONF" -d "$DB" prometheus --refresh 5
is "$RC" 64 "--refresh is the dashboard's only"

if have_chromium; then
	shot "$TMP/dash.html" "$TMP/dash.png"
	is "$RC" 0 "chromium renders the dashboard"
	if [ "$RC" -ne 0 ]; then
		tail -20 "$TMP/chromium.log" | note
	fi
	png "$TMP/dash.png" "$GREEN" "$BOT1" "$TOKOUT" "$P50"
	py "$PNG" 'd.get("error", "")' | grep . | note
	is "$(py "$PNG" 'd["width"], d["height"]')" '[1280, 1500]' \
	    "the screenshot is 1280x1500"
	is "$(py "$PNG" 'd["colours"] > 200 and d["nonwhite"] > 0.03')" true \
	    "the screenshot is not blank: $(py "$PNG" 'd["colours"]') colours"
	# Each chart's colour well beyond its legend swatch on the empty
	# page: succeeded jobs, the first bot's messages, tokens out and the
	# median latency's line and points.
	is "$(printf '%s\n%s' "$PNG" "$EMPTY_PNG" | python3 -c '
import json, sys
full, empty = (json.loads(l) for l in sys.stdin)
print([c for c in sorted(full["hits"])
       if full["hits"][c] < empty["hits"].get(c, 0) + 80])')" '[]' \
	    "the screenshot shows the four charts in their colours: $(
	    py "$PNG" 'd["hits"]')"
	is "$(py "$PNG" 'all(b > 0.01 for b in d["bands"][:8])')" true \
	    "no empty band down the page: $(py "$PNG" 'd["bands"]')"
	if [ -n "${DASHBOARD_KEEP:-}" ]; then
		cp "$TMP/dash.png" "$TMP/dash.html" "$TMP/empty.png" "$CONF" \
		    "$DASHBOARD_KEEP/" && echo "# kept in $DASHBOARD_KEEP"
		is_pg || cp "$DB" "$DASHBOARD_KEEP/"
	fi
fi

bb_done
