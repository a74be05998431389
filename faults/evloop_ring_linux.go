//go:build linux

package faults

import (
	"errors"
	"syscall"
	"unsafe"
)

// What a request in the ring is, in the low reqKindBits bits of its
// user_data; the rest is the id of the side it belongs to.
const (
	reqRecv   = iota // a read of the side into its buffer
	reqSend          // a write of the side's buffer to its peer
	reqWake          // the read of the loop's eventfd (side id 0)
	reqCancel        // a cancel, whose own result the loop does not need
)

const reqKindBits = 2

func reqData(id uint32, kind uint64) uint64 { return uint64(id)<<reqKindBits | kind }

// runRing is run's loop on io_uring. Each side of a link has a buffer and
// one request in flight at a time: a read of the side while its buffer is
// empty, otherwise a write of what the buffer holds to its peer, as the
// epoll loop reads a side only once its peer has taken what it read last.
// One io_uring_enter submits every request the last batch of completions
// made, and returns the completions that arrived meanwhile, so a message
// costs a share of one system call instead of an epoll_wait's share, a
// read and a write: in runs alternating with the epoll loop under 16
// clients this relayed 3-4 % more (see the README's proxy figures). The
// price is memory: two buffers per link instead of one shared by all,
// which is what a link relayed by goroutines holds too.
//
// A link's sockets are closed once no request of it is in flight (the
// kernel holds their buffers till then): endRing cancels them.
func (e *evloop) runRing() {
	r := e.ring
	e.armWake()
	wait := false
	for e.ringErr == nil {
		e.unqueue()
		if len(e.queued) > 0 {
			wait = false // room comes as the kernel takes what is submitted
		}
		if err := r.enter(wait); err != nil {
			switch {
			case errors.Is(err, syscall.EINTR):
				continue
			case errors.Is(err, syscall.EBUSY), errors.Is(err, syscall.EAGAIN):
				// Nothing submitted, for lack of room for completions or
				// of memory: take the completions, then submit again.
			default:
				e.ringErr = err
				continue
			}
		}
		wait = true
		for c, ok := r.next(); ok; c, ok = r.next() {
			wait = false
			e.completed(c)
		}
		if e.ringErr == nil && e.links == 0 && e.finished() {
			return
		}
	}
	e.failAll()
}

// unqueue moves the requests queued while the ring's submission queue was
// full into it, in order, as far as there is room.
func (e *evloop) unqueue() {
	n := 0
	for ; n < len(e.queued); n++ {
		q := e.ring.sqe()
		if q == nil {
			break
		}
		*q = e.queued[n]
	}
	e.queued = append(e.queued[:0], e.queued[n:]...)
}

// completed handles the completion of one request.
func (e *evloop) completed(c uringCQE) {
	id, kind := uint32(c.userData>>reqKindBits), c.userData&(1<<reqKindBits-1)
	switch kind {
	case reqCancel:
		return
	case reqWake:
		if c.res < 0 && c.res != -int32(syscall.EINTR) && c.res != -int32(syscall.EAGAIN) {
			e.ringErr = syscall.Errno(-c.res)
			return
		}
		e.takeControl()
		e.armWake()
		return
	}
	s := e.sides[id]
	if s == nil {
		return
	}
	s.busy = false
	if s.link.ended {
		e.releaseIdle(s.link)
		return
	}
	if kind == reqRecv {
		e.received(s, c.res)
	} else {
		e.sent(s, c.res)
	}
}

// received handles the result of a read of s.
func (e *evloop) received(s *eside, res int32) {
	switch {
	case res > 0:
		s.peer.bytes.Add(uint64(res))
		s.n, s.w = int(res), 0
		e.ringSend(s)
	case res == 0: // the end of s's stream: carry it to the peer
		s.eof = true
		e.carryEnd(s.peer)
	case res == -int32(syscall.EAGAIN) || res == -int32(syscall.EINTR):
		e.ringRecv(s)
	default:
		e.end(s.link, res == -int32(syscall.ECONNRESET))
	}
}

// sent handles the result of a write of s's buffer to its peer.
func (e *evloop) sent(s *eside, res int32) {
	switch {
	case res >= 0:
		if s.w += int(res); s.w < s.n {
			e.ringSend(s)
			return
		}
		s.n, s.w = 0, 0
		e.ringRecv(s)
	case res == -int32(syscall.EAGAIN) || res == -int32(syscall.EINTR):
		e.ringSend(s)
	default:
		e.end(s.link, isReset(syscall.Errno(-res)))
	}
}

// startRing gives the sides of a registered link their buffers and reads
// both.
func (e *evloop) startRing(l *elink) {
	for _, s := range [...]*eside{&l.client, &l.upstream} {
		s.buf = make([]byte, RelayBufferSize)
		e.ringRecv(s)
	}
}

// sqe returns a submission entry to fill at once: the ring's next or,
// while the ring is full or requests already wait for room (they keep
// their order), one queued for unqueue.
func (e *evloop) sqe() *uringSQE {
	if len(e.queued) == 0 {
		if q := e.ring.sqe(); q != nil {
			return q
		}
	}
	e.queued = append(e.queued, uringSQE{})
	return &e.queued[len(e.queued)-1]
}

func (e *evloop) ringRecv(s *eside) {
	q := e.sqe()
	q.opcode, q.fd = uringOpRecv, int32(s.fd)
	q.addr, q.len = uint64(uintptr(unsafe.Pointer(&s.buf[0]))), uint32(len(s.buf))
	q.userData = reqData(s.id, reqRecv)
	s.busy = true
}

func (e *evloop) ringSend(s *eside) {
	q := e.sqe()
	q.opcode, q.fd = uringOpSend, int32(s.peer.fd)
	q.addr, q.len = uint64(uintptr(unsafe.Pointer(&s.buf[s.w]))), uint32(s.n-s.w)
	q.opFlags = syscall.MSG_NOSIGNAL
	q.userData = reqData(s.id, reqSend)
	s.busy = true
}

// armWake reads the wake-up eventfd through the ring.
func (e *evloop) armWake() {
	q := e.sqe()
	q.opcode, q.fd, q.off = uringOpRead, int32(e.wake), ^uint64(0) // no offset: not a seekable file
	q.addr, q.len = uint64(uintptr(unsafe.Pointer(&e.wakeBuf[0]))), uint32(len(e.wakeBuf))
	q.userData = reqData(0, reqWake)
}

// endRing cancels every request in flight on l's sockets; l is released
// once the last of them has completed, or now if none is in flight.
func (e *evloop) endRing(l *elink) {
	if l.client.busy || l.upstream.busy {
		for _, s := range [...]*eside{&l.client, &l.upstream} {
			q := e.sqe()
			q.opcode, q.fd = uringOpAsyncCancel, int32(s.fd)
			q.opFlags = uringCancelFD | uringCancelAll
			q.userData = reqData(0, reqCancel)
		}
	}
	e.releaseIdle(l)
}

// releaseIdle releases an ended link once nothing of it is in flight.
func (e *evloop) releaseIdle(l *elink) {
	if !l.client.busy && !l.upstream.busy {
		e.release(l)
	}
}
