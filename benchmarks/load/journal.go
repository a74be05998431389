package load

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/poolside-dev/poolside/internal/rawio"
	"github.com/poolside-dev/poolside/wire"
)

// journalMagic is the first line of a journal file.
const journalMagic = "poolside-journal 1"

// journalPattern matches the names of journal files in their directory.
const journalPattern = "bench-*.journal"

// journal is the file where a run against a server whose store it does
// not own lists the bookings it may hold, so that a run that was killed
// before its clean-up can be cleaned up after (CleanupJournals). A line
// "+ ROOM DATE" is written before each BOOK is sent, and "- ROOM DATE"
// once the run knows it does not hold the booking (the BOOK was refused,
// its UNBOOK acknowledged). The file is locked while the run lives (on
// Unix), so that a clean-up never takes the journal of a run still
// going, and rewritten with only what it lists when it grows. Its methods
// are safe for concurrent use.
type journal struct {
	path string
	addr string

	mu      sync.Mutex
	f       *os.File
	entries map[slot]bool
	lines   int
	line    []byte // the line being written
	err     error  // the first write that failed: no more bookings are made
}

// openJournal creates and locks a new journal in dir (made if need be,
// readable by this user only) for the server at addr.
func openJournal(dir, addr string) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: cannot make its directory %s: %w", ErrJournal, dir, err)
	}
	name := fmt.Sprintf("bench-%d-%d.journal", os.Getpid(), time.Now().UnixNano())
	j := &journal{path: filepath.Join(dir, name), addr: addr, entries: make(map[slot]bool)}
	f, err := j.create(j.path, os.O_EXCL)
	if err != nil {
		return nil, err
	}
	j.f = f
	return j, nil
}

// create creates and locks the file name, holding the header and the
// current entries.
func (j *journal) create(name string, flag int) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|flag, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot create %s: %w", ErrJournal, name, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		os.Remove(name)
		return nil, fmt.Errorf("%w: cannot lock %s: %w", ErrJournal, name, err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\naddr %s\n", journalMagic, j.addr)
	held := make([]slot, 0, len(j.entries))
	for s := range j.entries {
		held = append(held, s)
	}
	sortSlots(held)
	for _, s := range held {
		fmt.Fprintf(&b, "+ %s %s\n", s.room, s.date)
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		os.Remove(name)
		return nil, fmt.Errorf("%w: cannot write %s: %w", ErrJournal, name, err)
	}
	j.lines = len(held)
	return f, nil
}

// failed reports whether a write to the journal failed.
func (j *journal) failed() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err != nil
}

// add records that the run may hold s from now on.
func (j *journal) add(s slot) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	if err := j.append('+', s); err != nil {
		j.err = fmt.Errorf("%w: cannot write %s: %w", ErrJournal, j.path, err)
		return j.err
	}
	j.entries[s] = true
	j.lines++
	return nil
}

// append writes the line "OP ROOM DATE" to the file. It is on the path
// of every BOOK (and of the UNBOOK's reply), so it goes through
// rawio.Append, which does not wake the Go runtime's monitor thread as
// the client's requests would otherwise do at low concurrency. Call it
// with mu held.
func (j *journal) append(op byte, s slot) error {
	j.line = append(j.line[:0], op, ' ')
	j.line = append(j.line, s.room...)
	j.line = append(j.line, ' ')
	j.line = append(j.line, s.date.String()...)
	j.line = append(j.line, '\n')
	_, err := rawio.Append(j.f, j.line)
	return err
}

// remove records that the run does not hold s.
func (j *journal) remove(s slot) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.entries[s] || j.err != nil {
		return
	}
	delete(j.entries, s)
	if err := j.append('-', s); err != nil {
		j.err = fmt.Errorf("%w: cannot write %s: %w", ErrJournal, j.path, err)
		return
	}
	j.lines++
	if j.lines > 2*len(j.entries)+1024 {
		j.compact()
	}
}

// compact rewrites the journal with only its entries: a new file, locked,
// renamed over the old one, so that the journal always lists every
// booking the run may hold. Call it with mu held.
func (j *journal) compact() {
	tmp := j.path + ".new"
	f, err := j.create(tmp, 0)
	if err == nil {
		if err = os.Rename(tmp, j.path); err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}
	if err != nil {
		j.err = fmt.Errorf("%w: cannot rewrite %s: %w", ErrJournal, j.path, err)
		return
	}
	j.f.Close()
	j.f = f
}

// close ends the journal: removed when the run holds nothing, or, with
// keep, rewritten to list what it still holds and kept; it returns the
// file's name when kept.
func (j *journal) close(keep bool) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !keep {
		err := os.Remove(j.path)
		j.f.Close()
		return "", err
	}
	j.compact()
	err := j.f.Close()
	return j.path, errors.Join(j.err, err)
}

// journalFile is a journal read back from its file.
type journalFile struct {
	path    string
	addr    string
	entries []slot
}

// readJournal parses the journal at path, read through f. A last line cut
// short (the run was killed while writing it) is ignored: its BOOK had not
// been sent yet.
func readJournal(path string, f io.Reader) (journalFile, error) {
	jf := journalFile{path: path}
	bad := func(what string) (journalFile, error) {
		return journalFile{}, fmt.Errorf("%w: %s is not a poolside journal: %s", ErrJournal, path, what)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return journalFile{}, fmt.Errorf("%w: cannot read %s: %w", ErrJournal, path, err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	} else {
		data = nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	if !sc.Scan() || sc.Text() != journalMagic {
		return bad("its first line is not " + journalMagic)
	}
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "addr ") {
		return bad("its second line does not name the server")
	}
	jf.addr = strings.TrimPrefix(sc.Text(), "addr ")
	held := map[slot]bool{}
	for n := 3; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		var date wire.Date
		if len(f) == 3 {
			date, err = wire.ParseDate(f[2])
		}
		if len(f) != 3 || (f[0] != "+" && f[0] != "-") || err != nil {
			return bad(fmt.Sprintf("line %d is not '+ ROOM DATE' or '- ROOM DATE'", n))
		}
		s := slot{f[1], date}
		if f[0] == "+" {
			held[s] = true
		} else {
			delete(held, s)
		}
	}
	for s := range held {
		jf.entries = append(jf.entries, s)
	}
	sortSlots(jf.entries)
	return jf, nil
}
