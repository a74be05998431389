package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks/load"
)

// benchJSON is the part of bench's JSON the report tests read.
type benchJSON struct {
	Results []struct {
		Model    string  `json:"model"`
		Requests int64   `json:"requests"`
		RPS      float64 `json:"rps"`
		P50      float64 `json:"p50_ms"`
		P90      float64 `json:"p90_ms"`
		P99      float64 `json:"p99_ms"`
		P999     float64 `json:"p999_ms"`
		Max      float64 `json:"max_ms"`
		HDR      string  `json:"latency_hdr_us"`
	} `json:"results"`
	FailOn []struct {
		Model  string `json:"model"`
		Expr   string `json:"expr"`
		Failed bool   `json:"failed"`
	} `json:"fail_on"`
	Sources []struct {
		Name string `json:"name"`
	} `json:"sources"`
}

func readBenchJSON(t *testing.T, name string) benchJSON {
	t.Helper()
	data, err := os.ReadFile(name)
	require.NoError(t, err)
	var doc benchJSON
	require.NoError(t, json.Unmarshal(data, &doc))
	return doc
}

// Two bench runs at once against one server, each a process of its own
// with its JSON, then report on both: the request count is the sum, and
// every percentile lies between the two runs' own.
func TestReportMergesTwoMachines(t *testing.T) {
	bin := poolsideBinary(t)
	ls, err := load.StartServer(load.ServerConfig{WorkDelay: time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { ls.Close() })
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	outs := make([][]byte, 2)
	errs := make([]error, 2)
	for i, clients := range []string{"2", "6"} { // different loads, different latencies
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, bin, "bench", "--addr", ls.Addr(), "--clients", clients, "--duration", "1s", "--warmup", "100ms", "--json", files[i])
			cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+dir)
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for i := range errs {
		require.NoError(t, errs[i], string(outs[i]))
	}
	a, b := readBenchJSON(t, files[0]), readBenchJSON(t, files[1])

	merged := filepath.Join(dir, "merged.json")
	chart := filepath.Join(dir, "merged.png")
	hgrm := filepath.Join(dir, "spectra")
	stdout, stderr, err := runCLI(t, "report", files[0], files[1], "--json", merged, "--chart", chart, "--hgrm", hgrm)
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, "merged from 2 runs")
	assert.Contains(t, stdout, ls.Addr())
	m := readBenchJSON(t, merged)
	require.Len(t, m.Results, 1)
	ra, rb, rm := a.Results[0], b.Results[0], m.Results[0]
	assert.Equal(t, ra.Requests+rb.Requests, rm.Requests, "the request count is the sum")
	assert.InDelta(t, ra.RPS+rb.RPS, rm.RPS, 1e-6)
	h, err := hdrhistogram.Decode([]byte(rm.HDR))
	require.NoError(t, err)
	assert.Equal(t, rm.Requests, h.TotalCount())
	for name, p := range map[string][3]float64{
		"p50": {ra.P50, rb.P50, rm.P50}, "p90": {ra.P90, rb.P90, rm.P90},
		"p99": {ra.P99, rb.P99, rm.P99}, "p99.9": {ra.P999, rb.P999, rm.P999},
	} {
		assert.GreaterOrEqual(t, p[2], min(p[0], p[1]), name)
		assert.LessOrEqual(t, p[2], max(p[0], p[1]), name)
	}
	assert.InDelta(t, max(ra.Max, rb.Max), rm.Max, 1e-9)
	require.Len(t, m.Sources, 2)
	_, err = os.Stat(chart)
	require.NoError(t, err)
	spectrum, err := os.ReadFile(filepath.Join(hgrm, strings.ReplaceAll(ls.Addr(), ":", "-")+".hgrm"))
	require.NoError(t, err)
	assert.Contains(t, string(spectrum), "Percentile")
}

// report refuses what it cannot read, in one sentence that says what to
// give it, and writes nothing.
func TestReportRefuses(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(notJSON, []byte("serial 1000 req/s\n"), 0o644))
	empty := filepath.Join(dir, "empty.json")
	require.NoError(t, os.WriteFile(empty, []byte(`{"results": []}`), 0o644))
	out := filepath.Join(dir, "out.json")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report"}, "requires at least 1 arg"},
		{[]string{"report", filepath.Join(dir, "missing.json")}, "missing.json does not exist: give the file 'poolside bench --json' wrote"},
		{[]string{"report", notJSON, "--json", out}, "notes.txt is not a 'poolside bench --json' report"},
		{[]string{"report", empty}, "empty.json is not a 'poolside bench --json' report"},
		{[]string{"report", empty, "--chart", filepath.Join(dir, "x.gif")}, "must end in .png or .svg"},
	} {
		_, _, err := runCLI(t, tc.args...)
		require.Error(t, err, tc.args)
		assert.Equal(t, exitUsage, exitCode(err), tc.args)
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), "compare:")
	}
	_, err := os.Stat(out)
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing written")
}

// --fail-on: a threshold that holds fails the bench with exit status 6
// after the whole report, lists every check, and is in the JSON; one that
// does not parse is a usage error (exit status 2: nothing ran).
func TestBenchFailOn(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "bench.json")
	args := append(append([]string{}, quickBench...), "--models", "pool:4", "--json", js,
		"--fail-on", "p99>1ns", "--fail-on", "errors>0,starved>0")
	stdout, stderr, err := runCLI(t, args...)
	require.Error(t, err, stderr)
	assert.Equal(t, exitGate, exitCode(err))
	assert.Contains(t, err.Error(), "1 --fail-on threshold failed (pool:4: p99>1ns)")
	assert.Contains(t, stdout, "fail-on: 1 of 3 checks failed")
	assert.Contains(t, stdout, "FAIL  pool:4: p99>1ns")
	assert.Contains(t, stdout, "pass  pool:4: errors>0 (errors = 0)")
	doc := readBenchJSON(t, js)
	require.Len(t, doc.FailOn, 3)
	assert.True(t, doc.FailOn[0].Failed)
	assert.False(t, doc.FailOn[1].Failed)

	// All pass: exit 0.
	args = append(append([]string{}, quickBench...), "--models", "pool:4", "--fail-on", "p99>1h", "--fail-on", "errors>50%")
	stdout, stderr, err = runCLI(t, args...)
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, "fail-on: 0 of 2 checks failed")

	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--fail-on", "p99>50"}, "p99 is a latency: write it with a unit"},
		{[]string{"--fail-on", "latency>5ms"}, `unknown metric "latency"`},
		{[]string{"--fail-on", "achieved<0.9"}, "this run has no rate (a closed loop)"},
		{[]string{"--hgrm", js}, "is a file, not a directory"},
	} {
		_, _, err := runCLI(t, append(append([]string{}, quickBench...), tc.flags...)...)
		require.Error(t, err, tc.flags)
		assert.Equal(t, exitUsage, exitCode(err), tc.flags)
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), "gate:")
	}
}

// Without a terminal, progress is a plain line every plainEvery with the
// run, the time left and the last second's req/s, errors and p99.
func TestBenchPlainProgress(t *testing.T) {
	old := plainEvery
	plainEvery = 300 * time.Millisecond
	t.Cleanup(func() { plainEvery = old })
	args := []string{"bench", "--clients", "2", "--duration", "2500ms", "--warmup", "0s", "--models", "pool:4"}
	_, stderr, err := runCLI(t, args...)
	require.NoError(t, err)
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "poolside bench: run 1/1 pool:4: ") {
			lines = append(lines, l)
		}
	}
	require.NotEmpty(t, lines, stderr)
	assert.Regexp(t, `% done, about [0-9.]+ s left; last second: [0-9.,k]+ req/s, 0 errors, p99 ≤`, lines[len(lines)-1])
}
