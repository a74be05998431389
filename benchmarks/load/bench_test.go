package load_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/server"
)

// benchLoad runs b.N requests of the default mix from clients closed-loop
// clients against a fresh LocalServer for scfg, and reports throughput,
// latency percentiles and the process's CPU time per request.
func benchLoad(b *testing.B, scfg load.ServerConfig, cfg load.Config) {
	b.Helper()
	ls, err := load.StartServer(scfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ls.Close() })
	cfg.Server = ls
	r, err := load.NewRunner(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	b.ResetTimer()
	res, err := r.Run(b.Context(), load.Window{Duration: time.Minute, MaxRequests: int64(b.N)})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if n := res.Errors.Total(); n > 0 {
		b.Fatalf("%d requests failed: %+v", n, res.Errors)
	}
	b.ReportMetric(res.RPS, "req/s")
	b.ReportMetric(float64(res.Latency.P50)/1e6, "p50-ms")
	b.ReportMetric(float64(res.Latency.P99)/1e6, "p99-ms")
	b.ReportMetric(float64(res.CPU.PerRequest)/1e3, "cpu-µs/req")
}

// BenchmarkModels puts the request mix through each model with a 2 ms
// work delay and 16 clients. With a service time S (the delay, plus the
// timer's overshoot, plus the handler) the ceilings are 1/S for serial,
// 8/S for pool:8 and 16/S for conn:16 and unbounded (16 connections).
//
//	go test -run '^$' -bench Models -benchtime 2000x ./benchmarks/load/
func BenchmarkModels(b *testing.B) {
	for _, m := range []string{"serial", "pool:8", "conn:16", "unbounded"} {
		spec, err := load.ParseModelSpec(m)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("model="+m, func(b *testing.B) {
			benchLoad(b, load.ServerConfig{Model: spec, WorkDelay: 2 * time.Millisecond}, load.Config{Clients: 16})
		})
	}
}

// BenchmarkLoadGenerator measures the whole round trip with no simulated
// work, persistent and per-request connections: what the load generator
// and the server cost per request (cpu-µs/req counts both).
func BenchmarkLoadGenerator(b *testing.B) {
	for _, connPerRequest := range []bool{false, true} {
		for _, clients := range []int{1, 16} {
			b.Run(fmt.Sprintf("conn-per-request=%v/clients=%d", connPerRequest, clients), func(b *testing.B) {
				benchLoad(b, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelPool, Workers: 16}},
					load.Config{Clients: clients, ConnPerRequest: connPerRequest})
			})
		}
	}
}
