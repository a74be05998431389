package robustness

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/faults"
	"github.com/poolside-dev/poolside/wire"
)

// TestPipelinedThroughChunks writes many requests in one go, before
// reading any reply, through a proxy that splits both directions into
// random small pieces: every model must answer each request once, in
// order, whatever the piece boundaries.
func TestPipelinedThroughChunks(t *testing.T) {
	const requests = 40
	up := []faults.Fault{faults.Chunk{Min: 1, Max: 7}}
	down := []faults.Fault{faults.Chunk{Min: 1, Max: 5}}
	for _, model := range models {
		t.Run(model.String(), func(t *testing.T) {
			tg := startTarget(t, serverConfig(model))
			p := startProxy(t, tg.addr, up, down, 3)
			nc, err := net.DialTimeout("tcp", p.Addr().String(), 10*time.Second)
			require.NoError(t, err)
			t.Cleanup(func() { _ = nc.Close() })
			require.NoError(t, nc.SetDeadline(time.Now().Add(20*time.Second)))

			var batch []byte
			reqs := make([]wire.Request, requests)
			for i := range reqs {
				reqs[i] = wire.Request{Action: wire.ActionBook, Room: allRooms[i%10], Date: firstDate + wire.Date(i)}
				if i%4 == 3 {
					reqs[i] = wire.Request{Action: wire.ActionBookingsForRoom, Room: allRooms[i%10]}
				}
				blk, err := reqs[i].MarshalBinary()
				require.NoError(t, err)
				batch, err = wire.AppendFrame(batch, blk)
				require.NoError(t, err)
			}
			_, err = nc.Write(batch)
			require.NoError(t, err)

			booked := map[string][]wire.Date{}
			for i, req := range reqs {
				body, err := wire.ReadFrame(nc, nil)
				require.NoError(t, err, "reply %d", i)
				var rep wire.Reply
				require.NoError(t, rep.UnmarshalBinary(body), "reply %d", i)
				what := fmt.Sprintf("reply %d to %s %s", i, req.Action, req.Room)
				if req.Action == wire.ActionBook {
					assert.Equal(t, wire.Reply{Action: wire.ActionBook, Room: req.Room, Date: req.Date}, rep, what)
					booked[req.Room] = append(booked[req.Room], req.Date)
					continue
				}
				if len(booked[req.Room]) == 0 {
					assert.Equal(t, wire.ErrorReply(wire.MsgRoomNotBooked(req.Room)), rep, what)
					continue
				}
				assert.Equal(t, wire.ActionBookingsForRoom, rep.Action, what)
				assert.Equal(t, req.Room, rep.Room, what)
				assert.Equal(t, booked[req.Room], rep.Dates, what+": the bookings made before it, in order")
			}
		})
	}
}
