package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

// ServerConfig configures a LocalServer. The zero value is a pooled server
// with the default pool size and queue, the Building Services handler on a
// memory store, and no simulated work.
type ServerConfig struct {
	// Model is the concurrency model and pool size.
	Model ModelSpec

	// Queue bounds the requests waiting for a worker; see
	// server.Config.Queue. 0 means server.DefaultQueue.
	Queue int

	// WorkDelay and WorkCPU simulate a service time on the worker; see
	// server.Config. 0 means none.
	WorkDelay time.Duration
	WorkCPU   int

	// Store is where bookings are kept: booking.StoreMemory, or
	// booking.StoreBolt for a bbolt file in a temporary directory that
	// Close removes (every booking fsynced). "" means booking.StoreMemory.
	Store booking.StoreKind

	// Horizon is how many days ahead the Building Services handler takes
	// bookings (booking.Config.Horizon). 0 means booking.DefaultHorizon.
	Horizon int

	// Dir is where booking.StoreBolt creates its temporary directory. "" means
	// os.TempDir().
	Dir string

	// Handler, if not nil, serves requests instead of the Building
	// Services handler (Store and Dir are then unused), for example a
	// booking.Service wrapped to misbehave.
	Handler server.Handler

	// Adaptive, if not nil, turns on adaptive sizing (as poolside serve
	// --workers auto); see server.Config.Adaptive.
	Adaptive *server.AdaptiveConfig
}

// Validate reports each field out of range as a FieldError, joined, and
// what server.Config.Validate finds wrong in the rest (the model, adaptive
// sizing), wrapping ErrInvalidConfig.
func (c ServerConfig) Validate() error {
	var errs []*FieldError
	if c.Store != "" && c.Store != booking.StoreMemory && c.Store != booking.StoreBolt {
		errs = append(errs, invalid("Store", c.Store, "must be memory or bolt"))
	}
	if c.Horizon < 0 {
		errs = append(errs, invalid("Horizon", c.Horizon, fmt.Sprintf("must be 0 (default %d days) or more", booking.DefaultHorizon)))
	}
	if c.Model.Workers < 0 {
		errs = append(errs, invalid("Model.Workers", c.Model.Workers, "must be 0 (default) or more"))
	}
	if c.Queue < 0 {
		errs = append(errs, invalid("Queue", c.Queue, fmt.Sprintf("must be 0 (default %d) or more", server.DefaultQueue)))
	}
	if c.WorkDelay < 0 {
		errs = append(errs, invalid("WorkDelay", c.WorkDelay, "must be 0 (none) or more"))
	}
	if c.WorkCPU < 0 {
		errs = append(errs, invalid("WorkCPU", c.WorkCPU, "must be 0 (none) or more"))
	}
	if len(errs) > 0 {
		return joinFields(errs...)
	}
	// The handler is not the server's to check: New refuses none.
	if err := c.serverConfig(nil).Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

func (c ServerConfig) work() server.Work { return server.Work{Delay: c.WorkDelay, CPU: c.WorkCPU} }

// serverConfig returns the server.Config of c serving h (nil only to
// validate it).
func (c ServerConfig) serverConfig(h server.Handler) server.Config {
	cfg := server.Config{
		Model:    c.Model.Model,
		Workers:  c.Model.Workers,
		Queue:    c.Queue,
		Adaptive: c.Adaptive,
	}
	if h != nil {
		cfg.Handler = server.WithWork(h, c.work())
	}
	cfg.BusyReply, cfg.ReadTimeoutReply, cfg.InternalErrorReply = wire.ServerReplies()
	return cfg
}

// LocalServer is a poolside server running in this process on an
// ephemeral loopback port, with an observer that lets a Runner see its
// queue wait, service time and pool. Its methods are safe for concurrent
// use, but only one Runner at a time may measure it (Config.Server): the
// observer has one window. It is the Probe of the Runners that measure it,
// and a tune.Sizer (Workers and Resize). After Close, Resize and Workers
// return ErrClosed.
type LocalServer struct {
	cfg    ServerConfig
	srv    *server.Server
	ln     net.Listener
	served chan error
	obs    *observer
	svc    *booking.Service // nil when cfg.Handler is set
	dir    string           // the bolt store's temporary directory

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
}

var _ Probe = (*LocalServer)(nil)

// StartServer starts a server for cfg on 127.0.0.1, on a port of the
// system's choosing.
func StartServer(cfg ServerConfig) (*LocalServer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ls := &LocalServer{cfg: cfg, obs: newObserver(), served: make(chan error, 1)}
	h := cfg.Handler
	if h == nil {
		if err := ls.openService(); err != nil {
			return nil, err
		}
		h = ls.svc
	}
	scfg := cfg.serverConfig(h)
	scfg.Observer = ls.obs
	srv, err := server.New(scfg)
	if err == nil {
		ls.srv = srv
		ls.ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		ls.closeStore()
		return nil, fmt.Errorf("load: cannot start the server: %w", err)
	}
	go func() { ls.served <- srv.Serve(ls.ln) }()
	return ls, nil
}

// openService opens the configured store and the booking service on it.
func (ls *LocalServer) openService() error {
	sc := booking.StoreConfig{Kind: booking.StoreMemory}
	if ls.cfg.Store == booking.StoreBolt {
		dir, err := os.MkdirTemp(ls.cfg.Dir, "poolside-bench-")
		if err != nil {
			return fmt.Errorf("load: cannot make a directory for the bolt store: %w", err)
		}
		ls.dir = dir
		sc = booking.StoreConfig{Kind: booking.StoreBolt, Path: filepath.Join(dir, "bench.db")}
	}
	store, err := booking.OpenStore(context.Background(), sc)
	if err != nil {
		ls.removeDir()
		return fmt.Errorf("load: cannot open the %s store: %w", sc.Kind, err)
	}
	svc, err := booking.New(store, booking.Config{Horizon: ls.cfg.Horizon})
	if err != nil {
		store.Close()
		ls.removeDir()
		return err
	}
	ls.svc = svc
	return nil
}

func (ls *LocalServer) closeStore() error {
	var err error
	if ls.svc != nil {
		err = ls.svc.Close()
	}
	ls.removeDir()
	return err
}

func (ls *LocalServer) removeDir() {
	if ls.dir != "" {
		os.RemoveAll(ls.dir)
	}
}

// FreshStore implements Probe: the store is the run's own when the server
// serves its own Building Services handler (ServerConfig.Handler nil),
// which starts empty and takes bookings up to its horizon.
func (ls *LocalServer) FreshStore(today wire.Date) (last wire.Date, ok bool) {
	if ls.svc == nil {
		return 0, false
	}
	h := ls.cfg.Horizon
	if h == 0 {
		h = booking.DefaultHorizon
	}
	if uint64(today)+uint64(h) >= uint64(booking.LastDate) {
		return booking.LastDate, true
	}
	return today + wire.Date(h), true
}

// Observe implements Probe, through the server's Observer.
func (ls *LocalServer) Observe() (stop func() Observed) {
	ls.obs.begin()
	return ls.obs.end
}

// Pool implements Probe: the pool's size, busy workers and queued
// requests now.
func (ls *LocalServer) Pool() PoolSample {
	p := ls.srv.Stats().Pool
	return PoolSample{Workers: p.Workers, Running: p.Running, Waiting: int64(p.Waiting)}
}

// Workers returns the pool's current size (1 for serial, 0 for
// unbounded), or ErrClosed after Close.
func (ls *LocalServer) Workers() (int, error) {
	if ls.closed.Load() {
		return 0, ErrClosed
	}
	return ls.srv.Stats().Pool.Workers, nil
}

// Addr returns the address the server listens on.
func (ls *LocalServer) Addr() string { return ls.ln.Addr().String() }

// Spec returns the model the server was started with.
func (ls *LocalServer) Spec() ModelSpec { return ls.cfg.Model }

// Server returns the underlying server, for its Stats.
func (ls *LocalServer) Server() *server.Server { return ls.srv }

// Resize sets the server's pool size while it runs; see server.Resize.
func (ls *LocalServer) Resize(workers int) error {
	if ls.closed.Load() {
		return ErrClosed
	}
	return ls.srv.Resize(workers)
}

// Close stops the server at once (requests in flight are cut), closes the
// store and removes a bolt store's files. Later calls return the first
// call's result.
func (ls *LocalServer) Close() error {
	ls.closeOnce.Do(func() {
		ls.closed.Store(true)
		ls.srv.Close()
		if err := <-ls.served; !errors.Is(err, server.ErrServerClosed) {
			ls.closeErr = err
		}
		if err := ls.closeStore(); err != nil && ls.closeErr == nil {
			ls.closeErr = err
		}
	})
	return ls.closeErr
}

// Shutdown drains the server (see server.Shutdown), then closes it as
// Close does.
func (ls *LocalServer) Shutdown(ctx context.Context) error {
	err := ls.srv.Shutdown(ctx)
	if cerr := ls.Close(); err == nil {
		err = cerr
	}
	return err
}

// observer is the server.Observer of a LocalServer. It records queue wait
// and service time only while a window is open.
type observer struct {
	open atomic.Bool

	mu        sync.Mutex
	queueWait *hdrhistogram.Histogram // µs
	service   *hdrhistogram.Histogram // µs
	busy      int64
}

func newObserver() *observer {
	return &observer{queueWait: NewHistogram(), service: NewHistogram()}
}

// RequestDone implements server.Observer.
func (o *observer) RequestDone(_, _ []byte, queueWait, service time.Duration, busy bool) {
	if !o.open.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if busy {
		o.busy++
		return
	}
	record(o.queueWait, queueWait)
	record(o.service, service)
}

// ConnClosed implements server.Observer.
func (o *observer) ConnClosed(server.CloseReason) {}

// begin clears the histograms and starts recording.
func (o *observer) begin() {
	o.mu.Lock()
	o.queueWait.Reset()
	o.service.Reset()
	o.busy = 0
	o.mu.Unlock()
	o.open.Store(true)
}

// end stops recording and returns what was recorded.
func (o *observer) end() Observed {
	o.open.Store(false)
	o.mu.Lock()
	defer o.mu.Unlock()
	return Observed{QueueWait: LatencyOf(o.queueWait), Service: LatencyOf(o.service), Busy: o.busy}
}
