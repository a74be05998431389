package load_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/internal/wiretest"
	"github.com/poolside-dev/poolside/server"
)

// startServer starts a LocalServer for cfg, closed at the end of the test.
func startServer(t *testing.T, cfg load.ServerConfig) *load.LocalServer {
	t.Helper()
	ls, err := load.StartServer(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, ls.Close()) })
	return ls
}

// newRunner makes a Runner for cfg, closed at the end of the test.
func newRunner(t *testing.T, cfg load.Config) *load.Runner {
	t.Helper()
	r, err := load.NewRunner(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	return r
}

func TestClosedLoop(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  load.Config
	}{
		{"persistent", load.Config{Clients: 4}},
		{"conn-per-request", load.Config{Clients: 4, ConnPerRequest: true}},
		{"bookings-only", load.Config{Clients: 4, Mix: load.Mix{Book: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls := startServer(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelPool, Workers: 4}})
			cfg := tc.cfg
			cfg.Server = ls
			cfg.Live = load.NewLive()
			r := newRunner(t, cfg)
			res, err := r.Run(t.Context(), load.Window{Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond})
			require.NoError(t, err)

			assert.Equal(t, "pool:4", res.Label)
			assert.False(t, res.OpenLoop)
			assert.Positive(t, res.Requests)
			assert.Zero(t, res.Errors.Total(), "unique (room, date) pairs: no booking may be refused")
			assert.Positive(t, res.RPS)
			assert.Equal(t, res.Latency, res.ServiceTime, "a closed loop has nothing to correct")
			assert.Equal(t, res.Requests, res.Latency.Count)
			assert.LessOrEqual(t, res.Latency.P50, res.Latency.P99)
			assert.LessOrEqual(t, res.Latency.P99, res.Latency.P999)
			assert.LessOrEqual(t, res.Latency.P999, res.Latency.Max)
			assert.GreaterOrEqual(t, res.Window, 300*time.Millisecond)
			assert.Less(t, res.Window, time.Second)

			require.NotNil(t, res.Server)
			assert.Equal(t, 4, res.Server.Workers)
			assert.Positive(t, res.Server.Requests)
			assert.Positive(t, res.Server.Samples)
			assert.LessOrEqual(t, res.Server.MaxRunning, int64(4))
			assert.Equal(t, load.CPUScopeProcess, res.CPU.Scope)
			assert.Positive(t, res.CPU.PerRequest)
			assert.Equal(t, 4, res.Little.Clients)
			assert.Positive(t, res.Little.ClientL)

			live := cfg.Live.Take()
			assert.GreaterOrEqual(t, live.OK, res.Requests, "Live counts the warm-up's requests too")
			assert.Positive(t, live.P99)
		})
	}
}

// TestWindowsReuseSlots: a client holds at most 8 bookings and the pairs
// it cancels are booked again, so windows of bookings only go on as long
// as they like within the server's horizon, and no booking is ever
// refused but the first, a BOOK of 9999-12-31 that tells the horizon.
func TestWindowsReuseSlots(t *testing.T) {
	svc, err := booking.New(booking.NewMemoryStore(), booking.Config{Horizon: 10})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	ls := startServer(t, load.ServerConfig{Handler: svc})
	r := newRunner(t, load.Config{Server: ls, Clients: 3, Mix: load.Mix{Book: 1}})

	var total, unavailable int64
	for range 3 {
		res, err := r.Run(t.Context(), load.Window{Duration: 5 * time.Second, MaxRequests: 200})
		require.NoError(t, err)
		assert.Zero(t, res.Errors.Total(), "no booking may fail")
		total += res.Requests
		unavailable += res.Unavailable
	}
	assert.Equal(t, int64(600), total)
	assert.Zero(t, unavailable, "the BOOK that learns the horizon is a plain success")
	st := svc.Stats()
	assert.Equal(t, uint64(1), st.Refused, "the BOOK that learns the horizon")
	assert.Greater(t, st.Book, uint64(3*8*2), "more BOOKs than the clients can hold: pairs are reused")
	assert.Positive(t, st.Unbook, "a client holding 8 cancels instead of booking")
}

func TestMaxRequestsEndsTheWindow(t *testing.T) {
	ls := startServer(t, load.ServerConfig{})
	r := newRunner(t, load.Config{Server: ls, Clients: 2})
	res, err := r.Run(t.Context(), load.Window{Duration: time.Minute, MaxRequests: 20})
	require.NoError(t, err)
	assert.Equal(t, int64(20), res.Requests+res.Errors.Total())
	assert.Less(t, res.Window, time.Minute)
}

// TestRunNobodyListening: with nothing listening at the address the run
// fails with ErrUnreachable, wrapping the client's connect error, with a
// connection per request (every request failed to connect) as with
// persistent connections (the first connection failed).
func TestRunNobodyListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	for _, perRequest := range []bool{false, true} {
		t.Run(map[bool]string{false: "persistent", true: "conn-per-request"}[perRequest], func(t *testing.T) {
			_, err := load.Run(t.Context(), load.Config{Addr: addr, Clients: 2, ConnPerRequest: perRequest},
				load.Window{Duration: time.Minute, MaxRequests: 50})
			require.ErrorIs(t, err, load.ErrUnreachable)
			require.ErrorIs(t, err, client.ErrConnect)
			require.ErrorIs(t, err, syscall.ECONNREFUSED)
		})
	}
}

func TestRemoteServerHasNoServerView(t *testing.T) {
	ls := startServer(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelSerial}})
	res, err := load.Run(t.Context(), load.Config{Addr: ls.Addr(), Clients: 2}, load.Window{Duration: 100 * time.Millisecond})
	require.NoError(t, err)
	assert.Nil(t, res.Server)
	assert.Equal(t, ls.Addr(), res.Label)
	assert.Equal(t, load.CPUScopeClient, res.CPU.Scope)
	assert.Zero(t, res.Little.ServerL)
}

func TestRunStopsWithTheContext(t *testing.T) {
	ls := startServer(t, load.ServerConfig{WorkDelay: time.Millisecond})
	r := newRunner(t, load.Config{Server: ls, Clients: 2})
	for _, w := range []load.Window{{Duration: time.Minute}, {Warmup: time.Minute}} {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		_, err := r.Run(ctx, w)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	// The Runner is still usable.
	_, err := r.Run(t.Context(), load.Window{Duration: 50 * time.Millisecond})
	require.NoError(t, err)
}

func TestRunAfterClose(t *testing.T) {
	ls := startServer(t, load.ServerConfig{})
	r, err := load.NewRunner(t.Context(), load.Config{Server: ls, Clients: 1})
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close())
	_, err = r.Run(t.Context(), load.Window{Duration: 10 * time.Millisecond})
	require.ErrorIs(t, err, load.ErrClosed)
}

func TestResizeBetweenWindows(t *testing.T) {
	ls := startServer(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelPool, Workers: 2}, WorkDelay: 2 * time.Millisecond})
	r := newRunner(t, load.Config{Server: ls, Clients: 8})
	for _, n := range []int{2, 6} {
		require.NoError(t, ls.Resize(n))
		res, err := r.Run(t.Context(), load.Window{Warmup: 20 * time.Millisecond, Duration: 150 * time.Millisecond})
		require.NoError(t, err)
		require.NotNil(t, res.Server)
		assert.Equal(t, n, res.Server.Workers)
		assert.LessOrEqual(t, res.Server.MaxRunning, int64(n))
	}
	require.NoError(t, ls.Close())
	require.ErrorIs(t, ls.Resize(3), load.ErrClosed)
}

// stallOnce wraps a handler so that the n-th request waits for d, once:
// the whole server stops, as in a garbage-collection pause or a stuck
// disk.
type stallOnce struct {
	h     server.Handler
	n     int64
	d     time.Duration
	count atomic.Int64
}

func (s *stallOnce) ServeFrame(ctx context.Context, block []byte) []byte {
	if s.count.Add(1) == s.n {
		t := time.NewTimer(s.d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return s.h.ServeFrame(ctx, block)
}

// TestOpenLoopCorrectsCoordinatedOmission stalls a serial server for a
// second during an open-loop run on one connection. Every request that
// should have gone out during the stall is charged its wait, so the
// corrected p99 sees the stall; measured from the actual send only the one
// request caught in the stall is slow, so the uncorrected p99 does not.
func TestOpenLoopCorrectsCoordinatedOmission(t *testing.T) {
	const stall = time.Second
	svc, err := booking.New(booking.NewMemoryStore(), booking.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	h := &stallOnce{h: svc, n: 100, d: stall}
	ls := startServer(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelSerial}, Handler: h})
	r := newRunner(t, load.Config{Server: ls, Clients: 1, Rate: 500})

	res, err := r.Run(t.Context(), load.Window{Warmup: 50 * time.Millisecond, Duration: 1500 * time.Millisecond})
	require.NoError(t, err)
	require.GreaterOrEqual(t, h.count.Load(), int64(100), "the stall must have happened")

	assert.True(t, res.OpenLoop)
	assert.Zero(t, res.Errors.Total())
	t.Logf("corrected p99 %v, uncorrected p99 %v, uncorrected max %v", res.Latency.P99, res.ServiceTime.P99, res.ServiceTime.Max)
	assert.GreaterOrEqual(t, res.Latency.P99, stall/2, "the corrected p99 must reflect the stall")
	assert.Less(t, res.ServiceTime.P99, stall/4, "the uncorrected p99 must not")
	assert.GreaterOrEqual(t, res.ServiceTime.Max, stall*9/10, "the one stalled request is the uncorrected max")
	assert.Equal(t, res.Latency.Count, res.ServiceTime.Count)
}

// counting wraps a handler and counts the requests it serves.
type counting struct {
	h server.Handler
	n atomic.Int64
}

func (c *counting) ServeFrame(ctx context.Context, block []byte) []byte {
	c.n.Add(1)
	return c.h.ServeFrame(ctx, block)
}

func newCounting(t *testing.T) *counting {
	t.Helper()
	svc, err := booking.New(booking.NewMemoryStore(), booking.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	return &counting{h: svc}
}

// TestOpenLoopWindowIsTheDuration runs an open loop so slow that two
// requests are scheduled in the window: the throughput is two requests
// over the window, not over the requests' own latency.
func TestOpenLoopWindowIsTheDuration(t *testing.T) {
	const d = 300 * time.Millisecond
	ls := startServer(t, load.ServerConfig{})
	r := newRunner(t, load.Config{Server: ls, Clients: 1, Rate: 4}) // every 250ms
	res, err := r.Run(t.Context(), load.Window{Duration: d})
	require.NoError(t, err)
	assert.Equal(t, int64(2), res.Requests)
	assert.GreaterOrEqual(t, res.Window, d)
	assert.LessOrEqual(t, res.RPS, 2/d.Seconds())
	assert.Zero(t, res.NotSent)
}

// TestOpenLoopStopsSendingAtTheEnd asks a serial server that takes 20ms a
// request for 1000 req/s for 200ms: it can serve about ten of the 200
// requests scheduled. The rest are not sent after the window ends; they
// are reported as not sent, with a warning.
func TestOpenLoopStopsSendingAtTheEnd(t *testing.T) {
	h := newCounting(t)
	ls := startServer(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelSerial}, WorkDelay: 20 * time.Millisecond, Handler: h})
	r := newRunner(t, load.Config{Server: ls, Clients: 1, Rate: 1000})
	res, err := r.Run(t.Context(), load.Window{Duration: 200 * time.Millisecond})
	require.NoError(t, err)
	sent := h.n.Load()
	t.Logf("sent %d, not sent %d, %v", sent, res.NotSent, res.Warnings)
	assert.Less(t, sent, int64(100), "requests went out after the window ended")
	assert.Equal(t, int64(200), sent+res.NotSent, "every request scheduled is sent or not sent")
	assert.Condition(t, func() bool {
		for _, w := range res.Warnings {
			if strings.Contains(w, "never sent") {
				return true
			}
		}
		return false
	}, "a warning says requests were not sent: %v", res.Warnings)
}

// TestWarningsBlameTheServerWhenItRefuses: a pool of one with a queue of
// one refuses most of 16 clients' requests as busy. The clients then
// spend little time waiting for successful replies, but the load
// generator is not the bottleneck: the server is, and the warnings say so.
func TestWarningsBlameTheServerWhenItRefuses(t *testing.T) {
	ls := startServer(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelPool, Workers: 1}, Queue: 1, WorkDelay: 5 * time.Millisecond})
	r := newRunner(t, load.Config{Server: ls, Clients: 16})
	res, err := r.Run(t.Context(), load.Window{Duration: 200 * time.Millisecond})
	require.NoError(t, err)
	require.Greater(t, res.Errors.Busy, res.Requests, "most requests were refused")
	all := strings.Join(res.Warnings, "\n")
	t.Log(all)
	assert.NotContains(t, all, "the load generator, not the server")
	assert.Contains(t, all, "busy")
}

// TestOpenLoopMeasuresTheBacklog asks a serial server that takes 10 ms a
// request for 400 req/s: by the time the measured part begins, the
// clients are still sending requests scheduled in the warm-up, late, and
// every request that completes in the window is one of those. Their
// latency, from when they were due, is what the window measured; it must
// be reported, for the same requests the throughput counts.
func TestOpenLoopMeasuresTheBacklog(t *testing.T) {
	ls := startServer(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelSerial}, WorkDelay: 10 * time.Millisecond})
	r := newRunner(t, load.Config{Server: ls, Clients: 4, Rate: 400})
	res, err := r.Run(t.Context(), load.Window{Warmup: 200 * time.Millisecond, Duration: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Logf("%d requests, latency %+v, not sent %d", res.Requests, res.Latency, res.NotSent)
	require.Positive(t, res.Requests)
	assert.Equal(t, res.Requests, res.Latency.Count, "latency of every request the throughput counts")
	// A request done at time d after the start was at most the d/10ms-th
	// served, scheduled at most d/4 after the start: it waited at least
	// 3/4 × d, and d is at least the 200ms of warm-up.
	assert.GreaterOrEqual(t, res.Latency.P50, 100*time.Millisecond, "the backlog's wait")
	assert.Positive(t, res.NotSent)
	assert.Positive(t, res.Little.ClientL)
}

// TestStarvedClientsAreCounted runs four clients against the conn model
// with two workers: two clients hold the workers and two wait the whole
// window for a reply that never comes. The result counts them and warns,
// and the run ends shortly after the window instead of waiting out the
// request timeout.
func TestStarvedClientsAreCounted(t *testing.T) {
	t.Run("closed loop", func(t *testing.T) {
		testStarvedClients(t, 0, load.Window{Warmup: 20 * time.Millisecond, Duration: 200 * time.Millisecond})
	})
	t.Run("open loop, no warm-up", func(t *testing.T) {
		testStarvedClients(t, 400, load.Window{Duration: 200 * time.Millisecond})
	})
}

// TestSlowClientsAreNotStarved: in an open loop whose service time is
// most of the window, the requests still in flight at its end were sent
// late, not left unserved: no client is counted as starved.
func TestSlowClientsAreNotStarved(t *testing.T) {
	ls := startServer(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelPool, Workers: 16}, WorkDelay: 150 * time.Millisecond})
	r := newRunner(t, load.Config{Server: ls, Clients: 8, Rate: 40, Timeout: 30 * time.Second})
	res, err := r.Run(t.Context(), load.Window{Duration: 200 * time.Millisecond})
	require.NoError(t, err)
	assert.Zero(t, res.Starved, "%v", res.Warnings)
}

func testStarvedClients(t *testing.T, rate float64, w load.Window) {
	const timeout = 30 * time.Second
	ls := startServer(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelConn, Workers: 2}, WorkDelay: 2 * time.Millisecond})
	r := newRunner(t, load.Config{Server: ls, Clients: 4, Timeout: timeout, Rate: rate})
	start := time.Now()
	res, err := r.Run(t.Context(), w)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), timeout/2, "the starved requests were cut off after the window, not waited for")
	assert.Equal(t, 2, res.Starved)
	assert.Positive(t, res.Requests)
	assert.Zero(t, res.Errors.Total(), "requests cut off at the end are not errors")
	all := strings.Join(res.Warnings, "\n")
	t.Log(all)
	assert.Contains(t, all, "2 of the 4 clients got no reply in the whole measured window")
	assert.Contains(t, all, "conn model")

	// The Runner is still usable: the cut clients connect again.
	require.NoError(t, ls.Resize(4))
	res, err = r.Run(t.Context(), load.Window{Duration: 100 * time.Millisecond})
	require.NoError(t, err)
	assert.Zero(t, res.Starved)
}

// TestRunNoReply: against a server that never answers, Run ends shortly
// after the window with ErrNoRequests saying that every client was still
// waiting, instead of waiting out the request timeout.
func TestRunNoReply(t *testing.T) {
	const timeout = 30 * time.Second
	for _, rate := range []float64{0, 100} {
		t.Run(fmt.Sprintf("rate %v", rate), func(t *testing.T) {
			addr := wiretest.SilentServer(t)
			start := time.Now()
			_, err := load.Run(t.Context(), load.Config{Addr: addr, Clients: 2, Timeout: timeout, Rate: rate}, load.Window{Duration: 100 * time.Millisecond})
			require.ErrorIs(t, err, load.ErrNoRequests)
			assert.ErrorContains(t, err, "2 of the 2 clients sent a request and were still waiting")
			assert.Less(t, time.Since(start), timeout/2)
		})
	}
}

// TestRateSlowerThanTheWindow: an open loop whose requests are further
// apart than the measured time, or so far apart that the interval
// overflows, is refused rather than run.
func TestRateSlowerThanTheWindow(t *testing.T) {
	ls := startServer(t, load.ServerConfig{})
	require.ErrorIs(t, load.Config{Addr: "127.0.0.1:1", Rate: 1e-10}.Validate(), load.ErrInvalidConfig)
	for _, rate := range []float64{1e-10, 0.5} {
		_, err := load.Run(t.Context(), load.Config{Server: ls, Clients: 1, Rate: rate}, load.Window{Duration: time.Second})
		require.ErrorIs(t, err, load.ErrInvalidConfig, "rate %v", rate)
		require.ErrorIs(t, load.CheckRate(rate, "Rate", time.Second, "Duration"), load.ErrInvalidConfig, "rate %v", rate)
	}
	_, err := load.Run(t.Context(), load.Config{Server: ls, Clients: 1, Rate: 0.5}, load.Window{Duration: time.Second})
	assert.ErrorContains(t, err, "one request every 2s, longer than the 1s measured")
	assert.NoError(t, load.CheckRate(1, "Rate", time.Second, "Duration"))
	assert.NoError(t, load.CheckRate(0, "Rate", time.Second, "Duration"), "a closed loop")
}
