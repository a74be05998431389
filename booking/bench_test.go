package booking_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/wire"
)

// allRooms are the 340 valid rooms; benchmarks spread bookings over them.
var allRooms = validRooms(340)

// slot returns the i-th distinct (room, date) pair, filling each date with
// every room before moving to the next date.
func slot(i int64) (string, wire.Date) {
	return allRooms[i%int64(len(allRooms))], date(2027, 1, 1) + wire.Date(i/int64(len(allRooms)))
}

// BenchmarkBoltBook measures a booking's latency on a BoltStore (the
// journal's sync included): one caller at a time (serial), and many at
// once (RunParallel with 1 and 16 goroutines per P). Every booking is of a
// new (room, date) pair, so every one writes. Run it on the disk the
// server will use: a tmpfs hides the sync.
func BenchmarkBoltBook(b *testing.B) {
	ctx := context.Background()
	open := func(b *testing.B) *booking.BoltStore {
		s, err := booking.OpenBolt(filepath.Join(b.TempDir(), "bench.db"), booking.BoltOptions{})
		require.NoError(b, err)
		b.Cleanup(func() { _ = s.Close() })
		return s
	}
	b.Run("serial", func(b *testing.B) {
		s := open(b)
		var i int64
		for b.Loop() {
			room, d := slot(i)
			i++
			if err := s.Book(ctx, room, d, len(allRooms)); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("parallel=%d", p), func(b *testing.B) {
			s := open(b)
			var next atomic.Int64
			b.SetParallelism(p)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					room, d := slot(next.Add(1) - 1)
					if err := s.Book(ctx, room, d, len(allRooms)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkBoltBookRefused measures bookings the rules refuse (duplicates
// and a full date), which write nothing.
func BenchmarkBoltBookRefused(b *testing.B) {
	ctx := context.Background()
	s, err := booking.OpenBolt(filepath.Join(b.TempDir(), "bench.db"), booking.BoltOptions{})
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	d := date(2027, 1, 1)
	for _, room := range allRooms[:5] {
		require.NoError(b, s.Book(ctx, room, d, 5))
	}
	b.Run("serial", func(b *testing.B) {
		var i int
		for b.Loop() {
			i++
			if err := s.Book(ctx, allRooms[i%10], d, 5); err == nil {
				b.Fatal("booking accepted")
			}
		}
	})
	b.Run("parallel=16", func(b *testing.B) {
		b.SetParallelism(16)
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Book(ctx, allRooms[next.Add(1)%10], d, 5); err == nil {
					b.Error("booking accepted")
					return
				}
			}
		})
	})
}

// BenchmarkServeFrameBook measures the BOOK path of a Service over a
// MemoryStore, decoding and encoding included.
func BenchmarkServeFrameBook(b *testing.B) {
	ctx := context.Background()
	encode := func(action, room string, d wire.Date) []byte {
		blk, err := wire.Request{Action: action, Room: room, Date: d}.MarshalBinary()
		require.NoError(b, err)
		return blk
	}
	d := date(2026, 12, 1)
	newSvc := func(b *testing.B) *booking.Service {
		svc, err := booking.New(booking.NewMemoryStore(), testConfig)
		require.NoError(b, err)
		b.Cleanup(func() { _ = svc.Close() })
		return svc
	}
	b.Run("book+unbook", func(b *testing.B) {
		svc := newSvc(b)
		book, unbook := encode(wire.ActionBook, "312", d), encode(wire.ActionUnbook, "312", d)
		b.ReportAllocs()
		for b.Loop() {
			svc.ServeFrame(ctx, book)
			svc.ServeFrame(ctx, unbook)
		}
	})
	b.Run("new", func(b *testing.B) {
		// Each op books a new pair; the store is refilled from empty every
		// 34,000 bookings so it stays small.
		const batch = 34000
		frames := make([][]byte, batch)
		for i := range frames {
			room, d := slot(int64(i))
			frames[i] = encode(wire.ActionBook, room, d)
		}
		svc := newSvc(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i == batch {
				b.StopTimer()
				svc = newSvc(b)
				i = 0
				b.StartTimer()
			}
			svc.ServeFrame(ctx, frames[i])
			i++
		}
	})
	refused := func(name string, before []string, room string) {
		b.Run(name, func(b *testing.B) {
			svc := newSvc(b)
			for _, r := range before {
				require.False(b, svc.Handle(ctx, wire.Request{Action: wire.ActionBook, Room: r, Date: d}).IsError())
			}
			blk := encode(wire.ActionBook, room, d)
			b.ReportAllocs()
			for b.Loop() {
				svc.ServeFrame(ctx, blk)
			}
		})
	}
	refused("duplicate", []string{"312"}, "312")
	refused("fully-booked", allRooms[:5], "312")
	refused("invalid-room", nil, "9x9")
	b.Run("parallel-duplicate", func(b *testing.B) {
		svc := newSvc(b)
		require.False(b, svc.Handle(ctx, wire.Request{Action: wire.ActionBook, Room: "312", Date: d}).IsError())
		blk := encode(wire.ActionBook, "312", d)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				svc.ServeFrame(ctx, blk)
			}
		})
	})
}
