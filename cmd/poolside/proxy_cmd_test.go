package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/faults"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

// proxyTestDate is a date the proxy tests book: a year ahead, so never
// in the past.
var proxyTestDate = time.Now().AddDate(1, 0, 0)

// startBookingServer serves the booking protocol in-process on an
// ephemeral port until the test ends, and returns its address.
func startBookingServer(t *testing.T) string {
	t.Helper()
	svc, err := booking.New(booking.NewMemoryStore(), booking.Config{})
	require.NoError(t, err)
	srv, err := server.New(server.Config{Handler: svc, BusyReply: wire.ErrorBlock(wire.MsgBusy)})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
		_ = svc.Close()
	})
	return ln.Addr().String()
}

// lineWriter is a concurrency-safe io.Writer that hands out complete
// lines as they are written.
type lineWriter struct {
	mu      sync.Mutex
	partial strings.Builder
	all     strings.Builder
	lines   chan string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 100)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	for _, b := range p {
		if b != '\n' {
			w.partial.WriteByte(b)
			continue
		}
		select {
		case w.lines <- w.partial.String():
		default:
		}
		w.partial.Reset()
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

// nextLine returns the next complete line written to w, or fails.
func nextLine(t *testing.T, lines <-chan string, what string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		require.True(t, ok, "%s: no more output", what)
		return l
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: nothing printed within 30s", what)
		return ""
	}
}

// proxyRun is "poolside proxy" running in-process through run.
type proxyRun struct {
	addr, api string
	stderr    *lineWriter
	cancel    context.CancelFunc // as SIGINT or SIGTERM would
	done      chan error
}

// startProxyCmd runs "poolside proxy --listen 127.0.0.1:0 args..." through
// run and waits for its address lines. The test's cleanup stops it.
func startProxyCmd(t *testing.T, args ...string) *proxyRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := newLineWriter(), newLineWriter()
	r := &proxyRun{stderr: stderr, cancel: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- run(ctx, append([]string{"proxy", "--listen", "127.0.0.1:0"}, args...), stdout, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("poolside proxy did not stop")
		}
	})
	r.addr = parseProxyLine(t, nextLine(t, stdout.lines, "poolside proxy"))
	if slices.Contains(args, "--api") {
		r.api = parseAPILine(t, nextLine(t, stdout.lines, "poolside proxy --api"))
	}
	return r
}

// stop ends the run as a signal would and returns run's error.
func (r *proxyRun) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("poolside proxy did not stop")
		return nil
	}
}

// parseProxyLine checks the first line of "poolside proxy" and returns the
// address it listens on.
func parseProxyLine(t *testing.T, line string) string {
	t.Helper()
	const prefix = "poolside: proxying "
	require.True(t, strings.HasPrefix(line, prefix), "first line %q", line)
	addr, _, ok := strings.Cut(strings.TrimPrefix(line, prefix), " -> ")
	require.True(t, ok, "first line %q", line)
	return addr
}

// parseAPILine checks the API line and returns the API's URL.
func parseAPILine(t *testing.T, line string) string {
	t.Helper()
	const prefix = "poolside: fault API on "
	require.True(t, strings.HasPrefix(line, prefix), "second line %q", line)
	return strings.TrimPrefix(line, prefix)
}

// callAPI makes one request to the fault API and decodes its JSON reply.
func callAPI(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	require.NoError(t, err)
	// No keep-alive: no idle connection outlives the test (goleak).
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var v map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return resp.StatusCode, v
}

// bookVia books room through addr on a fresh connection.
func bookVia(t *testing.T, addr, room string) error {
	t.Helper()
	c, err := client.Dial(context.Background(), addr, client.Config{ConnPerRequest: true, Timeout: 5 * time.Second})
	require.NoError(t, err)
	defer c.Close()
	return c.Book(context.Background(), room, proxyTestDate)
}

func TestProxyCommand(t *testing.T) {
	upstream := startBookingServer(t)
	r := startProxyCmd(t, "--upstream", upstream, "--down", "chunk=1", "--seed", "7", "--api", "127.0.0.1:0")
	assert.True(t, strings.HasPrefix(r.api, "http://127.0.0.1:"), "API URL %q", r.api)

	require.NoError(t, bookVia(t, r.addr, "101"), "a reply in one-byte pieces still arrives whole")

	code, state := callAPI(t, http.MethodGet, r.api, "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]any{"up": "", "down": "chunk=1", "seed": float64(7)}, state)

	// A CI script flips faults between steps.
	code, state = callAPI(t, http.MethodPut, r.api, `{"down":"cut=10"}`)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "cut=10", state["down"])
	err := bookVia(t, r.addr, "102")
	require.ErrorIs(t, err, client.ErrTruncated, "the 28-byte reply is cut after 10 bytes")

	code, state = callAPI(t, http.MethodPut, r.api, `{"down":"chunk=0"}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, state["error"], "chunk")

	code, state = callAPI(t, http.MethodDelete, r.api, "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "", state["down"])
	require.NoError(t, bookVia(t, r.addr, "103"))

	require.NoError(t, r.stop(t), "a signal is a clean exit")
	assert.Contains(t, r.stderr.String(), "poolside: proxy stopped: 3 connections relayed")
}

func TestProxyCommandDrainsThenCloses(t *testing.T) {
	upstream := startBookingServer(t)
	r := startProxyCmd(t, "--upstream", upstream, "--drain-timeout", "100ms")
	idle, err := net.Dial("tcp", r.addr) // never closes on its own
	require.NoError(t, err)
	t.Cleanup(func() { _ = idle.Close() })
	c := client.New(idle, client.Config{Timeout: 5 * time.Second})
	require.NoError(t, c.Book(context.Background(), "201", proxyTestDate), "the link is up")

	start := time.Now()
	require.NoError(t, r.stop(t))
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Contains(t, r.stderr.String(), "1 connections still open after 100ms; closing them")
	_, err = idle.Read(make([]byte, 1))
	assert.Error(t, err, "the proxy closed the connection")
}

func TestProxyCommandUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--up", "chunk=0"}, `--up "chunk=0": faults: bad spec: token "chunk=0"`},
		{[]string{"--down", "slow=1"}, `unknown fault "slow" (valid: ` + faults.SpecSyntax},
		{[]string{"--down", "cut=1,,reset=2"}, "empty token"},
		{[]string{"--up", "read:cut=1"}, "a proxy fault takes no read:/write: prefix"},
		{[]string{"--upstream", "localhost"}, "Upstream"},
		{[]string{"--upstream", ""}, "Upstream is empty"},
		{[]string{"--listen", "nowhere"}, "Listen"},
		{[]string{"--api", "9501"}, `--api "9501" is not host:port`},
		{[]string{"--drain-timeout", "-1s"}, "--drain-timeout must not be negative"},
		{[]string{"--dial-timeout", "-1s"}, "negative DialTimeout"},
		{[]string{"--seed", "x"}, "invalid argument"},
		{[]string{"extra"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := runCLI(t, append([]string{"proxy"}, tt.args...)...)
			require.Error(t, err)
			assert.Equal(t, exitUsage, exitCode(err), "error: %v", err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestProxyCommandListenFails(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = taken.Close() })
	_, _, err = runCLI(t, "proxy", "--listen", taken.Addr().String())
	require.Error(t, err)
	assert.Equal(t, exitInternal, exitCode(err))
	assert.Contains(t, err.Error(), "cannot listen on --listen "+taken.Addr().String())

	_, _, err = runCLI(t, "proxy", "--listen", "127.0.0.1:0", "--api", taken.Addr().String())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot listen on --api")
}

func TestProxyCommandHelp(t *testing.T) {
	stdout, _, err := runCLI(t, "proxy", "--help")
	require.NoError(t, err)
	tokens, _, _ := strings.Cut(faults.SpecSyntax, ";")
	for _, tok := range strings.Split(tokens, ", ") {
		assert.Contains(t, stdout, strings.TrimSpace(tok))
	}
	for _, flag := range []string{"--listen", "--upstream", "--up ", "--down", "--seed", "--api", "--drain-timeout", "poolside: proxying ADDR -> UPSTREAM"} {
		assert.Contains(t, stdout, flag)
	}
	for _, line := range strings.Split(strings.TrimRight(specHelp(), "\n"), "\n") {
		tok, note, _ := strings.Cut(strings.TrimSpace(line), "  ")
		assert.NotEmpty(t, strings.TrimSpace(note), "fault %q has no explanation in faultHelp", tok)
	}
}

// proxyProcess is a running "poolside proxy" binary.
type proxyProcess struct {
	*process
	addr, api string
}

// startProxyProcess runs the built "poolside proxy --listen 127.0.0.1:0
// args..." and waits for its address lines (two with --api).
func startProxyProcess(t *testing.T, args ...string) *proxyProcess {
	t.Helper()
	p := &proxyProcess{process: startProcess(t, append([]string{"proxy", "--listen", "127.0.0.1:0"}, args...)...)}
	p.addr = parseProxyLine(t, nextLine(t, p.lines, "poolside proxy (process)"))
	if slices.Contains(args, "--api") {
		p.api = parseAPILine(t, nextLine(t, p.lines, "poolside proxy --api (process)"))
	}
	return p
}

// TestProxyCommandProcess runs the built binary: the address lines, the
// API on loopback when its address has no host, traffic through it, and a
// clean exit on SIGINT and on SIGTERM with a connection still open.
func TestProxyCommandProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the proxy as a process")
	}
	upstream := startBookingServer(t)
	for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startProxyProcess(t, "--upstream", upstream, "--api", ":0", "--up", "chunk=2", "--drain-timeout", "200ms")
			assert.True(t, strings.HasPrefix(p.api, "http://127.0.0.1:"), "an --api without a host is loopback: %q", p.api)
			require.NoError(t, bookVia(t, p.addr, []string{"301", "302"}[i]))
			code, state := callAPI(t, http.MethodGet, p.api, "")
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, "chunk=2", state["up"])

			open, err := net.Dial("tcp", p.addr)
			require.NoError(t, err)
			t.Cleanup(func() { _ = open.Close() })

			require.NoError(t, p.cmd.Process.Signal(sig))
			select {
			case <-p.exited:
			case <-time.After(30 * time.Second):
				t.Fatalf("poolside proxy did not exit after %v", sig)
			}
			require.NoError(t, p.err, "exit status; stderr: %s", p.stderr)
			_, err = io.ReadAll(open)
			if err != nil {
				assert.True(t, errors.Is(err, syscall.ECONNRESET), "the open connection is closed: %v", err)
			}
		})
	}
}
