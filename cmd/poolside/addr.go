package main

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// addrUse says what an address flag is for.
type addrUse bool

const (
	// listening: port 0 picks a free port, and no host means every
	// interface (or what the flag's help says).
	listening addrUse = true
	// dialling: the host and a port from 1 to 65535 are required.
	dialling addrUse = false
)

// checkAddr returns a usage error naming flag unless addr is HOST:PORT with
// a host that is an IP address or a host name (not resolved here) and a
// decimal port from 1 to 65535, or 0 when listening. Only a listening
// address may leave the host out. example, a valid value, is shown in the
// error. Every address flag of every command is checked here.
func checkAddr(flag, addr, example string, use addrUse) error {
	if addr == "" {
		return usageError(fmt.Errorf("%s is empty; give host:port, for example %s", flag, example))
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError(fmt.Errorf("%s %q is not host:port, for example %s (an IPv6 address goes in brackets: [::1]:%s)",
			flag, addr, example, examplePort(example)))
	}
	minPort := uint64(1)
	if use == listening {
		minPort = 0
	}
	switch {
	case port == "":
		return usageError(fmt.Errorf("%s %q has no port, for example %s", flag, addr, example))
	case host == "" && use == dialling:
		return usageError(fmt.Errorf("%s %q has no host, for example %s", flag, addr, example))
	case host != "" && !validHost(host):
		return usageError(fmt.Errorf("%s %q: host %q is neither an IP address nor a host name, for example %s",
			flag, addr, host, example))
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n < minPort {
		hint := ""
		if use == listening {
			hint = " (0 picks a free one)"
		}
		return usageError(fmt.Errorf("%s %q: port %q is not a number from %d to 65535%s, for example %s",
			flag, addr, port, minPort, hint, example))
	}
	return nil
}

// examplePort returns the port of example, a valid host:port.
func examplePort(example string) string {
	_, port, _ := net.SplitHostPort(example)
	return port
}

// validHost reports whether host is an IP address (IPv6 possibly with a
// zone) or made of the characters of a host name: letters, digits, '-',
// '_' and '.'.
func validHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	for _, r := range host {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return len(host) <= 253
}
