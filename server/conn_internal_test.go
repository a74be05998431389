package server

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/wire"
)

// A connection keeps small buffers between requests: one large request
// (up to the 64 KiB a frame allows) does not leave its buffers allocated
// for the connection's life.
func TestConnShrinksBuffersAfterALargeRequest(t *testing.T) {
	echo := HandlerFunc(func(_ context.Context, b []byte) []byte { return append([]byte(nil), b...) })
	s, err := New(Config{Handler: echo})
	require.NoError(t, err)
	defer s.Close()
	server, client := net.Pipe()
	c := s.newConn(server)
	require.True(t, s.trackConn(c, true))
	served := make(chan struct{})
	go func() {
		defer close(served)
		c.serve()
	}()
	require.NoError(t, client.SetDeadline(time.Now().Add(10*time.Second)))
	for _, size := range []int{60000, 10} {
		block := make([]byte, size)
		require.NoError(t, wire.WriteFrame(client, block))
		got, err := wire.ReadFrame(client, nil)
		require.NoError(t, err)
		require.Len(t, got, size)
	}
	require.NoError(t, client.Close())
	<-served
	assert.LessOrEqual(t, cap(c.rbuf), keptBuffer)
	assert.LessOrEqual(t, cap(c.wbuf), keptBuffer)
}
