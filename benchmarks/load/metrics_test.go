package load_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/booking"
)

// fakeMetrics serves a poolside serve's /metrics whose counters grow by
// a fixed step at each read: 100 requests that waited 1 ms each for a
// worker and ran 4 ms, 100 database connections handed out, 60 of them
// after a wait, 3 ms each; 8 workers, 2 connections.
func fakeMetrics(t *testing.T, db bool) string {
	var reads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := float64(reads.Add(1))
		fmt.Fprintf(w, "# TYPE poolside_request_queue_wait_seconds histogram\n"+
			"poolside_request_queue_wait_seconds_bucket{le=\"+Inf\"} %v\npoolside_request_queue_wait_seconds_sum %v\npoolside_request_queue_wait_seconds_count %v\n", 100*n, 0.1*n, 100*n)
		fmt.Fprintf(w, "# TYPE poolside_request_service_seconds histogram\n"+
			"poolside_request_service_seconds_bucket{le=\"+Inf\"} %v\npoolside_request_service_seconds_sum %v\npoolside_request_service_seconds_count %v\n", 100*n, 0.4*n, 100*n)
		fmt.Fprintf(w, "# TYPE poolside_pool_workers gauge\npoolside_pool_workers 8\n")
		if db {
			fmt.Fprintf(w, "# TYPE poolside_db_conns_max gauge\npoolside_db_conns_max 2\n"+
				"# TYPE poolside_db_acquires_total counter\npoolside_db_acquires_total %v\n"+
				"# TYPE poolside_db_acquire_waits_total counter\npoolside_db_acquire_waits_total %v\n"+
				"# TYPE poolside_db_acquire_wait_seconds_total counter\npoolside_db_acquire_wait_seconds_total %v\n", 100*n, 60*n, 0.3*n)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

// TestMetricsURL: with MetricsURL, each window's Result has the server's
// own view of it, the difference of its counters over the window; and
// the database pool is named as the limit when requests waited longer
// for a connection than for a worker, with more workers than
// connections.
func TestMetricsURL(t *testing.T) {
	svc, err := booking.New(booking.NewMemoryStore(), booking.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	ls := startServer(t, load.ServerConfig{Handler: svc})
	for _, db := range []bool{false, true} {
		t.Run(fmt.Sprintf("db=%v", db), func(t *testing.T) {
			r, err := load.NewRunner(t.Context(), load.Config{Addr: ls.Addr(), Clients: 2, ReadOnly: true, MetricsURL: fakeMetrics(t, db)})
			require.NoError(t, err)
			t.Cleanup(func() { r.Close() })
			res, err := r.Run(t.Context(), load.Window{Duration: 50 * time.Millisecond})
			require.NoError(t, err)
			m := res.Metrics
			require.NotNil(t, m)
			assert.EqualValues(t, 100, m.Requests)
			assert.Equal(t, time.Millisecond, m.QueueWait)
			assert.Equal(t, 4*time.Millisecond, m.Service)
			assert.Equal(t, 8, m.Workers)
			idle, limited := m.DBLimited()
			if !db {
				assert.Nil(t, m.DB)
				assert.False(t, limited)
				return
			}
			require.NotNil(t, m.DB)
			assert.Equal(t, load.DBPoolMetrics{Conns: 2, Acquires: 100, Waited: 60, Wait: 3 * time.Millisecond}, *m.DB)
			assert.True(t, limited)
			assert.Equal(t, 6, idle)
			assert.Contains(t, m.String(), "database connection wait 3.00ms mean, 60% of requests waited (2 connections, 8 workers)")
		})
	}
}

// TestMetricsURLRefused: a URL that is not a poolside server's /metrics
// is refused when the Runner is made, saying why.
func TestMetricsURLRefused(t *testing.T) {
	ls := startServer(t, load.ServerConfig{})
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "# TYPE go_goroutines gauge\ngo_goroutines 7")
	}))
	t.Cleanup(other.Close)
	_, err := load.NewRunner(t.Context(), load.Config{Addr: ls.Addr(), Clients: 1, ReadOnly: true, MetricsURL: other.URL + "/metrics"})
	require.ErrorIs(t, err, load.ErrMetrics)
	assert.Contains(t, err.Error(), "is it a poolside serve's --metrics-addr?")

	err = load.Config{Addr: ls.Addr(), MetricsURL: "ftp://x"}.Validate()
	require.ErrorIs(t, err, load.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "must be an http:// URL")
}
