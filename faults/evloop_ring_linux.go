//go:build linux

package faults

import (
	"errors"
	"syscall"
	"unsafe"
)

// What a request in the ring is, in the low bits of its user_data; the
// rest is the id of the side it belongs to.
const (
	reqRecv   = iota // a read of the side into its buffer
	reqSend          // a write of the side's buffer to its peer
	reqWake          // the read of the loop's eventfd (side id 0)
	reqCancel        // a cancel, whose own result the loop does not need
	reqKinds  = 2    // bits
)

func reqData(id uint32, kind uint64) uint64 { return uint64(id)<<reqKinds | kind }

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
		if err := r.enter(wait); err != nil {
			switch {
			case errors.Is(err, syscall.EINTR):
				continue
			case errors.Is(err, syscall.EBUSY): // completions to take first
			default:
				e.ringErr = err
				continue
			}
		}
		head, tail := r.completions()
		wait = head == tail
		for ; head != tail; head++ {
			e.completed(r.cqe(head))
		}
		r.consumed(head)
		if e.ringErr == nil && e.links == 0 && e.finished() {
			return
		}
	}
	e.failAll()
}

// completed handles the completion of one request.
func (e *evloop) completed(c uringCQE) {
	id, kind := uint32(c.userData>>reqKinds), c.userData&(1<<reqKinds-1)
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

// sqe returns a submission entry, or nil when the ring failed.
func (e *evloop) sqe() *uringSQE {
	q, err := e.ring.sqe()
	if err != nil {
		e.ringErr = err
		return nil
	}
	return q
}

func (e *evloop) ringRecv(s *eside) {
	q := e.sqe()
	if q == nil {
		return
	}
	q.opcode, q.fd = uringOpRecv, int32(s.fd)
	q.addr, q.len = uint64(uintptr(unsafe.Pointer(&s.buf[0]))), uint32(len(s.buf))
	q.userData = reqData(s.id, reqRecv)
	s.busy = true
}

func (e *evloop) ringSend(s *eside) {
	q := e.sqe()
	if q == nil {
		return
	}
	q.opcode, q.fd = uringOpSend, int32(s.peer.fd)
	q.addr, q.len = uint64(uintptr(unsafe.Pointer(&s.buf[s.w]))), uint32(s.n-s.w)
	q.opFlags = syscall.MSG_NOSIGNAL
	q.userData = reqData(s.id, reqSend)
	s.busy = true
}

// armWake reads the wake-up eventfd through the ring.
func (e *evloop) armWake() {
	q := e.sqe()
	if q == nil {
		return
	}
	q.opcode, q.fd = uringOpRead, int32(e.wake)
	q.addr, q.len = uint64(uintptr(unsafe.Pointer(&e.wakeBuf[0]))), uint32(len(e.wakeBuf))
	q.userData = reqData(0, reqWake)
}

// endRing cancels every request in flight on l's sockets; l is released
// once the last of them has completed, or now if none is in flight.
func (e *evloop) endRing(l *elink) {
	if l.client.busy || l.upstream.busy {
		for _, s := range [...]*eside{&l.client, &l.upstream} {
			q := e.sqe()
			if q == nil {
				return
			}
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
