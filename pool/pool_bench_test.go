package pool_test

import (
	"runtime"
	"testing"

	"github.com/alitto/pond/v2"

	"github.com/poolside-dev/poolside/pool"
)

// The benchmarks compare the ways a connection can hand one request at a
// time to a pool and wait for it: pond's Submit(f).Wait(), which builds a
// future per task; Go (pond's own, and Pool's) with a done channel the
// connection reuses, which starts a goroutine per task and wakes the
// connection when it ends; and Pool.Run, which runs the task on the
// caller's goroutine while a worker is free, with no hand-off at all.
//
// The pools have a worker and a queue slot per benchmark goroutine, so no
// submission is refused.
//
//	go test -run '^$' -bench . -benchmem ./pool/

func benchConfig() pool.Config {
	n := runtime.GOMAXPROCS(0)
	return pool.Config{Workers: n, Queue: n}
}

func newBenchPond(b *testing.B) pond.Pool {
	cfg := benchConfig()
	p := pond.NewPool(cfg.Workers, pond.WithQueueSize(cfg.Queue), pond.WithNonBlocking(true))
	b.Cleanup(p.StopAndWait)
	return p
}

func newBenchPool(b *testing.B) *pool.Pool {
	p, err := pool.New(benchConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Stop)
	return p
}

func BenchmarkPondSubmitWait(b *testing.B) {
	p := newBenchPond(b)
	task := func() {}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Submit(task).Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPondGoDoneChan(b *testing.B) {
	p := newBenchPond(b)
	done := make(chan struct{}, 1)
	task := func() { done <- struct{}{} }
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Go(task); err != nil {
			b.Fatal(err)
		}
		<-done
	}
}

func BenchmarkPoolGoDoneChan(b *testing.B) {
	p := newBenchPool(b)
	done := make(chan struct{}, 1)
	task := func() { done <- struct{}{} }
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Go(task); err != nil {
			b.Fatal(err)
		}
		<-done
	}
}

func BenchmarkPoolRun(b *testing.B) {
	p := newBenchPool(b)
	task := func() {}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Run(task); err != nil {
			b.Fatal(err)
		}
	}
}

// The Parallel variants run one "connection" per GOMAXPROCS, each with at
// most one request in the pool.

func BenchmarkPondSubmitWaitParallel(b *testing.B) {
	p := newBenchPond(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		task := func() {}
		for pb.Next() {
			if err := p.Submit(task).Wait(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkPoolGoDoneChanParallel(b *testing.B) {
	p := newBenchPool(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		done := make(chan struct{}, 1)
		task := func() { done <- struct{}{} }
		for pb.Next() {
			if err := p.Go(task); err != nil {
				b.Error(err)
				return
			}
			<-done
		}
	})
}

func BenchmarkPoolRunParallel(b *testing.B) {
	p := newBenchPool(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		task := func() {}
		for pb.Next() {
			if err := p.Run(task); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
