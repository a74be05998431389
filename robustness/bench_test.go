package robustness

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/faults"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

// benchClients is the number of persistent clients of the throughput
// benchmark, each with one connection.
const benchClients = 16

// BenchmarkProxyThroughput measures the cost of a faults.Proxy with no
// faults in front of the real server: 16 persistent clients (package
// client, one connection each) send BOOKINGSFORROOM to a pooled server with
// the booking handler on a memory store, directly and through the proxy, in
// alternating blocks of 1,000 requests so that both see the same
// background load. It reports the throughput of each (direct-req/s,
// proxy-req/s) and their ratio (proxy/direct).
//
//	go test -run '^$' -bench ProxyThroughput -benchtime 200000x -count 5 ./robustness
func BenchmarkProxyThroughput(b *testing.B) {
	addr := benchServer(b)
	p, err := faults.NewProxy(faults.Config{Upstream: addr})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	const block = 1000
	targets := [2][]*client.Client{benchDial(b, addr), benchDial(b, p.Addr().String())}
	var (
		elapsed [2]time.Duration
		done    [2]int
	)
	b.ResetTimer()
	for i, left := 0, b.N; left > 0; i++ {
		n := min(block, left)
		elapsed[i%2] += driveQueries(b, targets[i%2], n)
		done[i%2] += n
		left -= n
	}
	b.StopTimer()
	if done[1] == 0 {
		return // b.N of one block or less: nothing went through the proxy
	}
	direct := float64(done[0]) / elapsed[0].Seconds()
	proxied := float64(done[1]) / elapsed[1].Seconds()
	b.ReportMetric(direct, "direct-req/s")
	b.ReportMetric(proxied, "proxy-req/s")
	b.ReportMetric(proxied/direct, "proxy/direct")
}

// benchServer starts a pooled server with the booking handler, holding one
// booking of room 312, and returns its address.
func benchServer(b *testing.B) string {
	b.Helper()
	svc, err := booking.New(booking.NewMemoryStore(), booking.Config{Now: func() time.Time { return now }, Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	if r := svc.Handle(b.Context(), wire.Request{Action: wire.ActionBook, Room: "312", Date: firstDate}); r.IsError() {
		b.Fatal(r.Message)
	}
	cfg := serverConfig(server.ModelPool)
	cfg.Workers = 0 // the default pool
	cfg.Handler = svc
	srv, err := server.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	b.Cleanup(func() {
		_ = srv.Close()
		<-served
		_ = svc.Close()
	})
	return ln.Addr().String()
}

// benchDial returns benchClients clients of addr, each with its own
// persistent connection, closed when the benchmark ends.
func benchDial(b *testing.B, addr string) []*client.Client {
	b.Helper()
	clients := make([]*client.Client, benchClients)
	for i := range clients {
		c, err := client.Dial(b.Context(), addr, client.Config{Timeout: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		clients[i] = c
	}
	return clients
}

// driveQueries sends n BOOKINGSFORROOM requests from clients at once and
// returns the time they took.
func driveQueries(b *testing.B, clients []*client.Client, n int) time.Duration {
	b.Helper()
	var (
		left    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		failure error
	)
	left.Store(int64(n))
	start := time.Now()
	for _, c := range clients {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				dates, err := c.BookingsForRoom(context.Background(), "312")
				if err == nil && len(dates) != 1 {
					err = errors.New("wrong answer")
				}
				if err != nil {
					errOnce.Do(func() { failure = err })
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failure != nil {
		b.Fatal(failure)
	}
	return elapsed
}
