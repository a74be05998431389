package wire_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/poolside-dev/poolside/wire"
)

var goldenFrames = []string{"book_request", "unbook_request", "error_duplicate", "error_unrecognized", "error_fully_booked"}

// seedFrames adds every golden frame and some malformed ones to f.
func seedFrames(f *testing.F) {
	for _, name := range goldenFrames {
		f.Add(golden(f, name))
	}
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add([]byte{0, 5, 1, 2})
	f.Add([]byte{0xff, 0xff, 0, 0, 0})
}

// seedBlocks adds every golden block (frame without its size) and some
// malformed ones to f.
func seedBlocks(f *testing.F) {
	for _, name := range goldenFrames {
		f.Add(golden(f, name)[2:])
	}
	f.Add([]byte{})
	f.Add(block(str("BOOK"), u32(3), []byte{0, 1, 2}))
	f.Add(block(str("BOOK"), str("312"), u32(0), []byte{1}))
	f.Add(block(str("BOOK"), []byte{0xd8, 0x3d}))
}

// FuzzReadFrame checks that ReadFrame never reads past the announced
// block, never allocates more than the block size, and that writing the
// block back reproduces the frame's bytes.
func FuzzReadFrame(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &recordingReader{data: data, chunk: 3}
		block, err := wire.ReadFrame(r, nil)
		if err != nil {
			if len(data) >= 2 && 2+(int(data[0])<<8|int(data[1])) <= len(data) {
				t.Fatalf("complete frame refused: %v", err)
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if cap(block) > wire.MaxBlock {
			t.Fatalf("buffer of %d bytes for a quint16 frame", cap(block))
		}
		if r.off != 2+len(block) {
			t.Fatalf("consumed %d bytes for a %d-byte block", r.off, len(block))
		}
		for _, c := range r.calls {
			if c.offset+c.asked > 2+len(block) {
				t.Fatalf("Read at %d asked %d bytes, past the block end %d", c.offset, c.asked, 2+len(block))
			}
		}
		var out bytes.Buffer
		if err := wire.WriteFrame(&out, block); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), data[:r.off]) {
			t.Fatalf("re-encoded frame differs")
		}
	})
}

// FuzzReadFrameUint32 checks the generic framing's size limit.
func FuzzReadFrameUint32(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 1, 2, 3}, 4)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, 16)
	f.Add([]byte{0, 0, 1}, 0)
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		fr := wire.Uint32Framing{Max: limit % 4096}
		block, err := wire.ReadFrameWith(bytes.NewReader(data), fr, nil)
		if err != nil {
			return
		}
		if len(block) > fr.MaxBody() || cap(block) > max(fr.MaxBody(), 16) {
			t.Fatalf("block of %d (cap %d) over the limit %d", len(block), cap(block), fr.MaxBody())
		}
	})
}

// FuzzDecodeRequest checks that decoding never panics and that a decoded
// request re-encodes to a stable form: encode(decode(encode(decode(x))))
// equals encode(decode(x)).
func FuzzDecodeRequest(f *testing.F) {
	seedBlocks(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var r wire.Request
		if err := r.UnmarshalBinary(data); err != nil {
			var pe *wire.ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ProtocolError: %v", err)
			}
			return
		}
		if len(r.Action)+len(r.Room) > 2*len(data) {
			t.Fatalf("decoded strings larger than the block")
		}
		once, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var r2 wire.Request
		if err := r2.UnmarshalBinary(once); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		twice, _ := r2.MarshalBinary()
		if !bytes.Equal(once, twice) {
			t.Fatalf("encoding not stable")
		}
	})
}

// FuzzDecodeReply is FuzzDecodeRequest for replies.
func FuzzDecodeReply(f *testing.F) {
	seedBlocks(f)
	f.Add(block(str("BOOKINGSFORROOM"), str("312"), u32(1), u32(2461376)))
	f.Add(block(str("BOOKINGSONDATE"), str("101, 312"), u32(2461376)))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r wire.Reply
		if err := r.UnmarshalBinary(data); err != nil {
			var pe *wire.ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ProtocolError: %v", err)
			}
			return
		}
		if 4*len(r.Dates) > len(data) {
			t.Fatalf("%d dates from %d bytes", len(r.Dates), len(data))
		}
		once, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var r2 wire.Reply
		if err := r2.UnmarshalBinary(once); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		twice, _ := r2.MarshalBinary()
		if !bytes.Equal(once, twice) {
			t.Fatalf("encoding not stable")
		}
	})
}
