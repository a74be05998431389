package rawio_test

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/poolside-dev/poolside/internal/rawio"
)

// tcpPair returns the two ends of a loopback TCP connection, closed by
// t.Cleanup.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	c, s, stop, err := makePipe()
	require.NoError(t, err)
	t.Cleanup(stop)
	return c, s
}

func makePipe() (c1, c2 net.Conn, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			s = nil
		}
		accepted <- s
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		<-accepted
		return nil, nil, nil, err
	}
	s := <-accepted
	if s == nil {
		c.Close()
		return nil, nil, nil, errors.New("accept failed")
	}
	return c, s, func() { c.Close(); s.Close() }, nil
}

// TestConnIsANetConn runs x/net's conformance tests of net.Conn
// (deadlines, concurrent reads, writes and closes, what a closed end
// returns) on a TCP pair whose two ends are a rawio.Conn.
func TestConnIsANetConn(t *testing.T) {
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		c1, c2, stop, err := makePipe()
		if err != nil {
			return nil, nil, nil, err
		}
		return rawio.Wrap(c1), rawio.Wrap(c2), stop, nil
	})
}

// TestConnReadsNoMoreThanAsked: a frame's header and body, read in two
// Reads of their exact sizes, leave the next frame's bytes in the socket.
func TestConnReadsNoMoreThanAsked(t *testing.T) {
	c, s := tcpPair(t)
	rc := rawio.Wrap(c)
	if runtime.GOOS == "linux" {
		assert.NotSame(t, c, rc, "a TCP connection gets raw reads and writes")
	}
	_, err := s.Write([]byte("\x00\x03abcNEXT"))
	require.NoError(t, err)
	hdr := make([]byte, 2)
	_, err = io.ReadFull(rc, hdr)
	require.NoError(t, err)
	body := make([]byte, 3)
	_, err = io.ReadFull(rc, body)
	require.NoError(t, err)
	assert.Equal(t, "abc", string(body))
	rest := make([]byte, 16)
	n, err := c.Read(rest) // the plain connection still holds the next frame
	require.NoError(t, err)
	assert.Equal(t, "NEXT", string(rest[:n]))
}

// TestConnErrorsAreNetConns: the end of input, a reset, a deadline and a
// closed connection give the errors net.Conn's own Read gives, word for
// word but for the addresses.
func TestConnErrorsAreNetConns(t *testing.T) {
	type outcome struct {
		msg          string
		eof, timeout bool
		reset        bool
		closed       bool
	}
	read := func(t *testing.T, raw bool, setup func(c, s net.Conn)) outcome {
		c, s := tcpPair(t)
		setup(c, s)
		rc := c
		if raw {
			rc = rawio.Wrap(c)
		}
		_, err := rc.Read(make([]byte, 8))
		require.Error(t, err)
		var ne net.Error
		msg := err.Error()
		if oe, ok := err.(*net.OpError); ok {
			msg = oe.Op + " " + oe.Net + ": " + oe.Err.Error()
		}
		return outcome{
			msg:     msg,
			eof:     err == io.EOF,
			timeout: errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout(),
			reset:   errors.Is(err, syscall.ECONNRESET),
			closed:  errors.Is(err, net.ErrClosed),
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(c, s net.Conn)
		want  func(o outcome) bool
	}{
		{"end of input", func(_, s net.Conn) { s.Close() }, func(o outcome) bool { return o.eof }},
		{"reset", func(_, s net.Conn) { require.NoError(t, s.(*net.TCPConn).SetLinger(0)); s.Close() }, func(o outcome) bool { return o.reset }},
		{"deadline", func(c, _ net.Conn) { require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second))) }, func(o outcome) bool { return o.timeout }},
		{"closed", func(c, _ net.Conn) { c.Close() }, func(o outcome) bool { return o.closed }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, raw := read(t, false, tc.setup), read(t, true, tc.setup)
			assert.True(t, tc.want(plain), "net.Conn: %+v", plain)
			assert.Equal(t, plain, raw)
		})
	}
}

// TestConnWritesAllOfALargeBuffer: a write larger than the socket's
// buffers waits for the peer to read, and ends with all of it written.
func TestConnWritesAllOfALargeBuffer(t *testing.T) {
	c, s := tcpPair(t)
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(s)
		got <- b
	}()
	n, err := rawio.Wrap(c).Write(big)
	require.NoError(t, err)
	assert.Equal(t, len(big), n)
	require.NoError(t, c.Close())
	assert.Equal(t, big, <-got)
}

// TestConnWriteToAResetPeer fails as net.Conn's Write does, with how much
// was written.
func TestConnWriteToAResetPeer(t *testing.T) {
	c, s := tcpPair(t)
	require.NoError(t, s.(*net.TCPConn).SetLinger(0))
	require.NoError(t, s.Close())
	rc := rawio.Wrap(c)
	var err error
	for range 100 { // the first writes may land before the reset is seen
		if _, err = rc.Write([]byte("x")); err != nil {
			break
		}
		runtime.Gosched()
	}
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE), "%v", err)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "write", oe.Op)
}

// TestConnHalfClose: the peer's half-close is the end of input, and a
// Conn closed here fails both ways with net.ErrClosed.
func TestConnHalfClose(t *testing.T) {
	c, s := tcpPair(t)
	w, r := rawio.New(c), rawio.New(s)
	if runtime.GOOS != "linux" {
		require.Nil(t, w)
		return
	}
	n, err := w.Write([]byte("hello"))
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	got, err := io.ReadAll(r)
	require.NoError(t, err, "io.EOF at the peer's half-close")
	assert.Equal(t, "hello", string(got))

	require.NoError(t, r.Close())
	_, err = r.Read(make([]byte, 1))
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = r.Write([]byte{1})
	assert.ErrorIs(t, err, net.ErrClosed)
}

// TestConnOfAWrappedConnIsItself: a connection that is not a socket of
// this process (a fault injector's wrapper, a pipe) is used as it is.
func TestConnOfAWrappedConnIsItself(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	assert.Same(t, a, rawio.Wrap(a))
	assert.Nil(t, rawio.New(a))
}

func TestAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	require.NoError(t, err)
	for _, line := range []string{"head\n", "+ 101 2027-01-02\n", "- 101 2027-01-02\n"} {
		n, err := rawio.Append(f, []byte(line))
		require.NoError(t, err)
		assert.Equal(t, len(line), n)
	}
	b, err := os.ReadFile(path) // what a process reading the file sees
	require.NoError(t, err)
	assert.Equal(t, "head\n+ 101 2027-01-02\n- 101 2027-01-02\n", string(b))

	require.NoError(t, f.Close())
	_, err = rawio.Append(f, []byte("late\n"))
	var pe *os.PathError
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, os.ErrClosed)
	assert.Equal(t, path, pe.Path)
}

func TestAppendToAReadOnlyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = rawio.Append(f, []byte("x"))
	want := func() error { _, err := f.Write([]byte("x")); return err }()
	require.Error(t, err)
	assert.Equal(t, want.Error(), err.Error(), "the error f.Write gives")
}
