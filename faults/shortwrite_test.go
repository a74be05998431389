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
