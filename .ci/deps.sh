#!/bin/sh
# Install the Debian packages dater needs to build and test, if missing.
# As root it runs apt-get; otherwise it prints the command to run.
set -eu

PKGS="make gcc pkg-config libjansson-dev libsqlite3-dev libconfig-dev \
libbsd-dev check libcurl4-openssl-dev libpq-dev postgresql sqlite3 python3 \
tzdata chromium"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# node and npm run the integration tests' HTTP peers; any install will do.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	missing="$missing nodejs npm"
fi
if [ -z "$missing" ]; then
	echo "deps: all packages present"
fi
if [ -n "$missing" ] && [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing:$missing" >&2
	echo "deps: run: sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi
if [ -n "$missing" ]; then
	echo "deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q $missing
fi
# The test peers, pinned by tests/package-lock.json.
cd "$(dirname "$0")/../tests"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
	npm ci --no-audit --no-fund --loglevel=error
	touch node_modules
fi
