#!/usr/bin/env bash
# bench-store: durable writes with poolside serve's default store, as a
# user's first run has it, against PostgreSQL's own rate for one durable
# one-row INSERT (issue 16), on the same disk, at 1 client and at 32.
#
#   scripts/bench-store.sh [ROUNDS]      (default 3; make bench-store)
#
# Each side, alternated, runs for DURATION (default 8s; whole seconds):
#   pgbench   pgbench -M prepared, the one-row INSERT ... ON CONFLICT DO
#             NOTHING of bench-postgres, -c 1 -j 1 and -c 32 -j 2, on a
#             throwaway PostgreSQL cluster (fsync and synchronous_commit
#             on, otherwise initdb's defaults but for shared_buffers 256MB
#             and max_connections 200) whose data directory is in this
#             run's temporary directory under /tmp. The table is emptied
#             (TRUNCATE) before each run, and each run is preceded by 1 s
#             of the same load, not measured, as poolside bench's warm-up.
#   poolside  poolside serve --data $tmp/... --addr 127.0.0.1:PORT and no
#             other flag: the default model, workers, queue and store (the
#             embedded bbolt file with its journal), in the same temporary
#             directory, so on the same disk as the cluster. Each poolside
#             run gets a fresh server on a fresh database file, stopped and
#             removed after it. Load: poolside bench --addr A --clients N
#             --mix book=1,unbook=1 (every request a durable write),
#             --warmup 1s, --duration DURATION.
# Odd rounds run pgbench 1, poolside 1, pgbench 32, poolside 32; even
# rounds poolside first in each pair. Each round prints, for 1 client and
# for 32, both rates and poolside/pgbench.
# It needs PostgreSQL's initdb, pg_ctl and pgbench (from PATH or
# /usr/lib/postgresql/*/bin; the cluster runs as the postgres user when run
# as root) and exits 2 without them. POOLSIDE=path/to/poolside measures
# that binary instead of building one. It removes every process, file and
# the cluster it made when it ends (scripts/bench-lib.sh). On a shared
# machine, run it under flock /tmp/poolside-bench.lock so that no other
# benchmark overlaps it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bench-lib.sh

rounds=${1:-3}
duration=${DURATION:-8s}
secs=${duration%s}
case $secs in
'' | *[!0-9]*)
	echo "bench-store: DURATION=$duration: give whole seconds, such as 8s (pgbench -T takes seconds)" >&2
	exit 2
	;;
esac

bench_init store
find_postgres
start_postgres
psql -c 'CREATE DATABASE pgbench'
pgbench_table pgbench
pgbench_insert_sql "$tmp/insert.sql"
build_poolside

# run_pgbench CLIENTS: empty the table, warm up 1 s, then leave pgbench's
# tx/s over DURATION in $tps.
run_pgbench() {
	local j=1
	[ "$1" -gt 1 ] && j=2
	psql pgbench -c 'TRUNCATE pgb'
	pgbench_tps "$1" "$j" 1 "$tmp/insert.sql" pgbench >/dev/null
	tps=$(pgbench_tps "$1" "$j" "$secs" "$tmp/insert.sql" pgbench)
}

# run_poolside ROUND CLIENTS: a fresh server on a fresh database file, one
# bench run against it; leaves its req/s in $got.
run_poolside() {
	local addr db=$tmp/store.$1.$2.db
	addr=127.0.0.1:$(freeport)
	serve "store.$1.$2" --data "$db" --addr "$addr"
	got=$(bench --addr "$addr" --clients "$2" --mix book=1,unbook=1 --duration "${secs}s" --warmup 1s | rps "$addr")
	need "$got" "poolside bench --addr $addr --clients $2"
	stop_all
	rm -f "$db"* "$tmp/serve.store.$1.$2.out"
}

echo "== durable writes, $duration per run: pgbench -M prepared INSERT (PostgreSQL $("$pg_bin/postgres" -V | awk '{print $3}'), fsync on) against poolside serve's default store (BOOK/UNBOOK)"
echo "   both on $(df -PT "$tmp" | awk 'NR == 2 {print $1, "(" $2 ")"}') under /tmp; $(nproc) cores"
for r in $(seq "$rounds"); do
	for n in 1 32; do
		if [ $((r % 2)) -eq 1 ]; then
			run_pgbench "$n"
			run_poolside "$r" "$n"
		else
			run_poolside "$r" "$n"
			run_pgbench "$n"
		fi
		what="$n clients"
		[ "$n" -eq 1 ] && what="1 client"
		echo "round $r, $what: pgbench $tps tx/s, poolside $got req/s: $(ratio "$got" "$tps")x"
	done
done
