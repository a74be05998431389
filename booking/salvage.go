package booking

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/poolside-dev/poolside/wire"
)

// SalvageOptions configures SalvageBolt. The zero value reads the file as
// of its last commit, with BoltOptions' defaults.
type SalvageOptions struct {
	BoltOptions

	// Previous reads the bookings as of the commit before the last one,
	// from the older of the two header pages, leaving out what the last
	// commit changed. Use it when the last commit's pages are damaged:
	// bbolt leaves the pages of the commit before alone until the next
	// one, so after a clean stop they are usually whole. The report's
	// PreviousReadable says whether there is such a commit to read.
	Previous bool
}

// SalvageReport is what SalvageBolt did.
type SalvageReport struct {
	// Copied counts the bookings written to the new file: those both
	// indexes of the old one list.
	Copied int

	// Sound reports that the old file passed the check, so every booking
	// was copied and Problems and Dropped are empty.
	Sound bool

	// Dropped lists, ordered by date then room, the bookings that only
	// one index lists (the other one's page is damaged, or the key was
	// changed): they may be real, and are not copied.
	Dropped []DroppedBooking

	// Problems says what is wrong with the old file, the first thing found
	// first; at most 20 are kept, and Omitted counts the others. Parts of
	// the file a problem makes unreadable are skipped.
	Problems []string
	Omitted  int

	// PreviousReadable reports that both header pages are valid, so the
	// commit before the last can be read (SalvageOptions.Previous).
	PreviousReadable bool
}

// DroppedBooking is a booking SalvageBolt did not copy.
type DroppedBooking struct {
	Room string
	Date wire.Date

	// Index names the only index that lists it: "dates" or "rooms".
	Index string
}

// SalvageBolt copies every booking that can be read consistently from the
// database file src, damaged or not, into a new database file dst: those
// that both indexes list, as the store writes them. It never changes src
// (it reads it under a shared lock when it can, so not while a server has
// it open: that is an error wrapping ErrLocked), never overwrites dst (an
// error wrapping fs.ErrExist if dst exists), and makes dst as OpenBolt
// makes a new file: complete, or not at all. The report says what was
// copied and what was dropped; so.Previous reads the commit before the
// last instead. When nothing can be read from src (both
// of its header pages are damaged, say) it returns a *DamageError and
// makes no file.
func SalvageBolt(src, dst string, so SalvageOptions) (SalvageReport, error) {
	if err := so.Validate(); err != nil {
		return SalvageReport{}, err
	}
	opts := so.withDefaults()
	exists, err := statDatabase(src)
	if err == nil && !exists {
		err = fmt.Errorf("booking: %w", &fs.PathError{Op: "open", Path: src, Err: syscall.ENOENT})
	}
	if err != nil {
		return SalvageReport{}, err
	}
	if _, err := os.Lstat(dst); err == nil {
		return SalvageReport{}, fmt.Errorf("booking: %s already exists; salvage only writes a new file: %w", dst, fs.ErrExist)
	}

	// The shared lock keeps a server from writing src while it is read. A
	// file too damaged for bbolt to open is read without it: a server
	// could not have it open either.
	ro, err := openBbolt(src, opts.FileMode, bolt.Options{ReadOnly: true, Timeout: opts.LockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return SalvageReport{}, lockedError(src, opts.LockTimeout)
	}
	if err == nil {
		defer ro.Close()
	}

	var r SalvageReport
	_, cerr := checkFile(src)
	r.Sound = cerr == nil
	f, err := os.Open(src)
	if err != nil {
		return r, fmt.Errorf("booking: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return r, fmt.Errorf("booking: %w", err)
	}
	var p problems
	mode := lenient
	if so.Previous {
		mode, r.Sound = previous, false
	}
	s, ok := scanFile(f, fi.Size(), &p, mode)
	r.Problems, r.Omitted, r.PreviousReadable = p.list, p.omitted, s.bothMetas
	if !ok {
		return r, p.err(src)
	}

	var keep []uint64
	for k, bits := range s.pairs {
		switch bits {
		case inDates | inRooms:
			keep = append(keep, k)
		case inDates:
			room, d := unpair(k)
			r.Dropped = append(r.Dropped, DroppedBooking{room, d, "dates"})
		default:
			room, d := unpair(k)
			r.Dropped = append(r.Dropped, DroppedBooking{room, d, "rooms"})
		}
	}
	slices.Sort(keep)
	slices.SortFunc(r.Dropped, func(a, b DroppedBooking) int {
		return cmp.Or(cmp.Compare(a.Date, b.Date), strings.Compare(a.Room, b.Room))
	})
	err = createBolt(dst, opts, func(tx *bolt.Tx) error {
		dates, rooms := tx.Bucket(byDate), tx.Bucket(byRoom)
		for _, k := range keep {
			room, d := unpair(k)
			onDate, err := dates.CreateBucketIfNotExists(dateKey(d))
			if err != nil {
				return err
			}
			forRoom, err := rooms.CreateBucketIfNotExists([]byte(room))
			if err != nil {
				return err
			}
			if err := onDate.Put([]byte(room), marker); err != nil {
				return err
			}
			if err := forRoom.Put(dateKey(d), marker); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return r, fmt.Errorf("booking: %s already exists; salvage only writes a new file: %w", dst, fs.ErrExist)
		}
		return r, err
	}
	r.Copied = len(keep)
	got, err := CheckBolt(dst, opts)
	if err == nil && got.Bookings != r.Copied {
		err = fmt.Errorf("booking: salvage: %s holds %d bookings, not the %d copied", dst, got.Bookings, r.Copied)
	}
	return r, err
}
