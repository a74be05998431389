package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// toxiproxyCLI returns the path of toxiproxy-cli v2.5.0: the
// POOLSIDE_TOXIPROXY_CLI that make test installs, or toxiproxy-cli on
// PATH. Without it the test skips, and fails under CI=true.
func toxiproxyCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("POOLSIDE_TOXIPROXY_CLI"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("toxiproxy-cli"); err == nil {
		return p
	}
	msg := "toxiproxy-cli is not installed: make test installs it (go install github.com/Shopify/toxiproxy/v2/cmd/cli@v2.5.0) and sets POOLSIDE_TOXIPROXY_CLI"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// hubRun is "poolside proxy" started with no proxy of its own.
type hubRun struct {
	api    string // http://ADDR
	stderr *lineWriter
}

// startHubCmd runs "poolside proxy --api 127.0.0.1:0 args..." through run
// and waits for its API line; the test's cleanup stops it.
func startHubCmd(t *testing.T, args ...string) *hubRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := newLineWriter(), newLineWriter()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"proxy", "--api", "127.0.0.1:0"}, args...), stdout, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("poolside proxy did not stop")
		}
	})
	line := nextLine(t, stdout.lines, "poolside proxy --api")
	const prefix = "poolside: toxiproxy API on "
	require.True(t, strings.HasPrefix(line, prefix), "first line %q", line)
	url, _, _ := strings.Cut(strings.TrimPrefix(line, prefix), " ")
	return &hubRun{api: url, stderr: stderr}
}

// startEchoServer starts a TCP server that echoes what it reads, stopped
// (with its connections) at cleanup.
func startEchoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echoed is a connection to an echo server through a proxy.
type echoed struct {
	t *testing.T
	c net.Conn
}

func dialEcho(t *testing.T, addr string) *echoed {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return &echoed{t: t, c: c}
}

// ping sends msg and reads it back.
func (e *echoed) ping(msg string) error {
	if err := e.c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	if _, err := e.c.Write([]byte(msg)); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(e.c, got); err != nil {
		return err
	}
	if string(got) != msg {
		return fmt.Errorf("sent %q, got %q back", msg, got)
	}
	return nil
}

// The real toxiproxy-cli drives poolside proxy unchanged: create, a
// latency toxic with jitter that reaches a connection opened before it,
// reset_peer added and removed, toggle, inspect, list and delete.
func TestToxiproxyCLIDrivesProxy(t *testing.T) {
	cli := toxiproxyCLI(t)
	h := startHubCmd(t, "--seed", "7")
	upstream := startEchoServer(t)
	listen := closedAddr(t)
	toxi := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, cli, append([]string{"--host", h.api}, args...)...).CombinedOutput()
		require.NoError(t, err, "toxiproxy-cli %s: %s", strings.Join(args, " "), out)
		return string(out)
	}

	assert.Contains(t, toxi("create", "-l", listen, "-u", upstream, "booking"), "Created new proxy booking")
	open := dialEcho(t, listen)
	require.NoError(t, open.ping("hello"), "the proxy relays")

	toxi("toxic", "add", "-t", "latency", "-a", "latency=300", "-a", "jitter=50", "-n", "lag", "booking")
	assert.Contains(t, h.stderr.String(), `toxic "lag" added`, "the change is logged")
	start := time.Now()
	require.NoError(t, open.ping("slow"))
	assert.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond, "the connection opened before the toxic waits its latency")
	inspect := toxi("inspect", "booking")
	assert.Contains(t, inspect, "lag")
	assert.Contains(t, inspect, "latency")
	toxi("toxic", "update", "-n", "lag", "-a", "latency=60", "booking")
	toxi("toxic", "remove", "-n", "lag", "booking")

	toxi("toxic", "add", "-t", "reset_peer", "-u", "-a", "timeout=0", "booking")
	require.Error(t, open.ping("reset"), "reset_peer resets the open connection")
	toxi("toxic", "remove", "-n", "reset_peer_upstream", "booking")
	require.NoError(t, dialEcho(t, listen).ping("again"), "a new connection is relayed again")

	toxi("toggle", "booking")
	_, err := net.DialTimeout("tcp", listen, time.Second)
	require.Error(t, err, "a disabled proxy does not listen")
	toxi("toggle", "booking")
	require.NoError(t, dialEcho(t, listen).ping("again"), "enabled again on the same address")

	list := toxi("list")
	assert.Contains(t, list, "booking")
	assert.Contains(t, list, listen)
	toxi("delete", "booking")
	assert.NotContains(t, toxi("list"), "booking")
}

// --config creates the proxies of a toxiproxy populate file, /reset and
// /version answer as toxiproxy's do, and /metrics counts per proxy.
func TestProxyConfigFileAndMetrics(t *testing.T) {
	upstream := startEchoServer(t)
	listen := closedAddr(t)
	file := filepath.Join(t.TempDir(), "toxiproxy.json")
	require.NoError(t, os.WriteFile(file, []byte(`[{"name":"booking","listen":"`+listen+`","upstream":"`+upstream+`","enabled":true}]`), 0o600))
	h := startHubCmd(t, "--config", file)
	assert.Contains(t, h.stderr.String(), `proxy "booking" created`)

	require.NoError(t, dialEcho(t, listen).ping("again"))

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(h.api + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	code, version := get("/version")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "2.5.0", version)
	code, metrics := get("/metrics")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, metrics, `poolside_proxy_connections_total{proxy="booking"} 1`)
	assert.Regexp(t, `poolside_proxy_bytes_total\{proxy="booking",stream="upstream"\} [1-9]`, metrics)
	assert.Regexp(t, `poolside_proxy_bytes_total\{proxy="booking",stream="downstream"\} [1-9]`, metrics)
	code, _ = get("/faults")
	assert.Equal(t, http.StatusNotFound, code, "no proxy from flags, no /faults")

	req, err := http.NewRequest(http.MethodPost, h.api+"/reset", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)

	req, err = http.NewRequest(http.MethodGet, h.api+"/proxies", nil)
	require.NoError(t, err)
	req.Header.Set("User-Agent", "Mozilla/5.0")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "browsers are kept out, as toxiproxy does")
}

// A --config file that cannot be used stops the command with a sentence
// that says what to give.
func TestProxyConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"name":"x"}`), 0o600))
	for _, tt := range []struct{ file, says string }{
		{filepath.Join(dir, "missing.json"), "cannot read --config"},
		{bad, "is not a JSON array of proxies"},
	} {
		_, err := runProxyChecked(t, "--config", tt.file)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tt.says)
	}
}
