# telegram.sh: the telegram-test-api emulator for shell tests, on top of
# peers.sh (source that first; it stops this peer too):
#
#   . tests/peers/peers.sh
#   . tests/peers/telegram.sh
#   trap peers_stop_all EXIT
#   trap 'exit 1' INT TERM HUP
#   peers_telegram_start [LOG]      # sets TELEGRAM_URL, TELEGRAM_PID
#   export ANNA_TG_TOKEN=123456:test-token
#   ... transport = { driver = "telegram"; base_url = "$TELEGRAM_URL";
#                     token_env = "ANNA_TG_TOKEN"; } ...
#   peers_telegram_say "$ANNA_TG_TOKEN" 4242 "hello there" \
#       '{"id": 4242, "first_name": "Ann", "username": "ann"}'
#   dater-enqueue poll '{"bot": "anna"}'; dater-worker --drain
#   peers_telegram_read "$ANNA_TG_TOKEN" 4242 > replies.jsonl
#   peers_stop "$TELEGRAM_PID"      # or peers_stop_all
#
# peers_telegram_start [LOG]
#	tests/peers/telegram.js on 127.0.0.1 and a free port. TELEGRAM_URL
#	is the base_url for dater (http://127.0.0.1:PORT), TELEGRAM_PID its
#	process group for peers_stop. LOG, if given, gets one JSON line per
#	request served: {"method", "path", "status"} (the path holds the
#	token: use test tokens only). Returns 1 if it does not come up
#	within PEERS_WAIT_S.
# peers_telegram_say TOKEN CHAT_ID TEXT [FROM]
#	The person in chat CHAT_ID (a private chat) sends TEXT to the bot
#	with token TOKEN. FROM is the Telegram "from" object as JSON
#	(default {"id": CHAT_ID, "is_bot": false, "first_name": "Test"});
#	the message's date is now. The bot sees it in getUpdates once.
# peers_telegram_read TOKEN CHAT_ID
#	Prints what the bot sent to CHAT_ID since the last read, one JSON
#	line per message: {"chat_id", "text", "message_id", "time"} (time in
#	ms). The emulator hands out each message once, so "exactly once" is:
#	one line now, and none on the next read.
#
# Needs node and tests/node_modules (./.ci/deps.sh); never the network.

if [ -z "${PEERS_DIR:-}" ] || ! command -v peers_spawn >/dev/null 2>&1; then
	echo "telegram.sh: source tests/peers/peers.sh first" >&2
	return 1
fi

peers_telegram_start() {
	peers_tmp || return 1
	if [ $# -ge 1 ]; then
		TELEGRAM_LOG=$1
		case $TELEGRAM_LOG in
		/*) ;;
		*) TELEGRAM_LOG=$(pwd)/$TELEGRAM_LOG ;;
		esac
		set -- --log "$TELEGRAM_LOG"
	fi
	peers_spawn telegram "$PEERS_DIR" node telegram.js "$@" || return 1
	_pid=$PEERS_LAST
	_n=0
	while peers_alive "$_pid" && [ $_n -lt $((PEERS_WAIT_S * 100)) ]; do
		_port=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$PEERS_OUT")
		if [ -n "$_port" ]; then
			TELEGRAM_PID=$_pid
			TELEGRAM_URL="http://127.0.0.1:$_port"
			export TELEGRAM_PID TELEGRAM_URL
			return 0
		fi
		_n=$((_n + 1))
		sleep 0.01
	done
	peers_stop "$_pid"
	echo "peers: telegram.js did not start:" >&2
	cat "$PEERS_OUT" >&2
	return 1
}

# _peers_telegram_post PATH JSON: POST JSON to the emulator's user side
# and print the reply's body; 1 unless it answers {"ok": true}.
_peers_telegram_post() {
	node -e '
const [url, body] = process.argv.slice(1);
fetch(url, { method: "POST", body,
    headers: { "Content-Type": "application/json" },
    signal: AbortSignal.timeout(10000) })
	.then(async (r) => {
		const t = await r.text();
		let ok = false;
		try { ok = JSON.parse(t).ok === true; } catch (e) { }
		if (!r.ok || !ok) {
			process.stderr.write(`telegram.sh: ${r.status}: ${t}\n`);
			process.exit(1);
		}
		process.stdout.write(t);
	})
	.catch((e) => {
		process.stderr.write(`telegram.sh: ${e.message}\n`);
		process.exit(1);
	});' "$TELEGRAM_URL$1" "$2"
}

peers_telegram_say() {
	[ $# -ge 3 ] || { echo "usage: peers_telegram_say TOKEN CHAT_ID" \
	    "TEXT [FROM]" >&2; return 1; }
	[ -n "${TELEGRAM_URL:-}" ] || { echo "telegram.sh: not started" >&2;
	    return 1; }
	_body=$(node -e '
const [token, chat, text, from] = process.argv.slice(1);
const id = /^-?[0-9]+$/.test(chat) ? Number(chat) : chat;
const f = from ? JSON.parse(from) :
    { id, is_bot: false, first_name: "Test" };
process.stdout.write(JSON.stringify({ botToken: token, from: f,
    chat: { id, type: "private" }, text,
    date: Math.floor(Date.now() / 1000) }));' "$1" "$2" "$3" "${4:-}") ||
	    return 1
	_peers_telegram_post /sendMessage "$_body" >/dev/null
}

peers_telegram_read() {
	[ $# -eq 2 ] || { echo "usage: peers_telegram_read TOKEN CHAT_ID" >&2;
	    return 1; }
	[ -n "${TELEGRAM_URL:-}" ] || { echo "telegram.sh: not started" >&2;
	    return 1; }
	_body=$(node -e '
const [token, chat] = process.argv.slice(1);
process.stdout.write(JSON.stringify({ token, chatId: chat }));' "$1" "$2") ||
	    return 1
	_peers_telegram_post /getUpdates "$_body" | node -e '
let s = "";
process.stdin.on("data", (c) => { s += c; });
process.stdin.on("end", () => {
	for (const u of JSON.parse(s).result)
		process.stdout.write(JSON.stringify({ chat_id: u.message.chat_id,
		    text: u.message.text, message_id: u.messageId,
		    time: u.time }) + "\n");
});'
}
