package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/poolside-dev/poolside/internal/textfmt"
)

// maxMetricsAnswer bounds the /metrics answer read.
const maxMetricsAnswer = 8 << 20

// ServerMetrics is what a running poolside serve's Prometheus /metrics
// (serve --metrics-addr) said of one measured window: the difference of
// its counters from the window's start to its end. It is the remote
// counterpart of ServerView, and covers every request the server served
// in the window, this run's and anyone else's.
type ServerMetrics struct {
	// Requests is the number of requests that ran on a worker.
	Requests int64
	// QueueWait is their mean wait for a worker, Service their mean time
	// on one (the database's time included).
	QueueWait, Service time.Duration
	// Workers is the pool's size at the end (0 without a pool).
	Workers int
	// DB is the database pool's part, for --store postgres; nil for
	// another store.
	DB *DBPoolMetrics
}

// DBPoolMetrics is the database connection pool's part of ServerMetrics.
type DBPoolMetrics struct {
	// Conns is the pool's size (serve --db-conns).
	Conns int
	// Acquires counts the connections handed out in the window; Waited
	// those for which a request found no idle connection and waited.
	Acquires, Waited int64
	// Wait is the mean time a request waited for a connection.
	Wait time.Duration
}

// The series read from /metrics.
const (
	mQueueWait = "poolside_request_queue_wait_seconds"
	mService   = "poolside_request_service_seconds"
	mWorkers   = "poolside_pool_workers"
	mDBConns   = "poolside_db_conns_max"
	mDBAcq     = "poolside_db_acquires_total"
	mDBWaits   = "poolside_db_acquire_waits_total"
	mDBWait    = "poolside_db_acquire_wait_seconds_total"
)

// metricsSnapshot holds the series of one scrape: a counter's or gauge's
// value, a histogram's sum and count.
type metricsSnapshot struct {
	values     map[string]float64
	sums       map[string]float64
	counts     map[string]uint64
	hasDBPools bool
}

// scrapeMetrics reads url, a poolside serve's /metrics.
func scrapeMetrics(ctx context.Context, url string, timeout time.Duration) (metricsSnapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return metricsSnapshot{}, fmt.Errorf("%w: %s is not a URL: %s", ErrMetrics, url, innermost(err))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return metricsSnapshot{}, fmt.Errorf("%w: cannot read %s: %s", ErrMetrics, url, innermost(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return metricsSnapshot{}, fmt.Errorf("%w: %s answered %s", ErrMetrics, url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, maxMetricsAnswer))
	if err != nil {
		return metricsSnapshot{}, fmt.Errorf("%w: %s is not Prometheus text: %s", ErrMetrics, url, innermost(err))
	}
	if _, ok := fams[mQueueWait]; !ok {
		return metricsSnapshot{}, fmt.Errorf("%w: %s has no %s: is it a poolside serve's --metrics-addr?", ErrMetrics, url, mQueueWait)
	}
	snap := metricsSnapshot{values: map[string]float64{}, sums: map[string]float64{}, counts: map[string]uint64{}}
	for name, f := range fams {
		if len(f.Metric) != 1 {
			continue // labelled series: none of ours
		}
		m := f.Metric[0]
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			snap.values[name] = m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			snap.values[name] = m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			snap.sums[name] = m.GetHistogram().GetSampleSum()
			snap.counts[name] = m.GetHistogram().GetSampleCount()
		}
	}
	_, snap.hasDBPools = fams[mDBConns]
	return snap, nil
}

// innermost is the last error of err's chain: "connection refused"
// rather than the layers around it.
func innermost(err error) string {
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return err.Error()
		}
		err = inner
	}
}

// serverMetrics is what changed from a to b.
func serverMetrics(a, b metricsSnapshot) *ServerMetrics {
	mean := func(name string) (int64, time.Duration) {
		n := int64(b.counts[name] - a.counts[name])
		if n <= 0 {
			return 0, 0
		}
		return n, seconds((b.sums[name] - a.sums[name]) / float64(n))
	}
	m := &ServerMetrics{Workers: int(b.values[mWorkers])}
	m.Requests, m.QueueWait = mean(mQueueWait)
	_, m.Service = mean(mService)
	if b.hasDBPools {
		db := &DBPoolMetrics{
			Conns:    int(b.values[mDBConns]),
			Acquires: int64(b.values[mDBAcq] - a.values[mDBAcq]),
			Waited:   int64(b.values[mDBWaits] - a.values[mDBWaits]),
		}
		if db.Acquires > 0 {
			db.Wait = seconds((b.values[mDBWait] - a.values[mDBWait]) / float64(db.Acquires))
		}
		m.DB = db
	}
	return m
}

// seconds converts s seconds to a Duration, rounded to the nanosecond.
func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

// String says what the server's metrics show, for the notes: "worker wait
// 12µs, service 3.40ms mean over 8,000 requests; database connection wait
// 2.10ms mean, 71% of requests waited (16 connections, 48 workers)".
func (m *ServerMetrics) String() string {
	s := fmt.Sprintf("worker wait %s, service %s mean over %d requests", textfmt.Duration(m.QueueWait), textfmt.Duration(m.Service), m.Requests)
	if db := m.DB; db != nil {
		share := 0.0
		if db.Acquires > 0 {
			share = 100 * float64(db.Waited) / float64(db.Acquires)
		}
		s += fmt.Sprintf("; database connection wait %s mean, %.0f%% of requests waited (%d connections", textfmt.Duration(db.Wait), share, db.Conns)
		if m.Workers > 0 {
			s += fmt.Sprintf(", %d workers", m.Workers)
		}
		s += ")"
	}
	return s
}

// DBLimited reports whether the database pool, not the worker pool, held
// the requests back: more workers than connections, and requests waited
// longer for a connection than for a worker. idle is then how many
// workers can only wait.
func (m *ServerMetrics) DBLimited() (idle int, limited bool) {
	db := m.DB
	if db == nil || m.Workers <= db.Conns || db.Wait <= m.QueueWait || db.Waited == 0 {
		return 0, false
	}
	return m.Workers - db.Conns, true
}
