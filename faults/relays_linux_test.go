package faults_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/poolside-dev/poolside/faults"
)

// relays are the ways a proxy relays a link with no faults on Linux: a
// goroutine per direction while the faults may change (Config.Fixed
// false), and with Fixed the event loop, on io_uring or, where the kernel
// refuses it, on epoll.
var relays = []relay{
	{name: "goroutines"},
	{name: "io_uring", fixed: true, loop: "io_uring", setup: func(t *testing.T) {
		if err := faults.RingAvailable(); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("this kernel gives no io_uring instance (%v), so the proxy's io_uring loop is not tested", err)
			}
			t.Skipf("this kernel gives no io_uring instance (%v): the proxy relays on epoll here, tested below", err)
		}
	}},
	{name: "epoll", fixed: true, loop: "epoll", setup: func(t *testing.T) { t.Cleanup(faults.UseEpoll()) }},
}

func relayLoop(p *faults.Proxy) string { return faults.RelayLoop(p) }

// smallReceiveBuffer gives a socket, before it connects, a receive buffer
// of 4 KiB (set later, the window already offered would be cut, and the
// sender would wait for retransmission timers).
func smallReceiveBuffer(fd uintptr) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
}
