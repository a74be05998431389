package benchmarks

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

// Validate reports whether c can configure a LocalServer. Errors wrap
// ErrInvalidConfig.
func (c ServerConfig) Validate() error {
	var errs []error
	if c.Store != "" && c.Store != booking.StoreMemory && c.Store != booking.StoreBolt {
		errs = append(errs, fmt.Errorf("%w: store %q: choose memory or bolt", ErrInvalidConfig, c.Store))
	}
	if c.Horizon < 0 {
		errs = append(errs, fmt.Errorf("%w: horizon is %d days, must be 0 (default %d) or more", ErrInvalidConfig, c.Horizon, booking.DefaultHorizon))
	}
	if c.Model.Workers < 0 {
		errs = append(errs, fmt.Errorf("%w: workers is %d, must be 0 (default) or more", ErrInvalidConfig, c.Model.Workers))
	}
	if err := c.serverConfig(placeholder).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
	}
	if err := (server.Work{Delay: c.WorkDelay, CPU: c.WorkCPU}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
	}
	return errors.Join(errs...)
}

// placeholder stands for the handler when validating a ServerConfig.
var placeholder = server.HandlerFunc(func(context.Context, []byte) []byte { return nil })

func (c ServerConfig) serverConfig(h server.Handler) server.Config {
	cfg := server.Config{
		Handler:  server.WithWork(h, server.Work{Delay: c.WorkDelay, CPU: c.WorkCPU}),
		Model:    c.Model.Model,
		Workers:  c.Model.Workers,
		Queue:    c.Queue,
		Adaptive: c.Adaptive,
	}
	cfg.BusyReply, cfg.ReadTimeoutReply, cfg.InternalErrorReply = wire.ServerReplies()
	return cfg
}

// LocalServer is a poolside server running in this process on an
// ephemeral loopback port, with an observer that lets a Runner see its
// queue wait, service time and pool. Its methods are safe for concurrent
// use, but only one Runner at a time may measure it (Config.Server): the
// observer has one window. After Close, Resize returns ErrClosed.
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
		return nil, fmt.Errorf("benchmarks: cannot start the server: %w", err)
	}
	go func() { ls.served <- srv.Serve(ls.ln) }()
	return ls, nil
}

// startLocalRunner starts a LocalServer for scfg and a Runner of load
// against it. The caller closes both, the Runner first.
func startLocalRunner(ctx context.Context, scfg ServerConfig, load Config) (*LocalServer, *Runner, error) {
	ls, err := StartServer(scfg)
	if err != nil {
		return nil, nil, err
	}
	load.Server = ls
	r, err := NewRunner(ctx, load)
	if err != nil {
		ls.Close()
		return nil, nil, err
	}
	return ls, r, nil
}

// openService opens the configured store and the booking service on it.
func (ls *LocalServer) openService() error {
	sc := booking.StoreConfig{Kind: booking.StoreMemory}
	if ls.cfg.Store == booking.StoreBolt {
		dir, err := os.MkdirTemp(ls.cfg.Dir, "poolside-bench-")
		if err != nil {
			return fmt.Errorf("benchmarks: cannot make a directory for the bolt store: %w", err)
		}
		ls.dir = dir
		sc = booking.StoreConfig{Kind: booking.StoreBolt, Path: filepath.Join(dir, "bench.db")}
	}
	store, err := booking.OpenStore(sc)
	if err != nil {
		ls.removeDir()
		return fmt.Errorf("benchmarks: cannot open the %s store: %w", sc.Kind, err)
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

// lastDate is the last date the server's own handler takes bookings for
// when today is today.
func (ls *LocalServer) lastDate(today wire.Date) wire.Date {
	h := ls.cfg.Horizon
	if h == 0 {
		h = booking.DefaultHorizon
	}
	if uint64(today)+uint64(h) >= uint64(booking.LastDate) {
		return booking.LastDate
	}
	return today + wire.Date(h)
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
	return &observer{queueWait: newHistogram(), service: newHistogram()}
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

// end stops recording and returns copies of what was recorded.
func (o *observer) end() (queueWait, service *hdrhistogram.Histogram, busy int64) {
	o.open.Store(false)
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.queueWait.Clone(), o.service.Clone(), o.busy
}
