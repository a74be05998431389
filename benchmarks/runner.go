package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/server"
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
// nil, or a LocalServer with its own Handler), the run leaves the store as
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
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &Runner{cfg: cfg}
	today := wire.FromTime(time.Now())
	fresh := cfg.Server != nil && cfg.Server.svc != nil
	var last wire.Date
	if fresh {
		last = cfg.Server.lastDate(today)
	}
	r.cleans = !fresh && !cfg.ReadOnly && cfg.Mix.books()
	ccfg := client.Config{Timeout: cfg.Timeout, ConnPerRequest: cfg.ConnPerRequest, MaxConns: 1, Dialer: cfg.Dialer}
	for i := range cfg.Clients {
		c, err := client.Dial(ctx, cfg.Addr, ccfg)
		if err != nil {
			r.closeClients()
			if errors.Is(err, client.ErrConnect) && ctx.Err() == nil {
				return nil, fmt.Errorf("%w: client %d of %d: %w", ErrUnreachable, i+1, cfg.Clients, err)
			}
			return nil, fmt.Errorf("benchmarks: client %d of %d: %w", i+1, cfg.Clients, err)
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
// could not be connected to (see there), an error wrapping
// ErrInvalidConfig for an open loop whose requests are further apart
// than w.Duration, and ctx's error if ctx ends first.
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
	w = w.withDefaults()
	if err := checkInterval(r.cfg.Rate, w.Duration); err != nil {
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
	return r.result(st, m)
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
		if !sent.Before(st.end) || !st.admit(sent) {
			return
		}
		err := wk.do(ctx)
		done := time.Now()
		if done.After(st.end) {
			wk.inFlightAtEnd(sent)
			return
		}
		if ctx.Err() != nil {
			return
		}
		wk.finished(st, err, sent, sent, done)
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
		sent := time.Now()
		err := wk.do(ctx)
		done := time.Now()
		if done.After(st.end) {
			wk.inFlightAtEnd(sent)
			return
		}
		if ctx.Err() != nil {
			return
		}
		wk.finished(st, err, intended, sent, done)
	}
}

// finished records a request that completed at done, before the window's
// end: measured if done is in the measured part, from the time from.
func (wk *worker) finished(st *window, err error, from, sent, done time.Time) {
	if err == nil {
		st.replied(done.Sub(sent))
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

// measuring is what Run collects between the start and the end of the
// measured part: CPU times, the server's observer and pool samples.
type measuring struct {
	r            *Runner
	start        time.Time
	user, system time.Duration
	cpuOK        bool

	stopSampler chan struct{}
	sampled     chan samples

	// Set by finish.
	stop           time.Time
	dUser, dSystem time.Duration
	server         *ServerView
}

type samples struct {
	n                      int
	running, waiting       float64
	maxRunning, maxWaiting int64
}

func (r *Runner) beginMeasuring(st *window) *measuring {
	m := &measuring{r: r, start: time.Now()}
	if ls := r.cfg.Server; ls != nil {
		ls.obs.begin()
		m.stopSampler = make(chan struct{})
		m.sampled = make(chan samples, 1)
		every := min(max(st.end.Sub(st.measure)/200, 2*time.Millisecond), 100*time.Millisecond)
		go sample(ls.srv, every, m.stopSampler, m.sampled)
	}
	m.user, m.system, m.cpuOK = cpuTimes()
	return m
}

// sample reads the server's pool occupancy every interval until stop is
// closed, then sends the totals on out.
func sample(srv *server.Server, every time.Duration, stop <-chan struct{}, out chan<- samples) {
	var s samples
	take := func() {
		p := srv.Stats().Pool
		s.n++
		s.running += float64(p.Running)
		s.waiting += float64(p.Waiting)
		s.maxRunning = max(s.maxRunning, p.Running)
		s.maxWaiting = max(s.maxWaiting, int64(p.Waiting))
	}
	t := time.NewTicker(every)
	defer t.Stop()
	take()
	for {
		select {
		case <-t.C:
			take()
		case <-stop:
			out <- s
			return
		}
	}
}

// finish ends the measured part at stop.
func (m *measuring) finish(stop time.Time) {
	m.stop = stop
	if u, s, ok := cpuTimes(); ok && m.cpuOK {
		m.dUser, m.dSystem = u-m.user, s-m.system
	} else {
		m.cpuOK = false
	}
	ls := m.r.cfg.Server
	if ls == nil {
		return
	}
	qw, svc, busy := ls.obs.end()
	close(m.stopSampler)
	s := <-m.sampled
	v := &ServerView{
		Workers:    ls.srv.Stats().Pool.Workers,
		Requests:   svc.TotalCount(),
		Busy:       busy,
		QueueWait:  latencyOf(qw),
		Service:    latencyOf(svc),
		MaxRunning: s.maxRunning,
		MaxWaiting: s.maxWaiting,
		Samples:    s.n,
	}
	if s.n > 0 {
		v.MeanRunning = s.running / float64(s.n)
		v.MeanWaiting = s.waiting / float64(s.n)
	}
	m.server = v
}

// abort stops the observer and the sampler without results.
func (m *measuring) abort() {
	if ls := m.r.cfg.Server; ls != nil {
		ls.obs.end()
		close(m.stopSampler)
		<-m.sampled
	}
}

// result merges the workers' figures into a Result.
func (r *Runner) result(st *window, m *measuring) (Result, error) {
	res := Result{
		Label:          r.label(),
		OpenLoop:       r.cfg.Rate > 0,
		TargetRate:     r.cfg.Rate,
		Clients:        r.cfg.Clients,
		ConnPerRequest: r.cfg.ConnPerRequest,
		Server:         m.server,
	}
	latency, service := newHistogram(), newHistogram()
	var completed, connectFailures int64
	var connectErr error
	var lastDone time.Time
	for _, wk := range r.workers {
		latency.Merge(wk.latency)
		service.Merge(wk.service)
		res.Errors.merge(wk.errs)
		res.Requests += wk.succeeded
		res.Unavailable += wk.unavailable
		completed += wk.completed
		connectFailures += wk.connectFailures
		if connectErr == nil {
			connectErr = wk.connectErr
		}
		if wk.lastDone.After(lastDone) {
			lastDone = wk.lastDone
		}
	}
	// Not one success and nothing but failures to connect: there is no
	// server to measure, and a table of failures would hide it.
	if failed := res.Errors.Total(); res.Requests == 0 && latency.TotalCount() == 0 && failed > 0 && connectFailures == failed {
		return res, fmt.Errorf("%w: all %d requests measured failed to connect: %w", ErrUnreachable, failed, connectErr)
	}
	end := m.stop
	if st.capped.Load() && lastDone.After(st.measure) {
		end = lastDone
	}
	res.Window = end.Sub(st.measure)
	if res.OpenLoop && !st.capped.Load() {
		res.NotSent = max(0, st.scheduled(st.end)-st.scheduled(st.measure)-st.sent.Load())
	}
	slowest := time.Duration(st.slowest.Load())
	for _, wk := range r.workers {
		// A client that completed nothing in the window, and whose request
		// at its end had waited more than twice as long as any reply of
		// the run took (any time at all, if none came), was left unserved,
		// not merely slow.
		if wk.waiting && wk.completed == 0 && st.end.Sub(wk.waitingSince) > 2*slowest {
			res.Starved++
		}
	}
	if completed == 0 || res.Window <= 0 {
		if res.Starved > 0 {
			return res, fmt.Errorf("%w: %d of the %d clients sent a request and were still waiting for its reply when the %v measured ended",
				ErrNoRequests, res.Starved, res.Clients, st.end.Sub(st.measure))
		}
		return res, ErrNoRequests
	}
	res.RPS = float64(res.Requests) / res.Window.Seconds()
	res.Latency = latencyOf(latency)
	res.ServiceTime = latencyOf(service)

	if m.cpuOK {
		cores := runtime.NumCPU()
		total := m.dUser + m.dSystem
		res.CPU = CPU{
			Scope:       CPUScopeClient,
			User:        m.dUser,
			System:      m.dSystem,
			PerRequest:  total / time.Duration(completed),
			Utilisation: total.Seconds() / (m.stop.Sub(m.start).Seconds() * float64(cores)),
			Cores:       cores,
		}
		if r.cfg.Server != nil {
			res.CPU.Scope = CPUScopeProcess
		}
	}

	res.Little = Little{
		ClientL: res.RPS * res.ServiceTime.Mean.Seconds(),
		Clients: r.cfg.Clients,
	}
	if v := res.Server; v != nil {
		x := float64(v.Requests) / m.stop.Sub(m.start).Seconds()
		res.Little.ServerL = x * (v.QueueWait.Mean + v.Service.Mean).Seconds()
		if r.cfg.Server.srv.Model() != server.ModelUnbounded {
			res.Little.ServerSampled = v.MeanRunning + v.MeanWaiting
		}
	}
	res.Warnings = warnings(res, r.cfg.Server != nil && r.cfg.Server.Spec().Model == server.ModelConn)
	return res, nil
}

func (r *Runner) label() string {
	if r.cfg.Server != nil {
		return r.cfg.Server.Spec().String()
	}
	return r.cfg.Addr
}

// warnings explains figures that say more about the load generator or
// the machine than about the server, and clients left without a reply.
// connModel reports an in-process server of the conn model.
func warnings(res Result, connModel bool) []string {
	var ws []string
	if c := res.CPU; c.Cores > 0 && c.Utilisation >= 0.8 {
		who := "the load generator"
		if c.Scope == CPUScopeProcess {
			who = "the load generator and the in-process server together"
		}
		ws = append(ws, fmt.Sprintf("%s used %.0f%% of %d cores: the CPU, not the concurrency model, limited this run", who, 100*c.Utilisation, c.Cores))
	}
	failed := res.Errors.Total()
	var failedShare float64
	if n := res.Requests + failed; n > 0 {
		failedShare = float64(failed) / float64(n)
	}
	// X·W counts successful requests only, so with many failures it says
	// nothing about the clients; and a server with requests queued for a
	// worker was the limit, whatever X·W says.
	queued := res.Server != nil && res.Server.MeanWaiting >= 1
	l := res.Little
	if res.Starved > 0 {
		ws = append(ws, starvedWarning(res, connModel))
	}
	if !res.OpenLoop && l.Clients > 0 && l.ClientL < 0.8*float64(l.Clients) && failedShare <= maxFailedShare && !queued && res.Starved == 0 {
		ws = append(ws, fmt.Sprintf("the %d clients were waiting for replies only %.0f%% of the time (X·W = %.1f): the load generator, not the server, is the bottleneck", l.Clients, 100*l.ClientL/float64(l.Clients), l.ClientL))
	}
	if res.OpenLoop {
		if res.NotSent > 0 {
			ws = append(ws, fmt.Sprintf("%d requests scheduled in the measured time were never sent: when it ended every client was still waiting for a reply, so the server could not keep up with the rate or there were too few clients (these requests are missing from the latency figures)", res.NotSent))
		}
		if res.RPS < 0.95*res.TargetRate {
			ws = append(ws, fmt.Sprintf("achieved %s of the %s req/s asked for", fmtRate(res.RPS), fmtRate(res.TargetRate)))
		}
		if l.Clients > 0 && l.ClientL >= 0.9*float64(l.Clients) {
			why := "the server could not keep up, or there are too few clients for this rate"
			if v := res.Server; v != nil && v.MeanWaiting >= 1 {
				why = fmt.Sprintf("the server could not keep up (%.1f requests queued on average)", v.MeanWaiting)
			} else if v != nil {
				why = "the server was not queueing, so there are too few clients for this rate and latency: add clients"
			}
			ws = append(ws, fmt.Sprintf("all %d clients were busy %.0f%% of the time and requests went out late (the corrected latency counts the delay): %s", l.Clients, 100*l.ClientL/float64(l.Clients), why))
		}
	}
	if res.Unavailable > 0 {
		what := "requests were"
		if res.Unavailable == 1 {
			what = "request was"
		}
		ws = append(ws, fmt.Sprintf("%d %s refused because someone else had booked the room on that date after the run read it as free, or had cancelled a booking of the run's (or the date was past the server's horizon): the server's right answer, counted as answered and not as errors; the run did not use those rooms and dates again",
			res.Unavailable, what))
	}
	if failedShare > 0.01 {
		ws = append(ws, fmt.Sprintf("%.1f%% of the requests failed (%s)%s", 100*failedShare, res.Errors.String(), failureCause(res.Errors)))
	}
	return ws
}

// starvedWarning says that some clients got no reply in the whole window.
func starvedWarning(res Result, connModel bool) string {
	who := fmt.Sprintf("%d of the %d clients", res.Starved, res.Clients)
	if res.Starved == res.Clients {
		who = fmt.Sprintf("all %s", clients(res.Clients))
	}
	s := fmt.Sprintf("%s got no reply in the whole measured window: their request was still waiting when it ended, so the figures above describe the other clients only", who)
	if res.Starved == res.Clients {
		s = fmt.Sprintf("%s got no reply in the whole measured window: their requests were still waiting when it ended", who)
	}
	if connModel {
		return s + " (in the conn model a connection holds its worker for its whole life, so clients beyond the workers wait until a connection closes: give it at least as many workers as clients, or use the pool model)"
	}
	return s + " (the server left their connections unserved, or answers more slowly than the window is long)"
}

// maxFailedShare is the share of failed requests above which warnings
// no longer judge the clients by X·W.
const maxFailedShare = 0.1

// failureCause says what the main kind of failure in e means, after a
// colon, or nothing if no kind is most of them.
func failureCause(e Errors) string {
	switch total := e.Total(); {
	case 2*e.Busy > total:
		return ": most were refused as busy because the server's queue was full, so the server's capacity, not the load generator, was the limit"
	case 2*e.Timeout > total:
		return ": most timed out, so the server answered more slowly than the timeout allows"
	case 2*e.Connection > total:
		return ": most lost their connection, or could not make one"
	}
	return ""
}
