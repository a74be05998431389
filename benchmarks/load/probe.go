package load

import "github.com/poolside-dev/poolside/wire"

// Probe is what a Runner sees of a server in this process that it
// measures (Config.Server): its address and model, whether the run has
// its store to itself, the requests it served in a window, and its pool.
// *LocalServer is one. Its methods must be safe for concurrent use.
type Probe interface {
	// Addr returns the address the server listens on.
	Addr() string

	// Spec returns the server's model, which labels the results.
	Spec() ModelSpec

	// FreshStore reports whether the server's store is the run's own and
	// started empty, and if so the last date it takes bookings for when
	// today is today. The run then books any (room, date) pair without
	// reading the date first, and has nothing to clean up after itself.
	FreshStore(today wire.Date) (last wire.Date, ok bool)

	// Observe starts recording the requests the server serves, for one
	// measurement window; stop ends it and returns what was recorded.
	// One window at a time.
	Observe() (stop func() Observed)

	// Pool returns the pool's occupancy now.
	Pool() PoolSample
}

// Observed is what a server saw of the requests it served in a window.
type Observed struct {
	// QueueWait is the time requests waited for a worker, Service the
	// time on the worker; Service.Count is the number of requests served.
	QueueWait, Service Latency
	// Busy counts the requests shed with the busy reply.
	Busy int64
}

// PoolSample is a server's pool at one moment.
type PoolSample struct {
	// Workers is the worker limit (1 for serial, 0 for unbounded).
	Workers int
	// Running counts the busy workers, Waiting the requests queued for
	// one.
	Running, Waiting int64
}
