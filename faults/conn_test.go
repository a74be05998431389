package faults_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"
)

// pipeOf makes loopback TCP pairs with both ends passed through wrap.
func pipeOf(wrap func(net.Conn) net.Conn) nettest.MakePipe {
	return func() (c1, c2 net.Conn, stop func(), err error) {
		a, b, err := dialPair()
		if err != nil {
			return nil, nil, nil, err
		}
		c1, c2 = wrap(a), wrap(b)
		return c1, c2, func() { _ = c1.Close(); _ = c2.Close() }, nil
	}
}

// inert are faults that take the wrapper's full path but change nothing on
// the traffic nettest sends.
var inert = []faults.Fault{
	faults.Slow{},
	faults.Chunk{Max: 1 << 16},
	faults.Stall{At: 1 << 62, For: time.Hour},
	faults.Cut{At: 1 << 62},
	faults.Blackhole{At: 1 << 62},
	faults.Corrupt{At: 1 << 62},
	faults.ShortWrite{At: 1 << 62},
}

func TestConnConformance(t *testing.T) {
	tests := []struct {
		name string
		wrap func(net.Conn) net.Conn
	}{
		{"Wrap", func(c net.Conn) net.Conn { return faults.Wrap(c) }},
		{"WrapInert", func(c net.Conn) net.Conn { return faults.Wrap(c, inert...) }},
		{"Recorder", func(c net.Conn) net.Conn { return faults.NewRecorder(c) }},
		{"RecorderUnderInert", func(c net.Conn) net.Conn { return faults.Wrap(faults.NewRecorder(c), inert...) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { nettest.TestConn(t, pipeOf(tt.wrap)) })
	}
}

func TestListenerAndDialerConformance(t *testing.T) {
	for _, fs := range [][]faults.Fault{nil, inert} {
		t.Run(faults.FormatSpec(fs), func(t *testing.T) {
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				raw, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					return nil, nil, nil, err
				}
				ln := faults.WrapListener(raw, faults.ListenerConfig{Faults: fs})
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
				d := faults.Dialer{Faults: fs}
				c1, err = d.DialContext(t.Context(), "tcp", ln.Addr().String())
				r := <-ch
				if err != nil || r.err != nil {
					if c1 != nil {
						_ = c1.Close()
					}
					if r.c != nil {
						_ = r.c.Close()
					}
					return nil, nil, nil, err
				}
				return c1, r.c, func() { _ = c1.Close(); _ = r.c.Close() }, nil
			})
		})
	}
}

func TestWrapHalfClose(t *testing.T) {
	a, b := tcpPair(t)
	for _, c := range []net.Conn{faults.Wrap(a), faults.Wrap(a, faults.Chunk{Max: 1}), faults.NewRecorder(a)} {
		_, ok := c.(interface{ CloseWrite() error })
		assert.True(t, ok, "%T has CloseWrite", c)
		_, ok = c.(interface{ NetConn() net.Conn })
		assert.True(t, ok, "%T has NetConn", c)
	}
	c := faults.Wrap(a, faults.Chunk{Max: 1})
	_, err := c.Write([]byte("bye"))
	require.NoError(t, err)
	require.NoError(t, c.(interface{ CloseWrite() error }).CloseWrite())
	got, err := io.ReadAll(b)
	require.NoError(t, err)
	assert.Equal(t, "bye", string(got))

	p1, p2 := net.Pipe()
	t.Cleanup(func() { _ = p1.Close(); _ = p2.Close() })
	err = faults.Wrap(p1).(interface{ CloseWrite() error }).CloseWrite()
	require.ErrorIs(t, err, faults.ErrNoHalfClose)
}

func TestWrapPanicsOnInvalidFault(t *testing.T) {
	a, _ := tcpPair(t)
	assert.PanicsWithError(t, "fault 0: faults: invalid fault: chunk: max 0, want at least 1", func() {
		faults.Wrap(a, faults.Chunk{})
	})
	assert.Panics(t, func() { faults.OnRead(faults.OnWrite(faults.Cut{})) })
}

// WrapSeed draws the same random choices as a Dialer with the same Seed,
// and Wrap draws those of seed 0.
func TestWrapSeed(t *testing.T) {
	chunk := faults.OnRead(faults.Chunk{Min: 1, Max: 8})
	// sizes reads 64 bytes through the connection wrap makes and returns
	// the size of each read.
	sizes := func(wrap func(net.Conn) net.Conn) []int {
		client, server := net.Pipe()
		t.Cleanup(func() { _ = client.Close() })
		go func() {
			_, _ = server.Write(seq(64))
			_ = server.Close()
		}()
		c := wrap(client)
		var got []int
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if err != nil {
				require.ErrorIs(t, err, io.EOF)
				return got
			}
			got = append(got, n)
		}
	}
	dialed := func(seed uint64) func(net.Conn) net.Conn {
		return func(nc net.Conn) net.Conn {
			d := faults.Dialer{
				Dial:   func(context.Context, string, string) (net.Conn, error) { return nc, nil },
				Faults: []faults.Fault{chunk},
				Seed:   seed,
			}
			c, err := d.DialContext(t.Context(), "tcp", "pipe")
			require.NoError(t, err)
			return c
		}
	}

	seeded := sizes(func(nc net.Conn) net.Conn { return faults.WrapSeed(nc, 7, chunk) })
	assert.Equal(t, sizes(dialed(7)), seeded, "as a Dialer with the same seed")
	assert.NotEqual(t, sizes(dialed(0)), seeded, "another seed, other sizes")
	assert.Equal(t, sizes(dialed(0)), sizes(func(nc net.Conn) net.Conn { return faults.Wrap(nc, chunk) }), "Wrap uses seed 0")

	a, _ := tcpPair(t)
	assert.PanicsWithError(t, "fault 0: faults: invalid fault: chunk: max 0, want at least 1", func() {
		faults.WrapSeed(a, 1, faults.Chunk{})
	})
}
