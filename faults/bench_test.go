package faults_test

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/poolside-dev/poolside/faults"
)

// BenchmarkProxyRoundTrip measures 28-byte request/reply round trips (the
// size of a BOOK request) from 16 persistent clients to an echo server,
// directly and through a Proxy with no faults. Compare the ns/op of the two.
func BenchmarkProxyRoundTrip(b *testing.B) {
	echo := startEcho(b)
	p := startProxy(b, faults.Config{Upstream: echo})
	for _, target := range []struct{ name, addr string }{
		{"direct", echo},
		{"proxy", p.Addr().String()},
	} {
		b.Run(target.name, func(b *testing.B) {
			const clients = 16
			conns := make([]net.Conn, clients)
			for i := range conns {
				c, err := net.Dial("tcp", target.addr)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				conns[i] = c
			}
			msg := make([]byte, 28)
			b.ResetTimer()
			var wg sync.WaitGroup
			for i, c := range conns {
				n := b.N / clients
				if i < b.N%clients {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, len(msg))
					for range n {
						if _, err := c.Write(msg); err != nil {
							b.Error(err)
							return
						}
						if _, err := io.ReadFull(c, buf); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}
