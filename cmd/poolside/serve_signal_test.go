package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/internal/wiretest"
	"github.com/poolside-dev/poolside/wire"
)

// TestServeSIGHUPDrains: SIGHUP (a closed terminal) drains as SIGTERM
// does, and the server exits 0; it used to die of the signal at once.
func TestServeSIGHUPDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	p := startServe(t, "--store", "memory", "--log-level", "info")
	require.NoError(t, p.stop(t, syscall.SIGHUP), "stderr: %s", p.stderr)
	assert.Contains(t, p.stderr.String(), "draining")
	assert.Contains(t, p.stderr.String(), "a second signal (another Ctrl-C, say) stops at once")
	assert.Contains(t, p.stderr.String(), "stopped")
}

// TestServeNohupKeepsRunning: a server started with SIGHUP ignored (nohup)
// keeps serving through a SIGHUP.
func TestServeNohupKeepsRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	cmd := exec.Command("sh", "-c", `trap '' HUP; exec "$@"`, "sh", poolsideBinary(t),
		"serve", "--addr", "127.0.0.1:0", "--store", "memory", "--log-level", "info")
	p := serveAddr(t, startCommand(t, cmd))
	nc := p.dial(t)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	// The signal is ignored by the kernel, so the next request is served.
	reply, err := wiretest.Exchange(nc, wire.Request{Action: wire.ActionBookingsForRoom, Room: "312"})
	require.NoError(t, err)
	assert.Equal(t, wire.MsgRoomNotBooked("312"), reply.Message)
	require.NoError(t, p.stop(t, syscall.SIGTERM))
	assert.NotContains(t, p.stderr.String(), "SIGHUP")
}

// TestServeSurvivesClosedStderr: once whatever read the server's standard
// error has gone (serve 2>&1 | tee log, and tee stopped), the next log
// line used to kill the server with SIGPIPE. It keeps serving, drains on
// SIGTERM and exits 0.
func TestServeSurvivesClosedStderr(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	cmd := exec.Command(poolsideBinary(t), "serve", "--addr", "127.0.0.1:0", "--store", "memory",
		"--log-level", "debug", "--read-timeout", "50ms")
	stderrR, stderrW, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stderr = stderrW
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	stderrW.Close()
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	lines := bufio.NewScanner(stdout)
	require.True(t, lines.Scan(), "no ready line")
	addr, ok := strings.CutPrefix(lines.Text(), "poolside: serving on ")
	require.True(t, ok, "first line %q", lines.Text())
	require.NoError(t, stderrR.Close()) // the reader goes away

	// Debug logging writes a line for each connection: several writes to
	// the broken pipe, each of which used to kill the process.
	for range 3 {
		nc := dialTest(t, addr)
		reply, err := wiretest.Exchange(nc, wire.Request{Action: wire.ActionBookingsForRoom, Room: "312"})
		require.NoError(t, err, "the server died writing its log")
		assert.Equal(t, wire.MsgRoomNotBooked("312"), reply.Message)
		nc.Close()
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-exited:
		assert.NoError(t, waitErr, "want exit 0 after the drain")
	case <-time.After(30 * time.Second):
		t.Fatal("poolside serve did not exit after SIGTERM")
	}
}

// dialTest connects to addr with a 30 s deadline on everything that
// follows; the connection is closed when the test ends.
func dialTest(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(30*time.Second)))
	return nc
}
