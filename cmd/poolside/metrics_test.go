package main

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/internal/wiretest"
	"github.com/poolside-dev/poolside/wire"
)

// TestServeMetrics runs the built server with --metrics-addr, sends one
// booking and one malformed request, and reads /metrics and /debug/pprof/.
func TestServeMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	p := startServe(t, "--store", "memory", "--metrics-addr", "127.0.0.1:0")
	metricsAddr := strings.TrimSuffix(strings.TrimPrefix(metricsURL(t, p), "http://"), "/metrics")

	nc := p.dial(t)
	r, err := wiretest.Exchange(nc, wire.Request{Action: wire.ActionBook, Room: "312", Date: wire.FromTime(time.Now()) + 10})
	require.NoError(t, err)
	require.False(t, r.IsError(), r.Message)
	r, err = wiretest.Exchange(nc, wire.Request{Action: "FROB"})
	require.NoError(t, err)
	assert.Equal(t, wire.MsgUnrecognized, r.Message)
	r, err = wiretest.Exchange(nc, wire.Request{Action: wire.ActionBookingsForRoom, Room: "334"})
	require.NoError(t, err)
	assert.Equal(t, wire.MsgRoomNotBooked("334"), r.Message)
	require.NoError(t, nc.Close())

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + metricsAddr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	wants := []string{
		"poolside_requests_total 3",
		"poolside_connections_accepted_total 1",
		"poolside_pool_completed_total 3",
		`poolside_request_duration_seconds_count{action="BOOK",outcome="ok"} 1`,
		`poolside_request_duration_seconds_count{action="other",outcome="refused"} 1`,
		// A query that finds nothing is normal traffic, not an error.
		`poolside_request_duration_seconds_count{action="BOOKINGSFORROOM",outcome="empty"} 1`,
		"poolside_request_queue_wait_seconds_count 3",
		"poolside_request_service_seconds_count 3",
		"poolside_pool_workers ",
		"poolside_store_errors_total 0",
	}
	// A request is observed after its reply is written, and the close
	// after the client sees its last reply: wait for both, in any order.
	var body string
	require.Eventually(t, func() bool {
		_, body = get("/metrics")
		if !strings.Contains(body, `poolside_connections_closed_total{reason="eof"} 1`) {
			return false
		}
		for _, want := range wants {
			if !strings.Contains(body, want) {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond, "the requests and the close are counted")
	for _, want := range wants {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, `outcome="error"`)
	code, _ := get("/debug/pprof/")
	assert.Equal(t, http.StatusOK, code)
	require.NoError(t, p.stop(t, syscall.SIGTERM))
}
