package wire_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/wire"
)

// readCall is one Read call seen by recordingReader.
type readCall struct{ offset, asked, got int }

// recordingReader serves data in pieces of at most chunk bytes and records
// the offset and length of every Read call.
type recordingReader struct {
	data  []byte
	off   int
	chunk int
	calls []readCall
}

func (r *recordingReader) Read(p []byte) (int, error) {
	c := readCall{offset: r.off, asked: len(p)}
	if r.off == len(r.data) {
		r.calls = append(r.calls, c)
		return 0, io.EOF
	}
	n := min(len(p), r.chunk, len(r.data)-r.off)
	copy(p, r.data[r.off:r.off+n])
	r.off += n
	c.got = n
	r.calls = append(r.calls, c)
	return n, nil
}

func TestReadFrameNeverReadsPastBlock(t *testing.T) {
	first := golden(t, "book_request")
	second := golden(t, "error_duplicate")
	trailing := []byte{0xde, 0xad}
	stream := append(append(append([]byte{}, first...), second...), trailing...)

	for _, chunk := range []int{1, 3, 7, len(stream)} {
		r := &recordingReader{data: stream, chunk: chunk}

		block, err := wire.ReadFrame(r, nil)
		require.NoError(t, err)
		assert.Equal(t, first[2:], block)
		assert.Equal(t, len(first), r.off, "chunk %d: the second block's bytes must still be unread", chunk)
		for _, c := range r.calls {
			assert.LessOrEqual(t, c.offset+c.asked, len(first), "chunk %d: Read at %d asked for %d bytes, past the first block", chunk, c.offset, c.asked)
		}

		r.calls = nil
		block, err = wire.ReadFrame(r, block)
		require.NoError(t, err)
		assert.Equal(t, second[2:], block)
		for _, c := range r.calls {
			assert.LessOrEqual(t, c.offset+c.asked, len(first)+len(second), "chunk %d: Read past the second block", chunk)
		}
		assert.Equal(t, len(first)+len(second), r.off)
	}
}

func TestReadFrameEnds(t *testing.T) {
	frame := golden(t, "book_request")

	_, err := wire.ReadFrame(bytes.NewReader(nil), nil)
	require.ErrorIs(t, err, io.EOF, "nothing at a frame boundary is a clean EOF")

	for cut := 1; cut < len(frame); cut++ {
		_, err := wire.ReadFrame(bytes.NewReader(frame[:cut]), nil)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut at %d", cut)
		var te *wire.TruncatedError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, cut, te.Got)
		if cut < 2 {
			assert.Equal(t, 2, te.Want)
		} else {
			assert.Equal(t, len(frame), te.Want)
		}
	}

	boom := errors.New("boom")
	_, err = wire.ReadFrame(io.MultiReader(bytes.NewReader(frame[:5]), iotestErr{boom}), nil)
	require.ErrorIs(t, err, boom, "other read errors pass through")
}

type iotestErr struct{ err error }

func (r iotestErr) Read([]byte) (int, error) { return 0, r.err }

func TestReadFrameReusesBuffer(t *testing.T) {
	frame := golden(t, "book_request")
	buf := make([]byte, 0, 64)
	block, err := wire.ReadFrame(bytes.NewReader(frame), buf)
	require.NoError(t, err)
	assert.Equal(t, &buf[:1][0], &block[:1][0], "a large enough buffer is reused")

	allocs := testing.AllocsPerRun(100, func() {
		_, _ = wire.ReadFrame(bytes.NewReader(frame), buf)
	})
	assert.LessOrEqual(t, allocs, 1.0, "only the bytes.Reader may allocate")
}

func TestUint32Framing(t *testing.T) {
	f := wire.Uint32Framing{Max: 8}
	ok, err := wire.AppendFrameWith(nil, f, []byte("12345678"))
	require.NoError(t, err)
	assert.Equal(t, []byte{0, 0, 0, 8}, ok[:4])

	block, err := wire.ReadFrameWith(bytes.NewReader(ok), f, nil)
	require.NoError(t, err)
	assert.Equal(t, "12345678", string(block))

	_, err = wire.AppendFrameWith(nil, f, []byte("123456789"))
	require.ErrorIs(t, err, wire.ErrFrameTooLarge)

	r := &recordingReader{data: []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}, chunk: 100}
	_, err = wire.ReadFrameWith(r, f, nil)
	require.ErrorIs(t, err, wire.ErrFrameTooLarge)
	assert.Equal(t, 4, r.off, "an oversized frame is refused before its body is read")

	assert.Equal(t, wire.DefaultMaxUint32Body, wire.Uint32Framing{}.MaxBody())
}

func TestQuint16FramingLimits(t *testing.T) {
	_, err := wire.AppendFrame(nil, make([]byte, wire.MaxBlock))
	require.NoError(t, err)
	_, err = wire.AppendFrame(nil, make([]byte, wire.MaxBlock+1))
	require.ErrorIs(t, err, wire.ErrFrameTooLarge)
	err = wire.WriteFrame(io.Discard, make([]byte, wire.MaxBlock+1))
	require.ErrorIs(t, err, wire.ErrFrameTooLarge)
}
