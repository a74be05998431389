package pool_test

import (
	"fmt"
	"time"

	"github.com/poolside-dev/poolside/pool"
)

// ExampleGradient2 sizes a pool for 32 clients whose requests each take
// 10 ms on a worker, whatever the number of workers: the limit climbs
// until it no longer holds the clients back, then stays. When the service
// time then triples, the limit is cut.
func ExampleGradient2() {
	g, err := pool.NewGradient2(pool.Gradient2Config{Min: 2, Max: 64, Initial: 8})
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tick := 0
	interval := func(latency time.Duration) int {
		tick++
		// Every client wants a worker at some moment of each interval.
		return g.Update(pool.Sample{Time: start.Add(time.Duration(tick) * 100 * time.Millisecond), Latency: latency, InFlight: 32})
	}
	for range 3 {
		for range 10 {
			interval(10 * time.Millisecond)
		}
		fmt.Printf("after %2d intervals at 10ms: %d workers\n", tick, g.Limit())
	}
	for range 5 {
		interval(30 * time.Millisecond)
	}
	fmt.Printf("after %2d intervals at 30ms: %d workers (long-term latency %v)\n", tick, g.Limit(), g.Estimate().Round(time.Microsecond))
	// Output:
	// after 10 intervals at 10ms: 16 workers
	// after 20 intervals at 10ms: 24 workers
	// after 30 intervals at 10ms: 33 workers
	// after 35 intervals at 30ms: 23 workers (long-term latency 10.331ms)
}
