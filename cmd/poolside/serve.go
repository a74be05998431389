package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/server"
)

func init() { subcommands = append(subcommands, newServeCmd) }

// serveFlags are the flags of "poolside serve".
type serveFlags struct {
	addr         string
	model        server.Model
	workers      workersFlag
	minWorkers   int
	maxWorkers   int
	queue        int
	store        string
	data         string
	dbURL        string
	dbConns      int
	dbTimeout    time.Duration
	horizon      int
	readTimeout  time.Duration
	idleTimeout  time.Duration
	writeTimeout time.Duration
	maxConns     int
	drainTimeout time.Duration
	workDelay    time.Duration
	workCPU      int
	metricsAddr  string
	adminAddr    string
	adminRemote  bool
	logLevel     string
	logFormat    string
	changed      func(name string) bool // whether the flag was given
}

func newServeCmd(stdout, stderr io.Writer) *cobra.Command {
	f := serveFlags{model: server.ModelPool}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the Building Services booking protocol",
		Long: `Serve the Building Services room-booking protocol: length-prefixed QDataStream
blocks on TCP, as the PyQt book's server speaks it, so the book's own client
works against it unchanged.

Concurrency models (--model):
  pool       connection goroutines read requests; each request runs on one of
             --workers workers behind a queue of --queue; when both are full the
             client gets "Server busy, try again later" at once (default)
  serial     one request at a time across all connections (the book's chapter
             18 event loop); a slow client still cannot block the others
  conn       each connection holds a worker for its whole life (the book's
             thread per connection, bounded by --workers): a slow or idle client
             holds its worker until --read-timeout or --idle-timeout ends it
  unbounded  a goroutine per connection and no pool (the reference line)

Bookings go to a bbolt file (--data) and are fsynced before the client is
told they succeeded; --store memory keeps them only while the server runs.
A BOOK may be for today up to --horizon days ahead (730, two years), and
never past 9999-12-31, the last date the book's PyQt client and Python can
hold; a later date is refused with a message naming the last date allowed.
Queries and UNBOOK of any date stay allowed.
If the disk fills up, bookings that need more room are refused with a storage
error (logged at most every 10s) and succeed again once space is freed.
The file is checked when serve starts; a damaged one is refused (exit status
5) with what to do: see 'poolside db --help'.

--store postgres keeps bookings in a PostgreSQL database (--db-url, or the
POOLSIDE_DB_URL environment variable), which several poolside serve instances
may share behind a TCP load balancer: the database itself keeps the rules
(no room twice on a date, at most 5 bookings a date) across all of them. The
tables are created on first start. A booking is acknowledged once committed.
Each request's statement has --db-timeout; a client whose request could not
reach the database is told "not saved ... try again later", and one whose
connection to the database broke while its booking was being committed is
told the booking is "in doubt" (a BOOKINGSONDATE settles it). While the
database is down every request is answered at once with that error, and the
server books again by itself, without a restart, once it is back. Each
instance holds up to --db-conns connections: N instances need N × --db-conns
under the database's max_connections.
SIGINT (Ctrl-C), SIGTERM or SIGHUP drains: no new connections, requests in
flight finish and get their replies, then the store is closed; --drain-timeout
bounds the wait. A second signal stops the server at once, cutting the
requests still in flight. (SIGHUP is not a log reopen: logs go to standard
error, and a server started under nohup ignores SIGHUP.) If whatever reads
standard error goes away, the server keeps serving and drops its log lines.

Pool size (--workers, pool and conn models):
  N     a fixed pool of N workers (0 = 16 × GOMAXPROCS); change it while the
        server runs with PUT /pool on the admin API
  auto  adaptive sizing: every 100ms the server compares the time requests
        spent on a worker with its long-term average (a Gradient2 limit). It
        grows the pool while demand fills it and that time holds, and
        shrinks it when the time rises past 1.5 × the average; always within
        --min-workers and --max-workers, starting from 16 × GOMAXPROCS. With
        --log-level debug each change is logged.

Admin API (--admin-addr, off by default), JSON over HTTP:
  GET /pool                 pool size and counters; with --workers auto also
                            the bounds and the latest sizing points
                            (GET /pool?points=N for the latest N)
  PUT /pool {"workers": N}  resize the pool at once, connections untouched;
                            refused (409) with --workers auto, which owns the
                            size, and with the serial and unbounded models
It has no authentication, so --admin-addr must be a loopback address
(127.0.0.1, ::1 or localhost) and requests must name a loopback host (which
stops a web page from reaching it by DNS rebinding). --admin-allow-remote lifts
both rules: only use it on a network you trust.

--work-delay and --work-cpu are benchmark aids: they make every request wait
or compute on its worker, so that concurrency models can be compared with a
realistic service time.

The first line on standard output is "poolside: serving on ADDR", the
address actually bound (useful with --addr 127.0.0.1:0). It is printed once
every address is bound and the store is open, so the server is ready when it
appears; if one of them fails, serve exits without printing it. Then, with
--metrics-addr, "poolside: metrics on http://ADDR/metrics, ..." and, with
--admin-addr, "poolside: admin API on ADDR".`,
		Example: `  poolside serve
  poolside serve --model serial --store memory
  poolside serve --workers 64 --work-delay 10ms --metrics-addr 127.0.0.1:9408
  poolside serve --workers auto --max-workers 512 --admin-addr 127.0.0.1:9409
  curl -X PUT -H 'Content-Type: application/json' -d '{"workers": 32}' http://127.0.0.1:9409/pool`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.changed = cmd.Flags().Changed
			return runServe(cmd.Context(), f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:9407", "TCP address to listen on (port 0 picks a free one)")
	fl.Var(&f.model, "model", "concurrency model: pool, serial, conn or unbounded")
	fl.Var(&f.workers, "workers", "pool workers for the pool and conn models: a number (0 = 16 × GOMAXPROCS), or auto to size the pool from measured latency")
	fl.IntVar(&f.minWorkers, "min-workers", 0, "with --workers auto, the fewest workers (0 = GOMAXPROCS, or --max-workers if that is lower)")
	fl.IntVar(&f.maxWorkers, "max-workers", 0, "with --workers auto, the most workers (0 = 64 × GOMAXPROCS, at least 256)")
	fl.IntVar(&f.queue, "queue", server.DefaultQueue, "requests (pool, serial) or connections (conn) that may wait for a worker before clients are told the server is busy (at least 1)")
	fl.StringVar(&f.store, "store", "bolt", "where bookings are kept: bolt (a durable file, see --data), memory, or postgres (a database several servers may share, see --db-url)")
	fl.StringVar(&f.data, "data", "poolside.db", "the bolt database file")
	fl.StringVar(&f.dbURL, "db-url", "", "with --store postgres, the database: postgres://USER[:PASSWORD]@HOST:PORT/DBNAME (default $"+dbURLEnv+")")
	fl.IntVar(&f.dbConns, "db-conns", 0, "with --store postgres, the most database connections this server holds (0 = one per worker, at most a quarter of the database's max_connections)")
	fl.DurationVar(&f.dbTimeout, "db-timeout", booking.DefaultPostgresTimeout, "with --store postgres, how long one request may wait for the database (connection and statement) before its client is told it was not saved or is in doubt")
	fl.IntVar(&f.horizon, "horizon", booking.DefaultHorizon, "how many days ahead a booking may be made (at least 1; never past 9999-12-31 whatever this says)")
	fl.DurationVar(&f.readTimeout, "read-timeout", 10*time.Second, "time a request may take to arrive once it has started; then the client is told \"Cannot read client data\" and disconnected (0 = no limit)")
	fl.DurationVar(&f.idleTimeout, "idle-timeout", 60*time.Second, "close connections on which no request starts for this long (0 = never)")
	fl.DurationVar(&f.writeTimeout, "write-timeout", 10*time.Second, "time allowed for writing one reply (0 = no limit)")
	fl.IntVar(&f.maxConns, "max-conns", 0, "most open connections; more are told the server is busy and closed (0 = as many as the open-file limit, ulimit -n, leaves room for)")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 10*time.Second, "on SIGINT, SIGTERM or SIGHUP, how long requests in flight may take to finish before connections are cut (0 = no limit; a second signal stops at once)")
	fl.DurationVar(&f.workDelay, "work-delay", 0, "benchmark aid: every request waits this long on its worker, like a call to a slow backend")
	fl.IntVar(&f.workCPU, "work-cpu", 0, "benchmark aid: every request computes this many SHA-256 blocks (about 0.13 µs each on a current x86 core) on its worker")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this address, e.g. 127.0.0.1:9408, and /debug/pprof/ too if it is loopback (empty = off)")
	fl.StringVar(&f.adminAddr, "admin-addr", "", "serve the admin API (GET and PUT /pool) on this loopback address, e.g. 127.0.0.1:9409 (empty = off)")
	fl.BoolVar(&f.adminRemote, "admin-allow-remote", false, "let --admin-addr be a non-loopback address and accept any Host header: anyone who can reach it can resize the pool")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	return cmd
}

// newLogger builds the process's logger from the flags.
func newLogger(w io.Writer, level, format string) (*logrus.Logger, error) {
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, usageError(fmt.Errorf("--log-level %q: choose debug, info, warn or error", level))
	}
	l := logrus.New()
	l.Out = w
	l.Level = lvl
	switch format {
	case "text":
		l.Formatter = &logrus.TextFormatter{FullTimestamp: true}
	case "json":
		l.Formatter = &logrus.JSONFormatter{}
	default:
		return nil, usageError(fmt.Errorf("--log-format %q: choose text or json", format))
	}
	return l, nil
}

// runServe is "poolside serve": check every flag, bind every address,
// open the store, serve until ctx is done, then drain.
func runServe(ctx context.Context, f serveFlags, stdout, stderr io.Writer) error {
	surviveClosedOutput()
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	cfg, work, err := serverConfig(f, log)
	if err != nil {
		return err
	}

	// Bind every address, then open the store, before saying the server
	// is ready. A failure closes what was opened before it (the deferred
	// Close of a listener the servers have already closed does nothing).
	lns, err := bindAll(f)
	if err != nil {
		return err
	}
	defer lns.close()
	svc, store, err := openService(ctx, f, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := svc.Close(); err != nil {
			log.WithError(err).Error("closing the booking store failed")
		}
	}()

	cfg.Handler = server.WithWork(svc, work)
	var metrics *serverMetrics
	if lns.metrics != nil {
		metrics = newServerMetrics(svc, store)
		cfg.Observer = metrics
	}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	announce(stdout, log, f, srv, store, lns.proto.Addr())
	defer serveAPIs(stdout, log, f, lns, metrics, srv)()
	return serveUntilDone(ctx, srv, lns.proto, f.drainTimeout, log)
}

// listeners are serve's bound addresses; metrics and admin are nil when
// their flags are not set.
type listeners struct {
	proto, metrics, admin net.Listener
}

// bindAll binds --addr, --metrics-addr and --admin-addr, which the checks
// have accepted. On a failure it closes what it bound.
func bindAll(f serveFlags) (lns listeners, err error) {
	defer func() {
		if err != nil {
			lns.close()
		}
	}()
	if lns.proto, err = listen("--addr", f.addr); err != nil {
		return lns, err
	}
	if f.metricsAddr != "" {
		if lns.metrics, err = listen("--metrics-addr", f.metricsAddr); err != nil {
			return lns, err
		}
	}
	if f.adminAddr != "" {
		if lns.admin, err = listenAdmin(f.adminAddr, f.adminRemote); err != nil {
			return lns, err
		}
	}
	return lns, nil
}

func (l listeners) close() {
	for _, ln := range []net.Listener{l.proto, l.metrics, l.admin} {
		if ln != nil {
			ln.Close()
		}
	}
}

// announce prints the ready line, "poolside: serving on ADDR", and logs
// what is served.
func announce(stdout io.Writer, log logrus.FieldLogger, f serveFlags, srv *server.Server, store booking.Store, addr net.Addr) {
	fmt.Fprintf(stdout, "poolside: serving on %s\n", addr)
	fields := logrus.Fields{"addr": addr.String(), "model": f.model.String(), "store": f.store}
	switch st := store.(type) {
	case *booking.BoltStore:
		fields["data"] = f.data
	case *booking.PostgresStore:
		fields["db"] = st.Target()
		fields["db_conns"] = st.MaxConns()
	}
	if f.model == server.ModelPool || f.model == server.ModelConn {
		fields["workers"] = srv.Stats().Pool.Workers
	}
	if lo, hi, ok := srv.AdaptiveBounds(); ok {
		fields["adaptive"] = fmt.Sprintf("%d to %d workers", lo, hi)
	}
	log.WithFields(fields).Info("serving the Building Services protocol")
}

// serveAPIs serves the metrics and admin APIs on their listeners, if
// bound, and prints their lines; the function it returns stops them.
func serveAPIs(stdout io.Writer, log logrus.FieldLogger, f serveFlags, lns listeners, metrics *serverMetrics, srv *server.Server) (stop func()) {
	var stops []func()
	if lns.metrics != nil {
		stops = append(stops, serveMetrics(lns.metrics, metrics, srv, f.idleTimeout, log))
		addr := lns.metrics.Addr()
		if isLoopbackAddr(addr) {
			fmt.Fprintf(stdout, "poolside: metrics on http://%s/metrics, profiles on http://%s/debug/pprof/\n", addr, addr)
		} else {
			fmt.Fprintf(stdout, "poolside: metrics on http://%s/metrics (profiles only on a loopback --metrics-addr)\n", addr)
		}
	}
	if lns.admin != nil {
		stops = append(stops, serveAdmin(lns.admin, f.adminRemote, srv, f.idleTimeout, log))
		fmt.Fprintf(stdout, "poolside: admin API on %s\n", lns.admin.Addr())
	}
	return func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
}

// serveUntilDone serves srv on ln until ctx is done, then drains it for
// at most drainTimeout (0 = no limit) and closes what is left.
func serveUntilDone(ctx context.Context, srv *server.Server, ln net.Listener, drainTimeout time.Duration, log logrus.FieldLogger) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		srv.Close()
		return fmt.Errorf("the server stopped: %w", err)
	case <-ctx.Done():
	}

	if drainTimeout == 0 {
		log.Info("draining: no new connections; requests in flight may take as long as they need (--drain-timeout 0); a second signal (another Ctrl-C, say) stops at once")
	} else {
		log.Infof("draining: no new connections; requests in flight have %v to finish; a second signal (another Ctrl-C, say) stops at once", drainTimeout)
	}
	dctx, cancel := drainContext(drainTimeout)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		log.WithError(err).Warn("drain timed out; closing the remaining connections")
		srv.Close()
	}
	if err := <-served; !errors.Is(err, server.ErrServerClosed) {
		return err
	}
	st := srv.Stats()
	log.WithFields(logrus.Fields{"requests": st.Requests, "connections": st.Accepted, "busy": st.Busy}).Info("stopped")
	return nil
}

// drainContext is the context of a drain that may last d: 0 means no
// limit (a second signal still stops the process, see main).
func drainContext(d time.Duration) (context.Context, context.CancelFunc) {
	if d == 0 {
		return context.WithCancel(context.Background())
	}
	return context.WithTimeout(context.Background(), d)
}

// listen binds addr, the value of flag (which checkAddrs has accepted).
// The error names the flag and, for a port in use, says what to do.
func listen(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	// net.Listen's error repeats the address and names the system call;
	// keep the reason, which wraps the errno.
	cause := err
	var op *net.OpError
	if errors.As(cause, &op) {
		cause = op.Err
	}
	var sc *os.SyscallError
	if errors.As(cause, &sc) {
		cause = sc.Err
	}
	var hint string
	switch {
	case errors.Is(cause, syscall.EADDRINUSE):
		hint = " (is another server already running there? choose another " + flag + ")"
	case errors.Is(cause, syscall.EADDRNOTAVAIL):
		hint = " (this machine has no such address: use 127.0.0.1, 0.0.0.0 or one of its own addresses)"
	case errors.Is(cause, syscall.EACCES):
		hint = " (ports below 1024 need privileges: choose a port from 1024 up)"
	}
	return nil, fmt.Errorf("cannot listen on %s %s: %w%s", flag, addr, cause, hint)
}
