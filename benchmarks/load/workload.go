package load

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/poolside-dev/poolside/client"
)

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

	mine []slot // this client's bookings, acknowledged, oldest first
	last slot   // its most recent booking, the target of queries; zero before the first

	latency, service *hdrhistogram.Histogram
	errs             Errors
	completed        int64 // requests completed in the window, errors included
	succeeded        int64 // successful ones among them
	unavailable      int64 // successful ones that were refusals of a slot not the run's (see Result.Unavailable)
	lastUnavailable  bool  // the last request was one of those
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
		latency: NewHistogram(),
		service: NewHistogram(),
	}
}

// reset clears what the worker measured.
func (w *worker) reset() {
	w.latency.Reset()
	w.service.Reset()
	w.errs = Errors{}
	w.completed, w.succeeded, w.unavailable = 0, 0, 0
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

// do sends one request of the mix and returns its error. An UNBOOK
// cancels the client's oldest booking; a client with none books instead,
// and one holding heldPerClient cancels instead of booking. A BOOK takes
// a free slot; when there is none yet the request reads a date to find
// some (BOOKINGSONDATE), and when there is none to be had it cancels one
// of the client's bookings, or, holding none, queries.
func (w *worker) do(ctx context.Context) error {
	w.lastUnavailable = false
	a := w.pick()
	switch {
	case a == actUnbook && len(w.mine) == 0:
		a = actBook
	case a == actBook && len(w.mine) >= heldPerClient:
		a = actUnbook
	}
	switch a {
	case actBook:
		p := w.r.slots.plan()
		switch p.kind {
		case planBook:
			return w.book(ctx, p.s)
		case planRead:
			booked, err := w.c.BookingsOnDate(ctx, p.date.Time())
			w.r.slots.read(p.date, booked, err)
			return err
		}
		if len(w.mine) > 0 {
			return w.unbook(ctx)
		}
		return w.query(ctx, actOnDate)
	case actUnbook:
		return w.unbook(ctx)
	}
	return w.query(ctx, a)
}

// book books s, a free slot the client was given.
func (w *worker) book(ctx context.Context, s slot) error {
	sent := time.Now()
	err := w.c.Book(ctx, s.room, s.date.Time())
	switch w.r.slots.bookDone(s, sent, err) {
	case bookMade:
		w.mine = append(w.mine, s)
		w.last = s
		return nil
	case bookUnavailable:
		w.lastUnavailable = true
		return nil
	case bookProbed:
		return nil
	}
	return err
}

// unbook cancels the client's oldest booking.
func (w *worker) unbook(ctx context.Context) error {
	s := w.mine[0]
	w.mine = w.mine[1:]
	sent := time.Now()
	err := w.c.Unbook(ctx, s.room, s.date.Time())
	held, unavailable := w.r.slots.unbookDone(s, sent, err)
	if held {
		w.mine = append(w.mine, s) // not carried out: cancel it later
	}
	if unavailable {
		w.lastUnavailable = true
		return nil
	}
	return err
}

// query sends BOOKINGSONDATE or BOOKINGSFORROOM of the client's latest
// booking, or, before it has one, of one of the run's dates or a room.
func (w *worker) query(ctx context.Context, a action) error {
	target := w.last
	if target.date.IsNull() {
		target = slot{room: rooms[w.rng.IntN(len(rooms))], date: w.r.slots.queryDate(w.rng.IntN)}
	}
	if a == actOnDate {
		_, err := w.c.BookingsOnDate(ctx, target.date.Time())
		return err
	}
	_, err := w.c.BookingsForRoom(ctx, target.room)
	return err
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
