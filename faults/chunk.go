package faults

import (
	"strconv"
)

// Chunk splits traffic into pieces of at most Max bytes: every read returns
// at most Max bytes, and every write reaches the layer below in pieces of at
// most Max bytes (the application's Write still writes everything). The
// pieces are cut at fixed offsets of the stream: every Max bytes or, with
// Min set, after lengths drawn from [Min, Max] by the stream's seeded random
// source. So the same seed cuts at the same offsets however the bytes
// arrive; a read or write that ends inside a piece (the data came in
// smaller parts) adds a cut there but moves none of the others.
//
// Spec: "chunk=MAX" or "chunk=MIN..MAX".
type Chunk struct {
	// Max is the largest piece; at least 1.
	Max int
	// Min, when not 0, makes each piece's limit random in [Min, Max].
	Min int
}

// Validate reports Max < 1, or Min outside [0, Max].
func (f Chunk) Validate() error {
	switch {
	case f.Max < 1:
		return invalid("chunk", "max %d, want at least 1", f.Max)
	case f.Min < 0 || f.Min > f.Max:
		return invalid("chunk", "min %d, want 0 (fixed size) or 1..%d", f.Min, f.Max)
	}
	return nil
}

// String returns "chunk=MAX", or "chunk=MIN..MAX" when Min is set.
func (f Chunk) String() string {
	if f.Min == 0 {
		return "chunk=" + strconv.Itoa(f.Max)
	}
	return "chunk=" + strconv.Itoa(f.Min) + ".." + strconv.Itoa(f.Max)
}

// Inject limits each operation of the stream to the rest of the current
// piece.
func (f Chunk) Inject(s *Stream, next Op) Op {
	left := 0 // bytes left in the current piece
	return func(p []byte) (int, error) {
		if left == 0 {
			left = f.Max
			if f.Min > 0 && f.Min < f.Max {
				left = f.Min + s.Rand().IntN(f.Max-f.Min+1)
			}
		}
		if len(p) > left {
			p = p[:left]
			s.fire()
		}
		n, err := next(p)
		left -= n
		return n, err
	}
}
