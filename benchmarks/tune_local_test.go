package benchmarks_test

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks"
	"github.com/poolside-dev/poolside/server"
)

// quickTune keeps a real search to about a second: short windows, a
// small pool range, few steps.
func quickTune(cfg benchmarks.TuneConfig) benchmarks.TuneConfig {
	cfg.Load.Clients = 8
	cfg.Settle = 20 * time.Millisecond
	cfg.Step = 150 * time.Millisecond
	cfg.MaxSteps = 5
	return cfg
}

// checkPoints checks what any real search must give, whatever the
// machine's speed.
func checkPoints(t *testing.T, rep *benchmarks.TuneReport) {
	t.Helper()
	require.NotEmpty(t, rep.Points)
	assert.LessOrEqual(t, len(rep.Points), 5)
	assert.Equal(t, 1, rep.Points[0].Workers, "the probe")
	for _, p := range rep.Points {
		assert.Positive(t, p.RPS, "%d workers", p.Workers)
		assert.Zero(t, p.Errors, "%d workers", p.Workers)
		assert.LessOrEqual(t, p.Workers, 8)
	}
	assert.Positive(t, rep.ServiceTime)
	assert.GreaterOrEqual(t, rep.Recommended, 1)
	assert.LessOrEqual(t, rep.Recommended, 8)
	assert.NotEmpty(t, rep.Explanation)
}

func TestTuneInProcessWithAdaptive(t *testing.T) {
	cfg := quickTune(benchmarks.TuneConfig{
		Server:   benchmarks.ServerConfig{WorkDelay: 2 * time.Millisecond},
		Adaptive: 300 * time.Millisecond,
	})
	rep, err := benchmarks.Tune(context.Background(), cfg)
	require.NoError(t, err)
	checkPoints(t, rep)
	assert.True(t, rep.Env.InProcess)
	assert.True(t, rep.RTTMeasured)
	for _, p := range rep.Points {
		require.NotNil(t, p.Result.Server)
		assert.Equal(t, p.Workers, p.Result.Server.Workers, "the pool was resized live")
	}

	a := rep.Adaptive
	require.NotNil(t, a)
	assert.NotEmpty(t, a.Trajectory, "the control loop ran")
	assert.Positive(t, a.Result.RPS)
	assert.GreaterOrEqual(t, a.Settled, a.Min)
	assert.LessOrEqual(t, a.Settled, a.Max)
}

// startAdmin serves the admin API of ls on loopback.
func startAdmin(t *testing.T, ls *benchmarks.LocalServer) string {
	t.Helper()
	ts := httptest.NewServer(server.AdminHandler(ls.Server()))
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

func startPool(t *testing.T, cfg benchmarks.ServerConfig) *benchmarks.LocalServer {
	t.Helper()
	ls, err := benchmarks.StartServer(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { ls.Close() })
	return ls
}

func TestTuneRemoteThroughTheAdminAPI(t *testing.T) {
	for _, apply := range []bool{false, true} {
		t.Run(map[bool]string{false: "restore", true: "apply"}[apply], func(t *testing.T) {
			ls := startPool(t, benchmarks.ServerConfig{Model: benchmarks.ModelSpec{Model: server.ModelPool, Workers: 3}, WorkDelay: 2 * time.Millisecond})
			cfg := quickTune(benchmarks.TuneConfig{
				Load:  benchmarks.Config{Addr: ls.Addr()},
				Sizer: &benchmarks.AdminSizer{Addr: startAdmin(t, ls)},
				Apply: apply,
			})
			rep, err := benchmarks.Tune(context.Background(), cfg)
			require.NoError(t, err)
			checkPoints(t, rep)
			assert.False(t, rep.Env.InProcess)
			assert.False(t, rep.RTTMeasured, "a remote server's side is not seen")

			want := 3
			if apply {
				want = rep.Recommended
			}
			assert.Equal(t, want, rep.FinalWorkers)
			n, err := ls.Workers()
			require.NoError(t, err)
			assert.Equal(t, want, n)
		})
	}
}

func TestAdminSizer(t *testing.T) {
	ls := startPool(t, benchmarks.ServerConfig{Model: benchmarks.ModelSpec{Model: server.ModelPool, Workers: 3}})
	a := &benchmarks.AdminSizer{Addr: startAdmin(t, ls)}
	n, err := a.Workers()
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	require.NoError(t, a.Resize(7))
	n, err = ls.Workers()
	require.NoError(t, err)
	assert.Equal(t, 7, n)
	st, err := a.State()
	require.NoError(t, err)
	assert.Equal(t, "pool", st.Model)
	assert.Equal(t, 7, st.Workers)

	err = a.Resize(0)
	require.ErrorIs(t, err, benchmarks.ErrAdminRefused)
	assert.Contains(t, err.Error(), "workers is 0", "the API's message")

	serial := startPool(t, benchmarks.ServerConfig{Model: benchmarks.ModelSpec{Model: server.ModelSerial}})
	err = (&benchmarks.AdminSizer{Addr: startAdmin(t, serial)}).Resize(4)
	require.ErrorIs(t, err, benchmarks.ErrAdminRefused)
	assert.Contains(t, err.Error(), "409")

	_, err = (&benchmarks.AdminSizer{Addr: "nowhere"}).Workers()
	require.ErrorIs(t, err, benchmarks.ErrInvalidConfig)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, err = (&benchmarks.AdminSizer{Addr: closed}).Workers()
	require.Error(t, err)
	var ne net.Error
	assert.ErrorAs(t, err, &ne, "a connection failure is a network error")
	assert.NotErrorIs(t, err, benchmarks.ErrAdminRefused)
}

func TestLocalServerWorkersAfterClose(t *testing.T) {
	ls, err := benchmarks.StartServer(benchmarks.ServerConfig{Model: benchmarks.ModelSpec{Model: server.ModelPool, Workers: 2}})
	require.NoError(t, err)
	n, err := ls.Workers()
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	require.NoError(t, ls.Close())
	_, err = ls.Workers()
	require.ErrorIs(t, err, benchmarks.ErrClosed)
}

// TestTuneRefusesTheConnModel: in the conn model a connection holds its
// worker for its whole life, so shrinking the pool does not reach the
// clients' connections and the search would measure nothing.
func TestTuneRefusesTheConnModel(t *testing.T) {
	conn := benchmarks.ModelSpec{Model: server.ModelConn, Workers: 3}
	t.Run("in process", func(t *testing.T) {
		err := quickTune(benchmarks.TuneConfig{Server: benchmarks.ServerConfig{Model: conn}}).Validate()
		require.ErrorIs(t, err, benchmarks.ErrInvalidConfig)
		assert.ErrorContains(t, err, "conn model")
	})
	t.Run("remote", func(t *testing.T) {
		ls := startPool(t, benchmarks.ServerConfig{Model: conn})
		_, err := benchmarks.Tune(t.Context(), quickTune(benchmarks.TuneConfig{
			Load:  benchmarks.Config{Addr: ls.Addr()},
			Sizer: &benchmarks.AdminSizer{Addr: startAdmin(t, ls)},
		}))
		require.ErrorIs(t, err, benchmarks.ErrNotTunable)
		assert.ErrorContains(t, err, "conn model")
		n, err := ls.Workers()
		require.NoError(t, err)
		assert.Equal(t, 3, n, "the pool was not touched")
	})
	t.Run("custom", func(t *testing.T) {
		ls := startPool(t, benchmarks.ServerConfig{Model: conn})
		r := newRunner(t, benchmarks.Config{Server: ls, Clients: 2})
		_, err := benchmarks.Tune(t.Context(), quickTune(benchmarks.TuneConfig{Sizer: ls, Measurer: r}))
		require.ErrorIs(t, err, benchmarks.ErrNotTunable)
	})
}
