# bench-lib.sh: what the conversation benchmarks (conv.sh, mixed.sh)
# share, sourced by both: the paths, the programs they need, the peers
# and the temporary directory with their cleanup, the bench bot's
# configuration and its inbound messages.
#
# Sets here (tests/bench), top (the tree), bin, fail (0; broke sets 1)
# and tmp (set by bench_start).
# shellcheck shell=bash

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=$top/bin
BASE_ID=100000		# contact i has platform id BASE_ID + i

fail=0
tmp=

# bench_need: exit 1 unless the dater programs and the baselines a
# conversation benchmark runs are built.
bench_need() {
	local p
	for p in "$bin/dater-migrate" "$bin/dater-enqueue" \
	    "$bin/dater-worker" "$here/jobstat" "$here/cpurun" \
	    "$here/llm_load"; do
		if [[ ! -x $p ]]; then
			echo "bench: $p missing: run 'make bench' from the top" >&2
			exit 1
		fi
	done
}

# bench_start NAME: the peers' helpers (tests/peers/peers.sh), a fresh
# $tmp (dater-bench-NAME.*) removed with the peers at exit, and no
# DATER_DB/DATER_CONFIG from the caller's environment.
bench_start() {
	# shellcheck source=../peers/peers.sh
	. "$top/tests/peers/peers.sh" || exit 1
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/dater-bench-$1.XXXXXX") || exit 1
	unset DATER_DB DATER_CONFIG
}

bench_cleanup() {
	peers_stop_all
	[[ -n $tmp ]] && rm -rf "$tmp"
}

broke() {
	echo "bench: BROKEN: $*" >&2
	fail=1
}

rmdb() {
	rm -f "$1" "$1-wal" "$1-shm"
}

# bench_config FILE URL: the bot "bench" answering through the chat
# completions server at URL (base_url, ending in /v1); console transport
# to $tmp/outbox.jsonl, reply_delay [0, 0], quiet hours off, rate limits
# too high to bite, no budget.
bench_config() {
	cat >"$1" <<EOF
synchronous = "normal";
busy_timeout = "5s";
log_level = "warn";
fields = "$top/etc/fields.json";
llm = {
	provider = "openai";
	base_url = "$2";
	model = "bench-model";
	api_key_env = "";
	timeout = "30s";
	max_completion_tokens = 400;
};
defaults = {
	reply_delay = [0, 0];
	quiet_hours = "off";
	max_per_hour = 100000;
	max_per_chat_hour = 100000;
	daily_budget_usd = 0.0;
};
bots = (
	{
		name = "bench";
		transport = { driver = "console"; path = "$tmp/outbox.jsonl"; };
		persona = "You are Kim, 31, a baker in Leipzig who likes hiking, old films and long breakfasts.";
	}
);
EOF
}

# bench_inbound N: N lines for 'dater-enqueue -', one inbound message
# from each of N new contacts (platform ids BASE_ID + 1 .. BASE_ID + N).
bench_inbound() {
	awk -v n="$1" -v base="$BASE_ID" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "{\"type\":\"inbound\",\"payload\":{\"bot\":" \
			    "\"bench\",\"platform_id\":\"%d\",\"message_id\":" \
			    "\"m%d\",\"name\":\"Contact %d\",\"text\":\"Hi! " \
			    "I saw you like hiking too. Where do you usually " \
			    "go on weekends?\"}}\n", base + i, i, i }'
}
