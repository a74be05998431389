package client

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/poolside-dev/poolside/wire"
)

// checkFields checks the fields of a well-formed reply for values no
// server can mean, in the lists a query returns: a room that is not a
// room of the building, a null date, a room or a date listed twice. The
// echoes are match's to check. Dates are not checked against any year: a
// QDate past 9999 (or before year 1) is a date, a server may hold
// bookings for it, and they must be possible to list and cancel.
func checkFields(rep wire.Reply) error {
	switch rep.Action {
	case wire.ActionBookingsOnDate:
		for _, r := range rep.Rooms {
			if !wire.ValidRoom(r) {
				return fmt.Errorf("%w to %s: room %s is not a room of the building (three digits: a floor 0-9, then a room 01-34)",
					ErrMalformedReply, rep.Action, quoteShort(r))
			}
		}
		if r, twice := repeated(rep.Rooms); twice {
			return fmt.Errorf("%w to %s: room %s is listed twice", ErrMalformedReply, rep.Action, r)
		}
	case wire.ActionBookingsForRoom:
		for i, d := range rep.Dates {
			if d.IsNull() {
				return fmt.Errorf("%w to %s: date %d of %d is the null date (Julian day 0), which no booking can have",
					ErrMalformedReply, rep.Action, i+1, len(rep.Dates))
			}
		}
		if d, twice := repeated(rep.Dates); twice {
			return fmt.Errorf("%w to %s: %v is listed twice", ErrMalformedReply, rep.Action, d)
		}
	}
	return nil
}

// repeated returns an element that list holds more than once, if any. A
// list in ascending order, as servers send them, is checked in one pass
// and not copied.
func repeated[E interface{ ~string | ~uint32 }](list []E) (E, bool) {
	if !slices.IsSorted(list) {
		list = slices.Sorted(slices.Values(list))
	}
	for i := 1; i < len(list); i++ {
		if list[i] == list[i-1] {
			return list[i], true
		}
	}
	var zero E
	return zero, false
}

// quoteShort quotes s as %q does (controls escaped), cut to its first 24
// characters when longer, with its length: a server's text can be 32 K
// characters long.
func quoteShort(s string) string {
	const keep = 24
	if n := utf8.RuneCountInString(s); n > keep {
		return fmt.Sprintf("%.*q... (%d characters)", keep, s, n)
	}
	return fmt.Sprintf("%q", s)
}

// Printable returns s with every character that could act on a terminal,
// or make text look other than it is, escaped, so that text a server sent
// (an ERROR message, say) can be shown to a person safely: C0 controls
// and DEL as \x1b or \n, \r, \t; C1 controls, Unicode format characters
// (bidirectional overrides such as U+202E, zero-width characters), line
// and paragraph separators, private-use and unassigned code points as
// \u202e or \U000e0041; bytes that are not UTF-8 as \xff. Printable text,
// ASCII or not (é, 日本, emoji), and spaces stay as they are. Backslashes
// are kept as they are, so the result is for reading, not for decoding
// back; Printable of its own result returns it unchanged.
func Printable(s string) string {
	i := firstEscape(s)
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1: // a byte that is not UTF-8
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !needsEscape(r):
			b.WriteString(s[i : i+n])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < utf8.RuneSelf:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r > 0xffff:
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += n
	}
	return b.String()
}

// firstEscape returns the byte offset of the first character of s that
// Printable escapes, or len(s) if there is none.
func firstEscape(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || needsEscape(r) {
			return i
		}
		i += n
	}
	return len(s)
}

// needsEscape reports whether Printable escapes r: anything but letters,
// marks, numbers, punctuation, symbols and spaces (unicode.IsGraphic).
func needsEscape(r rune) bool { return !unicode.IsGraphic(r) }
