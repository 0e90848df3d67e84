#!/bin/bash
# Run the black-box tests of the binaries: every tests/t_*.sh, one after
# the other, each bounded by a timeout so a hang cannot stall CI. Prints
# each test's name and result (the full output of a failed one) and a
# last line "N passed, M failed"; exits nonzero if any failed.
#
#   tests/run-blackbox.sh [-v] [NAME ...]   -v: show every test's output
#                                           NAME: t_worker or t_worker.sh
set -u

dir=$(cd "$(dirname "$0")" && pwd)
verbose=0
if [ "${1:-}" = -v ]; then
	verbose=1
	shift
fi
limit=${BLACKBOX_TIMEOUT:-600}	# seconds per test, a hang guard only

tests=()
if [ $# -gt 0 ]; then
	for t in "$@"; do
		t=$(basename "$t" .sh)
		tests+=("$dir/$t.sh")
	done
else
	for t in "$dir"/t_*.sh; do
		[ -e "$t" ] && tests+=("$t")
	done
fi
if [ ${#tests[@]} -eq 0 ]; then
	echo "run-blackbox: no tests/t_*.sh found" >&2
	exit 1
fi

logdir=$(mktemp -d "${TMPDIR:-/tmp}/dater-blackbox.XXXXXX") || exit 70
trap 'rm -rf "$logdir"' EXIT

passed=0
failed=0
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	log=$logdir/$name.log
	printf '%-12s ' "$name"
	start=$SECONDS
	if [ ! -f "$t" ]; then
		echo "no such test: $t" >"$log"
		rc=127
	else
		timeout -k 30 "$limit" bash "$t" </dev/null >"$log" 2>&1
		rc=$?
	fi
	secs=$((SECONDS - start))
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok ($secs s)"
		[ $verbose = 1 ] && sed 's/^/    /' "$log"
	else
		failed=$((failed + 1))
		case $rc in
		124 | 137) why="timed out after $limit s" ;;
		*) why="exit $rc" ;;
		esac
		echo "FAILED ($why, $secs s)"
		sed 's/^/    /' "$log"
	fi
done

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
