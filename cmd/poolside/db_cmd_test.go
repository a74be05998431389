package main

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/internal/wiretest"
	"github.com/poolside-dev/poolside/wire"
)

// dbBookings are the bookings of the databases these tests make.
var dbBookings = []slot{
	{"312", wire.DateOf(2030, 12, 1)},
	{"313", wire.DateOf(2030, 12, 1)},
	{"312", wire.DateOf(2030, 12, 2)},
}

// makeDatabase writes dbBookings to a new database in a new directory and
// returns its path. Each booking is its own bbolt commit (a store opened
// and closed for it: the journal reaches the file at Close), so that the
// commit before the last holds all but the last booking, as the damage
// and salvage tests expect.
func makeDatabase(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "poolside.db")
	for _, b := range dbBookings {
		s, err := booking.OpenBolt(path, booking.BoltOptions{})
		require.NoError(t, err)
		require.NoError(t, s.Book(context.Background(), b.room, b.date, booking.MaxBookingsPerDay))
		require.NoError(t, s.Close())
	}
	return path
}

// damageNewestHeader flips a byte of the commit number in the newest of
// the two header pages of the database at path: bbolt alone would fall
// back to the other one and lose the last booking.
func damageNewestHeader(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	ps := os.Getpagesize()
	at := 64
	if binary.NativeEndian.Uint64(b[ps+64:]) > binary.NativeEndian.Uint64(b[64:]) {
		at += ps
	}
	b[at] ^= 0x40
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// lastCommitPages returns the pages of the bbolt file raw that hold the
// root and the free-page list of its last commit.
func lastCommitPages(t *testing.T, raw []byte) (root, freelist int) {
	t.Helper()
	ps := os.Getpagesize()
	require.Greater(t, len(raw), 2*ps)
	at := 0
	if binary.NativeEndian.Uint64(raw[ps+64:]) > binary.NativeEndian.Uint64(raw[64:]) {
		at = ps
	}
	return int(binary.NativeEndian.Uint64(raw[at+32:])), int(binary.NativeEndian.Uint64(raw[at+48:]))
}

func TestDBCheck(t *testing.T) {
	t.Run("sound", func(t *testing.T) {
		path := makeDatabase(t)
		before, err := os.ReadFile(path)
		require.NoError(t, err)
		stdout, _, err := runCLI(t, "db", "check", path)
		require.NoError(t, err)
		assert.Contains(t, stdout, path+" is sound: 3 bookings of 2 rooms on 2 dates, from 2030-12-01 to 2030-12-02 (at most 2 on one date)\n")
		assert.Contains(t, stdout, "  journal "+booking.JournalPath(path)+": empty, every acknowledged write is in the file\n")
		after, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, before, after, "check changed the file")
	})
	t.Run("writes in the journal", func(t *testing.T) {
		// As a kill -9 leaves it: the file as it was before two
		// acknowledged writes, the journal that holds them.
		path := makeDatabase(t)
		crashed := filepath.Join(t.TempDir(), "poolside.db")
		copyFile(t, path, crashed)
		s, err := booking.OpenBolt(path, booking.BoltOptions{})
		require.NoError(t, err)
		require.NoError(t, s.Book(context.Background(), "314", wire.DateOf(2030, 12, 1), booking.MaxBookingsPerDay))
		require.NoError(t, s.Unbook(context.Background(), "313", wire.DateOf(2030, 12, 1)))
		copyFile(t, booking.JournalPath(path), booking.JournalPath(crashed))
		require.NoError(t, s.Close())
		before, err := os.ReadFile(booking.JournalPath(crashed))
		require.NoError(t, err)

		stdout, _, err := runCLI(t, "db", "check", crashed)
		require.NoError(t, err)
		assert.Contains(t, stdout, crashed+" is sound: 3 bookings of 2 rooms on 2 dates, from 2030-12-01 to 2030-12-02 (at most 2 on one date)\n")
		assert.Contains(t, stdout, "  journal "+booking.JournalPath(crashed)+": 2 acknowledged writes not copied into the file yet")
		after, err := os.ReadFile(booking.JournalPath(crashed))
		require.NoError(t, err)
		assert.Equal(t, before, after, "check changed the journal")
	})
	t.Run("damaged journal", func(t *testing.T) {
		path := makeDatabase(t)
		zeroJournalHeaders(t, path)
		stdout, _, err := runCLI(t, "db", "check", path)
		require.Error(t, err)
		assert.Equal(t, exitDamaged, exitCode(err), "%v", err)
		assert.Contains(t, stdout, booking.JournalPath(path)+" is damaged:\n  - neither header of the journal is readable\n")
		assert.Contains(t, err.Error(), "the journal "+booking.JournalPath(path)+" of the booking database "+path+" is damaged")
	})
	t.Run("damaged", func(t *testing.T) {
		path := makeDatabase(t)
		damageNewestHeader(t, path)
		stdout, _, err := runCLI(t, "db", "check", path)
		require.Error(t, err)
		assert.Equal(t, exitDamaged, exitCode(err), "%v", err)
		assert.Contains(t, stdout, path+" is damaged:\n  - header page ")
		assert.Contains(t, stdout, "and lose that commit's bookings")
		assert.Equal(t, "the booking database "+path+" is damaged: restore it from a backup, or copy the bookings that can still be read into a new file with 'poolside db salvage "+path+" NEWFILE'", err.Error())
	})
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none.db")
		_, _, err := runCLI(t, "db", "check", path)
		require.Error(t, err)
		assert.Equal(t, exitInternal, exitCode(err))
		assert.Equal(t, "cannot check "+path+": no such file or directory", err.Error())
		_, statErr := os.Stat(path)
		assert.ErrorIs(t, statErr, os.ErrNotExist, "check made the file")
	})
	t.Run("in use", func(t *testing.T) {
		path := makeDatabase(t)
		s, err := booking.OpenBolt(path, booking.BoltOptions{})
		require.NoError(t, err)
		defer s.Close()
		_, _, err = runCLI(t, "db", "check", path)
		require.Error(t, err)
		assert.Equal(t, exitInternal, exitCode(err))
		assert.ErrorIs(t, err, booking.ErrLocked)
		assert.Contains(t, err.Error(), "it is in use by another process (a running poolside serve?); stop it first")
	})
	for _, args := range [][]string{{"db", "check"}, {"db", "check", "a.db", "b.db"}, {"db", "salvage", "a.db"}, {"db", "chek", "a.db"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, _, err := runCLI(t, args...)
			require.Error(t, err)
			assert.Equal(t, exitUsage, exitCode(err), "%v", err)
			assert.Contains(t, err.Error(), "--help")
		})
	}
	// Arguments missing or too many are said in words, with the usage
	// line, not as cobra's "accepts 1 arg(s), received 0".
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"db", "check"}, "missing FILE, the database file to check; usage: poolside db check FILE (see 'poolside db check --help')"},
		{[]string{"db", "check", "a.db", "b.db"}, `too many arguments: got 2 ("a.db" "b.db"), but poolside db check takes only FILE; usage: poolside db check FILE (see 'poolside db check --help')`},
		{[]string{"db", "salvage"}, "missing FILE, the database file to copy from, and NEWFILE, the new file to copy its bookings into; usage: poolside db salvage FILE NEWFILE (see 'poolside db salvage --help')"},
		{[]string{"db", "salvage", "a.db"}, "missing NEWFILE, the new file to copy its bookings into; usage: poolside db salvage FILE NEWFILE (see 'poolside db salvage --help')"},
		{[]string{"db", "salvage", "--previous", "a.db", "b.db", "c.db"}, `too many arguments: got 3 ("a.db" "b.db" "c.db"), but poolside db salvage takes only FILE and NEWFILE; usage: poolside db salvage FILE NEWFILE (see 'poolside db salvage --help')`},
	} {
		t.Run("message "+strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, _, err := runCLI(t, tc.args...)
			require.Error(t, err)
			assert.Equal(t, exitUsage, exitCode(err), "%v", err)
			assert.Equal(t, tc.msg, err.Error())
			assert.Empty(t, stdout)
		})
	}
	t.Run("did you mean", func(t *testing.T) {
		_, _, err := runCLI(t, "db", "chek", "a.db")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "did you mean check?")
	})
}

func TestDBSalvage(t *testing.T) {
	t.Run("damaged", func(t *testing.T) {
		path := makeDatabase(t)
		damageNewestHeader(t, path)
		out := filepath.Join(filepath.Dir(path), "salvaged.db")
		stdout, _, err := runCLI(t, "db", "salvage", path, out)
		require.NoError(t, err)
		assert.Contains(t, stdout, path+" is damaged:\n  - header page ")
		assert.Contains(t, stdout, "a later commit may be missing")
		assert.Contains(t, stdout, "copied 2 bookings to "+out+"\n", "as of the commit before the last")
		assert.Contains(t, stdout, "to serve from it: poolside serve --data "+out)
		stdout, _, err = runCLI(t, "db", "check", out)
		require.NoError(t, err, stdout)
		assert.Contains(t, stdout, "is sound: 2 bookings")

		_, _, err = runCLI(t, "db", "salvage", path, out)
		require.Error(t, err)
		assert.Equal(t, exitUsage, exitCode(err))
		assert.Equal(t, out+" already exists: salvage never overwrites a file; name a new one", err.Error())
	})
	t.Run("previous", func(t *testing.T) {
		path := makeDatabase(t)
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		ps := os.Getpagesize()
		root, freelist := lastCommitPages(t, raw)
		clear(raw[root*ps : (root+1)*ps]) // the last commit's root page and free-page list, lost
		clear(raw[freelist*ps : (freelist+1)*ps])
		require.NoError(t, os.WriteFile(path, raw, 0o600))
		dir := filepath.Dir(path)
		last := filepath.Join(dir, "last.db")
		stdout, _, err := runCLI(t, "db", "salvage", path, last)
		require.Error(t, err)
		assert.Equal(t, exitDamaged, exitCode(err), "%v", err)
		assert.Contains(t, stdout, path+" is damaged:\n")
		assert.Equal(t, "no booking can be read from "+path+", so "+last+" was not written: try 'poolside db salvage --previous "+path+" "+last+"', which reads the commit before the last; or restore the bookings from a backup", err.Error())
		assert.NoFileExists(t, last)
		stdout, _, err = runCLI(t, "db", "salvage", "--previous", path, filepath.Join(dir, "previous.db"))
		require.NoError(t, err)
		assert.Contains(t, stdout, "copied 2 bookings", "all but the last")
		assert.Contains(t, stdout, "the one before the last")
	})
	// Cut short, the file loses its last commit's root page and free-page
	// list, which bbolt writes last: no booking can be read. Salvage used
	// to write an empty file, exit 0 and suggest serving it.
	t.Run("cut short", func(t *testing.T) {
		path := makeDatabase(t)
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		root, freelist := lastCommitPages(t, raw)
		cut := min(root, freelist)
		require.GreaterOrEqual(t, cut, 4, "the cut leaves more than an empty database's pages")
		require.NoError(t, os.Truncate(path, int64(cut*os.Getpagesize())))
		out := filepath.Join(filepath.Dir(path), "salvaged.db")
		stdout, _, err := runCLI(t, "db", "salvage", path, out)
		require.Error(t, err)
		assert.Equal(t, exitDamaged, exitCode(err), "%v", err)
		assert.Contains(t, stdout, path+" is damaged:\n  - it has been cut short")
		assert.NotContains(t, stdout, "to serve from it")
		assert.Contains(t, err.Error(), "no booking can be read from "+path+", so "+out+" was not written: ")
		assert.Contains(t, err.Error(), "restore the bookings from a backup")
		assert.NoFileExists(t, out)
	})
	// The rooms index's page lost: the dates index lists every booking,
	// but no booking is in both, so none is copied; those the dates
	// index lists are printed, to book again.
	t.Run("one index lost", func(t *testing.T) {
		path := makeDatabase(t)
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		require.NoError(t, err)
		var rooms int
		require.NoError(t, db.View(func(tx *bolt.Tx) error {
			rooms = int(tx.Bucket([]byte("rooms")).Root())
			return nil
		}))
		require.NoError(t, db.Close())
		require.NotZero(t, rooms, "the rooms index has a page of its own")
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		ps := os.Getpagesize()
		clear(raw[rooms*ps : (rooms+1)*ps])
		require.NoError(t, os.WriteFile(path, raw, 0o600))
		out := filepath.Join(filepath.Dir(path), "salvaged.db")
		stdout, _, err := runCLI(t, "db", "salvage", path, out)
		require.Error(t, err)
		assert.Equal(t, exitDamaged, exitCode(err), "%v", err)
		assert.Contains(t, stdout, "not copied: 3 bookings that only one index lists (if real, book them again with 'poolside book ROOM DATE'):\n"+
			"  312 2030-12-01 (only in the dates index)\n  313 2030-12-01 (only in the dates index)\n  312 2030-12-02 (only in the dates index)\n")
		assert.Contains(t, err.Error(), "no booking is listed by both indexes of "+path+", so "+out+" was not written: ")
		assert.True(t, strings.HasSuffix(err.Error(), "; or book those listed above again on a new database"), err.Error())
		assert.NoFileExists(t, out)
	})
	t.Run("sound", func(t *testing.T) {
		path := makeDatabase(t)
		out := filepath.Join(filepath.Dir(path), "copy.db")
		stdout, _, err := runCLI(t, "db", "salvage", path, out)
		require.NoError(t, err)
		assert.Equal(t, path+" is sound: copied all 3 bookings to "+out+"\n", stdout)
	})
	t.Run("nothing readable", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "empty.db")
		require.NoError(t, os.WriteFile(path, nil, 0o600))
		out := filepath.Join(filepath.Dir(path), "salvaged.db")
		stdout, _, err := runCLI(t, "db", "salvage", path, out)
		require.Error(t, err)
		assert.Equal(t, exitDamaged, exitCode(err))
		assert.Contains(t, stdout, "it is empty (0 bytes)")
		assert.Equal(t, "no booking can be read from "+path+", so "+out+" was not written: restore the bookings from a backup", err.Error())
		assert.NoFileExists(t, out)
	})
}

// TestServeStoreDamaged: serve refuses a damaged database with exit status
// 5 and a message that names the file, says it is damaged, and what to do;
// it prints no readiness line and leaves the file as it was. (An empty
// file used to become a new, empty database.)
func TestServeStoreDamaged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		what   string
	}{
		{"empty", func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, 0)) }, "it is empty (0 bytes)"},
		{"newest header page", damageNewestHeader, "and lose that commit's bookings"},
		{"cut short", func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, int64(5*os.Getpagesize()))) }, "it has been cut short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := makeDatabase(t)
			tc.damage(t, path)
			before, err := os.ReadFile(path)
			require.NoError(t, err)
			stdout, _, err := runCLI(t, "serve", "--addr", "127.0.0.1:0", "--data", path)
			require.Error(t, err)
			assert.Equal(t, exitDamaged, exitCode(err), "%v", err)
			assert.ErrorIs(t, err, booking.ErrDamaged)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, "the booking database "+path+" is damaged, so the server will not start on it: "), msg)
			assert.Contains(t, msg, tc.what)
			assert.Contains(t, msg, "Restore it from a backup, or move it away to start with an empty one; 'poolside db check "+path+"' lists what is wrong")
			assert.NotContains(t, msg, "booking:", "no Go error chain")
			assert.Empty(t, stdout)
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, before, after, "serve changed the damaged file")
		})
	}
	t.Run("journal", func(t *testing.T) {
		path := makeDatabase(t)
		zeroJournalHeaders(t, path)
		_, _, err := runCLI(t, "serve", "--addr", "127.0.0.1:0", "--data", path)
		require.Error(t, err)
		assert.Equal(t, exitDamaged, exitCode(err), "%v", err)
		assert.Equal(t, "the server will not start on --data "+path+": the journal "+booking.JournalPath(path)+" of the booking database "+path+
			" is damaged, and it may hold acknowledged bookings that are not in the database file yet: restore both files from a backup; "+
			"or move the journal away to serve from the file alone, without those bookings ('poolside db check "+path+"' then says what the file holds) "+
			"(neither header of the journal is readable)", err.Error())
	})
	t.Run("not a database", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "notes.txt")
		require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("not a database\n", 2000)), 0o600))
		_, _, err := runCLI(t, "serve", "--addr", "127.0.0.1:0", "--data", path)
		require.Error(t, err)
		assert.Equal(t, exitDamaged, exitCode(err))
		assert.Contains(t, err.Error(), "--data "+path+" is not a booking database (it does not even look like a bbolt file), so the server will not start on it: check that --data names the right file")
	})
}

// TestServeProcessStoreDamaged runs the built binary on damaged databases:
// it exits with status 5 and the message on standard error, not with a
// panic (status 2) or a signal, and never says it is serving.
func TestServeProcessStoreDamaged(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	ps := os.Getpagesize()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"empty", func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, 0)) }},
		{"newest header page", damageNewestHeader},
		{"pages zeroed", func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			clear(b[2*ps:]) // every write after the header pages lost: bbolt alone panics on the root page
			require.NoError(t, os.WriteFile(path, b, 0o600))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := makeDatabase(t)
			tc.damage(t, path)
			p := startProcess(t, "serve", "--addr", "127.0.0.1:0", "--data", path)
			state := p.wait(t, "starting on a damaged database")
			require.NotNil(t, state)
			ws, _ := state.Sys().(interface{ Signaled() bool })
			require.False(t, ws != nil && ws.Signaled(), "killed by a signal: %s", p.stderr.String())
			assert.Equal(t, exitDamaged, state.ExitCode(), p.stderr.String())
			stderr := p.stderr.String()
			assert.Contains(t, stderr, "poolside: the booking database "+path+" is damaged, so the server will not start on it: ")
			assert.NotContains(t, stderr, "panic")
			assert.NotContains(t, stderr, "goroutine ")
			for line := range p.lines {
				assert.NotContains(t, line, "serving on")
			}
		})
	}
	t.Run("then salvaged and served", func(t *testing.T) {
		path := makeDatabase(t)
		damageNewestHeader(t, path)
		out := filepath.Join(filepath.Dir(path), "salvaged.db")
		_, _, err := runCLI(t, "db", "salvage", path, out)
		require.NoError(t, err)
		q := startServe(t, "--data", out)
		nc := q.dial(t)
		r, err := book(nc, slot{"314", wire.FromTime(time.Now()) + 10})
		require.NoError(t, err)
		assert.False(t, r.IsError(), r.Message)
		require.NoError(t, q.stop(t, syscall.SIGTERM))
	})
}

// copyFile copies the file from to the new file to.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o600))
}

// zeroJournalHeaders overwrites both header slots of the journal of the
// database at path with zeros.
func zeroJournalHeaders(t *testing.T, path string) {
	t.Helper()
	j, err := os.OpenFile(booking.JournalPath(path), os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = j.WriteAt(make([]byte, 1024), 0)
	require.NoError(t, err)
	require.NoError(t, j.Close())
}

// TestServeOpensAFileWithoutJournal opens a database as poolside wrote it
// before it kept a journal: as it is, saying so in the log, and serves its
// bookings.
func TestServeOpensAFileWithoutJournal(t *testing.T) {
	path := makeDatabase(t)
	require.NoError(t, os.Remove(booking.JournalPath(path)))
	p := startServeInProcess(t, "--store", "bolt", "--data", path, "--log-level", "info")
	assert.Contains(t, p.stderr.String(), "store: "+path+" had no journal (written by an earlier poolside, or copied without it): opened as it is, with a new journal "+booking.JournalPath(path))
	nc, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(30*time.Second)))
	r, err := wiretest.Exchange(nc, wire.Request{Action: wire.ActionBookingsOnDate, Date: wire.DateOf(2030, 12, 1)})
	require.NoError(t, err)
	assert.Equal(t, []string{"312", "313"}, r.Rooms)
	_, err = os.Stat(booking.JournalPath(path))
	assert.NoError(t, err, "no journal made")
}
