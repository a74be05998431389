#!/usr/bin/env bash
# ensure-postgres: make sure PostgreSQL's server binaries (initdb, pg_ctl,
# postgres) are on this machine for the postgres store's tests, which
# start throwaway clusters of their own. When they are missing it installs
# Debian's postgresql with apt-get, as root or through a sudo that needs no
# password. If it cannot, it says so: under CI=true that is an error (the
# tests must not pass by skipping); otherwise the tests skip and say how to
# enable them.
set -euo pipefail

have() {
	command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && return 0
	done
	return 1
}
have && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo="sudo -n"
	else
		sudo="none"
	fi
fi
if [ "$sudo" != none ] && command -v apt-get >/dev/null 2>&1; then
	echo "ensure-postgres: installing PostgreSQL (Debian's postgresql) for the postgres store's tests"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
	have && exit 0
fi
msg="ensure-postgres: PostgreSQL's server binaries (initdb, pg_ctl) are not on this machine and could not be installed; install them (Debian: apt-get install postgresql) or set POOLSIDE_TEST_DB_URL to a server whose user may CREATE DATABASE"
if [ "${CI:-}" = true ]; then
	echo "$msg" >&2
	exit 1
fi
echo "$msg; the postgres tests will skip"
