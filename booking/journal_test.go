package booking_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/wire"
)

// The journal's layout, as journal.go documents it; the tests read and
// write journals with their own code, so that they check the layout and
// not merely agree with the store's reader.
const (
	walSlot        = 512
	walStart       = 2 * walSlot
	walFrameHeader = 12
	walRecordHead  = 7
)

var walCRC = crc32.MakeTable(crc32.Castagnoli)

// A walRecord is one record of a journal frame.
type walRecord struct {
	unbook bool
	room   string
	date   wire.Date
}

// A walFrame is one whole frame of a journal.
type walFrame struct {
	off     int64 // of its header
	size    int64 // header and payload
	records []walRecord
}

// walSlotGen returns the generation of the header slot b, or 0 when it is
// not a valid one.
func walSlotGen(b []byte) uint64 {
	if string(b[:8]) != "PSJOURN1" || crc32.Checksum(b[:16], walCRC) != binary.BigEndian.Uint32(b[16:20]) {
		return 0
	}
	return binary.BigEndian.Uint64(b[8:16])
}

// parseWAL reads the journal raw: its current generation (the valid
// header slot with the higher one) and that generation's whole frames from
// the start, up to the first that is not one.
func parseWAL(t *testing.T, raw []byte) (gen uint64, frames []walFrame) {
	t.Helper()
	require.GreaterOrEqual(t, len(raw), walStart)
	gen = max(walSlotGen(raw[:walSlot]), walSlotGen(raw[walSlot:walStart]))
	require.NotZero(t, gen, "no readable header")
	for off := int64(walStart); off+walFrameHeader <= int64(len(raw)); {
		h := raw[off : off+walFrameHeader]
		n := int64(binary.BigEndian.Uint32(h[0:4]))
		if n == 0 || binary.BigEndian.Uint32(h[4:8]) != uint32(gen) || off+walFrameHeader+n > int64(len(raw)) {
			break
		}
		payload := raw[off+walFrameHeader : off+walFrameHeader+n]
		if crc32.Update(crc32.Checksum(h[4:8], walCRC), walCRC, payload) != binary.BigEndian.Uint32(h[8:12]) {
			break
		}
		f := walFrame{off: off, size: walFrameHeader + n}
		for p := payload; len(p) > 0; {
			require.GreaterOrEqual(t, len(p), walRecordHead)
			rl := int(binary.BigEndian.Uint16(p[5:7]))
			require.GreaterOrEqual(t, len(p), walRecordHead+rl)
			f.records = append(f.records, walRecord{unbook: p[0] == 1, date: wire.Date(binary.BigEndian.Uint32(p[1:5])), room: string(p[walRecordHead : walRecordHead+rl])})
			p = p[walRecordHead+rl:]
		}
		frames = append(frames, f)
		off += f.size
	}
	return gen, frames
}

// walRecordBytes is the encoding of r.
func walRecordBytes(r walRecord) []byte {
	kind := byte(0)
	if r.unbook {
		kind = 1
	}
	b := binary.BigEndian.AppendUint32([]byte{kind}, uint32(r.date))
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.room)))
	return append(b, r.room...)
}

// walFrameOf is a whole frame of generation gen with payload.
func walFrameOf(gen uint64, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	b = binary.BigEndian.AppendUint32(b, uint32(gen))
	b = binary.BigEndian.AppendUint32(b, crc32.Update(crc32.Checksum(b[4:8], walCRC), walCRC, payload))
	return append(b, payload...)
}

// walFrameBytes is a whole frame of generation gen holding recs.
func walFrameBytes(gen uint64, recs ...walRecord) []byte {
	var payload []byte
	for _, r := range recs {
		payload = append(payload, walRecordBytes(r)...)
	}
	return walFrameOf(gen, payload)
}

// readFile returns the content of the file at path.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// fileSize returns the size of the file at path.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

// crashCopy writes, in a new directory, a database file holding db and
// its journal holding wal, as a crash would leave them, and returns the
// database's path.
func crashCopy(t *testing.T, db, wal []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bookings.db")
	require.NoError(t, os.WriteFile(path, db, 0o600))
	require.NoError(t, os.WriteFile(booking.JournalPath(path), wal, 0o600))
	return path
}

// journalBookings returns n bookings of distinct rooms over four dates.
func journalBookings(n int) []knownBooking {
	bs := make([]knownBooking, n)
	for i, room := range validRooms(n) {
		bs[i] = knownBooking{room, date(2030, 1, 1) + wire.Date(i%4)}
	}
	return bs
}

// assertState checks that s holds exactly want among the dates and rooms
// of universe and want: the rooms of each date and the dates of each room.
func assertState(t *testing.T, s booking.Store, universe, want []knownBooking) {
	t.Helper()
	ctx := context.Background()
	onDate := map[wire.Date][]string{}
	forRoom := map[string][]wire.Date{}
	for _, b := range slices.Concat(universe, want) {
		onDate[b.Date], forRoom[b.Room] = nil, nil
	}
	for _, b := range want {
		onDate[b.Date] = append(onDate[b.Date], b.Room)
		forRoom[b.Room] = append(forRoom[b.Room], b.Date)
	}
	for d, rooms := range onDate {
		slices.Sort(rooms)
		got, err := s.RoomsOn(ctx, d)
		require.NoError(t, err)
		assert.Equal(t, rooms, got, "rooms on %s", d)
	}
	for room, dates := range forRoom {
		slices.Sort(dates)
		got, err := s.DatesFor(ctx, room)
		require.NoError(t, err)
		assert.Equal(t, dates, got, "dates for %.10s", room)
	}
}

// waitFor spins until cond holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out waiting: "+what)
		}
		runtime.Gosched()
	}
}

// holdBatches holds s's batches (booking.HoldBatches) and returns a
// release that may be called more than once; the test's cleanup calls
// it too.
func holdBatches(t *testing.T, s *booking.BoltStore) (release func()) {
	release = sync.OnceFunc(booking.HoldBatches(s))
	t.Cleanup(release)
	return release
}

// queueBehindLeader holds s's batches, starts a first write (lead) and
// waits until it has taken its batch, then starts the writes and waits
// until they are all queued behind it: the next batch the leader hands on
// will find every one of them waiting. It returns release.
func queueBehindLeader(t *testing.T, s *booking.BoltStore, wg *sync.WaitGroup, lead func(), writes ...func()) (release func()) {
	t.Helper()
	release = holdBatches(t, s)
	wg.Go(lead)
	waitFor(t, "the first write to lead", func() bool { leading, n := booking.Queue(s); return leading && n == 0 })
	for _, w := range writes {
		wg.Go(w)
	}
	waitFor(t, "the writes to queue", func() bool { _, n := booking.Queue(s); return n == len(writes) })
	return release
}

// TestBoltJournalReplaysAfterCrash books through a store and "crashes"
// it: the database file as it was before the bookings (so that none of
// the catch-up's work can hide a missing replay) with the journal as it is
// once they are acknowledged. The copy opens with every acknowledged
// booking, replayed into the file, and the journal emptied; a clean
// Close of the original empties its journal, so nothing is replayed.
func TestBoltJournalReplaysAfterCrash(t *testing.T) {
	for _, writers := range []int{1, 8} {
		t.Run(fmt.Sprintf("writers=%d", writers), func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "bookings.db")
			s := openBolt(t, path)
			dbBefore := readFile(t, path)
			bs := journalBookings(40)
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := w; i < len(bs); i += writers {
						assert.NoError(t, s.Book(ctx, bs[i].Room, bs[i].Date, 340))
					}
				})
			}
			wg.Wait()
			require.False(t, t.Failed())
			wal := readFile(t, booking.JournalPath(path))

			crashed := crashCopy(t, dbBefore, wal)
			c := openBolt(t, crashed)
			assert.Equal(t, len(bs), c.Replayed())
			assertState(t, c, bs, bs)
			_, frames := parseWAL(t, readFile(t, booking.JournalPath(crashed)))
			assert.Empty(t, frames, "the replay empties the journal")
			require.NoError(t, c.Close())
			r, err := booking.CheckBolt(crashed, booking.BoltOptions{})
			require.NoError(t, err)
			assert.Equal(t, len(bs), r.Bookings, "the replay went into the file")

			require.NoError(t, s.Close())
			_, frames = parseWAL(t, readFile(t, booking.JournalPath(path)))
			assert.Empty(t, frames, "Close empties the journal")
			s = openBolt(t, path)
			assert.Zero(t, s.Replayed())
			assertState(t, s, bs, bs)
		})
	}
}

// TestBoltJournalTornTail damages the end of a crashed journal as a crash
// in the middle of a sync leaves it (a frame cut short, a whole frame
// after the last: the control) or as other bytes may lie there: the copy
// opens, and exactly the whole frames of the current generation before
// the first that is not are replayed.
func TestBoltJournalTornTail(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bookings.db")
	s := openBolt(t, path)
	require.NoError(t, s.Close()) // a second generation, so that an earlier one exists
	s = openBolt(t, path)
	dbBefore := readFile(t, path)
	bs := journalBookings(5)
	for _, b := range bs {
		require.NoError(t, s.Book(ctx, b.Room, b.Date, 340)) // one frame each
	}
	wal := readFile(t, booking.JournalPath(path))
	gen, frames := parseWAL(t, wal)
	require.GreaterOrEqual(t, gen, uint64(2))
	require.Len(t, frames, len(bs))
	last := frames[len(frames)-1]
	end := last.off + last.size
	extra := knownBooking{allRooms[len(allRooms)-1], date(2030, 2, 1)}
	whole := walFrameBytes(gen, walRecord{room: extra.Room, date: extra.Date})
	universe := append(slices.Clone(bs), extra)

	for _, tc := range []struct {
		name string
		edit func(w []byte) []byte
		want []knownBooking
	}{
		{"intact", func(w []byte) []byte { return w }, bs},
		{"last frame cut short", func(w []byte) []byte { clear(w[last.off+last.size/2 : end]); return w }, bs[:4]},
		{"only the last frame's header written", func(w []byte) []byte { clear(w[last.off+walFrameHeader : end]); return w }, bs[:4]},
		{"last frame's payload changed", func(w []byte) []byte { w[end-1] ^= 1; return w }, bs[:4]},
		{"last frame's checksum changed", func(w []byte) []byte { w[last.off+8] ^= 1; return w }, bs[:4]},
		{"last frame's length changed", func(w []byte) []byte { w[last.off+3]++; return w }, bs[:4]},
		{"file cut in the last frame", func(w []byte) []byte { return w[:last.off+last.size/2] }, bs[:4]},
		{"file cut at the end of the last frame", func(w []byte) []byte { return w[:end] }, bs},
		{"garbage after the last frame", func(w []byte) []byte { copy(w[end:], bytes.Repeat([]byte{0xff}, 64)); return w }, bs},
		{"half a frame after the last", func(w []byte) []byte { copy(w[end:], whole[:len(whole)-1]); return w }, bs},
		{"a frame of the previous generation after the last", func(w []byte) []byte {
			copy(w[end:], walFrameBytes(gen-1, walRecord{room: extra.Room, date: extra.Date}))
			return w
		}, bs},
		{"a frame in the middle cut short", func(w []byte) []byte { w[frames[2].off+frames[2].size-1] ^= 1; return w }, bs[:2]},
		{"a whole frame after the last", func(w []byte) []byte { copy(w[end:], whole); return w }, universe},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crashed := crashCopy(t, dbBefore, tc.edit(slices.Clone(wal)))
			c := openBolt(t, crashed)
			assert.Equal(t, len(tc.want), c.Replayed())
			assertState(t, c, universe, tc.want)

			require.NoError(t, c.Book(ctx, "101", extra.Date, 340), "the store writes after the torn frame")
			require.NoError(t, c.Close())
			c = openBolt(t, crashed)
			assertState(t, c, universe, append(slices.Clone(tc.want), knownBooking{"101", extra.Date}))
		})
	}
}

// smallJournal is the size of the journals of the tests that fill them:
// 139 frames of one booking each.
const smallJournal = 4 << 10

// nthBooking is the i-th distinct booking: every room on a date, then the
// next date.
func nthBooking(i int) knownBooking {
	return knownBooking{allRooms[i%len(allRooms)], date(2030, 1, 1) + wire.Date(i/len(allRooms))}
}

// TestBoltJournalWraps uses a journal of 4 KiB and books far more than
// it holds: the journal is reused from the start, again and again, with
// its size unchanged, even for a batch larger than it; every booking
// survives a crash just after a wrap (the file as it is then, the journal
// as it is later), and a clean close.
func TestBoltJournalWraps(t *testing.T) {
	t.Cleanup(booking.SetNewJournalSize(smallJournal))
	ctx := context.Background()

	t.Run("crash after a wrap", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bookings.db")
		walPath := booking.JournalPath(path)
		s := openBolt(t, path)
		gen0, _ := parseWAL(t, readFile(t, walPath))
		var bs []knownBooking
		book := func(i int) {
			b := nthBooking(i)
			require.NoError(t, s.Book(ctx, b.Room, b.Date, 1000))
			bs = append(bs, b)
		}
		for i := 0; ; i++ {
			require.Less(t, i, 1000, "the journal does not wrap")
			book(i)
			wal := readFile(t, walPath)
			require.Equal(t, smallJournal, len(wal), "the journal keeps its size")
			if gen, frames := parseWAL(t, wal); gen == gen0+3 && len(frames) == 1 {
				break // it has just wrapped for the third time
			}
		}
		resume := sync.OnceFunc(booking.PauseCatchUp(s))
		t.Cleanup(resume)
		db := readFile(t, path) // what the file took at the wrap, and perhaps the booking after
		n := len(bs)
		for i := n; i < n+5; i++ {
			book(i)
		}
		wal := readFile(t, walPath)
		resume()
		_, frames := parseWAL(t, wal)
		require.Len(t, frames, 6, "no wrap since the copy of the file")

		crashed := crashCopy(t, db, wal)
		c := openBolt(t, crashed)
		assert.Equal(t, 6, c.Replayed())
		assertState(t, c, bs, bs)

		require.NoError(t, s.Close())
		s = openBolt(t, path)
		assert.Zero(t, s.Replayed())
		assertState(t, s, bs, bs)
		assert.Equal(t, int64(smallJournal), fileSize(t, walPath))
	})

	t.Run("eight writers", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bookings.db")
		walPath := booking.JournalPath(path)
		s := openBolt(t, path)
		gen0, _ := parseWAL(t, readFile(t, walPath))
		bs := make([]knownBooking, 800)
		for i := range bs {
			bs[i] = nthBooking(i)
		}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < len(bs); i += 8 {
					assert.NoError(t, s.Book(ctx, bs[i].Room, bs[i].Date, 1000))
				}
			})
		}
		wg.Wait()
		wal := readFile(t, walPath)
		assert.Equal(t, smallJournal, len(wal), "the journal keeps its size")
		gen, frames := parseWAL(t, wal)
		assert.GreaterOrEqual(t, gen, gen0+2, "800 bookings wrap a journal of 4 KiB at least twice")

		require.NoError(t, booking.CatchUp(s))
		crashed := crashCopy(t, readFile(t, path), wal)
		c := openBolt(t, crashed)
		replayed := 0
		for _, f := range frames {
			replayed += len(f.records)
		}
		assert.Equal(t, replayed, c.Replayed())
		assertState(t, c, bs, bs)

		require.NoError(t, s.Close())
		s = openBolt(t, path)
		assertState(t, s, bs, bs)
		assert.Equal(t, int64(smallJournal), fileSize(t, walPath))
	})

	t.Run("a batch larger than the journal", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bookings.db")
		walPath := booking.JournalPath(path)
		s := openBolt(t, path)
		bs := make([]knownBooking, 321) // 320 wait for one batch: 3,200 bytes of records
		book := func(b knownBooking) func() {
			return func() { assert.NoError(t, s.Book(ctx, b.Room, b.Date, 1000)) }
		}
		var writes []func()
		for i := range bs {
			bs[i] = nthBooking(i)
			if i > 0 {
				writes = append(writes, book(bs[i]))
			}
		}
		var wg sync.WaitGroup
		release := queueBehindLeader(t, s, &wg, book(bs[0]), writes...)
		release()
		wg.Wait()
		assert.Equal(t, int64(smallJournal), fileSize(t, walPath), "the journal keeps its size")

		require.NoError(t, booking.CatchUp(s))
		c := openBolt(t, crashCopy(t, readFile(t, path), readFile(t, walPath)))
		assertState(t, c, bs, bs)
		require.NoError(t, s.Close())
		assert.Equal(t, int64(smallJournal), fileSize(t, walPath), "the journal keeps its size")
		s = openBolt(t, path)
		assertState(t, s, bs, bs)
	})
}

// TestBoltJournalReplayIsIdempotent replays bookings and cancellations of
// one room on one date over files that took none, some or all of them
// before the crash (and a cancellation of a booking the file never had):
// the copy ends as the records do, with both indexes in step, and a room
// booked on the same date is kept.
func TestBoltJournalReplayIsIdempotent(t *testing.T) {
	ctx := context.Background()
	d := date(2030, 3, 1)
	room, other := knownBooking{"312", d}, knownBooking{"313", d}
	book := func(t *testing.T, s *booking.BoltStore, b knownBooking) {
		t.Helper()
		require.NoError(t, s.Book(ctx, b.Room, b.Date, 340))
	}
	unbook := func(t *testing.T, s *booking.BoltStore, b knownBooking) {
		t.Helper()
		require.NoError(t, s.Unbook(ctx, b.Room, b.Date))
	}
	catchUp := func(t *testing.T, s *booking.BoltStore) {
		t.Helper()
		require.NoError(t, booking.CatchUp(s))
	}
	for _, tc := range []struct {
		name     string
		crash    func(t *testing.T, path string) (db, wal []byte)
		replayed int
		want     []knownBooking
	}{
		{"file has the booking, journal the cancellation", func(t *testing.T, path string) (db, wal []byte) {
			s := openBolt(t, path)
			book(t, s, room)
			book(t, s, other)
			require.NoError(t, s.Close())
			db = readFile(t, path)
			s = openBolt(t, path)
			unbook(t, s, room)
			return db, readFile(t, booking.JournalPath(path))
		}, 1, []knownBooking{other}},
		{"file has neither, journal both", func(t *testing.T, path string) (db, wal []byte) {
			s := openBolt(t, path)
			db = readFile(t, path)
			book(t, s, room)
			book(t, s, other)
			unbook(t, s, room)
			return db, readFile(t, booking.JournalPath(path))
		}, 3, []knownBooking{other}},
		{"file has the booking, journal both", func(t *testing.T, path string) (db, wal []byte) {
			s := openBolt(t, path)
			book(t, s, room)
			book(t, s, other)
			catchUp(t, s)
			db = readFile(t, path)
			unbook(t, s, room)
			return db, readFile(t, booking.JournalPath(path))
		}, 3, []knownBooking{other}},
		{"file has both, journal both", func(t *testing.T, path string) (db, wal []byte) {
			s := openBolt(t, path)
			book(t, s, room)
			book(t, s, other)
			unbook(t, s, room)
			catchUp(t, s)
			return readFile(t, path), readFile(t, booking.JournalPath(path))
		}, 3, []knownBooking{other}},
		{"file has both, journal both and the booking again", func(t *testing.T, path string) (db, wal []byte) {
			s := openBolt(t, path)
			book(t, s, room)
			book(t, s, other)
			unbook(t, s, room)
			catchUp(t, s)
			db = readFile(t, path)
			book(t, s, room)
			return db, readFile(t, booking.JournalPath(path))
		}, 4, []knownBooking{room, other}},
		{"journal cancels a booking the file never had", func(t *testing.T, path string) (db, wal []byte) {
			s := openBolt(t, path)
			book(t, s, other)
			require.NoError(t, s.Close())
			wal = readFile(t, booking.JournalPath(path))
			gen, frames := parseWAL(t, wal)
			require.Empty(t, frames)
			copy(wal[walStart:], walFrameBytes(gen, walRecord{unbook: true, room: room.Room, date: room.Date}, walRecord{unbook: true, room: "314", date: d + 1}))
			return readFile(t, path), wal
		}, 2, []knownBooking{other}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, wal := tc.crash(t, filepath.Join(t.TempDir(), "bookings.db"))
			crashed := crashCopy(t, db, wal)
			universe := []knownBooking{room, other, {"314", d + 1}}
			c := openBolt(t, crashed)
			assert.Equal(t, tc.replayed, c.Replayed())
			assertState(t, c, universe, tc.want)
			require.NoError(t, c.Close())
			r, err := booking.CheckBolt(crashed, booking.BoltOptions{})
			require.NoError(t, err, "both indexes in step")
			assert.Equal(t, len(tc.want), r.Bookings)
			c = openBolt(t, crashed)
			assertState(t, c, universe, tc.want)
		})
	}
}

// crashedJournal books three rooms through a store in its second
// generation and returns, as a crash leaves them, the database file from
// before the bookings and the journal after them, with its generation
// and frames.
func crashedJournal(t *testing.T) (db, wal []byte, gen uint64, frames []walFrame, bs []knownBooking) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bookings.db")
	s := openBolt(t, path)
	require.NoError(t, s.Close())
	s = openBolt(t, path)
	db = readFile(t, path)
	bs = journalBookings(3)
	for _, b := range bs {
		require.NoError(t, s.Book(context.Background(), b.Room, b.Date, 340))
	}
	wal = readFile(t, booking.JournalPath(path))
	gen, frames = parseWAL(t, wal)
	require.GreaterOrEqual(t, gen, uint64(2))
	require.Len(t, frames, len(bs))
	return db, wal, gen, frames, bs
}

// TestBoltJournalDamaged: a journal whose headers cannot be read, which
// is shorter than them, or whose whole frame holds a record that is not
// one, is refused with a *DamageError naming the journal; neither file is
// changed and the lock is released, so the same file opens, with every
// booking, once the journal is put back.
func TestBoltJournalDamaged(t *testing.T) {
	db, wal, gen, frames, bs := crashedJournal(t)
	end := frames[len(frames)-1].off + frames[len(frames)-1].size
	current := int64(gen%2) * walSlot
	appendFrame := func(payload []byte) func(w []byte) []byte {
		return func(w []byte) []byte { copy(w[end:], walFrameOf(gen, payload)); return w }
	}
	record := func(kind byte, roomLen uint16, room string) []byte {
		b := binary.BigEndian.AppendUint32([]byte{kind}, uint32(date(2030, 2, 1)))
		return append(binary.BigEndian.AppendUint16(b, roomLen), room...)
	}
	good := walRecordBytes(walRecord{room: "312", date: date(2030, 2, 1)})
	for _, tc := range []struct {
		name string
		edit func(w []byte) []byte
		what string
	}{
		{"both headers unreadable", func(w []byte) []byte { w[10] ^= 1; w[walSlot+10] ^= 1; return w }, "neither header of the journal is readable"},
		{"both headers zeroed", func(w []byte) []byte { clear(w[:walStart]); return w }, "neither header of the journal is readable"},
		{"current header unreadable with its frames after it", func(w []byte) []byte { w[current+16] ^= 1; return w }, "header"},
		{"shorter than its headers", func(w []byte) []byte { return w[:walStart-1] }, "shorter than its headers"},
		{"empty", func(w []byte) []byte { return w[:0] }, "shorter than its headers"},
		{"a record of no known kind", appendFrame(record(7, 3, "312")), "holds a record that is not a booking"},
		{"a record with no room", appendFrame(record(0, 0, "")), "holds a record that is not a booking"},
		{"a record longer than its frame", appendFrame(record(0, 4, "312")), "holds a record that is not a booking"},
		{"a record cut short after a good one", appendFrame(append(slices.Clone(good), 0, 0, 0)), "holds a record that is not a booking"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			damaged := tc.edit(slices.Clone(wal))
			path := crashCopy(t, db, damaged)
			s, err := booking.OpenBolt(path, booking.BoltOptions{LockTimeout: 100 * time.Millisecond})
			if !assert.Nil(t, s) {
				require.NoError(t, s.Close())
			}
			requireDamaged(t, err, booking.JournalPath(path), tc.what)
			assert.Equal(t, db, readFile(t, path), "the database file is untouched")
			assert.Equal(t, damaged, readFile(t, booking.JournalPath(path)), "the journal is untouched")

			require.NoError(t, os.WriteFile(booking.JournalPath(path), wal, 0o600))
			s = openBolt(t, path)
			assert.Equal(t, len(bs), s.Replayed())
			assertState(t, s, bs, bs)
		})
	}
}

// TestBoltJournalHeaders: a header that a crash while the journal was
// emptied may leave unreadable is not damage. With the other slot's
// header unreadable the current generation replays whole; with the
// current header of an emptied journal unreadable, the generation before
// it replays, all of it already in the file; a missing journal is made
// afresh and the file opens as it is.
func TestBoltJournalHeaders(t *testing.T) {
	db, wal, gen, _, bs := crashedJournal(t)
	older := int64((gen+1)%2) * walSlot
	for _, tc := range []struct {
		name string
		edit func(w []byte) []byte
	}{
		{"other header unreadable", func(w []byte) []byte { w[older+16] ^= 1; return w }},
		{"other header zeroed", func(w []byte) []byte { clear(w[older : older+walSlot]); return w }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openBolt(t, crashCopy(t, db, tc.edit(slices.Clone(wal))))
			assert.Equal(t, len(bs), s.Replayed())
			assertState(t, s, bs, bs)
		})
	}

	t.Run("current header of an emptied journal unreadable", func(t *testing.T) {
		path := crashCopy(t, db, wal)
		s := openBolt(t, path)
		more := []knownBooking{{allRooms[338], date(2030, 2, 1)}, {allRooms[339], date(2030, 2, 1)}}
		for _, b := range more {
			require.NoError(t, s.Book(context.Background(), b.Room, b.Date, 340))
		}
		require.NoError(t, s.Close()) // the file takes them, and the journal moves on to the next generation
		w := readFile(t, booking.JournalPath(path))
		g, frames := parseWAL(t, w)
		require.Empty(t, frames)
		w[int64(g%2)*walSlot+16] ^= 1
		require.NoError(t, os.WriteFile(booking.JournalPath(path), w, 0o600))
		s = openBolt(t, path)
		assert.Equal(t, len(more), s.Replayed(), "the generation before, replayed again")
		all := slices.Concat(bs, more)
		assertState(t, s, all, all)
	})

	t.Run("missing journal", func(t *testing.T) {
		path := crashCopy(t, db, wal)
		s := openBolt(t, path)
		require.NoError(t, s.Close())
		require.NoError(t, os.Remove(booking.JournalPath(path)))
		s = openBolt(t, path)
		assert.Zero(t, s.Replayed())
		assertState(t, s, bs, bs)
		assert.Equal(t, int64(booking.JournalSize), fileSize(t, booking.JournalPath(path)))
	})
}

// TestBoltJournalWriteFails makes the journal refuse writes: a Book or
// Unbook that needs one fails with the store's error (not a refusal), and
// what it decided is undone, so no read sees it, no later decision rests
// on it, and it is in neither file; refusals that what is on disk decides
// are still answered, and once the journal takes writes again they
// succeed. The same when the write finds the journal full.
func TestBoltJournalWriteFails(t *testing.T) {
	ctx := context.Background()
	d1, d2 := date(2030, 4, 1), date(2030, 4, 2)
	requireWriteError := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "booking: bolt: ")
		assert.Contains(t, err.Error(), "journal")
		for _, refusal := range []error{booking.ErrDuplicate, booking.ErrFullyBooked, booking.ErrNotBooked, booking.ErrClosed} {
			assert.NotErrorIs(t, err, refusal)
		}
	}

	t.Run("book and unbook", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bookings.db")
		s := openBolt(t, path)
		dbBefore := readFile(t, path)
		require.NoError(t, s.Book(ctx, "314", d2, 5))

		restore, err := booking.BreakJournal(s)
		require.NoError(t, err)
		requireWriteError(t, s.Book(ctx, "312", d1, 1))
		requireWriteError(t, s.Unbook(ctx, "314", d2))
		require.ErrorIs(t, s.Book(ctx, "314", d2, 5), booking.ErrDuplicate, "decided by what is on disk")
		require.ErrorIs(t, s.Unbook(ctx, "312", d1), booking.ErrNotBooked, "decided by what is on disk")
		want := []knownBooking{{"314", d2}}
		universe := []knownBooking{{"312", d1}, {"313", d1}, {"314", d2}}
		assertState(t, s, universe, want)
		restore()

		require.NoError(t, s.Book(ctx, "313", d1, 1), "the failed booking took no place on the date")
		require.ErrorIs(t, s.Book(ctx, "312", d1, 1), booking.ErrFullyBooked)
		require.NoError(t, s.Book(ctx, "312", d1, 2), "the failed booking is not there")
		require.ErrorIs(t, s.Book(ctx, "314", d2, 5), booking.ErrDuplicate, "the failed cancellation is undone")
		want = []knownBooking{{"312", d1}, {"313", d1}, {"314", d2}}
		assertState(t, s, universe, want)

		c := openBolt(t, crashCopy(t, dbBefore, readFile(t, booking.JournalPath(path))))
		assert.Equal(t, 3, c.Replayed(), "the journal holds the acknowledged writes only")
		assertState(t, c, universe, want)
		require.NoError(t, s.Close())
		s = openBolt(t, path)
		assertState(t, s, universe, want)
	})

	t.Run("journal full", func(t *testing.T) {
		t.Cleanup(booking.SetNewJournalSize(smallJournal))
		path := filepath.Join(t.TempDir(), "bookings.db")
		walPath := booking.JournalPath(path)
		s := openBolt(t, path)
		gen0, _ := parseWAL(t, readFile(t, walPath))
		var bs []knownBooking
		for i := range (smallJournal - walStart) / (walFrameHeader + walRecordHead + 3) { // fill it
			b := knownBooking{allRooms[i], d1}
			require.NoError(t, s.Book(ctx, b.Room, b.Date, 1000))
			bs = append(bs, b)
		}
		gen, frames := parseWAL(t, readFile(t, walPath))
		require.Equal(t, gen0, gen)
		require.Len(t, frames, len(bs))
		failed := knownBooking{allRooms[len(bs)], d1}

		restore, err := booking.BreakJournal(s)
		require.NoError(t, err)
		requireWriteError(t, s.Book(ctx, failed.Room, failed.Date, len(bs)+1))
		universe := append(slices.Clone(bs), failed)
		assertState(t, s, universe, bs)
		restore()

		require.NoError(t, s.Book(ctx, failed.Room, failed.Date, len(bs)+1), "the failed booking took no place on the date")
		bs = append(bs, failed)
		gen, frames = parseWAL(t, readFile(t, walPath))
		assert.Equal(t, gen0+1, gen, "the journal was emptied")
		assert.Len(t, frames, 1)
		require.NoError(t, s.Close())
		assert.Equal(t, int64(smallJournal), fileSize(t, walPath))
		s = openBolt(t, path)
		assertState(t, s, universe, bs)
	})
}

// TestBoltJournalBatches holds the commit leader while writes queue, so
// that batches are known: MaxBatchSize bounds each sync; a refusal that
// rests on a write of its own batch is answered only once that write is on
// disk (a reader told of the refusal sees the booking), and not at all when
// the sync fails.
func TestBoltJournalBatches(t *testing.T) {
	ctx := context.Background()
	d := date(2030, 5, 1)

	t.Run("MaxBatchSize", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bookings.db")
		s, err := booking.OpenBolt(path, booking.BoltOptions{MaxBatchSize: 3})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		bs := journalBookings(11)
		var writes []func()
		for _, b := range bs {
			writes = append(writes, func() { assert.NoError(t, s.Book(ctx, b.Room, b.Date, 340)) })
		}
		var wg sync.WaitGroup
		release := queueBehindLeader(t, s, &wg, writes[0], writes[1:]...)
		release()
		wg.Wait()
		_, frames := parseWAL(t, readFile(t, booking.JournalPath(path)))
		var sizes []int
		for _, f := range frames {
			sizes = append(sizes, len(f.records))
		}
		assert.Equal(t, []int{1, 3, 3, 3, 1}, sizes, "the leader's own, then the ten that waited, three at a time")
		assertState(t, s, bs, bs)
	})

	race := func(t *testing.T, s *booking.BoltStore, breakJournal bool) (errs [2]error, sawBooking [2]bool) {
		t.Helper()
		var wg sync.WaitGroup
		lead := func() { _ = s.Book(ctx, "101", d+1, 340) }
		contender := func(i int) func() {
			return func() {
				errs[i] = s.Book(ctx, "312", d, 340)
				rooms, err := s.RoomsOn(ctx, d)
				assert.NoError(t, err)
				sawBooking[i] = slices.Contains(rooms, "312")
			}
		}
		release := queueBehindLeader(t, s, &wg, lead, contender(0), contender(1))
		if breakJournal {
			restore, err := booking.BreakJournal(s)
			require.NoError(t, err)
			defer restore()
		}
		release()
		wg.Wait()
		return errs, sawBooking
	}

	t.Run("refusal after the sync", func(t *testing.T) {
		s := openBolt(t, filepath.Join(t.TempDir(), "bookings.db"))
		errs, saw := race(t, s, false)
		won := 0
		for i, err := range errs {
			if err == nil {
				won++
				continue
			}
			require.ErrorIs(t, err, booking.ErrDuplicate)
			assert.True(t, saw[i], "told of the refusal, a reader sees the booking it rests on")
		}
		assert.Equal(t, 1, won)
	})

	t.Run("no refusal when the sync fails", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bookings.db")
		s := openBolt(t, path)
		errs, saw := race(t, s, true)
		for i, err := range errs {
			require.Error(t, err)
			assert.NotErrorIs(t, err, booking.ErrDuplicate, "the booking it would rest on failed")
			assert.False(t, saw[i])
		}
		_, frames := parseWAL(t, readFile(t, booking.JournalPath(path)))
		assert.Empty(t, frames)
		require.NoError(t, s.Book(ctx, "312", d, 340))
		require.NoError(t, s.Book(ctx, "101", d+1, 340))
	})
}
