package main

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The built poolside binary, shared by the tests that run it as a process.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// poolsideBinary builds cmd/poolside once per test run and returns its path.
func poolsideBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "poolside-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "poolside")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = &buildFailure{out: string(out), err: err}
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

type buildFailure struct {
	out string
	err error
}

func (b *buildFailure) Error() string { return "go build: " + b.err.Error() + "\n" + b.out }

// process is a running poolside binary.
type process struct {
	cmd    *exec.Cmd
	stderr *lockedWriter
	lines  chan string // its standard output, line by line (the first 16 lines)
	logs   chan string // its standard error, line by line (the first 256 lines)
	exited chan struct{}
	err    error // cmd.Wait's result, once exited is closed
}

// startProcess runs the built binary with args. The process is killed
// when the test ends if it is still running.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	return startCommand(t, exec.Command(poolsideBinary(t), args...))
}

// startCommand runs cmd, which runs the built binary (perhaps through a
// shell), as startProcess does.
func startCommand(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	logs := make(chan string, 256)
	p := &process{cmd: cmd, stderr: &lockedWriter{lines: logs}, lines: make(chan string, 16), logs: logs, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() { // keep draining so the process never blocks on stdout
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// stop sends sig and waits for the process to exit.
func (p *process) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	p.wait(t, sig.String())
	return p.err
}

// wait waits for the process to exit, after the event after, and returns
// its state.
func (p *process) wait(t *testing.T, after string) *os.ProcessState {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState
	case <-time.After(30 * time.Second):
		t.Fatalf("poolside did not exit after %s", after)
		return nil
	}
}

// waitLog reads standard error until a line contains s.
func (p *process) waitLog(t *testing.T, s string) {
	t.Helper()
	for {
		line := nextLine(t, p.logs, "waiting for "+strconv.Quote(s))
		if strings.Contains(line, s) {
			return
		}
	}
}

// serveProcess is a running "poolside serve".
type serveProcess struct {
	*process
	addr string
}

// startServe runs "poolside serve --addr 127.0.0.1:0 args..." and waits for
// its listening address.
func startServe(t *testing.T, args ...string) *serveProcess {
	t.Helper()
	return serveAddr(t, startProcess(t, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, args...)...))
}

// serveAddr waits for the listening address of p, a "poolside serve".
func serveAddr(t *testing.T, proc *process) *serveProcess {
	t.Helper()
	p := &serveProcess{process: proc}
	line := nextLine(t, p.lines, "poolside serve (stderr: "+p.stderr.String()+")")
	const prefix = "poolside: serving on "
	require.True(t, strings.HasPrefix(line, prefix), "first line %q", line)
	p.addr = strings.TrimPrefix(line, prefix)
	return p
}

// dial connects to the server, with a 60 s deadline on everything that
// follows; the connection is closed when the test ends.
func (p *serveProcess) dial(t *testing.T) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(60*time.Second)))
	return nc
}

// lockedWriter serialises writes to a strings.Builder. If lines is not
// nil, it also sends each complete line there, dropping lines while the
// channel is full.
type lockedWriter struct {
	mu      sync.Mutex
	w       strings.Builder
	lines   chan string
	partial []byte // the start of a line not yet ended
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lines != nil {
		l.partial = append(l.partial, p...)
		for {
			i := bytes.IndexByte(l.partial, '\n')
			if i < 0 {
				break
			}
			select {
			case l.lines <- string(l.partial[:i]):
			default:
			}
			l.partial = l.partial[i+1:]
		}
	}
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// metricsURL reads the "poolside: metrics on http://ADDR/metrics, ..."
// line of a serve started with --metrics-addr.
func metricsURL(t *testing.T, p *serveProcess) string {
	t.Helper()
	line := nextLine(t, p.lines, "the metrics line")
	const prefix = "poolside: metrics on "
	require.True(t, strings.HasPrefix(line, prefix), "line %q", line)
	return strings.TrimSuffix(strings.Fields(strings.TrimPrefix(line, prefix))[0], ",")
}
