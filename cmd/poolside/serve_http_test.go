package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/internal/wiretest"
	"github.com/poolside-dev/poolside/wire"
)

// The profiles of /debug/pprof/ (heap contents, a CPU profile that loads
// the server) are served only on a loopback --metrics-addr; /metrics is
// served on any.
func TestMetricsMuxServesProfilesOnLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		profiles bool
	}{
		{"127.0.0.1:9408", true},
		{"[::1]:9408", true},
		{"0.0.0.0:9408", false},
		{"192.0.2.1:9408", false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			addr, err := net.ResolveTCPAddr("tcp", tc.addr)
			require.NoError(t, err)
			mux := metricsMux(http.NotFoundHandler(), addr)
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil)
			req.Host = "127.0.0.1:9408" // pprofHandler answers loopback names only
			mux.ServeHTTP(rec, req)
			if tc.profiles {
				assert.Equal(t, http.StatusOK, rec.Code)
			} else {
				assert.Equal(t, http.StatusNotFound, rec.Code)
			}
		})
	}
}

// The HTTP servers' own errors (a failed accept, a bad TLS handshake) go to
// the server's log, not to the standard library's logger.
func TestHTTPErrorLogGoesToLogrus(t *testing.T) {
	log, hook := test.NewNullLogger()
	log.Out = io.Discard
	l := httpErrorLog(log, "metrics")
	l.Printf("http: Accept error: %s; retrying in %v", "too many open files", "5ms")
	require.Len(t, hook.AllEntries(), 1)
	e := hook.LastEntry()
	assert.Equal(t, logrus.WarnLevel, e.Level)
	assert.Equal(t, "metrics server: http: Accept error: too many open files; retrying in 5ms", e.Message)
}

// TestServeClosesIdleHTTPConnections: a keep-alive connection to the admin
// API (and so to the metrics port, which shares serveHTTP) is closed once
// it has been idle for --idle-timeout; it used to stay open for ever.
func TestServeClosesIdleHTTPConnections(t *testing.T) {
	p := startServeInProcess(t, "--idle-timeout", "100ms")
	nc, err := net.DialTimeout("tcp", p.admin, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = io.WriteString(nc, "GET /pool HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.False(t, resp.Close, "the server kept the connection alive")

	_, err = br.ReadByte() // the server closes the idle connection
	require.ErrorIs(t, err, io.EOF, "the idle connection was not closed within 20 s")
}

func TestProtocolConnLimit(t *testing.T) {
	for _, tc := range []struct {
		name            string
		f               serveFlags
		nofile          int
		want            int
		err, usageError string
	}{
		{name: "unknown limit", f: serveFlags{maxConns: 7}, nofile: 0, want: 7},
		{name: "unknown limit, none set", nofile: 0, want: 0},
		{name: "from the file limit", nofile: 1024, want: 1024 - fileReserve},
		{name: "with metrics and admin", f: serveFlags{metricsAddr: "127.0.0.1:0", adminAddr: "127.0.0.1:0"}, nofile: 1024, want: 1024 - fileReserve - 2*httpMaxConns},
		{name: "set and within", f: serveFlags{maxConns: 500}, nofile: 1024, want: 500},
		{name: "set above the room", f: serveFlags{maxConns: 1000, metricsAddr: ":0"}, nofile: 1024, usageError: "--max-conns 1000 needs more files than this process may open: the limit is 1024 (ulimit -n) and serve keeps 96 for itself and its HTTP listeners; choose --max-conns 928 or less, or raise the limit"},
		{name: "limit too low", nofile: 60, err: "this process may open only 60 files (ulimit -n), and serve needs 64 for itself and its HTTP listeners: raise the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := protocolConnLimit(tc.f, tc.nofile)
			switch {
			case tc.usageError != "":
				require.Error(t, err)
				assert.Equal(t, exitUsage, exitCode(err))
				assert.EqualError(t, err, tc.usageError)
			case tc.err != "":
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
			default:
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
			}
		})
	}
}

// TestServeIdleHTTPClientsCannotStarveTheProtocolPort: with a low open-file
// limit, hundreds of idle keep-alive connections to the metrics port used
// to take every descriptor, and protocol requests then timed out. The
// metrics listener holds at most httpMaxConns of them, and the protocol
// port keeps working.
func TestServeIdleHTTPClientsCannotStarveTheProtocolPort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	const nofile, httpClients = 256, 300
	cmd := exec.Command("sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$@"`, nofile), "sh", poolsideBinary(t),
		"serve", "--addr", "127.0.0.1:0", "--store", "memory", "--log-level", "warn", "--metrics-addr", "127.0.0.1:0")
	p := serveAddr(t, startCommand(t, cmd))
	line := nextLine(t, p.lines, "the metrics line")
	metrics, ok := strings.CutPrefix(line, "poolside: metrics on http://")
	require.True(t, ok, "line %q", line)
	metrics, _, _ = strings.Cut(metrics, "/")

	// Each client sends a request and keeps its connection open: those
	// the server accepts are answered and then idle. The first
	// httpMaxConns are accepted; the rest wait in the kernel's queue, and
	// are given 2 s to be answered, in which the server used to accept
	// them until it ran out of descriptors.
	var answered atomic.Int64
	var wg sync.WaitGroup
	for i := range httpClients {
		nc, err := net.DialTimeout("tcp", metrics, 5*time.Second)
		require.NoError(t, err, "client %d", i)
		t.Cleanup(func() { _ = nc.Close() })
		_, err = io.WriteString(nc, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		require.NoError(t, err)
		wait := 2 * time.Second
		if i < httpMaxConns {
			wait = 20 * time.Second // these are accepted: wait for the answer
		}
		require.NoError(t, nc.SetReadDeadline(time.Now().Add(wait)))
		read := func() {
			if resp, err := http.ReadResponse(bufio.NewReader(nc), nil); err == nil {
				resp.Body.Close()
				answered.Add(1)
			}
		}
		if i < httpMaxConns {
			read()
			continue
		}
		wg.Go(read)
	}
	wg.Wait()
	assert.Equal(t, int64(httpMaxConns), answered.Load(), "HTTP connections the metrics listener held at once")

	for range 3 {
		nc := p.dial(t)
		reply, err := wiretest.Exchange(nc, wire.Request{Action: wire.ActionBookingsForRoom, Room: "312"})
		require.NoError(t, err, "the protocol port must keep working; stderr: %s", p.stderr)
		assert.Equal(t, wire.MsgRoomNotBooked("312"), reply.Message)
	}
	require.NoError(t, p.stop(t, syscall.SIGTERM), "stderr: %s", p.stderr)
}
