package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poolside-dev/poolside/internal/rawio"
	"github.com/poolside-dev/poolside/wire"
)

// aLongTimeAgo is a deadline in the past: setting it makes a blocked Read
// or Write on the connection return at once with a deadline error.
var aLongTimeAgo = time.Unix(1, 0)

// Client sends Building Services requests and reads their replies. It is
// safe for concurrent use: each request checks out a connection for its
// whole request and reply, so requests on one connection are serialized,
// and up to Config.MaxConns requests are in flight at once. The zero Client
// is not usable; make one with Dial or New. After Close every call returns
// ErrClosed.
type Client struct {
	cfg    Config
	cfgErr error // returned by every call of a Client whose New got a bad Config
	addr   string
	dial   func(ctx context.Context, network, addr string) (net.Conn, error) // nil for New

	slots chan struct{} // one token per connection that may be in use
	done  chan struct{} // closed by Close

	mu     sync.Mutex
	closed bool
	idle   []*conn
	open   map[*conn]struct{} // idle and checked-out connections, for Close

	stats struct {
		requests, retries, dials, dialErrors, discarded atomic.Uint64
	}
}

// conn is one connection with its reply buffer. Only the request that has
// it checked out touches it (Close only closes nc).
type conn struct {
	nc  net.Conn
	buf []byte
}

// newConn wraps nc, a socket's reads and writes made raw (see
// internal/rawio: a lightly loaded client would otherwise wake the Go
// runtime's monitor thread on every request).
func newConn(nc net.Conn) *conn { return &conn{nc: rawio.Wrap(nc), buf: make([]byte, 0, 256)} }

func newClient(cfg Config) *Client {
	return &Client{
		cfg:   cfg,
		slots: make(chan struct{}, cfg.maxConns()),
		done:  make(chan struct{}),
		open:  make(map[*conn]struct{}),
	}
}

// Dial returns a Client for the server at addr (host:port). Without
// cfg.ConnPerRequest it connects once before returning, so an unreachable
// server is reported here (an error wrapping ErrConnect), and keeps that
// connection for the first request; with it, Dial does no I/O and each
// request dials its own connection. ctx bounds that first connection only,
// together with cfg.Timeout. An invalid cfg is an error wrapping
// ErrInvalidConfig.
func Dial(ctx context.Context, addr string, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := newClient(cfg)
	c.addr = addr
	c.dial = cfg.Dialer
	if c.dial == nil {
		var d net.Dialer
		c.dial = d.DialContext
	}
	if cfg.ConnPerRequest {
		return c, nil
	}
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	cn, _, err := c.dialConn(ctx)
	if err != nil {
		return nil, err
	}
	c.open[cn] = struct{}{}
	c.idle = append(c.idle, cn)
	return c, nil
}

// New returns a Client that sends every request on nc, one at a time, and
// owns nc from then on: Close closes it, and so does any error that leaves
// it unusable, after which calls return ErrConnLost. MaxConns and Dialer
// are ignored. If cfg is invalid, or sets ConnPerRequest (which needs an
// address), every call returns an error wrapping ErrInvalidConfig.
func New(nc net.Conn, cfg Config) *Client {
	c := newClient(Config{})
	c.cfg = cfg
	c.cfgErr = cfg.Validate()
	if c.cfgErr == nil && cfg.ConnPerRequest {
		c.cfgErr = fmt.Errorf("%w: ConnPerRequest needs an address to dial, use Dial", ErrInvalidConfig)
	}
	cn := newConn(nc)
	c.open[cn] = struct{}{}
	c.idle = append(c.idle, cn)
	return c
}

// Book books room on date's calendar day (in date's location). It returns
// nil only when the server echoed the booking; an ERROR reply, such as
// wire.MsgDuplicate or wire.MsgFullyBooked, is a *ServerError.
func (c *Client) Book(ctx context.Context, room string, date time.Time) error {
	_, err := c.Do(ctx, wire.Request{Action: wire.ActionBook, Room: room, Date: wire.FromTime(date)})
	return err
}

// Unbook cancels the booking of room on date's calendar day (in date's
// location). Cancelling a booking that does not exist is a *ServerError
// with wire.MsgNotBooked.
func (c *Client) Unbook(ctx context.Context, room string, date time.Time) error {
	_, err := c.Do(ctx, wire.Request{Action: wire.ActionUnbook, Room: room, Date: wire.FromTime(date)})
	return err
}

// BookingsOnDate returns the rooms booked on date's calendar day (in
// date's location), sorted (servers send them sorted; one that does not
// is not an error). The server's ERROR reply for a day with no bookings
// (wire.MsgNoRoomsOn) gives an empty list and no error.
func (c *Client) BookingsOnDate(ctx context.Context, date time.Time) ([]string, error) {
	d := wire.FromTime(date)
	// The room is ignored by the server but still on the wire.
	rep, err := c.Do(ctx, wire.Request{Action: wire.ActionBookingsOnDate, Date: d})
	if se := (*ServerError)(nil); errors.As(err, &se) && se.Message == wire.MsgNoRoomsOn(d) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !slices.IsSorted(rep.Rooms) {
		slices.Sort(rep.Rooms)
	}
	return rep.Rooms, nil
}

// BookingsForRoom returns the dates room is booked, ascending (servers
// send them in order; one that does not is not an error), each as
// midnight UTC. The server's ERROR reply for a room with no bookings
// (wire.MsgRoomNotBooked) gives an empty list and no error.
func (c *Client) BookingsForRoom(ctx context.Context, room string) ([]time.Time, error) {
	// The date is ignored by the server but still on the wire (as null).
	rep, err := c.Do(ctx, wire.Request{Action: wire.ActionBookingsForRoom, Room: room})
	if se := (*ServerError)(nil); errors.As(err, &se) && se.Message == wire.MsgRoomNotBooked(room) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !slices.IsSorted(rep.Dates) {
		slices.Sort(rep.Dates)
	}
	dates := make([]time.Time, len(rep.Dates))
	for i, d := range rep.Dates {
		dates[i] = d.Time()
	}
	return dates, nil
}

// Do sends req and returns its reply. It is the low level of the other
// methods and sends any action, known or not.
//
// A reply is returned without error only when it answers req: the same
// action and, for BOOK and UNBOOK, the same room and date (for
// BOOKINGSONDATE the same date, for BOOKINGSFORROOM the same room);
// anything else wraps ErrMismatch. An ERROR reply is returned together
// with a *ServerError. A reply that does not parse, or lists a value no
// server can mean (a room that is not a room, a null date, a room or
// date twice), wraps ErrMalformedReply; one that does not parse also
// wraps a *wire.ProtocolError. Failures are retried as Config.Retries
// describes.
func (c *Client) Do(ctx context.Context, req wire.Request) (wire.Reply, error) {
	if c.cfgErr != nil {
		return wire.Reply{}, notSent(c.cfgErr)
	}
	c.stats.requests.Add(1)
	payload, err := req.MarshalBinary()
	if err == nil {
		payload, err = wire.AppendFrame(make([]byte, 0, 2+len(payload)), payload)
	}
	if err != nil {
		return wire.Reply{}, notSent(fmt.Errorf("client: cannot encode %s request: %w", req.Action, err))
	}
	if c.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	reached := false // an attempt may have reached the server's handler
	for n := 0; ; n++ {
		rep, retry, wrote, err := c.attempt(ctx, req, payload)
		reached = reached || wrote && !errors.Is(err, ErrBusy)
		if err == nil || !retry || n >= c.cfg.Retries {
			return rep, markNotSent(err, reached)
		}
		if err := c.wait(ctx, c.cfg.backoff(n), err); err != nil {
			return wire.Reply{}, markNotSent(err, reached)
		}
		c.stats.retries.Add(1)
	}
}

// markNotSent marks err with ErrNotSent unless an attempt may have reached
// the server's handler. The server's own answer (a *ServerError, such as
// the busy reply when the retries are used up) is not marked: it says
// what happened.
func markNotSent(err error, reached bool) error {
	if _, answer := err.(*ServerError); reached || answer {
		return err
	}
	return notSent(err)
}

// idempotent reports whether action may be sent again after a connection
// failure that happened once some of it was written.
func idempotent(action string) bool {
	return action == wire.ActionBookingsOnDate || action == wire.ActionBookingsForRoom
}

// attempt makes one try of req, sent as frame: check out a connection,
// exchange, check it back in. It reports whether a failure may be retried
// under the rules of Config.Retries.
// It also reports whether any byte of the request was written.
func (c *Client) attempt(ctx context.Context, req wire.Request, frame []byte) (rep wire.Reply, retry, wrote bool, err error) {
	cn, connFailure, err := c.get(ctx)
	if err != nil {
		return rep, connFailure, false, err
	}
	rep, written, connFailure, keep, err := c.exchange(ctx, cn, req, frame)
	c.put(cn, keep)
	wrote = written > 0
	switch {
	case err == nil:
		return rep, false, wrote, nil
	case errors.Is(err, ErrBusy):
		return rep, true, wrote, err
	case connFailure:
		return rep, !wrote || idempotent(req.Action), wrote, err
	}
	return rep, false, wrote, err
}

// exchange writes frame on cn and reads and checks the reply. It reports
// how many bytes of frame were written, whether a failure was a plain
// connection failure, and whether cn may be used again.
func (c *Client) exchange(ctx context.Context, cn *conn, req wire.Request, frame []byte) (rep wire.Reply, written int, connFailure, keep bool, err error) {
	if ctxErr := ctx.Err(); ctxErr != nil {
		err, _ = c.ioError(ctx, "sending the request", ctxErr)
		return rep, 0, false, true, err
	}
	deadline, _ := ctx.Deadline() // the zero time (no deadline) when ctx has none
	if err := cn.nc.SetDeadline(deadline); err != nil {
		err, connFailure = c.ioError(ctx, "setting the deadline", err)
		return rep, 0, connFailure, false, err
	}
	// Cancellation, or a deadline the connection does not enforce, pokes
	// a past deadline into the connection so that a blocked Read returns.
	stop := context.AfterFunc(ctx, func() { _ = cn.nc.SetDeadline(aLongTimeAgo) })
	body, written, op, ioErr := cn.roundTrip(frame)
	// When stop fails the poke has run or is running, so the connection's
	// deadline is no longer ours to trust: do not reuse it.
	keep = stop()
	if ioErr != nil {
		err, connFailure = c.ioError(ctx, op, ioErr)
		return rep, written, connFailure, false, err
	}
	if err := rep.UnmarshalBinary(body); err != nil {
		return wire.Reply{}, written, false, false, fmt.Errorf("%w to %s: %w", ErrMalformedReply, req.Action, err)
	}
	if err := match(req, rep); err != nil {
		return wire.Reply{}, written, false, false, err
	}
	if err := checkFields(rep); err != nil {
		return wire.Reply{}, written, false, false, err
	}
	if rep.IsError() {
		// A server that sheds load may close the connection after its busy
		// reply (poolside does in its conn model and past --max-conns), so
		// a Client that can redial does not reuse it: a retry on it could
		// be written and then fail, and a written BOOK is not retried. A
		// Client made with New has no other connection and keeps it.
		if rep.Message == wire.MsgBusy && c.dial != nil {
			keep = false
		}
		return rep, written, false, keep, &ServerError{Message: rep.Message}
	}
	return rep, written, false, keep, nil
}

// roundTrip writes frame in one Write, then reads exactly one reply frame
// straight from the connection. op names the step that failed.
func (cn *conn) roundTrip(frame []byte) (body []byte, written int, op string, err error) {
	written, err = cn.nc.Write(frame)
	if err == nil && written < len(frame) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return nil, written, "writing the request", err
	}
	body, err = wire.ReadFrame(cn.nc, cn.buf)
	if err != nil {
		return nil, written, "reading the reply", err
	}
	if cap(body) > cap(cn.buf) {
		cn.buf = body[:0]
	}
	return body, written, "", nil
}

// match checks that a well-formed reply answers req.
func match(req wire.Request, rep wire.Reply) error {
	if rep.IsError() {
		return nil
	}
	if rep.Action != req.Action {
		return fmt.Errorf("%w: sent %s, the reply is %s", ErrMismatch, req.Action, rep.Action)
	}
	switch req.Action {
	case wire.ActionBook, wire.ActionUnbook:
		if rep.Room != req.Room || rep.Date != req.Date {
			return fmt.Errorf("%w: sent %s room %q on %v, the reply echoes room %q on %v",
				ErrMismatch, req.Action, req.Room, req.Date, rep.Room, rep.Date)
		}
	case wire.ActionBookingsOnDate:
		if rep.Date != req.Date {
			return fmt.Errorf("%w: asked for bookings on %v, the reply is for %v", ErrMismatch, req.Date, rep.Date)
		}
	case wire.ActionBookingsForRoom:
		if rep.Room != req.Room {
			return fmt.Errorf("%w: asked for bookings of room %q, the reply is for room %q", ErrMismatch, req.Room, rep.Room)
		}
	}
	return nil
}

// get checks out a connection: an idle one, or a new one dialed when the
// Client has an address. It waits for a free slot while MaxConns
// connections are in use. It reports whether a failure was a plain
// connection failure (a dial that failed for a reason other than ctx).
func (c *Client) get(ctx context.Context) (cn *conn, connFailure bool, err error) {
	select {
	case <-c.done:
		return nil, false, ErrClosed
	default:
	}
	select {
	case c.slots <- struct{}{}:
	case <-c.done:
		return nil, false, ErrClosed
	case <-ctx.Done():
		err, _ = c.ioError(ctx, "waiting for a free connection", ctx.Err())
		return nil, false, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.slots
		return nil, false, ErrClosed
	}
	if n := len(c.idle); n > 0 {
		cn = c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return cn, false, nil
	}
	c.mu.Unlock()
	if c.dial == nil {
		<-c.slots
		return nil, false, ErrConnLost
	}
	cn, connFailure, err = c.dialConn(ctx)
	if err != nil {
		<-c.slots
		return nil, connFailure, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = cn.nc.Close()
		<-c.slots
		return nil, false, ErrClosed
	}
	c.open[cn] = struct{}{}
	c.mu.Unlock()
	return cn, false, nil
}

// put checks cn back in: idle for the next request when keep is set and
// the Client keeps connections, closed otherwise.
func (c *Client) put(cn *conn, keep bool) {
	defer func() { <-c.slots }()
	c.mu.Lock()
	if keep && !c.closed && !c.cfg.ConnPerRequest {
		c.idle = append(c.idle, cn)
		c.mu.Unlock()
		return
	}
	delete(c.open, cn)
	closed := c.closed
	c.mu.Unlock()
	if !keep && !closed {
		c.stats.discarded.Add(1)
	}
	_ = cn.nc.Close()
}

// dialConn dials a new connection. It reports whether a failure was a
// plain connection failure rather than ctx ending.
func (c *Client) dialConn(ctx context.Context) (*conn, bool, error) {
	c.stats.dials.Add(1)
	nc, err := c.dial(ctx, "tcp", c.addr)
	if err == nil && nc == nil {
		err = errors.New("the Dialer returned neither a connection nor an error")
	}
	if err == nil {
		return newConn(nc), false, nil
	}
	c.stats.dialErrors.Add(1)
	err = fmt.Errorf("%w to %s: %w", ErrConnect, c.addr, err)
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.Canceled) {
			return nil, false, fmt.Errorf("%w: %w", err, ctxErr)
		}
		return nil, false, &timeoutError{op: "connecting", err: err}
	}
	return nil, true, err
}

// wait sleeps d before a retry, or returns the error that ends the call
// when ctx ends or the Client is closed first.
func (c *Client) wait(ctx context.Context, d time.Duration, last error) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.done:
		return fmt.Errorf("%w (while waiting to retry): %w", ErrClosed, last)
	case <-ctx.Done():
		if err := ctx.Err(); errors.Is(err, context.Canceled) {
			return fmt.Errorf("client: waiting to retry: %w (last attempt: %w)", err, last)
		}
		return &timeoutError{op: "waiting to retry", err: last}
	}
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close closes the Client and all its connections, idle or in use: calls
// in flight return ErrClosed, as does every later call. Close may be
// called more than once; later calls return nil.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	conns := make([]*conn, 0, len(c.open))
	for cn := range c.open {
		conns = append(conns, cn)
	}
	c.idle = nil
	c.mu.Unlock()
	var errs []error
	for _, cn := range conns {
		if err := cn.nc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Stats counts what a Client has done since it was made. It is a snapshot;
// the counters only grow.
type Stats struct {
	// Requests counts calls of Do, including those made by Book, Unbook,
	// BookingsOnDate and BookingsForRoom.
	Requests uint64
	// Retries counts attempts after the first.
	Retries uint64
	// Dials counts connections dialed, DialErrors the dials that failed.
	Dials, DialErrors uint64
	// Discarded counts connections closed because of an error, a reply
	// cut short, malformed or mismatched, or a context that ended during
	// the request. Connections closed by ConnPerRequest or Close are not
	// counted.
	Discarded uint64
}

// Stats returns the Client's counters. It is safe to call at any time,
// also after Close.
func (c *Client) Stats() Stats {
	return Stats{
		Requests:   c.stats.requests.Load(),
		Retries:    c.stats.retries.Load(),
		Dials:      c.stats.dials.Load(),
		DialErrors: c.stats.dialErrors.Load(),
		Discarded:  c.stats.discarded.Load(),
	}
}
