#!/bin/sh
# Install the Debian packages dater needs to build and test, if missing.
# As root it runs apt-get; otherwise it prints the command to run.
set -eu

PKGS="make gcc pkg-config libjansson-dev libsqlite3-dev libconfig-dev \
libbsd-dev check libcurl4-openssl-dev sqlite3 python3"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing:$missing" >&2
	echo "deps: run: sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q $missing
