package faults

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/poolside-dev/poolside/internal/rawio"
)

// Wrap returns conn with faults applied, in order: the first fault sees the
// application's call first, the last one sits next to conn. A fault applies
// to both directions unless wrapped by OnRead or OnWrite.
//
// Random choices draw from sources seeded with 0; WrapSeed chooses the
// seed. With no faults the returned connection only forwards to conn.
//
// The returned net.Conn is safe for concurrent use, as conn is. A Read or
// Write of zero bytes carries nothing, so it goes straight to conn, past
// the faults, and returns what conn returns (unless a fault has already
// cut or reset the connection). Deadlines set on it also bound the time a
// fault spends sleeping or blocked, and Close wakes such a fault at once.
// It also has CloseWrite and CloseRead methods (ErrNoHalfClose when conn
// has none) and NetConn, which returns conn.
//
// Wrap panics if a fault fails its Validate method.
func Wrap(conn net.Conn, faults ...Fault) net.Conn { return WrapSeed(conn, 0, faults...) }

// WrapSeed is Wrap with the faults' random choices drawn from sources
// seeded with seed, as a Dialer or ListenerConfig with that Seed would
// draw them: the same seed and the same traffic give the same choices.
//
// WrapSeed panics if a fault fails its Validate method.
func WrapSeed(conn net.Conn, seed uint64, faults ...Fault) net.Conn {
	if err := validateAll(faults); err != nil {
		panic(err)
	}
	return wrap(conn, faults, faults, seed, laneConn)
}

// Lanes separate the random streams of the places that wrap connections.
const (
	laneConn uint64 = iota // Wrap, Dialer, Listener
	laneUp                 // Proxy, client to upstream
	laneDown               // Proxy, upstream to client
)

// Kinds of injected connection endings.
const (
	dropNone int32 = iota
	dropCut
	dropReset
)

// conn is the net.Conn that Wrap returns.
type conn struct {
	net.Conn
	plain  bool        // no faults: forward everything
	raw    *rawio.Conn // a Proxy's fast path to a plain side (relayRead); nil elsewhere
	rd, wr side

	closing   chan struct{} // closed once conn is closed, by anyone
	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool  // Close was called by the application
	dropped   atomic.Int32 // a fault cut or reset the connection
	lost      atomic.Bool  // a Blackhole swallows the writes: the peer hears nothing more
	slowClose atomic.Int64 // a SlowClose's delay before CloseWrite, in nanoseconds

	live *live       // a Proxy's side, whose write faults follow the Proxy's; nil elsewhere
	fast atomic.Bool // live and no write fault: the relay may use raw
	num  uint64      // the connection's number in its Proxy (1 is the first); 0 elsewhere
	fire func(kind string)

	tmu    sync.Mutex
	timers []*time.Timer // faults' timers (After), stopped at close and at a change
}

// side is one direction of a conn.
type side struct {
	op   Op         // nil when no fault acts on this direction
	mu   sync.Mutex // serialises op, whose faults keep unsynchronised state
	dl   deadline
	n    int64 // bytes a live side has written (the relay's writes)
	cont bool  // the operation running continues the message of the one before
	more bool  // the next Write continues the message of the last one
	full bool  // the relay's last write filled its buffer: more was waiting
}

// live is what a Proxy's side needs to follow the Proxy's faults as they
// change: its write chain is rebuilt at its next write after a change.
type live struct {
	src   *atomic.Pointer[faultSet]
	set   *faultSet // the set the write chain was built from
	down  bool      // the client's side: the Down faults; else the Up ones
	seed  uint64
	lane  uint64
	bytes *atomic.Uint64 // the Proxy's count of bytes relayed this way
}

// wrap builds a conn whose reads pass through the faults in rfs that apply to
// reads, and whose writes pass through those in wfs that apply to writes.
func wrap(nc net.Conn, rfs, wfs []Fault, seed, lane uint64) *conn {
	c := &conn{Conn: nc, plain: len(rfs) == 0 && len(wfs) == 0}
	if c.plain {
		return c
	}
	c.closing = make(chan struct{})
	c.rd.op = c.chain(Read, rfs, nc.Read, seed, lane)
	c.wr.op = c.chain(Write, wfs, nc.Write, seed, lane)
	return c
}

// wrapLive builds a Proxy's side whose writes pass through the faults of
// src's current set (Down when down, else Up), rebuilt when it changes.
func wrapLive(nc net.Conn, src *atomic.Pointer[faultSet], down bool, seed, lane, num uint64, fire func(string)) *conn {
	c := &conn{Conn: nc, closing: make(chan struct{}), num: num, fire: fire}
	c.live = &live{src: src, down: down, seed: seed, lane: lane}
	c.build(src.Load())
	return c
}

// build makes a live side's write chain from fs, counting offsets from the
// bytes already written. Only the side's writer calls it.
func (c *conn) build(fs *faultSet) {
	c.wr.mu.Lock()
	defer c.wr.mu.Unlock()
	c.stopTimers()
	c.lost.Store(false)
	c.slowClose.Store(0)
	l := c.live
	l.set = fs
	list := fs.up
	if l.down {
		list = fs.down
	}
	c.wr.op = c.chainAt(Write, list, c.Conn.Write, l.seed, l.lane, c.wr.n)
	c.fast.Store(c.wr.op == nil)
}

// refresh rebuilds a live side's write chain if its Proxy's faults have
// changed since it was built. Only the side's writer calls it.
func (c *conn) refresh() {
	if c.live == nil {
		return
	}
	if fs := c.live.src.Load(); fs != c.live.set {
		c.build(fs)
	}
}

// replaced returns a channel closed when the faults a live side's chain
// was built from are replaced; nil (never ready) for other connections.
func (c *conn) replaced(d Dir) <-chan struct{} {
	if c.live == nil || d != Write {
		return nil
	}
	return c.live.set.replaced
}

// after runs fn once d has passed, unless the connection closes or its
// faults change first.
func (c *conn) after(d time.Duration, fn func()) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	c.timers = append(c.timers, time.AfterFunc(d, fn))
}

func (c *conn) stopTimers() {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	for _, t := range c.timers {
		t.Stop()
	}
	c.timers = nil
}

// chain stacks the faults of fs that act on d over base. It returns nil when
// none does.
func (c *conn) chain(d Dir, fs []Fault, base Op, seed, lane uint64) Op {
	return c.chainAt(d, fs, base, seed, lane, 0)
}

// chainAt is chain for a stream that has carried off bytes already.
func (c *conn) chainAt(d Dir, fs []Fault, base Op, seed, lane uint64, off int64) Op {
	op, applied := base, false
	for i := len(fs) - 1; i >= 0; i-- {
		if !appliesTo(fs[i], d) {
			continue
		}
		s := &Stream{c: c, dir: d, seed: seed, salt: lane<<48 | uint64(d)<<40 | uint64(i), base: off, kind: kindOf(fs[i])}
		op, applied = fs[i].Inject(s, op), true
	}
	if !applied {
		return nil
	}
	return op
}

func (c *conn) side(d Dir) *side {
	if d == Read {
		return &c.rd
	}
	return &c.wr
}

// Read reads through the read-direction faults.
func (c *conn) Read(p []byte) (int, error) {
	if c.plain {
		return c.Conn.Read(p)
	}
	if err := c.early(Read); err != nil {
		return 0, err
	}
	if c.rd.op == nil || c.closed.Load() || len(p) == 0 {
		n, err := c.Conn.Read(p)
		return n, c.fix(Read, err)
	}
	c.rd.mu.Lock()
	defer c.rd.mu.Unlock()
	n, err := c.rd.op(p)
	if n < 0 || n > len(p) {
		panic(fmt.Sprintf("faults: read Op returned %d for a %d-byte buffer", n, len(p)))
	}
	return n, c.fix(Read, err)
}

// Write writes through the write-direction faults, calling them until all of
// p is written or one returns an error.
func (c *conn) Write(p []byte) (int, error) {
	if c.plain {
		return c.Conn.Write(p)
	}
	if err := c.early(Write); err != nil {
		return 0, err
	}
	if c.wr.op == nil || c.closed.Load() || len(p) == 0 {
		n, err := c.Conn.Write(p)
		return n, c.fix(Write, err)
	}
	c.wr.mu.Lock()
	defer c.wr.mu.Unlock()
	total := 0
	c.wr.cont, c.wr.more = c.wr.more, false
	for len(p) > 0 {
		if total > 0 {
			c.wr.cont = true // the rest of one Write is one message
		}
		n, err := c.wr.op(p)
		if n < 0 || n > len(p) {
			panic(fmt.Sprintf("faults: write Op returned %d for %d bytes", n, len(p)))
		}
		total += n
		p = p[n:]
		if err != nil {
			return total, c.fix(Write, err)
		}
		if n == 0 {
			return total, io.ErrShortWrite
		}
	}
	return total, nil
}

// early returns the error an operation in direction d gets without running,
// because a fault has cut or reset the connection; nil otherwise. Once the
// application has closed the connection the underlying error wins.
func (c *conn) early(d Dir) error {
	if k := c.dropped.Load(); k != dropNone && !c.closed.Load() {
		return c.dropErr(k, d)
	}
	return nil
}

// fix replaces err, when the connection was cut or reset by a fault, with the
// error the application would see on a dropped connection.
func (c *conn) fix(d Dir, err error) error {
	if err == nil {
		return nil
	}
	if e := c.early(d); e != nil {
		return e
	}
	return err
}

// dropErr is the error of an operation in direction d after an injected
// ending of kind k.
func (c *conn) dropErr(k int32, d Dir) error {
	if k == dropReset {
		return c.opError(d, os.NewSyscallError(d.String(), syscall.ECONNRESET))
	}
	if d == Read {
		return io.EOF
	}
	return c.opError(d, os.NewSyscallError(d.String(), syscall.EPIPE))
}

// opError wraps err the way the net package does for an operation in d.
func (c *conn) opError(d Dir, err error) error {
	la, ra := c.Conn.LocalAddr(), c.Conn.RemoteAddr()
	network := "tcp"
	if la != nil {
		network = la.Network()
	}
	return &net.OpError{Op: d.String(), Net: network, Source: la, Addr: ra, Err: err}
}

// closedErr is the error of an operation in d interrupted by a close.
func (c *conn) closedErr(d Dir) error {
	if err := c.early(d); err != nil {
		return err
	}
	return c.opError(d, net.ErrClosed)
}

// drop ends the connection on a fault's behalf: kind dropCut closes it,
// dropReset sends RST. The first ending wins.
func (c *conn) drop(kind int32) int32 {
	if c.dropped.CompareAndSwap(dropNone, kind) {
		if kind == dropReset {
			setLingerZero(c.Conn)
		}
		c.shut()
	}
	return c.dropped.Load()
}

// shut closes the underlying connection once and wakes sleeping faults.
func (c *conn) shut() error {
	c.closeOnce.Do(func() {
		c.stopTimers()
		c.closeErr = c.Conn.Close()
		close(c.closing)
	})
	return c.closeErr
}

// Close closes the connection and wakes any fault sleeping in Read or Write.
// After a fault has cut or reset the connection, the first Close returns nil.
func (c *conn) Close() error {
	if c.plain {
		return c.Conn.Close()
	}
	if c.closed.Swap(true) {
		return c.Conn.Close() // the net package's own double-close error
	}
	err := c.shut()
	if c.dropped.Load() != dropNone {
		return nil
	}
	return err
}

// SetDeadline sets both deadlines on the underlying connection and on the
// faults' sleeps.
func (c *conn) SetDeadline(t time.Time) error {
	err := c.Conn.SetDeadline(t)
	c.setFaultDeadline(&c.rd, t)
	c.setFaultDeadline(&c.wr, t)
	return err
}

// SetReadDeadline sets the read deadline on the underlying connection and on
// the read faults' sleeps.
func (c *conn) SetReadDeadline(t time.Time) error {
	err := c.Conn.SetReadDeadline(t)
	c.setFaultDeadline(&c.rd, t)
	return err
}

// SetWriteDeadline sets the write deadline on the underlying connection and
// on the write faults' sleeps.
func (c *conn) SetWriteDeadline(t time.Time) error {
	err := c.Conn.SetWriteDeadline(t)
	c.setFaultDeadline(&c.wr, t)
	return err
}

func (c *conn) setFaultDeadline(s *side, t time.Time) {
	if s.op != nil {
		s.dl.set(t)
	}
}

// CloseWrite half-closes the underlying connection, if it can. Once a
// Blackhole swallows the writes it does nothing and returns nil: the end of
// the stream is lost like the rest.
// A SlowClose first holds it back for its Delay.
func (c *conn) CloseWrite() error {
	if d := time.Duration(c.slowClose.Load()); d > 0 {
		if c.fire != nil {
			c.fire("slow_close")
		}
		if err := c.wait(Write, d, false); err != nil {
			return err
		}
	}
	if c.lost.Load() {
		return nil
	}
	return closeWrite(c.Conn)
}

// cut reports whether a fault has cut (not reset) the connection: its reads
// then end in io.EOF, which is no half-close of the peer's.
func (c *conn) cut() bool { return c.dropped.Load() == dropCut }

// writesLost reports whether a Blackhole swallows the writes now.
func (c *conn) writesLost() bool { return c.lost.Load() }

// CloseRead half-closes the read side of the underlying connection, if it can.
func (c *conn) CloseRead() error { return closeRead(c.Conn) }

// NetConn returns the underlying connection.
func (c *conn) NetConn() net.Conn { return c.Conn }

func closeWrite(c net.Conn) error {
	if hc, ok := c.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return ErrNoHalfClose
}

func closeRead(c net.Conn) error {
	if hc, ok := c.(interface{ CloseRead() error }); ok {
		return hc.CloseRead()
	}
	return ErrNoHalfClose
}

// setLingerZero makes the next Close of c, or of the connection c wraps,
// send RST instead of FIN. Connections without SetLinger are left alone.
func setLingerZero(c net.Conn) {
	for c != nil {
		if l, ok := c.(interface{ SetLinger(sec int) error }); ok {
			_ = l.SetLinger(0)
			return
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return
		}
		c = u.NetConn()
	}
}

// deadline is a deadline that sleeping faults can watch change.
type deadline struct {
	mu      sync.Mutex
	t       time.Time
	changed chan struct{} // closed when t changes; nil until someone watches
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	d.t = t
	if d.changed != nil {
		close(d.changed)
		d.changed = nil
	}
	d.mu.Unlock()
}

func (d *deadline) get() (time.Time, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.changed == nil {
		d.changed = make(chan struct{})
	}
	return d.t, d.changed
}

// wait blocks in direction d for dur, or forever when forever is set. It
// returns early with a timeout error when d's deadline passes, or with a
// closed error when the connection is closed.
func (c *conn) wait(d Dir, dur time.Duration, forever bool) error {
	if !forever && dur <= 0 {
		return nil
	}
	var done <-chan time.Time
	if !forever {
		t := time.NewTimer(dur)
		defer t.Stop()
		done = t.C
	}
	s := c.side(d)
	changed := c.replaced(d)
	for {
		select {
		case <-c.closing:
			return c.closedErr(d)
		default:
		}
		dl, dlChanged := s.dl.get()
		var expired <-chan time.Time
		var et *time.Timer
		if !dl.IsZero() {
			left := time.Until(dl)
			if left <= 0 {
				return c.opError(d, os.ErrDeadlineExceeded)
			}
			et = time.NewTimer(left)
			expired = et.C
		}
		select {
		case <-done:
			stopTimer(et)
			return nil
		case <-expired:
			return c.opError(d, os.ErrDeadlineExceeded)
		case <-dlChanged:
			stopTimer(et)
		case <-changed:
			stopTimer(et)
			if !forever {
				return nil // the faults changed: the rest of the wait is dropped
			}
			changed = nil
		case <-c.closing:
			stopTimer(et)
			return c.closedErr(d)
		}
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}
