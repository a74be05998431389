package faults

import "strconv"

// Cut closes the connection cleanly once the stream has carried At bytes:
// the peer reads EOF. Bytes before At pass; the operation that carries byte
// At-1 completes, and the connection is closed right after it. From then on
// the wrapped side reads io.EOF and its writes fail with a *net.OpError
// wrapping syscall.EPIPE, in both directions, until it calls Close.
//
// In the read direction this is the dropped read: the reply stops after At
// bytes. If unread bytes are waiting when the connection closes, the kernel
// may send RST instead of FIN, as it would for any real close.
//
// A Cut acts only when a Read or Write runs in its direction, never at
// connect time. With At 0 the first one (of at least one byte) carries
// nothing and closes the connection; until then the other direction flows
// as usual. In a Proxy's Down list, for instance, "cut=0" lets the
// client's request reach the upstream, and closes the connection when the
// first bytes of the reply arrive and the proxy is about to relay them.
//
// Spec: "cut=AT".
type Cut struct {
	// At is the number of bytes the stream carries before the close.
	At int64
}

// Validate reports a negative offset.
func (f Cut) Validate() error {
	if f.At < 0 {
		return invalid("cut", "negative offset %d", f.At)
	}
	return nil
}

// String returns "cut=AT".
func (f Cut) String() string { return "cut=" + strconv.FormatInt(f.At, 10) }

// Inject closes the connection when the stream reaches At.
func (f Cut) Inject(s *Stream, next Op) Op { return endAt(s, f.At, next, s.Cut) }

// endAt returns next limited to at bytes in all, calling end (and failing
// with its error) once s has carried them. A stream that a live change
// made past at ends at its next operation.
func endAt(s *Stream, at int64, next Op, end func() error) Op {
	off := s.base
	return func(p []byte) (int, error) {
		if off >= at {
			s.fire()
			return 0, end()
		}
		n, err := next(upTo(p, at-off))
		off += int64(n)
		if off >= at {
			s.fire()
			_ = end() // the next operation reports it
		}
		return n, err
	}
}
