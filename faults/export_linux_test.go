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
