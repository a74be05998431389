//go:build !linux

package rawio

import (
	"net"
	"os"
)

// Conn exists on Linux only; see rawio_linux.go.
type Conn struct{ net.Conn }

// New returns nil: raw system calls are used on Linux only.
func New(net.Conn) *Conn { return nil }

// Append is f.Write: raw system calls are used on Linux only.
func Append(f *os.File, b []byte) (int, error) { return f.Write(b) }
