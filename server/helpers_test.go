package server_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

// testTimeout bounds every wait in these tests so a bug fails instead of
// hanging.
const testTimeout = 10 * time.Second

var (
	busyBlock    = wire.ErrorBlock(wire.MsgBusy)
	timeoutBlock = wire.ErrorBlock(wire.MsgReadData)
	panicBlock   = wire.ErrorBlock(wire.MsgInternal)
)

// withReplies sets the server's own replies to the protocol's.
func withReplies(cfg server.Config) server.Config {
	cfg.BusyReply, cfg.ReadTimeoutReply, cfg.InternalErrorReply = busyBlock, timeoutBlock, panicBlock
	return cfg
}

// served is closed when Serve returns; err is what it returned.
type served struct {
	done chan struct{}
	err  error
}

// startServer serves cfg on an ephemeral loopback port until the test ends.
func startServer(t *testing.T, cfg server.Config) (*server.Server, string, *served) {
	t.Helper()
	s, err := server.New(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sv := &served{done: make(chan struct{})}
	go func() {
		sv.err = s.Serve(ln)
		close(sv.done)
	}()
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		<-sv.done
		require.ErrorIs(t, sv.err, server.ErrServerClosed)
	})
	return s, ln.Addr().String(), sv
}

// beginShutdown starts s.Shutdown in the background and waits until Serve,
// sv, has returned (the listener is closed). The function it returns waits
// for Shutdown to finish and requires it to succeed.
func beginShutdown(t *testing.T, s *server.Server, sv *served) (finished func()) {
	t.Helper()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	select {
	case <-sv.done:
	case <-time.After(testTimeout):
		t.Fatal("Shutdown did not stop Serve")
	}
	return func() {
		t.Helper()
		select {
		case err := <-shut:
			require.NoError(t, err)
		case <-time.After(testTimeout):
			t.Fatal("Shutdown did not return")
		}
	}
}

// rawConn speaks frames to the server with no client library in between.
type rawConn struct {
	t  *testing.T
	nc net.Conn
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	require.NoError(t, err)
	require.NoError(t, nc.SetDeadline(time.Now().Add(testTimeout)))
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc}
}

func (c *rawConn) send(block []byte) {
	c.t.Helper()
	require.NoError(c.t, wire.WriteFrame(c.nc, block))
}

func (c *rawConn) recv() []byte {
	c.t.Helper()
	b, err := wire.ReadFrame(c.nc, nil)
	require.NoError(c.t, err)
	return b
}

// call sends block and returns the reply.
func (c *rawConn) call(block []byte) []byte {
	c.t.Helper()
	c.send(block)
	return c.recv()
}

// echo answers every block with itself.
var echo = server.HandlerFunc(func(_ context.Context, b []byte) []byte { return append([]byte(nil), b...) })

// gauge tracks how many handlers run at once and the most ever seen.
type gauge struct {
	now, peak atomic.Int64
}

func (g *gauge) enter() {
	n := g.now.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (g *gauge) leave() { g.now.Add(-1) }

// gate is a handler that announces each request on entered and holds it
// until release is closed.
type gate struct {
	entered chan []byte
	release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan []byte, 100), release: make(chan struct{})} }

func (g *gate) ServeFrame(ctx context.Context, b []byte) []byte {
	b = append([]byte(nil), b...)
	g.entered <- b
	select {
	case <-g.release:
	case <-ctx.Done(): // Close cancels it
	}
	return b
}

// wait returns the next request to enter the handler.
func (g *gate) wait(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-g.entered:
		return b
	case <-time.After(testTimeout):
		t.Fatal("no request reached the handler")
		return nil
	}
}

// recorder is an Observer that counts closes by reason.
type recorder struct {
	mu     sync.Mutex
	closes []server.CloseReason
	closed chan server.CloseReason
}

func newRecorder() *recorder { return &recorder{closed: make(chan server.CloseReason, 1000)} }

func (r *recorder) RequestDone([]byte, []byte, time.Duration, time.Duration, bool) {}

func (r *recorder) ConnClosed(reason server.CloseReason) {
	r.mu.Lock()
	r.closes = append(r.closes, reason)
	r.mu.Unlock()
	r.closed <- reason
}

func (r *recorder) next(t *testing.T) server.CloseReason {
	t.Helper()
	select {
	case reason := <-r.closed:
		return reason
	case <-time.After(testTimeout):
		t.Fatal("no connection closed")
		return 0
	}
}
