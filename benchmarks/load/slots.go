package load

import (
	"cmp"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/wire"
)

// perDate is how many rooms the workload books on one date: the protocol's
// limit, so that no booking of the run's own is refused as fully booked.
const perDate = 5

// probeWait is how long the clients wait for the answer to the test
// booking that tells the server's horizon before another client tries.
const probeWait = 250 * time.Millisecond

// heldPerClient is the most bookings one client holds at a time. A client
// holding that many cancels its oldest where the mix says book, so that
// what a run holds stays bounded however long it runs and whatever the
// mix: a server's horizon leaves only so many (room, date) pairs.
const heldPerClient = 8

// rooms are the building's 340 rooms, in ascending order.
var rooms = wire.Rooms()

// slot is one (room, date) pair.
type slot struct {
	room string
	date wire.Date
}

func (s slot) String() string { return "room " + s.room + " on " + s.date.String() }

// candidates returns the rooms the workload books on date, in order: five
// rooms 68 apart in the list of rooms, so that each room is booked on few
// dates and BOOKINGSFORROOM replies stay short, starting at a room that
// changes from date to date.
func candidates(date wire.Date) []string {
	step := len(rooms) / perDate
	base := int(uint32(date) % uint32(step))
	out := make([]string, perDate)
	for k := range out {
		out[k] = rooms[base+k*step]
	}
	return out
}

// slotState is what the run knows of a slot it may hold.
type slotState int

const (
	// stateBooking: a BOOK of the slot is on its way.
	stateBooking slotState = iota
	// stateBooked: the server acknowledged the BOOK; a client holds it.
	stateBooked
	// stateDoubt: a BOOK or UNBOOK of the slot got no answer (a timeout, a
	// cut connection), so the run cannot tell whether it is booked. It is
	// never booked again by the run; the clean-up unbooks it if it is.
	stateDoubt
)

// horizonState says how far the run knows the server takes bookings.
type horizonState int

const (
	horizonUnknown horizonState = iota
	horizonProbing              // a test booking of booking.LastDate is on its way
	horizonKnown
)

// planKind says what a client needing a slot to book is to do.
type planKind int

const (
	// planBook: book the slot.
	planBook planKind = iota
	// planRead: read the date (BOOKINGSONDATE) to find its free rooms.
	planRead
	// planNone: there is no slot to book now (every free one is taken,
	// or the run is still learning the server's horizon).
	planNone
)

type plan struct {
	kind planKind
	s    slot
	date wire.Date
}

// slots are the (room, date) pairs a Runner books, shared by its clients,
// and the bookings the run holds. The run books only pairs it has seen
// free: read as free on a server whose store it does not own, or any pair
// of the store it owns (an in-process server it started, which starts
// empty), or a pair whose booking the run itself cancelled. Dates go from
// the last one the server takes bookings for backwards, never before
// first, so that the run books where real bookings are rarest. A free
// pair is booked again only after every other free pair (a FIFO), and a
// pair that someone else booked is never used again by the run.
//
// Its methods are safe for concurrent use.
type slots struct {
	fresh   bool     // the store is the run's own and starts empty: no reads
	journal *journal // nil when the run keeps none
	first   wire.Date

	mu         sync.Mutex
	horizon    horizonState
	probeSince time.Time   // when the latest test booking began, while probing
	last       wire.Date   // the last date the server takes, once known
	next       wire.Date   // the next date to open, walking back from last
	reopen     []wire.Date // dates whose read failed, to open again
	free       []slot      // seen free and not held, oldest first
	mine       map[slot]slotState
	doubtAt    time.Time // when the latest request left in doubt, not by a timeout, was sent
	timeoutAt  time.Time // when the latest request left in doubt by a timeout was sent
	booked     int64     // BOOKs acknowledged over the run
}

// newSlots returns the slots of a run that books from first on. With
// fresh, the store is the run's own, starts empty, and takes bookings up
// to last; otherwise the run learns the server's last date as it goes.
func newSlots(first wire.Date, fresh bool, last wire.Date, j *journal) *slots {
	s := &slots{fresh: fresh, journal: j, first: first, mine: make(map[slot]slotState)}
	if fresh {
		s.learn(last)
	}
	return s
}

// learn records last as the server's last date: dates after it are
// dropped. Call it with mu held (or before the slots are shared).
func (s *slots) learn(last wire.Date) {
	if s.horizon == horizonKnown && last >= s.last {
		return
	}
	if s.horizon != horizonKnown {
		s.next = last
	}
	s.horizon, s.last = horizonKnown, last
	s.next = min(s.next, last)
	s.free = dropAfter(s.free, last)
	kept := s.reopen[:0]
	for _, d := range s.reopen {
		if d <= last {
			kept = append(kept, d)
		}
	}
	s.reopen = kept
}

// dropAfter removes the slots dated after last from free.
func dropAfter(free []slot, last wire.Date) []slot {
	kept := free[:0]
	for _, f := range free {
		if f.date <= last {
			kept = append(kept, f)
		}
	}
	return kept
}

// plan says what a client that wants to book is to do: book a free slot
// (which is then the client's, on its way), read a date first, or
// nothing.
func (s *slots) plan() plan {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal != nil && s.journal.failed() {
		return plan{kind: planNone} // no booking without its journal entry
	}
	for {
		if len(s.free) > 0 {
			f := s.free[0]
			s.free = s.free[1:]
			if s.journal != nil {
				if err := s.journal.add(f); err != nil {
					s.free = append(s.free, f)
					return plan{kind: planNone}
				}
			}
			s.mine[f] = stateBooking
			return plan{kind: planBook, s: f}
		}
		switch {
		case s.horizon == horizonUnknown,
			s.horizon == horizonProbing && time.Since(s.probeSince) >= probeWait:
			// Learn the horizon from a BOOK of booking.LastDate: a server
			// with a horizon refuses it with a message that names its last
			// date. One client does; the others wait for the answer, unless
			// it is slow to come (that client's connection may be left
			// unserved), when the next one tries too.
			s.horizon, s.probeSince = horizonProbing, time.Now()
			return plan{kind: planRead, date: booking.LastDate}
		case s.horizon == horizonProbing:
			return plan{kind: planNone}
		}
		var d wire.Date
		switch {
		case len(s.reopen) > 0:
			d, s.reopen = s.reopen[0], s.reopen[1:]
		case s.next >= s.first:
			d = s.next
			s.next--
		default:
			return plan{kind: planNone}
		}
		if !s.fresh {
			return plan{kind: planRead, date: d}
		}
		for _, room := range candidates(d) {
			s.free = append(s.free, slot{room, d})
		}
	}
}

// read records what a BOOKINGSONDATE of date, sent for plan, answered:
// the free rooms among its candidates become free slots (for the test
// booking of booking.LastDate, only one).
func (s *slots) read(date wire.Date, booked []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	probe := date == booking.LastDate && s.horizon == horizonProbing
	if err != nil {
		if probe {
			s.horizon = horizonUnknown
		} else {
			s.reopen = append(s.reopen, date)
		}
		return
	}
	left := perDate - len(booked)
	switch {
	case probe:
		left = min(left, 1)
	case s.horizon == horizonKnown && date > s.last:
		left = 0 // the horizon turned out shorter while the date was read
	}
	taken := make(map[string]bool, len(booked))
	for _, r := range booked {
		taken[r] = true
	}
	added := 0
	for _, r := range candidates(date) {
		if added >= left {
			break
		}
		if sl := (slot{r, date}); !taken[r] && !s.isMine(sl) && !slices.Contains(s.free, sl) {
			s.free = append(s.free, sl)
			added++
		}
	}
	if probe && added == 0 {
		// LastDate is full, or every candidate is booked: no test
		// booking to make, so assume the default horizon.
		s.learn(s.defaultLast())
	}
}

// isMine reports whether the run may hold sl. Call it with mu held.
func (s *slots) isMine(sl slot) bool {
	_, ok := s.mine[sl]
	return ok
}

// defaultLast is the last date assumed for a server that did not say:
// booking.DefaultHorizon days from today.
func (s *slots) defaultLast() wire.Date {
	return min(s.first-2+wire.Date(booking.DefaultHorizon), booking.LastDate)
}

// bookOutcome is what a BOOK's answer means for the run.
type bookOutcome int

const (
	bookMade        bookOutcome = iota // acknowledged: the client holds the slot
	bookUnavailable                    // someone else holds the slot, or it is past the horizon: answered, not an error
	bookProbed                         // the test booking of booking.LastDate told the horizon, as it was meant to
	bookFailed                         // any other failure
)

// bookDone records the answer to a BOOK of sl sent at sent.
func (s *slots) bookDone(sl slot, sent time.Time, err error) bookOutcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	probe := sl.date == booking.LastDate && s.horizon == horizonProbing
	var se *client.ServerError
	switch {
	case err == nil:
		s.mine[sl] = stateBooked
		s.booked++
		if probe {
			// No horizon (or one that reaches LastDate): book as far
			// ahead as the default horizon would.
			s.learn(s.defaultLast())
		}
		return bookMade
	case errors.Is(err, client.ErrBusy), errors.Is(err, client.ErrNotSent):
		// Not carried out: the slot is still free (the test booking is
		// tried again from the start).
		s.forget(sl)
		if probe {
			s.horizon = horizonUnknown
		} else {
			s.free = append(s.free, sl)
		}
		return bookFailed
	case errors.As(err, &se):
		s.forget(sl)
		if last, ok := beyondHorizon(se.Message, sl.date); ok {
			s.learn(min(last, booking.LastDate))
			if sl.date == booking.LastDate {
				return bookProbed // a test booking, whichever client's came first
			}
			return bookUnavailable
		}
		if probe {
			s.learn(s.defaultLast())
		}
		if se.Message == wire.MsgDuplicate || se.Message == wire.MsgFullyBooked(sl.date) || isPastDate(se.Message, sl.date) {
			return bookUnavailable
		}
		return bookFailed
	}
	// No answer: the booking may have been made.
	s.mine[sl] = stateDoubt
	s.noteDoubt(sent, err)
	if probe {
		s.horizon = horizonUnknown
	}
	return bookFailed
}

// unbookDone records the answer to an UNBOOK of sl, a slot the client
// held, sent at sent. It reports whether the client still holds sl (the
// UNBOOK was not carried out), and whether the answer is a booking
// someone else cancelled: answered, not an error.
func (s *slots) unbookDone(sl slot, sent time.Time, err error) (stillHeld, unavailable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var se *client.ServerError
	switch {
	case err == nil:
		s.forget(sl)
		s.free = append(s.free, sl)
		return false, false
	case errors.As(err, &se) && se.Message == wire.MsgNotBooked:
		// Someone else cancelled it: it is free now.
		s.forget(sl)
		s.free = append(s.free, sl)
		return false, true
	case errors.Is(err, client.ErrBusy), errors.Is(err, client.ErrNotSent), errors.As(err, &se):
		return true, false
	}
	s.mine[sl] = stateDoubt
	s.noteDoubt(sent, err)
	return false, false
}

// noteDoubt records that a request sent at sent was left in doubt by err.
// Call it with mu held.
func (s *slots) noteDoubt(sent time.Time, err error) {
	at := &s.doubtAt
	if errors.Is(err, os.ErrDeadlineExceeded) {
		at = &s.timeoutAt
	}
	if sent.After(*at) {
		*at = sent
	}
}

// bookedCount returns the BOOKs acknowledged over the run.
func (s *slots) bookedCount() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.booked
}

// forget drops sl from what the run holds, and from its journal. Call it
// with mu held.
func (s *slots) forget(sl slot) {
	delete(s.mine, sl)
	if s.journal != nil {
		s.journal.remove(sl)
	}
}

// outstanding returns what the run may still hold: the slots booked and
// those in doubt, and when the latest requests left in doubt were sent,
// by a timeout and otherwise.
func (s *slots) outstanding() (held, doubt []slot, doubtAt, timeoutAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sl, st := range s.mine {
		if st == stateDoubt {
			doubt = append(doubt, sl)
		} else {
			held = append(held, sl)
		}
	}
	sortSlots(held)
	sortSlots(doubt)
	return held, doubt, s.doubtAt, s.timeoutAt
}

// settled records that the clean-up found sl not booked, or unbooked it.
func (s *slots) settled(sl slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forget(sl)
}

// queryDate returns a date for a query when the client has no booking to
// ask about: one of the run's dates.
func (s *slots) queryDate(pick func(n int) int) wire.Date {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.last
	if s.horizon != horizonKnown {
		last = s.defaultLast()
	}
	if last < s.first {
		return s.first
	}
	return s.first + wire.Date(pick(int(last-s.first)+1))
}

// beyondHorizon parses a refusal of a BOOK of date as past the server's
// horizon (booking.MsgBeyondHorizon) and returns the last date it names.
func beyondHorizon(msg string, date wire.Date) (wire.Date, bool) {
	prefix := strings.TrimSuffix(booking.MsgBeyondHorizon(date, date), date.String())
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		return 0, false
	}
	last, err := wire.ParseDate(rest)
	return last, err == nil && !last.IsNull()
}

// isPastDate reports whether msg refuses a BOOK of date as in the past
// (booking.MsgPastDate): the server's calendar is ahead of this one's.
func isPastDate(msg string, date wire.Date) bool {
	full := booking.MsgPastDate(date, date)
	return strings.HasPrefix(msg, full[:strings.Index(full, "(")])
}

// sortSlots sorts ss by date, then room.
func sortSlots(ss []slot) {
	slices.SortFunc(ss, func(a, b slot) int {
		return cmp.Or(cmp.Compare(a.date, b.date), cmp.Compare(a.room, b.room))
	})
}
