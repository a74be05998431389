package faults_test

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tcpPair returns the two ends of a loopback TCP connection, closed at
// cleanup.
func tcpPair(t testing.TB) (a, b net.Conn) {
	t.Helper()
	a, b, err := dialPair()
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = a.Close()
		_ = b.Close()
	})
	return a, b
}

// dialPair makes a loopback TCP connection on an ephemeral port.
func dialPair() (a, b net.Conn, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		<-ch
		return nil, nil, err
	}
	r := <-ch
	if r.err != nil {
		_ = a.Close()
		return nil, nil, r.err
	}
	return a, r.c, nil
}

// seq returns n bytes 0, 1, 2, ...
func seq(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}

// requireTimeout checks that err is a real-looking timeout.
func requireTimeout(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "Timeout() of %v", err)
}

// echoServer is an upstream that echoes each connection until EOF, then
// closes it.
type echoServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startEcho(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e := &echoServer{ln: ln}
	e.wg.Add(1)
	go e.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		e.wg.Wait()
	})
	return ln.Addr().String()
}

func (e *echoServer) serve() {
	defer e.wg.Done()
	var conns sync.Map
	defer func() {
		conns.Range(func(k, _ any) bool { _ = k.(net.Conn).Close(); return true })
	}()
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return
		}
		conns.Store(c, nil)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer conns.Delete(c)
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// startProxy starts a proxy, closed at cleanup.
func startProxy(t testing.TB, cfg faults.Config) *faults.Proxy {
	t.Helper()
	p, err := faults.NewProxy(cfg)
	require.NoError(t, err)
	require.NoError(t, p.Start())
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// roundTrip sends msg on a new connection to addr, half-closes and returns
// everything read back until EOF or an error. A failed write or half-close
// (the far side may have dropped the connection already) still reads, and
// the read's error wins.
func roundTrip(ctx context.Context, addr string, msg []byte) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_, werr := c.Write(msg)
	if werr == nil {
		werr = c.(*net.TCPConn).CloseWrite()
	}
	got, err := io.ReadAll(c)
	if err == nil {
		err = werr
	}
	return got, err
}

// openSockets returns the number of sockets the test process has open,
// or -1 where the system does not list its descriptors in /proc/self/fd.
func openSockets(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}
