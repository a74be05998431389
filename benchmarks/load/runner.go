package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/wire"
)

// Runner runs measurement windows against one server with one set of
// clients. Create one with NewRunner; the zero value is not usable. One
// Run at a time: a second concurrent Run waits for the first. The
// bookings the clients hold, and the (room, date) pairs the run has seen
// free, carry over from one window to the next. After Close, Run returns
// ErrClosed.
//
// Against a server whose store the Runner does not own (Config.Server
// nil, or a Probe whose FreshStore says so, such as a LocalServer with its
// own Handler), the run leaves the store as
// it found it: it books only pairs it has read as free, never unbooks a
// booking it did not make, and Close unbooks every booking the run made
// and did not cancel (see Close and Cleanup).
type Runner struct {
	cfg     Config
	workers []*worker
	slots   *slots       // the (room, date) pairs this Runner books
	journal *journal     // nil when none is kept
	cleans  bool         // Close unbooks what the run holds
	slowest atomic.Int64 // the slowest successful reply of any window, in ns

	mu       sync.Mutex // held by Run and Close
	closed   bool
	closeErr error
}

// NewRunner validates cfg and makes its clients. Without
// Config.ConnPerRequest each client connects before NewRunner returns,
// so an unreachable server is reported here (an error wrapping
// ErrUnreachable); ctx bounds those connects. With Config.JournalDir set
// and a run that may book on a store it does not own, it creates the
// journal there.
func NewRunner(ctx context.Context, cfg Config) (*Runner, error) {
	err := cfg.Validate()
	if cfg.Addr == "" && cfg.Server == nil {
		err = errors.Join(invalid("Addr", cfg.Addr, "must name the server, as host:port, unless Server is set"), err)
	}
	if err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	r := &Runner{cfg: cfg}
	today := wire.FromTime(time.Now())
	var last wire.Date
	fresh := false
	if cfg.Server != nil {
		last, fresh = cfg.Server.FreshStore(today)
	}
	r.cleans = !fresh && !cfg.ReadOnly && cfg.Mix.books()
	if cfg.MetricsURL != "" {
		if _, err := scrapeMetrics(ctx, cfg.MetricsURL, cfg.Timeout); err != nil {
			return nil, err
		}
	}
	ccfg := client.Config{Timeout: cfg.Timeout, ConnPerRequest: cfg.ConnPerRequest, MaxConns: 1, Dialer: cfg.Dialer}
	for i := range cfg.Clients {
		c, err := client.Dial(ctx, cfg.Addr, ccfg)
		if err != nil {
			r.closeClients()
			if errors.Is(err, client.ErrConnect) && ctx.Err() == nil {
				return nil, fmt.Errorf("%w: client %d of %d: %w", ErrUnreachable, i+1, cfg.Clients, err)
			}
			return nil, fmt.Errorf("load: client %d of %d: %w", i+1, cfg.Clients, err)
		}
		r.workers = append(r.workers, newWorker(r, c, i))
	}
	if r.cleans && cfg.JournalDir != "" {
		j, err := openJournal(cfg.JournalDir, cfg.Addr)
		if err != nil {
			r.closeClients()
			return nil, err
		}
		r.journal = j
	}
	// The first date booked is the day after tomorrow, so that a server
	// whose calendar is a day ahead of this machine's takes it too.
	r.slots = newSlots(today+2, fresh, last, r.journal)
	return r, nil
}

// Config returns the Runner's configuration with defaults filled in.
func (r *Runner) Config() Config { return r.cfg }

// Close closes the clients and, against a server whose store the Runner
// does not own, cleans up: over fresh connections, with its own deadline
// (CleanupTimeout) whatever the context of the last Run was, it unbooks
// every booking the run holds, and every one whose BOOK got no answer
// (which may or may not have been made: one found not booked is tried
// again a while later, twice the slowest reply of the run after it was
// sent, or twice Config.Timeout if it timed out, so that a BOOK still
// inside the server then is unbooked too; one that the server carries out
// later still is left behind, unseen).
// It never unbooks a pair the run did not book itself after seeing it
// free. It calls Config.OnCleanup with what it did, removes the journal,
// or keeps it listing the bookings it could not unbook and returns an
// error wrapping ErrCleanup that says how many. Later calls return the
// first call's result.
func (r *Runner) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return r.closeErr
	}
	r.closed = true
	// The run's own connections go first: a server of the conn model may
	// have no worker left for the clean-up's.
	err := r.closeClients()
	if r.cleans {
		c := r.cleanup(r.settle())
		if r.journal != nil {
			path, jerr := r.journal.close(len(c.Left) > 0)
			c.Journal = path
			if jerr != nil && len(c.Left) > 0 {
				err = errors.Join(err, jerr)
			}
		}
		if r.cfg.OnCleanup != nil {
			r.cfg.OnCleanup(c)
		}
		err = errors.Join(c.Err(), err)
	}
	r.closeErr = err
	return err
}

// settle is how long after a BOOK left in doubt was sent the clean-up
// looks for it once more: twice the slowest reply of the run, at least
// minGrace, at most the request timeout.
func (r *Runner) settle() time.Duration {
	return min(r.cfg.Timeout, max(minGrace, 2*time.Duration(r.slowest.Load())))
}

func (r *Runner) closeClients() error {
	var errs []error
	for _, w := range r.workers {
		errs = append(errs, w.c.Close())
	}
	return errors.Join(errs...)
}

// Run runs one window: w.Warmup of unmeasured load, then w.Duration of
// measured load (or until w.MaxRequests). The requests still in flight
// when the measured part ends count for nothing (those of the clients
// that got no reply in the whole of it are counted in Result.Starved):
// Run waits a short grace for them, twice the slowest reply of the run
// (at least a quarter of a second, at most Config.Timeout), then cuts
// them off, closing their connections. With w.MaxRequests the requests
// sent before the cap are all waited for. It returns ErrNoRequests when
// nothing completed in the measured part, ErrUnreachable when the server
// could not be connected to (see there), a FieldError (see CheckRate)
// for an open loop whose requests are further apart than w.Duration, and
// ctx's error if ctx ends first.
//
// Run closes the Runner it makes, which cleans up after the run (see
// Runner.Close): an error of the clean-up is joined to Run's.
func Run(ctx context.Context, cfg Config, w Window) (Result, error) {
	r, err := NewRunner(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	res, err := r.Run(ctx, w)
	return res, errors.Join(err, r.Close())
}

// window is the shared state of one Run.
type window struct {
	start, measure, end time.Time
	interval            time.Duration // open loop: between scheduled requests
	max                 int64

	ticket  atomic.Int64 // open loop: the next scheduled request
	issued  atomic.Int64 // requests sent in the measured part, when capped
	sent    atomic.Int64 // open loop: measured requests sent
	capped  atomic.Bool  // MaxRequests was reached
	slowest atomic.Int64 // the slowest successful reply so far, from its send, in ns
}

// replied records a successful reply that took d from its send.
func (st *window) replied(d time.Duration) {
	for {
		cur := st.slowest.Load()
		if int64(d) <= cur || st.slowest.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// minGrace is the least time Run waits for the requests still in flight
// when a window ends before it cuts them off.
const minGrace = 250 * time.Millisecond

// grace is how long Run waits for the requests in flight when the window
// ends: twice the slowest reply of the run, at least minGrace, at most
// the request timeout. Those requests count for nothing (see
// Result.Starved); the wait only lets the healthy ones end, so that their
// connections are kept for the next window.
func (st *window) grace(timeout time.Duration) time.Duration {
	return min(timeout, max(minGrace, 2*time.Duration(st.slowest.Load())))
}

// scheduled returns the number of open-loop requests scheduled before t.
func (st *window) scheduled(t time.Time) int64 {
	d := t.Sub(st.start)
	if d <= 0 {
		return 0
	}
	return int64((d + st.interval - 1) / st.interval)
}

// admit counts a request about to be sent at t (its intended time in an
// open loop) and reports whether it may go: false once MaxRequests
// measured requests have gone.
func (st *window) admit(t time.Time) bool {
	if st.capped.Load() {
		return false
	}
	if st.max > 0 && !t.Before(st.measure) && st.issued.Add(1) > st.max {
		st.capped.Store(true)
		return false
	}
	return true
}

// Run runs one measurement window; see the package function Run.
func (r *Runner) Run(ctx context.Context, w Window) (Result, error) {
	if err := w.Validate(); err != nil {
		return Result{}, err
	}
	w = w.WithDefaults()
	if err := CheckRate(r.cfg.Rate, "Config.Rate", w.Duration, "Window.Duration"); err != nil {
		return Result{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Result{}, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The requests' context: cut a grace after the window ends.
	reqs, cut := context.WithCancel(ctx)
	defer cut()

	for _, wk := range r.workers {
		wk.reset()
	}
	now := time.Now()
	st := &window{start: now, measure: now.Add(w.Warmup), end: now.Add(w.Warmup + w.Duration), max: w.MaxRequests}
	if r.cfg.Rate > 0 {
		st.interval = interval(r.cfg.Rate)
	}

	var wg sync.WaitGroup
	done := make(chan struct{})
	for _, wk := range r.workers {
		wg.Go(func() {
			if r.cfg.Rate > 0 {
				wk.openLoop(reqs, st)
			} else {
				wk.closedLoop(reqs, st)
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	// Warm-up.
	if err := waitUntil(ctx, st.measure, done); err != nil {
		cancel()
		<-done
		r.noteSlowest(st)
		return Result{}, err
	}
	m := r.beginMeasuring(st)
	before, beforeErr := r.scrape(ctx)
	// Measurement, until the end, or until every client stopped. Only
	// the cap ends it early: in an open loop whose schedule has nothing
	// left before the end the clients stop early too, but the window is
	// still the whole duration.
	err := waitUntil(ctx, st.end, done)
	if err == nil && !st.capped.Load() {
		err = waitUntil(ctx, st.end, nil)
	}
	stopAt := time.Now()
	if err != nil {
		m.abort()
		cancel()
		<-done
		r.noteSlowest(st)
		return Result{}, err
	}
	m.finish(stopAt)
	metrics, metricsErr := r.windowMetrics(ctx, before, beforeErr)
	// The requests in flight: a grace for them to end, then cut them off.
	err = waitUntil(ctx, time.Now().Add(st.grace(r.cfg.Timeout)), done)
	cut()
	<-done
	r.noteSlowest(st)
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	res, err := r.result(st, m)
	res.Metrics = metrics
	if metricsErr != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the server's metrics (%s) could not be read for this window: %v", r.cfg.MetricsURL, metricsErr))
	}
	return res, err
}

// scrape reads Config.MetricsURL, if set.
func (r *Runner) scrape(ctx context.Context) (*metricsSnapshot, error) {
	if r.cfg.MetricsURL == "" {
		return nil, nil
	}
	s, err := scrapeMetrics(ctx, r.cfg.MetricsURL, r.cfg.Timeout)
	return &s, err
}

// windowMetrics reads the metrics at the window's end and returns what
// changed since before.
func (r *Runner) windowMetrics(ctx context.Context, before *metricsSnapshot, beforeErr error) (*ServerMetrics, error) {
	if beforeErr != nil || before == nil {
		return nil, beforeErr
	}
	after, err := r.scrape(ctx)
	if err != nil {
		return nil, err
	}
	return serverMetrics(*before, *after), nil
}

// noteSlowest keeps the slowest reply of st's window, if it is the
// slowest of the run.
func (r *Runner) noteSlowest(st *window) {
	d := st.slowest.Load()
	for {
		cur := r.slowest.Load()
		if d <= cur || r.slowest.CompareAndSwap(cur, d) {
			return
		}
	}
}

// waitUntil waits until t, or until done is closed (returning nil), or
// ctx ends (returning its error).
func waitUntil(ctx context.Context, t time.Time, done <-chan struct{}) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// closedLoop sends requests back to back until the window ends.
func (wk *worker) closedLoop(ctx context.Context, st *window) {
	for ctx.Err() == nil {
		sent := time.Now()
		if !sent.Before(st.end) || !st.admit(sent) || !wk.send(ctx, st, sent, sent) {
			return
		}
	}
}

// openLoop takes the next scheduled request, waits for its time, sends it,
// and so on until the schedule passes the window's end or the window has
// ended (the requests scheduled in the measured part but not sent by then
// are counted as not sent, see Result.NotSent). As in a closed loop, a
// request is measured when it completes in the measured part; its latency
// counts from its intended time, so that a request sent late because
// every client was waiting for a slow reply is charged the wait, also
// when it was scheduled in the warm-up and the clients are still working
// through that backlog.
func (wk *worker) openLoop(ctx context.Context, st *window) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for ctx.Err() == nil {
		i := st.ticket.Add(1) - 1
		intended := st.start.Add(time.Duration(i) * st.interval)
		if !intended.Before(st.end) || !time.Now().Before(st.end) || !st.admit(intended) {
			return
		}
		if d := time.Until(intended); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		if !intended.Before(st.measure) {
			st.sent.Add(1)
		}
		if !wk.send(ctx, st, intended, time.Now()) {
			return
		}
	}
}

// send sends one request of the mix, sent now, at sent, and records it
// as finished, its latency measured from from (see finished). It reports
// whether the loop goes on: false when the request was still in flight
// as the window ended, or ctx ended.
func (wk *worker) send(ctx context.Context, st *window, from, sent time.Time) bool {
	err := wk.do(ctx)
	done := time.Now()
	if done.After(st.end) {
		wk.inFlightAtEnd(sent)
		return false
	}
	if ctx.Err() != nil {
		return false
	}
	wk.finished(st, err, from, sent, done)
	return true
}

// finished records a request that completed at done, before the window's
// end: measured if done is in the measured part, from the time from.
func (wk *worker) finished(st *window, err error, from, sent, done time.Time) {
	if err == nil {
		st.replied(done.Sub(sent))
	}
	if l := wk.r.cfg.Live; l != nil {
		l.record(err, done.Sub(from))
	}
	if done.Before(st.measure) {
		return
	}
	wk.completed++
	if err == nil {
		wk.succeeded++
		if wk.lastUnavailable {
			wk.unavailable++
		}
	}
	wk.lastDone = done
	wk.outcome(err, from, sent, done)
}

// inFlightAtEnd records that the request sent at sent had no reply when
// the window ended.
func (wk *worker) inFlightAtEnd(sent time.Time) {
	wk.waiting, wk.waitingSince = true, sent
}
