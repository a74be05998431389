package tune_test

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/benchmarks/tune"
	"github.com/poolside-dev/poolside/server"
)

// quickTune keeps a real search to about a second: short windows, a
// small pool range, few steps.
func quickTune(cfg tune.Config) tune.Config {
	cfg.Load.Clients = 8
	cfg.Settle = 20 * time.Millisecond
	cfg.StepDuration = 150 * time.Millisecond
	cfg.MaxSteps = 5
	return cfg
}

// checkPoints checks what any real search must give, whatever the
// machine's speed.
func checkPoints(t *testing.T, rep *tune.Report) {
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
	rep, err := tune.InProcess(context.Background(), tune.LocalConfig{
		Config:   quickTune(tune.Config{}),
		Server:   load.ServerConfig{WorkDelay: 2 * time.Millisecond},
		Adaptive: 300 * time.Millisecond,
	})
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
func startAdmin(t *testing.T, ls *load.LocalServer) string {
	t.Helper()
	ts := httptest.NewServer(server.AdminHandler(ls.Server()))
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

func startPool(t *testing.T, cfg load.ServerConfig) *load.LocalServer {
	t.Helper()
	ls, err := load.StartServer(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { ls.Close() })
	return ls
}

func TestTuneRemoteThroughTheAdminAPI(t *testing.T) {
	for _, apply := range []bool{false, true} {
		t.Run(map[bool]string{false: "restore", true: "apply"}[apply], func(t *testing.T) {
			ls := startPool(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelPool, Workers: 3}, WorkDelay: 2 * time.Millisecond})
			cfg := quickTune(tune.Config{Load: load.Config{Addr: ls.Addr()}, Apply: apply})
			rep, err := tune.Running(context.Background(), cfg, &tune.AdminSizer{Addr: startAdmin(t, ls)})
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
	ls := startPool(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelPool, Workers: 3}})
	a := &tune.AdminSizer{Addr: startAdmin(t, ls)}
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
	require.ErrorIs(t, err, tune.ErrAdminRefused)
	assert.Contains(t, err.Error(), "workers is 0", "the API's message")

	serial := startPool(t, load.ServerConfig{Model: load.ModelSpec{Model: server.ModelSerial}})
	err = (&tune.AdminSizer{Addr: startAdmin(t, serial)}).Resize(4)
	require.ErrorIs(t, err, tune.ErrAdminRefused)
	assert.Contains(t, err.Error(), "409")

	_, err = (&tune.AdminSizer{Addr: "nowhere"}).Workers()
	require.ErrorIs(t, err, load.ErrInvalidConfig)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, err = (&tune.AdminSizer{Addr: closed}).Workers()
	require.Error(t, err)
	var ne net.Error
	assert.ErrorAs(t, err, &ne, "a connection failure is a network error")
	assert.NotErrorIs(t, err, tune.ErrAdminRefused)
}

// TestTuneRefusesTheConnModel: in the conn model a connection holds its
// worker for its whole life, so shrinking the pool does not reach the
// clients' connections and the search would measure nothing.
func TestTuneRefusesTheConnModel(t *testing.T) {
	conn := load.ModelSpec{Model: server.ModelConn, Workers: 3}
	t.Run("in process", func(t *testing.T) {
		err := tune.LocalConfig{Config: quickTune(tune.Config{}), Server: load.ServerConfig{Model: conn}}.Validate()
		require.ErrorIs(t, err, load.ErrInvalidConfig)
		assert.ErrorContains(t, err, "conn model")
	})
	t.Run("remote", func(t *testing.T) {
		ls := startPool(t, load.ServerConfig{Model: conn})
		_, err := tune.Running(t.Context(), quickTune(tune.Config{Load: load.Config{Addr: ls.Addr()}}), &tune.AdminSizer{Addr: startAdmin(t, ls)})
		require.ErrorIs(t, err, tune.ErrNotTunable)
		assert.ErrorContains(t, err, "conn model")
		n, err := ls.Workers()
		require.NoError(t, err)
		assert.Equal(t, 3, n, "the pool was not touched")
	})
	t.Run("any sizer and measurer", func(t *testing.T) {
		ls := startPool(t, load.ServerConfig{Model: conn})
		r, err := load.NewRunner(t.Context(), load.Config{Server: ls, Clients: 2})
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, r.Close()) })
		_, err = tune.Search(t.Context(), quickTune(tune.Config{}), ls, r)
		require.ErrorIs(t, err, tune.ErrNotTunable)
	})
}
