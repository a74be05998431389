package compare_test

import (
	"context"
	"fmt"
	"time"

	"github.com/poolside-dev/poolside/benchmarks/compare"
	"github.com/poolside-dev/poolside/benchmarks/load"
)

// Comparing models, as poolside bench does.
func ExampleRun() {
	specs, err := load.ParseModelSpecs("serial,pool:4")
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := compare.Run(context.Background(), compare.Config{
		Models: specs,
		Server: load.ServerConfig{WorkDelay: 2 * time.Millisecond},
		Load:   load.Config{Clients: 4},
		Window: load.Window{Duration: 200 * time.Millisecond},
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
