package faults_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecorderLogsCalls(t *testing.T) {
	a, b := tcpPair(t)
	rec := faults.NewRecorder(a)
	n, err := rec.Write([]byte("hello"))
	require.NoError(t, err)
	require.Equal(t, 5, n)
	_, err = io.ReadFull(b, make([]byte, 5)) // closing with unread bytes would send RST
	require.NoError(t, err)
	_, err = b.Write([]byte("hi"))
	require.NoError(t, err)
	require.NoError(t, b.Close())
	buf := make([]byte, 2)
	_, err = io.ReadFull(rec, buf)
	require.NoError(t, err)
	_, err = rec.Read(make([]byte, 8))
	require.ErrorIs(t, err, io.EOF)

	calls := rec.Calls()
	require.NotEmpty(t, calls)
	assert.Equal(t, faults.Call{Dir: faults.Write, Offset: 0, Len: 5, N: 5}, calls[0])
	last := calls[len(calls)-1]
	assert.Equal(t, faults.Call{Dir: faults.Read, Offset: 2, Len: 8, N: 0, Err: io.EOF}, last)
	assert.Equal(t, int64(10), last.Reach())
}

// frames writes blocks framed as PROTOCOL.md says: a big-endian quint16
// size, then the block. It returns the bytes and the end offset of each
// frame.
func frames(blocks ...string) (data []byte, ends []int64) {
	for _, b := range blocks {
		data = binary.BigEndian.AppendUint16(data, uint16(len(b)))
		data = append(data, b...)
		ends = append(ends, int64(len(data)))
	}
	return data, ends
}

// readFrame reads one frame without asking for a byte past it.
func readFrame(r io.Reader) ([]byte, error) {
	var size [2]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	block := make([]byte, binary.BigEndian.Uint16(size[:]))
	_, err := io.ReadFull(r, block)
	return block, err
}

// overReads returns the reads that asked for bytes past the end of the
// frame they started in.
func overReads(calls []faults.Call, ends []int64) []faults.Call {
	var bad []faults.Call
	for _, c := range calls {
		if c.Dir != faults.Read {
			continue
		}
		for _, end := range ends {
			if c.Offset < end {
				if c.Reach() > end {
					bad = append(bad, c)
				}
				break
			}
		}
	}
	return bad
}

func TestRecorderProvesNoOverRead(t *testing.T) {
	blocks := []string{"BOOK 312", "", "UNBOOK 312 2026-12-01"}
	data, ends := frames(blocks...)
	tests := []struct {
		name     string
		read     func(io.Reader) ([]string, error)
		overRead bool
	}{
		{"exact frames", func(r io.Reader) ([]string, error) {
			var got []string
			for range blocks {
				b, err := readFrame(r)
				if err != nil {
					return got, err
				}
				got = append(got, string(b))
			}
			return got, nil
		}, false},
		{"bufio over-reads", func(r io.Reader) ([]string, error) {
			br := bufio.NewReader(r)
			var got []string
			for range blocks {
				b, err := readFrame(br)
				if err != nil {
					return got, err
				}
				got = append(got, string(b))
			}
			return got, nil
		}, true},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 3, 1 << 16} {
			t.Run(tt.name+"/"+faults.Chunk{Max: chunk}.String(), func(t *testing.T) {
				a, b := tcpPair(t)
				var c net.Conn = faults.Wrap(a, faults.OnRead(faults.Chunk{Max: chunk}))
				rec := faults.NewRecorder(c)
				_, err := b.Write(data)
				require.NoError(t, err)
				got, err := tt.read(rec)
				require.NoError(t, err)
				assert.Equal(t, blocks, got)
				bad := overReads(rec.Calls(), ends)
				if tt.overRead {
					assert.NotEmpty(t, bad)
				} else {
					assert.Empty(t, bad)
				}
			})
		}
	}
}
