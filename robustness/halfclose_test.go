package robustness

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/wire"
)

// TestHalfCloseThroughProxy runs the book client's pattern through a
// fault proxy with no faults, against the real server in every model: 20
// clients at once each open a connection, write one BOOK, half-close
// (CloseWrite), read the reply and then the server's close. Every reply
// must arrive, and every booking be in the store.
func TestHalfCloseThroughProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 20 clients per model")
	}
	const clients = 20
	for _, model := range models {
		t.Run(model.String(), func(t *testing.T) {
			tg := startTarget(t, serverConfig(model))
			p := startProxy(t, tg.addr, nil, nil, 1)
			var (
				wg        sync.WaitGroup
				mu        sync.Mutex
				delivered int
				errs      []error
			)
			within(t, 30*time.Second, "the half-closing clients", func() {
				for i := range clients {
					wg.Go(func() {
						req := wire.Request{Action: wire.ActionBook, Room: allRooms[i], Date: firstDate + wire.Date(i)}
						rep, err := bookHalfClosed(p.Addr().String(), req)
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err != nil:
							errs = append(errs, fmt.Errorf("client %d: %w", i, err))
						case rep.Action != wire.ActionBook || rep.Room != req.Room || rep.Date != req.Date:
							errs = append(errs, fmt.Errorf("client %d: reply %+v does not echo %+v", i, rep, req))
						default:
							delivered++
						}
					})
				}
				wg.Wait()
			})
			assert.Empty(t, errs)
			assert.Equal(t, clients, delivered, "replies delivered")
			store, err := tg.contents(t.Context())
			require.NoError(t, err)
			assert.Len(t, store, clients)
		})
	}
}

// bookHalfClosed sends req on a new connection to addr, half-closes it,
// reads the reply, and then expects the server to close.
func bookHalfClosed(addr string, req wire.Request) (wire.Reply, error) {
	var rep wire.Reply
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return rep, err
	}
	defer nc.Close()
	if err := nc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return rep, err
	}
	blk, err := req.MarshalBinary()
	if err != nil {
		return rep, err
	}
	if err := wire.WriteFrame(nc, blk); err != nil {
		return rep, err
	}
	if err := nc.(*net.TCPConn).CloseWrite(); err != nil {
		return rep, err
	}
	body, err := wire.ReadFrame(nc, nil)
	if err != nil {
		return rep, fmt.Errorf("reading the reply: %w", err)
	}
	if err := rep.UnmarshalBinary(body); err != nil {
		return rep, err
	}
	if n, err := nc.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		return rep, fmt.Errorf("after the reply: read %d bytes, %v; want the server's close (EOF)", n, err)
	}
	return rep, nil
}
