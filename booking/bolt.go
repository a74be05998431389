package booking

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
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

	// DefaultMaxBatchDelay is how long a write that arrives while another
	// is in progress waits for more to share its commit, when
	// BoltOptions.MaxBatchDelay is zero. With 32 concurrent writers in
	// BenchmarkBoltBook, bbolt's own default of 10 ms made bookings four
	// times slower than 1 ms, and 200 µs and 2 ms were no better than 1 ms
	// (Go's timers fired about 1 ms late on the machine measured).
	DefaultMaxBatchDelay = time.Millisecond

	// DefaultMaxBatchSize is the largest number of bookings committed
	// together when BoltOptions.MaxBatchSize is zero (bbolt's default).
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

	// MaxBatchDelay is the longest a Book or Unbook that arrives while
	// another write is in progress waits for more calls to join its
	// commit. A write that finds none in progress commits at once. Zero
	// means DefaultMaxBatchDelay.
	MaxBatchDelay time.Duration

	// MaxBatchSize is the most calls committed together; a full batch
	// commits at once, without waiting for MaxBatchDelay. Zero means
	// DefaultMaxBatchSize.
	MaxBatchSize int

	// FileMode is the permission of the database file when OpenBolt
	// creates it. Zero means DefaultFileMode.
	FileMode os.FileMode
}

// Validate reports fields out of range, each as an error wrapping
// ErrInvalidConfig (joined with errors.Join).
func (o BoltOptions) Validate() error {
	var errs []error
	if o.LockTimeout < 0 {
		errs = append(errs, fmt.Errorf("%w: LockTimeout is %s, want >= 0 (0 = %s)", ErrInvalidConfig, o.LockTimeout, DefaultLockTimeout))
	}
	if o.MaxBatchDelay < 0 {
		errs = append(errs, fmt.Errorf("%w: MaxBatchDelay is %s, want >= 0 (0 = %s)", ErrInvalidConfig, o.MaxBatchDelay, DefaultMaxBatchDelay))
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
	if o.MaxBatchDelay == 0 {
		o.MaxBatchDelay = DefaultMaxBatchDelay
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

// has reports whether b holds key; a nil b holds nothing.
func has(b *bolt.Bucket, key []byte) bool { return b != nil && b.Get(key) != nil }

// BoltStore is a Store in a bbolt file: a booking is acknowledged only
// after its transaction is committed and fsynced. A write that finds no
// other in progress commits at once; concurrent Book and Unbook calls share
// commits (bbolt's Batch), so a busy server pays one fsync for many
// bookings. Refusals are decided in a read-only transaction and cost no
// commit.
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
	db        *bolt.DB
	writers   atomic.Int32 // Book and Unbook calls in progress
	batchOnly bool         // tests: always Batch, even a lone writer
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*BoltStore)(nil)

// OpenBolt opens the bbolt database at path. Only when the file does not
// exist does it make a new, empty database there (under a temporary name
// first, so that a crash never leaves half a database at path). If
// another open of the file holds its lock for longer than
// opts.LockTimeout, OpenBolt fails with an error wrapping ErrLocked that
// says the database is in use, instead of waiting for ever.
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
// costs one read of the file.
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
	s, err := checkShared(path, opts)
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
	if !unchanged(path, s) {
		if s, err = checkFile(path); err == nil {
			err = readThrough(db, path, s)
		}
		if err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	db.MaxBatchDelay = opts.MaxBatchDelay
	db.MaxBatchSize = opts.MaxBatchSize
	if s.fresh { // bbolt initialised the file, but its first transaction never committed
		err = db.Update(func(tx *bolt.Tx) error {
			for _, name := range [][]byte{byDate, byRoom} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("booking: initialise %s: %w", path, err)
		}
	}
	return &BoltStore{db: db}, nil
}

// Path returns the database file's path.
func (s *BoltStore) Path() string { return s.db.Path() }

// dateKey is the 4-byte big-endian key of d; keys sort as dates do.
func dateKey(d wire.Date) []byte { return binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(d)) }

// fail wraps a bbolt error; a database closed under the call becomes
// ErrClosed.
func (s *BoltStore) fail(op string, err error) error {
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
// error.
// A booking that writes waits for its commit and fsync, and at most
// MaxBatchDelay more when other writes are in progress. ctx is checked
// before the call starts; once started it runs to the end.
func (s *BoltStore) Book(ctx context.Context, room string, date wire.Date, limit int) error {
	op := func() string { return fmt.Sprintf("book %s on %s", room, date) }
	dk, rk := dateKey(date), []byte(room)
	check := func(tx *bolt.Tx) error {
		dates := tx.Bucket(byDate)
		if dates == nil {
			return errMissingBuckets
		}
		onDate := dates.Bucket(dk)
		if has(onDate, rk) {
			return ErrDuplicate
		}
		if countUpTo(onDate, limit) >= limit {
			return ErrFullyBooked
		}
		return nil
	}
	return s.write(ctx, op, check, func(tx *bolt.Tx) error {
		dates, rooms := tx.Bucket(byDate), tx.Bucket(byRoom)
		if rooms == nil {
			return errMissingBuckets
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
		return forRoom.Put(dk, marker)
	})
}

var errMissingBuckets = errors.New("booking: database has no dates or rooms bucket")

// countUpTo counts the keys of b, stopping at limit. A nil b has none.
func countUpTo(b *bolt.Bucket, limit int) int {
	if b == nil {
		return 0
	}
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil && n < limit; k, _ = c.Next() {
		n++
	}
	return n
}

// Unbook implements Store, committing like Book. It returns ErrNotBooked
// bare.
func (s *BoltStore) Unbook(ctx context.Context, room string, date wire.Date) error {
	op := func() string { return fmt.Sprintf("unbook %s on %s", room, date) }
	dk, rk := dateKey(date), []byte(room)
	check := func(tx *bolt.Tx) error {
		dates := tx.Bucket(byDate)
		if dates == nil {
			return errMissingBuckets
		}
		if !has(dates.Bucket(dk), rk) {
			return ErrNotBooked
		}
		return nil
	}
	return s.write(ctx, op, check, func(tx *bolt.Tx) error {
		dates, rooms := tx.Bucket(byDate), tx.Bucket(byRoom)
		if rooms == nil {
			return errMissingBuckets
		}
		if err := deleteKey(dates, dk, rk); err != nil {
			return err
		}
		return deleteKey(rooms, rk, dk)
	})
}

// write runs check, then apply, in one write transaction and returns check's
// refusal (bare) or a store error (wrapped, naming op); nil means apply's
// changes are committed and fsynced. It refuses at once after Close or
// when ctx is done.
//
// check runs first in a read-only transaction: a refusal seen in a
// committed snapshot is a correct answer as of that snapshot, and costs no
// commit or fsync. Only when that check passes does the call take a write
// transaction, where check runs again, atomically with apply.
//
// A call that finds no other write in progress commits on its own at once;
// otherwise it joins a bbolt Batch, waiting at most MaxBatchDelay so that
// concurrent writes share one commit and one fsync. Batch may run the
// function more than once (it retries a batch that rolled back), so the
// function resets its result on every run. A refusal is a result, not a
// failure: it is passed out in refusal and the function returns nil, so it
// neither rolls back the other writes of its batch nor makes Batch run it
// again on its own.
func (s *BoltStore) write(ctx context.Context, op func() string, check, apply func(*bolt.Tx) error) error {
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	err := s.commit(check, apply)
	if err != nil && !isRefusal(err) {
		return s.fail(op(), err)
	}
	return err
}

// commit is write's transaction: the read-only check, then check and apply
// in an Update or a Batch.
func (s *BoltStore) commit(check, apply func(*bolt.Tx) error) error {
	if err := s.db.View(check); err != nil {
		return err
	}
	var refusal error
	fn := func(tx *bolt.Tx) error {
		refusal = nil
		switch err := check(tx); {
		case err == nil:
			return apply(tx)
		case isRefusal(err):
			refusal = err
			return nil
		default:
			return err
		}
	}
	n := s.writers.Add(1)
	defer s.writers.Add(-1)
	var err error
	if n == 1 && !s.batchOnly {
		err = s.db.Update(fn)
	} else {
		err = s.db.Batch(fn)
	}
	if err != nil {
		return err
	}
	return refusal
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

// RoomsOn implements Store.
func (s *BoltStore) RoomsOn(ctx context.Context, date wire.Date) ([]string, error) {
	op := func() string { return fmt.Sprintf("rooms on %s", date) }
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	var rooms []string
	err := s.db.View(func(tx *bolt.Tx) error {
		rooms = nil
		dates := tx.Bucket(byDate)
		if dates == nil {
			return errMissingBuckets
		}
		b := dates.Bucket(dateKey(date))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			rooms = append(rooms, string(k)) // keys are sorted bytewise, as strings sort
			return nil
		})
	})
	if err != nil {
		return nil, s.fail(op(), err)
	}
	return rooms, nil
}

// DatesFor implements Store.
func (s *BoltStore) DatesFor(ctx context.Context, room string) ([]wire.Date, error) {
	op := func() string { return "dates for " + room }
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	var dates []wire.Date
	err := s.db.View(func(tx *bolt.Tx) error {
		dates = nil
		rooms := tx.Bucket(byRoom)
		if rooms == nil {
			return errMissingBuckets
		}
		b := rooms.Bucket([]byte(room))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			if len(k) != 4 {
				return fmt.Errorf("booking: room %s has a date key of %d bytes, want 4", room, len(k))
			}
			dates = append(dates, wire.Date(binary.BigEndian.Uint32(k))) // big-endian keys sort as numbers
			return nil
		})
	})
	if err != nil {
		return nil, s.fail(op(), err)
	}
	return dates, nil
}

// Close implements Store: it waits for the transaction in progress, then
// closes the file and releases its lock. Bookings waiting to join a batch
// fail with ErrClosed. Every call returns the first call's result.
func (s *BoltStore) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("booking: close %s: %w", s.db.Path(), err)
		}
	})
	return s.closeErr
}
