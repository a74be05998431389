package booking

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/poolside-dev/poolside/wire"
)

// This file is the BoltStore's journal: a write-ahead log next to the
// bbolt file, where a booking is on disk, with one sync, before it is
// acknowledged. bbolt itself pays two syncs per commit and grows its file,
// which set one client's ceiling at about 2,000 bookings a second here;
// the journal is written in place, over space written once when it was
// made, so a sync carries data only and no file metadata, and every
// booking that arrived during the previous sync rides on the next one.
// The bbolt file catches up in the background (see BoltStore).
//
// Layout: a fixed-size file of JournalSize bytes. The first 1 KiB holds
// two header slots of 512 bytes; a slot is
//
//	"PSJOURN1" | generation uint64 | CRC-32C of the 16 bytes before it
//
// and the valid slot with the higher generation is current. Frames follow
// from offset journalStart, one per sync, back to back:
//
//	payload length uint32 | generation uint32 | CRC-32C of generation and payload | payload
//
// and the payload is records, each
//
//	kind byte (0 book, 1 unbook) | date uint32 | room length uint16 | room
//
// all big-endian. Reading stops at the first frame that is not whole and of
// the current generation: zeros, a frame of an earlier generation (the
// file is reused from the start), or a write a crash cut short, which was
// never acknowledged. When the frames reach the end of the file, every
// one of them is first applied to the bbolt file, then the other header
// slot is written with the next generation, which empties the journal.
//
// Replaying is idempotent: a book record sets the booking, an unbook
// record clears it, so replaying every frame of the current generation
// over a bbolt file that already holds some of them gives the state the
// records end in, whatever part was applied before a crash.

// JournalSize is the size of a new journal file: written once, with
// zeros, when the journal is made, and reused from the start when its
// frames reach the end (after the bbolt file has caught up).
const JournalSize = 4 << 20

// newJournalSize is the size createJournal makes (tests make smaller ones).
var newJournalSize int64 = JournalSize

const (
	journalMagic  = "PSJOURN1"
	journalSlot   = 512
	journalStart  = 2 * journalSlot
	frameHeader   = 12
	recordHeader  = 7
	journalSuffix = "-wal"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// JournalPath is the journal file of the bbolt database at path.
func JournalPath(path string) string { return path + journalSuffix }

// A journalRecord is one booking or cancellation in the journal.
type journalRecord struct {
	unbook bool
	date   wire.Date
	room   string
}

// appendRecord appends r's encoding to b.
func appendRecord(b []byte, r journalRecord) []byte {
	kind := byte(0)
	if r.unbook {
		kind = 1
	}
	b = append(b, kind)
	b = binary.BigEndian.AppendUint32(b, uint32(r.date))
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.room)))
	return append(b, r.room...)
}

// journal is the open journal file. Only the store's commit leader writes
// it (append, wrap), one at a time.
type journal struct {
	f    *os.File
	path string
	size int64  // of the file
	gen  uint64 // current generation
	off  int64  // where the next frame goes
	buf  []byte // the frame being built
}

// openJournal opens the journal at path, making it when it does not
// exist, and returns it with the records of its current generation, in
// order. A journal whose headers are both unreadable, or whose frames
// hold a record that is not one, is a *DamageError naming it.
func openJournal(path string, mode os.FileMode) (*journal, []journalRecord, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createJournal(path, mode); err != nil {
			return nil, nil, err
		}
		f, err = os.OpenFile(path, os.O_RDWR, 0)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("booking: open the journal: %w", err)
	}
	j := &journal{f: f, path: path}
	recs, err := j.read()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return j, recs, nil
}

// createJournal makes a journal of JournalSize bytes at path: zeros with
// generation 1 in the second slot (generation g is in slot g%2), written and synced under a temporary
// name, then renamed into place, so that a journal at path is always
// whole.
func createJournal(path string, mode os.FileMode) error {
	dir, base := filepath.Split(path)
	tmp := filepath.Join(dir, "."+base+"."+strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(tempSeq.Add(1), 10)+".new")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("booking: create the journal: %w", err)
	}
	fail := func(err error) error {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("booking: create the journal %s: %w", path, err)
	}
	zeros := make([]byte, 64<<10)
	copy(zeros[1*journalSlot:], headerSlot(1)) // generation g is in slot g%2
	for off := int64(0); off < newJournalSize; off += int64(len(zeros)) {
		if _, err := f.Write(zeros[:min(int64(len(zeros)), newJournalSize-off)]); err != nil {
			return fail(err)
		}
		clear(zeros[:journalStart])
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("booking: create the journal %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("booking: create the journal %s: %w", path, err)
	}
	return syncDir(dir)
}

// headerSlot is the encoding of a header slot for generation gen.
func headerSlot(gen uint64) []byte {
	b := make([]byte, 0, 20)
	b = append(b, journalMagic...)
	b = binary.BigEndian.AppendUint64(b, gen)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// slotGen returns the generation of a header slot, or 0 when it is not
// a valid one.
func slotGen(b []byte) uint64 {
	if len(b) < 20 || string(b[:8]) != journalMagic || crc32.Checksum(b[:16], castagnoli) != binary.BigEndian.Uint32(b[16:20]) {
		return 0
	}
	return binary.BigEndian.Uint64(b[8:16])
}

// read finds the current generation and returns its records, leaving
// j.off after the last whole frame.
func (j *journal) read() ([]journalRecord, error) {
	fi, err := j.f.Stat()
	if err != nil {
		return nil, fmt.Errorf("booking: read the journal: %w", err)
	}
	damaged := func(format string, a ...any) error {
		return &DamageError{Path: j.path, Problems: []string{fmt.Sprintf(format, a...)}}
	}
	if fi.Size() < journalStart {
		return nil, damaged("the journal is %d bytes long, shorter than its headers (%d bytes)", fi.Size(), journalStart)
	}
	j.size = fi.Size()
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(io.NewSectionReader(j.f, 0, fi.Size()), data); err != nil {
		return nil, fmt.Errorf("booking: read the journal: %w", err)
	}
	j.gen = max(slotGen(data[:journalSlot]), slotGen(data[journalSlot:journalStart]))
	if j.gen == 0 {
		return nil, damaged("neither header of the journal is readable")
	}
	if _, ok := frameAt(data, journalStart, j.gen+1); ok {
		// A generation's frames are written only once its header is
		// synced: that header has been lost since, and falling back to
		// the generation before would drop acknowledged writes.
		return nil, damaged("the header of generation %d is unreadable, but its frames follow", j.gen+1)
	}
	var recs []journalRecord
	off := int64(journalStart)
	for {
		payload, ok := frameAt(data, off, j.gen)
		if !ok {
			break
		}
		for p := payload; len(p) > 0; {
			if len(p) < recordHeader || p[0] > 1 {
				return nil, damaged("the frame at byte %d holds a record that is not a booking", off)
			}
			rl := int(binary.BigEndian.Uint16(p[5:7]))
			if rl == 0 || len(p) < recordHeader+rl {
				return nil, damaged("the frame at byte %d holds a record that is not a booking", off)
			}
			recs = append(recs, journalRecord{unbook: p[0] == 1, date: wire.Date(binary.BigEndian.Uint32(p[1:5])), room: string(p[recordHeader : recordHeader+rl])})
			p = p[recordHeader+rl:]
		}
		off += frameHeader + int64(len(payload))
	}
	j.off = off
	return recs, nil
}

// frameAt returns the payload of the frame at off in data if it is whole
// and of generation gen: not zeros, not cut short by a crash before it was
// acknowledged, not one of another generation.
func frameAt(data []byte, off int64, gen uint64) ([]byte, bool) {
	if off+frameHeader > int64(len(data)) {
		return nil, false
	}
	h := data[off : off+frameHeader]
	n := int64(binary.BigEndian.Uint32(h[0:4]))
	if n == 0 || binary.BigEndian.Uint32(h[4:8]) != uint32(gen) || off+frameHeader+n > int64(len(data)) {
		return nil, false
	}
	payload := data[off+frameHeader : off+frameHeader+n]
	if crc32.Update(crc32.Checksum(h[4:8], castagnoli), castagnoli, payload) != binary.BigEndian.Uint32(h[8:12]) {
		return nil, false
	}
	return payload, true
}

// fits reports whether a frame of n payload bytes fits after j.off.
func (j *journal) fits(n int) bool { return j.off+frameHeader+int64(n) <= j.size }

// frame starts a new frame in j.buf; add records with appendRecord on
// j.buf, then write it with commit.
func (j *journal) frame() { j.buf = append(j.buf[:0], make([]byte, frameHeader)...) }

// commit writes the frame built in j.buf at j.off and syncs it: when it
// returns nil the frame's records are on disk. On an error nothing is
// taken as written: j.off does not move, and the next frame overwrites
// whatever part reached the file (which, cut short, replays as nothing).
func (j *journal) commit() error {
	n := len(j.buf) - frameHeader
	binary.BigEndian.PutUint32(j.buf[0:4], uint32(n))
	binary.BigEndian.PutUint32(j.buf[4:8], uint32(j.gen))
	binary.BigEndian.PutUint32(j.buf[8:12], crc32.Update(crc32.Checksum(j.buf[4:8], castagnoli), castagnoli, j.buf[frameHeader:]))
	if _, err := j.f.WriteAt(j.buf, j.off); err != nil {
		return fmt.Errorf("booking: write the journal: %w", err)
	}
	if err := datasync(j.f); err != nil {
		return fmt.Errorf("booking: sync the journal: %w", err)
	}
	j.off += int64(len(j.buf))
	return nil
}

// empty makes the journal empty, once every frame in it is in the bbolt
// file: the next generation goes into its slot, the one the current
// generation is not in, so a crash while it is written leaves the current
// one readable (and its frames, all applied, replay as no change).
func (j *journal) empty() error {
	next := j.gen + 1
	if _, err := j.f.WriteAt(headerSlot(next), int64(next%2)*journalSlot); err != nil {
		return fmt.Errorf("booking: write the journal's header: %w", err)
	}
	if err := datasync(j.f); err != nil {
		return fmt.Errorf("booking: sync the journal's header: %w", err)
	}
	j.gen, j.off = next, journalStart
	return nil
}

// close closes the file.
func (j *journal) close() error { return j.f.Close() }
