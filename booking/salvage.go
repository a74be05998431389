package booking

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/poolside-dev/poolside/internal/textfmt"
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
// last instead.
//
// When the root page of src, or a branch page of an index, is damaged,
// the index pages below it are found by reading every page of the file:
// those that bbolt's list of free pages does not list are in use, so what
// they hold is current, not an old copy (when that list is damaged too,
// they cannot be told apart, and are not read).
//
// When src is damaged and no booking can be read from it (both of its
// header pages are damaged, say, or its root page and its free-page list
// are lost) it returns a *DamageError and makes no file; the report still
// says what is wrong and what was dropped, and whether the commit before
// the last can be read.
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
	damaged := !r.Sound
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
	r.PreviousReadable = s.bothMetas
	if ok && !r.Sound {
		recoverOrphans(f, fi.Size(), s, mode, &p)
	}
	r.Problems, r.Omitted = p.list, p.omitted
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
	if damaged && len(keep) == 0 {
		// An empty copy of a damaged file would look like a salvage that
		// worked, and serving it would lose every booking quietly.
		if err := p.err(src); err != nil {
			return r, err
		}
		// Only the strict check found the damage.
		if de, ok := errors.AsType[*DamageError](cerr); ok {
			r.Problems, r.Omitted = de.Problems, de.Omitted
		}
		return r, cerr
	}
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

// recoverOrphans reads into s.pairs the bookings on index pages of the
// file r (size bytes) that nothing in it refers to any more, because the
// root page or a branch page above them is damaged, so that scanFile (in
// mode, which made s) did not reach them. It walks the file again as
// scanFile did, quietly (what is wrong has been said), and reads the
// free-page list. Every page below the high-water mark that neither the
// walk reached nor the list lists is then in use by the commit read, not
// an old copy of a page; a leaf page among them whose keys are buckets
// named by dates is a page of the dates index, by rooms one of the rooms
// index, and is read as the index would be. Without a whole free-page
// list no such page is read: an old copy could bring back cancelled
// bookings or hide later ones. What it finds goes to p.
func recoverOrphans(r io.ReaderAt, size int64, s scan, mode readMode, p *problems) {
	f := &boltFile{r: r, size: size, meta: s.meta, p: &problems{}}
	if !f.checkLayout(mode) {
		return
	}
	f.p = &problems{}          // the walk's alone: what checkLayout found has been said
	seen := map[uint64]uint8{} // the bookings are in s.pairs already
	f.tree(s.meta.root, "the root", nil, nil, func(key, value []byte, bucket bool) {
		switch {
		case !bucket:
		case string(key) == string(byDate):
			f.index(value, "the dates index", seen, inDates)
		case string(key) == string(byRoom):
			f.index(value, "the rooms index", seen, inRooms)
		}
	})
	if f.p.none() {
		return // the walk reached every page it refers to
	}
	_, listed := f.readFreelist()
	listed = listed && s.meta.freelist != noFreelist
	f.p = p
	var found, unsure int
	for id := uint64(2); id < s.meta.hwm; id++ {
		if f.state[id] != pageUnseen {
			continue
		}
		bit := f.orphanIndexPage(id)
		switch {
		case bit == 0:
		case !listed:
			unsure++
		default:
			found++
			hdr := make([]byte, bucketHeaderSize) // a bucket whose root is page id
			order.PutUint64(hdr, id)
			if bit == inDates {
				f.index(hdr, "the dates index", s.pairs, inDates)
			} else {
				f.index(hdr, "the rooms index", s.pairs, inRooms)
			}
		}
	}
	if found > 0 {
		p.add("reading every page found %s of the indexes that nothing refers to any more (what did is damaged); the free-page list shows %s in use, so the bookings on %s are read",
			textfmt.Count(found, "page"), textfmt.PluralWord(found, "it is", "they are"), textfmt.PluralWord(found, "it", "them"))
	}
	if unsure > 0 {
		p.add("reading every page found %s that %s like pages of the indexes that nothing refers to any more, but the free-page list cannot be used either, so %s cannot be told from old copies of pages (which could bring back cancelled bookings): the bookings on %s are not read",
			textfmt.Count(unsure, "page"), textfmt.PluralWord(unsure, "looks", "look"), textfmt.PluralWord(unsure, "it", "they"), textfmt.PluralWord(unsure, "it", "them"))
	}
}

// orphanIndexPage says whether page id looks like a leaf page of one of
// the indexes, its first key a bucket named by a date (inDates) or a room
// (inRooms); 0 when it does not. The index's walk checks the rest.
func (f *boltFile) orphanIndexPage(id uint64) (bit uint8) {
	head := make([]byte, f.pageSize)
	if _, err := f.r.ReadAt(head, int64(id*f.pageSize)); err != nil {
		return 0
	}
	if order.Uint64(head) != id || order.Uint16(head[8:]) != leafPageFlag || order.Uint16(head[10:]) == 0 {
		return 0
	}
	e := head[pageHeaderSize:]
	pos, ksize := uint64(order.Uint32(e[4:])), uint64(order.Uint32(e[8:]))
	if order.Uint32(e) != bucketLeafFlag || pageHeaderSize+pos+ksize > uint64(len(head)) {
		return 0
	}
	key := head[pageHeaderSize+pos : pageHeaderSize+pos+ksize]
	switch {
	case len(key) == 4:
		return inDates
	case wire.ValidRoom(string(key)):
		return inRooms
	}
	return 0
}
