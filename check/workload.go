package check

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/wire"
)

// ErrUnreachable is wrapped by Run's error when a client could not connect
// to its server at the start.
var ErrUnreachable = errors.New("check: cannot connect to the server")

// The defaults of Workload.
const (
	DefaultClients = 8
	DefaultOps     = 1000
	DefaultDates   = 3
	DefaultPerDate = 100
	DefaultRooms   = 8
	DefaultTimeout = 2 * time.Second
	// maxRun bounds a run whatever its configuration.
	maxRun = 10 * time.Minute
)

// Workload is a seeded run of concurrent clients against one or more
// servers: Dates contended dates at a time, each taking about PerDate
// operations (BOOK and UNBOOK of Rooms rooms, so that the per-date limit
// and duplicates are hit, and BOOKINGSONDATE), then fresh dates. Only
// dates read empty at the start are used, and the run unbooks what it
// leaves booked once it has read the settled state. The zero value of
// each field but Addrs is its default.
type Workload struct {
	// Addrs are the servers; client i talks to Addrs[i % len(Addrs)].
	Addrs []string
	// Clients is the number of concurrent clients (DefaultClients).
	Clients int
	// Ops is the number of operations (DefaultOps); Duration, if set,
	// ends the run sooner.
	Ops      int
	Duration time.Duration
	// Dates is how many dates are contended at a time (DefaultDates),
	// PerDate the operations each takes (DefaultPerDate), Rooms the rooms
	// each is booked with (DefaultRooms).
	Dates, PerDate, Rooms int
	// FirstDate is the first date tried; 0 means 30 to 329 days from
	// today, by Seed, so that checks with other seeds run at the same
	// time against one database use other dates.
	FirstDate wire.Date
	// Seed seeds every client's choices.
	Seed uint64
	// Timeout bounds each request (DefaultTimeout): past it, a BOOK or
	// UNBOOK is in doubt.
	Timeout time.Duration
	// Dialer, if not nil, makes the clients' connections (through a fault
	// injector, say); the settling reads use plain connections.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// Recorder, if not nil, is where the history is recorded (so that a
	// nemesis can add its faults to it); nil means a new one.
	Recorder *Recorder
	// Pace, if above 0, is the time each client leaves between two of its
	// operations, so that they spread over a run long enough for a
	// nemesis to act (Ops × Pace / Clients in all).
	Pace time.Duration
	// OnStart, if not nil, is called once the dates are chosen, just
	// before the clients start: the time to start a nemesis.
	OnStart func()
	// BeforeSettle, if not nil, is called when the workload's operations
	// are done and before the settling reads: the time to stop a nemesis
	// and heal every fault, so that they run over healthy connections.
	BeforeSettle func()
}

func (w Workload) withDefaults() Workload {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&w.Clients, DefaultClients)
	def(&w.Ops, DefaultOps)
	def(&w.Dates, DefaultDates)
	def(&w.PerDate, DefaultPerDate)
	def(&w.Rooms, DefaultRooms)
	w.Rooms = min(w.Rooms, len(wire.Rooms()))
	if w.Timeout <= 0 {
		w.Timeout = DefaultTimeout
	}
	if w.FirstDate == 0 {
		w.FirstDate = wire.FromTime(time.Now()) + 30 + wire.Date(w.Seed%300)
	}
	if w.Recorder == nil {
		w.Recorder = NewRecorder()
	}
	return w
}

// Report is what Run did besides the history.
type Report struct {
	// Dates are the dates the workload used.
	Dates []wire.Date
	// Skipped counts the dates passed over because they held bookings at
	// the start.
	Skipped int
	// CleanedUp counts the bookings Run unbooked at the end; Left those it
	// could not.
	CleanedUp, Left int
}

// Run runs the workload and returns its history, the settling reads
// included (Final), and what it did. It stops early when ctx ends (the
// history so far is still returned, settled).
func Run(ctx context.Context, w Workload) (History, Report, error) {
	if len(w.Addrs) == 0 {
		return History{}, Report{}, errors.New("check: no server to check")
	}
	w = w.withDefaults()
	parentCtx := ctx
	ctx, cancel := context.WithTimeout(ctx, maxRun)
	defer cancel()
	rec := w.Recorder
	cfg := client.Config{Timeout: w.Timeout, MaxConns: 1, Dialer: w.Dialer}
	clients := make([]*client.Client, w.Clients)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range clients {
		addr := w.Addrs[i%len(w.Addrs)]
		c, err := client.Dial(ctx, addr, cfg)
		if err != nil {
			return History{}, Report{}, fmt.Errorf("%w: %s: %w", ErrUnreachable, addr, err)
		}
		clients[i] = c
	}

	// The dates, read empty before use, one group of w.Dates at a time.
	groups := (w.Ops + w.Dates*w.PerDate - 1) / (w.Dates * w.PerDate)
	var rep Report
	dates, err := emptyDates(ctx, clients[0], w.Addrs[0], w.FirstDate, groups*w.Dates, &rep)
	if err != nil {
		return rec.History(), rep, err
	}
	rep.Dates = dates

	var next atomic.Int64
	stop := time.Time{}
	if w.Duration > 0 {
		stop = time.Now().Add(w.Duration)
	}
	rooms := wire.Rooms()[:w.Rooms]
	if w.OnStart != nil {
		w.OnStart()
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(w.Seed, uint64(i)))
			addr := w.Addrs[i%len(w.Addrs)]
			for ctx.Err() == nil && (stop.IsZero() || time.Now().Before(stop)) {
				k := int(next.Add(1)) - 1
				if k >= w.Ops {
					return
				}
				group := k / (w.Dates * w.PerDate)
				d := dates[group*w.Dates+rng.IntN(w.Dates)]
				room := rooms[rng.IntN(len(rooms))]
				req := wire.Request{Action: wire.ActionBook, Room: room, Date: d}
				switch x := rng.IntN(100); {
				case x < 25:
					req.Action = wire.ActionUnbook
				case x < 40:
					req = wire.Request{Action: wire.ActionBookingsOnDate, Date: d}
				}
				rec.Do(ctx, c, i, addr, req)
				if w.Pace > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(w.Pace):
					}
				}
			}
		})
	}
	wg.Wait()
	if w.BeforeSettle != nil {
		w.BeforeSettle()
	}
	cutShort := ctx.Err() != nil

	// Settle over fresh connections, then leave the dates as they were.
	settled := settle(context.WithoutCancel(ctx), rec, w, dates, rooms)
	rep.CleanedUp, rep.Left = cleanUp(context.WithoutCancel(ctx), w, settled)
	if cutShort && parentCtx.Err() == nil {
		return rec.History(), rep, fmt.Errorf("check: the run was cut short by its %v bound before its operations were done; give fewer --ops", maxRun)
	}
	return rec.History(), rep, nil
}

// emptyDates reads dates from first on and returns n that hold no
// booking.
func emptyDates(ctx context.Context, c *client.Client, addr string, first wire.Date, n int, rep *Report) ([]wire.Date, error) {
	var dates []wire.Date
	for d := first; len(dates) < n; d++ {
		if d > first+wire.Date(4*n+100) {
			return dates, fmt.Errorf("check: found only %d empty dates from %s on", len(dates), first)
		}
		// Not recorded: the model starts every date empty, and these reads
		// only pick the dates that are.
		var op Op
		reply, err := c.Do(ctx, wire.Request{Action: wire.ActionBookingsOnDate, Date: d})
		op.Action, op.Date = wire.ActionBookingsOnDate, d
		Classify(&op, reply, err)
		switch {
		case op.Status != OK:
			return dates, fmt.Errorf("%w: %s: reading %s: %s", ErrUnreachable, addr, d, op.Detail)
		case len(op.Rooms) == 0 && op.Answer == Done:
			dates = append(dates, d)
		default:
			rep.Skipped++
		}
	}
	return dates, nil
}

// settleBudget bounds the settling reads of a run, retries included.
const settleBudget = 30 * time.Second

// settle reads every date on every server and every room on the first,
// over fresh connections, recorded as Final. Each read is retried, with a
// growing pause, until it is answered or settleBudget has passed (a
// database that was just restarted may refuse for a moment). When the
// history holds operations in doubt, some may still be inside a server:
// the dates are read in rounds, --timeout apart, until two rounds agree
// (at most 5). It returns the last answer of each date.
func settle(ctx context.Context, rec *Recorder, w Workload, dates []wire.Date, rooms []string) map[wire.Date][]string {
	deadline := time.Now().Add(settleBudget)
	clients := make([]*client.Client, len(w.Addrs))
	for s, addr := range w.Addrs {
		for {
			c, err := client.Dial(ctx, addr, client.Config{Timeout: w.Timeout, MaxConns: 1})
			if err == nil {
				clients[s] = c
				defer c.Close()
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	read := func(s int, req wire.Request) Op {
		op := Op{Client: w.Clients + s, Server: w.Addrs[s], Action: req.Action, Room: req.Room, Date: req.Date, Final: true, Status: Fail, Detail: "could not connect to the server to settle"}
		if clients[s] == nil {
			op.Call, op.Return = rec.Now(), rec.Now()
			return rec.Add(op)
		}
		pause := 20 * time.Millisecond
		for {
			op = Op{Client: w.Clients + s, Server: w.Addrs[s], Action: req.Action, Room: req.Room, Date: req.Date, Final: true}
			op.Call = rec.Now()
			reply, err := clients[s].Do(ctx, req)
			op.Return = rec.Now()
			Classify(&op, reply, err)
			if op.Status == OK || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(pause) // a server that refuses for a moment: not a synchronisation
			pause = min(2*pause, 500*time.Millisecond)
		}
		return rec.Add(op)
	}
	inDoubt := false
	for _, o := range rec.History().Ops {
		inDoubt = inDoubt || o.Status == Info
	}
	final := map[wire.Date][]string{}
	for round := 0; round < 5; round++ {
		answers := map[wire.Date][]string{}
		for s := range w.Addrs {
			for _, d := range dates {
				if op := read(s, wire.Request{Action: wire.ActionBookingsOnDate, Date: d}); op.Status == OK && op.Answer == Done {
					answers[d] = op.Rooms
				}
			}
		}
		agreed := round > 0 && maps.EqualFunc(answers, final, slices.Equal[[]string])
		final = answers
		if !inDoubt || agreed {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(w.Timeout): // the requests in doubt still inside the servers end by then
		}
	}
	for _, room := range rooms {
		read(0, wire.Request{Action: wire.ActionBookingsForRoom, Room: room})
	}
	return final
}

// cleanUp unbooks what the run left booked, not recorded.
func cleanUp(ctx context.Context, w Workload, final map[wire.Date][]string) (done, left int) {
	c, err := client.Dial(ctx, w.Addrs[0], client.Config{Timeout: w.Timeout, MaxConns: 1, Retries: 2})
	for d, rooms := range final {
		for _, room := range rooms {
			if err == nil && c.Unbook(ctx, room, d.Time()) == nil {
				done++
			} else {
				left++
			}
		}
	}
	if err == nil {
		c.Close()
	}
	return done, left
}
