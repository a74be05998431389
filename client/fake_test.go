package client_test

import (
	"errors"
	"io"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/wire"
)

// TestMain is in main_test.go.

// response is what the fake server does with one request.
type response struct {
	bytes []byte // written as they are: a whole frame, part of one, several
	close bool   // close the connection after writing bytes
}

// handler answers the n-th request (from 1, counted over the whole
// server) that arrived on connection conn (from 1).
type handler func(conn, n int, req wire.Request) response

// fakeServer is a tiny Building Services server for tests: it accepts on
// 127.0.0.1:0 and answers every request frame as its handler says. It
// counts connections and requests, and reports each connection's end.
type fakeServer struct {
	ln       net.Listener
	h        handler
	conns    atomic.Int32
	requests atomic.Int32
	active   atomic.Int32 // connections open now
	peak     atomic.Int32 // the most connections open at once
	ended    chan int     // the number of each connection whose handler returned
	wg       sync.WaitGroup

	mu     sync.Mutex
	closed bool
	open   map[net.Conn]struct{}
	perCon map[int]int // requests seen on each connection
}

// listenFake starts a fakeServer; Close stops it and waits for its
// goroutines.
func listenFake(h handler) (*fakeServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &fakeServer{
		ln: ln, h: h,
		ended:  make(chan int, 1024),
		open:   make(map[net.Conn]struct{}),
		perCon: make(map[int]int),
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// startFake starts a fakeServer torn down by t.Cleanup.
func startFake(t testing.TB, h handler) *fakeServer {
	t.Helper()
	s, err := listenFake(h)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func (s *fakeServer) Addr() string { return s.ln.Addr().String() }

func (s *fakeServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.open[c] = struct{}{}
		n := int(s.conns.Add(1))
		if a := s.active.Add(1); a > s.peak.Load() {
			s.peak.Store(a)
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			serveConn(c, n, s.handle)
			s.active.Add(-1)
			s.mu.Lock()
			delete(s.open, c)
			s.mu.Unlock()
			s.ended <- n
		}()
	}
}

func (s *fakeServer) handle(conn, _ int, req wire.Request) response {
	n := int(s.requests.Add(1))
	s.mu.Lock()
	s.perCon[conn]++
	s.mu.Unlock()
	return s.h(conn, n, req)
}

// requestsOn returns the number of requests seen on each connection, in
// connection order.
func (s *fakeServer) requestsOn() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, 0, len(s.perCon))
	for i := 1; i <= int(s.conns.Load()); i++ {
		out = append(out, s.perCon[i])
	}
	return out
}

// Close closes the listener and every connection, and waits for the
// server's goroutines.
func (s *fakeServer) Close() {
	s.mu.Lock()
	s.closed = true
	_ = s.ln.Close()
	for c := range s.open {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// serveConn reads request frames from c and answers each as h says, until
// c fails, ends or h says close; then it closes c. It works on any
// net.Conn, net.Pipe's included. A block that does not parse is still
// handed to h, with whatever fields were decoded.
func serveConn(c net.Conn, conn int, h handler) {
	defer c.Close()
	var buf []byte
	for n := 1; ; n++ {
		block, err := wire.ReadFrame(c, buf)
		if err != nil {
			return
		}
		buf = block
		var req wire.Request
		_ = req.UnmarshalBinary(block)
		r := h(conn, n, req)
		if len(r.bytes) > 0 {
			if _, err := c.Write(r.bytes); err != nil {
				return
			}
		}
		if r.close {
			return
		}
	}
}

// frame returns rep as a whole frame.
func frame(rep wire.Reply) []byte {
	b, err := rep.MarshalBinary()
	if err != nil {
		panic(err)
	}
	f, err := wire.AppendFrame(nil, b)
	if err != nil {
		panic(err)
	}
	return f
}

// errorFrame returns an ERROR reply frame carrying msg.
func errorFrame(msg string) []byte { return frame(wire.ErrorReply(msg)) }

// echo answers req as a well-behaved server with fixed data would: BOOK
// and UNBOOK are echoed, BOOKINGSONDATE lists rooms 101 and 312,
// BOOKINGSFORROOM lists two dates.
func echo(req wire.Request) []byte {
	switch req.Action {
	case wire.ActionBook, wire.ActionUnbook:
		return frame(wire.Reply{Action: req.Action, Room: req.Room, Date: req.Date})
	case wire.ActionBookingsOnDate:
		return frame(wire.Reply{Action: req.Action, Rooms: []string{"101", "312"}, Date: req.Date})
	case wire.ActionBookingsForRoom:
		return frame(wire.Reply{Action: req.Action, Room: req.Room, Dates: []wire.Date{wire.DateOf(2026, 12, 1), wire.DateOf(2026, 12, 5)}})
	}
	return errorFrame(wire.MsgUnrecognized)
}

// echoing is a handler that answers every request with echo.
func echoing(_, _ int, req wire.Request) response { return response{bytes: echo(req)} }

// toyServer is a small in-memory booking server for the examples: it
// books, unbooks and lists like the real one (duplicates refused, at most
// five bookings a day), and answers busy to the first Busy requests.
type toyServer struct {
	*fakeServer
	mu       sync.Mutex
	bookings map[wire.Date][]string
	busy     int
}

// startToyServer starts a toyServer that answers busy to its first busy
// requests. The caller must Close it.
func startToyServer(busy int) (*toyServer, error) {
	t := &toyServer{bookings: make(map[wire.Date][]string), busy: busy}
	fs, err := listenFake(func(_, _ int, req wire.Request) response { return response{bytes: frame(t.answer(req))} })
	if err != nil {
		return nil, err
	}
	t.fakeServer = fs
	return t, nil
}

func (t *toyServer) answer(req wire.Request) wire.Reply {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.busy > 0 {
		t.busy--
		return wire.ErrorReply(wire.MsgBusy)
	}
	rooms := t.bookings[req.Date]
	switch req.Action {
	case wire.ActionBook:
		switch {
		case slices.Contains(rooms, req.Room):
			return wire.ErrorReply(wire.MsgDuplicate)
		case len(rooms) >= 5:
			return wire.ErrorReply(wire.MsgFullyBooked(req.Date))
		}
		t.bookings[req.Date] = append(rooms, req.Room)
	case wire.ActionUnbook:
		i := slices.Index(rooms, req.Room)
		if i < 0 {
			return wire.ErrorReply(wire.MsgNotBooked)
		}
		t.bookings[req.Date] = slices.Delete(rooms, i, i+1)
	case wire.ActionBookingsOnDate:
		if len(rooms) == 0 {
			return wire.ErrorReply(wire.MsgNoRoomsOn(req.Date))
		}
		rooms = slices.Clone(rooms)
		sort.Strings(rooms)
		return wire.Reply{Action: req.Action, Rooms: rooms, Date: req.Date}
	case wire.ActionBookingsForRoom:
		var dates []wire.Date
		for d, rs := range t.bookings {
			if slices.Contains(rs, req.Room) {
				dates = append(dates, d)
			}
		}
		if len(dates) == 0 {
			return wire.ErrorReply(wire.MsgRoomNotBooked(req.Room))
		}
		slices.Sort(dates)
		return wire.Reply{Action: req.Action, Room: req.Room, Dates: dates}
	default:
		return wire.ErrorReply(wire.MsgUnrecognized)
	}
	return wire.Reply{Action: req.Action, Room: req.Room, Date: req.Date}
}

// readCall is one Read on a testConn.
type readCall struct{ offset, asked, got int }

// testConn wraps a net.Conn for tests: it records every Read (offset,
// length asked, bytes got) and can fail writes. With no fault set it
// behaves exactly as the connection it wraps (TestTestConnIsAConn).
type testConn struct {
	net.Conn

	// writeLimit, when non-negative, makes Write send at most that many
	// bytes of its buffer and then fail; -1 is no fault.
	writeLimit int

	mu    sync.Mutex
	off   int
	reads []readCall
}

func newTestConn(c net.Conn) *testConn { return &testConn{Conn: c, writeLimit: -1} }

var errInjected = errors.New("injected write failure")

func (c *testConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.reads = append(c.reads, readCall{offset: c.off, asked: len(p), got: n})
	c.off += n
	c.mu.Unlock()
	return n, err
}

func (c *testConn) Write(p []byte) (int, error) {
	if c.writeLimit < 0 || c.writeLimit >= len(p) {
		return c.Conn.Write(p)
	}
	n, err := c.Conn.Write(p[:c.writeLimit])
	if err == nil {
		err = errInjected
	}
	return n, err
}

// consumed returns the bytes read so far and the Read calls made.
func (c *testConn) consumed() (int, []readCall) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.off, slices.Clone(c.reads)
}

// drain reads and discards frames from r until it fails.
func drain(r io.Reader) {
	var buf []byte
	for {
		b, err := wire.ReadFrame(r, buf)
		if err != nil {
			return
		}
		buf = b
	}
}
