// Package pool is a thin layer over github.com/alitto/pond/v2: a worker pool
// with a bounded queue and non-blocking admission.
//
// Go hands a task to the pool and never blocks. When every worker is busy
// and the queue is full it returns ErrSaturated at once, so an accept loop
// or a connection reader can answer "busy" instead of stalling; after Stop
// it returns ErrStopped. Callers only ever see this package's sentinels,
// never pond's.
//
// Go is built on pond's Go, not Submit: it allocates no future per task.
// A caller that needs to wait for its task signals completion itself, for
// example on a done channel it reuses for every request on a connection
// (see BenchmarkPoolGoDoneChan against BenchmarkPondSubmitWait).
//
// Resize changes the worker limit while the pool runs, and Stats returns a
// snapshot of the counters (running, waiting, submitted, completed,
// rejected, panicked). A task that panics is recovered and counted; the
// panic value and stack are not reported, so a task whose panics matter
// should recover them itself.
//
// Gradient2 is a pure adaptive-limit controller (after Netflix's
// concurrency-limits Gradient2): fed latency samples with their
// timestamps, it returns the worker limit to use next. It starts no
// goroutine and reads no clock, so its arithmetic is tested
// deterministically; the server runs the loop around it.
//
// pool does not log; it returns errors and exposes counters. Every method of
// Pool is safe for concurrent use.
//
// pool imports github.com/alitto/pond/v2 and the standard library only.
package pool
