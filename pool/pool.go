package pool

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/alitto/pond/v2"
)

// Config configures a Pool. The zero value is valid: no worker limit and no
// queue, so every task starts at once on its own goroutine and Go never
// returns ErrSaturated.
type Config struct {
	// Workers is the most tasks that run at once. 0 means no limit.
	// Must be >= 0.
	Workers int

	// Queue is how many accepted tasks may wait for a worker while all
	// Workers are busy. 0 means none: Go returns ErrSaturated as soon as
	// every worker is busy. Must be >= 0. While Workers is 0 no task ever
	// waits, but the queue applies once Resize sets a limit. Queue memory
	// grows with use, not with this bound.
	//
	// A worker frees its slot a moment after its task returns, so with
	// Queue 0 and every worker in use, a caller that calls Go again as soon
	// as its previous task has signalled completion can be refused. A queue
	// of one slot per such caller absorbs that hand-over: the finishing
	// worker picks the queued task up at once.
	Queue int
}

// Validate reports whether c can configure a Pool. The error wraps
// ErrInvalidConfig once for each field out of range (see errors.Join).
func (c Config) Validate() error {
	var errs []error
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("%w: Workers is %d, want >= 0 (0 = no limit)", ErrInvalidConfig, c.Workers))
	}
	if c.Queue < 0 {
		errs = append(errs, fmt.Errorf("%w: Queue is %d, want >= 0 (0 = no queue)", ErrInvalidConfig, c.Queue))
	}
	return errors.Join(errs...)
}

// Pool runs tasks on a bounded set of worker goroutines with a bounded
// queue. Create one with New; the zero value is not usable. All methods are
// safe for concurrent use. A Pool must be stopped with Stop to wait for its
// tasks; after Stop it refuses new work.
type Pool struct {
	pond     pond.Pool
	rejected atomic.Uint64 // Go calls that returned ErrSaturated

	mu      sync.Mutex  // orders Resize against Stop
	stopped atomic.Bool // set by Stop, under mu
}

// New returns a running Pool configured by cfg, or an error wrapping
// ErrInvalidConfig if cfg.Validate fails.
func New(cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// pond treats a queue size of 0 as "no queue" and, when non-blocking,
	// refuses a task as soon as every worker is busy: exactly Config.Queue.
	// pond recovers task panics by default and counts them as failed.
	p := pond.NewPool(cfg.Workers, pond.WithQueueSize(cfg.Queue), pond.WithNonBlocking(true))
	return &Pool{pond: p}, nil
}

// Go runs task on a worker: at once if one is free, otherwise after the
// tasks queued before it. It never blocks. It returns ErrSaturated if every
// worker is busy and the queue is full, and ErrStopped once Stop has been
// called; either way task will not run. It returns no other error.
//
// Go allocates nothing beyond what pond does for its own Go and returns no
// handle: a caller that needs to know when task has finished must signal it
// from task (a reused done channel, a sync.WaitGroup). If task panics the
// pool recovers, counts it in Stats.Panicked and carries on; the panic value
// and stack are discarded, so a task that needs them must recover itself.
// Go panics if task is nil.
func (p *Pool) Go(task func()) error {
	if task == nil {
		panic("pool: Go called with a nil task")
	}
	if p.stopped.Load() {
		return ErrStopped
	}
	if err := p.pond.Go(task); err != nil {
		return p.refused(err)
	}
	return nil
}

// refused maps the error of pond's non-blocking Go to this package's.
func (p *Pool) refused(err error) error {
	switch {
	case errors.Is(err, pond.ErrQueueFull):
		p.rejected.Add(1)
		return ErrSaturated
	case errors.Is(err, pond.ErrPoolStopped):
		return ErrStopped
	default:
		// Unreachable with pond v2.7.1: non-blocking Go fails only with the
		// two errors above.
		return fmt.Errorf("pool: unexpected error from pond: %w", err)
	}
}

// Resize sets the worker limit to n while the pool runs; 0 means no limit.
// Raising it starts queued tasks at once, up to the new limit. Lowering it
// interrupts nothing: running tasks finish, and workers over the new limit
// retire as they do, so later tasks run at most n at a time. The queue
// bound is unchanged. Resize returns an error wrapping ErrInvalidConfig if
// n < 0, and ErrStopped once Stop has been called.
func (p *Pool) Resize(n int) error {
	if n < 0 {
		return fmt.Errorf("%w: Resize(%d): workers must be >= 0 (0 = no limit)", ErrInvalidConfig, n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped.Load() {
		return ErrStopped
	}
	p.pond.Resize(n)
	return nil
}

// Workers returns the current worker limit, 0 meaning no limit. After Stop
// it returns the last limit set.
func (p *Pool) Workers() int {
	n := p.pond.MaxConcurrency()
	if n == math.MaxInt { // pond's representation of "no limit"
		return 0
	}
	return n
}

// QueueSize returns the queue bound from Config.Queue; it never changes.
func (p *Pool) QueueSize() int {
	return p.pond.QueueSize()
}

// Stats is a snapshot of a Pool's counters, returned by Pool.Stats. The
// counters are cumulative from New, except Workers, Running and Waiting,
// which are current values.
//
// Each accepted task is counted in Submitted, then Waiting if it has to
// queue, then Running, then Completed. While tasks are in flight the
// fields are read one at a time, so Submitted == Completed + Running +
// Waiting holds only approximately. It holds exactly once the pool is idle,
// with no Go call in progress and Running and Waiting both 0 (as after Stop
// returns): then Submitted == Completed. Go calls that were refused are not in Submitted: those that
// got ErrSaturated are in Rejected, those that got ErrStopped are nowhere.
type Stats struct {
	// Workers is the worker limit, 0 meaning no limit (see Pool.Workers).
	Workers int

	// Running is the number of tasks held by a worker and not yet
	// finished. pond keeps no idle workers (a worker exits when it finds
	// the queue empty), so this is also the number of busy workers. A task
	// is counted from its admission, a moment before it starts, until just
	// after Completed counts it, so while tasks hand over Running may
	// include one that has not quite started or has just finished.
	Running int64

	// Waiting is the number of accepted tasks in the queue, not yet started.
	Waiting uint64

	// Submitted is the number of tasks accepted: Go calls that returned nil.
	Submitted uint64

	// Completed is the number of accepted tasks that have finished running,
	// whether they returned or panicked.
	Completed uint64

	// Rejected is the number of Go calls that returned ErrSaturated.
	Rejected uint64

	// Panicked is the number of completed tasks that did not return
	// normally: they panicked (the pool recovered) or called
	// runtime.Goexit. It is included in Completed.
	Panicked uint64
}

// Stats returns a snapshot of p's counters. It is cheap (a handful of atomic
// loads and one short lock) and valid after Stop.
func (p *Pool) Stats() Stats {
	// Read the later stages of a task's life first, so that a task moving
	// on during the snapshot is missed rather than counted twice; and
	// pond's dropped count before its submitted count (it bumps them in the
	// other order), so that their difference cannot go negative.
	s := Stats{
		Workers:   p.Workers(),
		Panicked:  p.pond.FailedTasks(),
		Completed: p.pond.CompletedTasks(),
		Running:   p.pond.RunningWorkers(),
		Waiting:   p.pond.WaitingTasks(),
		Rejected:  p.rejected.Load(),
	}
	dropped := p.pond.DroppedTasks() // ErrSaturated and ErrStopped refusals
	s.Submitted = p.pond.SubmittedTasks() - dropped
	return s
}

// Stop stops accepting tasks, lets the running and queued ones finish, and
// returns when they have. Go and Resize return ErrStopped from the moment
// Stop is called; Workers, QueueSize and Stats keep working. Stop is safe to
// call more than once and from several goroutines; every call returns once
// the pool has drained. It must not be called from a task running on p,
// which would wait for itself.
func (p *Pool) Stop() {
	p.mu.Lock()
	p.stopped.Store(true)
	p.mu.Unlock()
	p.pond.StopAndWait()
}
