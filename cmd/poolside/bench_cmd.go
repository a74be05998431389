package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/poolside-dev/poolside/benchmarks/compare"
	"github.com/poolside-dev/poolside/benchmarks/gate"
	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/internal/textfmt"
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
	hgrmDir     string
	failOn      []string
	cleanup     bool
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
  pool[:N]    each request runs on one of N pool workers (default 16 × cores)
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
workers of the conn model) are counted in the table's starved column ("4/8"),
the notes and the JSON, with a warning; that model's latencies, which leave
them out, are marked "!" in the table and the chart, as are those of an open
loop that left requests unsent. In an open loop the table shows the target
rate, the req/s achieved, their ratio and the requests not sent, and no
speed-up (every model is asked for the same rate); the chart draws the
target as a line and what was not sent in grey. The latency panel turns
logarithmic when the latencies span more than a factor of 20, so that every
bar can be read, and each bar carries its value.

The requests book, cancel and query rooms (--mix). Bookings stay inside the
server's horizon (poolside serve --horizon): the run learns its last date from
the answer to a BOOK of 9999-12-31, which such a server refuses, and books from
that date backwards, five rooms a date, where real bookings are rarest. Each
client holds at most 8 bookings at a time, and the (room, date) pairs the run
cancels are booked again later. The first --warmup is not measured; every
request is bounded by --timeout.

A benchmark of someone's server leaves it as it found it. With --addr the run
reads each date (BOOKINGSONDATE) before it books on it, books only rooms it saw
free, and never unbooks a booking it did not make. A BOOK refused because
someone else booked the room meanwhile is the server's right answer: it counts
as a success, not an error, and the notes say how many there were. Before the
bench exits, also when it is interrupted with Ctrl-C or a run fails, it unbooks
every booking it made and did not cancel, over fresh connections. A BOOK whose
reply never came (a timeout, a cut connection) is unbooked if it was made; the
protocol does not say who made a booking, so had someone else booked that very
room and date in that moment, theirs would go (the far dates make it unlikely).
The output says how many bookings were unbooked; those that could not be (the
server went away, say) are listed, and the exit status is 4. While the run
goes, the bookings it may hold are listed in a journal in the user's cache
directory (~/.cache/poolside, or $XDG_CACHE_HOME/poolside); if the bench is
killed before it cleans up (SIGKILL, or a second Ctrl-C during the clean-up),
'poolside bench --cleanup' unbooks what it left. --read-only sends only
BOOKINGSONDATE and BOOKINGSFORROOM: the run books nothing, so there is nothing
to clean up.

On a machine with few cores a trivial handler makes serial as fast as anything:
the load generator and the server share the CPU. --work-delay gives each request
a service time on its worker (like a call to a slow backend), --work-cpu a CPU
cost, so that the models differ as they would in production. CPU µs/req is the
process's CPU time per request (getrusage): with an in-process server it counts
the load generator and the server together. The notes under the table give the
server's own queue wait and service time, a Little's-law check (L = X·W), and a
warning when the load generator or the CPU, not the server, was the limit.

The JSON has each model's latency as an HdrHistogram in its standard
compressed form (latency_hdr_us, every request of every round); --hgrm DIR
writes each model's percentile spectrum as a .hgrm file HdrHistogram's plotters
read, and 'poolside report' merges the JSON of runs made at once from several
load machines.

` + failOnLong + `

The --json, --csv and --chart files are checked before any load runs (their
directory must exist and be writable) and written at the end. If the bench
stops early, interrupted with Ctrl-C or because a run failed, the table and
the files still show the rounds that finished, marked incomplete (a rounds
column, "complete": false in the JSON), and the exit status says it failed;
if no run finished, no file is written.

Progress goes to standard error: on a terminal a bar with the run, the last
second's req/s, errors and p99, and the time left; otherwise (a CI log) one
plain line of the same every 10 seconds.

Exit status: 0 done; 2 bad flags (nothing ran); 3 the server could not be
reached, or never answered (not one request got through); 4 interrupted, not
one request of a model succeeded (the server refused, dropped or timed out
every one; the report is printed first), bookings of the run left on the
server, too many open files for --clients, or any other failure; 6 the run went well
but a --fail-on threshold failed.`,
		Example: `  # serial against a pool of 16, each request waiting 20ms on its worker
  poolside bench --models serial,pool:16 --work-delay 20ms --clients 16 --duration 3s

  # every model, three interleaved rounds, with JSON, CSV and a chart
  poolside bench --models serial,pool:8,pool:64,conn:64,unbounded --repeat 3 \
      --json bench.json --csv bench.csv --chart bench.png

  # open loop at 500 req/s, one connection per request, durable store
  poolside bench --rate 500 --conn-per-request --store bolt

  # a CI gate: fail when p99 passes 50ms or any request fails
  poolside bench --addr 127.0.0.1:9407 --fail-on 'p99>50ms' --fail-on 'errors>0'

  # a server that is already running; its bookings are left as they were
  poolside bench --addr 127.0.0.1:9407 --clients 32 --duration 10s

  # the same, queries only
  poolside bench --addr 127.0.0.1:9407 --read-only

  # after a bench or tune against --addr was killed: unbook what it left
  poolside bench --cleanup`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, f, stdout, stderr)
		},
	}
	f.register(cmd, benchServers)
	fl := cmd.Flags()
	fl.StringVar(&f.models, "models", "serial,pool:16", "comma-separated models to compare: serial, pool[:N], conn[:N], unbounded")
	fl.StringVar(&f.addr, "addr", "", "measure the server at this host:port instead of in-process servers; several, separated by commas, are measured together (--clients shared out), each reported and their sum")
	fl.DurationVar(&f.duration, "duration", 5*time.Second, "measured time of each run")
	fl.DurationVar(&f.warmup, "warmup", time.Second, "load before measuring starts, not measured")
	fl.Int64Var(&f.maxRequests, "max-requests", 0, "end each run after this many measured requests (0 = no cap)")
	fl.IntVar(&f.repeat, "repeat", 1, "rounds; each runs every model once and the table shows medians")
	fl.StringVar(&f.jsonFile, "json", "", "also write the results as JSON to this file")
	fl.StringVar(&f.csvFile, "csv", "", "also write the results as CSV to this file")
	fl.StringVar(&f.chartFile, "chart", "", "also draw throughput and latency per model to this .png or .svg file")
	fl.StringVar(&f.hgrmDir, "hgrm", "", "also write each model's latency percentile spectrum, HdrHistogram's .hgrm text, into this directory (one MODEL.hgrm each)")
	fl.StringArrayVar(&f.failOn, "fail-on", nil, failOnHelp)
	fl.BoolVar(&f.cleanup, "cleanup", false, "run no load: unbook the bookings that bench or tune runs killed before their clean-up left, as their journals list them (with --addr, only those on that server)")
	return cmd
}

// compareConfig turns the flags into a compare.Config and checks it (see
// fieldFlags), with the output files.
func (f benchFlags) compareConfig(cmd *cobra.Command) (compare.Config, []gate.Threshold, error) {
	cfg, err := f.compareConfigOnly(cmd)
	if err != nil {
		return compare.Config{}, nil, err
	}
	ts, err := parseFailOn(cmd, f.failOn, cfg.Load.Rate > 0)
	if err != nil {
		return compare.Config{}, nil, err
	}
	if err := checkHgrmDir(cmd, f.hgrmDir); err != nil {
		return compare.Config{}, nil, err
	}
	return cfg, ts, nil
}

// compareConfigOnly is compareConfig without the thresholds.
func (f benchFlags) compareConfigOnly(cmd *cobra.Command) (compare.Config, error) {
	srv, lcfg, err := f.config(cmd, benchServers, serverOnlyFlags)
	if err != nil {
		return compare.Config{}, err
	}
	cfg := compare.Config{
		Server: srv,
		Load:   lcfg,
		Window: load.Window{Warmup: f.warmup, Duration: f.duration, MaxRequests: f.maxRequests},
		Repeat: f.repeat,
	}
	if addrs := f.addrs(); len(addrs) > 1 {
		cfg.Addrs = addrs
		if f.metrics != "" {
			cfg.MetricsURLs = f.metricsURLs()
		}
	}
	if f.addr == "" {
		if cfg.Models, err = load.ParseModelSpecs(f.models); err != nil {
			return compare.Config{}, usagef(cmd, "--models: %v", err)
		}
	}
	if err := checkConfig(cmd, cfg.Validate()); err != nil {
		return compare.Config{}, err
	}
	if err := checkChartFile(cmd, f.chartFile, compare.ChartFormat); err != nil {
		return compare.Config{}, err
	}
	if err := checkOutputs(cmd, outputFlag{"--json", f.jsonFile}, outputFlag{"--csv", f.csvFile}, outputFlag{"--chart", f.chartFile}); err != nil {
		return compare.Config{}, err
	}
	return cfg, nil
}

func runBench(cmd *cobra.Command, f benchFlags, stdout, stderr io.Writer) error {
	if f.cleanup {
		return runBenchCleanup(cmd, f, stdout)
	}
	cfg, thresholds, err := f.compareConfig(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	var cl cleanups
	cfg.Load.OnCleanup = cl.add
	// The bar goes before anything else is written, on success or not,
	// so that nothing lands on its line.
	stopProgress := startBenchProgress(ctx, &cfg, stderr, showProgress(stderr))
	rep, err := compare.Run(ctx, cfg)
	stopProgress(err == nil)
	// The clean-up's own failure is reported by cl, after the report.
	err, _ = splitCleanup(err)
	var werr error
	if rep != nil {
		// Complete, or what the rounds that finished measured before an
		// interrupt or a failed run: marked incomplete, and kept.
		if len(thresholds) > 0 {
			rep.Judge(thresholds)
		}
		werr = writeBenchReport(rep, f, stdout, stderr)
	}
	cl.write(stdout)
	if err != nil {
		return errors.Join(benchFailure(ctx, f, rep, err), werr, cl.err())
	}
	if err := errors.Join(werr, nothingSucceeded(rep), cl.err()); err != nil {
		return err
	}
	return gateFailure(rep.Outcomes)
}

// cleanupFlags are the flags "poolside bench --cleanup" takes; it runs
// no load, so the others do not apply.
var cleanupFlags = map[string]bool{"cleanup": true, "addr": true, "timeout": true}

// runBenchCleanup is "poolside bench --cleanup": it unbooks what the runs
// that were killed before their clean-up left, as their journals list
// them, and says what it did on stdout.
func runBenchCleanup(cmd *cobra.Command, f benchFlags, stdout io.Writer) error {
	var other string
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if !cleanupFlags[fl.Name] && other == "" {
			other = fl.Name
		}
	})
	if other != "" {
		return usagef(cmd, "--cleanup runs no load, so --%s does not apply; it takes only --addr and --timeout", other)
	}
	if f.addr != "" {
		if err := checkAddr("--addr", f.addr, "127.0.0.1:9407", dialling); err != nil {
			return err
		}
	}
	if err := checkConfig(cmd, nil); err != nil {
		return err
	}
	ctx := cmd.Context()
	dir := journalDir()
	done, err := load.CleanupJournals(ctx, dir, f.addr, f.timeout)
	if errors.Is(err, load.ErrInvalidConfig) { // before any file was touched
		return checkConfig(cmd, err)
	}
	where := ""
	if f.addr != "" {
		where = " for " + f.addr
	}
	if len(done) == 0 && err == nil {
		fmt.Fprintf(stdout, "nothing to clean up: no bench or tune run left a journal%s in %s\n", where, dir)
		return nil
	}
	var left int
	for _, jc := range done {
		switch {
		case jc.InUse:
			fmt.Fprintf(stdout, "%s: skipped %s: its run is still going, and cleans up after itself when it ends\n", jc.Addr, jc.Journal)
			continue
		case len(jc.Left) == 0:
			fmt.Fprintf(stdout, "%s: unbooked %d %s a killed run left", jc.Addr, jc.Unbooked, textfmt.PluralWord(jc.Unbooked, "booking", "bookings"))
			if jc.NotBooked > 0 {
				fmt.Fprintf(stdout, " (%d more it listed %s not booked)", jc.NotBooked, textfmt.PluralWord(jc.NotBooked, "was", "were"))
			}
			fmt.Fprintln(stdout, "; nothing it booked is left")
			continue
		}
		left += len(jc.Left)
		fmt.Fprintf(stdout, "%s: unbooked %d of the %d bookings a killed run listed, but could not unbook %d, which may still be there:\n", jc.Addr, jc.Unbooked, jc.Listed, len(jc.Left))
		for _, b := range jc.Left {
			fmt.Fprintf(stdout, "  %s\n", b)
		}
		fmt.Fprintf(stdout, "they are still listed in %s; run 'poolside bench --cleanup' again once the server answers\n", jc.Journal)
	}
	err, _ = splitCleanup(err)
	switch {
	case ctx.Err() != nil:
		return &exitError{code: exitInternal, err: &messageError{msg: "interrupted; what was not unbooked yet is still listed in its journal: run 'poolside bench --cleanup' again", err: ctx.Err()}}
	case err != nil:
		msg := fmt.Sprintf("could not use every file in %s: %s; move away what is not a journal of poolside's", dir, strings.ReplaceAll(err.Error(), "load: ", ""))
		return &exitError{code: exitInternal, err: &messageError{msg: msg, err: err}}
	case left > 0:
		return &exitError{code: exitInternal, err: fmt.Errorf("%d %s could not be unbooked (listed above)", left, textfmt.PluralWord(left, "booking", "bookings"))}
	}
	return nil
}

// nothingSucceeded returns an error, exit status 4, naming the models of
// rep for which not one request succeeded in any round (all of them
// failed after connecting: refused, timed out, cut), so that a script
// sees a failed bench; nil otherwise.
func nothingSucceeded(rep *compare.Report) error {
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
func writeBenchReport(rep *compare.Report, f benchFlags, stdout, stderr io.Writer) error {
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := rep.WriteNotes(stdout); err != nil {
		return err
	}
	writeOutcomes(stdout, rep.Outcomes)
	return errors.Join(writeOutputs(stderr,
		output{f.jsonFile, rep.WriteJSON},
		output{f.csvFile, rep.WriteCSV},
		chartOutput(f.chartFile, compare.ChartFormat, rep.WriteChart),
	), writeHgrms(stderr, f.hgrmDir, rep))
}

// benchFailure turns err, from compare.Run, into the command's error and exit
// status, or returns nil if err is nil. rep is the report Compare returned
// with it, if any, already printed: the message then says so.
func benchFailure(ctx context.Context, f benchFlags, rep *compare.Report, err error) error {
	if err == nil {
		return nil
	}
	stopped := "before the first run finished; nothing was measured"
	if rep != nil {
		stopped = fmt.Sprintf("in round %d of %d; the results above are from the rounds that finished", rep.StoppedRound(), rep.Env.Repeat)
	}
	return f.failure(ctx, err, stopped, rep != nil, f.duration, "--duration")
}

// startBenchProgress reports on w the progress over the expected time of
// the whole comparison, labelled with the run in progress and the last
// second's figures: a bar on a terminal, plain lines otherwise (see
// startLiveProgress). It returns the function that ends it (see
// progress.stop).
func startBenchProgress(ctx context.Context, cfg *compare.Config, w io.Writer, terminal bool) (stop func(completed bool)) {
	runs := max(cfg.Repeat, 1) * max(len(cfg.Models), 1)
	if cfg.Load.Addr != "" {
		runs = max(cfg.Repeat, 1)
	}
	per := cfg.Window.Warmup + cfg.Window.Duration
	cfg.Load.Live = load.NewLive()
	p := startLiveProgress(ctx, w, time.Duration(runs)*per, cfg.Load.Live, terminal, "bench")
	cfg.Progress = func(s compare.Progress) {
		p.step(time.Duration(s.Index-1)*per, per, fmt.Sprintf("run %d/%d %-12s", s.Index, s.Count, s.Label))
	}
	return p.stop
}
