package load

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/internal/textfmt"
	"github.com/poolside-dev/poolside/wire"
)

// CleanupTimeout bounds the clean-up of a run: the UNBOOKs of what it
// still holds, and the wait for BOOKs left in doubt to land.
const CleanupTimeout = 30 * time.Second

// cleanupConns is how many connections a clean-up unbooks over at once.
const cleanupConns = 4

// Cleanup is what a run did to leave a server as it found it: against a
// server whose store the run does not own, every booking the run made and
// had not cancelled is unbooked when the Runner closes, whether the run
// finished, failed or was interrupted (see Runner.Close).
type Cleanup struct {
	// Addr is the server.
	Addr string
	// Booked counts the BOOKs the server acknowledged over the run.
	Booked int64
	// Unbooked counts the bookings the clean-up unbooked: those the run
	// still held, and those whose BOOK got no answer and had been made.
	Unbooked int
	// NotBooked counts the bookings the clean-up found not booked: BOOKs
	// that got no answer and had not been made, or bookings of the run's
	// that someone else cancelled.
	NotBooked int
	// Left lists the bookings the clean-up could not unbook, and why; they
	// may still be on the server.
	Left []Booking
	// Journal is the file that lists Left, kept for CleanupJournals
	// (poolside bench --cleanup); empty when nothing is left, or when the
	// run kept no journal.
	Journal string
}

// Booking is a booking a clean-up could not unbook.
type Booking struct {
	Room string
	Date wire.Date
	// Reason says why, for a person: "could not connect: connection
	// refused", "the server answered: ...".
	Reason string
}

func (b Booking) String() string {
	return fmt.Sprintf("room %s on %s: %s", b.Room, b.Date, b.Reason)
}

// Err returns an error wrapping ErrCleanup if c left bookings behind, or
// nil.
func (c Cleanup) Err() error {
	if len(c.Left) == 0 {
		return nil
	}
	where := ""
	if c.Journal != "" {
		where = "; they are listed in " + c.Journal
	}
	return fmt.Errorf("%w: %d %s the run made could not be unbooked and may still be on %s%s",
		ErrCleanup, len(c.Left), textfmt.Plural(len(c.Left), "booking"), c.Addr, where)
}

// unbooker unbooks slots at an address over fresh connections.
type unbooker struct {
	addr string
	cfg  client.Config
}

func newUnbooker(addr string, timeout time.Duration, dialer func(ctx context.Context, network, addr string) (net.Conn, error)) unbooker {
	// A connection per request: a server of the conn model gives each
	// connection a worker for its whole life, so short ones take turns.
	return unbooker{addr: addr, cfg: client.Config{Timeout: timeout, Retries: 3, ConnPerRequest: true, Dialer: dialer}}
}

// unbook sends an UNBOOK of each of ss, cleanupConns at a time, and sorts
// them by outcome: unbooked, not booked, or left with the reason. Those
// that failed are tried once more, one at a time.
func (u unbooker) unbook(ctx context.Context, ss []slot) (unbooked, notBooked []slot, left []Booking) {
	unbooked, notBooked, left = u.pass(ctx, ss, cleanupConns)
	if len(left) == 0 || ctx.Err() != nil {
		return unbooked, notBooked, left
	}
	again := make([]slot, len(left))
	for i, b := range left {
		again[i] = slot{b.Room, b.Date}
	}
	more, notMore, left := u.pass(ctx, again, 1)
	unbooked = append(unbooked, more...)
	notBooked = append(notBooked, notMore...)
	sortSlots(unbooked)
	sortSlots(notBooked)
	return unbooked, notBooked, left
}

// pass unbooks ss over a new client with conns requests in flight at most.
func (u unbooker) pass(ctx context.Context, ss []slot, conns int) (unbooked, notBooked []slot, left []Booking) {
	if len(ss) == 0 {
		return nil, nil, nil
	}
	cfg := u.cfg
	cfg.MaxConns = conns
	c, err := client.Dial(ctx, u.addr, cfg)
	if err != nil {
		for _, s := range ss {
			left = append(left, Booking{Room: s.room, Date: s.date, Reason: reasonOf(err)})
		}
		return nil, nil, left
	}
	defer c.Close()
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan slot)
	for range min(conns, len(ss)) {
		wg.Go(func() {
			for s := range work {
				err := c.Unbook(ctx, s.room, s.date.Time())
				var se *client.ServerError
				mu.Lock()
				switch {
				case err == nil:
					unbooked = append(unbooked, s)
				case errors.As(err, &se) && se.Message == wire.MsgNotBooked:
					notBooked = append(notBooked, s)
				default:
					left = append(left, Booking{Room: s.room, Date: s.date, Reason: reasonOf(err)})
				}
				mu.Unlock()
			}
		})
	}
	for _, s := range ss {
		work <- s
	}
	close(work)
	wg.Wait()
	sortSlots(unbooked)
	sortSlots(notBooked)
	sortBookings(left)
	return unbooked, notBooked, left
}

// reasonOf says for a person why a request failed: the heart of the
// error, without the layers of the client's. A server's message is
// escaped (client.Printable): it goes to a terminal.
func reasonOf(err error) string {
	var se *client.ServerError
	var oe *net.OpError
	var sc *os.SyscallError
	heart := err.Error()
	switch {
	case errors.As(err, &sc):
		heart = sc.Err.Error()
	case errors.As(err, &oe) && oe.Err != nil:
		heart = oe.Err.Error()
	}
	switch {
	case errors.As(err, &se):
		return "the server answered: " + client.Printable(se.Message)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "no answer in time"
	case errors.Is(err, client.ErrConnect):
		return "could not connect: " + heart
	case Classify(err) == ErrorConnection:
		return "the connection was lost before the answer: " + heart
	}
	return heart
}

// cleanup unbooks what the run still holds: the bookings it holds, and
// those left in doubt, which are unbooked if they were made. A BOOK left
// in doubt may still be on its way inside the server (queued behind
// others, say) when the clean-up finds it not booked; those are tried once
// more, so that one that lands late is unbooked too: settle after the
// last of them was sent (twice the request timeout for those that timed
// out, as the server was slower than that), and at least minGrace after
// the clean-up began.
func (r *Runner) cleanup(settle time.Duration) Cleanup {
	start := time.Now()
	c := Cleanup{Addr: r.cfg.Addr}
	held, doubt, doubtAt, timeoutAt := r.slots.outstanding()
	c.Booked = r.slots.bookedCount()
	ctx, cancel := context.WithTimeout(context.Background(), CleanupTimeout)
	defer cancel()
	u := newUnbooker(r.cfg.Addr, r.cfg.Timeout, r.cfg.Dialer)
	unbooked, notBooked, left := u.unbook(ctx, append(held, doubt...))
	inDoubt := make(map[slot]bool, len(doubt))
	for _, s := range doubt {
		inDoubt[s] = true
	}
	c.Unbooked = len(unbooked)
	for _, s := range unbooked {
		r.slots.settled(s)
	}
	var again []slot
	for _, s := range notBooked {
		if inDoubt[s] {
			again = append(again, s)
			continue
		}
		r.slots.settled(s)
		c.NotBooked++
	}
	if len(again) > 0 {
		until := start.Add(minGrace)
		for _, t := range []time.Time{doubtAt.Add(settle), timeoutAt.Add(2 * r.cfg.Timeout)} {
			if t.After(until) {
				until = t
			}
		}
		if wait := time.Until(until); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		late, notBooked, stillLeft := u.unbook(ctx, again)
		for _, s := range append(late, notBooked...) {
			r.slots.settled(s)
		}
		c.Unbooked += len(late)
		c.NotBooked += len(notBooked)
		left = append(left, stillLeft...)
		sortBookings(left)
	}
	c.Left = left
	return c
}

// sortBookings sorts bs by date, then room.
func sortBookings(bs []Booking) {
	slices.SortFunc(bs, func(a, b Booking) int {
		return cmp.Or(cmp.Compare(a.Date, b.Date), cmp.Compare(a.Room, b.Room))
	})
}

// JournalCleanup is what CleanupJournals did with one journal.
type JournalCleanup struct {
	// Cleanup is what the journal's clean-up did: Addr is the server the
	// journal names, Journal the file (kept only if Left is not empty).
	// Booked is 0: a journal does not say.
	Cleanup
	// Listed counts the bookings the journal listed.
	Listed int
	// InUse reports a journal of a run that is still going, which
	// CleanupJournals leaves alone (on Unix, where journals are locked).
	InUse bool
}

// CleanupJournals unbooks the bookings listed in the journals that runs
// killed before their clean-up (SIGKILL, or a second interrupt during the
// clean-up) left in dir, the Config.JournalDir of those runs: each
// against the server it names, or only those naming addr if addr is not
// empty. Every request is bounded by timeout (0: DefaultTimeout; a
// negative timeout is a FieldError of the field Timeout) and ctx.
// A journal whose bookings were all unbooked, or found not booked, is
// removed; one with bookings left is rewritten to list only those, and
// the error, wrapping ErrCleanup, says how many. The journals of runs
// still going are skipped (InUse). A journal lists the (room, date) pairs
// its run may have booked, and the run had seen each free before it
// booked it: unbooking them soon after the run was killed removes the
// run's bookings only, but a pair that a real user booked after the kill,
// where the run's BOOK had not been made, would be unbooked too; look at
// the journal first if that may be so (its lines are "+ ROOM DATE").
func CleanupJournals(ctx context.Context, dir, addr string, timeout time.Duration) ([]JournalCleanup, error) {
	if timeout < 0 {
		return nil, invalid("Timeout", timeout, fmt.Sprintf("must be 0 (default %v) or more", DefaultTimeout))
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	names, err := filepath.Glob(filepath.Join(dir, journalPattern))
	if err != nil {
		return nil, fmt.Errorf("load: cannot list the journals in %s: %w", dir, err)
	}
	sort.Strings(names)
	var out []JournalCleanup
	var errs []error
	for _, name := range names {
		jc, ok, err := cleanupJournal(ctx, name, addr, timeout)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			out = append(out, jc)
		}
	}
	return out, errors.Join(errs...)
}

// cleanupJournal cleans up after the journal at name, if it names addr
// (or addr is empty); ok reports that it did, or found it in use.
func cleanupJournal(ctx context.Context, name, addr string, timeout time.Duration) (jc JournalCleanup, ok bool, err error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return jc, false, nil // its run ended meanwhile
	}
	if err != nil {
		return jc, false, fmt.Errorf("%w: cannot open %s: %w", ErrJournal, name, err)
	}
	defer f.Close()
	if err := lockFile(f); errors.Is(err, errLocked) {
		jc.Journal, jc.InUse = name, true
		return jc, addr == "" || journalAddr(name) == addr, nil
	} else if err != nil {
		return jc, false, fmt.Errorf("%w: cannot lock %s: %w", ErrJournal, name, err)
	}
	if fi, err := os.Stat(name); err != nil || !os.SameFile(fi, mustStat(f)) {
		return jc, false, nil // removed or rewritten by its run as we opened it
	}
	jf, err := readJournal(name, f)
	if err != nil {
		return jc, false, err
	}
	if addr != "" && jf.addr != addr {
		return jc, false, nil
	}
	jc.Addr, jc.Listed = jf.addr, len(jf.entries)
	_, notBooked, left := newUnbooker(jf.addr, timeout, nil).unbook(ctx, jf.entries)
	jc.NotBooked = len(notBooked)
	jc.Unbooked = len(jf.entries) - len(notBooked) - len(left)
	jc.Left = left
	if len(left) == 0 {
		return jc, true, os.Remove(name)
	}
	j := &journal{path: name, addr: jf.addr, entries: make(map[slot]bool, len(left)), f: f}
	for _, b := range left {
		j.entries[slot{b.Room, b.Date}] = true
	}
	j.mu.Lock()
	j.compact()
	j.f.Close()
	j.mu.Unlock()
	jc.Journal = name
	return jc, true, errors.Join(j.err, jc.Err())
}

// mustStat returns f's FileInfo, or nil.
func mustStat(f *os.File) fs.FileInfo {
	fi, _ := f.Stat()
	return fi
}

// journalAddr returns the server the journal at name names, or "".
func journalAddr(name string) string {
	f, err := os.Open(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	var head [512]byte
	n, _ := io.ReadFull(f, head[:])
	lines := strings.SplitN(string(head[:n]), "\n", 3)
	if len(lines) < 3 || lines[0] != journalMagic {
		return ""
	}
	return strings.TrimPrefix(lines[1], "addr ")
}
