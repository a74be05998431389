package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/poolside-dev/poolside/benchmarks"
	"github.com/poolside-dev/poolside/client"
)

func init() { subcommands = append(subcommands, newBenchCmd) }

// benchFlags are the flags of "poolside bench".
type benchFlags struct {
	models         string
	addr           string
	clients        int
	rate           float64
	duration       time.Duration
	warmup         time.Duration
	maxRequests    int64
	connPerRequest bool
	timeout        time.Duration
	mix            string
	seed           uint64
	repeat         int
	workDelay      time.Duration
	workCPU        int
	store          string
	queue          int
	jsonFile       string
	csvFile        string
	chartFile      string
}

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
times, interleaved, and the table shows the medians. --addr measures a
server that is already running instead.

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
                         omission, like wrk2); the uncorrected p99 is shown too

The requests book, cancel and query rooms (--mix), every booking of a room and
date nothing else booked, so bookings succeed. The first --warmup is not
measured; every request is bounded by --timeout.

On a machine with few cores a trivial handler makes serial as fast as anything:
the load generator and the server share the CPU. --work-delay gives each request
a service time on its worker (like a call to a slow backend), --work-cpu a CPU
cost, so that the models differ as they would in production. CPU µs/req is the
process's CPU time per request (getrusage): with an in-process server it counts
the load generator and the server together. The notes under the table give the
server's own queue wait and service time, a Little's-law check (L = X·W), and a
warning when the load generator or the CPU, not the server, was the limit.

A progress bar is drawn on standard error when it is a terminal.`,
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
	fl := cmd.Flags()
	fl.StringVar(&f.models, "models", "serial,pool:16", "comma-separated models to compare: serial, pool[:N], conn[:N], unbounded")
	fl.StringVar(&f.addr, "addr", "", "measure the server at this host:port instead of in-process servers")
	fl.IntVar(&f.clients, "clients", benchmarks.DefaultClients, "concurrent clients (closed loop) or most requests in flight (open loop)")
	fl.Float64Var(&f.rate, "rate", 0, "open loop: requests per second to schedule (0 = closed loop)")
	fl.DurationVar(&f.duration, "duration", 5*time.Second, "measured time of each run")
	fl.DurationVar(&f.warmup, "warmup", time.Second, "load before measuring starts, not measured")
	fl.Int64Var(&f.maxRequests, "max-requests", 0, "end each run after this many measured requests (0 = no cap)")
	fl.BoolVar(&f.connPerRequest, "conn-per-request", false, "dial a connection per request, as the book's client does (default: persistent connections)")
	fl.DurationVar(&f.timeout, "timeout", benchmarks.DefaultTimeout, "give up on a request after this long (counted as a timeout error)")
	fl.StringVar(&f.mix, "mix", benchmarks.DefaultMix.String(), "request mix, ACTION=WEIGHT for book, unbook, ondate, forroom")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the request mix")
	fl.IntVar(&f.repeat, "repeat", 1, "rounds; each runs every model once and the table shows medians")
	fl.DurationVar(&f.workDelay, "work-delay", 0, "in-process servers: every request waits this long on its worker")
	fl.IntVar(&f.workCPU, "work-cpu", 0, "in-process servers: every request computes this many SHA-256 blocks (about 0.13 µs each on a current x86 core) on its worker")
	fl.StringVar(&f.store, "store", string(benchmarks.StoreMemory), "in-process servers: memory, or bolt for a temporary bbolt file (fsync per booking)")
	fl.IntVar(&f.queue, "queue", 0, "in-process servers: requests that may wait for a worker before clients are told the server is busy (0 = 1024)")
	fl.StringVar(&f.jsonFile, "json", "", "also write the results as JSON to this file")
	fl.StringVar(&f.csvFile, "csv", "", "also write the results as CSV to this file")
	fl.StringVar(&f.chartFile, "chart", "", "also draw throughput and latency per model to this .png or .svg file")
	return cmd
}

// compareConfig checks the flags and turns them into a CompareConfig.
func (f benchFlags) compareConfig(cmd *cobra.Command) (benchmarks.CompareConfig, error) {
	bad := func(format string, a ...any) (benchmarks.CompareConfig, error) {
		return benchmarks.CompareConfig{}, usageError(fmt.Errorf(format+" (see 'poolside bench --help')", a...))
	}
	if f.addr != "" {
		if _, _, err := net.SplitHostPort(f.addr); err != nil {
			return bad("--addr %q is not host:port, for example 127.0.0.1:9407", f.addr)
		}
		for _, name := range serverOnlyFlags {
			if cmd.Flags().Changed(name) {
				return bad("--%s configures in-process servers; it cannot be used with --addr", name)
			}
		}
	}
	switch {
	case f.clients < 1:
		return bad("--clients must be at least 1, got %d", f.clients)
	case f.rate < 0:
		return bad("--rate must be 0 (closed loop) or more, got %v", f.rate)
	case f.duration <= 0:
		return bad("--duration must be positive, got %v", f.duration)
	case f.warmup < 0:
		return bad("--warmup must not be negative, got %v", f.warmup)
	case f.maxRequests < 0:
		return bad("--max-requests must be 0 (no cap) or more, got %d", f.maxRequests)
	case f.timeout <= 0:
		return bad("--timeout must be positive, got %v", f.timeout)
	case f.repeat < 1:
		return bad("--repeat must be at least 1, got %d", f.repeat)
	case f.workDelay < 0:
		return bad("--work-delay must not be negative, got %v", f.workDelay)
	case f.workCPU < 0:
		return bad("--work-cpu must not be negative, got %d", f.workCPU)
	case f.queue < 0:
		return bad("--queue must be 0 (default) or more, got %d", f.queue)
	case f.store != string(benchmarks.StoreMemory) && f.store != string(benchmarks.StoreBolt):
		return bad("--store %q: choose memory or bolt", f.store)
	}
	if f.chartFile != "" {
		if _, err := benchmarks.ChartFormat(f.chartFile); err != nil {
			return bad("--chart %q: the file name must end in .png or .svg", f.chartFile)
		}
	}
	mix, err := benchmarks.ParseMix(f.mix)
	if err != nil {
		return bad("--mix: %v", err)
	}
	cfg := benchmarks.CompareConfig{
		Server: benchmarks.ServerConfig{
			Queue:     f.queue,
			WorkDelay: f.workDelay,
			WorkCPU:   f.workCPU,
			Store:     benchmarks.Store(f.store),
		},
		Load: benchmarks.Config{
			Addr:           f.addr,
			Clients:        f.clients,
			ConnPerRequest: f.connPerRequest,
			Rate:           f.rate,
			Timeout:        f.timeout,
			Mix:            mix,
			Seed:           f.seed,
		},
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
	if isTerminal(stderr) {
		stop := startProgress(ctx, &cfg, stderr)
		defer stop()
	}
	rep, err := benchmarks.Compare(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: exitInternal, err: fmt.Errorf("interrupted: %w", ctx.Err())}
		}
		if errors.Is(err, client.ErrConnect) {
			return &exitError{code: exitNetwork, err: err}
		}
		return err
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := rep.WriteNotes(stdout); err != nil {
		return err
	}
	outputs := []struct {
		name  string
		write func(io.Writer) error
	}{
		{f.jsonFile, rep.WriteJSON},
		{f.csvFile, rep.WriteCSV},
		{f.chartFile, func(w io.Writer) error {
			format, err := benchmarks.ChartFormat(f.chartFile)
			if err != nil {
				return err
			}
			return rep.WriteChart(w, format)
		}},
	}
	var errs []error
	for _, o := range outputs {
		if o.name == "" {
			continue
		}
		if err := writeFile(o.name, o.write); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(stderr, "poolside: wrote %s\n", o.name)
	}
	return errors.Join(errs...)
}

// writeFile writes a file in full through write, or not at all.
func writeFile(name string, write func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return fmt.Errorf("cannot render %s: %w", name, err)
	}
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("cannot write %s: %w", name, err)
	}
	return nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startProgress draws a progress bar on w over the expected time of the
// whole comparison, labelled with the run in progress, and returns the
// function that removes it.
func startProgress(ctx context.Context, cfg *benchmarks.CompareConfig, w io.Writer) (stop func()) {
	runs := max(cfg.Repeat, 1) * max(len(cfg.Models), 1)
	if cfg.Load.Addr != "" {
		runs = max(cfg.Repeat, 1)
	}
	per := cfg.Window.Warmup + cfg.Window.Duration
	bar := progressbar.NewOptions64(int64(time.Duration(runs)*per/time.Millisecond),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(false),
	)
	var mu sync.Mutex
	var done time.Duration // expected time of the runs finished
	var stepStart time.Time
	cfg.Progress = func(s benchmarks.Step) {
		mu.Lock()
		defer mu.Unlock()
		done = time.Duration(s.Index-1) * per
		stepStart = time.Now()
		bar.Describe(fmt.Sprintf("run %d/%d %-12s", s.Index, s.Count, s.Label))
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				mu.Lock()
				if !stepStart.IsZero() {
					_ = bar.Set64(int64((done + min(time.Since(stepStart), per)) / time.Millisecond))
				}
				mu.Unlock()
			case <-quit:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
		_ = bar.Finish()
	}
}
