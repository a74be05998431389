package server_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/pool"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

func TestAdaptiveConfigValidate(t *testing.T) {
	require.NoError(t, server.Config{Handler: echo, Adaptive: &server.AdaptiveConfig{}}.Validate())
	require.NoError(t, server.Config{Handler: echo, Model: server.ModelConn, Workers: 4, Adaptive: &server.AdaptiveConfig{Limit: pool.Gradient2Config{Min: 4, Max: 4}}}.Validate())
	for name, cfg := range map[string]server.Config{
		"serial model":       {Handler: echo, Model: server.ModelSerial, Adaptive: &server.AdaptiveConfig{}},
		"unbounded model":    {Handler: echo, Model: server.ModelUnbounded, Adaptive: &server.AdaptiveConfig{}},
		"negative interval":  {Handler: echo, Adaptive: &server.AdaptiveConfig{Interval: -time.Second}},
		"negative history":   {Handler: echo, Adaptive: &server.AdaptiveConfig{History: -1}},
		"initial in Limit":   {Handler: echo, Adaptive: &server.AdaptiveConfig{Limit: pool.Gradient2Config{Initial: 4}}},
		"max below min":      {Handler: echo, Adaptive: &server.AdaptiveConfig{Limit: pool.Gradient2Config{Min: 8, Max: 4}}},
		"workers below min":  {Handler: echo, Workers: 2, Adaptive: &server.AdaptiveConfig{Limit: pool.Gradient2Config{Min: 4, Max: 8}}},
		"workers above max":  {Handler: echo, Workers: 9, Adaptive: &server.AdaptiveConfig{Limit: pool.Gradient2Config{Min: 4, Max: 8}}},
		"bad smoothing":      {Handler: echo, Adaptive: &server.AdaptiveConfig{Limit: pool.Gradient2Config{Smoothing: 2}}},
		"bad tolerance":      {Handler: echo, Adaptive: &server.AdaptiveConfig{Limit: pool.Gradient2Config{Tolerance: 0.5}}},
		"negative long wind": {Handler: echo, Adaptive: &server.AdaptiveConfig{Limit: pool.Gradient2Config{LongWindow: -1}}},
	} {
		t.Run(name, func(t *testing.T) {
			err := cfg.Validate()
			require.ErrorIs(t, err, server.ErrInvalidConfig)
			assert.Contains(t, err.Error(), "adaptive sizing")
			_, err = server.New(cfg)
			require.ErrorIs(t, err, server.ErrInvalidConfig)
		})
	}
}

func TestAdaptiveDefaults(t *testing.T) {
	s, err := server.New(server.Config{Handler: echo, Adaptive: &server.AdaptiveConfig{}})
	require.NoError(t, err)
	defer s.Close()
	lo, hi, ok := s.AdaptiveBounds()
	require.True(t, ok)
	assert.Equal(t, server.DefaultMinWorkers(), lo)
	assert.Equal(t, server.DefaultMaxWorkers(), hi)
	assert.GreaterOrEqual(t, hi, 256)
	assert.Equal(t, server.DefaultWorkers(), s.Stats().Pool.Workers, "the starting size is the static default")
	assert.Empty(t, s.AdaptiveHistory())

	// The default starting size is brought within the bounds.
	s2, err := server.New(server.Config{Handler: echo, Adaptive: &server.AdaptiveConfig{Limit: pool.Gradient2Config{Min: 1, Max: 1}}})
	require.NoError(t, err)
	defer s2.Close()
	assert.Equal(t, 1, s2.Stats().Pool.Workers)

	// A Max below the default Min, with Min unset, is the Min too (it used
	// to be refused as "below Min", a value nobody set).
	s3, err := server.New(server.Config{Handler: echo, Adaptive: &server.AdaptiveConfig{Limit: pool.Gradient2Config{Max: 1}}})
	require.NoError(t, err)
	defer s3.Close()
	lo, hi, _ = s3.AdaptiveBounds()
	assert.Equal(t, [2]int{1, 1}, [2]int{lo, hi})

	off, err := server.New(server.Config{Handler: echo})
	require.NoError(t, err)
	defer off.Close()
	assert.Nil(t, off.AdaptiveHistory())
	_, _, ok = off.AdaptiveBounds()
	assert.False(t, ok)
}

// adaptiveRig is a loopback server with adaptive sizing driven by hand:
// clients load it without pause, and each interval ends when the test
// sends a tick, after a given number of requests have reached the handler.
type adaptiveRig struct {
	t       *testing.T
	s       *server.Server
	addr    string
	ticks   chan time.Time
	updates chan server.AdaptivePoint
	tick    int

	delay   atomic.Int64 // the handler's service time, in nanoseconds
	handled atomic.Int64 // requests that reached the handler
	arrived chan struct{}
}

func newAdaptiveRig(t *testing.T, cfg server.Config, delay time.Duration) *adaptiveRig {
	t.Helper()
	r := &adaptiveRig{t: t, ticks: make(chan time.Time), updates: make(chan server.AdaptivePoint, 1000), arrived: make(chan struct{}, 1)}
	r.delay.Store(int64(delay))
	cfg.Handler = server.HandlerFunc(func(ctx context.Context, b []byte) []byte {
		r.handled.Add(1)
		select {
		case r.arrived <- struct{}{}:
		default:
		}
		tm := time.NewTimer(time.Duration(r.delay.Load())) // simulated service time, as Config.WorkDelay
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-ctx.Done():
		}
		return append([]byte(nil), b...)
	})
	cfg.Adaptive.Ticks = r.ticks
	cfg.Adaptive.OnUpdate = func(p server.AdaptivePoint) { r.updates <- p }
	r.s, r.addr, _ = startServer(t, cfg)
	return r
}

// load starts n clients, each on its own connection, that call the server
// one request after another until the test ends.
func (r *adaptiveRig) load(n int) {
	r.t.Helper()
	var stopped atomic.Bool
	var wg sync.WaitGroup
	conns := make([]net.Conn, n)
	for i := range conns {
		nc, err := net.DialTimeout("tcp", r.addr, testTimeout)
		require.NoError(r.t, err)
		conns[i] = nc
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Appendf(nil, "client %d", i)
			var buf []byte
			for {
				err := wire.WriteFrame(nc, msg)
				if err == nil {
					buf, err = wire.ReadFrame(nc, buf[:0])
				}
				if err != nil {
					if !stopped.Load() {
						r.t.Errorf("client %d: %v", i, err)
					}
					return
				}
			}
		}()
	}
	r.t.Cleanup(func() {
		stopped.Store(true)
		for _, nc := range conns {
			nc.Close()
		}
		wg.Wait()
	})
}

// interval lets at least requests more requests reach the handler, ends
// the interval and returns the point the server recorded for it.
func (r *adaptiveRig) interval(requests int) server.AdaptivePoint {
	r.t.Helper()
	deadline := time.After(testTimeout)
	for target := r.handled.Load() + int64(requests); r.handled.Load() < target; {
		select {
		case <-r.arrived:
		case <-deadline:
			r.t.Fatalf("only %d requests reached the handler", r.handled.Load())
		}
	}
	r.tick++
	select {
	case r.ticks <- time.Unix(int64(r.tick), 0):
	case <-deadline:
		r.t.Fatal("the control loop took no tick")
	}
	select {
	case p := <-r.updates:
		require.Equal(r.t, time.Unix(int64(r.tick), 0), p.Time)
		require.Equal(r.t, p.Limit, r.s.Stats().Pool.Workers, "the pool has the limit the loop recorded")
		return p
	case <-deadline:
		r.t.Fatal("the control loop recorded no update")
		return server.AdaptivePoint{}
	}
}

// TestAdaptiveGrowsUnderIOBoundLoad: with more clients than workers and a
// service time that does not depend on concurrency, the pool grows from
// its starting size to Max and never leaves [Min, Max].
func TestAdaptiveGrowsUnderIOBoundLoad(t *testing.T) {
	const (
		minW, maxW = 2, 12
		clients    = 16
	)
	for _, m := range []server.Model{server.ModelPool, server.ModelConn} {
		t.Run(m.String(), func(t *testing.T) {
			log, hook := logtest.NewNullLogger()
			log.SetLevel(logrus.DebugLevel)
			r := newAdaptiveRig(t, server.Config{Model: m, Workers: minW, Logger: log, Adaptive: &server.AdaptiveConfig{
				Limit: pool.Gradient2Config{Min: minW, Max: maxW},
			}}, 2*time.Millisecond)
			r.load(clients)

			var limits []int
			atMax, prev := 0, minW
			for i := 0; i < 100 && atMax < 3; i++ {
				p := r.interval(2 * clients)
				limits = append(limits, p.Limit)
				require.True(t, p.Limit >= minW && p.Limit <= maxW, "limit %d outside [%d, %d]: %v", p.Limit, minW, maxW, limits)
				assert.GreaterOrEqual(t, p.InFlight, prev, "demand reached the limit")
				prev = p.Limit
				assert.Positive(t, p.Requests)
				assert.Positive(t, p.Latency)
				if p.Limit == maxW {
					atMax++
				}
			}
			t.Logf("limits: %v", limits)
			require.Equal(t, 3, atMax, "the limit should grow to Max and stay there: %v", limits)
			require.Greater(t, limits[len(limits)-1], limits[0])

			h := r.s.AdaptiveHistory()
			require.Len(t, h, len(limits))
			for i, p := range h {
				assert.Equal(t, limits[i], p.Limit)
			}

			// Each change is logged at debug level, with the old and new size.
			var changes [][2]any
			for i, prev := 0, minW; i < len(limits); prev, i = limits[i], i+1 {
				if limits[i] != prev {
					changes = append(changes, [2]any{prev, limits[i]})
				}
			}
			var logged [][2]any
			for _, e := range hook.AllEntries() {
				if e.Message == "adaptive sizing resized the pool" {
					assert.Equal(t, logrus.DebugLevel, e.Level)
					logged = append(logged, [2]any{e.Data["previous"], e.Data["workers"]})
				}
			}
			assert.Equal(t, changes, logged)
		})
	}
}

// TestAdaptiveShrinksWhenServiceTimeRises: when the service time jumps
// twentyfold the limit is cut, but never below Min.
func TestAdaptiveShrinksWhenServiceTimeRises(t *testing.T) {
	const (
		minW, maxW = 10, 16
		clients    = 16
	)
	r := newAdaptiveRig(t, server.Config{Workers: maxW, Adaptive: &server.AdaptiveConfig{
		Limit: pool.Gradient2Config{Min: minW, Max: maxW, Smoothing: 1},
	}}, 2*time.Millisecond)
	r.load(clients)

	// Ten intervals fill the long-term latency's warm-up at the low
	// service time.
	var limits []int
	for range 10 {
		p := r.interval(clients)
		limits = append(limits, p.Limit)
		require.True(t, p.Limit >= minW && p.Limit <= maxW, "limit %d: %v", p.Limit, limits)
	}
	before := limits[len(limits)-1]

	r.delay.Store(int64(40 * time.Millisecond))
	for range 4 {
		p := r.interval(clients)
		limits = append(limits, p.Limit)
		require.True(t, p.Limit >= minW && p.Limit <= maxW, "limit %d: %v", p.Limit, limits)
	}
	t.Logf("limits: %v", limits)
	assert.Less(t, limits[len(limits)-1], before)
	assert.Equal(t, minW, limits[len(limits)-1], "a twentyfold rise should cut the limit to Min: %v", limits)
}

func TestAdaptiveRefusesResize(t *testing.T) {
	r := newAdaptiveRig(t, server.Config{Workers: 4, Adaptive: &server.AdaptiveConfig{}}, 0)
	require.ErrorIs(t, r.s.Resize(8), server.ErrAdaptive)
	assert.Equal(t, 4, r.s.Stats().Pool.Workers)
}

// TestAdaptiveHistoryIsBounded: the history keeps the latest History
// points, oldest first; an interval with no requests changes nothing but
// is recorded.
func TestAdaptiveHistoryIsBounded(t *testing.T) {
	r := newAdaptiveRig(t, server.Config{Workers: 4, Adaptive: &server.AdaptiveConfig{History: 5}}, 0)
	for range 8 {
		p := r.interval(0)
		assert.Equal(t, 4, p.Limit)
		assert.Zero(t, p.Requests)
		assert.Zero(t, p.Latency)
	}
	h := r.s.AdaptiveHistory()
	require.Len(t, h, 5)
	for i, p := range h {
		assert.Equal(t, time.Unix(int64(4+i), 0), p.Time)
	}
}

// TestAdaptiveLoopStops: with its own ticker the loop runs from Serve
// until Shutdown (goleak checks that it is gone), and a closed Ticks
// channel ends it early without harm.
func TestAdaptiveLoopStops(t *testing.T) {
	t.Run("ticker", func(t *testing.T) {
		updates := make(chan server.AdaptivePoint, 1)
		s, err := server.New(server.Config{Handler: echo, Adaptive: &server.AdaptiveConfig{
			Interval: time.Millisecond,
			OnUpdate: func(p server.AdaptivePoint) {
				select {
				case updates <- p:
				default:
				}
			},
		}})
		require.NoError(t, err)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		for range 2 {
			select {
			case <-updates:
			case <-time.After(testTimeout):
				t.Fatal("the control loop made no update")
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
		require.ErrorIs(t, <-served, server.ErrServerClosed)
		assert.NotEmpty(t, s.AdaptiveHistory(), "the history outlives the server")
	})
	t.Run("closed ticks", func(t *testing.T) {
		ticks := make(chan time.Time)
		s, addr, _ := startServer(t, server.Config{Handler: echo, Adaptive: &server.AdaptiveConfig{Ticks: ticks}})
		close(ticks)
		c := dial(t, addr)
		assert.Equal(t, []byte("still serving"), c.call([]byte("still serving")))
		assert.Empty(t, s.AdaptiveHistory())
	})
}

// TestAdaptiveDoesNotLeakInFlight: refused requests leave the demand
// count as they found it, so an idle server reports no demand.
func TestAdaptiveDoesNotLeakInFlight(t *testing.T) {
	g := newGate()
	ticks := make(chan time.Time)
	updates := make(chan server.AdaptivePoint, 10)
	s, addr, _ := startServer(t, withReplies(server.Config{Handler: g, Workers: 1, Queue: 1, Adaptive: &server.AdaptiveConfig{
		Limit: pool.Gradient2Config{Min: 1, Max: 1}, Ticks: ticks, OnUpdate: func(p server.AdaptivePoint) { updates <- p },
	}}))
	a, b, c := dial(t, addr), dial(t, addr), dial(t, addr)
	a.send([]byte("a"))
	g.wait(t) // a holds the only worker
	b.send([]byte("b"))
	require.Eventually(t, func() bool { return s.Stats().Pool.Waiting == 1 }, testTimeout, time.Millisecond, "b should be queued")
	assert.Equal(t, busyBlock, c.call([]byte("c")), "the queue is full: busy at once")
	close(g.release)
	assert.Equal(t, []byte("a"), a.recv())
	assert.Equal(t, []byte("b"), b.recv())

	next := func(sec int64) server.AdaptivePoint {
		ticks <- time.Unix(sec, 0)
		select {
		case p := <-updates:
			return p
		case <-time.After(testTimeout):
			t.Fatal("no update")
			return server.AdaptivePoint{}
		}
	}
	p := next(1)
	assert.GreaterOrEqual(t, p.InFlight, 3, "a, b and c all wanted the one worker")
	// The pool counts a task as running until a moment after it has
	// signalled completion; wait for it to be idle.
	require.Eventually(t, func() bool { st := s.Stats().Pool; return st.Running == 0 && st.Waiting == 0 }, testTimeout, time.Millisecond)
	assert.Equal(t, 0, next(2).InFlight, "nothing is in flight any more")
}

// TestAdaptiveConnModelGrowsPastIdleConnections: in ModelConn an idle
// connection holds its worker and finishes no request, so no latency is
// measured; a connection waiting for a worker must still make the pool
// grow, or it would wait for ever.
func TestAdaptiveConnModelGrowsPastIdleConnections(t *testing.T) {
	r := newAdaptiveRig(t, server.Config{Model: server.ModelConn, Workers: 1, Adaptive: &server.AdaptiveConfig{
		Limit: pool.Gradient2Config{Min: 1, Max: 4},
	}}, 0)
	idle := dial(t, r.addr)
	assert.Equal(t, []byte("first"), idle.call([]byte("first"))) // now it holds the only worker, idle
	r.interval(0)                                                // the one that measured "first"
	require.Equal(t, 1, r.s.Stats().Pool.Workers)
	waiting := dial(t, r.addr)
	waiting.send([]byte("second"))
	require.Eventually(t, func() bool { return r.s.Stats().Pool.Waiting == 1 }, testTimeout, time.Millisecond, "the second connection should wait for a worker")

	var limits []int
	for len(limits) < 10 && r.s.Stats().Pool.Workers < 2 {
		p := r.interval(0)
		assert.Zero(t, p.Requests)
		assert.GreaterOrEqual(t, p.InFlight, 2, "one connection on the worker, one waiting")
		limits = append(limits, p.Limit)
	}
	require.Equal(t, 2, r.s.Stats().Pool.Workers, "limits %v", limits)
	assert.Equal(t, []byte("second"), waiting.recv())
}
