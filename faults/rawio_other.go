//go:build !linux

package faults

import (
	"io"
	"net"
)

// rawIO is the relay's system-call path to a TCP connection, which exists
// on Linux only (see rawio_linux.go); elsewhere the relay uses the
// connection's own Read and Write.
type rawIO struct{ io.ReadWriter }

// newRawIO returns nil: there is no raw path on this system.
func newRawIO(net.Conn) *rawIO { return nil }
