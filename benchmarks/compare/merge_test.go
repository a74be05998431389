package compare_test

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks/compare"
	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/server"
)

// roundTrip writes rep as JSON and reads it back.
func roundTrip(t *testing.T, rep *compare.Report) *compare.Report {
	t.Helper()
	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	back, err := compare.ReadJSON(&js)
	require.NoError(t, err)
	return back
}

// Two runs' reports merge into one whose counts are the sums and whose
// percentiles, from the merged histograms, lie between the two runs'.
func TestMergeAddsHistograms(t *testing.T) {
	one := func(delay time.Duration) *compare.Report {
		return quickCompare(t, func(c *compare.Config) {
			c.Repeat = 1
			c.Server.WorkDelay = delay
		})
	}
	// Different service times, so that the percentiles differ.
	a, b := roundTrip(t, one(time.Millisecond)), roundTrip(t, one(4*time.Millisecond))
	// WorkDelay is part of the configuration: set them equal so that the
	// models merge, as two load machines' runs of one server would.
	b.Env.WorkDelay = a.Env.WorkDelay
	m, err := compare.Merge([]string{"a.json", "b.json"}, []*compare.Report{a, b})
	require.NoError(t, err)
	require.Len(t, m.Results, 2)
	assert.Equal(t, a.Env.Clients+b.Env.Clients, m.Env.Clients)
	for i, mr := range m.Results {
		ra, rb := a.Results[i], b.Results[i]
		assert.Equal(t, ra.Label, mr.Label)
		assert.Equal(t, ra.Requests+rb.Requests, mr.Requests)
		assert.Equal(t, ra.Requests+rb.Requests, mr.Histogram.TotalCount())
		assert.InDelta(t, ra.RPS+rb.RPS, mr.RPS, 1e-6)
		assert.Equal(t, 2, mr.RoundCount())
		for name, p := range map[string][3]time.Duration{
			"p50": {ra.P50, rb.P50, mr.P50}, "p90": {ra.P90, rb.P90, mr.P90},
			"p99": {ra.P99, rb.P99, mr.P99}, "p99.9": {ra.P999, rb.P999, mr.P999},
		} {
			lo, hi := min(p[0], p[1]), max(p[0], p[1])
			assert.GreaterOrEqual(t, p[2], lo, "%s %s", mr.Label, name)
			assert.LessOrEqual(t, p[2], hi, "%s %s", mr.Label, name)
		}
		assert.Equal(t, max(ra.Max, rb.Max), mr.Max)
	}
	require.Len(t, m.Sources, 2)
	assert.Equal(t, "a.json", m.Sources[0].Name)

	var notes bytes.Buffer
	require.NoError(t, m.WriteNotes(&notes))
	assert.Contains(t, notes.String(), "merged from 2 runs")
	// The merged report writes as any other, and reads back the same.
	again := roundTrip(t, m)
	assert.Equal(t, m.Results[1].Requests, again.Results[1].Requests)
	assert.Equal(t, m.Results[1].P99, again.Results[1].P99)
}

// A model configured differently in two reports is not added up: it
// keeps a row of its own, named after its report.
func TestMergeKeepsDifferentConfigurationsApart(t *testing.T) {
	a := roundTrip(t, quickCompare(t, func(c *compare.Config) { c.Repeat = 1 }))
	b := roundTrip(t, quickCompare(t, func(c *compare.Config) { c.Repeat = 1 }))
	b.Env.Duration *= 2
	m, err := compare.Merge([]string{"a.json", "b.json"}, []*compare.Report{a, b})
	require.NoError(t, err)
	var labels []string
	for _, mr := range m.Results {
		labels = append(labels, mr.Label)
	}
	assert.Equal(t, []string{"serial", "pool:4", "serial (b.json)", "pool:4 (b.json)"}, labels)
}

// Merge refuses what it cannot add, and ReadJSON what is not a report.
func TestMergeRefuses(t *testing.T) {
	rep := &compare.Report{Env: load.Env{Hostname: "h"}, Results: []compare.ModelResult{{Label: "serial", RPS: 1}}}
	_, err := compare.Merge([]string{"old.json"}, []*compare.Report{rep})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "old.json: serial has no latency histogram")
	_, err = compare.Merge(nil, nil)
	require.Error(t, err)

	for _, in := range []string{"", "[]", `{"results": []}`, `{"results": [{"model": "x", "latency_hdr_us": "not base64"}], "env": {"loop": "closed"}}`, "not json"} {
		_, err := compare.ReadJSON(strings.NewReader(in))
		require.ErrorIs(t, err, compare.ErrNotReport, in)
	}
}

// A machine whose open loop fell behind, or whose load generator was
// CPU-bound, is named in the merged report.
func TestMergeFlagsMachines(t *testing.T) {
	h := load.NewHistogram()
	require.NoError(t, h.RecordValue(1000))
	result := func(rps, target float64, notSent int64, cpu float64) compare.ModelResult {
		return compare.ModelResult{Label: "pool:16", RPS: rps, TargetRate: target, NotSent: notSent, CPUUtilisation: cpu, Requests: 1, Histogram: h}
	}
	env := load.Env{Rate: 400, NumCPU: 2, Hostname: "load-1"}
	fine := &compare.Report{Env: env, Results: []compare.ModelResult{result(399, 400, 0, 0.3)}}
	behind := &compare.Report{Env: env, Results: []compare.ModelResult{result(48.5, 400, 800, 0.95)}}
	behind.Env.Hostname = "load-2"
	m, err := compare.Merge([]string{"fine.json", "behind.json"}, []*compare.Report{fine, behind})
	require.NoError(t, err)
	assert.Empty(t, m.Sources[0].Findings)
	assert.Equal(t, []string{"pool:16"}, m.Sources[1].Behind)
	assert.Equal(t, []string{"pool:16"}, m.Sources[1].CPUBound)
	var notes bytes.Buffer
	require.NoError(t, m.WriteNotes(&notes))
	assert.Contains(t, notes.String(), "behind.json: load-2")
	assert.Contains(t, notes.String(), "fell behind its schedule: 48.5 of 400 req/s, 800 requests not sent")
	assert.Contains(t, notes.String(), "was CPU-bound")
	assert.Equal(t, "load-1,load-2", m.Env.Hostname)
	assert.InDelta(t, 800, m.Env.Rate, 1e-9)
	assert.InDelta(t, 800, m.Results[0].TargetRate, 1e-9)
	assert.Equal(t, int64(800), m.Results[0].NotSent)
}

// WriteHgrm writes the percentile spectrum HdrHistogram's plotters read:
// values in milliseconds, rising to the max, and the footer.
func TestWriteHgrm(t *testing.T) {
	h := load.NewHistogram()
	for us := int64(1000); us <= 100000; us += 1000 {
		require.NoError(t, h.RecordValue(us))
	}
	mr := compare.ModelResult{Label: "pool:16", Histogram: h}
	var b bytes.Buffer
	require.NoError(t, mr.WriteHgrm(&b))
	text := b.String()
	sc := bufio.NewScanner(strings.NewReader(text))
	require.True(t, sc.Scan())
	assert.Equal(t, "Value Percentile TotalCount 1/(1-Percentile)", strings.Join(strings.Fields(sc.Text()), " "))
	var last float64
	var rows int
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, v, last)
		last = v
		rows++
	}
	assert.Greater(t, rows, 10)
	assert.InDelta(t, 100, last, 0.1, "the last value is the max, in ms")
	assert.Contains(t, text, "Total count    =          100")
	assert.Equal(t, "pool-16.hgrm", compare.HgrmName("pool:16"))
	assert.Equal(t, "127.0.0.1-9407.hgrm", compare.HgrmName("127.0.0.1:9407"))
	require.Error(t, compare.ModelResult{Label: "x"}.WriteHgrm(&b))
}

// The conn model with more clients than workers leaves clients without a
// reply: the table counts them and marks its latencies, the JSON has
// them, and so does the chart's data.
func TestStarvedClientsAreShown(t *testing.T) {
	rep := quickCompare(t, func(c *compare.Config) {
		c.Models = []load.ModelSpec{{Model: server.ModelConn, Workers: 4}, {Model: server.ModelPool, Workers: 4}}
		c.Load.Clients = 8
		c.Server.WorkDelay = 5 * time.Millisecond
		c.Repeat = 1
	})
	conn, pool := rep.Results[0], rep.Results[1]
	require.Equal(t, 4, conn.Starved, "4 connections hold the 4 workers, 4 wait")
	require.Zero(t, pool.Starved)

	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	assert.Contains(t, lines[0], "starved")
	connRow, poolRow := strings.Fields(lines[1]), strings.Fields(lines[2])
	assert.Contains(t, connRow, "4/8")
	for _, cell := range connRow[4:7] { // p50, p99, p99.9
		assert.True(t, strings.HasSuffix(cell, "!"), "conn:4's latency %q is marked", cell)
	}
	for _, cell := range poolRow[4:7] {
		assert.False(t, strings.HasSuffix(cell, "!"), "pool:4's latency %q is not", cell)
	}
	assert.Contains(t, table.String(), "! conn:4: 4 of its 8 clients got no reply at all")

	back := roundTrip(t, rep)
	assert.Equal(t, 4, back.Results[0].Starved, "starved_clients in the JSON")

	cd := compare.ChartDataOf(rep)
	assert.Contains(t, cd.Names[0], "4/8 starved")
	assert.NotContains(t, cd.Names[1], "starved")
	assert.True(t, cd.Marked[0])
	assert.False(t, cd.Marked[1])
}

// In an open loop the table has the target, the share achieved and what
// was not sent, no speed-up; so do the JSON and the chart's data.
func TestOpenLoopShowsTarget(t *testing.T) {
	rep := quickCompare(t, func(c *compare.Config) {
		c.Models = []load.ModelSpec{{Model: server.ModelSerial}, {Model: server.ModelPool, Workers: 4}}
		c.Server.WorkDelay = 10 * time.Millisecond // serial serves at most 100/s
		c.Load.Clients = 4
		c.Load.Rate = 400
		c.Repeat = 1
	})
	serial := rep.Results[0]
	assert.False(t, rep.HasSpeedUp())
	assert.InDelta(t, 400, serial.TargetRate, 1e-9)
	assert.Less(t, serial.RPS, 0.5*serial.TargetRate)
	assert.Positive(t, serial.NotSent, "serial could not keep up: requests were never sent")

	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	lines := strings.Split(table.String(), "\n")
	for _, col := range []string{"target req/s", "achieved", "not sent"} {
		assert.Contains(t, lines[0], col)
	}
	assert.NotContains(t, lines[0], "speed-up")
	row := strings.Fields(lines[1])
	assert.Equal(t, "400", row[2], "target")
	assert.Equal(t, strconv.FormatInt(serial.NotSent, 10), row[5], "not sent")
	assert.True(t, strings.HasSuffix(row[6], "!"), "its latency leaves out what was not sent: %q", row[6])

	cd := compare.ChartDataOf(rep)
	assert.InDelta(t, 400, cd.Target[0], 1e-9)
	assert.InDelta(t, float64(serial.NotSent)/serial.Window.Seconds(), cd.NotSentRate[0], 1e-6)
	assert.Nil(t, cd.SpeedUp)
	assert.True(t, cd.LogLatency || cd.Latency[1][0] < 10*cd.Latency[1][1], "a latency axis every bar can be read on")

	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	assert.Contains(t, js.String(), `"speedup": null`)
}
