package benchmarks_test

import (
	"context"
	"fmt"
	"time"

	"github.com/poolside-dev/poolside/benchmarks"
	"github.com/poolside-dev/poolside/server"
)

// A tuning loop: one in-process server and one Runner, the pool resized
// between windows; each window's warm-up is the settle time after the
// change.
func ExampleRunner() {
	ctx := context.Background()
	ls, err := benchmarks.StartServer(benchmarks.ServerConfig{
		Model:     benchmarks.ModelSpec{Model: server.ModelPool, Workers: 1},
		WorkDelay: time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ls.Close()
	r, err := benchmarks.NewRunner(ctx, benchmarks.Config{Server: ls, Clients: 8})
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
		res, err := r.Run(ctx, benchmarks.Window{Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond})
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

// Comparing models, as poolside bench does.
func ExampleCompare() {
	specs, err := benchmarks.ParseModelSpecs("serial,pool:4")
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := benchmarks.Compare(context.Background(), benchmarks.CompareConfig{
		Models: specs,
		Server: benchmarks.ServerConfig{WorkDelay: 2 * time.Millisecond},
		Load:   benchmarks.Config{Clients: 4},
		Window: benchmarks.Window{Duration: 200 * time.Millisecond},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// rep.WriteTable(os.Stdout) prints the table; WriteJSON, WriteCSV and
	// WriteChart write the files.
	for _, mr := range rep.Results {
		fmt.Printf("%s: workers=%d faster than serial: %v\n", mr.Label, mr.Workers, mr.SpeedUp > 1.5)
	}
	// Output:
	// serial: workers=1 faster than serial: false
	// pool:4: workers=4 faster than serial: true
}
