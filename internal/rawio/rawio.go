// Package rawio reads and writes sockets, and appends to files, with raw
// system calls, for the paths that pay for every request: the client's,
// the load generator's journal and the fault proxy's relay.
//
// Through net.Conn and os.File every read and write is a syscall.Syscall,
// which tells the Go scheduler that the thread may block. That has two
// costs. Between two requests of a lightly loaded client every P is idle
// and the runtime's monitor thread (sysmon) goes into a deep sleep; the
// next syscall.Syscall wakes it, on another CPU, and it polls for a while
// before it sleeps again. With one client that is every request: on this
// project's 2-core VM it cost the load generator about 35 of its 50 µs of
// CPU per request, and slowed its turnaround, so that poolside bench
// under-reported a server at low concurrency next to a C client such as
// pgbench. Under load the other cost shows: a loopback write does the
// receiver's whole TCP input path before it returns, long enough that
// sysmon often takes the processor away from the thread and wakes another
// one to run it; profiled in the proxy under 16 clients, that hand-off
// cost a futex wake-up and a nanosleep every four requests and a tenth of
// its CPU time.
//
// The calls made here never block: a socket of the net package is
// non-blocking, and waiting for it is left to the runtime's poller
// (syscall.RawConn's Read and Write park the goroutine when the callback
// says EAGAIN, honour deadlines, and return net.ErrClosed when the
// connection is closed while they wait); a few bytes appended to a file
// go to the page cache. So syscall.RawSyscall, which keeps the processor
// and does no such bookkeeping, is safe for them.
//
// Elsewhere than Linux, New returns nil, Wrap returns its connection and
// Append is the file's Write.
package rawio

import "net"

// Wrap returns New(nc), or nc itself when New gives nil (nc is not a
// socket of this process, such as a fault injector's wrapper, or the
// system is not Linux).
func Wrap(nc net.Conn) net.Conn {
	if c := New(nc); c != nil {
		return c
	}
	return nc
}
