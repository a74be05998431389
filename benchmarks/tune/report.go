package tune

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/poolside-dev/poolside/benchmarks/gate"
	"github.com/poolside-dev/poolside/benchmarks/load"
)

// Point is one measured pool size.
type Point struct {
	// Workers is the pool size; Step the 1-based order in which it was
	// measured, and Phase the part of the search that chose it.
	Workers int
	Step    int
	Phase   Phase
	// RPS is the throughput of successful requests; P50 and P99 their
	// latency at the clients (in an open loop, from the intended send
	// time).
	RPS      float64
	P50, P99 time.Duration
	// QueueWait and Service are the server's mean time a request waited
	// for a worker and spent on one: from the server in process, or from
	// a running server's /metrics (Config.Load.MetricsURL); 0 otherwise.
	QueueWait, Service time.Duration
	// DBWait is the mean time a request waited for a database
	// connection, and DBConns the size of the server's database pool,
	// from a running server's /metrics on a database store; 0 otherwise.
	DBWait  time.Duration
	DBConns int
	// CPUPerRequest and CPUUtilisation are as in load.Result.CPU.
	CPUPerRequest  time.Duration
	CPUUtilisation float64
	// Errors counts failed requests; Requests successful ones.
	Errors, Requests int64
	// OtherCPU is the share of the machine's CPU time that other
	// processes used during the step, settle time included (in process,
	// on Linux; 0 otherwise). Above a few percent they competed with the
	// server and the load generator, and the step's figures are noisy.
	OtherCPU float64
	// Eligible reports that the p99 met the SLO (if any) and at most 1%
	// of the requests failed: the size may be recommended.
	Eligible bool
	// WorkerCeiling is N/D, the most N workers can serve if each request
	// holds one for the low-load service time D. LoadCeiling is the most
	// the load can ask for: C/(D+RTT) for a closed loop of C clients,
	// the rate (or less, if C clients cannot carry it) for an open loop.
	// In requests per second.
	WorkerCeiling, LoadCeiling float64
	// Result is the step's full measurement.
	Result load.Result
}

// Report is the outcome of a search.
type Report struct {
	// Points are the sizes measured, in order of size.
	Points []Point

	// ServiceTime is D, the mean time a request spent on a worker at
	// MinWorkers (from the server in process; MinWorkers over the
	// throughput otherwise).
	ServiceTime time.Duration
	// RTT is the rest of a request's time at the client (connection,
	// protocol, scheduling), measured in process at the size where
	// requests queued least; RTTMeasured is false, and RTT 0, otherwise.
	RTT         time.Duration
	RTTMeasured bool
	// CPUCeiling is the most requests per second the cores could serve
	// at the least CPU time per request measured (cores / CPU per
	// request); 0 when the server is not in process.
	CPUCeiling float64
	// Seed is the size Little's law gave, N = X × D, with X = SeedRate,
	// what SeedBy allowed: "clients" (C/(D+RTT), RTT counted only if the
	// probe measured it without queueing), "rate" (an open loop's rate),
	// or "cpu" (the cores at the CPU per request of the probe, when the
	// probe kept at least half a core busy), bounded by MinWorkers and
	// MaxWorkers; SeedUnbounded is the size before that bound.
	Seed          int
	SeedUnbounded int
	SeedRate      float64
	SeedBy        string
	// LoadCeilingBy says what sets the points' LoadCeiling: "clients"
	// (C/(D+RTT), a closed loop, or an open loop whose clients cannot
	// carry its rate) or "rate" (an open loop's rate).
	LoadCeilingBy string
	// Stop says why the climb from the seed ended, and ClimbFrom and
	// ClimbTo are the sizes of its last step (both the size it ended at
	// when it ended at MaxWorkers).
	Stop               Stop
	ClimbFrom, ClimbTo int
	// Best is the size with the highest throughput among eligible points
	// (0 if none).
	Best int
	// Recommended is the smallest eligible size with at least 95% of
	// Best's throughput; 0 if no size met the SLO, and in an incomplete
	// report.
	Recommended int
	// Incomplete reports that the search stopped before it finished (ctx
	// ended or a step failed; see Search): Points are the sizes measured
	// until then, and nothing is recommended.
	Incomplete bool
	// Explanation says in one paragraph what was measured and why the
	// recommendation is what it is.
	Explanation string
	// FinalWorkers is the pool size the search left the server at (Running
	// and Search: the size before, or Recommended with Apply; 0 for
	// InProcess, and when it could not be set: see ErrNotRestored).
	FinalWorkers int

	// Adaptive is the adaptive server's run; nil unless
	// LocalConfig.Adaptive was set.
	Adaptive *AdaptiveRun

	// Env describes the machine and the load (Warmup is the settle time
	// and Duration the step).
	Env load.Env
	// SLOP99, MinGain, MinWorkers, MaxWorkers and MaxSteps are the
	// search's settings, defaults resolved.
	SLOP99                           time.Duration
	MinGain                          float64
	MinWorkers, MaxWorkers, MaxSteps int
	// CapBy says what caps the sizes searched at MaxWorkers: "--clients"
	// when MaxWorkers is the number of clients or more (Config.MaxWorkers
	// 0 makes it the number of clients), since each client has at most
	// one request in flight, so no more workers than clients can be busy;
	// "--max-workers" when it is fewer. MaxWorkersSet reports that
	// Config.MaxWorkers was given, so that raising the clients alone does
	// not raise the cap. (When the rate or the CPU is what limits the
	// throughput, the climb stops on MinGain, and the explanation says
	// so.)
	CapBy         string
	MaxWorkersSet bool
	// CapFrom and CapGain are set when the climb stopped at MaxWorkers
	// (StopMaxWorkers): CapGain is the throughput MaxWorkers gained over
	// CapFrom, the size the climb doubled from to reach it or, when the
	// seed was there already, the largest size measured at or below half
	// of it (0 and 0 if none). StillRising reports that CapGain is at
	// least MinGain (DefaultMinGain when MinGain is negative): the
	// climb would have gone on, and the best size may lie beyond the
	// search.
	CapFrom     int
	CapGain     float64
	StillRising bool

	// Contended reports that other processes used noisyOtherCPU (20%) or
	// more of the machine's CPU during a step, so that its figures
	// measure the machine's other work as well as the server;
	// ContendedWorkers are the sizes of those steps, smallest first, and
	// OtherCPUMax the largest share other processes used during any step
	// (Point.OtherCPU: measured in process only).
	Contended        bool
	ContendedWorkers []int
	OtherCPUMax      float64
	// Doubts say, a clause each, why the recommendation should not be
	// trusted as it stands: a contended run, throughput still rising at
	// the cap. Empty for a clean run; tune --strict fails on any.
	Doubts []string
}

// Point returns the point measured at workers, or nil.
func (rep *Report) Point(workers int) *Point {
	for i := range rep.Points {
		if rep.Points[i].Workers == workers {
			return &rep.Points[i]
		}
	}
	return nil
}

// report assembles the Report from the points measured so far.
func (t *search) report() *Report {
	c := t.cfg
	rep := &Report{
		ServiceTime:   t.d,
		Seed:          t.seed,
		SeedUnbounded: t.seedUnbounded,
		SeedRate:      t.seedRate,
		SeedBy:        t.seedBy,
		Stop:          t.stop,
		ClimbFrom:     t.climbFrom,
		ClimbTo:       t.top,
		SLOP99:        c.SLOP99,
		MinGain:       c.MinGain,
		MinWorkers:    c.MinWorkers,
		MaxWorkers:    c.MaxWorkers,
		MaxSteps:      c.MaxSteps,
	}
	rep.Env = t.env(c, t.pointsInOrder())
	// The RTT where requests queued least, and the least CPU per request.
	var calm *Point
	for _, p := range t.points {
		if v := p.Result.Server; v != nil && v.Service.Mean > 0 && (calm == nil || v.QueueWait.Mean < calm.QueueWait) {
			calm = p
		}
		if cpu := p.Result.CPU; cpu.Scope == load.CPUScopeProcess && cpu.PerRequest > 0 {
			rep.CPUCeiling = max(rep.CPUCeiling, float64(cores(cpu))/cpu.PerRequest.Seconds())
		}
	}
	if calm != nil {
		rep.RTT, rep.RTTMeasured = rttOf(calm.Result), true
	}
	load := t.loadCeiling(rep.RTT)
	rep.LoadCeilingBy = t.loadCeilingBy(rep.RTT)
	for _, p := range t.points {
		q := *p
		if t.d > 0 {
			q.WorkerCeiling = float64(q.Workers) / t.d.Seconds()
		}
		if !math.IsInf(load, 0) {
			q.LoadCeiling = load
		}
		rep.Points = append(rep.Points, q)
	}
	slices.SortFunc(rep.Points, func(a, b Point) int { return a.Workers - b.Workers })
	if b := t.best(); b != nil {
		rep.Best = b.Workers
	}
	if rec, _ := t.bracket(); rec != nil {
		rep.Recommended = rec.Workers
	}
	rep.CapBy, rep.MaxWorkersSet = "--max-workers", c.maxWorkersSet
	if c.MaxWorkers >= c.Load.Clients {
		rep.CapBy = "--clients"
	}
	if rep.Stop == StopMaxWorkers {
		rep.CapFrom = t.capFrom
	}
	rep.judge()
	return rep
}

// judge sets what may make the recommendation untrustworthy: Contended,
// ContendedWorkers, OtherCPUMax, CapGain, StillRising and the Doubts.
// CapFrom, if 0, is set to the size judged from.
func (rep *Report) judge() {
	var contended []Point
	for _, p := range rep.Points {
		if p.OtherCPU >= noisyOtherCPU {
			contended = append(contended, p)
			rep.ContendedWorkers = append(rep.ContendedWorkers, p.Workers)
		}
		rep.OtherCPUMax = max(rep.OtherCPUMax, p.OtherCPU)
	}
	if rep.Contended = len(contended) > 0; rep.Contended {
		rep.Doubts = append(rep.Doubts, fmt.Sprintf("the run was contended: other processes used up to %.0f%% of the machine's CPU, %s of it during the steps at %s, so those figures measure their work as well as the server's; tune again on a quiet machine",
			100*rep.OtherCPUMax, noisyPhrase, sizeList(contended)))
	}
	if rep.Stop != StopMaxWorkers {
		return
	}
	top, from := rep.Point(rep.MaxWorkers), rep.Point(rep.CapFrom)
	if rep.CapFrom == 0 || from == nil {
		// The seed was at the cap: the step down from it.
		for i := range rep.Points {
			if p := &rep.Points[i]; p.Workers <= (rep.MaxWorkers+1)/growth && (from == nil || p.Workers > from.Workers) {
				from = p
			}
		}
	}
	if top == nil || from == nil || from.RPS <= 0 {
		rep.CapFrom = 0
		return
	}
	rep.CapFrom, rep.CapGain = from.Workers, top.RPS/from.RPS-1
	rising := rep.MinGain
	if rising < 0 {
		rising = DefaultMinGain
	}
	if rep.StillRising = rep.CapGain >= rising; rep.StillRising {
		rep.Doubts = append(rep.Doubts, fmt.Sprintf("throughput was still rising at the cap, the most workers searched (%s from %d to %s), so the best size may be larger: %s, so %s",
			fmtGainSigned(rep.CapGain), rep.CapFrom, workers(rep.MaxWorkers), rep.capPhrase(), rep.raiseAdvice()))
	}
}

// noisyPhrase says what noisyOtherCPU is, in words.
const noisyPhrase = "a fifth or more"

// capPhrase says what caps the sizes searched and why: "the cap is
// --clients (30), since in a closed loop more workers than clients cannot
// be busy".
func (rep *Report) capPhrase() string {
	if rep.CapBy != "--clients" {
		return fmt.Sprintf("the cap is --max-workers (%d)", rep.MaxWorkers)
	}
	why := "in a closed loop more workers than clients cannot be busy"
	if rep.Env.Rate > 0 {
		why = "each client has at most one request in flight, so more workers than clients cannot be busy"
	}
	if rep.MaxWorkersSet && rep.MaxWorkers > rep.Env.Clients && rep.Env.Clients > 0 {
		return fmt.Sprintf("the cap is --clients (%d; --max-workers is %d), since %s", rep.Env.Clients, rep.MaxWorkers, why)
	}
	return fmt.Sprintf("the cap is --clients (%d), since %s", rep.MaxWorkers, why)
}

// raiseAdvice says which flags to raise to search more workers: "raise
// --clients and --max-workers and tune again".
func (rep *Report) raiseAdvice() string {
	switch {
	case rep.CapBy != "--clients":
		return "raise --max-workers and tune again"
	case rep.MaxWorkersSet:
		return "raise --clients and --max-workers and tune again"
	}
	return "raise --clients and tune again"
}

// raiseCap says what caps the sizes searched and which flags to raise.
func (rep *Report) raiseCap() string { return rep.capPhrase() + ", so " + rep.raiseAdvice() }

// pointsInOrder returns the points measured, in the order measured.
func (t *search) pointsInOrder() []Point {
	ps := make([]Point, len(t.points))
	for i, p := range t.points {
		ps[i] = *p
	}
	return ps
}

// Figures are p's figures for --fail-on thresholds (see package gate).
func (p Point) Figures() gate.Figures {
	l := p.Result.Latency
	return gate.Figures{
		P50: p.P50, P90: l.P90, P99: p.P99, P999: l.P999, Max: l.Max,
		RPS: p.RPS, Requests: p.Requests, Errors: p.Errors,
		Starved: p.Result.Starved, NotSent: p.Result.NotSent, TargetRate: p.Result.TargetRate,
	}
}
