#!/usr/bin/env bash
# bench-pool: the pool model's request hand-off against a goroutine per
# connection, with the load generator in its own process.
#
#   scripts/bench-pool.sh [ROUNDS]      (default 5; make bench-pool)
#
# It builds poolside into a temporary directory and starts two servers on
# loopback ports, poolside serve --store memory --model unbounded and
# --model pool (default workers and queue). Each round runs poolside bench
# --read-only (BOOKINGSONDATE and BOOKINGSFORROOM on an empty memory store,
# a trivial handler), 16 persistent clients, 1 s warm-up and DURATION
# measured (default 4s), against unbounded and against pool, unbounded
# first in odd rounds and second in even ones (so that a drift of the
# shared machine falls on each in turn), and prints both rates, the ratio
# pool/unbounded, and each server's CPU time per request (from /proc,
# warm-up included: a guide, not a measurement to three digits); the end
# prints the median ratio over the rounds, with its lowest and highest,
# and each server's median CPU per request. When the load generator
# shares a few cores with the server, the rates are bound by the CPU of
# both processes, and the servers' CPU per request shows what the
# hand-off costs more clearly.
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

bench_init pool
build_poolside

uaddr=127.0.0.1:$(freeport)
serve unbounded --model unbounded --store memory --addr "$uaddr" --log-level warn
upid=$pid
paddr=127.0.0.1:$(freeport)
serve pool --model pool --store memory --addr "$paddr" --log-level warn
ppid=$pid
echo "== trivial handler (--read-only, memory store), $clients persistent clients, $duration per run"
compare unbounded "$uaddr" "$upid" pool "$paddr" "$ppid"
