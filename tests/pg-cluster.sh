#!/bin/bash
# A throw-away PostgreSQL cluster for the tests (issue 12): it listens
# only on a Unix socket in its own directory, never on TCP, and is owned
# by an unprivileged user (initdb and postgres refuse root: run as root,
# as CI does, it uses the system user $DATER_PG_USER, default dater-test,
# created if missing). Durability is off (fsync, synchronous_commit,
# full_page_writes): a test cluster is thrown away, not recovered.
#
#   tests/pg-cluster.sh start DIR      initdb in DIR (new or empty), start
#                                      it, create the database "dater",
#                                      print its URI
#   tests/pg-cluster.sh newdb DIR NAME create the empty database NAME
#                                      (a fresh one per test), print its URI
#   tests/pg-cluster.sh dropdb DIR NAME drop it (no error if it is gone)
#   tests/pg-cluster.sh uri DIR [NAME] print the URI of NAME (dater)
#   tests/pg-cluster.sh stop DIR       stop the cluster, remove DIR
#   tests/pg-cluster.sh available      exit 0 if initdb and pg_ctl are
#                                      here (make check's PostgreSQL pass)
#
# The URI is postgresql:///NAME?host=DIR&user=USER: libpq takes the
# socket directory from host= and the role from user=; the role is the
# user who ran start (root in CI), made a superuser, with trust auth for
# local connections only. DIR must be an absolute path without '&', '#',
# '%' or whitespace (it goes into the URI as is) and short: a socket path
# is at most 107 bytes (DIR/.s.PGSQL.5432).
#
# Finds initdb and pg_ctl in $PG_BINDIR, /usr/lib/postgresql/15/bin
# (Debian keeps them off PATH) or on PATH. Exit status: 0 ok, 64 usage,
# 69 no PostgreSQL here, 1 anything else (with the server log on stderr
# when the start failed).
set -euo pipefail

PGUSER_OS=${DATER_PG_USER:-dater-test}
PORT=5432	# only names the socket file: nothing listens on TCP

usage() {
	sed -n 's/^#   \(tests\/pg-cluster.sh .*\)/usage: \1/p' "$0" >&2
	exit 64
}

die() {
	echo "pg-cluster: $*" >&2
	exit 1
}

find_bindir() {
	local d
	for d in ${PG_BINDIR:-} /usr/lib/postgresql/15/bin; do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			BINDIR=$d
			return
		fi
	done
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		BINDIR=$(dirname "$(command -v pg_ctl)")
		return
	fi
	echo "pg-cluster: no initdb/pg_ctl in /usr/lib/postgresql/15/bin" \
		"or on PATH (apt-get install postgresql)" >&2
	exit 69
}

# as_owner CMD...: run CMD as the cluster's owner (root cannot).
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$PGUSER_OS" -- "$@"
	else
		"$@"
	fi
}

ensure_owner() {
	[ "$(id -u)" = 0 ] || return 0
	id "$PGUSER_OS" >/dev/null 2>&1 ||
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$PGUSER_OS" ||
		die "cannot create the user '$PGUSER_OS'"
}

# Is PID a live process (not a zombie waiting for init)?
alive() {
	local st
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

check_dir() {
	case $1 in
	/*) ;;
	*) die "'$1': the directory must be an absolute path" ;;
	esac
	case $1 in
	*[[:space:]\&#%?]*) die "'$1': no whitespace, '&', '#', '%', '?'" ;;
	esac
	[ ${#1} -le 90 ] || die "'$1': too long for a socket path"
}

check_name() {
	case $1 in
	'' | [0-9]* | *[!a-z0-9_]*)
		die "'$1': a database name is [a-z_][a-z0-9_]*" ;;
	esac
}

uri() {
	printf 'postgresql:///%s?host=%s&user=%s\n' "$2" "$1" "$(id -un)"
}

# psql_admin DIR SQL: run SQL in the maintenance database as the role of
# the user who started the cluster.
psql_admin() {
	psql -X -q -v ON_ERROR_STOP=1 \
		"postgresql:///postgres?host=$1&user=$(id -un)" -c "$2" >/dev/null
}

start() {
	local dir=$1 me
	check_dir "$dir"
	find_bindir
	ensure_owner
	mkdir -p "$dir"
	[ -z "$(ls -A "$dir")" ] || die "'$dir' is not empty"
	me=$(id -un)
	if [ "$(id -u)" = 0 ]; then
		chown "$PGUSER_OS": "$dir"
		# The owner must reach DIR through its parents (mktemp -d
		# makes 0700 dirs, but /tmp itself is open).
		chmod 0700 "$dir"
	fi
	as_owner "$BINDIR/initdb" -D "$dir/data" -A trust -U postgres \
		-E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; die "initdb failed"; }
	cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
port = $PORT
unix_socket_directories = '$dir'
unix_socket_permissions = 0777
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 32MB
log_min_messages = warning
EOF
	# Local (socket) connections only, every role trusted: the socket is
	# in a 0700 directory only its owner (and root) can enter.
	printf 'local all all trust\n' >"$dir/data/pg_hba.conf"
	as_owner "$BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
		-t 60 -s start ||
		{ cat "$dir/server.log" >&2; die "the server did not start"; }
	if [ "$me" != postgres ]; then
		psql -X -q -v ON_ERROR_STOP=1 \
			"postgresql:///postgres?host=$dir&user=postgres" \
			-c "CREATE ROLE \"$me\" SUPERUSER LOGIN" >/dev/null ||
			die "cannot create the role '$me'"
	fi
	psql_admin "$dir" "CREATE DATABASE dater" ||
		die "cannot create the database 'dater'"
	uri "$dir" dater
}

stop() {
	local dir=$1
	check_dir "$dir"
	[ -d "$dir" ] || return 0
	if [ -f "$dir/data/postmaster.pid" ]; then
		find_bindir
		read -r pid <"$dir/data/postmaster.pid" || pid=
		# immediate: nothing to keep; -w waits for the pid file to go.
		as_owner "$BINDIR/pg_ctl" -D "$dir/data" -m immediate -w \
			-t 60 -s stop || die "the server did not stop"
		# ... and this for the postmaster itself (at most 10 s).
		for _ in $(seq 100); do
			alive "$pid" || break
			sleep 0.1
		done
	fi
	rm -rf "$dir"
}

if [ "${1:-}" = available ] && [ $# -eq 1 ]; then
	find_bindir 2>/dev/null
	exit 0
fi
[ $# -ge 2 ] || usage
cmd=$1
dir=${2%/}
case $cmd in
start) [ $# -eq 2 ] || usage; start "$dir" ;;
stop) [ $# -eq 2 ] || usage; stop "$dir" ;;
newdb)
	[ $# -eq 3 ] || usage
	check_dir "$dir"; check_name "$3"
	psql_admin "$dir" "CREATE DATABASE $3" ||
		die "cannot create the database '$3'"
	uri "$dir" "$3"
	;;
dropdb)
	[ $# -eq 3 ] || usage
	check_dir "$dir"; check_name "$3"
	psql_admin "$dir" "DROP DATABASE IF EXISTS $3 WITH (FORCE)" ||
		die "cannot drop the database '$3'"
	;;
uri)
	[ $# -le 3 ] || usage
	check_dir "$dir"
	name=${3:-dater}
	check_name "$name"
	uri "$dir" "$name"
	;;
*) usage ;;
esac
