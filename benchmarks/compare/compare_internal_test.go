package compare

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks/load"
)

// TestSummariseTakesOneRound: the errors shown for a model are those of
// one round, the median one whose warnings are shown, as every other
// figure of the row is a figure of one round; their sum over the rounds
// is kept apart and the notes say which is which.
func TestSummariseTakesOneRound(t *testing.T) {
	rounds := []load.Result{
		{RPS: 10, Errors: load.Errors{Timeout: 156}, NotSent: 1, Warnings: []string{"156 timeouts"}},
		{RPS: 12, Errors: load.Errors{Timeout: 159}, NotSent: 2, Starved: 1, Warnings: []string{"159 timeouts"}},
		{RPS: 30, Errors: load.Errors{Timeout: 3}, NotSent: 3, Warnings: []string{"3 timeouts"}},
	}
	mr := summarise("serial", rounds)
	assert.InDelta(t, 12, mr.RPS, 1e-9)
	assert.Equal(t, load.Errors{Timeout: 159}, mr.Errors, "the median round's")
	assert.Equal(t, int64(2), mr.NotSent)
	assert.Equal(t, 1, mr.Starved)
	assert.Equal(t, []string{"159 timeouts"}, mr.Warnings)
	assert.Equal(t, int64(318), mr.ErrorsAllRounds.Total())

	rep := &Report{Results: []ModelResult{mr}, Env: load.Env{InProcess: true, NumCPU: 2, Clients: 16, Repeat: 3}}
	var table, notes bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	row := strings.Fields(strings.Split(table.String(), "\n")[1])
	assert.Equal(t, "159", row[len(row)-3], "the errors column: %v", row)
	assert.Equal(t, "1/16", row[len(row)-2], "the starved column: %v", row)
	assert.Contains(t, table.String(), "! serial: 1 of its 16 clients got no reply at all and 2 scheduled requests were never sent")
	require.NoError(t, rep.WriteNotes(&notes))
	assert.Contains(t, notes.String(), "errors and warnings: those of the median round")
	assert.Contains(t, notes.String(), "timeout 159, server 0, connection 0, other 0 in the median round, 318 in all 3 rounds")
	assert.Contains(t, notes.String(), "(1 got no reply)")
}

// TestNotesWording: the notes say "1 round" of an incomplete report of
// one round, name the request cap and how long each window lasted under
// it, and the chart's title says "one round" rather than "median of 1".
func TestNotesWording(t *testing.T) {
	mr := ModelResult{Label: "pool:4", Workers: 4, RPS: 100, P50: time.Millisecond, P99: time.Millisecond, P999: time.Millisecond,
		Window: 310 * time.Millisecond, Rounds: []load.Result{{RPS: 100}}}
	rep := &Report{Results: []ModelResult{mr}, NotMeasured: []string{"serial"}, Incomplete: true,
		Env: load.Env{InProcess: true, NumCPU: 2, Clients: 2, Repeat: 1, Duration: 2 * time.Second, MaxRequests: 20}}
	var notes bytes.Buffer
	require.NoError(t, rep.WriteNotes(&notes))
	assert.NotContains(t, notes.String(), "1 rounds")
	assert.Contains(t, notes.String(), "1 round asked for")
	assert.Contains(t, notes.String(), "2s measured or until 20 requests were sent, whichever came first")
	assert.Contains(t, notes.String(), "pool:4: measured 0.31 s;")

	rep.Incomplete, rep.NotMeasured = false, nil
	assert.NotContains(t, rep.chartTitle(), "median of 1")
	assert.Contains(t, rep.chartTitle(), "one round")
}
