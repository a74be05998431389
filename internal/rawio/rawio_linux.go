package rawio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Conn is a socket whose Read and Write are raw system calls, with the
// rest of its methods (deadlines, Close, addresses) the connection's own.
// Its Read returns what one read(2) gave, never asking for more than
// len(p), so a caller reading exactly a frame reads no byte past it. Its
// errors are those of the connection's own Read and Write: io.EOF at the
// end, otherwise a *net.OpError ("read tcp A->B: connection reset by
// peer"; os.ErrDeadlineExceeded past the deadline; net.ErrClosed once
// closed). Like any net.Conn it may be used by several goroutines; reads
// are served one at a time, and so are writes, and a read and a write
// may run at once. It allocates nothing per call.
type Conn struct {
	net.Conn
	rd, wr op
}

// op is the state of one direction's call in flight, kept in the Conn so
// that the callback passed to syscall.RawConn is made once.
type op struct {
	mu  sync.Mutex
	rc  syscall.RawConn
	p   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

// New returns a Conn for nc, or nil when nc is not a socket of this
// process (it does not implement syscall.Conn).
func New(nc net.Conn) *Conn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	c := &Conn{Conn: nc}
	c.rd.rc, c.rd.fn = rc, c.readFD
	c.wr.rc, c.wr.fn = rc, c.writeFD
	return c
}

// Read reads into p as net.Conn's Read does: at least one byte, or io.EOF
// at the peer's end, or an error.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rd.mu.Lock()
	defer c.rd.mu.Unlock()
	c.rd.p, c.rd.n, c.rd.err = p, 0, nil
	err := c.rd.rc.Read(c.rd.fn)
	n := c.rd.n
	if err == nil {
		err = c.rd.err
	}
	c.rd.p, c.rd.err = nil, nil
	return n, c.opError("read", err)
}

// readFD is the callback of Read: false asks syscall.RawConn to wait
// until fd is readable and call it again.
func (c *Conn) readFD(fd uintptr) bool {
	n, e := rawCall(syscall.SYS_READ, fd, c.rd.p)
	switch e {
	case 0:
		c.rd.n = n
		if n == 0 {
			c.rd.err = io.EOF
		}
		return true
	case syscall.EAGAIN:
		return false
	}
	c.rd.err = os.NewSyscallError("read", e)
	return true
}

// Write writes all of p, or returns the number of bytes written and why
// it stopped, as net.Conn's Write does.
func (c *Conn) Write(p []byte) (int, error) {
	c.wr.mu.Lock()
	defer c.wr.mu.Unlock()
	c.wr.p, c.wr.n, c.wr.err = p, 0, nil
	err := c.wr.rc.Write(c.wr.fn)
	n := c.wr.n
	if err == nil {
		err = c.wr.err
	}
	c.wr.p, c.wr.err = nil, nil
	return n, c.opError("write", err)
}

// writeFD is the callback of Write: false asks syscall.RawConn to wait
// until fd is writable and call it again.
func (c *Conn) writeFD(fd uintptr) bool {
	for len(c.wr.p) > 0 {
		n, e := rawCall(syscall.SYS_WRITE, fd, c.wr.p)
		switch e {
		case 0:
			c.wr.n += n
			c.wr.p = c.wr.p[n:]
			continue
		case syscall.EAGAIN:
			return false
		}
		c.wr.err = os.NewSyscallError("write", e)
		return true
	}
	return true
}

// opError wraps err as net.Conn's Read and Write do; io.EOF passes as it
// is. An error of the RawConn's own (a deadline, a closed connection) is
// already a *net.OpError, of op "raw-read" or "raw-write": it is given
// op instead.
func (c *Conn) opError(op string, err error) error {
	switch e := err.(type) {
	case nil:
		return nil
	case *os.SyscallError:
		return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: e}
	case *net.OpError:
		oe := *e
		oe.Op = op
		return &oe
	}
	return err
}

// Append writes all of b to f, a regular file, at its offset (the end,
// for a file written only by appending), as f.Write does and with its
// errors, with raw system calls.
func Append(f *os.File, b []byte) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return f.Write(b)
	}
	written := 0
	var errno syscall.Errno
	err = rc.Write(func(fd uintptr) bool {
		for written < len(b) && errno == 0 {
			var n int
			n, errno = rawCall(syscall.SYS_WRITE, fd, b[written:])
			if n == 0 && errno == 0 {
				errno = syscall.EIO // a regular file that takes nothing: do not spin
			}
			written += n
		}
		return true
	})
	switch {
	case err != nil:
		// The file is closed or closing: f.Write says so in its own words.
		n, err := f.Write(b[written:])
		return written + n, err
	case errno != 0:
		return written, &os.PathError{Op: "write", Path: f.Name(), Err: errno}
	}
	return written, nil
}

// Read is one read(2) of fd, a non-blocking descriptor, into p (not
// empty), again when a signal interrupts it; its error is the
// syscall.Errno (EAGAIN when nothing is there yet). For an event loop
// that waits for its descriptors itself (Linux only).
func Read(fd int, p []byte) (int, error) {
	n, e := rawCall(syscall.SYS_READ, uintptr(fd), p)
	if e != 0 {
		return 0, e
	}
	return n, nil
}

// Write is one write(2) of p (not empty) to fd, as Read reads: it may
// write less than p.
func Write(fd int, p []byte) (int, error) {
	n, e := rawCall(syscall.SYS_WRITE, uintptr(fd), p)
	if e != 0 {
		return 0, e
	}
	return n, nil
}

// rawCall makes the read(2) or write(2) trap on fd with p (not empty),
// again when a signal interrupts it, and returns the count and the error
// number.
func rawCall(trap, fd uintptr, p []byte) (int, syscall.Errno) {
	for {
		r, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case 0:
			return int(r), 0
		case syscall.EINTR:
			continue
		}
		return 0, e
	}
}
