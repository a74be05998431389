package wiretest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// SilentServer listens on an ephemeral loopback port, accepts connections
// and reads from them, and never answers: a server that does not speak the
// protocol. It returns its address; everything is closed, and waited for,
// when the test ends.
func SilentServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				defer c.Close()
				_, _ = io.Copy(io.Discard, c)
			})
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-accepted
		conns.Wait()
	})
	return ln.Addr().String()
}
