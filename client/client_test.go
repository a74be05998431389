package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/wire"
)

var (
	dec1   = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	bookRq = wire.Request{Action: wire.ActionBook, Room: "312", Date: day}
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dialFake dials a fakeServer with cfg; the Client is closed by t.Cleanup.
func dialFake(t *testing.T, s *fakeServer, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.Dial(testCtx(t), s.Addr(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// pipeClient runs h on the server end of a net.Pipe and returns a Client
// made by New on the other end.
func pipeClient(t *testing.T, h handler, cfg client.Config) *client.Client {
	t.Helper()
	ce, se := net.Pipe()
	var wg sync.WaitGroup
	wg.Go(func() { serveConn(se, 1, h) })
	c := client.New(ce, cfg)
	t.Cleanup(func() {
		_ = c.Close()
		_ = se.Close()
		wg.Wait()
	})
	return c
}

func TestBookingMethods(t *testing.T) {
	var mu sync.Mutex
	var seen []wire.Request
	s := startFake(t, func(_, _ int, req wire.Request) response {
		mu.Lock()
		seen = append(seen, req)
		mu.Unlock()
		return response{bytes: echo(req)}
	})
	c := dialFake(t, s, client.Config{})
	ctx := testCtx(t)

	// The calendar day in the time's own location is what is booked.
	kiritimati := time.FixedZone("UTC+14", 14*3600)
	require.NoError(t, c.Book(ctx, "312", time.Date(2026, 12, 1, 1, 0, 0, 0, kiritimati)))
	require.NoError(t, c.Unbook(ctx, "312", dec1))
	rooms, err := c.BookingsOnDate(ctx, dec1)
	require.NoError(t, err)
	assert.Equal(t, []string{"101", "312"}, rooms)
	dates, err := c.BookingsForRoom(ctx, "312")
	require.NoError(t, err)
	assert.Equal(t, []time.Time{dec1, dec1.AddDate(0, 0, 4)}, dates)
	for _, d := range dates {
		assert.Equal(t, time.UTC, d.Location())
	}

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []wire.Request{
		{Action: wire.ActionBook, Room: "312", Date: day},
		{Action: wire.ActionUnbook, Room: "312", Date: day},
		{Action: wire.ActionBookingsOnDate, Date: day},
		{Action: wire.ActionBookingsForRoom, Room: "312"},
	}, seen)
	assert.Equal(t, []int{4}, s.requestsOn(), "one persistent connection")
	st := c.Stats()
	assert.Equal(t, client.Stats{Requests: 4, Dials: 1}, st)
}

func TestEmptyListsAreNotErrors(t *testing.T) {
	s := startFake(t, func(_, _ int, req wire.Request) response {
		if req.Action == wire.ActionBookingsOnDate {
			return response{bytes: errorFrame(wire.MsgNoRoomsOn(req.Date))}
		}
		return response{bytes: errorFrame(wire.MsgRoomNotBooked(req.Room))}
	})
	c := dialFake(t, s, client.Config{})
	rooms, err := c.BookingsOnDate(testCtx(t), dec1)
	require.NoError(t, err)
	assert.Empty(t, rooms)
	dates, err := c.BookingsForRoom(testCtx(t), "312")
	require.NoError(t, err)
	assert.Empty(t, dates)

	// Do, the low level, still reports the ERROR reply.
	rep, err := c.Do(testCtx(t), wire.Request{Action: wire.ActionBookingsForRoom, Room: "101"})
	var se *client.ServerError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, wire.MsgRoomNotBooked("101"), se.Message)
	assert.Equal(t, wire.ErrorReply(wire.MsgRoomNotBooked("101")), rep)
}

// TestErrors answers the first BOOK request badly in each way the client
// must recognise, over net.Pipe and TCP, and then checks whether the
// connection was kept (an ERROR reply) or closed and never reused
// (everything else).
func TestErrors(t *testing.T) {
	good := echo(bookRq)
	tests := []struct {
		name    string
		first   response // the server's answer to the first request
		cfg     client.Config
		timeout time.Duration // a deadline on the call's context
		cancel  bool          // cancel the call once the server has the request
		check   func(t *testing.T, err error)
		discard bool
		// discardDialed: discarded only by a Client that can redial (Dial).
		discardDialed bool
	}{
		{name: "ERROR reply", first: response{bytes: errorFrame(wire.MsgDuplicate)},
			check: func(t *testing.T, err error) {
				var se *client.ServerError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, wire.MsgDuplicate, se.Message)
				assert.NotErrorIs(t, err, client.ErrBusy)
				assert.EqualError(t, err, "client: server refused: Cannot accept duplicate booking")
			}},
		{name: "busy", first: response{bytes: errorFrame(wire.MsgBusy)},
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, client.ErrBusy)
				var se *client.ServerError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, wire.MsgBusy, se.Message)
			}, discardDialed: true},
		{name: "other action echoed", first: response{bytes: frame(wire.Reply{Action: wire.ActionUnbook, Room: "312", Date: day})},
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, client.ErrMismatch) }, discard: true},
		{name: "other room echoed", first: response{bytes: frame(wire.Reply{Action: wire.ActionBook, Room: "313", Date: day})},
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, client.ErrMismatch) }, discard: true},
		{name: "other date echoed", first: response{bytes: frame(wire.Reply{Action: wire.ActionBook, Room: "312", Date: day + 1})},
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, client.ErrMismatch) }, discard: true},
		{name: "a list for a booking", first: response{bytes: frame(wire.Reply{Action: wire.ActionBookingsOnDate, Date: day})},
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, client.ErrMismatch) }, discard: true},
		{name: "malformed reply", first: response{bytes: []byte{0, 5, 0, 0, 0, 1, 0}},
			check: func(t *testing.T, err error) {
				var pe *wire.ProtocolError
				require.ErrorAs(t, err, &pe)
				require.ErrorIs(t, err, wire.ErrOddLength)
			}, discard: true},
		{name: "unknown action in reply", first: response{bytes: mustFrame(wire.AppendString(nil, "HELLO"))},
			check: func(t *testing.T, err error) {
				var pe *wire.ProtocolError
				require.ErrorAs(t, err, &pe)
				require.ErrorIs(t, err, wire.ErrUnknownAction)
			}, discard: true},
		{name: "trailing bytes in reply block", first: response{bytes: mustFrame(append(good[2:len(good):len(good)], 0))},
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, wire.ErrTrailingBytes) }, discard: true},
		{name: "no reply, context deadline", timeout: 50 * time.Millisecond,
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, os.ErrDeadlineExceeded)
				require.ErrorIs(t, err, context.DeadlineExceeded)
			}, discard: true},
		{name: "no reply, Config.Timeout", cfg: client.Config{Timeout: 50 * time.Millisecond},
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, os.ErrDeadlineExceeded)
				var ne net.Error
				require.ErrorAs(t, err, &ne)
				assert.True(t, ne.Timeout())
			}, discard: true},
		{name: "Config.Timeout earlier than the context's", cfg: client.Config{Timeout: 50 * time.Millisecond}, timeout: time.Hour,
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, os.ErrDeadlineExceeded) }, discard: true},
		{name: "half a reply, then silence", first: response{bytes: good[:9]}, timeout: 50 * time.Millisecond,
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, os.ErrDeadlineExceeded) }, discard: true},
		{name: "cancelled while waiting for the reply", cancel: true,
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, context.Canceled)
				assert.NotErrorIs(t, err, os.ErrDeadlineExceeded)
				assert.NotErrorIs(t, err, client.ErrNotSent, "the request was written")
			}, discard: true},
		{name: "closed before replying", first: response{close: true},
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, io.EOF)
				assert.NotErrorIs(t, err, client.ErrTruncated)
			}, discard: true},
		{name: "closed mid-reply", first: response{bytes: good[:10], close: true},
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, client.ErrTruncated)
				require.ErrorIs(t, err, io.ErrUnexpectedEOF)
				assert.EqualError(t, err, fmt.Sprintf("client: server closed the connection in the middle of a reply: got 10 of %d bytes", len(good)))
			}, discard: true},
		{name: "closed mid-header", first: response{bytes: good[:1], close: true},
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, client.ErrTruncated)
				var te *wire.TruncatedError
				require.ErrorAs(t, err, &te)
				assert.Equal(t, wire.TruncatedError{Got: 1, Want: 2}, *te)
			}, discard: true},
	}
	for _, tr := range []string{"pipe", "tcp"} {
		for _, tt := range tests {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				got := make(chan struct{}, 1)
				h := func(_, n int, req wire.Request) response {
					if n > 1 {
						return response{bytes: echo(req)}
					}
					got <- struct{}{}
					return tt.first
				}
				var c *client.Client
				var s *fakeServer
				if tr == "pipe" {
					c = pipeClient(t, h, tt.cfg)
				} else {
					s = startFake(t, h)
					c = dialFake(t, s, tt.cfg)
				}

				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if tt.timeout > 0 {
					ctx, cancel = context.WithTimeout(ctx, tt.timeout)
					defer cancel()
				}
				if tt.cancel {
					go func() {
						select {
						case <-got:
							cancel()
						case <-ctx.Done():
						}
					}()
				}
				start := time.Now()
				rep, err := c.Do(ctx, bookRq)
				assert.Less(t, time.Since(start), 5*time.Second, "the call must not hang")
				tt.check(t, err)
				if !errors.Is(err, client.ErrBusy) && !errors.As(err, new(*client.ServerError)) {
					assert.Equal(t, wire.Reply{}, rep)
				}
				discard := tt.discard || (tt.discardDialed && tr == "tcp")
				assert.Equal(t, uint64(b2u(discard)), c.Stats().Discarded)

				// The next call: on the kept connection, on a new one, or
				// none at all for a Client made by New.
				err = c.Book(testCtx(t), "312", dec1)
				switch {
				case !discard:
					require.NoError(t, err)
					if s != nil {
						assert.Equal(t, []int{2}, s.requestsOn(), "the connection is kept")
					}
				case s == nil:
					require.ErrorIs(t, err, client.ErrConnLost)
				default:
					require.NoError(t, err)
					assert.Equal(t, int32(2), s.conns.Load(), "a new connection")
					assert.Equal(t, 1, s.requestsOn()[1], "the new connection carries the next request")
				}
			})
		}
	}
}

func b2u(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mustFrame frames block.
func mustFrame(block []byte) []byte {
	f, err := wire.AppendFrame(nil, block)
	if err != nil {
		panic(err)
	}
	return f
}

func TestRetries(t *testing.T) {
	query := wire.Request{Action: wire.ActionBookingsOnDate, Date: day}
	fast := client.Config{Retries: 3, RetryBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	// firstThen answers the first request with first and the rest with
	// echo.
	firstThen := func(first response) handler {
		return func(_, n int, req wire.Request) response {
			if n == 1 {
				return first
			}
			return response{bytes: echo(req)}
		}
	}
	tests := []struct {
		name     string
		h        handler
		req      wire.Request
		cfg      client.Config
		wantErr  error // nil: the call succeeds
		requests int32 // requests the server saw
		retries  uint64
	}{
		{"query after a dropped connection", firstThen(response{close: true}), query, fast, nil, 2, 1},
		{"query after a truncated reply", firstThen(response{bytes: echo(query)[:5], close: true}), query, fast, nil, 2, 1},
		{"query, retries used up", func(int, int, wire.Request) response { return response{close: true} }, query, fast, io.EOF, 4, 3},
		{"query, no retries configured", firstThen(response{close: true}), query, client.Config{}, io.EOF, 1, 0},
		{"BOOK not after its bytes were written", firstThen(response{close: true}), bookRq, fast, io.EOF, 1, 0},
		{"BOOK not after a truncated reply", firstThen(response{bytes: echo(bookRq)[:5], close: true}), bookRq, fast, client.ErrTruncated, 1, 0},
		{"UNBOOK not after its bytes were written", firstThen(response{close: true}),
			wire.Request{Action: wire.ActionUnbook, Room: "312", Date: day}, fast, io.EOF, 1, 0},
		{"BOOK after busy", firstThen(response{bytes: errorFrame(wire.MsgBusy)}), bookRq, fast, nil, 2, 1},
		// poolside's conn model and --max-conns close after the busy reply:
		// the retry must go out on a new connection, not the dead one.
		{"BOOK after busy and close", firstThen(response{bytes: errorFrame(wire.MsgBusy), close: true}), bookRq, fast, nil, 2, 1},
		{"busy, retries used up", func(int, int, wire.Request) response { return response{bytes: errorFrame(wire.MsgBusy)} },
			bookRq, fast, client.ErrBusy, 4, 3},
		{"ERROR never retried", firstThen(response{bytes: errorFrame(wire.MsgDuplicate)}), bookRq, fast, &client.ServerError{}, 1, 0},
		{"mismatch never retried", firstThen(response{bytes: echo(query)}), bookRq, fast, client.ErrMismatch, 1, 0},
		{"timeout never retried", firstThen(response{}), query,
			client.Config{Retries: 3, Timeout: 50 * time.Millisecond}, os.ErrDeadlineExceeded, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t, tt.h)
			c := dialFake(t, s, tt.cfg)
			_, err := c.Do(testCtx(t), tt.req)
			var se *client.ServerError
			switch {
			case tt.wantErr == nil:
				require.NoError(t, err)
			case errors.As(tt.wantErr, &se):
				require.ErrorAs(t, err, &se)
			default:
				require.ErrorIs(t, err, tt.wantErr)
			}
			assert.Equal(t, tt.requests, s.requests.Load(), "requests the server saw")
			assert.Equal(t, tt.retries, c.Stats().Retries)
		})
	}
}

// flakyDialer fails its first fails dials, then dials through
// net.Dialer, wrapping each connection with wrap (if not nil).
type flakyDialer struct {
	fails int32
	wrap  func(n int32, c net.Conn) net.Conn
	n     atomic.Int32
}

func (d *flakyDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	n := d.n.Add(1)
	if n <= d.fails {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil || d.wrap == nil {
		return c, err
	}
	return d.wrap(n, c), nil
}

func TestRetriesAroundTheWrite(t *testing.T) {
	cfg := func(d *flakyDialer) client.Config {
		return client.Config{ConnPerRequest: true, Retries: 2, RetryBackoff: time.Millisecond, Dialer: d.dial}
	}
	t.Run("BOOK after a failed dial", func(t *testing.T) {
		s := startFake(t, echoing)
		d := &flakyDialer{fails: 1}
		c := dialFake(t, s, cfg(d))
		require.NoError(t, c.Book(testCtx(t), "312", dec1))
		assert.Equal(t, int32(1), s.requests.Load())
		assert.Equal(t, client.Stats{Requests: 1, Retries: 1, Dials: 2, DialErrors: 1, Discarded: 0}, c.Stats())
	})
	t.Run("BOOK after a write of 0 bytes", func(t *testing.T) {
		s := startFake(t, echoing)
		d := &flakyDialer{wrap: func(n int32, c net.Conn) net.Conn {
			tc := newTestConn(c)
			if n == 1 {
				tc.writeLimit = 0
			}
			return tc
		}}
		c := dialFake(t, s, cfg(d))
		require.NoError(t, c.Book(testCtx(t), "312", dec1))
		assert.Equal(t, int32(1), s.requests.Load())
		assert.Equal(t, uint64(1), c.Stats().Retries)
	})
	t.Run("BOOK not sent: every write of 0 bytes", func(t *testing.T) {
		s := startFake(t, echoing)
		d := &flakyDialer{wrap: func(_ int32, c net.Conn) net.Conn {
			tc := newTestConn(c)
			tc.writeLimit = 0
			return tc
		}}
		c := dialFake(t, s, cfg(d))
		err := c.Book(testCtx(t), "312", dec1)
		require.ErrorIs(t, err, errInjected)
		require.ErrorIs(t, err, client.ErrNotSent)
		assert.Zero(t, s.requests.Load())
	})
	t.Run("BOOK not after a partial write", func(t *testing.T) {
		s := startFake(t, echoing)
		d := &flakyDialer{wrap: func(_ int32, c net.Conn) net.Conn {
			tc := newTestConn(c)
			tc.writeLimit = 3
			return tc
		}}
		c := dialFake(t, s, cfg(d))
		err := c.Book(testCtx(t), "312", dec1)
		require.ErrorIs(t, err, errInjected)
		assert.NotErrorIs(t, err, client.ErrNotSent, "part of it was written")
		assert.Equal(t, uint64(0), c.Stats().Retries)
		assert.Equal(t, int32(1), d.n.Load(), "one dial, no retry")
	})
	t.Run("query after a partial write", func(t *testing.T) {
		s := startFake(t, echoing)
		d := &flakyDialer{wrap: func(n int32, c net.Conn) net.Conn {
			tc := newTestConn(c)
			if n == 1 {
				tc.writeLimit = 3
			}
			return tc
		}}
		c := dialFake(t, s, cfg(d))
		_, err := c.BookingsOnDate(testCtx(t), dec1)
		require.NoError(t, err)
		assert.Equal(t, uint64(1), c.Stats().Retries)
	})
	t.Run("dial failures use up the retries", func(t *testing.T) {
		d := &flakyDialer{fails: 100}
		c, err := client.Dial(testCtx(t), "127.0.0.1:1", cfg(d))
		require.NoError(t, err)
		defer c.Close()
		err = c.Book(testCtx(t), "312", dec1)
		require.ErrorIs(t, err, client.ErrConnect)
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		require.ErrorIs(t, err, client.ErrNotSent)
		assert.Equal(t, client.Stats{Requests: 1, Retries: 2, Dials: 3, DialErrors: 3}, c.Stats())
	})
	t.Run("cancelled before the call", func(t *testing.T) {
		s := startFake(t, echoing)
		c := dialFake(t, s, client.Config{})
		ctx, cancel := context.WithCancel(testCtx(t))
		cancel()
		err := c.Book(ctx, "312", dec1)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, client.ErrNotSent)
		assert.Zero(t, s.requests.Load())
	})
}

func TestDial(t *testing.T) {
	t.Run("connects before returning", func(t *testing.T) {
		s := startFake(t, echoing)
		c := dialFake(t, s, client.Config{})
		assert.Equal(t, uint64(1), c.Stats().Dials)
		require.NoError(t, c.Book(testCtx(t), "312", dec1))
		require.NoError(t, c.Book(testCtx(t), "313", dec1))
		assert.Equal(t, []int{2}, s.requestsOn())
	})
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		_, err = client.Dial(testCtx(t), addr, client.Config{})
		require.ErrorIs(t, err, client.ErrConnect)
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		assert.Contains(t, err.Error(), "client: cannot connect to "+addr)
	})
	t.Run("deadline while connecting", func(t *testing.T) {
		block := func(ctx context.Context, _, _ string) (net.Conn, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		_, err := client.Dial(testCtx(t), "127.0.0.1:9", client.Config{Timeout: 20 * time.Millisecond, Dialer: block})
		require.ErrorIs(t, err, client.ErrConnect)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	})
	t.Run("invalid config", func(t *testing.T) {
		_, err := client.Dial(testCtx(t), "127.0.0.1:9", client.Config{MaxConns: -1})
		require.ErrorIs(t, err, client.ErrInvalidConfig)
	})
}

func TestConnPerRequest(t *testing.T) {
	s := startFake(t, echoing)
	c := dialFake(t, s, client.Config{ConnPerRequest: true})
	ctx := testCtx(t)
	assert.Zero(t, c.Stats().Dials, "Dial does no I/O with ConnPerRequest")
	require.NoError(t, c.Book(ctx, "312", dec1))
	_, err := c.BookingsOnDate(ctx, dec1)
	require.NoError(t, err)
	_, err = c.BookingsForRoom(ctx, "312")
	require.NoError(t, err)

	assert.Equal(t, []int{1, 1, 1}, s.requestsOn(), "one connection per request")
	// Each connection was closed by the client after its reply: the
	// server's reader saw it end.
	for range 3 {
		select {
		case <-s.ended:
		case <-ctx.Done():
			t.Fatal("a connection was left open")
		}
	}
	assert.Equal(t, client.Stats{Requests: 3, Dials: 3}, c.Stats())
}

func TestConcurrentCallers(t *testing.T) {
	const callers = 50
	run := func(t *testing.T, c *client.Client) {
		var wg sync.WaitGroup
		errs := make([]error, callers)
		for i := range callers {
			wg.Go(func() {
				req := wire.Request{Action: wire.ActionBook, Room: fmt.Sprintf("%d%02d", i%10, i%34+1), Date: day + wire.Date(i)}
				rep, err := c.Do(testCtx(t), req)
				if err == nil && (rep.Room != req.Room || rep.Date != req.Date) {
					err = fmt.Errorf("caller %d got another's reply: %+v", i, rep)
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			assert.NoError(t, err, "caller %d", i)
		}
	}
	t.Run("tcp, MaxConns 4", func(t *testing.T) {
		s := startFake(t, echoing)
		c := dialFake(t, s, client.Config{MaxConns: 4})
		run(t, c)
		assert.LessOrEqual(t, s.conns.Load(), int32(4))
		assert.LessOrEqual(t, s.peak.Load(), int32(4))
		assert.Equal(t, int32(callers), s.requests.Load())
	})
	t.Run("tcp, ConnPerRequest, MaxConns 4", func(t *testing.T) {
		s := startFake(t, echoing)
		c := dialFake(t, s, client.Config{MaxConns: 4, ConnPerRequest: true})
		run(t, c)
		assert.Equal(t, int32(callers), s.conns.Load())
		assert.Equal(t, int32(callers), s.requests.Load())
	})
	t.Run("pipe, one connection", func(t *testing.T) {
		run(t, pipeClient(t, echoing, client.Config{}))
	})
}

func TestClose(t *testing.T) {
	t.Run("in flight and waiting", func(t *testing.T) {
		got := make(chan struct{}, 1)
		s := startFake(t, func(int, int, wire.Request) response {
			got <- struct{}{}
			return response{} // never answer
		})
		c := dialFake(t, s, client.Config{MaxConns: 1})
		errs := make(chan error, 2)
		go func() { errs <- c.Book(context.Background(), "312", dec1) }()
		<-got
		go func() { errs <- c.Book(context.Background(), "313", dec1) }() // waits for the one connection
		require.NoError(t, c.Close())
		for range 2 {
			require.ErrorIs(t, <-errs, client.ErrClosed)
		}
	})
	t.Run("later calls and Close again", func(t *testing.T) {
		s := startFake(t, echoing)
		c := dialFake(t, s, client.Config{})
		require.NoError(t, c.Close())
		require.ErrorIs(t, c.Book(testCtx(t), "312", dec1), client.ErrClosed)
		_, err := c.BookingsOnDate(testCtx(t), dec1)
		require.ErrorIs(t, err, client.ErrClosed)
		require.NoError(t, c.Close())
	})
	t.Run("New's connection", func(t *testing.T) {
		ce, se := net.Pipe()
		defer se.Close()
		c := client.New(ce, client.Config{})
		require.NoError(t, c.Close())
		_, err := ce.Write([]byte{0})
		require.ErrorIs(t, err, io.ErrClosedPipe, "Close closed the connection")
	})
}

func TestWaitingForAConnection(t *testing.T) {
	got := make(chan struct{}, 1)
	release := make(chan struct{})
	s := startFake(t, func(_, n int, req wire.Request) response {
		if n == 1 {
			got <- struct{}{}
			<-release
		}
		return response{bytes: echo(req)}
	})
	c := dialFake(t, s, client.Config{MaxConns: 1})
	first := make(chan error, 1)
	go func() { first <- c.Book(testCtx(t), "312", dec1) }()
	<-got
	// The one connection is busy: a second caller waits and gives up at
	// its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := c.Book(ctx, "313", dec1)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	close(release)
	require.NoError(t, <-first)
	require.NoError(t, c.Book(testCtx(t), "313", dec1))
	assert.Equal(t, []int{2}, s.requestsOn())
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  client.Config
		ok   bool
	}{
		{"zero", client.Config{}, true},
		{"everything set", client.Config{Timeout: time.Second, MaxConns: 8, Retries: 3, RetryBackoff: time.Millisecond, MaxBackoff: time.Second}, true},
		{"backoff without a cap", client.Config{RetryBackoff: 5 * time.Second}, true},
		{"negative Timeout", client.Config{Timeout: -1}, false},
		{"negative MaxConns", client.Config{MaxConns: -1}, false},
		{"negative Retries", client.Config{Retries: -1}, false},
		{"negative RetryBackoff", client.Config{RetryBackoff: -1}, false},
		{"negative MaxBackoff", client.Config{MaxBackoff: -1}, false},
		{"backoff above its cap", client.Config{RetryBackoff: 2 * time.Second, MaxBackoff: time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, client.ErrInvalidConfig)
			}
		})
	}
}

func TestNewRejectsConnPerRequest(t *testing.T) {
	ce, se := net.Pipe()
	defer se.Close()
	c := client.New(ce, client.Config{ConnPerRequest: true})
	defer c.Close()
	require.ErrorIs(t, c.Book(testCtx(t), "312", dec1), client.ErrInvalidConfig)
	c2 := client.New(ce, client.Config{Retries: -1})
	require.ErrorIs(t, c2.Book(testCtx(t), "312", dec1), client.ErrInvalidConfig)
}

func TestOversizedRequest(t *testing.T) {
	c := pipeClient(t, echoing, client.Config{})
	long := make([]byte, 40000)
	for i := range long {
		long[i] = 'x'
	}
	err := c.Book(testCtx(t), string(long), dec1)
	require.ErrorIs(t, err, wire.ErrFrameTooLarge)
	require.NoError(t, c.Book(testCtx(t), "312", dec1), "nothing was sent, the connection is fine")
}

// TestNotSent: ErrNotSent marks exactly the calls the server cannot have
// acted on, whatever the retries did in between.
func TestNotSent(t *testing.T) {
	busy := func(int, int, wire.Request) response { return response{bytes: errorFrame(wire.MsgBusy)} }
	// partialThenRefused's first connection writes 3 bytes of a request
	// and fails; every later dial is refused.
	var dials atomic.Int32
	partialThenRefused := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) > 1 {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		var nd net.Dialer
		c, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := newTestConn(c)
		tc.writeLimit = 3
		return tc, nil
	}
	tests := []struct {
		name    string
		h       handler
		cfg     client.Config
		req     wire.Request
		ctx     func(t *testing.T) context.Context
		notSent bool
	}{
		{name: "request too large to encode", h: echoing,
			req: wire.Request{Action: wire.ActionBook, Room: strings.Repeat("3", 40000), Date: day}, notSent: true},
		{name: "busy, then the context ends in the backoff", h: busy,
			cfg: client.Config{Retries: 3, RetryBackoff: time.Hour},
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			}, req: bookRq, notSent: true},
		{name: "busy, retries used up: the busy reply says it", h: busy,
			cfg: client.Config{Retries: 1, RetryBackoff: time.Millisecond}, req: bookRq, notSent: false},
		{name: "a query partly written, then a refused dial", h: echoing,
			cfg: client.Config{ConnPerRequest: true, Retries: 1, RetryBackoff: time.Millisecond, Dialer: partialThenRefused},
			req: wire.Request{Action: wire.ActionBookingsOnDate, Date: day}, notSent: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t, tt.h)
			c := dialFake(t, s, tt.cfg)
			ctx := testCtx(t)
			if tt.ctx != nil {
				ctx = tt.ctx(t)
			}
			_, err := c.Do(ctx, tt.req)
			require.Error(t, err)
			if tt.notSent {
				assert.ErrorIs(t, err, client.ErrNotSent)
			} else {
				assert.NotErrorIs(t, err, client.ErrNotSent)
			}
		})
	}
	t.Run("invalid config", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		c := client.New(a, client.Config{Retries: -1})
		_, err := c.Do(testCtx(t), bookRq)
		require.ErrorIs(t, err, client.ErrInvalidConfig)
		assert.ErrorIs(t, err, client.ErrNotSent)
	})
	t.Run("a timeout stays a timeout", func(t *testing.T) {
		s := startFake(t, echoing)
		c := dialFake(t, s, client.Config{})
		ctx, cancel := context.WithDeadline(testCtx(t), time.Now().Add(-time.Second))
		defer cancel()
		_, err := c.Do(ctx, bookRq)
		require.ErrorIs(t, err, client.ErrNotSent)
		assert.True(t, os.IsTimeout(err), "%v", err)
	})
}
