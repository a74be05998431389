package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
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
	exited chan struct{}
	err    error // cmd.Wait's result, once exited is closed
}

// startProcess runs the built binary with args. The process is killed
// when the test ends if it is still running.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	cmd := exec.Command(poolsideBinary(t), args...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &process{cmd: cmd, stderr: &lockedWriter{}, lines: make(chan string, 16), exited: make(chan struct{})}
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case <-p.exited:
		return p.err
	case <-ctx.Done():
		t.Fatalf("poolside did not exit after %v", sig)
		return nil
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
	p := &serveProcess{process: startProcess(t, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, args...)...)}
	line := nextLine(t, p.lines, "poolside serve (stderr: "+p.stderr.String()+")")
	const prefix = "poolside: serving on "
	require.True(t, strings.HasPrefix(line, prefix), "first line %q", line)
	p.addr = strings.TrimPrefix(line, prefix)
	return p
}

// lockedWriter serialises writes to a strings.Builder.
type lockedWriter struct {
	mu sync.Mutex
	w  strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
