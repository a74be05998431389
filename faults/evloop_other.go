//go:build !linux

package faults

import (
	"errors"
	"net"
	"sync/atomic"
)

// evloop is the one-goroutine relay of links with no faults, which exists
// on Linux only (see evloop_linux.go); elsewhere every link is relayed by
// a pair of goroutines.
type evloop struct{}

// elink is a link relayed by an evloop.
type elink struct{ done chan struct{} }

func newEvloop() (*evloop, error)                             { return nil, errors.ErrUnsupported }
func (*evloop) add(_, _ net.Conn, _, _ *atomic.Uint64) *elink { return nil }
func (*evloop) kill(*elink)                                   {}
func (*evloop) shutdown()                                     {}
func (*evloop) run()                                          {}
