package booking

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/poolside-dev/poolside/wire"
)

// The texts of poolside's own ERROR replies, for the inputs the book's
// servers did not check. The book's messages are in package wire
// (wire.MsgDuplicate and the rest); these complement them.
const (
	// MsgNullDate is the reply to BOOK, UNBOOK or BOOKINGSONDATE carrying
	// Qt's null date (Julian Day 0).
	MsgNullDate = "Invalid date: the request carries a null date; send a calendar date"

	// MsgMalformedPrefix starts every reply to a block that does not parse
	// (see MsgMalformed).
	MsgMalformedPrefix = "Malformed request: "

	// MsgReplyTooLarge is the reply when the answer does not fit in one
	// block (a room booked on more than about 16,000 dates).
	MsgReplyTooLarge = "Reply too large for one block"
)

// maxQuotedRoom bounds how much of a bad room name is echoed in a reply, so
// the reply always fits in a block.
const maxQuotedRoom = 16

// MsgInvalidRoom is the reply to BOOK, UNBOOK or BOOKINGSFORROOM with a
// room that is not three digits, floor then 01-34, for example
// `Invalid room "9x9": a room is three digits, floor 0-9 then room 01-34, like 312`.
// A long room is cut to its first 16 characters followed by "...".
func MsgInvalidRoom(room string) string {
	if r := []rune(room); len(r) > maxQuotedRoom {
		room = string(r[:maxQuotedRoom]) + "..."
	}
	return "Invalid room " + strconv.Quote(room) + ": a room is three digits, floor 0-9 then room 01-34, like 312"
}

// MsgPastDate is the reply to a BOOK of a date before today, for example
// "Cannot book 2026-11-24: the date is in the past (today is 2026-11-25)".
func MsgPastDate(date, today wire.Date) string {
	return "Cannot book " + date.String() + ": the date is in the past (today is " + today.String() + ")"
}

// MsgBeyondHorizon is the reply to a BOOK of a date after last, the last
// date bookings are taken for, for example
// "Cannot book 2031-01-01: bookings are taken up to 2028-12-02".
func MsgBeyondHorizon(date, last wire.Date) string {
	return "Cannot book " + date.String() + ": bookings are taken up to " + last.String()
}

// MsgStoreError is the reply when the store failed with err, so the
// request may not have been carried out; it never claims success. For
// BOOK it reads "Booking not saved: storage error on the server; try
// again later"; "Booking not saved: the server is shutting down; try
// again later" when err wraps ErrClosed; "Booking not saved: the database
// is unavailable; try again later" when it wraps ErrUnavailable (nothing
// was sent: safe to retry); and "Booking in doubt: the database
// connection was lost while it was being saved; ask BOOKINGSONDATE
// whether it was" when it wraps ErrInDoubt. It says nothing more of err,
// which may name the server's files or database: the operator hears of
// it through Config.OnStoreError.
func MsgStoreError(action string, err error) string {
	what, doubt := "Bookings not read", ""
	switch action {
	case wire.ActionBook:
		what, doubt = "Booking not saved", "Booking in doubt: the database connection was lost while it was being saved; ask BOOKINGSONDATE whether it was"
	case wire.ActionUnbook:
		what, doubt = "Booking not cancelled", "Cancellation in doubt: the database connection was lost while it was being made; ask BOOKINGSONDATE whether the booking is still there"
	}
	switch {
	case errors.Is(err, ErrClosed):
		return what + ": the server is shutting down; try again later"
	case errors.Is(err, ErrInDoubt) && doubt != "":
		return doubt
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrInDoubt):
		return what + ": the database is unavailable; try again later"
	}
	return what + ": storage error on the server; try again later"
}

// IsInDoubt reports whether msg, the text of an ERROR reply, is one of
// MsgStoreError's in-doubt replies: the request may or may not have taken
// effect.
func IsInDoubt(msg string) bool {
	return msg == MsgStoreError(wire.ActionBook, ErrInDoubt) || msg == MsgStoreError(wire.ActionUnbook, ErrInDoubt)
}

// MsgMalformed is the reply to a block that does not parse as a request,
// err being what Request.UnmarshalBinary returned (an unknown action is
// answered with wire.MsgUnrecognized instead). It starts with
// MsgMalformedPrefix, names the field and byte offset, and says what is
// wrong, for example
// "Malformed request: the room string has an odd byte length (5), at byte 12; QString is UTF-16".
func MsgMalformed(err error) string {
	var pe *wire.ProtocolError
	if !errors.As(err, &pe) {
		return MsgMalformedPrefix + err.Error()
	}
	var what string
	switch {
	case errors.Is(pe.Err, wire.ErrShortField):
		what = fmt.Sprintf("the %s field is missing or cut short, at byte %d (%s)", pe.Field, pe.Offset, detail(pe.Err, wire.ErrShortField))
	case errors.Is(pe.Err, wire.ErrOddLength):
		what = fmt.Sprintf("the %s string has an odd byte length (%s), at byte %d; QString is UTF-16", pe.Field, detail(pe.Err, wire.ErrOddLength), pe.Offset)
	case errors.Is(pe.Err, wire.ErrTrailingBytes):
		what = fmt.Sprintf("%s unexpected bytes after the date, at byte %d", detail(pe.Err, wire.ErrTrailingBytes), pe.Offset)
	default:
		what = fmt.Sprintf("%s at byte %d: %s", pe.Field, pe.Offset, strings.TrimPrefix(pe.Err.Error(), "wire: "))
	}
	return MsgMalformedPrefix + what
}

// detail returns what err adds after the text of its sentinel ("%w: detail").
func detail(err, sentinel error) string {
	return strings.TrimPrefix(strings.TrimPrefix(err.Error(), sentinel.Error()), ": ")
}
