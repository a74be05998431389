package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/server"
)

// quickTune are flags that keep a tune run to under a second.
var quickTune = []string{"tune", "--clients", "4", "--step", "150ms", "--settle", "20ms", "--max-steps", "4"}

func TestTuneWritesReports(t *testing.T) {
	dir := t.TempDir()
	js, png, svg := filepath.Join(dir, "tune.json"), filepath.Join(dir, "tune.png"), filepath.Join(dir, "tune.svg")
	args := append(append([]string{}, quickTune...), "--work-delay", "2ms", "--json", js, "--chart", png)
	stdout, stderr, err := runCLI(t, args...)
	require.NoError(t, err, stderr)

	lines := strings.Split(stdout, "\n")
	for _, col := range []string{"workers", "step", "phase", "req/s", "p50", "p99", "queue wait", "CPU µs/req", "%N/D", "%C/(D+RTT)", "errors"} {
		assert.Contains(t, lines[0], col)
	}
	assert.Equal(t, []string{"1", "1", "probe"}, strings.Fields(lines[1])[:3], "the probe at one worker comes first")
	assert.Contains(t, stdout, "<- recommended")
	assert.Contains(t, stdout, "Little's law")
	assert.Contains(t, stdout, "Recommendation: ")
	assert.Contains(t, stderr, "wrote "+js)
	assert.Contains(t, stderr, "wrote "+png)

	data, err := os.ReadFile(js)
	require.NoError(t, err)
	var doc struct {
		Recommended *int   `json:"recommended"`
		Explanation string `json:"explanation"`
		Points      []struct {
			Workers int     `json:"workers"`
			RPS     float64 `json:"rps"`
		} `json:"points"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	require.NotNil(t, doc.Recommended)
	assert.GreaterOrEqual(t, *doc.Recommended, 1)
	assert.LessOrEqual(t, *doc.Recommended, 4)
	assert.NotEmpty(t, doc.Points)
	assert.Contains(t, stdout, doc.Explanation[:40], "the JSON has the paragraph the table is followed by")

	data, err = os.ReadFile(png)
	require.NoError(t, err)
	img, _, err := image.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Greater(t, img.Bounds().Dx(), 100)

	args = append(append([]string{}, quickTune...), "--chart", svg, "--slo-p99", "1s", "--min-gain", "0", "--settle", "0s")
	_, stderr, err = runCLI(t, args...)
	require.NoError(t, err, stderr)
	data, err = os.ReadFile(svg)
	require.NoError(t, err)
	assert.Contains(t, string(data), "<svg")
}

func TestTuneCompareAdaptive(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a second server with adaptive sizing")
	}
	args := append(append([]string{}, quickTune...), "--work-delay", "2ms", "--compare-adaptive", "--adaptive-duration", "300ms")
	stdout, stderr, err := runCLI(t, args...)
	require.NoError(t, err, stderr)
	text := strings.Join(strings.Fields(stdout), " ") // unwrapped
	assert.Contains(t, text, "Adaptive sizing (as poolside serve --workers auto")
	assert.Contains(t, text, "in its second half the pool stayed at")
}

// startAdminServer starts an in-process server with the admin API on
// loopback and returns the server and the two addresses.
func startAdminServer(t *testing.T, cfg load.ServerConfig) (ls *load.LocalServer, addr, admin string) {
	t.Helper()
	ls, err := load.StartServer(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { ls.Close() })
	ts := httptest.NewServer(server.AdminHandler(ls.Server()))
	t.Cleanup(ts.Close)
	return ls, ls.Addr(), ts.Listener.Addr().String()
}

func TestTuneRunningServer(t *testing.T) {
	withJournalDir(t)
	ls, addr, admin := startAdminServer(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelPool, Workers: 3}, WorkDelay: 2 * time.Millisecond})
	args := append(append([]string{}, quickTune...), "--addr", addr, "--admin", admin)
	stdout, stderr, err := runCLI(t, args...)
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, "against "+addr)
	assert.Contains(t, stdout, "the pool at "+addr+" was put back to 3 workers")
	assert.Contains(t, stdout, "nothing it booked is left")
	n, err := ls.Workers()
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

func TestTuneErrors(t *testing.T) {
	withJournalDir(t)
	_, addr, _ := startAdminServer(t, load.ServerConfig{})
	_, serialAddr, serialAdmin := startAdminServer(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelSerial}})
	_, connAddr, connAdmin := startAdminServer(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelConn, Workers: 4}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"server down", []string{"--addr", closed, "--admin", closed}, exitNetwork, "connect"},
		{"admin API down", []string{"--addr", addr, "--admin", closed}, exitNetwork, "admin API"},
		{"no pool to resize", []string{"--addr", serialAddr, "--admin", serialAdmin}, exitInternal, "no resizable pool"},
		{"conn model", []string{"--addr", connAddr, "--admin", connAdmin}, exitInternal, "conn model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCLI(t, append(append([]string{}, quickTune...), tc.args...)...)
			require.Error(t, err)
			assert.Equal(t, tc.code, exitCode(err), "%v", err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

// TestTuneEveryProbeRequestFails: a service time far above --timeout makes
// every request of the probe time out; tune says what to do and writes
// no JSON with infinities in it.
func TestTuneEveryProbeRequestFails(t *testing.T) {
	js := filepath.Join(t.TempDir(), "tune.json")
	stdout, _, err := runCLI(t, "tune", "--clients", "2", "--work-delay", "300ms", "--timeout", "20ms",
		"--step", "100ms", "--settle", "0s", "--max-steps", "2", "--json", js)
	require.Error(t, err)
	assert.Empty(t, stdout)
	assert.Contains(t, err.Error(), "every request of the probe")
	assert.Contains(t, err.Error(), "timeout")
	assert.NotContains(t, err.Error(), "Inf")
	assert.False(t, strings.HasPrefix(err.Error(), "tune:"), "one sentence, not an error chain: %s", err)
	assert.Equal(t, exitInternal, exitCode(err))
	assert.NoFileExists(t, js)
}

func TestTuneUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"argument", []string{"tune", "now"}},
		{"no clients", []string{"tune", "--clients", "0"}},
		{"negative rate", []string{"tune", "--rate", "-1"}},
		{"infinite rate", []string{"tune", "--rate", "+Inf"}},
		{"rate too high", []string{"tune", "--rate", "2e9"}},
		{"rate too low to schedule", []string{"tune", "--rate", "1e-10", "--step", "100ms", "--settle", "0s"}},
		{"rate slower than a step", []string{"tune", "--rate", "0.5", "--step", "1s", "--settle", "0s"}},
		{"zero step", []string{"tune", "--step", "0s"}},
		{"negative settle", []string{"tune", "--settle", "-1s"}},
		{"zero min workers", []string{"tune", "--min-workers", "0"}},
		{"max below min", []string{"tune", "--min-workers", "8", "--max-workers", "4"}},
		{"one step", []string{"tune", "--max-steps", "1"}},
		{"negative SLO", []string{"tune", "--slo-p99", "-1ms"}},
		{"gain of 100%", []string{"tune", "--min-gain", "1"}},
		{"bad store", []string{"tune", "--store", "tape"}},
		{"bad mix", []string{"tune", "--mix", "nap=1"}},
		{"chart format", []string{"tune", "--chart", "out.gif"}},
		{"addr without admin", []string{"tune", "--addr", "127.0.0.1:9407"}},
		{"admin without addr", []string{"tune", "--admin", "127.0.0.1:9409"}},
		{"bad admin", []string{"tune", "--addr", "127.0.0.1:9407", "--admin", "nowhere"}},
		{"addr with work delay", []string{"tune", "--addr", "127.0.0.1:9407", "--admin", "127.0.0.1:9409", "--work-delay", "1ms"}},
		{"addr with adaptive", []string{"tune", "--addr", "127.0.0.1:9407", "--admin", "127.0.0.1:9409", "--compare-adaptive"}},
		{"apply in process", []string{"tune", "--apply"}},
		{"adaptive duration alone", []string{"tune", "--adaptive-duration", "5s"}},
		{"zero adaptive duration", []string{"tune", "--compare-adaptive", "--adaptive-duration", "0s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := runCLI(t, tc.args...)
			require.Error(t, err)
			assert.Equal(t, exitUsage, exitCode(err), err)
			assert.Empty(t, stdout, "nothing ran")
		})
	}
}

// TestTuneChecksOutputsFirst: as for bench, an output file that cannot be
// written is a usage error found before the search.
func TestTuneChecksOutputsFirst(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	for _, tc := range []struct {
		name, flag, path, msg string
	}{
		{"json in a missing directory", "--json", filepath.Join(dir, "missing", "x.json"), "does not exist"},
		{"json is a directory", "--json", dir, "is a directory"},
		{"chart under a file", "--chart", filepath.Join(file, "x.svg"), "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A long step: only a check before the search keeps this quick.
			stdout, _, err := runCLI(t, "tune", "--clients", "1", "--step", "1h", "--settle", "0s", tc.flag, tc.path)
			require.Error(t, err)
			assert.Equal(t, exitUsage, exitCode(err), err)
			assert.Empty(t, stdout)
			assert.Contains(t, err.Error(), tc.flag)
			assert.Contains(t, err.Error(), tc.path)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the file the test made: %v", entries)
}

// TestTuneNoRecommendation: when no size meets the objective, tune still
// prints and writes its report, then fails, so that a script can tell.
func TestTuneNoRecommendation(t *testing.T) {
	js := filepath.Join(t.TempDir(), "tune.json")
	// No p99 is ever below a microsecond.
	args := append(append([]string{}, quickTune...), "--max-steps", "2", "--slo-p99", "1us", "--json", js)
	stdout, stderr, err := runCLI(t, args...)
	require.Error(t, err)
	assert.Equal(t, exitInternal, exitCode(err), err)
	assert.Contains(t, err.Error(), "no pool size met the objective")
	assert.Contains(t, err.Error(), "--slo-p99 1µs")
	assert.Contains(t, strings.Join(strings.Fields(stdout), " "), "No size met the objective", "the report comes first")
	assert.NotContains(t, stdout, "<- recommended")
	assert.Contains(t, stderr, "wrote "+js)

	data, err := os.ReadFile(js)
	require.NoError(t, err)
	var doc struct {
		Recommended *int `json:"recommended"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	require.NotNil(t, doc.Recommended)
	assert.Zero(t, *doc.Recommended)
}

// TestTuneInterruptedKeepsMeasuredSizes: interrupted in its second step,
// tune prints the size it had measured and says where it stopped, what
// was kept and where the running server's pool was left.
func TestTuneInterruptedKeepsMeasuredSizes(t *testing.T) {
	withJournalDir(t)
	ls, err := load.StartServer(load.ServerConfig{Model: load.ModelSpec{Model: server.ModelPool, Workers: 3}, WorkDelay: time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { ls.Close() })
	// The admin API's resizes: the check that the pool can be resized
	// (to its own size), the probe's, then the seed's, which interrupts.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var puts atomic.Int64
	admin := server.AdminHandler(ls.Server())
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && puts.Add(1) == 3 {
			cancel()
		}
		admin.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)

	var stdout, stderr bytes.Buffer
	err = run(ctx, append(append([]string{}, quickTune...), "--addr", ls.Addr(), "--admin", ts.Listener.Addr().String()), &stdout, &stderr)
	require.Error(t, err)
	require.ErrorIs(t, err, context.Canceled, "the interrupt, not the test's timeout")
	assert.Equal(t, exitInternal, exitCode(err))
	assert.Contains(t, err.Error(), "interrupted during step 2 (seed at ")
	assert.Contains(t, err.Error(), "the 1 size measured before it is above, but nothing is recommended and no file was written")

	lines := strings.Split(stdout.String(), "\n")
	require.GreaterOrEqual(t, len(lines), 2, stdout.String())
	assert.Equal(t, []string{"1", "1", "probe"}, strings.Fields(lines[1])[:3], "the probe's row")
	assert.NotContains(t, stdout.String(), "<- recommended")
	assert.Contains(t, strings.Join(strings.Fields(stdout.String()), " "), "The search stopped before it finished")
	assert.Contains(t, stdout.String(), "the pool at "+ls.Addr()+" was put back to 3 workers")
	assert.Contains(t, stdout.String(), "nothing it booked is left", "the interrupted search cleaned up")
	n, err := ls.Workers()
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

// TestTuneAdminUnreachable: an --admin on a closed port is one sentence
// that says what failed and what to check, exit status 3, with none of
// the layers of the Go error under it.
func TestTuneAdminUnreachable(t *testing.T) {
	withJournalDir(t)
	_, addr, _ := startAdminServer(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelPool, Workers: 2}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())

	_, _, err = runCLI(t, append(append([]string{}, quickTune...), "--addr", addr, "--admin", closed)...)
	require.Error(t, err)
	assert.Equal(t, exitNetwork, exitCode(err))
	msg := err.Error()
	assert.Equal(t, "could not reach the admin API at "+closed+" to read the pool's size (connection refused): is poolside serve running with --admin-addr "+closed+", and is --admin its address?", msg)
	for _, chain := range []string{"dial tcp", "tune:", "benchmarks:", "Get \"", "http://"} {
		assert.NotContains(t, msg, chain)
	}
	assert.Equal(t, 1, strings.Count(msg, closed+" to"), "no repeated prefixes")
}

// TestTuneSaysWhenThePoolWasNotPutBack: when the admin API refuses the
// resize that puts the pool back after the search, tune says so (not
// that it was put back), with the command that sets it by hand, exit
// status 3.
func TestTuneSaysWhenThePoolWasNotPutBack(t *testing.T) {
	withJournalDir(t)
	ls, err := load.StartServer(load.ServerConfig{Model: load.ModelSpec{Model: server.ModelPool, Workers: 7}, WorkDelay: 2 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { ls.Close() })
	admin := server.AdminHandler(ls.Server())
	var backTo7 atomic.Int32 // PUTs of the size before: the check, then the put-back
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			var body struct{ Workers int }
			data, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(data))
			if json.Unmarshal(data, &body) == nil && body.Workers == 7 && backTo7.Add(1) > 1 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, `{"error":"the server is shutting down"}`)
				return
			}
		}
		admin.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)

	stdout, _, err := runCLI(t, append(append([]string{}, quickTune...), "--addr", ls.Addr(), "--admin", ts.Listener.Addr().String(), "--max-workers", "4")...)
	require.Error(t, err)
	assert.Equal(t, exitNetwork, exitCode(err))
	assert.Equal(t, int32(2), backTo7.Load())
	assert.NotContains(t, stdout, "was put back")
	assert.Contains(t, err.Error(), "could not put the pool of the server at "+ls.Addr()+" back to 7 workers, so it may be left at another size (the admin API at "+ts.Listener.Addr().String()+" refused to resize the pool (503 Service Unavailable): the server is shutting down); set it by hand: curl -X PUT")
	assert.NotContains(t, err.Error(), "tune:")
}

// TestTuneStrictHelp: --strict and its exit status are documented.
func TestTuneStrictHelp(t *testing.T) {
	stdout, _, err := runCLI(t, "tune", "--help")
	require.NoError(t, err)
	for _, s := range []string{"--strict", "7 --strict and the recommendation is in doubt", "or at least --clients", "could not be put back"} {
		assert.Contains(t, stdout, s)
	}
}
