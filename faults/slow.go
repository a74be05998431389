package faults

import (
	"strconv"
	"time"
)

// Slow delays traffic in one of two ways. With Delay set, every operation
// waits Delay before it starts. With Rate set, the stream is paced to Rate
// bytes per second: each operation carries at most Rate/10 bytes (at least
// one) and is followed by the time those bytes take at that rate. Set one of
// the two; the zero value does nothing.
//
// The waits end early at the connection's deadline, with a timeout error,
// and at Close, and when a Proxy's faults change. Spec: "delay=DURATION",
// "delay=DURATION+-JITTER" or "rate=BYTES_PER_SECOND".
type Slow struct {
	// Delay is the wait before each operation.
	Delay time.Duration
	// Jitter spreads each Delay over Delay-Jitter to Delay+Jitter, drawn
	// uniformly (seeded, see Determinism); at most Delay.
	Jitter time.Duration
	// Rate is the pace in bytes per second; 0 means unpaced.
	Rate int64
}

// Validate reports a negative field, or both fields set.
func (f Slow) Validate() error {
	switch {
	case f.Delay < 0:
		return invalid("slow", "negative delay %v", f.Delay)
	case f.Rate < 0:
		return invalid("slow", "negative rate %d", f.Rate)
	case f.Delay > 0 && f.Rate > 0:
		return invalid("slow", "set Delay or Rate, not both")
	case f.Jitter > 0 && f.Rate > 0:
		return invalid("slow", "Jitter goes with Delay, not with Rate")
	}
	return checkJitter("slow", f.Delay, f.Jitter)
}

// String returns "rate=N" when Rate is set, else "delay=DURATION", with
// "+-JITTER" when Jitter is set.
func (f Slow) String() string {
	if f.Rate > 0 {
		return "rate=" + strconv.FormatInt(f.Rate, 10)
	}
	return "delay=" + withJitter(f.Delay, f.Jitter)
}

// Inject applies the delay or the pace to the stream.
func (f Slow) Inject(s *Stream, next Op) Op {
	switch {
	case f.Rate > 0:
		return f.pace(s, next)
	case f.Delay > 0:
		return func(p []byte) (int, error) {
			s.fire()
			if err := s.Sleep(jittered(s, f.Delay, f.Jitter)); err != nil {
				return 0, err
			}
			return next(p)
		}
	}
	return next
}

func (f Slow) pace(s *Stream, next Op) Op {
	piece := max(1, f.Rate/10)
	var due time.Time // when the stream may carry more bytes
	return func(p []byte) (int, error) {
		if err := s.Sleep(time.Until(due)); err != nil {
			return 0, err
		}
		if int64(len(p)) > piece {
			p = p[:piece]
		}
		s.fire()
		n, err := next(p)
		if now := time.Now(); due.Before(now) {
			due = now
		}
		due = due.Add(time.Duration(float64(n) / float64(f.Rate) * float64(time.Second)))
		if err == nil {
			// The bytes have moved; a deadline or Close ending this wait
			// early leaves the rest of it to the next operation.
			_ = s.Sleep(time.Until(due))
		}
		return n, err
	}
}
