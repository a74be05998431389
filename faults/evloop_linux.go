//go:build linux

package faults

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/poolside-dev/poolside/internal/rawio"
)

// evloop relays, on Linux, every link of a Proxy whose two sides have no
// faults, all on one goroutine, around an io_uring instance (see runRing)
// or, where the kernel refuses one, a level-triggered epoll instance, as
// HAProxy with nbthread 1 does. With epoll a message costs one epoll_wait
// shared with every other ready socket, one read and one write: no
// goroutine wakes up for it, and no read is spent finding a socket empty
// (Go's poller is edge-triggered, so a goroutine must read until EAGAIN
// before it may wait). Profiled under 16 clients with a goroutine pair per
// link, the scheduler's wake-ups (futex, nanosleep, sysmon) and those empty
// reads were the cost the proxy paid beyond HAProxy's.
//
// The loop owns duplicates of the sockets' descriptors; the net.Conns are
// closed once it has them, which takes them out of Go's poller. It keeps
// the relay's rules (see Proxy): a half-close is carried through and the
// link ends when both directions have; a reset on either side resets the
// other; any other error closes both. A side that is slow to read gets
// what it has not taken yet kept for it, and the other side is not read
// until it has taken it, so memory per link stays one relay buffer at
// most on epoll, and two on io_uring (see runRing).
//
// Links reach the loop with add and leave it with kill, both from other
// goroutines, through a queue and an eventfd; everything else runs on the
// loop's goroutine. After stop the loop exits once it has no link left.
type evloop struct {
	epfd, wake int
	ring       *uring // io_uring instead of epoll, when the kernel has it (see runRing)

	mu     sync.Mutex
	adds   []*elink
	kills  []*elink
	stop   bool // exit once no link is left
	exited bool

	// Owned by the loop's goroutine.
	held atomic.Int64 // links added and not yet released

	sides   map[uint32]*eside
	nextID  uint32
	links   int
	buf     []byte
	wakeBuf [8]byte    // the ring's read of wake lands here
	ringErr error      // the ring failed: every link ends, the loop exits
	queued  []uringSQE // requests waiting for room in the ring (see sqe)
	failed  []*elink   // links ended when the ring failed, kept with their buffers (see failAll)
}

// elink is a link relayed by the loop. done is closed once both sides are
// closed.
type elink struct {
	client, upstream eside
	done             chan struct{}
	ended            bool
	reset            bool // ended by a reset: both sides are reset
}

// eside is one socket of an elink: the loop reads it and writes to it.
type eside struct {
	fd    int
	id    uint32
	link  *elink
	peer  *eside
	eof   bool           // this side's peer ended its stream (read returned 0)
	shut  bool           // the end was carried here (shutdown SHUT_WR)
	bytes *atomic.Uint64 // counts the bytes relayed to this side

	// With epoll.
	pending    []byte // read from peer, not yet written here
	events     uint32 // interest
	registered bool   // in the epoll interest list (not while events is 0)

	// With io_uring.
	buf  []byte // read from this side; buf[w:n] is still to be written to peer
	n, w int
	busy bool // a read of this side, or a write of buf to peer, is in flight
}

// noRing makes newEvloop go straight to epoll (tests set it to exercise
// the epoll loop).
var noRing atomic.Bool

// newEvloop makes an io_uring instance, or where the kernel refuses one an
// epoll instance, and the loop's wake-up eventfd; run serves them.
func newEvloop() (*evloop, error) {
	wake, err := eventfd()
	if err != nil {
		return nil, err
	}
	e := &evloop{epfd: -1, wake: wake, sides: map[uint32]*eside{}, nextID: 1}
	if !noRing.Load() {
		if e.ring, err = newUring(); err == nil {
			return e, nil
		}
	}
	if e.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		_ = syscall.Close(wake)
		return nil, err
	}
	if err := syscall.EpollCtl(e.epfd, syscall.EPOLL_CTL_ADD, wake, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: 0}); err != nil {
		_ = syscall.Close(wake)
		_ = syscall.Close(e.epfd)
		return nil, err
	}
	e.buf = make([]byte, RelayBufferSize)
	return e, nil
}

// takeFD duplicates c's descriptor (non-blocking, as the net package made
// it: the flag belongs to the socket, which both descriptors share).
func takeFD(c net.Conn) (int, bool) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return -1, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1, false
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if fd = int(r); e != 0 {
			derr = e
		}
	}); err != nil || derr != nil {
		return -1, false
	}
	return fd, true
}

// add hands the sockets of client and upstream to the loop, and returns
// the link, whose done is closed when it ends; the net.Conns are closed.
// It returns nil, changing nothing, when either is not a TCP connection,
// the loop has exited, or it runs on io_uring and holds ringLinks links
// already: the caller relays them itself.
//
// toClient and toUpstream count the bytes relayed each way.
func (e *evloop) add(client, upstream net.Conn, toClient, toUpstream *atomic.Uint64) *elink {
	if e.held.Add(1) > ringLinkCap() && e.ring != nil {
		e.held.Add(-1)
		return nil
	}
	cfd, ok := takeFD(client)
	if !ok {
		e.held.Add(-1)
		return nil
	}
	ufd, ok := takeFD(upstream)
	if !ok {
		e.held.Add(-1)
		_ = syscall.Close(cfd)
		return nil
	}
	l := &elink{done: make(chan struct{})}
	l.client = eside{fd: cfd, link: l, peer: &l.upstream, bytes: toClient}
	l.upstream = eside{fd: ufd, link: l, peer: &l.client, bytes: toUpstream}
	e.mu.Lock()
	if e.exited {
		e.mu.Unlock()
		e.held.Add(-1)
		_ = syscall.Close(cfd)
		_ = syscall.Close(ufd)
		return nil
	}
	e.adds = append(e.adds, l)
	e.notifyLocked()
	e.mu.Unlock()
	_ = client.Close()
	_ = upstream.Close()
	return l
}

// kill ends l at once, as Proxy.Close does: both sockets closed.
func (e *evloop) kill(l *elink) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.kills = append(e.kills, l)
	e.notifyLocked()
}

// shutdown makes the loop exit once it has no link left.
func (e *evloop) shutdown() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stop = true
	e.notifyLocked()
}

// notifyLocked wakes the loop, unless it has exited and closed its
// descriptors (whose numbers may belong to other files by now). Call it
// with mu held.
func (e *evloop) notifyLocked() {
	if e.exited {
		return
	}
	one := [8]byte{1}
	_, _ = syscall.Write(e.wake, one[:])
}

// exitLocked marks the loop exited and closes its descriptors. Call it
// with mu held.
func (e *evloop) exitLocked() {
	e.exited = true
	_ = syscall.Close(e.wake)
	if e.ring != nil {
		e.ring.close()
	} else {
		_ = syscall.Close(e.epfd)
	}
}

// run relays until shutdown and the end of the last link.
//
// It keeps to one OS thread. Otherwise the runtime moves the loop to
// another thread whenever it preempts it (every 10 ms under load, since
// the loop seldom blocks) or hands its processor off: profiled under 16
// clients, the loop ran on two threads in equal shares, and the kernel,
// which places a woken thread by where it last ran and whom it wakes,
// spread the relay, the server and the load generator over both cores
// with more idle time between them. On one thread the relay settles on a
// core as HAProxy's single thread does; in runs alternating with the
// unlocked loop it relayed 2-4 % more.
func (e *evloop) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if e.ring != nil {
		e.runRing()
		return
	}
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := e.wait(events)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			e.failAll()
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == 0 {
				e.control()
				continue
			}
			s := e.sides[uint32(ev.Fd)]
			if s == nil {
				continue // its link ended earlier in this batch
			}
			e.ready(s, ev.Events)
		}
		if e.links == 0 && e.finished() {
			return
		}
	}
}

// wait waits for events. Under load some are nearly always ready, so it
// first asks without waiting, through syscall.RawSyscall, which keeps the
// processor; only when none is ready does it block, through a system call
// that lets the scheduler give the processor to other goroutines.
func (e *evloop) wait(events []syscall.EpollEvent) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(e.epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno == 0 && n > 0 {
		return int(n), nil
	}
	return syscall.EpollWait(e.epfd, events, -1)
}

// control reads the wake-up eventfd, registers the links added and ends
// those killed.
func (e *evloop) control() {
	var b [8]byte
	_, _ = syscall.Read(e.wake, b[:])
	e.takeControl()
}

// takeControl registers the links added and ends those killed.
func (e *evloop) takeControl() {
	e.mu.Lock()
	adds, kills := e.adds, e.kills
	e.adds, e.kills = nil, nil
	e.mu.Unlock()
	for _, l := range adds {
		e.register(l)
	}
	for _, l := range kills {
		e.end(l, false)
	}
}

// finished reports, when the loop has no link, whether it is to exit
// (shutdown, and no link added meanwhile); if so it has closed its
// descriptors.
func (e *evloop) finished() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.stop || len(e.adds) > 0 {
		return false
	}
	e.exitLocked()
	return true
}

// failAll ends every link when epoll or io_uring itself fails, and lets
// add refuse new ones. Reads and writes a failed ring still holds go when
// the instance is closed; until then the kernel may still use their
// buffers, so the links are kept in failed, with the loop, and not left to
// the garbage collector.
func (e *evloop) failAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	ended := e.adds
	e.links += len(e.adds) // never registered: their ids are 0
	for _, s := range e.sides {
		if s == &s.link.client {
			ended = append(ended, s.link)
		}
	}
	e.adds, e.kills = nil, nil
	for _, l := range ended {
		l.ended = true
		e.release(l)
	}
	if e.ring != nil {
		e.failed = ended
	}
	e.exitLocked()
}

func (e *evloop) register(l *elink) {
	e.links++
	for _, s := range [...]*eside{&l.client, &l.upstream} {
		s.id = e.newID()
		e.sides[s.id] = s
		if e.ring != nil {
			continue
		}
		s.events, s.registered = syscall.EPOLLIN, true
		if err := syscall.EpollCtl(e.epfd, syscall.EPOLL_CTL_ADD, s.fd, &syscall.EpollEvent{Events: s.events, Fd: int32(s.id)}); err != nil {
			e.end(l, false)
			return
		}
	}
	if e.ring != nil {
		e.startRing(l)
	}
}

// newID returns an id no side has: after 2^32 sides the ids wrap, and a
// long-lived side may still hold the next one. 0 is the eventfd.
func (e *evloop) newID() uint32 {
	for {
		id := e.nextID
		if e.nextID++; e.nextID == 0 {
			e.nextID = 1
		}
		if _, taken := e.sides[id]; !taken {
			return id
		}
	}
}

// ready handles the events epoll reported for s.
func (e *evloop) ready(s *eside, events uint32) {
	if len(s.pending) > 0 && events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
		e.flush(s)
		if s.link.ended {
			return
		}
	}
	if s.reading() && events&(syscall.EPOLLIN|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
		e.read(s) // an error or hang-up shows in the read, after any data left
	}
}

// reading reports whether s is read: its stream has not ended, and what
// was last read from it has reached its peer.
func (s *eside) reading() bool { return !s.eof && len(s.peer.pending) == 0 }

// read reads s once and sends what it got to its peer.
func (e *evloop) read(s *eside) {
	n, err := rawio.Read(s.fd, e.buf)
	switch {
	case n > 0:
		s.peer.bytes.Add(uint64(n))
		e.send(s.peer, e.buf[:n])
	case err == nil: // the end of s's stream: carry it to the peer
		s.eof = true
		e.carryEnd(s.peer)
		e.watch(s)
	case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR):
	default:
		e.end(s.link, errors.Is(err, syscall.ECONNRESET))
	}
}

// send writes p to dst, keeping what the socket did not take.
func (e *evloop) send(dst *eside, p []byte) {
	w, err := writeFD(dst.fd, p)
	if err != nil {
		e.end(dst.link, isReset(err))
		return
	}
	if w < len(p) {
		dst.pending = append(dst.pending[:0], p[w:]...)
		e.watch(dst)
		e.watch(dst.peer)
	}
}

// flush writes what dst has pending.
func (e *evloop) flush(dst *eside) {
	w, err := writeFD(dst.fd, dst.pending)
	if err != nil {
		e.end(dst.link, isReset(err))
		return
	}
	dst.pending = dst.pending[w:]
	if len(dst.pending) > 0 {
		return
	}
	dst.pending = nil
	if dst.peer.eof {
		e.carryEnd(dst)
	}
	if dst.link.ended {
		return
	}
	e.watch(dst)
	e.watch(dst.peer)
}

// carryEnd half-closes dst once its peer's stream has ended and every byte
// of it has been written to dst; when both ways have ended, the link ends.
func (e *evloop) carryEnd(dst *eside) {
	if dst.shut || len(dst.pending) > 0 {
		return
	}
	dst.shut = true
	if err := syscall.Shutdown(dst.fd, syscall.SHUT_WR); err != nil {
		e.end(dst.link, false)
		return
	}
	if dst.eof && dst.peer.shut {
		e.end(dst.link, false)
	}
}

// watch registers the interest s needs now: reading, and writability while
// it has bytes pending.
func (e *evloop) watch(s *eside) {
	var want uint32
	if s.reading() {
		want |= syscall.EPOLLIN
	}
	if len(s.pending) > 0 {
		want |= syscall.EPOLLOUT
	}
	if s.link.ended || (want == s.events && (want == 0) != s.registered) {
		return
	}
	op := syscall.EPOLL_CTL_MOD
	switch {
	case want == 0:
		// Out of the interest list: epoll reports a hang-up whatever
		// the interest, and level-triggered it would report it on every
		// wait while the side waits for its peer (a peer that closed
		// after its last bytes, which are still to be read).
		op = syscall.EPOLL_CTL_DEL
	case !s.registered:
		op = syscall.EPOLL_CTL_ADD
	}
	s.events, s.registered = want, want != 0
	if err := syscall.EpollCtl(e.epfd, op, s.fd, &syscall.EpollEvent{Events: want, Fd: int32(s.id)}); err != nil {
		e.end(s.link, false)
	}
}

// end ends l: it closes both sockets, after a reset resetting both (a
// linger of zero sends RST), and closes done. With io_uring that waits
// until the reads and writes in flight on them are cancelled (see
// endRing).
func (e *evloop) end(l *elink, reset bool) {
	if l.ended {
		return
	}
	l.ended, l.reset = true, reset
	if e.ring != nil {
		e.endRing(l)
		return
	}
	for _, s := range [...]*eside{&l.client, &l.upstream} {
		if s.registered {
			_ = syscall.EpollCtl(e.epfd, syscall.EPOLL_CTL_DEL, s.fd, nil)
		}
	}
	e.release(l)
}

// release closes the sockets of an ended link and closes done.
func (e *evloop) release(l *elink) {
	for _, s := range [...]*eside{&l.client, &l.upstream} {
		if l.reset {
			_ = syscall.SetsockoptLinger(s.fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
		}
		if s.id != 0 {
			delete(e.sides, s.id)
		}
		_ = syscall.Close(s.fd)
	}
	e.links--
	e.held.Add(-1)
	close(l.done)
}

// writeFD writes as much of p as fd takes now; EAGAIN is no error.
func writeFD(fd int, p []byte) (int, error) {
	w := 0
	for w < len(p) {
		n, err := rawio.Write(fd, p[w:])
		switch {
		case err == nil:
			w += n
		case errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.EAGAIN):
			return w, nil
		default:
			return w, err
		}
	}
	return w, nil
}

// eventfd makes a non-blocking eventfd (the syscall package has no
// wrapper for it).
func eventfd() (int, error) {
	r, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// isReset reports a write error that means the peer reset the connection
// (as for the relay's goroutines, a broken pipe is not one).
func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
