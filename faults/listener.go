package faults

import (
	"fmt"
	"net"
	"slices"
	"sync/atomic"
)

// ListenerConfig says which accepted connections WrapListener injects
// faults into. The zero value wraps every connection with no faults.
type ListenerConfig struct {
	// Faults are applied to the chosen connections, as by Wrap.
	Faults []Fault
	// Only, when not 0, chooses the Only-th accepted connection alone
	// (counting from 1, in Accept order); 0 chooses every connection.
	Only int
	// Seed seeds the random sources of the faults. Every chosen connection
	// uses the same seed, so each replays the same random choices for the
	// same traffic, whatever order concurrent clients are accepted in.
	Seed uint64
}

// Validate reports a negative Only or a fault that fails its Validate.
func (c ListenerConfig) Validate() error {
	if c.Only < 0 {
		return fmt.Errorf("%w: Only %d, want 0 (all) or k >= 1", ErrInvalidConfig, c.Only)
	}
	if err := validateAll(c.Faults); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// WrapListener returns ln with its accepted connections wrapped as cfg says.
// Every accepted connection is wrapped (the ones not chosen with no faults),
// so all of them have the methods Wrap's connections have. The listener is
// safe for concurrent use; Close and Addr are ln's.
//
// WrapListener panics if cfg fails Validate.
func WrapListener(ln net.Listener, cfg ListenerConfig) net.Listener {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg.Faults = slices.Clone(cfg.Faults)
	return &listener{Listener: ln, cfg: cfg}
}

type listener struct {
	net.Listener
	cfg      ListenerConfig
	accepted atomic.Int64
}

// Accept waits for the next connection and wraps it.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	k := l.accepted.Add(1)
	fs := l.cfg.Faults
	if l.cfg.Only != 0 && k != int64(l.cfg.Only) {
		fs = nil
	}
	return wrap(c, fs, fs, l.cfg.Seed, laneConn), nil
}
