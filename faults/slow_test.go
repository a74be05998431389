package faults_test

import (
	"io"
	"testing"
	"time"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSlowDelay(t *testing.T) {
	const delay = 15 * time.Millisecond
	tests := []struct {
		name string
		dir  faults.Dir
	}{{"read", faults.Read}, {"write", faults.Write}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tcpPair(t)
			c := faults.Wrap(a, faults.Slow{Delay: delay})
			buf := make([]byte, 1)
			for i := range 3 {
				start := time.Now()
				if tt.dir == faults.Read {
					_, err := b.Write([]byte{byte(i)})
					require.NoError(t, err)
					_, err = io.ReadFull(c, buf)
					require.NoError(t, err)
					assert.Equal(t, byte(i), buf[0])
				} else {
					_, err := c.Write([]byte{byte(i)})
					require.NoError(t, err)
				}
				assert.GreaterOrEqual(t, time.Since(start), delay, "operation %d", i)
			}
			if tt.dir == faults.Write {
				require.NoError(t, c.Close())
				got, err := io.ReadAll(b)
				require.NoError(t, err)
				assert.Equal(t, []byte{0, 1, 2}, got)
			}
		})
	}
}

func TestSlowRate(t *testing.T) {
	const (
		rate  = 20000 // bytes per second
		size  = 2000  // so at least 100 ms
		least = time.Duration(size) * time.Second / rate
	)
	want := seq(size)
	t.Run("read", func(t *testing.T) {
		a, b := tcpPair(t)
		c := faults.Wrap(a, faults.OnRead(faults.Slow{Rate: rate}))
		_, err := b.Write(want)
		require.NoError(t, err)
		start := time.Now()
		got := make([]byte, size)
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, time.Since(start), least)
		assert.Equal(t, want, got)
	})
	t.Run("write", func(t *testing.T) {
		a, b := tcpPair(t)
		c := faults.Wrap(a, faults.OnWrite(faults.Slow{Rate: rate}))
		start := time.Now()
		n, err := c.Write(want)
		require.NoError(t, err)
		assert.Equal(t, size, n)
		assert.GreaterOrEqual(t, time.Since(start), least)
		require.NoError(t, c.Close())
		got, err := io.ReadAll(b)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	})
}
