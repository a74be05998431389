package check_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/check"
	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs a pooled server.New over the booking service on store until
// the test ends, and returns its address.
func serve(t *testing.T, store booking.Store) string {
	t.Helper()
	svc, err := booking.New(store, booking.Config{})
	require.NoError(t, err)
	cfg := server.Config{Model: server.ModelPool, Workers: 16, Handler: svc, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	cfg.BusyReply, cfg.ReadTimeoutReply, cfg.InternalErrorReply = wire.ServerReplies()
	srv, err := server.New(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
		_ = svc.Close()
	})
	return ln.Addr().String()
}

// run runs a quick workload against addrs and checks its history.
func run(t *testing.T, addrs ...string) (*check.Result, check.History, check.Report) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, rep, err := check.Run(ctx, check.Workload{Addrs: addrs, Clients: 8, Ops: 600, Seed: 7})
	require.NoError(t, err)
	res := check.Check(h, check.Options{Timeout: 30 * time.Second})
	t.Logf("%d operations, %d checked over %d dates in %v: %s; %+v", len(h.Ops), res.Checked, res.Dates, res.Took, res.Verdict, res.Counts)
	return res, h, rep
}

// TestCorrectServerPasses: the booking service on a memory store and on
// bolt, one server and two on one store, pass; the run hits the per-date
// limit and duplicates, and leaves the store as it found it.
func TestCorrectServerPasses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) booking.Store
		two   bool
	}{
		{"memory", func(*testing.T) booking.Store { return booking.NewMemoryStore() }, false},
		{"bolt", func(t *testing.T) booking.Store {
			s, err := booking.OpenBolt(t.TempDir()+"/c.db", booking.BoltOptions{})
			require.NoError(t, err)
			return s
		}, false},
		{"two servers on one store", func(*testing.T) booking.Store { return booking.NewMemoryStore() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.store(t)
			addrs := []string{serve(t, st)}
			if tc.two {
				addrs = append(addrs, serve(t, st))
			}
			res, h, rep := run(t, addrs...)
			assert.Equal(t, check.Linearizable, res.Verdict)
			assert.Empty(t, res.Anomalies)
			assert.True(t, res.OK())
			answers := map[check.Answer]int{}
			for _, o := range h.Ops {
				answers[o.Answer]++
			}
			assert.Positive(t, answers[check.Full], "the per-date limit was hit")
			assert.Positive(t, answers[check.Duplicate], "duplicates were tried")
			assert.Positive(t, res.Counts.Acknowledged)
			assert.Zero(t, rep.Left)
			for _, d := range rep.Dates {
				rooms, err := st.RoomsOn(context.Background(), d)
				require.NoError(t, err)
				assert.Empty(t, rooms, "the run unbooked what it left on %s", d)
			}
		})
	}
}

// dropping acknowledges every booking but forgets one in every 50.
type dropping struct {
	booking.Store
	n atomic.Int64
}

func (s *dropping) Book(ctx context.Context, room string, d wire.Date, limit int) error {
	if s.n.Add(1)%50 == 0 {
		return nil // acknowledged, never stored
	}
	return s.Store.Book(ctx, room, d, limit)
}

// sixth admits one booking more than the limit.
type sixth struct{ booking.Store }

func (s sixth) Book(ctx context.Context, room string, d wire.Date, limit int) error {
	return s.Store.Book(ctx, room, d, limit+1)
}

// lagging answers BOOKINGSONDATE from a copy of the store that is
// refreshed only every 20 writes: its reads lag its writes.
type lagging struct {
	booking.Store
	mu     sync.Mutex
	writes int
	copy   map[wire.Date][]string
}

func (s *lagging) wrote(ctx context.Context, d wire.Date) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.copy == nil {
		s.copy = map[wire.Date][]string{}
	}
	if s.writes%20 == 0 {
		for day := range s.copy {
			s.copy[day], _ = s.Store.RoomsOn(ctx, day)
		}
	}
	if _, ok := s.copy[d]; !ok {
		s.copy[d] = nil
	}
}

func (s *lagging) Book(ctx context.Context, room string, d wire.Date, limit int) error {
	err := s.Store.Book(ctx, room, d, limit)
	s.wrote(ctx, d)
	return err
}

func (s *lagging) Unbook(ctx context.Context, room string, d wire.Date) error {
	err := s.Store.Unbook(ctx, room, d)
	s.wrote(ctx, d)
	return err
}

func (s *lagging) RoomsOn(ctx context.Context, d wire.Date) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rooms, ok := s.copy[d]; ok {
		return slices.Clone(rooms), nil
	}
	return s.Store.RoomsOn(ctx, d)
}

// TestBrokenServersAreCaught: the checker fails each broken server and
// names what is wrong.
func TestBrokenServersAreCaught(t *testing.T) {
	for _, tc := range []struct {
		name      string
		store     booking.Store
		anomalies []string // one of them is named
	}{
		// A dropped booking is seen lost, or, when the room is booked
		// again, acknowledged twice.
		{"drops one acknowledged booking in 50", &dropping{Store: booking.NewMemoryStore()}, []string{"acknowledged bookings lost", "bookings acknowledged twice"}},
		{"admits a sixth booking on a date", sixth{booking.NewMemoryStore()}, []string{"dates read with more than 5 bookings"}},
		{"reads lag writes", &lagging{Store: booking.NewMemoryStore()}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _, _ := run(t, serve(t, tc.store))
			assert.False(t, res.OK())
			assert.Equal(t, check.NotLinearizable, res.Verdict)
			require.NotNil(t, res.Op, "names the first operation no order explains")
			t.Logf("first unexplained on %s: %s", res.Date, res.Op)
			if tc.anomalies != nil {
				named := slices.ContainsFunc(res.Anomalies, func(a string) bool {
					return slices.ContainsFunc(tc.anomalies, func(w string) bool { return strings.Contains(a, w) })
				})
				assert.True(t, named, "one of %q in %q", tc.anomalies, res.Anomalies)
			}
			var html strings.Builder
			require.NoError(t, res.WriteHTML(&html))
			assert.Contains(t, html.String(), "<html")
		})
	}
}

// at builds an operation of a hand-made history.
func at(id, client int, action, room string, d wire.Date, call, ret int64, st check.Status, ans check.Answer, rooms ...string) check.Op {
	return check.Op{ID: id, Client: client, Action: action, Room: room, Date: d, Call: call, Return: ret, Status: st, Answer: ans, Rooms: rooms}
}

// TestHandMadeHistories: the model's rules, one by one, on histories
// whose verdict is known.
func TestHandMadeHistories(t *testing.T) {
	d := wire.DateOf(2028, 12, 1)
	book, unbook, ondate := wire.ActionBook, wire.ActionUnbook, wire.ActionBookingsOnDate
	ok, info := check.OK, check.Info
	five := func() []check.Op {
		var ops []check.Op
		for i, r := range []string{"101", "102", "103", "104", "105"} {
			ops = append(ops, at(i, 0, book, r, d, int64(10*i), int64(10*i+5), ok, check.Done))
		}
		return ops
	}
	for _, tc := range []struct {
		name string
		ops  []check.Op
		want check.Verdict
	}{
		{"five, then full", append(five(), at(5, 1, book, "106", d, 100, 110, ok, check.Full)), check.Linearizable},
		{"a sixth acknowledged", append(five(), at(5, 1, book, "106", d, 100, 110, ok, check.Done)), check.NotLinearizable},
		{"full while there was room", []check.Op{at(0, 0, book, "101", d, 0, 5, ok, check.Full)}, check.NotLinearizable},
		{"a duplicate of nothing", []check.Op{at(0, 0, book, "101", d, 0, 5, ok, check.Duplicate)}, check.NotLinearizable},
		{"a read missing an acknowledged booking", []check.Op{
			at(0, 0, book, "101", d, 0, 5, ok, check.Done),
			at(1, 1, ondate, "", d, 10, 15, ok, check.Done),
		}, check.NotLinearizable},
		{"a read concurrent with the booking may miss it", []check.Op{
			at(0, 0, book, "101", d, 0, 20, ok, check.Done),
			at(1, 1, ondate, "", d, 5, 15, ok, check.Done),
		}, check.Linearizable},
		{"in doubt, later seen", []check.Op{
			at(0, 0, book, "101", d, 0, 5, info, 0),
			at(1, 1, ondate, "", d, 100, 105, ok, check.Done, "101"),
		}, check.Linearizable},
		{"in doubt, never seen", []check.Op{
			at(0, 0, book, "101", d, 0, 5, info, 0),
			at(1, 1, ondate, "", d, 100, 105, ok, check.Done),
		}, check.Linearizable},
		{"in doubt takes effect after its call, not before", []check.Op{
			at(0, 1, ondate, "", d, 0, 5, ok, check.Done, "101"),
			at(1, 0, book, "101", d, 10, 15, info, 0),
		}, check.NotLinearizable},
		{"unbook of what is there", []check.Op{
			at(0, 0, book, "101", d, 0, 5, ok, check.Done),
			at(1, 0, unbook, "101", d, 10, 15, ok, check.Done),
			at(2, 0, unbook, "101", d, 20, 25, ok, check.NotBooked),
			at(3, 1, ondate, "", d, 30, 35, ok, check.Done),
		}, check.Linearizable},
		{"unbook of nothing acknowledged", []check.Op{at(0, 0, unbook, "101", d, 0, 5, ok, check.Done)}, check.NotLinearizable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := check.Check(check.History{Ops: tc.ops}, check.Options{})
			assert.Equal(t, tc.want, res.Verdict)
			if tc.want == check.NotLinearizable {
				require.NotNil(t, res.Op)
				assert.Equal(t, d, res.Date)
			}
		})
	}
}

// TestRunUnreachable: a server that is not there is reported as such.
func TestRunUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	_, _, err = check.Run(context.Background(), check.Workload{Addrs: []string{addr}, Timeout: time.Second})
	require.Error(t, err)
	assert.True(t, errors.Is(err, check.ErrUnreachable), "%v", err)
}

// TestSettledStateIsRequired: a history whose dates were never read at
// the end, or whose server could not be read then, does not pass.
func TestSettledStateIsRequired(t *testing.T) {
	d := wire.DateOf(2028, 12, 1)
	booked := at(0, 0, wire.ActionBook, "101", d, 0, 5, check.OK, check.Done)
	res := check.Check(check.History{Ops: []check.Op{booked}}, check.Options{})
	assert.Equal(t, check.Linearizable, res.Verdict)
	assert.False(t, res.OK(), "nothing settled: %v", res.Anomalies)
	assert.Contains(t, strings.Join(res.Anomalies, " "), "dates never settled")

	failed := at(1, 1, wire.ActionBookingsOnDate, "", d, 10, 15, check.Fail, 0)
	failed.Final, failed.Server = true, "127.0.0.1:2"
	read := at(2, 2, wire.ActionBookingsOnDate, "", d, 10, 15, check.OK, check.Done, "101")
	read.Final, read.Server = true, "127.0.0.1:1"
	res = check.Check(check.History{Ops: []check.Op{booked, failed, read}}, check.Options{})
	assert.False(t, res.OK())
	assert.Contains(t, strings.Join(res.Anomalies, " "), "127.0.0.1:2 could not be read on at the end")

	read.Server, failed.Server = "127.0.0.1:1", "127.0.0.1:1"
	res = check.Check(check.History{Ops: []check.Op{booked, failed, read}}, check.Options{})
	assert.True(t, res.OK(), "a retry answered: %v", res.Anomalies)
}

// TestClassify: what each reply and error says of an operation.
func TestClassify(t *testing.T) {
	d := wire.DateOf(2028, 12, 1)
	for _, tc := range []struct {
		action string
		err    error
		status check.Status
		answer check.Answer
	}{
		{wire.ActionBook, nil, check.OK, check.Done},
		{wire.ActionBook, &client.ServerError{Message: wire.MsgDuplicate}, check.OK, check.Duplicate},
		{wire.ActionBook, &client.ServerError{Message: wire.MsgBusy}, check.Fail, 0},
		{wire.ActionBook, &client.ServerError{Message: booking.MsgStoreError(wire.ActionBook, nil)}, check.Fail, 0},
		{wire.ActionBook, &client.ServerError{Message: booking.MsgStoreError(wire.ActionBook, booking.ErrInDoubt)}, check.Info, 0},
		{wire.ActionBook, &client.ServerError{Message: booking.MsgBeyondHorizon(d, d-1)}, check.OK, check.Refused},
		{wire.ActionBook, &client.ServerError{Message: wire.MsgInternal}, check.Info, 0},
		{wire.ActionBook, &client.ServerError{Message: "something new"}, check.Info, 0},
		{wire.ActionBook, client.ErrTruncated, check.Info, 0},
		{wire.ActionBookingsOnDate, &client.ServerError{Message: booking.MsgReplyTooLarge}, check.Fail, 0},
		{wire.ActionBookingsOnDate, client.ErrMalformedReply, check.OK, check.Bad},
		{wire.ActionBookingsOnDate, client.ErrTruncated, check.Fail, 0},
	} {
		op := check.Op{Action: tc.action, Room: "101", Date: d}
		check.Classify(&op, wire.Reply{}, tc.err)
		assert.Equal(t, tc.status, op.Status, "%s %v", tc.action, tc.err)
		assert.Equal(t, tc.answer, op.Answer, "%s %v", tc.action, tc.err)
	}
	// A bad reply to a read is no state at all: the checker fails it.
	bad := at(1, 1, wire.ActionBookingsOnDate, "", d, 10, 15, check.OK, check.Bad)
	res := check.Check(check.History{Ops: []check.Op{bad}}, check.Options{})
	assert.Equal(t, check.NotLinearizable, res.Verdict)
}
