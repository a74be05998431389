package gate_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks/gate"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		expr    string
		metric  gate.Metric
		op      gate.Op
		value   float64
		percent bool
	}{
		{"p99>50ms", gate.P99, ">", float64(50 * time.Millisecond), false},
		{"p99.9 >= 1.5s", gate.P999, ">=", float64(1500 * time.Millisecond), false},
		{"P999<=2ms", gate.P999, "<=", float64(2 * time.Millisecond), false},
		{"errors>0", gate.Errors, ">", 0, false},
		{"errors>1%", gate.Errors, ">", 0.01, true},
		{"achieved<0.95", gate.Achieved, "<", 0.95, false},
		{"starved>0", gate.Starved, ">", 0, false},
		{"not-sent>=10", gate.NotSent, ">=", 10, false},
		{"rps<1000", gate.RPS, "<", 1000, false},
	} {
		got, err := gate.Parse(tc.expr)
		require.NoError(t, err, tc.expr)
		assert.Equal(t, tc.metric, got.Metric, tc.expr)
		assert.Equal(t, tc.op, got.Op, tc.expr)
		assert.InDelta(t, tc.value, got.Value, 1e-9, tc.expr)
		assert.Equal(t, tc.percent, got.Percent, tc.expr)
	}
}

// Parse refuses what it cannot judge, saying how to write it.
func TestParseRefuses(t *testing.T) {
	for expr, want := range map[string]string{
		"p99":           "no comparison",
		"p99=50ms":      "no comparison",
		"p98>50ms":      "unknown metric",
		"p99>50":        "write it with a unit",
		"p99>-1ms":      "write it with a unit",
		"errors>":       "no value",
		"errors>101%":   "from 0 to 100",
		"rps<many":      "takes a number",
		"achieved<0.9%": "takes a number",
		"starved>-1":    "takes a number",
	} {
		_, err := gate.Parse(expr)
		require.ErrorIs(t, err, gate.ErrInvalid, expr)
		assert.Contains(t, err.Error(), want, expr)
	}
	_, err := gate.ParseAll([]string{"p99>1ms", "bad", "worse>1"})
	require.ErrorIs(t, err, gate.ErrInvalid)
	assert.Contains(t, err.Error(), `"bad"`)
	assert.Contains(t, err.Error(), `"worse>1"`)
}

func TestEvaluate(t *testing.T) {
	f := gate.Figures{
		P50: 2 * time.Millisecond, P99: 72 * time.Millisecond, RPS: 480,
		Requests: 990, Errors: 10, Starved: 0, NotSent: 5, TargetRate: 500,
	}
	ts, err := gate.ParseAll([]string{"p99>50ms", "p50>50ms", "errors>0", "errors>1%", "errors>=1%", "achieved<0.95", "achieved<0.97", "starved>0", "not_sent>0", "rps<=480"})
	require.NoError(t, err)
	got := gate.Evaluate(ts, "pool:16", f)
	failed := map[string]bool{}
	for _, o := range got {
		failed[o.Expr] = o.Failed
	}
	assert.Equal(t, map[string]bool{
		"p99>50ms": true, "p50>50ms": false, "errors>0": true,
		"errors>1%": false, "errors>=1%": true, // 10 of 1000 is exactly 1%
		"achieved<0.95": false, "achieved<0.97": true, // 480 of 500 is 0.96
		"starved>0": false, "not_sent>0": true, "rps<=480": true,
	}, failed)
	assert.Equal(t, 6, gate.Failed(got))
	assert.Equal(t, "FAIL  pool:16: p99>50ms (p99 = 72ms)", got[0].String())
	assert.Equal(t, "pass  pool:16: p50>50ms (p50 = 2ms)", got[1].String())
	assert.Contains(t, got[3].String(), "1.00%, 10 of 1000")
}

// With no requests at all, a percentage of errors is 0, not NaN, and a
// latency bound passes: other thresholds (errors, rps) catch that run.
func TestEvaluateEmpty(t *testing.T) {
	ts, err := gate.ParseAll([]string{"errors>1%", "p99>1ms", "rps<1"})
	require.NoError(t, err)
	got := gate.Evaluate(ts, "serial", gate.Figures{})
	assert.False(t, got[0].Failed)
	assert.False(t, got[1].Failed)
	assert.True(t, got[2].Failed)
}
