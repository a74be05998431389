package faults_test

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDialer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()

	d := faults.Dialer{Faults: []faults.Fault{faults.OnWrite(faults.ShortWrite{At: 2})}}
	c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	peer := <-accepted
	require.NotNil(t, peer)
	t.Cleanup(func() { _ = peer.Close() })

	n, err := c.Write([]byte("hello"))
	require.ErrorIs(t, err, io.ErrShortWrite)
	assert.Equal(t, 2, n)
}

func TestDialerRefusesInvalidFaults(t *testing.T) {
	dialed := false
	d := faults.Dialer{
		Dial: func(context.Context, string, string) (net.Conn, error) {
			dialed = true
			return nil, io.EOF
		},
		Faults: []faults.Fault{faults.Chunk{Min: 5, Max: 2}},
	}
	_, err := d.DialContext(t.Context(), "tcp", "127.0.0.1:1")
	require.ErrorIs(t, err, faults.ErrInvalidFault)
	assert.False(t, dialed)
}
