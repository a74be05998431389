package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/internal/wiretest"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

func TestServeSizingAndAdminUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--workers", "many"}, `invalid argument "many" for "--workers" flag: want a whole number of workers up to 100000 (0 = 16 × GOMAXPROCS) or auto`},
		{[]string{"--workers", "-2"}, `invalid argument "-2" for "--workers"`},
		{[]string{"--workers", "2.5"}, `invalid argument "2.5" for "--workers"`},
		{[]string{"--workers", "100001"}, `invalid argument "100001" for "--workers" flag: want a whole number of workers up to 100000`},
		{[]string{"--workers", ""}, `invalid argument "" for "--workers"`},
		{[]string{"--min-workers", "4"}, "--min-workers and --max-workers need --workers auto"},
		{[]string{"--workers", "8", "--max-workers", "16"}, "--min-workers and --max-workers need --workers auto"},
		{[]string{"--workers", "auto", "--model", "serial"}, "--workers auto needs --model pool or conn, not serial"},
		{[]string{"--workers", "auto", "--model", "unbounded"}, "--workers auto needs --model pool or conn, not unbounded"},
		{[]string{"--workers", "auto", "--min-workers", "10", "--max-workers", "5"}, "--min-workers 10 is above --max-workers 5"},
		{[]string{"--workers", "auto", "--min-workers", "-1"}, "must be 0 (the default) or more"},
		{[]string{"--workers", "auto", "--min-workers", "9999999"}, "--min-workers and --max-workers may be at most 100000, as --workers may"},
		{[]string{"--workers", "auto", "--max-workers", "100001"}, "may be at most 100000"},
		{[]string{"--admin-addr", "0.0.0.0:0"}, "--admin-addr 0.0.0.0:0 would serve the admin API on 0.0.0.0, but it has no authentication"},
		{[]string{"--admin-addr", ":0"}, "would serve the admin API on every interface"},
		{[]string{"--admin-addr", "[::]:0"}, "or add --admin-allow-remote"},
		{[]string{"--admin-addr", "example.com:9409"}, "use 127.0.0.1, ::1 or localhost"},
		{[]string{"--admin-addr", "127.0.0.1"}, `--admin-addr "127.0.0.1" is not host:port`},
		{[]string{"--admin-allow-remote"}, "--admin-allow-remote needs --admin-addr"},
		// Flags the chosen model or store would silently ignore.
		{[]string{"--workers", "8", "--model", "serial"}, "--workers sizes the pool of the pool and conn models; --model serial has none"},
		{[]string{"--workers", "0", "--model", "unbounded"}, "--model unbounded has none"},
		{[]string{"--queue", "8", "--model", "unbounded"}, "--queue bounds the requests waiting for a worker; --model unbounded has no queue"},
		{[]string{"--data", "x.db"}, "--data names the bolt file, but --store memory keeps bookings in memory"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, _, err := runCLI(t, append([]string{"serve", "--store", "memory", "--addr", "127.0.0.1:0"}, tc.args...)...)
			require.Error(t, err)
			assert.Equal(t, exitUsage, exitCode(err), "%v", err)
			assert.Contains(t, err.Error(), tc.says)
			assert.Empty(t, stdout, "nothing was served")
		})
	}
}

func TestServeHelpDocumentsSizingAndAdmin(t *testing.T) {
	stdout, _, err := runCLI(t, "serve", "--help")
	require.NoError(t, err)
	for _, s := range []string{"--workers N|auto", "--min-workers", "--max-workers", "--admin-addr", "--admin-allow-remote", "PUT /pool {\"workers\": N}", "Gradient2", "DNS rebinding"} {
		assert.Contains(t, stdout, s)
	}
}

// inProcessServe is "poolside serve" running in this process through run.
type inProcessServe struct {
	addr, admin string
	stderr      *lockedWriter
}

// startServeInProcess runs "poolside serve --addr 127.0.0.1:0 --admin-addr
// 127.0.0.1:0 --store memory args..." and reads its two address lines. It
// stops the server (as SIGINT would) when the test ends and checks that it
// exited cleanly.
func startServeInProcess(t *testing.T, args ...string) *inProcessServe {
	t.Helper()
	p := &inProcessServe{stderr: &lockedWriter{}}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	exited := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--store", "memory", "--log-level", "warn"}, args...), pw, p.stderr)
		pw.Close()
		exited <- err
	}()
	lines := make(chan string, 2)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // only the first two lines matter
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-exited:
			assert.NoError(t, err, "stderr: %s", p.stderr)
		case <-time.After(30 * time.Second):
			t.Error("poolside serve did not stop")
		}
		<-drained
	})

	for _, want := range []struct {
		prefix string
		into   *string
	}{{"poolside: serving on ", &p.addr}, {"poolside: admin API on ", &p.admin}} {
		select {
		case line, ok := <-lines:
			require.True(t, ok, "poolside serve stopped early: %s", p.stderr)
			require.True(t, strings.HasPrefix(line, want.prefix), "line %q, want %q...", line, want.prefix)
			*want.into = strings.TrimPrefix(line, want.prefix)
		case <-time.After(30 * time.Second):
			t.Fatalf("poolside serve did not start: %s", p.stderr)
		}
	}
	return p
}

// adminCall sends one request to the admin API at addr with the Host
// header host ("" for the address itself), and returns the status and
// body.
func adminCall(t *testing.T, method, addr, host, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+"/pool", strings.NewReader(body))
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	return resp.StatusCode, b
}

func decodeJSON[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(b, &v), "%s", b)
	return v
}

// TestServeAdminAPI resizes a running server through --admin-addr and
// keeps serving the protocol on the same address.
func TestServeAdminAPI(t *testing.T) {
	p := startServeInProcess(t, "--workers", "3")

	code, body := adminCall(t, http.MethodGet, p.admin, "", "")
	require.Equal(t, http.StatusOK, code, "%s", body)
	ps := decodeJSON[server.PoolState](t, body)
	assert.Equal(t, "pool", ps.Model)
	assert.Equal(t, 3, ps.Workers)
	assert.Nil(t, ps.Adaptive)

	code, body = adminCall(t, http.MethodPut, p.admin, "", `{"workers": 5}`)
	require.Equal(t, http.StatusOK, code, "%s", body)
	assert.Equal(t, 5, decodeJSON[server.PoolState](t, body).Workers)

	code, body = adminCall(t, http.MethodPut, p.admin, "", `{"workers": 0}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, decodeJSON[server.AdminError](t, body).Error, "workers is 0")

	for _, host := range []string{"localhost:9409", "[::1]:9409", "127.0.0.1"} {
		code, body = adminCall(t, http.MethodGet, p.admin, host, "")
		assert.Equal(t, http.StatusOK, code, "Host %s: %s", host, body)
	}
	code, body = adminCall(t, http.MethodPut, p.admin, "rebound.example:9409", `{"workers": 50}`)
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, decodeJSON[server.AdminError](t, body).Error, `Host "rebound.example:9409" is not a loopback name`)
	code, body = adminCall(t, http.MethodPut, p.admin, "", `{"workers": 50, "workers": 60}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, decodeJSON[server.AdminError](t, body).Error, `the JSON body has the key "workers" twice`)

	stdout, _, err := runCLI(t, "bookings", "--addr", p.addr, "--room", "312")
	require.NoError(t, err)
	assert.Equal(t, "Room 312 is not booked\n", stdout)
	code, body = adminCall(t, http.MethodGet, p.admin, "", "")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, 5, decodeJSON[server.PoolState](t, body).Workers, "the rebound host changed nothing")
}

// TestServeWorkersAutoMaxBelowDefaultMin: --max-workers 1 alone used to
// exit 4 with "below Min 2", a value the user never set.
func TestServeWorkersAutoMaxBelowDefaultMin(t *testing.T) {
	p := startServeInProcess(t, "--workers", "auto", "--max-workers", "1")
	code, body := adminCall(t, http.MethodGet, p.admin, "", "")
	require.Equal(t, http.StatusOK, code, "%s", body)
	ps := decodeJSON[server.PoolState](t, body)
	require.NotNil(t, ps.Adaptive)
	assert.Equal(t, 1, ps.Workers)
}

// TestServeWorkersAuto: with --workers auto the admin API shows the
// bounds and refuses to resize by hand.
func TestServeWorkersAuto(t *testing.T) {
	p := startServeInProcess(t, "--workers", "auto", "--min-workers", "2", "--max-workers", "6")

	code, body := adminCall(t, http.MethodGet, p.admin, "", "")
	require.Equal(t, http.StatusOK, code, "%s", body)
	ps := decodeJSON[server.PoolState](t, body)
	require.NotNil(t, ps.Adaptive)
	assert.Equal(t, 2, ps.Adaptive.Min)
	assert.Equal(t, 6, ps.Adaptive.Max)
	assert.True(t, ps.Workers >= 2 && ps.Workers <= 6, "workers %d", ps.Workers)

	code, body = adminCall(t, http.MethodPut, p.admin, "", `{"workers": 4}`)
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, decodeJSON[server.AdminError](t, body).Error, "adaptive sizing is on")
}

// TestServeRefusesBadAddressesBeforeOpeningTheStore: a malformed or
// duplicate address, a negative --drain-timeout and an empty --data are
// usage errors, reported before anything is bound or any file created.
func TestServeRefusesBadAddressesBeforeOpeningTheStore(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { held.Close() })
	inUse := held.Addr().String()

	for _, tc := range []struct {
		args []string
		says []string
	}{
		{[]string{"--addr", "127.0.0.1:99999"}, []string{`--addr "127.0.0.1:99999"`, "is not a number from 0 to 65535"}},
		{[]string{"--addr", "nonsense"}, []string{`--addr "nonsense" is not host:port`}},
		{[]string{"--addr", ""}, []string{`--addr is empty`}},
		{[]string{"--addr", "127.0.0.1:-1"}, []string{`--addr "127.0.0.1:-1"`, "is not a number from 0 to 65535"}},
		{[]string{"--metrics-addr", "bad"}, []string{`--metrics-addr "bad" is not host:port`}},
		{[]string{"--metrics-addr", "127.0.0.1:65536"}, []string{`--metrics-addr "127.0.0.1:65536"`, "is not a number from 0 to 65535"}},
		{[]string{"--admin-addr", "127.0.0.1:99999"}, []string{`--admin-addr "127.0.0.1:99999"`, "is not a number from 0 to 65535"}},
		{[]string{"--addr", inUse, "--metrics-addr", inUse}, []string{"--addr and --metrics-addr are both " + inUse, "each needs its own port"}},
		{[]string{"--metrics-addr", inUse, "--admin-addr", inUse}, []string{"--metrics-addr and --admin-addr are both " + inUse}},
		{[]string{"--drain-timeout", "-1s"}, []string{"--drain-timeout -1s", "0 or more"}},
		{[]string{"--data", ""}, []string{"--data is empty", "name the bolt database file"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "serve.db")
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data}, tc.args...)
			stdout, _, err := runCLI(t, args...)
			require.Error(t, err)
			assert.Equal(t, exitUsage, exitCode(err), "%v", err)
			for _, s := range tc.says {
				assert.Contains(t, err.Error(), s)
			}
			assert.NotContains(t, err.Error(), "another server", "only a port in use gets that hint")
			assert.Empty(t, stdout, "nothing was served")
			_, statErr := os.Stat(data)
			assert.ErrorIs(t, statErr, fs.ErrNotExist, "the database file was created before the flags were checked")
		})
	}
}

// TestServeBindsEverythingBeforeAnnouncing: when one of the addresses is
// taken, serve fails without printing its readiness line and without
// creating the database file, and the hint names the flag to change.
func TestServeBindsEverythingBeforeAnnouncing(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { held.Close() })
	inUse := held.Addr().String()

	for _, flag := range []string{"--addr", "--metrics-addr", "--admin-addr"} {
		t.Run(flag, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "serve.db")
			args := []string{"serve", "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data", data, flag, inUse}
			stdout, _, err := runCLI(t, args...)
			require.Error(t, err)
			assert.Equal(t, exitInternal, exitCode(err), "%v", err)
			assert.ErrorIs(t, err, syscall.EADDRINUSE)
			assert.Contains(t, err.Error(), "cannot listen on "+flag+" "+inUse)
			assert.Contains(t, err.Error(), "is another server already running there? choose another "+flag)
			assert.Empty(t, stdout, "the readiness line was printed although serve could not start")
			_, statErr := os.Stat(data)
			assert.ErrorIs(t, statErr, fs.ErrNotExist, "the database file was created although serve could not listen")
		})
	}
}

// TestServeStoreOpenErrors: a database that cannot be opened is named
// once, with what to do about it.
func TestServeStoreOpenErrors(t *testing.T) {
	t.Run("missing directory", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "missing", "x.db")
		stdout, _, err := runCLI(t, "serve", "--addr", "127.0.0.1:0", "--data", data)
		require.Error(t, err)
		assert.Equal(t, exitInternal, exitCode(err), "%v", err)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.Equal(t, 1, strings.Count(err.Error(), data), "the path once: %v", err)
		assert.Contains(t, err.Error(), "cannot open the booking database "+data+": no such file or directory")
		assert.Contains(t, err.Error(), "choose another --data")
		assert.Empty(t, stdout)
	})
	t.Run("in use", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "x.db")
		st, err := booking.OpenBolt(data, booking.BoltOptions{})
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		stdout, _, err := runCLI(t, "serve", "--addr", "127.0.0.1:0", "--data", data)
		require.Error(t, err)
		assert.Equal(t, exitInternal, exitCode(err), "%v", err)
		assert.ErrorIs(t, err, booking.ErrLocked)
		assert.Equal(t, 1, strings.Count(err.Error(), data), "the path once: %v", err)
		assert.Contains(t, err.Error(), "choose another --data")
		assert.Empty(t, stdout)
	})
}

func TestServeHelpDocumentsDrain(t *testing.T) {
	stdout, _, err := runCLI(t, "serve", "--help")
	require.NoError(t, err)
	assert.Contains(t, stdout, "SIGINT (Ctrl-C), SIGTERM or SIGHUP drains")
	assert.Contains(t, stdout, "A second signal stops the server at once")
	assert.Regexp(t, `--drain-timeout duration[^\n]*\(0 = no limit`, stdout)
	assert.Regexp(t, `--drain-timeout duration +on SIGINT, SIGTERM or SIGHUP,[^\n]*a second signal stops at once`, stdout)
}

// occupy sends a request on each of three connections to a server running
// --workers 1 --queue 1, so that one runs, one waits in the queue and the
// third is told the server is busy. The busy reply is the event that shows
// the other two are in flight; their replies (or errors) arrive on the
// returned channel.
func occupy(t *testing.T, addr string) <-chan error {
	t.Helper()
	type result struct {
		r   wire.Reply
		err error
	}
	results := make(chan result, 3)
	for range 3 {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { nc.Close() })
		go func() {
			r, err := wiretest.Exchange(nc, wire.Request{Action: wire.ActionBookingsForRoom, Room: "312"})
			results <- result{r, err}
		}()
	}
	select {
	case first := <-results:
		require.NoError(t, first.err)
		require.Equal(t, wire.ErrorReply(wire.MsgBusy), first.r, "the first reply should be the busy one")
	case <-time.After(30 * time.Second):
		t.Fatal("no busy reply: the pool did not fill")
	}
	replies := make(chan error, 2)
	go func() {
		for range 2 {
			res := <-results
			switch {
			case res.err != nil:
				replies <- res.err
			case res.r.IsError() && res.r.Message == wire.MsgBusy:
				replies <- errors.New("a second busy reply")
			default:
				replies <- nil // an answer: room 312 is not booked
			}
		}
	}()
	return replies
}

// TestServeDrainTimeoutZeroWaits: with --drain-timeout 0 a drain lets the
// requests in flight finish, however long they take, and answers them.
func TestServeDrainTimeoutZeroWaits(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	p := startServe(t, "--store", "memory", "--log-level", "info", "--workers", "1", "--queue", "1", "--work-delay", "1s", "--drain-timeout", "0")
	replies := occupy(t, p.addr)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	p.waitLog(t, "draining")
	for range 2 {
		select {
		case err := <-replies:
			assert.NoError(t, err, "a request in flight was cut")
		case <-time.After(30 * time.Second):
			t.Fatal("no reply")
		}
	}
	st := p.wait(t, "the drain")
	assert.True(t, st.Success(), "%v", st)
}

// TestServeSecondSignalStopsAtOnce: a second SIGTERM during a drain kills
// the process instead of waiting for the requests in flight.
func TestServeSecondSignalStopsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	p := startServe(t, "--store", "memory", "--log-level", "info", "--workers", "1", "--queue", "1", "--work-delay", "1h", "--drain-timeout", "1h")
	occupy(t, p.addr)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	p.waitLog(t, "draining")
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	st := p.wait(t, "a second SIGTERM")
	ws, ok := st.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	assert.True(t, ws.Signaled(), "want killed by the signal, got %v", st)
	assert.Equal(t, syscall.SIGTERM, ws.Signal())
}

// TestServeSecondSignalWhenIgnoredAtStart: a server started with SIGINT
// ignored, as a shell's background job (cmd &) is, still drains on the
// first SIGINT and stops at once, with status 130, on the second; the
// signal's default action there would be to ignore it.
func TestServeSecondSignalWhenIgnoredAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	cmd := exec.Command("sh", "-c", `trap '' INT; exec "$@"`, "sh", poolsideBinary(t),
		"serve", "--addr", "127.0.0.1:0", "--store", "memory", "--log-level", "info",
		"--workers", "1", "--queue", "1", "--work-delay", "1h", "--drain-timeout", "1h")
	p := serveAddr(t, startCommand(t, cmd))
	occupy(t, p.addr)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	p.waitLog(t, "draining")
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	st := p.wait(t, "a second SIGINT")
	assert.Equal(t, 130, st.ExitCode(), "%v", st)
}

// TestServeHorizon: --horizon bounds how far ahead a BOOK may be, the
// refusal names the last date allowed, and queries of later dates work.
func TestServeHorizon(t *testing.T) {
	p := startServeInProcess(t, "--horizon", "7")
	today := time.Now() // the server's own clock and zone
	day := func(n int) string { return today.AddDate(0, 0, n).Format(time.DateOnly) }

	stdout, _, err := runCLI(t, "book", "--addr", p.addr, "312", day(7))
	require.NoError(t, err)
	assert.Equal(t, "Booked room 312 for "+day(7)+"\n", stdout)

	_, _, err = runCLI(t, "book", "--addr", p.addr, "312", day(8))
	require.Error(t, err)
	assert.Equal(t, exitRefused, exitCode(err))
	assert.Contains(t, err.Error(), "Cannot book "+day(8)+": bookings are taken up to "+day(7))

	_, _, err = runCLI(t, "book", "--addr", p.addr, "312", "9999-12-31")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bookings are taken up to "+day(7))

	stdout, _, err = runCLI(t, "bookings", "--addr", p.addr, "--date", day(8))
	require.NoError(t, err, "a query past the horizon is allowed")
	assert.Equal(t, "No rooms are booked on "+day(8)+"\n", stdout)
}

func TestServeHorizonUsage(t *testing.T) {
	for _, v := range []string{"0", "-1"} {
		_, _, err := runCLI(t, "serve", "--store", "memory", "--addr", "127.0.0.1:0", "--horizon", v)
		require.Error(t, err)
		assert.Equal(t, exitUsage, exitCode(err))
		assert.Contains(t, err.Error(), "--horizon "+v+": want the number of days ahead a booking may be made, at least 1")
	}
}
