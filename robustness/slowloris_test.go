package robustness

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/faults"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

// trickle opens n connections to addr that misbehave slowloris-style: the
// even ones send the first byte of a length header and then nothing, the
// odd ones announce a 65,535-byte request and send it one byte per 100 ms
// (a faults.Slow pacing at 10 bytes/s), at most 64 bytes. trickle returns
// once every connection has sent its first byte; the test's cleanup closes
// them all, which wakes the paced writes.
func trickle(t *testing.T, addr string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // after the connections' cleanups, which close them
	started := make(chan error, n)
	for i := range n {
		nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
		require.NoError(t, err)
		if i%2 == 0 {
			_, err = nc.Write([]byte{0xFF})
			require.NoError(t, err)
			t.Cleanup(func() { _ = nc.Close() })
			continue
		}
		slow := faults.Wrap(nc, faults.OnWrite(faults.Slow{Rate: 10}))
		t.Cleanup(func() { _ = slow.Close() })
		wg.Go(func() {
			_, err := slow.Write([]byte{0xFF}) // one paced piece: sent, then 100 ms
			started <- err
			if err == nil {
				_, _ = slow.Write(make([]byte, 63)) // ends at Close, or when the server gives up
			}
		})
	}
	for range n / 2 {
		require.NoError(t, <-started)
	}
}

// TestSlowloris opens hundreds of trickling connections and then asks a
// healthy client for N requests.
//
// In models pool, serial and unbounded a connection's bytes are read on its
// own goroutine and only complete requests reach a worker, so the healthy
// client is served at once, with no read timeout at all, while every
// trickler stays connected.
//
// In model conn a connection holds a worker for its whole life, so the
// tricklers take every worker and queue slot. What bounds the damage is the
// configuration: the tricklers beyond workers+queue are refused with the
// busy reply at once, and the read timeout ends those holding a worker.
// The test asserts exactly that: the healthy client, retrying on busy, is
// served (a hang guard set by the read timeout fails it otherwise), and the
// server counts the refusals and read timeouts.
func TestSlowloris(t *testing.T) {
	if testing.Short() {
		t.Skip("opens hundreds of connections")
	}
	const tricklers = 300
	requests := pick(50, 500)
	for _, model := range models {
		t.Run(model.String(), func(t *testing.T) {
			cfg := serverConfig(model)
			cfg.ReadTimeout, cfg.IdleTimeout = 0, 0 // slow clients must not matter at all
			ccfg := client.Config{Timeout: 2 * time.Second}
			bound := 30 * time.Second // the loop's own limit
			if model == server.ModelConn {
				cfg.Workers, cfg.Queue = 8, 8
				cfg.ReadTimeout, cfg.IdleTimeout = 300*time.Millisecond, 300*time.Millisecond
				// The book's pattern: a fresh connection per request, so a
				// busy refusal (which closes the connection) is retried on
				// a new one.
				ccfg = client.Config{Timeout: 5 * time.Second, ConnPerRequest: true, Retries: 50,
					RetryBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
				// Workers+queue tricklers hold the pool for at most two
				// read timeouts (8 at a time); then it is free.
				bound = 2*cfg.ReadTimeout + 5*time.Second
			}
			tg := startTarget(t, cfg)
			trickle(t, tg.addr, tricklers)

			c, err := client.Dial(t.Context(), tg.addr, ccfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			var (
				served  int
				first   time.Duration
				callErr error
			)
			start := time.Now()
			within(t, bound+ccfg.Timeout+grace, "the healthy client", func() {
				for i := range requests {
					ctx, cancel := context.WithTimeout(context.Background(), bound)
					err := c.Book(ctx, "101", (firstDate + wire.Date(i)).Time())
					cancel()
					if err != nil {
						callErr = err
						return
					}
					if served++; served == 1 {
						first = time.Since(start)
					}
				}
			})
			total := time.Since(start)
			require.NoError(t, callErr, "request %d of the healthy client", served+1)
			assert.Equal(t, requests, served)
			st := tg.srv.Stats()
			t.Logf("%d requests in %v (first after %v) beside %d tricklers; server: open %d, busy %d, closed %v",
				served, total, first, tricklers, st.Open, st.Busy, st.Closed)
			if model == server.ModelConn {
				assert.GreaterOrEqual(t, st.Closed[server.CloseBusy], uint64(tricklers-cfg.Workers-cfg.Queue),
					"tricklers beyond workers and queue are refused at once")
				assert.GreaterOrEqual(t, st.Closed[server.CloseReadTimeout], uint64(cfg.Workers),
					"the read timeout ends the tricklers holding workers")
				return
			}
			assert.GreaterOrEqual(t, st.Open, int64(tricklers), "every trickler is still connected")
			assert.Zero(t, st.Busy)
		})
	}
}
