package pool_test

import (
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/pool"
)

// waitLimit bounds every wait on a channel so that a broken pool fails the
// test instead of hanging it. It is a failure bound, not a synchronisation
// device: passing runs never reach it.
const waitLimit = 10 * time.Second

// newPool returns a pool for cfg that is stopped when the test ends. Create
// it before any gate, so that cleanup opens gates before stopping the pool.
func newPool(t *testing.T, cfg pool.Config) *pool.Pool {
	t.Helper()
	p, err := pool.New(cfg)
	require.NoError(t, err)
	t.Cleanup(p.Stop)
	return p
}

// gate holds tasks until opened. It is opened at the latest on test
// cleanup, so a failing test does not leave tasks blocked.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func newGate(t *testing.T) *gate {
	g := &gate{ch: make(chan struct{})}
	t.Cleanup(g.open)
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// gauge tracks how many tasks are inside it now and the most there have
// been at once.
type gauge struct {
	cur, max atomic.Int64
}

func (g *gauge) enter() {
	n := g.cur.Add(1)
	for {
		m := g.max.Load()
		if n <= m || g.max.CompareAndSwap(m, n) {
			return
		}
	}
}

func (g *gauge) leave() { g.cur.Add(-1) }

// heldTask returns a task that enters g, reports on started, waits for
// hold to open, and leaves g.
func heldTask(g *gauge, started chan<- struct{}, hold *gate) func() {
	return func() {
		g.enter()
		defer g.leave()
		started <- struct{}{}
		<-hold.ch
	}
}

// recvN receives n values from ch, failing the test after waitLimit.
func recvN(t *testing.T, ch <-chan struct{}, n int, what string) {
	t.Helper()
	timeout := time.After(waitLimit)
	for i := 0; i < n; i++ {
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("%s: got %d of %d after %v", what, i, n, waitLimit)
		}
	}
}

// goN submits task n times, requiring every submission to be accepted.
func goN(t *testing.T, p *pool.Pool, n int, task func()) {
	t.Helper()
	for i := 0; i < n; i++ {
		require.NoError(t, p.Go(task), "Go #%d", i)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     pool.Config
		wantErr []string // substrings of the message; nil means valid
	}{
		{name: "zero value", cfg: pool.Config{}},
		{name: "bounded, no queue", cfg: pool.Config{Workers: 4}},
		{name: "unbounded with queue", cfg: pool.Config{Queue: 10}},
		{name: "bounded with queue", cfg: pool.Config{Workers: 4, Queue: 100}},
		{name: "negative workers", cfg: pool.Config{Workers: -1}, wantErr: []string{"Workers is -1"}},
		{name: "negative queue", cfg: pool.Config{Workers: 1, Queue: -5}, wantErr: []string{"Queue is -5"}},
		{name: "both negative", cfg: pool.Config{Workers: -2, Queue: -3}, wantErr: []string{"Workers is -2", "Queue is -3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == nil {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, pool.ErrInvalidConfig)
			for _, s := range tt.wantErr {
				assert.Contains(t, err.Error(), s)
			}

			p, err := pool.New(tt.cfg)
			require.ErrorIs(t, err, pool.ErrInvalidConfig)
			assert.Nil(t, p)
		})
	}
}

func TestNewReportsConfig(t *testing.T) {
	p := newPool(t, pool.Config{Workers: 3, Queue: 7})
	assert.Equal(t, 3, p.Workers())
	assert.Equal(t, 7, p.QueueSize())

	u := newPool(t, pool.Config{})
	assert.Equal(t, 0, u.Workers())
	assert.Equal(t, 0, u.QueueSize())
}

func TestWorkersNeverExceeded(t *testing.T) {
	const tasks = 40
	for _, workers := range []int{1, 3, 8} {
		t.Run("workers="+strconv.Itoa(workers), func(t *testing.T) {
			p := newPool(t, pool.Config{Workers: workers, Queue: tasks})
			hold := newGate(t)
			var g gauge
			started := make(chan struct{}, tasks)

			goN(t, p, tasks, heldTask(&g, started, hold))
			recvN(t, started, workers, "tasks started")

			// All workers are held, so nothing else can start.
			s := p.Stats()
			assert.EqualValues(t, workers, s.Running)
			assert.EqualValues(t, tasks-workers, s.Waiting)
			assert.EqualValues(t, workers, g.cur.Load())

			hold.open()
			recvN(t, started, tasks-workers, "remaining tasks started")
			p.Stop()

			assert.EqualValues(t, workers, g.max.Load(), "most tasks running at once")
			s = p.Stats()
			assert.EqualValues(t, tasks, s.Completed)
			assert.Zero(t, s.Rejected)
		})
	}
}

func TestSaturation(t *testing.T) {
	tests := []struct {
		name           string
		workers, queue int
	}{
		{name: "queue fills", workers: 2, queue: 3},
		{name: "no queue, one worker", workers: 1, queue: 0},
		{name: "no queue, four workers", workers: 4, queue: 0},
	}
	const extra = 3 // Go calls made while saturated
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, pool.Config{Workers: tt.workers, Queue: tt.queue})
			hold := newGate(t)
			var g gauge
			started := make(chan struct{}, tt.workers+tt.queue)
			task := heldTask(&g, started, hold)

			goN(t, p, tt.workers, task)
			recvN(t, started, tt.workers, "workers busy")
			goN(t, p, tt.queue, task)
			require.EqualValues(t, tt.queue, p.Stats().Waiting)

			// Saturated: Go refuses at once, while every task is still held.
			ran := atomic.Bool{}
			for i := 0; i < extra; i++ {
				err := p.Go(func() { ran.Store(true) })
				require.ErrorIs(t, err, pool.ErrSaturated)
			}
			assert.EqualValues(t, extra, p.Stats().Rejected)

			hold.open()
			p.Stop()
			assert.False(t, ran.Load(), "a refused task ran")
			s := p.Stats()
			assert.EqualValues(t, tt.workers+tt.queue, s.Submitted)
			assert.EqualValues(t, tt.workers+tt.queue, s.Completed)
			assert.EqualValues(t, extra, s.Rejected)
		})
	}
}

// TestQueueAbsorbsWorkerHandover checks the request/response pattern: a
// caller that waits for its task's signal and then submits the next one is
// never refused by a queue of one, although the worker frees its slot only a
// moment after the task returns.
func TestQueueAbsorbsWorkerHandover(t *testing.T) {
	p := newPool(t, pool.Config{Workers: 1, Queue: 1})
	done := make(chan struct{}, 1)
	task := func() { done <- struct{}{} }
	for i := 0; i < 1000; i++ {
		require.NoError(t, p.Go(task), "request %d", i)
		recvN(t, done, 1, "reply")
	}
	p.Stop()
	s := p.Stats()
	assert.EqualValues(t, 1000, s.Completed)
	assert.Zero(t, s.Rejected)
}

func TestUnboundedNeverRejects(t *testing.T) {
	const tasks = 300
	for _, queue := range []int{0, 5} {
		t.Run("queue="+strconv.Itoa(queue), func(t *testing.T) {
			p := newPool(t, pool.Config{Queue: queue})
			hold := newGate(t)
			var g gauge
			started := make(chan struct{}, tasks)

			goN(t, p, tasks, heldTask(&g, started, hold))
			// Every task runs at once: none waits for another to finish.
			recvN(t, started, tasks, "tasks started")
			s := p.Stats()
			assert.EqualValues(t, tasks, s.Running)
			assert.Zero(t, s.Waiting)
			assert.Zero(t, s.Rejected)
			assert.Zero(t, s.Workers)

			hold.open()
			p.Stop()
			assert.EqualValues(t, tasks, g.max.Load())
		})
	}
}

func TestResizeUpStartsQueuedTasks(t *testing.T) {
	tests := []struct {
		name   string
		to     int // new limit, 0 = none
		queued int
		starts int // queued tasks that Resize lets start
	}{
		{name: "1 to 4", to: 4, queued: 5, starts: 3},
		{name: "1 to unbounded", to: 0, queued: 5, starts: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, pool.Config{Workers: 1, Queue: tt.queued})
			hold := newGate(t)
			var g gauge
			started := make(chan struct{}, 1+tt.queued)
			task := heldTask(&g, started, hold)

			goN(t, p, 1, task)
			recvN(t, started, 1, "first task started")
			goN(t, p, tt.queued, task)
			require.EqualValues(t, tt.queued, p.Stats().Waiting)

			require.NoError(t, p.Resize(tt.to))
			assert.Equal(t, tt.to, p.Workers())
			// The queued tasks start while the first is still held.
			recvN(t, started, tt.starts, "queued tasks started by Resize")
			assert.EqualValues(t, 1+tt.starts, g.cur.Load())
			s := p.Stats()
			assert.EqualValues(t, 1+tt.starts, s.Running)
			assert.EqualValues(t, tt.queued-tt.starts, s.Waiting)

			hold.open()
			recvN(t, started, tt.queued-tt.starts, "remaining tasks started")
			p.Stop()
			assert.EqualValues(t, 1+tt.starts, g.max.Load())
		})
	}
}

func TestResizeDownLowersConcurrency(t *testing.T) {
	const (
		before = 4
		after  = 1
		later  = 6
	)
	p := newPool(t, pool.Config{Workers: before, Queue: later})
	hold1, hold2 := newGate(t), newGate(t)
	var g1, g2 gauge
	started1 := make(chan struct{}, before)
	started2 := make(chan struct{}, later)

	goN(t, p, before, heldTask(&g1, started1, hold1))
	recvN(t, started1, before, "first tasks started")

	require.NoError(t, p.Resize(after))
	assert.Equal(t, after, p.Workers())
	// Running tasks are not interrupted, and later ones must queue.
	goN(t, p, later, heldTask(&g2, started2, hold2))
	s := p.Stats()
	assert.EqualValues(t, before, s.Running)
	assert.EqualValues(t, later, s.Waiting)

	// As the first tasks finish, the surplus workers retire; the first
	// later task starts only once a single worker is left.
	hold1.open()
	recvN(t, started2, 1, "first later task started")
	s = p.Stats()
	assert.EqualValues(t, after, s.Running)
	assert.EqualValues(t, later-after, s.Waiting)

	hold2.open()
	recvN(t, started2, later-after, "remaining later tasks started")
	p.Stop()
	assert.EqualValues(t, before, g1.max.Load())
	assert.EqualValues(t, after, g2.max.Load(), "later tasks exceeded the lowered limit")
}

func TestResizeErrors(t *testing.T) {
	p := newPool(t, pool.Config{Workers: 2})

	err := p.Resize(-1)
	require.ErrorIs(t, err, pool.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "Resize(-1)")
	assert.Equal(t, 2, p.Workers(), "a refused Resize changed the limit")

	p.Stop()
	require.ErrorIs(t, p.Resize(3), pool.ErrStopped)
	assert.Equal(t, 2, p.Workers())
	require.ErrorIs(t, p.Resize(-1), pool.ErrInvalidConfig)
}

func TestPanickingTaskIsCounted(t *testing.T) {
	tests := []struct {
		name string
		task func()
	}{
		{name: "panic string", task: func() { panic("boom") }},
		{name: "panic error", task: func() { panic(errors.New("boom")) }},
		{name: "panic nil", task: func() { panic(nil) }}, // recovered as *runtime.PanicNilError
		{name: "Goexit", task: func() { runtime.Goexit() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One worker and a queue, so the next tasks run on the worker
			// that saw the panic or on its replacement.
			p := newPool(t, pool.Config{Workers: 1, Queue: 2})
			hold := newGate(t)
			var g gauge
			started := make(chan struct{}, 1)

			require.NoError(t, p.Go(heldTask(&g, started, hold)))
			recvN(t, started, 1, "worker busy")
			require.NoError(t, p.Go(tt.task))
			done := make(chan struct{})
			require.NoError(t, p.Go(func() { close(done) }))

			hold.open()
			recvN(t, done, 1, "task after the panicking one")
			p.Stop()

			s := p.Stats()
			assert.EqualValues(t, 1, s.Panicked)
			assert.EqualValues(t, 3, s.Completed)
			assert.EqualValues(t, 3, s.Submitted)
		})
	}
}

func TestPoolWorksAfterPanic(t *testing.T) {
	const rounds = 5
	p := newPool(t, pool.Config{Workers: 1, Queue: 2})
	for i := 0; i < rounds; i++ {
		require.NoError(t, p.Go(func() { panic("boom") }))
		done := make(chan struct{})
		require.NoError(t, p.Go(func() { close(done) }))
		recvN(t, done, 1, "task after panic")
	}
	p.Stop()
	s := p.Stats()
	assert.EqualValues(t, rounds, s.Panicked)
	assert.EqualValues(t, 2*rounds, s.Completed)
}

func TestStopDrainsQueue(t *testing.T) {
	const queued = 5
	p := newPool(t, pool.Config{Workers: 1, Queue: queued})
	hold := newGate(t)
	var g gauge
	started := make(chan struct{}, 1)

	require.NoError(t, p.Go(heldTask(&g, started, hold)))
	recvN(t, started, 1, "worker busy")
	var ran atomic.Int64
	goN(t, p, queued, func() { ran.Add(1) })

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		p.Stop()
	}()
	// Stop cannot return while a task is held.
	select {
	case <-stopped:
		t.Fatal("Stop returned while a task was still running")
	default:
	}

	hold.open()
	recvN(t, stopped, 1, "Stop returned")
	assert.EqualValues(t, queued, ran.Load(), "Stop returned before draining the queue")

	require.ErrorIs(t, p.Go(func() { t.Error("task ran after Stop") }), pool.ErrStopped)
	s := p.Stats()
	assert.EqualValues(t, 1+queued, s.Submitted)
	assert.EqualValues(t, 1+queued, s.Completed)
	assert.Zero(t, s.Rejected, "ErrStopped counted as Rejected")
	assert.Zero(t, s.Running)
	assert.Zero(t, s.Waiting)

	p.Stop() // again: a no-op
}

func TestStopConcurrentCalls(t *testing.T) {
	p := newPool(t, pool.Config{Workers: 2, Queue: 4})
	hold := newGate(t)
	var g gauge
	started := make(chan struct{}, 6)
	goN(t, p, 6, heldTask(&g, started, hold))
	recvN(t, started, 2, "workers busy")

	const stoppers = 4
	var wg sync.WaitGroup
	var returned atomic.Int64
	for i := 0; i < stoppers; i++ {
		wg.Go(func() {
			p.Stop()
			// Every Stop returns only once the pool has drained.
			assert.EqualValues(t, 6, p.Stats().Completed)
			returned.Add(1)
		})
	}
	assert.Zero(t, returned.Load())
	hold.open()
	recvN(t, started, 4, "queued tasks started")
	wg.Wait()
	assert.EqualValues(t, stoppers, returned.Load())
}

func TestGoNilTaskPanics(t *testing.T) {
	p := newPool(t, pool.Config{Workers: 1})
	assert.PanicsWithValue(t, "pool: Go called with a nil task", func() { _ = p.Go(nil) })
}

func TestStatsAfterQuiescence(t *testing.T) {
	const (
		workers  = 2
		queue    = 3
		rejected = 4
		panics   = 2
	)
	p := newPool(t, pool.Config{Workers: workers, Queue: queue})
	assert.Equal(t, pool.Stats{Workers: workers}, p.Stats(), "fresh pool")

	hold := newGate(t)
	var g gauge
	started := make(chan struct{}, workers)
	goN(t, p, workers, heldTask(&g, started, hold))
	recvN(t, started, workers, "workers busy")
	goN(t, p, panics, func() { panic("boom") })
	goN(t, p, queue-panics, func() {})
	for i := 0; i < rejected; i++ {
		require.ErrorIs(t, p.Go(func() {}), pool.ErrSaturated)
	}

	hold.open()
	p.Stop()
	require.ErrorIs(t, p.Go(func() {}), pool.ErrStopped)

	assert.Equal(t, pool.Stats{
		Workers:   workers,
		Running:   0,
		Waiting:   0,
		Submitted: workers + queue,
		Completed: workers + queue,
		Rejected:  rejected,
		Panicked:  panics,
	}, p.Stats())
}

// TestConcurrentUse exercises every method at once under the race detector
// and checks the counters add up once the pool is idle.
func TestConcurrentUse(t *testing.T) {
	const (
		submitters = 4
		perGo      = 500
	)
	p := newPool(t, pool.Config{Workers: 2, Queue: 8})

	var accepted, saturated, ran atomic.Uint64
	var wg sync.WaitGroup
	for i := 0; i < submitters; i++ {
		wg.Go(func() {
			for j := 0; j < perGo; j++ {
				err := p.Go(func() {
					ran.Add(1)
					if j%97 == 0 {
						panic("boom")
					}
				})
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, pool.ErrSaturated):
					saturated.Add(1)
				default:
					t.Errorf("Go: %v", err)
					return
				}
			}
		})
	}
	stop := make(chan struct{})
	var side sync.WaitGroup
	side.Go(func() {
		for n := 1; ; n = n%4 + 1 {
			select {
			case <-stop:
				return
			default:
			}
			assert.NoError(t, p.Resize(n))
			s := p.Stats()
			assert.LessOrEqual(t, s.Completed, s.Submitted)
			_ = p.Workers()
			_ = p.QueueSize()
		}
	})
	wg.Wait()
	close(stop)
	side.Wait()
	p.Stop()

	s := p.Stats()
	assert.Equal(t, uint64(submitters*perGo), s.Submitted+s.Rejected)
	assert.Equal(t, accepted.Load(), s.Submitted)
	assert.Equal(t, saturated.Load(), s.Rejected)
	assert.Equal(t, s.Submitted, s.Completed)
	assert.Equal(t, ran.Load(), s.Completed)
	assert.LessOrEqual(t, s.Panicked, s.Completed)
	assert.Zero(t, s.Running)
	assert.Zero(t, s.Waiting)
}
