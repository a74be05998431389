package tune_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/benchmarks/tune"
	"github.com/poolside-dev/poolside/server"
)

// curve is a fake server for the search: a Sizer and a Measurer whose
// throughput and latency are functions of the pool size. Nothing runs;
// Run returns at once.
type curve struct {
	rps    func(n int) float64
	p99    func(n int) time.Duration // nil: 1 ms
	errors func(n int) int64         // nil: none
	// noLatency makes every Run report no latency sample, as a window in
	// which no request completed would.
	noLatency bool

	service, rtt time.Duration // at every size
	cpu          time.Duration // CPU per request; 0: not measured
	cores        int

	failOn int   // Run fails at this call (1-based); 0: never
	refuse error // returned by every Resize

	// dbConns, if above 0, gives each result a running server's metrics
	// with a database pool of that size: past it, requests wait for a
	// connection 5 ms, longer than for a worker.
	dbConns int

	mu      sync.Mutex
	workers int
	resizes []int
	runs    int
}

func (c *curve) Workers() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.workers, nil
}

func (c *curve) Resize(n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse != nil {
		return c.refuse
	}
	c.workers = n
	c.resizes = append(c.resizes, n)
	return nil
}

var errFake = errors.New("fake measurement failed")

func (c *curve) Run(_ context.Context, w load.Window) (load.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs++
	if c.runs == c.failOn {
		return load.Result{}, errFake
	}
	n := c.workers
	x := c.rps(n)
	p99 := time.Millisecond
	if c.p99 != nil {
		p99 = c.p99(n)
	}
	requests := int64(x * w.Duration.Seconds())
	latency := load.Latency{Count: requests, P50: p99 / 2, P99: p99}
	if c.noLatency {
		latency = load.Latency{}
	}
	res := load.Result{
		RPS:         x,
		Requests:    requests,
		Window:      w.Duration,
		Latency:     latency,
		ServiceTime: load.Latency{Mean: c.service + c.rtt},
		Server: &load.ServerView{
			Workers: n,
			Service: load.Latency{Mean: c.service},
		},
	}
	if c.errors != nil {
		res.Errors.Timeout = c.errors(n)
	}
	if c.dbConns > 0 {
		db := &load.DBPoolMetrics{Conns: c.dbConns, Acquires: requests}
		if n > c.dbConns {
			db.Waited, db.Wait = requests/2, 5*time.Millisecond
		}
		res.Metrics = &load.ServerMetrics{Requests: requests, Workers: n, QueueWait: 100 * time.Microsecond, Service: c.service, DB: db}
	}
	if c.cpu > 0 {
		// The cores are busy in proportion to the throughput.
		util := min(1, x*c.cpu.Seconds()/float64(c.cores))
		res.CPU = load.CPU{Scope: load.CPUScopeProcess, PerRequest: c.cpu, Cores: c.cores, Utilisation: util}
	}
	return res, nil
}

func (c *curve) sizes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.resizes...)
}

// tuneWith runs Search against c.
func tuneWith(t *testing.T, c *curve, cfg tune.Config) *tune.Report {
	t.Helper()
	rep, err := tune.Search(context.Background(), cfg, c, c)
	require.NoError(t, err)
	return rep
}

// assertRule checks the recommendation against its definition: the
// smallest eligible size with at least 95% of the best eligible
// throughput.
func assertRule(t *testing.T, rep *tune.Report) {
	t.Helper()
	best := 0.0
	for _, p := range rep.Points {
		if p.Eligible {
			best = max(best, p.RPS)
		}
	}
	want := 0
	for _, p := range rep.Points {
		if p.Eligible && p.RPS >= 0.95*best {
			want = p.Workers
			break
		}
	}
	assert.Equal(t, want, rep.Recommended, "the 95%% rule over the points measured")
	for i := 1; i < len(rep.Points); i++ {
		assert.Less(t, rep.Points[i-1].Workers, rep.Points[i].Workers, "points in order of size, each measured once")
	}
}

// ioBound is a closed loop of 64 clients and a 10 ms service time: N/D
// until the clients' ceiling C/(D+RTT) = 6095 req/s.
func ioBound() *curve {
	return &curve{
		rps:     func(n int) float64 { return min(100*float64(n), 64/0.0105) },
		service: 10 * time.Millisecond,
		rtt:     500 * time.Microsecond,
		cpu:     50 * time.Microsecond,
		cores:   2,
		workers: 8,
	}
}

func TestTuneIOBoundSeedsFromLittlesLawAndBisects(t *testing.T) {
	c := ioBound()
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 64}})

	// Little's law: N = C/(D+RTT) × D = 64 × 10/10.5 = 60.95, rounded up.
	assert.Equal(t, 61, rep.Seed)
	assert.Equal(t, 10*time.Millisecond, rep.ServiceTime)
	assert.Equal(t, 500*time.Microsecond, rep.RTT)
	// A resize to the size it has (the check that it can be resized),
	// probe, seed, one doubling (capped at the 64 clients) that gains
	// nothing, one halving below the knee, then bisection of [30, 61]
	// until the bracket is at most 3 (5% of 61) wide. The pool is put
	// back to its 8 workers at the end.
	assert.Equal(t, []int{8, 1, 61, 64, 30, 45, 53, 57, 59, 8}, c.sizes())
	assert.Equal(t, tune.StopMinGain, rep.Stop)
	assert.Equal(t, 61, rep.ClimbFrom)
	assert.Equal(t, 64, rep.ClimbTo)
	assert.Equal(t, 59, rep.Recommended)
	assert.Equal(t, 61, rep.Best, "the smaller of two equal throughputs")
	assert.Equal(t, 8, rep.FinalWorkers)
	assertRule(t, rep)

	p := rep.Point(30)
	require.NotNil(t, p)
	assert.Equal(t, tune.PhaseDown, p.Phase)
	assert.InDelta(t, 3000, p.WorkerCeiling, 1e-6, "N/D")
	assert.InDelta(t, 64/0.0105, p.LoadCeiling, 1e-6, "C/(D+RTT)")
	assert.Contains(t, rep.Explanation, "Recommendation: 59 workers.")
	assert.Contains(t, rep.Explanation, "64 clients cannot keep more than 64 requests in flight")
}

func TestTuneCPUBoundStopsAtTheCores(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("the CPU ceiling counts min(cores, GOMAXPROCS); this curve has 2 cores")
	}
	// Two cores, 1.1 ms of CPU per request: 909 req/s per worker up to
	// two workers, then no more.
	c := &curve{
		rps:     func(n int) float64 { return float64(min(n, 2)) / 0.0011 },
		service: time.Millisecond,
		cpu:     1100 * time.Microsecond,
		cores:   2,
		workers: 8,
	}
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 16}})
	// X = min(C/(D+RTT), cores/CPU) = 1818 req/s; N = X × D = 1.8 -> 2.
	assert.Equal(t, 2, rep.Seed)
	assert.InDelta(t, 2/0.0011, rep.CPUCeiling, 1e-6)
	assert.Equal(t, []int{8, 1, 2, 4, 8}, c.sizes())
	assert.Equal(t, tune.StopMinGain, rep.Stop)
	assert.Equal(t, 2, rep.Recommended)
	assertRule(t, rep)
	assert.Equal(t, "cpu", rep.SeedBy)
	assert.Contains(t, rep.Explanation, "what the cores can serve at the CPU time the probe measured per request, 1818 req/s")
}

func TestTuneSLOStopsTheClimb(t *testing.T) {
	// Throughput doubles with the pool, but from 32 workers the p99 is
	// over the 20 ms SLO. The CPU ceiling (2 cores at 5 ms) seeds 4.
	c := &curve{
		rps: func(n int) float64 { return 100 * float64(n) },
		p99: func(n int) time.Duration {
			if n >= 32 {
				return 50 * time.Millisecond
			}
			return 5 * time.Millisecond
		},
		service: 10 * time.Millisecond,
		cpu:     5 * time.Millisecond,
		cores:   2,
	}
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("the seed counts min(cores, GOMAXPROCS); this curve has 2 cores")
	}
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 128}, SLOP99: 20 * time.Millisecond})
	assert.Equal(t, 4, rep.Seed)
	// Up 8 and 16 (each doubles), up 32 (over the SLO): stop. No descent
	// from the seed (4 is far below 16's throughput); bisect [8, 16].
	assert.Equal(t, []int{0, 1, 4, 8, 16, 32, 12, 14, 15, 0}, c.sizes())
	assert.Equal(t, tune.StopSLO, rep.Stop)
	assert.Equal(t, 16, rep.Recommended)
	assert.Equal(t, 16, rep.Best)
	assert.False(t, rep.Point(32).Eligible)
	assertRule(t, rep)
	assert.Contains(t, rep.Explanation, "Doubling the pool from 16 to 32 workers broke the p99 SLO of 20ms")
	assert.Equal(t, 16, rep.ClimbFrom)
	assert.Equal(t, 32, rep.ClimbTo)
}

func TestTuneNinetyFivePercentRule(t *testing.T) {
	// Past 8 workers throughput creeps up by 1 req/s a worker: 8 is the
	// smallest size within 5% of the best.
	c := &curve{
		rps: func(n int) float64 {
			if n <= 8 {
				return 100 * float64(n)
			}
			return 800 + float64(n)
		},
		service: 10 * time.Millisecond,
	}
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 32}, MinGain: -1})
	// No min-gain stop: the climb goes to the 32 clients.
	assert.Equal(t, tune.StopMaxWorkers, rep.Stop)
	assert.Equal(t, 32, rep.Best)
	assert.Equal(t, 8, rep.Recommended)
	assertRule(t, rep)
}

func TestTuneStopsOnErrors(t *testing.T) {
	c := ioBound()
	c.cpu = 0
	// With the CPU ceiling off, the seed is 61: make 64 fail 5%.
	c.errors = func(n int) int64 {
		if n == 64 {
			return 610 // 5% of two seconds at 6095 req/s
		}
		return 0
	}
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 64}})
	assert.Equal(t, tune.StopErrors, rep.Stop)
	assert.False(t, rep.Point(64).Eligible)
	assertRule(t, rep)
}

func TestTuneNoSizeMeetsTheSLO(t *testing.T) {
	rep := tuneWith(t, ioBound(), tune.Config{Load: load.Config{Clients: 64}, SLOP99: time.Microsecond})
	assert.Zero(t, rep.Recommended)
	assert.Zero(t, rep.Best)
	assert.Contains(t, rep.Explanation, "No size met the objective")
	assertRule(t, rep)
}

// TestTuneProbeAllFailed: when no request of the probe succeeds there is
// no service time to seed the search from; the search says so instead of
// searching from nonsense.
func TestTuneProbeAllFailed(t *testing.T) {
	c := ioBound()
	c.service, c.cpu = 0, 0
	c.rps = func(int) float64 { return 0 }
	c.errors = func(int) int64 { return 40 }
	_, err := tune.Search(context.Background(), tune.Config{Load: load.Config{Clients: 8}}, c, c)
	require.ErrorIs(t, err, tune.ErrProbeFailed)
	assert.ErrorContains(t, err, "40 timeouts")
	assert.Equal(t, []int{8, 1, 8}, c.sizes(), "one step, then the pool put back")
}

// TestTuneEveryPointFailing: with no SLO, a search in which every size
// had too many errors says so, not that an SLO was missed.
func TestTuneEveryPointFailing(t *testing.T) {
	c := ioBound()
	c.errors = func(n int) int64 { return int64(c.rps(n)) } // half of them
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 64}})
	assert.Zero(t, rep.Recommended)
	assert.NotContains(t, rep.Explanation, "SLO")
	assert.Contains(t, rep.Explanation, "more than 1% of the requests failed")
	var buf bytes.Buffer
	require.NoError(t, rep.WriteJSON(&buf))
}

func TestTuneStepBudget(t *testing.T) {
	c := ioBound()
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 64}, MaxSteps: 4})
	assert.Equal(t, []int{8, 1, 61, 64, 30, 8}, c.sizes())
	assert.Equal(t, tune.StopMaxSteps, rep.Stop)
	assert.Len(t, rep.Points, 4)
	assert.Equal(t, 61, rep.Recommended, "the best answer from the points it had")
	assertRule(t, rep)
}

func TestTuneBounds(t *testing.T) {
	c := ioBound()
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 64}, MinWorkers: 4, MaxWorkers: 40})
	// The seed (61) is clamped to 40; the climb starts at the top.
	assert.Equal(t, 40, rep.Seed)
	assert.Equal(t, tune.StopMaxWorkers, rep.Stop)
	for _, p := range rep.Points {
		assert.GreaterOrEqual(t, p.Workers, 4)
		assert.LessOrEqual(t, p.Workers, 40)
	}
	assert.Equal(t, 4, rep.Points[0].Workers)
	assertRule(t, rep)
}

func TestTuneApplyAndRestore(t *testing.T) {
	c := ioBound()
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 64}, Apply: true})
	sizes := c.sizes()
	assert.Equal(t, rep.Recommended, sizes[len(sizes)-1], "Apply leaves the pool at the recommendation")
	assert.Equal(t, rep.Recommended, rep.FinalWorkers)

	// A failed step still puts the pool back.
	c = ioBound()
	c.failOn = 3
	_, err := tune.Search(context.Background(), tune.Config{Load: load.Config{Clients: 64}, Apply: true}, c, c)
	require.ErrorIs(t, err, errFake)
	assert.Equal(t, []int{8, 1, 61, 64, 8}, c.sizes())

	// So does a failed probe, before anything was measured: no report.
	c = ioBound()
	c.failOn = 1
	rep, err = tune.Search(context.Background(), tune.Config{Load: load.Config{Clients: 64}}, c, c)
	require.ErrorIs(t, err, errFake)
	assert.Nil(t, rep)
	assert.Equal(t, []int{8, 1, 8}, c.sizes())
}

func TestTuneRefusedResizeChangesNothing(t *testing.T) {
	c := ioBound()
	c.refuse = errors.New("adaptive sizing is on")
	_, err := tune.Search(context.Background(), tune.Config{}, c, c)
	require.ErrorIs(t, err, c.refuse)
	assert.Contains(t, err.Error(), "the pool of 8 workers cannot be resized")
	assert.Zero(t, c.runs, "nothing was measured")
}

func TestTuneProgress(t *testing.T) {
	var steps []tune.Progress
	c := ioBound()
	tuneWith(t, c, tune.Config{
		Load:         load.Config{Clients: 64},
		Settle:       time.Second,
		StepDuration: 3 * time.Second,
		Progress:     func(s tune.Progress) { steps = append(steps, s) },
	})
	require.Len(t, steps, 8)
	phases := make([]tune.Phase, len(steps))
	for i, s := range steps {
		assert.Equal(t, i+1, s.Index)
		assert.Equal(t, tune.DefaultMaxSteps, s.MaxSteps)
		assert.Equal(t, 4*time.Second, s.Expected)
		assert.LessOrEqual(t, s.Index+s.Left, s.MaxSteps, "step %d", s.Index)
		phases[i] = s.Phase
	}
	// The estimate narrows with the search, to none left at its end.
	assert.Equal(t, tune.DefaultMaxSteps-1, steps[0].Left, "nothing is known at the probe")
	assert.Zero(t, steps[len(steps)-1].Left, "the last step knows it is the last")
	for i := 4; i < len(steps); i++ {
		assert.Equal(t, len(steps), steps[i].Index+steps[i].Left, "bisection %d estimates the steps exactly", steps[i].Index)
	}
	assert.Equal(t, []tune.Phase{
		tune.PhaseProbe, tune.PhaseSeed, tune.PhaseUp, tune.PhaseDown,
		tune.PhaseBisect, tune.PhaseBisect, tune.PhaseBisect, tune.PhaseBisect,
	}, phases)
}

func TestTuneConfigValidate(t *testing.T) {
	c := ioBound()
	for _, tc := range []struct {
		name  string
		field string
		err   error // of Validate, nil if it does not apply
		run   func() error
	}{
		{"running without a sizer", "Sizer", nil, func() error {
			_, err := tune.Running(context.Background(), tune.Config{Load: load.Config{Addr: "127.0.0.1:9407"}}, nil)
			return err
		}},
		{"running without an address", "Load.Addr", nil, func() error {
			_, err := tune.Running(context.Background(), tune.Config{}, c)
			return err
		}},
		{"search without a sizer", "Sizer", nil, func() error {
			_, err := tune.Search(context.Background(), tune.Config{}, nil, c)
			return err
		}},
		{"serial model", "Server.Model", tune.LocalConfig{Server: load.ServerConfig{Model: load.ModelSpec{Model: server.ModelSerial}}}.Validate(), nil},
		{"in process at an address", "Load.Addr", tune.LocalConfig{Config: tune.Config{Load: load.Config{Addr: "127.0.0.1:9407"}}}.Validate(), nil},
		{"negative adaptive run", "Adaptive", tune.LocalConfig{Adaptive: -time.Second}.Validate(), nil},
		{"adaptive run shorter than the rate's interval", "Load.Rate", tune.LocalConfig{Config: tune.Config{Load: load.Config{Rate: 1}, StepDuration: 2 * time.Second}, Adaptive: time.Second / 2}.Validate(), nil},
		{"negative step", "StepDuration", tune.Config{StepDuration: -time.Second}.Validate(), nil},
		{"negative settle", "Settle", tune.Config{Settle: -time.Second}.Validate(), nil},
		{"max below min", "MaxWorkers", tune.Config{MinWorkers: 8, MaxWorkers: 4}.Validate(), nil},
		{"negative workers", "MinWorkers", tune.Config{MinWorkers: -1}.Validate(), nil},
		{"one step", "MaxSteps", tune.Config{MaxSteps: 1}.Validate(), nil},
		{"negative SLO", "SLOP99", tune.Config{SLOP99: -time.Millisecond}.Validate(), nil},
		{"gain of 100%", "MinGain", tune.Config{MinGain: 1}.Validate(), nil},
		{"bad load", "Load.Clients", tune.Config{Load: load.Config{Clients: -1}}.Validate(), nil},
		{"rate slower than a step", "Load.Rate", tune.Config{Load: load.Config{Rate: 0.5}, StepDuration: time.Second}.Validate(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err
			if tc.run != nil {
				err = tc.run()
			}
			require.ErrorIs(t, err, load.ErrInvalidConfig)
			fes := load.FieldErrors(err)
			require.Len(t, fes, 1, "%v", err)
			assert.Equal(t, tc.field, fes[0].Field)
		})
	}
	_, err := tune.Search(context.Background(), tune.Config{MaxSteps: 1}, c, c)
	require.ErrorIs(t, err, load.ErrInvalidConfig, "Search validates")
	assert.Zero(t, c.runs, "nothing was measured")
	assert.NoError(t, tune.Config{}.Validate(), "the zero value")
	assert.NoError(t, tune.LocalConfig{}.Validate(), "the zero value")
	assert.NoError(t, tune.Config{Settle: tune.NoSettle, MinGain: tune.ZeroGain}.Validate())
	assert.NoError(t, tune.Config{MinGain: tune.NoMinGain}.Validate())
}

// syntheticReport is a report of the io-bound curve with a made-up
// adaptive run, for the writers.
func syntheticReport(t *testing.T) *tune.Report {
	rep := tuneWith(t, ioBound(), tune.Config{Load: load.Config{Clients: 64}, SLOP99: 50 * time.Millisecond})
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &tune.AdaptiveRun{Duration: 2 * time.Second, Interval: 100 * time.Millisecond, Start: 8, Min: 2, Max: 256, Settled: 68, Low: 66, High: 70}
	for i := range 20 {
		a.Trajectory = append(a.Trajectory, server.AdaptivePoint{
			Time: start.Add(time.Duration(i+1) * a.Interval), Limit: min(8+6*i, 70), Latency: 10 * time.Millisecond, Requests: 600,
		})
	}
	a.Result = load.Result{RPS: 6000, Latency: load.Latency{P50: 10 * time.Millisecond, P99: 12 * time.Millisecond}}
	rep.Adaptive = a
	return rep
}

func TestTuneReportWriters(t *testing.T) {
	rep := syntheticReport(t)

	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	require.Len(t, lines, 1+len(rep.Points))
	for _, l := range lines {
		assert.Equal(t, strings.TrimRight(l, " "), l, "no trailing spaces")
	}
	for _, col := range []string{"workers", "step", "phase", "req/s", "p50", "p99", "queue wait", "CPU µs/req", "%N/D", "%C/(D+RTT)", "errors"} {
		assert.Contains(t, lines[0], col)
	}
	var recRow string
	for _, l := range lines[1:] {
		if strings.Fields(l)[0] == "59" {
			recRow = l
		}
	}
	assert.Contains(t, recRow, "<- recommended")

	var expl bytes.Buffer
	require.NoError(t, rep.WriteExplanation(&expl))
	assert.Contains(t, expl.String(), "SLO p99 <= 50ms")
	assert.Contains(t, expl.String(), "Adaptive sizing")
	assert.Contains(t, expl.String(), "the pool stayed at 68 workers")
	assert.Contains(t, expl.String(), "first reached 59 workers after 1.0 s")

	// Recommended below the adaptive pool's start: it came down to it.
	below := *rep
	a := *rep.Adaptive
	a.Start, a.Trajectory = 64, nil
	for i := range 10 {
		a.Trajectory = append(a.Trajectory, server.AdaptivePoint{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i+1) * a.Interval), Limit: 64 - i})
	}
	below.Adaptive = &a
	expl.Reset()
	require.NoError(t, below.WriteExplanation(&expl))
	text := strings.Join(strings.Fields(expl.String()), " ")
	assert.NotContains(t, text, "first reached")
	assert.Contains(t, text, "The adaptive pool started above it, at 64 workers, and first came down to 59 after 0.6 s.")

	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var doc struct {
		Recommended *int    `json:"recommended"`
		Explanation string  `json:"explanation"`
		RTT         float64 `json:"rtt_ms"`
		Points      []struct {
			Workers     *int     `json:"workers"`
			RPS         *float64 `json:"rps"`
			P99         *float64 `json:"p99_ms"`
			QueueWait   *float64 `json:"queue_wait_mean_ms"`
			CPU         *float64 `json:"cpu_us_per_req"`
			LoadCeiling float64  `json:"load_ceiling_rps"`
		} `json:"points"`
		Adaptive struct {
			Settled    int `json:"settled"`
			Trajectory []struct {
				T     float64 `json:"t_s"`
				Limit int     `json:"limit"`
			} `json:"trajectory"`
		} `json:"adaptive"`
		Env map[string]any `json:"env"`
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	require.NotNil(t, doc.Recommended)
	assert.Equal(t, 59, *doc.Recommended)
	assert.Equal(t, rep.Explanation, doc.Explanation)
	assert.InDelta(t, 0.5, doc.RTT, 1e-9)
	require.Len(t, doc.Points, len(rep.Points))
	for _, p := range doc.Points {
		require.NotNil(t, p.Workers)
		require.NotNil(t, p.RPS)
		require.NotNil(t, p.P99)
		require.NotNil(t, p.QueueWait)
		require.NotNil(t, p.CPU)
		assert.InDelta(t, 64/0.0105, p.LoadCeiling, 1e-6)
	}
	assert.Equal(t, 68, doc.Adaptive.Settled)
	require.Len(t, doc.Adaptive.Trajectory, 20)
	assert.InDelta(t, 0.1, doc.Adaptive.Trajectory[0].T, 1e-9)
	assert.EqualValues(t, 64, doc.Env["clients"])

	for _, format := range []string{"png", "svg"} {
		var chart bytes.Buffer
		require.NoError(t, rep.WriteChart(&chart, format))
		if format == "png" {
			img, err := png.Decode(&chart)
			require.NoError(t, err)
			assert.Greater(t, img.Bounds().Dy(), img.Bounds().Dx()/2, "two rows with an adaptive run")
		} else {
			assert.Contains(t, chart.String(), "<svg")
		}
	}
	require.ErrorIs(t, rep.WriteChart(&bytes.Buffer{}, "gif"), load.ErrInvalidConfig)
}

// TestReportWording: one worker is "1 worker", an open loop takes "an",
// and a rate below one request a second is not printed as 0 (the notes of
// compare are checked alike, in its TestNotesWording).
func TestReportWording(t *testing.T) {
	c := ioBound()
	c.workers = 1
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 1, Rate: 0.25}, MaxWorkers: 1, StepDuration: 4 * time.Second})
	var out bytes.Buffer
	require.NoError(t, rep.WriteExplanation(&out))
	text := strings.Join(strings.Fields(out.String()), " ")
	assert.NotContains(t, text, "1 workers")
	assert.Contains(t, text, "under an open loop of 0.25 req/s")
	assert.NotContains(t, text, " a open")
	assert.NotContains(t, text, "1 clients")
	assert.NotContains(t, text, " 0 req/s")

}

// TestTuneNoLatencyIsNeverWithinTheSLO: a point whose latency was not
// measured (no request's latency recorded) cannot be said to meet the
// SLO, so it is never recommended.
func TestTuneNoLatencyIsNeverWithinTheSLO(t *testing.T) {
	c := ioBound()
	c.noLatency = true
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 64}, SLOP99: 50 * time.Millisecond, MaxSteps: 4})
	assert.Zero(t, rep.Recommended)
	for _, p := range rep.Points {
		assert.False(t, p.Eligible, "%d workers", p.Workers)
	}
	assert.NotContains(t, rep.Explanation, "within the")
	assert.Contains(t, rep.Explanation, "could not be checked against the SLO")
	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	assert.Contains(t, table.String(), "no latency")
}

// TestTuneExplainsFailuresNotTheSLO: when every size failed on timeouts
// and met the SLO, the explanation blames the failures, not the SLO, and
// says that the pool, at the most workers searched, queued.
func TestTuneExplainsFailuresNotTheSLO(t *testing.T) {
	c := &curve{
		rps:     func(n int) float64 { return 100 * float64(n) }, // N/D: the pool is the limit
		errors:  func(n int) int64 { return 36 },
		service: 10 * time.Millisecond,
	}
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 16, Timeout: 87 * time.Millisecond},
		MinWorkers: 2, MaxWorkers: 2, SLOP99: time.Second})
	assert.Zero(t, rep.Recommended)
	t.Log(rep.Explanation)
	assert.NotContains(t, rep.Explanation, "relax the SLO")
	assert.NotContains(t, rep.Explanation, "lowest p99")
	assert.Contains(t, rep.Explanation, "more than 1% of the requests failed")
	assert.Contains(t, rep.Explanation, "Most failures were timeouts")
	assert.Contains(t, rep.Explanation, "(87ms)")
	assert.Contains(t, rep.Explanation, "The cap is --max-workers (2), so raise --max-workers and tune again; or give requests more time (--timeout).")
	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	assert.Contains(t, table.String(), "errors")
	assert.NotContains(t, table.String(), "over SLO")
}

// TestTuneSaysRaiseMaxWorkers: the search capped at MaxWorkers, where the
// pool is still the limit (throughput at N/D), says so and that the seed
// was capped, instead of blaming something else.
func TestTuneSaysRaiseMaxWorkers(t *testing.T) {
	c := &curve{rps: func(n int) float64 { return 100 * float64(n) }, service: 10 * time.Millisecond}
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 16}, MinWorkers: 2, MaxWorkers: 3})
	t.Log(rep.Explanation)
	assert.Equal(t, 3, rep.Recommended)
	assert.Equal(t, 16, rep.SeedUnbounded)
	assert.Contains(t, rep.Explanation, "put the seed at 16 workers, capped to 3, the most workers searched")
	assert.Contains(t, rep.Explanation, "the pool was the limit at 3 workers, the most searched (100% of N/D)")
	assert.Contains(t, rep.Explanation, "The climb stopped at 3 workers, the most searched: the cap is --max-workers (3); throughput was still rising (+50% from 2 to 3), so raise --max-workers and tune again.")
	assert.True(t, rep.StillRising)
	assert.Equal(t, "--max-workers", rep.CapBy)
	assert.NotEmpty(t, rep.Doubts)
	assert.NotContains(t, rep.Explanation, "the limit lies elsewhere")
}

// TestTuneOpenLoopLimitedByClients: an open loop asking for more than its
// clients can carry is limited by the clients, C/(D+RTT), not by the
// rate: the table's ceiling and the explanation say so.
func TestTuneOpenLoopLimitedByClients(t *testing.T) {
	c := ioBound() // D = 10ms, RTT = 0.5ms
	c.cpu = 0
	c.rps = func(n int) float64 { return min(100*float64(n), 16/0.0105) }
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 16, Rate: 20000}})
	t.Log(rep.Explanation)
	assert.Equal(t, "clients", rep.LoadCeilingBy)
	assert.Equal(t, "clients", rep.SeedBy)
	assert.NotContains(t, rep.Explanation, "the load asks for no more than")
	assert.Contains(t, rep.Explanation, "the 20000 req/s asked for is more than 16 clients can carry")
	var table, expl bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	assert.Contains(t, table.String(), "%C/(D+RTT)")
	assert.NotContains(t, table.String(), "%rate")
	require.NoError(t, rep.WriteExplanation(&expl))
	assert.NotContains(t, expl.String(), "%rate")

	// The same rate with enough clients is limited by the rate.
	c = ioBound()
	c.cpu = 0
	c.rps = func(n int) float64 { return min(100*float64(n), 2000) }
	rep = tuneWith(t, c, tune.Config{Load: load.Config{Clients: 64, Rate: 2000}})
	assert.Equal(t, "rate", rep.LoadCeilingBy)
	assert.Contains(t, rep.Explanation, "the load asks for no more than 2000 req/s")
}

// TestTuneStoppedEarlyKeepsThePoints: a search stopped by a failed step
// returns the sizes measured until then, marked incomplete, with no
// recommendation.
func TestTuneStoppedEarlyKeepsThePoints(t *testing.T) {
	c := ioBound()
	c.failOn = 3
	rep, err := tune.Search(context.Background(), tune.Config{Load: load.Config{Clients: 64}, Apply: true}, c, c)
	require.ErrorIs(t, err, errFake)
	require.NotNil(t, rep)
	assert.True(t, rep.Incomplete)
	assert.Len(t, rep.Points, 2)
	assert.Zero(t, rep.Recommended)
	assert.Equal(t, 8, rep.FinalWorkers, "put back")
	assert.Contains(t, rep.Explanation, "stopped before it finished")
	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	assert.NotContains(t, table.String(), "recommended")
}

// TestTuneSaysTheDatabasePoolIsTheLimit: against a server whose 16
// database connections cap the throughput, the explanation says that the
// database pool, not the worker pool, is the limit, and how many workers
// only wait.
func TestTuneSaysTheDatabasePoolIsTheLimit(t *testing.T) {
	c := &curve{
		rps:     func(n int) float64 { return 100 * float64(min(n, 16)) },
		service: 10 * time.Millisecond,
		workers: 8,
		dbConns: 16,
	}
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 64}})
	var b bytes.Buffer
	require.NoError(t, rep.WriteTable(&b))
	require.NoError(t, rep.WriteExplanation(&b))
	out := b.String()
	assert.Contains(t, strings.Join(strings.Fields(out), " "), "More workers add nothing: the database pool is the limit: 64 workers share 16 database connections, so 48 of them only wait (a request waited 5.00ms for a connection against 100µs for a worker).")
	assert.Contains(t, out, "db wait", "the table has the database's column")

	c = ioBound()
	rep = tuneWith(t, c, tune.Config{Load: load.Config{Clients: 64}})
	b.Reset()
	require.NoError(t, rep.WriteTable(&b))
	require.NoError(t, rep.WriteExplanation(&b))
	assert.NotContains(t, b.String(), "database")
}

// TestTuneSaysTheCapIsTheClients: with MaxWorkers left at 0 the cap is
// the number of clients, and a climb that reaches it still gaining says
// to raise --clients, not only --max-workers.
func TestTuneSaysTheCapIsTheClients(t *testing.T) {
	c := &curve{rps: func(n int) float64 { return 100 * float64(n) }, service: 10 * time.Millisecond}
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 4}, MinWorkers: 2})
	t.Log(rep.Explanation)
	assert.Equal(t, 4, rep.MaxWorkers)
	assert.Equal(t, "--clients", rep.CapBy)
	assert.True(t, rep.StillRising)
	assert.Contains(t, rep.Explanation, "The climb stopped at 4 workers, the most searched: the cap is --clients (4), since in a closed loop more workers than clients cannot be busy; throughput was still rising (+100% from 2 to 4), so raise --clients and tune again.")
}

// TestTuneStillRisingAtTheClientsCap: a climb that reaches the clients'
// cap while every worker still adds throughput is in doubt, however
// finely the bisection then measured below the cap (29 workers gain
// little on 30, but the doubling from 15 gains 100%); it names the flag
// that set the cap, and both flags when --max-workers was given.
func TestTuneStillRisingAtTheClientsCap(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxWorkers int
		capBy      string
		advice     string
	}{
		{"max-workers left at 0", 0, "--clients", "the cap is --clients (30), since in a closed loop more workers than clients cannot be busy; throughput was still rising (+100% from 15 to 30), so raise --clients and tune again."},
		{"max-workers the clients", 30, "--clients", "the cap is --clients (30), since in a closed loop more workers than clients cannot be busy; throughput was still rising (+100% from 15 to 30), so raise --clients and --max-workers and tune again."},
		{"max-workers below the clients", 20, "--max-workers", "the cap is --max-workers (20); throughput was still rising (+100% from 10 to 20), so raise --max-workers and tune again."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &curve{rps: func(n int) float64 { return 100 * float64(n) }, service: 10 * time.Millisecond}
			rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 30}, MaxWorkers: tc.maxWorkers})
			t.Log(rep.Explanation)
			assert.Equal(t, tune.StopMaxWorkers, rep.Stop)
			require.NotNil(t, rep.Point(rep.MaxWorkers-1), "the bisection measured just below the cap")
			assert.Equal(t, tc.capBy, rep.CapBy)
			assert.True(t, rep.StillRising)
			assert.Equal(t, rep.MaxWorkers/2, rep.CapFrom)
			assert.InDelta(t, 1.0, rep.CapGain, 1e-9)
			assert.Contains(t, rep.Explanation, "The climb stopped at "+strconv.Itoa(rep.MaxWorkers)+" workers, the most searched: "+tc.advice)
			require.Len(t, rep.Doubts, 1)
			assert.Contains(t, rep.Doubts[0], "throughput was still rising at the cap, the most workers searched")
		})
	}

	// Flat past 15 workers: the cap is not in doubt, and the report says
	// that throughput had stopped rising.
	c := &curve{rps: func(n int) float64 { return 100 * float64(min(n, 15)) }, service: 10 * time.Millisecond}
	rep := tuneWith(t, c, tune.Config{Load: load.Config{Clients: 30}})
	require.Equal(t, tune.StopMaxWorkers, rep.Stop, "seeded at the cap")
	assert.Equal(t, 15, rep.CapFrom)
	assert.False(t, rep.StillRising)
	assert.Empty(t, rep.Doubts)
	assert.Contains(t, rep.Explanation, "the cap is --clients (30), since in a closed loop more workers than clients cannot be busy; throughput had stopped rising (0% from 15 to 30).")
}
