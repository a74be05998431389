package booking_test

import (
	"context"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/wire"
)

// requireDamaged checks that err says path is damaged, and what.
func requireDamaged(t *testing.T, err error, path, what string) {
	t.Helper()
	require.ErrorIs(t, err, booking.ErrDamaged)
	var de *booking.DamageError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, path, de.Path)
	assert.Contains(t, err.Error(), "booking: database "+path+" is damaged: ")
	assert.Contains(t, err.Error(), what)
}

// bookAll books bs in a new store at path and closes it.
func bookAll(t *testing.T, path string, bs ...knownBooking) {
	t.Helper()
	for _, b := range bs { // one open each, so that each booking is one commit of the file
		s, err := booking.OpenBolt(path, booking.BoltOptions{})
		require.NoError(t, err)
		require.NoError(t, s.Book(context.Background(), b.Room, b.Date, 340))
		require.NoError(t, s.Close())
	}
}

// TestOpenBoltShortFiles: a file that exists but is empty, or shorter than
// an empty database, is damaged, not a new database (it used to be
// silently replaced by an empty one).
func TestOpenBoltShortFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		what string
	}{
		{"empty", 0, "it is empty (0 bytes), which no database ever is"},
		{"one page", os.Getpagesize(), "shorter than the"},
		{"three pages", 3 * os.Getpagesize(), "shorter than the"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bookings.db")
			bookAll(t, path, knownBooking{"312", date(2030, 12, 1)})
			require.NoError(t, os.Truncate(path, int64(tc.size)))
			s, err := booking.OpenBolt(path, booking.BoltOptions{})
			require.Error(t, err)
			assert.Nil(t, s)
			requireDamaged(t, err, path, tc.what)
			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, int64(tc.size), fi.Size(), "the damaged file is left as it was")
		})
	}
}

// newestHeaderPage returns the offset of the header page (0 or 1) with
// the higher commit number in the bbolt file at path.
func newestHeaderPage(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	ps := os.Getpagesize()
	if binary.NativeEndian.Uint64(b[ps+64:]) > binary.NativeEndian.Uint64(b[64:]) {
		return int64(ps)
	}
	return 0
}

// flipByte XORs the byte at off in the file at path with 0x5a.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x5a
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
}

// TestOpenBoltNewestHeaderPageDamaged: a damaged newest header page used
// to make bbolt fall back to the one before without a word, losing the
// last commit's bookings. Now the open is refused, and salvage can still
// copy the bookings as of the commit before, saying so.
func TestOpenBoltNewestHeaderPageDamaged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bookings.db")
	first, last := knownBooking{"312", date(2030, 12, 1)}, knownBooking{"313", date(2030, 12, 1)}
	bookAll(t, path, first, last)
	flipByte(t, path, newestHeaderPage(t, path)+64) // the commit number

	_, err := booking.OpenBolt(path, booking.BoltOptions{})
	requireDamaged(t, err, path, "(its checksum does not match its contents): if it held the last commit, bbolt would quietly serve the one before")
	_, err = booking.CheckBolt(path, booking.BoltOptions{})
	requireDamaged(t, err, path, "header page")

	out := filepath.Join(dir, "salvaged.db")
	r, err := booking.SalvageBolt(path, out, booking.SalvageOptions{})
	require.NoError(t, err)
	assert.False(t, r.Sound)
	assert.Equal(t, 1, r.Copied, "the bookings as of the commit before the last")
	require.NotEmpty(t, r.Problems)
	assert.Contains(t, r.Problems[0], "a later commit may be missing")
	s := openBolt(t, out)
	rooms, err := s.RoomsOn(context.Background(), first.Date)
	require.NoError(t, err)
	assert.Equal(t, []string{"312"}, rooms)
}

// TestSalvageBoltPrevious loses the root page and the free-page list of
// the last commit (writes the disk lost): no booking can be read as of
// that commit, so salvage makes no file, but the commit before is whole,
// and salvage with Previous copies it, saying so.
func TestSalvageBoltPrevious(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bookings.db")
	first, last := knownBooking{"312", date(2030, 12, 1)}, knownBooking{"313", date(2030, 12, 1)}
	bookAll(t, path, first, last)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	meta := raw[newestHeaderPage(t, path):]
	ps := uint64(os.Getpagesize())
	for _, id := range []uint64{binary.NativeEndian.Uint64(meta[32:]), binary.NativeEndian.Uint64(meta[48:])} { // the root, the free-page list
		clear(raw[id*ps : (id+1)*ps])
	}
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	_, err = booking.OpenBolt(path, booking.BoltOptions{})
	requireDamaged(t, err, path, "the root")

	lastOut := filepath.Join(dir, "last.db")
	r, err := booking.SalvageBolt(path, lastOut, booking.SalvageOptions{})
	requireNothingSalvaged(t, path, lastOut, r, err)
	assert.True(t, r.PreviousReadable)

	out := filepath.Join(dir, "previous.db")
	r, err = booking.SalvageBolt(path, out, booking.SalvageOptions{Previous: true})
	require.NoError(t, err)
	assert.Equal(t, 1, r.Copied)
	assert.False(t, r.Sound)
	require.NotEmpty(t, r.Problems)
	assert.Contains(t, r.Problems[0], "the one before the last: what the last commit")
	s := openBolt(t, out)
	rooms, err := s.RoomsOn(context.Background(), first.Date)
	require.NoError(t, err)
	assert.Equal(t, []string{"312"}, rooms)
}

// TestOpenBoltOlderHeaderPageDamaged: the other header page damaged loses
// nothing yet, but the file is refused all the same: the next commit
// would overwrite the one good page, and nothing could fall back.
func TestOpenBoltOlderHeaderPageDamaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bookings.db")
	bookAll(t, path, knownBooking{"312", date(2030, 12, 1)})
	flipByte(t, path, int64(os.Getpagesize())-newestHeaderPage(t, path)+20)
	_, err := booking.OpenBolt(path, booking.BoltOptions{})
	requireDamaged(t, err, path, "format version")
}

// editBolt runs fn in a bbolt transaction on the file at path, as another
// program (or damage that keeps bbolt's structure whole) would.
func editBolt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, db.Update(fn))
	require.NoError(t, db.Close())
}

// TestOpenBoltDataInvariants: files whose bbolt structure is whole but
// whose bookings are not as the store writes them are refused, each with
// what is wrong. The first used to be served: BOOKINGSONDATE listed a
// booking that BOOKINGSFORROOM said did not exist.
func TestOpenBoltDataInvariants(t *testing.T) {
	d := date(2030, 12, 1)
	dk := binary.BigEndian.AppendUint32(nil, uint32(d))
	for _, tc := range []struct {
		name string
		edit func(tx *bolt.Tx) error
		what string
	}{
		{"one index only", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("rooms")).Bucket([]byte("312")).Delete(dk)
		}, "the dates index lists room 312 on 2030-12-01, but the rooms index does not"},
		{"unknown bucket", func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("settings"))
			return err
		}, `it holds "settings", which poolside never writes`},
		{"invalid room", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("dates")).Bucket(dk).Put([]byte("999"), []byte{1})
		}, `has the room "999", which is not a room`},
		{"null date", func(tx *bolt.Tx) error {
			b, err := tx.Bucket([]byte("dates")).CreateBucket([]byte{0, 0, 0, 0})
			if err != nil {
				return err
			}
			return b.Put([]byte("312"), []byte{1})
		}, "null date"},
		{"other value", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("dates")).Bucket(dk).Put([]byte("312"), []byte{2})
		}, `the value of "312" is not the one poolside writes`},
		{"empty date", func(tx *bolt.Tx) error {
			_, err := tx.Bucket([]byte("dates")).CreateBucket(binary.BigEndian.AppendUint32(nil, uint32(d+2)))
			return err
		}, "holds no bookings"},
		{"one index missing", func(tx *bolt.Tx) error {
			return tx.DeleteBucket([]byte("rooms"))
		}, "it has a dates index but not the other one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bookings.db")
			bookAll(t, path, knownBooking{"312", d}, knownBooking{"313", d}, knownBooking{"312", d + 1})
			editBolt(t, path, tc.edit)
			s, err := booking.OpenBolt(path, booking.BoltOptions{})
			assert.Nil(t, s)
			requireDamaged(t, err, path, tc.what)
		})
	}
}

// TestOpenBoltNewFile: a missing file becomes a new database with its two
// indexes, made under another name and linked into place (nothing else but its
// journal is left in the directory); a file bbolt initialised but poolside never
// wrote to (an older version stopped before its first commit) opens as an
// empty store.
func TestOpenBoltNewFile(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "bookings.db")
		s := openBolt(t, path)
		require.NoError(t, s.Close())
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 2, "the file and its journal")
		assert.Equal(t, "bookings.db", entries[0].Name())
		assert.Equal(t, "bookings.db-wal", entries[1].Name())
		r, err := booking.CheckBolt(path, booking.BoltOptions{})
		require.NoError(t, err)
		assert.False(t, r.Fresh)
		assert.Zero(t, r.Bookings)
	})
	t.Run("initialised only", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bookings.db")
		db, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Close())
		r, err := booking.CheckBolt(path, booking.BoltOptions{})
		require.NoError(t, err)
		assert.True(t, r.Fresh)
		s := openBolt(t, path)
		require.NoError(t, s.Book(context.Background(), "312", date(2030, 12, 1), 5))
		require.NoError(t, s.Close())
		r, err = booking.CheckBolt(path, booking.BoltOptions{})
		require.NoError(t, err)
		assert.False(t, r.Fresh)
		assert.Equal(t, 1, r.Bookings)
	})
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		_, err := booking.OpenBolt(dir, booking.BoltOptions{})
		require.Error(t, err)
		assert.NotErrorIs(t, err, booking.ErrDamaged)
		var pe *fs.PathError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, dir, pe.Path)
	})
}

// TestCheckBolt: the report of a sound file, which the check leaves
// byte for byte as it was; and a file a server has open is reported in
// use, not damaged.
func TestCheckBolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bookings.db")
	known := buildKnownStore(t, path)
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)

	r, err := booking.CheckBolt(path, booking.BoltOptions{})
	require.NoError(t, err)
	rooms := map[string]bool{}
	perDate := map[wire.Date]int{}
	for _, b := range known {
		rooms[b.Room] = true
		perDate[b.Date]++
	}
	assert.Equal(t, len(known), r.Bookings)
	assert.Equal(t, len(rooms), r.Rooms)
	assert.Equal(t, len(perDate), r.Dates)
	assert.Equal(t, date(2030, 1, 1), r.First)
	assert.Equal(t, date(2030, 1, 1)+149, r.Last)
	assert.Equal(t, 3, r.MostOnOneDate)
	assert.Zero(t, r.AfterLastDate)
	assert.Equal(t, os.Getpagesize(), r.PageSize)
	assert.Equal(t, fi.Size(), r.Size)
	assert.Positive(t, r.FreePages, "the unbooked bookings freed pages")
	assert.Less(t, r.FreePages, r.Pages)

	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the check changed the file")
	fi2, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fi.ModTime(), fi2.ModTime())

	s := openBolt(t, path)
	_, err = booking.CheckBolt(path, booking.BoltOptions{LockTimeout: 100 * time.Millisecond})
	require.ErrorIs(t, err, booking.ErrLocked)
	assert.NotErrorIs(t, err, booking.ErrDamaged)
	require.NoError(t, s.Close())

	_, err = booking.CheckBolt(filepath.Join(t.TempDir(), "missing.db"), booking.BoltOptions{})
	require.ErrorIs(t, err, fs.ErrNotExist)
}

// TestSalvageBolt damages the page of room 312's dates (150 bookings) and
// salvages the file: the other bookings are copied, the 150 are listed as
// dropped (the dates index still lists them), and the new file is sound.
// A sound file is copied whole; salvage never overwrites a file.
func TestSalvageBolt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bookings.db")
	known := buildKnownStore(t, path)

	t.Run("sound", func(t *testing.T) {
		out := filepath.Join(dir, "copy.db")
		r, err := booking.SalvageBolt(path, out, booking.SalvageOptions{})
		require.NoError(t, err)
		assert.True(t, r.Sound)
		assert.Equal(t, len(known), r.Copied)
		assert.Empty(t, r.Dropped)
		assert.Empty(t, r.Problems)
		s := openBolt(t, out)
		assert.Empty(t, wrongAnswer(s, known))

		_, err = booking.SalvageBolt(path, out, booking.SalvageOptions{})
		require.ErrorIs(t, err, fs.ErrExist)
		assert.Contains(t, err.Error(), out+" already exists")
	})

	t.Run("damaged", func(t *testing.T) {
		var page uint64
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		require.NoError(t, err)
		require.NoError(t, db.View(func(tx *bolt.Tx) error {
			page = uint64(tx.Bucket([]byte("rooms")).Bucket([]byte("312")).Root())
			return nil
		}))
		require.NoError(t, db.Close())
		require.NotZero(t, page, "room 312's dates have a page of their own")
		damaged := filepath.Join(dir, "damaged.db")
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		ps := uint64(os.Getpagesize())
		clear(raw[page*ps : (page+1)*ps])
		require.NoError(t, os.WriteFile(damaged, raw, 0o600))

		_, err = booking.OpenBolt(damaged, booking.BoltOptions{})
		requireDamaged(t, err, damaged, "room \"312\" in the rooms index")

		out := filepath.Join(dir, "salvaged.db")
		r, err := booking.SalvageBolt(damaged, out, booking.SalvageOptions{})
		require.NoError(t, err)
		assert.False(t, r.Sound)
		assert.Equal(t, len(known)-150, r.Copied)
		require.Len(t, r.Dropped, 150)
		for i, b := range r.Dropped {
			assert.Equal(t, booking.DroppedBooking{Room: "312", Date: date(2030, 1, 1) + wire.Date(i), Index: "dates"}, b)
		}
		require.NotEmpty(t, r.Problems)
		_, err = booking.CheckBolt(out, booking.BoltOptions{})
		require.NoError(t, err)
		var rest []knownBooking
		for _, b := range known {
			if b.Room != "312" {
				rest = append(rest, b)
			}
		}
		s := openBolt(t, out)
		assert.Empty(t, wrongAnswer(s, rest))
	})

	// Cut short before its root page and free-page list, which bbolt
	// writes last, the file has index pages left that cannot be told from
	// old copies of pages, so no booking is read and no file made. (An
	// empty file used to be made, and salvage to report success.)
	t.Run("cut short", func(t *testing.T) {
		l := layoutOf(t, path)
		pages := min(l.root, l.freelist)
		require.GreaterOrEqual(t, pages, uint64(4), "the cut leaves more than an empty database's pages")
		cdir := t.TempDir()
		cut := filepath.Join(cdir, "cut.db")
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(cut, raw[:pages*uint64(os.Getpagesize())], 0o600))
		_, err = booking.OpenBolt(cut, booking.BoltOptions{})
		requireDamaged(t, err, cut, "it has been cut short")

		out := filepath.Join(cdir, "cut-salvaged.db")
		sr, err := booking.SalvageBolt(cut, out, booking.SalvageOptions{})
		requireNothingSalvaged(t, cut, out, sr, err)
		assert.Contains(t, sr.Problems[0], "it has been cut short")
		assertProblem(t, sr.Problems, "cannot be told from old copies of pages")
	})

	t.Run("unreadable", func(t *testing.T) {
		empty := filepath.Join(dir, "empty.db")
		require.NoError(t, os.WriteFile(empty, nil, 0o600))
		out := filepath.Join(dir, "nothing.db")
		_, err := booking.SalvageBolt(empty, out, booking.SalvageOptions{})
		requireDamaged(t, err, empty, "it is empty (0 bytes)")
		_, err = os.Stat(out)
		assert.ErrorIs(t, err, fs.ErrNotExist, "no file is made")
	})
}
