// Package textfmt holds the small text helpers that the load generator
// and the reports of benchmarks/compare and benchmarks/tune share: plural
// words, rates, latencies and durations for people, wrapping.
//
// It imports the standard library only, so that every package under
// benchmarks may use it (benchmarks/load included).
package textfmt
