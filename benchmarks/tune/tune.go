package tune

import (
	"context"
	"errors"
	"fmt"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/internal/textfmt"
	"github.com/poolside-dev/poolside/server"
)

// Sizer reads and sets the pool size of the server a search measures.
// *load.LocalServer is one, and AdminSizer is one for a running poolside
// serve.
type Sizer interface {
	// Workers returns the pool's current size.
	Workers() (int, error)
	// Resize sets it, without restarting the server or closing its
	// connections.
	Resize(workers int) error
}

// Measurer measures one window of load against the server a search
// resizes. *load.Runner is one; a Runner keeps its connections from one
// window to the next, so a resize is not followed by a storm of
// reconnections.
type Measurer interface {
	Run(ctx context.Context, w load.Window) (load.Result, error)
}

// Search searches the pool size for cfg's load (see the package
// documentation), resizing the server of sizer live and measuring each
// size with m, and returns every point measured and its recommendation.
// Before the probe finished, and when the probe failed (ErrProbeFailed),
// the report is nil; stopped later, the report of the sizes measured
// comes with the error, marked Incomplete. It first checks that the pool
// can be resized (and, when sizer can tell, that the server's model is
// not the conn model: ErrNotTunable), and puts the pool back to the size
// it had before when it returns, or with cfg.Apply leaves it at the
// recommendation; when the search fails or ctx ends it always puts it
// back.
func Search(ctx context.Context, cfg Config, sizer Sizer, m Measurer) (*Report, error) {
	if err := errors.Join(cfg.Validate(), need(sizer != nil, "Sizer"), need(m != nil, "Measurer")); err != nil {
		return nil, err
	}
	return run(ctx, cfg.withDefaults(), target{sizer: sizer, meas: m, restore: true, env: customEnv})
}

// Running searches the pool size of the running server at cfg.Load.Addr
// under cfg's load, resizing it through sizer, typically an AdminSizer on
// its admin API, as Search does. Its Runner cleans up after the load (see
// load.Runner.Close) once the pool is back to its size: an error of the
// clean-up, wrapping load.ErrCleanup, is joined to Running's, with the
// report.
func Running(ctx context.Context, cfg Config, sizer Sizer) (_ *Report, err error) {
	addr := need(cfg.Load.Addr != "", "Load.Addr")
	if err := errors.Join(cfg.Validate(), addr, need(sizer != nil, "Sizer")); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r, err := load.NewRunner(ctx, cfg.Load)
	if err != nil {
		return nil, err
	}
	// The clean-up comes last, once the pool is back to its size.
	defer func() { err = errors.Join(err, r.Close()) }()
	return run(ctx, cfg, target{sizer: sizer, meas: r, restore: true, env: remoteEnv})
}

// InProcess searches the pool size of a fresh in-process server
// (cfg.Server, started at cfg.MinWorkers workers) under cfg's load, as
// Search does, and with cfg.Adaptive then runs the adaptive comparison.
// Stopped in the adaptive run, after the search, it returns the error
// with the search's complete report and Adaptive nil.
func InProcess(ctx context.Context, cfg LocalConfig) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Config = cfg.Config.withDefaults()
	srv := cfg.Server
	srv.Model.Workers = cfg.MinWorkers
	ls, r, err := startLocal(ctx, srv, cfg.Load)
	if err != nil {
		return nil, err
	}
	defer ls.Close()
	defer r.Close()
	rep, err := run(ctx, cfg.Config, target{sizer: ls, meas: r, otherCPU: machineOtherCPU, env: localEnv(cfg.Server)})
	if err != nil || cfg.Adaptive == 0 {
		return rep, err
	}
	if rep.Adaptive, err = runAdaptive(ctx, cfg, len(rep.Points)+1); err != nil {
		return rep, err
	}
	return rep, nil
}

// need returns the FieldError of a field that must be set, or nil if ok.
func need(ok bool, field string) error {
	if ok {
		return nil
	}
	return &load.FieldError{Field: field, Detail: "{" + field + "} is required"}
}

// startLocal starts a LocalServer for srv and a Runner of cfg against it.
// The caller closes both, the Runner first.
func startLocal(ctx context.Context, srv load.ServerConfig, cfg load.Config) (*load.LocalServer, *load.Runner, error) {
	ls, err := load.StartServer(srv)
	if err != nil {
		return nil, nil, err
	}
	cfg.Server = ls
	r, err := load.NewRunner(ctx, cfg)
	if err != nil {
		ls.Close()
		return nil, nil, err
	}
	return ls, r, nil
}

// target is the server a search resizes and measures, and what the
// search does with it beyond that.
type target struct {
	sizer Sizer
	meas  Measurer
	// restore: the pool is checked before the search, put back (or left
	// at the recommendation with Apply) after it, and reported in
	// Report.FinalWorkers; a server of the search's own goes with it.
	restore bool
	// otherCPU, if not nil, measures the share of the machine's CPU that
	// other processes use during a step (Point.OtherCPU): it starts
	// measuring and returns the function that ends it. InProcess sets
	// it, the server sharing this machine's CPU with the load generator;
	// tests inject the measurement.
	otherCPU func() (end func() float64)
	// env describes the machine, the load and the server.
	env func(cfg Config, points []Point) load.Env
}

// machineOtherCPU measures the share of the machine's CPU time that
// other processes use (Linux only: 0 elsewhere), between its call and
// that of the function it returns.
func machineOtherCPU() (end func() float64) {
	before := load.TakeCPUSnapshot()
	return func() float64 { return before.OtherProcesses(load.TakeCPUSnapshot()) }
}

// localEnv describes an in-process server configured by srv.
func localEnv(srv load.ServerConfig) func(Config, []Point) load.Env {
	return func(cfg Config, _ []Point) load.Env { return load.NewEnv(cfg.Load, cfg.window(), 1, &srv) }
}

// remoteEnv describes the server at cfg.Load.Addr.
func remoteEnv(cfg Config, _ []Point) load.Env { return load.NewEnv(cfg.Load, cfg.window(), 1, nil) }

// customEnv describes the server of a Measurer, whatever it is: one
// whose results see the server's side and the whole process's CPU
// measures a server in this process.
func customEnv(cfg Config, points []Point) load.Env {
	e := load.NewEnv(cfg.Load, cfg.window(), 1, nil)
	e.Addr = "a custom measurer"
	if len(points) > 0 {
		first := points[0].Result
		if e.InProcess = first.Server != nil && first.CPU.Scope == load.CPUScopeProcess; e.InProcess {
			e.Addr, e.CPUScope = "", load.CPUScopeProcess
		}
	}
	return e
}

// run is the search of cfg (defaults resolved) against t.
func run(ctx context.Context, cfg Config, t target) (*Report, error) {
	s := &search{cfg: cfg, target: t}
	var before int
	if t.restore {
		var err error
		if before, err = t.sizer.Workers(); err != nil {
			return nil, fmt.Errorf("tune: reading the pool size: %w", err)
		}
		if err := checkTunable(t.sizer); err != nil {
			return nil, err
		}
		// Fail before changing anything if the pool cannot be resized
		// (adaptive sizing on, a model without a pool).
		if err := t.sizer.Resize(before); err != nil {
			return nil, fmt.Errorf("tune: the pool of %s cannot be resized: %w", textfmt.Workers(before), err)
		}
	}
	err := s.run(ctx)
	rep := s.report()
	if err != nil {
		rep.Incomplete, rep.Recommended = true, 0
	}
	if t.restore {
		final := before
		if cfg.Apply && rep.Recommended > 0 && err == nil {
			final = rep.Recommended
		}
		if rerr := t.sizer.Resize(final); rerr != nil {
			err = errors.Join(err, fmt.Errorf("%w to %s: %w", ErrNotRestored, textfmt.Workers(final), rerr))
		} else {
			rep.FinalWorkers = final
		}
	}
	if err != nil && (len(rep.Points) == 0 || errors.Is(err, ErrProbeFailed)) {
		return nil, err
	}
	rep.Explanation = rep.explain()
	return rep, err
}

// checkTunable returns an error wrapping ErrNotTunable if sizer can tell
// its server's model (an AdminSizer or a LocalServer) and it is the conn
// model.
func checkTunable(sizer Sizer) error {
	var model string
	switch s := sizer.(type) {
	case interface {
		State() (server.PoolState, error)
	}:
		st, err := s.State()
		if err != nil {
			return fmt.Errorf("tune: reading the pool's state: %w", err)
		}
		model = st.Model
	case interface{ Spec() load.ModelSpec }:
		model = s.Spec().Model.String()
	}
	if model == server.ModelConn.String() {
		return fmt.Errorf("%w: %s", ErrNotTunable, connNotTunable)
	}
	return nil
}
