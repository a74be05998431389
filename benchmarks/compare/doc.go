// Package compare is the model comparison of poolside bench: it runs
// concurrency models (load.ModelSpec, "serial,pool:8,conn:64,unbounded")
// each against a fresh load.LocalServer, or a running server at an
// address, under one load, interleaved over several rounds, and reports
// the median of each figure (the errors and warnings of the median
// round) as an aligned table with notes, JSON, CSV and a PNG or SVG chart.
//
// A comparison interrupted (or failed) after some runs finished returns
// its error with the report of those runs, marked incomplete
// (Report.Incomplete), so that a long one is not lost. Against a running
// server each round's Runner leaves the server's bookings as it found
// them (see load.Runner.Close).
//
// Configurations are validated as load's are: every field out of range is
// a load.FieldError, wrapping load.ErrInvalidConfig, those of the load,
// window and server under "Load.", "Window." and "Server.".
//
// The package does not log or print: it returns reports and errors. It
// may import benchmarks/load, benchmarks/internal/render and textfmt,
// gonum's plot packages and the standard library; never
// benchmarks/tune.
package compare
