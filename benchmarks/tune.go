package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/poolside-dev/poolside/server"
)

// Defaults used for zero TuneConfig fields.
const (
	// DefaultTuneSettle is the unmeasured load after each resize when
	// TuneConfig.Settle is 0.
	DefaultTuneSettle = 500 * time.Millisecond
	// DefaultTuneStep is the measured time of each step when
	// TuneConfig.Step is 0.
	DefaultTuneStep = 2 * time.Second
	// DefaultTuneMaxSteps is the most steps (pool sizes measured) when
	// TuneConfig.MaxSteps is 0: with the default settle and step, a search
	// takes 30 s at most.
	DefaultTuneMaxSteps = 12
	// DefaultTuneMinGain is the smallest throughput gain of a step up
	// that keeps the search climbing when TuneConfig.MinGain is 0.
	DefaultTuneMinGain = 0.05
)

// Constants of the search that are not worth a knob.
const (
	// tuneGrowth is the factor of each geometric step, up from the seed
	// and down from it.
	tuneGrowth = 2
	// tuneShare is the share of the best throughput that the recommended
	// size must reach: the smallest size within 5% of the best.
	tuneShare = 0.95
	// tuneResolution ends the bisection once the bracket around the knee
	// is at most this share of its upper end wide (and at least 1).
	tuneResolution = 0.05
	// tuneMaxErrorShare is the share of failed requests above which a
	// step does not count as meeting the SLO, and stops the climb.
	tuneMaxErrorShare = 0.01
)

// Sizer reads and sets the pool size of the server a Tune measures.
// *LocalServer is one, and AdminSizer is one for a running poolside serve.
type Sizer interface {
	// Workers returns the pool's current size.
	Workers() (int, error)
	// Resize sets it, without restarting the server or closing its
	// connections.
	Resize(workers int) error
}

// Measurer measures one window of load against the server a Tune resizes.
// *Runner is one; a Runner keeps its connections from one window to the
// next, so a resize is not followed by a storm of reconnections.
type Measurer interface {
	Run(ctx context.Context, w Window) (Result, error)
}

// Workers returns the pool's current size (1 for serial, 0 for unbounded),
// or ErrClosed after Close. With Resize it makes a LocalServer a Sizer.
func (ls *LocalServer) Workers() (int, error) {
	if ls.closed.Load() {
		return 0, ErrClosed
	}
	return ls.srv.Stats().Pool.Workers, nil
}

// TuneConfig configures Tune. The zero value tunes a fresh in-process
// pooled server under a closed loop of DefaultClients clients, searching
// pool sizes from 1 to the number of clients with the default settle,
// step, gain threshold and step budget, and no latency SLO.
//
// Tune runs in one of three modes:
//   - in process (Load.Addr empty, Measurer nil): a fresh LocalServer
//     configured by Server, resized through LocalServer.Resize;
//   - remote (Load.Addr set, Measurer nil): the server at Load.Addr,
//     resized through Sizer, typically an AdminSizer on its admin API;
//   - custom (Measurer set): Measurer measures and Sizer resizes; Load
//     only describes the load (Clients, Rate) for the Little's-law seed
//     and the ceilings.
type TuneConfig struct {
	// Server configures the in-process server. Its Model.Model must be
	// the pool model, the zero value (the conn model is refused: see
	// ErrNotTunable); Model.Workers is ignored: the search sets the size.
	// Ignored in the other modes.
	Server ServerConfig

	// Load is the load the pool is tuned for: Clients, Rate,
	// ConnPerRequest, Mix and Timeout as for a Runner. Addr selects the
	// remote mode; Server is ignored (Tune sets it in process).
	Load Config

	// Sizer reads and sets the pool size in the remote and custom modes,
	// where it is required. Ignored in process.
	Sizer Sizer

	// Measurer, if not nil, measures each step instead of a Runner (the
	// custom mode).
	Measurer Measurer

	// Settle is the load run after each resize before measuring, so that
	// the queue built at the previous size drains. 0 means
	// DefaultTuneSettle; a negative value means none.
	Settle time.Duration

	// Step is the measured time at each size. 0 means DefaultTuneStep.
	Step time.Duration

	// MinWorkers and MaxWorkers bound the sizes searched. MinWorkers 0
	// means 1. MaxWorkers 0 means the number of clients (Load.Clients, or
	// DefaultClients), since they never have more requests in flight.
	MinWorkers, MaxWorkers int

	// MaxSteps is the most sizes measured, the first (MinWorkers, to
	// measure the service time) included; the search stops there. 0
	// means DefaultTuneMaxSteps; it must be 0 or at least 2.
	MaxSteps int

	// SLOP99 is the latency objective: a size whose p99 is above it is
	// never recommended, and a step up that breaks it after a smaller size
	// met it ends the climb. 0 means no objective.
	SLOP99 time.Duration

	// MinGain ends the climb when a step up (doubling the pool) raises
	// throughput by less than this share, 0.05 for 5%. 0 means
	// DefaultTuneMinGain; a negative value never ends it (the climb then
	// stops at MaxWorkers, the SLO or MaxSteps).
	MinGain float64

	// Apply, in the remote and custom modes, leaves the pool at the
	// recommended size when Tune returns; false (the zero value) puts
	// back the size it had before. Ignored in process.
	Apply bool

	// Adaptive, if above 0, runs a second fresh in-process server with
	// adaptive sizing (server.AdaptiveConfig with its defaults, as
	// "poolside serve --workers auto" does) under the same load for this
	// long after the search, and reports its trajectory
	// (TuneReport.Adaptive). In process only.
	Adaptive time.Duration

	// Progress, if not nil, is called before each step, on Tune's
	// goroutine.
	Progress func(TuneStep)
}

// TuneStep says which step Tune is about to run.
type TuneStep struct {
	// Index is the 1-based step; MaxSteps the most there can be (the
	// search often needs fewer). The adaptive run, if any, comes after
	// them with Phase PhaseAdaptive.
	Index, MaxSteps int
	// Left estimates how many more steps the search needs after this
	// one, from what it has measured so far: MaxSteps − Index at the
	// probe, then fewer as the search narrows, and 0 when this step is
	// the last the search can need. It is an estimate, not a promise:
	// the search may end sooner (a climb that stops early). Never more
	// than MaxSteps − Index; 0 for the adaptive run.
	Left int
	// Workers is the pool size of the step (0 for the adaptive run).
	Workers int
	Phase   TunePhase
	// Expected is how long the step should take.
	Expected time.Duration
}

// TunePhase names the part of the search a step belongs to.
type TunePhase string

// The phases of the search, in order.
const (
	// PhaseProbe measures MinWorkers: the service time at low load.
	PhaseProbe TunePhase = "probe"
	// PhaseSeed measures the size Little's law gives.
	PhaseSeed TunePhase = "seed"
	// PhaseUp doubles the pool from the seed while it pays.
	PhaseUp TunePhase = "up"
	// PhaseDown halves it from the seed while throughput holds.
	PhaseDown TunePhase = "down"
	// PhaseBisect narrows the bracket around the knee.
	PhaseBisect TunePhase = "bisect"
	// PhaseAdaptive is the adaptive server's run (TuneConfig.Adaptive).
	PhaseAdaptive TunePhase = "adaptive"
)

// TuneStop says why the climb from the seed ended.
type TuneStop string

// The reasons the climb ends.
const (
	// StopMinGain: doubling the pool raised throughput by less than
	// MinGain.
	StopMinGain TuneStop = "min-gain"
	// StopSLO: the p99 went over SLOP99 after a smaller pool met it.
	StopSLO TuneStop = "slo"
	// StopMaxWorkers: the pool reached MaxWorkers.
	StopMaxWorkers TuneStop = "max-workers"
	// StopErrors: more than 1% of the requests failed.
	StopErrors TuneStop = "errors"
	// StopMaxSteps: the step budget ran out, possibly before the
	// bisection ended.
	StopMaxSteps TuneStop = "max-steps"
)

// The modes of Tune; see TuneConfig.
const (
	modeInProcess = "in-process"
	modeRemote    = "remote"
	modeCustom    = "custom"
)

func (c TuneConfig) mode() string {
	switch {
	case c.Measurer != nil:
		return modeCustom
	case c.Load.Addr != "":
		return modeRemote
	}
	return modeInProcess
}

// Validate reports whether c can configure Tune. Errors wrap
// ErrInvalidConfig.
func (c TuneConfig) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...))
	}
	mode := c.mode()
	load := c.Load
	load.Server = nil
	if load.Addr == "" {
		load.Addr = "127.0.0.1:1" // stands for the in-process server
	}
	loadErr := load.Validate()
	errs = append(errs, loadErr)
	if step := c.Step; loadErr == nil && step >= 0 {
		if step == 0 {
			step = DefaultTuneStep
		}
		errs = append(errs, checkInterval(load.Rate, step))
		if c.Adaptive > 0 {
			errs = append(errs, checkInterval(load.Rate, c.Adaptive))
		}
	}
	switch mode {
	case modeInProcess:
		switch m := c.Server.Model.Model; m {
		case server.ModelPool:
		case server.ModelConn:
			bad("%s", connNotTunable)
		default:
			bad("the %v model has no pool to tune: choose pool", m)
		}
		s := c.Server
		s.Model.Workers = 0
		errs = append(errs, s.Validate())
	default:
		if c.Sizer == nil {
			bad("tuning a server that is not in process needs a Sizer (an AdminSizer for poolside serve --admin-addr)")
		}
		if c.Adaptive > 0 {
			bad("the adaptive comparison runs in process only")
		}
	}
	if c.Step < 0 {
		bad("step is %v, must be 0 (default %v) or more", c.Step, DefaultTuneStep)
	}
	if c.MinWorkers < 0 || c.MaxWorkers < 0 {
		bad("min and max workers are %d and %d, must be 0 (default) or more", c.MinWorkers, c.MaxWorkers)
	} else if lo, hi := c.bounds(); hi < lo {
		bad("max workers %d is below min workers %d", hi, lo)
	}
	if c.MaxSteps < 0 || c.MaxSteps == 1 {
		bad("max steps is %d, must be 0 (default %d) or at least 2", c.MaxSteps, DefaultTuneMaxSteps)
	}
	if c.SLOP99 < 0 {
		bad("the p99 SLO is %v, must be 0 (none) or more", c.SLOP99)
	}
	if c.MinGain != c.MinGain || c.MinGain >= 1 {
		bad("min gain is %v, must be below 1 (0.05 is 5%%; 0 means %v)", c.MinGain, DefaultTuneMinGain)
	}
	if c.Adaptive < 0 {
		bad("the adaptive run is %v, must be 0 (none) or more", c.Adaptive)
	}
	return errors.Join(errs...)
}

// bounds returns the range of sizes searched, defaults resolved.
func (c TuneConfig) bounds() (lo, hi int) {
	lo, hi = max(c.MinWorkers, 1), c.MaxWorkers
	if hi == 0 {
		hi = c.Load.Clients
		if hi == 0 {
			hi = DefaultClients
		}
		hi = max(hi, lo)
	}
	return lo, hi
}

func (c TuneConfig) withDefaults() TuneConfig {
	switch {
	case c.Settle == 0:
		c.Settle = DefaultTuneSettle
	case c.Settle < 0:
		c.Settle = 0
	}
	if c.Step == 0 {
		c.Step = DefaultTuneStep
	}
	c.MinWorkers, c.MaxWorkers = c.bounds()
	if c.MaxSteps == 0 {
		c.MaxSteps = DefaultTuneMaxSteps
	}
	if c.MinGain == 0 {
		c.MinGain = DefaultTuneMinGain
	}
	if c.Load.Clients == 0 {
		c.Load.Clients = DefaultClients
	}
	return c
}

// TunePoint is one measured pool size.
type TunePoint struct {
	// Workers is the pool size; Step the 1-based order in which it was
	// measured, and Phase the part of the search that chose it.
	Workers int
	Step    int
	Phase   TunePhase
	// RPS is the throughput of successful requests; P50 and P99 their
	// latency at the clients (in an open loop, from the intended send
	// time).
	RPS      float64
	P50, P99 time.Duration
	// QueueWait and Service are the server's mean time a request waited
	// for a worker and spent on one; 0 when the server is not in process.
	QueueWait, Service time.Duration
	// CPUPerRequest and CPUUtilisation are as in Result.CPU.
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
	Result Result
}

// TuneReport is the outcome of Tune.
type TuneReport struct {
	// Points are the sizes measured, in order of size.
	Points []TunePoint

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
	Stop               TuneStop
	ClimbFrom, ClimbTo int
	// Best is the size with the highest throughput among eligible points
	// (0 if none).
	Best int
	// Recommended is the smallest eligible size with at least 95% of
	// Best's throughput; 0 if no size met the SLO, and in an incomplete
	// report.
	Recommended int
	// Incomplete reports that the search stopped before it finished (ctx
	// ended or a step failed; see Tune): Points are the sizes measured
	// until then, and nothing is recommended.
	Incomplete bool
	// Explanation says in one paragraph what was measured and why the
	// recommendation is what it is.
	Explanation string
	// FinalWorkers is the pool size Tune left the server at (remote and
	// custom modes: the size before, or Recommended with Apply).
	FinalWorkers int

	// Adaptive is the adaptive server's run; nil unless
	// TuneConfig.Adaptive was set.
	Adaptive *AdaptiveRun

	// Env describes the machine and the load (Warmup is the settle time
	// and Duration the step).
	Env Env
	// SLOP99, MinGain, MinWorkers, MaxWorkers and MaxSteps are the
	// search's settings, defaults resolved.
	SLOP99                           time.Duration
	MinGain                          float64
	MinWorkers, MaxWorkers, MaxSteps int
}

// Point returns the point measured at workers, or nil.
func (rep *TuneReport) Point(workers int) *TunePoint {
	for i := range rep.Points {
		if rep.Points[i].Workers == workers {
			return &rep.Points[i]
		}
	}
	return nil
}

// Tune searches the pool size for cfg's load, resizing one server live
// (no restart, the clients' connections kept), and returns every point
// measured and its recommendation.
//
// The search: at MinWorkers, measure the service time D (and, in
// process, the client-side RTT and the CPU per request). Seed with
// Little's law, N = X × D, X being what the load can ask for (C/(D+RTT),
// or the rate) capped by what the cores can serve. From the seed, double
// the pool while throughput gains at least MinGain, the p99 holds the SLO
// and fewer than 1% of requests fail; then halve it from the seed while
// throughput stays within 5% of the best; then bisect between the
// smallest size within 5% of the best (and the SLO) and the next smaller
// size measured, until they are 5% (or 1 worker) apart. Each step resizes,
// runs Settle of unmeasured load, then measures for Step. The
// recommendation is the smallest size within the SLO with at least 95% of
// the best throughput.
//
// In the remote and custom modes Tune puts the pool back to the size it
// had before, or with Apply leaves it at the recommendation; when Tune
// fails or ctx ends it always puts it back. In the remote mode its Runner
// then cleans up after the load (see Runner.Close): an error of the
// clean-up, wrapping ErrCleanup, is joined to Tune's, with the report.
// Tune stops at the first failed step, and returns ctx's error if ctx
// ends. Stopped after the probe, it returns the error together with a
// report of the sizes measured until then, marked Incomplete, with no
// recommendation (FinalWorkers says where the pool was left); stopped in
// the adaptive run, after the search, it returns the error with the
// search's complete report and Adaptive nil.
// Before the probe finished, and when the probe failed (ErrProbeFailed),
// the report is nil.
func Tune(ctx context.Context, cfg TuneConfig) (_ *TuneReport, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t := &tuner{cfg: cfg, sizer: cfg.Sizer, meas: cfg.Measurer}
	mode := cfg.mode()
	switch mode {
	case modeInProcess:
		scfg := cfg.Server
		scfg.Model.Workers = cfg.MinWorkers
		ls, r, err := startLocalRunner(ctx, scfg, cfg.Load)
		if err != nil {
			return nil, err
		}
		defer ls.Close()
		defer r.Close()
		t.sizer, t.meas = ls, r
	case modeRemote:
		r, rerr := NewRunner(ctx, cfg.Load)
		if rerr != nil {
			return nil, rerr
		}
		// The clean-up comes last, once the pool is back to its size.
		defer func() { err = errors.Join(err, r.Close()) }()
		t.meas = r
	}

	var before int
	if mode != modeInProcess {
		var err error
		if before, err = t.sizer.Workers(); err != nil {
			return nil, fmt.Errorf("benchmarks: reading the pool size: %w", err)
		}
		if err := checkTunable(t.sizer); err != nil {
			return nil, err
		}
		// Fail before changing anything if the pool cannot be resized
		// (adaptive sizing on, a model without a pool).
		if err := t.sizer.Resize(before); err != nil {
			return nil, fmt.Errorf("benchmarks: the pool of %s cannot be resized: %w", workers(before), err)
		}
	}
	err = t.search(ctx)
	rep := t.report()
	if err != nil {
		rep.Incomplete, rep.Recommended = true, 0
	}
	if mode != modeInProcess {
		final := before
		if cfg.Apply && rep.Recommended > 0 && err == nil {
			final = rep.Recommended
		}
		if rerr := t.sizer.Resize(final); rerr != nil {
			err = errors.Join(err, fmt.Errorf("benchmarks: putting the pool back to %s: %w", workers(final), rerr))
		}
		rep.FinalWorkers = final
	}
	if err != nil {
		if len(rep.Points) == 0 || errors.Is(err, ErrProbeFailed) {
			return nil, err
		}
		rep.Explanation = rep.explain()
		return rep, err
	}
	rep.Explanation = rep.explain()
	if cfg.Adaptive > 0 {
		if rep.Adaptive, err = runAdaptive(ctx, cfg, len(rep.Points)+1); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// connNotTunable says why the conn model is refused.
const connNotTunable = "the server runs the conn model, where each connection holds a worker for its whole life, so resizing the pool does not change what the clients' connections get and every step would measure the same thing; tune a server with the pool model"

// checkTunable returns an error wrapping ErrNotTunable if sizer can tell
// its server's model (an AdminSizer or a LocalServer) and it is the conn
// model.
func checkTunable(sizer Sizer) error {
	var model string
	switch s := sizer.(type) {
	case poolStater:
		st, err := s.State()
		if err != nil {
			return fmt.Errorf("benchmarks: reading the pool's state: %w", err)
		}
		model = st.Model
	case *LocalServer:
		model = s.Spec().Model.String()
	}
	if model == server.ModelConn.String() {
		return fmt.Errorf("%w: %s", ErrNotTunable, connNotTunable)
	}
	return nil
}

// poolStater is a Sizer that also reads the pool's state, as AdminSizer.
type poolStater interface {
	State() (server.PoolState, error)
}

// errNoSteps ends the search when the step budget is spent.
var errNoSteps = errors.New("benchmarks: no steps left")

// tuner is the state of one search.
type tuner struct {
	cfg   TuneConfig // defaults resolved
	sizer Sizer
	meas  Measurer

	points         []*TunePoint // in the order measured
	stop           TuneStop
	climbFrom, top int // the last doubling of the climb: from, to

	// From the probe.
	d             time.Duration
	seedRTT       time.Duration // the probe's RTT if it measured one without queueing
	seed          int
	seedUnbounded int
	seedRate      float64
	seedBy        string
}

// at returns the point measured at n, or nil.
func (t *tuner) at(n int) *TunePoint {
	for _, p := range t.points {
		if p.Workers == n {
			return p
		}
	}
	return nil
}

// measure returns the point at n, measuring it first unless it was.
func (t *tuner) measure(ctx context.Context, n int, phase TunePhase) (*TunePoint, error) {
	if p := t.at(n); p != nil {
		return p, nil
	}
	if len(t.points) >= t.cfg.MaxSteps {
		return nil, errNoSteps
	}
	step := len(t.points) + 1
	if t.cfg.Progress != nil {
		t.cfg.Progress(TuneStep{Index: step, MaxSteps: t.cfg.MaxSteps, Left: t.stepsLeft(n, phase),
			Workers: n, Phase: phase, Expected: t.cfg.Settle + t.cfg.Step})
	}
	if err := t.sizer.Resize(n); err != nil {
		return nil, fmt.Errorf("benchmarks: resizing the pool to %s: %w", workers(n), err)
	}
	before := takeCPU()
	res, err := t.meas.Run(ctx, Window{Warmup: t.cfg.Settle, Duration: t.cfg.Step})
	if err != nil {
		return nil, fmt.Errorf("benchmarks: %s: %w", workers(n), err)
	}
	var other float64
	if t.cfg.mode() == modeInProcess {
		other = before.others(takeCPU())
	}
	p := &TunePoint{
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
	}
	// A point whose latency was not measured cannot be said to meet
	// the SLO.
	p.Eligible = !t.failed(p) && (t.cfg.SLOP99 == 0 || res.Latency.Count > 0 && p.P99 <= t.cfg.SLOP99)
	t.points = append(t.points, p)
	return p, nil
}

// stepsLeft estimates the steps the search needs after measuring n in
// phase (see TuneStep.Left): the doublings left to MaxWorkers, the
// halvings from the seed to MinWorkers and the bisection of the bracket
// they leave, as far as the search has narrowed them.
func (t *tuner) stepsLeft(n int, phase TunePhase) int {
	budget := t.cfg.MaxSteps - len(t.points) - 1
	lo, hi := t.cfg.MinWorkers, t.cfg.MaxWorkers
	var left int
	switch phase {
	case PhaseProbe:
		return budget
	case PhaseSeed, PhaseUp:
		half := max(n/tuneGrowth, 1)
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
	for c := max(n, 1); c < hi; c = min(c*tuneGrowth, hi) {
		k++
	}
	return k
}

// halvings counts the steps down from n to lo, halving.
func halvings(n, lo int) int {
	k := 0
	for c := n; c > lo; c = max(c/tuneGrowth, lo) {
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

// cpuSnapshot is the machine's and the process's CPU time at one moment.
type cpuSnapshot struct {
	busy, total time.Duration // every core, from /proc/stat
	own         time.Duration // this process, user + system
	ok          bool
}

func takeCPU() cpuSnapshot {
	busy, total, ok := machineCPU()
	u, s, ok2 := cpuTimes()
	return cpuSnapshot{busy: busy, total: total, own: u + s, ok: ok && ok2}
}

// others returns the share of the machine's CPU time between s and
// later that processes other than this one used.
func (s cpuSnapshot) others(later cpuSnapshot) float64 {
	total := later.total - s.total
	if !s.ok || !later.ok || total <= 0 {
		return 0
	}
	busy := (later.busy - s.busy).Seconds()
	own := (later.own - s.own).Seconds()
	return min(1, max(0, (busy-own)/total.Seconds()))
}

// search runs the probe, the seed, the climb, the descent and the
// bisection. It returns nil when the budget runs out (t.stop says so).
func (t *tuner) search(ctx context.Context) error {
	err := t.searchSteps(ctx)
	if errors.Is(err, errNoSteps) {
		t.stop = StopMaxSteps
		return nil
	}
	return err
}

func (t *tuner) searchSteps(ctx context.Context) error {
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
	for {
		t.climbFrom, t.top = cur.Workers, cur.Workers
		if cur.Workers >= hi {
			t.stop = StopMaxWorkers
			break
		}
		next, err := t.measure(ctx, min(cur.Workers*tuneGrowth, hi), PhaseUp)
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
		cur = next
	}

	// Descend from the seed while throughput holds.
	for n := t.seed; n > lo && t.good(t.at(n)); {
		n = max(n/tuneGrowth, lo)
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
func (t *tuner) probeFailed(p *TunePoint) error {
	e := p.Result.Errors
	what := "check the server"
	if e.Timeout > 0 {
		timeout := t.cfg.Load.Timeout
		if timeout == 0 {
			timeout = DefaultTimeout
		}
		what = fmt.Sprintf("if the server is that slow, give each request more than %v (the timeout), or check the server", timeout)
	}
	return fmt.Errorf("%w at %s (%s): there is no service time to start the search from; %s",
		ErrProbeFailed, workers(p.Workers), e.String(), what)
}

// resolution is the width at which the bisection around n stops.
func resolution(n int) int { return max(1, int(tuneResolution*float64(n))) }

// failed reports that more than 1% of p's requests failed.
func (t *tuner) failed(p *TunePoint) bool { return p.failed() }

// failed reports that more than 1% of p's requests failed.
func (p *TunePoint) failed() bool {
	return float64(p.Errors) > tuneMaxErrorShare*float64(p.Errors+p.Requests)
}

// eligibleBelow reports whether a size below n met the SLO.
func (t *tuner) eligibleBelow(n int) bool {
	for _, p := range t.points {
		if p.Workers < n && p.Eligible {
			return true
		}
	}
	return false
}

// best returns the eligible point with the highest throughput, or nil.
func (t *tuner) best() *TunePoint {
	var b *TunePoint
	for _, p := range t.points {
		if p.Eligible && (b == nil || p.RPS > b.RPS || p.RPS == b.RPS && p.Workers < b.Workers) {
			b = p
		}
	}
	return b
}

// good reports whether p is eligible with at least 95% of the best
// throughput.
func (t *tuner) good(p *TunePoint) bool {
	b := t.best()
	return p != nil && b != nil && p.Eligible && p.RPS >= tuneShare*b.RPS
}

// bracket returns the smallest good point (the recommendation so far)
// and the largest point measured below it, either nil if there is none.
func (t *tuner) bracket() (rec, below *TunePoint) {
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
func (t *tuner) calibrate(p *TunePoint) {
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
	if cpu := res.CPU; cpu.Scope == CPUScopeProcess && cpu.PerRequest > 0 && cpu.Utilisation*float64(cpu.Cores) >= 0.5 {
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
func cores(c CPU) int { return min(max(c.Cores, 1), runtime.GOMAXPROCS(0)) }

// rttOf returns the client's mean time per request less the server's.
func rttOf(res Result) time.Duration {
	v := res.Server
	return max(0, res.ServiceTime.Mean-v.QueueWait.Mean-v.Service.Mean)
}

// loadCeiling is the most requests per second the load can ask for with
// the given RTT: C/(D+RTT) for a closed loop, and no more than the rate
// for an open one.
func (t *tuner) loadCeiling(rtt time.Duration) float64 {
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
func (t *tuner) loadCeilingBy(rtt time.Duration) string {
	if r := t.cfg.Load.Rate; r > 0 && r <= t.loadCeiling(rtt) {
		return "rate"
	}
	return "clients"
}

// report assembles the TuneReport from the points measured so far.
func (t *tuner) report() *TuneReport {
	c := t.cfg
	rep := &TuneReport{
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
	cc := CompareConfig{Server: c.Server, Load: c.Load}
	rep.Env = cc.env(t.cfg.mode() != modeInProcess, Window{Warmup: c.Settle, Duration: c.Step}, 1)
	if t.cfg.mode() == modeCustom && len(t.points) > 0 {
		// A measurer that sees the server's side and the whole process's
		// CPU measures a server in this process.
		first := t.points[0].Result
		rep.Env.InProcess = first.Server != nil && first.CPU.Scope == CPUScopeProcess
		rep.Env.Addr = "a custom measurer"
		if rep.Env.InProcess {
			rep.Env.Addr, rep.Env.CPUScope = "", CPUScopeProcess
		}
	}
	// The RTT where requests queued least, and the least CPU per request.
	var calm *TunePoint
	for _, p := range t.points {
		if v := p.Result.Server; v != nil && v.Service.Mean > 0 && (calm == nil || v.QueueWait.Mean < calm.QueueWait) {
			calm = p
		}
		if cpu := p.Result.CPU; cpu.Scope == CPUScopeProcess && cpu.PerRequest > 0 {
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
	slices.SortFunc(rep.Points, func(a, b TunePoint) int { return a.Workers - b.Workers })
	if b := t.best(); b != nil {
		rep.Best = b.Workers
	}
	if rec, _ := t.bracket(); rec != nil {
		rep.Recommended = rec.Workers
	}
	return rep
}
