package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/internal/wiretest"
	"github.com/poolside-dev/poolside/wire"
)

// slot is one (room, date) booking attempt.
type slot struct {
	room string
	date wire.Date
}

// TestCrashKeepsAcknowledgedBookings runs the built binary on a bbolt
// store, books from several clients, kills the process with SIGKILL in the
// middle of the load, restarts it on the same file, and checks that every
// booking a client saw acknowledged is there and none that was refused is.
func TestCrashKeepsAcknowledgedBookings(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	data := filepath.Join(t.TempDir(), "crash.db")
	p := startServe(t, "--data", data)

	const clients = 8 // per date, 8 clients try 8 different rooms: 5 win, 3 are refused
	today := wire.FromTime(time.Now())
	var (
		mu       sync.Mutex
		acked    []slot
		refused  []slot
		ackCount atomic.Int64
	)
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
			if !assert.NoError(t, err) {
				return
			}
			defer nc.Close()
			// Bounded in count and time: at most 2,000 requests or 60 s.
			deadline := time.Now().Add(60 * time.Second)
			for i := 0; i < 2000 && time.Now().Before(deadline); i++ {
				s := slot{room: fmt.Sprintf("%d%02d", c, i%34+1), date: today + 1 + wire.Date(i)}
				_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
				reply, err := book(nc, s)
				if err != nil {
					return // the server died: this request is in doubt
				}
				mu.Lock()
				if reply.IsError() {
					assert.Equal(t, wire.MsgFullyBooked(s.date), reply.Message)
					refused = append(refused, s)
				} else {
					acked = append(acked, s)
				}
				mu.Unlock()
				if ackCount.Add(1) == 300 {
					once.Do(func() { close(enough) })
				}
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatal("the load did not get 300 replies in 60 s")
	}
	err := p.stop(t, syscall.SIGKILL)
	var ee interface{ Sys() any }
	require.True(t, errors.As(err, &ee), "killed, not exited: %v", err)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, acked)
	require.NotEmpty(t, refused, "some bookings were refused (fully booked)")

	q := startServe(t, "--data", data)
	q.waitLog(t, "acknowledged writes from the journal "+booking.JournalPath(data)+" into "+data+": the server before this one stopped without closing the file")
	nc := q.dial(t)
	stored := map[slot]bool{}
	rooms := map[string]bool{}
	for _, s := range append(append([]slot{}, acked...), refused...) {
		rooms[s.room] = true
	}
	for room := range rooms {
		r, err := wiretest.Exchange(nc, wire.Request{Action: wire.ActionBookingsForRoom, Room: room})
		require.NoError(t, err)
		for _, d := range r.Dates {
			stored[slot{room, d}] = true
		}
	}
	for _, s := range acked {
		assert.True(t, stored[s], "acknowledged booking %v lost in the crash", s)
	}
	for _, s := range refused {
		assert.False(t, stored[s], "refused booking %v is in the store", s)
	}
	t.Logf("%d acknowledged and %d refused bookings checked after SIGKILL", len(acked), len(refused))
	require.NoError(t, q.stop(t, syscall.SIGTERM), "a drained server exits 0")
}

func book(nc net.Conn, s slot) (wire.Reply, error) {
	return wiretest.Exchange(nc, wire.Request{Action: wire.ActionBook, Room: s.room, Date: s.date})
}
