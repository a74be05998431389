package server_test

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

// benchServer starts cfg with a Building Services handler on a memory
// store holding one booking, and returns the server and its address.
func benchServer(b *testing.B, cfg server.Config, work server.Work) (*server.Server, string) {
	b.Helper()
	svc, err := booking.New(booking.NewMemoryStore(), booking.Config{})
	if err != nil {
		b.Fatal(err)
	}
	d := wire.FromTime(time.Now()) + 30
	if r := svc.Handle(b.Context(), wire.Request{Action: wire.ActionBook, Room: "312", Date: d}); r.IsError() {
		b.Fatal(r.Message)
	}
	cfg.Handler = server.WithWork(svc, work)
	s, err := server.New(withReplies(cfg))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	b.Cleanup(func() { s.Close(); <-done; svc.Close() })
	return s, ln.Addr().String()
}

// queryFrame is a BOOKINGSFORROOM request: read-only, so it can repeat.
var queryFrame = func() []byte {
	blk, _ := wire.Request{Action: wire.ActionBookingsForRoom, Room: "312"}.MarshalBinary()
	f, _ := wire.AppendFrame(nil, blk)
	return f
}()

// drive sends b.N requests from clients persistent connections and
// reports the throughput as req/s. Each exchange must finish within a
// minute, so a model that starves a client fails instead of hanging.
func drive(b *testing.B, addr string, clients int) float64 {
	b.Helper()
	conns := make([]net.Conn, clients)
	for i := range conns {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = nc
		defer nc.Close()
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, nc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 256)
			for left.Add(-1) >= 0 {
				_ = nc.SetDeadline(time.Now().Add(time.Minute))
				if _, err := nc.Write(queryFrame); err != nil {
					failed.Store(err)
					return
				}
				blk, err := wire.ReadFrame(nc, buf)
				if err != nil {
					failed.Store(err)
					return
				}
				buf = blk[:0]
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	rps := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rps, "req/s")
	return rps
}

// BenchmarkModelsWorkDelay compares the models when every request waits
// D on its worker, with C >= N clients: pool's ceiling is N/D, serial's 1/D.
// "ceiling%" is the measured throughput as a share of the model's ceiling.
//
//	go test -run '^$' -bench ModelsWorkDelay -benchtime 2s ./server/
func BenchmarkModelsWorkDelay(b *testing.B) {
	const (
		delay   = 20 * time.Millisecond
		workers = 8
		clients = 16
	)
	// ModelConn gets a worker per client: with fewer, the connections
	// beyond its workers would wait for ever behind persistent ones.
	for _, tc := range []struct {
		model   server.Model
		workers int
		ceiling float64
	}{
		{server.ModelSerial, 1, 1 / delay.Seconds()},
		{server.ModelPool, workers, workers / delay.Seconds()},
		{server.ModelConn, clients, clients / delay.Seconds()},
		{server.ModelUnbounded, 0, clients / delay.Seconds()},
	} {
		b.Run(fmt.Sprintf("model=%v/workers=%d/clients=%d/delay=%v", tc.model, tc.workers, clients, delay), func(b *testing.B) {
			_, addr := benchServer(b, server.Config{Model: tc.model, Workers: tc.workers}, server.Work{Delay: delay})
			rps := drive(b, addr, clients)
			b.ReportMetric(100*rps/tc.ceiling, "ceiling%")
		})
	}
}

// BenchmarkModelsNoDelay compares the models' overhead with a trivial
// service time and 16 persistent clients.
//
//	go test -run '^$' -bench ModelsNoDelay -benchtime 2s ./server/
func BenchmarkModelsNoDelay(b *testing.B) {
	const clients = 16
	for _, m := range []server.Model{server.ModelSerial, server.ModelPool, server.ModelConn, server.ModelUnbounded} {
		b.Run(fmt.Sprintf("model=%v/clients=%d", m, clients), func(b *testing.B) {
			_, addr := benchServer(b, server.Config{Model: m, Workers: clients}, server.Work{})
			drive(b, addr, clients)
		})
	}
}
