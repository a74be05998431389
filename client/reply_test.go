package client_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/wire"
)

// roomsFrame is a BOOKINGSONDATE reply for date whose rooms field is the
// string rooms, exactly as given (so a test can send separators and
// controls the codec would never join).
func roomsFrame(rooms string, date wire.Date) []byte {
	b := wire.AppendString(nil, wire.ActionBookingsOnDate)
	b = wire.AppendString(b, rooms)
	return mustFrame(wire.AppendDate(b, date))
}

// TestImpossibleFields: a well-formed reply that carries a value no server
// can mean is an error matching ErrMalformedReply, not an answer; the
// connection is closed and the query is not retried. The message quotes
// the value with its controls escaped.
func TestImpossibleFields(t *testing.T) {
	forRoom := func(dates ...wire.Date) func(wire.Request) []byte {
		return func(req wire.Request) []byte {
			return frame(wire.Reply{Action: req.Action, Room: req.Room, Dates: dates})
		}
	}
	onDate := func(rooms string) func(wire.Request) []byte {
		return func(req wire.Request) []byte { return roomsFrame(rooms, req.Date) }
	}
	tests := []struct {
		name   string
		action string
		answer func(wire.Request) []byte
		msg    string // the whole error text
	}{
		{"a room with a newline", wire.ActionBookingsOnDate, onDate("101, 5\n6"),
			`client: malformed reply to BOOKINGSONDATE: room "5\n6" is not a room of the building (three digits: a floor 0-9, then a room 01-34)`},
		{"a room with escape sequences", wire.ActionBookingsOnDate, onDate("\x1b]0;pwned\x07\x1b[2J"),
			`client: malformed reply to BOOKINGSONDATE: room "\x1b]0;pwned\a\x1b[2J" is not a room of the building (three digits: a floor 0-9, then a room 01-34)`},
		{"a bidi override", wire.ActionBookingsOnDate, onDate("\u202e213"),
			`client: malformed reply to BOOKINGSONDATE: room "\u202e213" is not a room of the building (three digits: a floor 0-9, then a room 01-34)`},
		{"rooms joined without the space", wire.ActionBookingsOnDate, onDate("101,312"),
			`client: malformed reply to BOOKINGSONDATE: room "101,312" is not a room of the building (three digits: a floor 0-9, then a room 01-34)`},
		{"an empty room", wire.ActionBookingsOnDate, onDate("101, "),
			`client: malformed reply to BOOKINGSONDATE: room "" is not a room of the building (three digits: a floor 0-9, then a room 01-34)`},
		{"a room out of range", wire.ActionBookingsOnDate, onDate("335"),
			`client: malformed reply to BOOKINGSONDATE: room "335" is not a room of the building (three digits: a floor 0-9, then a room 01-34)`},
		{"a long bad room is cut short", wire.ActionBookingsOnDate, onDate(strings.Repeat("x", 1000)),
			`client: malformed reply to BOOKINGSONDATE: room "` + strings.Repeat("x", 24) + `"... (1000 characters) is not a room of the building (three digits: a floor 0-9, then a room 01-34)`},
		{"a room listed twice", wire.ActionBookingsOnDate, onDate("101, 312, 101"),
			`client: malformed reply to BOOKINGSONDATE: room 101 is listed twice`},
		{"a null date", wire.ActionBookingsForRoom, forRoom(day, 0),
			`client: malformed reply to BOOKINGSFORROOM: date 2 of 2 is the null date (Julian day 0), which no booking can have`},
		{"a date listed twice", wire.ActionBookingsForRoom, forRoom(day+4, day, day+4),
			`client: malformed reply to BOOKINGSFORROOM: 2026-12-05 is listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t, func(_, _ int, req wire.Request) response { return response{bytes: tt.answer(req)} })
			c := dialFake(t, s, client.Config{Retries: 2})
			var err error
			if tt.action == wire.ActionBookingsOnDate {
				var rooms []string
				rooms, err = c.BookingsOnDate(testCtx(t), dec1)
				assert.Nil(t, rooms)
			} else {
				var dates []time.Time
				dates, err = c.BookingsForRoom(testCtx(t), "312")
				assert.Nil(t, dates)
			}
			require.ErrorIs(t, err, client.ErrMalformedReply)
			assert.EqualError(t, err, tt.msg)
			assert.NotErrorIs(t, err, client.ErrNotSent)
			assert.Equal(t, client.Stats{Requests: 1, Dials: 1, Discarded: 1}, c.Stats(), "closed, not retried")

			// Do, the low level, checks the same.
			rep, err := c.Do(testCtx(t), wire.Request{Action: tt.action, Room: "312", Date: day})
			require.ErrorIs(t, err, client.ErrMalformedReply)
			assert.Equal(t, wire.Reply{}, rep)
		})
	}
}

// TestMalformedReplyMatchesErrMalformedReply: a reply that does not parse
// matches ErrMalformedReply as well as *wire.ProtocolError, with the text
// it always had.
func TestMalformedReplyMatchesErrMalformedReply(t *testing.T) {
	s := startFake(t, func(_, _ int, _ wire.Request) response {
		return response{bytes: []byte{0, 5, 0, 0, 0, 1, 0}}
	})
	c := dialFake(t, s, client.Config{})
	err := c.Book(testCtx(t), "312", dec1)
	require.ErrorIs(t, err, client.ErrMalformedReply)
	var pe *wire.ProtocolError
	require.ErrorAs(t, err, &pe)
	assert.EqualError(t, err, "client: malformed reply to BOOK: malformed block: action at byte 0: odd QString byte length: 1")
}

// TestPossibleFields: what a server may send, however odd, is an answer:
// dates QDate can carry whatever their year (a server may hold such
// bookings, and they must be possible to list and cancel), lists out of
// order (returned sorted), more than five rooms on a date (a server may
// allow more), and BOOK echoes of any room that was sent.
func TestPossibleFields(t *testing.T) {
	last := wire.Date(^uint32(0))
	y10k := wire.DateOf(10000, time.January, 1)
	s := startFake(t, func(_, _ int, req wire.Request) response {
		switch req.Action {
		case wire.ActionBookingsOnDate:
			return response{bytes: roomsFrame("312, 101, 934, 001, 102, 103, 104", req.Date)}
		case wire.ActionBookingsForRoom:
			return response{bytes: frame(wire.Reply{Action: req.Action, Room: req.Room, Dates: []wire.Date{last, day, 1, y10k}})}
		}
		return response{bytes: echo(req)}
	})
	c := dialFake(t, s, client.Config{})
	rooms, err := c.BookingsOnDate(testCtx(t), dec1)
	require.NoError(t, err)
	assert.Equal(t, []string{"001", "101", "102", "103", "104", "312", "934"}, rooms)
	dates, err := c.BookingsForRoom(testCtx(t), "312")
	require.NoError(t, err)
	assert.Equal(t, []time.Time{wire.Date(1).Time(), dec1, y10k.Time(), last.Time()}, dates)
	_, err = c.Do(testCtx(t), wire.Request{Action: wire.ActionBook, Room: "5\n6", Date: day})
	require.NoError(t, err, "an echo of what was sent is no malformed reply")
	assert.Equal(t, uint64(0), c.Stats().Discarded)
}

func TestPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"Cannot accept duplicate booking", "Cannot accept duplicate booking"},
		{"réservé 日本 😀 ½ — “quoted” a\u00a0b", "réservé 日本 😀 ½ — “quoted” a\u00a0b"}, // printable text, and spaces, stay
		{`back\slash \x1b`, `back\slash \x1b`},                                       // kept: the result is for reading
		{"\x1b]0;pwned\x07\x1b[2J", `\x1b]0;pwned\x07\x1b[2J`},
		{"5\n6\r\t", `5\n6\r\t`},
		{"\x00\x7f", `\x00\x7f`},
		{"\u0085\u009b", `\u0085\u009b`}, // C1
		{"\u202eevil\u202c \u2066x\u2069 \u200f", `\u202eevil\u202c \u2066x\u2069 \u200f`}, // bidi
		{"a\u200bb\u00adc\ufeffd\u2060", `a\u200bb\u00adc\ufeffd\u2060`},                   // invisible
		{"line\u2028para\u2029", `line\u2028para\u2029`},
		{"tag\U000e0041 private\ue000 unassigned\U000effff", `tag\U000e0041 private\ue000 unassigned\U000effff`},
		{"bad \xff\xfe utf-8 \xe2\x82", `bad \xff\xfe utf-8 \xe2\x82`},
		{"\ufffd stays", "\ufffd stays"}, // a real U+FFFD is printable
	}
	for _, tt := range tests {
		got := client.Printable(tt.in)
		assert.Equal(t, tt.want, got, "%q", tt.in)
		assert.Equal(t, got, client.Printable(got), "Printable of its own result changes nothing: %q", tt.in)
	}
}

// TestServerErrorTextIsPrintable: a ServerError's text, which callers
// print, has the server's controls escaped; Message keeps them, for
// comparing with the server's texts.
func TestServerErrorTextIsPrintable(t *testing.T) {
	const msg = "\x1b]0;pwned\x07\x1b[2J\u202e"
	s := startFake(t, func(_, _ int, _ wire.Request) response { return response{bytes: errorFrame(msg)} })
	c := dialFake(t, s, client.Config{})
	err := c.Book(testCtx(t), "312", dec1)
	var se *client.ServerError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, msg, se.Message)
	assert.EqualError(t, err, `client: server refused: \x1b]0;pwned\x07\x1b[2J\u202e`)
}
