package booking_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/wire"
)

func TestStoreContract(t *testing.T) {
	d1, d2, d3 := date(2026, 12, 1), date(2026, 12, 2), date(2027, 1, 1)
	forEachStore(t, func(t *testing.T, open func(t *testing.T) booking.Store) {
		ctx := context.Background()
		t.Run("book and query", func(t *testing.T) {
			s := open(t)
			for _, b := range []booked{{"312", d3}, {"312", d1}, {"101", d1}, {"934", d1}, {"312", d2}} {
				require.NoError(t, s.Book(ctx, b.room, b.date, 5))
			}
			rooms, err := s.RoomsOn(ctx, d1)
			require.NoError(t, err)
			assert.Equal(t, []string{"101", "312", "934"}, rooms)
			dates, err := s.DatesFor(ctx, "312")
			require.NoError(t, err)
			assert.Equal(t, []wire.Date{d1, d2, d3}, dates)

			rooms, err = s.RoomsOn(ctx, date(2030, 1, 1))
			require.NoError(t, err)
			assert.Nil(t, rooms)
			dates, err = s.DatesFor(ctx, "777")
			require.NoError(t, err)
			assert.Nil(t, dates)
		})
		t.Run("refusals", func(t *testing.T) {
			s := open(t)
			require.NoError(t, s.Book(ctx, "312", d1, 2))
			require.ErrorIs(t, s.Book(ctx, "312", d1, 2), booking.ErrDuplicate)
			require.NoError(t, s.Book(ctx, "313", d1, 2))
			require.ErrorIs(t, s.Book(ctx, "314", d1, 2), booking.ErrFullyBooked)
			require.ErrorIs(t, s.Book(ctx, "312", d1, 2), booking.ErrDuplicate, "duplicate wins over full")
			require.ErrorIs(t, s.Book(ctx, "312", d2, 0), booking.ErrFullyBooked, "limit 0 refuses everything")
			require.ErrorIs(t, s.Unbook(ctx, "314", d1), booking.ErrNotBooked)
			require.ErrorIs(t, s.Unbook(ctx, "312", d2), booking.ErrNotBooked)

			rooms, err := s.RoomsOn(ctx, d1)
			require.NoError(t, err)
			assert.Equal(t, []string{"312", "313"}, rooms, "refusals write nothing")
			rooms, err = s.RoomsOn(ctx, d2)
			require.NoError(t, err)
			assert.Nil(t, rooms)
		})
		t.Run("unbook", func(t *testing.T) {
			s := open(t)
			require.NoError(t, s.Book(ctx, "312", d1, 5))
			require.NoError(t, s.Book(ctx, "313", d1, 5))
			require.NoError(t, s.Book(ctx, "312", d2, 5))
			require.NoError(t, s.Unbook(ctx, "312", d1))
			require.ErrorIs(t, s.Unbook(ctx, "312", d1), booking.ErrNotBooked)

			rooms, err := s.RoomsOn(ctx, d1)
			require.NoError(t, err)
			assert.Equal(t, []string{"313"}, rooms)
			dates, err := s.DatesFor(ctx, "312")
			require.NoError(t, err)
			assert.Equal(t, []wire.Date{d2}, dates)

			require.NoError(t, s.Unbook(ctx, "312", d2))
			dates, err = s.DatesFor(ctx, "312")
			require.NoError(t, err)
			assert.Nil(t, dates)
			require.NoError(t, s.Book(ctx, "312", d1, 5), "a freed booking can be made again")
		})
		t.Run("results are copies", func(t *testing.T) {
			s := open(t)
			require.NoError(t, s.Book(ctx, "312", d1, 5))
			rooms, err := s.RoomsOn(ctx, d1)
			require.NoError(t, err)
			rooms[0] = "999"
			dates, err := s.DatesFor(ctx, "312")
			require.NoError(t, err)
			dates[0] = 0
			rooms, _ = s.RoomsOn(ctx, d1)
			dates, _ = s.DatesFor(ctx, "312")
			assert.Equal(t, []string{"312"}, rooms)
			assert.Equal(t, []wire.Date{d1}, dates)
		})
		t.Run("cancelled context", func(t *testing.T) {
			s := open(t)
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			err := s.Book(cctx, "312", d1, 5)
			require.ErrorIs(t, err, context.Canceled)
			require.ErrorIs(t, s.Unbook(cctx, "312", d1), context.Canceled)
			_, err = s.RoomsOn(cctx, d1)
			require.ErrorIs(t, err, context.Canceled)
			_, err = s.DatesFor(cctx, "312")
			require.ErrorIs(t, err, context.Canceled)
			rooms, err := s.RoomsOn(ctx, d1)
			require.NoError(t, err)
			assert.Nil(t, rooms)
		})
		t.Run("after close", func(t *testing.T) {
			s := open(t)
			require.NoError(t, s.Book(ctx, "312", d1, 5))
			require.NoError(t, s.Close())
			require.NoError(t, s.Close(), "Close is idempotent")
			err := s.Book(ctx, "313", d1, 5)
			require.ErrorIs(t, err, booking.ErrClosed)
			assert.Contains(t, err.Error(), "book 313 on 2026-12-01")
			require.ErrorIs(t, s.Unbook(ctx, "312", d1), booking.ErrClosed)
			_, err = s.RoomsOn(ctx, d1)
			require.ErrorIs(t, err, booking.ErrClosed)
			_, err = s.DatesFor(ctx, "312")
			require.ErrorIs(t, err, booking.ErrClosed)
		})
	})
}

func TestMemoryStoreZeroValue(t *testing.T) {
	var s booking.MemoryStore
	ctx := context.Background()
	rooms, err := s.RoomsOn(ctx, date(2026, 12, 1))
	require.NoError(t, err)
	assert.Nil(t, rooms)
	require.NoError(t, s.Book(ctx, "312", date(2026, 12, 1), 5))
	rooms, err = s.RoomsOn(ctx, date(2026, 12, 1))
	require.NoError(t, err)
	assert.Equal(t, []string{"312"}, rooms)
}

// TestBoltDurable books and unbooks, closes the file, reopens it and finds
// exactly the acknowledged bookings.
func TestBoltDurable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bookings.db")
	d1, d2 := date(2026, 12, 1), date(2026, 12, 2)

	s := openBolt(t, path)
	for _, b := range []booked{{"312", d1}, {"101", d1}, {"312", d2}, {"220", d2}, {"934", d2}} {
		require.NoError(t, s.Book(ctx, b.room, b.date, 5))
	}
	require.NoError(t, s.Unbook(ctx, "101", d1))
	require.NoError(t, s.Unbook(ctx, "934", d2))
	require.NoError(t, s.Close())

	s = openBolt(t, path)
	assert.Equal(t, path, s.Path())
	want := map[wire.Date][]string{d1: {"312"}, d2: {"220", "312"}}
	for d, rooms := range want {
		got, err := s.RoomsOn(ctx, d)
		require.NoError(t, err)
		assert.Equal(t, rooms, got, d.String())
	}
	for room, dates := range map[string][]wire.Date{"312": {d1, d2}, "220": {d2}, "101": nil, "934": nil} {
		got, err := s.DatesFor(ctx, room)
		require.NoError(t, err)
		assert.Equal(t, dates, got, room)
	}

	// A service over the reopened store applies the rules to the old data.
	svc := newService(t, s)
	assert.Equal(t, wire.ErrorReply(wire.MsgDuplicate), svc.Handle(ctx, wire.Request{Action: wire.ActionBook, Room: "312", Date: d1}))
}

// TestBoltLocked opens a file that is already open: the second open fails
// quickly with ErrLocked and says why, and succeeds once the first closes.
func TestBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bookings.db")
	first := openBolt(t, path)

	start := time.Now()
	_, err := booking.OpenBolt(path, booking.BoltOptions{LockTimeout: 100 * time.Millisecond})
	elapsed := time.Since(start)
	require.ErrorIs(t, err, booking.ErrLocked)
	assert.Contains(t, err.Error(), "database "+path+" is in use by another process")
	assert.Less(t, elapsed, 5*time.Second, "the open must give up, not hang")

	require.NoError(t, first.Close())
	second := openBolt(t, path)
	require.NoError(t, second.Close())
}

func TestOpenBoltErrors(t *testing.T) {
	dir := t.TempDir()
	notBolt := filepath.Join(dir, "not-bolt.db")
	require.NoError(t, os.WriteFile(notBolt, []byte("this is not a bbolt file, it is just some text padded out to a page and more"), 0o600))

	for _, tc := range []struct {
		name    string
		path    string
		opts    booking.BoltOptions
		invalid bool
		damaged bool
	}{
		{"negative lock timeout", filepath.Join(dir, "a.db"), booking.BoltOptions{LockTimeout: -1}, true, false},
		{"negative batch size", filepath.Join(dir, "a.db"), booking.BoltOptions{MaxBatchSize: -1}, true, false},
		{"missing directory", filepath.Join(dir, "no", "such", "dir.db"), booking.BoltOptions{}, false, false},
		{"not a bolt file", notBolt, booking.BoltOptions{}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := booking.OpenBolt(tc.path, tc.opts)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Equal(t, tc.invalid, errors.Is(err, booking.ErrInvalidConfig), err.Error())
			assert.Equal(t, tc.invalid, errors.Is(tc.opts.Validate(), booking.ErrInvalidConfig))
			assert.NotErrorIs(t, err, booking.ErrLocked)
			assert.Equal(t, tc.damaged, errors.Is(err, booking.ErrDamaged), err.Error())
			if tc.damaged {
				assert.Contains(t, err.Error(), "it is not a bbolt database")
			}
			if !tc.invalid {
				assert.Equal(t, 1, strings.Count(err.Error(), tc.path), "the path once: %v", err)
			}
		})
	}
}

// TestBoltBatchRefusalsDoNotPoison starts, all at once, bookings that
// race for one room, bookings that race for a date with room for one, and
// bookings that cannot conflict, so that many share a sync of the journal: the refused ones must not make the others fail.
func TestBoltBatchRefusalsDoNotPoison(t *testing.T) {
	ctx := context.Background()
	s, err := booking.OpenBolt(filepath.Join(t.TempDir(), "bookings.db"), booking.BoltOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	const perGroup = 30
	sameRoom, oneSlot := date(2026, 12, 1), date(2026, 12, 2)
	rooms := validRooms(perGroup)
	errs := make([][perGroup]error, 3)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, room := range rooms {
		wg.Go(func() { <-start; errs[0][i] = s.Book(ctx, "312", sameRoom, 5) })
		wg.Go(func() { <-start; errs[1][i] = s.Book(ctx, room, oneSlot, 1) })
		wg.Go(func() { <-start; errs[2][i] = s.Book(ctx, room, date(2027, 1, 1)+wire.Date(i), 5) })
	}
	close(start)
	wg.Wait()

	for g, refusal := range []error{booking.ErrDuplicate, booking.ErrFullyBooked} {
		won := 0
		for _, err := range errs[g] {
			if err == nil {
				won++
				continue
			}
			assert.ErrorIs(t, err, refusal)
		}
		assert.Equal(t, 1, won, "group %d", g)
	}
	for i, err := range errs[2] {
		require.NoError(t, err, rooms[i])
		dates, err := s.DatesFor(ctx, rooms[i])
		require.NoError(t, err)
		assert.Contains(t, dates, date(2027, 1, 1)+wire.Date(i))
	}
}

// TestBoltCloseDuringBookings closes the store while bookings are in
// flight: each gets success or ErrClosed, and every acknowledged booking
// is in the file afterwards.
func TestBoltCloseDuringBookings(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bookings.db")
	s, err := booking.OpenBolt(path, booking.BoltOptions{})
	require.NoError(t, err)

	rooms := validRooms(100)
	errs := make([]error, len(rooms))
	started := make(chan struct{}, len(rooms))
	var wg sync.WaitGroup
	for i, room := range rooms {
		wg.Go(func() {
			started <- struct{}{}
			errs[i] = s.Book(ctx, room, date(2026, 12, 1), len(rooms))
		})
	}
	for range rooms {
		<-started
	}
	require.NoError(t, s.Close())
	wg.Wait()

	s = openBolt(t, path)
	got, err := s.RoomsOn(ctx, date(2026, 12, 1))
	require.NoError(t, err)
	var acked []string
	for i, err := range errs {
		if err != nil {
			assert.ErrorIs(t, err, booking.ErrClosed, rooms[i])
			continue
		}
		acked = append(acked, rooms[i])
	}
	assert.Equal(t, acked, got)
	t.Logf("%d bookings acknowledged before Close, %d refused with ErrClosed", len(acked), len(rooms)-len(acked))
}

// TestStoreConcurrentLimit books 200 rooms on one date straight on each
// store, with a mix of readers: exactly limit bookings succeed.
func TestStoreConcurrentLimit(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) booking.Store) {
		ctx := context.Background()
		s := open(t)
		d := date(2026, 12, 3)
		rooms := validRooms(200)
		errs := make([]error, len(rooms))
		var wg sync.WaitGroup
		for i, room := range rooms {
			wg.Go(func() {
				errs[i] = s.Book(ctx, room, d, 5)
				if i%10 == 0 {
					got, err := s.RoomsOn(ctx, d)
					assert.NoError(t, err)
					assert.LessOrEqual(t, len(got), 5)
				}
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			assert.ErrorIs(t, err, booking.ErrFullyBooked)
		}
		assert.Equal(t, 5, ok)
		got, err := s.RoomsOn(ctx, d)
		require.NoError(t, err)
		assert.Len(t, got, 5)
	})
}

// TestBoltStoreErrorIsReturned makes bbolt itself refuse a write (an empty
// key, a key over its 32 KiB limit): the error comes back wrapped, is not
// mistaken for a rule's refusal, and nothing is written.
func TestBoltStoreErrorIsReturned(t *testing.T) {
	ctx := context.Background()
	d := date(2026, 12, 1)
	for _, tc := range []struct {
		name string
		room string
		want error
	}{
		{"empty room", "", berrors.ErrBucketNameRequired},
		{"room too long", strings.Repeat("3", bolt.MaxKeySize+1), berrors.ErrKeyTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openBolt(t, filepath.Join(t.TempDir(), "bookings.db"))
			err := s.Book(ctx, tc.room, d, 5)
			require.ErrorIs(t, err, tc.want)
			assert.NotErrorIs(t, err, booking.ErrDuplicate)
			assert.NotErrorIs(t, err, booking.ErrFullyBooked)
			assert.Contains(t, err.Error(), "booking: bolt: book ")
			rooms, err := s.RoomsOn(ctx, d)
			require.NoError(t, err)
			assert.Nil(t, rooms, "a failed write leaves nothing behind")

			svc := newService(t, s)
			require.Equal(t, wire.ErrorReply(wire.MsgNoRoomsOn(d)), svc.Handle(ctx, wire.Request{Action: wire.ActionBookingsOnDate, Date: d}))
		})
	}
}

func TestOpenStore(t *testing.T) {
	mem, err := booking.OpenStore(context.Background(), booking.StoreConfig{Kind: booking.StoreMemory})
	require.NoError(t, err)
	assert.IsType(t, &booking.MemoryStore{}, mem)
	require.NoError(t, mem.Close())

	path := filepath.Join(t.TempDir(), "b.db")
	bolt, err := booking.OpenStore(context.Background(), booking.StoreConfig{Kind: booking.StoreBolt, Path: path})
	require.NoError(t, err)
	assert.IsType(t, &booking.BoltStore{}, bolt)
	require.NoError(t, bolt.Close())
	assert.FileExists(t, path)

	for _, cfg := range []booking.StoreConfig{{}, {Kind: "sqlite"}, {Kind: booking.StoreBolt}} {
		_, err := booking.OpenStore(context.Background(), cfg)
		require.ErrorIs(t, err, booking.ErrInvalidConfig, "%+v", cfg)
	}
	_, err = booking.OpenStore(context.Background(), booking.StoreConfig{Kind: "sqlite"})
	assert.EqualError(t, err, `booking: invalid config: store kind "sqlite": choose bolt, memory or postgres`)
}
