package booking

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/poolside-dev/poolside/wire"
)

// guarded runs fn on the calling goroutine with memory faults turned into
// panics (debug.SetPanicOnFault), and returns a panic as an error. bbolt
// reads the file through a memory map and trusts it: on a damaged page it
// may panic or read outside the map, which without this kills the
// process. (It only helps on this goroutine: the checks make sure that
// nothing bbolt reads later, on any goroutine, is damaged.)
func guarded(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{r}
		}
	}()
	return fn()
}

// panicError is a panic that guarded recovered.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("bbolt failed reading it (%v)", e.value) }

// openBbolt opens the bbolt database at path, which exists, under
// guarded: a panic becomes a *DamageError, and the file it opened is
// closed (and its lock released). It never creates the file.
func openBbolt(path string, mode os.FileMode, o bolt.Options) (*bolt.DB, error) {
	var file *os.File
	o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag&^os.O_CREATE, perm) // gone since the check: fail, do not start afresh
		file = f
		return f, err
	}
	var db *bolt.DB
	err := guarded(func() error {
		var err error
		db, err = bolt.Open(path, mode, &o)
		return err
	})
	if pe, ok := errors.AsType[*panicError](err); ok {
		if file != nil {
			_ = file.Close() // nothing else will
		}
		return nil, &DamageError{Path: path, Problems: []string{pe.Error()}}
	}
	return db, err
}

// lockedError is OpenBolt's error for a file whose lock another open
// holds.
func lockedError(path string, timeout time.Duration) error {
	return fmt.Errorf("%w: database %s is in use by another process (file lock still held after %s)", ErrLocked, path, timeout)
}

// openError wraps err, bbolt's failure to open path, naming the file once.
func openError(path string, err error) error {
	if errors.Is(err, ErrDamaged) {
		return err
	}
	if _, named := errors.AsType[*fs.PathError](err); named {
		return fmt.Errorf("booking: %w", err) // it names the file already
	}
	return fmt.Errorf("booking: open %s: %w", path, err)
}

// statDatabase says whether path exists, and refuses what cannot be a
// database file (a directory, a device).
func statDatabase(path string) (exists bool, err error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("booking: %w", err)
	case fi.IsDir():
		return true, fmt.Errorf("booking: %w", &fs.PathError{Op: "open", Path: path, Err: syscall.EISDIR})
	case !fi.Mode().IsRegular():
		return true, fmt.Errorf("booking: %w", &fs.PathError{Op: "open", Path: path, Err: errors.New("not a regular file")})
	}
	return true, nil
}

// checkShared checks the database file at path while holding a shared
// lock on it (a read-only bbolt open, which reads only its two header
// pages), so that no writer changes it meanwhile. When locked is not nil,
// it runs after the check, still under the lock (CheckBolt reads the
// journal there).
func checkShared(path string, opts BoltOptions, locked func() error) (scan, error) {
	ro, err := openBbolt(path, opts.FileMode, bolt.Options{ReadOnly: true, Timeout: opts.LockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return scan{}, lockedError(path, opts.LockTimeout)
	}
	if err != nil {
		// bbolt could not even read the header pages; the check says why
		// when that is damage (it needs no lock: a writer would hold one).
		if _, cerr := checkFile(path); errors.Is(cerr, ErrDamaged) {
			return scan{}, cerr
		}
		return scan{}, openError(path, err)
	}
	defer ro.Close()
	s, err := checkFile(path)
	if err == nil {
		err = readThrough(ro, path, s)
	}
	if err == nil && locked != nil {
		err = locked()
	}
	return s, err
}

// unchanged reports whether the file at path still has the header page
// the scan s was made with: no commit since.
func unchanged(path string, s scan) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	var p problems
	m, _, ok := readMetas(f, fi.Size(), &p, strict)
	return ok && p.none() && m.txid == s.meta.txid && m.checksum == s.meta.checksum
}

// readThrough reads every booking of the scan s back through bbolt, the
// way RoomsOn and DatesFor do, under guarded, and then runs bbolt's own
// consistency check (tx.Check). The scan has checked every page bbolt
// reads here; this makes sure bbolt reads them as the scan did.
func readThrough(db *bolt.DB, path string, s scan) error {
	onDate := map[wire.Date][]string{}
	forRoom := map[string][]wire.Date{}
	for k, bits := range s.pairs {
		if bits == inDates|inRooms {
			room, d := unpair(k)
			onDate[d] = append(onDate[d], room)
			forRoom[room] = append(forRoom[room], d)
		}
	}
	var p problems
	err := guarded(func() error {
		return db.View(func(tx *bolt.Tx) error {
			names := 0
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { names++; return nil })
			if s.fresh {
				if names != 0 {
					p.add("bbolt reads %d top-level buckets where the check read none", names)
				}
				return nil
			}
			dates, rooms := tx.Bucket(byDate), tx.Bucket(byRoom)
			if names != 2 || dates == nil || rooms == nil {
				p.add("bbolt does not read the two indexes the check read")
				return nil
			}
			for d, want := range onDate {
				slices.Sort(want)
				if got := keysOf(dates.Bucket(dateKey(d))); !slices.Equal(got, want) {
					p.add("bbolt reads rooms %v on %s where the check read %v", got, d, want)
				}
			}
			for room, want := range forRoom {
				slices.Sort(want)
				var got []wire.Date
				for _, k := range keysOf(rooms.Bucket([]byte(room))) {
					if len(k) != 4 {
						p.add("bbolt reads a date key of %d bytes for room %s", len(k), room)
						break
					}
					got = append(got, wire.Date(binary.BigEndian.Uint32([]byte(k))))
				}
				if !slices.Equal(got, want) {
					p.add("bbolt reads dates %v for room %s where the check read %v", got, room, want)
				}
			}
			if n := len(keysOf(dates)); n != len(onDate) {
				p.add("bbolt reads %d dates where the check read %d", n, len(onDate))
			}
			if n := len(keysOf(rooms)); n != len(forRoom) {
				p.add("bbolt reads %d rooms where the check read %d", n, len(forRoom))
			}
			for err := range tx.Check() { // drained to the end: it runs on a goroutine of its own
				p.add("bbolt's own check: %v", err)
			}
			return nil
		})
	})
	if err != nil {
		p.add("%v", err)
	}
	return p.err(path)
}

// keysOf returns the keys of b, in order; nil for a nil b.
func keysOf(b *bolt.Bucket) []string {
	if b == nil {
		return nil
	}
	var keys []string
	_ = b.ForEach(func(k, _ []byte) error {
		keys = append(keys, string(k))
		return nil
	})
	return keys
}

// tempSeq makes the names of createBolt's temporary files unique within
// the process (the pid makes them unique across processes).
var tempSeq atomic.Uint64

// createBolt makes a new database at path, which must not exist: its two
// indexes, and whatever fill writes in the same transaction. The file is
// made under a temporary name in the same directory, committed and
// fsynced, and only then linked to path, so a crash never leaves a
// half-made database at path (a short or empty file at path is always
// damage). If path has appeared meanwhile, it is left alone and the error
// wraps fs.ErrExist.
func createBolt(path string, opts BoltOptions, fill func(*bolt.Tx) error) error {
	dir, base := filepath.Split(path)
	tmp := filepath.Join(dir, "."+base+"."+strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(tempSeq.Add(1), 10)+".new")
	named := func(err error) error {
		if pe, ok := errors.AsType[*fs.PathError](err); ok && pe.Path == tmp {
			return fmt.Errorf("booking: %w", &fs.PathError{Op: "create", Path: path, Err: pe.Err})
		}
		return fmt.Errorf("booking: create %s: %w", path, err)
	}
	db, err := bolt.Open(tmp, opts.FileMode, &bolt.Options{
		Timeout: opts.LockTimeout,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			return os.OpenFile(name, flag|os.O_EXCL, perm)
		},
	})
	if err != nil {
		return named(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{byDate, byRoom} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		if fill != nil {
			return fill(tx)
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return named(err)
	}
	err = os.Link(tmp, path)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		// A file system without hard links: rename, which would replace a
		// file made meanwhile, so only if there is none.
		if _, serr := os.Lstat(path); errors.Is(serr, fs.ErrNotExist) {
			err = os.Rename(tmp, path)
		}
	}
	_ = os.Remove(tmp)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("booking: create %s: %w", path, fs.ErrExist)
		}
		return named(err)
	}
	return syncDir(dir)
}

// syncDir fsyncs directory dir ("" is the working directory), so that a
// new name in it survives a crash.
func syncDir(dir string) error {
	if dir == "" {
		dir = "."
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("booking: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("booking: sync directory %s: %w", dir, err)
	}
	return nil
}
