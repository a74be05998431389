package server

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/poolside-dev/poolside/pool"
)

// Defaults of AdaptiveConfig, used where a field is zero.
const (
	DefaultAdaptiveInterval = 100 * time.Millisecond
	DefaultAdaptiveHistory  = 600 // a minute at the default interval
)

// DefaultMinWorkers is the lowest pool size adaptive sizing goes to when
// AdaptiveConfig.Limit.Min is 0: GOMAXPROCS, below which CPU-bound work
// could not use every core.
func DefaultMinWorkers() int { return runtime.GOMAXPROCS(0) }

// DefaultMaxWorkers is the highest pool size adaptive sizing goes to when
// AdaptiveConfig.Limit.Max is 0: 64×GOMAXPROCS, and never less than 256,
// since I/O-bound work wants hundreds of workers even on a small machine.
func DefaultMaxWorkers() int { return max(256, 64*runtime.GOMAXPROCS(0)) }

// AdaptiveConfig turns on adaptive sizing (Config.Adaptive): a control
// loop that resizes the pool of ModelPool or ModelConn from measured
// latency with a pool.Gradient2. The zero value is valid. Config.Workers is
// the starting size; 0 means DefaultWorkers() brought within [Min, Max].
//
// Every Interval the loop takes one pool.Sample: Latency is the mean time
// the interval's requests spent on a worker (queue wait excluded: waiting
// shows that the limit binds, not that the workers are overloaded), and
// InFlight is the most requests that wanted a worker at once, from
// submission to completion (in ModelConn, also the connections holding or
// waiting for a worker when the interval ends). Growth is therefore
// limited to demand: with C clients the size settles a step above C. In
// ModelConn a worker is a connection, so a smaller size takes effect as
// connections close.
//
// The loop is a goroutine of the server's, running from the first Serve
// until Shutdown or Close begins; the pool keeps the last size it set.
// Each update is logged at debug level and kept for AdaptiveHistory. While
// adaptive sizing is on the server measures each request's times as it
// does for an Observer (two clock readings and a few atomic operations per
// request), and Resize returns ErrAdaptive.
type AdaptiveConfig struct {
	// Limit tunes the controller. Limit.Min 0 means DefaultMinWorkers(),
	// or Limit.Max if that is set and lower; Limit.Max 0 means
	// DefaultMaxWorkers() (or Min if that is higher).
	// Limit.Initial must be 0: the starting size is Config.Workers.
	Limit pool.Gradient2Config

	// Interval is the time between updates. 0 means
	// DefaultAdaptiveInterval. It should span several service times, so
	// that each sample averages many requests.
	Interval time.Duration

	// History is how many updates AdaptiveHistory keeps. 0 means
	// DefaultAdaptiveHistory.
	History int

	// Ticks, if not nil, drives the loop instead of a ticker every
	// Interval: each value received ends one interval, and is the Time of
	// its sample. The loop handles one tick at a time and ends if Ticks is
	// closed. For tests.
	Ticks <-chan time.Time

	// OnUpdate, if not nil, is called by the loop after each update with
	// the point it recorded. It must not call back into the Server's
	// Shutdown or Close, which wait for the loop.
	OnUpdate func(AdaptivePoint)
}

// AdaptivePoint is one update of adaptive sizing: the trajectory that
// AdaptiveHistory returns and the admin API shows.
type AdaptivePoint struct {
	// Time is the end of the interval.
	Time time.Time `json:"time"`
	// Limit is the pool size after the update.
	Limit int `json:"limit"`
	// Latency is the mean time the interval's requests spent on a worker;
	// 0 if none finished.
	Latency time.Duration `json:"latency_ns"`
	// Estimate is the controller's long-term latency, which Latency is
	// compared with.
	Estimate time.Duration `json:"estimate_ns"`
	// InFlight is the most requests (in ModelConn, requests or
	// connections) that wanted a worker at once during the interval.
	InFlight int `json:"in_flight"`
	// Requests is the number of requests Latency averages.
	Requests int `json:"requests"`
}

// validate returns the problems of a, for Config.Validate.
func (a *AdaptiveConfig) validate(c Config) []error {
	if a == nil {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: adaptive sizing: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.Model != ModelPool && c.Model != ModelConn {
		bad("needs the pool or conn model, not %v", c.Model)
	}
	if a.Interval < 0 {
		bad("interval is %v, must be 0 or more", a.Interval)
	}
	if a.History < 0 {
		bad("history is %d, must be 0 or more", a.History)
	}
	if a.Limit.Initial != 0 {
		bad("Limit.Initial is %d; set Config.Workers for the starting size", a.Limit.Initial)
	}
	if err := a.Limit.Validate(); err != nil {
		bad("%w", err)
	} else if d := a.withDefaults(0); c.Workers > 0 && (c.Workers < d.Limit.Min || c.Workers > d.Limit.Max) {
		bad("workers is %d, outside [min, max] = [%d, %d]", c.Workers, d.Limit.Min, d.Limit.Max)
	}
	return errs
}

// withDefaults returns a copy of a with its zero values resolved, and the
// starting size from workers (Config.Workers) in Limit.Initial.
func (a *AdaptiveConfig) withDefaults(workers int) AdaptiveConfig {
	d := *a
	if d.Limit.Min == 0 {
		d.Limit.Min = DefaultMinWorkers()
		if d.Limit.Max > 0 {
			d.Limit.Min = min(d.Limit.Min, d.Limit.Max)
		}
	}
	if d.Limit.Max == 0 {
		d.Limit.Max = max(DefaultMaxWorkers(), d.Limit.Min)
	}
	if workers == 0 {
		workers = DefaultWorkers()
	}
	d.Limit.Initial = max(d.Limit.Min, min(d.Limit.Max, workers))
	if d.Interval == 0 {
		d.Interval = DefaultAdaptiveInterval
	}
	if d.History == 0 {
		d.History = DefaultAdaptiveHistory
	}
	return d
}

// adaptive is the state of adaptive sizing. Connections update the
// counters; the loop goroutine owns ctl and reads and resets the counters
// once per interval.
type adaptive struct {
	cfg AdaptiveConfig // defaults resolved
	ctl *pool.Gradient2

	started  sync.Once
	stopOnce sync.Once
	stop     chan struct{}

	inFlight atomic.Int64 // requests submitted and not finished
	peak     atomic.Int64 // most in flight since the last update
	requests atomic.Int64 // requests finished since the last update
	service  atomic.Int64 // their total time on a worker, in nanoseconds

	mu   sync.Mutex
	ring []AdaptivePoint // the last cfg.History points
	next int             // where the next point goes
	full bool            // the ring has wrapped
}

// newAdaptive returns the state for cfg, whose defaults are resolved.
func newAdaptive(cfg AdaptiveConfig) (*adaptive, error) {
	ctl, err := pool.NewGradient2(cfg.Limit)
	if err != nil {
		return nil, err
	}
	return &adaptive{cfg: cfg, ctl: ctl, stop: make(chan struct{}), ring: make([]AdaptivePoint, cfg.History)}, nil
}

// begin counts a request that wants a worker.
func (a *adaptive) begin() {
	n := a.inFlight.Add(1)
	for p := a.peak.Load(); n > p && !a.peak.CompareAndSwap(p, n); p = a.peak.Load() {
	}
}

// end counts a request that has finished after service on a worker, or
// was refused (ran false).
func (a *adaptive) end(service time.Duration, ran bool) {
	a.inFlight.Add(-1)
	if ran {
		a.service.Add(int64(service))
		a.requests.Add(1)
	}
}

// startAdaptive starts the control loop, once, on a tracked goroutine.
func (s *Server) startAdaptive() {
	if a := s.adaptive; a != nil {
		a.started.Do(func() { s.goTracked(s.adaptLoop) })
	}
}

// stopAdaptive ends the control loop; the pool keeps its last size.
func (s *Server) stopAdaptive() {
	if a := s.adaptive; a != nil {
		a.stopOnce.Do(func() { close(a.stop) })
	}
}

// adaptLoop updates the pool size at every tick until stopAdaptive.
func (s *Server) adaptLoop() {
	a := s.adaptive
	ticks := a.cfg.Ticks
	if ticks == nil {
		t := time.NewTicker(a.cfg.Interval)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-a.stop:
			return
		case now, ok := <-ticks:
			if !ok {
				return
			}
			s.adapt(now)
		}
	}
}

// adapt ends one interval at now: it feeds the controller the interval's
// sample, resizes the pool if the limit changed, and records the point.
func (s *Server) adapt(now time.Time) {
	a := s.adaptive
	// The counters are read one at a time while requests carry on, so a
	// request finishing now may land in either interval; it does not
	// matter for an average over many.
	n := a.requests.Swap(0)
	total := a.service.Swap(0)
	inFlight := a.peak.Swap(a.inFlight.Load())
	st := s.pool.Stats()
	inFlight = max(inFlight, st.Running+int64(st.Waiting))
	var latency time.Duration
	if n > 0 {
		latency = time.Duration(total / n)
	}

	prev := s.pool.Workers()
	limit := a.ctl.Update(pool.Sample{Time: now, Latency: latency, InFlight: int(inFlight)})
	p := AdaptivePoint{Time: now, Limit: limit, Latency: latency, Estimate: a.ctl.Estimate(), InFlight: int(inFlight), Requests: int(n)}
	if limit != prev {
		if err := s.pool.Resize(limit); err != nil {
			return // stopped: the server is closing
		}
		s.log.WithFields(logrus.Fields{
			"workers": limit, "previous": prev, "latency": latency, "estimate": p.Estimate, "in_flight": inFlight, "requests": n,
		}).Debug("adaptive sizing resized the pool")
	}
	a.record(p)
	if a.cfg.OnUpdate != nil {
		a.cfg.OnUpdate(p)
	}
}

func (a *adaptive) record(p AdaptivePoint) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ring[a.next] = p
	a.next++
	if a.next == len(a.ring) {
		a.next, a.full = 0, true
	}
}

// recent returns up to n of the latest points, oldest first.
func (a *adaptive) recent(n int) []AdaptivePoint {
	a.mu.Lock()
	defer a.mu.Unlock()
	size := a.next
	if a.full {
		size = len(a.ring)
	}
	n = min(n, size)
	out := make([]AdaptivePoint, n)
	for i := range out {
		out[i] = a.ring[(a.next-n+i+len(a.ring))%len(a.ring)]
	}
	return out
}

// AdaptiveHistory returns the points of the latest adaptive sizing updates
// (at most AdaptiveConfig.History), oldest first: time, pool size, latency,
// long-term latency and demand. It returns nil when adaptive sizing is
// off, and keeps working after Shutdown or Close.
func (s *Server) AdaptiveHistory() []AdaptivePoint {
	if s.adaptive == nil {
		return nil
	}
	return s.adaptive.recent(len(s.adaptive.ring))
}

// AdaptiveBounds returns the least and most workers adaptive sizing may
// set, with ok false when it is off.
func (s *Server) AdaptiveBounds() (minWorkers, maxWorkers int, ok bool) {
	if s.adaptive == nil {
		return 0, 0, false
	}
	return s.adaptive.cfg.Limit.Min, s.adaptive.cfg.Limit.Max, true
}
