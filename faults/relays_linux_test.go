package faults_test

import (
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// relays are the ways a proxy relays a link with no faults on Linux: a
// goroutine per direction while the faults may change (Config.Fixed
// false), and with Fixed the event loop, on io_uring or, where the kernel
// refuses it, on epoll.
var relays = []relay{
	{name: "goroutines"},
	{name: "io_uring", fixed: true, loop: "io_uring", setup: needRing},
	{name: "epoll", fixed: true, loop: "epoll", setup: func(t *testing.T) { t.Cleanup(faults.UseEpoll()) }},
}

func relayLoop(p *faults.Proxy) string { return faults.RelayLoop(p) }

// smallReceiveBuffer gives a socket, before it connects, a receive buffer
// of 4 KiB (set later, the window already offered would be cut, and the
// sender would wait for retransmission timers).
func smallReceiveBuffer(fd uintptr) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
}

// needRing skips t where the kernel gives no io_uring instance (the proxy
// relays on epoll there, which the "epoll" relay tests), and fails it so
// under CI=true.
func needRing(t *testing.T) {
	if err := faults.RingAvailable(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this kernel gives no io_uring instance (%v), so the proxy's io_uring loop is not tested", err)
		}
		t.Skipf("this kernel gives no io_uring instance (%v): the proxy relays on epoll here", err)
	}
}

// Links beyond what the io_uring loop may hold (so that its completion
// queue cannot overflow) are relayed by goroutines, and relay as well.
func TestProxyRingFullRelaysOnGoroutines(t *testing.T) {
	needRing(t)
	t.Cleanup(faults.LimitRingLinks(1))
	p := startProxy(t, faults.Config{Upstream: startEcho(t), Fixed: true})
	for i := range 3 {
		c, err := net.Dial("tcp", p.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		msg := []byte{byte(i), 1, 2}
		_, err = c.Write(msg)
		require.NoError(t, err)
		got := make([]byte, len(msg))
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		assert.Equal(t, msg, got, "link %d", i)
	}
	assert.Equal(t, int64(3), p.Stats().Active)
	assert.Equal(t, int64(1), faults.RingHeld(p), "links on the ring")
	assert.Equal(t, "io_uring", faults.RelayLoop(p))
}
