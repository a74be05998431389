package booking_test

import (
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/poolside-dev/poolside/booking"
)

// boltLayout is where the last commit of a bbolt file keeps its root
// page, its free-page list and the root page of each index.
type boltLayout struct {
	root, freelist, dates, rooms uint64
}

// layoutOf reads the layout of the bbolt file at path.
func layoutOf(t *testing.T, path string) boltLayout {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	meta := raw[newestHeaderPage(t, path):]
	l := boltLayout{root: binary.NativeEndian.Uint64(meta[32:]), freelist: binary.NativeEndian.Uint64(meta[48:])}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		l.dates, l.rooms = uint64(tx.Bucket([]byte("dates")).Root()), uint64(tx.Bucket([]byte("rooms")).Root())
		return nil
	}))
	return l
}

// zeroPages writes a copy of the file at path to a new file in dir with
// the given pages zeroed (writes the disk lost), and returns its path.
func zeroPages(t *testing.T, path, dir string, pages ...uint64) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	ps := uint64(os.Getpagesize())
	for _, id := range pages {
		clear(raw[id*ps : (id+1)*ps])
	}
	damaged := filepath.Join(dir, "damaged.db")
	require.NoError(t, os.WriteFile(damaged, raw, 0o600))
	return damaged
}

// requireNothingSalvaged checks that salvaging src to out failed as
// damage, with no booking read, and made no file in out's directory.
func requireNothingSalvaged(t *testing.T, src, out string, r booking.SalvageReport, err error) {
	t.Helper()
	requireDamaged(t, err, src, "")
	assert.Zero(t, r.Copied)
	assert.False(t, r.Sound)
	assert.NotEmpty(t, r.Problems)
	_, serr := os.Lstat(out)
	assert.ErrorIs(t, serr, fs.ErrNotExist, "no file is made")
	entries, derr := os.ReadDir(filepath.Dir(out))
	require.NoError(t, derr)
	for _, e := range entries {
		assert.Contains(t, []string{filepath.Base(src), filepath.Base(booking.JournalPath(src))}, e.Name(), "salvage left a file behind")
	}
}

// assertProblem checks that one of problems contains what.
func assertProblem(t *testing.T, problems []string, what string) {
	t.Helper()
	for _, p := range problems {
		if strings.Contains(p, what) {
			return
		}
	}
	assert.Failf(t, "no problem says what was expected", "none of %q contains %q", problems, what)
}

// TestSalvageBoltPagesNothingRefersTo loses the root page, or the branch
// page at the top of an index, of the known store's last commit: the
// index pages below are then found by reading every page, and since the
// free-page list shows they are in use, every booking is copied. When the
// free-page list is lost too, they cannot be told from old copies of
// pages, nothing is copied, and no file is made. (Salvage used to copy no
// booking, or only those of one index, and report success.)
func TestSalvageBoltPagesNothingRefersTo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bookings.db")
	known := buildKnownStore(t, path)
	l := layoutOf(t, path)
	ps := uint64(os.Getpagesize())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, id := range []uint64{l.dates, l.rooms} {
		require.NotZero(t, id, "each index has pages of its own")
	}
	require.Equal(t, uint16(0x01), binary.NativeEndian.Uint16(raw[l.dates*ps+8:]), "the dates index's root is a branch page")

	for _, tc := range []struct {
		name  string
		pages []uint64
		what  string
	}{
		{"root page", []uint64{l.root}, "the root"},
		{"dates index branch page", []uint64{l.dates}, "the dates index"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			damaged := zeroPages(t, path, dir, tc.pages...)
			_, err := booking.OpenBolt(damaged, booking.BoltOptions{})
			requireDamaged(t, err, damaged, tc.what)

			out := filepath.Join(dir, "salvaged.db")
			r, err := booking.SalvageBolt(damaged, out, booking.SalvageOptions{})
			require.NoError(t, err)
			assert.False(t, r.Sound)
			assert.Equal(t, len(known), r.Copied)
			assert.Empty(t, r.Dropped)
			assertProblem(t, r.Problems, "reading every page found ")
			_, err = booking.CheckBolt(out, booking.BoltOptions{})
			require.NoError(t, err)
			s := openBolt(t, out)
			assert.Empty(t, wrongAnswer(s, known))
		})
	}

	t.Run("root page and free-page list", func(t *testing.T) {
		dir := t.TempDir()
		damaged := zeroPages(t, path, dir, l.root, l.freelist)
		out := filepath.Join(dir, "salvaged.db")
		r, err := booking.SalvageBolt(damaged, out, booking.SalvageOptions{})
		requireNothingSalvaged(t, damaged, out, r, err)
		assert.Contains(t, err.Error(), "the root")
		assertProblem(t, r.Problems, "cannot be told from old copies of pages")
	})
}

// TestSalvageBoltCutShortRootLost cuts a database short, losing the root
// page and the free-page list of its last commit (bbolt writes them
// last, so they are often at the end): no booking can be read, so salvage
// fails as damage and makes no file. (It used to copy none, make an empty
// file and report success.)
func TestSalvageBoltCutShortRootLost(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bookings.db")
	bookAll(t, path, knownBooking{"312", date(2030, 12, 1)}, knownBooking{"313", date(2030, 12, 1)}, knownBooking{"312", date(2030, 12, 2)})
	l := layoutOf(t, path)
	cut := min(l.root, l.freelist)
	require.GreaterOrEqual(t, cut, uint64(4), "the cut leaves more than an empty database's pages")
	require.NoError(t, os.Truncate(path, int64(cut)*int64(os.Getpagesize())))

	out := filepath.Join(dir, "salvaged.db")
	r, err := booking.SalvageBolt(path, out, booking.SalvageOptions{})
	requireNothingSalvaged(t, path, out, r, err)
	assert.Contains(t, r.Problems[0], "it has been cut short")
	assertProblem(t, r.Problems, "cannot be told from old copies of pages")
}

// TestSalvageBoltDamagedAndEmpty: a damaged file with no bookings (here
// only the strict check minds the damage: a header page's page header is
// not bbolt's) is not copied to an empty file that would look salvaged.
func TestSalvageBoltDamagedAndEmpty(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bookings.db")
	s, err := booking.OpenBolt(path, booking.BoltOptions{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	flags := binary.NativeEndian.AppendUint16(nil, 0x10) // header page 0 calls itself a free-page list
	_, err = f.WriteAt(flags, 8)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	out := filepath.Join(dir, "salvaged.db")
	r, err := booking.SalvageBolt(path, out, booking.SalvageOptions{})
	requireNothingSalvaged(t, path, out, r, err)
	assert.Contains(t, err.Error(), "header page 0 has a page header bbolt does not write")
}
