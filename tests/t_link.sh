#!/bin/bash
# Start-up: only the programs that make HTTP calls (the Makefile's
# HTTP_PROGS) record libcurl, so the others, which cron and shell
# pipelines call once per job or report, do not load it and the ~30
# libraries under it at every call; each program still starts and works.
. "$(dirname "$0")/blackbox-lib.sh"

command -v readelf >/dev/null || die "no readelf (Debian: binutils)"
http=$(sed -n 's/^HTTP_PROGS = //p' "$ROOT/Makefile")
like "$http" "dater-worker" "the Makefile names the programs that call out"

needs_curl() {
	readelf -d "$1" | grep -q 'NEEDED.*\[libcurl\.'
}
no_curl() { ! needs_curl "$1"; }

for p in "$BIN"/dater-*; do
	case $p in *.c | *.1) continue ;; esac
	[ -x "$p" ] || continue
	name=$(basename "$p")
	case " $http " in
	*" $name "*)
		check "$name makes HTTP calls and links libcurl" needs_curl "$p" ;;
	*)
		check "$name does not link libcurl" no_curl "$p" ;;
	esac
	run "$p" --version
	is "$RC" 0 "$name --version exits 0"
	like "$OUT" "^$name [0-9]" "$name --version prints its version"
done

# The programs without libcurl do their work.
write_conf
migrate
run "$BIN/dater-enqueue" -c "$CONF" -d "$DB" noop '{}'
is "$RC" 0 "dater-enqueue adds a job"
run "$BIN/dater-report" -c "$CONF" -d "$DB" queue
is "$RC" 0 "dater-report queue exits 0"
like "$OUT" "^queued +1 " "dater-report counts the job"

bb_done
