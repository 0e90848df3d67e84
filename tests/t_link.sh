#!/bin/bash
# Start-up and memory: no program links libcurl (lib/http.c loads it with
# dlopen on the first HTTP request), so the programs cron and shell
# pipelines call once per job or report do not load it and the ~30
# libraries under it at every call, and a worker that only runs database
# jobs never maps them; each program still starts and works. (The
# worker's HTTP calls are exercised by the conversation, listener and
# fault tests against the peers.)
. "$(dirname "$0")/blackbox-lib.sh"

command -v readelf >/dev/null || die "no readelf (Debian: binutils)"

needs_curl() {
	readelf -d "$1" | grep -q 'NEEDED.*\[libcurl\.'
}
no_curl() { ! needs_curl "$1"; }

for p in "$BIN"/dater-*; do
	case $p in *.c | *.1) continue ;; esac
	[ -x "$p" ] || continue
	name=$(basename "$p")
	check "$name does not link libcurl" no_curl "$p"
	run "$p" --version
	is "$RC" 0 "$name --version exits 0"
	like "$OUT" "^$name [0-9]" "$name --version prints its version"
done

# The programs do their work.
write_conf
migrate
run "$BIN/dater-enqueue" -c "$CONF" -d "$DB" noop '{}'
is "$RC" 0 "dater-enqueue adds a job"
run "$BIN/dater-report" -c "$CONF" -d "$DB" queue
is "$RC" 0 "dater-report queue exits 0"
like "$OUT" "^queued +1 " "dater-report counts the job"

# A worker that ran a database job has not mapped libcurl: the job
# writes its worker's pid into a FIFO the test reads, and the worker
# stays up, idle, to be looked at.
mkfifo "$TMP/trace"
start_bg "$TMP/worker.log" "$BIN/dater-worker" -c "$CONF" -d "$DB" -n 1
W=$BG
run "$BIN/dater-enqueue" -c "$CONF" -d "$DB" noop "{\"trace\": \"$TMP/trace\"}"
read -r _ _ wpid <"$TMP/trace"
like "$wpid" '^[0-9]+$' "the worker ran the job (pid $wpid)"
is "$(grep -c 'libcurl' "/proc/$wpid/maps")" 0 "... without mapping libcurl"
is "$(grep -c 'libsqlite3' "/proc/$wpid/maps" | sed 's/^[1-9][0-9]*$/mapped/')" mapped \
    "... (where its other libraries are mapped)"
kill -TERM "$W"
wait_exit "$W" 30
is "$RC" 0 "the worker stops on SIGTERM"

bb_done
