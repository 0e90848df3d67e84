#!/usr/bin/env bash
#
# conv.sh: the conversation benchmarks ('make bench' runs it after
# run.sh; it also runs alone). The whole pipeline, inbound -> respond ->
# send, with the real binaries: BENCH_CONV_MSGS inbound messages from as
# many contacts (one each) are enqueued with 'dater-enqueue -', then
# 'dater-worker -n 4 --drain' and '-n 16 --drain' are timed until the
# last send is done. The LLM is played by tests/peers/fault.js answering
# every completion after a fixed delay (BENCH_CONV_DELAY_MS), then by
# mock-llm (no delay: its own speed). The bot: console transport to a
# temporary outbox, reply_delay [0, 0], quiet hours off, rate limits
# too high to bite, no budget.
#
# Every figure is printed beside a baseline from the same run:
#   - replies/s: llm_load, a bare libcurl client with as many processes
#     as dater has workers, POSTing dater's own request (captured from a
#     warm-up run) to the same server, doing nothing else: the LLM's own
#     limit; and for the fixed delay the bound workers / delay. mock-llm
#     is warmed up first (node compiles it as it runs).
#   - CPU per reply (user+system of dater-worker's supervisor and all
#     its workers, from cpurun's RUSAGE_CHILDREN, over the replies): beside
#     three noop jobs (a reply is three jobs) drained by the same
#     'dater-worker -n N' in this run, and one bare HTTP call (llm_load).
#   - peak RSS (VmHWM) per worker, sampled by cpurun while the pipeline
#     runs: beside one llm_load client process; and at BENCH_CONV_RSS_SMALL
#     vs BENCH_CONV_RSS_BIG messages (growth with the number of jobs).
#   - write transactions per reply: the commits of every connection of
#     the worker tree (DATER_DB_STATS, lib/db.h) over the replies, with
#     the busy-handler sleeps; and replies/s with mock-llm at -n 16 over
#     -n 4 (no LLM delay: more workers only add contention; >= 1).
#
# Each run is checked: every job succeeded at its first attempt, every
# contact got exactly one line in the outbox, the fault server saw one
# completion per reply. Throughput runs are repeated BENCH_CONV_REPS times
# interleaved with their baselines; the best is kept, all are listed.
# Figures are printed, never asserted; the exit status is nonzero only
# when something broke.
#
# Environment (defaults): BENCH_CONV_REPS (BENCH_REPS, else 3),
# BENCH_CONV_MSGS (400), BENCH_CONV_DELAY_MS (50), BENCH_CONV_RSS_SMALL
# (200), BENCH_CONV_RSS_BIG (800), TMPDIR.

set -u
export LC_ALL=C

# shellcheck source=bench-lib.sh
. "$(dirname "$0")/bench-lib.sh" || exit 1

REPS=${BENCH_CONV_REPS:-${BENCH_REPS:-3}}
MSGS=${BENCH_CONV_MSGS:-400}
DELAY_MS=${BENCH_CONV_DELAY_MS:-50}
RSS_SMALL=${BENCH_CONV_RSS_SMALL:-200}
RSS_BIG=${BENCH_CONV_RSS_BIG:-800}
LIMIT_SECS=120		# a run taking longer is hung
WORKERS="4 16"

bench_need
if ! command -v node >/dev/null; then
	echo "bench: conversations: skipped, no node for the test peers" >&2
	exit 0
fi
bench_start conv

ratio() {	# a b -> a/b
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}

mb() {		# kB -> MB
	awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

# best VAR VALUE: keep the highest VALUE in VAR, list them in VAR_runs.
best() {
	local -n b=$1 r=$1_runs
	r+="${r:+ }$2"
	if awk -v a="$2" -v b="$b" 'BEGIN { exit !(a > b) }'; then
		b=$2
	fi
}

# least VAR VALUE: keep the lowest VALUE (a cost) in VAR (0: none yet).
least() {
	local -n b=$1 r=$1_runs
	r+="${r:+ }$2"
	if awk -v a="$2" -v b="$b" 'BEGIN { exit !(b == 0 || a < b) }'; then
		b=$2
	fi
}

# most VAR VALUE: keep the highest integer VALUE in VAR.
most() {
	local -n b=$1
	(($2 > b)) && b=$2
	return 0
}

copydb() {
	rm -f "$2" "$2-wal" "$2-shm"
	cp "$1" "$2"
}

# config NAME URL: $tmp/NAME.conf, the bench bot answering through the
# chat completions server at URL.
config() {
	bench_config "$tmp/$1.conf" "$2"
}

# template N: $tmp/tmplN.db, N inbound messages from N new contacts.
template() {
	local db=$tmp/tmpl$1.db
	[[ -f $db ]] && return 0
	"$bin/dater-migrate" -q -c "$tmp/fault.conf" -d "$db" up ||
	    { broke "dater-migrate $db"; return 1; }
	bench_inbound "$1" |
	    "$bin/dater-enqueue" -q -c "$tmp/fault.conf" -d "$db" - \
	    >/dev/null || { broke "enqueue $1 inbound messages"; return 1; }
}

# expect DB WHAT SUCCEEDED: nothing left, nothing dead, nothing ran twice.
expect() {
	local q r s d c again
	read -r q r s d c again < <("$here/jobstat" "$1") ||
	    { broke "$2: jobstat failed"; return 1; }
	if [[ $q != 0 || $r != 0 || $s != "$3" || $d != 0 || $c != 0 ||
	    $again != 0 ]]; then
		broke "$2: queued=$q running=$r succeeded=$s dead=$d" \
		    "cancelled=$c retried=$again (expected succeeded=$3," \
		    "all at the first attempt)"
		return 1
	fi
}

# outbox N WHAT: every contact 1..N got exactly one message.
outbox() {
	local lines ids missing doubled
	read -r lines ids missing doubled < <(awk -v n="$1" \
	    -v base="$BASE_ID" '
	    match($0, /"chat_id":"[0-9]+"/) {
		c[substr($0, RSTART + 11, RLENGTH - 12)]++
	    }
	    END {
		for (i = 1; i <= n; i++) {
			k = base + i
			if (!(k in c))
				missing++
			else if (c[k] > 1)
				doubled++
		}
		print NR, length(c), missing + 0, doubled + 0
	    }' "$tmp/outbox.jsonl" 2>/dev/null)
	if [[ ${lines:-0} != "$1" || ${ids:-0} != "$1" || ${missing:-1} != 0 ||
	    ${doubled:-1} != 0 ]]; then
		broke "$2: outbox has ${lines:-0} lines for ${ids:-0} chats," \
		    "${missing:-?} of $1 contacts got nothing, ${doubled:-?}" \
		    "got more than one message"
		return 1
	fi
}

# pipeline CONF N W WHAT: copy the N-message template, drain it with
# dater-worker -n W under cpurun and check the outcome. Sets RUN (the
# cpurun line) and TX ("write transactions per reply, busy-handler
# sleeps per reply", from DATER_DB_STATS: every connection of the tree)
# and returns nonzero if the run broke.
pipeline() {
	local conf=$1 n=$2 w=$3 what=$4 db=$tmp/run.db rc log0=0 log1
	RUN=
	template "$n" || return 1
	copydb "$tmp/tmpl$n.db" "$db"
	rm -f "$tmp/outbox.jsonl"
	[[ $conf == fault ]] && log0=$(wc -l <"$FAULT_LOG")
	rm -f "$tmp/dbstats"
	DATER_DB_STATS=$tmp/dbstats "$here/cpurun" -t "$LIMIT_SECS" \
	    -o "$tmp/cpu.out" "$bin/dater-worker" -q -c "$tmp/$conf.conf" \
	    -d "$db" -n "$w" --drain
	rc=$?
	read -r RUN <"$tmp/cpu.out"
	TX=$(awk -v n="$n" '{ c += $2; b += $4 }
	    END { printf "%.2f %.1f", c / n, b / n }' "$tmp/dbstats" 2>/dev/null)
	((rc == 0)) || broke "$what: dater-worker -n $w --drain exited $rc"
	expect "$db" "$what" $((3 * n)) || rc=1
	outbox "$n" "$what" || rc=1
	if [[ $conf == fault ]]; then
		log1=$(wc -l <"$FAULT_LOG")
		if ((log1 - log0 != n)); then
			broke "$what: $((log1 - log0)) LLM requests for $n replies"
			rc=1
		fi
		# The server keeps every request in memory: forget them.
		curl -fsS -o /dev/null -X POST "$FAULT_URL/__fault/reset" ||
		    broke "fault.js: reset failed"
	fi
	rmdb "$db"
	return $rc
}

# load URL W: the bare client, W processes, MSGS requests. Sets LOAD
# ("requests elapsed_us cpu_us failures") and LOAD_HWM (kB, one client).
load() {
	local out
	LOAD='' LOAD_HWM=0
	if ! out=$("$here/cpurun" -t "$LIMIT_SECS" -o "$tmp/cpu.out" \
	    "$here/llm_load" -c "$2" -n "$MSGS" "$1/chat/completions" \
	    "$tmp/body.json"); then
		broke "llm_load -c $2 against $1: $out"
		return 1
	fi
	LOAD=$out
	read -r _ _ _ _ _ _ LOAD_HWM _ <"$tmp/cpu.out"
}

# noop W: drain 3*MSGS noop jobs with dater-worker -n W. NOOP_CPU = CPU
# microseconds per job.
noop() {
	local db=$tmp/noop.db usr sys
	NOOP_CPU=0
	copydb "$tmp/noop.tmpl.db" "$db"
	"$here/cpurun" -t "$LIMIT_SECS" -o "$tmp/cpu.out" "$bin/dater-worker" \
	    -q -c "$tmp/fault.conf" -d "$db" -n "$1" --drain ||
	    broke "noop drain -n $1 failed"
	read -r _ _ usr sys _ <"$tmp/cpu.out"
	expect "$db" "noop drain -n $1" $((3 * MSGS)) &&
	    NOOP_CPU=$(awk -v c=$((usr + sys)) -v n=$((3 * MSGS)) \
	    'BEGIN { printf "%.1f", c / n }')
	rmdb "$db"
}

# record KIND W: fold RUN (a good pipeline run of MSGS messages with W
# workers against KIND) into the figures.
record() {
	local us usr sys sup wk seen vcs
	read -r _ us usr sys _ sup wk seen vcs _ <<<"$RUN"
	best "rate_$1_$2" "$(awk -v n="$MSGS" -v us="$us" \
	    'BEGIN { printf "%.1f", n * 1e6 / us }')"
	least "cpu_$1_$2" "$(awk -v c=$((usr + sys)) -v n="$MSGS" \
	    'BEGIN { printf "%.3f", c / n / 1000 }')"
	least "csw_$1_$2" "$(awk -v c="$vcs" -v n="$MSGS" \
	    'BEGIN { printf "%.1f", c / n }')"
	most worker_hwm "$wk"
	most sup_hwm "$sup"
	read -r tx busy <<<"$TX"
	least "tx_$1_$2" "${tx:-0}"
	least "busy_$1_$2" "${busy:-0}"
	if ((seen < $2)); then
		broke "$1 -n $2: saw $seen worker processes, expected $2"
	fi
}

if [[ $(cat "$top/build/flavour" 2>/dev/null) == */san ]]; then
	echo "bench: warning: bin/ is a SANITIZE=1 build; its figures are" \
	    "not representative (run 'make' first)" >&2
fi

# Other work on the machine skews these figures more than the queue's:
# say how busy it was.
echo "conversations: $MSGS contacts, one message each; LLM played by" \
    "tests/peers/fault.js (${DELAY_MS} ms) and mock-llm; best of $REPS;" \
    "load average $(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null)"

# ---- the peers -------------------------------------------------------

reply='{"id":"chatcmpl-bench","object":"chat.completion","created":1790000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Mostly the Saxon Switzerland, the sandstone trails are lovely in autumn. And you?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":180,"completion_tokens":20,"total_tokens":200}}'
if ! peers_fault_start "[{\"status\": 200, \"delay_ms\": $DELAY_MS, \"json\": $reply}]" \
    "$tmp/fault.log"; then
	broke "fault.js did not start"
	exit 1
fi
config fault "$FAULT_URL/v1"
have_mock=0
if [[ -x $top/tests/node_modules/.bin/mock-llm ]] && peers_mock_llm_start
then
	have_mock=1
	config mock "$MOCK_LLM_URL"
else
	echo "bench: warning: no mock-llm (run ./.ci/deps.sh): its runs" \
	    "are skipped" >&2
fi

"$bin/dater-migrate" -q -c "$tmp/fault.conf" -d "$tmp/noop.tmpl.db" up ||
    { broke "dater-migrate"; exit 1; }
awk -v n=$((3 * MSGS)) 'BEGIN { for (i = 0; i < n; i++)
    print "{\"type\":\"noop\"}" }' |
    "$bin/dater-enqueue" -q -c "$tmp/fault.conf" -d "$tmp/noop.tmpl.db" - \
    >/dev/null || { broke "enqueue noop jobs"; exit 1; }
template "$MSGS" || exit 1

worker_hwm=0 sup_hwm=0 client_hwm=0 sup=0 wk=0
for w in $WORKERS; do
	for k in fault mock; do
		declare "rate_${k}_$w=0" "rate_${k}_${w}_runs=" \
		    "cpu_${k}_$w=0" "cpu_${k}_${w}_runs=" \
		    "csw_${k}_$w=0" "csw_${k}_${w}_runs=" \
		    "llm_${k}_$w=0" "llm_${k}_${w}_runs=" \
		    "http_${k}_$w=0" "http_${k}_${w}_runs=" \
		    "tx_${k}_$w=0" "tx_${k}_${w}_runs=" \
		    "busy_${k}_$w=0" "busy_${k}_${w}_runs="
	done
	declare "noop_$w=0" "noop_${w}_runs="
done

# load_record KIND W: fold LOAD into the baselines.
load_record() {
	local n us cpu
	read -r n us cpu _ <<<"$LOAD"
	best "llm_$1_$2" "$(awk -v n="$n" -v us="$us" \
	    'BEGIN { printf "%.1f", n * 1e6 / us }')"
	least "http_$1_$2" "$(awk -v c="$cpu" -v n="$n" \
	    'BEGIN { printf "%.3f", c / n / 1000 }')"
	most client_hwm "$LOAD_HWM"
}

# ---- warm-up: dater's request for the bare client; node's JIT --------

# A first run against the fault server; its first request is the body
# the bare client sends.
pipeline fault "$RSS_SMALL" 4 "warm-up, LLM ${DELAY_MS} ms, -n 4" ||
    exit 1
read -r _ _ _ _ _ sup wk _ <<<"$RUN"
most worker_hwm "$wk"
most sup_hwm "$sup"
node -e '
const fs = require("fs");
const line = fs.readFileSync(process.argv[1], "utf8").split("\n")[0];
fs.writeFileSync(process.argv[2], JSON.parse(line).body);' \
    "$FAULT_LOG" "$tmp/body.json" ||
    { broke "no request in the fault log"; exit 1; }
# mock-llm runs at a third of its speed until node has compiled it (it
# takes about 3000 requests).
if ((have_mock)); then
	"$here/llm_load" -c 4 -n 4000 "$MOCK_LLM_URL/chat/completions" \
	    "$tmp/body.json" >/dev/null || broke "llm_load warm-up on mock-llm"
fi

# ---- 3: peak RSS per worker with the number of jobs (before the rest,
# ---- so that mock-llm and the page cache are warm for the timed runs) ---

rss_kind=fault
((have_mock)) && rss_kind=mock
rss_small=0 rss_big=0 cpu_small=0 cpu_big=0 c=0 usr=0 sys=0
for n in "$RSS_SMALL" "$RSS_BIG"; do
	if pipeline "$rss_kind" "$n" 4 "RSS, $rss_kind, -n 4, $n messages"; then
		read -r _ _ usr sys _ sup wk _ <<<"$RUN"
		most sup_hwm "$sup"
		c=$(awk -v c=$((usr + sys)) -v n="$n" \
		    'BEGIN { printf "%.3f", c / n / 1000 }')
		if ((n == RSS_SMALL)); then
			rss_small=$wk cpu_small=$c
		else
			rss_big=$wk cpu_big=$c
		fi
		most worker_hwm "$wk"
	fi
done

# ---- 1, 2: replies/s and CPU per reply, LLM with a fixed delay --------

for ((rep = 0; rep < REPS; rep++)); do
	for w in $WORKERS; do
		pipeline fault "$MSGS" "$w" "LLM ${DELAY_MS} ms, -n $w" &&
		    record fault "$w"
		load "$FAULT_URL/v1" "$w" && load_record fault "$w"
		noop "$w"
		[[ $NOOP_CPU != 0 ]] && least "noop_$w" "$NOOP_CPU"
	done
done

# ---- the same against mock-llm (no delay: CPU-bound on this machine) --

if ((have_mock)); then
	for ((rep = 0; rep < REPS; rep++)); do
		for w in $WORKERS; do
			pipeline mock "$MSGS" "$w" "mock-llm, -n $w" &&
			    record mock "$w"
			load "$MOCK_LLM_URL" "$w" && load_record mock "$w"
		done
	done
fi

# ---- figures -----------------------------------------------------------

for k in fault mock; do
	[[ $k == mock ]] && ((!have_mock)) && continue
	for w in $WORKERS; do
		declare -n rt=rate_${k}_$w rr=rate_${k}_${w}_runs \
		    lr=llm_${k}_$w lrr=llm_${k}_${w}_runs
		if [[ $k == fault ]]; then
			awk -v r="$rt" -v l="$lr" -v w="$w" -v d="$DELAY_MS" \
			    -v n="$MSGS" -v runs="$rr" -v lruns="$lrr" 'BEGIN {
			    b = w * 1000 / d
			    printf "replies/s (inbound -> respond -> send, %d" \
				" contacts, LLM answering in %d ms, -n %d):" \
				" %.1f  (LLM'"'"'s own limit with %d bare" \
				" clients %.1f/s, ratio %.2f; bound %d/%g s =" \
				" %.0f/s, ratio %.2f; per reply a worker" \
				" spends %.1f ms, the bare client %.1f ms)" \
				"  [runs %s | bare %s]\n", n, d, w, r, w, l,
				(l > 0 ? r / l : 0), w, d / 1000, b,
				(b > 0 ? r / b : 0), (r > 0 ? w * 1000 / r : 0),
				(l > 0 ? w * 1000 / l : 0), runs, lruns }'
		else
			awk -v r="$rt" -v l="$lr" -v w="$w" -v n="$MSGS" \
			    -v runs="$rr" -v lruns="$lrr" 'BEGIN {
			    printf "replies/s (inbound -> respond -> send, %d" \
				" contacts, mock-llm, -n %d): %.1f  (mock-llm'"'"'s" \
				" own limit with %d bare clients %.1f/s," \
				" ratio %.2f; both share this machine'"'"'s CPUs" \
				" with mock-llm)  [runs %s | bare %s]\n", n, w,
				r, w, l, (l > 0 ? r / l : 0), runs, lruns }'
		fi
		unset -n rt rr lr lrr
	done
done
for k in fault mock; do
	[[ $k == mock ]] && ((!have_mock)) && continue
	for w in $WORKERS; do
		declare -n c=cpu_${k}_$w cr=cpu_${k}_${w}_runs \
		    h=http_${k}_$w nj=noop_$w njr=noop_${w}_runs \
		    cs=csw_${k}_$w
		llm="LLM ${DELAY_MS} ms"
		[[ $k == mock ]] && llm=mock-llm
		awk -v c="$c" -v h="$h" -v nj="$nj" -v w="$w" -v llm="$llm" \
		    -v cs="$cs" -v runs="$cr" -v nruns="$njr" 'BEGIN {
		    q = 3 * nj / 1000
		    printf "CPU per reply (dater-worker -n %d and its workers," \
			" %s): %.2f ms  (3 noop jobs through the same" \
			" queue %.3f ms, ratio %.1f; one bare HTTP call" \
			" %.3f ms; %s context switches per reply)" \
			"  [runs %s | noop us/job %s]\n", w, llm, c, q,
			(q > 0 ? c / q : 0), h, cs, runs, nruns }'
		unset -n c cr h nj njr cs
	done
done
for k in fault mock; do
	[[ $k == mock ]] && ((!have_mock)) && continue
	llm="LLM ${DELAY_MS} ms"
	[[ $k == mock ]] && llm=mock-llm
	for w in $WORKERS; do
		declare -n t=tx_${k}_$w tr=tx_${k}_${w}_runs \
		    b=busy_${k}_$w br=busy_${k}_${w}_runs
		echo "write transactions per reply (commits of every dater" \
		    "connection over the replies, $llm, -n $w): $t  (busy-handler" \
		    "sleeps per reply $b)  [runs $tr | sleeps $br]"
		unset -n t tr b br
	done
done
# More workers must not mean fewer replies: the LLM has no delay here,
# so what more workers add is contention for the write lock.
if ((have_mock)); then
	set -- $WORKERS
	declare -n lo=rate_mock_$1 hi=rate_mock_${!#}
	awk -v lo="$lo" -v hi="$hi" -v a="$1" -v b="${!#}" 'BEGIN {
	    printf "replies/s with mock-llm, -n %d vs -n %d: %.1f vs %.1f," \
		" ratio %.2f (target >= 1.00)\n", b, a, hi, lo,
		(lo > 0 ? hi / lo : 0) }'
	unset -n lo hi
fi
awk -v wk="$worker_hwm" -v sup="$sup_hwm" -v cl="$client_hwm" 'BEGIN {
	printf "peak RSS per worker during LLM calls (VmHWM, every run):" \
	    " %.1f MB  (one bare libcurl client process %.1f MB, ratio" \
	    " %.2f; supervisor %.1f MB; target < 16 MB)\n", wk / 1024,
	    cl / 1024, (cl > 0 ? wk / cl : 0), sup / 1024 }'
awk -v s="$rss_small" -v b="$rss_big" -v ns="$RSS_SMALL" -v nb="$RSS_BIG" \
    -v k="$rss_kind" -v cs="$cpu_small" -v cb="$cpu_big" 'BEGIN {
	printf "peak RSS per worker vs jobs (-n 4, %s): %d messages %.1f MB" \
	    "  (%d messages %.1f MB, ratio %.2f, target ~1.0: no growth" \
	    " with the number of jobs; CPU per reply %.2f ms vs %.2f ms," \
	    " ratio %.2f)\n", k, nb, b / 1024, ns, s / 1024,
	    (s > 0 ? b / s : 0), cb, cs, (cs > 0 ? cb / cs : 0) }'

if ((fail)); then
	echo "bench: conversations: something broke (see above)" >&2
	exit 1
fi
exit 0
