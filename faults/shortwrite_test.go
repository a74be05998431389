package faults_test

import (
	"io"
	"testing"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShortWrite(t *testing.T) {
	a, b := tcpPair(t)
	c := faults.Wrap(a, faults.ShortWrite{At: 3}) // both directions: reads are untouched
	n, err := c.Write([]byte("0123456789"))
	require.ErrorIs(t, err, io.ErrShortWrite)
	assert.Equal(t, 3, n)
	n, err = c.Write([]byte("ab"))
	require.NoError(t, err, "only one write is short")
	assert.Equal(t, 2, n)

	_, err = b.Write([]byte("0123456789"))
	require.NoError(t, err)
	got := make([]byte, 10)
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	assert.Equal(t, "0123456789", string(got))

	require.NoError(t, c.Close())
	got, err = io.ReadAll(b)
	require.NoError(t, err)
	assert.Equal(t, "012ab", string(got))
}

// ShortWrite acts on writes only: restricted to reads it would do nothing,
// so it is refused, with a message for Go users (OnRead) here and one for
// spec users (the read: prefix) in TestParseSpecErrors.
func TestShortWriteOnReadIsRefused(t *testing.T) {
	const msg = "faults: invalid fault: faults.ShortWrite acts on writes only, so OnRead leaves it nothing to do: use it alone or with OnWrite"
	a, _ := tcpPair(t)
	assert.PanicsWithError(t, "fault 0: "+msg, func() { faults.Wrap(a, faults.OnRead(faults.ShortWrite{At: 3})) })

	d := faults.Dialer{Faults: []faults.Fault{faults.OnRead(faults.ShortWrite{At: 3})}}
	_, err := d.DialContext(t.Context(), "tcp", "127.0.0.1:1")
	require.ErrorIs(t, err, faults.ErrInvalidFault)
	assert.EqualError(t, err, "fault 0: "+msg)

	err = faults.ListenerConfig{Faults: []faults.Fault{faults.Chunk{Max: 1}, faults.OnRead(&faults.ShortWrite{})}}.Validate()
	require.ErrorIs(t, err, faults.ErrInvalidFault)
	assert.Contains(t, err.Error(), "*faults.ShortWrite acts on writes only")

	assert.NotPanics(t, func() { faults.Wrap(a, faults.OnWrite(faults.ShortWrite{At: 3}), faults.ShortWrite{At: 3}) })
}
