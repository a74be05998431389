package robustness

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/faults"
	"github.com/poolside-dev/poolside/wire"
)

// frameEnd returns the offset just past the frame of stream that holds
// byte offset off, by the quint16 framing: the end its header announces,
// or the end of the header when the header is not complete in stream
// (all a reader can know there). A reader that never reads past its frame
// asks for nothing beyond frameEnd of the offset it reads at.
func frameEnd(stream []byte, off int64) int64 {
	var pos int64
	for {
		if pos+2 > int64(len(stream)) {
			return pos + 2
		}
		end := pos + 2 + int64(binary.BigEndian.Uint16(stream[pos:]))
		if off < end {
			return end
		}
		pos = end
	}
}

// partialFrame reports whether stream ends inside a frame, and where that
// frame starts.
func partialFrame(stream []byte) (start int, partial bool) {
	pos := 0
	for pos < len(stream) {
		if pos+2 > len(stream) {
			return pos, true
		}
		end := pos + 2 + int(binary.BigEndian.Uint16(stream[pos:]))
		if end > len(stream) {
			return pos, true
		}
		pos = end
	}
	return pos, false
}

// requests decodes the complete frames of stream as a server reads them,
// one after another, and returns the requests among them that parse.
func requests(stream []byte) []wire.Request {
	var out []wire.Request
	for pos := 0; pos+2 <= len(stream); {
		end := pos + 2 + int(binary.BigEndian.Uint16(stream[pos:]))
		if end > len(stream) {
			break
		}
		var req wire.Request
		if req.UnmarshalBinary(stream[pos+2:end]) == nil {
			out = append(out, req)
		}
		pos = end
	}
	return out
}

func TestFrameHelpers(t *testing.T) {
	// Two frames (3 and 1 body bytes), then 2 bytes of a third announcing 4.
	stream := []byte{0, 3, 'a', 'b', 'c', 0, 1, 'd', 0, 4, 'e'}
	for _, tt := range []struct {
		off, end int64
	}{{0, 5}, {1, 5}, {4, 5}, {5, 8}, {7, 8}, {8, 14}, {10, 14}, {11, 14}} {
		assert.Equal(t, tt.end, frameEnd(stream, tt.off), "frameEnd at %d", tt.off)
	}
	assert.Equal(t, int64(10), frameEnd(stream[:8+1], 8), "an incomplete header: only its end is known")
	assert.Equal(t, int64(10), frameEnd(stream[:8], 8), "at the end of the stream: the next header")

	for _, tt := range []struct {
		n       int
		start   int
		partial bool
	}{{0, 0, false}, {1, 0, true}, {4, 0, true}, {5, 5, false}, {8, 8, false}, {9, 8, true}, {11, 8, true}} {
		start, partial := partialFrame(stream[:tt.n])
		assert.Equal(t, tt.partial, partial, "partialFrame of %d bytes", tt.n)
		if tt.partial {
			assert.Equal(t, tt.start, start, "partialFrame of %d bytes", tt.n)
		}
	}
}

func TestUpstreamView(t *testing.T) {
	book := func(room string) []byte {
		blk, err := wire.Request{Action: wire.ActionBook, Room: room, Date: firstDate}.MarshalBinary()
		require.NoError(t, err)
		f, err := wire.AppendFrame(nil, blk)
		require.NoError(t, err)
		return f
	}
	stream := append(book("101"), book("102")...) // 28 bytes each
	rooms := func(b []byte) (out []string) {
		for _, r := range requests(b) {
			out = append(out, r.Room)
		}
		return out
	}
	assert.Equal(t, []string{"101", "102"}, rooms(upstreamView(stream, nil)))
	assert.Equal(t, []string{"101"}, rooms(upstreamView(stream, []faults.Fault{faults.Cut{At: 55}})))
	assert.Equal(t, []string{"101", "102"}, rooms(upstreamView(stream, []faults.Fault{faults.Blackhole{At: 56}, faults.Chunk{Max: 1}})))
	assert.Empty(t, rooms(upstreamView(stream, []faults.Fault{faults.ShortWrite{At: 27}})))
	// Byte 51 is the low byte of the second room's last digit: '2' ^ 0x03 = '1'.
	assert.Equal(t, []string{"101", "101"}, rooms(upstreamView(stream, []faults.Fault{faults.Corrupt{At: 51, Mask: 0x03}})))
	assert.Len(t, upstreamView(stream, []faults.Fault{faults.Reset{At: 3}, faults.Cut{At: 10}}), 3)
}
