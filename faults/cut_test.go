package faults_test

import (
	"io"
	"syscall"
	"testing"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCut(t *testing.T) {
	want := seq(10)
	t.Run("read", func(t *testing.T) {
		a, b := tcpPair(t)
		c := faults.Wrap(a, faults.OnRead(faults.Cut{At: 4}))
		_, err := b.Write(want)
		require.NoError(t, err)
		got, err := io.ReadAll(c)
		require.NoError(t, err, "the reply ends with a clean EOF")
		assert.Equal(t, want[:4], got)
		_, err = c.Read(make([]byte, 1))
		require.ErrorIs(t, err, io.EOF)
		_, err = c.Write([]byte("x"))
		require.ErrorIs(t, err, syscall.EPIPE)
		_, err = b.Read(make([]byte, 1))
		require.Error(t, err, "the peer sees the connection gone")
		require.NoError(t, c.Close())
	})
	t.Run("write", func(t *testing.T) {
		a, b := tcpPair(t)
		c := faults.Wrap(a, faults.OnWrite(faults.Cut{At: 4}))
		n, err := c.Write(want)
		require.ErrorIs(t, err, syscall.EPIPE)
		assert.Equal(t, 4, n)
		got, err := io.ReadAll(b)
		require.NoError(t, err, "the peer reads a clean EOF")
		assert.Equal(t, want[:4], got)
		_, err = c.Read(make([]byte, 1))
		require.ErrorIs(t, err, io.EOF)
		require.NoError(t, c.Close())
	})
	t.Run("exact write then cut", func(t *testing.T) {
		a, b := tcpPair(t)
		c := faults.Wrap(a, faults.OnWrite(faults.Cut{At: 4}))
		n, err := c.Write(want[:4])
		require.NoError(t, err)
		assert.Equal(t, 4, n)
		got, err := io.ReadAll(b)
		require.NoError(t, err, "closed right after byte At-1")
		assert.Equal(t, want[:4], got)
	})
}
