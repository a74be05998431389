package booking

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/poolside-dev/poolside/wire"
)

// This file checks a bbolt file's bookings and reports what it found; the
// page parser it reads the file with is in boltpages.go.

// DamageError is the error OpenBolt, CheckBolt and SalvageBolt return when
// the database file is damaged: it wraps ErrDamaged, names the file, and
// says what is wrong in words an operator can act on.
type DamageError struct {
	// Path is the database file.
	Path string

	// Problems says what is wrong, the first thing found first; at most
	// 20 are kept.
	Problems []string

	// Omitted counts the problems found beyond those kept.
	Omitted int

	// NotBbolt reports a file that does not even look like a bbolt
	// database (neither header page carries bbolt's signature): perhaps
	// not a damaged database but the wrong file.
	NotBbolt bool
}

func (e *DamageError) Error() string {
	var b strings.Builder
	b.WriteString("booking: database " + e.Path + " is damaged")
	if len(e.Problems) > 0 {
		b.WriteString(": " + e.Problems[0])
	}
	if n := len(e.Problems) - 1 + e.Omitted; n == 1 {
		b.WriteString(" (and 1 more problem)")
	} else if n > 1 {
		fmt.Fprintf(&b, " (and %d more problems)", n)
	}
	return b.String()
}

// Unwrap returns ErrDamaged.
func (e *DamageError) Unwrap() error { return ErrDamaged }

// CheckReport is what a check of a database file found.
type CheckReport struct {
	// Bookings, Dates and Rooms count the bookings, the dates with at
	// least one booking, and the rooms with at least one.
	Bookings, Dates, Rooms int

	// First and Last are the first and last dates booked (zero when
	// there are no bookings).
	First, Last wire.Date

	// MostOnOneDate is the largest number of bookings on one date.
	// poolside serve allows MaxBookingsPerDay, but the file does not
	// record the limit it was written with, so more is not damage.
	MostOnOneDate int

	// AfterLastDate counts bookings of dates after LastDate, which
	// versions before the limit accepted (they are not damage).
	AfterLastDate int

	// PageSize, Pages and FreePages describe the file: its page size,
	// the pages its data spans (bbolt's high-water mark) and how many of
	// those are free.
	PageSize, Pages, FreePages int

	// Size is the file's size in bytes.
	Size int64

	// Commit is bbolt's number of the last commit (its transaction id).
	Commit uint64

	// Fresh reports a file bbolt initialised but poolside never wrote to
	// (no indexes yet); OpenBolt creates them.
	Fresh bool

	// Journal reports that the file has a journal (JournalPath), and
	// Pending how many of its records (bookings and cancellations)
	// OpenBolt would apply to the file: acknowledged writes that a server
	// stopped by a crash had not yet copied into it. Bookings, Dates,
	// Rooms and the dates count them, as a server started on the file
	// would serve them; the page figures describe the file as it is.
	Journal bool
	Pending int
}

// problems collects what a check found, keeping the first maxProblems.
type problems struct {
	list     []string
	omitted  int
	notBbolt bool
}

func (p *problems) add(format string, a ...any) {
	if len(p.list) < maxProblems {
		p.list = append(p.list, fmt.Sprintf(format, a...))
		return
	}
	p.omitted++
}

func (p *problems) none() bool { return len(p.list) == 0 }

func (p *problems) err(path string) error {
	if p.none() {
		return nil
	}
	return &DamageError{Path: path, Problems: slices.Clone(p.list), Omitted: p.omitted, NotBbolt: p.notBbolt}
}

// booking index bits in a pairs map.
const (
	inDates = 1 << iota
	inRooms
)

// pairKey packs a booking of a valid room into a map key.
func pairKey(room string, d wire.Date) uint64 {
	n, _ := strconv.Atoi(room)
	return uint64(d)<<16 | uint64(n)
}

// unpair is pairKey's inverse.
func unpair(k uint64) (string, wire.Date) {
	return fmt.Sprintf("%03d", k&0xFFFF), wire.Date(k >> 16)
}

// scan is the result of reading a database file.
type scan struct {
	meta      boltMeta
	pairs     map[uint64]uint8 // each booking seen, and in which index
	fresh     bool
	freePages int
	bothMetas bool // both header pages are valid
}

// dateKeyString describes a date key for a problem.
func dateKeyString(k []byte) string {
	if len(k) != 4 {
		return fmt.Sprintf("%x", k)
	}
	return wire.Date(binary.BigEndian.Uint32(k)).String()
}

// scanFile reads the database in r (size bytes): its structure, then the
// two indexes, recording each booking in pairs with the index it was seen
// in. Everything wrong goes to p (in mode strict, also what bbolt could
// read but poolside never writes). ok is false when nothing at all can be
// read.
func scanFile(r io.ReaderAt, size int64, p *problems, mode readMode) (s scan, ok bool) {
	m, both, ok := readMetas(r, size, p, mode)
	s.bothMetas = both
	if !ok {
		return s, false
	}
	f := &boltFile{r: r, size: size, meta: m, p: p}
	if !f.checkLayout(mode) {
		return s, false
	}
	s.meta = m
	s.pairs = map[uint64]uint8{}
	var top [][]byte
	f.tree(m.root, "the root", nil, nil, func(key, value []byte, bucket bool) {
		name := string(key)
		top = append(top, key)
		switch {
		case name != string(byDate) && name != string(byRoom):
			p.add("it holds %q, which poolside never writes: is it a poolside booking database?", name)
		case !bucket:
			p.add("its %s index is a plain value, not a bucket", name)
		case name == string(byDate):
			f.index(value, "the dates index", s.pairs, inDates)
		default:
			f.index(value, "the rooms index", s.pairs, inRooms)
		}
	})
	switch {
	case len(top) == 0:
		s.fresh = true
	case len(top) == 1 && (string(top[0]) == string(byDate) || string(top[0]) == string(byRoom)):
		p.add("it has a %s index but not the other one", top[0])
	}
	s.freePages = f.freelist()
	return s, true
}

// index walks one of the two indexes, whose bucket header is hdr: each key
// is a bucket (a date of the dates index, a room of the rooms index)
// holding the other half of each booking as keys with the value 1.
func (f *boltFile) index(hdr []byte, where string, pairs map[uint64]uint8, bit uint8) {
	f.bucket(hdr, where, func(outer, value []byte, bucket bool) {
		var d wire.Date
		var room string
		var at string
		if bit == inDates {
			at = "date " + dateKeyString(outer) + " in " + where
			if len(outer) != 4 {
				f.p.add("%s has a date key of %d bytes, not 4", where, len(outer))
				return
			}
			if d = wire.Date(binary.BigEndian.Uint32(outer)); d.IsNull() {
				f.p.add("%s has a null date (day 0), which poolside never books", where)
				return
			}
		} else {
			at = "room " + strconv.Quote(string(outer)) + " in " + where
			if room = string(outer); !wire.ValidRoom(room) {
				f.p.add("%s has the room %q, which is not a room (three digits, floor 0-9, room 01-34)", where, room)
				return
			}
		}
		if !bucket {
			f.p.add("%s is a plain value, not a bucket", at)
			return
		}
		n := 0
		f.bucket(value, at, func(inner, v []byte, bucket bool) {
			if bit == inDates {
				room = string(inner)
				if !wire.ValidRoom(room) {
					f.p.add("%s has the room %q, which is not a room", at, room)
					return
				}
			} else {
				if len(inner) != 4 {
					f.p.add("%s has a date key of %d bytes, not 4", at, len(inner))
					return
				}
				if d = wire.Date(binary.BigEndian.Uint32(inner)); d.IsNull() {
					f.p.add("%s has a null date (day 0)", at)
					return
				}
			}
			if bucket || !bytes.Equal(v, marker) {
				f.p.add("%s: the value of %q is not the one poolside writes", at, inner)
				return
			}
			n++
			pairs[pairKey(room, d)] |= bit
		})
		if n == 0 {
			f.p.add("%s holds no bookings, but poolside removes a date or room with none", at)
		}
	})
}

// crossCheck reports bookings that only one index lists.
func crossCheck(pairs map[uint64]uint8, p *problems) {
	var one []uint64
	for k, bits := range pairs {
		if bits != inDates|inRooms {
			one = append(one, k)
		}
	}
	slices.Sort(one)
	for _, k := range one {
		room, d := unpair(k)
		if pairs[k] == inDates {
			p.add("the dates index lists room %s on %s, but the rooms index does not", room, d)
		} else {
			p.add("the rooms index lists room %s on %s, but the dates index does not", room, d)
		}
	}
}

// report summarises a scan whose bookings are the pairs in both indexes.
func (s scan) report(size int64) CheckReport {
	r := CheckReport{PageSize: int(s.meta.pageSize), Pages: int(s.meta.hwm), FreePages: s.freePages, Size: size, Commit: s.meta.txid, Fresh: s.fresh}
	perDate := map[wire.Date]int{}
	rooms := map[string]bool{}
	for k, bits := range s.pairs {
		if bits != inDates|inRooms {
			continue
		}
		room, d := unpair(k)
		r.Bookings++
		perDate[d]++
		rooms[room] = true
		if r.First == 0 || d < r.First {
			r.First = d
		}
		if d > r.Last {
			r.Last = d
		}
		if d > LastDate {
			r.AfterLastDate++
		}
	}
	r.Dates, r.Rooms = len(perDate), len(rooms)
	for _, n := range perDate {
		r.MostOnOneDate = max(r.MostOnOneDate, n)
	}
	return r
}

// checkFile checks the database file at path strictly, without a lock:
// the caller holds one, or knows the file is not in use. It returns the
// scan, and a *DamageError when the file is damaged.
func checkFile(path string) (scan, error) {
	f, err := os.Open(path)
	if err != nil {
		return scan{}, fmt.Errorf("booking: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return scan{}, fmt.Errorf("booking: %w", err)
	}
	var p problems
	s, ok := scanFile(f, fi.Size(), &p, strict)
	if ok {
		crossCheck(s.pairs, &p)
	}
	if !p.none() {
		return s, p.err(path)
	}
	return s, nil
}

// CheckBolt checks the database file at path as OpenBolt does, and never
// changes it: it opens the file read-only, under a shared lock, so it
// waits up to opts.LockTimeout for a server that has the file open and
// then fails with an error wrapping ErrLocked. It returns what the file
// holds, or a *DamageError (wrapping ErrDamaged) saying what is wrong. A
// missing file is an error wrapping fs.ErrNotExist.
func CheckBolt(path string, opts BoltOptions) (CheckReport, error) {
	if err := opts.Validate(); err != nil {
		return CheckReport{}, err
	}
	opts = opts.withDefaults()
	exists, err := statDatabase(path)
	if err == nil && !exists {
		err = fmt.Errorf("booking: %w", &fs.PathError{Op: "open", Path: path, Err: syscall.ENOENT})
	}
	if err != nil {
		return CheckReport{}, err
	}
	var (
		pending []journalRecord
		journal bool
	)
	s, err := checkShared(path, opts, func() (err error) {
		pending, journal, err = readJournal(JournalPath(path))
		return err
	})
	if err != nil {
		return CheckReport{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return CheckReport{}, fmt.Errorf("booking: %w", err)
	}
	if s.pairs == nil {
		s.pairs = map[uint64]uint8{}
	}
	for _, r := range pending {
		if k := pairKey(r.room, r.date); r.unbook {
			delete(s.pairs, k)
		} else {
			s.pairs[k] = inDates | inRooms
		}
	}
	rep := s.report(fi.Size())
	rep.Journal, rep.Pending = journal, len(pending)
	return rep, nil
}

// readJournal reads the journal at path without changing it, and returns
// the records OpenBolt would replay; exists is false when there is no
// journal (a file written before poolside kept one, or never opened
// since). A damaged journal is a *DamageError naming it.
func readJournal(path string) (recs []journalRecord, exists bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("booking: open the journal: %w", err)
	}
	defer f.Close()
	recs, err = (&journal{f: f, path: path}).read()
	return recs, true, err
}
