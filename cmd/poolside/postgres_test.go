package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/internal/pgtest"
	"github.com/poolside-dev/poolside/internal/wiretest"
	"github.com/poolside-dev/poolside/wire"
)

// The multi-instance tests: several "poolside serve --store postgres"
// processes on one database, loaded by clients spread over them.

// pgDBTimeout is the instances' --db-timeout.
const pgDBTimeout = time.Second

// replyDeadline bounds each request of the load: well past --db-timeout,
// so that a request still unanswered then has hung.
const replyDeadline = pgDBTimeout + 9*time.Second

// startInstances starts n servers on the database at url.
func startInstances(t *testing.T, n int, url string, args ...string) []*serveProcess {
	t.Helper()
	ps := make([]*serveProcess, n)
	for i := range ps {
		ps[i] = startServe(t, append([]string{"--store", "postgres", "--db-url", url, "--db-timeout", pgDBTimeout.String()}, args...)...)
	}
	return ps
}

// pgLedger is what the clients of a load saw.
type pgLedger struct {
	mu       sync.Mutex
	acked    map[slot]int  // acknowledged BOOKs
	inDoubt  map[slot]bool // told in doubt, or no reply
	refused  int           // refused by a rule
	notSaved int           // told the booking was not saved
	errs     map[string]int
	hung     int // requests with no answer by replyDeadline
}

func newPGLedger() *pgLedger {
	return &pgLedger{acked: map[slot]int{}, inDoubt: map[slot]bool{}, errs: map[string]int{}}
}

// pgLoad is a bounded booking load: clients spread over the servers, each
// booking random rooms (of 40) on dates, until stop is closed or each has
// made perClient requests (or 90 s have passed). A client whose server goes away moves to the
// next one.
type pgLoad struct {
	addrs     []string
	dates     []wire.Date
	clients   int
	perClient int
	stop      chan struct{}
	ledger    *pgLedger
	acks      atomic.Int64
	wg        sync.WaitGroup
}

func (l *pgLoad) start(t *testing.T) {
	for c := range l.clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.client(t, c)
		}()
	}
}

func (l *pgLoad) client(t *testing.T, c int) {
	rng := rand.New(rand.NewPCG(uint64(c), 42))
	rooms := wire.Rooms()[:40]
	server := c % len(l.addrs)
	var nc net.Conn
	defer func() {
		if nc != nil {
			nc.Close()
		}
	}()
	deadline := time.Now().Add(90 * time.Second) // bounded in time as in count
	for i := 0; i < l.perClient && time.Now().Before(deadline); i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		if nc == nil {
			var err error
			if nc, err = net.DialTimeout("tcp", l.addrs[server], 5*time.Second); err != nil {
				nc = nil
				server = (server + 1) % len(l.addrs)
				continue
			}
		}
		s := slot{room: rooms[rng.IntN(len(rooms))], date: l.dates[rng.IntN(len(l.dates))]}
		_ = nc.SetDeadline(time.Now().Add(replyDeadline))
		reply, err := book(nc, s)
		l.ledger.mu.Lock()
		switch {
		case err != nil:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				l.ledger.hung++
			}
			l.ledger.inDoubt[s] = true // the request may have gone out
			nc.Close()
			nc = nil
			server = (server + 1) % len(l.addrs)
		case !reply.IsError():
			l.ledger.acked[s]++
			l.acks.Add(1)
		case reply.Message == wire.MsgDuplicate || reply.Message == wire.MsgFullyBooked(s.date):
			l.ledger.refused++
		case booking.IsInDoubt(reply.Message):
			l.ledger.inDoubt[s] = true
			l.ledger.errs[reply.Message]++
		case booking.IsStoreError(reply.Message):
			l.ledger.notSaved++
			l.ledger.errs[reply.Message]++
		default:
			t.Errorf("unexpected reply to BOOK %v: %q", s, reply.Message)
		}
		l.ledger.mu.Unlock()
	}
}

// waitAcks waits until the load has n acknowledgements.
func (l *pgLoad) waitAcks(t *testing.T, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return l.acks.Load() >= n }, 60*time.Second, 5*time.Millisecond,
		"the load did not get %d acknowledgements in 60 s", n)
}

// finish stops the load and waits for its clients.
func (l *pgLoad) finish() {
	close(l.stop)
	l.wg.Wait()
}

// futureDates returns n dates from tomorrow on, inside any horizon.
func futureDates(n int) []wire.Date {
	today := wire.FromTime(time.Now())
	ds := make([]wire.Date, n)
	for i := range ds {
		ds[i] = today + 1 + wire.Date(i)
	}
	return ds
}

// roomsOn asks the server at addr for the rooms booked on d.
func roomsOn(t *testing.T, addr string, d wire.Date) []string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(30*time.Second)))
	r, err := wiretest.Exchange(nc, wire.Request{Action: wire.ActionBookingsOnDate, Date: d})
	require.NoError(t, err)
	if r.IsError() {
		require.Equal(t, wire.MsgNoRoomsOn(d), r.Message)
		return nil
	}
	sort.Strings(r.Rooms)
	return r.Rooms
}

// checkLedger checks what every server in addrs says of each date against
// the ledger: at most 5 bookings, each acknowledged one there (once), and
// no room there that was neither acknowledged nor in doubt. With exact,
// nothing was in doubt and the lists must equal the acknowledged sets.
func checkLedger(t *testing.T, addrs []string, dates []wire.Date, lg *pgLedger, exact bool) {
	t.Helper()
	lg.mu.Lock()
	defer lg.mu.Unlock()
	for s, n := range lg.acked {
		assert.Equal(t, 1, n, "booking %v acknowledged %d times", s, n)
	}
	for _, d := range dates {
		var want []string
		for s := range lg.acked {
			if s.date == d {
				want = append(want, s.room)
			}
		}
		sort.Strings(want)
		for _, addr := range addrs {
			got := roomsOn(t, addr, d)
			assert.LessOrEqual(t, len(got), 5, "%s on %s", addr, d)
			if exact {
				assert.Equal(t, want, got, "%s on %s: the acknowledged set", addr, d)
				continue
			}
			for _, room := range want {
				assert.Contains(t, got, room, "%s on %s: acknowledged booking lost", addr, d)
			}
			for _, room := range got {
				s := slot{room, d}
				assert.True(t, lg.acked[s] > 0 || lg.inDoubt[s], "%s on %s: room %s neither acknowledged nor in doubt", addr, d, room)
			}
		}
	}
}

// TestInstancesShareTheRules: 3 instances, 48 clients spread over them,
// all booking random rooms on 10 dates at once. No date ever holds more
// than 5 bookings, no room is booked twice, and every instance answers
// BOOKINGSONDATE for every date with exactly the acknowledged set.
func TestInstancesShareTheRules(t *testing.T) {
	db := pgtest.NewDB(t)
	ps := startInstances(t, 3, db.URL)
	addrs := []string{ps[0].addr, ps[1].addr, ps[2].addr}
	l := &pgLoad{addrs: addrs, dates: futureDates(10), clients: 48, perClient: 25, stop: make(chan struct{}), ledger: newPGLedger()}
	l.start(t)
	l.wg.Wait()
	assert.Empty(t, l.ledger.inDoubt, "no faults: nothing in doubt")
	assert.Zero(t, l.ledger.notSaved, "no faults: every booking saved or refused by a rule: %v", l.ledger.errs)
	assert.Equal(t, int64(50), l.acks.Load(), "48 × 25 attempts fill all 10 dates, 5 each")
	checkLedger(t, addrs, l.dates, l.ledger, true)
}

// TestInstanceKilledMidLoad: one of 3 instances is killed with SIGKILL in
// the middle of the load. The others keep serving, and every booking a
// client saw acknowledged is there afterwards.
func TestInstanceKilledMidLoad(t *testing.T) {
	db := pgtest.NewDB(t)
	ps := startInstances(t, 3, db.URL)
	addrs := []string{ps[0].addr, ps[1].addr, ps[2].addr}
	// 200 dates, so the load does not run out of free places.
	l := &pgLoad{addrs: addrs, dates: futureDates(200), clients: 24, perClient: 200, stop: make(chan struct{}), ledger: newPGLedger()}
	l.start(t)
	l.waitAcks(t, 100)
	err := ps[0].stop(t, syscall.SIGKILL)
	var ee interface{ Sys() any }
	require.True(t, errors.As(err, &ee), "killed, not exited: %v", err)
	before := l.acks.Load()
	l.waitAcks(t, before+100) // the survivors keep serving
	l.finish()
	t.Logf("%d acknowledged (%d after the kill), %d in doubt, %d refused", l.acks.Load(), l.acks.Load()-before, len(l.ledger.inDoubt), l.ledger.refused)
	checkLedger(t, addrs[1:], l.dates, l.ledger, false)
}

// TestDatabaseRestartMidLoad: PostgreSQL stops (immediate shutdown, as in
// a crash) under 3 loaded instances and starts again. While it is down the
// clients get clear errors and no request hangs past its deadline; within
// 5 s of it being back every instance books again, without a restart; no
// acknowledged booking is lost.
func TestDatabaseRestartMidLoad(t *testing.T) {
	cluster := pgtest.Server(t)
	db := pgtest.NewDB(t)
	ps := startInstances(t, 3, db.URL)
	addrs := []string{ps[0].addr, ps[1].addr, ps[2].addr}
	l := &pgLoad{addrs: addrs, dates: futureDates(300), clients: 12, perClient: 100000, stop: make(chan struct{}), ledger: newPGLedger()}
	l.start(t)
	l.waitAcks(t, 100)

	cluster.Stop(t, "immediate")
	// Requests go on while it is down: wait until each instance has told
	// a client so.
	require.Eventually(t, func() bool {
		l.ledger.mu.Lock()
		defer l.ledger.mu.Unlock()
		return l.ledger.notSaved >= 30
	}, 30*time.Second, 5*time.Millisecond, "clients are told the database is unavailable")
	cluster.Start(t)
	back := time.Now()

	for i, addr := range addrs {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		s := slot{room: fmt.Sprintf("9%02d", i+1), date: futureDates(301)[300]}
		require.Eventually(t, func() bool {
			_ = nc.SetDeadline(time.Now().Add(replyDeadline))
			r, err := book(nc, s)
			return err == nil && !r.IsError()
		}, 5*time.Second-time.Since(back), 20*time.Millisecond, "instance %d books again within 5 s of the database being back", i)
		nc.Close()
	}
	t.Logf("every instance booked again %v after the database was back", time.Since(back).Round(time.Millisecond))
	l.waitAcks(t, l.acks.Load()+50)
	l.finish()

	l.ledger.mu.Lock()
	assert.Zero(t, l.ledger.hung, "no request hung past its deadline")
	assert.Contains(t, l.ledger.errs, "Booking not saved: the database is unavailable; try again later")
	t.Logf("%d acknowledged, %d not saved, %d in doubt: %v", l.acks.Load(), l.ledger.notSaved, len(l.ledger.inDoubt), l.ledger.errs)
	l.ledger.mu.Unlock()
	checkLedger(t, addrs, l.dates, l.ledger, false)
}

// TestBenchSeveralInstancesWithMetrics: bench --addr A,B with --metrics
// A',B' spreads its clients over two instances on one database, reports
// each and the sum, and shows from each server's /metrics the time
// requests waited for a database connection beside the time they waited
// for a worker; with 8 workers sharing 2 connections it says the
// database pool is the limit (read-only: each query holds a connection).
func TestBenchSeveralInstancesWithMetrics(t *testing.T) {
	withJournalDir(t)
	db := pgtest.NewDB(t)
	args := []string{"--workers", "8", "--db-conns", "2", "--work-delay", "0s", "--metrics-addr", "127.0.0.1:0"}
	ps := startInstances(t, 2, db.URL, args...)
	a, b := ps[0], ps[1]
	ma, mb := metricsURL(t, a), metricsURL(t, b)
	out, _, err := runCLI(t, "bench", "--addr", a.addr+","+b.addr, "--metrics", ma+","+mb,
		"--clients", "16", "--duration", "1s", "--warmup", "100ms", "--read-only")
	require.NoError(t, err, out)
	assert.Contains(t, out, a.addr)
	assert.Contains(t, out, b.addr)
	assert.Contains(t, out, "sum of 2")
	assert.Contains(t, out, "database connection wait")
	assert.Contains(t, out, "(2 connections, 8 workers)")
	assert.Contains(t, out, "the database pool is the limit, 8 workers share 2 database connections and 6 of them only wait")

	_, _, err = runCLI(t, "bench", "--addr", a.addr+","+b.addr, "--metrics", ma)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--metrics names 1 URLs for the 2 servers")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	ln.Close()
	_, _, err = runCLI(t, "bench", "--addr", a.addr, "--metrics", "http://"+closed+"/metrics")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "could not read the server's metrics (--metrics): cannot read http://"+closed+"/metrics: connection refused")
}

// TestServePostgresStartErrors: serve --store postgres says in one
// sentence, without a Go error chain, why it cannot start on its
// database and what to check, and prints no ready line.
func TestServePostgresStartErrors(t *testing.T) {
	db := pgtest.NewDB(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	ln.Close()
	db.Exec(t, "CREATE TABLE poolside_schema (version integer NOT NULL, created timestamptz NOT NULL DEFAULT now()); INSERT INTO poolside_schema (version) VALUES (7)")

	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"unreachable", []string{"--db-url", db.URLAt(closed, pgtest.Superuser, "")}, exitInternal,
			[]string{"cannot open the booking database: cannot connect to database \"" + db.Name + "\" at " + closed, "connection refused", "check that PostgreSQL is running"}},
		{"no such database", []string{"--db-url", strings.Replace(db.URL, db.Name, "nope_"+db.Name, 1)}, exitInternal,
			[]string{"does not exist", "--db-url (or POOLSIDE_DB_URL)"}},
		{"schema of another version", []string{"--db-url", db.URL}, exitInternal,
			[]string{"the database holds poolside schema version 7; this poolside reads version 1", "this database belongs to another poolside version"}},
		{"no URL", nil, exitUsage, []string{"--store postgres needs the database: give --db-url"}},
		{"bad URL", []string{"--db-url", "postgres://u:hush@h:port/x"}, exitUsage, []string{"--db-url: cannot parse"}},
		{"db flags without postgres", []string{"--store", "memory", "--db-conns", "4"}, exitUsage, []string{"the --db flags are for --store postgres"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(dbURLEnv, "")
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--store", "postgres"}, tc.args...)
			stdout, _, err := runCLI(t, args...)
			require.Error(t, err)
			assert.Equal(t, tc.code, exitCode(err), "%v", err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "booking:", "no Go error chain")
			assert.NotContains(t, err.Error(), "hush", "no password")
			assert.Empty(t, stdout)
		})
	}
}

// TestCheckPassesOnServe: poolside check passes against poolside serve,
// every model on memory and bolt, and three instances on PostgreSQL; and
// leaves the server as it found it.
func TestCheckPassesOnServe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	type target struct {
		name  string
		addrs func(t *testing.T) []string
	}
	var targets []target
	for _, model := range []string{"pool", "serial", "conn", "unbounded"} {
		for _, store := range []string{"memory", "bolt"} {
			targets = append(targets, target{model + "/" + store, func(t *testing.T) []string {
				args := []string{"--model", model, "--store", store}
				if store == "bolt" {
					args = append(args, "--data", filepath.Join(t.TempDir(), "check.db"))
				}
				if model == "conn" {
					args = append(args, "--workers", "16") // a worker per client connection, settling reads included
				}
				return []string{startServe(t, args...).addr}
			}})
		}
	}
	targets = append(targets, target{"3 instances on postgres", func(t *testing.T) []string {
		ps := startInstances(t, 3, pgtest.NewDB(t).URL)
		return []string{ps[0].addr, ps[1].addr, ps[2].addr}
	}})
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			addrs := tc.addrs(t)
			jsonFile := filepath.Join(t.TempDir(), "check.json")
			out, _, err := runCLI(t, "check", "--addr", strings.Join(addrs, ","), "--ops", "600", "--json", jsonFile)
			require.NoError(t, err, out)
			assert.Contains(t, out, "verdict: linearizable")
			assert.Contains(t, out, "0 lost, 0 unexpected, 0 duplicated")
			b, err := os.ReadFile(jsonFile)
			require.NoError(t, err)
			assert.Contains(t, string(b), `"ok": true`)
			for _, d := range futureDates(60)[28:] { // --seed 1: from 31 days on
				assert.Empty(t, roomsOn(t, addrs[0], d), "check left bookings on %s", d)
			}
		})
	}
}
