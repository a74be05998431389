package faults

import (
	"net"
	"slices"
	"sync"
)

// Call is one Read or Write that went through a Recorder.
type Call struct {
	// Dir is Read or Write.
	Dir Dir
	// Offset is the number of bytes the direction had carried before the
	// call.
	Offset int64
	// Len is len(p): the bytes the caller asked to read or write.
	Len int
	// N is the byte count the call returned.
	N int
	// Err is the error the call returned.
	Err error
}

// Reach returns the stream offset just past the last byte the call asked
// for: Offset + Len. A framed reader that never over-reads has every read's
// Reach at or before the end of the frame it is reading.
func (c Call) Reach() int64 { return c.Offset + int64(c.Len) }

// Recorder is a net.Conn that forwards to another and logs every Read and
// Write: direction, offset, bytes asked for, bytes returned and error. It is
// safe for concurrent use. Concurrent calls in one direction are logged in
// the order they return, with offsets assigned in that order so the log
// stays contiguous.
//
// A Recorder has CloseWrite and CloseRead methods (ErrNoHalfClose when the
// underlying connection has none), and NetConn, which returns the
// underlying connection: the one passed to NewRecorder.
type Recorder struct {
	net.Conn

	mu    sync.Mutex
	calls []Call
	off   [2]int64 // bytes carried, by direction
}

// NewRecorder returns a Recorder forwarding to conn.
func NewRecorder(conn net.Conn) *Recorder { return &Recorder{Conn: conn} }

// Read reads from the underlying connection and logs the call.
func (r *Recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.record(Read, len(p), n, err)
	return n, err
}

// Write writes to the underlying connection and logs the call.
func (r *Recorder) Write(p []byte) (int, error) {
	n, err := r.Conn.Write(p)
	r.record(Write, len(p), n, err)
	return n, err
}

func (r *Recorder) record(d Dir, asked, n int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := d - 1
	r.calls = append(r.calls, Call{Dir: d, Offset: r.off[i], Len: asked, N: n, Err: err})
	r.off[i] += int64(n)
}

// Calls returns a copy of the log so far, in order.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// CloseWrite half-closes the underlying connection, if it can.
func (r *Recorder) CloseWrite() error { return closeWrite(r.Conn) }

// CloseRead half-closes the read side of the underlying connection, if it
// can.
func (r *Recorder) CloseRead() error { return closeRead(r.Conn) }

// NetConn returns the underlying connection.
func (r *Recorder) NetConn() net.Conn { return r.Conn }
