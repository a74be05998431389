package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/internal/textfmt"
)

// loadFlags are the flags that shape the load and the in-process server,
// shared by "poolside bench" and "poolside tune".
type loadFlags struct {
	addr           string
	metrics        string
	clients        int
	rate           float64
	connPerRequest bool
	timeout        time.Duration
	mix            string
	readOnly       bool
	seed           uint64
	workDelay      time.Duration
	workCPU        int
	store          string
	queue          int
}

// register defines the load flags on cmd, all but --addr, whose help
// differs from command to command. servers names what the server flags
// configure, "in-process servers" or "in-process server".
func (f *loadFlags) register(cmd *cobra.Command, servers string) {
	fl := cmd.Flags()
	fl.IntVar(&f.clients, "clients", load.DefaultClients, "concurrent clients (closed loop) or most requests in flight (open loop)")
	fl.Float64Var(&f.rate, "rate", 0, "open loop: requests per second to schedule (0 = closed loop)")
	fl.BoolVar(&f.connPerRequest, "conn-per-request", false, "dial a connection per request, as the book's client does (default: persistent connections)")
	fl.DurationVar(&f.timeout, "timeout", load.DefaultTimeout, "give up on a request after this long (counted as a timeout error)")
	fl.StringVar(&f.mix, "mix", load.DefaultMix.String(), "request mix, ACTION=WEIGHT for book, unbook, ondate, forroom")
	fl.BoolVar(&f.readOnly, "read-only", false, "send only the queries BOOKINGSONDATE and BOOKINGSFORROOM (--mix ondate=1,forroom=1 unless given): the run books nothing and changes nothing on the server")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the request mix")
	fl.DurationVar(&f.workDelay, "work-delay", 0, servers+": every request waits this long on its worker")
	fl.IntVar(&f.workCPU, "work-cpu", 0, servers+": every request computes this many SHA-256 blocks (about 0.13 µs each on a current x86 core) on its worker")
	fl.StringVar(&f.metrics, "metrics", "", "with --addr, the server's Prometheus /metrics (poolside serve --metrics-addr), such as http://127.0.0.1:9408/metrics, read before and after each window: the report adds the server's own time waiting for a worker and, with --store postgres, for a database connection (several, separated by commas, one per --addr)")
	fl.StringVar(&f.store, "store", string(booking.StoreMemory), servers+": memory, or bolt for a temporary bbolt file (fsync per booking)")
	fl.IntVar(&f.queue, "queue", 0, servers+": requests that may wait for a worker before clients are told the server is busy (0 = 1024)")
}

// config turns the load flags into the configurations of the in-process
// server and of the load; the library's Validate methods check them (see
// fieldFlags). serverOnly are the flags of cmd that configure the
// in-process server, so that --addr rules them out; servers names it as
// register does. Errors are usage errors of cmd.
func (f loadFlags) config(cmd *cobra.Command, servers string, serverOnly []string) (load.ServerConfig, load.Config, error) {
	if f.addr != "" {
		for _, addr := range f.addrs() {
			if err := checkAddr("--addr", addr, "127.0.0.1:9407", dialling); err != nil {
				return load.ServerConfig{}, load.Config{}, err
			}
		}
		for _, name := range serverOnly {
			if cmd.Flags().Changed(name) {
				return load.ServerConfig{}, load.Config{}, usagef(cmd, "--%s configures the %s; it cannot be used with --addr", name, servers)
			}
		}
	}
	// Left out, --mix is the library's default: DefaultMix, or the two
	// queries with --read-only.
	var mix load.Mix
	if cmd.Flags().Changed("mix") {
		var err error
		if mix, err = load.ParseMix(f.mix); err != nil {
			return load.ServerConfig{}, load.Config{}, usagef(cmd, "--mix: %v", err)
		}
	}
	srv := load.ServerConfig{
		Queue:     f.queue,
		WorkDelay: f.workDelay,
		WorkCPU:   f.workCPU,
		Store:     booking.StoreKind(f.store),
	}
	cfg := load.Config{
		Addr:           f.addrs()[0],
		Clients:        f.clients,
		ConnPerRequest: f.connPerRequest,
		Rate:           f.rate,
		Timeout:        f.timeout,
		Mix:            mix,
		ReadOnly:       f.readOnly,
		Seed:           f.seed,
	}
	if f.addr != "" {
		cfg.JournalDir = journalDir()
	}
	switch metrics := f.metricsURLs(); {
	case f.metrics == "":
	case f.addr == "":
		return srv, cfg, usagef(cmd, "--metrics reads a running server's metrics and needs --addr; the in-process server reports its own")
	case len(metrics) != len(f.addrs()):
		return srv, cfg, usagef(cmd, "--metrics names %d URLs for the %d servers of --addr: give one per server, in the same order", len(metrics), len(f.addrs()))
	default:
		cfg.MetricsURL = metrics[0]
	}
	return srv, cfg, nil
}

// metricsURLs returns the URLs --metrics names, one per --addr.
func (f loadFlags) metricsURLs() []string {
	parts := strings.Split(f.metrics, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// addrs returns the servers --addr names: one, or several separated by
// commas (bench measures them together); [""] when it is not set.
func (f loadFlags) addrs() []string {
	parts := strings.Split(f.addr, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// fieldFlag maps a field of the library's configurations, by the path
// its load.FieldErrors give, to the flag that sets it.
type fieldFlag struct {
	field, flag string
	// rule, if not empty, says what the flag must be where the field's own
	// rule speaks of what the flag does not mean: the field's zero is its
	// default, and the flag's is refused (refuseZero) or means none.
	rule       string
	refuseZero bool
}

// fieldFlags is the one table of the fields that bench and tune set from
// their flags. The library checks every range (its Validate methods);
// the command checks only what the library cannot see: a zero given to a
// flag whose field reads zero as its default.
var fieldFlags = []fieldFlag{
	{field: "Load.Addr", flag: "--addr"},
	{field: "Load.MetricsURL", flag: "--metrics"},
	{field: "Load.Clients", flag: "--clients", rule: "must be at least 1", refuseZero: true},
	{field: "Load.Rate", flag: "--rate", rule: "must be 0 (closed loop) or more"},
	{field: "Load.Timeout", flag: "--timeout", rule: "must be positive", refuseZero: true},
	{field: "Timeout", flag: "--timeout", rule: "must be positive", refuseZero: true}, // bench --cleanup
	{field: "Load.Mix", flag: "--mix"},
	{field: "Load.ReadOnly", flag: "--read-only"},
	{field: "Server.WorkDelay", flag: "--work-delay", rule: "must not be negative"},
	{field: "Server.WorkCPU", flag: "--work-cpu", rule: "must not be negative"},
	{field: "Server.Store", flag: "--store"},
	{field: "Server.Queue", flag: "--queue"},
	{field: "Models", flag: "--models"},
	{field: "Window.Duration", flag: "--duration", rule: "must be positive", refuseZero: true},
	{field: "Window.Warmup", flag: "--warmup", rule: "must not be negative"},
	{field: "Window.MaxRequests", flag: "--max-requests"},
	{field: "Repeat", flag: "--repeat", rule: "must be at least 1", refuseZero: true},
	{field: "Settle", flag: "--settle", rule: "must be 0 (none) or more"},
	{field: "StepDuration", flag: "--step", rule: "must be positive", refuseZero: true},
	{field: "MinWorkers", flag: "--min-workers", rule: "must be at least 1", refuseZero: true},
	{field: "MaxWorkers", flag: "--max-workers", rule: "must be 0 (= --clients) or more"},
	{field: "MaxSteps", flag: "--max-steps", rule: "must be at least 2 (the probe and the seed)", refuseZero: true},
	{field: "SLOP99", flag: "--slo-p99"},
	{field: "MinGain", flag: "--min-gain", rule: "must be below 1 (0.05 is 5%; negative = never stop)"},
	{field: "Adaptive", flag: "--adaptive-duration", rule: "must be positive", refuseZero: true},
}

// flagOf returns the entry of fieldFlags for the field at path, or one
// that names the field itself.
func flagOf(path string) fieldFlag {
	for _, ff := range fieldFlags {
		if ff.field == path {
			return ff
		}
	}
	return fieldFlag{field: path, flag: path}
}

// checkConfig returns nil if err, from a Validate method of the library,
// is nil and no flag of cmd that fieldFlags says refuses zero is zero;
// otherwise the usage error of cmd that says, for each, what is wrong in
// terms of its flag, such as "--clients is 0, must be at least 1".
func checkConfig(cmd *cobra.Command, err error) error {
	var problems []string
	seen := map[string]bool{}
	for _, ff := range fieldFlags {
		fl := cmd.Flags().Lookup(strings.TrimPrefix(ff.flag, "--"))
		if ff.refuseZero && fl != nil && !seen[ff.flag] && isZero(fl.Value.String()) {
			seen[ff.flag] = true
			problems = append(problems, fmt.Sprintf("%s is %s, %s", ff.flag, fl.Value, ff.rule))
		}
	}
	for _, e := range flatten(err) {
		var fe *load.FieldError
		switch {
		case !errors.As(e, &fe):
			problems = append(problems, e.Error())
		case fe.Detail == "" && flagOf(fe.Field).rule != "":
			ff := flagOf(fe.Field)
			problems = append(problems, fmt.Sprintf("%s is %v, %s", ff.flag, fe.Value, ff.rule))
		default:
			problems = append(problems, fe.Text(func(path string) string { return flagOf(path).flag }))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return usagef(cmd, "%s", strings.Join(problems, "; "))
}

// flatten lists the errors joined in err (none for nil).
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var all []error
		for _, e := range j.Unwrap() {
			all = append(all, flatten(e)...)
		}
		return all
	}
	return []error{err}
}

// isZero reports whether a flag's value, as pflag prints it, is zero: "0",
// "0s".
func isZero(v string) bool {
	if d, err := time.ParseDuration(v); err == nil {
		return d == 0
	}
	f, err := strconv.ParseFloat(v, 64)
	return err == nil && f == 0
}

// journalDir is where bench and tune keep the journal of the bookings a
// run against --addr may hold, for "poolside bench --cleanup" after a run
// that was killed: os.UserCacheDir()/poolside (~/.cache/poolside on
// Linux), or poolside-UID in the temporary directory if there is no cache
// directory. Tests replace it.
var journalDir = func() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "poolside")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("poolside-%d", os.Getuid()))
}

// cleanups collects what the clean-ups of a bench or tune against --addr
// did (load.Config.OnCleanup), one per run. Its methods are safe
// for concurrent use.
type cleanups struct {
	mu  sync.Mutex
	all []load.Cleanup
}

func (c *cleanups) add(x load.Cleanup) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, x)
}

// total sums the clean-ups: what the runs booked and what was unbooked,
// not booked and left, and the journals that list what was left.
func (c *cleanups) total() (sum load.Cleanup, journals []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var addrs []string
	defer func() { sum.Addr = strings.Join(addrs, ", ") }()
	for _, x := range c.all {
		if !slices.Contains(addrs, x.Addr) {
			addrs = append(addrs, x.Addr)
		}
		sum.Booked += x.Booked
		sum.Unbooked += x.Unbooked
		sum.NotBooked += x.NotBooked
		sum.Left = append(sum.Left, x.Left...)
		if x.Journal != "" {
			journals = append(journals, x.Journal)
		}
	}
	return sum, journals
}

// write says on w what the clean-ups did, if the runs booked anything:
// that nothing they booked is left, or which bookings are.
func (c *cleanups) write(w io.Writer) {
	sum, journals := c.total()
	if sum.Booked == 0 && sum.Unbooked == 0 && sum.NotBooked == 0 && len(sum.Left) == 0 {
		return
	}
	unsure := ""
	if sum.NotBooked > 0 {
		unsure = fmt.Sprintf("; %d more it could not be sure of (their reply never came) %s not booked", sum.NotBooked, textfmt.PluralWord(sum.NotBooked, "was", "were"))
	}
	made := fmt.Sprintf("the run made %d %s on %s and unbooked the %d it still held before exiting%s",
		sum.Booked, textfmt.PluralWord(int(sum.Booked), "booking", "bookings"), sum.Addr, sum.Unbooked, unsure)
	if len(sum.Left) == 0 {
		fmt.Fprintf(w, "\nclean-up: %s; nothing it booked is left\n", made)
		return
	}
	fmt.Fprintf(w, "\nclean-up: %s, but could not unbook %d, which may still be there:\n", made, len(sum.Left))
	for _, b := range sum.Left {
		fmt.Fprintf(w, "  %s\n", b)
	}
	if len(journals) > 0 {
		fmt.Fprintf(w, "they are listed in %s; once the server answers, run 'poolside bench --cleanup' to unbook them\n", strings.Join(journals, " and "))
	} else {
		fmt.Fprintf(w, "once the server answers, unbook them with 'poolside unbook --addr %s ROOM DATE'\n", sum.Addr)
	}
}

// err returns the error, exit status 4, of runs whose clean-up left
// bookings behind (listed by write), or nil.
func (c *cleanups) err() error {
	sum, _ := c.total()
	if len(sum.Left) == 0 {
		return nil
	}
	return &exitError{code: exitInternal, err: fmt.Errorf("the run left %d of its bookings on %s (listed above); run 'poolside bench --cleanup' once the server answers to unbook them", len(sum.Left), sum.Addr)}
}

// splitCleanup separates, in err from compare.Run or a tune search, the
// failure of the clean-up (joined at the top, wrapping
// load.ErrCleanup), which the cleanups collector reports, from the
// rest: run is err without it, nil if it was the only failure.
func splitCleanup(err error) (run error, cleanup bool) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var keep []error
		for _, e := range j.Unwrap() {
			if errors.Is(e, load.ErrCleanup) {
				cleanup = true
				continue
			}
			keep = append(keep, e)
		}
		if !cleanup {
			return err, false
		}
		return errors.Join(keep...), true
	}
	if errors.Is(err, load.ErrCleanup) {
		return nil, true
	}
	return err, false
}

// connectFailure is the error, exit status 3, of a bench or tune whose
// clients could not connect to addr, their --addr: err wraps
// client.ErrConnect. The message says why and what to check, without the
// layers of the library's error. timeout is the --timeout.
func connectFailure(addr string, timeout time.Duration, err error) error {
	if addr == "" { // an in-process server: nothing for the user to check
		return &exitError{code: exitNetwork, err: err}
	}
	msg := fmt.Sprintf("could not connect to %s: %s — is the server running?", addr, netReason(err))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		msg = fmt.Sprintf("could not connect to %s within %v (--timeout) — is the server running, and is the address right?", addr, timeout)
	}
	return &exitError{code: exitNetwork, err: &messageError{msg: msg, err: err}}
}

// tooManyFiles is the error, exit status 4, of a bench or tune that hit
// this process's limit of open files (EMFILE) or the system's (ENFILE)
// while connecting its clients: err wraps the syscall error. inProcess
// reports that the server runs in this process, holding its end of each
// connection too.
func tooManyFiles(clients int, inProcess bool, err error) error {
	need := fmt.Sprintf("--clients %d needs a file for each client's connection", clients)
	if inProcess {
		need = fmt.Sprintf("--clients %d needs two files for each client's connection (its end and the in-process server's)", clients)
	}
	limit := "this process may have only so many files and sockets open at once"
	if errors.Is(err, syscall.ENFILE) {
		limit = "the system has run out of open files"
	}
	msg := fmt.Sprintf("could not connect the clients: too many open files — %s, and %s; lower --clients, or raise the limit (ulimit -n) and run again", limit, need)
	return &exitError{code: exitInternal, err: &messageError{msg: msg, err: err}}
}

// isTooManyFiles reports whether err is a failure to open a file or a
// socket because too many are open.
func isTooManyFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// noReply is the error of a bench or tune in which no request completed
// in a measured window (err wraps load.ErrNoRequests): measured is
// that window, given by flag. Against --addr (exit status 3) the likely
// cause is a server that does not speak the protocol; in process (exit
// status 4), requests slower than the window.
func noReply(addr string, measured time.Duration, flag string, timeout time.Duration, err error) error {
	if addr == "" {
		msg := fmt.Sprintf("no request completed in the %v measured (%s): every request took longer than that; measure for longer (%s), or give the server less work per request", measured, flag, flag)
		return &exitError{code: exitInternal, err: &messageError{msg: msg, err: err}}
	}
	msg := fmt.Sprintf("no reply from %s in the %v measured (%s): the clients connected and sent their requests, and none was answered — is %s a Building Services server (poolside serve)? A server that speaks another protocol, or none, accepts connections and never answers. If it is only slow, measure for longer (%s); each request may take up to --timeout (%v)",
		addr, measured, flag, addr, flag, timeout)
	return &exitError{code: exitNetwork, err: &messageError{msg: msg, err: err}}
}

// failure turns err, from a bench or tune run with these flags, into the
// command's error and exit status. stopped says where the run stopped and
// what was kept, added to the message when reported (a partial report
// has been printed); measured and flag are the length of the measured
// windows and the flag that sets it.
func (f loadFlags) failure(ctx context.Context, err error, stopped string, reported bool, measured time.Duration, flag string) error {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return &exitError{code: exitInternal, err: &messageError{msg: "interrupted " + stopped, err: ctx.Err()}}
	case isTooManyFiles(err):
		err = tooManyFiles(f.clients, f.addr == "", err)
	case errors.Is(err, client.ErrConnect):
		err = connectFailure(f.addr, f.timeout, err)
	case errors.Is(err, load.ErrNoRequests):
		err = noReply(f.addr, measured, flag, f.timeout, err)
	case errors.Is(err, load.ErrJournal):
		why := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			why = pe.Op + " " + pe.Path + ": " + pe.Err.Error()
		}
		msg := fmt.Sprintf("could not keep the journal of the run's bookings in %s (%s): against --addr the run lists there what it books, so that 'poolside bench --cleanup' can unbook it if the run is killed; make that directory writable, or set XDG_CACHE_HOME to one that is", journalDir(), why)
		err = &exitError{code: exitInternal, err: &messageError{msg: msg, err: err}}
	case errors.Is(err, load.ErrMetrics):
		msg := err.Error()
		if _, after, ok := strings.Cut(msg, load.ErrMetrics.Error()+": "); ok {
			msg = after // what was wrong, without the layers above it
		}
		err = &exitError{code: exitNetwork, err: &messageError{msg: "could not read the server's metrics (--metrics): " + msg + "; give the http://HOST:PORT/metrics of the server's --metrics-addr, or drop --metrics", err: err}}
	case errors.As(err, &ne):
		err = &exitError{code: exitNetwork, err: err}
	}
	if reported {
		err = fmt.Errorf("%w (stopped %s)", err, stopped)
	}
	return err
}
