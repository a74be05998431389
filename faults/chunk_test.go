package faults_test

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChunk(t *testing.T) {
	tests := []struct {
		name     string
		chunk    faults.Chunk
		min, max int
	}{
		{"fixed", faults.Chunk{Max: 7}, 7, 7},
		{"one", faults.Chunk{Max: 1}, 1, 1},
		{"random", faults.Chunk{Min: 2, Max: 9}, 2, 9},
	}
	want := seq(300)
	for _, tt := range tests {
		t.Run(tt.name+"/read", func(t *testing.T) {
			a, b := tcpPair(t)
			rec := faults.NewRecorder(faults.Wrap(a, faults.OnRead(tt.chunk)))
			_, err := b.Write(want)
			require.NoError(t, err)
			require.NoError(t, b.Close())
			got, err := io.ReadAll(rec)
			require.NoError(t, err)
			assert.Equal(t, want, got)
			for _, c := range rec.Calls() {
				assert.LessOrEqual(t, c.N, tt.max, "read at %d", c.Offset)
			}
		})
		t.Run(tt.name+"/write", func(t *testing.T) {
			a, b := tcpPair(t)
			rec := faults.NewRecorder(a)
			n, err := faults.Wrap(rec, faults.OnWrite(tt.chunk)).Write(want)
			require.NoError(t, err)
			assert.Equal(t, len(want), n)
			calls := rec.Calls()
			for i, c := range calls {
				assert.LessOrEqual(t, c.Len, tt.max, "write %d", i)
				if i < len(calls)-1 {
					assert.GreaterOrEqual(t, c.Len, tt.min, "write %d", i)
				}
			}
			require.NoError(t, a.Close())
			got, err := io.ReadAll(b)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

// sizes dials through a Dialer with seed, writes 1000 bytes and reads 1000,
// and returns the sizes of the first operations that reached the socket.
func sizes(t *testing.T, seed uint64) (reads, writes []int) {
	a, b := tcpPair(t)
	rec := faults.NewRecorder(a)
	d := faults.Dialer{
		Dial:   func(context.Context, string, string) (net.Conn, error) { return rec, nil },
		Faults: []faults.Fault{faults.Chunk{Min: 1, Max: 16}},
		Seed:   seed,
	}
	c, err := d.DialContext(t.Context(), "tcp", "unused")
	require.NoError(t, err)
	data := seq(1000)
	_, err = c.Write(data)
	require.NoError(t, err)
	_, err = b.Write(data)
	require.NoError(t, err)
	_, err = io.ReadFull(c, make([]byte, len(data)))
	require.NoError(t, err)
	// A read asks for exactly the drawn size (the buffer is larger), so
	// the sizes asked for do not depend on how TCP delivered the bytes.
	for _, call := range rec.Calls() {
		if call.Dir == faults.Read {
			reads = append(reads, call.Len)
		} else {
			writes = append(writes, call.Len)
		}
	}
	require.GreaterOrEqual(t, len(reads), 40)
	return reads[:40], writes
}

func TestSeedDeterminism(t *testing.T) {
	r1, w1 := sizes(t, 42)
	r2, w2 := sizes(t, 42)
	assert.Equal(t, r1, r2, "same seed, same read sizes")
	assert.Equal(t, w1, w2, "same seed, same write sizes")
	r3, w3 := sizes(t, 43)
	assert.NotEqual(t, r1, r3, "another seed, other read sizes")
	assert.NotEqual(t, w1, w3, "another seed, other write sizes")
	assert.NotEqual(t, r1, w1[:len(r1)], "read and write draw from separate sources")
}

// A seeded Chunk cuts the stream at the same offsets however the bytes
// arrive: writes of other sizes add cuts of their own but move none.
func TestChunkCutsAtFixedOffsets(t *testing.T) {
	want := seq(300)
	cuts := func(sizes ...int) map[int64]bool {
		a, b := tcpPair(t)
		defer b.Close()
		rec := faults.NewRecorder(a)
		c := faults.Wrap(rec, faults.OnWrite(faults.Chunk{Min: 2, Max: 9}))
		for p, i := want, 0; len(p) > 0; i++ {
			n := min(len(p), sizes[i%len(sizes)])
			_, err := c.Write(p[:n])
			require.NoError(t, err)
			p = p[n:]
		}
		set := make(map[int64]bool)
		for _, call := range rec.Calls() {
			set[call.Offset+int64(call.N)] = true
		}
		return set
	}
	whole := cuts(len(want))
	for _, sizes := range [][]int{{1}, {13}, {5, 1, 17}} {
		split := cuts(sizes...)
		for off := range whole {
			assert.True(t, split[off], "writes of %v: no cut at %d", sizes, off)
		}
	}
}
