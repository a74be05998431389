package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolside-dev/poolside/benchmarks/gate"
	"github.com/poolside-dev/poolside/benchmarks/tune"
	"github.com/poolside-dev/poolside/internal/textfmt"
)

func init() { subcommands = append(subcommands, newTuneCmd) }

// tuneFlags are the flags of "poolside tune".
type tuneFlags struct {
	loadFlags
	admin            string
	apply            bool
	minWorkers       int
	maxWorkers       int
	maxSteps         int
	settle           time.Duration
	step             time.Duration
	sloP99           time.Duration
	minGain          float64
	compareAdaptive  bool
	adaptiveDuration time.Duration
	jsonFile         string
	chartFile        string
	failOn           []string
	strict           bool
}

func newTuneCmd(stdout, stderr io.Writer) *cobra.Command {
	var f tuneFlags
	cmd := &cobra.Command{
		Use:   "tune",
		Short: "Find the pool size for a load and a latency SLO, resizing a live server",
		Long: `Find the smallest pool that gets (nearly) the most throughput out of a load,
within a p99 latency objective, by resizing one running server step by step.

The server is a fresh one in this process (the booking handler on a memory store,
on an ephemeral loopback port), or, with --addr and --admin, a running
"poolside serve --admin-addr" resized through its admin API (PUT /pool). The
clients keep their connections from step to step: only the pool changes. The
server must run the pool model: serial and unbounded have no pool, and in the
conn model each connection keeps its worker, so resizing changes nothing. Each
step resizes the pool, runs --settle of load that is not measured, then measures
for --step.

The search:
  1. probe   measure --min-workers (1): the service time D of a request on its
             worker at low load and, in process, the CPU time per request
  2. seed    Little's law, N = X × D, with X what the load can ask for
             (C/(D+RTT) for C clients in a closed loop, --rate in an open one)
             capped by what the cores can serve (in process)
  3. up      double the pool while throughput gains at least --min-gain, the
             p99 holds --slo-p99 and fewer than 1% of requests fail
  4. down    halve it from the seed while throughput stays within 5% of the best
  5. bisect  between the smallest size within 5% of the best and the next
             smaller one, until they are 5% (or one worker) apart
The recommendation is the smallest size within the SLO with at least 95% of the
best throughput. Past it, more workers add nothing but queueing: the clients,
the rate or the CPU is the limit. The common advice (cores × 2 + spindles, or
N = X × W) is a starting point, not the answer: the service time itself grows
under load.

The table shows every size measured: req/s, p50 and p99 at the clients, the
server's mean queue wait (in process), CPU µs per request (in process: load
generator and server together), and throughput as a share of the ceilings N/D
(the pool) and C/(D+RTT) (the clients; RTT, the rest of a request's time at the
client, is measured in process where requests queued least) or the rate. A
paragraph explains the recommendation. --compare-adaptive then runs a second
in-process server with adaptive sizing (as "poolside serve --workers auto")
under the same load and reports where its pool settled, against the
recommendation.

Against --addr, the server's pool is put back to the size it had when the
search ends, fails or is interrupted with Ctrl-C (--apply leaves it at the
recommended size instead), and its bookings are left as they were: the load
books only rooms it read as free, within the server's horizon (learned from
the answer to a BOOK of 9999-12-31), and before tune exits it unbooks every
booking it made and did not cancel, a BOOK whose reply never came included if
it was made, and never one it did not make (see 'poolside bench --help' for
the one case it cannot tell). The output says how many; those that could not
be unbooked are listed, and the exit status is 4. If tune is killed before it
cleans up (SIGKILL, or a second Ctrl-C), 'poolside bench --cleanup' unbooks
what it left, from its journal in ~/.cache/poolside.
--read-only tunes for a load of queries only (BOOKINGSONDATE and
BOOKINGSFORROOM), which books nothing.

Measured on a machine that others share, points differ by a few percent from
run to run. When other processes used a fifth of the machine's CPU or more
during a step, the run is contended: the table marks the step, and a warning
under the explanation (and "contended" in the JSON) says the recommendation is
not to be trusted as it stands. So does a climb that stopped at the most
workers searched while throughput was still rising; it says which flag set
that cap and which flags to raise: --max-workers, or --clients when
--max-workers is 0 (it is then the number of clients) or at least --clients,
since each client has at most one request in flight, so more workers than
clients cannot be busy. --strict turns either into a failure, exit status 7,
for CI; without it the exit status is as if there were no doubt.

Errors are one sentence that says what failed and what to do: an admin API that
cannot be reached says so and asks whether poolside serve runs with that
--admin-addr, one that refuses says why (adaptive sizing on, a model without a
pool), and a pool that could not be put back says how to set it by hand.

--fail-on EXPR judges the recommended size's figures, as bench's --fail-on
judges each model's (see 'poolside bench --help'): p50, p90, p99, p99.9 and max
with a unit (p99>50ms), rps, errors (a count or errors>1%), achieved (open
loop), starved and not_sent. Each check is listed as pass or FAIL; if any
fails, the exit status is 6.

A progress bar is drawn on standard error when it is a terminal.

The --json and --chart files are checked before the search (their directory
must exist and be writable) and written at the end, also when no size is
recommended; a search that fails or is interrupted writes none, but prints the
sizes it had measured, recommends nothing, and says where it stopped.

Exit status: 0 a size is recommended; 4 no size met the objective (the report
is printed and written all the same), interrupted, bookings of the run left on
the server, or any other failure; 3 the server or its admin API could not be
reached, or the pool could not be put back; 2 bad flags (nothing ran); 6 a
--fail-on threshold failed; 7 --strict and the recommendation is in doubt (the
run was contended, or throughput was still rising at the most workers
searched; the report is printed and written all the same).`,
		Example: `  # an I/O-bound service: 10ms on the worker, 64 clients
  poolside tune --work-delay 10ms --clients 64 --chart tune.png

  # a CPU-bound service with a latency objective, against adaptive sizing
  poolside tune --work-cpu 10000 --clients 16 --slo-p99 100ms --compare-adaptive

  # a running server: poolside serve --admin-addr 127.0.0.1:9409 ...
  poolside tune --addr 127.0.0.1:9407 --admin 127.0.0.1:9409 --clients 32 --apply`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTune(cmd, f, stdout, stderr)
		},
	}
	f.register(cmd, tuneServers)
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "", "tune the running server at this host:port (needs --admin) instead of an in-process one")
	fl.StringVar(&f.admin, "admin", "", "the running server's admin API host:port (poolside serve --admin-addr)")
	fl.BoolVar(&f.apply, "apply", false, "with --addr, leave the pool at the recommended size (default: put back the size it had)")
	fl.IntVar(&f.minWorkers, "min-workers", 1, "smallest pool searched; the probe measures the service time there")
	fl.IntVar(&f.maxWorkers, "max-workers", 0, "largest pool searched (0 = --clients, the most requests in flight)")
	fl.IntVar(&f.maxSteps, "max-steps", tune.DefaultMaxSteps, "most pool sizes measured")
	fl.DurationVar(&f.settle, "settle", tune.DefaultSettle, "load after each resize that is not measured")
	fl.DurationVar(&f.step, "step", tune.DefaultStepDuration, "measured time at each pool size")
	fl.DurationVar(&f.sloP99, "slo-p99", 0, "latency objective: never recommend a size whose p99 is above this (0 = none)")
	fl.Float64Var(&f.minGain, "min-gain", tune.DefaultMinGain, "stop doubling the pool when throughput gains less than this share (0.05 = 5%; negative = never)")
	fl.BoolVar(&f.compareAdaptive, "compare-adaptive", false, "after the search, run an in-process server with adaptive sizing under the same load and compare")
	fl.DurationVar(&f.adaptiveDuration, "adaptive-duration", 10*time.Second, "with --compare-adaptive, how long to measure the adaptive server")
	fl.StringVar(&f.jsonFile, "json", "", "also write every point and the recommendation as JSON to this file")
	fl.StringArrayVar(&f.failOn, "fail-on", nil, "fail (exit status 6) when this holds for the recommended size, such as p99>50ms, errors>0, rps<1000; repeat the flag, or separate with commas")
	fl.BoolVar(&f.strict, "strict", false, "fail (exit status 7) when the recommendation is in doubt: other processes used a fifth of the CPU or more during a step, or throughput was still rising at the most workers searched")
	fl.StringVar(&f.chartFile, "chart", "", "also draw throughput and p99 against workers, the recommendation marked, to this .png or .svg file")
	return cmd
}

// tuneServers names what the server flags of tune configure.
const tuneServers = "in-process server"

// tuneServerFlags configure the in-process server, so they make no sense
// with --addr.
var tuneServerFlags = []string{"work-delay", "work-cpu", "store", "queue", "compare-adaptive", "adaptive-duration"}

// tuneConfig turns the flags into a tune.LocalConfig and checks it (see
// fieldFlags), with the output files: all of it for an in-process
// server, its Config for the running server of --addr.
func (f tuneFlags) tuneConfig(cmd *cobra.Command) (tune.LocalConfig, error) {
	bad := func(format string, a ...any) (tune.LocalConfig, error) {
		return tune.LocalConfig{}, usagef(cmd, format, a...)
	}
	switch {
	case f.addr != "" && f.admin == "":
		return bad("--addr needs --admin, the server's admin API (poolside serve --admin-addr), to resize its pool")
	case f.addr == "" && f.admin != "":
		return bad("--admin needs --addr, the server's own address, to send the load to")
	case f.addr == "" && f.apply:
		return bad("--apply leaves a running server at the recommended size; it needs --addr and --admin")
	case len(f.addrs()) > 1:
		return bad("--addr %s names several servers; tune sizes the pool of one server, through its --admin: tune each in turn (poolside bench --addr measures several together)", f.addr)
	}
	srv, lcfg, err := f.config(cmd, tuneServers, tuneServerFlags)
	if err != nil {
		return tune.LocalConfig{}, err
	}
	if f.addr != "" {
		if err := checkAddr("--admin", f.admin, "127.0.0.1:9409", dialling); err != nil {
			return tune.LocalConfig{}, err
		}
	}
	if cmd.Flags().Changed("adaptive-duration") && !f.compareAdaptive {
		return bad("--adaptive-duration needs --compare-adaptive")
	}
	// The flags' zeros mean zero where the Config's mean its defaults.
	settle, minGain := f.settle, f.minGain
	if settle == 0 {
		settle = tune.NoSettle
	}
	if minGain == 0 {
		minGain = tune.ZeroGain // stop when a doubling gains nothing
	}
	cfg := tune.LocalConfig{
		Config: tune.Config{
			Load:         lcfg,
			Settle:       settle,
			StepDuration: f.step,
			MinWorkers:   f.minWorkers,
			MaxWorkers:   f.maxWorkers,
			MaxSteps:     f.maxSteps,
			SLOP99:       f.sloP99,
			MinGain:      minGain,
			Apply:        f.apply,
		},
		Server: srv,
	}
	if f.compareAdaptive {
		cfg.Adaptive = f.adaptiveDuration
	}
	verr := cfg.Validate()
	if f.addr != "" {
		verr = cfg.Config.Validate()
	}
	if err := checkConfig(cmd, verr); err != nil {
		return tune.LocalConfig{}, err
	}
	if err := checkChartFile(cmd, f.chartFile, tune.ChartFormat); err != nil {
		return tune.LocalConfig{}, err
	}
	if err := checkOutputs(cmd, outputFlag{"--json", f.jsonFile}, outputFlag{"--chart", f.chartFile}); err != nil {
		return tune.LocalConfig{}, err
	}
	return cfg, nil
}

// search runs the search of cfg: on the running server of --addr,
// resized through the admin API of --admin, or on an in-process server.
func (f tuneFlags) search(ctx context.Context, cfg tune.LocalConfig) (*tune.Report, error) {
	if f.addr != "" {
		return tune.Running(ctx, cfg.Config, &tune.AdminSizer{Addr: f.admin})
	}
	return tune.InProcess(ctx, cfg)
}

func runTune(cmd *cobra.Command, f tuneFlags, stdout, stderr io.Writer) error {
	cfg, err := f.tuneConfig(cmd)
	if err != nil {
		return err
	}
	thresholds, err := parseFailOn(cmd, f.failOn, cfg.Load.Rate > 0)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	// The step in progress, for the message if the search stops.
	var current tune.Progress
	bar, stopProgress := func(tune.Progress) {}, func(bool) {}
	// The bar goes before anything else is written, on success or not,
	// so that nothing lands on its line.
	if showProgress(stderr) {
		var p *progress
		p, bar = startTuneProgress(ctx, &cfg, stderr)
		stopProgress = p.stop
	}
	cfg.Progress = func(s tune.Progress) {
		current = s
		bar(s)
	}
	var cl cleanups
	cfg.Load.OnCleanup = cl.add
	rep, err := f.search(ctx, cfg)
	stopProgress(err == nil)
	// The clean-up's own failure is reported by cl, after the report.
	err, _ = splitCleanup(err)
	if rep != nil {
		// Complete, or the sizes measured before the search stopped.
		if werr := writeTuneReport(rep, f, stdout); werr != nil {
			cl.write(stdout)
			return errors.Join(err, werr, cl.err())
		}
	}
	cl.write(stdout)
	if err != nil {
		return errors.Join(tuneFailure(ctx, f, rep, current, err), cl.err())
	}
	werr := writeOutputs(stderr,
		output{f.jsonFile, rep.WriteJSON},
		chartOutput(f.chartFile, tune.ChartFormat, rep.WriteChart),
	)
	if rep.Recommended == 0 {
		return errors.Join(noRecommendation(rep), werr, cl.err())
	}
	if err := errors.Join(werr, cl.err()); err != nil {
		return err
	}
	var outcomes []gate.Outcome
	if len(thresholds) > 0 {
		outcomes = gate.Evaluate(thresholds, fmt.Sprintf("recommended %s", workerCount(rep.Recommended)), rep.Point(rep.Recommended).Figures())
		writeOutcomes(stdout, outcomes)
	}
	if err := gateFailure(outcomes); err != nil {
		return err
	}
	if f.strict && len(rep.Doubts) > 0 {
		return &exitError{code: exitDoubt, err: fmt.Errorf("--strict: the recommendation of %s is in doubt: %s", workerCount(rep.Recommended), strings.Join(rep.Doubts, "; "))}
	}
	return nil
}

// writeTuneReport prints the table and the explanation of rep on stdout,
// and, for a running server, where its pool was left.
func writeTuneReport(rep *tune.Report, f tuneFlags, stdout io.Writer) error {
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := rep.WriteExplanation(stdout); err != nil {
		return err
	}
	if f.addr != "" && rep.FinalWorkers > 0 {
		what := "put back to"
		if f.apply && rep.FinalWorkers == rep.Recommended {
			what = "left at the recommended"
		}
		fmt.Fprintf(stdout, "\nthe pool at %s was %s %s\n", f.addr, what, workerCount(rep.FinalWorkers))
	}
	return nil
}

// tuneFailure turns err, from the search, into the command's error and exit
// status. rep is the report the search returned with it, if any, already
// printed; current is the step in progress when the search stopped (zero
// before the first).
func tuneFailure(ctx context.Context, f tuneFlags, rep *tune.Report, current tune.Progress, err error) error {
	measured, flag := f.step, "--step"
	if current.Phase == tune.PhaseAdaptive {
		measured, flag = f.adaptiveDuration, "--adaptive-duration"
	}
	if errors.Is(err, tune.ErrNotRestored) {
		return notRestored(f, err)
	}
	if ae := (*tune.AdminError)(nil); errors.As(err, &ae) && ctx.Err() == nil {
		return adminFailure(ae, tuneStopped(f, rep, current), rep != nil, err)
	}
	for _, sentinel := range []error{tune.ErrNotTunable, tune.ErrProbeFailed} {
		if errors.Is(err, sentinel) && ctx.Err() == nil {
			// The sentinel's sentence and what follows it, without the
			// layers above it or the package's prefix.
			msg := err.Error()
			if i := strings.Index(msg, sentinel.Error()); i >= 0 {
				msg = strings.TrimPrefix(msg[i:], "tune: ")
			}
			return &exitError{code: exitInternal, err: &messageError{msg: msg, err: err}}
		}
	}
	return f.failure(ctx, err, tuneStopped(f, rep, current), rep != nil, measured, flag)
}

// adminFailure is the error of a search stopped by the admin API at
// ae.Addr, in one sentence that says what to do: exit status 3 when it
// could not be reached or did not answer as poolside's admin API, 4 when
// it refused. err is the whole error.
func adminFailure(ae *tune.AdminError, stopped string, reported bool, err error) error {
	what := "read the pool's size"
	if ae.Method == http.MethodPut {
		what = "resize the pool"
	}
	check := fmt.Sprintf("is poolside serve running with --admin-addr %s, and is --admin its address?", ae.Addr)
	var msg string
	code := exitNetwork
	var ne net.Error
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case ae.Status != 0:
		code = exitInternal
		msg = fmt.Sprintf("the admin API at %s refused to %s (%d %s): %s", ae.Addr, what, ae.Status, http.StatusText(ae.Status), ae.Message)
	case errors.As(ae.Err, &syntax) || errors.As(ae.Err, &typ):
		msg = fmt.Sprintf("what answered at %s to %s is not poolside's admin API (its answer is not a pool state): %s", ae.Addr, what, check)
	case errors.As(ae.Err, &ne) && ne.Timeout():
		msg = fmt.Sprintf("could not reach the admin API at %s to %s (no answer within %v): %s", ae.Addr, what, tune.DefaultAdminTimeout, check)
	default:
		msg = fmt.Sprintf("could not reach the admin API at %s to %s (%s): %s", ae.Addr, what, netReason(ae.Err), check)
	}
	if reported {
		msg += " (stopped " + stopped + ")"
	}
	return &exitError{code: code, err: &messageError{msg: msg, err: err}}
}

// notRestored is the error of a search against --addr after which the
// pool could not be put back (or set to the recommendation, with
// --apply): err wraps tune.ErrNotRestored. It says so first, whatever
// else failed, with the command that sets the size by hand.
func notRestored(f tuneFlags, err error) error {
	want := "the size it had"
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, tune.ErrNotRestored.Error()+" to "); ok {
		want, _, _ = strings.Cut(after, ":")
	}
	why := "the admin API failed"
	if ae := (*tune.AdminError)(nil); errors.As(err, &ae) {
		why = adminFailure(ae, "", false, err).Error()
	}
	msg = fmt.Sprintf("could not put the pool of the server at %s back to %s, so it may be left at another size (%s); set it by hand: curl -X PUT -d '{\"workers\": N}' http://%s/pool",
		f.addr, want, why, f.admin)
	return &exitError{code: exitNetwork, err: &messageError{msg: msg, err: err}}
}

// tuneStopped says where the search stopped and what was kept: rep is
// the report the search returned, if any, and current the step in progress.
func tuneStopped(f tuneFlags, rep *tune.Report, current tune.Progress) string {
	pool := ""
	if f.addr != "" && rep == nil {
		pool = fmt.Sprintf("; the pool at %s was put back to the size it had", f.addr)
	}
	switch {
	case current.Index == 0:
		return "before the first step; nothing was measured" + pool
	case current.Phase == tune.PhaseAdaptive:
		return "during the adaptive comparison, after the search had finished: its report is above, but no file was written"
	case rep == nil:
		return fmt.Sprintf("during the first step (the probe at %s); nothing was measured%s", workerCount(current.Workers), pool)
	}
	return fmt.Sprintf("during step %d (%s at %s), before the search finished: the %d %s measured before it %s above, but nothing is recommended and no file was written",
		current.Index, current.Phase, workerCount(current.Workers), len(rep.Points), textfmt.PluralWord(len(rep.Points), "size", "sizes"), textfmt.PluralWord(len(rep.Points), "is", "are"))
}

// workerCount returns "1 worker" or "n workers".
func workerCount(n int) string {
	return fmt.Sprintf("%d %s", n, textfmt.PluralWord(n, "worker", "workers"))
}

// noRecommendation is the error, exit status 4, of a search in which no
// size met the objective: the report, printed already, says why, and the
// exit status lets a script tell.
func noRecommendation(rep *tune.Report) error {
	objective := "at most 1% of the requests failing"
	if rep.SLOP99 > 0 {
		objective = fmt.Sprintf("p99 within --slo-p99 %v and %s", rep.SLOP99, objective)
	}
	return &exitError{code: exitInternal, err: fmt.Errorf("no pool size met the objective (%s), so none is recommended; the report above says why", objective)}
}

// startTuneProgress draws a progress bar on w over the time the search is
// expected to take, then the adaptive run, labelled with the step in
// progress. It returns the bar, to stop when the search ends, and the
// function to call with each step, which rescales the bar as the search
// narrows (see tune.Progress.Left) so that the last step ends it.
func startTuneProgress(ctx context.Context, cfg *tune.LocalConfig, w io.Writer) (p *progress, step func(tune.Progress)) {
	per := max(cfg.Settle, 0) + cfg.StepDuration
	total := time.Duration(cfg.MaxSteps)*per + cfg.Adaptive
	p = startProgress(ctx, w, total)
	return p, func(s tune.Progress) {
		done := time.Duration(s.Index-1) * per
		if s.Phase == tune.PhaseAdaptive {
			total = done + s.Expected
			p.rescale(total)
			p.step(done, s.Expected, fmt.Sprintf("adaptive sizing, %v", cfg.Adaptive))
			return
		}
		// The estimate may grow back a little; the bar does not.
		total = max(done+s.Expected+cfg.Adaptive, min(total, time.Duration(s.Index+s.Left)*per+cfg.Adaptive))
		p.rescale(total)
		unit := "workers"
		if s.Workers == 1 {
			unit = "worker "
		}
		p.step(done, s.Expected, fmt.Sprintf("step %d/%d %-6s %4d %s", s.Index, s.Index+s.Left, s.Phase, s.Workers, unit))
	}
}
