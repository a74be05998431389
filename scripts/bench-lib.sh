# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables it sets are for the scripts that source it
# bench-lib: the set-up the bench-*.sh scripts share. Source it, do not
# run it:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
#   bench_init NAME          # /tmp/poolside-bench-NAME.XXXXXX in $tmp, clean-up trap
#   build_poolside           # $ps: $POOLSIDE, or poolside built into $tmp
#   serve TAG ARGS...        # "$ps" serve ARGS..., waits for 'serving on'
#   start_postgres           # a throwaway PostgreSQL cluster in $tmp/pg
#   summary RATIO...         # "median 1.02x (0.95x-1.10x)"
#   median VALUE...          # "30.1 (28.0-33.5)"
#   compare PEER ADDR PID OURS ADDR PID  # alternating rounds of measure, medians
#
# bench_init sets a trap on EXIT (and turns INT and TERM into an exit) that
# kills every pid listed in $pids, waits for them, stops the PostgreSQL
# cluster start_postgres started, and removes $tmp: the scripts leave no
# process and no file behind, also when they fail or are interrupted.
# Messages are prefixed with NAME (bench_init's argument, "bench-NAME").

# bench_init NAME: make the temporary directory and set the clean-up trap.
bench_init() {
	bench_name=bench-$1
	tmp=$(mktemp -d "/tmp/poolside-bench-$1.XXXXXX")
	pids=()
	pg_data=""
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# bench_cleanup: the EXIT trap. Every step tolerates what is already gone.
bench_cleanup() {
	stop_all
	if [ -n "$pg_data" ]; then
		as_pg "'$pg_bin/pg_ctl' -D '$pg_data' -m fast -w -t 30 stop" >/dev/null 2>&1 ||
			as_pg "'$pg_bin/pg_ctl' -D '$pg_data' -m immediate -w stop" >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}

# stop_all: kill every process in $pids and wait for them.
stop_all() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pids=()
}

# die MESSAGE...: say what went wrong and exit 1 (the trap cleans up).
die() {
	echo "$bench_name: $*" >&2
	exit 1
}

# build_poolside: leave in $ps the binary to measure, $POOLSIDE when it is
# set, otherwise poolside built from this tree into $tmp.
build_poolside() {
	if [ -n "${POOLSIDE:-}" ]; then
		ps=$(readlink -f "$POOLSIDE")
	else
		go build -o "$tmp/poolside" ./cmd/poolside
		ps="$tmp/poolside"
	fi
}

# freeport: print a free TCP port on 127.0.0.1.
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# await NAME FILE PATTERN: wait up to 10 s for PATTERN in FILE, the output
# of NAME; otherwise show FILE and exit 1.
await() {
	local _
	for _ in $(seq 100); do
		grep -q "$3" "$2" 2>/dev/null && return
		sleep 0.1
	done
	echo "$bench_name: $1 did not start:" >&2
	cat "$2" >&2
	exit 1
}

# await_port NAME PID PORT FILE: wait up to 10 s until PORT on 127.0.0.1
# accepts a connection, as long as PID (NAME, its output in FILE) lives.
await_port() {
	local i
	for i in $(seq 101); do
		if [ "$i" -eq 101 ] || ! kill -0 "$2" 2>/dev/null; then
			echo "$bench_name: $1 did not start:" >&2
			cat "$4" >&2
			exit 1
		fi
		python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$3" 2>/dev/null && return
		sleep 0.1
	done
}

# serve TAG ARGS...: start "$ps" serve ARGS..., its output in
# $tmp/serve.TAG.out, and wait for its ready line; its pid is left in $pid
# and added to $pids. (Not printed: the server must not start in a
# subshell, whose pids the clean-up would never see.)
serve() {
	local tag=$1
	shift
	"$ps" serve "$@" >"$tmp/serve.$tag.out" 2>&1 &
	pid=$!
	pids+=("$pid")
	await "poolside serve $*" "$tmp/serve.$tag.out" 'serving on'
}

# bench ARGS...: "$ps" bench ARGS..., with its journal of bookings (for a
# run against --addr that books) in $tmp rather than ~/.cache/poolside.
bench() { XDG_CACHE_HOME="$tmp/cache" "$ps" bench "$@"; }

# rps ADDR: from poolside bench's output on stdin, the req/s of ADDR.
rps() { awk -v a="$1" '$1 == a {print $3}'; }

# ratio A B: A/B to two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }

# summary RATIO...: the median of the ratios, with the lowest and highest,
# as "median 1.02x (0.95x-1.10x)".
summary() {
	printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1}
		END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "median %.2fx (%.2fx-%.2fx)", m, v[1], v[NR]}'
}

# median VALUE...: the median of the values, with the lowest and highest,
# as "30.1 (28.0-33.5)".
median() {
	printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1}
		END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.1f (%.1f-%.1f)", m, v[1], v[NR]}'
}

# cputicks PID: the process's user and system time so far, in clock ticks.
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# as_pg COMMAND: run the shell command as the postgres user when this
# script runs as root (PostgreSQL refuses to run as root), else as is.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

# find_postgres: leave in $pg_bin the directory of initdb and pg_ctl (from
# PATH or /usr/lib/postgresql/*/bin, the newest), or exit 2 when they or
# pgbench are missing.
find_postgres() {
	local d
	pg_bin=""
	for d in "$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || echo /nonexistent)")")" /usr/lib/postgresql/*/bin; do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then pg_bin=$d; fi
	done
	if [ -z "$pg_bin" ] || ! command -v pgbench >/dev/null; then
		echo "$bench_name: needs PostgreSQL's initdb, pg_ctl and pgbench (Debian: apt-get install postgresql)" >&2
		exit 2
	fi
}

# start_postgres: start a throwaway cluster, data directory $tmp/pg/data,
# on 127.0.0.1 and a free port ($pg_port; $pg_url is
# postgres://postgres@127.0.0.1:PORT, add /DBNAME), with fsync and
# synchronous commit on; it is stopped on exit. psql runs psql against it.
start_postgres() {
	[ -n "${pg_bin:-}" ] || find_postgres
	mkdir "$tmp/pg"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres "$tmp/pg"
		chmod 711 "$tmp" # let the postgres user reach $tmp/pg
	fi
	pg_port=$(freeport)
	as_pg "'$pg_bin/initdb' -D '$tmp/pg/data' -U postgres -A trust -N" >/dev/null
	cat >>"$tmp/pg/data/postgresql.conf" <<EOF
port = $pg_port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$tmp/pg'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
EOF
	pg_data=$tmp/pg/data # from here on the clean-up stops it
	as_pg "'$pg_bin/pg_ctl' -D '$pg_data' -l '$tmp/pg/log' -w start" >/dev/null ||
		die "PostgreSQL did not start: $(cat "$tmp/pg/log" 2>/dev/null)"
	pg_url=postgres://postgres@127.0.0.1:$pg_port
}

psql() { PGOPTIONS='-c client_min_messages=warning' command psql -q -h 127.0.0.1 -p "$pg_port" -U postgres "$@"; }

# pgbench_insert_sql FILE: write pgbench's one-row INSERT ... ON CONFLICT
# DO NOTHING (on table pgb, see pgbench_table) to FILE.
pgbench_insert_sql() {
	cat >"$1" <<'EOF'
\set day random(1, 1000000)
\set room random(101, 1034)
INSERT INTO pgb (day, room) VALUES (:day, :room) ON CONFLICT DO NOTHING;
EOF
}

# pgbench_table DB: create pgbench_insert_sql's table in DB.
pgbench_table() { psql "$1" -c 'CREATE TABLE pgb (day bigint NOT NULL, room text NOT NULL, PRIMARY KEY (day, room))'; }

# pgbench_tps CLIENTS THREADS SECONDS FILE DB: run pgbench's prepared
# FILE and print its tx/s, rounded; when pgbench fails, show its output and
# fail (x=$(pgbench_tps ...) then stops the script, under set -e).
pgbench_tps() {
	local out
	if ! out=$(pgbench -h 127.0.0.1 -p "$pg_port" -U postgres -n -M prepared -c "$1" -j "$2" -T "$3" -f "$4" "$5" 2>&1) ||
		! grep -q '^tps' <<<"$out"; then
		echo "$bench_name: pgbench -c $1 -j $2 failed:" >&2
		echo "$out" >&2
		return 1
	fi
	awk '/^tps/ {printf "%.0f", $3}' <<<"$out"
}

# need VALUE WHAT: exit 1 saying WHAT gave no figure when VALUE is empty
# (poolside bench failed, or printed no line for the address).
need() { [ -n "$1" ] || die "$2 gave no figure"; }

# measure ADDR PID: one poolside bench --read-only run of $clients clients
# for $duration (after a 1 s warm-up) against ADDR; leaves its req/s in
# $got and the CPU µs per request of process PID (warm-up included: a
# guide, not a figure to three digits) in $cpu.
# shellcheck disable=SC2154 # clients and duration are the caller's
measure() {
	local t0 t1 hz secs
	hz=$(getconf CLK_TCK)
	secs=$(awk -v d="$duration" 'BEGIN {sub(/s$/, "", d); print d + 1}')
	t0=$(cputicks "$2")
	got=$(bench --addr "$1" --clients "$clients" --read-only --duration "$duration" --warmup 1s | rps "$1")
	need "$got" "poolside bench --addr $1"
	t1=$(cputicks "$2")
	cpu=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v r="$got" -v s="$secs" 'BEGIN {printf "%.1f", t / hz * 1e6 / (r * s)}')
}

# compare PEER PEER_ADDR PEER_PID OURS OUR_ADDR OUR_PID: $rounds rounds of
# measure against both, the peer first in odd rounds and second in even
# ones (so that a drift of the shared machine falls on each in turn); each
# round prints both rates, their CPU per request and OURS/PEER, and the
# end prints the median ratio with its lowest and highest, and the median
# CPU per request of each.
compare() {
	local r side ratios=() pg pc og oc pcs=() ocs=()
	for r in $(seq "$rounds"); do
		for side in $(((r % 2) ? 0 : 1)) $(((r % 2) ? 1 : 0)); do
			if [ "$side" -eq 0 ]; then
				measure "$2" "$3"
				pg=$got pc=$cpu
			else
				measure "$5" "$6"
				og=$got oc=$cpu
			fi
		done
		ratios+=("$(ratio "$og" "$pg")")
		pcs+=("$pc") ocs+=("$oc")
		echo "round $r: $1 $pg req/s ($pc µs CPU/req), $4 $og req/s ($oc µs CPU/req): $4/$1 ${ratios[-1]}x"
	done
	echo "$4/$1 over $rounds rounds: $(summary "${ratios[@]}")"
	echo "   CPU µs/req, median: $1 $(median "${pcs[@]}"), $4 $(median "${ocs[@]}")"
}
