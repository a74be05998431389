package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

func init() { subcommands = append(subcommands, newServeCmd) }

// serveFlags are the flags of "poolside serve".
type serveFlags struct {
	addr         string
	model        server.Model
	workers      int
	queue        int
	store        string
	data         string
	readTimeout  time.Duration
	idleTimeout  time.Duration
	writeTimeout time.Duration
	maxConns     int
	drainTimeout time.Duration
	workDelay    time.Duration
	workCPU      int
	metricsAddr  string
	logLevel     string
	logFormat    string
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
SIGINT or SIGTERM drains: no new connections, requests in flight finish and
get their replies, then the store is closed.

--work-delay and --work-cpu are benchmark aids: they make every request wait
or compute on its worker, so that concurrency models can be compared with a
realistic service time.

The first line on standard output is "poolside: serving on ADDR", the
address actually bound (useful with --addr 127.0.0.1:0).`,
		Example: `  poolside serve
  poolside serve --model serial --store memory
  poolside serve --workers 64 --work-delay 10ms --metrics-addr 127.0.0.1:9408`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:9407", "TCP address to listen on (port 0 picks a free one)")
	fl.Var(&f.model, "model", "concurrency model: pool, serial, conn or unbounded")
	fl.IntVar(&f.workers, "workers", 0, "pool workers for the pool and conn models (0 = 4 × GOMAXPROCS)")
	fl.IntVar(&f.queue, "queue", server.DefaultQueue, "requests (pool, serial) or connections (conn) that may wait for a worker before clients are told the server is busy")
	fl.StringVar(&f.store, "store", "bolt", "where bookings are kept: bolt (a durable file, see --data) or memory")
	fl.StringVar(&f.data, "data", "poolside.db", "the bolt database file")
	fl.DurationVar(&f.readTimeout, "read-timeout", 10*time.Second, "time a request may take to arrive once it has started; then the client is told \"Cannot read client data\" and disconnected (0 = no limit)")
	fl.DurationVar(&f.idleTimeout, "idle-timeout", 60*time.Second, "close connections on which no request starts for this long (0 = never)")
	fl.DurationVar(&f.writeTimeout, "write-timeout", 10*time.Second, "time allowed for writing one reply (0 = no limit)")
	fl.IntVar(&f.maxConns, "max-conns", 0, "most open connections; more are told the server is busy and closed (0 = no limit)")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 10*time.Second, "on SIGINT/SIGTERM, how long requests in flight may take to finish before connections are cut")
	fl.DurationVar(&f.workDelay, "work-delay", 0, "benchmark aid: every request waits this long on its worker, like a call to a slow backend")
	fl.IntVar(&f.workCPU, "work-cpu", 0, "benchmark aid: every request computes this many SHA-256 blocks (about 1 µs each) on its worker")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics and /debug/pprof/ on this address, e.g. 127.0.0.1:9408 (empty = off)")
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

// openStore opens the booking store the flags name.
func openStore(kind, path string) (booking.Store, error) {
	switch kind {
	case "memory":
		return booking.NewMemoryStore(), nil
	case "bolt":
		st, err := booking.OpenBolt(path, booking.BoltOptions{})
		if err != nil {
			return nil, fmt.Errorf("cannot open the booking database: %w", err)
		}
		return st, nil
	}
	return nil, usageError(fmt.Errorf("--store %q: choose bolt or memory", kind))
}

func runServe(ctx context.Context, f serveFlags, stdout, stderr io.Writer) error {
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	cfg := server.Config{
		Model:              f.model,
		Workers:            f.workers,
		Queue:              f.queue,
		MaxConns:           f.maxConns,
		ReadTimeout:        f.readTimeout,
		IdleTimeout:        f.idleTimeout,
		WriteTimeout:       f.writeTimeout,
		WorkDelay:          f.workDelay,
		WorkCPU:            f.workCPU,
		BusyReply:          wire.ErrorBlock(wire.MsgBusy),
		ReadTimeoutReply:   wire.ErrorBlock(wire.MsgReadData),
		InternalErrorReply: wire.ErrorBlock(wire.MsgInternal),
		Logger:             log,
		Handler:            server.HandlerFunc(func(context.Context, []byte) []byte { return nil }),
	}
	if f.queue < 1 {
		return usageError(fmt.Errorf("--queue must be at least 1, got %d", f.queue))
	}
	if err := cfg.Validate(); err != nil {
		return usageError(fmt.Errorf("bad flag value: %w", err))
	}

	store, err := openStore(f.store, f.data)
	if err != nil {
		return err
	}
	svc, err := booking.New(store, booking.Config{})
	if err != nil {
		store.Close()
		return err
	}
	defer func() {
		if err := svc.Close(); err != nil {
			log.WithError(err).Error("closing the booking store failed")
		}
	}()
	cfg.Handler = svc

	var metrics *serverMetrics
	if f.metricsAddr != "" {
		metrics = newServerMetrics()
		cfg.Observer = metrics
	}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w (is another server already running there? choose another --addr)", f.addr, err)
	}
	fmt.Fprintf(stdout, "poolside: serving on %s\n", ln.Addr())
	fields := logrus.Fields{"addr": ln.Addr().String(), "model": f.model.String(), "store": f.store}
	if f.store == "bolt" {
		fields["data"] = f.data
	}
	if f.model == server.ModelPool || f.model == server.ModelConn {
		fields["workers"] = srv.Stats().Pool.Workers
	}
	log.WithFields(fields).Info("serving the Building Services protocol")

	var stopMetrics func()
	if metrics != nil {
		stopMetrics, err = serveMetrics(f.metricsAddr, metrics, srv, log)
		if err != nil {
			srv.Close()
			return err
		}
		defer stopMetrics()
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		srv.Close()
		return fmt.Errorf("the server stopped: %w", err)
	case <-ctx.Done():
	}

	log.Infof("draining: no new connections; requests in flight have %v to finish", f.drainTimeout)
	dctx, cancel := context.WithTimeout(context.Background(), f.drainTimeout)
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

// serveMetrics serves /metrics and /debug/pprof/ on addr until the
// returned function is called.
func serveMetrics(addr string, m *serverMetrics, srv *server.Server, log logrus.FieldLogger) (func(), error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.register(reg, srv)

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on --metrics-addr %s: %w", addr, err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("metrics server stopped")
		}
	}()
	log.WithField("addr", ln.Addr().String()).Info("serving /metrics and /debug/pprof/")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
	}, nil
}

// otherAction labels requests for requests whose action is not recognised.
const otherAction = "other"

// actionPrefixes are the encoded action strings a request block starts
// with, so that labelling a request allocates nothing.
var actionPrefixes = func() map[string][]byte {
	m := map[string][]byte{}
	for _, a := range []string{wire.ActionBook, wire.ActionUnbook, wire.ActionBookingsOnDate, wire.ActionBookingsForRoom} {
		m[a] = wire.AppendString(nil, a)
	}
	return m
}()

var errorPrefix = wire.AppendString(nil, wire.ActionError)

// requestAction returns the action label of a request block.
func requestAction(block []byte) string {
	for a, p := range actionPrefixes {
		if len(block) >= len(p) && string(block[:len(p)]) == string(p) {
			return a
		}
	}
	return otherAction
}

// replyOutcome returns "ok", "refused" (an ERROR reply) or "busy".
func replyOutcome(reply []byte, busy bool) string {
	switch {
	case busy:
		return "busy"
	case len(reply) >= len(errorPrefix) && string(reply[:len(errorPrefix)]) == string(errorPrefix):
		return "refused"
	}
	return "ok"
}

// serverMetrics is the server.Observer that feeds Prometheus.
type serverMetrics struct {
	latency   *prometheus.HistogramVec
	queueWait prometheus.Histogram
	service   prometheus.Histogram
	closed    *prometheus.CounterVec
}

func newServerMetrics() *serverMetrics {
	buckets := prometheus.ExponentialBuckets(25e-6, 2, 18) // 25 µs to about 3 s
	return &serverMetrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "poolside_request_duration_seconds", Help: "Time from a complete request to its reply, queue wait included, by action and outcome.", Buckets: buckets,
		}, []string{"action", "outcome"}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "poolside_request_queue_wait_seconds", Help: "Time requests waited in the pool queue for a worker.", Buckets: buckets,
		}),
		service: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "poolside_request_service_seconds", Help: "Time requests spent on a worker (handler, work delay and work CPU).", Buckets: buckets,
		}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poolside_connections_closed_total", Help: "Connections closed, by reason.",
		}, []string{"reason"}),
	}
}

// RequestDone implements server.Observer.
func (m *serverMetrics) RequestDone(req, reply []byte, queueWait, service time.Duration, busy bool) {
	m.latency.WithLabelValues(requestAction(req), replyOutcome(reply, busy)).Observe((queueWait + service).Seconds())
	if !busy {
		m.queueWait.Observe(queueWait.Seconds())
		m.service.Observe(service.Seconds())
	}
}

// ConnClosed implements server.Observer.
func (m *serverMetrics) ConnClosed(reason server.CloseReason) {
	m.closed.WithLabelValues(reason.String()).Inc()
}

// register adds m and the server's counters to reg.
func (m *serverMetrics) register(reg *prometheus.Registry, srv *server.Server) {
	for _, r := range server.CloseReasons() {
		m.closed.WithLabelValues(r.String()) // export zeros, so rates work from the start
	}
	reg.MustRegister(m.latency, m.queueWait, m.service, m.closed)
	gauge := func(name, help string, f func(server.Stats) float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(srv.Stats()) }))
	}
	counter := func(name, help string, f func(server.Stats) float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(srv.Stats()) }))
	}
	gauge("poolside_pool_workers", "Worker limit of the pool (0 = no pool or no limit).", func(s server.Stats) float64 { return float64(s.Pool.Workers) })
	gauge("poolside_pool_running", "Requests running on pool workers now.", func(s server.Stats) float64 { return float64(s.Pool.Running) })
	gauge("poolside_pool_waiting", "Requests waiting in the pool queue now.", func(s server.Stats) float64 { return float64(s.Pool.Waiting) })
	counter("poolside_pool_submitted_total", "Tasks accepted by the pool.", func(s server.Stats) float64 { return float64(s.Pool.Submitted) })
	counter("poolside_pool_completed_total", "Tasks the pool finished.", func(s server.Stats) float64 { return float64(s.Pool.Completed) })
	counter("poolside_pool_rejected_total", "Tasks refused because the pool and its queue were full.", func(s server.Stats) float64 { return float64(s.Pool.Rejected) })
	counter("poolside_pool_panicked_total", "Pool tasks that panicked.", func(s server.Stats) float64 { return float64(s.Pool.Panicked) })
	gauge("poolside_connections_open", "Connections open now.", func(s server.Stats) float64 { return float64(s.Open) })
	counter("poolside_connections_accepted_total", "Connections accepted, refused ones included.", func(s server.Stats) float64 { return float64(s.Accepted) })
	counter("poolside_requests_total", "Requests handled.", func(s server.Stats) float64 { return float64(s.Requests) })
	counter("poolside_busy_total", "Requests and connections refused with the busy reply.", func(s server.Stats) float64 { return float64(s.Busy) })
	counter("poolside_handler_panics_total", "Handler panics recovered.", func(s server.Stats) float64 { return float64(s.Panics) })
}
