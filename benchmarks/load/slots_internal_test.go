package load

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/wire"
)

func TestBeyondHorizon(t *testing.T) {
	d, last := booking.LastDate, wire.DateOf(2028, time.December, 2)
	got, ok := beyondHorizon(booking.MsgBeyondHorizon(d, last), d)
	require.True(t, ok)
	assert.Equal(t, last, got)
	for _, msg := range []string{wire.MsgDuplicate, booking.MsgBeyondHorizon(d-1, last), "Cannot book 9999-12-31: bookings are taken up to soon"} {
		_, ok := beyondHorizon(msg, d)
		assert.False(t, ok, msg)
	}
	assert.True(t, isPastDate(booking.MsgPastDate(d, d+1), d))
	assert.False(t, isPastDate(booking.MsgBeyondHorizon(d, last), d))
}

func TestCandidates(t *testing.T) {
	for _, d := range []wire.Date{1, 67, 68, booking.LastDate} {
		c := candidates(d)
		require.Len(t, c, perDate)
		seen := map[string]bool{}
		for _, r := range c {
			assert.True(t, wire.ValidRoom(r), r)
			assert.False(t, seen[r], "room %s twice", r)
			seen[r] = true
		}
	}
	assert.NotEqual(t, candidates(100), candidates(101), "the rooms change from date to date")
}

// TestSlotsLearnTheHorizon: the first BOOK a client wants reads
// 9999-12-31 and books one free room there; the server's refusal names
// its last date, from which the dates then walk backwards, and while the
// run waits for it there is nothing to book.
func TestSlotsLearnTheHorizon(t *testing.T) {
	today := wire.DateOf(2026, time.June, 1)
	s := newSlots(today+2, false, 0, nil)
	p := s.plan()
	require.Equal(t, planRead, p.kind)
	assert.Equal(t, booking.LastDate, p.date)
	assert.Equal(t, planNone, s.plan().kind, "nothing to book while the horizon is learned")
	taken := candidates(booking.LastDate)[0]
	s.read(booking.LastDate, []string{taken}, nil)
	p = s.plan()
	require.Equal(t, planBook, p.kind)
	assert.Equal(t, slot{candidates(booking.LastDate)[1], booking.LastDate}, p.s, "one free room of the date")
	assert.Equal(t, planNone, s.plan().kind)

	last := today + 30
	refusal := &client.ServerError{Message: booking.MsgBeyondHorizon(booking.LastDate, last)}
	assert.Equal(t, bookProbed, s.bookDone(p.s, time.Now(), refusal))
	p = s.plan()
	require.Equal(t, planRead, p.kind)
	assert.Equal(t, last, p.date, "the last date first")
	s.read(last, []string{"101", "102", "103", "104", "105"}, nil) // fully booked
	p = s.plan()
	require.Equal(t, planRead, p.kind)
	assert.Equal(t, last-1, p.date)
	s.read(last-1, nil, nil)
	for _, room := range candidates(last - 1) {
		p := s.plan()
		require.Equal(t, planBook, p.kind)
		assert.Equal(t, slot{room, last - 1}, p.s)
		assert.Equal(t, bookMade, s.bookDone(p.s, time.Now(), nil))
	}
	// An acknowledged UNBOOK gives the pair back, to be booked after the
	// others; a duplicate refusal takes it out for good.
	mine := slot{candidates(last - 1)[0], last - 1}
	held, unavailable := s.unbookDone(mine, time.Now(), nil)
	assert.False(t, held)
	assert.False(t, unavailable)
	p = s.plan()
	require.Equal(t, planBook, p.kind)
	assert.Equal(t, mine, p.s)
	assert.Equal(t, bookUnavailable, s.bookDone(p.s, time.Now(), &client.ServerError{Message: wire.MsgDuplicate}))
	holding, doubt, _, _ := s.outstanding()
	assert.Len(t, holding, 4)
	assert.Empty(t, doubt)
	assert.Equal(t, int64(5), s.bookedCount())
}

// TestSlotsDoubt: a BOOK without an answer leaves its pair in doubt, never
// booked again and unbooked by the clean-up; one not sent gives it back.
func TestSlotsDoubt(t *testing.T) {
	today := wire.DateOf(2026, time.June, 1)
	s := newSlots(today+2, true, today+3, nil)
	a, b := s.plan(), s.plan()
	require.Equal(t, planBook, a.kind)
	require.Equal(t, planBook, b.kind)
	cut := &wire.TruncatedError{Got: 1, Want: 10}
	assert.Equal(t, bookFailed, s.bookDone(a.s, time.Now(), cut))
	notSent := errors.Join(client.ErrNotSent, os.ErrDeadlineExceeded)
	assert.Equal(t, bookFailed, s.bookDone(b.s, time.Now(), notSent))
	held, doubt, doubtAt, _ := s.outstanding()
	assert.Empty(t, held)
	assert.Equal(t, []slot{a.s}, doubt)
	assert.False(t, doubtAt.IsZero())
	for range 2*perDate - 1 {
		p := s.plan()
		require.Equal(t, planBook, p.kind)
		assert.NotEqual(t, a.s, p.s, "a pair in doubt is not booked again")
	}
	assert.Equal(t, planNone, s.plan().kind, "the horizon's pairs are all taken")
}

// TestJournalReadBack: the journal lists what the run may hold, also
// after it was rewritten, and a last line cut short is ignored.
func TestJournalReadBack(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(filepath.Join(dir, "j"), "127.0.0.1:9407")
	require.NoError(t, err)
	d := wire.DateOf(2027, time.March, 1)
	for i := range 3000 {
		s := slot{"312", d + wire.Date(i)}
		require.NoError(t, j.add(s))
		if i%3 != 0 {
			j.remove(s)
		}
	}
	data, err := os.ReadFile(j.path)
	require.NoError(t, err)
	assert.Less(t, strings.Count(string(data), "\n"), 6000, "rewritten as it grew")
	jf, err := readJournal(j.path, strings.NewReader(string(data)+"+ 101 2027-0"))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9407", jf.addr)
	assert.Len(t, jf.entries, 1000)
	path, err := j.close(true)
	require.NoError(t, err)
	assert.Equal(t, j.path, path)
	_, err = readJournal("x", strings.NewReader("something else\n"))
	assert.ErrorContains(t, err, "is not a poolside journal")
}
