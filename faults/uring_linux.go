//go:build linux

package faults

import (
	"errors"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// uring is an io_uring instance (io_uring(7)): a submission queue the loop
// fills with reads and writes, and a completion queue the kernel fills with
// their results, both in memory shared with the kernel, so that one
// io_uring_enter submits every write of a batch and collects every read
// that completed meanwhile. No Go module for io_uring is served to this
// project, and the loop needs only this much of it: setup, the two rings,
// and enter.
type uring struct {
	fd          int
	sqMem       []byte // the rings (one mapping: IORING_FEAT_SINGLE_MMAP)
	sqeMem      []byte // the submission entries
	sqHead      *uint32
	sqTail      *uint32
	sqMask      uint32
	sqes        []uringSQE
	cqHead      *uint32
	cqTail      *uint32
	cqMask      uint32
	cqes        []uringCQE
	tail        uint32 // the next entry to fill; published at enter
	unsubmitted uint32
}

// The kernel's ABI (include/uapi/linux/io_uring.h).
const (
	uringOpRead        = 22
	uringOpSend        = 26
	uringOpRecv        = 27
	uringOpAsyncCancel = 14

	uringSetupCQSize      = 1 << 3 // the completion queue's size is given
	uringSetupCoopTaskrun = 1 << 8 // no interrupt to run completions: they run when the loop enters
	uringFeatSingleMmap   = 1 << 0 // the two rings share one mapping
	uringEnterGetevents   = 1 << 0 // collect completions (and wait for min_complete)
	uringCancelAll        = 1 << 0 // every request that matches
	uringCancelFD         = 1 << 1 // match by descriptor
	uringOffSQRing        = 0      // mmap offsets
	uringOffSQEs          = 0x10000000
	uringEntries          = 4096
	uringCQEntries        = 32768 // 512 KiB
)

// ringLinks, when not 0, is the most links an io_uring loop holds (tests
// lower it). By default each link may have 4 requests in flight (a read or
// a write per side, and a cancel per socket as it ends), so that the
// completion queue never overflows; links beyond it are relayed by
// goroutines.
var ringLinks atomic.Int64

func ringLinkCap() int64 {
	if n := ringLinks.Load(); n > 0 {
		return n
	}
	return (uringCQEntries - 1) / 4 // and 1 for the wake-up read
}

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  struct{ head, tail, ringMask, ringEntries, flags, dropped, array, resv1, userAddrLo, userAddrHi uint32 }
	cqOff                                                                  struct{ head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1, userAddrLo, userAddrHi uint32 }
}

type uringSQE struct {
	opcode   uint8
	flags    uint8
	ioprio   uint16
	fd       int32
	off      uint64
	addr     uint64
	len      uint32
	opFlags  uint32 // msg_flags, cancel_flags
	userData uint64
	_        [3]uint64
}

type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// newUring sets up an io_uring instance, or fails on a kernel that has no
// io_uring, lacks what the loop uses (IORING_SETUP_COOP_TASKRUN came with
// Linux 5.19, after every operation used here), or forbids it
// (kernel.io_uring_disabled, a container's seccomp profile).
func newUring() (*uring, error) {
	p := uringParams{flags: uringSetupCoopTaskrun | uringSetupCQSize, cqEntries: uringCQEntries}
	fd, _, errno := syscall.RawSyscall(unix.SYS_IO_URING_SETUP, uringEntries, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, errno
	}
	r := &uring{fd: int(fd)}
	if p.features&uringFeatSingleMmap == 0 {
		_ = syscall.Close(r.fd)
		return nil, errors.ErrUnsupported
	}
	size := max(p.sqOff.array+p.sqEntries*4, p.cqOff.cqes+p.cqEntries*uint32(unsafe.Sizeof(uringCQE{})))
	var err error
	if r.sqMem, err = syscall.Mmap(r.fd, uringOffSQRing, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		r.close()
		return nil, err
	}
	if r.sqeMem, err = syscall.Mmap(r.fd, uringOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(uringSQE{})), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		r.close()
		return nil, err
	}
	base := unsafe.Pointer(&r.sqMem[0])
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Add(base, off)) }
	r.sqHead, r.sqTail, r.sqMask = at(p.sqOff.head), at(p.sqOff.tail), *at(p.sqOff.ringMask)
	r.cqHead, r.cqTail, r.cqMask = at(p.cqOff.head), at(p.cqOff.tail), *at(p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Add(base, p.cqOff.cqes)), p.cqEntries)
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	array := unsafe.Slice(at(p.sqOff.array), p.sqEntries)
	for i := range array {
		array[i] = uint32(i) // entry i of the ring is submission entry i, always
	}
	r.tail = atomic.LoadUint32(r.sqTail)
	return r, nil
}

// close unmaps the rings and closes the instance; the kernel cancels what
// is still in flight.
func (r *uring) close() {
	if r.sqeMem != nil {
		_ = syscall.Munmap(r.sqeMem)
	}
	if r.sqMem != nil {
		_ = syscall.Munmap(r.sqMem)
	}
	_ = syscall.Close(r.fd)
}

// sqe returns the next free submission entry, zeroed, or nil when the
// queue is full.
func (r *uring) sqe() *uringSQE {
	if r.tail-atomic.LoadUint32(r.sqHead) >= uint32(len(r.sqes)) {
		return nil
	}
	s := &r.sqes[r.tail&r.sqMask]
	*s = uringSQE{}
	r.tail++
	r.unsubmitted++
	return s
}

// enter submits the entries filled since the last call and, if wait, waits
// for at least one completion. Not waiting, it keeps the processor
// (syscall.RawSyscall), as the epoll loop's first wait does; waiting, it
// lets the scheduler give the processor to other goroutines.
func (r *uring) enter(wait bool) error {
	atomic.StoreUint32(r.sqTail, r.tail)
	var n uintptr
	var errno syscall.Errno
	if wait {
		n, _, errno = syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(r.unsubmitted), 1, uringEnterGetevents, 0, 0)
	} else {
		n, _, errno = syscall.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(r.unsubmitted), 0, uringEnterGetevents, 0, 0)
	}
	if errno == 0 {
		r.unsubmitted -= uint32(n)
		return nil
	}
	return errno
}

// next returns the oldest completion and gives its slot back to the
// kernel, or reports that none has arrived.
func (r *uring) next() (uringCQE, bool) {
	head := *r.cqHead
	if head == atomic.LoadUint32(r.cqTail) {
		return uringCQE{}, false
	}
	c := r.cqes[head&r.cqMask]
	atomic.StoreUint32(r.cqHead, head+1)
	return c, true
}
