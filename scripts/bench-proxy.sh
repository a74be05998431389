#!/usr/bin/env bash
# bench-proxy: poolside proxy with no faults against HAProxy in front of
# the same server, with the load generator in its own process.
#
#   scripts/bench-proxy.sh [ROUNDS]      (default 5; make bench-proxy)
#
# It builds poolside into a temporary directory and starts poolside serve
# --store memory --model unbounded on a loopback port, HAProxy (mode tcp,
# nbthread 1, default buffers) from a temporary config, and poolside proxy
# with no faults, both relaying to that server. Each round runs poolside
# bench --read-only (BOOKINGSONDATE and BOOKINGSFORROOM on an empty memory
# store, a trivial handler), 16 persistent clients, 1 s warm-up and
# DURATION measured (default 4s), through HAProxy and through poolside
# proxy, HAProxy first in odd rounds and second in even ones (so that a
# drift of the shared machine falls on each in turn), and prints both
# rates, the ratio proxy/haproxy, and each relay's CPU time per request
# (from /proc, warm-up included: a guide); the end prints the median
# ratio over the rounds, with its lowest and highest, and each relay's
# median CPU per request.
# Every request pays one more loopback hop each way than it would without a
# relay, so the rates are bound by the CPU of the server, the relay and
# the load generator together.
# It needs haproxy on PATH (Debian: apt-get install haproxy; the script
# runs it itself, not as a service) and exits 2 without it.
# POOLSIDE=path/to/poolside measures that binary instead of building one.
# It removes every process and file it made when it ends (scripts/bench-lib.sh).
# On a shared machine, run it under flock /tmp/poolside-bench.lock so that
# no other benchmark overlaps it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bench-lib.sh

rounds=${1:-5}
duration=${DURATION:-4s}
clients=${CLIENTS:-16}

if ! command -v haproxy >/dev/null; then
	echo "bench-proxy: needs haproxy on PATH (Debian: apt-get install haproxy)" >&2
	exit 2
fi

bench_init proxy
build_poolside

saddr=127.0.0.1:$(freeport)
serve unbounded --model unbounded --store memory --addr "$saddr" --log-level warn

haddr=127.0.0.1:$(freeport)
cat >"$tmp/haproxy.cfg" <<EOC
global
	nbthread 1
	maxconn 4096
defaults
	mode tcp
	timeout connect 5s
	timeout client 1m
	timeout server 1m
frontend fe
	bind $haddr
	default_backend be
backend be
	server s1 $saddr
EOC
haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.out" 2>&1 &
hpid=$!
pids+=("$hpid")
await_port haproxy "$hpid" "${haddr##*:}" "$tmp/haproxy.out"

paddr=127.0.0.1:$(freeport)
"$ps" proxy --listen "$paddr" --upstream "$saddr" >"$tmp/proxy.out" 2>"$tmp/proxy.err" &
ppid=$!
pids+=("$ppid")
await "poolside proxy" "$tmp/proxy.out" 'proxying'

echo "== no faults, trivial handler (--read-only, memory store), $clients persistent clients, $duration per run"
echo "   $(haproxy -v | head -1 | awk '{print $1, $3}'), mode tcp, nbthread 1; poolside proxy, GOMAXPROCS default ($(nproc) cores)"
compare haproxy "$haddr" "$hpid" "poolside proxy" "$paddr" "$ppid"
