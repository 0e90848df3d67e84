#!/usr/bin/env bash
#
# mixed.sh: conversations under a flood ('make bench' runs it after
# conv.sh; it also runs alone). BENCH_MIXED_NOOPS no-op jobs and
# BENCH_MIXED_CONVS inbound messages (one per contact, enqueued with
# 'dater-enqueue -' after the flood, as a console or webhook receiver
# does) are in the queue when 'dater-worker -n BENCH_MIXED_WORKERS
# --drain' starts; the LLM is mock-llm (no delay), the transport the
# console. A reply's latency is from the start of the workers to its
# message's sent_at. The baseline, in the same run: the same
# conversations with no flood. Reported: p50, p99 and the last reply,
# flood vs alone, how long the flood took to drain, and how many replies
# went out before the last no-op job was done: with conversations
# starved, none (they wait behind the whole flood).
#
# Each run is checked: every job succeeded at its first attempt, every
# contact got exactly one line in the outbox. Figures are printed, never
# asserted; the exit status is nonzero only when something broke.
#
# Environment (defaults): BENCH_MIXED_NOOPS (10000), BENCH_MIXED_CONVS
# (400), BENCH_MIXED_WORKERS (4), BENCH_MIXED_REPS (BENCH_REPS, else 1:
# the best p50 of each kind is kept, all are listed), TMPDIR.

set -u
export LC_ALL=C

# shellcheck source=bench-lib.sh
. "$(dirname "$0")/bench-lib.sh" || exit 1

NOOPS=${BENCH_MIXED_NOOPS:-10000}
CONVS=${BENCH_MIXED_CONVS:-400}
W=${BENCH_MIXED_WORKERS:-4}
REPS=${BENCH_MIXED_REPS:-${BENCH_REPS:-1}}
LIMIT_SECS=300		# a run taking longer is hung

bench_need
if ! command -v node >/dev/null || ! command -v sqlite3 >/dev/null; then
	echo "bench: mixed load: skipped, needs node (the peers) and sqlite3" >&2
	exit 0
fi
if [[ ! -x $top/tests/node_modules/.bin/mock-llm ]]; then
	echo "bench: mixed load: skipped, no mock-llm (run ./.ci/deps.sh)" >&2
	exit 0
fi
bench_start mixed

peers_mock_llm_start || { broke "mock-llm did not start"; exit 1; }
bench_config "$tmp/mixed.conf" "$MOCK_LLM_URL"

# enqueue DB: one batch from stdin.
enqueue() {
	"$bin/dater-enqueue" -q -c "$tmp/mixed.conf" -d "$1" - >/dev/null
}

conversations() {
	bench_inbound "$CONVS"
}

# The templates: the conversations alone, and after the flood.
for kind in alone flood; do
	db=$tmp/$kind.tmpl.db
	"$bin/dater-migrate" -q -c "$tmp/mixed.conf" -d "$db" up ||
	    { broke "dater-migrate"; exit 1; }
	if [[ $kind == flood ]]; then
		awk -v n="$NOOPS" 'BEGIN { for (i = 0; i < n; i++)
		    print "{\"type\":\"noop\"}" }' | enqueue "$db" ||
		    { broke "enqueue $NOOPS noop jobs"; exit 1; }
	fi
	conversations | enqueue "$db" ||
	    { broke "enqueue $CONVS inbound messages"; exit 1; }
done
prio_noop=$(sqlite3 "$tmp/flood.tmpl.db" \
    "SELECT priority FROM jobs WHERE type = 'noop' LIMIT 1")
prio_inbound=$(sqlite3 "$tmp/flood.tmpl.db" \
    "SELECT priority FROM jobs WHERE type = 'inbound' LIMIT 1")

# mock-llm runs at a third of its speed until node has compiled it.
echo '{"model":"bench-model","messages":[{"role":"user","content":"Hi! Where do you usually go on weekends?"}]}' \
    >"$tmp/body.json"
"$here/llm_load" -c 4 -n 4000 "$MOCK_LLM_URL/chat/completions" \
    "$tmp/body.json" >/dev/null || broke "llm_load warm-up on mock-llm"

echo "mixed load: $CONVS conversations (inbound -> respond -> send," \
    "mock-llm, console) with and without $NOOPS noop jobs in the queue," \
    "dater-worker -n $W; priorities: inbound $prio_inbound, noop" \
    "$prio_noop; load average $(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null)"

# run KIND: drain a copy of the KIND template; sets FIG ("p50 p99 max
# flood_ms before" in ms, before = replies sent before the last noop
# job finished) or returns nonzero if the run broke.
run() {
	local db=$tmp/run.db t0 rc q r s d c again lines want
	FIG=
	rmdb "$db"
	cp "$tmp/$1.tmpl.db" "$db"
	rm -f "$tmp/outbox.jsonl"
	t0=$(date +%s%3N)
	"$here/cpurun" -t "$LIMIT_SECS" -o "$tmp/cpu.out" "$bin/dater-worker" \
	    -q -c "$tmp/mixed.conf" -d "$db" -n "$W" --drain
	rc=$?
	((rc == 0)) || { broke "$1: dater-worker -n $W --drain exited $rc"; return 1; }
	want=$((3 * CONVS))
	[[ $1 == flood ]] && want=$((want + NOOPS))
	read -r q r s d c again < <("$here/jobstat" "$db")
	if [[ $q != 0 || $r != 0 || $s != "$want" || $d != 0 || $c != 0 ||
	    $again != 0 ]]; then
		broke "$1: queued=$q running=$r succeeded=$s dead=$d" \
		    "cancelled=$c retried=$again (expected succeeded=$want)"
		return 1
	fi
	lines=$(awk 'match($0, /"chat_id":"[0-9]+"/) {
		c[substr($0, RSTART + 11, RLENGTH - 12)]++ }
	    END { print NR, length(c) }' "$tmp/outbox.jsonl")
	if [[ $lines != "$CONVS $CONVS" ]]; then
		broke "$1: outbox has $lines (lines, chats), expected $CONVS each"
		return 1
	fi
	FIG=$(sqlite3 "$db" "
	    SELECT sent_at - $t0 FROM messages
	     WHERE direction = 'out' AND status = 'sent' ORDER BY 1;
	    SELECT 'noop ' || coalesce(max(finished_at) - $t0, 0)
	     FROM jobs WHERE type = 'noop';" | awk '
	    /^noop / { flood = $2; next }
	    { v[n++] = $1 }
	    END {
		before = 0
		for (i = 0; i < n; i++)
			if (v[i] < flood)
				before++
		p50 = v[int((n - 1) * 0.50)]
		p99 = v[int((n - 1) * 0.99)]
		print p50, p99, v[n - 1], flood, before
	    }')
	rmdb "$db"
	[[ -n $FIG ]]
}

best_alone= best_flood= runs_alone= runs_flood=
for ((rep = 0; rep < REPS; rep++)); do
	for kind in alone flood; do
		run "$kind" || continue
		declare -n b=best_$kind r=runs_$kind
		r+="${r:+ | }$FIG"
		if [[ -z $b ]] || (($(cut -d ' ' -f 1 <<<"$FIG") <
		    $(cut -d ' ' -f 1 <<<"$b"))); then
			b=$FIG
		fi
		unset -n b r
	done
done

if [[ -n $best_alone && -n $best_flood ]]; then
	read -r ap50 ap99 amax _ _ <<<"$best_alone"
	read -r fp50 fp99 fmax flood before <<<"$best_flood"
	awk -v ap50="$ap50" -v ap99="$ap99" -v amax="$amax" -v fp50="$fp50" \
	    -v fp99="$fp99" -v fmax="$fmax" -v flood="$flood" \
	    -v before="$before" -v n="$CONVS" -v nn="$NOOPS" \
	    -v ra="$runs_alone" -v rf="$runs_flood" 'BEGIN {
	    printf "reply latency under a flood of %d noop jobs (%d" \
		" conversations, from the workers'"'"' start): p50 %.2f s," \
		" p99 %.2f s, last %.2f s  (alone: p50 %.2f s, p99 %.2f s," \
		" last %.2f s; ratio p50 %.2f, p99 %.2f)\n", nn, n,
		fp50 / 1000, fp99 / 1000, fmax / 1000, ap50 / 1000,
		ap99 / 1000, amax / 1000, (ap50 > 0 ? fp50 / ap50 : 0),
		(ap99 > 0 ? fp99 / ap99 : 0)
	    printf "starved by the flood: %s  (%d of %d replies went out" \
		" before the last noop job was done at %.2f s)" \
		"  [p50 p99 last flood before, ms: alone %s; flood %s]\n",
		(before < n / 2 ? "yes" : "no"), before, n, flood / 1000,
		ra, rf }'
fi

if ((fail)); then
	echo "bench: mixed load: something broke (see above)" >&2
	exit 1
fi
exit 0
