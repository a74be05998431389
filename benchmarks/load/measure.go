package load

import (
	"fmt"
	"runtime"
	"time"

	"github.com/poolside-dev/poolside/server"
)

// measuring is what Run collects between the start and the end of the
// measured part: CPU times, the server's observer and pool samples.
type measuring struct {
	r            *Runner
	start        time.Time
	user, system time.Duration
	cpuOK        bool

	stopObserving func() Observed // nil without a Probe
	stopSampler   chan struct{}
	sampled       chan samples

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
	if p := r.cfg.Server; p != nil {
		m.stopObserving = p.Observe()
		m.stopSampler = make(chan struct{})
		m.sampled = make(chan samples, 1)
		every := min(max(st.end.Sub(st.measure)/200, 2*time.Millisecond), 100*time.Millisecond)
		go sample(p, every, m.stopSampler, m.sampled)
	}
	m.user, m.system, m.cpuOK = cpuTimes()
	return m
}

// sample reads the server's pool occupancy every interval until stop is
// closed, then sends the totals on out.
func sample(probe Probe, every time.Duration, stop <-chan struct{}, out chan<- samples) {
	var s samples
	take := func() {
		p := probe.Pool()
		s.n++
		s.running += float64(p.Running)
		s.waiting += float64(p.Waiting)
		s.maxRunning = max(s.maxRunning, p.Running)
		s.maxWaiting = max(s.maxWaiting, p.Waiting)
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
	p := m.r.cfg.Server
	if p == nil {
		return
	}
	obs := m.stopObserving()
	close(m.stopSampler)
	s := <-m.sampled
	v := &ServerView{
		Workers:    p.Pool().Workers,
		Requests:   obs.Service.Count,
		Busy:       obs.Busy,
		QueueWait:  obs.QueueWait,
		Service:    obs.Service,
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
	if m.stopObserving != nil {
		m.stopObserving()
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
	latency, service := NewHistogram(), NewHistogram()
	var completed, connectFailures int64
	var connectErr error
	var lastDone time.Time
	for _, wk := range r.workers {
		latency.Merge(wk.latency)
		service.Merge(wk.service)
		res.Errors.Merge(wk.errs)
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
	res.Latency = LatencyOf(latency)
	res.ServiceTime = LatencyOf(service)
	res.latencyHist, res.serviceHist = latency, service

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
		if r.cfg.Server.Spec().Model != server.ModelUnbounded {
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
