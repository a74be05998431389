package faults

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
)

// link is one relayed connection: the client's and the upstream's.
type link struct {
	client   *conn // writes carry the Down faults
	upstream *conn // writes carry the Up faults
	once     sync.Once

	// A link with no faults on Linux is relayed by the Proxy's evloop,
	// which owns its sockets from then on (handle sets these).
	loop *evloop
	ev   atomic.Pointer[elink]
}

// run relays both directions until both end, then closes both sides.
//
// A side whose writes a Blackhole swallows stays open while its peer may
// still send: abort leaves it alone, and pipe goes on reading it. Once its
// peer has sent its own end too, the proxy cannot tell a half-close from a
// close; run then closes it like any other side, so that a peer that has
// gone does not leave two descriptors behind until the proxy stops.
func (l *link) run(bufs *sync.Pool) {
	clientEnd := make(chan struct{})
	go func() { // bounded by run, so tracked with it
		defer close(clientEnd)
		l.pipe(l.upstream, l.client, bufs)
	}()
	l.pipe(l.client, l.upstream, bufs)
	<-clientEnd
	l.kill()
}

// pipe relays src to dst until src ends. At src's EOF it half-closes dst;
// on an error it aborts the link. When a Blackhole swallows what the proxy
// writes to src, src's peer hears nothing of that: pipe then goes on
// reading src, and drops what it reads, until src's peer ends the
// connection itself.
func (l *link) pipe(dst, src *conn, bufs *sync.Pool) {
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	readFailed, err := relay(dst, src, *bp)
	if err == nil && !src.cut() {
		_ = dst.CloseWrite()
		return
	}
	l.abort(err) // a Cut on src: not a half-close but the end of the connection
	if !src.writesLost() || readFailed {
		return // src's peer has ended the connection (a reset): nothing to wait for
	}
	for { // a lost side is never closed by abort: its peer ends this
		if _, err := src.Read(*bp); err != nil {
			return
		}
	}
}

// relay copies src to dst until src's EOF (nil) or an error; readFailed
// reports an error in reading src rather than in writing dst.
func relay(dst, src *conn, buf []byte) (readFailed bool, err error) {
	for {
		n, err := src.relayRead(buf)
		if n > 0 {
			if _, werr := dst.relayWrite(buf[:n]); werr != nil {
				return false, werr
			}
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return true, err
		}
	}
}

// relayRead reads c for the relay. A side with no faults is read with raw
// system calls when it can be (see internal/rawio); any other through its faults.
// The choice is made on every call, so that a side whose faults change
// while it is relayed switches at its next read.
func (c *conn) relayRead(p []byte) (int, error) {
	if c.raw != nil && (c.plain || c.fast.Load()) {
		return c.raw.Read(p)
	}
	return c.Read(p)
}

// relayWrite writes p to c for the relay, as relayRead reads. A live side
// first takes up its Proxy's faults if they have changed, and counts the
// bytes: p continues the message of the last write when that one filled
// the relay's buffer.
func (c *conn) relayWrite(p []byte) (int, error) {
	c.refresh()
	var n int
	var err error
	if c.raw != nil && (c.plain || c.fast.Load()) {
		n, err = c.raw.Write(p)
	} else {
		c.wr.more = c.wr.full
		n, err = c.Write(p)
	}
	c.wr.n += int64(n)
	c.wr.full = len(p) == RelayBufferSize
	if c.live != nil && c.live.bytes != nil {
		c.live.bytes.Add(uint64(n))
	}
	return n, err
}

// abort ends the link once: it closes both sides, and after a reset resets
// both, except a side whose writes a Blackhole swallows. Its peer hears
// nothing more, not even the end, so that side stays open until its peer
// ends the connection or kill closes it.
func (l *link) abort(err error) {
	l.once.Do(func() {
		reset := errors.Is(err, syscall.ECONNRESET)
		for _, c := range [...]*conn{l.client, l.upstream} {
			if c.writesLost() {
				continue
			}
			if reset {
				setLingerZero(c.Conn)
			}
			_ = c.Close()
		}
	})
}

// kill aborts the link and closes both sides, blackholed or not.
func (l *link) kill() {
	l.abort(nil)
	_ = l.client.Close()
	_ = l.upstream.Close()
	if el := l.ev.Load(); el != nil {
		l.loop.kill(el)
	}
}
