package faults

import (
	"errors"
	"fmt"
	"log"
	"net"
	"strings"
	"time"
)

// Config configures a Proxy. Only Upstream must be set; every other field's
// zero value is usable.
type Config struct {
	// Listen is the address Start listens on; "" means "127.0.0.1:0", an
	// ephemeral loopback port. Serve ignores it.
	Listen string
	// Upstream is the host:port every accepted connection is relayed to.
	Upstream string
	// Up are the faults on the client-to-upstream bytes, applied as the
	// proxy writes them to the upstream (in writes of at most
	// RelayBufferSize bytes, as they arrive). Nil means none. They must
	// not be wrapped with OnRead or OnWrite; ParseProxySpec reads them from
	// a spec.
	Up []Fault
	// Down are the faults on the upstream-to-client bytes, applied as the
	// proxy writes them to the client, as for Up. Nil means none.
	Down []Fault
	// Seed seeds the faults' random sources. Every connection uses the same
	// seed, so each replays the same random choices for the same traffic,
	// whatever order concurrent clients are accepted in. Up and Down draw
	// from separate streams.
	Seed uint64
	// DialTimeout bounds each upstream dial; 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// ErrorLog, if not nil, gets one line for each accepted connection the
	// proxy could not relay because the upstream dial failed. Nil means
	// these are only counted (ProxyStats.DialErrors).
	ErrorLog *log.Logger
	// Fixed says the faults never change: SetFaults then refuses, and on
	// Linux the links with no faults are relayed by one event loop, on
	// io_uring or epoll (see Proxy), the fastest relay there is. Without it every link is relayed
	// by its own goroutines, which take up a change of faults at their
	// next byte.
	Fixed bool
}

// Validate reports an empty or malformed Upstream, a malformed Listen, a
// negative DialTimeout, and invalid faults. Faults restricted by OnRead or
// OnWrite are refused: Up and Down already say which bytes they act on.
// Errors wrap ErrInvalidConfig.
func (c Config) Validate() error {
	if c.Upstream == "" {
		return fmt.Errorf("%w: Upstream is empty", ErrInvalidConfig)
	}
	if err := checkAddr(c.Upstream, false); err != nil {
		return fmt.Errorf("%w: Upstream %q: %w", ErrInvalidConfig, c.Upstream, err)
	}
	if c.Listen != "" {
		if err := checkAddr(c.Listen, true); err != nil {
			return fmt.Errorf("%w: Listen %q: %w", ErrInvalidConfig, c.Listen, err)
		}
	}
	if c.DialTimeout < 0 {
		return fmt.Errorf("%w: negative DialTimeout %v", ErrInvalidConfig, c.DialTimeout)
	}
	if err := checkProxyFaults("Up", c.Up); err != nil {
		return err
	}
	return checkProxyFaults("Down", c.Down)
}

// checkAddr reports an address that is not host:port, has spaces, or whose
// port is not a number (or service name) in 1..65535; port 0 (any free
// port) passes when listening.
func checkAddr(addr string, listening bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if strings.ContainsAny(host, " \t\r\n") {
		return errors.New("the host contains spaces")
	}
	n, err := net.LookupPort("tcp", port)
	if err != nil {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	if n == 0 && !listening {
		return errors.New("port 0 cannot be dialled")
	}
	return nil
}

// checkProxyFaults validates fs, the list name (Up or Down) of a Config or
// of SetFaults. Its errors speak to a Go caller: a restricted fault is one
// wrapped with OnRead or OnWrite (ParseProxySpec tells spec users about
// prefixes instead).
func checkProxyFaults(name string, fs []Fault) error {
	for i, f := range fs {
		if d, ok := f.(directed); ok {
			return fmt.Errorf("%w: %s[%d] is On%s(%#v): drop the On%s (%s already says which bytes its faults act on)",
				ErrInvalidConfig, name, i, title(d.dir), d.f, title(d.dir), name)
		}
		if err := validate(f); err != nil {
			return fmt.Errorf("%w: %s[%d]: %w", ErrInvalidConfig, name, i, err)
		}
	}
	return nil
}
