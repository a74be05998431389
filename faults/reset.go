package faults

import (
	"strconv"
	"time"
)

// Reset aborts the connection with a TCP RST once the stream has carried At
// bytes. Bytes before At pass; right after the operation that carries byte
// At-1, the connection is closed with SetLinger(0) (a plain close when no
// *net.TCPConn is found underneath). The peer's next operation fails with
// ECONNRESET, and so does every read and write of the wrapped side, in both
// directions, until it calls Close: a *net.OpError wrapping
// syscall.ECONNRESET.
//
// As with Cut, nothing happens until a Read or Write runs in the fault's
// direction, never at connect time: with At 0 the first one (of at least
// one byte) carries nothing and resets the connection. In a Proxy's Down
// list "reset=0" lets the client's request reach the upstream, and resets
// the connection when the first bytes of the reply arrive.
//
// With After set, the stream reaching At starts a timer instead, and the
// connection is reset After later, whether bytes flow meanwhile or not, as
// toxiproxy's reset_peer does.
//
// Spec: "reset=AT", or "reset=AT@DURATION" for After.
type Reset struct {
	// At is the number of bytes the stream carries before the reset.
	At int64
	// After, when not 0, is the time from reaching At to the reset.
	After time.Duration
}

// Validate reports a negative offset.
func (f Reset) Validate() error {
	switch {
	case f.At < 0:
		return invalid("reset", "negative offset %d", f.At)
	case f.After < 0:
		return invalid("reset", "negative After %v", f.After)
	}
	return nil
}

// String returns "reset=AT", with "@DURATION" when After is set.
func (f Reset) String() string {
	return "reset=" + strconv.FormatInt(f.At, 10) + atDuration(f.After)
}

// Inject resets the connection when the stream reaches At, or After later.
func (f Reset) Inject(s *Stream, next Op) Op {
	if f.After == 0 {
		return endAt(s, f.At, next, s.Reset)
	}
	return timerAt(s, f.At, next, func() { s.after(f.After, true) })
}

// atDuration returns "@DURATION", or "" for 0.
func atDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return "@" + d.String()
}

// timerAt returns next, calling arm once, in the first operation that
// finds the stream at or past at.
func timerAt(s *Stream, at int64, next Op, arm func()) Op {
	off, armed := s.base, false
	return func(p []byte) (int, error) {
		if off >= at && !armed {
			armed = true
			arm()
		}
		n, err := next(p)
		off += int64(n)
		return n, err
	}
}
