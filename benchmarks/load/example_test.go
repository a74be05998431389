package load_test

import (
	"context"
	"fmt"
	"time"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/server"
)

// A tuning loop: one in-process server and one Runner, the pool resized
// between windows; each window's warm-up is the settle time after the
// change.
func ExampleRunner() {
	ctx := context.Background()
	ls, err := load.StartServer(load.ServerConfig{
		Model:     load.ModelSpec{Model: server.ModelPool, Workers: 1},
		WorkDelay: time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ls.Close()
	r, err := load.NewRunner(ctx, load.Config{Server: ls, Clients: 8})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	for _, workers := range []int{1, 4} {
		if err := ls.Resize(workers); err != nil {
			fmt.Println(err)
			return
		}
		res, err := r.Run(ctx, load.Window{Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond})
		if err != nil {
			fmt.Println(err)
			return
		}
		// res.RPS, res.Latency.P50, res.Latency.P99, res.Server.QueueWait
		// and res.CPU.PerRequest are the step's figures.
		fmt.Printf("workers=%d measured=%v errors=%d busy workers<=%v\n",
			res.Server.Workers, res.Requests > 0, res.Errors.Total(), res.Server.MaxRunning <= int64(workers))
	}
	// Output:
	// workers=1 measured=true errors=0 busy workers<=true
	// workers=4 measured=true errors=0 busy workers<=true
}
