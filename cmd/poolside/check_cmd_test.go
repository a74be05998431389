package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/internal/pgtest"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

// overLimit admits a sixth booking on a date.
type overLimit struct{ booking.Store }

func (s overLimit) Book(ctx context.Context, room string, d wire.Date, limit int) error {
	return s.Store.Book(ctx, room, d, limit+1)
}

// serveStore serves the booking service on store in this process until
// the test ends, and returns its address.
func serveStore(t *testing.T, store booking.Store) string {
	t.Helper()
	svc, err := booking.New(store, booking.Config{})
	require.NoError(t, err)
	cfg := server.Config{Model: server.ModelPool, Workers: 16, Handler: svc}
	cfg.BusyReply, cfg.ReadTimeoutReply, cfg.InternalErrorReply = wire.ServerReplies()
	srv, err := server.New(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done; _ = svc.Close() })
	return ln.Addr().String()
}

// TestCheckFailsABrokenServer: against a server that admits a sixth
// booking on a date, check exits 1, names the first operation no order
// explains and the anomaly, writes the timeline (an HTML page) and prints
// the command line that replays the run.
func TestCheckFailsABrokenServer(t *testing.T) {
	addr := serveStore(t, overLimit{booking.NewMemoryStore()})
	html := filepath.Join(t.TempDir(), "timeline.html")
	out, _, err := runCLI(t, "check", "--addr", addr, "--ops", "400", "--seed", "3", "--html", html)
	require.Error(t, err)
	assert.Equal(t, exitRefused, exitCode(err))
	assert.Contains(t, out, "verdict: not linearizable")
	assert.Regexp(t, `no order of the operations on \d{4}-\d\d-\d\d explains op \d+, client \d+ on `+addr, out)
	assert.Contains(t, out, "wrong: ")
	assert.Contains(t, out, "dates read with more than 5 bookings")
	assert.Contains(t, out, "replay: poolside check --addr "+addr+" --seed 3 --clients 8 --ops 400")
	assert.Contains(t, out, "timeline: "+html)
	b, err := os.ReadFile(html)
	require.NoError(t, err)
	assert.Contains(t, string(b), "<html")
}

// TestCheckUsageAndUnreachable: usage errors say what is wrong (exit 2);
// a server that is not there is exit 3.
func TestCheckUsageAndUnreachable(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check"}, "--addr is missing"},
		{[]string{"check", "--addr", "127.0.0.1:9407", "--clients", "0"}, "--clients is 0: give 1 or more"},
		{[]string{"check", "--addr", "127.0.0.1:9407", "--first-date", "tomorrow"}, "--first-date \"tomorrow\": want YYYY-MM-DD"},
		{[]string{"check", "--addr", "127.0.0.1:9407", "--rooms", "400"}, "there are only 340 rooms"},
	} {
		_, _, err := runCLI(t, tc.args...)
		require.Error(t, err, "%v", tc.args)
		assert.Equal(t, exitUsage, exitCode(err), "%v", tc.args)
		assert.Contains(t, err.Error(), tc.want)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	ln.Close()
	_, _, err = runCLI(t, "check", "--addr", closed, "--timeout", "1s")
	require.Error(t, err)
	assert.Equal(t, exitNetwork, exitCode(err))
	assert.Contains(t, err.Error(), "could not reach the servers")
	assert.Contains(t, err.Error(), "connection refused")
}

// TestCheckWithNemesis: check starts the deployment itself and runs its
// fault schedule (kills, pauses, cut links, resets, stalls) during the
// workload. A bolt server keeps everything it acknowledged through
// SIGKILL and passes; a memory server forgets its bookings when killed,
// and fails, named as lost bookings. Three instances on PostgreSQL pass,
// under database faults too (cut and stalled links, a restart). 4 s each;
// 30 s under make robustness (POOLSIDE_ROBUSTNESS=full).
func TestCheckWithNemesis(t *testing.T) {
	if testing.Short() {
		t.Skip("runs servers as processes")
	}
	bin := poolsideBinary(t)
	dir := t.TempDir()
	cluster := pgtest.Server(t)
	db := pgtest.NewDB(t)
	pgServe := bin + " serve --log-level warn --store postgres --db-timeout 1s --db-url 'postgres://" + pgtest.Superuser + "@{db}/" + db.Name + "?sslmode=disable' --addr {addr}"
	for _, tc := range []struct {
		name      string
		serve     string
		instances int
		nemesis   string
		extra     []string
		pass      bool
	}{
		{"bolt, every fault", bin + " serve --log-level warn --data " + dir + "/b{n}.db --addr {addr}", 1, "kill,pause,cut,reset,stall", nil, true},
		{"memory, killed", bin + " serve --log-level warn --store memory --addr {addr}", 1, "kill", nil, false},
		{"3 instances on postgres, database faults too", pgServe, 3, "kill,pause,cut,db-cut,db-stall,db-restart",
			[]string{"--db", db.Addr, "--db-restart", cluster.RestartCommand()}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			html := filepath.Join(t.TempDir(), "t.html")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			duration, ops := "4s", "800"
			if os.Getenv("POOLSIDE_ROBUSTNESS") == "full" { // make robustness
				duration, ops = "30s", "6000"
			}
			args := append([]string{"check", "--serve", tc.serve, "--instances", strconv.Itoa(tc.instances), "--nemesis", tc.nemesis,
				"--nemesis-every", "200ms", "--nemesis-hold", "200ms", "--duration", duration, "--ops", ops, "--html", html}, tc.extra...)
			err := run(ctx, args, &stdout, &stderr)
			out := stdout.String()
			t.Log(out)
			b, rerr := os.ReadFile(html)
			require.NoError(t, rerr)
			for _, kind := range strings.Split(tc.nemesis, ",") {
				what := map[string]string{"db-cut": "cut the database links", "db-stall": "stall the database links", "db-restart": "restart the database"}[kind]
				if what == "" {
					what = kind + " instance"
				}
				assert.True(t, strings.Contains(string(b), what), "the %s faults are on the timeline", kind)
			}
			if tc.pass {
				require.NoError(t, err, "%s\n%s", out, stderr.String())
				assert.Contains(t, out, "verdict: linearizable")
				return
			}
			require.Error(t, err)
			assert.Equal(t, exitRefused, exitCode(err))
			assert.Contains(t, out, "acknowledged bookings lost")
			assert.Contains(t, out, "replay: poolside check --serve ")
		})
	}
}

// TestCheckEveryModelUnderFaults: every model, on memory and on bolt,
// passes poolside check with a fault schedule on: pauses, cut links,
// resets and stalls, and on bolt SIGKILL and restart too (a memory
// server forgets its bookings when killed: TestCheckWithNemesis).
func TestCheckEveryModelUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs servers as processes")
	}
	bin := poolsideBinary(t)
	for _, model := range []string{"pool", "serial", "conn", "unbounded"} {
		for _, store := range []string{"memory", "bolt"} {
			t.Run(model+"/"+store, func(t *testing.T) {
				serve := bin + " serve --log-level warn --model " + model + " --store " + store + " --addr {addr}"
				nemesis := "pause,cut,reset,stall"
				if store == "bolt" {
					serve += " --data " + filepath.Join(t.TempDir(), "c{n}.db")
					nemesis = "kill," + nemesis
				}
				if model == "conn" {
					serve += " --workers 16" // a worker per connection: 8 clients, the settling reads, the clean-up
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				var stdout, stderr bytes.Buffer
				err := run(ctx, []string{"check", "--serve", serve, "--nemesis", nemesis, "--nemesis-every", "150ms", "--nemesis-hold", "150ms",
					"--duration", "2s", "--ops", "400"}, &stdout, &stderr)
				require.NoError(t, err, "%s\n%s", stdout.String(), stderr.String())
				assert.Contains(t, stdout.String(), "verdict: linearizable")
			})
		}
	}
}
