package faults

import (
	"math/rand/v2"
	"time"
)

// Stream is one direction of one wrapped connection, as one fault sees it.
// Inject receives it; the Op that Inject returns uses its methods to sleep,
// block and end the connection the way a real network would. A Stream is
// used only by its own Op, which the wrapper never runs concurrently.
type Stream struct {
	c    *conn
	dir  Dir
	seed uint64
	salt uint64
	rng  *rand.Rand
	base int64  // bytes the stream carried before this fault reached it
	kind string // the fault's kind, as Proxy metrics count it
}

// fire counts one firing of the fault for its Proxy's metrics.
func (s *Stream) fire() {
	if s.c.fire != nil {
		s.c.fire(s.kind)
	}
}

// continues reports whether the operation running carries more of the
// message of the one before it, rather than the start of a new one: the
// rest of one Write, or in a Proxy bytes the relay read back to back
// (each read filled its buffer).
func (s *Stream) continues() bool { return s.dir == Write && s.c.wr.cont }

// after ends the connection with Cut (reset false) or Reset once d has
// passed, unless it is closed or its faults change first.
func (s *Stream) after(d time.Duration, reset bool) {
	kind := dropCut
	if reset {
		kind = dropReset
	}
	s.c.after(d, func() {
		s.fire()
		s.c.drop(kind)
	})
}

// Dir reports the direction of the stream.
func (s *Stream) Dir() Dir { return s.dir }

// lose records that nothing written from now on reaches the peer, not even
// the end of the stream (see conn.CloseWrite and the proxy's link).
func (s *Stream) lose() {
	if s.dir == Write {
		s.c.lost.Store(true)
	}
}

// Rand returns the fault's own random source for this stream: a PCG seeded
// from the wrapper's seed, the direction and the fault's place in the list.
// The same seed and the same calls give the same numbers.
func (s *Stream) Rand() *rand.Rand {
	if s.rng == nil {
		s.rng = rand.New(rand.NewPCG(s.seed, s.salt))
	}
	return s.rng
}

// Sleep waits for d. It returns early with a timeout error (a *net.OpError
// wrapping os.ErrDeadlineExceeded) when the stream's deadline passes, and
// with the connection's closed error when it is closed. Sleep returns nil at
// once when d <= 0.
func (s *Stream) Sleep(d time.Duration) error { return s.c.wait(s.dir, d, false) }

// Hang blocks until the stream's deadline passes or the connection is
// closed, and returns the matching error, as Sleep does. It never returns
// nil.
func (s *Stream) Hang() error { return s.c.wait(s.dir, 0, true) }

// Cut closes the connection cleanly, so the peer reads EOF, and returns the
// error this operation should report: io.EOF when reading, a *net.OpError
// wrapping syscall.EPIPE when writing. Later operations in both directions
// fail the same way until the application closes the connection.
func (s *Stream) Cut() error { return s.c.dropErr(s.c.drop(dropCut), s.dir) }

// Reset closes the connection with RST (SetLinger(0) on a *net.TCPConn
// found through NetConn methods; a plain close on other connections) and
// returns a *net.OpError wrapping syscall.ECONNRESET. Later operations in
// both directions fail the same way until the application closes the
// connection.
func (s *Stream) Reset() error { return s.c.dropErr(s.c.drop(dropReset), s.dir) }
