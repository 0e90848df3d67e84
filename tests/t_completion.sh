#!/bin/bash
# The bash completion (etc/bash-completion/dater), black box: sourced in
# this shell with the built programs on PATH, each program's completion
# function is called as bash would (COMP_WORDS, COMP_CWORD) and what it
# offers is checked: views, commands, job types read from the installed
# dater-enqueue, option values, files after -c.
. "$(dirname "$0")/blackbox-lib.sh"

PATH=$BIN:$PATH
# compopt only works inside a completion; the functions ignore its error.
. "$ROOT/etc/bash-completion/dater" || die "the completion file does not source"

# offers LINE: what completing the last word of LINE offers, sorted.
offers() {
	local -a w
	read -r -a w <<<"$1"
	[[ $1 == *" " ]] && w+=("")
	COMP_WORDS=("${w[@]}")
	COMP_CWORD=$((${#w[@]} - 1))
	COMPREPLY=()
	"$(complete -p "${w[0]}" | sed 's/.*-F \([^ ]*\) .*/\1/')" 2>/dev/null
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}

for p in dater-report dater-enqueue dater-ctl dater-migrate dater-worker dater-scheduler; do
	like "$(complete -p "$p" 2>&1)" "complete -F _dater" "$p has a completion"
done
is "$(offers 'dater-report jo')" "job jobs " "dater-report: views"
is "$(offers 'dater-report -c x.conf he')" "health " "... after -c FILE"
is "$(offers 'dater-report jobs --st')" "--state " "... a view's options"
is "$(offers 'dater-report jobs --state d')" "dead " "... an option's values"
is "$(offers 'dater-report --wi')" "--wide " "... global options"
is "$(offers 'dater-report html --r')" "--refresh " "... the dashboard's"
is "$(offers 'dater-enqueue ')" "$(dater-enqueue --help | sed -n '/^job types:/,$ s/^  \([a-z_]*\) .*/\1/p' | { cat; echo -; } | sort | tr '\n' ' ')" \
    "dater-enqueue: the job types dater-enqueue lists, and -"
like "$(offers 'dater-enqueue ')" "respond .*send " "... (respond, send, ...)"
is "$(offers 'dater-enqueue --retry --state ')" "cancelled dead " "... --state: dead or cancelled"
is "$(offers 'dater-ctl ta')" "takeover " "dater-ctl: commands"
is "$(offers 'dater-migrate im')" "import-legacy " "dater-migrate: commands"
is "$(offers 'dater-migrate import-legacy --d')" "--dry-run " "... a command's options"
is "$(offers 'dater-migrate copy --t')" "--to " "... copy's --to"
is "$(offers 'dater-worker --dr')" "--drain " "dater-worker: options"
is "$(offers 'dater-scheduler --dr')" "--dry-run " "dater-scheduler: options"
: >"$TMP/some.conf"
is "$(offers "dater-report -c $TMP/some.c")" "$TMP/some.conf " "-c completes file names"

bb_done
