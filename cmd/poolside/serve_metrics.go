package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

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

// requestAction returns the action label of a request block.
func requestAction(block []byte) string {
	for a, p := range actionPrefixes {
		if len(block) >= len(p) && string(block[:len(p)]) == string(p) {
			return a
		}
	}
	return otherAction
}

// replyOutcome returns the outcome label of a request's reply: "busy"
// when the server shed it, else booking.ReplyOutcome's "ok", "empty",
// "refused" or "error" (only the last is the server's failure).
func replyOutcome(req, reply []byte, busy bool) string {
	if busy {
		return "busy"
	}
	return booking.ReplyOutcome(req, reply).String()
}

// serverMetrics is the server.Observer that feeds Prometheus.
type serverMetrics struct {
	latency   *prometheus.HistogramVec
	queueWait prometheus.Histogram
	service   prometheus.Histogram
	closed    *prometheus.CounterVec
	svc       *booking.Service       // for its counters
	db        *booking.PostgresStore // for its pool, or nil
}

func newServerMetrics(svc *booking.Service, store booking.Store) *serverMetrics {
	db, _ := store.(*booking.PostgresStore)
	buckets := prometheus.ExponentialBuckets(25e-6, 2, 18) // 25 µs to about 3 s
	return &serverMetrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "poolside_request_duration_seconds", Help: "Time from a complete request to its reply, queue wait included, by action and outcome: ok; empty (a query that found nothing); refused (a rule or an invalid request); busy (shed); error (the server failed: storage, internal, reply too large).", Buckets: buckets,
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
		svc: svc,
		db:  db,
	}
}

// RequestDone implements server.Observer.
func (m *serverMetrics) RequestDone(req, reply []byte, queueWait, service time.Duration, busy bool) {
	m.latency.WithLabelValues(requestAction(req), replyOutcome(req, reply, busy)).Observe((queueWait + service).Seconds())
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
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "poolside_store_errors_total",
		Help: "Requests that failed because the booking store did (a full disk, an I/O error); each client was told its request was not done.",
	}, func() float64 { return float64(m.svc.Stats().StoreErrors) }))
	counter("poolside_handler_panics_total", "Handler panics recovered.", func(s server.Stats) float64 { return float64(s.Panics) })
	if m.db != nil {
		m.registerDB(reg)
	}
}

// registerDB adds the database pool of --store postgres to reg.
func (m *serverMetrics) registerDB(reg *prometheus.Registry) {
	gauge := func(name, help string, f func(booking.PostgresPoolStats) float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(m.db.PoolStats()) }))
	}
	counter := func(name, help string, f func(booking.PostgresPoolStats) float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(m.db.PoolStats()) }))
	}
	gauge("poolside_db_conns_max", "Most database connections this server may hold (--db-conns).", func(s booking.PostgresPoolStats) float64 { return float64(s.MaxConns) })
	gauge("poolside_db_conns_open", "Database connections open now.", func(s booking.PostgresPoolStats) float64 { return float64(s.Total) })
	gauge("poolside_db_conns_acquired", "Database connections in use by requests now.", func(s booking.PostgresPoolStats) float64 { return float64(s.Acquired) })
	gauge("poolside_db_conns_idle", "Database connections open and idle now.", func(s booking.PostgresPoolStats) float64 { return float64(s.Idle) })
	gauge("poolside_db_up", "1 while the database answers, 0 while it cannot be reached (requests are then refused at once).", func(s booking.PostgresPoolStats) float64 {
		if s.Down {
			return 0
		}
		return 1
	})
	counter("poolside_db_acquires_total", "Database connections handed to requests.", func(s booking.PostgresPoolStats) float64 { return float64(s.Acquires) })
	counter("poolside_db_acquire_waits_total", "Requests that found no idle database connection and had to wait for one (or for a new one to open).", func(s booking.PostgresPoolStats) float64 { return float64(s.EmptyAcquires) })
	counter("poolside_db_acquire_wait_seconds_total", "Time requests spent waiting for a database connection.", func(s booking.PostgresPoolStats) float64 { return s.AcquireWait.Seconds() })
}
