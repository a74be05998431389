package robustness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/faults"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

// models are the server's concurrency models, in the order cases run.
var models = []server.Model{server.ModelSerial, server.ModelPool, server.ModelConn, server.ModelUnbounded}

// now is the booking service's clock. Every date the tests book lies after
// it, so no booking is refused as past.
var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// slot is one booking: a room on a date.
type slot struct {
	room string
	date wire.Date
}

func (s slot) String() string { return s.room + "@" + s.date.String() }

// target is a running server.New with the booking handler on a memory
// store, and what the tests need to look inside it.
type target struct {
	addr  string
	srv   *server.Server
	store *booking.MemoryStore

	mu  sync.Mutex
	ran map[slot]int // BOOK requests the handler ran, decoded, by slot

	// closed receives a value each time the server closes a connection.
	closed chan struct{}
}

// serverConfig is the configuration every test starts from: the
// protocol's own busy, read-timeout and internal-error replies, and
// timeouts that bound what a faulty connection can hold.
func serverConfig(model server.Model) server.Config {
	return server.Config{
		Model:              model,
		Workers:            16,
		ReadTimeout:        2 * time.Second,
		IdleTimeout:        10 * time.Second,
		WriteTimeout:       2 * time.Second,
		BusyReply:          wire.ErrorBlock(wire.MsgBusy),
		ReadTimeoutReply:   wire.ErrorBlock(wire.MsgReadData),
		InternalErrorReply: wire.ErrorBlock(wire.MsgInternal),
	}
}

// startTarget serves cfg (its Handler and Observer are set here) on an
// ephemeral loopback port until the test ends.
func startTarget(t testing.TB, cfg server.Config) *target {
	t.Helper()
	store := booking.NewMemoryStore()
	svc, err := booking.New(store, booking.Config{Now: func() time.Time { return now }, Location: time.UTC})
	require.NoError(t, err)
	tg := &target{store: store, ran: make(map[slot]int), closed: make(chan struct{}, 1<<16)}
	cfg.Handler = server.HandlerFunc(func(ctx context.Context, block []byte) []byte {
		var req wire.Request
		if req.UnmarshalBinary(block) == nil && req.Action == wire.ActionBook {
			tg.mu.Lock()
			tg.ran[slot{req.Room, req.Date}]++
			tg.mu.Unlock()
		}
		return svc.ServeFrame(ctx, block)
	})
	cfg.Observer = tg
	srv, err := server.New(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-served; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		_ = svc.Close()
	})
	tg.addr, tg.srv = ln.Addr().String(), srv
	return tg
}

// RequestDone implements server.Observer.
func (tg *target) RequestDone([]byte, []byte, time.Duration, time.Duration, bool) {}

// ConnClosed implements server.Observer.
func (tg *target) ConnClosed(server.CloseReason) {
	select {
	case tg.closed <- struct{}{}:
	default: // a waiter re-reads Stats anyway
	}
}

// quiesce waits until the server has no open connection, so that every
// request it received has been handled, or fails after limit.
func (tg *target) quiesce(limit time.Duration) error {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for tg.srv.Stats().Open > 0 {
		select {
		case <-tg.closed:
		case <-timer.C:
			return fmt.Errorf("the server still has %d open connections after %v", tg.srv.Stats().Open, limit)
		}
	}
	return nil
}

// ranBooks returns a copy of the BOOK requests the handler ran, by slot.
func (tg *target) ranBooks() map[slot]int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	m := make(map[slot]int, len(tg.ran))
	for k, v := range tg.ran {
		m[k] = v
	}
	return m
}

// allRooms lists every valid room: floor 0-9, room 01-34.
var allRooms = wire.Rooms()

// contents returns every booking in the store.
func (tg *target) contents(ctx context.Context) (map[slot]bool, error) {
	m := make(map[slot]bool)
	for _, room := range allRooms {
		dates, err := tg.store.DatesFor(ctx, room)
		if err != nil {
			return nil, err
		}
		for _, d := range dates {
			m[slot{room, d}] = true
		}
	}
	return m, nil
}

// startProxy starts a fault proxy in front of upstream, closed when the
// test ends (Close wakes every fault that sleeps).
func startProxy(t testing.TB, upstream string, up, down []faults.Fault, seed uint64) *faults.Proxy {
	t.Helper()
	p, err := faults.NewProxy(faults.Config{Upstream: upstream, Up: up, Down: down, Seed: seed, DialTimeout: 5 * time.Second})
	require.NoError(t, err)
	require.NoError(t, p.Start())
	t.Cleanup(func() { _ = p.Close() })
	return p
}
