// Package textfmt holds the small text helpers that the load generator,
// the reports of benchmarks/compare and benchmarks/tune, booking's salvage
// report and the command's messages share: plural words, rates, latencies and durations for people,
// wrapping.
//
// It imports the standard library only, so that every package under
// benchmarks (benchmarks/load included), booking and cmd/poolside may
// use it.
package textfmt
