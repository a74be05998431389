package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image"
	_ "image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks"
)

// quickBench are flags that keep a bench run to a fraction of a second.
var quickBench = []string{"bench", "--clients", "4", "--duration", "200ms", "--warmup", "20ms"}

func TestBenchWritesReports(t *testing.T) {
	dir := t.TempDir()
	for _, chart := range []string{"chart.png", "chart.svg"} {
		t.Run(chart, func(t *testing.T) {
			js, cs, ch := filepath.Join(dir, chart+".json"), filepath.Join(dir, chart+".csv"), filepath.Join(dir, chart)
			args := append(append([]string{}, quickBench...), "--models", "serial,pool:4", "--work-delay", "2ms",
				"--json", js, "--csv", cs, "--chart", ch)
			stdout, stderr, err := runCLI(t, args...)
			require.NoError(t, err, stderr)

			lines := strings.Split(stdout, "\n")
			require.GreaterOrEqual(t, len(lines), 3, stdout)
			for _, col := range []string{"model", "workers", "req/s", "speed-up", "p50", "p99", "p99.9", "errors", "CPU µs/req"} {
				assert.Contains(t, lines[0], col)
			}
			assert.Equal(t, []string{"serial", "1"}, strings.Fields(lines[1])[:2])
			assert.Equal(t, []string{"pool:4", "4"}, strings.Fields(lines[2])[:2])
			assert.Contains(t, stdout, "Little", "the notes explain the in-flight figures")
			for _, f := range []string{js, cs, ch} {
				assert.Contains(t, stderr, "wrote "+f)
			}

			data, err := os.ReadFile(js)
			require.NoError(t, err)
			var doc struct {
				Results []struct {
					Model   string   `json:"model"`
					Workers *int     `json:"workers"`
					RPS     *float64 `json:"rps"`
					P50     *float64 `json:"p50_ms"`
					P99     *float64 `json:"p99_ms"`
					P999    *float64 `json:"p999_ms"`
					Errors  *int64   `json:"errors"`
				} `json:"results"`
				Env map[string]any `json:"env"`
			}
			require.NoError(t, json.Unmarshal(data, &doc))
			require.Len(t, doc.Results, 2)
			for i, want := range []string{"serial", "pool:4"} {
				r := doc.Results[i]
				assert.Equal(t, want, r.Model)
				require.NotNil(t, r.Workers)
				require.NotNil(t, r.RPS)
				require.NotNil(t, r.P50)
				require.NotNil(t, r.P99)
				require.NotNil(t, r.P999)
				require.NotNil(t, r.Errors)
				assert.Positive(t, *r.RPS)
				assert.Zero(t, *r.Errors)
			}
			assert.EqualValues(t, 4, doc.Env["clients"])

			data, err = os.ReadFile(cs)
			require.NoError(t, err)
			assert.Len(t, strings.Split(strings.TrimSpace(string(data)), "\n"), 3)

			data, err = os.ReadFile(ch)
			require.NoError(t, err)
			if strings.HasSuffix(ch, ".png") {
				img, _, err := image.Decode(bytes.NewReader(data))
				require.NoError(t, err)
				assert.Greater(t, img.Bounds().Dx(), 100)
			} else {
				dec := xml.NewDecoder(bytes.NewReader(data))
				for {
					_, err := dec.Token()
					if errors.Is(err, io.EOF) {
						break
					}
					require.NoError(t, err)
				}
				assert.Contains(t, string(data), "<svg")
			}
		})
	}
}

func TestBenchOpenLoopAgainstAddr(t *testing.T) {
	ls, err := benchmarks.StartServer(benchmarks.ServerConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { ls.Close() })
	args := append(append([]string{}, quickBench...), "--addr", ls.Addr(), "--rate", "200", "--conn-per-request")
	stdout, stderr, err := runCLI(t, args...)
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, "uncorrected")
	assert.Contains(t, stdout, ls.Addr())
	assert.Contains(t, stdout, "open loop at 200 req/s")
	assert.Contains(t, stdout, "load generator only")
}

func TestBenchUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"argument", []string{"bench", "now"}},
		{"unknown flag", []string{"bench", "--threads", "4"}},
		{"no clients", []string{"bench", "--clients", "0"}},
		{"negative rate", []string{"bench", "--rate", "-1"}},
		{"infinite rate", []string{"bench", "--rate", "Inf"}},
		{"NaN rate", []string{"bench", "--rate", "NaN"}},
		{"rate too high", []string{"bench", "--rate", "2e9"}},
		{"zero duration", []string{"bench", "--duration", "0s"}},
		{"negative warm-up", []string{"bench", "--warmup", "-1s"}},
		{"zero timeout", []string{"bench", "--timeout", "0s"}},
		{"zero repeat", []string{"bench", "--repeat", "0"}},
		{"unknown model", []string{"bench", "--models", "serial,threads"}},
		{"no models", []string{"bench", "--models", ","}},
		{"bad worker count", []string{"bench", "--models", "pool:0"}},
		{"bad store", []string{"bench", "--store", "tape"}},
		{"bad mix", []string{"bench", "--mix", "nap=1"}},
		{"chart format", []string{"bench", "--chart", "out.gif"}},
		{"bad addr", []string{"bench", "--addr", "nowhere"}},
		{"addr with work delay", []string{"bench", "--addr", "127.0.0.1:9407", "--work-delay", "1ms"}},
		{"addr with models", []string{"bench", "--addr", "127.0.0.1:9407", "--models", "serial"}},
		{"negative queue", []string{"bench", "--queue", "-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := runCLI(t, tc.args...)
			require.Error(t, err)
			assert.Equal(t, exitUsage, exitCode(err), err)
			assert.Empty(t, stdout)
		})
	}
}

func TestBenchUnreachable(t *testing.T) {
	// A port that was just free: nothing listens there.
	ls, err := benchmarks.StartServer(benchmarks.ServerConfig{})
	require.NoError(t, err)
	addr := ls.Addr()
	require.NoError(t, ls.Close())
	_, _, err = runCLI(t, append(append([]string{}, quickBench...), "--addr", addr)...)
	require.Error(t, err)
	assert.Equal(t, exitNetwork, exitCode(err))
}

func TestBenchHelp(t *testing.T) {
	stdout, _, err := runCLI(t, "bench", "--help")
	require.NoError(t, err)
	for _, s := range []string{"--models", "--rate", "--conn-per-request", "--work-delay", "--json", "--chart", "coordinated", "Examples:", "poolside bench --models serial,pool:16"} {
		assert.Contains(t, stdout, s)
	}
}

// streams records the order of writes to stdout and stderr.
type streams struct {
	mu     sync.Mutex
	writes []string // "out" or "err", one per write
	out    bytes.Buffer
}

type streamWriter struct {
	s    *streams
	name string
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.s.writes = append(w.s.writes, w.name)
	if w.name == "out" {
		w.s.out.Write(p)
	}
	return len(p), nil
}

// errAfterOut reports whether stderr was written after stdout was
// first written.
func (s *streams) errAfterOut() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	seenOut := false
	for _, w := range s.writes {
		switch {
		case w == "out":
			seenOut = true
		case seenOut:
			return true
		}
	}
	return false
}

// withProgress makes the commands draw their progress bar on any stderr,
// as they do on a terminal, for the rest of the test.
func withProgress(t *testing.T) {
	t.Helper()
	old := showProgress
	showProgress = func(io.Writer) bool { return true }
	t.Cleanup(func() { showProgress = old })
}

func TestProgressClearedBeforeOutput(t *testing.T) {
	withProgress(t)
	// Both runs end well before the bar's expected time, as a bench
	// capped by --max-requests and a search that needs fewer steps than
	// --max-steps do, so the bar is still drawn when the report is ready.
	for _, args := range [][]string{
		{"bench", "--clients", "2", "--duration", "5s", "--warmup", "0s", "--max-requests", "20", "--models", "serial,pool:4"},
		{"tune", "--clients", "1", "--step", "150ms", "--settle", "0s", "--max-steps", "12"},
	} {
		t.Run(args[0], func(t *testing.T) {
			s := &streams{}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, args, streamWriter{s, "out"}, streamWriter{s, "err"})
			require.NoError(t, err)
			require.Contains(t, s.writes, "err", "the progress bar was drawn")
			require.NotEmpty(t, s.out.String())
			assert.False(t, s.errAfterOut(), "the progress bar was written to after the report began: %v", s.writes)
		})
	}
}
