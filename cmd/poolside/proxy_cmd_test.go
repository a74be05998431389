package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
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

// callAPI makes one request to the fault API, as curl would with
// -H 'Content-Type: application/json' when there is a body, and decodes
// its JSON reply.
func callAPI(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	var header map[string]string
	if body != "" {
		header = map[string]string{"Content-Type": "application/json"}
	}
	return apiRequest(t, method, url, header, body)
}

// apiRequest makes one request to the fault API with the given headers
// ("Host" sets the Host header) and decodes its JSON reply.
func apiRequest(t *testing.T, method, url string, header map[string]string, body string) (int, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	// No keep-alive: no idle connection outlives the test (goleak).
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
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
	saved, err := json.Marshal(state)
	require.NoError(t, err)
	code, again := callAPI(t, http.MethodPut, r.api, string(saved))
	assert.Equal(t, http.StatusOK, code, "what GET gives can be PUT back: %v", again)
	assert.Equal(t, state, again)
	code, again = callAPI(t, http.MethodPut, r.api, `{"down":"read:cut=1"}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, `"down": faults: bad spec: token "read:cut=1": drop the "read:" prefix ("down" already says which bytes the fault acts on)`, again["error"])

	// A CI script flips faults between steps.
	code, state = callAPI(t, http.MethodPut, r.api, `{"down":"cut=10"}`)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "cut=10", state["down"])
	err = bookVia(t, r.addr, "102")
	require.ErrorIs(t, err, client.ErrTruncated, "the 28-byte reply is cut after 10 bytes")
	assert.Contains(t, r.stderr.String(), `poolside: faults changed on every connection: up faults were "", now ""; down faults were "chunk=1", now "cut=10"`,
		"a change is logged with what it replaced")

	code, state = callAPI(t, http.MethodPut, r.api, `{"down":"chunk=0"}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, state["error"], "chunk")

	code, state = callAPI(t, http.MethodDelete, r.api, "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "", state["down"])
	require.NoError(t, bookVia(t, r.addr, "103"))

	require.NoError(t, r.stop(t), "a signal is a clean exit")
	assert.Contains(t, r.stderr.String(), "poolside: proxy stopped: 3 connections accepted, 0 upstream dials failed\n")
}

// TestProxyCommandAPIGuard checks that a web page cannot drive the fault
// API: a browser's cross-site "simple" POST, a request to a name that a
// page has pointed at 127.0.0.1 (DNS rebinding), a JSON request from
// another origin and a body that is not JSON are refused, and change
// nothing; curl and scripts on the machine are served.
func TestProxyCommandAPIGuard(t *testing.T) {
	r := startProxyCmd(t, "--upstream", "127.0.0.1:9", "--api", "127.0.0.1:0")
	self := strings.TrimPrefix(strings.TrimSuffix(r.api, "/faults"), "http://")
	const json = "application/json"
	tests := []struct {
		name      string
		method    string
		header    map[string]string
		body      string
		code      int
		errSubstr string
	}{
		{"cross-site simple POST", http.MethodPost,
			map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example", "Host": "evil.example:8474"},
			`{"down":"blackhole"}`, http.StatusForbidden, `Host "evil.example:8474" is not a loopback name`},
		{"foreign Host", http.MethodGet, map[string]string{"Host": "evil.example"}, "", http.StatusForbidden,
			"answers only requests to 127.0.0.1, [::1] or localhost"},
		{"JSON from another origin", http.MethodPut, map[string]string{"Content-Type": json, "Origin": "http://evil.example"},
			`{"down":"blackhole"}`, http.StatusForbidden, "http://evil.example"},
		{"another port of loopback", http.MethodPut, map[string]string{"Content-Type": json, "Origin": "http://127.0.0.1:1"},
			`{"down":"blackhole"}`, http.StatusForbidden, "http://127.0.0.1:1"},
		{"browser says cross-site", http.MethodDelete, map[string]string{"Sec-Fetch-Site": "cross-site"},
			"", http.StatusForbidden, "another site"},
		{"form body, as curl -d sends", http.MethodPut, map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			`{"down":"blackhole"}`, http.StatusUnsupportedMediaType, "Content-Type: application/json"},
		{"text body from loopback", http.MethodPost, map[string]string{"Content-Type": "text/plain"},
			`{"down":"blackhole"}`, http.StatusUnsupportedMediaType, "Content-Type: application/json"},
		{"no content type", http.MethodPut, nil, `{"down":"blackhole"}`, http.StatusUnsupportedMediaType, "Content-Type: application/json"},
		{"duplicate key", http.MethodPut, map[string]string{"Content-Type": json},
			`{"down":"","up":"","down":"blackhole"}`, http.StatusBadRequest, `"down" twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _ := callAPI(t, http.MethodDelete, r.api, "")
			require.Equal(t, http.StatusOK, code)
			code, reply := apiRequest(t, tt.method, r.api, tt.header, tt.body)
			assert.Equal(t, tt.code, code, "reply %v", reply)
			assert.Contains(t, reply["error"], tt.errSubstr)
			code, state := callAPI(t, http.MethodGet, r.api, "")
			require.Equal(t, http.StatusOK, code)
			assert.Equal(t, "", state["down"], "a refused request changes nothing")
		})
	}

	for _, header := range []map[string]string{
		{"Content-Type": json}, // curl -H 'Content-Type: application/json'
		{"Content-Type": "application/json; charset=utf-8", "Host": "localhost"},
		{"Content-Type": json, "Origin": "http://" + self, "Sec-Fetch-Site": "same-origin"}, // a page of the API's own origin
	} {
		code, state := apiRequest(t, http.MethodPut, r.api, header, `{"down":"cut=10"}`)
		assert.Equal(t, http.StatusOK, code, "headers %v: %v", header, state)
		assert.Equal(t, "cut=10", state["down"])
		code, state = apiRequest(t, http.MethodDelete, r.api, nil, "")
		assert.Equal(t, http.StatusOK, code, "a DELETE needs no body: %v", state)
	}
	assert.NotContains(t, r.stderr.String(), "warning", "a loopback API is not warned about")
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
	assert.Contains(t, r.stderr.String(), "poolside: 1 connection still open after 100ms; closing it\n")
	assert.Contains(t, r.stderr.String(), "poolside: proxy stopped: 1 connection accepted, 0 upstream dials failed\n")
	_, err = idle.Read(make([]byte, 1))
	assert.Error(t, err, "the proxy closed the connection")
}

// TestProxyCommandLogsDialFailures checks that a connection the proxy
// cannot relay, because the upstream refuses, is reported on stderr while
// the proxy runs, not only in the count at exit.
func TestProxyCommandLogsDialFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refusing := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now: dials are refused

	r := startProxyCmd(t, "--upstream", refusing)
	c, err := net.Dial("tcp", r.addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = io.ReadAll(c)
	if err != nil {
		require.ErrorIs(t, err, syscall.ECONNRESET, "the proxy closes the connection it cannot relay")
	}

	for {
		line := nextLine(t, r.stderr.lines, "the line about the failed upstream dial")
		if strings.Contains(line, refusing) {
			assert.True(t, strings.HasPrefix(line, "poolside: "), "line %q", line)
			break
		}
	}
	require.NoError(t, r.stop(t))
	assert.Contains(t, r.stderr.String(), "poolside: proxy stopped: 1 connection accepted, 1 upstream dial failed\n")
}

// runProxyChecked runs "poolside proxy --listen 127.0.0.1:0 args..."
// (a --listen in args overrides the first) with a context that is already
// cancelled: a run whose flags pass the checks binds, prints its lines and
// stops at once instead of serving.
func runProxyChecked(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut strings.Builder
	err = run(ctx, append([]string{"proxy", "--listen", "127.0.0.1:0"}, args...), &out, &errOut)
	return out.String(), err
}

func TestProxyCommandUsage(t *testing.T) {
	tokens := faults.ProxySpecSyntax
	tests := []struct {
		args []string
		want string // the error names the flag
	}{
		{[]string{"--up", "chunk=0"}, `--up "chunk=0": token "chunk=0": chunk size`},
		{[]string{"--down", "slow=1"}, `--down "slow=1": token "slow=1": unknown fault "slow" (valid: ` + tokens + ")"},
		{[]string{"--down", "cut=1,,reset=2"}, `--down "cut=1,,reset=2": empty token (valid: ` + tokens + ")"},
		{[]string{"--up", "read:cut=1"}, `--up "read:cut=1": token "read:cut=1": drop the "read:" prefix`},
		{[]string{"--down", "chunk=1, write:cut=1"}, `--down "chunk=1, write:cut=1": token "write:cut=1": drop the "write:" prefix`},
		{[]string{"--down", "read : cut=1"}, `--down "read : cut=1": token "read : cut=1": drop the "read:" prefix (--down already says which bytes the fault acts on)`},
		{[]string{"--up", "cut=+5"}, `--up "cut=+5": token "cut=+5": offset "+5" is not a non-negative integer in decimal digits (no sign) (want cut=AT)`},
		{[]string{"--down", "corrupt=1^0o7"}, `--down "corrupt=1^0o7": token "corrupt=1^0o7": mask "0o7" is not a byte 1..255`},
		{[]string{"--upstream", "localhost"}, `--upstream "localhost" is not host:port`},
		{[]string{"--upstream", "::1:9407"}, `--upstream "::1:9407" is not host:port`},
		{[]string{"--upstream", ""}, "--upstream is empty"},
		{[]string{"--upstream", ":9407"}, `--upstream ":9407" has no host`},
		{[]string{"--upstream", "127.0.0.1:abc"}, `--upstream "127.0.0.1:abc": port "abc" is not a number from 1 to 65535`},
		{[]string{"--upstream", "127.0.0.1:99999"}, `--upstream "127.0.0.1:99999": port "99999" is not a number from 1 to 65535`},
		{[]string{"--upstream", "127.0.0.1:0"}, `--upstream "127.0.0.1:0": port "0" is not a number from 1 to 65535`},
		{[]string{"--upstream", "127.0.0.1:"}, `--upstream "127.0.0.1:" has no port`},
		{[]string{"--upstream", " 127.0.0.1:23080"}, `--upstream " 127.0.0.1:23080": host " 127.0.0.1" is neither an IP address nor a host name`},
		{[]string{"--listen", "nowhere"}, `--listen "nowhere" is not host:port`},
		{[]string{"--listen", ""}, "--listen is empty"},
		{[]string{"--listen", "127.0.0.1:99999"}, `--listen "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`},
		{[]string{"--listen", "127.0.0.1:http"}, `--listen "127.0.0.1:http": port "http" is not a number from 0 to 65535`},
		{[]string{"--api", "9501"}, `--api "9501" is not host:port`},
		{[]string{"--api", "127.0.0.1:99999"}, `--api "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`},
		{[]string{"--api", "local host:0"}, `--api "local host:0": host "local host" is neither an IP address nor a host name`},
		{[]string{"--drain-timeout", "-1s"}, "--drain-timeout must not be negative, got -1s"},
		{[]string{"--dial-timeout", "-1s"}, "--dial-timeout must not be negative, got -1s"},
		{[]string{"--seed", "x"}, "invalid argument"},
		{[]string{"extra"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, err := runProxyChecked(t, tt.args...)
			require.Error(t, err)
			assert.Equal(t, exitUsage, exitCode(err), "error: %v", err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), faults.SpecSyntax, "the proxy refuses the read:/write: prefixes the full syntax offers")
			assert.Empty(t, stdout, "nothing is bound or printed before a usage error")
		})
	}
}

// TestProxyCommandAcceptsAddresses checks flag values the usage checks
// must let through: host names are not resolved, IPv6 in brackets, an
// --api without a host, a zero --dial-timeout.
func TestProxyCommandAcceptsAddresses(t *testing.T) {
	for _, args := range [][]string{
		{"--upstream", "localhost:9407"},
		{"--upstream", "db-1.example.internal:5432"},
		{"--upstream", "[::1]:9407"},
		{"--upstream", "127.0.0.1:65535"},
		{"--api", ":0"},
		{"--api", "127.0.0.1:0"},
		{"--dial-timeout", "0"},
		{"--up", " chunk=1 , delay=1ms ", "--down", "cut=10"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, err := runProxyChecked(t, args...)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(stdout, "poolside: proxying 127.0.0.1:"), "stdout %q", stdout)
		})
	}
}

// TestProxyCommandListenFails checks that an address in use for --listen
// or --api is reported, naming the flag and the address, before the
// "proxying" line is printed: a script waiting for that line sees the
// exit instead.
func TestProxyCommandListenFails(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = taken.Close() })
	addr := taken.Addr().String()
	for _, tt := range []struct {
		flag string
		args []string
	}{
		{"--listen", []string{"--listen", addr}},
		{"--api", []string{"--listen", "127.0.0.1:0", "--api", addr}},
	} {
		t.Run(tt.flag, func(t *testing.T) {
			stdout, _, err := runCLI(t, append([]string{"proxy"}, tt.args...)...)
			require.Error(t, err)
			assert.Equal(t, exitInternal, exitCode(err))
			require.ErrorIs(t, err, syscall.EADDRINUSE)
			assert.Contains(t, err.Error(), "cannot listen on "+tt.flag+" "+addr+": ")
			assert.Contains(t, err.Error(), "choose another address for "+tt.flag)
			assert.Empty(t, stdout, "nothing printed before the failure")
		})
	}

	t.Run("process", func(t *testing.T) {
		if testing.Short() {
			t.Skip("runs the proxy as a process")
		}
		p := startProcess(t, "proxy", "--listen", "127.0.0.1:0", "--api", addr)
		var lines []string
		for l := range p.lines { // closed when the process closes its stdout
			lines = append(lines, l)
		}
		<-p.exited
		assert.Empty(t, lines, "the README's CI script waits for these lines")
		var ee *exec.ExitError
		require.ErrorAs(t, p.err, &ee)
		assert.Equal(t, exitInternal, ee.ExitCode())
		assert.Contains(t, p.stderr.String(), "poolside: cannot listen on --api "+addr)
	})
}

func TestProxyCommandHelp(t *testing.T) {
	stdout, _, err := runCLI(t, "proxy", "--help")
	require.NoError(t, err)
	for _, tok := range strings.Split(faults.ProxySpecSyntax, ", ") {
		assert.Contains(t, stdout, strings.TrimSpace(tok))
	}
	for _, flag := range []string{"--listen", "--upstream", "--up ", "--down", "--seed", "--api", "--drain-timeout", "poolside: proxying ADDR -> UPSTREAM"} {
		assert.Contains(t, stdout, flag)
	}
	assert.Contains(t, stdout, "SIGINT (Ctrl-C), SIGTERM or SIGHUP stops accepting")
	assert.Regexp(t, `--drain-timeout duration +on SIGINT, SIGTERM or SIGHUP, how long`, stdout)
	dialTimeout := false
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--dial-timeout duration") {
			dialTimeout = true
			assert.Contains(t, line, "0 means the default (default "+faults.DefaultDialTimeout.String()+")", "what 0 means")
			assert.Equal(t, 1, strings.Count(line, faults.DefaultDialTimeout.String()), "the default is said once: %q", line)
		}
	}
	assert.True(t, dialTimeout, "no --dial-timeout line in the help")
	// What a newcomer needs to know beyond each fault's line.
	for _, says := range []string{
		"in pieces of at most 32 KiB:\na \"write\" above is one such piece",
		"never at connect time: with --down cut=0 the request still reaches the\nserver",
		"cut, reset and short end the whole connection",
		"Once it closes its\nside (or half-closes it: the proxy cannot tell the two apart), the proxy\nreleases the connection",
		"A PUT or POST needs the header Content-Type: application/json",
		"allowed with a warning\non standard error",
	} {
		assert.Contains(t, stdout, says)
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
