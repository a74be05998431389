package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// TestSignalContext: the first signal cancels the context, and stop
// returns once the signal is released. (That a second signal then kills
// the process is TestServeSecondSignalStopsAtOnce's job.)
func TestSignalContext(t *testing.T) {
	t.Run("signal", func(t *testing.T) {
		probe := make(chan os.Signal, 2) // keeps SIGHUP from killing the test whatever happens
		signal.Notify(probe, syscall.SIGHUP)
		defer signal.Stop(probe)
		ctx, stop := signalContext(context.Background(), syscall.SIGHUP)
		defer stop()
		self, err := os.FindProcess(os.Getpid())
		require.NoError(t, err)
		require.NoError(t, self.Signal(syscall.SIGHUP))
		select {
		case <-ctx.Done():
		case <-time.After(30 * time.Second):
			t.Fatal("the signal did not cancel the context")
		}
	})
	t.Run("stop", func(t *testing.T) {
		ctx, stop := signalContext(context.Background(), syscall.SIGHUP)
		stop()
		require.ErrorIs(t, ctx.Err(), context.Canceled)
	})
}
