package faults_test

import (
	"net"
	"syscall"
	"testing"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readUntilError reads c until an error and returns it with the bytes.
func readUntilError(c net.Conn) ([]byte, error) {
	var got []byte
	buf := make([]byte, 64)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
	}
}

func TestReset(t *testing.T) {
	want := seq(10)
	t.Run("read", func(t *testing.T) {
		a, b := tcpPair(t)
		c := faults.Wrap(a, faults.OnRead(faults.Reset{At: 4}))
		_, err := b.Write(want)
		require.NoError(t, err)
		got, err := readUntilError(c)
		require.ErrorIs(t, err, syscall.ECONNRESET)
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, want[:4], got)
		_, err = c.Write([]byte("x"))
		require.ErrorIs(t, err, syscall.ECONNRESET)
		_, err = readUntilError(b)
		require.ErrorIs(t, err, syscall.ECONNRESET, "the peer gets a real RST")
		require.NoError(t, c.Close())
	})
	t.Run("write", func(t *testing.T) {
		a, b := tcpPair(t)
		c := faults.Wrap(a, faults.OnWrite(faults.Reset{At: 4}))
		n, err := c.Write(want)
		require.ErrorIs(t, err, syscall.ECONNRESET)
		assert.Equal(t, 4, n)
		_, err = readUntilError(b)
		require.ErrorIs(t, err, syscall.ECONNRESET, "the peer gets a real RST")
		_, err = c.Read(make([]byte, 1))
		require.ErrorIs(t, err, syscall.ECONNRESET)
	})
	t.Run("through a recorder", func(t *testing.T) {
		a, b := tcpPair(t)
		c := faults.Wrap(faults.NewRecorder(a), faults.OnWrite(faults.Reset{At: 0}))
		_, err := c.Write(want)
		require.ErrorIs(t, err, syscall.ECONNRESET)
		_, err = readUntilError(b)
		require.ErrorIs(t, err, syscall.ECONNRESET, "SetLinger found through NetConn")
	})
}
