package server_test

import (
	"context"
	"fmt"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/internal/wiretest"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

// step is one request of the mixed workload and the reply it must get.
type step struct {
	req  wire.Request
	want wire.Reply
	// contended marks BOOKs of the shared date, whose outcome depends on
	// the interleaving: success or fully booked.
	contended bool
}

// mixedWorkload returns the requests of client i: bookings on a date of its
// own (so their outcomes are known exactly whatever the interleaving), every
// refusal of the protocol, and one BOOK on a date all clients share.
func mixedWorkload(i int, today, shared wire.Date) []step {
	d := today + wire.Date(10+i)
	room := func(k int) string { return fmt.Sprintf("%d%02d", (i*6+k)/34, (i*6+k)%34+1) } // 6 rooms per client, unique
	book := func(r string, on wire.Date) wire.Request {
		return wire.Request{Action: wire.ActionBook, Room: r, Date: on}
	}
	unbook := func(r string) wire.Request { return wire.Request{Action: wire.ActionUnbook, Room: r, Date: d} }
	ok := func(r wire.Request) wire.Reply { return wire.Reply{Action: r.Action, Room: r.Room, Date: r.Date} }
	refused := func(msg string) wire.Reply { return wire.ErrorReply(msg) }

	var s []step
	for k := range 5 {
		s = append(s, step{req: book(room(k), d), want: ok(book(room(k), d))})
	}
	s = append(s,
		step{req: book(room(0), d), want: refused(wire.MsgDuplicate)},
		step{req: book(room(5), d), want: refused(wire.MsgFullyBooked(d))},
		step{req: unbook(room(5)), want: refused(wire.MsgNotBooked)},
		step{req: unbook(room(0)), want: ok(unbook(room(0)))},
		step{req: book(room(5), d), want: ok(book(room(5), d))},
		step{req: wire.Request{Action: wire.ActionBookingsOnDate, Date: d},
			want: wire.Reply{Action: wire.ActionBookingsOnDate, Rooms: sortedRooms(room(1), room(2), room(3), room(4), room(5)), Date: d}},
		step{req: wire.Request{Action: wire.ActionBookingsForRoom, Room: room(1)},
			want: wire.Reply{Action: wire.ActionBookingsForRoom, Room: room(1), Dates: []wire.Date{d}}},
		step{req: wire.Request{Action: wire.ActionBookingsForRoom, Room: room(0)}, want: refused(wire.MsgRoomNotBooked(room(0)))},
		step{req: wire.Request{Action: wire.ActionBookingsOnDate, Date: d + 1000}, want: refused(wire.MsgNoRoomsOn(d + 1000))},
		step{req: wire.Request{Action: "FROB", Room: room(0), Date: d}, want: refused(wire.MsgUnrecognized)},
		step{req: book("999", d), want: refused(booking.MsgInvalidRoom("999"))},
		step{req: book(room(0), 0), want: refused(booking.MsgNullDate)},
		step{req: book(room(0), today-1), want: refused(booking.MsgPastDate(today-1, today))},
		step{req: unbook(room(0)), want: refused(wire.MsgNotBooked)},
		step{req: book(room(1), shared), contended: true},
	)
	return s
}

func sortedRooms(rooms ...string) []string { sort.Strings(rooms); return rooms }

// TestEveryModelServesTheBookingWorkload runs 50 concurrent clients and
// 1,000 requests with known outcomes through each model, half the clients
// on persistent connections and half with one connection per request (the
// book's client), then checks every reply and that the store holds exactly
// the ledger of acknowledged bookings.
func TestEveryModelServesTheBookingWorkload(t *testing.T) {
	const clients = 50
	for _, m := range allModels {
		t.Run(m.String(), func(t *testing.T) {
			now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			today := wire.FromTime(now)
			shared := today + 5
			store := booking.NewMemoryStore()
			svc, err := booking.New(store, booking.Config{Now: func() time.Time { return now }, Location: time.UTC})
			require.NoError(t, err)
			t.Cleanup(func() { svc.Close() })

			var g gauge
			h := server.HandlerFunc(func(ctx context.Context, b []byte) []byte {
				g.enter()
				defer g.leave()
				return svc.ServeFrame(ctx, b)
			})
			const workers = 8
			s, addr, _ := startServer(t, withReplies(server.Config{Handler: h, Model: m, Workers: workers}))

			var (
				mu       sync.Mutex
				ledger   = map[wire.Date]map[string]bool{}
				requests int
				wonShare int
			)
			record := func(r wire.Reply) {
				mu.Lock()
				defer mu.Unlock()
				switch r.Action {
				case wire.ActionBook:
					if ledger[r.Date] == nil {
						ledger[r.Date] = map[string]bool{}
					}
					ledger[r.Date][r.Room] = true
				case wire.ActionUnbook:
					delete(ledger[r.Date], r.Room)
				}
			}

			var wg sync.WaitGroup
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					perRequest := i%2 == 1
					var nc net.Conn
					for _, st := range mixedWorkload(i, today, shared) {
						if nc == nil {
							nc = dial(t, addr).nc
						}
						got, err := wiretest.Exchange(nc, st.req)
						if !assert.NoError(t, err, "client %d: %v", i, st.req) {
							return
						}
						mu.Lock()
						requests++
						if st.contended && got.Action == wire.ActionBook {
							wonShare++
						}
						mu.Unlock()
						if st.contended {
							assert.Contains(t, []wire.Reply{
								{Action: wire.ActionBook, Room: st.req.Room, Date: shared},
								wire.ErrorReply(wire.MsgFullyBooked(shared)),
							}, got)
						} else {
							assert.Equal(t, st.want, got, "client %d: %v", i, st.req)
						}
						record(got)
						if perRequest {
							nc.Close()
							nc = nil
						}
					}
					if nc != nil {
						nc.Close()
					}
				}()
			}
			wg.Wait()

			assert.Equal(t, 1000, requests)
			assert.Equal(t, booking.MaxBookingsPerDay, wonShare, "exactly 5 bookings win the shared date")
			// Every room any client used: the store must hold exactly the
			// dates the ledger says were acknowledged and not cancelled.
			for i := range clients * 6 {
				room := fmt.Sprintf("%d%02d", i/34, i%34+1)
				var want []wire.Date
				for d, rooms := range ledger {
					if rooms[room] {
						want = append(want, d)
					}
				}
				sort.Slice(want, func(a, b int) bool { return want[a] < want[b] })
				got, err := store.DatesFor(context.Background(), room)
				require.NoError(t, err)
				assert.Equal(t, want, got, "store content for room %s equals the ledger", room)
			}
			for d := range ledger {
				got, err := store.RoomsOn(context.Background(), d)
				require.NoError(t, err)
				assert.LessOrEqual(t, len(got), booking.MaxBookingsPerDay, "no date above the limit")
			}
			limit := int64(workers)
			if m == server.ModelSerial {
				limit = 1
			}
			if m != server.ModelUnbounded {
				assert.LessOrEqual(t, g.peak.Load(), limit, "never more handlers at once than workers")
			}
			assert.Equal(t, uint64(1000), s.Stats().Requests)
		})
	}
}
