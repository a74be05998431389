package faults

import "strconv"

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
// Spec: "reset=AT".
type Reset struct {
	// At is the number of bytes the stream carries before the reset.
	At int64
}

// Validate reports a negative offset.
func (f Reset) Validate() error {
	if f.At < 0 {
		return invalid("reset", "negative offset %d", f.At)
	}
	return nil
}

// String returns "reset=AT".
func (f Reset) String() string { return "reset=" + strconv.FormatInt(f.At, 10) }

// Inject resets the connection when the stream reaches At.
func (f Reset) Inject(s *Stream, next Op) Op { return endAt(f.At, next, s.Reset) }
