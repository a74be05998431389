package tune_test

import (
	"context"
	"fmt"
	"time"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/benchmarks/tune"
)

// Tuning the pool of an in-process server whose requests wait 5 ms on
// their worker, for 8 clients, with short steps.
func ExampleInProcess() {
	rep, err := tune.InProcess(context.Background(), tune.LocalConfig{
		Config: tune.Config{
			Load:         load.Config{Clients: 8},
			Settle:       20 * time.Millisecond,
			StepDuration: 200 * time.Millisecond,
			MaxSteps:     6,
		},
		Server: load.ServerConfig{WorkDelay: 5 * time.Millisecond},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// rep.WriteTable(os.Stdout) prints every point and
	// rep.WriteExplanation(os.Stdout) the reasons; WriteJSON and
	// WriteChart write the files.
	fmt.Printf("probe at %d worker, %d sizes measured at most, recommended 1 to 8 workers: %v\n",
		rep.Points[0].Workers, rep.MaxSteps, rep.Recommended >= 1 && rep.Recommended <= 8)
	// Output:
	// probe at 1 worker, 6 sizes measured at most, recommended 1 to 8 workers: true
}
