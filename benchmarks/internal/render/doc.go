// Package render holds what the reports of benchmarks/compare and
// benchmarks/tune draw and write alike: the chart page, its axes, ticks,
// colours and reference lines, and the load's environment (load.Env) as a
// chart heading and in JSON.
//
// It may import benchmarks/load, internal/textfmt, gonum's plot
// packages and the standard library; only compare and tune import it.
package render
