package faults_test

import (
	"io"
	"testing"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCorrupt(t *testing.T) {
	tests := []struct {
		name    string
		corrupt faults.Corrupt
		flipped byte
	}{
		{"default mask", faults.Corrupt{At: 7}, 7 ^ 0xFF},
		{"one bit", faults.Corrupt{At: 7, Mask: 0x01}, 7 ^ 0x01},
	}
	for _, tt := range tests {
		want := seq(16)
		want[7] = tt.flipped
		t.Run(tt.name+"/read", func(t *testing.T) {
			a, b := tcpPair(t)
			c := faults.Wrap(a, faults.OnRead(faults.Chunk{Max: 3}), tt.corrupt)
			_, err := b.Write(seq(16))
			require.NoError(t, err)
			got := make([]byte, 16)
			_, err = io.ReadFull(c, got)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
		t.Run(tt.name+"/write", func(t *testing.T) {
			a, b := tcpPair(t)
			c := faults.Wrap(a, tt.corrupt)
			sent := seq(16)
			_, err := c.Write(sent)
			require.NoError(t, err)
			assert.Equal(t, seq(16), sent, "the caller's buffer is untouched")
			_, err = c.Write(seq(16))
			require.NoError(t, err)
			require.NoError(t, c.Close())
			got, err := io.ReadAll(b)
			require.NoError(t, err)
			assert.Equal(t, append(want, seq(16)...), got, "only one byte changes")
		})
	}
}
