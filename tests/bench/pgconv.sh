#!/usr/bin/env bash
#
# pgconv.sh: the conversation pipeline on PostgreSQL beside SQLite
# (issue 12; 'make bench' runs it as the part pg-conv, on run.sh's
# cluster). BENCH_PGCONV_MSGS inbound messages from as many contacts
# are enqueued with 'dater-enqueue -' into a SQLite file and into a
# PostgreSQL database; 'dater-worker -n 4 --drain' drains a fresh copy
# of each, the two alternating BENCH_CONV_REPS times, against one
# mock-llm (warmed up first: node compiles it as it runs). The bot and
# its settings are conv.sh's (bench-lib.sh).
#
# Printed: replies/s (the best run) and the p50 reply latency, from the
# workers' start to a reply's sent_at (the best run's p50), on
# PostgreSQL beside SQLite, and their ratios. Each run is checked: every
# job succeeded at its first attempt, every contact got exactly one
# reply in the outbox.
#
#   pgconv.sh CLUSTER_DIR    a cluster from 'tests/pg-cluster.sh start'
#   pgconv.sh                starts (and stops) one of its own
#
# Environment (defaults): BENCH_CONV_REPS (BENCH_REPS, else 3),
# BENCH_PGCONV_MSGS (400), BENCH_PGCONV_WARM (2000: warm-up replies on
# SQLite before the timed runs), TMPDIR.

set -u
export LC_ALL=C

# shellcheck source=bench-lib.sh
. "$(dirname "$0")/bench-lib.sh" || exit 1

REPS=${BENCH_CONV_REPS:-${BENCH_REPS:-3}}
MSGS=${BENCH_PGCONV_MSGS:-400}
WARM=${BENCH_PGCONV_WARM:-2000}
LIMIT_SECS=120		# a run taking longer is hung
W=4

bench_need
if ! command -v node >/dev/null ||
    [[ ! -x $top/tests/node_modules/.bin/mock-llm ]]; then
	echo "bench: pg-conv: skipped, no node or mock-llm (./.ci/deps.sh)" >&2
	exit 0
fi
if ! "$top/tests/pg-cluster.sh" available; then
	echo "bench: pg-conv: skipped, no PostgreSQL here"
	exit 0
fi
bench_start pgconv
pgdir=${1:-}
own_cluster=0
cleanup() {
	bench_cleanup
	((own_cluster)) && "$top/tests/pg-cluster.sh" stop "$pgdir"
}
trap cleanup EXIT
if [[ -z $pgdir ]]; then
	pgdir=$(mktemp -d "${TMPDIR:-/tmp}/dater-pgconv.XXXXXX") || exit 1
	own_cluster=1
	"$top/tests/pg-cluster.sh" start "$pgdir" >/dev/null ||
	    { broke "tests/pg-cluster.sh start failed"; exit 1; }
fi
pg_admin=$("$top/tests/pg-cluster.sh" uri "$pgdir" postgres)

pg_sql() {
	PGOPTIONS='-c client_min_messages=warning' \
	    psql -X -q -v ON_ERROR_STOP=1 "$pg_admin" -c "$1" >/dev/null ||
	    { broke "psql: $1"; return 1; }
}

# sql DB SQL: the rows of SQL on DB (a file or a postgresql:// URI),
# columns separated by spaces.
sql() {
	if [[ $1 == postgresql://* ]]; then
		psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 "$1" -c "$2"
	else
		sqlite3 -separator ' ' "$1" "$2"
	fi
}

# fresh KIND: REPLY = a new copy of KIND's template (sqlite or pg).
fresh() {
	if [[ $1 == sqlite ]]; then
		REPLY=$tmp/run.db
		rmdb "$REPLY"
		cp "$tmp/tmpl.db" "$REPLY"
	else
		pg_sql "DROP DATABASE IF EXISTS pgconv_run WITH (FORCE)" &&
		    pg_sql "CREATE DATABASE pgconv_run TEMPLATE pgconv_tmpl" &&
		    REPLY=$("$top/tests/pg-cluster.sh" uri "$pgdir" pgconv_run)
	fi
}

# template DB N: dater's schema and N inbound messages in DB.
template() {
	"$bin/dater-migrate" -q -c "$tmp/mock.conf" -d "$1" up &&
	    bench_inbound "$2" | "$bin/dater-enqueue" -q -c "$tmp/mock.conf" \
	    -d "$1" - >/dev/null
}

# run KIND N WHAT: drain a fresh N-message copy of KIND with -n W and
# check it; FIG = "us p50_ms" (elapsed, p50 reply latency).
run() {
	local kind=$1 n=$2 what=$3 db t0 t1 q r s d c again lines p50
	FIG=
	fresh "$kind" || return 1
	db=$REPLY
	rm -f "$tmp/outbox.jsonl"
	t0=$(date +%s%3N)
	timeout -k 5 "$LIMIT_SECS" "$bin/dater-worker" -q \
	    -c "$tmp/mock.conf" -d "$db" -n "$W" --drain ||
	    { broke "$what: dater-worker -n $W --drain failed"; return 1; }
	t1=$(date +%s%3N)
	read -r q r s d c again < <(sql "$db" "SELECT
	    (SELECT count(*) FROM jobs WHERE state = 'queued'),
	    (SELECT count(*) FROM jobs WHERE state = 'running'),
	    (SELECT count(*) FROM jobs WHERE state = 'succeeded'),
	    (SELECT count(*) FROM jobs WHERE state = 'dead'),
	    (SELECT count(*) FROM jobs WHERE state = 'cancelled'),
	    (SELECT count(*) FROM jobs WHERE state = 'succeeded'
	     AND attempts <> 1)")
	if [[ ${q:-x} != 0 || $r != 0 || $s != $((3 * n)) || $d != 0 ||
	    $c != 0 || $again != 0 ]]; then
		broke "$what: queued=${q:-?} running=${r:-?} succeeded=${s:-?}" \
		    "dead=${d:-?} cancelled=${c:-?} retried=${again:-?}" \
		    "(expected succeeded=$((3 * n)), all at the first attempt)"
		return 1
	fi
	lines=$(awk 'match($0, /"chat_id":"[0-9]+"/) {
		c[substr($0, RSTART + 11, RLENGTH - 12)]++ }
	    END { print NR, length(c) }' "$tmp/outbox.jsonl" 2>/dev/null)
	if [[ $lines != "$n $n" ]]; then
		broke "$what: outbox has ${lines:-nothing} (lines, chats)," \
		    "expected $n each"
		return 1
	fi
	p50=$(sql "$db" "SELECT sent_at - $t0 FROM messages
	    WHERE direction = 'out' AND status = 'sent' ORDER BY 1" |
	    awk '{ v[n++] = $1 } END { if (n) print v[int((n - 1) * 0.5)] }')
	[[ -n $p50 ]] || { broke "$what: no sent replies"; return 1; }
	FIG="$(((t1 - t0) * 1000)) $p50"
}

echo "conversations on PostgreSQL vs SQLite: $MSGS contacts, one message" \
    "each, mock-llm, -n $W; best of $REPS; load average" \
    "$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null)"

peers_mock_llm_start || { broke "mock-llm did not start"; exit 1; }
bench_config "$tmp/mock.conf" "$MOCK_LLM_URL"

rmdb "$tmp/tmpl.db"
template "$tmp/tmpl.db" "$MSGS" || { broke "the SQLite template"; exit 1; }
pg_sql "DROP DATABASE IF EXISTS pgconv_tmpl WITH (FORCE)" &&
    pg_sql "CREATE DATABASE pgconv_tmpl" || exit 1
template "$("$top/tests/pg-cluster.sh" uri "$pgdir" pgconv_tmpl)" "$MSGS" ||
    { broke "the PostgreSQL template"; exit 1; }

# Warm-up, untimed: mock-llm runs at a third of its speed until node has
# compiled it (about 3000 requests).
if ((WARM > 0)); then
	rmdb "$tmp/warm.db"
	template "$tmp/warm.db" "$WARM" &&
	    timeout -k 5 "$LIMIT_SECS" "$bin/dater-worker" -q \
	    -c "$tmp/mock.conf" -d "$tmp/warm.db" -n "$W" --drain ||
	    broke "warm-up"
	rmdb "$tmp/warm.db"
fi

# Per kind, the run with the highest rate is kept; all are listed.
declare -A rate=() p50=() runs=()
for ((rep = 0; rep < REPS; rep++)); do
	for kind in sqlite pg; do
		run "$kind" "$MSGS" "$kind conversations, -n $W" || continue
		read -r us lat <<<"$FIG"
		r=$(awk -v n="$MSGS" -v us="$us" \
		    'BEGIN { printf "%.1f", n * 1e6 / us }')
		runs[$kind]+="${runs[$kind]:+ }$r/${lat}ms"
		if awk -v a="$r" -v b="${rate[$kind]:-0}" \
		    'BEGIN { exit !(a > b) }'; then
			rate[$kind]=$r p50[$kind]=$lat
		fi
	done
done
pg_sql "DROP DATABASE IF EXISTS pgconv_run WITH (FORCE)"

awk -v pr="${rate[pg]:-0}" -v pl="${p50[pg]:-0}" -v sr="${rate[sqlite]:-0}" \
    -v sl="${p50[sqlite]:-0}" -v n="$MSGS" -v w="$W" \
    -v pruns="${runs[pg]:-}" -v sruns="${runs[sqlite]:-}" 'BEGIN {
	printf "PostgreSQL conversations (inbound -> respond -> send, %d" \
	    " contacts, mock-llm, -n %d): %.1f replies/s, p50 reply latency" \
	    " %.2f s  (SQLite in the same run %.1f replies/s, p50 %.2f s;" \
	    " ratio replies/s %.2f, p50 %.2f)  [runs replies/s/p50: pg %s |" \
	    " sqlite %s]\n", n, w, pr, pl / 1000, sr, sl / 1000,
	    (sr > 0 ? pr / sr : 0), (sl > 0 ? pl / sl : 0), pruns, sruns }'

if ((fail)); then
	echo "bench: pg-conv: something broke (see above)" >&2
	exit 1
fi
exit 0
