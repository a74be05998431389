package load_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

func TestParseModelSpecs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []load.ModelSpec
		str  string
	}{
		{"serial", []load.ModelSpec{{Model: server.ModelSerial}}, "serial"},
		{"pool", []load.ModelSpec{{Model: server.ModelPool}}, "pool"},
		{"serial, pool:8,conn:64,unbounded", []load.ModelSpec{
			{Model: server.ModelSerial}, {Model: server.ModelPool, Workers: 8},
			{Model: server.ModelConn, Workers: 64}, {Model: server.ModelUnbounded},
		}, "serial,pool:8,conn:64,unbounded"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := load.ParseModelSpecs(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			var names []string
			for _, s := range got {
				names = append(names, s.String())
			}
			assert.Equal(t, tc.str, strings.Join(names, ","))
		})
	}
	for _, bad := range []string{"", ",", "threads", "pool:0", "pool:x", "pool:-1", "serial:2", "unbounded:4"} {
		t.Run("bad "+bad, func(t *testing.T) {
			_, err := load.ParseModelSpecs(bad)
			require.ErrorIs(t, err, load.ErrInvalidConfig)
		})
	}
	assert.Equal(t, 1, load.ModelSpec{Model: server.ModelSerial, Workers: 9}.EffectiveWorkers())
	assert.Equal(t, 0, load.ModelSpec{Model: server.ModelUnbounded}.EffectiveWorkers())
	assert.Equal(t, server.DefaultWorkers(), load.ModelSpec{}.EffectiveWorkers())
}

func TestParseMix(t *testing.T) {
	m, err := load.ParseMix(load.DefaultMix.String())
	require.NoError(t, err)
	assert.Equal(t, load.DefaultMix, m)
	m, err = load.ParseMix("book=1")
	require.NoError(t, err)
	assert.Equal(t, load.Mix{Book: 1}, m)
	for _, bad := range []string{"", "book", "book=-1", "book=0", "nap=1", "book=x"} {
		_, err := load.ParseMix(bad)
		require.ErrorIs(t, err, load.ErrInvalidConfig, bad)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"no address", func() error { _, err := load.NewRunner(context.Background(), load.Config{}); return err }()},
		{"bad address", load.Config{Addr: "nowhere"}.Validate()},
		{"negative clients", load.Config{Addr: "127.0.0.1:1", Clients: -1}.Validate()},
		{"negative rate", load.Config{Addr: "127.0.0.1:1", Rate: -1}.Validate()},
		{"NaN rate", load.Config{Addr: "127.0.0.1:1", Rate: math.NaN()}.Validate()},
		{"infinite rate", load.Config{Addr: "127.0.0.1:1", Rate: math.Inf(1)}.Validate()},
		{"rate past a µs per request", load.Config{Addr: "127.0.0.1:1", Rate: 1e6 + 1}.Validate()},
		{"rate past a ns per request", load.Config{Addr: "127.0.0.1:1", Rate: 2e9}.Validate()},
		{"negative timeout", load.Config{Addr: "127.0.0.1:1", Timeout: -1}.Validate()},
		{"negative mix", load.Config{Addr: "127.0.0.1:1", Mix: load.Mix{Book: -1}}.Validate()},
		{"negative warm-up", load.Window{Warmup: -1}.Validate()},
		{"negative duration", load.Window{Duration: -1}.Validate()},
		{"negative cap", load.Window{MaxRequests: -1}.Validate()},
		{"bad store", load.ServerConfig{Store: "tape"}.Validate()},
		{"negative work delay", load.ServerConfig{WorkDelay: -1}.Validate()},
		{"negative queue", load.ServerConfig{Queue: -1}.Validate()},
		{"unknown model", load.ServerConfig{Model: load.ModelSpec{Model: server.Model(99)}}.Validate()},
	} {
		t.Run(tc.name, func(t *testing.T) { require.ErrorIs(t, tc.err, load.ErrInvalidConfig) })
	}
	require.NoError(t, load.Config{Addr: "127.0.0.1:1"}.Validate())
	require.NoError(t, load.Config{Addr: "127.0.0.1:1", Rate: load.MaxRate}.Validate())
	require.NoError(t, load.Config{Addr: "127.0.0.1:1", Rate: 0.01}.Validate())
	assert.ErrorContains(t, load.Config{Addr: "127.0.0.1:1", Rate: 2e9}.Validate(), "more than 1,000,000 requests per second")
	require.NoError(t, load.Window{}.Validate())
	require.NoError(t, load.ServerConfig{}.Validate())
	require.NoError(t, load.Config{}.Validate(), "a load before its server")
}

// TestFieldErrors: each field out of range is a FieldError that names it,
// and a message can name the fields in the caller's words (a command's
// flags), also under a parent configuration.
func TestFieldErrors(t *testing.T) {
	err := load.Config{Clients: -1, Rate: 2e9, Timeout: -time.Second}.Validate()
	fes := load.FieldErrors(err)
	require.Len(t, fes, 3)
	assert.Equal(t, []string{"Clients", "Rate", "Timeout"}, []string{fes[0].Field, fes[1].Field, fes[2].Field})
	assert.Equal(t, -1, fes[0].Value)
	assert.Contains(t, err.Error(), "load: invalid config: Clients is -1, must be 0 (default 16) or more")
	for _, fe := range fes {
		require.ErrorIs(t, fe, load.ErrInvalidConfig)
	}

	nested := load.PrefixFields("Load", load.CheckRate(0.5, "Rate", time.Second, "Duration"))
	fes = load.FieldErrors(nested)
	require.Len(t, fes, 1)
	assert.Equal(t, "Load.Rate", fes[0].Field)
	flags := map[string]string{"Load.Rate": "--rate", "Load.Duration": "--duration"}
	text := fes[0].Text(func(path string) string { return flags[path] })
	assert.Equal(t, "--rate 0.5 sends one request every 2s, longer than the 1s measured (--duration), so at most one request would be measured; raise --rate to at least 1, or --duration to at least 2s", text)

	store := load.FieldErrors(load.ServerConfig{Store: "tape"}.Validate())
	require.Len(t, store, 1)
	assert.Equal(t, `--store is "tape", must be memory or bolt`, store[0].Text(func(string) string { return "--store" }))
	assert.Empty(t, load.FieldErrors(nil))
	assert.Nil(t, load.PrefixFields("Load", nil))
	plain := errors.New("not a field's")
	assert.Equal(t, plain, load.PrefixFields("Load", plain))
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want load.ErrorKind
	}{
		{&client.ServerError{Message: wire.MsgBusy}, load.ErrorBusy},
		{&client.ServerError{Message: wire.MsgDuplicate}, load.ErrorServer},
		{fmt.Errorf("x: %w", os.ErrDeadlineExceeded), load.ErrorTimeout},
		{fmt.Errorf("%w: refused", client.ErrConnect), load.ErrorConnection},
		{io.EOF, load.ErrorConnection},
		{client.ErrMismatch, load.ErrorOther},
	} {
		got := load.Classify(tc.err)
		assert.Equal(t, tc.want, got, tc.err.Error())
		assert.NotEqual(t, "unknown", got.String())
	}
}

func TestLocalServerWorkersAfterClose(t *testing.T) {
	ls, err := load.StartServer(load.ServerConfig{Model: load.ModelSpec{Model: server.ModelPool, Workers: 2}})
	require.NoError(t, err)
	n, err := ls.Workers()
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	require.NoError(t, ls.Close())
	_, err = ls.Workers()
	require.ErrorIs(t, err, load.ErrClosed)
}
