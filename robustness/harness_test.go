package robustness

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/check"
	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/faults"
	"github.com/poolside-dev/poolside/wire"
)

// grace is how far past its deadline a call may return before the suite
// calls it a hang: scheduling on two busy cores with the race detector.
const grace = 2 * time.Second

// firstDate is the first date the clients book; client k books
// firstDate+64k, +64k+1, ..., so no date is ever full.
var firstDate = wire.DateOf(2026, 3, 1)

// tap is one connection of a client, under the faults.Recorder the client
// uses: it keeps every byte read and written, and for each byte read the
// call (op) that read it.
type tap struct {
	net.Conn
	a   *actor
	rec *faults.Recorder

	mu    sync.Mutex
	in    []byte // bytes received, in order
	inOp  []int  // inOp[i]: the op that read in[i]
	out   []byte // bytes written
	wrote []int  // the ops that called Write, in order
}

// Read reads from the connection and keeps what arrived.
func (tp *tap) Read(p []byte) (int, error) {
	n, err := tp.Conn.Read(p)
	op := int(tp.a.cur.Load())
	tp.mu.Lock()
	tp.in = append(tp.in, p[:n]...)
	for range n {
		tp.inOp = append(tp.inOp, op)
	}
	tp.mu.Unlock()
	return n, err
}

// Write writes to the connection and keeps what was written.
func (tp *tap) Write(p []byte) (int, error) {
	n, err := tp.Conn.Write(p)
	op := int(tp.a.cur.Load())
	tp.mu.Lock()
	tp.out = append(tp.out, p[:n]...)
	tp.wrote = append(tp.wrote, op)
	tp.mu.Unlock()
	return n, err
}

// snapshot returns copies of what went through tp.
func (tp *tap) snapshot() (in []byte, inOp []int, out []byte) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return slices.Clone(tp.in), slices.Clone(tp.inOp), slices.Clone(tp.out)
}

// used reports whether call i wrote or read on tp.
func (tp *tap) used(i int) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return slices.Contains(tp.wrote, i) || slices.Contains(tp.inOp, i)
}

// op is one call a client made, and how it ended.
type op struct {
	req        wire.Request
	start, end uint64 // the scenario's clock: a call with end < start of another finished before it began
	elapsed    time.Duration
	err        error
	dates      []wire.Date // BOOKINGSFORROOM's answer
	rooms      []string    // BOOKINGSONDATE's answer
}

// actor is one client of a scenario, with its own room.
type actor struct {
	k    int
	room string
	c    *client.Client
	cur  atomic.Int64 // the op in progress, stamped on the bytes it reads

	mu    sync.Mutex
	conns []*tap
	ops   []op
}

// dial is the client's Config.Dialer: a TCP connection, kept by a tap,
// recorded by a faults.Recorder.
func (a *actor) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tp := &tap{Conn: nc, a: a}
	tp.rec = faults.NewRecorder(tp)
	a.mu.Lock()
	a.conns = append(a.conns, tp)
	a.mu.Unlock()
	return tp.rec, nil
}

// request returns the i-th request of client k: mostly BOOKs of the
// client's room on dates of its own, every third call a query, alternately
// BOOKINGSFORROOM and BOOKINGSONDATE (of the client's last booking date).
func (a *actor) request(i int) wire.Request {
	books := i - i/3 // BOOKs before call i
	date := firstDate + wire.Date(64*a.k+books)
	switch {
	case i%3 != 2:
		return wire.Request{Action: wire.ActionBook, Room: a.room, Date: date}
	case (i/3)%2 == 0:
		return wire.Request{Action: wire.ActionBookingsForRoom, Room: a.room}
	}
	return wire.Request{Action: wire.ActionBookingsOnDate, Date: date - 1}
}

// run makes the client's calls one after another. It touches no testing.T.
func (a *actor) run(n int, clock *atomic.Uint64) {
	for i := range n {
		a.cur.Store(int64(i))
		o := op{req: a.request(i), start: clock.Add(1)}
		t0 := time.Now()
		ctx := context.Background()
		switch o.req.Action {
		case wire.ActionBook:
			o.err = a.c.Book(ctx, o.req.Room, o.req.Date.Time())
		case wire.ActionBookingsForRoom:
			var dates []time.Time
			dates, o.err = a.c.BookingsForRoom(ctx, o.req.Room)
			for _, d := range dates {
				o.dates = append(o.dates, wire.FromTime(d))
			}
		case wire.ActionBookingsOnDate:
			o.rooms, o.err = a.c.BookingsOnDate(ctx, o.req.Date.Time())
		}
		o.elapsed = time.Since(t0)
		o.end = clock.Add(1)
		a.mu.Lock()
		a.ops = append(a.ops, o)
		a.mu.Unlock()
	}
}

// outcome is everything a scenario left behind, for the checks.
type outcome struct {
	sc      scenario
	actors  []*actor
	store   map[slot]bool  // the store's contents at the end
	settled map[slot]bool  // the same, as BookingsForRoom tells a clean client
	ran     map[slot]int   // BOOKs the handler ran
	sent    map[slot]int   // BOOKs the server can have received, faults applied
	panics  uint64         // handler panics
	notes   []string       // things worth saying about a passing run
	fails   []string       // broken guarantees
	counts  map[string]int // how calls ended, by kind
	reads   int            // client reads checked against frame ends
}

func (o *outcome) fail(format string, args ...any) {
	o.fails = append(o.fails, fmt.Sprintf(format, args...))
}

// runScenario runs sc against a fresh server and proxy and checks every
// guarantee of the package documentation. A failure prints the scenario
// and the command that replays it.
func runScenario(t *testing.T, sc scenario) *outcome {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scenario: %s\nreplay:   %s", sc, sc.replay())
		}
	})
	cfg := serverConfig(sc.model)
	cfg.ReadTimeout = max(4*sc.timeout, time.Second)
	tg := startTarget(t, cfg)
	p := startProxy(t, tg.addr, sc.up, sc.down, sc.seed)

	out := &outcome{sc: sc, counts: make(map[string]int)}
	for k := range sc.clients {
		a := &actor{k: k, room: allRooms[k]}
		c, err := client.Dial(t.Context(), p.Addr().String(), client.Config{
			Timeout: sc.timeout, Retries: 1, RetryBackoff: time.Millisecond, Dialer: a.dial,
		})
		require.NoError(t, err, "dialing the proxy")
		t.Cleanup(func() { _ = c.Close() })
		a.c = c
		out.actors = append(out.actors, a)
	}

	var clock atomic.Uint64
	limit := time.Duration(sc.ops)*(sc.timeout+grace) + 10*time.Second
	within(t, limit, "the clients' calls", func() {
		var wg sync.WaitGroup
		for _, a := range out.actors {
			wg.Go(func() { a.run(sc.ops, &clock) })
		}
		wg.Wait()
	})

	// Stop every relay, so that nothing more reaches the server, and let
	// the server finish what it received; then settle the calls in doubt.
	for _, a := range out.actors {
		_ = a.c.Close()
	}
	within(t, 10*time.Second, "closing the proxy", func() { _ = p.Close() })
	if err := tg.quiesce(10 * time.Second); err != nil {
		t.Fatalf("%v: a hang. Goroutines:\n%s", err, goroutines())
	}
	out.settle(t, tg)
	out.check()
	if n := p.Stats().DialErrors; n != 0 {
		out.fail("the proxy failed to dial the server %d times", n)
	}

	for _, n := range out.notes {
		t.Log(n)
	}
	for _, f := range out.fails {
		t.Error(f)
	}
	t.Logf("%s: %s", sc, out.summary())
	return out
}

// settle reads the store directly and through a clean connection, and
// what the server ran and can have received.
func (o *outcome) settle(t *testing.T, tg *target) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var err error
	o.store, err = tg.contents(ctx)
	require.NoError(t, err)
	o.ran = tg.ranBooks()
	o.panics = tg.srv.Stats().Panics

	clean, err := client.Dial(ctx, tg.addr, client.Config{Timeout: 5 * time.Second})
	require.NoError(t, err)
	defer clean.Close()
	o.settled = make(map[slot]bool)
	for _, room := range allRooms {
		dates, err := clean.BookingsForRoom(ctx, room)
		require.NoError(t, err, "settling room %s over a clean connection", room)
		for _, d := range dates {
			o.settled[slot{room, wire.FromTime(d)}] = true
		}
	}

	o.sent = make(map[slot]int)
	for _, a := range o.actors {
		for _, tp := range a.conns {
			_, _, written := tp.snapshot()
			for _, req := range requests(upstreamView(written, o.sc.up)) {
				if req.Action == wire.ActionBook {
					o.sent[slot{req.Room, req.Date}]++
				}
			}
		}
	}
}

// check runs every check on a settled outcome.
func (o *outcome) check() {
	corrupting := has[faults.Corrupt](o.sc.up) || has[faults.Corrupt](o.sc.down)
	if o.panics != 0 {
		o.fail("the handler panicked %d times", o.panics)
	}
	o.checkLedger()
	if corrupting {
		// A corrupted byte that still parses is an answer the server never
		// gave: no history check can tell it from a server's bug. What
		// still holds is that nothing acknowledged is lost.
		o.checkAcknowledged()
	} else {
		o.checkHistory()
	}
	for _, a := range o.actors {
		o.checkReads(a)
		for i, c := range a.ops {
			o.checkCall(a, i, c, corrupting)
		}
	}
	if onlyBenign(o.sc.up) && onlyBenign(o.sc.down) && o.counts["ok"] != o.sc.clients*o.sc.ops {
		o.fail("only delays and splits were injected, yet %d of %d calls failed", o.sc.clients*o.sc.ops-o.counts["ok"], o.sc.clients*o.sc.ops)
	}
}

// checkHistory: the calls, each between its start and its end on the
// scenario's clock, and the store's contents read at the end, are a
// linearizable history of the booking rules (package check): nothing
// acknowledged is lost, nothing is booked that no call made, every
// answer can be explained by some order of the calls.
func (o *outcome) checkHistory() {
	var h check.History
	var end uint64
	dates := map[wire.Date]bool{}
	for _, a := range o.actors {
		for _, c := range a.ops {
			op := check.Op{Client: a.k, Action: c.req.Action, Room: c.req.Room, Date: c.req.Date, Call: int64(c.start), Return: int64(c.end)}
			check.Classify(&op, wire.Reply{Action: c.req.Action, Room: c.req.Room, Date: c.req.Date, Rooms: c.rooms, Dates: c.dates}, c.err)
			op.ID = len(h.Ops)
			h.Ops = append(h.Ops, op)
			end = max(end, c.end)
			if c.req.Action != wire.ActionBookingsForRoom {
				dates[c.req.Date] = true
			}
		}
	}
	for s := range o.store {
		dates[s.date] = true
	}
	// The store's contents, read once every call was settled: the
	// settling reads of the history.
	for d := range dates {
		var rooms []string
		for s := range o.store {
			if s.date == d {
				rooms = append(rooms, s.room)
			}
		}
		slices.Sort(rooms)
		end++
		h.Ops = append(h.Ops, check.Op{ID: len(h.Ops), Client: len(o.actors), Action: wire.ActionBookingsOnDate, Date: d,
			Call: int64(end), Return: int64(end), Status: check.OK, Answer: check.Done, Rooms: rooms, Final: true})
	}
	res := check.Check(h, check.Options{Timeout: 10 * time.Second})
	if !res.OK() {
		what := string(res.Verdict)
		if res.Op != nil {
			what += ": no order explains " + res.Op.String()
		}
		o.fail("history check: %s %v", what, res.Anomalies)
	}
}

// checkAcknowledged: every BOOK a client saw acknowledged is in the
// store.
func (o *outcome) checkAcknowledged() {
	for _, a := range o.actors {
		for _, c := range a.ops {
			if c.req.Action == wire.ActionBook && c.err == nil && !o.store[slot{c.req.Room, c.req.Date}] {
				o.fail("lost: client %d saw %s acknowledged, but it is not in the store", a.k, slot{c.req.Room, c.req.Date})
			}
		}
	}
}

// checkLedger: nothing is in the store that was not sent, nothing ran
// more often than it was sent, and a clean client sees the store as it
// is. (That nothing acknowledged is lost is checkHistory's, or
// checkAcknowledged's under corruption.)
func (o *outcome) checkLedger() {
	if !maps.Equal(o.store, o.settled) {
		o.fail("BookingsForRoom over a clean connection disagrees with the store: store %v, clean client %v", keys(o.store), keys(o.settled))
	}
	for s := range o.store {
		if o.sent[s] == 0 {
			o.fail("foreign: %s is in the store, but no client sent it", s)
		}
	}
	for s, n := range o.ran {
		if n > o.sent[s] {
			o.fail("doubled: the handler ran BOOK %s %d times; the clients sent it %d times", s, n, o.sent[s])
		}
	}
}

// checkReads: every read the client made stops at the end of the frame it
// reads, by the bytes the client actually received.
func (o *outcome) checkReads(a *actor) {
	for ci, tp := range a.conns {
		in, _, _ := tp.snapshot()
		for _, call := range tp.rec.Calls() {
			if call.Dir != faults.Read {
				continue
			}
			o.reads++
			if end := frameEnd(in, call.Offset); call.Reach() > end {
				o.fail("over-read: client %d, connection %d: a Read at offset %d asked for %d bytes, past the frame end at %d",
					a.k, ci, call.Offset, call.Len, end)
			}
		}
	}
}

// lastRead returns what call i of a read on the last connection it used
// (its last attempt): the bytes received there and the range [lo, hi) the
// call read. ok is false when the call read nothing there.
func (a *actor) lastRead(i int) (in []byte, lo, hi int, ok bool) {
	for ci := len(a.conns) - 1; ci >= 0; ci-- {
		if !a.conns[ci].used(i) {
			continue
		}
		in, inOp, _ := a.conns[ci].snapshot()
		lo = slices.Index(inOp, i)
		if lo < 0 {
			return nil, 0, 0, false
		}
		hi = lo
		for hi < len(inOp) && inOp[hi] == i {
			hi++
		}
		return in, lo, hi, true
	}
	return nil, 0, 0, false
}

// checkCall checks one call's result and how long it took.
func (o *outcome) checkCall(a *actor, i int, c op, corrupting bool) {
	what := fmt.Sprintf("client %d call %d (%s %s %v)", a.k, i, c.req.Action, c.req.Room, c.req.Date)
	o.counts[kind(c.err)]++
	if c.elapsed > o.sc.timeout+grace {
		o.fail("%s took %v, past its %v deadline", what, c.elapsed, o.sc.timeout)
	}

	// A connection that ends inside a frame the call was reading: the
	// call failed, and with a clean cut it says truncated.
	in, lo, hi, read := a.lastRead(i)
	if read {
		if start, partial := partialFrame(in); partial && hi == len(in) && lo <= start {
			switch {
			case c.err == nil:
				o.fail("%s returned success from a frame cut short after %d bytes", what, hi-start)
			case o.strictTruncation() && !errors.Is(c.err, client.ErrTruncated):
				o.fail("%s: the reply was cut after %d bytes, but the error does not say truncated: %v", what, hi-start, c.err)
			}
		}
	}
	if errors.Is(c.err, client.ErrTruncated) {
		if _, partial := partialFrame(in); !read || !partial || hi != len(in) {
			o.fail("%s says truncated, but its connection did not end inside the reply it read: %v", what, c.err)
		}
	}

	if c.err != nil {
		if !corrupting {
			var se *client.ServerError
			var pe *wire.ProtocolError
			switch {
			case errors.Is(c.err, client.ErrMismatch), errors.Is(c.err, client.ErrMalformedReply), errors.As(c.err, &pe):
				o.fail("%s got a foreign or malformed reply with no corruption injected: %v", what, c.err)
			case errors.As(c.err, &se) && se.Message != wire.MsgBusy && se.Message != wire.MsgReadData:
				o.fail("%s was refused (%q) with no corruption injected", what, se.Message)
			}
		}
		return
	}

	// Success: the answer must be what the request implies.
	var problem string
	switch c.req.Action {
	case wire.ActionBookingsForRoom:
		problem = o.roomAnswer(c, c.dates)
	case wire.ActionBookingsOnDate:
		problem = o.dateAnswer(c, c.rooms)
	}
	if problem == "" {
		return
	}
	// The protocol has no checksum: a flipped payload byte in a query's
	// reply cannot be detected. It is acceptable only if the reply is
	// right once the injected flip is undone.
	if read {
		if orig, flipped := o.unflip(in[lo:hi], lo); flipped {
			var rep wire.Reply
			if err := rep.UnmarshalBinary(orig[2:]); err == nil {
				p := o.roomAnswer(c, rep.Dates)
				if c.req.Action == wire.ActionBookingsOnDate {
					p = o.dateAnswer(c, rep.Rooms)
				}
				if p == "" {
					o.counts["corrupted-undetectable"]++
					o.notes = append(o.notes, fmt.Sprintf("%s returned a reply with an injected bit flip, which the protocol cannot detect (%s); undoing the flip gives the right answer", what, problem))
					return
				}
			}
		}
	}
	o.fail("%s returned a wrong answer as success: %s", what, problem)
}

// strictTruncation reports whether every connection the scenario drops
// ends with a clean close (FIN), so that a cut reply must read as
// ErrTruncated: the Down faults cut or short-write, and nothing else
// resets, stalls or swallows.
func (o *outcome) strictTruncation() bool {
	if len(o.sc.up) != 0 {
		return false
	}
	for _, f := range o.sc.down {
		switch f.(type) {
		case faults.Cut, faults.ShortWrite, faults.Chunk:
		default:
			return false
		}
	}
	return true
}

// unflip undoes the Down corruptions that fall in frame, which starts at
// stream offset off, and reports whether there were any.
func (o *outcome) unflip(frame []byte, off int) ([]byte, bool) {
	orig := slices.Clone(frame)
	flipped := false
	for _, f := range o.sc.down {
		if c, ok := f.(faults.Corrupt); ok && c.At >= int64(off) && c.At < int64(off+len(frame)) {
			orig[c.At-int64(off)] ^= mask(c)
			flipped = true
		}
	}
	return orig, flipped && len(orig) >= 2
}

// acked returns the bookings acknowledged before the scenario clock read
// before, by every client.
func (o *outcome) acked(before uint64) []slot {
	var out []slot
	for _, a := range o.actors {
		for _, c := range a.ops {
			if c.req.Action == wire.ActionBook && c.err == nil && c.end < before {
				out = append(out, slot{c.req.Room, c.req.Date})
			}
		}
	}
	return out
}

// roomAnswer checks a BOOKINGSFORROOM answer: ascending, holding every
// booking of the room acknowledged before the call began, and only
// bookings that are in the store. It returns "" when it is right.
func (o *outcome) roomAnswer(c op, dates []wire.Date) string {
	if !slices.IsSorted(dates) || len(slices.Compact(slices.Clone(dates))) != len(dates) {
		return fmt.Sprintf("dates %v are not ascending and distinct", dates)
	}
	for _, s := range o.acked(c.start) {
		if s.room == c.req.Room && !slices.Contains(dates, s.date) {
			return fmt.Sprintf("dates %v lack %v, acknowledged before the query", dates, s.date)
		}
	}
	for _, d := range dates {
		if !o.store[slot{c.req.Room, d}] {
			return fmt.Sprintf("dates %v hold %v, never booked", dates, d)
		}
	}
	return ""
}

// dateAnswer checks a BOOKINGSONDATE answer the same way.
func (o *outcome) dateAnswer(c op, rooms []string) string {
	if !slices.IsSorted(rooms) || len(slices.Compact(slices.Clone(rooms))) != len(rooms) {
		return fmt.Sprintf("rooms %v are not sorted and distinct", rooms)
	}
	for _, s := range o.acked(c.start) {
		if s.date == c.req.Date && !slices.Contains(rooms, s.room) {
			return fmt.Sprintf("rooms %v lack %s, acknowledged before the query", rooms, s.room)
		}
	}
	for _, r := range rooms {
		if !o.store[slot{r, c.req.Date}] {
			return fmt.Sprintf("rooms %v hold %s, never booked on %v", rooms, r, c.req.Date)
		}
	}
	return ""
}

// kind classifies how a call ended, for the summary.
func kind(err error) string {
	var se *client.ServerError
	var pe *wire.ProtocolError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, client.ErrTruncated):
		return "truncated"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, client.ErrMismatch):
		return "mismatch"
	case errors.Is(err, client.ErrMalformedReply), errors.As(err, &pe):
		return "malformed"
	case errors.Is(err, client.ErrBusy):
		return "busy"
	case errors.As(err, &se):
		return "refused"
	case errors.Is(err, client.ErrConnect):
		return "connect"
	}
	return "conn-error"
}

// summary says how the calls ended and how the doubts settled.
func (o *outcome) summary() string {
	var doubt, doubtBooked int
	for _, a := range o.actors {
		for _, c := range a.ops {
			if c.req.Action == wire.ActionBook && c.err != nil {
				doubt++
				if o.store[slot{c.req.Room, c.req.Date}] {
					doubtBooked++
				}
			}
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(o.counts)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, o.counts[k]))
	}
	return fmt.Sprintf("calls: %s; BOOKs in doubt %d (settled booked %d); store %d; reads checked %d",
		strings.Join(parts, ", "), doubt, doubtBooked, len(o.store), o.reads)
}

func keys(m map[slot]bool) []string {
	var out []string
	for s := range m {
		out = append(out, s.String())
	}
	slices.Sort(out)
	return out
}
