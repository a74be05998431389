package pool

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/alitto/pond/v2"
)

// Config configures a Pool. The zero value is valid: no worker limit and no
// queue, so every task starts at once (a task of Go on its own goroutine)
// and neither Go nor Run returns ErrSaturated.
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
	// A worker goroutine frees its slot a moment after its task returns,
	// so with Queue 0 and every worker in use, a caller that calls Go again
	// as soon as its previous task has signalled completion can be
	// refused. A queue of one slot per such caller absorbs that hand-over:
	// the finishing worker picks the queued task up at once. Run, which
	// returns only once the slot is free, has no such gap.
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

// Pool runs tasks on a bounded set of worker slots with a bounded queue.
// Create one with New; the zero value is not usable. All methods are safe
// for concurrent use. A Pool must be stopped with Stop to wait for its
// tasks; after Stop it refuses new work.
//
// A slot is held by a task while it runs, on a worker goroutine (Go, and
// Run once its task has queued) or on the caller's (Run with a slot free).
// The limit, the queue and every counter are kept under one mutex that is
// never held while a task runs. Worker goroutines are pond's: a task that
// has its slot and does not run on its caller is handed to p.pond.
type Pool struct {
	queueSize int       // Config.Queue; never changes
	pond      pond.Pool // runs tasks that have a slot; no limit of its own

	mu        sync.Mutex
	limit     int   // Workers, math.MaxInt for no limit
	running   int64 // slots held
	queue     fifo  // accepted tasks waiting for a slot
	stopped   bool
	drained   chan struct{} // closed once stopped with nothing running or queued
	submitted uint64
	completed uint64
	rejected  uint64
	panicked  uint64
}

// item is a task with, for Run, the channel its caller waits on.
type item struct {
	fn   func()
	done chan struct{} // nil for Go
}

// New returns a running Pool configured by cfg, or an error wrapping
// ErrInvalidConfig if cfg.Validate fails.
func New(cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Pool{
		queueSize: cfg.Queue,
		// Admission is p's own, so pond gets no limit and no queue: it
		// starts every task at once. p recovers and counts panics itself,
		// so pond's recovery would never see one.
		pond:    pond.NewPool(0, pond.WithoutPanicRecovery()),
		limit:   limitOf(cfg.Workers),
		drained: make(chan struct{}),
	}, nil
}

// limitOf turns a worker count, 0 meaning no limit, into a slot limit.
func limitOf(workers int) int {
	if workers == 0 {
		return math.MaxInt
	}
	return workers
}

// Go runs task on a worker: at once if one is free, otherwise after the
// tasks queued before it. It never blocks. It returns ErrSaturated if every
// worker is busy and the queue is full, and ErrStopped once Stop has been
// called; either way task will not run. It returns no other error.
//
// Go allocates nothing beyond the goroutine a task starts on and returns no
// handle: a caller that needs to know when task has finished must signal it
// from task (a reused done channel, a sync.WaitGroup), or use Run. If task
// panics the pool recovers, counts it in Stats.Panicked and carries on; the
// panic value and stack are discarded, so a task that needs them must
// recover itself. Go panics if task is nil.
func (p *Pool) Go(task func()) error {
	if task == nil {
		panic("pool: Go called with a nil task")
	}
	start, err := p.admit(task)
	if start {
		p.start(item{fn: task})
	}
	return err
}

// Run runs task and returns once it has finished and its worker is free
// (and counted in Stats). If a worker is free and no task is queued (which
// would have the first claim), task runs at once on the calling goroutine,
// holding the worker until it returns: no other goroutine is involved. Otherwise task is queued as Go would queue
// it, runs on a worker after the tasks queued before it, and Run waits for
// it. Either way it is counted in Stats as a task of Go is, and the limit
// and the queue bound apply to both alike.
//
// Run returns ErrSaturated at once if every worker is busy and the queue is
// full, and ErrStopped once Stop has been called; then task has not run.
// Otherwise it returns nil, also if task panicked: as with Go, the pool
// recovers the panic and counts it in Stats.Panicked. If task calls
// runtime.Goexit, its worker is freed and counted as for a panic; when
// task ran on the calling goroutine, that goroutine then exits, as Goexit
// does. Run panics if task is nil. A task running on p should not call
// Run: with every worker busy it would queue and wait while holding a
// worker itself.
//
// Run allocates nothing in its steady state; waiting for a queued task
// takes a channel from a free list.
func (p *Pool) Run(task func()) error {
	if task == nil {
		panic("pool: Run called with a nil task")
	}
	p.mu.Lock()
	switch {
	case p.stopped:
		p.mu.Unlock()
		return ErrStopped
	case p.free():
		p.running++
		p.submitted++
		p.mu.Unlock()
		if next, ok := p.exec(item{fn: task}); ok {
			p.start(next) // the slot goes to the task that queued for it
		}
		return nil
	case p.queue.len() >= p.queueSize:
		p.rejected++
		p.mu.Unlock()
		return ErrSaturated
	}
	done := doneChans.Get().(chan struct{})
	p.queue.push(item{fn: task, done: done})
	p.submitted++
	p.mu.Unlock()
	<-done
	doneChans.Put(done)
	return nil
}

// doneChans holds the channels that Run's callers wait on while their
// task is queued. A channel is back in the list only once its signal has
// been received, so it is always empty there.
var doneChans = sync.Pool{New: func() any { return make(chan struct{}, 1) }}

// free reports whether a task may take a slot now: one is free and no task
// is queued, which would have the first claim on it. p.mu must be held.
func (p *Pool) free() bool {
	return p.running < int64(p.limit) && p.queue.len() == 0
}

// admit accepts task for Go or refuses it. With start true its slot is
// taken and the caller must start it on a new worker goroutine; otherwise,
// with a nil error, it has been queued.
func (p *Pool) admit(task func()) (start bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.stopped:
		return false, ErrStopped
	case p.free():
		p.running++
		p.submitted++
		return true, nil
	case p.queue.len() >= p.queueSize:
		p.rejected++
		return false, ErrSaturated
	}
	p.queue.push(item{fn: task})
	p.submitted++
	return false, nil
}

// start hands it, which holds a slot, to a worker goroutine of pond's. pond
// has no limit and refuses only once stopped, which it is only after every
// slot is free (see Stop), so start never fails.
func (p *Pool) start(it item) {
	if err := p.pond.Go(func() { p.work(it) }); err != nil {
		panic("pool: pond refused a task that holds a slot: " + err.Error())
	}
}

// work runs it on a worker goroutine, then the queued tasks its slot is
// handed on to, and returns when the slot is free.
func (p *Pool) work(it item) {
	for {
		next, ok := p.exec(it)
		if !ok {
			return
		}
		it = next
	}
}

// exec runs it.fn on the calling goroutine, which holds a slot for it, then
// frees the slot and signals it.done, in that order, so that Run returns
// with its task counted and its slot free. It returns the queued task the
// slot passes to, if any, which the caller must run. A panic in it.fn is
// recovered and counted. If it.fn calls runtime.Goexit, exec counts it
// likewise and starts the next task on a new goroutine before the calling
// goroutine exits.
func (p *Pool) exec(it item) (next item, ok bool) {
	normal := false
	defer func() {
		if normal {
			return
		}
		goexit := recover() == nil // a panic, even panic(nil), recovers non-nil
		next, ok = p.release(true)
		if it.done != nil {
			it.done <- struct{}{}
		}
		if goexit && ok {
			p.start(next)
		}
	}()
	it.fn()
	normal = true
	next, ok = p.release(false)
	if it.done != nil {
		it.done <- struct{}{}
	}
	return next, ok
}

// release counts a finished task and frees its slot, or hands it to the
// first queued task, which it returns with ok. A slot over the limit (after
// Resize lowered it) is freed, not handed on.
func (p *Pool) release(panicked bool) (next item, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.completed++
	if panicked {
		p.panicked++
	}
	if p.running <= int64(p.limit) && p.queue.len() > 0 {
		return p.queue.pop(), true
	}
	p.running--
	p.checkDrained()
	return item{}, false
}

// checkDrained closes p.drained once Stop has been called and nothing is
// running or queued. p.mu must be held.
func (p *Pool) checkDrained() {
	if p.stopped && p.running == 0 && p.queue.len() == 0 {
		select {
		case <-p.drained:
		default:
			close(p.drained)
		}
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
	if p.stopped {
		return ErrStopped
	}
	p.limit = limitOf(n)
	for p.running < int64(p.limit) && p.queue.len() > 0 {
		p.running++
		p.start(p.queue.pop())
	}
	return nil
}

// Workers returns the current worker limit, 0 meaning no limit. After Stop
// it returns the last limit set.
func (p *Pool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.workers()
}

func (p *Pool) workers() int {
	if p.limit == math.MaxInt {
		return 0
	}
	return p.limit
}

// QueueSize returns the queue bound from Config.Queue; it never changes.
func (p *Pool) QueueSize() int {
	return p.queueSize
}

// Stats is a snapshot of a Pool's counters, returned by Pool.Stats. The
// counters are cumulative from New, except Workers, Running and Waiting,
// which are current values.
//
// Each accepted task is counted in Submitted, then Waiting if it has to
// queue, then Running, then Completed; tasks of Run and of Go alike. The
// snapshot is taken under the lock that every change takes, so
// Submitted == Completed + Running + Waiting holds in every snapshot, and
// once the pool is idle (as after Stop returns) Submitted == Completed.
// Calls that were refused are not in Submitted: those that got
// ErrSaturated are in Rejected, those that got ErrStopped are nowhere.
type Stats struct {
	// Workers is the worker limit, 0 meaning no limit (see Pool.Workers).
	Workers int

	// Running is the number of workers in use: tasks that hold a worker
	// and have not finished, whether they run on a goroutine of the
	// pool's or, through Run, on their caller's. The pool keeps no idle
	// goroutines (a worker goroutine exits when it finds the queue empty).
	// A task is counted from its admission, a moment before it starts,
	// until Completed counts it, so while tasks hand over Running may
	// include one that has not quite started or has just returned.
	Running int64

	// Waiting is the number of accepted tasks in the queue, not yet started.
	Waiting uint64

	// Submitted is the number of tasks accepted: Go and Run calls that
	// returned nil.
	Submitted uint64

	// Completed is the number of accepted tasks that have finished running,
	// whether they returned or panicked.
	Completed uint64

	// Rejected is the number of Go and Run calls that returned
	// ErrSaturated.
	Rejected uint64

	// Panicked is the number of completed tasks that did not return
	// normally: they panicked (the pool recovered) or called
	// runtime.Goexit. It is included in Completed.
	Panicked uint64
}

// Stats returns a snapshot of p's counters. It is cheap (one short lock)
// and valid after Stop.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Workers:   p.workers(),
		Running:   p.running,
		Waiting:   uint64(p.queue.len()),
		Submitted: p.submitted,
		Completed: p.completed,
		Rejected:  p.rejected,
		Panicked:  p.panicked,
	}
}

// Stop stops accepting tasks, lets the running and queued ones finish, and
// returns when they have. Go, Run and Resize return ErrStopped from the
// moment Stop is called; Workers, QueueSize and Stats keep working. Stop is
// safe to call more than once and from several goroutines; every call
// returns once the pool has drained. It must not be called from a task
// running on p, which would wait for itself.
func (p *Pool) Stop() {
	p.mu.Lock()
	p.stopped = true
	p.checkDrained()
	p.mu.Unlock()
	<-p.drained
	// Every slot is free, so no task will be handed to pond again; wait
	// for its worker goroutines to exit.
	p.pond.StopAndWait()
}

// fifo is the queue of tasks waiting for a slot: a ring that grows with
// use and keeps its capacity.
type fifo struct {
	buf  []item
	head int // index of the first item
	n    int
}

func (q *fifo) len() int { return q.n }

func (q *fifo) push(it item) {
	if q.n == len(q.buf) {
		buf := make([]item, max(16, 2*len(q.buf)))
		k := copy(buf, q.buf[q.head:])
		copy(buf[k:], q.buf[:q.head])
		q.buf, q.head = buf, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = it
	q.n++
}

func (q *fifo) pop() item {
	it := q.buf[q.head]
	q.buf[q.head] = item{} // let the task's closure go
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return it
}
