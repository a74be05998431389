// Package robustness is poolside's robustness suite: tests, with no code of
// its own, that put a faults.Proxy between real clients (package client) and
// an in-process server (package server with the booking handler on a memory
// store), inject every fault of package faults in each direction, and check
// what must hold whatever the network does:
//
//   - the client never asks the connection for a byte past the end of the
//     frame it is reading (its connection is wrapped in a faults.Recorder
//     and every read is checked against the frame boundaries of the bytes
//     it actually received);
//   - a reply cut inside a frame is reported as client.ErrTruncated, and a
//     call returns success only with the reply its request implies: a
//     BOOK's echo, or a query answer that holds every booking acknowledged
//     before the query began and nothing that was never booked;
//   - nothing hangs: every call ends within its deadline (the client's
//     Config.Timeout), and a case that does not end in time fails with a
//     goroutine dump instead of waiting for go test's own timeout;
//   - nothing is lost or doubled: the calls, each between its start and
//     its end, and the store read at the end are a linearizable history of
//     the booking rules (package check, porcupine): every booking a client
//     saw acknowledged is in the store, and every answer is explained by
//     some order of the calls, a failed request being "in doubt" (it may
//     take effect at any time after it was sent, or never). Every booking
//     in the store, and every BOOK the handler ran, was sent by a client,
//     once, and BookingsForRoom over a clean connection agrees with the
//     store. Under corruption, where a reply that parses may be one the
//     server never gave, only the first of these is checked;
//   - healthy clients are still served while hundreds of others trickle
//     bytes (slowloris): models pool, serial and unbounded serve them at
//     once; model conn, where a slow connection holds a worker, is bounded
//     by the read timeout and the queue, and the test asserts that bound;
//   - requests written back to back before any reply is read are answered
//     once each, in order, through a proxy that splits both directions
//     into random pieces; and the book client's pattern (write, CloseWrite,
//     read) gets 20 replies of 20 through the proxy in every model;
//   - no goroutine leaks (goleak), and the race detector is on in make.
//
// What the protocol cannot promise: it has no checksum, so a bit flipped in
// the payload of a query's reply (a date in a BOOKINGSFORROOM list) is
// undetectable and is returned as success. The suite checks that such a
// reply differs from the truth only in the injected byte, and logs it. A
// flipped bit in a request may book a room or date nobody asked for; the
// suite derives those from the bytes the clients sent, with the fault
// applied, and counts them as sent.
//
// # Quick and full
//
// make test (go test -race ./...) runs the quick suite: every server model
// × every fault × both directions with a few clients and requests each, the
// slowloris test with 300 connections per model, and the seed corpus of
// FuzzFaultSchedule: about 25 s with -race on two shared cores.
//
// make robustness runs the full suite: it sets POOLSIDE_ROBUSTNESS=full,
// which adds more clients and requests per case, several offsets per fault
// (in the length header, in the action, the room and the date), more
// slowloris requests and 40 random schedules: about five minutes with
// -race on two shared cores. Every case is bounded in requests and in time
// either way. testing.Short() skips the slowloris and half-close tests.
//
// # Replaying a failure
//
// Every case is fully described by its model, its Up and Down fault specs
// (faults.ParseSpec syntax), the proxy seed and its client and request
// counts, and a failing case prints them with the command that runs it
// again:
//
//	POOLSIDE_REPLAY='model=pool up=cut=38 down= seed=7 clients=3 ops=4' go test -race -run TestReplay ./robustness
//
// FuzzFaultSchedule turns a seed into such a case and logs it;
//
//	go test -run '^$' -fuzz '^FuzzFaultSchedule$' -fuzztime 5m ./robustness
//
// explores more seeds, and go test replays a failing one from the corpus
// file the fuzzer writes under testdata/fuzz.
//
// # Throughput
//
// BenchmarkProxyThroughput measures 16 persistent clients sending
// BOOKINGSFORROOM to a pooled server, directly and through a faults.Proxy
// with no faults, in one run, and reports req/s for each:
//
//	go test -run '^$' -bench ProxyThroughput -benchtime 3s ./robustness
//
// The package holds tests only; they import client, faults, server,
// booking and wire, as a user's own robustness tests would.
package robustness
