package faults_test

import (
	"io"
	"testing"
	"time"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBlackhole(t *testing.T) {
	want := seq(10)
	t.Run("read", func(t *testing.T) {
		a, b := tcpPair(t)
		c := faults.Wrap(a, faults.OnRead(faults.Blackhole{At: 4}))
		_, err := b.Write(want)
		require.NoError(t, err)
		got := make([]byte, 4)
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		assert.Equal(t, want[:4], got)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
		n, err := c.Read(make([]byte, 10))
		requireTimeout(t, err)
		assert.Zero(t, n, "nothing arrives past At")
	})
	t.Run("write", func(t *testing.T) {
		a, b := tcpPair(t)
		c := faults.Wrap(a, faults.OnWrite(faults.Blackhole{At: 4}))
		n, err := c.Write(want)
		require.NoError(t, err, "a blackholed write looks successful")
		assert.Equal(t, len(want), n)
		require.NoError(t, c.Close())
		got, err := io.ReadAll(b)
		require.NoError(t, err)
		assert.Equal(t, want[:4], got, "nothing leaves past At")
	})
}

// A blackholed write side loses the end of the stream too: CloseWrite sends
// no FIN, so the peer reads nothing until its own deadline.
func TestBlackholeLosesTheEnd(t *testing.T) {
	for _, at := range []int64{0, 4} {
		t.Run(faults.Blackhole{At: at}.String(), func(t *testing.T) {
			a, b := tcpPair(t)
			c := faults.Wrap(a, faults.OnWrite(faults.Blackhole{At: at}))
			_, err := c.Write(seq(10))
			require.NoError(t, err)
			require.NoError(t, c.(interface{ CloseWrite() error }).CloseWrite())
			got := make([]byte, at)
			_, err = io.ReadFull(b, got)
			require.NoError(t, err)
			require.NoError(t, b.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
			n, err := b.Read(make([]byte, 10))
			requireTimeout(t, err)
			assert.Zero(t, n)
		})
	}
}
