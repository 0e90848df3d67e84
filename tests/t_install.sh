#!/bin/bash
# make install, black box, into a staging DESTDIR: PREFIX=/usr follows
# the FHS (programs in /usr/bin, the config in /etc/dater, the data in
# /var/lib/dater, units in /usr/lib/systemd/system), any other prefix
# keeps everything under it; the bash completion is installed once per
# program; the data directory is private; an existing config is kept.
# The installed programs run from the stage on the installed config.
. "$(dirname "$0")/blackbox-lib.sh"

# The flavour bin/ was built with (make check or make SANITIZE=1 check),
# so that install relinks nothing.
SAN=0
grep -q san "$ROOT/build/flavour" 2>/dev/null && SAN=1

stage() {	# stage DIR PREFIX
	run make -s -C "$ROOT" install SANITIZE="$SAN" DESTDIR="$1" PREFIX="$2"
}

S=$TMP/fhs
stage "$S" /usr
is "$RC" 0 "make install PREFIX=/usr DESTDIR=... exits 0"
for p in dater-enqueue dater-worker dater-scheduler dater-migrate dater-report dater-ctl; do
	check "$p in /usr/bin, executable" test -x "$S/usr/bin/$p"
	check "... its man page" test -f "$S/usr/share/man/man1/$p.1"
	check "... its bash completion" test -f "$S/usr/share/bash-completion/completions/$p"
done
check "the config in /etc/dater (FHS)" test -f "$S/etc/dater/dater.conf"
check "... with fields.json" test -f "$S/etc/dater/fields.json"
like "$(grep '^database' "$S/etc/dater/dater.conf")" '^database = "/var/lib/dater/dater.db";' \
    "... whose database is in /var/lib/dater"
is "$(stat -c %a "$S/var/lib/dater")" 700 "the data directory is /var/lib/dater, mode 0700"
like "$(grep '^ExecStart=' "$S/usr/lib/systemd/system/dater-worker.service")" \
    '^ExecStart=/usr/bin/dater-worker -c /etc/dater/dater.conf ' "the worker unit runs /usr/bin/dater-worker on /etc/dater"
like "$(cat "$S/usr/lib/tmpfiles.d/dater.conf")" 'd /var/lib/dater 0700 dater dater' \
    "tmpfiles.d makes /var/lib/dater"
check "no /usr/etc or /usr/var" eval '! test -e "$S/usr/etc" && ! test -e "$S/usr/var"'

# An existing config is kept.
echo '# mine' >>"$S/etc/dater/dater.conf"
stage "$S" /usr
like "$(tail -1 "$S/etc/dater/dater.conf")" '^# mine$' "a second install keeps the config"

L=$TMP/local
stage "$L" /opt/dater
is "$RC" 0 "make install PREFIX=/opt/dater exits 0"
check "another prefix keeps the config under it" test -f "$L/opt/dater/etc/dater/dater.conf"
like "$(grep '^database' "$L/opt/dater/etc/dater/dater.conf")" '"/opt/dater/var/lib/dater/dater.db"' \
    "... and the data"

# The staged programs run on the staged config (database moved by -d).
run "$S/usr/bin/dater-migrate" -q -c "$S/etc/dater/dater.conf" -d "$TMP/i.db" up
is "$RC" 0 "the installed dater-migrate runs on the installed config"
run "$S/usr/bin/dater-report" -c "$S/etc/dater/dater.conf" -d "$TMP/i.db" queue
is "$RC" 0 "... and dater-report"

bb_done
