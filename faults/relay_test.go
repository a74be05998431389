package faults_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// relay is one way a proxy relays a link with no faults (see relays).
type relay struct {
	name  string
	fixed bool             // Config.Fixed
	loop  string           // what faults.RelayLoop reports once a link came ("" for none)
	setup func(*testing.T) // before the proxy starts
}

// forEachRelay runs f as a subtest for every relay; start starts a proxy
// for cfg relaying that way, and checks at the end that it did.
func forEachRelay(t *testing.T, f func(t *testing.T, start func(faults.Config) *faults.Proxy)) {
	for _, r := range relays {
		t.Run(r.name, func(t *testing.T) {
			if r.setup != nil {
				r.setup(t)
			}
			f(t, func(cfg faults.Config) *faults.Proxy {
				cfg.Fixed = r.fixed
				p := startProxy(t, cfg)
				t.Cleanup(func() { assert.Equal(t, r.loop, relayLoop(p), "what relayed the links") })
				return p
			})
		})
	}
}

// A proxy with no faults carries megabytes both ways at once: each side's
// socket buffers fill, so the relay's writes wait for room while the other
// direction goes on.
func TestProxyRelaysBothWaysAtOnce(t *testing.T) {
	forEachRelay(t, func(t *testing.T, start func(faults.Config) *faults.Proxy) {
		p := start(faults.Config{Upstream: startEcho(t)})
		const clients, size = 4, 4 << 20
		var wg sync.WaitGroup
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", p.Addr().String())
				if !assert.NoError(t, err) {
					return
				}
				defer c.Close()
				msg := bytes.Repeat([]byte{byte(i), 1, 2, 3, 4, 5, 6}, size/7)
				werr := make(chan error, 1)
				go func() {
					_, err := c.Write(msg)
					if err == nil {
						err = c.(*net.TCPConn).CloseWrite()
					}
					werr <- err
				}()
				got, err := io.ReadAll(c)
				assert.NoError(t, err)
				assert.NoError(t, <-werr)
				assert.True(t, bytes.Equal(msg, got), "client %d: %d bytes back of %d", i, len(got), len(msg))
			}()
		}
		wg.Wait()
		st := p.Stats()
		const total = clients * (size / 7 * 7)
		assert.Equal(t, uint64(total), st.BytesUp, "bytes relayed to the upstream")
		assert.Equal(t, uint64(total), st.BytesDown, "bytes relayed to the clients")
	})
}

// A client that reads slower than the upstream writes (its receive buffer
// is small) still gets every byte and then the end: the relay keeps what
// the client's socket does not take yet, and stops reading the upstream
// until it has.
func TestProxyRelaysToASlowReader(t *testing.T) {
	forEachRelay(t, func(t *testing.T, start func(faults.Config) *faults.Proxy) {
		const size = 8 << 20
		want := seq(size)
		up := oneShotUpstream(t, func(c *net.TCPConn) {
			if _, err := c.Write(want); err == nil {
				_ = c.CloseWrite()
			}
			_, _ = io.Copy(io.Discard, c)
		})
		p := start(faults.Config{Upstream: up})
		c := dialSlowReader(t, p.Addr().String())
		got, err := io.ReadAll(c)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(want, got), "%d bytes of %d", len(got), size)
		assert.Equal(t, uint64(size), p.Stats().BytesDown)
	})
}

// Close ends a link whose relay waits to write to a client that reads
// nothing: the write in flight is abandoned, both sockets are closed, and
// the upstream, whose bytes were left unread, is reset.
func TestProxyCloseEndsAStuckWrite(t *testing.T) {
	forEachRelay(t, func(t *testing.T, start func(faults.Config) *faults.Proxy) {
		upErr := make(chan error, 1)
		up := oneShotUpstream(t, func(c *net.TCPConn) {
			_, err := c.Write(seq(64 << 20))
			upErr <- err
		})
		p := start(faults.Config{Upstream: up})
		dialSlowReader(t, p.Addr().String()) // and reads nothing
		require.Eventually(t, func() bool { return p.Stats().BytesDown > 0 }, 10*time.Second, time.Millisecond, "the relay has bytes for the client")
		require.NoError(t, p.Close())
		assert.Zero(t, p.Stats().Active)
		assert.Error(t, <-upErr, "the upstream's write ends")
	})
}

// A real reset on either side of a proxy with no faults resets the other
// side too.
func TestProxyCarriesReset(t *testing.T) {
	forEachRelay(t, func(t *testing.T, start func(faults.Config) *faults.Proxy) {
		t.Run("client resets", func(t *testing.T) {
			upErr := make(chan error, 1)
			up := oneShotUpstream(t, func(c *net.TCPConn) {
				_, err := io.ReadFull(c, make([]byte, 1))
				if err == nil {
					_, err = c.Read(make([]byte, 1))
				}
				upErr <- err
			})
			p := start(faults.Config{Upstream: up})
			c, err := net.Dial("tcp", p.Addr().String())
			require.NoError(t, err)
			_, err = c.Write([]byte{1})
			require.NoError(t, err)
			require.NoError(t, c.(*net.TCPConn).SetLinger(0))
			require.NoError(t, c.Close())
			require.ErrorIs(t, <-upErr, syscall.ECONNRESET)
		})
		t.Run("upstream resets", func(t *testing.T) {
			up := oneShotUpstream(t, func(c *net.TCPConn) {
				_, _ = io.ReadFull(c, make([]byte, 1))
				_ = c.SetLinger(0)
			})
			p := start(faults.Config{Upstream: up})
			c, err := net.Dial("tcp", p.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			_, err = c.Write([]byte{1})
			require.NoError(t, err)
			_, err = c.Read(make([]byte, 1))
			require.ErrorIs(t, err, syscall.ECONNRESET)
		})
	})
}

// Close ends links with no faults that wait in a read, both directions
// idle: the client reads its end and no goroutine is left (main_test.go's
// leak check).
func TestProxyCloseEndsIdleLinks(t *testing.T) {
	forEachRelay(t, func(t *testing.T, start func(faults.Config) *faults.Proxy) {
		p := start(faults.Config{Upstream: startEcho(t)})
		c, err := net.Dial("tcp", p.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write([]byte("ping"))
		require.NoError(t, err)
		_, err = io.ReadFull(c, make([]byte, 4))
		require.NoError(t, err, "the link is up")
		require.NoError(t, p.Close())
		b, err := io.ReadAll(c)
		assert.NoError(t, err)
		assert.Empty(t, b)
		assert.Zero(t, p.Stats().Active)
	})
}

// dialSlowReader connects to addr with a small receive buffer (see
// smallReceiveBuffer), closed at cleanup.
func dialSlowReader(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = smallReceiveBuffer(fd) })
		return errors.Join(err, serr)
	}}
	c, err := d.DialContext(t.Context(), "tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
