package pool_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/poolside-dev/poolside/pool"
)

func Example() {
	p, err := pool.New(pool.Config{Workers: 2, Queue: 8})
	if err != nil {
		fmt.Println(err)
		return
	}

	var wg sync.WaitGroup
	var sum atomic.Int64
	for i := 1; i <= 4; i++ {
		wg.Add(1)
		if err := p.Go(func() {
			defer wg.Done()
			sum.Add(int64(i))
		}); err != nil {
			wg.Done()
			fmt.Println("refused:", err)
		}
	}
	wg.Wait()
	p.Stop()

	s := p.Stats()
	fmt.Println("sum:", sum.Load())
	fmt.Println("submitted:", s.Submitted, "completed:", s.Completed, "rejected:", s.Rejected)
	fmt.Println("after Stop:", p.Go(func() {}))
	// Output:
	// sum: 10
	// submitted: 4 completed: 4 rejected: 0
	// after Stop: pool: stopped
}

// A server hands each request to the pool and answers "busy" at once when
// the pool is saturated, instead of blocking its reader.
func ExamplePool_Go() {
	p, err := pool.New(pool.Config{Workers: 1}) // no queue
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Stop()

	release := make(chan struct{})
	started := make(chan struct{})
	handle := func(req string) {
		err := p.Go(func() {
			started <- struct{}{}
			<-release // a slow request
		})
		switch {
		case errors.Is(err, pool.ErrSaturated):
			fmt.Println(req, "-> busy")
		case err != nil:
			fmt.Println(req, "->", err)
		default:
			<-started
			fmt.Println(req, "-> accepted")
		}
	}

	handle("first")
	handle("second")
	close(release)
	fmt.Println("rejected:", p.Stats().Rejected)
	// Output:
	// first -> accepted
	// second -> busy
	// rejected: 1
}
