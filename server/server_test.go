package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/pool"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

var allModels = []server.Model{server.ModelPool, server.ModelSerial, server.ModelConn, server.ModelUnbounded}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, server.Config{Handler: echo}.Validate())
	require.NoError(t, server.Config{}.Validate(), "Validate does not ask for the Handler")
	_, err := server.New(server.Config{})
	require.ErrorIs(t, err, server.ErrInvalidConfig, "New does")
	for name, cfg := range map[string]server.Config{
		"negative workers": {Handler: echo, Workers: -1},
		"negative queue":   {Handler: echo, Queue: -1},
		"bad model":        {Handler: echo, Model: 9},
		"negative timeout": {Handler: echo, ReadTimeout: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			err := cfg.Validate()
			require.ErrorIs(t, err, server.ErrInvalidConfig)
			_, err = server.New(cfg)
			require.ErrorIs(t, err, server.ErrInvalidConfig)
		})
	}
}

func TestParseModel(t *testing.T) {
	for _, m := range allModels {
		got, err := server.ParseModel(m.String())
		require.NoError(t, err)
		assert.Equal(t, m, got)
	}
	_, err := server.ParseModel("threads")
	require.ErrorIs(t, err, server.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "pool, serial, conn, unbounded")
}

// TestEveryModelServesPersistentAndPipelined checks both connection
// patterns: one request per connection, and many written before any reply
// is read, answered in order.
func TestEveryModelServesPersistentAndPipelined(t *testing.T) {
	for _, m := range allModels {
		t.Run(m.String(), func(t *testing.T) {
			_, addr, _ := startServer(t, server.Config{Handler: echo, Model: m, Workers: 4})

			for i := range 3 {
				c := dial(t, addr)
				msg := fmt.Appendf(nil, "one-shot %d", i)
				assert.Equal(t, msg, c.call(msg))
				c.nc.Close()
			}

			c := dial(t, addr)
			const n = 200
			for i := range n {
				c.send(fmt.Appendf(nil, "pipelined %d", i))
			}
			for i := range n {
				assert.Equal(t, fmt.Appendf(nil, "pipelined %d", i), c.recv())
			}
		})
	}
}

// TestWorkersNeverExceeded asserts concurrency from the pool's own stats
// and a gauge inside the handler, not from timings: with more clients than
// workers, exactly Workers requests are in the handler at once (one in
// serial) and the rest wait in the queue until the handlers are released.
func TestWorkersNeverExceeded(t *testing.T) {
	const clients = 12
	for _, tc := range []struct {
		model   server.Model
		workers int
		want    int
	}{
		{server.ModelPool, 3, 3},
		{server.ModelSerial, 8, 1},
		{server.ModelConn, 2, 2},
	} {
		t.Run(tc.model.String(), func(t *testing.T) {
			var g gauge
			held := newGate()
			h := server.HandlerFunc(func(ctx context.Context, b []byte) []byte {
				g.enter()
				defer g.leave()
				return held.ServeFrame(ctx, b)
			})
			s, addr, _ := startServer(t, server.Config{Handler: h, Model: tc.model, Workers: tc.workers, Queue: 64})

			conns := make([]*rawConn, clients)
			for i := range conns {
				conns[i] = dial(t, addr)
				conns[i].send(fmt.Appendf(nil, "%d", i))
			}
			for range tc.want {
				held.wait(t)
			}
			// The rest queue: requests in pool and serial, connections in conn.
			require.Eventually(t, func() bool { return s.Stats().Pool.Waiting == uint64(clients-tc.want) },
				testTimeout, time.Millisecond, "requests beyond the workers must wait in the queue")
			assert.Equal(t, int64(tc.want), g.now.Load())
			assert.Equal(t, int64(tc.want), s.Stats().Pool.Running)

			close(held.release)
			for i, c := range conns {
				assert.Equal(t, fmt.Appendf(nil, "%d", i), c.recv())
				c.nc.Close() // in ModelConn the connection holds its worker until then
			}
			assert.Equal(t, int64(tc.want), g.peak.Load(), "never more handlers at once than workers")
			st := s.Stats()
			assert.Equal(t, uint64(clients), st.Requests)
			assert.Zero(t, st.Busy)
		})
	}
}

// TestFullQueueAnswersBusy fills the single worker and the one queue slot,
// then checks that the next request is refused at once with the busy reply
// and that its connection stays usable.
func TestFullQueueAnswersBusy(t *testing.T) {
	for _, m := range []server.Model{server.ModelPool, server.ModelSerial} {
		t.Run(m.String(), func(t *testing.T) {
			g := newGate()
			s, addr, _ := startServer(t, withReplies(server.Config{Handler: g, Model: m, Workers: 1, Queue: 1}))

			a, b, c := dial(t, addr), dial(t, addr), dial(t, addr)
			a.send([]byte("a"))
			g.wait(t) // a holds the only worker
			b.send([]byte("b"))
			require.Eventually(t, func() bool { return s.Stats().Pool.Waiting == 1 }, testTimeout, time.Millisecond, "b should be queued")

			assert.Equal(t, busyBlock, c.call([]byte("c")), "the queue is full: busy at once")
			assert.Equal(t, uint64(1), s.Stats().Busy)
			assert.Equal(t, uint64(1), s.Stats().Pool.Rejected)

			close(g.release)
			assert.Equal(t, []byte("a"), a.recv())
			assert.Equal(t, []byte("b"), b.recv())
			assert.Equal(t, []byte("c2"), c.call([]byte("c2")), "the refused client's connection still works")
		})
	}
}

// TestConnModelRefusesWhenFull: with the connection pool and its queue full,
// a new connection gets the busy reply and is closed.
func TestConnModelRefusesWhenFull(t *testing.T) {
	g := newGate()
	rec := newRecorder()
	_, addr, _ := startServer(t, withReplies(server.Config{Handler: g, Model: server.ModelConn, Workers: 1, Queue: 1, Observer: rec}))

	a := dial(t, addr)
	a.send([]byte("a"))
	g.wait(t)
	b := dial(t, addr) // queued: nobody reads it yet
	b.send([]byte("b"))

	c := dial(t, addr)
	assert.Equal(t, busyBlock, c.recv())
	_, err := wire.ReadFrame(c.nc, nil)
	require.ErrorIs(t, err, io.EOF, "the refused connection is closed")
	assert.Equal(t, server.CloseBusy, rec.next(t))

	close(g.release)
	assert.Equal(t, []byte("a"), a.recv())
	a.nc.Close()
	assert.Equal(t, []byte("b"), b.recv(), "the queued connection is served once a worker frees")
}

func TestMaxConns(t *testing.T) {
	rec := newRecorder()
	_, addr, _ := startServer(t, withReplies(server.Config{Handler: echo, MaxConns: 2, Observer: rec}))
	a, b := dial(t, addr), dial(t, addr)
	assert.Equal(t, []byte("a"), a.call([]byte("a")))
	assert.Equal(t, []byte("b"), b.call([]byte("b")))

	c := dial(t, addr)
	assert.Equal(t, busyBlock, c.recv())
	assert.Equal(t, server.CloseBusy, rec.next(t))

	a.nc.Close()
	assert.Equal(t, server.CloseEOF, rec.next(t))
	d := dial(t, addr)
	assert.Equal(t, []byte("d"), d.call([]byte("d")), "a slot freed by a close is usable again")
}

// TestStalledClient: a client that starts a frame and stops gets the
// read-timeout reply and is closed, and other clients are served meanwhile.
func TestStalledClient(t *testing.T) {
	for _, m := range []server.Model{server.ModelPool, server.ModelSerial} {
		t.Run(m.String(), func(t *testing.T) {
			rec := newRecorder()
			const readTimeout = 300 * time.Millisecond
			_, addr, _ := startServer(t, withReplies(server.Config{Handler: echo, Model: m, Workers: 1, ReadTimeout: readTimeout, Observer: rec}))

			stalled := dial(t, addr)
			start := time.Now()
			_, err := stalled.nc.Write([]byte{0, 10, 0, 0}) // 4 of 12 bytes
			require.NoError(t, err)

			healthy := dial(t, addr)
			for i := range 20 {
				msg := fmt.Appendf(nil, "healthy %d", i)
				assert.Equal(t, msg, healthy.call(msg))
			}

			assert.Equal(t, timeoutBlock, stalled.recv(), "the stalled client is told why")
			assert.GreaterOrEqual(t, time.Since(start), readTimeout)
			_, err = wire.ReadFrame(stalled.nc, nil)
			require.ErrorIs(t, err, io.EOF)
			assert.Equal(t, server.CloseReadTimeout, rec.next(t))
			assert.Equal(t, []byte("still"), healthy.call([]byte("still")))
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	rec := newRecorder()
	_, addr, _ := startServer(t, server.Config{Handler: echo, IdleTimeout: 100 * time.Millisecond, ReadTimeout: time.Hour, Observer: rec})
	c := dial(t, addr)
	assert.Equal(t, []byte("x"), c.call([]byte("x")))
	_, err := wire.ReadFrame(c.nc, nil)
	require.ErrorIs(t, err, io.EOF, "an idle connection is closed without a reply")
	assert.Equal(t, server.CloseIdle, rec.next(t))
}

func TestTruncatedRequest(t *testing.T) {
	rec := newRecorder()
	_, addr, _ := startServer(t, server.Config{Handler: echo, Observer: rec})
	c := dial(t, addr)
	_, err := c.nc.Write([]byte{0, 10, 1, 2})
	require.NoError(t, err)
	require.NoError(t, c.nc.(*net.TCPConn).CloseWrite())
	assert.Equal(t, server.CloseTruncated, rec.next(t))
}

func TestFrameTooLarge(t *testing.T) {
	rec := newRecorder()
	_, addr, _ := startServer(t, server.Config{Handler: echo, Framing: wire.Uint32Framing{Max: 16}, Observer: rec})
	c := dial(t, addr)
	ok, err := wire.AppendFrameWith(nil, wire.Uint32Framing{}, []byte("small"))
	require.NoError(t, err)
	_, err = c.nc.Write(ok)
	require.NoError(t, err)
	got, err := wire.ReadFrameWith(c.nc, wire.Uint32Framing{}, nil)
	require.NoError(t, err)
	assert.Equal(t, "small", string(got), "a user's own uint32 framing is served")

	_, err = c.nc.Write([]byte{0, 0, 1, 0})
	require.NoError(t, err)
	assert.Equal(t, server.CloseFrameTooLarge, rec.next(t))
}

func TestHandlerPanicKeepsServing(t *testing.T) {
	for _, m := range allModels {
		t.Run(m.String(), func(t *testing.T) {
			h := server.HandlerFunc(func(_ context.Context, b []byte) []byte {
				if string(b) == "boom" {
					panic("handler bug")
				}
				return append([]byte(nil), b...)
			})
			s, addr, _ := startServer(t, withReplies(server.Config{Handler: h, Model: m}))
			c := dial(t, addr)
			assert.Equal(t, panicBlock, c.call([]byte("boom")))
			assert.Equal(t, []byte("ok"), c.call([]byte("ok")), "same connection, still served")
			assert.Equal(t, uint64(1), s.Stats().Panics)
		})
	}
}

// TestShutdownDrains: requests in flight when Shutdown starts all get their
// replies, idle connections are closed, and new dials fail.
func TestShutdownDrains(t *testing.T) {
	for _, m := range allModels {
		t.Run(m.String(), func(t *testing.T) {
			g := newGate()
			rec := newRecorder()
			s, addr, sv := startServer(t, server.Config{Handler: g, Model: m, Workers: 8, Observer: rec})

			idle := dial(t, addr)
			const inFlight = 5
			conns := make([]*rawConn, inFlight)
			for i := range conns {
				conns[i] = dial(t, addr)
				conns[i].send(fmt.Appendf(nil, "req %d", i))
			}
			// Serial runs one at a time: one in the handler, the rest queued.
			entered := inFlight
			if m == server.ModelSerial {
				entered = 1
			}
			for range entered {
				g.wait(t)
			}
			require.Eventually(t, func() bool { return s.Stats().Pool.Waiting == uint64(inFlight-entered) }, testTimeout, time.Millisecond)

			shutdownFinished := beginShutdown(t, s, sv) // Serve returns once its listener is closed
			require.ErrorIs(t, sv.err, server.ErrServerClosed)
			_, err := net.DialTimeout("tcp", addr, testTimeout)
			require.Error(t, err, "new dials fail once Shutdown has begun")

			_, err = wire.ReadFrame(idle.nc, nil)
			require.ErrorIs(t, err, io.EOF, "the idle connection is closed")

			close(g.release)
			for i, c := range conns {
				assert.Equal(t, fmt.Appendf(nil, "req %d", i), c.recv(), "in-flight request %d gets its reply", i)
			}
			shutdownFinished()
			st := s.Stats()
			assert.Equal(t, uint64(inFlight+1), st.Closed[server.CloseShutdown])
			assert.Zero(t, st.Open)
		})
	}
}

// TestShutdownServesQueuedConnections: in ModelConn a connection waiting in
// the queue for a worker when Shutdown begins is still served if its
// request has arrived (whole, half-closed after it, or only begun), as a
// queued request is in the other models; one that sent nothing is closed.
// Each ends with a clean close (EOF), never a reset: nothing is left unread.
func TestShutdownServesQueuedConnections(t *testing.T) {
	g := newGate()
	rec := newRecorder()
	s, addr, sv := startServer(t, withReplies(server.Config{Handler: g, Model: server.ModelConn, Workers: 1, Queue: 8, Observer: rec}))

	running := dial(t, addr)
	running.send([]byte("running"))
	g.wait(t) // holds the only worker

	whole := dial(t, addr)
	whole.send([]byte("whole"))
	halfClosed := dial(t, addr)
	halfClosed.send([]byte("half-closed"))
	require.NoError(t, halfClosed.nc.(*net.TCPConn).CloseWrite())
	begun := dial(t, addr)
	var frame bytes.Buffer
	require.NoError(t, wire.WriteFrame(&frame, []byte("begun")))
	_, err := begun.nc.Write(frame.Bytes()[:3])
	require.NoError(t, err)
	silent := dial(t, addr)
	require.Eventually(t, func() bool { return s.Stats().Pool.Waiting == 4 }, testTimeout, time.Millisecond,
		"every connection but the first waits for the worker")

	shutdownFinished := beginShutdown(t, s, sv)
	_, err = begun.nc.Write(frame.Bytes()[3:]) // the rest of a request that had begun
	require.NoError(t, err)
	close(g.release)

	for _, tc := range []struct {
		c    *rawConn
		want string
	}{{running, "running"}, {whole, "whole"}, {halfClosed, "half-closed"}, {begun, "begun"}, {silent, ""}} {
		name := tc.want
		if name == "" {
			name = "silent"
		}
		if tc.want != "" {
			b, err := wire.ReadFrame(tc.c.nc, nil)
			if assert.NoError(t, err, "%s: the request gets its reply", name) {
				assert.Equal(t, tc.want, string(b), name)
			}
		}
		_, err := wire.ReadFrame(tc.c.nc, nil)
		assert.ErrorIs(t, err, io.EOF, "%s: then a clean close, not a reset", name)
	}
	shutdownFinished()
	st := s.Stats()
	assert.Equal(t, uint64(4), st.Requests)
	assert.Zero(t, st.Busy)
	assert.Equal(t, uint64(5), st.Closed[server.CloseShutdown])
	assert.Zero(t, st.Open)
}

// TestShutdownRefusesPipelined: requests a client wrote behind the one in
// flight when Shutdown begins are not started; each gets the busy reply,
// so the client knows they were not done, and then the connection closes
// cleanly (EOF), not with a reset for the unread bytes.
func TestShutdownRefusesPipelined(t *testing.T) {
	for _, m := range allModels {
		t.Run(m.String(), func(t *testing.T) {
			g := newGate()
			s, addr, sv := startServer(t, withReplies(server.Config{Handler: g, Model: m, Workers: 2}))
			c := dial(t, addr)
			c.send([]byte("one"))
			c.send([]byte("two"))
			c.send([]byte("three"))
			g.wait(t)

			shutdownFinished := beginShutdown(t, s, sv)
			close(g.release)

			for _, want := range [][]byte{[]byte("one"), busyBlock, busyBlock} {
				b, err := wire.ReadFrame(c.nc, nil)
				require.NoError(t, err, "want %q", want)
				assert.Equal(t, want, b)
			}
			_, err := wire.ReadFrame(c.nc, nil)
			require.ErrorIs(t, err, io.EOF, "a clean close, not a reset")
			shutdownFinished()
			st := s.Stats()
			assert.Equal(t, uint64(1), st.Requests)
			assert.Equal(t, uint64(2), st.Busy)
			assert.Equal(t, uint64(1), st.Closed[server.CloseShutdown])
		})
	}
}

// TestShutdownLimitsArrivingRequests: a request that has only begun to
// arrive when the drain starts has refuseLimit (1 s) more to arrive, not the
// whole read timeout, so that one byte from a slow or stalled peer cannot
// hold every shutdown to the drain deadline. The client is told its request
// could not be read.
func TestShutdownLimitsArrivingRequests(t *testing.T) {
	for _, m := range allModels {
		t.Run(m.String(), func(t *testing.T) {
			log, hook := logtest.NewNullLogger()
			s, err := server.New(withReplies(server.Config{Handler: echo, Model: m, Workers: 2, ReadTimeout: time.Minute, Logger: log}))
			require.NoError(t, err)
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			ln := &readSignalListener{Listener: inner, read: make(chan int, 16)}
			served := make(chan error, 1)
			go func() { served <- s.Serve(ln) }()
			t.Cleanup(func() {
				require.NoError(t, s.Close())
				require.ErrorIs(t, <-served, server.ErrServerClosed)
			})

			c := dial(t, inner.Addr().String())
			frame, err := wire.AppendFrame(nil, []byte("a request"))
			require.NoError(t, err)
			_, err = c.nc.Write(frame[:3]) // the header and one byte of the block
			require.NoError(t, err)
			for got := 0; got < 3; { // until the server has read all three
				select {
				case n := <-ln.read:
					got += n
				case <-time.After(testTimeout):
					t.Fatal("the server did not read the request's first bytes")
				}
			}

			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			require.NoError(t, s.Shutdown(ctx), "the drain ends well before the read timeout of a minute")
			assert.Equal(t, timeoutBlock, c.recv())
			_, err = wire.ReadFrame(c.nc, nil)
			require.ErrorIs(t, err, io.EOF)
			assert.Equal(t, uint64(1), s.Stats().Closed[server.CloseReadTimeout])
			var said []string
			for _, e := range hook.AllEntries() {
				said = append(said, e.Message)
			}
			assert.Contains(t, said, "the client started a request but did not finish it before the drain stopped waiting (1s)")
		})
	}
}

// readSignalListener's connections send the size of every read that
// returned bytes on read, so that a test knows what the server has read.
// They keep the socket's SyscallConn, which the drain uses.
type readSignalListener struct {
	net.Listener
	read chan int
}

func (l *readSignalListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &readSignalConn{TCPConn: c.(*net.TCPConn), read: l.read}, nil
}

type readSignalConn struct {
	*net.TCPConn
	read chan int
}

func (c *readSignalConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if n > 0 {
		c.read <- n
	}
	return n, err
}

func TestShutdownDeadline(t *testing.T) {
	g := newGate()
	s, addr, _ := startServer(t, server.Config{Handler: g})
	c := dial(t, addr)
	c.send([]byte("stuck"))
	g.wait(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s.Shutdown(ctx), context.DeadlineExceeded)
	close(g.release) // let Close (in cleanup) finish the handler
}

func TestServeAfterClose(t *testing.T) {
	s, err := server.New(server.Config{Handler: echo})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.ErrorIs(t, s.Serve(ln), server.ErrServerClosed)
	require.ErrorIs(t, s.ListenAndServe("127.0.0.1:0"), server.ErrServerClosed)
}

func TestResize(t *testing.T) {
	var g gauge
	release := make(chan struct{})
	h := server.HandlerFunc(func(_ context.Context, b []byte) []byte {
		g.enter()
		defer g.leave()
		<-release
		return b
	})
	s, addr, _ := startServer(t, server.Config{Handler: h, Workers: 1, Queue: 10})
	for i := range 3 {
		c := dial(t, addr)
		c.send([]byte{byte(i)})
	}
	require.Eventually(t, func() bool { return s.Stats().Pool.Waiting == 2 }, testTimeout, time.Millisecond)
	require.NoError(t, s.Resize(3))
	require.Eventually(t, func() bool { return g.now.Load() == 3 }, testTimeout, time.Millisecond, "queued requests start after Resize")
	close(release)

	require.ErrorIs(t, s.Resize(0), server.ErrInvalidConfig)
	us, err := server.New(server.Config{Handler: echo, Model: server.ModelUnbounded})
	require.NoError(t, err)
	require.ErrorIs(t, us.Resize(4), server.ErrNoPool)
	require.NoError(t, us.Close())
}

func TestWorkDelayHoldsTheWorker(t *testing.T) {
	rec := timing{service: make(chan time.Duration, 1)}
	_, addr, _ := startServer(t, server.Config{Handler: server.WithWork(echo, server.Work{Delay: 20 * time.Millisecond, CPU: 10}), Workers: 1, Observer: rec})
	c := dial(t, addr)
	assert.Equal(t, []byte("x"), c.call([]byte("x")))
	select {
	case d := <-rec.service:
		assert.GreaterOrEqual(t, d, 20*time.Millisecond, "the delay is part of the service time")
	case <-time.After(testTimeout):
		t.Fatal("no request observed")
	}
}

type timing struct{ service chan time.Duration }

func (r timing) RequestDone(_, _ []byte, _, service time.Duration, _ bool) { r.service <- service }
func (r timing) ConnClosed(server.CloseReason)                             {}

func TestCloseReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range server.CloseReasons() {
		name := r.String()
		assert.NotContains(t, name, "CloseReason(")
		assert.False(t, seen[name], "duplicate name %q", name)
		seen[name] = true
	}
	assert.Contains(t, server.CloseReason(99).String(), "CloseReason(")
	assert.True(t, errors.Is(fmt.Errorf("x: %w", server.ErrServerClosed), server.ErrServerClosed))
}

// TestAnnouncedSizeDoesNotAllocate: a client that announces a large frame
// and sends little of it must not make the server allocate the whole
// announced size, or a few thousand such connections exhaust memory.
func TestAnnouncedSizeDoesNotAllocate(t *testing.T) {
	rec := newRecorder()
	s, addr, _ := startServer(t, server.Config{Handler: echo, Framing: wire.Uint32Framing{Max: 1 << 20}, Observer: rec})
	const conns = 100 // each announces 1 MiB and sends 10 bytes
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range conns {
		c := dial(t, addr)
		_, err := c.nc.Write(append([]byte{0, 0x10, 0, 0}, make([]byte, 10)...))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return s.Stats().Open == conns }, testTimeout, time.Millisecond)
	// The server has read the headers once every connection is blocked in
	// its body read; a request with a reply proves the loop is past them.
	probe := dial(t, addr)
	ok, err := wire.AppendFrameWith(nil, wire.Uint32Framing{}, []byte("probe"))
	require.NoError(t, err)
	_, err = probe.nc.Write(ok)
	require.NoError(t, err)
	_, err = wire.ReadFrameWith(probe.nc, wire.Uint32Framing{}, nil)
	require.NoError(t, err)
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(conns<<20)/4,
		"%d connections announcing 1 MiB each must not cost 1 MiB each", conns)
}

func TestConfigEffectiveWorkers(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  server.Config
		want int
	}{
		{"pool default", server.Config{}, server.DefaultWorkers()},
		{"pool 7", server.Config{Workers: 7}, 7},
		{"conn 3", server.Config{Model: server.ModelConn, Workers: 3}, 3},
		{"serial", server.Config{Model: server.ModelSerial, Workers: 9}, 1},
		{"unbounded", server.Config{Model: server.ModelUnbounded}, 0},
		{"adaptive, default start", server.Config{Adaptive: &server.AdaptiveConfig{}}, server.DefaultWorkers()},
		{"adaptive, start 5", server.Config{Workers: 5, Adaptive: &server.AdaptiveConfig{}}, 5},
		{"adaptive, default above max", server.Config{Adaptive: &server.AdaptiveConfig{Limit: pool.Gradient2Config{Max: 1}}}, 1},
		{"adaptive, default below min", server.Config{Adaptive: &server.AdaptiveConfig{Limit: pool.Gradient2Config{Min: 300}}}, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.cfg.EffectiveWorkers())
			if tc.cfg.Model == server.ModelUnbounded {
				return
			}
			tc.cfg.Handler = echo
			s, err := server.New(tc.cfg)
			require.NoError(t, err)
			defer s.Close()
			assert.Equal(t, tc.want, s.Stats().Pool.Workers, "what a Server starts with")
		})
	}
}
