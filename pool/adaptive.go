package pool

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults of Gradient2Config, used where a field is zero.
const (
	DefaultGradient2Max        = 1000
	DefaultGradient2Tolerance  = 1.5
	DefaultGradient2Smoothing  = 0.2
	DefaultGradient2LongWindow = 600
)

// Constants of the Gradient2 arithmetic that are not worth a knob.
const (
	// gradient2Warmup is how many samples the long-term latency is a plain
	// mean of before it becomes an exponential average, so that the first
	// samples do not weigh 1/LongWindow each against a zero start.
	gradient2Warmup = 10
	// gradient2MinGradient bounds one update's cut to half the limit, so
	// that one outlier (a GC pause, a noisy neighbour) cannot collapse it.
	gradient2MinGradient = 0.5
	// gradient2Drift: when the long-term latency is more than this many
	// times the sample, the load that raised it is over; the long-term
	// latency is then cut by gradient2DriftDecay on each update instead of
	// waiting for the average to forget it.
	gradient2Drift      = 2.0
	gradient2DriftDecay = 0.95
	// gradient2MinHeadroom is the smallest step added to a limit that
	// demand reached: the headroom is max(4, √limit).
	gradient2MinHeadroom = 4.0
)

// Gradient2Config configures a Gradient2 limit. The zero value is valid:
// a limit between 1 and DefaultGradient2Max that starts at 1, with the
// default tolerance, smoothing and long window.
type Gradient2Config struct {
	// Min is the lowest limit. 0 means 1. Must be >= 0.
	Min int

	// Max is the highest limit. 0 means DefaultGradient2Max, or Min if
	// that is higher. Must be >= 0, and >= Min when both are set.
	Max int

	// Initial is the limit before the first sample. 0 means Min. Must lie
	// within [Min, Max] when set.
	Initial int

	// Tolerance is how much the latency of one sample may exceed the
	// long-term latency before the limit shrinks: 1.5 (the default, used
	// when 0) lets it rise by half. Must be 0 or >= 1.
	Tolerance float64

	// Smoothing is the share of each update's target that the limit moves
	// by: 1 jumps to the target, 0.2 (the default, used when 0) moves a
	// fifth of the way. Must be in [0, 1].
	Smoothing float64

	// LongWindow is the number of samples the long-term latency averages
	// over (an exponential average with factor 2/(LongWindow+1), after a
	// plain mean of the first min(10, LongWindow)). 0 means
	// DefaultGradient2LongWindow. Must be >= 0.
	LongWindow int
}

// Validate reports whether c can configure a Gradient2. The error wraps
// ErrInvalidConfig once for each field out of range (see errors.Join).
func (c Gradient2Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...))
	}
	if c.Min < 0 {
		bad("Min is %d, want >= 0 (0 = 1)", c.Min)
	}
	if c.Max < 0 {
		bad("Max is %d, want >= 0 (0 = %d)", c.Max, DefaultGradient2Max)
	}
	if c.Min > 0 && c.Max > 0 && c.Max < c.Min {
		bad("Max is %d, below Min %d", c.Max, c.Min)
	}
	if c.Initial < 0 {
		bad("Initial is %d, want >= 0 (0 = Min)", c.Initial)
	} else if c.Initial > 0 && c.Min >= 0 && c.Max >= 0 {
		if d := c.withDefaults(); c.Initial < d.Min || c.Initial > d.Max {
			bad("Initial is %d, outside [Min, Max] = [%d, %d]", c.Initial, d.Min, d.Max)
		}
	}
	if c.Tolerance != 0 && !(c.Tolerance >= 1) { // also refuses NaN
		bad("Tolerance is %v, want >= 1 (0 = %v)", c.Tolerance, DefaultGradient2Tolerance)
	}
	if !(c.Smoothing >= 0 && c.Smoothing <= 1) {
		bad("Smoothing is %v, want within [0, 1] (0 = %v)", c.Smoothing, DefaultGradient2Smoothing)
	}
	if c.LongWindow < 0 {
		bad("LongWindow is %d, want >= 0 (0 = %d)", c.LongWindow, DefaultGradient2LongWindow)
	}
	return errors.Join(errs...)
}

// withDefaults returns c with its zero fields resolved.
func (c Gradient2Config) withDefaults() Gradient2Config {
	if c.Min == 0 {
		c.Min = 1
	}
	if c.Max == 0 {
		c.Max = max(DefaultGradient2Max, c.Min)
	}
	if c.Initial == 0 {
		c.Initial = c.Min
	}
	if c.Tolerance == 0 {
		c.Tolerance = DefaultGradient2Tolerance
	}
	if c.Smoothing == 0 {
		c.Smoothing = DefaultGradient2Smoothing
	}
	if c.LongWindow == 0 {
		c.LongWindow = DefaultGradient2LongWindow
	}
	return c
}

// Sample is one measurement interval as a Gradient2 sees it.
type Sample struct {
	// Time is when the interval ended. Samples must come in time order:
	// Update ignores one whose Time is before the previous sample's. The
	// arithmetic counts samples, not seconds, so they should be taken at a
	// steady interval.
	Time time.Time

	// Latency is the typical latency of the work the limit admits over the
	// interval, such as the mean time requests spent on a worker. 0 (or
	// less) means nothing finished, so nothing was measured.
	Latency time.Duration

	// InFlight is the most work that wanted to run at once during the
	// interval: running, plus waiting for room under the limit. When it
	// reaches the limit, the limit is what held the work back, and Update
	// may raise it.
	InFlight int
}

// Gradient2 is an adaptive concurrency limit in the style of Netflix's
// Gradient2 (concurrency-limits): it compares each sample's latency with a
// long-term average of latency, shrinks the limit when latency rises beyond
// a tolerance, and grows it while demand reaches it and latency holds.
// It has no clock and no goroutine: the caller measures an interval, calls
// Update with the Sample, and applies the limit Update returns.
//
// For each sample, with L the current limit (a real number; Limit returns
// its floor):
//
//	long     = mean of the first latencies, then an exponential average
//	           over LongWindow samples; cut by 5% while long > 2 × latency
//	gradient = clamp(Tolerance × long / latency, 0.5, 1), or 1 with no latency
//	binding  = InFlight >= Limit()
//	target   = L × gradient + (binding ? max(4, √L) : 0)
//	L        = clamp(L × (1 − Smoothing) + target × Smoothing, Min, Max)
//	           unless neither binding nor gradient < 1: then L is kept
//
// A limit that demand does not reach, with latency within tolerance, is
// left alone. This differs from Gradient2, which adds its queue allowance
// whatever the demand and stops growing only when demand falls below half
// the limit: in a closed system of C clients that settles near 2C, where
// this settles within one step above C.
//
// A sample with no latency (nothing finished in the interval) leaves the
// limit alone, unless demand reached it: then work is waiting for the limit
// and nothing says the workers are overloaded, so the limit grows as if
// latency held (gradient 1). That keeps a limit growing whose slots are
// held by long or idle work, such as connections in a thread-per-connection
// server; it also means a backend that hangs every worker is given more of
// them, up to Max, until latency is measured again.
//
// A Gradient2 is not safe for concurrent use: one goroutine owns it.
type Gradient2 struct {
	cfg   Gradient2Config // defaults resolved
	alpha float64         // the long-term average's factor
	limit float64
	long  float64 // long-term latency, nanoseconds
	n     int     // samples averaged into long
	last  time.Time
}

// NewGradient2 returns a Gradient2 at cfg.Initial, or an error wrapping
// ErrInvalidConfig if cfg.Validate fails.
func NewGradient2(cfg Gradient2Config) (*Gradient2, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Gradient2{
		cfg:   cfg,
		alpha: 2 / float64(cfg.LongWindow+1),
		limit: float64(cfg.Initial),
	}, nil
}

// Update takes the sample of one interval and returns the new limit,
// always within [Min, Max]. A sample older than the previous one leaves the
// limit as it was, and so does one with no latency unless demand reached
// the limit.
func (g *Gradient2) Update(s Sample) int {
	if s.Time.Before(g.last) {
		return g.Limit()
	}
	g.last = s.Time
	binding := s.InFlight >= g.Limit()
	if s.Latency <= 0 {
		if binding {
			g.step(g.limit + g.headroom())
		}
		return g.Limit()
	}
	short := float64(s.Latency)

	g.n++
	if warm := min(gradient2Warmup, g.cfg.LongWindow); g.n <= warm {
		g.long += (short - g.long) / float64(g.n)
	} else {
		g.long += (short - g.long) * g.alpha
	}
	if g.long > gradient2Drift*short {
		g.long *= gradient2DriftDecay
	}

	gradient := max(gradient2MinGradient, min(1, g.cfg.Tolerance*g.long/short))
	if !binding && gradient == 1 {
		return g.Limit()
	}
	target := g.limit * gradient
	if binding {
		target += g.headroom()
	}
	g.step(target)
	return g.Limit()
}

// headroom is the allowance added to a limit that demand reached.
func (g *Gradient2) headroom() float64 {
	return max(gradient2MinHeadroom, math.Sqrt(g.limit))
}

// step moves the limit towards target by the smoothing factor, within
// [Min, Max].
func (g *Gradient2) step(target float64) {
	next := g.limit*(1-g.cfg.Smoothing) + target*g.cfg.Smoothing
	g.limit = max(float64(g.cfg.Min), min(float64(g.cfg.Max), next))
}

// Limit returns the current limit: the floor of the real-valued limit the
// arithmetic keeps, so that small steps add up across updates.
func (g *Gradient2) Limit() int { return int(g.limit) }

// Estimate returns the long-term latency the samples are compared with;
// 0 before the first sample with a latency.
func (g *Gradient2) Estimate() time.Duration { return time.Duration(g.long) }

// Config returns the configuration with its defaults resolved.
func (g *Gradient2) Config() Gradient2Config { return g.cfg }
