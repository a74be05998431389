package tune

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks/load"
)

// A run during which other processes used a fifth of the CPU or more is
// contended: the report says so, in its text and its JSON, and names the
// sizes; a quiet one has no doubts.
func TestReportJudgesContention(t *testing.T) {
	rep := &Report{
		Points:     []Point{{Workers: 1, Step: 1, RPS: 100, OtherCPU: 0.5}, {Workers: 2, Step: 3, RPS: 190, OtherCPU: 0.05}, {Workers: 4, Step: 2, RPS: 200, OtherCPU: 0.3}},
		Stop:       StopMinGain,
		MaxWorkers: 16, MinGain: 0.05, CapBy: "--max-workers", Recommended: 1,
		Explanation: "Recommendation: 1 worker.",
	}
	rep.judge()
	assert.True(t, rep.Contended)
	assert.Equal(t, []int{1, 4}, rep.ContendedWorkers)
	assert.InDelta(t, 0.5, rep.OtherCPUMax, 1e-9)
	require.Len(t, rep.Doubts, 1)
	assert.Contains(t, rep.Doubts[0], "the run was contended: other processes used up to 50% of the machine's CPU, a fifth or more of it during the steps at 1 and 4 workers")

	var text bytes.Buffer
	require.NoError(t, rep.WriteExplanation(&text))
	assert.Contains(t, text.String(), "warning: do not trust this recommendation as it stands: the run was contended")

	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	assert.Equal(t, true, doc["contended"])
	assert.InDelta(t, 0.5, doc["other_processes_cpu_max"], 1e-9)
	assert.Equal(t, []any{
		map[string]any{"step": 1.0, "workers": 1.0, "other_processes_cpu": 0.5},
		map[string]any{"step": 2.0, "workers": 4.0, "other_processes_cpu": 0.3},
	}, doc["contended_steps"])
	assert.Len(t, doc["doubts"], 1)

	quiet := &Report{Points: []Point{{Workers: 1, RPS: 100, OtherCPU: 0.19}}, Stop: StopMinGain, MaxWorkers: 16, MinGain: 0.05}
	quiet.judge()
	assert.False(t, quiet.Contended)
	assert.Empty(t, quiet.Doubts)
	js.Reset()
	require.NoError(t, quiet.WriteJSON(&js))
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	assert.Equal(t, false, doc["contended"])
	assert.Equal(t, []any{}, doc["contended_steps"], "never null")
	assert.Equal(t, []any{}, doc["doubts"], "never null")
}

// Stopped at the cap with the last doubling still gaining, the search
// says which flag set the cap and to raise it; stopped at the cap with no
// gain, it has no doubt.
func TestReportJudgesTheCap(t *testing.T) {
	rising := &Report{
		Points: []Point{{Workers: 8, RPS: 1000}, {Workers: 15, RPS: 1500}, {Workers: 29, RPS: 1780}, {Workers: 30, RPS: 1800}},
		Stop:   StopMaxWorkers, MaxWorkers: 30, MinGain: 0.05, CapBy: "--clients", CapFrom: 15,
	}
	rising.judge()
	assert.True(t, rising.StillRising)
	assert.InDelta(t, 0.2, rising.CapGain, 1e-9)
	require.Len(t, rising.Doubts, 1)
	assert.Equal(t, "throughput was still rising at the cap, the most workers searched (+20% from 15 to 30 workers), so the best size may be larger: the cap is --clients (30), since in a closed loop more workers than clients cannot be busy, so raise --clients and tune again", rising.Doubts[0])

	// Seeded at the cap: judged from the step down, not from 29.
	seeded := &Report{
		Points: []Point{{Workers: 1, RPS: 100}, {Workers: 15, RPS: 1500}, {Workers: 29, RPS: 1780}, {Workers: 30, RPS: 1800}},
		Stop:   StopMaxWorkers, MaxWorkers: 30, MinGain: 0.05, CapBy: "--max-workers", MaxWorkersSet: true,
	}
	seeded.judge()
	assert.Equal(t, 15, seeded.CapFrom)
	assert.True(t, seeded.StillRising)
	assert.Contains(t, seeded.Doubts[0], "the cap is --max-workers (30), so raise --max-workers and tune again")

	flat := &Report{Points: []Point{{Workers: 15, RPS: 1500}, {Workers: 30, RPS: 1510}}, Stop: StopMaxWorkers, MaxWorkers: 30, MinGain: 0.05, CapBy: "--clients", CapFrom: 15}
	flat.judge()
	assert.False(t, flat.StillRising)
	assert.Empty(t, flat.Doubts)

	// Stopped on the gain, the cap is not in doubt.
	gain := &Report{Points: []Point{{Workers: 15, RPS: 1500}, {Workers: 30, RPS: 1510}}, Stop: StopMinGain, MaxWorkers: 64, MinGain: 0.05}
	gain.judge()
	assert.False(t, gain.StillRising)
	assert.Zero(t, gain.CapFrom)
}

// linear is a fake server for run: throughput rises with every worker
// (10 ms a request), and the other processes' CPU share of each step is
// injected from other, by step.
type linear struct {
	mu      sync.Mutex
	workers int
	other   map[int]float64 // by the 1-based step; missing: 0
	steps   int
}

func (l *linear) Workers() (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.workers, nil }
func (l *linear) Resize(n int) error    { l.mu.Lock(); defer l.mu.Unlock(); l.workers = n; return nil }

func (l *linear) Run(_ context.Context, w load.Window) (load.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.steps++
	x := 100 * float64(l.workers)
	n := int64(x * w.Duration.Seconds())
	return load.Result{
		RPS: x, Requests: n, Window: w.Duration,
		Latency:     load.Latency{Count: n, P50: time.Millisecond, P99: 2 * time.Millisecond},
		ServiceTime: load.Latency{Mean: 10 * time.Millisecond},
		Server:      &load.ServerView{Workers: l.workers, Service: load.Latency{Mean: 10 * time.Millisecond}},
	}, nil
}

// otherCPU is the injected measurement: the share of the step that is
// running when it starts.
func (l *linear) otherCPU() func() float64 {
	l.mu.Lock()
	step := l.steps + 1
	l.mu.Unlock()
	return func() float64 { return l.other[step] }
}

// A search whose steps another process contended, measured through the
// search's own hook rather than a loaded machine, reports the steps
// affected and doubts its recommendation; the same search uncontended
// does not.
func TestSearchReportsContention(t *testing.T) {
	cfg := Config{Load: load.Config{Clients: 8}, MaxWorkers: 32}.withDefaults()
	l := &linear{other: map[int]float64{1: 0.5, 2: 0.45}}
	rep, err := run(context.Background(), cfg, target{sizer: l, meas: l, restore: true, otherCPU: l.otherCPU, env: customEnv})
	require.NoError(t, err)
	require.NotEmpty(t, rep.Points)
	assert.True(t, rep.Contended)
	assert.InDelta(t, 0.5, rep.OtherCPUMax, 1e-9)
	var steps []int
	for _, n := range rep.ContendedWorkers {
		steps = append(steps, rep.Point(n).Step)
	}
	assert.ElementsMatch(t, []int{1, 2}, steps, "the probe and the seed")
	require.NotEmpty(t, rep.Doubts)
	assert.Contains(t, rep.Doubts[0], "the run was contended")
	var b bytes.Buffer
	require.NoError(t, rep.WriteTable(&b))
	assert.Contains(t, b.String(), "other processes used 50% CPU")
	b.Reset()
	require.NoError(t, rep.WriteExplanation(&b))
	assert.Contains(t, b.String(), "warning: do not trust this recommendation as it stands: the run was contended")

	quiet := &linear{}
	rep, err = run(context.Background(), cfg, target{sizer: quiet, meas: quiet, restore: true, otherCPU: quiet.otherCPU, env: customEnv})
	require.NoError(t, err)
	assert.False(t, rep.Contended)
	assert.Empty(t, rep.ContendedWorkers)
	for _, d := range rep.Doubts {
		assert.NotContains(t, d, "contended")
	}
}
