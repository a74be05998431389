package faults

import (
	"time"
)

// Latency delays each message by Delay, give or take Jitter: a wait drawn
// uniformly from [Delay-Jitter, Delay+Jitter] (seeded, see Determinism)
// before the message's first byte, and none within it. A message is one
// Write call of the application; in a Proxy, the bytes the relay reads
// back to back, each read filling its 32 KiB buffer, so that a 200 KB
// reply through latency=200ms takes 200 ms more, not 200 ms per 32 KiB
// (Slow's Delay, "delay=", waits before every operation instead). In the
// read direction every Read is a message.
//
// Waits end early at the deadline and at Close, as Slow's do, and when a
// Proxy's faults change. Spec: "latency=DURATION" or
// "latency=DURATION+-JITTER".
type Latency struct {
	// Delay is the wait before each message.
	Delay time.Duration
	// Jitter spreads the wait over Delay-Jitter to Delay+Jitter; it is at
	// most Delay.
	Jitter time.Duration
}

// Validate reports a negative field or a Jitter larger than Delay.
func (f Latency) Validate() error { return checkJitter("latency", f.Delay, f.Jitter) }

// String returns "latency=DURATION", with "+-JITTER" when Jitter is set.
func (f Latency) String() string { return "latency=" + withJitter(f.Delay, f.Jitter) }

// Inject delays the first operation of each message.
func (f Latency) Inject(s *Stream, next Op) Op {
	if f.Delay == 0 {
		return next
	}
	return func(p []byte) (int, error) {
		if !s.continues() {
			s.fire()
			if err := s.Sleep(jittered(s, f.Delay, f.Jitter)); err != nil {
				return 0, err
			}
		}
		return next(p)
	}
}

func checkJitter(kind string, d, j time.Duration) error {
	switch {
	case d < 0:
		return invalid(kind, "negative delay %v", d)
	case j < 0:
		return invalid(kind, "negative jitter %v", j)
	case j > d:
		return invalid(kind, "jitter %v is larger than the delay %v; the wait would go below zero", j, d)
	}
	return nil
}

func withJitter(d, j time.Duration) string {
	if j == 0 {
		return d.String()
	}
	return d.String() + "+-" + j.String()
}

// jittered draws a wait from [d-j, d+j] from s's random source.
func jittered(s *Stream, d, j time.Duration) time.Duration {
	if j <= 0 {
		return d
	}
	return d - j + time.Duration(s.Rand().Int64N(int64(2*j)+1))
}

// SlowClose holds back the end of the write stream (CloseWrite, which in a
// Proxy carries one side's end to the other) by Delay, as toxiproxy's
// slow_close does. The wait ends early at Close and when a Proxy's faults
// change. Spec: "slowclose=DURATION" (writes only).
type SlowClose struct {
	// Delay is the wait before the end is sent.
	Delay time.Duration
}

// Validate reports a negative Delay.
func (f SlowClose) Validate() error {
	if f.Delay < 0 {
		return invalid("slowclose", "negative delay %v", f.Delay)
	}
	return nil
}

// String returns "slowclose=DURATION".
func (f SlowClose) String() string { return "slowclose=" + f.Delay.String() }

func (SlowClose) only() Dir { return Write }

// Inject sets the connection's close delay; the bytes pass untouched.
func (f SlowClose) Inject(s *Stream, next Op) Op {
	if s.Dir() == Write {
		s.c.slowClose.Store(int64(f.Delay))
	}
	return next
}
