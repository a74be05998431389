package faults

import (
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The proxy reads and writes its sides with no faults with raw system
// calls (internal/rawio), and a side with faults through them.
func TestProxyUsesRawIOForPlainTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	p, err := NewProxy(Config{Upstream: ln.Addr().String(), Up: []Fault{Chunk{Max: 1}}})
	require.NoError(t, err)
	require.NoError(t, p.Start())
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	u, err := ln.Accept()
	require.NoError(t, err)
	defer u.Close()
	_, err = c.Write([]byte("ab"))
	require.NoError(t, err)
	_, err = io.ReadFull(u, make([]byte, 2))
	require.NoError(t, err)
	p.mu.Lock()
	require.Len(t, p.links, 1)
	var l *link
	for l = range p.links {
	}
	p.mu.Unlock()
	assert.True(t, l.client.fast.Load(), "the client's side has no faults: raw I/O")
	assert.False(t, l.upstream.fast.Load(), "the upstream's side has Up faults: through them")
}

// Requests made while the ring's submission queue is full wait in the
// loop's queue and reach the ring in order once it has room.
func TestRingQueuesRequestsWhileFull(t *testing.T) {
	e, err := newEvloop()
	require.NoError(t, err)
	defer func() {
		e.mu.Lock()
		e.exitLocked()
		e.mu.Unlock()
	}()
	if e.ring == nil {
		t.Skip("this kernel gives no io_uring instance")
	}
	const extra = 10
	for i := range uringEntries + extra {
		q := e.sqe() // opcode 0: IORING_OP_NOP
		q.userData = uint64(i)
	}
	require.Len(t, e.queued, extra)
	require.NoError(t, e.ring.enter(false))
	e.unqueue()
	require.Empty(t, e.queued)
	require.NoError(t, e.ring.enter(false))
	for i := range uringEntries + extra {
		c, ok := e.ring.next()
		require.True(t, ok, "completion %d", i)
		require.Equal(t, uint64(i), c.userData)
	}
	_, ok := e.ring.next()
	require.False(t, ok)
}
