package booking_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/faults"
	"github.com/poolside-dev/poolside/internal/pgtest"
	"github.com/poolside-dev/poolside/wire"
)

// TestPostgresInstancesRace: three stores (as three servers would hold)
// on one database, 48 clients booking random rooms on 10 dates at once.
// The database keeps the rules across them: no date ever holds more than
// 5 bookings, no room is booked twice, and every store lists for every
// date exactly the bookings that were acknowledged.
func TestPostgresInstancesRace(t *testing.T) {
	db := pgtest.NewDB(t)
	stores := make([]*booking.PostgresStore, 3)
	for i := range stores {
		stores[i] = openPostgres(t, db.URL, booking.PostgresOptions{MaxConns: 8})
	}
	dates := make([]wire.Date, 10)
	for i := range dates {
		dates[i] = date(2026, 12, 1+i)
	}
	rooms := wire.Rooms()
	const clients, perClient = 48, 40
	var (
		mu    sync.Mutex
		acked = map[wire.Date]map[string]int{} // date -> room -> acknowledgements
		wg    sync.WaitGroup
	)
	ctx := context.Background()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			st := stores[c%len(stores)]
			for range perClient {
				d := dates[rng.IntN(len(dates))]
				room := rooms[rng.IntN(40)] // few rooms: duplicates are tried too
				err := st.Book(ctx, room, d, 5)
				if errors.Is(err, booking.ErrDuplicate) || errors.Is(err, booking.ErrFullyBooked) {
					continue
				}
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				if acked[d] == nil {
					acked[d] = map[string]int{}
				}
				acked[d][room]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, d := range dates {
		var want []string
		for room, n := range acked[d] {
			assert.Equal(t, 1, n, "room %s acknowledged %d times on %s", room, n, d)
			want = append(want, room)
		}
		sort.Strings(want)
		assert.LessOrEqual(t, len(want), 5, "date %s", d)
		assert.Len(t, want, 5, "48 × 40 attempts over 10 dates fill each of them")
		for i, st := range stores {
			got, err := st.RoomsOn(ctx, d)
			require.NoError(t, err)
			assert.Equal(t, want, got, "store %d, date %s", i, d)
		}
	}
}

// TestPostgresLimitUnderContention: the per-date limit holds when many
// bookings of distinct rooms on one date race, across stores; and
// cancellations free their places for later bookings.
func TestPostgresLimitUnderContention(t *testing.T) {
	db := pgtest.NewDB(t)
	a := openPostgres(t, db.URL, booking.PostgresOptions{MaxConns: 16})
	b := openPostgres(t, db.URL, booking.PostgresOptions{MaxConns: 16})
	d := date(2026, 12, 24)
	ctx := context.Background()
	var booked atomic.Int32
	var wg sync.WaitGroup
	for i, room := range wire.Rooms()[:64] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := a
			if i%2 == 1 {
				st = b
			}
			err := st.Book(ctx, room, d, 5)
			if err == nil {
				booked.Add(1)
				return
			}
			assert.ErrorIs(t, err, booking.ErrFullyBooked)
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 5, booked.Load())
	rooms, err := a.RoomsOn(ctx, d)
	require.NoError(t, err)
	require.Len(t, rooms, 5)
	require.NoError(t, b.Unbook(ctx, rooms[0], d))
	require.ErrorIs(t, b.Unbook(ctx, rooms[0], d), booking.ErrNotBooked)
	require.NoError(t, a.Book(ctx, "999", d, 5), "a cancellation frees a place")
	require.ErrorIs(t, b.Book(ctx, "998", d, 5), booking.ErrFullyBooked)
}

// TestOpenPostgresErrors: each way of failing to open says what happened,
// in words, and wraps the sentinel the command tells apart.
func TestOpenPostgresErrors(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func(url string) error {
		s, err := booking.OpenPostgres(ctx, booking.PostgresOptions{URL: url, ConnectTimeout: 5 * time.Second})
		if err == nil {
			s.Close()
		}
		return err
	}
	noChain := func(t *testing.T, err error) {
		t.Helper()
		for _, junk := range []string{"failed to connect to `", "dial tcp", "\n"} {
			assert.NotContains(t, err.Error(), junk)
		}
	}

	t.Run("unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close() // a port nobody listens on
		err = open(db.URLAt(addr, pgtest.Superuser, ""))
		require.ErrorIs(t, err, booking.ErrDatabaseUnreachable)
		assert.Contains(t, err.Error(), "connection refused")
		assert.Contains(t, err.Error(), addr)
		noChain(t, err)
	})
	t.Run("no such database", func(t *testing.T) {
		u := strings.Replace(db.URL, db.Name, "no_such_db", 1)
		err := open(u)
		require.ErrorIs(t, err, booking.ErrDatabaseUnreachable)
		assert.Contains(t, err.Error(), `database "no_such_db" does not exist`)
		noChain(t, err)
	})
	t.Run("credentials", func(t *testing.T) {
		if db.Addr == "" {
			t.Skip("needs the throwaway cluster, which checks passwords")
		}
		user := pgtest.PasswordUser(t, "poolside_pw", "right")
		err := open(db.URLAt(db.Addr, user, "wrong"))
		require.ErrorIs(t, err, booking.ErrDatabaseAuth)
		assert.Contains(t, err.Error(), "password authentication failed")
		assert.NotContains(t, err.Error(), "wrong", "the password is not repeated")
		noChain(t, err)
	})
	t.Run("schema of another version", func(t *testing.T) {
		require.NoError(t, open(db.URL))
		require.NoError(t, open(db.URL), "a second start finds the schema it made")
		db.Exec(t, "UPDATE poolside_schema SET version = 99")
		err := open(db.URL)
		require.ErrorIs(t, err, booking.ErrSchemaVersion)
		assert.Contains(t, err.Error(), "version 99")
		assert.Contains(t, err.Error(), fmt.Sprintf("version %d", booking.SchemaVersion))
	})
	t.Run("bad URL", func(t *testing.T) {
		err := open("postgres://u:secret@host:notaport/db")
		require.ErrorIs(t, err, booking.ErrInvalidConfig)
		assert.NotContains(t, err.Error(), "secret")
	})
}

// TestOpenPostgresConcurrentStarts: instances that start together create
// the schema once.
func TestOpenPostgresConcurrentStarts(t *testing.T) {
	db := pgtest.NewDB(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := booking.OpenPostgres(context.Background(), booking.PostgresOptions{URL: db.URL})
			if assert.NoError(t, err) {
				s.Close()
			}
		}()
	}
	wg.Wait()
}

// armed is a proxy fault that acts once, on the first chunk after Arm:
// cut the connection, or hang it until it is closed.
type armed struct {
	on   atomic.Bool
	hang bool
}

func (f *armed) Arm() { f.on.Store(true) }

func (f *armed) Inject(s *faults.Stream, next faults.Op) faults.Op {
	return func(p []byte) (int, error) {
		if f.on.CompareAndSwap(true, false) {
			if f.hang {
				return 0, s.Hang()
			}
			return 0, s.Cut()
		}
		return next(p)
	}
}

func (f *armed) String() string { return "armed" }

// proxied starts a fault proxy to the test's cluster whose replies (the
// database-to-poolside bytes) pass through f.
func proxied(t *testing.T, db pgtest.DB, f faults.Fault) string {
	t.Helper()
	if db.Addr == "" {
		t.Skip("needs the throwaway cluster's TCP address")
	}
	p, err := faults.NewProxy(faults.Config{Upstream: db.Addr, Down: []faults.Fault{f}})
	require.NoError(t, err)
	require.NoError(t, p.Start())
	t.Cleanup(func() { p.Close() })
	return db.URLAt(p.Addr().String(), pgtest.Superuser, "")
}

// TestPostgresCutDuringCommit: the connection to the database is cut after
// a BOOK's statement went out and before its answer came back. The booking
// committed; the store says it is in doubt (the client's reply says so),
// and a later query settles it. A read cut the same way is a plain error.
func TestPostgresCutDuringCommit(t *testing.T) {
	db := pgtest.NewDB(t)
	cut := &armed{}
	s := openPostgres(t, proxied(t, db, cut), booking.PostgresOptions{MaxConns: 1})
	ctx := context.Background()
	d := date(2026, 12, 2)
	require.NoError(t, s.Book(ctx, "101", d, 5), "warm the one connection")

	cut.Arm()
	err := s.Book(ctx, "102", d, 5)
	require.ErrorIs(t, err, booking.ErrInDoubt)
	assert.Equal(t, "Booking in doubt: the database connection was lost while it was being saved; ask BOOKINGSONDATE whether it was",
		booking.MsgStoreError(wire.ActionBook, err))
	assert.True(t, booking.IsInDoubt(booking.MsgStoreError(wire.ActionBook, err)))

	direct := openPostgres(t, db.URL, booking.PostgresOptions{})
	rooms, err := direct.RoomsOn(ctx, d)
	require.NoError(t, err)
	assert.Equal(t, []string{"101", "102"}, rooms, "the statement had gone out: it committed")

	// A new connection, its statements prepared, then the same cut.
	require.ErrorIs(t, s.Unbook(ctx, "199", d), booking.ErrNotBooked)
	cut.Arm()
	err = s.Unbook(ctx, "101", d)
	require.ErrorIs(t, err, booking.ErrInDoubt)
	assert.Contains(t, booking.MsgStoreError(wire.ActionUnbook, err), "Cancellation in doubt")

	_, err = s.RoomsOn(ctx, d)
	require.NoError(t, err)
	cut.Arm()
	_, err = s.RoomsOn(ctx, d)
	require.Error(t, err)
	assert.NotErrorIs(t, err, booking.ErrInDoubt, "a read is never in doubt")

	// The store recovers by itself: a new connection, the right answer.
	rooms, err = s.RoomsOn(ctx, d)
	require.NoError(t, err)
	assert.Equal(t, []string{"102"}, rooms)
}

// TestPostgresStalledLink: the database's answer never comes. The request
// ends at the store's deadline, in doubt (its statement went out), and
// the connection is not kept: none stays acquired, and the next request
// gets a fresh one. (The package's goroutine check sees nothing left.)
func TestPostgresStalledLink(t *testing.T) {
	db := pgtest.NewDB(t)
	stall := &armed{hang: true}
	s := openPostgres(t, proxied(t, db, stall), booking.PostgresOptions{MaxConns: 2, Timeout: 300 * time.Millisecond})
	ctx := context.Background()
	d := date(2026, 12, 3)
	require.NoError(t, s.Book(ctx, "201", d, 5))

	stall.Arm()
	done := make(chan error, 1)
	go func() { done <- s.Book(ctx, "202", d, 5) }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, booking.ErrInDoubt)
		assert.Contains(t, err.Error(), "no answer within the deadline")
	case <-time.After(30 * time.Second):
		t.Fatal("a request hung on a stalled database link, far past its 300ms deadline")
	}
	// The broken connection is closed in the background; pgx alone would
	// keep its place in the pool for 15 s, draining it.
	require.Eventually(t, func() bool { return s.PoolStats().Acquired == 0 }, 5*time.Second, 10*time.Millisecond,
		"the stalled connection gives its place back: %+v", s.PoolStats())

	rooms, err := s.RoomsOn(ctx, d)
	require.NoError(t, err)
	assert.Contains(t, rooms, "201")
	assert.LessOrEqual(t, s.PoolStats().Total, 2)
}

// TestPostgresDownAndBack: PostgreSQL stops (as in a crash) under a store.
// Every request gets an error at once, none hangs past its deadline; the
// store books again by itself within 5 s of the database being back, and
// nothing acknowledged before is lost.
func TestPostgresDownAndBack(t *testing.T) {
	cluster := pgtest.Server(t)
	db := pgtest.NewDB(t)
	s := openPostgres(t, db.URL, booking.PostgresOptions{MaxConns: 4, Timeout: 500 * time.Millisecond, ConnectTimeout: 500 * time.Millisecond})
	ctx := context.Background()
	d := date(2026, 12, 4)
	require.NoError(t, s.Book(ctx, "301", d, 5))

	cluster.Stop(t, "immediate")
	for i := range 20 {
		done := make(chan error, 1)
		go func() { done <- s.Book(ctx, fmt.Sprintf("3%02d", 2+i%30), d, 5) }()
		select {
		case err := <-done:
			require.Error(t, err)
			assert.True(t, errors.Is(err, booking.ErrUnavailable) || errors.Is(err, booking.ErrInDoubt), "%v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("a request hung while the database was down")
		}
	}
	assert.True(t, s.PoolStats().Down, "the store knows the database is down")
	err := s.Book(ctx, "330", d, 5)
	require.ErrorIs(t, err, booking.ErrUnavailable, "while down, nothing is sent")
	assert.Equal(t, "Booking not saved: the database is unavailable; try again later", booking.MsgStoreError(wire.ActionBook, err))

	cluster.Start(t)
	back := time.Now()
	require.Eventually(t, func() bool { return s.Book(ctx, "331", d, 5) == nil }, 5*time.Second, 50*time.Millisecond,
		"books again within 5 s of the database being back")
	t.Logf("booking again %v after the database was back", time.Since(back).Round(time.Millisecond))
	rooms, err := s.RoomsOn(ctx, d)
	require.NoError(t, err)
	assert.Contains(t, rooms, "301", "acknowledged before the crash")
	assert.Contains(t, rooms, "331")
	assert.False(t, s.PoolStats().Down)
}
