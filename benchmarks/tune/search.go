package tune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/internal/textfmt"
)

// workers returns "1 worker" or "n workers".
var workers = textfmt.Workers

// errNoSteps ends the search when the step budget is spent.
var errNoSteps = errors.New("tune: no steps left")

// search is the state of one search.
type search struct {
	cfg Config // defaults resolved
	target

	points         []*Point // in the order measured
	stop           Stop
	climbFrom, top int // the last doubling of the climb: from, to
	// capFrom is the size the climb doubled from to reach MaxWorkers
	// (StopMaxWorkers), 0 if the seed was there already.
	capFrom int

	// From the probe.
	d             time.Duration
	seedRTT       time.Duration // the probe's RTT if it measured one without queueing
	seed          int
	seedUnbounded int
	seedRate      float64
	seedBy        string
}

// at returns the point measured at n, or nil.
func (t *search) at(n int) *Point {
	for _, p := range t.points {
		if p.Workers == n {
			return p
		}
	}
	return nil
}

// measure returns the point at n, measuring it first unless it was.
func (t *search) measure(ctx context.Context, n int, phase Phase) (*Point, error) {
	if p := t.at(n); p != nil {
		return p, nil
	}
	if len(t.points) >= t.cfg.MaxSteps {
		return nil, errNoSteps
	}
	step := len(t.points) + 1
	if t.cfg.Progress != nil {
		t.cfg.Progress(Progress{Index: step, MaxSteps: t.cfg.MaxSteps, Left: t.stepsLeft(n, phase),
			Workers: n, Phase: phase, Expected: t.cfg.Settle + t.cfg.StepDuration})
	}
	if err := t.sizer.Resize(n); err != nil {
		return nil, fmt.Errorf("tune: resizing the pool to %s: %w", workers(n), err)
	}
	otherCPU := func() float64 { return 0 }
	if t.otherCPU != nil {
		otherCPU = t.otherCPU()
	}
	res, err := t.meas.Run(ctx, t.cfg.window())
	if err != nil {
		return nil, fmt.Errorf("tune: %s: %w", workers(n), err)
	}
	other := otherCPU()
	p := &Point{
		Workers:        n,
		Step:           step,
		Phase:          phase,
		RPS:            res.RPS,
		P50:            res.Latency.P50,
		P99:            res.Latency.P99,
		CPUPerRequest:  res.CPU.PerRequest,
		CPUUtilisation: res.CPU.Utilisation,
		Errors:         res.Errors.Total(),
		Requests:       res.Requests,
		OtherCPU:       other,
		Result:         res,
	}
	if v := res.Server; v != nil {
		p.QueueWait, p.Service = v.QueueWait.Mean, v.Service.Mean
	} else if m := res.Metrics; m != nil {
		p.QueueWait, p.Service = m.QueueWait, m.Service
	}
	if m := res.Metrics; m != nil && m.DB != nil {
		p.DBWait, p.DBConns = m.DB.Wait, m.DB.Conns
	}
	// A point whose latency was not measured cannot be said to meet
	// the SLO.
	p.Eligible = !t.failed(p) && (t.cfg.SLOP99 == 0 || res.Latency.Count > 0 && p.P99 <= t.cfg.SLOP99)
	t.points = append(t.points, p)
	return p, nil
}

// stepsLeft estimates the steps the search needs after measuring n in
// phase (see Progress.Left): the doublings left to MaxWorkers, the
// halvings from the seed to MinWorkers and the bisection of the bracket
// they leave, as far as the search has narrowed them.
func (t *search) stepsLeft(n int, phase Phase) int {
	budget := t.cfg.MaxSteps - len(t.points) - 1
	lo, hi := t.cfg.MinWorkers, t.cfg.MaxWorkers
	var left int
	switch phase {
	case PhaseProbe:
		return budget
	case PhaseSeed, PhaseUp:
		half := max(n/growth, 1)
		left = doublings(n, hi) + halvings(t.seed, lo) + bisections(half, resolution(half))
	case PhaseDown:
		left = halvings(n, lo) + bisections(max(n-lo, 1), resolution(n))
	case PhaseBisect:
		// The knee is near n: the bracket ends about resolution(n) wide.
		if rec, below := t.bracket(); rec != nil && below != nil {
			left = bisections(max(n-below.Workers, rec.Workers-n), resolution(n))
		}
	}
	return max(0, min(left, budget))
}

// doublings counts the steps up from n to hi, doubling.
func doublings(n, hi int) int {
	k := 0
	for c := max(n, 1); c < hi; c = min(c*growth, hi) {
		k++
	}
	return k
}

// halvings counts the steps down from n to lo, halving.
func halvings(n, lo int) int {
	k := 0
	for c := n; c > lo; c = max(c/growth, lo) {
		k++
	}
	return k
}

// bisections counts the halvings of a bracket w wide until it is at most
// res wide.
func bisections(w, res int) int {
	k := 0
	for ; w > res; w = (w + 1) / 2 {
		k++
	}
	return k
}

// run runs the probe, the seed, the climb, the descent and the
// bisection. It returns nil when the budget runs out (t.stop says so).
func (t *search) run(ctx context.Context) error {
	err := t.steps(ctx)
	if errors.Is(err, errNoSteps) {
		t.stop = StopMaxSteps
		return nil
	}
	return err
}

func (t *search) steps(ctx context.Context) error {
	lo, hi := t.cfg.MinWorkers, t.cfg.MaxWorkers
	probe, err := t.measure(ctx, lo, PhaseProbe)
	if err != nil {
		return err
	}
	if probe.Requests == 0 {
		return t.probeFailed(probe)
	}
	t.calibrate(probe)

	// Climb from the seed.
	cur, err := t.measure(ctx, t.seed, PhaseSeed)
	if err != nil {
		return err
	}
	for prev := 0; ; {
		t.climbFrom, t.top = cur.Workers, cur.Workers
		if cur.Workers >= hi {
			t.stop, t.capFrom = StopMaxWorkers, prev
			break
		}
		next, err := t.measure(ctx, min(cur.Workers*growth, hi), PhaseUp)
		if err != nil {
			return err
		}
		t.top = next.Workers
		if t.failed(next) {
			t.stop = StopErrors
			break
		}
		if !next.Eligible && t.eligibleBelow(next.Workers) {
			t.stop = StopSLO
			break
		}
		if t.cfg.MinGain >= 0 && next.RPS < (1+t.cfg.MinGain)*cur.RPS {
			t.stop = StopMinGain
			break
		}
		prev, cur = cur.Workers, next
	}

	// Descend from the seed while throughput holds.
	for n := t.seed; n > lo && t.good(t.at(n)); {
		n = max(n/growth, lo)
		if _, err := t.measure(ctx, n, PhaseDown); err != nil {
			return err
		}
	}

	// Bisect the bracket around the knee.
	for {
		rec, below := t.bracket()
		if rec == nil || below == nil || rec.Workers-below.Workers <= resolution(rec.Workers) {
			return nil
		}
		if _, err := t.measure(ctx, (rec.Workers+below.Workers)/2, PhaseBisect); err != nil {
			return err
		}
	}
}

// probeFailed is the error when no request of the probe p succeeded.
func (t *search) probeFailed(p *Point) error {
	e := p.Result.Errors
	what := "check the server"
	if e.Timeout > 0 {
		timeout := t.cfg.Load.WithDefaults().Timeout
		what = fmt.Sprintf("if the server is that slow, give each request more than %v (the timeout), or check the server", timeout)
	}
	return fmt.Errorf("%w at %s (%s): there is no service time to start the search from; %s",
		ErrProbeFailed, workers(p.Workers), e.String(), what)
}

// resolution is the width at which the bisection around n stops.
func resolution(n int) int { return max(1, int(resolutionShare*float64(n))) }

// failed reports that more than 1% of p's requests failed.
func (t *search) failed(p *Point) bool { return p.failed() }

// failed reports that more than 1% of p's requests failed.
func (p *Point) failed() bool {
	return float64(p.Errors) > maxErrorShare*float64(p.Errors+p.Requests)
}

// eligibleBelow reports whether a size below n met the SLO.
func (t *search) eligibleBelow(n int) bool {
	for _, p := range t.points {
		if p.Workers < n && p.Eligible {
			return true
		}
	}
	return false
}

// best returns the eligible point with the highest throughput, or nil.
func (t *search) best() *Point {
	var b *Point
	for _, p := range t.points {
		if p.Eligible && (b == nil || p.RPS > b.RPS || p.RPS == b.RPS && p.Workers < b.Workers) {
			b = p
		}
	}
	return b
}

// good reports whether p is eligible with at least 95% of the best
// throughput.
func (t *search) good(p *Point) bool {
	b := t.best()
	return p != nil && b != nil && p.Eligible && p.RPS >= share*b.RPS
}

// bracket returns the smallest good point (the recommendation so far)
// and the largest point measured below it, either nil if there is none.
func (t *search) bracket() (rec, below *Point) {
	for _, p := range t.points {
		if t.good(p) && (rec == nil || p.Workers < rec.Workers) {
			rec = p
		}
	}
	if rec == nil {
		return nil, nil
	}
	for _, p := range t.points {
		if p.Workers < rec.Workers && (below == nil || p.Workers > below.Workers) {
			below = p
		}
	}
	return rec, below
}

// calibrate takes D from the probe and computes the seed.
func (t *search) calibrate(p *Point) {
	res := p.Result
	if v := res.Server; v != nil && v.Service.Mean > 0 {
		t.d = v.Service.Mean
		// With requests queueing for a worker, client and server means
		// differ by more than the RTT; only a probe that barely queued
		// measures it.
		if v.QueueWait.Mean <= v.Service.Mean {
			t.seedRTT = rttOf(res)
		}
	} else if p.RPS > 0 {
		// The utilisation law: n busy workers serve n/D requests a second.
		t.d = time.Duration(float64(p.Workers) / p.RPS * float64(time.Second))
	}
	t.seedRate, t.seedBy = t.loadCeiling(t.seedRTT), t.loadCeilingBy(t.seedRTT)
	// At low throughput the CPU per request counts the process's fixed
	// costs too; only a probe that kept half a core busy measures it.
	if cpu := res.CPU; cpu.Scope == load.CPUScopeProcess && cpu.PerRequest > 0 && cpu.Utilisation*float64(cpu.Cores) >= 0.5 {
		if x := float64(cores(cpu)) / cpu.PerRequest.Seconds(); x < t.seedRate {
			t.seedRate, t.seedBy = x, "cpu"
		}
	}
	seed := math.Ceil(t.seedRate * t.d.Seconds())
	if math.IsNaN(seed) || math.IsInf(seed, 0) {
		seed = float64(t.cfg.MaxWorkers)
	}
	t.seedUnbounded = int(min(seed, math.MaxInt32))
	t.seed = int(max(float64(t.cfg.MinWorkers), min(float64(t.cfg.MaxWorkers), seed)))
}

// cores is the number of cores the process can use.
func cores(c load.CPU) int { return min(max(c.Cores, 1), runtime.GOMAXPROCS(0)) }

// rttOf returns the client's mean time per request less the server's.
func rttOf(res load.Result) time.Duration {
	v := res.Server
	return max(0, res.ServiceTime.Mean-v.QueueWait.Mean-v.Service.Mean)
}

// loadCeiling is the most requests per second the load can ask for with
// the given RTT: C/(D+RTT) for a closed loop, and no more than the rate
// for an open one.
func (t *search) loadCeiling(rtt time.Duration) float64 {
	x := math.Inf(1)
	if cycle := (t.d + rtt).Seconds(); cycle > 0 {
		x = float64(t.cfg.Load.Clients) / cycle
	}
	if r := t.cfg.Load.Rate; r > 0 {
		x = min(x, r)
	}
	return x
}

// loadCeilingBy says what sets loadCeiling(rtt): "rate" when an open
// loop's clients can carry its rate, "clients" otherwise.
func (t *search) loadCeilingBy(rtt time.Duration) string {
	if r := t.cfg.Load.Rate; r > 0 && r <= t.loadCeiling(rtt) {
		return "rate"
	}
	return "clients"
}
