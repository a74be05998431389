package faults

import (
	"strconv"
	"time"
)

// Stall pauses the stream for For at byte offset At: the bytes before At
// pass at once, and the first operation that would carry byte At waits For
// before it does. The pause starts when that operation starts, not when
// byte At-1 passed: however long the application waits between the two
// operations, the one carrying byte At is held back by For in full, so the
// fault's effect does not depend on timing. (A peer therefore sees a gap of
// at least For between bytes At-1 and At, more if the application was idle
// in between.) An operation that a deadline interrupts (with a timeout
// error) leaves the rest of the pause to the next one, and Close ends it at
// once.
//
// Spec: "stall=AT@DURATION".
type Stall struct {
	// At is the byte offset of the pause.
	At int64
	// For is the length of the pause.
	For time.Duration
}

// Validate reports a negative field.
func (f Stall) Validate() error {
	switch {
	case f.At < 0:
		return invalid("stall", "negative offset %d", f.At)
	case f.For < 0:
		return invalid("stall", "negative duration %v", f.For)
	}
	return nil
}

// String returns "stall=AT@DURATION".
func (f Stall) String() string {
	return "stall=" + strconv.FormatInt(f.At, 10) + "@" + f.For.String()
}

// Inject pauses the stream at At.
func (f Stall) Inject(s *Stream, next Op) Op {
	var (
		off   = s.base
		until time.Time    // end of the pause, once the stream reaches At
		over  = off > f.At // a live change made this stream after byte At passed
	)
	return func(p []byte) (int, error) {
		switch {
		case off < f.At:
			p = upTo(p, f.At-off)
		case !over:
			if until.IsZero() {
				until = time.Now().Add(f.For)
				s.fire()
			}
			if err := s.Sleep(time.Until(until)); err != nil {
				return 0, err
			}
			over = true
		}
		n, err := next(p)
		off += int64(n)
		return n, err
	}
}

// upTo returns p shortened to at most n bytes.
func upTo(p []byte, n int64) []byte {
	if int64(len(p)) > n {
		return p[:n]
	}
	return p
}
