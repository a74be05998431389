// Package pool is a worker pool with a bounded queue and non-blocking
// admission: at most Workers tasks run at once, at most Queue more wait,
// and the rest are refused at once.
//
// Go hands a task to the pool and never blocks. When every worker is busy
// and the queue is full it returns ErrSaturated at once, so an accept loop
// or a connection reader can answer "busy" instead of stalling; after Stop
// it returns ErrStopped. Run is the same admission for a caller that waits
// for its task (a connection serving one request at a time): while a worker
// is free the task runs on the caller's own goroutine, holding the worker,
// so a request costs no goroutine, no wake-up and no stack growth on a
// fresh goroutine; only when every worker is busy does it queue and run on
// a worker goroutine (see BenchmarkPoolRun against BenchmarkPoolGoDoneChan).
// Tasks of Go and Run share the one limit, queue and set of counters.
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
// Admission is pool's own; the goroutines are pond's. One mutex guards
// the limit, the queue and every counter, so deciding whether a task runs
// now, queues or is refused, and counting it, is one step, and a finishing
// task hands its worker slot straight to the first queued one. A task that
// holds a slot and does not run on its caller is handed to a
// github.com/alitto/pond/v2 pool with no limit of its own, which starts a
// worker goroutine for it and counts it, so that Stop can wait for every
// goroutine the pool started. pond cannot do the admission itself: it takes a worker
// only for a function it runs on a goroutine of its own, so its limit,
// queue and counters would leave out the tasks Run runs on their callers,
// and a second set kept beside them could not give one consistent
// snapshot. Handing pond only the goroutines costs a task that does not
// run on its caller about 0.1 us more than a bare go statement
// (BenchmarkPoolGoDoneChan), under 1% of a trivial request's cost in the
// server.
package pool
