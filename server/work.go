package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"
)

// Work is a benchmark aid: a service time that WithWork gives every
// request on its worker before the handler runs, so that concurrency
// models can be compared with a realistic one (poolside serve --work-delay
// and --work-cpu). The zero value adds nothing.
type Work struct {
	// Delay is how long each request waits, as if calling a slow backend.
	// The wait ends early when the handler's context is done (the
	// server's Close). 0 means none.
	Delay time.Duration

	// CPU is how many SHA-256 blocks of 64 bytes each request computes
	// (about 0.13 µs each on a current x86 core). 0 means none.
	CPU int
}

// Validate reports a negative field as an error wrapping ErrInvalidConfig.
func (w Work) Validate() error {
	switch {
	case w.Delay < 0:
		return fmt.Errorf("%w: work delay is %v, must be 0 or more", ErrInvalidConfig, w.Delay)
	case w.CPU < 0:
		return fmt.Errorf("%w: work CPU is %d, must be 0 or more", ErrInvalidConfig, w.CPU)
	}
	return nil
}

// WithWork returns a Handler that does w, then calls h: the server counts
// the work in the request's service time, as it would a slow handler.
// With the zero Work it returns h itself. w must be valid (Validate).
func WithWork(h Handler, w Work) Handler {
	if w == (Work{}) {
		return h
	}
	return HandlerFunc(func(ctx context.Context, block []byte) []byte {
		w.do(ctx)
		return h.ServeFrame(ctx, block)
	})
}

// do computes w.CPU blocks, then waits w.Delay or until ctx is done.
func (w Work) do(ctx context.Context) {
	if w.CPU > 0 {
		var sum [sha256.Size]byte
		var blk [64]byte
		for range w.CPU {
			copy(blk[:], sum[:])
			sum = sha256.Sum256(blk[:])
		}
	}
	if w.Delay > 0 {
		t := time.NewTimer(w.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}
