package booking

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/poolside-dev/poolside/wire"
)

// Defaults of BoltOptions.
const (
	// DefaultLockTimeout is how long OpenBolt waits for the database
	// file's lock when BoltOptions.LockTimeout is zero.
	DefaultLockTimeout = time.Second

	// DefaultMaxBatchSize is the most bookings one sync of the journal
	// carries when BoltOptions.MaxBatchSize is zero.
	DefaultMaxBatchSize = 1000

	// DefaultFileMode is the permission of a new database file when
	// BoltOptions.FileMode is zero.
	DefaultFileMode os.FileMode = 0o600
)

// BoltOptions configures OpenBolt. The zero value is ready to use: every
// zero field means the default named in its comment.
type BoltOptions struct {
	// LockTimeout bounds how long OpenBolt waits for the file lock that
	// another open of the same file holds; it then fails with ErrLocked.
	// Zero means DefaultLockTimeout. bbolt polls the lock every 50 ms, so
	// the wait is rounded up to a multiple of that.
	LockTimeout time.Duration

	// MaxBatchSize is the most Book and Unbook calls one sync of the
	// journal carries; the rest wait for the next one. Zero means
	// DefaultMaxBatchSize.
	MaxBatchSize int

	// FileMode is the permission of the database file, and of its
	// journal, when OpenBolt creates them. Zero means DefaultFileMode.
	FileMode os.FileMode
}

// Validate reports fields out of range, each as an error wrapping
// ErrInvalidConfig (joined with errors.Join).
func (o BoltOptions) Validate() error {
	var errs []error
	if o.LockTimeout < 0 {
		errs = append(errs, fmt.Errorf("%w: LockTimeout is %s, want >= 0 (0 = %s)", ErrInvalidConfig, o.LockTimeout, DefaultLockTimeout))
	}
	if o.MaxBatchSize < 0 {
		errs = append(errs, fmt.Errorf("%w: MaxBatchSize is %d, want >= 0 (0 = %d)", ErrInvalidConfig, o.MaxBatchSize, DefaultMaxBatchSize))
	}
	return errors.Join(errs...)
}

func (o BoltOptions) withDefaults() BoltOptions {
	if o.LockTimeout == 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.MaxBatchSize == 0 {
		o.MaxBatchSize = DefaultMaxBatchSize
	}
	if o.FileMode == 0 {
		o.FileMode = DefaultFileMode
	}
	return o
}

// The top-level buckets (see BoltStore for the layout), and the value of
// every booking key. The value is not empty because bbolt's Get returns nil
// for an empty value written earlier in the same transaction, which would
// hide a booking from a later call in the same batch.
var (
	byDate = []byte("dates")
	byRoom = []byte("rooms")
	marker = []byte{1}
)

// BoltStore is a Store in a bbolt file with a journal (a write-ahead
// log) beside it: a Book or Unbook is acknowledged once its record is in
// the journal and the journal is synced, and the bbolt file catches up in
// the background. Writes that arrive while a sync is in progress share the
// next one (group commit, with no timer: a lone writer syncs at once), so
// one client pays one sync per booking and many clients one sync per
// group. The journal is written in place over space written when it was
// made, so its syncs carry no file metadata (see journal.go).
//
// Every booking is also held in memory, twice: what is on disk, which
// RoomsOn and DatesFor read and which refuses a duplicate or a full date
// without a sync, and that plus the writes being synced, against which
// the commit leader decides each write. A reader never sees a booking
// before it is on disk; a refusal is not answered before the booking that
// caused it is on disk.
//
// The bbolt file takes the journal's records in one transaction at a time
// (bbolt's own two syncs), every 50 ms or 4,096 records, when the journal
// is full, and at Close, which then empties the journal. OpenBolt replays
// the journal into the file first, so after a crash at any point every
// acknowledged write is there. If the file cannot take them (a full
// disk), writes are refused with that error, acknowledging nothing more,
// and succeed again once it can.
//
// The file layout: bucket "dates" maps each date (4-byte big-endian Julian
// Day Number) to a nested bucket whose keys are the rooms booked that day;
// bucket "rooms" maps each room to a nested bucket whose keys are its
// dates. Values are the single byte 1, both buckets are updated in the same
// transaction, and a nested bucket is removed when its last booking is.
//
// Create one with OpenBolt; the zero value is not usable. A BoltStore is
// safe for concurrent use. Close is idempotent; after it every method
// returns an error wrapping ErrClosed.
type BoltStore struct {
	db       *bolt.DB
	journal  *journal
	maxBatch int

	onDisk MemoryStore // what the journal holds: reads, and refusals that need no sync
	next   MemoryStore // onDisk plus the batch being synced: the leader's decisions

	mu      sync.Mutex // guards pending and leading
	pending []*boltWrite
	leading bool         // a writer is running batches
	batch   []*boltWrite // the leader's, reused

	life      sync.RWMutex // a batch holds it shared, Close exclusively
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	catchUp catchUp
}

var _ Store = (*BoltStore)(nil)

// OpenBolt opens the bbolt database at path, with its journal
// (JournalPath). Only when the file does not exist does it make a new,
// empty database there (under a temporary name first, so that a crash
// never leaves half a database at path), and only when the journal does
// not exist a new one, so that a file written before the journal existed
// opens as it is. If another open of the file holds its lock for longer
// than opts.LockTimeout, OpenBolt fails with an error wrapping ErrLocked
// that says the database is in use, instead of waiting for ever.
//
// Before serving from an existing file OpenBolt checks all of it, and
// fails with a *DamageError (wrapping ErrDamaged) that says what is wrong
// if the file is empty, cut short, or has a page, key or header page
// that is not as bbolt and poolside write them, or a booking that one
// index lists and the other does not (see CheckBolt). The check reads the
// file with its own bounds-checked parser before bbolt maps it, then
// reads every booking back through bbolt and runs bbolt's own check
// (tx.Check), so a damaged file never makes the process panic or die on a
// signal, and a store that opens answers from a file that is whole. It
// costs one read of the file. Then the journal's records are applied to
// the file (Replayed says how many); a journal whose headers are
// unreadable or which holds a record that is not a booking is a
// *DamageError naming the journal.
func OpenBolt(path string, opts BoltOptions) (*BoltStore, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	exists, err := statDatabase(path)
	if err != nil {
		return nil, err
	}
	if !exists {
		if err := createBolt(path, opts, nil); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	// Check under a shared lock, then open for writing (bbolt takes the
	// exclusive lock). A commit in between, by another process, means
	// checking again under the exclusive lock.
	s, err := checkShared(path, opts, nil)
	if err != nil {
		return nil, err
	}
	db, err := openBbolt(path, opts.FileMode, bolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, lockedError(path, opts.LockTimeout)
	}
	if err != nil {
		return nil, openError(path, err)
	}
	store, err := open(db, path, s, opts)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return store, nil
}

// open makes the store of db, which OpenBolt opened and checked (as the
// scan s): it initialises a fresh file, replays the journal into it and
// loads the bookings.
func open(db *bolt.DB, path string, s scan, opts BoltOptions) (*BoltStore, error) {
	if !unchanged(path, s) {
		var err error
		if s, err = checkFile(path); err == nil {
			err = readThrough(db, path, s)
		}
		if err != nil {
			return nil, err
		}
	}
	if s.fresh { // bbolt initialised the file, but its first transaction never committed
		err := db.Update(func(tx *bolt.Tx) error {
			for _, name := range [][]byte{byDate, byRoom} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("booking: initialise %s: %w", path, err)
		}
	}
	j, recs, err := openJournal(JournalPath(path), opts.FileMode)
	if err != nil {
		return nil, err
	}
	st := &BoltStore{db: db, journal: j, maxBatch: opts.MaxBatchSize}
	if err := st.replay(recs); err != nil {
		_ = j.close()
		return nil, err
	}
	if err := st.load(); err != nil {
		_ = j.close()
		return nil, err
	}
	st.catchUp.start(st)
	return st, nil
}

// replay applies the journal's records to the file and empties the
// journal.
func (s *BoltStore) replay(recs []journalRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return applyRecords(tx, recs) }); err != nil {
		return fmt.Errorf("booking: replay %s into %s: %w", s.journal.path, s.db.Path(), err)
	}
	s.catchUp.replayed = len(recs)
	return s.journal.empty()
}

// load reads every booking of the file into memory.
func (s *BoltStore) load() error {
	ctx := context.Background()
	err := s.db.View(func(tx *bolt.Tx) error {
		dates := tx.Bucket(byDate)
		if dates == nil {
			return errMissingBuckets
		}
		return dates.ForEachBucket(func(dk []byte) error {
			d := wire.Date(binary.BigEndian.Uint32(dk))
			return dates.Bucket(dk).ForEach(func(room, _ []byte) error {
				_ = s.onDisk.Book(ctx, string(room), d, math.MaxInt)
				return s.next.Book(ctx, string(room), d, math.MaxInt)
			})
		})
	})
	if err != nil {
		return fmt.Errorf("booking: read the bookings of %s: %w", s.db.Path(), err)
	}
	return nil
}

// Replayed returns how many records of the journal OpenBolt applied to
// the file: writes acknowledged before a crash (or a kill) that the file
// had not yet taken. Zero after a clean Close.
func (s *BoltStore) Replayed() int { return s.catchUp.replayed }

// Path returns the database file's path.
func (s *BoltStore) Path() string { return s.db.Path() }

// dateKey is the 4-byte big-endian key of d; keys sort as dates do.
func dateKey(d wire.Date) []byte { return binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(d)) }

// fail wraps a store error; one after Close becomes ErrClosed.
func (s *BoltStore) fail(op string, err error) error {
	if errors.Is(err, ErrClosed) {
		return err
	}
	if errors.Is(err, berrors.ErrDatabaseNotOpen) || s.closed.Load() {
		return fmt.Errorf("%w: %s: %w", ErrClosed, op, err)
	}
	return fmt.Errorf("booking: bolt: %s: %w", op, err)
}

// begin reports why op must not start: a closed store or a done ctx.
func (s *BoltStore) begin(ctx context.Context, op func() string) error {
	if s.closed.Load() {
		return fmt.Errorf("%w: %s", ErrClosed, op())
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("booking: %s: %w", op(), err)
	}
	return nil
}

// Book implements Store. It returns ErrDuplicate and ErrFullyBooked bare;
// an empty room, or one longer than bbolt's 32 KiB key limit, is a store
// error. A booking that writes waits for its record to be synced to the
// journal, with the others that arrived while the previous sync ran. ctx
// is checked before the call starts; once started it runs to the end.
func (s *BoltStore) Book(ctx context.Context, room string, date wire.Date, limit int) error {
	return s.write(ctx, journalRecord{date: date, room: room}, limit)
}

// Unbook implements Store, committing like Book. It returns ErrNotBooked
// bare.
func (s *BoltStore) Unbook(ctx context.Context, room string, date wire.Date) error {
	return s.write(ctx, journalRecord{unbook: true, date: date, room: room}, 0)
}

var errMissingBuckets = errors.New("booking: database has no dates or rooms bucket")

// write is Book and Unbook: a refusal that what is on disk already
// decides is answered at once; anything else goes to the commit leader.
func (s *BoltStore) write(ctx context.Context, r journalRecord, limit int) error {
	op := func() string {
		if r.unbook {
			return fmt.Sprintf("unbook %s on %s", r.room, r.date)
		}
		return fmt.Sprintf("book %s on %s", r.room, r.date)
	}
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	switch { // bbolt would refuse them, but only when the file takes the journal's records
	case r.room == "":
		return s.fail(op(), fmt.Errorf("an empty room cannot be a key: %w", berrors.ErrBucketNameRequired))
	case len(r.room) > bolt.MaxKeySize:
		return s.fail(op(), fmt.Errorf("a room of %d bytes cannot be a key (at most %d): %w", len(r.room), bolt.MaxKeySize, berrors.ErrKeyTooLarge))
	}
	if err := s.onDisk.refusal(r.unbook, r.room, r.date, limit); err != nil {
		return err
	}
	err := s.submit(&boltWrite{rec: r, limit: limit})
	if err != nil && !isRefusal(err) {
		return s.fail(op(), err)
	}
	return err
}

// applyRecords applies recs to the file in tx, in order: a booking is set,
// a cancellation cleared, whatever the file held (see journal.go: replay
// is idempotent).
func applyRecords(tx *bolt.Tx, recs []journalRecord) error {
	dates, rooms := tx.Bucket(byDate), tx.Bucket(byRoom)
	if dates == nil || rooms == nil {
		return errMissingBuckets
	}
	for _, r := range recs {
		dk, rk := dateKey(r.date), []byte(r.room)
		if r.unbook {
			if err := deleteKey(dates, dk, rk); err != nil {
				return err
			}
			if err := deleteKey(rooms, rk, dk); err != nil {
				return err
			}
			continue
		}
		onDate, err := dates.CreateBucketIfNotExists(dk)
		if err != nil {
			return err
		}
		forRoom, err := rooms.CreateBucketIfNotExists(rk)
		if err != nil {
			return err
		}
		if err := onDate.Put(rk, marker); err != nil {
			return err
		}
		if err := forRoom.Put(dk, marker); err != nil {
			return err
		}
	}
	return nil
}

// deleteKey deletes key from parent's nested bucket name, and the nested
// bucket itself once it is empty, so the file holds no empty dates or rooms.
func deleteKey(parent *bolt.Bucket, name, key []byte) error {
	b := parent.Bucket(name)
	if b == nil {
		return nil
	}
	if err := b.Delete(key); err != nil {
		return err
	}
	if k, _ := b.Cursor().First(); k == nil {
		return parent.DeleteBucket(name)
	}
	return nil
}

// RoomsOn implements Store: what is on disk, from memory.
func (s *BoltStore) RoomsOn(ctx context.Context, date wire.Date) ([]string, error) {
	op := func() string { return fmt.Sprintf("rooms on %s", date) }
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	rooms, err := s.onDisk.RoomsOn(ctx, date)
	if err != nil {
		return nil, s.fail(op(), err)
	}
	return rooms, nil
}

// DatesFor implements Store: what is on disk, from memory.
func (s *BoltStore) DatesFor(ctx context.Context, room string) ([]wire.Date, error) {
	op := func() string { return "dates for " + room }
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	dates, err := s.onDisk.DatesFor(ctx, room)
	if err != nil {
		return nil, s.fail(op(), err)
	}
	return dates, nil
}

// Close implements Store: it waits for the sync in progress, brings the
// file up to date with the journal and empties it, then closes both and
// releases the lock. Writes waiting for a sync fail with ErrClosed. Every
// call returns the first call's result.
func (s *BoltStore) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.life.Lock()
		defer s.life.Unlock()
		var errs []error
		s.catchUp.stop()
		if err := s.catchUp.apply(); err != nil {
			errs = append(errs, fmt.Errorf("the file did not take the journal's last writes (they are kept in %s and applied at the next open): %w", s.journal.path, err))
		} else if err := s.journal.empty(); err != nil {
			errs = append(errs, err)
		}
		if err := s.journal.close(); err != nil {
			errs = append(errs, err)
		}
		if err := s.db.Close(); err != nil {
			errs = append(errs, err)
		}
		_ = s.onDisk.Close()
		_ = s.next.Close()
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("booking: close %s: %w", s.db.Path(), err)
		}
	})
	return s.closeErr
}
