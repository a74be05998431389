//go:build unix

package server

import (
	"net"
	"syscall"
)

// pending reports whether bytes the server has not read yet wait in nc's
// receive buffer. It does not block and consumes nothing: it peeks at the
// socket. It reports false for a connection that is not a socket (a
// wrapper, a net.Pipe), and at end of stream.
func pending(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var (
		n    int
		rerr error
		b    [1]byte
	)
	// Control rather than Read: Read would refuse at once, without looking,
	// under the past read deadline that closeIfIdle sets. The socket is in
	// non-blocking mode, as Go's network poller keeps every socket, so an
	// empty buffer is EAGAIN (MSG_DONTWAIT is not defined everywhere).
	err = rc.Control(func(fd uintptr) {
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
	})
	return err == nil && rerr == nil && n > 0
}
