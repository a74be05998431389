package server

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// conn is one client connection. Its serve method runs on one goroutine (a
// tracked goroutine, or a pool task in ModelConn) and owns the buffers; in
// ModelPool and ModelSerial each request is the pool task task, run with
// pool.Run: on serve's own goroutine while a worker is free, otherwise on a
// worker once it has waited in the queue, and serve waits for it either
// way before touching the buffers again.
type conn struct {
	s   *Server
	nc  net.Conn
	log logrus.FieldLogger

	// mu orders the idle/active transitions against Shutdown's closeIfIdle,
	// so that a drain never cuts a request that has started to arrive.
	mu     sync.Mutex
	idle   bool
	poked  bool      // closeIfIdle set a past read deadline
	readBy time.Time // the read deadline setActive set for a request; zero for none

	rbuf []byte // request block, reused
	wbuf []byte // reply frame, reused

	// refuseBy, once set, bounds every read: refusePipelined is answering
	// the requests the drain will not start.
	refuseBy time.Time

	// The request's pool task (pool.Run): task reads req and writes the
	// results. It runs on this connection's goroutine while it holds a
	// free worker, and on a worker goroutine only when it had to queue.
	// Created once per connection so that a request costs no allocation.
	task      func()
	req       []byte
	reply     []byte
	timed     bool // an Observer or adaptive sizing wants queueWait and service
	submitted time.Time
	queueWait time.Duration
	service   time.Duration
}

func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{
		s:    s,
		nc:   nc,
		rbuf: make([]byte, 0, initialBuffer),
	}
	c.log = s.log.WithFields(logrus.Fields{"conn": s.nextID.Add(1), "remote": nc.RemoteAddr().String()})
	c.task = c.runTask
	c.timed = s.cfg.Observer != nil || s.adaptive != nil
	return c
}

// serve reads requests and writes replies until the connection ends.
func (c *conn) serve() {
	reason := CloseServerClosed
	defer func() {
		if r := recover(); r != nil {
			c.log.WithField("panic", r).Errorf("connection goroutine panicked; closing the connection\n%s", debug.Stack())
			reason = CloseReadError
		}
		c.nc.Close()
		c.s.trackConn(c, false)
		c.s.connDone(reason)
		c.logClose(reason)
	}()
	for {
		block, why, ok := c.readRequest()
		if !ok {
			reason = why
			return
		}
		reply, busy := c.handle(block)
		var werr error
		if reply != nil {
			werr = c.write(reply)
		}
		if o := c.s.cfg.Observer; o != nil {
			o.RequestDone(block, reply, c.queueWait, c.service, busy)
		}
		if busy && reply == nil {
			reason = CloseBusy
			return
		}
		if werr != nil {
			reason = CloseWriteError
			if !c.s.hardClose.Load() && !isExpected(werr) {
				c.s.peerLog.do(peerWriteError, c.log, func(l logrus.FieldLogger) { l.WithError(werr).Warn("writing a reply failed") })
			}
			return
		}
		if c.s.inShutdown.Load() {
			reason = c.stopReason()
			if reason == CloseShutdown {
				c.refusePipelined()
			}
			return
		}
		c.shrinkBuffers()
	}
}

// shrinkBuffers drops request and reply buffers that a large frame grew past
// keptBuffer; the request and its reply are done with.
func (c *conn) shrinkBuffers() {
	if cap(c.rbuf) > keptBuffer {
		c.rbuf = make([]byte, 0, initialBuffer)
	}
	if cap(c.wbuf) > keptBuffer {
		c.wbuf = nil
	}
}

// initialBuffer is the capacity of a new connection's request buffer.
const initialBuffer = 512

// keptBuffer is the most capacity a connection's request and reply buffers
// keep between requests: requests and replies are usually under 100 bytes,
// and one large frame should not leave 64 KiB allocated on an idle
// connection for its whole life.
const keptBuffer = 4096

// refuseLimit bounds how long a draining connection spends answering the
// requests it will not start.
const refuseLimit = time.Second

// refusePipelined runs when a connection has finished the request the
// drain let it finish. It answers each further request the client had
// already sent with the busy reply, so that the client knows it was not
// done and may retry, and so reads it: closing the socket with request
// bytes unread would send a reset, which the client cannot tell from a
// failure in the middle of its request (and which may destroy the replies
// written before it). It stops when nothing more has arrived, on an error,
// or after refuseLimit.
func (c *conn) refusePipelined() {
	if !pending(c.nc) {
		return
	}
	c.refuseBy = time.Now().Add(refuseLimit)
	for time.Now().Before(c.refuseBy) {
		block, _, ok := c.readRequest() // reads only what has arrived
		if !ok {
			return
		}
		c.s.busy.Add(1)
		reply := c.s.cfg.BusyReply
		if reply != nil {
			_ = c.nc.SetWriteDeadline(c.refuseBy)
			if err := c.write(reply); err != nil {
				return
			}
		}
		if o := c.s.cfg.Observer; o != nil {
			o.RequestDone(block, reply, 0, 0, true)
		}
	}
}

// stopReason is why a connection ends because the server is stopping.
func (c *conn) stopReason() CloseReason {
	if c.s.hardClose.Load() {
		return CloseServerClosed
	}
	return CloseShutdown
}

// setIdle marks the connection idle (waiting for a request) and arms the
// idle deadline, or reports false when the server is draining.
func (c *conn) setIdle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s.inShutdown.Load() {
		return false
	}
	c.idle = true
	if t := c.s.cfg.IdleTimeout; t > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(t))
	} else if c.s.cfg.ReadTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Time{}) // clear the previous request's
	}
	return true
}

// setActive marks the connection busy with a request that has started to
// arrive and arms the read deadline for the rest of it.
//
// The deadline is the read timeout's, or sooner: refuseBy while
// refusePipelined answers, and refuseLimit from now while the server
// drains, so that a request that arrives slowly cannot hold the drain for
// the whole read timeout.
func (c *conn) setActive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idle = false
	now := time.Now()
	var by time.Time
	if t := c.s.cfg.ReadTimeout; t > 0 {
		by = now.Add(t)
	}
	by = sooner(by, c.refuseBy)
	if c.s.inShutdown.Load() {
		by = sooner(by, now.Add(refuseLimit))
	}
	switch {
	case !by.IsZero():
		_ = c.nc.SetReadDeadline(by)
	case c.s.cfg.IdleTimeout > 0 || c.poked:
		// Clear the idle deadline, or the past one closeIfIdle set if the
		// drain began just as this request's first bytes arrived.
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.readBy = by
	c.poked = false
}

// sooner returns the earlier of two deadlines, the zero time meaning none.
func sooner(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// closeIfIdle wakes an idle connection's read so that it ends. A connection
// with a request under way is left to finish it, but what has still to
// arrive of that request gets at most refuseLimit from now (a connection
// in its handler reads nothing until it is done, and setActive arms its
// next read anew).
func (c *conn) closeIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle {
		c.poked = true
		_ = c.nc.SetReadDeadline(time.Unix(1, 0))
		return
	}
	if by := sooner(c.readBy, time.Now().Add(refuseLimit)); !by.Equal(c.readBy) {
		c.readBy = by
		_ = c.nc.SetReadDeadline(by)
	}
}

// readRequest reads the next request block. It waits for the first byte
// under the idle timeout and for the rest under the read timeout, and never
// reads past the block.
//
// While the server drains, it reads a request only if one has begun to
// arrive: that of a ModelConn connection that waited in the queue until
// after Shutdown began, or one whose first bytes came as the drain woke the
// idle read. From the client's side that request is in flight, as a
// queued request is in the other models, and closing the socket with it
// unread would send a reset instead of an answer.
func (c *conn) readRequest() (block []byte, reason CloseReason, ok bool) {
	if !c.setIdle() {
		if !c.drainPending() {
			return nil, c.stopReason(), false
		}
		c.setActive() // arms the read timeout, clears a stale deadline
	}
	f := c.s.cfg.Framing
	h := f.HeaderLen()
	if cap(c.rbuf) < h {
		c.rbuf = make([]byte, h)
	}
	hdr := c.rbuf[:h]
	n, err := c.nc.Read(hdr)
	for n == 0 && err == nil {
		n, err = c.nc.Read(hdr)
	}
	if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && c.drainPending() {
		c.setActive() // clears the past deadline closeIfIdle set
		n, err = c.nc.Read(hdr)
	}
	if n == 0 {
		return nil, c.idleEnd(err), false
	}
	c.setActive()
	if n < h {
		if _, err := io.ReadFull(c.nc, hdr[n:]); err != nil {
			return nil, c.readFailed(err), false
		}
	}
	size, err := f.BodyLen(hdr)
	if err != nil {
		c.s.peerLog.do(peerFrameTooLarge, c.log, func(l logrus.FieldLogger) {
			l.WithError(err).Warn("closing the connection: the client sent a frame larger than the framing allows")
		})
		return nil, CloseFrameTooLarge, false
	}
	if cap(c.rbuf) < size {
		if err := c.growRead(size); err != nil {
			return nil, c.readFailed(err), false
		}
		return c.rbuf[:size], 0, true
	}
	block = c.rbuf[:size]
	if _, err := io.ReadFull(c.nc, block); err != nil {
		return nil, c.readFailed(err), false
	}
	return block, 0, true
}

// growRead reads a block of size bytes that does not fit c.rbuf, growing
// the buffer as bytes arrive rather than from the announced size alone, so
// a client that announces a large frame and sends little of it costs
// little memory.
func (c *conn) growRead(size int) error {
	buf := c.rbuf[:0]
	for len(buf) < size {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(size-len(buf), max(len(buf), 4096)))
		}
		n, err := c.nc.Read(buf[len(buf):min(cap(buf), size)])
		buf = buf[:len(buf)+n]
		if err != nil && len(buf) < size {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	c.rbuf = buf
	return nil
}

// drainPending reports whether the server is draining (not closing) and a
// request has begun to arrive on c, unread.
func (c *conn) drainPending() bool {
	return c.s.inShutdown.Load() && !c.s.hardClose.Load() && pending(c.nc)
}

// idleEnd classifies the end of a connection that was waiting for a request.
func (c *conn) idleEnd(err error) CloseReason {
	switch {
	case c.s.inShutdown.Load():
		return c.stopReason()
	case errors.Is(err, io.EOF):
		return CloseEOF
	case errors.Is(err, os.ErrDeadlineExceeded):
		return CloseIdle
	}
	if !isExpected(err) {
		c.s.peerLog.do(peerReadError, c.log, func(l logrus.FieldLogger) { l.WithError(err).Warn("reading from the client failed") })
	}
	return CloseReadError
}

// readFailed classifies a failure inside a request and, for a timeout,
// tells the client.
func (c *conn) readFailed(err error) CloseReason {
	switch {
	case c.s.hardClose.Load():
		return CloseServerClosed
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return CloseTruncated
	case errors.Is(err, os.ErrDeadlineExceeded):
		if r := c.s.cfg.ReadTimeoutReply; r != nil {
			_ = c.write(r)
		}
		drain := !c.refuseBy.IsZero() || c.s.inShutdown.Load()
		c.s.peerLog.do(peerReadTimeout, c.log, func(l logrus.FieldLogger) {
			if drain {
				l.Infof("the client started a request but did not finish it before the drain stopped waiting (%v)", refuseLimit)
			} else {
				l.Infof("the client started a request but did not finish it within %v", c.s.cfg.ReadTimeout)
			}
		})
		return CloseReadTimeout
	}
	if !isExpected(err) {
		c.s.peerLog.do(peerReadError, c.log, func(l logrus.FieldLogger) { l.WithError(err).Warn("reading a request failed") })
	}
	return CloseReadError
}

// handle runs the request according to the model and returns the reply.
func (c *conn) handle(block []byte) (reply []byte, busy bool) {
	c.queueWait, c.service = 0, 0
	if c.s.cfg.Model == ModelPool || c.s.cfg.Model == ModelSerial {
		c.req = block
		if c.timed {
			c.submitted = time.Now()
			if a := c.s.adaptive; a != nil {
				a.begin()
			}
		}
		if err := c.s.pool.Run(c.task); err != nil {
			c.req = nil
			if c.timed && c.s.adaptive != nil {
				c.s.adaptive.end(0, false)
			}
			c.s.busy.Add(1)
			return c.s.cfg.BusyReply, true
		}
		c.req = nil
		if c.timed && c.s.adaptive != nil {
			c.s.adaptive.end(c.service, true)
		}
		return c.reply, false
	}
	if !c.timed {
		return c.run(block), false
	}
	a := c.s.adaptive
	if a != nil {
		a.begin()
	}
	start := time.Now()
	reply = c.run(block)
	c.service = time.Since(start)
	if a != nil {
		a.end(c.service, true)
	}
	return reply, false
}

// runTask is the pool task of ModelPool and ModelSerial. pool.Run returns
// only once it has finished, so handle reads its results after Run.
func (c *conn) runTask() {
	if !c.timed {
		c.reply = c.run(c.req)
		return
	}
	start := time.Now()
	c.queueWait = start.Sub(c.submitted)
	c.reply = c.run(c.req)
	c.service = time.Since(start)
}

// run calls the handler, turning a panic into
// the internal-error reply.
func (c *conn) run(block []byte) (reply []byte) {
	defer func() {
		if r := recover(); r != nil {
			c.s.panics.Add(1)
			c.log.WithField("panic", r).Errorf("handler panicked; answering with an internal error and serving on\n%s", debug.Stack())
			reply = c.s.cfg.InternalErrorReply
		}
	}()
	c.s.requests.Add(1) // counted as the handler starts: panics and nil replies included
	return c.s.cfg.Handler.ServeFrame(c.s.ctx, block)
}

// write frames reply and writes it in one Write under the write timeout.
func (c *conn) write(reply []byte) error {
	var err error
	c.wbuf, err = c.s.cfg.Framing.AppendHeader(c.wbuf[:0], len(reply))
	if err != nil {
		return err
	}
	c.wbuf = append(c.wbuf, reply...)
	if t := c.s.cfg.WriteTimeout; t > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(t))
	}
	_, err = c.nc.Write(c.wbuf)
	return err
}

func (c *conn) logClose(reason CloseReason) {
	c.log.WithField("reason", reason).Debug("connection closed")
}

// isExpected reports errors that end connections in the normal course of
// things: the peer went away or reset, or the connection was closed.
func isExpected(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
