package main

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/poolside-dev/poolside/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := pgtest.Wrap(m).Run()
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

// TestFlagErrors: every flag error, of any command, is a usage error (exit
// status 2) that says where to read more, and an unknown flag close to a
// real one names it.
func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string // the whole message
	}{
		{[]string{"book", "--bogus", "312", "2028-12-01"},
			"unknown flag: --bogus (see 'poolside book --help')"},
		{[]string{"book", "-x", "312", "2028-12-01"},
			"unknown shorthand flag: 'x' in -x (see 'poolside book --help')"},
		{[]string{"tune", "--admin-addr", "127.0.0.1:9409"},
			"unknown flag: --admin-addr; did you mean --admin? (see 'poolside tune --help')"},
		{[]string{"book", "--tiemout", "1s", "312", "2028-12-01"},
			"unknown flag: --tiemout; did you mean --timeout? (see 'poolside book --help')"},
		{[]string{"book", "--JSON", "312", "2028-12-01"},
			"unknown flag: --JSON; did you mean --json? (see 'poolside book --help')"},
		{[]string{"bookings", "--rooms", "312"},
			"unknown flag: --rooms; did you mean --room? (see 'poolside bookings --help')"},
		{[]string{"unbook", "-addr", "127.0.0.1:9407", "312", "2028-12-01"},
			"unknown shorthand flag: 'a' in -addr; did you mean --addr? (see 'poolside unbook --help')"},
		{[]string{"serve", "--admin", "127.0.0.1:9409"},
			"unknown flag: --admin; did you mean --admin-addr? (see 'poolside serve --help')"},
		{[]string{"book", "--timeout", "soon", "312", "2028-12-01"},
			`invalid argument "soon" for "--timeout" flag: time: invalid duration "soon" (see 'poolside book --help')`},
		{[]string{"book", "312", "2028-12-01", "--addr"},
			"flag needs an argument: --addr (see 'poolside book --help')"},
		{[]string{"--bogus"}, "unknown flag: --bogus (see 'poolside --help')"},
		// An unknown command, with or without flags, is named as such.
		{[]string{"booking"}, `unknown command "booking"; did you mean bookings? (see 'poolside --help')`},
		{[]string{"bok", "312", "2028-12-01"}, `unknown command "bok"; did you mean book? (see 'poolside --help')`},
		{[]string{"booking", "--date", "2028-12-01"}, `unknown command "booking"; did you mean bookings? (see 'poolside --help')`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" (see 'poolside --help')`},
		{[]string{"--", "book", "312", "2028-12-01"}, `"book" is a command, but it came after "--", which makes it an argument: drop the "--"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			require.Error(t, err)
			assert.Equal(t, exitUsage, exitCode(err), "error: %v", err)
			assert.EqualError(t, err, tt.want)
			assert.Empty(t, stdout.String())
			assert.Empty(t, stderr.String())
		})
	}
}

func TestFlagSuggestions(t *testing.T) {
	names := []string{"addr", "admin", "admin-addr", "json", "timeout", "up", "upstream", "help"}
	tests := []struct {
		typed string
		want  []string
	}{
		{"admin-addr2", []string{"admin-addr"}},
		{"adminaddr", []string{"admin-addr"}},
		{"jsn", []string{"json"}},
		{"tim", []string{"timeout"}},
		{"upstreams", []string{"upstream"}},
		{"x", nil},
		{"bogus", nil},
		{"verbose", nil},
		{"ad", nil}, // too short to guess from
	}
	for _, tt := range tests {
		t.Run(tt.typed, func(t *testing.T) {
			assert.Equal(t, tt.want, suggestFlags(tt.typed, names))
		})
	}
}
