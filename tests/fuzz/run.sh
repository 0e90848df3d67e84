#!/bin/sh
# Run the fuzz harnesses (called by make; see the Makefile).
#
#   run.sh fuzz DIR SECONDS NAME...    DIR/fuzz_NAME (libFuzzer) for SECONDS
#       each on a scratch corpus in DIR/corpus/NAME seeded from
#       tests/fuzz/corpus/NAME and tests/fuzz/regress/NAME; a crash, leak,
#       timeout or out-of-memory input is copied into tests/fuzz/regress/NAME/
#       (commit it with the fix) and fails the run, after every harness ran.
#   run.sh replay DIR - NAME...        DIR/replay_NAME on every file of
#       tests/fuzz/corpus/NAME and tests/fuzz/regress/NAME, once.
set -u
mode=$1 dir=$2 secs=$3
shift 3
here=$(dirname "$0")
failed=
# Leaks in third-party libraries (see the file), in both modes.
LSAN_OPTIONS="suppressions=$here/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS

for n in "$@"; do
	seeds="$here/corpus/$n"
	[ -d "$here/regress/$n" ] && seeds="$seeds $here/regress/$n"
	log="$dir/$n.log"
	if [ "$mode" = replay ]; then
		# shellcheck disable=SC2086
		if "$dir/replay_$n" $seeds >"$log" 2>&1; then
			tail -n 1 "$log"
		else
			echo "fuzz-regress: $n FAILED (see $log):"
			tail -n 30 "$log"
			failed="$failed $n"
		fi
		continue
	fi
	mkdir -p "$dir/corpus/$n" "$dir/artifacts/$n"
	rm -f "$dir/artifacts/$n"/*
	# -close_fd_mask=2: the harness's own log lines would flood the
	# output; libFuzzer and the sanitizers still report.
	# shellcheck disable=SC2086
	"$dir/fuzz_$n" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
	    -max_len=8192 -close_fd_mask=2 -print_final_stats=1 \
	    -artifact_prefix="$dir/artifacts/$n/" "$dir/corpus/$n" $seeds \
	    >"$log" 2>&1
	rc=$?
	kept=
	for a in "$dir/artifacts/$n"/*; do
		[ -f "$a" ] || continue
		mkdir -p "$here/regress/$n"
		cp "$a" "$here/regress/$n/"
		kept="$kept $here/regress/$n/${a##*/}"
	done
	if [ $rc -ne 0 ] || [ -n "$kept" ]; then
		echo "fuzz: $n FAILED (exit $rc; log $log)"
		grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==' "$log" | head -n 20
		for k in $kept; do
			echo "fuzz: $n: input kept as $k"
		done
		failed="$failed $n"
	else
		echo "fuzz: $n ok, $(sed -n 's/^stat::number_of_executed_units: *//p' \
		    "$log") runs in ${secs}s, $(ls "$dir/corpus/$n" | wc -l) in corpus"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed"
	exit 1
fi
