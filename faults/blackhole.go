package faults

import (
	"strconv"
	"time"
)

// Blackhole lets At bytes through and then nothing more. In the read
// direction a Read at or past At blocks until the read deadline passes (a
// *net.OpError wrapping os.ErrDeadlineExceeded) or the connection is
// closed; the bytes the peer sends stay unread in the socket. In the write
// direction Writes past At report success but the bytes are dropped, as a
// network path that loses everything would; the end of the stream is lost
// too: CloseWrite sends no FIN, and a Proxy neither closes nor resets the
// side a Blackhole writes to when the other side ends, so its peer hears
// nothing more while it is still sending. Once that peer ends its own
// stream (it closes, half-closes or resets), the Proxy ends the connection
// as it would with no faults, and closes both of its sockets once both
// directions have ended: it cannot tell a half-close from a close, and
// holding every connection whose peer has gone would run a long-lived
// proxy out of descriptors. So a peer that only half-closed reads the end
// (EOF) after the At bytes, once the other side has ended too. (Close
// still closes the socket.)
//
// With After set, the connection is closed (as Cut closes it) After the
// blackhole begins, as toxiproxy's timeout does; without it the blackhole
// lasts until the connection ends or, in a Proxy, its faults change.
//
// Spec: "blackhole" (from the start), "blackhole=AT", or
// "blackhole=AT@DURATION" for After.
type Blackhole struct {
	// At is the number of bytes that pass before the blackhole.
	At int64
	// After, when not 0, closes the connection this long after the
	// blackhole begins.
	After time.Duration
}

// Validate reports a negative offset.
func (f Blackhole) Validate() error {
	switch {
	case f.At < 0:
		return invalid("blackhole", "negative offset %d", f.At)
	case f.After < 0:
		return invalid("blackhole", "negative After %v", f.After)
	}
	return nil
}

// String returns "blackhole", or "blackhole=AT" when At is not 0, with
// "@DURATION" when After is set.
func (f Blackhole) String() string {
	if f.At == 0 && f.After == 0 {
		return "blackhole"
	}
	return "blackhole=" + strconv.FormatInt(f.At, 10) + atDuration(f.After)
}

// Inject swallows the stream from At on.
func (f Blackhole) Inject(s *Stream, next Op) Op {
	off := s.base
	begin := func() {
		s.lose()
		s.fire()
		if f.After > 0 {
			s.after(f.After, false)
		}
	}
	if off >= f.At {
		begin()
	}
	return func(p []byte) (int, error) {
		if off >= f.At {
			if s.Dir() == Write {
				return len(p), nil
			}
			return 0, s.Hang()
		}
		n, err := next(upTo(p, f.At-off))
		off += int64(n)
		if off >= f.At {
			begin()
		}
		return n, err
	}
}
