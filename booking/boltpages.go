package booking

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strconv"
	"strings"
)

// This file reads a bbolt file with its own bounds-checked parser, from
// copies of its pages (ReadAt, never the memory map), and checks both
// bbolt's structure and the bookings' layout (see BoltStore). bbolt itself
// trusts the file: a damaged page makes it read past the map (SIGSEGV or
// SIGBUS, which recover cannot catch), panic, or silently serve other
// bookings. Every page, key and value bbolt would read with the file's
// current header page is checked here first, the way bbolt reads it, so
// that once a file has passed, bbolt only ever reads what was checked.
//
// The format is the one go.etcd.io/bbolt v1.5.0 writes (internal/common),
// in the machine's byte order:
//
//	page header (16 bytes): id u64, flags u16, count u16, overflow u32;
//	  a page spans overflow+1 pages of pageSize bytes
//	meta, after the header: magic u32, version u32, pageSize u32,
//	  flags u32, root bucket (root u64, sequence u64), freelist u64,
//	  pgid u64 (the high-water mark), txid u64, checksum u64 (FNV-64a of
//	  the meta up to the checksum)
//	branch element (16 bytes): pos u32, ksize u32, pgid u64
//	leaf element (16 bytes): flags u32, pos u32, ksize u32, vsize u32
//	  (pos counts from the element itself; the value follows the key)
//	bucket value: root u64, sequence u64, then, when root is 0, the
//	  bucket's own leaf page inline
//	freelist page: count page ids u64; a count of 0xFFFF means the real
//	  count is the first u64
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16
	elementSize      = 16
	metaEnd          = pageHeaderSize + 64 // header and meta
	checksumAt       = pageHeaderSize + 56
	bucketHeaderSize = 16
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	noFreelist       = ^uint64(0)
	minPages         = 4 // two header pages, a freelist and a root: an empty database
	maxProblems      = 20
)

var order = binary.NativeEndian // bbolt writes its structs in the machine's byte order

// boltMeta is one of the two header pages.
type boltMeta struct {
	slot      int
	pageSize  uint64
	root      uint64
	rootSeq   uint64
	freelist  uint64
	hwm       uint64
	txid      uint64
	checksum  uint64
	signed    bool   // it carries bbolt's magic number
	valid     bool   // magic, version and checksum are right
	invalid   string // why not, when !valid
	headerBad string // the page header (not covered by the checksum) is not bbolt's
}

// parseMeta decodes header page slot from b, its first bytes (at least
// metaEnd).
func parseMeta(b []byte, slot int) boltMeta {
	m := boltMeta{slot: slot}
	m.signed = len(b) >= 20 && order.Uint32(b[16:]) == boltMagic
	if len(b) < metaEnd {
		m.invalid = "it is cut short"
		return m
	}
	magic, version := order.Uint32(b[16:]), order.Uint32(b[20:])
	m.pageSize = uint64(order.Uint32(b[24:]))
	m.root, m.rootSeq = order.Uint64(b[32:]), order.Uint64(b[40:])
	m.freelist, m.hwm, m.txid = order.Uint64(b[48:]), order.Uint64(b[56:]), order.Uint64(b[64:])
	m.checksum = order.Uint64(b[checksumAt:])
	h := fnv.New64a()
	h.Write(b[pageHeaderSize:checksumAt])
	switch {
	case magic != boltMagic:
		m.invalid = "it does not carry bbolt's signature"
	case version != boltVersion:
		m.invalid = fmt.Sprintf("it says bbolt format version %d, not %d", version, boltVersion)
	case m.checksum != h.Sum64():
		m.invalid = "its checksum does not match its contents"
	default:
		m.valid = true
	}
	if id, flags := order.Uint64(b[0:]), order.Uint16(b[8:]); id != uint64(slot) || flags != metaPageFlag || order.Uint16(b[10:]) != 0 || order.Uint32(b[12:]) != 0 {
		m.headerBad = fmt.Sprintf("header page %d has a page header bbolt does not write (page number %d, flags %#x)", slot, id, flags)
	}
	return m
}

// boltFile is a database file being checked.
type boltFile struct {
	r        io.ReaderAt
	size     int64
	pageSize uint64
	meta     boltMeta // the header page in use
	p        *problems

	state []byte // per page below meta.hwm: pageUnseen, pageUsed or pageFree
}

const (
	pageUnseen = iota
	pageUsed
	pageFree
)

// readMode says how a file is read.
type readMode int

const (
	// strict is OpenBolt's and CheckBolt's: anything bbolt and poolside
	// do not write is damage.
	strict readMode = iota

	// lenient is SalvageBolt's: read the last commit, skipping what is
	// damaged.
	lenient

	// previous is SalvageBolt's with SalvageOptions.Previous: read the
	// commit before the last, from the older header page.
	previous
)

// readMetas reads the two header pages and picks the one bbolt would use:
// the valid one with the higher commit number (or, in mode previous, the
// other one). In mode strict an invalid header page is damage too, for
// bbolt's silent fallback to the other one can lose the last acknowledged
// commit. ok is false when no header page can be used; both reports
// whether both header pages are valid.
func readMetas(r io.ReaderAt, size int64, p *problems, mode readMode) (m boltMeta, both, ok bool) {
	if size == 0 {
		p.add("it is empty (0 bytes), which no database ever is; a new database is made only when the file does not exist")
		return m, false, false
	}
	buf := make([]byte, metaEnd)
	n, _ := r.ReadAt(buf, 0)
	m0 := parseMeta(buf[:n], 0)
	// bbolt finds the second header page at the page size the first one
	// records or, when that one is damaged, by trying page sizes.
	metaAt := func(ps uint64) boltMeta {
		if ps == 0 || int64(ps) >= size {
			return boltMeta{slot: 1, invalid: "it cannot be found"}
		}
		n, _ := r.ReadAt(buf, int64(ps))
		return parseMeta(buf[:n], 1)
	}
	var m1 boltMeta
	if m0.valid {
		m1 = metaAt(m0.pageSize)
	} else {
		m1 = metaAt(uint64(os.Getpagesize())) // for what is wrong with it, if none is found
		for i := range 15 {
			if c := metaAt(1024 << i); c.valid && c.pageSize == 1024<<i {
				m1 = c
				break
			}
		}
	}
	if !m0.valid && !m1.valid {
		if !m0.signed && !m1.signed {
			p.notBbolt = true
			p.add("it is not a bbolt database (neither of its two header pages carries bbolt's signature): is it the right file?")
		} else {
			p.add("both of its header pages are damaged (page 0: %s; page 1: %s)", m0.invalid, m1.invalid)
		}
		return m, false, false
	}
	use, other := m0, m1
	if !m0.valid || (m1.valid && m1.txid > m0.txid) {
		use, other = m1, m0
	}
	if ps := use.pageSize; ps >= 512 && ps <= 1<<24 && size < int64(minPages*ps) {
		p.add("it is %d bytes long, shorter than the %d bytes of even an empty database: it has been cut short", size, minPages*ps)
		return m, false, false
	}
	both = other.valid
	switch mode {
	case lenient:
		if !other.valid {
			p.add("header page %d is damaged (%s): the bookings are read as of commit %d, recorded in header page %d, so a later commit may be missing", other.slot, other.invalid, use.txid, use.slot)
		}
		return use, both, true
	case previous:
		if !other.valid {
			p.add("header page %d is damaged (%s), so there is no other commit to read than commit %d, in header page %d", other.slot, other.invalid, use.txid, use.slot)
			return m, both, false
		}
		p.add("the bookings are read as of commit %d (header page %d), the one before the last: what the last commit, %d, changed is not in the copy", other.txid, other.slot, use.txid)
		return other, both, true
	}
	if !other.valid {
		p.add("header page %d is damaged (%s): if it held the last commit, bbolt would quietly serve the one before, from header page %d, and lose that commit's bookings", other.slot, other.invalid, use.slot)
	}
	for _, hm := range []boltMeta{m0, m1} {
		if hm.headerBad != "" {
			p.add("%s", hm.headerBad)
		}
	}
	if other.valid {
		switch {
		case m0.txid%2 != 0 || m1.txid%2 != 1:
			p.add("its header pages record commits %d and %d, but bbolt writes even commits to page 0 and odd ones to page 1", m0.txid, m1.txid)
		case use.txid != other.txid+1:
			p.add("its header pages record commits %d and %d, which are not consecutive as bbolt writes them", other.txid, use.txid)
		case m0.pageSize != m1.pageSize:
			p.add("its header pages disagree on the page size (%d and %d bytes)", m0.pageSize, m1.pageSize)
		case other.hwm > use.hwm:
			p.add("its older header page says the data spans %d pages, more than the newer one's %d", other.hwm, use.hwm)
		}
	}
	return use, both, true
}

// checkLayout checks meta's numbers against each other and the file size.
// A file cut short is read on in mode lenient, its missing pages then
// being unreadable ones.
func (f *boltFile) checkLayout(mode readMode) bool {
	m := f.meta
	ps := m.pageSize
	switch {
	case ps < 512 || ps > 1<<24 || ps&(ps-1) != 0:
		f.p.add("header page %d records a page size of %d bytes, which bbolt never uses", m.slot, ps)
		return false
	case f.size < int64(minPages*ps):
		f.p.add("it is %d bytes long, shorter than the %d bytes of even an empty database: it has been cut short", f.size, minPages*ps)
		return false
	case m.hwm < minPages || m.hwm > uint64(f.size)/ps:
		if m.hwm < minPages || m.hwm > 1<<32 {
			f.p.add("header page %d says the data spans %d pages, which a %d-byte file cannot hold", m.slot, m.hwm, f.size)
			return false
		}
		f.p.add("it has been cut short: it is %d bytes long, but its data runs to %d bytes (%d pages of %d)", f.size, m.hwm*ps, m.hwm, ps)
		if mode == strict || m.root >= m.hwm || m.freelist != noFreelist && m.freelist >= m.hwm {
			return false
		}
	case m.root < 2 || m.root >= m.hwm:
		f.p.add("header page %d puts the root at page %d, outside the data (pages 2 to %d)", m.slot, m.root, m.hwm-1)
		return false
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.hwm):
		f.p.add("header page %d puts the free-page list at page %d, outside the data (pages 2 to %d)", m.slot, m.freelist, m.hwm-1)
		return false
	}
	f.pageSize = ps
	f.state = make([]byte, m.hwm)
	f.state[0], f.state[1] = pageUsed, pageUsed
	return true
}

// page reads page id and the pages it overflows into, and marks them
// used. where says what refers to it, for the problems. It returns nil
// when the page cannot be used.
func (f *boltFile) page(id uint64, where string) []byte {
	if id < 2 || id >= f.meta.hwm {
		f.p.add("%s refers to page %d, outside the data (pages 2 to %d)", where, id, f.meta.hwm-1)
		return nil
	}
	head := make([]byte, f.pageSize)
	if _, err := f.r.ReadAt(head, int64(id*f.pageSize)); err != nil {
		f.p.add("%s: page %d cannot be read: %s", where, id, readFailure(err))
		return nil
	}
	overflow := uint64(order.Uint32(head[12:]))
	if got := order.Uint64(head); got != id {
		f.p.add("%s: page %d calls itself page %d", where, id, got)
		return nil
	}
	if id+overflow >= f.meta.hwm {
		f.p.add("%s: page %d runs over %d more pages, past the end of the data", where, id, overflow)
		return nil
	}
	for i := id; i <= id+overflow; i++ {
		switch f.state[i] {
		case pageUsed:
			f.p.add("%s: page %d is also used elsewhere in the file", where, i)
			return nil
		case pageFree:
			f.p.add("%s: page %d is in use but listed as free (the next write would overwrite it)", where, i)
			return nil
		}
	}
	for i := id; i <= id+overflow; i++ {
		f.state[i] = pageUsed
	}
	if overflow == 0 {
		return head
	}
	buf := make([]byte, (overflow+1)*f.pageSize)
	if _, err := f.r.ReadAt(buf, int64(id*f.pageSize)); err != nil {
		f.p.add("%s: page %d cannot be read: %s", where, id, readFailure(err))
		return nil
	}
	return buf
}

// readFailure says why a page could not be read.
func readFailure(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "it is past the end of the file"
	}
	return err.Error()
}

// visitFunc is called for each key of a bucket, in order: value is the
// value, or the bucket's header (and inline page) when bucket is true.
type visitFunc func(key, value []byte, bucket bool)

// bucket walks the bucket whose header (a bucket value) is hdr, calling
// visit for each of its keys in order.
func (f *boltFile) bucket(hdr []byte, where string, visit visitFunc) {
	if len(hdr) < bucketHeaderSize {
		f.p.add("%s: the bucket's header is %d bytes, not %d", where, len(hdr), bucketHeaderSize)
		return
	}
	root, seq := order.Uint64(hdr), order.Uint64(hdr[8:])
	if seq != 0 {
		f.p.add("%s: the bucket's sequence number is %d, but poolside never sets one", where, seq)
	}
	if root == 0 {
		f.elements(hdr[bucketHeaderSize:], true, where, nil, nil, visit)
		return
	}
	f.tree(root, where, nil, nil, visit)
}

// tree walks the b-tree at page id, whose keys must lie in [lo, hi) (nil
// meaning no bound), calling visit for each leaf key in order.
func (f *boltFile) tree(id uint64, where string, lo, hi []byte, visit visitFunc) {
	p := f.page(id, where)
	if p == nil {
		return
	}
	switch flags := order.Uint16(p[8:]); flags {
	case leafPageFlag:
		f.elements(p, false, fmt.Sprintf("%s (page %d)", where, id), lo, hi, visit)
	case branchPageFlag:
		at := fmt.Sprintf("%s (page %d)", where, id)
		count := int(order.Uint16(p[10:]))
		if count == 0 {
			f.p.add("%s: a branch page with no entries", at)
			return
		}
		if pageHeaderSize+count*elementSize > len(p) {
			f.p.add("%s: its %d entries do not fit in the page", at, count)
			return
		}
		keys := make([][]byte, count)
		kids := make([]uint64, count)
		for i := range count {
			e := p[pageHeaderSize+i*elementSize:]
			pos, ksize := uint64(order.Uint32(e)), uint64(order.Uint32(e[4:]))
			start := uint64(pageHeaderSize+i*elementSize) + pos
			if ksize == 0 || start+ksize > uint64(len(p)) {
				f.p.add("%s: entry %d points outside the page", at, i)
				return
			}
			keys[i], kids[i] = p[start:start+ksize], order.Uint64(e[8:])
			if !inRange(keys[i], lo, hi) || i > 0 && bytes.Compare(keys[i-1], keys[i]) >= 0 {
				f.p.add("%s: its keys are out of order", at)
				return
			}
		}
		for i := range count {
			next := hi
			if i+1 < count {
				next = keys[i+1]
			}
			f.tree(kids[i], where, keys[i], next, visit)
		}
	default:
		f.p.add("%s: page %d is neither a branch nor a leaf page (flags %#x)", where, id, flags)
	}
}

// inRange reports whether lo <= k < hi, a nil bound being no bound.
func inRange(k, lo, hi []byte) bool {
	return (lo == nil || bytes.Compare(lo, k) <= 0) && (hi == nil || bytes.Compare(k, hi) < 0)
}

// elements checks the leaf page p (a bucket's inline page when inline)
// and calls visit for each of its keys, which must be in order and lie in
// [lo, hi).
func (f *boltFile) elements(p []byte, inline bool, where string, lo, hi []byte, visit visitFunc) {
	if len(p) < pageHeaderSize {
		f.p.add("%s: the bucket's inline page is cut short", where)
		return
	}
	if flags := order.Uint16(p[8:]); flags != leafPageFlag {
		f.p.add("%s: the bucket's inline page is not a leaf page (flags %#x)", where, flags)
		return
	}
	count := int(order.Uint16(p[10:]))
	if pageHeaderSize+count*elementSize > len(p) {
		f.p.add("%s: its %d keys do not fit in the page", where, count)
		return
	}
	var prev []byte
	for i := range count {
		e := p[pageHeaderSize+i*elementSize:]
		flags := order.Uint32(e)
		pos, ksize, vsize := uint64(order.Uint32(e[4:])), uint64(order.Uint32(e[8:])), uint64(order.Uint32(e[12:]))
		start := uint64(pageHeaderSize+i*elementSize) + pos
		if ksize == 0 || start+ksize+vsize > uint64(len(p)) {
			f.p.add("%s: key %d points outside the page", where, i)
			return
		}
		key, value := p[start:start+ksize], p[start+ksize:start+ksize+vsize]
		switch {
		case flags != 0 && flags != bucketLeafFlag:
			f.p.add("%s: key %d has flags %#x, which bbolt does not write", where, i, flags)
			return
		case !inRange(key, lo, hi) || prev != nil && bytes.Compare(prev, key) >= 0:
			f.p.add("%s: its keys are out of order", where)
			return
		case inline && flags == bucketLeafFlag:
			f.p.add("%s: a bucket inside an inline bucket, which bbolt never writes", where)
			return
		}
		prev = key
		visit(key, value, flags == bucketLeafFlag)
	}
}

// freelist checks the free-page list and that every page of the data is
// either used or free.
func (f *boltFile) freelist() (free int) {
	free, ok := f.readFreelist()
	if !ok {
		return 0
	}
	return free + f.unreachable()
}

// readFreelist reads the free-page list, if the file has one, and marks
// the pages it lists free: once the list has been read whole (ok), every
// other page below the high-water mark is one the commit uses. ok is
// false when the list cannot be read, or contradicts what was read
// before.
func (f *boltFile) readFreelist() (free int, ok bool) {
	if f.meta.freelist == noFreelist {
		return 0, true
	}
	hwm := f.meta.hwm
	p := f.page(f.meta.freelist, "the free-page list")
	if p == nil {
		return 0, false
	}
	if flags := order.Uint16(p[8:]); flags != freelistPageFlag {
		f.p.add("the free-page list: page %d is not a free-page list (flags %#x)", f.meta.freelist, flags)
		return 0, false
	}
	first, count := uint64(0), uint64(order.Uint16(p[10:]))
	if count == 0xFFFF {
		count, first = order.Uint64(p[pageHeaderSize:]), 1
	}
	if count > uint64(len(p)) || pageHeaderSize+(first+count)*8 > uint64(len(p)) {
		f.p.add("the free-page list (page %d) says it lists %d pages, more than fit in it", f.meta.freelist, count)
		return 0, false
	}
	for i := range count {
		id := order.Uint64(p[pageHeaderSize+(first+i)*8:])
		switch {
		case id < 2 || id >= hwm:
			f.p.add("the free-page list lists page %d, outside the data (pages 2 to %d)", id, hwm-1)
			return 0, false
		case f.state[id] == pageFree:
			f.p.add("the free-page list lists page %d twice", id)
			return 0, false
		case f.state[id] == pageUsed:
			f.p.add("page %d is in use but listed as free (the next write would overwrite it)", id)
			return 0, false
		}
		f.state[id] = pageFree
		free++
	}
	return free, true
}

// unreachable reports the pages of the data neither used nor free, once
// the free-page list has been read: with no list (bbolt's NoFreelistSync)
// they are free, and counted in free.
func (f *boltFile) unreachable() (free int) {
	hwm := f.meta.hwm
	var lost []string
	n := 0
	for id := uint64(2); id < hwm; id++ {
		if f.state[id] == pageUnseen {
			if f.meta.freelist == noFreelist {
				f.state[id] = pageFree
				free++
				continue
			}
			if n++; n <= 5 {
				lost = append(lost, strconv.FormatUint(id, 10))
			}
		}
	}
	if n > 0 {
		more := ""
		if n > len(lost) {
			more = fmt.Sprintf(" and %d more", n-len(lost))
		}
		f.p.add("%d pages (%s%s) are neither reachable nor listed as free: what referred to them is damaged", n, strings.Join(lost, ", "), more)
	}
	return free
}
