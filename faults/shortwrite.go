package faults

import (
	"io"
	"strconv"
)

// ShortWrite makes the one Write that would carry byte offset At stop just
// before it: it returns n < len(p) with io.ErrShortWrite, the bytes before
// At having been written. Later writes pass.
//
// ShortWrite acts on writes only (a short read is not an error: see Chunk).
// Unrestricted it leaves the reads alone; OnRead(ShortWrite{...}) fails
// Validate and the spec "read:short=AT" is refused, since either would do
// nothing. In a Proxy the failed write ends the whole connection, as any
// write error does.
//
// Spec: "short=AT".
type ShortWrite struct {
	// At is the byte offset where the write stops short.
	At int64
}

// Validate reports a negative offset.
func (f ShortWrite) Validate() error {
	if f.At < 0 {
		return invalid("short", "negative offset %d", f.At)
	}
	return nil
}

// String returns "short=AT".
func (f ShortWrite) String() string { return "short=" + strconv.FormatInt(f.At, 10) }

func (ShortWrite) only() Dir { return Write }

// Inject fails the write that reaches At.
func (f ShortWrite) Inject(s *Stream, next Op) Op {
	if s.Dir() != Write {
		return next
	}
	var (
		off   = s.base
		fired = off > f.At // a live change made this stream after byte At passed
	)
	return func(p []byte) (int, error) {
		if fired {
			return next(p)
		}
		if off >= f.At {
			fired = true
			s.fire()
			return 0, io.ErrShortWrite
		}
		// The wrapper calls again for the rest, which then starts at At.
		n, err := next(upTo(p, f.At-off))
		off += int64(n)
		return n, err
	}
}
