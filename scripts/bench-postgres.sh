#!/usr/bin/env bash
# bench-postgres: poolside serve --store postgres against PostgreSQL's own
# rate, and three instances against one, each pair alternated in one run.
#
#   scripts/bench-postgres.sh [ROUNDS]      (make bench-postgres)
#
# It starts a throwaway PostgreSQL cluster (initdb and pg_ctl from PATH or
# /usr/lib/postgresql/*/bin; as the postgres user when run as root) on a
# temporary directory and a loopback port, with fsync and synchronous
# commit on, and removes it, with every process it started, when it ends.
# It needs pgbench, which comes with PostgreSQL. Each round runs:
#   1. pgbench: a prepared one-row INSERT ... ON CONFLICT DO NOTHING, 32
#      clients, 8 s; then poolside bench against poolside serve --store
#      postgres (32 workers, 32 database connections), 32 clients, BOOK and
#      UNBOOK only (every request a durable write), 8 s;
#   2. with --work-delay 20ms and 8 workers per instance, 48 clients: one
#      instance, then three (poolside bench --addr A,B,C), 6 s each.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rounds=${1:-3}
bin=""
for d in "$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || echo /nonexistent)")")" /usr/lib/postgresql/*/bin; do
	if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bin=$d; fi
done
if [ -z "$bin" ] || ! command -v pgbench >/dev/null; then
	echo "bench-postgres: needs PostgreSQL's initdb, pg_ctl and pgbench (Debian: apt-get install postgresql)" >&2
	exit 2
fi

tmp=$(mktemp -d /tmp/poolside-bench-pg.XXXXXX)
pids=()
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	as_pg "'$bin/pg_ctl' -D '$tmp/data' -m fast -w stop" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
[ "$(id -u)" -eq 0 ] && chown postgres "$tmp"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "'$bin/initdb' -D '$tmp/data' -U postgres -A trust -N" >/dev/null
cat >>"$tmp/data/postgresql.conf" <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$tmp'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
EOF
as_pg "'$bin/pg_ctl' -D '$tmp/data' -l '$tmp/log' -w start" >/dev/null
psql() { PGOPTIONS='-c client_min_messages=warning' command psql -q -h 127.0.0.1 -p "$port" -U postgres "$@"; }
psql -c 'CREATE DATABASE pgbench' -c 'CREATE DATABASE scale'
psql pgbench -c 'CREATE TABLE pgb (day bigint NOT NULL, room text NOT NULL, PRIMARY KEY (day, room))'
cat >"$tmp/insert.sql" <<'EOF'
\set day random(1, 1000000)
\set room random(101, 1034)
INSERT INTO pgb (day, room) VALUES (:day, :room) ON CONFLICT DO NOTHING;
EOF

go build -o "$tmp/poolside" ./cmd/poolside
ps="$tmp/poolside"
url=postgres://postgres@127.0.0.1:$port

# serve ADDR DB ARGS...: start an instance, wait for its ready line.
serve() {
	local addr=$1 db=$2
	shift 2
	"$ps" serve --store postgres --db-url "$url/$db" --addr "$addr" --log-level warn "$@" >"$tmp/serve.$addr.out" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do
		grep -q 'serving on' "$tmp/serve.$addr.out" 2>/dev/null && return
		sleep 0.1
	done
	echo "bench-postgres: poolside serve on $addr did not start:" >&2
	cat "$tmp/serve.$addr.out" >&2
	exit 1
}
stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pids=()
}
rps() { awk '$1 == "'"$1"'" {print $3}'; }

echo "== durable writes, 32 clients: pgbench INSERT against poolside BOOK/UNBOOK"
for r in $(seq "$rounds"); do
	tps=$(pgbench -h 127.0.0.1 -p "$port" -U postgres -n -M prepared -c 32 -j 2 -T 8 -f "$tmp/insert.sql" pgbench 2>&1 | awk '/^tps/ {printf "%.0f", $3}')
	psql -c 'DROP DATABASE IF EXISTS writes' -c 'CREATE DATABASE writes'
	serve 127.0.0.1:19460 writes --workers 32 --db-conns 32
	got=$("$ps" bench --addr 127.0.0.1:19460 --clients 32 --mix book=1,unbook=1 --duration 8s --warmup 1s | rps 127.0.0.1:19460)
	stop_all
	echo "round $r: pgbench $tps tx/s, poolside $got req/s: $(awk -v a="$got" -v b="$tps" 'BEGIN {printf "%.2f", a/b}')x"
done

echo "== --work-delay 20ms, 8 workers each, 48 clients: three instances against one"
for p in 19461 19462 19463; do serve 127.0.0.1:$p scale --workers 8 --work-delay 20ms; done
for r in $(seq "$rounds"); do
	one=$("$ps" bench --addr 127.0.0.1:19461 --clients 48 --duration 6s --warmup 1s | rps 127.0.0.1:19461)
	three=$("$ps" bench --addr 127.0.0.1:19461,127.0.0.1:19462,127.0.0.1:19463 --clients 48 --duration 6s --warmup 1s | awk '$1 == "sum" && $2 == "of" && $4 == "-" {print $5}')
	echo "round $r: one instance $one req/s, three $three req/s: $(awk -v a="$three" -v b="$one" 'BEGIN {printf "%.2f", a/b}')x"
done
