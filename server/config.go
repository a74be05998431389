package server

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/poolside-dev/poolside/wire"
)

// DefaultQueue is the pool queue bound used when Config.Queue is 0.
const DefaultQueue = 1024

// Handler serves one request. ServeFrame gets the request block (without
// its length header) and returns the reply block, which the server frames
// and writes; a nil reply writes nothing. The block is only valid during
// the call. ServeFrame is called from many goroutines at once (except in
// ModelSerial). A panic is recovered by the server, logged with its stack
// and answered with Config.InternalErrorReply; the connection stays open.
type Handler interface {
	ServeFrame(ctx context.Context, block []byte) []byte
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, block []byte) []byte

// ServeFrame calls f.
func (f HandlerFunc) ServeFrame(ctx context.Context, block []byte) []byte { return f(ctx, block) }

// Observer sees what the server does, for metrics and tests. Its methods
// are called synchronously from connection goroutines and must be fast and
// safe for concurrent use.
type Observer interface {
	// RequestDone is called after a request's reply was handed to the
	// connection (written or failed). queueWait is the time from submission
	// to a worker starting it (0 in ModelConn and ModelUnbounded); service
	// is the handler's time (a WithWork decorator's work included). busy reports a
	// request refused with the busy reply; then reply is the busy reply.
	RequestDone(req, reply []byte, queueWait, service time.Duration, busy bool)
	// ConnClosed is called once per accepted connection, when it closes.
	ConnClosed(reason CloseReason)
}

// Config configures a Server. The zero value, with a Handler set, is a
// pooled Building Services server with DefaultWorkers workers, no timeouts
// and no connection limit. Fields are read when New is called.
type Config struct {
	// Handler serves requests. Required by New; Validate does not ask for
	// it, so that a configuration can be checked before its handler (a
	// store to open, say) exists.
	Handler Handler

	// Framing delimits blocks on the wire. nil means wire.Quint16{}, the
	// Building Services framing.
	Framing wire.Framing

	// Model is the concurrency model. The zero value is ModelPool.
	Model Model

	// Workers is the pool size for ModelPool and ModelConn. 0 means
	// DefaultWorkers(). Ignored by ModelSerial (always 1) and ModelUnbounded.
	Workers int

	// Queue bounds the requests (ModelPool, ModelSerial) or connections
	// (ModelConn) that may wait for a worker; beyond it the client gets
	// BusyReply. 0 means DefaultQueue.
	Queue int

	// MaxConns bounds open connections; a connection beyond it gets
	// BusyReply and is closed. 0 means no limit.
	MaxConns int

	// ReadTimeout bounds how long a request may take to arrive once its
	// first byte has: past it the client gets ReadTimeoutReply and the
	// connection closes. 0 means no limit.
	ReadTimeout time.Duration

	// IdleTimeout closes a connection on which no request starts for this
	// long. 0 means no limit.
	IdleTimeout time.Duration

	// WriteTimeout bounds the writing of one reply. 0 means no limit.
	WriteTimeout time.Duration

	// BusyReply, ReadTimeoutReply and InternalErrorReply are the reply
	// blocks the server itself sends when it sheds load, when a request
	// does not arrive in time, and when the handler panics. nil means the
	// server closes the connection (busy, timeout) or sends nothing
	// (panic) instead.
	BusyReply, ReadTimeoutReply, InternalErrorReply []byte

	// Logger receives the server's logs. nil discards them.
	Logger logrus.FieldLogger

	// Observer, if not nil, sees every request and connection close.
	Observer Observer

	// Adaptive, if not nil, turns on adaptive sizing: the server resizes
	// its pool from measured latency (ModelPool and ModelConn only; see
	// AdaptiveConfig). nil means the pool keeps Workers until Resize.
	Adaptive *AdaptiveConfig
}

// Validate reports whether c, with a Handler, can configure a Server:
// every field but Handler, which New requires too.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...))
	}
	if c.Model < ModelPool || c.Model > ModelUnbounded {
		bad("unknown model %v", c.Model)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"workers", c.Workers}, {"queue", c.Queue}, {"max connections", c.MaxConns}} {
		if f.v < 0 {
			bad("%s is %d, must be 0 or more", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"read timeout", c.ReadTimeout}, {"idle timeout", c.IdleTimeout}, {"write timeout", c.WriteTimeout}} {
		if f.v < 0 {
			bad("%s is %v, must be 0 or more", f.name, f.v)
		}
	}
	if len(c.BusyReply) > wire.MaxBlock || len(c.ReadTimeoutReply) > wire.MaxBlock || len(c.InternalErrorReply) > wire.MaxBlock {
		bad("a server reply is longer than a block")
	}
	errs = append(errs, c.Adaptive.validate(c)...)
	return errors.Join(errs...)
}

// WorkersPerCPU is how many workers DefaultWorkers gives each of
// GOMAXPROCS. A request on a durable store spends most of its time on a
// worker waiting for the disk, not computing (about 0.3 ms waiting for a
// group commit's sync to 25 µs of CPU, measured at 32 clients on 2 cores),
// and every write that waits rides on the next sync: the pool bounds how
// many bookings one sync can carry. 16 per core is where that stops being
// the limit here (32 clients of durable BOOK/UNBOOK on 2 cores: 8 workers
// 24–26k writes/s, 16 35–36k, 32 38–41k, 64 40–41k, the CPU then all but
// spent), while a handler that only computes loses nothing to the extra
// workers, which wait for a core like any goroutine.
const WorkersPerCPU = 16

// DefaultWorkers is the pool size used when Config.Workers is 0:
// WorkersPerCPU × GOMAXPROCS.
func DefaultWorkers() int { return WorkersPerCPU * runtime.GOMAXPROCS(0) }

// EffectiveWorkers returns the pool size a Server for c starts with: 1
// for ModelSerial, 0 (no pool, no limit) for ModelUnbounded, else Workers
// (0 = DefaultWorkers()), brought within the adaptive bounds when
// Adaptive is set. It is the one place the defaults meet.
func (c Config) EffectiveWorkers() int {
	switch {
	case c.Model == ModelSerial:
		return 1
	case c.Model == ModelUnbounded:
		return 0
	case c.Adaptive != nil:
		return c.Adaptive.withDefaults(c.Workers).Limit.Initial
	case c.Workers == 0:
		return DefaultWorkers()
	}
	return c.Workers
}

// withDefaults returns c with its zero values resolved.
func (c Config) withDefaults() Config {
	if c.Framing == nil {
		c.Framing = wire.Quint16{}
	}
	if c.Adaptive != nil {
		a := c.Adaptive.withDefaults(c.Workers)
		c.Adaptive = &a
	}
	if c.Model != ModelUnbounded {
		c.Workers = c.EffectiveWorkers()
	} else if c.Workers == 0 {
		c.Workers = DefaultWorkers()
	}
	if c.Queue == 0 {
		c.Queue = DefaultQueue
	}
	if c.Logger == nil {
		l := logrus.New()
		l.Out = discard{}
		l.Level = logrus.PanicLevel
		c.Logger = l
	}
	return c
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
