#!/usr/bin/env bash
#
# botmem.sh: what the number of bots costs a worker ('make bench' runs it
# after conv.sh; it also runs alone). Two configurations that differ only
# in the number of bots: 1, and BENCH_BOTS (200), each bot a persona of
# about BENCH_BOT_PERSONA (600) bytes, a console transport and a few
# policy overrides. With each, 'dater-worker -n 1 --drain' runs
# BENCH_BOT_JOBS (500) noop jobs and one conversation (inbound -> respond
# -> send, offline LLM) to the last bot; cpurun samples the worker
# process's peak RSS (VmHWM).
#
# Printed: the worker's peak RSS with 1 and with BENCH_BOTS bots, their
# ratio, the growth in KB beside the size of the configuration file
# (the target: the growth is no more than the file), and the same for
# the supervisor. Figures are printed, never asserted; the exit status is
# nonzero only when something broke (a run failed, a job did not
# succeed).
#
# Environment (defaults): BENCH_BOTS (200), BENCH_BOT_PERSONA (600),
# BENCH_BOT_JOBS (500), TMPDIR.

set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=$top/bin

BOTS=${BENCH_BOTS:-200}
PERSONA=${BENCH_BOT_PERSONA:-600}
JOBS=${BENCH_BOT_JOBS:-500}
LIMIT_SECS=120

for p in "$bin/dater-migrate" "$bin/dater-enqueue" "$bin/dater-worker" \
    "$here/cpurun"; do
	if [[ ! -x $p ]]; then
		echo "botmem: $p missing: run 'make bench' from the top" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dater-botmem.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
unset DATER_CONFIG DATER_DB
fail=0

broke() {
	echo "botmem: BROKEN: $*" >&2
	fail=1
}

# conf N FILE: a configuration with N bots.
conf() {
	local n=$1 f=$2 i words
	words=$(printf 'You are a warm, curious person who likes long walks, %.0s' \
	    $(seq 1 $((PERSONA / 54 + 1))) | cut -c1-"$PERSONA")
	{
		echo 'log_level = "warn";'
		echo 'llm = { provider = "offline"; };'
		echo 'defaults = { reply_delay = [0, 0]; quiet_hours = "off"; };'
		echo 'bots = ('
		for ((i = 1; i <= n; i++)); do
			printf '  { name = "bot%d"; persona = "Bot %d. %s";\n' \
			    "$i" "$i" "$words"
			printf '    transport = { driver = "console"; path = "%s/out.jsonl"; };\n' \
			    "$tmp"
			printf '    max_per_hour = %d; timezone = "Europe/Berlin"; }%s\n' \
			    $((i + 10)) "$([[ $i -lt $n ]] && echo ,)"
		done
		echo ');'
	} >"$f"
}

# measure N: KB of the config, worker and supervisor peak RSS in W and S.
measure() {
	local n=$1 d=$tmp/n$1 line
	mkdir -p "$d"
	conf "$n" "$d/dater.conf"
	CONF_KB=$(( ($(stat -c %s "$d/dater.conf") + 1023) / 1024 ))
	"$bin/dater-migrate" -q -c "$d/dater.conf" -d "$d/db" up ||
	    { broke "migrate ($n bots)"; return 1; }
	{
		for ((i = 0; i < JOBS; i++)); do
			echo '{"type": "noop", "payload": {}}'
		done
		printf '{"type": "inbound", "payload": {"bot": "bot%d", "platform_id": "p1", "message_id": "m1", "text": "hi"}}\n' "$n"
	} | "$bin/dater-enqueue" -q -c "$d/dater.conf" -d "$d/db" - >/dev/null ||
	    { broke "enqueue ($n bots)"; return 1; }
	"$here/cpurun" -o "$d/cpu" -t "$LIMIT_SECS" "$bin/dater-worker" -q \
	    -c "$d/dater.conf" -d "$d/db" -n 1 --drain ||
	    { broke "dater-worker --drain ($n bots)"; return 1; }
	# A respond may wait for its reply delay: drain again (bounded).
	for ((i = 0; i < 50; i++)); do
		[[ $(sqlite3 "$d/db" "SELECT count(*) FROM jobs WHERE state != 'succeeded'") == 0 ]] &&
		    break
		"$bin/dater-worker" -q -c "$d/dater.conf" -d "$d/db" -n 1 --drain
		sleep 0.1
	done
	[[ $(sqlite3 "$d/db" "SELECT count(*) FROM jobs WHERE type = 'send' AND state = 'succeeded'") == 1 ]] ||
	    broke "the reply of bot$n was not sent ($n bots)"
	# cpurun's line: status elapsed_us user_us sys_us tree_maxrss_kb
	# child_hwm_kb (the supervisor) grandchild_hwm_kb (the worker) ...
	read -r line <"$d/cpu"
	set -- $line
	S=$6 W=$7
	[[ ${W:-0} -gt 0 ]] || broke "cpurun never saw the worker ($n bots)"
}

measure 1 || exit 1
w1=$W s1=$S c1=$CONF_KB
measure "$BOTS" || exit 1
wn=$W sn=$S cn=$CONF_KB
awk -v w1="$w1" -v wn="$wn" -v s1="$s1" -v sn="$sn" -v c1="$c1" \
    -v cn="$cn" -v n="$BOTS" 'BEGIN {
	printf "peak RSS of one worker: 1 bot %.1f MB, %d bots %.1f MB" \
	    "  (ratio %.2f; growth %d KB beside a config of %d KB, %d KB" \
	    " more than with 1 bot; target: growth <= config)\n",
	    w1 / 1024, n, wn / 1024, (w1 > 0 ? wn / w1 : 0), wn - w1, cn,
	    cn - c1
	printf "peak RSS of the supervisor: 1 bot %.1f MB, %d bots %.1f MB" \
	    "  (ratio %.2f)\n", s1 / 1024, n, sn / 1024,
	    (s1 > 0 ? sn / s1 : 0) }'
exit $fail
