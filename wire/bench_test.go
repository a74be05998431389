package wire_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/poolside-dev/poolside/wire"
)

// The hot paths of one request on the wire: framing a block, reading a
// frame, and the QDataStream codec of requests and replies. Each reports
// ops/s besides ns/op, and allocations.
//
//	go test -run '^$' -bench . -benchmem ./wire/

var (
	benchReq   = wire.Request{Action: wire.ActionBook, Room: "312", Date: wire.DateOf(2026, 12, 1)}
	benchBlock = func() []byte { b, _ := benchReq.MarshalBinary(); return b }()
	benchFrame = func() []byte { f, _ := wire.AppendFrame(nil, benchBlock); return f }()
	// benchDates is a BOOKINGSFORROOM reply with a year of dates.
	benchDates = func() []byte {
		r := wire.Reply{Action: wire.ActionBookingsForRoom, Room: "312"}
		for i := range 365 {
			r.Dates = append(r.Dates, wire.DateOf(2026, 12, 1)+wire.Date(i))
		}
		b, _ := r.MarshalBinary()
		return b
	}()
)

// reportRate adds an ops/s metric, which benchstat compares like ns/op.
func reportRate(b *testing.B, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, unit)
	}
}

// repeatReader serves the same bytes over and over, like a connection
// that always has the next frame ready.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

func BenchmarkReadFrame(b *testing.B) {
	r := &repeatReader{data: benchFrame}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFrame)))
	for b.Loop() {
		blk, err := wire.ReadFrame(r, buf)
		if err != nil {
			b.Fatal(err)
		}
		buf = blk[:0]
	}
	reportRate(b, "frames/s")
}

func BenchmarkAppendFrame(b *testing.B) {
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFrame)))
	for b.Loop() {
		var err error
		if dst, err = wire.AppendFrame(dst[:0], benchBlock); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "frames/s")
}

func BenchmarkWriteFrame(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFrame)))
	for b.Loop() {
		if err := wire.WriteFrame(io.Discard, benchBlock); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "frames/s")
}

func BenchmarkRequestAppendBinary(b *testing.B) {
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = benchReq.AppendBinary(dst[:0])
	}
	reportRate(b, "req/s")
}

func BenchmarkRequestUnmarshal(b *testing.B) {
	var r wire.Request
	b.ReportAllocs()
	for b.Loop() {
		if err := r.UnmarshalBinary(benchBlock); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "req/s")
}

func BenchmarkReplyUnmarshal(b *testing.B) {
	for _, tc := range []struct {
		name  string
		block []byte
	}{
		{"book", benchBlock}, // a BOOK reply is the request's echo
		{"error", wire.ErrorBlock(wire.MsgDuplicate)},
		{"forroom-365", benchDates},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var r wire.Reply
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.block)))
			for b.Loop() {
				if err := r.UnmarshalBinary(tc.block); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, "replies/s")
		})
	}
}

func BenchmarkAppendString(b *testing.B) {
	for _, s := range []string{"312", "Cannot accept duplicate booking", "é€😀"} {
		b.Run(s, func(b *testing.B) {
			dst := make([]byte, 0, 128)
			b.ReportAllocs()
			for b.Loop() {
				dst = wire.AppendString(dst[:0], s)
			}
		})
	}
}

// BenchmarkRoundTripBuffer frames, writes, reads and decodes a request over
// an in-memory buffer: the codec's share of one request.
func BenchmarkRoundTripBuffer(b *testing.B) {
	var buf bytes.Buffer
	rbuf := make([]byte, 0, 64)
	var r wire.Request
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		blk, _ := benchReq.AppendBinary(rbuf[:0])
		if err := wire.WriteFrame(&buf, blk); err != nil {
			b.Fatal(err)
		}
		got, err := wire.ReadFrame(&buf, rbuf)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.UnmarshalBinary(got); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "req/s")
}
