#!/usr/bin/env bash
# bench-store: durable writes with poolside serve's default store, as a
# user's first run has it, against PostgreSQL's own rate for one durable
# one-row INSERT (issue 16), on the same disk, at 1 client and at 32.
#
#   scripts/bench-store.sh [ROUNDS]      (default 5; make bench-store)
#
# Three sides, each run for DURATION (default 5s; whole seconds) in every
# round:
#   pgbench   pgbench -M prepared, the one-row INSERT ... ON CONFLICT DO
#             NOTHING of bench-postgres, -c 1 -j 1 and -c 32 -j 2, on a
#             throwaway PostgreSQL cluster (fsync and synchronous_commit
#             on, otherwise initdb's defaults but for shared_buffers 256MB
#             and max_connections 200) whose data directory is in this
#             run's temporary directory under /tmp.
#   pginsert  the same INSERT, prepared, on the same cluster and as many
#             connections, from cmd/pginsert: a Go program with pgx, so
#             that PostgreSQL is also measured through a load generator in
#             poolside bench's language and runtime. At one client a
#             durable commit takes about 0.15 ms here and the client's own
#             turnaround counts: pgbench (C) is the peer the issue names,
#             pginsert the like-for-like one.
#   poolside  poolside serve --data $tmp/... --addr 127.0.0.1:PORT and no
#             other flag: the default model, workers, queue and store (the
#             embedded bbolt file with its journal), in the same temporary
#             directory, so on the same disk as the cluster. Each poolside
#             run gets a fresh server on a fresh database file, stopped and
#             removed after it. Load: poolside bench --addr A --clients N
#             --mix book=1,unbook=1 (every request a durable write).
# Every run is preceded by 1 s of the same load, not measured (pgbench: a
# 1 s run; pginsert and poolside bench: --warmup 1s), and the table is
# emptied (TRUNCATE) before each PostgreSQL run.
# Each run also says what a write cost the server in CPU time (user +
# system, from /proc), so that the rates can be read apart from the load
# generators, which share the 2 cores and are not equally cheap:
#   PostgreSQL  every process of the cluster (the postmaster, its
#               background processes and the backends, reaped ones
#               included) over the measured run, divided by its
#               transactions (tx/s x DURATION);
#   poolside    the serve process from the bench's start to its end,
#               warm-up and clean-up included, divided by the requests it
#               served over that time (its own count, logged when it stops).
# and what a request cost the load generator (its whole process, warm-up
# included for pginsert and poolside bench, over the requests of its run
# and warm-up at the measured rate: a guide, not a figure to the digit). The order of the three
# rotates from round to round, so that the disk's drift (its sync rate
# wanders by a fifth from minute to minute on a shared machine) falls on
# each side in turn. Each round prints, for 1 client and for 32, the three
# rates and poolside's ratio to each peer; the end prints the median ratio
# over the rounds with its lowest and highest.
# It needs PostgreSQL's initdb, pg_ctl and pgbench (from PATH or
# /usr/lib/postgresql/*/bin; the cluster runs as the postgres user when run
# as root) and exits 2 without them. POOLSIDE=path/to/poolside measures
# that binary instead of building one (pginsert is always built from this
# tree). It removes every process, file and the cluster it made when it
# ends (scripts/bench-lib.sh). On a shared machine, run it under flock
# /tmp/poolside-bench.lock so that no other benchmark overlaps it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bench-lib.sh

rounds=${1:-5}
duration=${DURATION:-5s}
secs=${duration%s}
case $secs in
'' | *[!0-9]*)
	echo "bench-store: DURATION=$duration: give whole seconds, such as 5s (pgbench -T takes seconds)" >&2
	exit 2
	;;
esac
case $rounds in
'' | *[!0-9]* | 0)
	echo "bench-store: ROUNDS=$rounds: give a whole number of rounds, 1 or more" >&2
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
go build -o "$tmp/pginsert" ./cmd/pginsert

hz=$(getconf CLK_TCK)
pg_pid=$(head -1 "$pg_data/postmaster.pid")

# pg_ticks: the CPU time of the whole cluster so far, in clock ticks: the
# postmaster's own and its reaped children's, and its live children's
# (with theirs).
pg_ticks() {
	local p t
	t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pg_pid/stat")
	for p in $(pgrep -P "$pg_pid"); do
		t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# pg_settle: wait (10 s at most) until the backends of the clients that
# left have exited and been reaped, so that pg_ticks counts them whole.
pg_settle() {
	local i
	for i in $(seq 200); do
		[ "$(pgrep -c -P "$pg_pid")" -le "$pg_idle" ] && return 0
		sleep 0.05
	done
	die "PostgreSQL's backends did not exit within 10 s of their clients"
}
pg_idle=$(pgrep -c -P "$pg_pid")

# timed VAR COMMAND...: run COMMAND, its stdout on stdout, and leave the
# CPU time it took (user + system, in seconds) in VAR; its status is
# COMMAND's.
timed() {
	local var=$1 TIMEFORMAT='%U %S' t rc=0
	shift
	{ t=$({ time "$@" 1>&3 2>&4; } 2>&1) || rc=$?; } 3>&1 4>&2
	printf -v "$var" '%s' "$(awk '{print $1 + $2}' <<<"$t")"
	return "$rc"
}

# per_request SECONDS_OR_TICKS DIVISOR COUNT: CPU µs per request.
per_request() { awk -v t="$1" -v d="$2" -v n="$3" 'BEGIN {printf "%.1f", t / d * 1e6 / n}'; }

# run_pgbench CLIENTS: empty the table, warm up 1 s, then leave pgbench's
# tx/s over DURATION in $got, the cluster's CPU µs per transaction in
# $server_cpu, pgbench's in $client_cpu.
run_pgbench() {
	local j=1 t0 t1 c out
	[ "$1" -gt 1 ] && j=2
	psql pgbench -c 'TRUNCATE pgb'
	pgbench_tps "$1" "$j" 1 "$tmp/insert.sql" pgbench >/dev/null
	pg_settle
	t0=$(pg_ticks)
	timed c pgbench_tps "$1" "$j" "$secs" "$tmp/insert.sql" pgbench >"$tmp/pgbench.out" || exit 1
	got=$(cat "$tmp/pgbench.out")
	pg_settle
	t1=$(pg_ticks)
	server_cpu=$(per_request $((t1 - t0)) "$hz" $((got * secs)))
	client_cpu=$(per_request "$c" 1 $((got * secs)))
}

# run_pginsert CLIENTS: empty the table, then leave pginsert's tx/s over
# DURATION (after its 1 s warm-up) in $got, and the CPU per transaction
# as run_pgbench does.
run_pginsert() {
	local out t0 t1 c
	psql pgbench -c 'TRUNCATE pgb'
	pg_settle
	t0=$(pg_ticks)
	timed c "$tmp/pginsert" --url "$pg_url/pgbench?sslmode=disable" --clients "$1" --warmup 1s --duration "${secs}s" >"$tmp/pginsert.out" ||
		die "pginsert --clients $1 failed"
	got=$(awk '/^tps/ {printf "%.0f", $3}' "$tmp/pginsert.out")
	need "$got" "pginsert --clients $1"
	pg_settle
	t1=$(pg_ticks)
	# Its warm-up's transactions ran on the cluster too: counted at the
	# measured rate.
	server_cpu=$(per_request $((t1 - t0)) "$hz" $((got * (secs + 1))))
	client_cpu=$(per_request "$c" 1 $((got * (secs + 1))))
}

# run_poolside ROUND CLIENTS: a fresh server on a fresh database file, one
# bench run against it; leaves its req/s in $got, and the CPU per request
# of the server in $server_cpu and of poolside bench in $client_cpu.
run_poolside() {
	local addr db=$tmp/store.$1.$2.db log=$tmp/serve.store.$1.$2.out t0 t1 c served
	addr=127.0.0.1:$(freeport)
	serve "store.$1.$2" --data "$db" --addr "$addr"
	t0=$(cputicks "$pid")
	timed c bench --addr "$addr" --clients "$2" --mix book=1,unbook=1 --duration "${secs}s" --warmup 1s >"$tmp/bench.out" ||
		die "poolside bench --addr $addr --clients $2 failed"
	got=$(rps "$addr" <"$tmp/bench.out")
	need "$got" "poolside bench --addr $addr --clients $2"
	t1=$(cputicks "$pid")
	stop_all
	served=$(grep -o 'msg=stopped.* requests=[0-9]*' "$log" | grep -o '[0-9]*$')
	need "$served" "poolside serve (its count of requests when it stopped)"
	server_cpu=$(per_request $((t1 - t0)) "$hz" "$served")
	client_cpu=$(per_request "$c" 1 $((got * (secs + 1))))
	rm -f "$db"* "$log"
}

sides=(pgbench pginsert poolside)
declare -A by_pgbench by_pginsert server client cpu
echo "== durable writes, $duration per run, $rounds rounds: pgbench (C, libpq) and pginsert (Go, pgx), -M prepared one-row INSERT (PostgreSQL $("$pg_bin/postgres" -V | awk '{print $3}'), fsync on), against poolside serve's default store (poolside bench, Go, BOOK/UNBOOK)"
echo "   all on $(df -PT "$tmp" | awk 'NR == 2 {print $1, "(" $2 ")"}') under /tmp; $(nproc) cores; order rotates each round"
echo "   CPU: µs of CPU time per write, the server's (PostgreSQL: the whole cluster) and the load generator's"
for r in $(seq "$rounds"); do
	for n in 1 32; do
		declare -A rate=()
		for k in 0 1 2; do
			side=${sides[$(((r - 1 + k) % 3))]}
			case $side in
			pgbench) run_pgbench "$n" ;;
			pginsert) run_pginsert "$n" ;;
			poolside) run_poolside "$r" "$n" ;;
			esac
			rate[$side]=$got
			server[$n.$side]+=" $server_cpu"
			client[$n.$side]+=" $client_cpu"
			cpu[$side]="server $server_cpu, client $client_cpu"
		done
		by_pgbench[$n]+=" $(ratio "${rate[poolside]}" "${rate[pgbench]}")"
		by_pginsert[$n]+=" $(ratio "${rate[poolside]}" "${rate[pginsert]}")"
		what="$n clients"
		[ "$n" -eq 1 ] && what="1 client"
		echo "round $r, $what: pgbench ${rate[pgbench]} tx/s, pginsert ${rate[pginsert]} tx/s, poolside ${rate[poolside]} req/s:" \
			"$(ratio "${rate[poolside]}" "${rate[pgbench]}")x pgbench, $(ratio "${rate[poolside]}" "${rate[pginsert]}")x pginsert"
		echo "   CPU µs/write: pgbench ${cpu[pgbench]}; pginsert ${cpu[pginsert]}; poolside ${cpu[poolside]}"
	done
done
for n in 1 32; do
	what="$n clients"
	[ "$n" -eq 1 ] && what="1 client"
	# shellcheck disable=SC2086 # the ratios and figures are words
	{
		echo "$what over $rounds rounds: poolside/pgbench $(summary ${by_pgbench[$n]}), poolside/pginsert $(summary ${by_pginsert[$n]})"
		echo "   server CPU µs/write, median: PostgreSQL $(median ${server[$n.pgbench]}) under pgbench, $(median ${server[$n.pginsert]}) under pginsert; poolside $(median ${server[$n.poolside]})"
		echo "   load generator CPU µs/write, median: pgbench $(median ${client[$n.pgbench]}), pginsert $(median ${client[$n.pginsert]}), poolside bench $(median ${client[$n.poolside]})"
	}
done
