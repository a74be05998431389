package pool_test

import (
	"errors"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/pool"
)

// onCaller reports whether the calling goroutine's stack passes through a
// function named fn: a task run by Run on its caller's goroutine has the
// test function below it, one run on a worker goroutine does not.
func onCaller(fn string) bool {
	return strings.Contains(string(debug.Stack()), fn)
}

// runAsync calls p.Run(task) on a new goroutine and returns the channel its
// error arrives on.
func runAsync(p *pool.Pool, task func()) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- p.Run(task) }()
	return errc
}

// recvErr receives one error from errc, failing the test after waitLimit.
func recvErr(t *testing.T, errc <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(waitLimit):
		t.Fatalf("%s: no result after %v", what, waitLimit)
		return nil
	}
}

func TestRunOnCallerWhenWorkerFree(t *testing.T) {
	p := newPool(t, pool.Config{Workers: 1})
	var inside pool.Stats
	var caller bool
	require.NoError(t, p.Run(func() {
		inside = p.Stats()
		caller = onCaller("TestRunOnCallerWhenWorkerFree")
	}))
	assert.True(t, caller, "Run with a free worker ran its task on another goroutine")
	assert.EqualValues(t, 1, inside.Running, "the task did not hold a worker")
	assert.EqualValues(t, 1, inside.Submitted)
	assert.Equal(t, pool.Stats{Workers: 1, Submitted: 1, Completed: 1}, p.Stats())
}

// TestRunQueuesBehindBusyWorkers checks that Run, with every worker busy,
// queues its task behind those queued before it, waits for it, and that
// the task then runs on a worker goroutine.
func TestRunQueuesBehindBusyWorkers(t *testing.T) {
	p := newPool(t, pool.Config{Workers: 1, Queue: 2})
	hold := newGate(t)
	var g gauge
	started := make(chan struct{}, 1)
	require.NoError(t, p.Go(heldTask(&g, started, hold)))
	recvN(t, started, 1, "worker busy")

	var order []string
	var mu sync.Mutex
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, s)
	}
	require.NoError(t, p.Go(func() { note("go") }))
	var caller atomic.Bool
	errc := runAsync(p, func() {
		caller.Store(onCaller("runAsync"))
		note("run")
	})
	// Run has queued once Waiting counts it.
	waitFor(t, func() bool { return p.Stats().Waiting == 2 }, "Run queued")
	select {
	case err := <-errc:
		t.Fatalf("Run returned %v while its task was queued", err)
	default:
	}

	hold.open()
	require.NoError(t, recvErr(t, errc, "Run"))
	assert.Equal(t, []string{"go", "run"}, order, "queued tasks ran out of order")
	assert.False(t, caller.Load(), "a queued task of Run ran on its caller's goroutine")
	// Run returns only once its task is counted and its worker free.
	assert.Equal(t, pool.Stats{Workers: 1, Submitted: 3, Completed: 3}, p.Stats())
	p.Stop()
	s := p.Stats()
	assert.EqualValues(t, 3, s.Submitted)
	assert.EqualValues(t, 3, s.Completed)
	assert.EqualValues(t, 1, g.max.Load())
}

// waitFor polls cond, yielding between tries, and fails the test if it is
// not true within waitLimit. It is for states that no channel announces
// (a goroutine that has queued and is blocked in Run).
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("%s: not after %v", what, waitLimit)
		default:
			runtime.Gosched()
		}
	}
}

func TestRunSaturatedAndStopped(t *testing.T) {
	for _, queue := range []int{0, 2} {
		t.Run("queue="+strconv.Itoa(queue), func(t *testing.T) {
			p := newPool(t, pool.Config{Workers: 1, Queue: queue})
			hold := newGate(t)
			var g gauge
			started := make(chan struct{}, 1+queue)
			task := heldTask(&g, started, hold)
			require.NoError(t, p.Go(task))
			recvN(t, started, 1, "worker busy")
			goN(t, p, queue, task)

			var ran atomic.Bool
			require.ErrorIs(t, p.Run(func() { ran.Store(true) }), pool.ErrSaturated)
			assert.EqualValues(t, 1, p.Stats().Rejected)

			hold.open()
			recvN(t, started, queue, "queued tasks started")
			p.Stop()
			require.ErrorIs(t, p.Run(func() { ran.Store(true) }), pool.ErrStopped)
			assert.False(t, ran.Load(), "a refused task ran")
			s := p.Stats()
			assert.EqualValues(t, 1+queue, s.Submitted)
			assert.EqualValues(t, 1+queue, s.Completed)
			assert.EqualValues(t, 1, s.Rejected, "ErrStopped counted as Rejected")
		})
	}
}

// TestRunAndGoShareTheLimit holds tasks of Run on their callers and of Go
// on workers and checks that together they never exceed the limit, that
// the next one queues, and that a task Run holds on its caller hands its
// worker to the queued task when it ends.
func TestRunAndGoShareTheLimit(t *testing.T) {
	const workers = 3
	p := newPool(t, pool.Config{Workers: workers, Queue: 4})
	hold := newGate(t)
	var g gauge
	started := make(chan struct{}, workers+2)
	task := heldTask(&g, started, hold)

	var errs []<-chan error
	errs = append(errs, runAsync(p, task), runAsync(p, task))
	require.NoError(t, p.Go(task))
	recvN(t, started, workers, "workers busy")
	errs = append(errs, runAsync(p, task))
	require.NoError(t, p.Go(task))
	waitFor(t, func() bool { return p.Stats().Waiting == 2 }, "both queued")
	s := p.Stats()
	assert.EqualValues(t, workers, s.Running)
	assert.EqualValues(t, workers, g.cur.Load())

	hold.open()
	for i, errc := range errs {
		require.NoError(t, recvErr(t, errc, "Run"), "Run #%d", i)
	}
	recvN(t, started, 2, "queued tasks started")
	p.Stop()
	assert.EqualValues(t, workers, g.max.Load(), "Run and Go together exceeded the limit")
	s = p.Stats()
	assert.EqualValues(t, workers+2, s.Submitted)
	assert.EqualValues(t, workers+2, s.Completed)
}

func TestRunResize(t *testing.T) {
	p := newPool(t, pool.Config{Workers: 2, Queue: 2})
	hold := newGate(t)
	var g gauge
	started := make(chan struct{}, 4)
	task := heldTask(&g, started, hold)
	first := []<-chan error{runAsync(p, task), runAsync(p, task)}
	recvN(t, started, 2, "workers busy")

	// Lowered: the running tasks go on; the next one queues, and starts
	// only once a single worker is left.
	require.NoError(t, p.Resize(1))
	later := runAsync(p, task)
	waitFor(t, func() bool { return p.Stats().Waiting == 1 }, "queued after Resize down")
	assert.EqualValues(t, 2, p.Stats().Running)

	// Raised: the queued task starts at once.
	require.NoError(t, p.Resize(3))
	recvN(t, started, 1, "queued task started by Resize up")
	assert.EqualValues(t, 3, p.Stats().Running)

	hold.open()
	for _, errc := range append(first, later) {
		require.NoError(t, recvErr(t, errc, "Run"))
	}
	p.Stop()
	assert.EqualValues(t, 3, g.max.Load())
}

func TestRunPanicAndGoexit(t *testing.T) {
	tests := []struct {
		name string
		task func()
	}{
		{name: "panic", task: func() { panic("boom") }},
		{name: "panic nil", task: func() { panic(nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, pool.Config{Workers: 1})
			require.NoError(t, p.Run(tt.task), "a recovered panic is not Run's error")
			require.NoError(t, p.Run(func() {}), "the worker was not freed")
			p.Stop()
			assert.Equal(t, pool.Stats{Workers: 1, Submitted: 2, Completed: 2, Panicked: 1}, p.Stats())
		})
	}

	t.Run("Goexit on the caller", func(t *testing.T) {
		p := newPool(t, pool.Config{Workers: 1, Queue: 1})
		hold := newGate(t)
		entered := make(chan struct{})
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			_ = p.Run(func() {
				close(entered)
				<-hold.ch
				runtime.Goexit()
			})
			t.Error("Run returned after its task called Goexit on the caller")
		}()
		recvN(t, entered, 1, "task running")
		// Queued behind the task that will Goexit: it must still run.
		queued := runAsync(p, func() {})
		waitFor(t, func() bool { return p.Stats().Waiting == 1 }, "queued")
		hold.open()
		recvN(t, exited, 1, "caller exited")
		require.NoError(t, recvErr(t, queued, "queued Run"))
		p.Stop()
		assert.Equal(t, pool.Stats{Workers: 1, Submitted: 2, Completed: 2, Panicked: 1}, p.Stats())
	})
}

func TestStopWaitsForRunOnCaller(t *testing.T) {
	p := newPool(t, pool.Config{Workers: 1})
	hold := newGate(t)
	var g gauge
	started := make(chan struct{}, 1)
	errc := runAsync(p, heldTask(&g, started, hold))
	recvN(t, started, 1, "task running")

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		p.Stop()
	}()
	waitFor(t, func() bool { return errors.Is(p.Resize(1), pool.ErrStopped) }, "Stop called")
	select {
	case <-stopped:
		t.Fatal("Stop returned while a task of Run was running")
	default:
	}
	hold.open()
	require.NoError(t, recvErr(t, errc, "Run"))
	recvN(t, stopped, 1, "Stop returned")
}

func TestRunNilTaskPanics(t *testing.T) {
	p := newPool(t, pool.Config{Workers: 1})
	assert.PanicsWithValue(t, "pool: Run called with a nil task", func() { _ = p.Run(nil) })
}

// TestRunConcurrentUse mixes Run, Go, Resize and Stats under the race
// detector and checks the counters add up once the pool is idle.
func TestRunConcurrentUse(t *testing.T) {
	const (
		callers = 6
		each    = 500
	)
	p := newPool(t, pool.Config{Workers: 2, Queue: 3})
	var g gauge
	var accepted, saturated, ran atomic.Uint64
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			for j := range each {
				task := func() {
					g.enter()
					defer g.leave()
					ran.Add(1)
					if j%89 == 0 {
						panic("boom")
					}
				}
				var err error
				if i%2 == 0 {
					err = p.Run(task)
				} else {
					err = p.Go(task)
				}
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, pool.ErrSaturated):
					saturated.Add(1)
				default:
					t.Errorf("call: %v", err)
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
			assert.Equal(t, s.Submitted, s.Completed+uint64(s.Running)+s.Waiting, "snapshot does not add up")
		}
	})
	wg.Wait()
	close(stop)
	side.Wait()
	p.Stop()

	s := p.Stats()
	assert.Equal(t, uint64(callers*each), s.Submitted+s.Rejected)
	assert.Equal(t, accepted.Load(), s.Submitted)
	assert.Equal(t, saturated.Load(), s.Rejected)
	assert.Equal(t, ran.Load(), s.Completed)
	assert.Equal(t, s.Submitted, s.Completed)
	assert.LessOrEqual(t, g.max.Load(), int64(4), "more tasks at once than the largest limit")
	assert.Zero(t, s.Running)
	assert.Zero(t, s.Waiting)
}
