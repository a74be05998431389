package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	_ "image/png"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/benchmarks/tune"
	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/faults"
	"github.com/poolside-dev/poolside/internal/wiretest"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
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
	withJournalDir(t)
	ls, err := load.StartServer(load.ServerConfig{})
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
		{"rate too low to schedule", []string{"bench", "--rate", "1e-10", "--duration", "1s", "--warmup", "0s"}},
		{"rate slower than the window", []string{"bench", "--rate", "0.5", "--duration", "1s", "--warmup", "0s"}},
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

// TestBenchUnreachable: with nothing listening at --addr, bench fails
// with a network error (exit status 3) saying what to check, whether it
// keeps connections or dials one per request (where every request then
// fails to connect, and no table of failures is printed).
func TestBenchUnreachable(t *testing.T) {
	withJournalDir(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"persistent", nil},
		{"conn per request", []string{"--conn-per-request"}},
		{"conn per request, open loop", []string{"--conn-per-request", "--rate", "500"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append(append([]string{}, quickBench...), "--addr", addr, "--max-requests", "200"), tc.extra...)
			stdout, _, err := runCLI(t, args...)
			require.Error(t, err)
			assert.Equal(t, exitNetwork, exitCode(err), err)
			assert.Empty(t, stdout)
			assert.Contains(t, err.Error(), "could not connect to "+addr+": connection refused")
			assert.Contains(t, err.Error(), "is the server running?")
		})
	}
}

// A server that accepts and then drops every connection: every request
// fails after connecting, and a script must see the bench fail.
func TestBenchNothingSucceeded(t *testing.T) {
	withJournalDir(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	args := append(append([]string{}, quickBench...), "--addr", ln.Addr().String(), "--conn-per-request", "--max-requests", "50")
	stdout, _, err := runCLI(t, args...)
	require.Error(t, err)
	assert.Equal(t, exitInternal, exitCode(err), err)
	assert.Contains(t, err.Error(), "not one request succeeded")
	assert.NotContains(t, err.Error(), "stopped", "the run was not stopped")
	assert.Contains(t, stdout, ln.Addr().String(), "the report is printed first")
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

// TestBenchChecksOutputsFirst: an output file that cannot be written is a
// usage error found before any load runs, not after the whole bench; and
// the check leaves nothing behind.
func TestBenchChecksOutputsFirst(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	same := filepath.Join(dir, "same")
	for _, tc := range []struct {
		name string
		args []string
		msg  []string
	}{
		{"json in a missing directory", []string{"--json", filepath.Join(dir, "missing", "x.json")},
			[]string{"--json " + filepath.Join(dir, "missing", "x.json"), "does not exist"}},
		{"csv is a directory", []string{"--csv", dir}, []string{"--csv " + dir, "is a directory"}},
		{"chart under a file", []string{"--chart", filepath.Join(file, "x.png")},
			[]string{"--chart " + filepath.Join(file, "x.png"), "not a directory"}},
		{"one file twice", []string{"--json", same, "--csv", same}, []string{"--json and --csv both name " + same}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A long window: only a check before the load keeps this quick.
			args := append([]string{"bench", "--clients", "1", "--duration", "1h", "--warmup", "0s", "--models", "serial"}, tc.args...)
			stdout, _, err := runCLI(t, args...)
			require.Error(t, err)
			assert.Equal(t, exitUsage, exitCode(err), err)
			assert.Empty(t, stdout)
			for _, m := range tc.msg {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the file the test made: %v", entries)
}

// TestBenchFailedRunLeavesNoFiles: when the bench fails, the files its
// flags name are not created, not even empty.
func TestBenchFailedRunLeavesNoFiles(t *testing.T) {
	withJournalDir(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	dir := t.TempDir()
	_, _, err = runCLI(t, append(append([]string{}, quickBench...), "--addr", addr,
		"--json", filepath.Join(dir, "b.json"), "--csv", filepath.Join(dir, "b.csv"), "--chart", filepath.Join(dir, "b.png"))...)
	require.Error(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

// acceptHook is a listener that calls onAccept with the number of
// connections accepted so far, each time it accepts one.
type acceptHook struct {
	net.Listener
	n        atomic.Int64
	onAccept func(n int64)
}

func (l *acceptHook) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.onAccept(l.n.Add(1))
	}
	return c, err
}

// TestBenchInterruptedKeepsFinishedRounds: interrupted in its second
// round, bench still prints and writes what the first round measured,
// marked incomplete, and exits with the interrupted status.
func TestBenchInterruptedKeepsFinishedRounds(t *testing.T) {
	withJournalDir(t)
	ls, err := load.StartServer(load.ServerConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { ls.Close() })

	// Every round connects its clients afresh, so the first connection
	// past the first round's clients means that round 2 has begun: the
	// interrupt comes then, through a proxy that counts connections.
	const clients = 2
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	proxy, err := faults.NewProxy(faults.Config{Upstream: ls.Addr()})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	served := make(chan error, 1)
	go func() {
		served <- proxy.Serve(&acceptHook{Listener: ln, onAccept: func(n int64) {
			if n == clients+1 {
				cancel()
			}
		}})
	}()
	t.Cleanup(func() {
		proxy.Close()
		<-served
	})

	dir := t.TempDir()
	js, cs := filepath.Join(dir, "b.json"), filepath.Join(dir, "b.csv")
	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"bench", "--addr", addr, "--clients", strconv.Itoa(clients), "--repeat", "3",
		"--warmup", "0s", "--duration", "1m", "--max-requests", "20", "--json", js, "--csv", cs}, &stdout, &stderr)
	require.Error(t, err)
	require.ErrorIs(t, err, context.Canceled, "the interrupt, not the test's timeout")
	assert.Equal(t, exitInternal, exitCode(err))
	assert.Contains(t, err.Error(), "interrupted in round 2 of 3")

	lines := strings.Split(stdout.String(), "\n")
	require.GreaterOrEqual(t, len(lines), 2, stdout.String())
	assert.Equal(t, "rounds", strings.Fields(lines[0])[len(strings.Fields(lines[0]))-1], lines[0])
	row := strings.Fields(lines[1])
	assert.Equal(t, addr, row[0])
	assert.Equal(t, "1/3", row[len(row)-1])
	assert.Contains(t, stdout.String(), "incomplete: stopped in round 2 of 3")
	assert.Contains(t, stderr.String(), "wrote "+js)
	assert.Contains(t, stderr.String(), "wrote "+cs)

	data, err := os.ReadFile(js)
	require.NoError(t, err)
	var doc struct {
		Complete *bool `json:"complete"`
		Results  []struct {
			Rounds int     `json:"rounds"`
			RPS    float64 `json:"rps"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	require.NotNil(t, doc.Complete)
	assert.False(t, *doc.Complete)
	require.Len(t, doc.Results, 1)
	assert.Equal(t, 1, doc.Results[0].Rounds)
	assert.Positive(t, doc.Results[0].RPS)

	data, err = os.ReadFile(cs)
	require.NoError(t, err)
	assert.Len(t, strings.Split(strings.TrimSpace(string(data)), "\n"), 2)
}

// TestConnectFailureMessage: the message of a load that could not connect
// gives the heart of the dialer's error, or the timeout, and what to check.
func TestConnectFailureMessage(t *testing.T) {
	dial := func(err error) error {
		return fmt.Errorf("benchmarks: client 1 of 4: %w to 127.0.0.1:1: %w", client.ErrConnect, err)
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"refused", dial(refused), "could not connect to 127.0.0.1:1: connection refused — is the server running?"},
		{"timeout", dial(os.ErrDeadlineExceeded), "could not connect to 127.0.0.1:1 within 2s (--timeout) — is the server running, and is the address right?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := connectFailure("127.0.0.1:1", 2*time.Second, tc.err)
			assert.Equal(t, tc.want, err.Error())
			assert.Equal(t, exitNetwork, exitCode(err))
			assert.ErrorIs(t, err, client.ErrConnect)
		})
	}
}

// TestBenchRateMessages: a rate too low for the window says what to
// change, in terms of the flags.
func TestBenchRateMessages(t *testing.T) {
	_, _, err := runCLI(t, "bench", "--rate", "0.5", "--duration", "1s")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--rate 0.5 sends one request every 2s, longer than the 1s measured (--duration)")
	assert.Contains(t, err.Error(), "raise --rate to at least 1, or --duration to at least 2s")
	_, _, err = runCLI(t, "bench", "--rate", "1e-10")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--rate 1e-10 schedules one request every 317 years")
}

// TestBenchStarvedClients: with more clients than the conn model has
// workers, the clients left without a worker get no reply in the whole
// window; the report says how many, and the run does not wait out the
// 10s request timeout for them.
func TestBenchStarvedClients(t *testing.T) {
	js := filepath.Join(t.TempDir(), "b.json")
	stdout, stderr, err := runCLI(t, "bench", "--models", "conn:2", "--clients", "4", "--work-delay", "2ms",
		"--duration", "200ms", "--warmup", "20ms", "--json", js)
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, "(2 got no reply)")
	assert.Contains(t, stdout, "warning: 2 of the 4 clients got no reply in the whole measured window")
	data, err := os.ReadFile(js)
	require.NoError(t, err)
	var doc struct {
		Results []struct {
			Starved int `json:"starved_clients"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	require.Len(t, doc.Results, 1)
	assert.Equal(t, 2, doc.Results[0].Starved)
}

// TestBenchNoReply: against an address that accepts connections and
// never answers, bench says that the address may not be a Building
// Services server, soon after the window rather than after the request
// timeout, with the network exit status.
func TestBenchNoReply(t *testing.T) {
	withJournalDir(t)
	addr := wiretest.SilentServer(t)
	stdout, _, err := runCLI(t, "bench", "--addr", addr, "--clients", "2", "--duration", "200ms", "--warmup", "0s")
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "the run waited out the request timeout")
	assert.Equal(t, exitNetwork, exitCode(err), err)
	assert.Empty(t, stdout)
	assert.Contains(t, err.Error(), "no reply from "+addr+" in the 200ms measured (--duration)")
	assert.Contains(t, err.Error(), "is "+addr+" a Building Services server")
	assert.Contains(t, err.Error(), "--timeout (10s)")
}

// TestTooManyFilesMessage: running out of file descriptors while
// connecting the clients is this machine's limit, not an unreachable
// server: the message says to lower --clients or raise ulimit -n.
func TestTooManyFilesMessage(t *testing.T) {
	emfile := fmt.Errorf("%w: client 1021 of 100000: %w to 127.0.0.1:1: %w", load.ErrUnreachable, client.ErrConnect,
		&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)})
	err := benchFailure(context.Background(), benchFlags{loadFlags: loadFlags{clients: 100000}}, nil, emfile)
	require.Error(t, err)
	assert.Equal(t, exitInternal, exitCode(err))
	assert.ErrorIs(t, err, syscall.EMFILE)
	assert.Contains(t, err.Error(), "too many open files")
	assert.Contains(t, err.Error(), "--clients 100000 needs two files for each client's connection")
	assert.Contains(t, err.Error(), "lower --clients, or raise the limit (ulimit -n)")
	assert.NotContains(t, err.Error(), "is the server running")
}

// TestProgressFillsAtTheEnd: a bench and a search that end before the
// bar's first estimate still draw it full, then clear it.
func TestProgressFillsAtTheEnd(t *testing.T) {
	withProgress(t)
	for _, args := range [][]string{
		{"bench", "--clients", "2", "--duration", "5s", "--warmup", "0s", "--max-requests", "20", "--models", "serial"},
		{"tune", "--clients", "2", "--step", "100ms", "--settle", "0s", "--max-steps", "12"},
	} {
		t.Run(args[0], func(t *testing.T) {
			stdout, stderr, err := runCLI(t, args...)
			require.NoError(t, err, stderr)
			require.NotEmpty(t, stdout)
			assert.Contains(t, stderr, "100%", "the bar was drawn full")
			assert.True(t, strings.HasSuffix(stderr, "\r"), "the bar was cleared: %q", stderr[max(0, len(stderr)-40):])
		})
	}
}

// TestTuneProgressRescales: as the search's estimate of the steps left
// narrows, the bar shortens, so that the last step ends it.
func TestTuneProgressRescales(t *testing.T) {
	var buf bytes.Buffer
	cfg := &tune.LocalConfig{Config: tune.Config{MaxSteps: 12, StepDuration: time.Second, Settle: tune.NoSettle}}
	p, step := startTuneProgress(t.Context(), cfg, &buf)
	defer p.stop(false)
	for _, s := range []tune.Progress{
		{Index: 1, Left: 11, Workers: 1, Phase: tune.PhaseProbe},
		{Index: 2, Left: 6, Workers: 8, Phase: tune.PhaseSeed},
		{Index: 3, Left: 7, Workers: 16, Phase: tune.PhaseUp}, // an estimate that grows does not grow the bar
		{Index: 4, Left: 1, Workers: 6, Phase: tune.PhaseBisect},
		{Index: 5, Left: 0, Workers: 7, Phase: tune.PhaseBisect},
	} {
		s.MaxSteps, s.Expected = 12, time.Second
		step(s)
		p.mu.Lock()
		total, done := p.total, p.done
		p.mu.Unlock()
		assert.Equal(t, time.Duration(s.Index-1)*time.Second, done)
		switch s.Index {
		case 1:
			assert.Equal(t, 12*time.Second, total)
		case 3:
			assert.Equal(t, 8*time.Second, total, "as at step 2")
		default:
			assert.Equal(t, time.Duration(s.Index+s.Left)*time.Second, total, "step %d", s.Index)
		}
	}
}

// withJournalDir makes bench and tune keep their journals in a directory
// of the test's for the rest of the test, and returns it.
func withJournalDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "journals")
	old := journalDir
	journalDir = func() string { return dir }
	t.Cleanup(func() { journalDir = old })
	return dir
}

// liveServer is a Building Services server whose bbolt store holds a
// user's real bookings, as a long-running "poolside serve" would, with
// its admin API: the booking service on a file in the test's directory,
// behind a pooled server on loopback. It counts the BOOKs it is sent.
type liveServer struct {
	svc         *booking.Service
	ls          *load.LocalServer
	addr, admin string
	real        map[string][]wire.Date // room -> dates, ascending
	books       atomic.Int64
	onBook      atomic.Pointer[func(n int64)] // if set, called with the count of BOOKs so far, before each is served
}

// startLiveServer starts a liveServer whose service takes bookings up to
// horizon days ahead (0: the default), holding real bookings near today
// and on the last days of the horizon, the last one fully booked.
func startLiveServer(t *testing.T, horizon int) *liveServer {
	t.Helper()
	st, err := booking.OpenBolt(filepath.Join(t.TempDir(), "poolside.db"), booking.BoltOptions{})
	require.NoError(t, err)
	svc, err := booking.New(st, booking.Config{Horizon: horizon})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	if horizon == 0 {
		horizon = booking.DefaultHorizon
	}
	s := &liveServer{svc: svc, real: map[string][]wire.Date{}}
	today := wire.FromTime(time.Now())
	last := today + wire.Date(horizon)
	real := []struct {
		room string
		date wire.Date
	}{
		{"312", today}, {"312", today + 1}, {"101", today + 3}, {"934", today + 3}, {"022", today + 20},
		{"001", last - 1}, {"312", last - 1},
	}
	for _, room := range []string{"105", "312", "534", "803", "934"} {
		real = append(real, struct {
			room string
			date wire.Date
		}{room, last})
	}
	for _, b := range real {
		rep := svc.Handle(t.Context(), wire.Request{Action: wire.ActionBook, Room: b.room, Date: b.date})
		require.NotEqual(t, wire.ActionError, rep.Action, rep.Message)
		s.real[b.room] = append(s.real[b.room], b.date)
	}
	for _, dates := range s.real {
		slices.Sort(dates)
	}
	s.ls, err = load.StartServer(load.ServerConfig{Model: load.ModelSpec{Model: server.ModelPool, Workers: 4}, Handler: s})
	require.NoError(t, err)
	t.Cleanup(func() { s.ls.Close() })
	ts := httptest.NewServer(server.AdminHandler(s.ls.Server()))
	t.Cleanup(ts.Close)
	s.addr, s.admin = s.ls.Addr(), ts.Listener.Addr().String()
	return s
}

// setOnBook sets the function called before each BOOK is served.
func (s *liveServer) setOnBook(f func(n int64)) { s.onBook.Store(&f) }

// ServeFrame implements server.Handler: it counts BOOKs, then serves.
func (s *liveServer) ServeFrame(ctx context.Context, block []byte) []byte {
	var req wire.Request
	if req.UnmarshalBinary(block) == nil && req.Action == wire.ActionBook {
		n := s.books.Add(1)
		if f := s.onBook.Load(); f != nil {
			(*f)(n)
		}
	}
	return s.svc.ServeFrame(ctx, block)
}

// checkRooms asks addr for the bookings of each of the building's 340
// rooms (BOOKINGSFORROOM) and asserts that they are exactly the real
// ones.
func (s *liveServer) checkRooms(t *testing.T, addr string) {
	t.Helper()
	c, err := client.Dial(t.Context(), addr, client.Config{Timeout: 5 * time.Second})
	require.NoError(t, err)
	defer c.Close()
	got := map[string][]wire.Date{}
	for floor := 0; floor <= 9; floor++ {
		for n := 1; n <= 34; n++ {
			room := fmt.Sprintf("%d%02d", floor, n)
			dates, err := c.BookingsForRoom(t.Context(), room)
			require.NoError(t, err, room)
			for _, d := range dates {
				got[room] = append(got[room], wire.FromTime(d))
			}
		}
	}
	assert.Equal(t, s.real, got, "BOOKINGSFORROOM of every room lists exactly the real bookings")
}

// TestBenchAndTuneLeaveRealBookings is the acceptance test of issue 12:
// "poolside bench --addr" and "poolside tune --addr --admin" against a
// bolt server that holds real bookings leave exactly the real bookings
// behind, each run's clean-up saying so; they book inside the server's
// horizon, a short one included.
func TestBenchAndTuneLeaveRealBookings(t *testing.T) {
	for _, horizon := range []int{0, 30} {
		t.Run(fmt.Sprintf("horizon %d", horizon), func(t *testing.T) {
			dir := withJournalDir(t)
			s := startLiveServer(t, horizon)
			js := filepath.Join(t.TempDir(), "bench.json")
			stdout, stderr, err := runCLI(t, "bench", "--addr", s.addr, "--clients", "4", "--duration", "300ms", "--warmup", "50ms", "--json", js)
			require.NoError(t, err, stderr)
			assert.Contains(t, stdout, "clean-up: the run made ")
			assert.Contains(t, stdout, "nothing it booked is left")
			var doc struct {
				Results []struct {
					Errors int64 `json:"errors"`
				} `json:"results"`
			}
			data, err := os.ReadFile(js)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(data, &doc))
			require.Len(t, doc.Results, 1)
			assert.Zero(t, doc.Results[0].Errors, "every booking stays inside the horizon")
			s.checkRooms(t, s.addr)

			stdout, stderr, err = runCLI(t, append(append([]string{}, quickTune...), "--addr", s.addr, "--admin", s.admin)...)
			require.NoError(t, err, stderr)
			assert.Contains(t, stdout, "the pool at "+s.addr+" was put back to 4 workers")
			assert.Contains(t, stdout, "nothing it booked is left")
			s.checkRooms(t, s.addr)
			assert.Positive(t, s.books.Load())
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "no journal is left")
		})
	}
}

// TestBenchInterruptedCleansUp: interrupted in the middle of its load, as
// with Ctrl-C, bench still unbooks what the run made before it exits, and
// says so.
func TestBenchInterruptedCleansUp(t *testing.T) {
	withJournalDir(t)
	s := startLiveServer(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s.setOnBook(func(n int64) {
		if n == 150 {
			cancel()
		}
	})
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"bench", "--addr", s.addr, "--clients", "4", "--duration", "1m", "--warmup", "0s"}, &stdout, &stderr)
	require.ErrorIs(t, err, context.Canceled, "the interrupt, not the test's timeout")
	assert.Equal(t, exitInternal, exitCode(err))
	assert.Contains(t, err.Error(), "interrupted")
	assert.Contains(t, stdout.String(), "nothing it booked is left")
	s.checkRooms(t, s.addr)
}

// TestBenchServerGoneThenCleanup: when the server goes away in the middle
// of a run, bench lists the bookings it could not unbook and fails; once
// the server is back, "bench --cleanup" unbooks them from the journal.
func TestBenchServerGoneThenCleanup(t *testing.T) {
	dir := withJournalDir(t)
	s := startLiveServer(t, 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	proxy := startRelay(t, s.addr, ln)
	var once sync.Once
	s.setOnBook(func(n int64) {
		if n == 100 {
			once.Do(func() { go proxy.Close() })
		}
	})
	stdout, _, err := runCLI(t, "bench", "--addr", addr, "--clients", "4", "--duration", "500ms", "--warmup", "0s", "--timeout", "1s")
	require.Error(t, err)
	assert.Equal(t, exitInternal, exitCode(err), err)
	assert.Contains(t, err.Error(), "the run left ")
	assert.Contains(t, err.Error(), "run 'poolside bench --cleanup' once the server answers")
	assert.Contains(t, stdout, "which may still be there:\n  room ")
	assert.Contains(t, stdout, "could not connect: connection refused")
	assert.Contains(t, stdout, "they are listed in "+dir)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "the journal is kept")

	ln2, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	startRelay(t, s.addr, ln2)
	stdout, stderr, err := runCLI(t, "bench", "--cleanup")
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, addr+": unbooked ")
	assert.Contains(t, stdout, "bookings a killed run left")
	s.checkRooms(t, s.addr)
	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)

	stdout, _, err = runCLI(t, "bench", "--cleanup", "--addr", addr)
	require.NoError(t, err)
	assert.Contains(t, stdout, "nothing to clean up")
}

// startRelay relays ln to upstream until the test ends: a server that can
// be made to go away (Close) and come back at the same address.
func startRelay(t *testing.T, upstream string, ln net.Listener) *faults.Proxy {
	t.Helper()
	p, err := faults.NewProxy(faults.Config{Upstream: upstream})
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	t.Cleanup(func() {
		p.Close()
		<-served
	})
	return p
}

// TestReadOnly: with --read-only, bench and tune send queries only.
func TestReadOnly(t *testing.T) {
	dir := withJournalDir(t)
	s := startLiveServer(t, 0)
	before := s.svc.Stats()
	stdout, stderr, err := runCLI(t, "bench", "--addr", s.addr, "--read-only", "--clients", "2", "--duration", "200ms", "--warmup", "0s")
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, "mix book=0,unbook=0,ondate=1,forroom=1")
	assert.NotContains(t, stdout, "clean-up")
	_, stderr, err = runCLI(t, append(append([]string{}, quickTune...), "--addr", s.addr, "--admin", s.admin, "--read-only")...)
	require.NoError(t, err, stderr)
	after := s.svc.Stats()
	assert.Equal(t, before.Book, after.Book, "no BOOK")
	assert.Equal(t, before.Unbook, after.Unbook, "no UNBOOK")
	assert.Greater(t, after.BookingsOnDate, before.BookingsOnDate)
	assert.Greater(t, after.BookingsForRoom, before.BookingsForRoom)
	s.checkRooms(t, s.addr)
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "no journal")

	for _, cmd := range []string{"bench", "tune"} {
		_, _, err := runCLI(t, cmd, "--read-only", "--mix", "book=1,ondate=1")
		require.Error(t, err)
		assert.Equal(t, exitUsage, exitCode(err))
		assert.Contains(t, err.Error(), "--read-only sends only queries")
	}
	stdout, _, err = runCLI(t, "bench", "--help")
	require.NoError(t, err)
	assert.Contains(t, stdout, "--read-only")
	assert.Contains(t, stdout, "poolside bench --cleanup")
}

// TestBenchCleanupUsage: --cleanup runs no load, so load flags are
// refused.
func TestBenchCleanupUsage(t *testing.T) {
	withJournalDir(t)
	_, _, err := runCLI(t, "bench", "--cleanup", "--clients", "4")
	require.Error(t, err)
	assert.Equal(t, exitUsage, exitCode(err))
	assert.Contains(t, err.Error(), "--cleanup runs no load, so --clients does not apply")
}

// TestBenchKilledThenCleanup: a bench killed with SIGKILL in the middle of
// its load cannot clean up after itself; "bench --cleanup" unbooks what it
// left, from the journal it kept in the user's cache directory.
func TestBenchKilledThenCleanup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the poolside binary")
	}
	if runtime.GOOS == "windows" {
		t.Skip("no SIGKILL")
	}
	home := t.TempDir()
	cache := filepath.Join(home, "cache")
	dir := filepath.Join(cache, "poolside") // os.UserCacheDir of the child, then poolside
	if runtime.GOOS == "darwin" {
		dir = filepath.Join(home, "Library", "Caches", "poolside")
	}
	old := journalDir
	journalDir = func() string { return dir }
	t.Cleanup(func() { journalDir = old })

	s := startLiveServer(t, 0)
	booked := make(chan struct{})
	var once sync.Once
	s.setOnBook(func(n int64) {
		if n == 200 {
			once.Do(func() { close(booked) })
		}
	})
	cmd := exec.Command(poolsideBinary(t), "bench", "--addr", s.addr, "--clients", "4", "--duration", "1m", "--warmup", "0s")
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+cache, "HOME="+home)
	p := startCommand(t, cmd)
	select {
	case <-booked:
	case <-p.exited:
		t.Fatalf("bench exited before it booked: %v\n%s", p.err, p.stderr.String())
	case <-time.After(time.Minute):
		t.Fatal("bench did not book")
	}
	require.NoError(t, p.cmd.Process.Kill())
	p.wait(t, "SIGKILL")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "the killed run's journal")

	stdout, stderr, err := runCLI(t, "bench", "--cleanup", "--addr", s.addr)
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, s.addr+": unbooked ")
	assert.Contains(t, stdout, "nothing it booked is left")
	s.checkRooms(t, s.addr)
	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

// TestBenchJournalUnwritable: against --addr a run that cannot keep its
// journal does not book; it says where and what to do.
func TestBenchJournalUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	old := journalDir
	journalDir = func() string { return filepath.Join(file, "poolside") }
	t.Cleanup(func() { journalDir = old })
	s := startLiveServer(t, 0)
	stdout, _, err := runCLI(t, "bench", "--addr", s.addr, "--clients", "2", "--duration", "200ms", "--warmup", "0s")
	require.Error(t, err)
	assert.Equal(t, exitInternal, exitCode(err), err)
	assert.Empty(t, stdout)
	assert.Contains(t, err.Error(), "could not keep the journal of the run's bookings in "+filepath.Join(file, "poolside"))
	assert.Contains(t, err.Error(), "not a directory")
	assert.Contains(t, err.Error(), "set XDG_CACHE_HOME")
	assert.NotContains(t, err.Error(), "load:", "no Go error chain")
	t.Log(err)
	assert.Zero(t, s.books.Load(), "nothing was booked")
}
