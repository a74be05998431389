package load_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/faults"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

// pair is one booking: a room on a date.
type pair struct {
	room string
	date wire.Date
}

func (p pair) String() string { return p.room + "@" + p.date.String() }

// realStore is a bbolt store holding someone's real bookings, behind a
// Building Services service that records every BOOK and UNBOOK it is
// sent, as a server with real users would keep it.
type realStore struct {
	store booking.Store
	svc   *booking.Service
	real  map[pair]bool
	// stolen are the real bookings made by someone else (steal) just as
	// the run's BOOK of them arrived.
	stolen map[pair]bool
	today  wire.Date
	last   wire.Date // the last date the service takes bookings for

	mu      sync.Mutex
	books   []pair // every BOOK received
	unbooks []pair // every UNBOOK received
	// badBooks and badUnbooks are the BOOKs and UNBOOKs received of a
	// pair that held a real booking at the time.
	badBooks, badUnbooks []pair
	onBook               func(n int) // if not nil, called with the count of BOOKs so far, before each is served
	bookWait             func(n int) (before, after time.Duration)
	// steal, if not nil, says whether someone else books the pair of the
	// n-th BOOK just before it is served.
	steal func(n int) bool
	// refuseUnbook, if not empty, is the ERROR message every UNBOOK is
	// answered with, unserved.
	refuseUnbook string
}

// newRealStore opens a bolt store in a temporary directory with a
// service of the given horizon (0: the default), and books the real
// bookings: near dates, as people book, and on the dates and rooms the
// workload tries first, furthest ahead: the last date fully booked, one of
// its rooms on the day before, four other rooms the day before that.
func newRealStore(t *testing.T, horizon int) *realStore {
	t.Helper()
	st, err := booking.OpenBolt(filepath.Join(t.TempDir(), "real.db"), booking.BoltOptions{})
	require.NoError(t, err)
	svc, err := booking.New(st, booking.Config{Horizon: horizon})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	if horizon == 0 {
		horizon = booking.DefaultHorizon
	}
	today := wire.FromTime(time.Now())
	rs := &realStore{store: st, svc: svc, real: map[pair]bool{}, stolen: map[pair]bool{}, today: today, last: today + wire.Date(horizon)}
	for i, room := range []string{"312", "101", "934", "512", "007"} {
		rs.bookReal(t, pair{room, today + 1 + wire.Date(i)})
	}
	last := rs.last
	for _, room := range load.Candidates(last) {
		rs.bookReal(t, pair{room, last})
	}
	rs.bookReal(t, pair{load.Candidates(last - 1)[2], last - 1})
	others := 0
	for _, room := range []string{"001", "002", "003", "004", "005", "006"} {
		if others < 4 && !contains(load.Candidates(last-2), room) {
			rs.bookReal(t, pair{room, last - 2})
			others++
		}
	}
	return rs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (rs *realStore) bookReal(t *testing.T, p pair) {
	t.Helper()
	rep := rs.svc.Handle(t.Context(), wire.Request{Action: wire.ActionBook, Room: p.room, Date: p.date})
	require.NotEqual(t, wire.ActionError, rep.Action, "%v: %s", p, rep.Message)
	rs.real[p] = true
}

// ServeFrame implements server.Handler: it records BOOK and UNBOOK
// requests, then serves them.
func (rs *realStore) ServeFrame(ctx context.Context, block []byte) []byte {
	var req wire.Request
	if err := req.UnmarshalBinary(block); err == nil {
		p := pair{req.Room, req.Date}
		rs.mu.Lock()
		var onBook func(int)
		var wait func(int) (time.Duration, time.Duration)
		n := 0
		switch req.Action {
		case wire.ActionBook:
			if rs.real[p] {
				rs.badBooks = append(rs.badBooks, p)
			}
			rs.books = append(rs.books, p)
			n, onBook, wait = len(rs.books), rs.onBook, rs.bookWait
			if rs.steal != nil && req.Date != booking.LastDate && rs.steal(n) {
				if rep := rs.svc.Handle(ctx, req); rep.Action != wire.ActionError {
					rs.real[p], rs.stolen[p] = true, true
				}
			}
		case wire.ActionUnbook:
			if rs.real[p] {
				rs.badUnbooks = append(rs.badUnbooks, p)
			}
			rs.unbooks = append(rs.unbooks, p)
		}
		refuse := rs.refuseUnbook
		rs.mu.Unlock()
		if refuse != "" && req.Action == wire.ActionUnbook {
			return wire.ErrorBlock(refuse)
		}
		if onBook != nil {
			onBook(n)
		}
		if wait != nil {
			before, after := wait(n)
			time.Sleep(before)
			defer time.Sleep(after)
		}
	}
	return rs.svc.ServeFrame(ctx, block)
}

// stored returns every booking in the store, read room by room as
// BOOKINGSFORROOM would.
func (rs *realStore) stored(t *testing.T) map[pair]bool {
	t.Helper()
	got := map[pair]bool{}
	for floor := 0; floor <= 9; floor++ {
		for n := 1; n <= 34; n++ {
			room := fmt.Sprintf("%d%02d", floor, n)
			dates, err := rs.store.DatesFor(t.Context(), room)
			require.NoError(t, err)
			for _, d := range dates {
				got[pair{room, d}] = true
			}
		}
	}
	return got
}

// check asserts that the store holds exactly the real bookings, that no
// BOOK was sent of a real booking's pair or past the horizon (but the
// one of 9999-12-31 that learns it), and no UNBOOK of a real booking.
func (rs *realStore) check(t *testing.T) {
	t.Helper()
	assert.Equal(t, rs.real, rs.stored(t), "the store holds exactly the real bookings")
	rs.mu.Lock()
	defer rs.mu.Unlock()
	assert.Empty(t, rs.badBooks, "BOOKs of a real booking's pair")
	assert.Empty(t, rs.badUnbooks, "UNBOOKs of a real booking")
	for _, p := range rs.books {
		if p.date != booking.LastDate {
			assert.LessOrEqual(t, p.date, rs.last, "BOOK past the horizon: %v", p)
			assert.Greater(t, p.date, rs.today+1, "BOOK before the day after tomorrow: %v", p)
		}
	}
}

func (rs *realStore) counts() (books, unbooks int) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.books), len(rs.unbooks)
}

// serve starts a pooled server for rs on loopback.
func (rs *realStore) serve(t *testing.T) *load.LocalServer {
	t.Helper()
	return rs.serveModel(t, load.ModelSpec{Model: server.ModelPool, Workers: 8})
}

// serveModel starts a server of the model for rs on loopback.
func (rs *realStore) serveModel(t *testing.T, model load.ModelSpec) *load.LocalServer {
	t.Helper()
	return startServer(t, load.ServerConfig{Model: model, Handler: rs})
}

// cleanupLog records what Config.OnCleanup was called with.
type cleanupLog struct {
	mu  sync.Mutex
	all []load.Cleanup
}

func (l *cleanupLog) add(c load.Cleanup) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, c)
}

func (l *cleanupLog) get() []load.Cleanup {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]load.Cleanup(nil), l.all...)
}

// journals lists the journal files in dir.
func journals(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	return names
}

// TestRemoteRunLeavesTheStoreAsItFoundIt runs loads against a bolt store
// that holds real bookings, some on exactly the pairs the workload tries
// first: every booking the run made is unbooked when it ends, no real one
// is touched, and none was refused as someone else's, since the run reads
// each date before it books on it.
func TestRemoteRunLeavesTheStoreAsItFoundIt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		horizon int
		cfg     load.Config
	}{
		{"default mix", 0, load.Config{Clients: 4}},
		{"bookings only", 0, load.Config{Clients: 4, Mix: load.Mix{Book: 1}}},
		{"open loop, a connection per request", 0, load.Config{Clients: 4, Rate: 2000, ConnPerRequest: true}},
		{"horizon of 30 days", 30, load.Config{Clients: 4, Mix: load.Mix{Book: 3, Unbook: 1}}},
		// Each connection holds one of the 2 workers for its whole life:
		// the clean-up's connections take turns.
		{"conn model", 0, load.Config{Clients: 2}},
		// The 2 clients beyond the workers wait the whole window; their
		// BOOKs, cut off at its end, are made once the run's connections
		// close and free the workers, after the clean-up began.
		{"conn model, clients starved", 0, load.Config{Clients: 4, Mix: load.Mix{Book: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRealStore(t, tc.horizon)
			ls := rs.serve(t)
			w := load.Window{Duration: 5 * time.Second, MaxRequests: 400}
			if strings.HasPrefix(tc.name, "conn model") {
				ls = rs.serveModel(t, load.ModelSpec{Model: server.ModelConn, Workers: 2})
			}
			if strings.HasSuffix(tc.name, "starved") {
				w = load.Window{Duration: 300 * time.Millisecond}
			}
			dir := t.TempDir()
			var log cleanupLog
			cfg := tc.cfg
			cfg.Addr, cfg.JournalDir, cfg.OnCleanup = ls.Addr(), dir, log.add
			res, err := load.Run(t.Context(), cfg, w)
			require.NoError(t, err)
			assert.Zero(t, res.Errors.Total(), "%+v", res.Errors)
			assert.Zero(t, res.Unavailable, "the run read each date first: no BOOK of someone else's pair")

			cl := log.get()
			require.Len(t, cl, 1)
			c := cl[0]
			assert.Equal(t, ls.Addr(), c.Addr)
			assert.Positive(t, c.Booked, "the run booked")
			assert.Positive(t, c.Unbooked, "the clean-up unbooked what the run held")
			assert.Empty(t, c.Left)
			assert.Empty(t, c.Journal)
			assert.Empty(t, journals(t, dir), "the journal is removed")
			rs.check(t)
		})
	}
}

// TestSomeoneElseBooksMeanwhile: a real user books the very pair a BOOK
// of the run is for, after the run read it as free: the run's BOOK is
// refused as a duplicate, which counts as answered, not as an error, with
// a warning, and the run never unbooks that booking.
func TestSomeoneElseBooksMeanwhile(t *testing.T) {
	rs := newRealStore(t, 0)
	rs.steal = func(n int) bool { return n%10 == 5 }
	ls := rs.serve(t)
	var log cleanupLog
	res, err := load.Run(t.Context(), load.Config{Addr: ls.Addr(), Clients: 4, Mix: load.Mix{Book: 3, Unbook: 1}, OnCleanup: log.add},
		load.Window{Duration: 5 * time.Second, MaxRequests: 300})
	require.NoError(t, err)
	assert.Zero(t, res.Errors.Total(), "%+v", res.Errors)
	assert.Positive(t, res.Unavailable)
	assert.Contains(t, strings.Join(res.Warnings, "\n"), "someone else had booked the room")
	rs.mu.Lock()
	stolen := len(rs.stolen)
	rs.mu.Unlock()
	assert.Greater(t, stolen, 5, "real bookings were made meanwhile")
	require.Len(t, log.get(), 1)
	assert.Empty(t, log.get()[0].Left)
	rs.check(t)
}

// TestInterruptedRunCleansUp cancels a run in the middle of its load, as
// Ctrl-C does: the clean-up still unbooks everything the run made, with
// its own deadline and connections, the BOOKs cut off in flight included.
func TestInterruptedRunCleansUp(t *testing.T) {
	rs := newRealStore(t, 0)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rs.onBook = func(n int) {
		if n == 200 {
			cancel()
		}
	}
	rs.bookWait = func(int) (time.Duration, time.Duration) { return time.Millisecond, 0 }
	ls := rs.serve(t)
	var log cleanupLog
	_, err := load.Run(ctx, load.Config{Addr: ls.Addr(), Clients: 8, OnCleanup: log.add, JournalDir: t.TempDir()},
		load.Window{Duration: time.Minute})
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, log.get(), 1)
	c := log.get()[0]
	assert.Positive(t, c.Booked)
	assert.Empty(t, c.Left)
	rs.check(t)
}

// TestTimedOutBookingsAreCleanedUp: BOOKs that time out at the client
// may have been made, before the reply was due or after; the clean-up
// unbooks those that were, including those still inside the server when
// it begins, which it finds not booked at first: the last BOOK of the
// run may be made 80ms after it timed out, while the clean-up runs.
//
// One client, so that the run's requests come in one order: with more,
// the others query while one learns the server's horizon, as many times
// as the scheduler lets them, and those queries can use up MaxRequests
// before the BOOKs that time out (as they once did in CI).
func TestTimedOutBookingsAreCleanedUp(t *testing.T) {
	rs := newRealStore(t, 0)
	const timeout, quick = 100 * time.Millisecond, 10
	rs.bookWait = func(n int) (before, after time.Duration) {
		switch {
		case n <= quick:
			return 0, 0
		case n%2 == 0:
			return 0, 2 * timeout // made, then answered too late
		}
		return 9 * timeout / 5, 0 // made after the client gave up
	}
	ls := rs.serve(t)
	var log cleanupLog
	res, err := load.Run(t.Context(), load.Config{Addr: ls.Addr(), Clients: 1, Timeout: timeout, Mix: load.Mix{Book: 1},
		OnCleanup: log.add, JournalDir: t.TempDir()}, load.Window{Duration: 5 * time.Second, MaxRequests: 30})
	require.NoError(t, err)
	books, _ := rs.counts()
	require.Greater(t, books, quick+2, "BOOKs after the first %d, which time out", quick)
	assert.GreaterOrEqual(t, res.Errors.Timeout, int64(books-quick), "every BOOK after the first %d timed out", quick)
	require.Len(t, log.get(), 1)
	c := log.get()[0]
	t.Logf("BOOKs %d, timeouts %d; clean-up: %+v", books, res.Errors.Timeout, c)
	assert.Empty(t, c.Left)
	rs.check(t)
}

// TestServerGoneKeepsTheJournal: when the server goes away in the middle
// of a run, the clean-up cannot reach it: it lists what it could not
// unbook, keeps the journal, and CleanupJournals unbooks it all once the
// server is back at its address.
func TestServerGoneKeepsTheJournal(t *testing.T) {
	rs := newRealStore(t, 0)
	ls := rs.serve(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	proxy := startProxy(t, ls.Addr(), ln)
	var once sync.Once
	rs.mu.Lock()
	rs.onBook = func(n int) {
		if n == 150 {
			once.Do(func() { go proxy.Close() })
		}
	}
	rs.mu.Unlock()
	dir := t.TempDir()
	var log cleanupLog
	_, err = load.Run(t.Context(), load.Config{Addr: addr, Clients: 4, Timeout: time.Second, Mix: load.Mix{Book: 3, Unbook: 1},
		OnCleanup: log.add, JournalDir: dir}, load.Window{Duration: 500 * time.Millisecond})
	require.ErrorIs(t, err, load.ErrCleanup)
	require.Len(t, log.get(), 1)
	c := log.get()[0]
	require.NotEmpty(t, c.Left, "the server was gone for the clean-up")
	assert.Contains(t, c.Left[0].Reason, "could not connect")
	assert.NotEmpty(t, c.Journal)
	assert.Equal(t, []string{c.Journal}, journals(t, dir))
	assert.NotEqual(t, rs.real, rs.stored(t), "the run's bookings are still there")

	// The server answers at its address again.
	ln2, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	startProxy(t, ls.Addr(), ln2)
	done, err := load.CleanupJournals(t.Context(), dir, "", time.Second)
	require.NoError(t, err)
	require.Len(t, done, 1)
	assert.Equal(t, addr, done[0].Addr)
	assert.Equal(t, len(c.Left), done[0].Listed)
	assert.Positive(t, done[0].Unbooked)
	assert.Empty(t, done[0].Left)
	assert.Empty(t, journals(t, dir), "the journal is removed once nothing is left")
	rs.check(t)

	done, err = load.CleanupJournals(t.Context(), dir, "", time.Second)
	require.NoError(t, err)
	assert.Empty(t, done, "nothing left to do")
}

// TestCleanupReasonIsPrintable: when the server refuses the clean-up's
// UNBOOKs, the reason given for each booking left quotes its message with
// the characters that could act on a terminal escaped, as the message
// goes to a person's terminal (a hostile server could otherwise clear the
// screen or rewrite what came before).
func TestCleanupReasonIsPrintable(t *testing.T) {
	rs := newRealStore(t, 0)
	rs.refuseUnbook = "no\x1b[2J\rway\u202e"
	ls := rs.serve(t)
	dir := t.TempDir()
	var log cleanupLog
	_, err := load.Run(t.Context(), load.Config{Addr: ls.Addr(), Clients: 2, Mix: load.Mix{Book: 1}, OnCleanup: log.add, JournalDir: dir},
		load.Window{Duration: 5 * time.Second, MaxRequests: 200})
	require.Len(t, log.get(), 1)
	c := log.get()[0]
	require.Positive(t, c.Booked, "the run booked")
	require.ErrorIs(t, err, load.ErrCleanup)
	require.NotEmpty(t, c.Left, "the server refused every UNBOOK")
	for _, b := range c.Left {
		assert.Equal(t, `the server answered: no\x1b[2J\rway\u202e`, b.Reason)
	}
	rs.mu.Lock()
	rs.refuseUnbook = ""
	rs.mu.Unlock()
	_, err = load.CleanupJournals(t.Context(), dir, "", time.Second) // the server takes them now
	require.NoError(t, err)
	assert.Empty(t, journals(t, dir))
	rs.check(t)
}

// startProxy relays ln to upstream until the test ends.
func startProxy(t *testing.T, upstream string, ln net.Listener) *faults.Proxy {
	t.Helper()
	p, err := faults.NewProxy(faults.Config{Upstream: upstream})
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	t.Cleanup(func() {
		p.Close()
		<-served
	})
	return p
}

// TestReadOnlySendsQueriesOnly: a read-only run sends no BOOK or UNBOOK,
// keeps no journal and has nothing to clean up.
func TestReadOnlySendsQueriesOnly(t *testing.T) {
	rs := newRealStore(t, 0)
	ls := rs.serve(t)
	before := rs.svc.Stats()
	dir := t.TempDir()
	var log cleanupLog
	res, err := load.Run(t.Context(), load.Config{Addr: ls.Addr(), Clients: 3, ReadOnly: true, OnCleanup: log.add, JournalDir: dir},
		load.Window{Duration: 5 * time.Second, MaxRequests: 200})
	require.NoError(t, err)
	assert.Zero(t, res.Errors.Total())
	after := rs.svc.Stats()
	assert.Equal(t, before.Book, after.Book, "no BOOK")
	assert.Equal(t, before.Unbook, after.Unbook, "no UNBOOK")
	assert.GreaterOrEqual(t, after.BookingsOnDate+after.BookingsForRoom-before.BookingsOnDate-before.BookingsForRoom, uint64(200))
	assert.Empty(t, log.get(), "nothing to clean up")
	assert.Empty(t, journals(t, dir))
	rs.check(t)

	err = load.Config{Addr: ls.Addr(), ReadOnly: true, Mix: load.Mix{Book: 1, BookingsOnDate: 1}}.Validate()
	require.ErrorIs(t, err, load.ErrInvalidConfig)
	assert.ErrorContains(t, err, "ReadOnly sends only queries")
}

// TestCleanupJournalsSkipsRunsInProgress: the journal of a run still
// going is locked, and CleanupJournals leaves it alone.
func TestCleanupJournalsSkipsRunsInProgress(t *testing.T) {
	rs := newRealStore(t, 0)
	ls := rs.serve(t)
	dir := t.TempDir()
	r := newRunner(t, load.Config{Addr: ls.Addr(), Clients: 2, JournalDir: dir, Mix: load.Mix{Book: 1}})
	_, err := r.Run(t.Context(), load.Window{Duration: 5 * time.Second, MaxRequests: 50})
	require.NoError(t, err)
	require.Len(t, journals(t, dir), 1)
	books, unbooks := rs.counts()
	done, err := load.CleanupJournals(t.Context(), dir, "", time.Second)
	require.NoError(t, err)
	require.Len(t, done, 1)
	assert.True(t, done[0].InUse)
	b2, u2 := rs.counts()
	assert.Equal(t, []int{books, unbooks}, []int{b2, u2}, "nothing was sent")

	require.NoError(t, r.Close())
	assert.Empty(t, journals(t, dir))
	rs.check(t)
}

// TestInProcessRunsBookInsideTheHorizon: a long bookings-only run against
// an in-process server, whose horizon is a few days, books and cancels
// without one refusal.
func TestInProcessRunsBookInsideTheHorizon(t *testing.T) {
	ls := startServer(t, load.ServerConfig{Horizon: 3})
	r := newRunner(t, load.Config{Server: ls, Clients: 2, Mix: load.Mix{Book: 1}})
	var n atomic.Int64
	for range 2 {
		res, err := r.Run(t.Context(), load.Window{Duration: 5 * time.Second, MaxRequests: 300})
		require.NoError(t, err)
		assert.Zero(t, res.Errors.Total(), "%+v", res.Errors)
		assert.Zero(t, res.Unavailable)
		n.Add(res.Requests)
	}
	assert.Equal(t, int64(600), n.Load())
}

func TestJournalDirIsPrivate(t *testing.T) {
	rs := newRealStore(t, 0)
	ls := rs.serve(t)
	dir := filepath.Join(t.TempDir(), "made")
	r := newRunner(t, load.Config{Addr: ls.Addr(), Clients: 1, JournalDir: dir})
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	require.NoError(t, r.Close())
}
