package tune

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A run during which other processes used a fifth of the CPU or more is
// contended: the report says so, in its text and its JSON, and names the
// sizes; a quiet one has no doubts.
func TestReportJudgesContention(t *testing.T) {
	rep := &Report{
		Points:     []Point{{Workers: 1, RPS: 100, OtherCPU: 0.5}, {Workers: 2, RPS: 190, OtherCPU: 0.05}, {Workers: 4, RPS: 200, OtherCPU: 0.3}},
		Stop:       StopMinGain,
		MaxWorkers: 16, MinGain: 0.05, CapBy: "--max-workers", Recommended: 1,
		Explanation: "Recommendation: 1 worker.",
	}
	rep.judge()
	assert.True(t, rep.Contended)
	assert.Equal(t, []int{1, 4}, rep.ContendedSteps)
	require.Len(t, rep.Doubts, 1)
	assert.Contains(t, rep.Doubts[0], "other processes used up to 50% of the machine's CPU, at 1 worker, 4 workers")

	var text bytes.Buffer
	require.NoError(t, rep.WriteExplanation(&text))
	assert.Contains(t, text.String(), "warning: do not trust this recommendation as it stands: the run was contended")

	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	assert.Equal(t, true, doc["contended"])
	assert.Equal(t, []any{1.0, 4.0}, doc["contended_steps"])
	assert.Len(t, doc["doubts"], 1)

	quiet := &Report{Points: []Point{{Workers: 1, RPS: 100, OtherCPU: 0.19}}, Stop: StopMinGain, MaxWorkers: 16, MinGain: 0.05}
	quiet.judge()
	assert.False(t, quiet.Contended)
	assert.Empty(t, quiet.Doubts)
}

// Stopped at the cap with the last doubling still gaining, the search
// says which flag set the cap and to raise it; stopped at the cap with no
// gain, it has no doubt.
func TestReportJudgesTheCap(t *testing.T) {
	rising := &Report{
		Points: []Point{{Workers: 8, RPS: 1000}, {Workers: 15, RPS: 1500}, {Workers: 30, RPS: 1800}},
		Stop:   StopMaxWorkers, MaxWorkers: 30, MinGain: 0.05, CapBy: "--clients",
	}
	rising.judge()
	assert.True(t, rising.StillRising)
	assert.InDelta(t, 0.2, rising.CapGain, 1e-9)
	require.Len(t, rising.Doubts, 1)
	assert.Contains(t, rising.Doubts[0], "throughput was still rising at the cap (20% from 15 workers to 30)")
	assert.Contains(t, rising.Doubts[0], "the cap is --clients (30), since more workers than clients cannot all be busy: raise --clients")

	flat := &Report{Points: []Point{{Workers: 15, RPS: 1500}, {Workers: 30, RPS: 1510}}, Stop: StopMaxWorkers, MaxWorkers: 30, MinGain: 0.05, CapBy: "--clients"}
	flat.judge()
	assert.False(t, flat.StillRising)
	assert.Empty(t, flat.Doubts)
}
