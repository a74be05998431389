package tune

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/server"
)

// Defaults used for zero Config fields.
const (
	// DefaultSettle is the unmeasured load after each resize when
	// Config.Settle is 0.
	DefaultSettle = 500 * time.Millisecond
	// DefaultStepDuration is the measured time of each step when
	// Config.StepDuration is 0.
	DefaultStepDuration = 2 * time.Second
	// DefaultMaxSteps is the most steps (pool sizes measured) when
	// Config.MaxSteps is 0: with the default settle and step duration, a
	// search takes 30 s at most.
	DefaultMaxSteps = 12
	// DefaultMinGain is the smallest throughput gain of a step up that
	// keeps the search climbing when Config.MinGain is 0.
	DefaultMinGain = 0.05
)

// Values of Config fields whose zero means their default, for "none".
const (
	// NoSettle, as Config.Settle, measures each step right after its
	// resize, with no unmeasured load in between.
	NoSettle time.Duration = math.MinInt64
	// ZeroGain, as Config.MinGain, ends the climb only when a doubling
	// does not raise throughput at all (no gain is below it but none).
	ZeroGain = math.SmallestNonzeroFloat64
	// NoMinGain, as Config.MinGain (any negative value does), never ends
	// the climb on gain: it stops at MaxWorkers, the SLO or MaxSteps.
	NoMinGain = -1.0
)

// Constants of the search that are not worth a knob.
const (
	// growth is the factor of each geometric step, up from the seed
	// and down from it.
	growth = 2
	// share is the share of the best throughput that the recommended
	// size must reach: the smallest size within 5% of the best.
	share = 0.95
	// resolutionShare ends the bisection once the bracket around the
	// knee is at most this share of its upper end wide (and at least 1).
	resolutionShare = 0.05
	// maxErrorShare is the share of failed requests above which a step
	// does not count as meeting the SLO, and stops the climb.
	maxErrorShare = 0.01
)

// Config configures a search: the load the pool is tuned for and how the
// search goes. The server it resizes is the target's: InProcess starts
// one, Running sizes one at Load.Addr, Search takes any Sizer and
// Measurer. The zero value searches pool sizes from 1 to the number of
// clients of a closed loop of load.DefaultClients, with the default
// settle, step duration, gain threshold and step budget, and no latency
// SLO.
type Config struct {
	// Load is the load the pool is tuned for: Clients, Rate,
	// ConnPerRequest, Mix and Timeout as for a load.Runner. Running sends
	// it to Load.Addr; InProcess to its own server (Addr must be empty);
	// for Search it only describes the load (Clients, Rate) for the
	// Little's-law seed and the ceilings. Load.Server is set by InProcess
	// and must be nil.
	Load load.Config

	// Settle is the load run after each resize before measuring, so that
	// the queue built at the previous size drains. 0 means DefaultSettle;
	// NoSettle means none.
	Settle time.Duration

	// StepDuration is the measured time at each size. 0 means
	// DefaultStepDuration.
	StepDuration time.Duration

	// MinWorkers and MaxWorkers bound the sizes searched. MinWorkers 0
	// means 1. MaxWorkers 0 means the number of clients (Load.Clients, or
	// load.DefaultClients), since they never have more requests in flight.
	MinWorkers, MaxWorkers int

	// MaxSteps is the most sizes measured, the first (MinWorkers, to
	// measure the service time) included; the search stops there. 0
	// means DefaultMaxSteps; it must be 0 or at least 2.
	MaxSteps int

	// SLOP99 is the latency objective: a size whose p99 is above it is
	// never recommended, and a step up that breaks it after a smaller size
	// met it ends the climb. 0 means no objective.
	SLOP99 time.Duration

	// MinGain ends the climb when a step up (doubling the pool) raises
	// throughput by less than this share, 0.05 for 5%. 0 means
	// DefaultMinGain; ZeroGain ends it only when throughput does not
	// rise; a negative value, such as NoMinGain, never ends it (the climb
	// then stops at MaxWorkers, the SLO or MaxSteps).
	MinGain float64

	// Apply, for Running and Search, leaves the pool at the recommended
	// size when the search returns; false (the zero value) puts back the
	// size it had before. InProcess ignores it: its server goes with it.
	Apply bool

	// Progress, if not nil, is called before each step, on the search's
	// goroutine.
	Progress func(Progress)

	// maxWorkersSet, set by withDefaults, records that MaxWorkers was
	// given, not left at 0 (the number of clients).
	maxWorkersSet bool
}

// Progress says which step a search is about to run.
type Progress struct {
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
	Phase   Phase
	// Expected is how long the step should take.
	Expected time.Duration
}

// Phase names the part of the search a step belongs to.
type Phase string

// The phases of the search, in order.
const (
	// PhaseProbe measures MinWorkers: the service time at low load.
	PhaseProbe Phase = "probe"
	// PhaseSeed measures the size Little's law gives.
	PhaseSeed Phase = "seed"
	// PhaseUp doubles the pool from the seed while it pays.
	PhaseUp Phase = "up"
	// PhaseDown halves it from the seed while throughput holds.
	PhaseDown Phase = "down"
	// PhaseBisect narrows the bracket around the knee.
	PhaseBisect Phase = "bisect"
	// PhaseAdaptive is the adaptive server's run (LocalConfig.Adaptive).
	PhaseAdaptive Phase = "adaptive"
)

// Stop says why the climb from the seed ended.
type Stop string

// The reasons the climb ends.
const (
	// StopMinGain: doubling the pool raised throughput by less than
	// MinGain.
	StopMinGain Stop = "min-gain"
	// StopSLO: the p99 went over SLOP99 after a smaller pool met it.
	StopSLO Stop = "slo"
	// StopMaxWorkers: the pool reached MaxWorkers.
	StopMaxWorkers Stop = "max-workers"
	// StopErrors: more than 1% of the requests failed.
	StopErrors Stop = "errors"
	// StopMaxSteps: the step budget ran out, possibly before the
	// bisection ended.
	StopMaxSteps Stop = "max-steps"
)

// Validate reports each field out of range as a load.FieldError, joined
// (those of Load under "Load.", "Load.Rate").
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, value any, rule string) {
		errs = append(errs, &load.FieldError{Field: field, Value: value, Rule: rule})
	}
	loadErr := load.PrefixFields("Load", c.Load.Validate())
	errs = append(errs, loadErr)
	if c.Load.Server != nil {
		errs = append(errs, &load.FieldError{Field: "Load.Server", Detail: "{Load.Server} must be nil: InProcess sets it to the server it starts"})
	}
	if c.Settle < 0 && c.Settle != NoSettle {
		bad("Settle", c.Settle, fmt.Sprintf("must be 0 (default %v), NoSettle (none) or more", DefaultSettle))
	}
	if c.StepDuration < 0 {
		bad("StepDuration", c.StepDuration, fmt.Sprintf("must be 0 (default %v) or more", DefaultStepDuration))
	} else if loadErr == nil {
		errs = append(errs, load.CheckRate(c.Load.Rate, "Load.Rate", c.withDefaults().StepDuration, "StepDuration"))
	}
	if c.MinWorkers < 0 {
		bad("MinWorkers", c.MinWorkers, "must be 0 (default 1) or more")
	}
	if c.MaxWorkers < 0 {
		bad("MaxWorkers", c.MaxWorkers, "must be 0 (the number of clients) or more")
	}
	if lo, hi := c.bounds(); c.MinWorkers >= 0 && c.MaxWorkers >= 0 && hi < lo {
		errs = append(errs, &load.FieldError{Field: "MaxWorkers", Detail: fmt.Sprintf("{MaxWorkers} %d is below {MinWorkers} %d", hi, lo)})
	}
	if c.MaxSteps < 0 || c.MaxSteps == 1 {
		bad("MaxSteps", c.MaxSteps, fmt.Sprintf("must be 0 (default %d) or at least 2 (the probe and the seed)", DefaultMaxSteps))
	}
	if c.SLOP99 < 0 {
		bad("SLOP99", c.SLOP99, "must be 0 (none) or more")
	}
	if math.IsNaN(c.MinGain) || c.MinGain >= 1 {
		bad("MinGain", c.MinGain, fmt.Sprintf("must be below 1 (0.05 is 5%%; 0 means %v)", DefaultMinGain))
	}
	return errors.Join(errs...)
}

// bounds returns the range of sizes searched, defaults resolved.
func (c Config) bounds() (lo, hi int) {
	lo, hi = max(c.MinWorkers, 1), c.MaxWorkers
	if hi == 0 {
		hi = max(c.Load.WithDefaults().Clients, lo)
	}
	return lo, hi
}

func (c Config) withDefaults() Config {
	switch c.Settle {
	case 0:
		c.Settle = DefaultSettle
	case NoSettle:
		c.Settle = 0
	}
	if c.StepDuration == 0 {
		c.StepDuration = DefaultStepDuration
	}
	c.maxWorkersSet = c.MaxWorkers != 0
	c.MinWorkers, c.MaxWorkers = c.bounds()
	if c.MaxSteps == 0 {
		c.MaxSteps = DefaultMaxSteps
	}
	if c.MinGain == 0 {
		c.MinGain = DefaultMinGain
	}
	if c.Load.Clients == 0 {
		c.Load.Clients = load.DefaultClients
	}
	return c
}

// window is a step's window: the settle time, then the measured time.
func (c Config) window() load.Window {
	return load.Window{Warmup: c.Settle, Duration: c.StepDuration}
}

// LocalConfig configures InProcess: the search, the fresh in-process
// server it tunes, and the adaptive comparison after it.
type LocalConfig struct {
	Config

	// Server configures the in-process server. Its Model.Model must be
	// the pool model, the zero value (the conn model is refused: see
	// ErrNotTunable); Model.Workers is ignored: the search sets the size.
	Server load.ServerConfig

	// Adaptive, if above 0, runs a second fresh in-process server with
	// adaptive sizing (server.AdaptiveConfig with its defaults, as
	// "poolside serve --workers auto" does) under the same load for this
	// long after the search, and reports its trajectory
	// (Report.Adaptive). 0 means none.
	Adaptive time.Duration
}

// connNotTunable says why the conn model is refused.
const connNotTunable = "the server runs the conn model, where each connection holds a worker for its whole life, so resizing the pool does not change what the clients' connections get and every step would measure the same thing; tune a server with the pool model"

// Validate reports each field out of range as a load.FieldError, joined:
// those of Config, and of Server under "Server.".
func (c LocalConfig) Validate() error {
	errs := []error{c.Config.Validate()}
	if c.Load.Addr != "" {
		errs = append(errs, &load.FieldError{Field: "Load.Addr", Detail: "{Load.Addr} must be empty: InProcess tunes a server of its own (Running tunes the server at an address)"})
	}
	switch m := c.Server.Model.Model; m {
	case server.ModelPool:
	case server.ModelConn:
		errs = append(errs, &load.FieldError{Field: "Server.Model", Detail: connNotTunable})
	default:
		errs = append(errs, &load.FieldError{Field: "Server.Model", Detail: fmt.Sprintf("the %v model has no pool to tune: choose pool", m)})
	}
	s := c.Server
	s.Model.Workers = 0
	errs = append(errs, load.PrefixFields("Server", s.Validate()))
	if c.Adaptive < 0 {
		errs = append(errs, &load.FieldError{Field: "Adaptive", Value: c.Adaptive, Rule: "must be 0 (none) or more"})
	} else if c.Load.Validate() == nil {
		errs = append(errs, load.CheckRate(c.Load.Rate, "Load.Rate", c.Adaptive, "Adaptive"))
	}
	return errors.Join(errs...)
}
