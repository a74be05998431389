package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/wire"
)

// perDate is how many rooms the workload books on one date: the protocol's
// limit, so no booking is refused as fully booked.
const perDate = 5

// rooms are the building's 340 rooms, floor 0 to 9 and room 01 to 34.
var rooms = func() []string {
	rs := make([]string, 0, 340)
	for floor := 0; floor <= 9; floor++ {
		for n := 1; n <= 34; n++ {
			rs = append(rs, fmt.Sprintf("%d%02d", floor, n))
		}
	}
	return rs
}()

// slot is one (room, date) pair.
type slot struct {
	room string
	date wire.Date
}

// slotAt returns the i-th pair of a walk that starts at first: five
// rooms per date, the dates consecutive. No two i give the same pair, and
// the rooms of one date are 68 apart in the list of rooms so that
// BOOKINGSFORROOM replies stay short.
func slotAt(first wire.Date, i int64) slot {
	d := i / perDate
	k := i % perDate
	idx := (d + k*int64(len(rooms)/perDate)) % int64(len(rooms))
	return slot{room: rooms[idx], date: first + wire.Date(d)}
}

// walk hands out the pairs of slotAt(first, 0), slotAt(first, 1), ...,
// each once, to any number of goroutines.
type walk struct {
	first wire.Date
	next  atomic.Int64
}

func (w *walk) take() slot { return slotAt(w.first, w.next.Add(1)-1) }

// remoteSpan is the range of days remoteWalk starts in.
const remoteSpan = 1 << 30

// remoteWalk is the walk of every Runner of this process whose server is
// not in this process and whose Config.FirstDate is 0. Such a server may run
// for long and keep every booking ever made on it. Sharing one walk keeps
// the Runners of one process (the rounds of bench --repeat, say) off each
// other's pairs. A random first date, up to remoteSpan days (2.9 million
// years) after today, keeps other processes' runs off them too: two runs of
// 100,000 bookings each overlap with a chance of about 1 in 27,000.
var remoteWalk = sync.OnceValue(func() *walk {
	return &walk{first: wire.FromTime(time.Now()) + 2 + wire.Date(rand.Uint64N(remoteSpan))}
})

type action int

const (
	actBook action = iota
	actUnbook
	actOnDate
	actForRoom
)

// worker is one client and what it measured in the current window. Only
// its own goroutine touches it during a window.
type worker struct {
	r   *Runner
	c   *client.Client
	rng *rand.Rand

	mine []slot // this client's bookings still standing, oldest first
	last slot   // the most recent booking, the target of queries

	latency, service *hdrhistogram.Histogram
	errs             Errors
	completed        int64 // requests completed in the window, errors included
	succeeded        int64 // successful ones among them
	lastDone         time.Time
	// waiting reports a request without a reply when the window ended,
	// sent at waitingSince.
	waiting      bool
	waitingSince time.Time
	// connectFailures counts the failures in errs that were failures to
	// connect (client.ErrConnect); connectErr is the first of them.
	connectFailures int64
	connectErr      error
}

func newWorker(r *Runner, c *client.Client, id int) *worker {
	return &worker{
		r:       r,
		c:       c,
		rng:     rand.New(rand.NewPCG(r.cfg.Seed, uint64(id))),
		latency: newHistogram(),
		service: newHistogram(),
		last:    slotAt(r.walk.first, 0),
	}
}

// reset clears what the worker measured.
func (w *worker) reset() {
	w.latency.Reset()
	w.service.Reset()
	w.errs = Errors{}
	w.completed, w.succeeded = 0, 0
	w.connectFailures, w.connectErr = 0, nil
	w.lastDone = time.Time{}
	w.waiting, w.waitingSince = false, time.Time{}
}

func (w *worker) pick() action {
	m := w.r.cfg.Mix
	n := w.rng.IntN(m.total())
	switch {
	case n < m.Book:
		return actBook
	case n < m.Book+m.Unbook:
		return actUnbook
	case n < m.Book+m.Unbook+m.BookingsOnDate:
		return actOnDate
	}
	return actForRoom
}

// do sends one request of the mix and returns its error.
func (w *worker) do(ctx context.Context) error {
	a := w.pick()
	if a == actUnbook && len(w.mine) == 0 {
		a = actBook
	}
	switch a {
	case actBook:
		s := w.r.walk.take()
		err := w.c.Book(ctx, s.room, s.date.Time())
		if err == nil {
			w.mine = append(w.mine, s)
			w.last = s
		}
		return err
	case actUnbook:
		// Whatever the outcome, the booking is not tried again: after a
		// timeout nobody knows whether it still stands.
		s := w.mine[0]
		w.mine = w.mine[1:]
		return w.c.Unbook(ctx, s.room, s.date.Time())
	case actOnDate:
		_, err := w.c.BookingsOnDate(ctx, w.last.date.Time())
		return err
	default:
		_, err := w.c.BookingsForRoom(ctx, w.last.room)
		return err
	}
}

// outcome records a request completed at done that counts in the window.
// sent is when it was actually sent, from when its latency is measured
// (the intended send time in an open loop, sent otherwise).
func (w *worker) outcome(err error, from, sent, done time.Time) {
	if err != nil {
		w.errs.add(Classify(err), 1)
		if errors.Is(err, client.ErrConnect) {
			w.connectFailures++
			if w.connectErr == nil {
				w.connectErr = err
			}
		}
		return
	}
	record(w.latency, done.Sub(from))
	record(w.service, done.Sub(sent))
}

// Classify says what kind of failure err, an error from a client call, is.
func Classify(err error) ErrorKind {
	var se *client.ServerError
	switch {
	case errors.Is(err, client.ErrBusy):
		return ErrorBusy
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrorTimeout
	case errors.As(err, &se):
		return ErrorServer
	case errors.Is(err, client.ErrConnect), errors.Is(err, client.ErrTruncated),
		errors.Is(err, client.ErrConnLost), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed):
		return ErrorConnection
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return ErrorConnection
	}
	return ErrorOther
}
