package compare

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/poolside-dev/poolside/benchmarks/gate"
	"github.com/poolside-dev/poolside/benchmarks/load"
)

// Config configures Run. The zero value, with Models set, compares them
// in one round with the zero load.Config and load.Window (a closed loop of
// load.DefaultClients for load.DefaultDuration).
type Config struct {
	// Models are the concurrency models to compare, each against a fresh
	// load.LocalServer. Ignored when Load.Addr is set. Required otherwise.
	Models []load.ModelSpec

	// Server is the LocalServer configuration shared by every model;
	// its Model field is replaced by each of Models in turn. Ignored when
	// Load.Addr is set.
	Server load.ServerConfig

	// Load configures the Runner of each run. Set Addr to measure a
	// running server instead of LocalServers; Load.Server is ignored.
	Load load.Config

	// Addrs, when it names more than one server, measures them together
	// instead of Load.Addr: each round runs one window on all of them at
	// once, with Load.Clients (and Load.Rate, and Window.MaxRequests)
	// shared out among them, the first ones taking one more client when
	// they do not divide; the Report has a result for each, in order, and
	// their sum last (see load.Sum). For servers behind one load balancer
	// or on one database, so that what they serve together is measured.
	Addrs []string
	// MetricsURLs, with Addrs, are the servers' /metrics, one per
	// address in the same order (see load.Config.MetricsURL); nil for
	// none.
	MetricsURLs []string

	// Window is each run's warm-up and measured duration.
	Window load.Window

	// Repeat is how many rounds to run; each round runs every model once,
	// in order, so that slow drift of the machine affects them alike.
	// Figures are the medians over the rounds; the counts of errors and
	// the warnings are those of the median round (see ModelResult). 0
	// means 1.
	Repeat int

	// Progress, if not nil, is called before each run, on Run's goroutine.
	Progress func(Progress)
}

// Progress says which run Run is about to start.
type Progress struct {
	Round, Rounds int    // 1-based round
	Index, Count  int    // 1-based run, of Rounds × models
	Label         string // the model, or the address
	// Expected is how long this run's window should take.
	Expected time.Duration
}

// Validate reports each field out of range as a load.FieldError, joined
// (those of Load, Window and Server under their names, "Load.Rate").
func (c Config) Validate() error {
	var errs []error
	if !c.remote() && len(c.Models) == 0 {
		errs = append(errs, &load.FieldError{Field: "Models", Detail: "no {Models} to compare and no {Load.Addr} to measure"})
	}
	if n := len(c.Addrs); n > 1 && c.Load.Clients != 0 && c.Load.Clients < n {
		errs = append(errs, &load.FieldError{Field: "Load.Clients", Value: c.Load.Clients, Rule: fmt.Sprintf("must be at least one per server of Addrs (%d)", n)})
	}
	if c.Repeat < 0 {
		errs = append(errs, &load.FieldError{Field: "Repeat", Value: c.Repeat, Rule: "must be 0 (once) or more"})
	}
	loadErr := load.PrefixFields("Load", c.Load.Validate())
	windowErr := load.PrefixFields("Window", c.Window.Validate())
	errs = append(errs, loadErr, windowErr)
	if loadErr == nil && windowErr == nil {
		errs = append(errs, load.CheckRate(c.Load.Rate, "Load.Rate", c.Window.WithDefaults().Duration, "Window.Duration"))
	}
	if !c.remote() {
		errs = append(errs, load.PrefixFields("Server", c.Server.Validate()))
	}
	return errors.Join(errs...)
}

// remote reports whether c measures running servers.
func (c Config) remote() bool { return c.Load.Addr != "" || len(c.Addrs) > 0 }

// multi reports whether c measures several running servers together.
func (c Config) multi() bool { return len(c.Addrs) > 1 }

// Report is the outcome of Run.
type Report struct {
	// Results holds one entry per model, in the order given (one entry,
	// labelled with the address, for a remote server).
	Results []ModelResult
	// Env describes the machine and the load.
	Env load.Env

	// Incomplete reports that Run stopped early, ctx having ended or
	// a run failed, and returned this report with its error: each
	// model's figures are over the rounds it finished,
	// len(ModelResult.Rounds), fewer than Env.Repeat for some; and the
	// models that finished none are left out of Results and named, in
	// order, in NotMeasured. The writers mark such a report as
	// incomplete. The zero value, false, is a complete report.
	Incomplete  bool
	NotMeasured []string

	// Servers is how many running servers were measured together (see
	// Config.Addrs): then Results holds each and, last, their sum. 0 or
	// 1 otherwise.
	Servers int

	// Outcomes are the --fail-on thresholds judged on each model (see
	// Judge); nil when none were given.
	Outcomes []gate.Outcome

	// Sources are the reports a merged report adds up (see Merge); nil
	// for a run's own.
	Sources []Source
}

// StoppedRound returns the round (1-based) in which Run stopped an
// incomplete report, or 0 for a complete one.
func (rep *Report) StoppedRound() int {
	if !rep.Incomplete {
		return 0
	}
	if len(rep.NotMeasured) > 0 || len(rep.Results) == 0 {
		return 1
	}
	least := len(rep.Results[0].Rounds)
	for _, mr := range rep.Results {
		least = min(least, mr.RoundCount())
	}
	return least + 1
}

// HasSpeedUp reports whether the speed-ups mean anything: false when
// the first model served no request, leaving nothing to compare with.
// It is false too for several servers measured together, which share
// one load: none is a base for the others; and in an open loop, where
// every model is asked for the same rate and the share of it achieved
// is what compares them.
func (rep *Report) HasSpeedUp() bool {
	return len(rep.Results) > 0 && rep.Results[0].RPS > 0 && rep.Servers < 2 && rep.Env.Rate == 0
}

// ModelResult is the median of a model's rounds.
type ModelResult struct {
	// Label is the model as given ("pool:16"), or the address.
	Label string
	// Spec is the model; zero for a remote server.
	Spec load.ModelSpec
	// Workers is the pool size the model ran with (1 for serial, 0 for
	// unbounded and remote servers).
	Workers int
	// RPS, the latency percentiles, CPUPerRequest and the server figures
	// are each the median over the rounds.
	RPS                         float64
	SpeedUp                     float64 // RPS over the first model's RPS; 0 if that is 0 (see Report.HasSpeedUp)
	P50, P90, P99, P999, Max    time.Duration
	ServiceP50, ServiceP99      time.Duration // from the actual send
	CPUPerRequest               time.Duration
	CPUUtilisation              float64
	QueueWaitMean, ServiceMean  time.Duration // server side; 0 if remote
	MeanRunning, MeanWaiting    float64       // server side; 0 if remote
	ClientL, ServerL, ServerObs float64       // Little's law, see load.Little
	// Window is the median measured time (shorter than the configured
	// duration when Window.MaxRequests ended the runs).
	Window time.Duration
	// Errors, NotSent and Starved are those of the median round, the
	// round whose RPS is nearest the median (see Result), like Warnings:
	// the figures of one round, as the others are, and consistent with
	// the warnings. ErrorsAllRounds sums the errors of every round.
	Errors          load.Errors
	NotSent         int64
	Starved         int
	ErrorsAllRounds load.Errors
	// Requests is the median round's successful requests, and
	// TargetRate its open loop's rate (0 in a closed loop).
	Requests   int64
	TargetRate float64
	// Histogram is the latency (microseconds, see load.HistogramUnit) of
	// every successful request of every round together, for merging
	// runs (poolside report): its percentiles are over all rounds, the
	// figures above medians of the rounds'. nil if no round recorded one.
	Histogram *hdrhistogram.Histogram
	// ServiceHistogram is Histogram from each request's actual send
	// (ServiceP50, ServiceP99); the same as Histogram in a closed loop.
	ServiceHistogram *hdrhistogram.Histogram
	// Rounds are the full results of each round; nil in a report merged
	// from files (see Merge), whose rounds are counted in MergedRounds.
	Rounds       []load.Result
	MergedRounds int
	// Warnings are those of the median round.
	Warnings []string
	// Metrics is the running server's own view of the median round, from
	// Load.MetricsURL; nil without it.
	Metrics *load.ServerMetrics
}

// Run runs every model of cfg against a fresh load.LocalServer, Repeat
// rounds interleaved, or Repeat runs against Load.Addr, and returns the
// medians.
//
// Against Load.Addr, each round's Runner cleans up after it (see
// load.Runner.Close); a clean-up that leaves bookings behind stops Run
// like a failed run, its error wrapping load.ErrCleanup.
//
// It stops at the first failed run, or when ctx ends, and then returns
// the error together with what the runs that finished measured: a Report
// with Incomplete set, so that a long comparison interrupted in its last
// round is not lost; or a nil Report if no run finished (and for a cfg
// that does not validate). The error says which run failed.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rounds := max(cfg.Repeat, 1)
	remote := cfg.remote()
	labels := make([]string, 0, len(cfg.Models))
	specs := cfg.Models
	switch {
	case cfg.multi():
		labels = append(labels, cfg.Addrs...)
		labels = append(labels, fmt.Sprintf("sum of %d", len(cfg.Addrs)))
		specs = make([]load.ModelSpec, len(labels))
	case remote:
		specs = []load.ModelSpec{{}}
		labels = append(labels, cfg.Load.Addr)
	default:
		for _, s := range specs {
			labels = append(labels, s.String())
		}
	}
	w := cfg.Window.WithDefaults()
	runs := make([][]load.Result, len(specs))
	for round := 1; round <= rounds; round++ {
		if cfg.multi() {
			if cfg.Progress != nil {
				cfg.Progress(Progress{Round: round, Rounds: rounds, Index: round, Count: rounds, Label: labels[len(labels)-1], Expected: w.Warmup + w.Duration})
			}
			res, err := runTogether(ctx, cfg, w, round)
			for i := range res { // nil when one of them measured nothing
				res[i].Label = labels[i]
				runs[i] = append(runs[i], res[i])
			}
			if err != nil {
				if round == 1 && res == nil {
					return nil, err
				}
				return cfg.report(remote, w, rounds, specs, labels, runs), err
			}
			continue
		}
		for i, spec := range specs {
			if cfg.Progress != nil {
				cfg.Progress(Progress{Round: round, Rounds: rounds, Index: (round-1)*len(specs) + i + 1, Count: rounds * len(specs), Label: labels[i], Expected: w.Warmup + w.Duration})
			}
			var res load.Result
			var measured bool
			var err error
			if remote {
				res, measured, err = runRemote(ctx, cfg.Load, w, fmt.Sprintf("%s, round %d", labels[i], round))
			} else {
				res, err = runLocal(ctx, cfg, spec, w)
				measured = err == nil
				if err != nil {
					err = fmt.Errorf("compare: %s, round %d: %w", labels[i], round, err)
				}
			}
			if measured {
				res.Label = labels[i]
				runs[i] = append(runs[i], res)
			}
			if err != nil {
				if round == 1 && i == 0 && !measured {
					return nil, err // nothing measured
				}
				return cfg.report(remote, w, rounds, specs, labels, runs), err
			}
		}
	}
	return cfg.report(remote, w, rounds, specs, labels, runs), nil
}

// report summarises the runs of each model, runs[i] those of specs[i]
// (labelled labels[i]): complete if every model has all its rounds.
func (cfg Config) report(remote bool, w load.Window, rounds int, specs []load.ModelSpec, labels []string, runs [][]load.Result) *Report {
	var srv *load.ServerConfig
	if !remote {
		srv = &cfg.Server
	}
	rep := &Report{Env: load.NewEnv(cfg.Load, w, rounds, srv)}
	if cfg.multi() {
		rep.Servers = len(cfg.Addrs)
		rep.Env.Addr = strings.Join(cfg.Addrs, ",")
	}
	for i, spec := range specs {
		if len(runs[i]) < rounds {
			rep.Incomplete = true
		}
		if len(runs[i]) == 0 {
			rep.NotMeasured = append(rep.NotMeasured, labels[i])
			continue
		}
		mr := summarise(labels[i], runs[i])
		if !remote {
			mr.Spec = spec
			mr.Workers = spec.EffectiveWorkers()
		}
		rep.Results = append(rep.Results, mr)
	}
	if len(rep.Results) > 0 && rep.Results[0].RPS > 0 {
		for i := range rep.Results {
			rep.Results[i].SpeedUp = rep.Results[i].RPS / rep.Results[0].RPS
		}
	}
	return rep
}

// runRemote runs one window against the server at cfg.Addr with a Runner
// of its own, which cleans up after the run when it closes (see
// load.Runner.Close). measured reports that the window measured res, also
// when the clean-up then failed. The run's error says which run failed
// (what); the clean-up's, wrapping load.ErrCleanup, is joined to it as it
// is.
func runRemote(ctx context.Context, cfg load.Config, w load.Window, what string) (res load.Result, measured bool, err error) {
	r, err := load.NewRunner(ctx, cfg)
	if err != nil {
		return load.Result{}, false, fmt.Errorf("compare: %s: %w", what, err)
	}
	res, err = r.Run(ctx, w)
	measured = err == nil
	if err != nil {
		err = fmt.Errorf("compare: %s: %w", what, err)
	}
	return res, measured, errors.Join(err, r.Close())
}

// runTogether runs one window on every server of cfg.Addrs at once, each
// with a Runner of its own and its share of the clients, and returns each
// result and, last, their sum; or nil and the error when one of them
// measured nothing. The clean-ups' errors are joined to the error, as in
// runRemote.
func runTogether(ctx context.Context, cfg Config, w load.Window, round int) ([]load.Result, error) {
	n := len(cfg.Addrs)
	lc := cfg.Load.WithDefaults()
	results := make([]load.Result, n)
	measured := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, addr := range cfg.Addrs {
		c := lc
		c.Addr = addr
		c.MetricsURL = ""
		if len(cfg.MetricsURLs) == n {
			c.MetricsURL = cfg.MetricsURLs[i]
		}
		c.Clients = lc.Clients / n
		if i < lc.Clients%n {
			c.Clients++
		}
		share := float64(c.Clients) / float64(lc.Clients)
		c.Rate = lc.Rate * share
		wi := w
		if w.MaxRequests > 0 {
			wi.MaxRequests = max(1, int64(math.Round(float64(w.MaxRequests)*share)))
		}
		wg.Go(func() {
			results[i], measured[i], errs[i] = runRemote(ctx, c, wi, fmt.Sprintf("%s, round %d", addr, round))
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	if slices.Contains(measured, false) {
		return nil, err
	}
	sum := load.Sum(fmt.Sprintf("sum of %d", n), results)
	for i := range results {
		// Each Runner measured the CPU of the whole process, which they
		// share: only the sum's figure means anything.
		results[i].CPU = load.CPU{}
	}
	return append(results, sum), err
}

// runLocal runs one window against a fresh LocalServer for spec.
func runLocal(ctx context.Context, cfg Config, spec load.ModelSpec, w load.Window) (load.Result, error) {
	scfg := cfg.Server
	scfg.Model = spec
	ls, err := load.StartServer(scfg)
	if err != nil {
		return load.Result{}, err
	}
	defer ls.Close()
	lcfg := cfg.Load
	lcfg.Addr = ""
	lcfg.Server = ls
	return load.Run(ctx, lcfg, w)
}

// summarise takes the median of each figure over rs.
func summarise(label string, rs []load.Result) ModelResult {
	mr := ModelResult{Label: label, Rounds: rs}
	f := func(get func(load.Result) float64) float64 {
		vs := make([]float64, len(rs))
		for i, r := range rs {
			vs[i] = get(r)
		}
		return median(vs)
	}
	d := func(get func(load.Result) time.Duration) time.Duration {
		return time.Duration(f(func(r load.Result) float64 { return float64(get(r)) }))
	}
	mr.RPS = f(func(r load.Result) float64 { return r.RPS })
	mr.P50 = d(func(r load.Result) time.Duration { return r.Latency.P50 })
	mr.P90 = d(func(r load.Result) time.Duration { return r.Latency.P90 })
	mr.P99 = d(func(r load.Result) time.Duration { return r.Latency.P99 })
	mr.P999 = d(func(r load.Result) time.Duration { return r.Latency.P999 })
	mr.Max = d(func(r load.Result) time.Duration { return r.Latency.Max })
	mr.ServiceP50 = d(func(r load.Result) time.Duration { return r.ServiceTime.P50 })
	mr.ServiceP99 = d(func(r load.Result) time.Duration { return r.ServiceTime.P99 })
	mr.CPUPerRequest = d(func(r load.Result) time.Duration { return r.CPU.PerRequest })
	mr.CPUUtilisation = f(func(r load.Result) float64 { return r.CPU.Utilisation })
	mr.ClientL = f(func(r load.Result) float64 { return r.Little.ClientL })
	mr.ServerL = f(func(r load.Result) float64 { return r.Little.ServerL })
	mr.ServerObs = f(func(r load.Result) float64 { return r.Little.ServerSampled })
	if len(rs) > 0 && rs[0].Server != nil {
		mr.QueueWaitMean = d(func(r load.Result) time.Duration { return r.Server.QueueWait.Mean })
		mr.ServiceMean = d(func(r load.Result) time.Duration { return r.Server.Service.Mean })
		mr.MeanRunning = f(func(r load.Result) float64 { return r.Server.MeanRunning })
		mr.MeanWaiting = f(func(r load.Result) float64 { return r.Server.MeanWaiting })
	}
	mr.Window = d(func(r load.Result) time.Duration { return r.Window })
	best := 0
	for i, r := range rs {
		mr.Histogram = mergeInto(mr.Histogram, r.LatencyHistogram())
		mr.ServiceHistogram = mergeInto(mr.ServiceHistogram, r.ServiceHistogram())
		mr.ErrorsAllRounds.Merge(r.Errors)
		if math.Abs(r.RPS-mr.RPS) < math.Abs(rs[best].RPS-mr.RPS) {
			best = i
		}
	}
	if len(rs) > 0 {
		m := rs[best]
		mr.Errors, mr.NotSent, mr.Starved, mr.Warnings = m.Errors, m.NotSent, m.Starved, m.Warnings
		mr.Requests, mr.TargetRate = m.Requests, m.TargetRate
		mr.Metrics = m.Metrics
	}
	return mr
}

// mergeInto adds h to sum, a new histogram if sum is nil, and returns
// sum; nil if both are.
func mergeInto(sum, h *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	if h == nil {
		return sum
	}
	if sum == nil {
		sum = load.NewHistogram()
	}
	sum.Merge(h)
	return sum
}

// RoundCount is the number of rounds behind mr's figures.
func (mr ModelResult) RoundCount() int {
	if mr.Rounds == nil {
		return mr.MergedRounds
	}
	return len(mr.Rounds)
}

// Figures are mr's figures for --fail-on thresholds: those of the table.
func (mr ModelResult) Figures() gate.Figures {
	return gate.Figures{
		P50: mr.P50, P90: mr.P90, P99: mr.P99, P999: mr.P999, Max: mr.Max,
		RPS: mr.RPS, Requests: mr.Requests, Errors: mr.Errors.Total(),
		Starved: mr.Starved, NotSent: mr.NotSent, TargetRate: mr.TargetRate,
	}
}

// Judge evaluates ts on every model's figures, in the table's order, and
// keeps the outcomes in rep.Outcomes, which WriteJSON writes.
func (rep *Report) Judge(ts []gate.Threshold) []gate.Outcome {
	rep.Outcomes = nil
	for _, mr := range rep.Results {
		rep.Outcomes = append(rep.Outcomes, gate.Evaluate(ts, mr.Label, mr.Figures())...)
	}
	return rep.Outcomes
}

// median returns the median of vs (the mean of the middle two for an even
// count), or 0 for none. It sorts vs.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}
