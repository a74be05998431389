package faults

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poolside-dev/poolside/internal/rawio"
)

// DefaultDialTimeout is the upstream dial timeout of a Config whose
// DialTimeout is 0.
const DefaultDialTimeout = 10 * time.Second

// RelayBufferSize is the size of a Proxy's relay buffer, one per direction
// per connection: the proxy reads at most this many bytes from one side and
// writes them to the other in one Write, so it is also the largest write
// the Up and Down faults see.
const RelayBufferSize = 32 << 10

// Proxy is a TCP proxy that relays every accepted connection to an upstream
// address, injecting faults into either direction. With no faults it
// relays with RelayBufferSize (32 KiB) buffers and nothing else in the way.
// On Linux every link with no faults on either side is relayed by one
// goroutine around an io_uring instance (see evloop), so that a message
// costs a share of one io_uring_enter; where the kernel refuses io_uring
// the loop runs on epoll instead, and a message costs one read and one
// write, and a share of an epoll_wait, as in HAProxy. Other links get one
// goroutine per direction, a buffer reused for every read, and raw system
// calls for a side with no faults (see internal/rawio).
//
// Half-closes are carried through: when the client closes its write side,
// the proxy closes its write side to the upstream and keeps relaying the
// upstream's reply until the upstream closes, and the same the other way.
// A reset on either side (a real one, or an injected Reset) resets the
// other side too; any other error closes both. So a Cut in Up or Down drops
// the whole connection: the side it acts on sees its bytes end after At,
// and the other side is closed as soon as the proxy notices. A side whose
// writes a Blackhole swallows is the exception: while its peer is still
// sending, it is neither closed nor reset, whatever the other side does, so
// the peer hears nothing more. Once that peer ends its own stream (it
// closes, half-closes or resets), the connection ends as any other does,
// and both its sockets are closed when both directions have ended (see
// Blackhole): clients that come and go through a blackhole leave no
// descriptors behind.
//
// Its methods are safe for concurrent use. After Shutdown or Close it
// accepts no more connections and cannot be restarted.
type Proxy struct {
	cfg    Config
	faults atomic.Pointer[faultSet]
	ctx    context.Context // cancelled when the proxy is done: aborts dials
	cancel context.CancelFunc
	bufs   sync.Pool

	accepted   atomic.Uint64
	dialErrors atomic.Uint64
	active     atomic.Int64
	bytesUp    atomic.Uint64
	bytesDown  atomic.Uint64
	firedMu    sync.Mutex
	fired      map[string]uint64 // by fault kind (see ProxyStats.Fired)

	mu       sync.Mutex
	ln       net.Listener
	shutdown bool          // Shutdown or Close began: accept no more
	killed   bool          // Close began: every link is being closed
	done     chan struct{} // closed when shutdown begins
	idle     chan struct{} // closed when shut down with no goroutine left
	running  int           // goroutines started by goroutine, not yet ended
	links    map[*link]struct{}
	loop     *evloop // relays the links with no faults (Linux); made on first use
	noLoop   bool    // making it failed: goroutines relay every link
	wg       sync.WaitGroup
	serveErr error // what ended Start's accept loop, if not shutdown
}

// faultSet is the proxy's faults, replaced as a whole; replaced is closed
// when it is, which wakes the faults sleeping in its links.
type faultSet struct {
	up, down []Fault
	replaced chan struct{}
}

func newFaultSet(up, down []Fault) *faultSet {
	return &faultSet{up: slices.Clone(up), down: slices.Clone(down), replaced: make(chan struct{})}
}

// ProxyStats is a snapshot of a Proxy's counters.
type ProxyStats struct {
	// Accepted counts the connections accepted.
	Accepted uint64
	// Active is the number of connections being relayed now.
	Active int64
	// DialErrors counts the accepted connections closed because the
	// upstream dial failed.
	DialErrors uint64
	// BytesUp and BytesDown count the bytes relayed to the upstream and
	// to the clients.
	BytesUp, BytesDown uint64
	// Fired counts the times faults acted, by kind: "delay", "latency",
	// "rate", "chunk", "stall", "cut", "reset", "blackhole", "corrupt",
	// "short" and "slow_close" (one per operation delayed, piece cut
	// short, pause, ending, byte corrupted...), and a user's own Fault
	// types by their Go type name. Nil when none has.
	Fired map[string]uint64
}

// NewProxy returns a Proxy for cfg, not yet listening. It returns cfg's
// Validate error if there is one.
func NewProxy(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		cfg:    cfg,
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
		idle:   make(chan struct{}),
		links:  make(map[*link]struct{}),
	}
	p.bufs.New = func() any { b := make([]byte, RelayBufferSize); return &b }
	p.faults.Store(newFaultSet(cfg.Up, cfg.Down))
	return p, nil
}

// Start listens on the configured address and serves in the background.
// When it returns nil, Addr reports the address. It returns ErrProxyClosed
// after Shutdown or Close, and ErrProxyServing if the proxy already serves.
func (p *Proxy) Start() error {
	addr := p.cfg.Listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := p.canServe(); err != nil {
		return err // before listening: a second Start must not fail on the address
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(p.ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("faults: proxy listen: %w", err)
	}
	if err := p.setListener(ln); err != nil {
		_ = ln.Close()
		return err
	}
	started := p.goroutine(func() {
		if err := p.serve(ln); !errors.Is(err, ErrProxyClosed) {
			p.mu.Lock()
			p.serveErr = err
			p.mu.Unlock()
		}
	})
	if !started {
		return ErrProxyClosed // shutdown began; it closed ln
	}
	return nil
}

// Serve accepts connections on ln and relays each to the upstream. It
// blocks until Shutdown or Close, then returns ErrProxyClosed; it returns
// another error only if ln fails permanently. Serve always closes ln. It
// returns ErrProxyServing if the proxy already serves a listener.
//
// Temporary accept errors are retried after a pause that starts at 5 ms and
// doubles up to 1 s, reset by the next good accept.
func (p *Proxy) Serve(ln net.Listener) error {
	if err := p.setListener(ln); err != nil {
		_ = ln.Close()
		return err
	}
	return p.serve(ln)
}

func (p *Proxy) setListener(ln net.Listener) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.canServeLocked(); err != nil {
		return err
	}
	p.ln = ln
	return nil
}

// canServe returns ErrProxyClosed after shutdown began, ErrProxyServing
// while a listener is served, and nil otherwise.
func (p *Proxy) canServe() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.canServeLocked()
}

func (p *Proxy) canServeLocked() error {
	switch {
	case p.shutdown:
		return ErrProxyClosed
	case p.ln != nil:
		return ErrProxyServing
	}
	return nil
}

func (p *Proxy) serve(ln net.Listener) error {
	defer ln.Close()
	var pause time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if p.isShutdown() {
				return ErrProxyClosed
			}
			if !temporary(err) {
				return fmt.Errorf("faults: proxy accept: %w", err)
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-p.done:
				t.Stop()
				return ErrProxyClosed
			}
			continue
		}
		pause = 0
		num := p.accepted.Add(1)
		if !p.goroutine(func() { p.handle(c, num) }) {
			_ = c.Close()
			return ErrProxyClosed
		}
	}
}

// temporary reports whether err says to retry, as net/http's Serve decides.
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (p *Proxy) isShutdown() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shutdown
}

// goroutine runs fn in a new goroutine that Shutdown and Close wait for. It
// refuses, returning false, once shutdown has begun.
func (p *Proxy) goroutine(fn func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.goroutineLocked(fn)
}

// goroutineLocked is goroutine, called with p.mu held.
func (p *Proxy) goroutineLocked(fn func()) bool {
	if p.shutdown {
		return false
	}
	p.running++
	p.wg.Add(1)
	go func() {
		defer p.exited()
		fn()
	}()
	return true
}

func (p *Proxy) exited() {
	p.mu.Lock()
	p.running--
	if p.shutdown && p.running == 0 {
		close(p.idle)
	}
	p.mu.Unlock()
	p.wg.Done()
}

// handle dials the upstream for client connection c, the num-th accepted,
// and relays until both directions end.
func (p *Proxy) handle(c net.Conn, num uint64) {
	timeout := p.cfg.DialTimeout
	if timeout == 0 {
		timeout = DefaultDialTimeout
	}
	d := net.Dialer{Timeout: timeout}
	u, err := d.DialContext(p.ctx, "tcp", p.cfg.Upstream)
	if err != nil {
		p.dialErrors.Add(1)
		if p.cfg.ErrorLog != nil && p.ctx.Err() == nil {
			p.cfg.ErrorLog.Printf("cannot reach the upstream %s for the client %s, so its connection was closed: %v", p.cfg.Upstream, c.RemoteAddr(), err)
		}
		_ = c.Close()
		return
	}
	l := &link{
		client:   wrapLive(c, &p.faults, true, p.cfg.Seed, laneDown, num, p.fire),
		upstream: wrapLive(u, &p.faults, false, p.cfg.Seed, laneUp, num, p.fire),
	}
	l.client.live.bytes, l.upstream.live.bytes = &p.bytesDown, &p.bytesUp
	for _, s := range [...]*conn{l.client, l.upstream} {
		s.raw = rawio.New(s.Conn)
	}
	if !p.track(l) {
		l.kill()
		return
	}
	defer p.untrack(l)
	p.active.Add(1)
	defer p.active.Add(-1)
	if p.cfg.Fixed && l.client.fast.Load() && l.upstream.fast.Load() {
		if ev := p.evloop(); ev != nil {
			if el := ev.add(c, u, &p.bytesDown, &p.bytesUp); el != nil {
				l.loop = ev
				l.ev.Store(el)
				if p.isKilled() { // Close began before l.ev was set
					ev.kill(el)
				}
				<-el.done
				return
			}
		}
	}
	l.run(&p.bufs)
}

// evloop returns the loop that relays links with no faults, making and
// starting it on first use, or nil when there is none: on other systems
// than Linux, when making it failed, and after shutdown began before it
// was made.
func (p *Proxy) evloop() *evloop {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loop != nil || p.noLoop || p.shutdown {
		return p.loop
	}
	ev, err := newEvloop()
	if err != nil {
		p.noLoop = true
		return nil
	}
	if !p.goroutineLocked(ev.run) {
		return nil
	}
	p.loop = ev
	return ev
}

func (p *Proxy) isKilled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killed
}

func (p *Proxy) track(l *link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed {
		return false
	}
	p.links[l] = struct{}{}
	return true
}

func (p *Proxy) untrack(l *link) {
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// Addr returns the address the proxy listens on, or nil before Start or
// Serve.
func (p *Proxy) Addr() net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return nil
	}
	return p.ln.Addr()
}

// Shutdown stops accepting, then waits for the connections being relayed
// to end on their own (their peers close them). If ctx ends first it
// returns ctx.Err() and leaves them running: call Close to end them. It
// returns the listener's close error, or the error that ended Start's
// accept loop early, if any.
func (p *Proxy) Shutdown(ctx context.Context) error {
	err := p.beginShutdown()
	select {
	case <-p.idle:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.cancel()
	return p.result(err)
}

// Close stops accepting, closes every connection being relayed (waking any
// fault that sleeps in them) and waits for every goroutine of the proxy to
// end. It returns what Shutdown would.
func (p *Proxy) Close() error {
	err := p.beginShutdown()
	p.cancel()
	p.mu.Lock()
	p.killed = true
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.kill()
	}
	p.wg.Wait()
	return p.result(err)
}

// beginShutdown stops accepting. The first call closes the listener and
// returns that error.
func (p *Proxy) beginShutdown() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutdown {
		return nil
	}
	p.shutdown = true
	close(p.done)
	if p.loop != nil {
		p.loop.shutdown() // it ends once its last link has
	}
	if p.running == 0 {
		close(p.idle)
	}
	if p.ln == nil {
		return nil
	}
	if err := p.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

func (p *Proxy) result(err error) error {
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.serveErr
}

// SetFaults replaces the faults of every connection, new and open. An
// open connection takes up the new lists at its next write in each
// direction: each fault in them starts there, as on a new connection,
// except that byte offsets still count from the connection's start (see
// Live changes in the package documentation). A fault sleeping when the
// change comes (a delay, a stall, a pace) wakes at once, and the bytes it
// held go on without the rest of the wait.
//
// It returns an error wrapping ErrInvalidConfig, and changes nothing, if a
// fault is invalid or restricted by OnRead or OnWrite, or if the proxy's
// Config is Fixed.
func (p *Proxy) SetFaults(up, down []Fault) error {
	if p.cfg.Fixed {
		return fmt.Errorf("%w: the proxy was made with Fixed faults", ErrInvalidConfig)
	}
	if err := checkProxyFaults("Up", up); err != nil {
		return err
	}
	if err := checkProxyFaults("Down", down); err != nil {
		return err
	}
	old := p.faults.Swap(newFaultSet(up, down))
	close(old.replaced)
	return nil
}

// fire counts one firing of a fault of kind.
func (p *Proxy) fire(kind string) {
	p.firedMu.Lock()
	if p.fired == nil {
		p.fired = make(map[string]uint64)
	}
	p.fired[kind]++
	p.firedMu.Unlock()
}

// Faults returns copies of the faults applied to new connections.
func (p *Proxy) Faults() (up, down []Fault) {
	fs := p.faults.Load()
	return slices.Clone(fs.up), slices.Clone(fs.down)
}

// Seed returns the configured seed.
func (p *Proxy) Seed() uint64 { return p.cfg.Seed }

// Stats returns a snapshot of the proxy's counters.
func (p *Proxy) Stats() ProxyStats {
	p.firedMu.Lock()
	fired := maps.Clone(p.fired)
	p.firedMu.Unlock()
	return ProxyStats{
		Accepted:   p.accepted.Load(),
		Active:     p.active.Load(),
		DialErrors: p.dialErrors.Load(),
		BytesUp:    p.bytesUp.Load(),
		BytesDown:  p.bytesDown.Load(),
		Fired:      fired,
	}
}
