#!/bin/bash
# Secrets and hostile peer text, black box. A webhook receiver that echoes
# the request line in its error bodies ("Cannot POST /hook?token=..."),
# as express and many frameworks do, and the credentials of the URL's
# user info: the token, the password and the user's name appear in no
# worker log line, jobs.errors, messages.error, `dater-report job ID`,
# `dater-report --json jobs`, nor the database file, on a permanent (404)
# and a retried (500) failure alike; what is left of the error still says
# what happened. Rows stored before the redaction are redacted by the
# reports. A Telegram error description holding a newline and a
# terminal escape comes out of the worker as one escaped log line.
. "$(dirname "$0")/blackbox-lib.sh"

command -v node >/dev/null || die "node is needed for the receiver"

HOOK_TOKEN=hook-s3cret-Q7w2e9r4
HOOK_USER=hookuser-a81f
HOOK_PASS=hookpass-77c3d0
export SECRETS_TG_TOKEN=424242:tg-secret-token-Zq9
TG_TOKEN=$SECRETS_TG_TOKEN
LOGS=$TMP/worker.log

# The receiver: /hook answers 404, /flaky 500, each echoing the request
# line and the decoded Basic credentials; Telegram's sendMessage answers
# 400 with a description holding "\n" and "\x1b[2J".
cat >"$TMP/echo.js" <<'EOF'
'use strict';
const http = require('http');
const srv = http.createServer((req, res) => {
	let body = '';
	req.on('data', (c) => { body += c; });
	req.on('end', () => {
		const auth = req.headers.authorization || '';
		const cred = auth.startsWith('Basic ') ?
		    Buffer.from(auth.slice(6), 'base64').toString() : '';
		if (/\/sendChatAction$/.test(req.url)) {
			res.writeHead(200, { 'Content-Type': 'application/json' });
			res.end('{"ok": true, "result": true}');
		} else if (/\/sendMessage$/.test(req.url)) {
			res.writeHead(400, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ ok: false, error_code: 400,
			    description: 'Bad Request: chat not found\n' +
			    'dater-worker[1]: error: forged line\x1b[2J' }));
		} else {
			res.writeHead(req.url.startsWith('/flaky') ? 500 : 404,
			    { 'Content-Type': 'text/plain' });
			res.end('Cannot ' + req.method + ' ' + req.url +
			    ' (credentials ' + cred + ')');
		}
	});
});
srv.listen(0, '127.0.0.1', () => {
	console.log('PORT ' + srv.address().port);
});
EOF
start_bg "$TMP/echo.out" node "$TMP/echo.js"
wait_for 20 grep -q '^PORT ' "$TMP/echo.out" || die "the receiver did not start"
PORT=$(sed -n 's/^PORT //p' "$TMP/echo.out")
URL="http://$HOOK_USER:$HOOK_PASS@127.0.0.1:$PORT"

write_conf "" "
llm = { provider = \"offline\"; };
defaults = { reply_delay = [0, 0]; quiet_hours = \"off\"; disclosure = false;
             max_per_hour = 0; max_per_chat_hour = 0; daily_budget_usd = 0.0; };
bots = (
  { name = \"hook\"; transport = { driver = \"webhook\"; url = \"$URL/hook?token=$HOOK_TOKEN\"; }; },
  { name = \"flaky\"; transport = { driver = \"webhook\"; url = \"$URL/flaky?v=2&token=$HOOK_TOKEN\"; }; },
  { name = \"tg\"; transport = { driver = \"telegram\"; base_url = \"http://127.0.0.1:$PORT\";
                                token_env = \"SECRETS_TG_TOKEN\"; }; }
);
"
migrate || die "dater-migrate up failed"

N=0
say() {
	N=$((N + 1))
	enqueue -q inbound "{\"bot\": \"$1\", \"platform_id\": \"$2\",
	    \"message_id\": \"m$N\", \"text\": \"$3\"}" >/dev/null
}
send_of() {	# the send job of the bot's newest outbound message
	q "SELECT max(id) FROM jobs WHERE type = 'send' AND bot = '$1'"
}
vdrain() { drain -v >>"$LOGS" 2>&1; }
settled() {
	vdrain
	[ "$(count_jobs "state = 'running' OR state = 'queued'")" = 0 ]
}

say hook 1 "Hello hook"
say flaky 2 "Hello flaky"
say tg 3 "Hello telegram"
wait_for 60 settled || fail "the jobs did not all end"

sh=$(send_of hook)
sf=$(send_of flaky)
st=$(send_of tg)
is "$(state_of "$sh")" dead "the webhook 404 send is dead"
is "$(state_of "$sf")" dead "the webhook 500 send is dead after its attempts"
is "$(state_of "$st")" dead "the telegram 400 send is dead"

# The errors still say what happened, with the secrets cut out.
errs=$(q "SELECT errors FROM jobs WHERE id IN ($sh, $sf)")
like "$errs" 'HTTP 404: Cannot POST /hook\?<redacted>' "the 404's error keeps the path, its query redacted"
like "$errs" 'HTTP 500: Cannot POST /flaky\?<redacted>' "the 500's errors too"
like "$errs" 'credentials <redacted>' "the echoed user info is redacted"
like "$(q "SELECT $(agg error ' ') FROM messages WHERE error IS NOT NULL")" \
    'Cannot POST /hook\?<redacted>' "messages.error keeps the path, its query redacted"
like "$(cat "$LOGS")" 'dead after attempt 1/[0-9]+: webhook: HTTP 404: Cannot POST /hook\?<redacted>' \
    "the worker logs the 404, redacted"
like "$(cat "$LOGS")" 'attempt 1/[0-9]+ failed, retry in .*Cannot POST /flaky\?<redacted>' \
    "the worker logs the 500's retry, redacted"

for id in $sh $sf $st; do
	"$BIN/dater-report" -c "$CONF" -d "$DB" job "$id" >>"$TMP/report.txt" 2>&1
	"$BIN/dater-report" -c "$CONF" -d "$DB" --json job "$id" >>"$TMP/report.txt" 2>&1
done
"$BIN/dater-report" -c "$CONF" -d "$DB" --json jobs --limit 1000 >>"$TMP/report.txt" 2>&1
"$BIN/dater-report" -c "$CONF" -d "$DB" jobs --limit 1000 >>"$TMP/report.txt" 2>&1
like "$(cat "$TMP/report.txt")" 'Cannot POST /hook\?<redacted>' "the reports show the redacted error"
q "SELECT errors FROM jobs" >"$TMP/jobs.errors"
q "SELECT error FROM messages WHERE error IS NOT NULL" >"$TMP/messages.error"
# The database's own bytes: the SQLite file and its -wal, or on
# PostgreSQL a dump of every row.
if is_pg; then
	dbdump >"$TMP/db.dump"
	DB_FILES=("$TMP/db.dump")
else
	DB_FILES=("$DB" "$DB-wal")
fi
for f in "$LOGS" "$TMP/jobs.errors" "$TMP/messages.error" "$TMP/report.txt" "${DB_FILES[@]}"; do
	[ -f "$f" ] || continue
	for s in "$HOOK_TOKEN" "$HOOK_USER" "$HOOK_PASS" "$TG_TOKEN"; do
		check "'$s' is nowhere in $(basename "$f")" eval '! grep -qaF "$s" "$f"'
	done
done

# Rows stored before the redaction existed (an upgraded database): the
# reports redact them as they read them.
q "UPDATE jobs SET errors = '[{\"attempt\": 1, \"error\":
   \"webhook: HTTP 404: Cannot POST /hook?token=$HOOK_TOKEN\"}]' WHERE id = $sh;
   UPDATE messages SET error = 'old: /hook?token=$HOOK_TOKEN' WHERE error IS NOT NULL;"
c=$(q "SELECT contact FROM messages WHERE error IS NOT NULL LIMIT 1")
{
	"$BIN/dater-report" -c "$CONF" -d "$DB" job "$sh"
	"$BIN/dater-report" -c "$CONF" -d "$DB" --json job "$sh"
	"$BIN/dater-report" -c "$CONF" -d "$DB" --json jobs --limit 1000
	"$BIN/dater-report" -c "$CONF" -d "$DB" --json conversation "$c"
} >"$TMP/report-old.txt" 2>&1
like "$(cat "$TMP/report-old.txt")" 'old: /hook\?<redacted>' "an old row's message error is redacted in the report"
check "an old row's token is in no report" eval '! grep -qaF "$HOOK_TOKEN" "$TMP/report-old.txt"'

# Log injection: Telegram's description, "\n" and ESC [2J included, is one
# log line with both escaped; no line was forged and no escape reached
# the terminal.
like "$(cat "$LOGS")" 'chat not found\\ndater-worker\[1\]: error: forged line\\x1b\[2J' \
    "the description's newline and escape are shown as \\\\n and \\\\x1b"
check "no log line starts with the forged text" eval '! grep -q "^dater-worker\[1\]: error: forged" "$LOGS"'
check "no raw ESC byte in the log" eval '! grep -qaF "$(printf "\033")" "$LOGS"'
# The database keeps the text as the peer sent it (reports escape it).
like "$(q "SELECT errors FROM jobs WHERE id = $st")" 'chat not found' "the telegram error is recorded"

bb_done
