package faults

// UseEpoll makes the proxies started until restore relay their links with
// no faults on the epoll loop, not io_uring.
func UseEpoll() (restore func()) {
	noRing.Store(true)
	return func() { noRing.Store(false) }
}

// RelayLoop says what relays p's links with no faults: "io_uring",
// "epoll", or "" while no such link has come.
func RelayLoop(p *Proxy) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.loop == nil:
		return ""
	case p.loop.ring != nil:
		return "io_uring"
	default:
		return "epoll"
	}
}

// RingAvailable reports whether this kernel gives the proxy an io_uring
// instance, and if not why.
func RingAvailable() error {
	r, err := newUring()
	if err == nil {
		r.close()
	}
	return err
}

// LimitRingLinks makes the io_uring loops hold at most n links until
// restore; the proxy relays the others on goroutines.
func LimitRingLinks(n int64) (restore func()) {
	ringLinks.Store(n)
	return func() { ringLinks.Store(0) }
}

// RingHeld returns how many links p's event loop holds now.
func RingHeld(p *Proxy) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loop == nil {
		return 0
	}
	return p.loop.held.Load()
}
