package faults_test

import (
	"io"
	"testing"
	"time"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStall(t *testing.T) {
	const pause = 40 * time.Millisecond
	stall := faults.Stall{At: 5, For: pause}
	want := seq(10)
	t.Run("read", func(t *testing.T) {
		a, b := tcpPair(t)
		c := faults.Wrap(a, faults.OnRead(stall))
		_, err := b.Write(want)
		require.NoError(t, err)
		start := time.Now()
		first := make([]byte, 10)
		n, err := c.Read(first)
		require.NoError(t, err)
		assert.LessOrEqual(t, n, 5, "the first read stops at the stall")
		rest := make([]byte, 10-n)
		_, err = io.ReadFull(c, rest)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, time.Since(start), pause)
		assert.Equal(t, want, append(first[:n], rest...))
	})
	t.Run("write", func(t *testing.T) {
		a, b := tcpPair(t)
		rec := faults.NewRecorder(a)
		c := faults.Wrap(rec, faults.OnWrite(stall))
		start := time.Now()
		n, err := c.Write(want)
		require.NoError(t, err)
		assert.Equal(t, 10, n)
		assert.GreaterOrEqual(t, time.Since(start), pause)
		calls := rec.Calls()
		require.Len(t, calls, 2)
		assert.Equal(t, 5, calls[0].Len)
		assert.Equal(t, 5, calls[1].Len)
		require.NoError(t, a.Close())
		got, err := io.ReadAll(b)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	})
	t.Run("deadline leaves the rest of the pause", func(t *testing.T) {
		a, _ := tcpPair(t)
		c := faults.Wrap(a, faults.OnWrite(faults.Stall{At: 0, For: time.Hour}))
		require.NoError(t, c.SetWriteDeadline(time.Now().Add(10*time.Millisecond)))
		_, err := c.Write([]byte("x"))
		requireTimeout(t, err)
		require.NoError(t, c.SetWriteDeadline(time.Now().Add(10*time.Millisecond)))
		_, err = c.Write([]byte("x"))
		requireTimeout(t, err)
	})
}

// The pause starts with the operation that carries byte At, not when byte
// At-1 passed: an application idle for longer than For between the two
// still has its next read held back by For in full.
func TestStallStartsWithTheOperation(t *testing.T) {
	const pause = 100 * time.Millisecond
	a, b := tcpPair(t)
	c := faults.Wrap(a, faults.OnRead(faults.Stall{At: 2, For: pause}))
	_, err := b.Write([]byte("abcd"))
	require.NoError(t, err)
	first := make([]byte, 2)
	_, err = io.ReadFull(c, first)
	require.NoError(t, err)
	assert.Equal(t, "ab", string(first))

	time.Sleep(2 * pause) // the application is busy: not synchronisation, the point of the test

	// Had the pause started at byte 2, it would be over; it starts now,
	// so a read bounded by half of it times out.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(pause/2)))
	n, err := c.Read(make([]byte, 2))
	requireTimeout(t, err)
	assert.Zero(t, n)

	require.NoError(t, c.SetReadDeadline(time.Time{}))
	rest := make([]byte, 2)
	_, err = io.ReadFull(c, rest)
	require.NoError(t, err, "the rest of the pause passes, then the bytes")
	assert.Equal(t, "cd", string(rest))
}
