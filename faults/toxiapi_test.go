package faults_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/faults"
)

// startHub serves a Hub over toxiproxy's API and returns a toxiproxy
// client for it, and the hub. Changes are collected in log.
func startHub(t *testing.T, seed uint64) (*toxiproxy.Client, *faults.Hub, *changeLog) {
	t.Helper()
	log := &changeLog{}
	h := faults.NewHub(faults.HubConfig{Seed: seed, OnChange: log.add})
	srv := httptest.NewServer(faults.NewToxiproxyAPI(h))
	t.Cleanup(func() {
		srv.Close()
		_ = h.Close()
	})
	return toxiproxy.NewClient(srv.URL), h, log
}

type changeLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *changeLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *changeLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return ""
	}
	return l.lines[len(l.lines)-1]
}

// echo writes msg on c and reads as many bytes back.
func echo(t *testing.T, c net.Conn, msg string) (string, error) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	got := make([]byte, len(msg))
	n, err := io.ReadFull(c, got)
	return string(got[:n]), err
}

func firedOf(h *faults.Hub, proxy, kind string) uint64 {
	for _, st := range h.Stats() {
		if st.Name == proxy {
			return st.Fired[kind]
		}
	}
	return 0
}

// toxiproxy's own Go client drives a Hub: create, a latency toxic with
// jitter reaching a connection opened before it, reset_peer added and
// removed, toggling, populate and reset.
func TestToxiproxyClientDrivesHub(t *testing.T) {
	client, h, log := startHub(t, 7)
	upstream := startEcho(t)

	proxy, err := client.CreateProxy("echo", "127.0.0.1:0", upstream)
	require.NoError(t, err)
	require.NotEqual(t, "127.0.0.1:0", proxy.Listen, "the bound address is reported")
	_, err = client.CreateProxy("echo", "127.0.0.1:0", upstream)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "409", "a taken name is a conflict, as in toxiproxy")

	open, err := net.Dial("tcp", proxy.Listen)
	require.NoError(t, err)
	defer open.Close()
	got, err := echo(t, open, "before")
	require.NoError(t, err)
	require.Equal(t, "before", got)

	toxic, err := proxy.AddToxic("lag", "latency", "downstream", 1, toxiproxy.Attributes{"latency": 300, "jitter": 50})
	require.NoError(t, err)
	assert.Equal(t, "lag", toxic.Name)
	assert.EqualValues(t, 1, toxic.Toxicity)
	assert.Contains(t, log.last(), `down faults were "", now "latency=300ms+-50ms"`, "the change is logged with what it replaced")

	start := time.Now()
	got, err = echo(t, open, "after")
	require.NoError(t, err)
	assert.Equal(t, "after", got)
	assert.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond, "the open connection waits the latency, less at most the jitter")
	assert.EqualValues(t, 1, firedOf(h, "echo", "latency"), "one message, one wait")

	toxics, err := proxy.Toxics()
	require.NoError(t, err)
	require.Len(t, toxics, 1)
	assert.EqualValues(t, 300, toxics[0].Attributes["latency"])

	updated, err := proxy.UpdateToxic("lag", 0.5, toxiproxy.Attributes{"latency": 100})
	require.NoError(t, err)
	assert.EqualValues(t, 100, updated.Attributes["latency"])
	assert.EqualValues(t, 50, updated.Attributes["jitter"], "an attribute left out keeps its value")
	assert.EqualValues(t, 0.5, updated.Toxicity)
	assert.Contains(t, log.last(), `toxic "lag" changed from latency=300ms+-50ms to latency=100ms+-50ms~50%`)
	require.NoError(t, proxy.RemoveToxic("lag"))
	require.Error(t, proxy.RemoveToxic("lag"), "a toxic removed twice is not found")

	_, err = proxy.AddToxic("", "reset_peer", "upstream", 1, toxiproxy.Attributes{"timeout": 0})
	require.NoError(t, err)
	_, err = echo(t, open, "reset")
	require.Error(t, err, "reset_peer resets the open connection at its next byte")
	require.NoError(t, proxy.RemoveToxic("reset_peer_upstream"), "the default name is TYPE_STREAM")
	fresh, err := net.Dial("tcp", proxy.Listen)
	require.NoError(t, err)
	got, err = echo(t, fresh, "fine")
	require.NoError(t, err)
	assert.Equal(t, "fine", got)
	_ = fresh.Close()

	require.NoError(t, proxy.Disable())
	_, err = net.Dial("tcp", proxy.Listen)
	require.Error(t, err, "a disabled proxy does not listen")
	require.NoError(t, proxy.Enable())
	again, err := client.Proxy("echo")
	require.NoError(t, err)
	assert.True(t, again.Enabled)
	assert.Equal(t, proxy.Listen, again.Listen, "enabled again on the same address")

	// Populate from a file in toxiproxy's config format, as users do.
	file := filepath.Join(t.TempDir(), "toxiproxy.json")
	require.NoError(t, os.WriteFile(file, []byte(`[{"name": "second", "listen": "127.0.0.1:0", "upstream": "`+upstream+`", "enabled": true}]`), 0o600))
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	var config []toxiproxy.Proxy
	require.NoError(t, json.Unmarshal(raw, &config))
	populated, err := client.Populate(config)
	require.NoError(t, err)
	require.Len(t, populated, 1)
	_, err = populated[0].AddToxic("", "timeout", "downstream", 1, toxiproxy.Attributes{"timeout": 0})
	require.NoError(t, err)
	require.NoError(t, proxy.Disable())

	require.NoError(t, client.ResetState())
	all, err := client.Proxies()
	require.NoError(t, err)
	require.Len(t, all, 2)
	for name, p := range all {
		assert.True(t, p.Enabled, "reset enables %s", name)
		ts, err := p.Toxics()
		require.NoError(t, err)
		assert.Empty(t, ts, "reset removes the toxics of %s", name)
	}
	c, err := net.Dial("tcp", all["second"].Listen)
	require.NoError(t, err)
	got, err = echo(t, c, "clear")
	require.NoError(t, err)
	assert.Equal(t, "clear", got)
	_ = c.Close()

	require.NoError(t, all["second"].Delete())
	_, err = client.Proxy("second")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "404")
}

// Bad toxics are refused with toxiproxy's status codes and a message
// that says what to change.
func TestToxiproxyAPIRefusesBadToxics(t *testing.T) {
	client, _, _ := startHub(t, 0)
	proxy, err := client.CreateProxy("p", "127.0.0.1:0", startEcho(t))
	require.NoError(t, err)
	for _, tt := range []struct {
		typ, stream string
		toxicity    float32
		attrs       toxiproxy.Attributes
		says        string
	}{
		{"lag", "downstream", 1, nil, `unknown toxic type "lag"`},
		{"latency", "sideways", 1, nil, `stream "sideways"`},
		{"latency", "downstream", 2, nil, "toxicity 2 is not between 0 and 1"},
		{"latency", "downstream", 1, toxiproxy.Attributes{"latncy": 5}, `latency has no attribute "latncy"`},
		{"latency", "downstream", 1, toxiproxy.Attributes{"latency": 10, "jitter": 20}, "jitter 20ms is larger than the delay 10ms"},
		{"bandwidth", "downstream", 1, toxiproxy.Attributes{"rate": 0}, "rate must be at least 1"},
		{"slicer", "downstream", 1, toxiproxy.Attributes{"average_size": 0}, "average_size must be at least 1"},
	} {
		_, err := proxy.AddToxic("", tt.typ, tt.stream, tt.toxicity, tt.attrs)
		if assert.Error(t, err, "%s %v", tt.typ, tt.attrs) {
			assert.Contains(t, err.Error(), "400")
			assert.Contains(t, err.Error(), tt.says)
		}
	}
	_, err = proxy.AddToxic("dup", "latency", "downstream", 1, nil)
	require.NoError(t, err)
	_, err = proxy.AddToxic("dup", "latency", "downstream", 1, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "409")
}

// toxicity picks a share of the connections, the same ones for the same
// seed, and other ones for another seed.
func TestToxicityDrawsPerConnection(t *testing.T) {
	upstream := startEcho(t)
	run := func(seed uint64) []bool {
		client, _, _ := startHub(t, seed)
		proxy, err := client.CreateProxy("p", "127.0.0.1:0", upstream)
		require.NoError(t, err)
		_, err = proxy.AddToxic("half", "limit_data", "downstream", 0.5, toxiproxy.Attributes{"bytes": 2})
		require.NoError(t, err)
		var cut []bool
		for range 40 {
			got, err := roundTrip(t.Context(), proxy.Listen, []byte("hello"))
			require.NoError(t, err)
			require.Contains(t, []string{"he", "hello"}, string(got))
			cut = append(cut, string(got) == "he")
		}
		return cut
	}
	first := run(42)
	n := 0
	for _, c := range first {
		if c {
			n++
		}
	}
	assert.True(t, n >= 10 && n <= 30, "a toxicity of 0.5 cut %d of 40 connections", n)
	assert.Equal(t, first, run(42), "the same seed cuts the same connections")
	assert.NotEqual(t, first, run(43), "another seed cuts others")
}

// A change reaches an open connection at its next byte, and wakes a fault
// sleeping in it: the bytes it held go on at once.
func TestProxyChangeWakesSleepingFault(t *testing.T) {
	p := startProxy(t, faults.Config{Upstream: startEcho(t)})
	c, err := net.Dial("tcp", p.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	got, err := echo(t, c, "x")
	require.NoError(t, err)
	require.Equal(t, "x", got)

	require.NoError(t, p.SetFaults(nil, []faults.Fault{faults.Slow{Delay: time.Hour}}))
	_, err = c.Write([]byte("held"))
	require.NoError(t, err)
	for p.Stats().Fired["delay"] == 0 { // the delay is sleeping
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, p.SetFaults(nil, nil))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err, "the change woke the hour-long delay")
	assert.Equal(t, "held", string(buf))
}

// latency waits once per message, however many relay buffers it spans;
// delay waits before each.
func TestLatencyOncePerMessage(t *testing.T) {
	msg := strings.Repeat("x", 200<<10)
	for _, tt := range []struct {
		fault    faults.Fault
		kind     string
		most     uint64
		atLeast  uint64
		whatItIs string
	}{
		{faults.Latency{Delay: 50 * time.Millisecond}, "latency", 2, 1, "once per message (twice if the first read caught the reply's start alone)"},
		{faults.Slow{Delay: 5 * time.Millisecond}, "delay", 1 << 20, 7, "before each 32 KiB write"},
	} {
		p := startProxy(t, faults.Config{Upstream: startEcho(t), Down: []faults.Fault{tt.fault}})
		got, err := roundTrip(t.Context(), p.Addr().String(), []byte(msg))
		require.NoError(t, err)
		require.Len(t, got, len(msg))
		n := p.Stats().Fired[tt.kind]
		assert.True(t, n >= tt.atLeast && n <= tt.most, "%s waited %d times for a 200 KiB reply; want %s", tt.fault, n, tt.whatItIs)
	}
}

// Metrics count bytes both ways and connections.
func TestHubStatsCountBytes(t *testing.T) {
	client, h, _ := startHub(t, 0)
	proxy, err := client.CreateProxy("p", "127.0.0.1:0", startEcho(t))
	require.NoError(t, err)
	got, err := roundTrip(t.Context(), proxy.Listen, []byte("hello"))
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))
	st := h.Stats()
	require.Len(t, st, 1)
	assert.EqualValues(t, 1, st[0].Accepted)
	assert.EqualValues(t, 5, st[0].BytesUp)
	assert.EqualValues(t, 5, st[0].BytesDown)
}
