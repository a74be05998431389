package tune

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/server"
)

// AdaptiveRun is what a server with adaptive sizing did under the load a
// search tuned for (LocalConfig.Adaptive): the pool size the control loop
// chose over time, and the throughput and latency it got.
type AdaptiveRun struct {
	// Duration is the measured time, after the settle time.
	Duration time.Duration
	// Interval is the time between the control loop's updates.
	Interval time.Duration
	// Start is the size the pool started at; Min and Max bound it.
	Start, Min, Max int
	// Trajectory is every update of the control loop, settle time
	// included, oldest first.
	Trajectory []server.AdaptivePoint
	// Settled is the median pool size over the second half of the
	// trajectory, and Low and High its range there; SettledRPS is the
	// throughput there, from the requests each update counted.
	Settled, Low, High int
	SettledRPS         float64
	// Result is the measured window's figures.
	Result load.Result
}

// runAdaptive runs a fresh in-process server with adaptive sizing under
// cfg's load for cfg.Adaptive (after cfg.Settle, defaults resolved).
// step is the index given to Progress.
func runAdaptive(ctx context.Context, cfg LocalConfig, step int) (*AdaptiveRun, error) {
	ac := server.AdaptiveConfig{History: int((cfg.Settle+cfg.Adaptive)/server.DefaultAdaptiveInterval) + 100}
	scfg := cfg.Server
	scfg.Model.Workers = 0
	scfg.Adaptive = &ac
	ls, r, err := startLocal(ctx, scfg, cfg.Load)
	if err != nil {
		return nil, err
	}
	defer ls.Close()
	defer r.Close()
	if cfg.Progress != nil {
		cfg.Progress(Progress{Index: step, MaxSteps: cfg.MaxSteps, Phase: PhaseAdaptive, Expected: cfg.Settle + cfg.Adaptive})
	}
	lo, hi, _ := ls.Server().AdaptiveBounds()
	run := &AdaptiveRun{
		Duration: cfg.Adaptive,
		Interval: server.DefaultAdaptiveInterval,
		Start:    ls.Server().Stats().Pool.Workers, // the size it starts from, before the run
		Min:      lo,
		Max:      hi,
	}
	res, err := r.Run(ctx, load.Window{Warmup: cfg.Settle, Duration: cfg.Adaptive})
	if err != nil {
		return nil, fmt.Errorf("tune: adaptive sizing: %w", err)
	}
	run.Result = res
	run.Trajectory = ls.Server().AdaptiveHistory()
	run.settle()
	return run, nil
}

// settle computes the figures of the second half of the trajectory.
func (a *AdaptiveRun) settle() {
	half := a.Trajectory[len(a.Trajectory)/2:]
	if len(half) == 0 {
		return
	}
	limits := make([]int, len(half))
	requests := 0
	for i, p := range half {
		limits[i] = p.Limit
		requests += p.Requests
	}
	slices.Sort(limits)
	a.Settled, a.Low, a.High = limits[len(limits)/2], limits[0], limits[len(limits)-1]
	if span := half[len(half)-1].Time.Sub(half[0].Time) + a.Interval; span > 0 {
		a.SettledRPS = float64(requests) / span.Seconds()
	}
}

// reached returns how long after its start the adaptive pool first
// reached n workers, and false if it never did.
func (a *AdaptiveRun) reached(n int) (time.Duration, bool) {
	if len(a.Trajectory) == 0 {
		return 0, false
	}
	start := a.Trajectory[0].Time.Add(-a.Interval)
	for _, p := range a.Trajectory {
		if p.Limit >= n {
			return p.Time.Sub(start), true
		}
	}
	return 0, false
}

// cameDown returns how long after its start the adaptive pool, started
// above n workers, first came down to n or fewer, and false if it never
// did.
func (a *AdaptiveRun) cameDown(n int) (time.Duration, bool) {
	if len(a.Trajectory) == 0 {
		return 0, false
	}
	start := a.Trajectory[0].Time.Add(-a.Interval)
	for _, p := range a.Trajectory {
		if p.Limit <= n {
			return p.Time.Sub(start), true
		}
	}
	return 0, false
}
