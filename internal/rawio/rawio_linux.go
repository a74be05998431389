package rawio

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// Conn returns nc with Read and Write that use raw system calls on the
// socket, waiting for readiness in the netpoller as nc's
// own Read and Write do, with nc's deadlines, when nc is a socket of this
// process (it implements syscall.Conn); nc itself otherwise (a wrapped
// connection, such as a fault injector's). Read returns what one read(2)
// gave, never asking for more than len(p), so a caller reading exactly a
// frame reads no byte past it. Errors are those of nc's Read and Write:
// io.EOF at the end, a *net.OpError otherwise ("read tcp A->B: connection
// reset by peer", os.ErrDeadlineExceeded past the deadline).
func Conn(nc net.Conn) net.Conn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nc
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nc
	}
	return &conn{Conn: nc, rc: rc}
}

// conn is a net.Conn whose Read and Write are raw; the rest is the
// connection's own.
type conn struct {
	net.Conn
	rc syscall.RawConn
}

func (c *conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		n, errno = rawCall(syscall.SYS_READ, fd, p)
		return errno != syscall.EAGAIN
	})
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *conn) Write(p []byte) (int, error) {
	written := 0
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for written < len(p) {
			n, e := rawCall(syscall.SYS_WRITE, fd, p[written:])
			switch e {
			case 0:
				written += n
			case syscall.EAGAIN:
				return false // wait until the socket takes more
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return written, c.opError("write", err)
	case errno != 0:
		return written, c.opError("write", os.NewSyscallError("write", errno))
	}
	return written, nil
}

// opError wraps err as net.Conn's Read and Write do. An error of the
// RawConn's own (a deadline, a closed connection) is already a
// *net.OpError, of op "raw-read" or "raw-write": it is given op instead.
func (c *conn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		e := *oe
		e.Op = op
		return &e
	}
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Append writes all of b to f, a regular file, at its offset (the end,
// for a file written only by appending), as f.Write does, with raw
// system calls. Its error is a *os.PathError as f.Write's is.
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

// rawCall makes the read(2) or write(2) trap on fd with p, again when a
// signal interrupts it, and returns the count and the error number.
func rawCall(trap, fd uintptr, p []byte) (int, syscall.Errno) {
	for {
		r, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e != syscall.EINTR {
			if e != 0 {
				return 0, e
			}
			return int(r), 0
		}
	}
}
