package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolside-dev/poolside/benchmarks"
)

func init() { subcommands = append(subcommands, newBenchCmd) }

// benchFlags are the flags of "poolside bench".
type benchFlags struct {
	loadFlags
	models      string
	duration    time.Duration
	warmup      time.Duration
	maxRequests int64
	repeat      int
	jsonFile    string
	csvFile     string
	chartFile   string
}

// benchServers names what the server flags of bench configure.
const benchServers = "in-process servers"

// serverOnlyFlags configure the in-process servers, so they make no sense
// with --addr.
var serverOnlyFlags = []string{"models", "work-delay", "work-cpu", "store", "queue"}

func newBenchCmd(stdout, stderr io.Writer) *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Compare concurrency models: throughput, HDR latency and CPU, side by side",
		Long: `Load Building Services servers and compare them side by side.

Each model of --models runs against a fresh server in this process (the
booking handler on a memory store, or a temporary bbolt file with --store
bolt), on an ephemeral loopback port; --repeat runs every model that many
times, interleaved, and the table shows the medians (the errors and the
warnings are those of the median round, the one whose req/s is nearest the
median). --addr measures a server that is already running instead.

Models:
  serial      one request at a time (the book's single-threaded server)
  pool[:N]    each request runs on one of N pool workers (default 4 × cores)
  conn[:N]    each connection holds one of N workers for its whole life
  unbounded   a goroutine per connection, no pool

Load:
  closed loop (default)  --clients clients each send a request as soon as the
                         previous reply arrived
  open loop (--rate R)   R requests per second are scheduled and sent by up to
                         --clients clients; latency counts from each request's
                         intended send time, so a stall is charged to every
                         request it delayed (corrected for coordinated
                         omission, like wrk2); the uncorrected p99 is shown too.
                         Requests still waiting for a free client when the
                         window ends are not sent, and the notes count them

Each run measures the requests that complete in its window. Those still
waiting for a reply when it ends count for nothing: they get a short grace
(twice the slowest reply, at least 250ms, at most --timeout) and are then cut
off. Clients that got no reply in the whole window (such as those beyond the
workers of the conn model) are counted in the notes and the JSON, with a
warning.

The requests book, cancel and query rooms (--mix), every booking of a room and
date nothing else booked, so bookings succeed. With --addr the dates start at a
random day far in the future (up to 2.9 million years ahead), so that the
bookings earlier runs left on a long-running server do not collide; the bench
leaves some of its own bookings behind too. The first --warmup is not measured;
every request is bounded by --timeout.

On a machine with few cores a trivial handler makes serial as fast as anything:
the load generator and the server share the CPU. --work-delay gives each request
a service time on its worker (like a call to a slow backend), --work-cpu a CPU
cost, so that the models differ as they would in production. CPU µs/req is the
process's CPU time per request (getrusage): with an in-process server it counts
the load generator and the server together. The notes under the table give the
server's own queue wait and service time, a Little's-law check (L = X·W), and a
warning when the load generator or the CPU, not the server, was the limit.

The --json, --csv and --chart files are checked before any load runs (their
directory must exist and be writable) and written at the end. If the bench
stops early, interrupted with Ctrl-C or because a run failed, the table and
the files still show the rounds that finished, marked incomplete (a rounds
column, "complete": false in the JSON), and the exit status says it failed;
if no run finished, no file is written.

A progress bar is drawn on standard error when it is a terminal.

Exit status: 0 done; 2 bad flags (nothing ran); 3 the server could not be
reached, or never answered (not one request got through); 4 interrupted, not
one request of a model succeeded (the server refused, dropped or timed out
every one; the report is printed first), too many open files for --clients, or
any other failure.`,
		Example: `  # serial against a pool of 16, each request waiting 20ms on its worker
  poolside bench --models serial,pool:16 --work-delay 20ms --clients 16 --duration 3s

  # every model, three interleaved rounds, with JSON, CSV and a chart
  poolside bench --models serial,pool:8,pool:64,conn:64,unbounded --repeat 3 \
      --json bench.json --csv bench.csv --chart bench.png

  # open loop at 500 req/s, one connection per request, durable store
  poolside bench --rate 500 --conn-per-request --store bolt

  # a server that is already running
  poolside bench --addr 127.0.0.1:9407 --clients 32 --duration 10s`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, f, stdout, stderr)
		},
	}
	f.register(cmd, benchServers)
	fl := cmd.Flags()
	fl.StringVar(&f.models, "models", "serial,pool:16", "comma-separated models to compare: serial, pool[:N], conn[:N], unbounded")
	fl.StringVar(&f.addr, "addr", "", "measure the server at this host:port instead of in-process servers")
	fl.DurationVar(&f.duration, "duration", 5*time.Second, "measured time of each run")
	fl.DurationVar(&f.warmup, "warmup", time.Second, "load before measuring starts, not measured")
	fl.Int64Var(&f.maxRequests, "max-requests", 0, "end each run after this many measured requests (0 = no cap)")
	fl.IntVar(&f.repeat, "repeat", 1, "rounds; each runs every model once and the table shows medians")
	fl.StringVar(&f.jsonFile, "json", "", "also write the results as JSON to this file")
	fl.StringVar(&f.csvFile, "csv", "", "also write the results as CSV to this file")
	fl.StringVar(&f.chartFile, "chart", "", "also draw throughput and latency per model to this .png or .svg file")
	return cmd
}

// compareConfig checks the flags and turns them into a CompareConfig.
func (f benchFlags) compareConfig(cmd *cobra.Command) (benchmarks.CompareConfig, error) {
	bad := func(format string, a ...any) (benchmarks.CompareConfig, error) {
		return benchmarks.CompareConfig{}, usagef(cmd, format, a...)
	}
	srv, load, err := f.config(cmd, benchServers, serverOnlyFlags)
	if err != nil {
		return benchmarks.CompareConfig{}, err
	}
	switch {
	case f.duration <= 0:
		return bad("--duration must be positive, got %v", f.duration)
	case f.warmup < 0:
		return bad("--warmup must not be negative, got %v", f.warmup)
	case f.maxRequests < 0:
		return bad("--max-requests must be 0 (no cap) or more, got %d", f.maxRequests)
	case f.repeat < 1:
		return bad("--repeat must be at least 1, got %d", f.repeat)
	}
	if err := f.checkRate(cmd, f.duration, "--duration"); err != nil {
		return benchmarks.CompareConfig{}, err
	}
	if err := checkChartFile(cmd, f.chartFile); err != nil {
		return benchmarks.CompareConfig{}, err
	}
	if err := checkOutputs(cmd, outputFlag{"--json", f.jsonFile}, outputFlag{"--csv", f.csvFile}, outputFlag{"--chart", f.chartFile}); err != nil {
		return benchmarks.CompareConfig{}, err
	}
	cfg := benchmarks.CompareConfig{
		Server: srv,
		Load:   load,
		Window: benchmarks.Window{Warmup: f.warmup, Duration: f.duration, MaxRequests: f.maxRequests},
		Repeat: f.repeat,
	}
	if f.addr == "" {
		if cfg.Models, err = benchmarks.ParseModelSpecs(f.models); err != nil {
			return bad("--models: %v", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return bad("%v", err)
	}
	return cfg, nil
}

func runBench(cmd *cobra.Command, f benchFlags, stdout, stderr io.Writer) error {
	cfg, err := f.compareConfig(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	// The bar goes before anything else is written, on success or not,
	// so that nothing lands on its line.
	stopProgress := func(bool) {}
	if showProgress(stderr) {
		stopProgress = startBenchProgress(ctx, &cfg, stderr)
	}
	rep, err := benchmarks.Compare(ctx, cfg)
	stopProgress(err == nil)
	var werr error
	if rep != nil {
		// Complete, or what the rounds that finished measured before an
		// interrupt or a failed run: marked incomplete, and kept.
		werr = writeBenchReport(rep, f, stdout, stderr)
	}
	if err != nil {
		return errors.Join(benchFailure(ctx, f, rep, err), werr)
	}
	return errors.Join(werr, nothingSucceeded(rep))
}

// nothingSucceeded returns an error, exit status 4, naming the models of
// rep for which not one request succeeded in any round (all of them
// failed after connecting: refused, timed out, cut), so that a script
// sees a failed bench; nil otherwise.
func nothingSucceeded(rep *benchmarks.Report) error {
	var failed []string
	for _, mr := range rep.Results {
		var ok int64
		for _, r := range mr.Rounds {
			ok += r.Requests
		}
		if ok == 0 {
			failed = append(failed, fmt.Sprintf("%s (%s)", mr.Label, mr.ErrorsAllRounds))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &exitError{code: exitInternal, err: fmt.Errorf("not one request succeeded against %s: see the warnings above", strings.Join(failed, ", "))}
}

// writeBenchReport prints the table and the notes of rep on stdout and
// writes the files the flags ask for.
func writeBenchReport(rep *benchmarks.Report, f benchFlags, stdout, stderr io.Writer) error {
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := rep.WriteNotes(stdout); err != nil {
		return err
	}
	return writeOutputs(stderr,
		output{f.jsonFile, rep.WriteJSON},
		output{f.csvFile, rep.WriteCSV},
		chartOutput(f.chartFile, rep.WriteChart),
	)
}

// benchFailure turns err, from Compare, into the command's error and exit
// status, or returns nil if err is nil. rep is the report Compare returned
// with it, if any, already printed: the message then says so.
func benchFailure(ctx context.Context, f benchFlags, rep *benchmarks.Report, err error) error {
	if err == nil {
		return nil
	}
	stopped := "before the first run finished; nothing was measured"
	if rep != nil {
		stopped = fmt.Sprintf("in round %d of %d; the results above are from the rounds that finished", rep.StoppedRound(), rep.Env.Repeat)
	}
	return f.failure(ctx, err, stopped, rep != nil, f.duration, "--duration")
}

// startBenchProgress draws a progress bar on w over the expected time of
// the whole comparison, labelled with the run in progress, and returns
// the function that removes it (see progress.stop).
func startBenchProgress(ctx context.Context, cfg *benchmarks.CompareConfig, w io.Writer) (stop func(completed bool)) {
	runs := max(cfg.Repeat, 1) * max(len(cfg.Models), 1)
	if cfg.Load.Addr != "" {
		runs = max(cfg.Repeat, 1)
	}
	per := cfg.Window.Warmup + cfg.Window.Duration
	p := startProgress(ctx, w, time.Duration(runs)*per)
	cfg.Progress = func(s benchmarks.Step) {
		p.step(time.Duration(s.Index-1)*per, per, fmt.Sprintf("run %d/%d %-12s", s.Index, s.Count, s.Label))
	}
	return p.stop
}
