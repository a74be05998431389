package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/poolside-dev/poolside/pool"
)

// Server serves a framed protocol over TCP. Create one with New; the zero
// value is not usable. Its methods are safe for concurrent use. After
// Shutdown or Close it serves nothing more and cannot be restarted.
type Server struct {
	cfg      Config
	log      logrus.FieldLogger
	peerLog  *peerLog   // the log lines clients cause, rate-limited
	pool     *pool.Pool // nil in ModelUnbounded
	adaptive *adaptive  // nil unless Config.Adaptive

	// ctx is handed to handlers; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	inShutdown atomic.Bool   // Shutdown or Close has begun
	hardClose  atomic.Bool   // Close has begun
	stopping   chan struct{} // closed when Shutdown or Close begins

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closed    bool           // no new goroutines or listeners
	wg        sync.WaitGroup // goroutines started by goTracked
	drained   chan struct{}  // closed when conns becomes empty after shutdown

	nextID   atomic.Uint64
	open     atomic.Int64
	accepted atomic.Uint64
	requests atomic.Uint64
	busy     atomic.Uint64
	panics   atomic.Uint64
	closedBy [numCloseReasons]atomic.Uint64
}

// New returns a Server for cfg, or an error wrapping ErrInvalidConfig.
func New(cfg Config) (*Server, error) {
	if cfg.Handler == nil {
		return nil, fmt.Errorf("%w: no Handler", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		peerLog:   newPeerLog(),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		drained:   make(chan struct{}),
		stopping:  make(chan struct{}),
	}
	if cfg.Adaptive != nil {
		a, err := newAdaptive(*cfg.Adaptive)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		s.adaptive = a
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.Model != ModelUnbounded {
		p, err := pool.New(pool.Config{Workers: cfg.Workers, Queue: cfg.Queue})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		s.pool = p
	}
	return s, nil
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(addr string) error {
	if s.inShutdown.Load() {
		return ErrServerClosed
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln and serves them until ln fails or the
// server shuts down. It always returns a non-nil error: ErrServerClosed
// after Shutdown or Close. Serve closes ln when it returns. A temporary
// accept error (too many open files, say) is retried after a pause of 5 ms
// doubling to 1 s, which Shutdown interrupts.
func (s *Server) Serve(ln net.Listener) error {
	if !s.trackListener(ln, true) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.trackListener(ln, false)
	defer ln.Close()
	s.startAdaptive()

	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return ErrServerClosed
			}
			if !isTemporary(err) {
				return err
			}
			delay = max(5*time.Millisecond, min(2*delay, time.Second))
			s.log.WithError(err).Warnf("accept failed; retrying in %v", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.stopping:
				t.Stop()
			}
			continue
		}
		delay = 0
		s.accept(nc)
	}
}

// isTemporary reports accept errors worth retrying: resource exhaustion and
// connections aborted before they were accepted.
func isTemporary(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// accept starts serving nc according to the model. It never blocks on the
// network: a refused connection is answered on a goroutine of its own.
func (s *Server) accept(nc net.Conn) {
	s.accepted.Add(1)
	if n := s.open.Add(1); s.cfg.MaxConns > 0 && n > int64(s.cfg.MaxConns) {
		s.refuse(nc, "too many connections")
		return
	}
	c := s.newConn(nc)
	if !s.trackConn(c, true) {
		nc.Close()
		s.connDone(CloseShutdown)
		return
	}
	switch s.cfg.Model {
	case ModelConn:
		if err := s.pool.Go(c.serve); err != nil {
			s.trackConn(c, false)
			s.refuse(nc, "connection pool full")
		}
	default:
		if !s.goTracked(c.serve) {
			s.trackConn(c, false)
			nc.Close()
			s.connDone(CloseShutdown)
		}
	}
}

// refuse sends the busy reply to a connection the server will not serve and
// closes it, on a tracked goroutine so the accept loop never waits.
func (s *Server) refuse(nc net.Conn, why string) {
	started := s.goTracked(func() {
		s.busy.Add(1)
		if s.cfg.BusyReply != nil {
			timeout := s.cfg.WriteTimeout
			if timeout == 0 || timeout > time.Second {
				timeout = time.Second
			}
			_ = nc.SetWriteDeadline(time.Now().Add(timeout))
			if frame, err := s.cfg.Framing.AppendHeader(nil, len(s.cfg.BusyReply)); err == nil {
				_, _ = nc.Write(append(frame, s.cfg.BusyReply...))
			}
		}
		nc.Close()
		s.log.WithField("remote", nc.RemoteAddr().String()).Debugf("refused connection: %s", why)
		s.connDone(CloseBusy)
	})
	if !started {
		nc.Close()
		s.connDone(CloseShutdown)
	}
}

// connDone counts a closed connection.
func (s *Server) connDone(reason CloseReason) {
	s.open.Add(-1)
	s.closedBy[reason].Add(1)
	if s.cfg.Observer != nil {
		s.cfg.Observer.ConnClosed(reason)
	}
}

// goTracked runs f on a new goroutine that Shutdown and Close wait for. It
// returns false, without running f, once the server is closed.
func (s *Server) goTracked(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

func (s *Server) trackListener(ln net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closed {
			return false
		}
		s.listeners[ln] = struct{}{}
	} else {
		delete(s.listeners, ln)
	}
	return true
}

func (s *Server) trackConn(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closed {
			return false
		}
		s.conns[c] = struct{}{}
		return true
	}
	delete(s.conns, c)
	if s.closed && len(s.conns) == 0 {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
	return true
}

// beginClose stops new listeners, connections and goroutines, closes the
// listeners, and returns the open connections.
func (s *Server) beginClose() []*conn {
	s.inShutdown.Store(true)
	s.stopAdaptive()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		close(s.stopping)
	}
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	if len(s.conns) == 0 {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
	return conns
}

// Shutdown drains the server: it stops accepting, closes idle connections,
// lets requests in flight finish and their replies be written (then closes
// those connections too), stops the pool and waits for every goroutine the
// server started. A request is in flight once it has begun to arrive: one
// waiting in the pool queue (ModelPool, ModelSerial), and in ModelConn one
// sent on a connection still waiting in the queue for a worker, which is
// served when a worker takes the connection up, as it would have been; a
// queued connection on which nothing has arrived is closed. What has still
// to arrive of a request in flight gets at most a second once the drain
// begins (not the whole ReadTimeout); past it the client gets
// Config.ReadTimeoutReply, as at a read timeout. Requests a
// client sent behind the one in flight are not started: each gets
// Config.BusyReply, so that the client knows it was not done, and only then
// does the connection close, with a FIN rather than the reset that unread
// bytes would cause (for at most a second; past it the rest is cut). If ctx
// ends first Shutdown returns ctx.Err() and leaves the rest running; call
// Close to end them.
func (s *Server) Shutdown(ctx context.Context) error {
	for _, c := range s.beginClose() {
		c.closeIfIdle()
	}
	select {
	case <-s.drained:
	case <-ctx.Done():
		return ctx.Err()
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		if s.pool != nil {
			s.pool.Stop()
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the server at once: it closes the listeners and every
// connection, cancels the context handlers get, and waits for the
// server's goroutines and running handlers to return. Replies in flight are
// lost; use Shutdown to drain.
func (s *Server) Close() error {
	s.hardClose.Store(true)
	for _, c := range s.beginClose() {
		c.nc.Close()
	}
	s.cancel()
	s.wg.Wait()
	if s.pool != nil {
		s.pool.Stop()
	}
	<-s.drained
	return nil
}

// Resize sets the number of pool workers while the server runs (ModelPool
// and ModelConn). It returns ErrNoPool for the other models, and
// ErrAdaptive while adaptive sizing is on.
func (s *Server) Resize(n int) error {
	if s.pool == nil || s.cfg.Model == ModelSerial {
		return ErrNoPool
	}
	if s.adaptive != nil {
		return ErrAdaptive
	}
	if n < 1 {
		return fmt.Errorf("%w: workers must be at least 1, got %d", ErrInvalidConfig, n)
	}
	return s.pool.Resize(n)
}

// Model returns the server's concurrency model.
func (s *Server) Model() Model { return s.cfg.Model }

// Stats is a snapshot of a Server's counters.
type Stats struct {
	Model    Model
	Accepted uint64 // connections accepted, refused ones included
	Open     int64  // connections open now
	Requests uint64 // requests handed to the handler (panics and nil replies included)
	Busy     uint64 // requests and connections refused with the busy reply
	Panics   uint64 // handler panics recovered
	// Closed counts closed connections by reason.
	Closed map[CloseReason]uint64
	// Pool is the worker pool's snapshot; zero in ModelUnbounded.
	Pool pool.Stats
}

// Stats returns a snapshot of s's counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Model:    s.cfg.Model,
		Accepted: s.accepted.Load(),
		Open:     s.open.Load(),
		Requests: s.requests.Load(),
		Busy:     s.busy.Load(),
		Panics:   s.panics.Load(),
		Closed:   make(map[CloseReason]uint64, numCloseReasons),
	}
	for i := range s.closedBy {
		if n := s.closedBy[i].Load(); n > 0 {
			st.Closed[CloseReason(i)] = n
		}
	}
	if s.pool != nil {
		st.Pool = s.pool.Stats()
	}
	return st
}
