package faults

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawIO reads and writes a *net.TCPConn for the proxy's relay with raw
// system calls, so that a message costs what it costs HAProxy: one read,
// one write and the read that finds the socket empty, and nothing else.
//
// Through net.Conn every read and write is a syscall.Syscall, which tells
// the Go scheduler that the thread may block. A loopback write does the
// receiver's whole TCP input path before it returns, long enough that the
// scheduler's monitor (sysmon) often takes the processor away from the
// thread and wakes another one to run it; the first must then wait for a
// processor again. Profiled under 16 clients, that hand-off cost the proxy
// a futex wake-up and a nanosleep every four requests and a tenth of its
// CPU time in sysmon alone. The socket is non-blocking (the net package
// made it so), so its read and write never block, and syscall.RawSyscall,
// which keeps the processor, is safe for them. Waiting for the socket is
// left to the net package: syscall.RawConn's Read and Write park the
// goroutine on the runtime's poller when the callback says EAGAIN, honour
// deadlines, and return net.ErrClosed when the connection is closed while
// they wait, which is how kill and abort wake the relay.
//
// A rawIO's reads and writes may run concurrently, one of each at a time:
// the relay reads a side in one goroutine and writes it in the other. It
// allocates nothing per call.
type rawIO struct {
	c  net.Conn
	rd rawOp
	wr rawOp
}

// rawOp is the state of one direction's call in flight, kept in the rawIO
// so that the callback passed to syscall.RawConn is built once.
type rawOp struct {
	rc  syscall.RawConn
	p   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

// newRawIO returns a rawIO for c, or nil when c is not a *net.TCPConn (a
// Serve listener may hand out other connections): the relay then reads and
// writes c through its methods.
func newRawIO(c net.Conn) *rawIO {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawIO{c: c}
	r.rd = rawOp{rc: rc, fn: r.readFD}
	r.wr = rawOp{rc: rc, fn: r.writeFD}
	return r
}

// Read reads into p (len(p) > 0) as net.Conn's Read does: at least one
// byte, or io.EOF at the peer's end, or an error (a *net.OpError;
// errors.Is finds syscall.ECONNRESET in a reset).
func (r *rawIO) Read(p []byte) (int, error) {
	r.rd.p, r.rd.n, r.rd.err = p, 0, nil
	err := r.rd.rc.Read(r.rd.fn)
	n := r.rd.n
	if err == nil {
		err = r.rd.err
	}
	r.rd.p, r.rd.err = nil, nil
	return n, r.opError("read", err)
}

// readFD is the callback of Read: false asks syscall.RawConn to wait
// until fd is readable and call it again.
func (r *rawIO) readFD(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&r.rd.p[0])), uintptr(len(r.rd.p)))
		switch e {
		case 0:
			r.rd.n = int(n)
			if n == 0 {
				r.rd.err = io.EOF
			}
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.rd.err = os.NewSyscallError("read", e)
		return true
	}
}

// Write writes all of p, or returns the number of bytes written and why
// it stopped, as net.Conn's Write does.
func (r *rawIO) Write(p []byte) (int, error) {
	r.wr.p, r.wr.n, r.wr.err = p, 0, nil
	err := r.wr.rc.Write(r.wr.fn)
	n := r.wr.n
	if err == nil {
		err = r.wr.err
	}
	r.wr.p, r.wr.err = nil, nil
	return n, r.opError("write", err)
}

// writeFD is the callback of Write: false asks syscall.RawConn to wait
// until fd is writable and call it again.
func (r *rawIO) writeFD(fd uintptr) bool {
	for len(r.wr.p) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&r.wr.p[0])), uintptr(len(r.wr.p)))
		switch e {
		case 0:
			r.wr.n += int(n)
			r.wr.p = r.wr.p[n:]
			continue
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.wr.err = os.NewSyscallError("write", e)
		return true
	}
	return true
}

// opError wraps a system call's error as the net package would; io.EOF and
// the errors syscall.RawConn already wrapped pass as they are.
func (r *rawIO) opError(op string, err error) error {
	if _, ok := err.(*os.SyscallError); !ok {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: r.c.LocalAddr(), Addr: r.c.RemoteAddr(), Err: err}
}
