package faults

import (
	"bytes"
	"fmt"
	"strconv"
)

// Corrupt flips the bits of the byte at offset At: the byte is XORed with
// Mask (0xFF when Mask is 0). Only that byte changes, once. In the write
// direction the caller's buffer is left untouched; a copy carries the flip.
//
// Spec: "corrupt=AT" or "corrupt=AT^MASK" (MASK in decimal or 0x hex).
type Corrupt struct {
	// At is the byte offset to corrupt.
	At int64
	// Mask is XORed into the byte; 0 means 0xFF.
	Mask byte
}

// Validate reports a negative offset.
func (f Corrupt) Validate() error {
	if f.At < 0 {
		return invalid("corrupt", "negative offset %d", f.At)
	}
	return nil
}

// String returns "corrupt=AT", or "corrupt=AT^0xMM" when Mask is set.
func (f Corrupt) String() string {
	s := "corrupt=" + strconv.FormatInt(f.At, 10)
	if f.Mask != 0 {
		s += fmt.Sprintf("^0x%02x", f.Mask)
	}
	return s
}

// Inject flips the byte at At as it passes.
func (f Corrupt) Inject(s *Stream, next Op) Op {
	mask := f.Mask
	if mask == 0 {
		mask = 0xFF
	}
	var (
		off  = s.base
		done = off > f.At // a live change made this stream after byte At passed
	)
	return func(p []byte) (int, error) {
		if done {
			return next(p)
		}
		i := f.At - off
		if s.Dir() == Write && i >= 0 && i < int64(len(p)) {
			q := bytes.Clone(p)
			q[i] ^= mask
			p = q
		}
		n, err := next(p)
		if i >= 0 && i < int64(n) {
			if s.Dir() == Read {
				p[i] ^= mask
			}
			done = true
			s.fire()
		}
		off += int64(n)
		return n, err
	}
}
