package faults_test

import (
	"bytes"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A proxy with no faults carries megabytes both ways at once: each side's
// socket buffers fill, so the relay's writes wait for room while the other
// direction goes on.
func TestProxyRelaysBothWaysAtOnce(t *testing.T) {
	p := startProxy(t, faults.Config{Upstream: startEcho(t)})
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
}

// A real reset on either side of a proxy with no faults resets the other
// side too.
func TestProxyCarriesReset(t *testing.T) {
	t.Run("client resets", func(t *testing.T) {
		upErr := make(chan error, 1)
		up := oneShotUpstream(t, func(c *net.TCPConn) {
			_, err := io.ReadFull(c, make([]byte, 1))
			if err == nil {
				_, err = c.Read(make([]byte, 1))
			}
			upErr <- err
		})
		p := startProxy(t, faults.Config{Upstream: up})
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
		p := startProxy(t, faults.Config{Upstream: up})
		c, err := net.Dial("tcp", p.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write([]byte{1})
		require.NoError(t, err)
		_, err = c.Read(make([]byte, 1))
		require.ErrorIs(t, err, syscall.ECONNRESET)
	})
}

// Close ends links with no faults that wait in a read, both directions
// idle: the client reads its end and no goroutine is left (main_test.go's
// leak check).
func TestProxyCloseEndsIdleLinks(t *testing.T) {
	p, err := faults.NewProxy(faults.Config{Upstream: startEcho(t)})
	require.NoError(t, err)
	require.NoError(t, p.Start())
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
}
