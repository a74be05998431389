package faults_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProxyHalfClose(t *testing.T) {
	forEachRelay(t, func(t *testing.T, start func(faults.Config) *faults.Proxy) {
		p := start(faults.Config{Upstream: startEcho(t)})
		const clients = 20
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			delivered int
		)
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Big enough that the reply is still in flight when the
				// request's half-close arrives.
				req := bytes.Repeat([]byte(fmt.Sprintf("request %d;", i)), 20000)
				got, err := roundTrip(t.Context(), p.Addr().String(), req)
				if assert.NoError(t, err) && assert.Equal(t, len(req), len(got)) && assert.True(t, bytes.Equal(req, got)) {
					mu.Lock()
					delivered++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, clients, delivered, "replies delivered")
		assert.Equal(t, uint64(clients), p.Stats().Accepted)
	})
}

func TestProxyFaults(t *testing.T) {
	msg := []byte("0123456789")
	tests := []struct {
		name     string
		up, down string
		want     []byte // the reply, or with prefix set, what it is a prefix of
		prefix   bool
		err      error
	}{
		{"none", "", "", msg, false, nil},
		{"down chunked", "", "chunk=1..3", msg, false, nil},
		{"up corrupt", "corrupt=1", "", []byte("0\xce23456789"), false, nil},
		{"down corrupt", "", "corrupt=2^0x01", []byte("01\x333456789"), false, nil},
		{"down cut", "", "cut=4", msg[:4], false, nil},
		{"up cut drops the link", "cut=3", "", msg[:3], true, nil},
		{"down reset", "", "reset=0", nil, false, syscall.ECONNRESET},
		{"up reset", "reset=0", "", nil, false, syscall.ECONNRESET},
	}
	echo := startEcho(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := faults.ParseSpec(tt.up)
			require.NoError(t, err)
			down, err := faults.ParseSpec(tt.down)
			require.NoError(t, err)
			p := startProxy(t, faults.Config{Upstream: echo, Up: up, Down: down, Seed: 1})
			got, err := roundTrip(t.Context(), p.Addr().String(), msg)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			if tt.prefix {
				// The link drops as soon as the proxy notices; part of the
				// reply may have been relayed by then.
				assert.True(t, bytes.HasPrefix(tt.want, got), "reply %q", got)
				return
			}
			assert.Equal(t, string(tt.want), string(got))
		})
	}
}

func TestProxySetFaults(t *testing.T) {
	p := startProxy(t, faults.Config{Upstream: startEcho(t)})
	addr := p.Addr().String()

	// A connection made before the change gets the new faults too, at its
	// next byte, with offsets counted from its start.
	old, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = old.Close() })
	_, err = old.Write([]byte("before"))
	require.NoError(t, err)
	got := make([]byte, len("before"))
	_, err = io.ReadFull(old, got)
	require.NoError(t, err)
	require.Equal(t, "before", string(got))

	down := []faults.Fault{faults.Cut{At: 8}}
	require.NoError(t, p.SetFaults(nil, down))
	gotUp, gotDown := p.Faults()
	assert.Empty(t, gotUp)
	assert.Equal(t, down, gotDown)

	got, err = roundTrip(t.Context(), addr, []byte("hello world"))
	require.NoError(t, err)
	assert.Equal(t, "hello wo", string(got), "a new connection gets the new faults")
	_, err = old.Write([]byte("after"))
	require.NoError(t, err)
	got, err = io.ReadAll(old)
	require.NoError(t, err)
	assert.Equal(t, "af", string(got), "the open connection is cut at its byte 8")

	err = p.SetFaults([]faults.Fault{faults.OnRead(faults.Chunk{Max: 1})}, nil)
	require.ErrorIs(t, err, faults.ErrInvalidConfig)
	err = p.SetFaults(nil, []faults.Fault{faults.Chunk{}})
	require.ErrorIs(t, err, faults.ErrInvalidFault)
	_, gotDown = p.Faults()
	assert.Equal(t, down, gotDown, "a refused change changes nothing")

	require.NoError(t, p.SetFaults(nil, nil))
	got, err = roundTrip(t.Context(), addr, []byte("hello"))
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))
}

func TestProxySetFaultsConcurrently(t *testing.T) {
	p := startProxy(t, faults.Config{Upstream: startEcho(t)})
	specs := []string{"", "chunk=2", "delay=1ms", "chunk=1..4,corrupt=100"}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := range 20 {
				fs, err := faults.ParseSpec(specs[(i+j)%len(specs)])
				assert.NoError(t, err)
				assert.NoError(t, p.SetFaults(fs, fs))
				_, _ = p.Faults()
			}
		}()
		go func() {
			defer wg.Done()
			for range 5 {
				got, err := roundTrip(t.Context(), p.Addr().String(), []byte("ping"))
				if assert.NoError(t, err) {
					assert.Equal(t, "ping", string(got))
				}
			}
		}()
	}
	wg.Wait()
}

func TestProxyShutdownWaitsForConnections(t *testing.T) {
	forEachRelay(t, func(t *testing.T, start func(faults.Config) *faults.Proxy) {
		p := start(faults.Config{Upstream: startEcho(t)})
		c, err := net.Dial("tcp", p.Addr().String())
		require.NoError(t, err)
		_, err = c.Write([]byte("x"))
		require.NoError(t, err)
		_, err = io.ReadFull(c, make([]byte, 1)) // the link is up
		require.NoError(t, err)

		expired, cancel := context.WithCancel(t.Context())
		cancel()
		require.ErrorIs(t, p.Shutdown(expired), context.Canceled, "a connection is still being relayed")
		assert.Equal(t, int64(1), p.Stats().Active)

		_, err = net.Dial("tcp", p.Addr().String())
		require.Error(t, err, "no more accepts")

		require.NoError(t, c.Close())
		require.NoError(t, p.Shutdown(t.Context()))
		assert.Equal(t, int64(0), p.Stats().Active)
		require.ErrorIs(t, p.Start(), faults.ErrProxyClosed)
	})
}

func TestProxyCloseWakesSleepingFaults(t *testing.T) {
	p, err := faults.NewProxy(faults.Config{
		Upstream: startEcho(t),
		Up:       []faults.Fault{faults.Stall{At: 1, For: time.Hour}},
		Down:     []faults.Fault{faults.Stall{At: 0, For: time.Hour}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	require.NoError(t, p.Start())
	c, err := net.Dial("tcp", p.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = c.Write([]byte("xy"))
	require.NoError(t, err)
	require.NoError(t, p.Close(), "returns although faults sleep for an hour")
	_, err = io.ReadAll(c)
	if err != nil {
		require.ErrorIs(t, err, syscall.ECONNRESET)
	}
}

func TestProxyServe(t *testing.T) {
	p, err := faults.NewProxy(faults.Config{Upstream: startEcho(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	assert.Nil(t, p.Addr())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()

	got, err := roundTrip(t.Context(), ln.Addr().String(), []byte("hi"))
	require.NoError(t, err)
	assert.Equal(t, "hi", string(got))
	assert.Equal(t, ln.Addr(), p.Addr())
	require.ErrorIs(t, p.Start(), faults.ErrProxyServing)

	require.NoError(t, p.Shutdown(t.Context()))
	require.ErrorIs(t, <-served, faults.ErrProxyClosed)
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.ErrorIs(t, p.Serve(ln2), faults.ErrProxyClosed)
	require.ErrorIs(t, ln2.Close(), net.ErrClosed, "Serve always closes its listener")
}

// flakyListener fails Accept with a temporary error a few times, then
// blocks until closed.
type flakyListener struct {
	net.Listener
	mu     sync.Mutex
	fails  int
	calls  []time.Time
	failed chan struct{} // closed after the last failure's retry begins
	closed chan struct{}
	once   sync.Once
}

type tempError struct{}

func (tempError) Error() string   { return "temporary" }
func (tempError) Temporary() bool { return true }
func (tempError) Timeout() bool   { return false }

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls = append(l.calls, time.Now())
	n := len(l.calls)
	l.mu.Unlock()
	if n <= l.fails {
		return nil, tempError{}
	}
	if n == l.fails+1 {
		close(l.failed)
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *flakyListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *flakyListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func TestProxyAcceptBackoff(t *testing.T) {
	p, err := faults.NewProxy(faults.Config{Upstream: "127.0.0.1:1"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	ln := &flakyListener{fails: 4, failed: make(chan struct{}), closed: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	<-ln.failed
	require.NoError(t, p.Close())
	require.ErrorIs(t, <-served, faults.ErrProxyClosed)

	ln.mu.Lock()
	defer ln.mu.Unlock()
	require.Len(t, ln.calls, 5)
	for i, want := range []time.Duration{5, 10, 20, 40} {
		assert.GreaterOrEqual(t, ln.calls[i+1].Sub(ln.calls[i]), want*time.Millisecond, "pause %d", i)
	}
}

func TestProxyDialError(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := dead.Addr().String()
	require.NoError(t, dead.Close())

	var logged bytes.Buffer
	p := startProxy(t, faults.Config{Upstream: addr, DialTimeout: time.Second, ErrorLog: log.New(&logged, "", 0)})
	got, _ := roundTrip(t.Context(), p.Addr().String(), []byte("hi"))
	assert.Empty(t, got, "the client's connection just ends")
	require.NoError(t, p.Shutdown(t.Context()))
	assert.Equal(t, uint64(1), p.Stats().DialErrors)
	assert.Contains(t, logged.String(), "cannot reach the upstream "+addr)
	assert.Equal(t, 1, strings.Count(logged.String(), "\n"), "one line per failed connection")
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  faults.Config
		err  error
	}{
		{"upstream only", faults.Config{Upstream: "127.0.0.1:9407"}, nil},
		{"full", faults.Config{Listen: ":0", Upstream: "localhost:9407", Up: []faults.Fault{faults.Chunk{Max: 1}},
			Down: []faults.Fault{faults.Cut{At: 9}}, Seed: 7, DialTimeout: time.Second}, nil},
		{"zero", faults.Config{}, faults.ErrInvalidConfig},
		{"upstream without port", faults.Config{Upstream: "localhost"}, faults.ErrInvalidConfig},
		{"bad listen", faults.Config{Upstream: "h:1", Listen: "nope"}, faults.ErrInvalidConfig},
		{"listen port out of range", faults.Config{Upstream: "h:1", Listen: "127.0.0.1:99999"}, faults.ErrInvalidConfig},
		{"upstream port not a number", faults.Config{Upstream: "127.0.0.1:abc"}, faults.ErrInvalidConfig},
		{"upstream port out of range", faults.Config{Upstream: "127.0.0.1:99999"}, faults.ErrInvalidConfig},
		{"upstream port 0", faults.Config{Upstream: "127.0.0.1:0"}, faults.ErrInvalidConfig},
		{"upstream with a space", faults.Config{Upstream: " 127.0.0.1:9407"}, faults.ErrInvalidConfig},
		{"upstream named port", faults.Config{Upstream: "localhost:http"}, nil},
		{"negative dial timeout", faults.Config{Upstream: "h:1", DialTimeout: -1}, faults.ErrInvalidConfig},
		{"directed up", faults.Config{Upstream: "h:1", Up: []faults.Fault{faults.OnWrite(faults.Cut{})}}, faults.ErrInvalidConfig},
		{"invalid down", faults.Config{Upstream: "h:1", Down: []faults.Fault{faults.Slow{Delay: 1, Rate: 1}}}, faults.ErrInvalidFault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.err)
			_, err = faults.NewProxy(tt.cfg)
			require.ErrorIs(t, err, tt.err)
		})
	}
}

// A Go caller who wraps a proxy fault with OnRead or OnWrite hears about
// OnRead and OnWrite, not about a spec's prefixes.
func TestConfigValidateSpeaksGo(t *testing.T) {
	err := faults.Config{Upstream: "h:1", Up: []faults.Fault{faults.Chunk{Max: 1}, faults.OnRead(faults.Cut{At: 1})}}.Validate()
	require.ErrorIs(t, err, faults.ErrInvalidConfig)
	assert.EqualError(t, err, "faults: invalid config: Up[1] is OnRead(faults.Cut{At:1}): drop the OnRead (Up already says which bytes its faults act on)")

	p, err := faults.NewProxy(faults.Config{Upstream: "h:1"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	err = p.SetFaults(nil, []faults.Fault{faults.OnWrite(faults.ShortWrite{At: 3})})
	require.ErrorIs(t, err, faults.ErrInvalidConfig)
	assert.EqualError(t, err, "faults: invalid config: Down[0] is OnWrite(faults.ShortWrite{At:3}): drop the OnWrite (Down already says which bytes its faults act on)")
	assert.NotContains(t, err.Error(), "prefix")
}

// oneShotUpstream accepts one connection on a new listener and hands it to
// serve, in the background; the test's cleanup waits for serve.
func oneShotUpstream(t *testing.T, serve func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		serve(c.(*net.TCPConn))
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// A blackhole loses everything in its direction, the connection's end
// included: neither the upstream's FIN or RST reaches a client behind a Down
// blackhole, nor the client's half-close an upstream behind an Up one.
// Only the waiting side's own deadline ends its wait.
func TestProxyBlackholeLosesTheEnd(t *testing.T) {
	const wait = 50 * time.Millisecond
	t.Run("down, upstream closes", func(t *testing.T) {
		up := oneShotUpstream(t, func(c *net.TCPConn) { _, _ = c.Write([]byte("hello")) })
		p := startProxy(t, faults.Config{Upstream: up, Down: []faults.Fault{faults.Blackhole{}}})
		c, err := net.Dial("tcp", p.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
		n, err := c.Read(make([]byte, 10))
		requireTimeout(t, err)
		assert.Zero(t, n)
	})
	t.Run("down, upstream resets", func(t *testing.T) {
		// The upstream resets only once a byte came through the proxy: a
		// reset before the proxy's dial returned would fail the dial
		// instead, and the proxy closes a client it cannot relay.
		up := oneShotUpstream(t, func(c *net.TCPConn) {
			_, _ = io.ReadFull(c, make([]byte, 1))
			_ = c.SetLinger(0)
		})
		p := startProxy(t, faults.Config{Upstream: up, Down: []faults.Fault{faults.Blackhole{}}})
		c, err := net.Dial("tcp", p.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write([]byte{1})
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
		n, err := c.Read(make([]byte, 10))
		requireTimeout(t, err)
		assert.Zero(t, n)
	})
	t.Run("down, client half-closes", func(t *testing.T) {
		// The upstream answers a request that ends with the client's
		// half-close, then closes: the rest of the answer is lost. Once
		// the client has ended its own stream, the proxy cannot tell a
		// half-close from a close, so when the upstream has ended too it
		// releases the link, and the client reads its end.
		up := oneShotUpstream(t, func(c *net.TCPConn) {
			_, _ = io.ReadAll(c)
			_, _ = c.Write(seq(10))
		})
		p := startProxy(t, faults.Config{Upstream: up, Down: []faults.Fault{faults.Blackhole{At: 5}}})
		c, err := net.Dial("tcp", p.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write([]byte("request"))
		require.NoError(t, err)
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		b, err := io.ReadAll(c)
		require.NoError(t, err, "released once both sides have ended")
		assert.Equal(t, seq(5), b, "what came before the blackhole, and nothing after")
		require.Eventually(t, func() bool { return p.Stats().Active == 0 }, 10*time.Second, 5*time.Millisecond,
			"the link is released without waiting for the proxy to stop")
	})
	t.Run("down, client resets", func(t *testing.T) {
		// A client that resets has gone for good: its held side is closed
		// at once, not held until the proxy shuts down.
		release := make(chan struct{})
		up := oneShotUpstream(t, func(c *net.TCPConn) {
			_, _ = io.ReadFull(c, make([]byte, 7))
			<-release
		})
		defer close(release)
		p := startProxy(t, faults.Config{Upstream: up, Down: []faults.Fault{faults.Blackhole{}}})
		c, err := net.Dial("tcp", p.Addr().String())
		require.NoError(t, err)
		_, err = c.Write([]byte("request"))
		require.NoError(t, err)
		require.NoError(t, c.(*net.TCPConn).SetLinger(0))
		require.NoError(t, c.Close())
		require.Eventually(t, func() bool { return p.Stats().Active == 0 }, 10*time.Second, 5*time.Millisecond,
			"the link ends when the client resets")
	})
	t.Run("up, client half-closes", func(t *testing.T) {
		got := make(chan []byte, 1)
		errs := make(chan error, 1)
		up := oneShotUpstream(t, func(c *net.TCPConn) {
			b := make([]byte, 5)
			_, err := io.ReadFull(c, b)
			got <- b
			if err == nil {
				_ = c.SetReadDeadline(time.Now().Add(wait))
				_, err = c.Read(make([]byte, 10))
			}
			errs <- err
		})
		p := startProxy(t, faults.Config{Upstream: up, Up: []faults.Fault{faults.Blackhole{At: 5}}})
		c, err := net.Dial("tcp", p.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write(seq(10))
		require.NoError(t, err)
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
		assert.Equal(t, seq(5), <-got)
		requireTimeout(t, <-errs)
	})
}

// A Cut that falls exactly at the end of a relayed write drops the whole
// connection, as one inside a write does: the other side is closed too,
// not just half-closed.
func TestProxyCutAtAWriteBoundaryClosesBoth(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(up string) faults.Config
	}{
		{"down", func(up string) faults.Config {
			return faults.Config{Upstream: up, Down: []faults.Fault{faults.Cut{At: 5}}}
		}},
		{"up", func(up string) faults.Config {
			return faults.Config{Upstream: up, Up: []faults.Fault{faults.Cut{At: 5}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			up := oneShotUpstream(t, func(c *net.TCPConn) {
				if tc.name == "down" {
					_, _ = c.Write(seq(5))
				} else {
					_, _ = io.ReadFull(c, make([]byte, 5))
				}
				<-release // keep the upstream's socket open, whatever arrives
			})
			defer close(release)
			p := startProxy(t, tc.cfg(up))
			c, err := net.Dial("tcp", p.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			if tc.name == "up" {
				_, err = c.Write(seq(5))
				require.NoError(t, err)
			}
			require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
			_, err = io.ReadAll(c)
			require.NoError(t, err, "the client sees the end")
			require.Eventually(t, func() bool { return p.Stats().Active == 0 }, 10*time.Second, 5*time.Millisecond,
				"the link ends although the client keeps its write side open and the upstream its socket")
		})
	}
}

// A second Start on a fixed address reports that the proxy serves, not the
// address in use.
func TestProxyStartTwice(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	p := startProxy(t, faults.Config{Listen: addr, Upstream: startEcho(t)})
	require.ErrorIs(t, p.Start(), faults.ErrProxyServing)
	assert.Equal(t, addr, p.Addr().String())
}

// startGreeter is an upstream that writes "hello" on each connection it
// accepts and closes it.
func startGreeter(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hello"))
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// A blackholed link is released as soon as the side that can no longer
// hear anything ends its own stream, whether it closed or only
// half-closed: many clients that come and go through a blackhole leave no
// connection and no descriptor behind, as they would with no faults.
func TestProxyBlackholeReleasesLinks(t *testing.T) {
	const clients = 50
	tests := []struct {
		name     string
		upstream func(t testing.TB) string
		cfg      func(up string) faults.Config
		client   func(t *testing.T, c *net.TCPConn)
	}{
		{"down, clients close", startEcho,
			func(up string) faults.Config {
				return faults.Config{Upstream: up, Down: []faults.Fault{faults.Blackhole{}}}
			},
			func(t *testing.T, c *net.TCPConn) {
				_, err := c.Write([]byte("request"))
				require.NoError(t, err)
				require.NoError(t, c.Close())
			}},
		{"down, clients half-close", startEcho,
			func(up string) faults.Config {
				return faults.Config{Upstream: up, Down: []faults.Fault{faults.Blackhole{At: 3}}}
			},
			func(t *testing.T, c *net.TCPConn) {
				_, err := c.Write([]byte("request"))
				require.NoError(t, err)
				require.NoError(t, c.CloseWrite())
				require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
				got, err := io.ReadAll(c)
				require.NoError(t, err, "the end arrives once the client has ended its own stream")
				assert.Equal(t, "req", string(got), "what came before the blackhole")
				require.NoError(t, c.Close())
			}},
		{"up, upstream closes", startGreeter,
			func(up string) faults.Config {
				return faults.Config{Upstream: up, Up: []faults.Fault{faults.Blackhole{}}}
			},
			func(t *testing.T, c *net.TCPConn) {
				_, err := c.Write([]byte("request"))
				require.NoError(t, err)
				require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
				got, err := io.ReadAll(c)
				require.NoError(t, err)
				assert.Equal(t, "hello", string(got))
				require.NoError(t, c.Close())
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, tt.cfg(tt.upstream(t)))
			before := openSockets(t)
			for range clients {
				c, err := net.Dial("tcp", p.Addr().String())
				require.NoError(t, err)
				t.Cleanup(func() { _ = c.Close() })
				tt.client(t, c.(*net.TCPConn))
			}
			// A client that only writes and closes is done before the
			// proxy has accepted it: wait for every accept, then for the
			// links to end.
			require.Eventually(t, func() bool { return p.Stats().Accepted == clients }, 10*time.Second, 5*time.Millisecond, "accepted %d of %d", p.Stats().Accepted, clients)
			if !assert.Eventually(t, func() bool { return p.Stats().Active == 0 }, 10*time.Second, 5*time.Millisecond) {
				t.Fatalf("%d of %d links still open after their clients ended", p.Stats().Active, clients)
			}
			if before >= 0 && !assert.Eventually(t, func() bool { return openSockets(t) <= before }, 10*time.Second, 5*time.Millisecond) {
				t.Fatalf("%d sockets open before the clients, %d after they ended", before, openSockets(t))
			}
		})
	}
}
