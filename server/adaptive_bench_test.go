package server_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/poolside-dev/poolside/server"
)

var adaptiveTrace = flag.String("adaptive-trace", "", "with BenchmarkAdaptive…, write each adaptive sizing trajectory to PREFIX.BENCHMARK.csv")

// BenchmarkAdaptiveWorkDelay asks whether --workers auto finds the static
// optimum: every request waits D on its worker and C clients call without
// pause, so the ceiling is min(workers, C)/D and the best static size is C.
// It compares auto (from the default start, DefaultWorkers) with the
// default static size and with C workers, and for auto reports
//
//	reach-s      seconds until the pool first had C workers (-1: never)
//	final-workers  the size at the end
//	tail-req/s   throughput over the last 10 s, from the sizing history
//
// and logs the trajectory once a second (-adaptive-trace PREFIX writes
// every point to a CSV file). Run it long enough to converge, a fixed
// number of requests so that b.N does not restart the climb:
//
//	go test -run '^$' -bench AdaptiveWorkDelay -benchtime 200000x -timeout 30m ./server/ -adaptive-trace /tmp/trace
func BenchmarkAdaptiveWorkDelay(b *testing.B) {
	const (
		delay   = 10 * time.Millisecond
		clients = 64
	)
	ceiling := clients / delay.Seconds()
	for _, tc := range []struct {
		model   server.Model
		workers string
	}{
		{server.ModelPool, "auto"},
		{server.ModelConn, "auto"},
		{server.ModelPool, fmt.Sprint(server.DefaultWorkers())},
		{server.ModelPool, fmt.Sprint(clients)},
	} {
		b.Run(fmt.Sprintf("model=%v/workers=%s/clients=%d/delay=%v", tc.model, tc.workers, clients, delay), func(b *testing.B) {
			cfg := server.Config{Model: tc.model}
			if tc.workers == "auto" {
				cfg.Adaptive = &server.AdaptiveConfig{}
			} else {
				if _, err := fmt.Sscan(tc.workers, &cfg.Workers); err != nil {
					b.Fatal(err)
				}
			}
			s, addr := benchServer(b, cfg, server.Work{Delay: delay})
			start := time.Now()
			rps := drive(b, addr, clients)
			b.ReportMetric(100*rps/ceiling, "ceiling%")
			if cfg.Adaptive != nil {
				reportAdaptive(b, s.AdaptiveHistory(), start, clients)
			}
		})
	}
}

// reportAdaptive reports and logs an adaptive sizing trajectory.
func reportAdaptive(b *testing.B, h []server.AdaptivePoint, start time.Time, target int) {
	b.Helper()
	if len(h) == 0 {
		return
	}
	reach := -1.0
	for _, p := range h {
		if p.Limit >= target {
			reach = p.Time.Sub(start).Seconds()
			break
		}
	}
	end := h[len(h)-1].Time
	var tailReq int
	var tailFrom time.Time
	for i := len(h) - 1; i >= 0 && end.Sub(h[i].Time) < 10*time.Second; i-- {
		tailReq += h[i].Requests
		tailFrom = h[i].Time
	}
	// Each point covers the interval that ends at its Time.
	b.ReportMetric(float64(tailReq)/(end.Sub(tailFrom)+server.DefaultAdaptiveInterval).Seconds(), "tail-req/s")
	b.ReportMetric(reach, "reach-s")
	b.ReportMetric(float64(h[len(h)-1].Limit), "final-workers")

	// Benchmark logs are cut at ten lines: four seconds to a line.
	var sb strings.Builder
	sb.WriteString("trajectory, one point a second: time, workers, mean service time, demand, req/s in that interval")
	next, col := start, 0
	for _, p := range h {
		if p.Time.Before(next) {
			continue
		}
		next = p.Time.Add(time.Second)
		if col%4 == 0 {
			sb.WriteString("\n")
		}
		col++
		fmt.Fprintf(&sb, "  %5.1fs %3dw %7v %3dd %5.0f/s", p.Time.Sub(start).Seconds(), p.Limit,
			p.Latency.Round(10*time.Microsecond), p.InFlight, float64(p.Requests)/server.DefaultAdaptiveInterval.Seconds())
	}
	b.Log(sb.String())

	if *adaptiveTrace != "" {
		var csv strings.Builder
		csv.WriteString("seconds,workers,latency_ms,estimate_ms,in_flight,requests\n")
		for _, p := range h {
			fmt.Fprintf(&csv, "%.3f,%d,%.3f,%.3f,%d,%d\n", p.Time.Sub(start).Seconds(), p.Limit,
				float64(p.Latency)/1e6, float64(p.Estimate)/1e6, p.InFlight, p.Requests)
		}
		name := fmt.Sprintf("%s.%s.csv", *adaptiveTrace, strings.NewReplacer("/", "_", "=", "-").Replace(b.Name()))
		if err := os.WriteFile(name, []byte(csv.String()), 0o644); err != nil {
			b.Error(err)
		}
	}
}

// BenchmarkAdaptiveWorkCPU is BenchmarkAdaptiveWorkDelay with CPU-bound
// requests (WorkCPU, about 1 ms each): past GOMAXPROCS workers, more only
// lengthen the service time. Gradient2 holds the limit back while the
// service time rises faster than its long-term average follows, so the
// limit climbs more slowly than with WorkDelay; it is not a cap at
// GOMAXPROCS.
//
//	go test -run '^$' -bench AdaptiveWorkCPU -benchtime 40000x -timeout 30m ./server/
func BenchmarkAdaptiveWorkCPU(b *testing.B) {
	const (
		units   = 1000
		clients = 64
	)
	for _, workers := range []string{"auto", fmt.Sprint(server.DefaultMinWorkers()), fmt.Sprint(clients)} {
		b.Run(fmt.Sprintf("workers=%s/clients=%d/cpu=%d", workers, clients, units), func(b *testing.B) {
			cfg := server.Config{}
			if workers == "auto" {
				cfg.Adaptive = &server.AdaptiveConfig{}
			} else if _, err := fmt.Sscan(workers, &cfg.Workers); err != nil {
				b.Fatal(err)
			}
			s, addr := benchServer(b, cfg, server.Work{CPU: units})
			start := time.Now()
			drive(b, addr, clients)
			if cfg.Adaptive != nil {
				reportAdaptive(b, s.AdaptiveHistory(), start, clients)
			}
		})
	}
}
