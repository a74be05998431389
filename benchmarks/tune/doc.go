// Package tune searches the pool size of a server for a load and a
// latency objective (poolside tune), resizing one server live, step by
// step, without a restart: the clients keep their connections and only
// the pool changes.
//
// # The search
//
// At MinWorkers (the probe) it measures the service time D (and, in
// process, the client-side RTT and the CPU per request). It seeds with
// Little's law, N = X × D, X being what the load can ask for (C/(D+RTT),
// or the rate) capped by what the cores can serve. From the seed it
// doubles the pool while throughput gains at least MinGain, the p99
// holds the SLO and fewer than 1% of requests fail; then halves it from
// the seed while throughput stays within 5% of the best; then bisects
// between the smallest size within 5% of the best (and the SLO) and the
// next smaller size measured, until they are 5% (or 1 worker) apart.
// Each step resizes, runs Settle of unmeasured load, then measures for
// StepDuration. The recommendation is the smallest size within the SLO
// with at least 95% of the best throughput, explained in a paragraph
// (Report.Explanation); a Report also renders as a table, JSON and a PNG
// or SVG chart.
//
// # Targets
//
// The core, Search, takes a Sizer (the pool's size, read and set) and a
// Measurer (one window of load, a *load.Runner). Two constructors of
// those cover what poolside tune does: InProcess tunes a fresh
// load.LocalServer in this process (and may then compare it with
// adaptive sizing), Running tunes the server at an address through a
// Sizer such as AdminSizer, on the admin API of "poolside serve
// --admin-addr", and leaves its pool and its bookings as it found them.
//
// A search stops at the first failed step, and returns ctx's error if
// ctx ends. Stopped after the probe, it returns the error together with
// a report of the sizes measured until then, marked Incomplete, with no
// recommendation. Configurations are validated as load's are: every
// field out of range is a load.FieldError, wrapping
// load.ErrInvalidConfig, those of the load under "Load.".
//
// The package does not log or print: it returns reports and errors. It
// may import benchmarks/load, benchmarks/internal/render and textfmt,
// the server package (its admin API's types and adaptive sizing), gonum's
// plot packages and the standard library; never benchmarks/compare.
package tune
