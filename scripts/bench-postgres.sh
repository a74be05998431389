#!/usr/bin/env bash
# bench-postgres: poolside serve --store postgres against PostgreSQL's own
# rate, and three instances against one, each pair alternated in one run.
#
#   scripts/bench-postgres.sh [ROUNDS]      (make bench-postgres)
#
# It starts a throwaway PostgreSQL cluster (initdb and pg_ctl from PATH or
# /usr/lib/postgresql/*/bin; as the postgres user when run as root) on a
# temporary directory and a loopback port, with fsync and synchronous
# commit on, and removes it, with every process it started, when it ends
# (scripts/bench-lib.sh). It needs pgbench, which comes with PostgreSQL.
# Each round runs:
#   1. pgbench: a prepared one-row INSERT ... ON CONFLICT DO NOTHING, 32
#      clients, 8 s; then poolside bench against poolside serve --store
#      postgres (32 workers, 32 database connections), 32 clients, BOOK and
#      UNBOOK only (every request a durable write), 8 s;
#   2. with --work-delay 20ms and 8 workers per instance, 48 clients: one
#      instance, then three (poolside bench --addr A,B,C), 6 s each.
# POOLSIDE=path/to/poolside measures that binary instead of building one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bench-lib.sh

rounds=${1:-3}
bench_init pg
find_postgres
start_postgres
psql -c 'CREATE DATABASE pgbench' -c 'CREATE DATABASE scale'
pgbench_table pgbench
pgbench_insert_sql "$tmp/insert.sql"
build_poolside

# pgserve ADDR DB ARGS...: start an instance on the database DB.
pgserve() {
	local addr=$1 db=$2
	shift 2
	serve "$addr" --store postgres --db-url "$pg_url/$db" --addr "$addr" --log-level warn "$@"
}

echo "== durable writes, 32 clients: pgbench INSERT against poolside BOOK/UNBOOK"
for r in $(seq "$rounds"); do
	tps=$(pgbench_tps 32 2 8 "$tmp/insert.sql" pgbench)
	psql -c 'DROP DATABASE IF EXISTS writes' -c 'CREATE DATABASE writes'
	addr=127.0.0.1:$(freeport)
	pgserve "$addr" writes --workers 32 --db-conns 32
	got=$(bench --addr "$addr" --clients 32 --mix book=1,unbook=1 --duration 8s --warmup 1s | rps "$addr")
	need "$got" "poolside bench --addr $addr"
	stop_all
	echo "round $r: pgbench $tps tx/s, poolside $got req/s: $(ratio "$got" "$tps")x"
done

echo "== --work-delay 20ms, 8 workers each, 48 clients: three instances against one"
addrs=()
for _ in 1 2 3; do
	addrs+=("127.0.0.1:$(freeport)")
	pgserve "${addrs[-1]}" scale --workers 8 --work-delay 20ms
done
all=$(IFS=,; echo "${addrs[*]}")
for r in $(seq "$rounds"); do
	one=$(bench --addr "${addrs[0]}" --clients 48 --duration 6s --warmup 1s | rps "${addrs[0]}")
	need "$one" "poolside bench --addr ${addrs[0]}"
	three=$(bench --addr "$all" --clients 48 --duration 6s --warmup 1s | awk '$1 == "sum" && $2 == "of" && $4 == "-" {print $5}')
	need "$three" "poolside bench --addr $all"
	echo "round $r: one instance $one req/s, three $three req/s: $(ratio "$three" "$one")x"
done
