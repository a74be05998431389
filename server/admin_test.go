package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/pool"
	"github.com/poolside-dev/poolside/server"
)

// adminDo runs one request through h and returns the status and body.
func adminDo(t *testing.T, h http.Handler, method, target, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, rd))
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	return rec.Code, rec.Body.Bytes()
}

// adminState runs one request through h and decodes its PoolState answer.
func adminState(t *testing.T, h http.Handler, method, target, body string) server.PoolState {
	t.Helper()
	code, b := adminDo(t, h, method, target, body)
	return decodeState(t, code, b)
}

// decodeState decodes a PoolState answer.
func decodeState(t *testing.T, code int, body []byte) server.PoolState {
	t.Helper()
	require.Equal(t, http.StatusOK, code, "%s", body)
	var ps server.PoolState
	require.NoError(t, json.Unmarshal(body, &ps))
	return ps
}

// adminError decodes an AdminError answer.
func adminError(t *testing.T, body []byte) string {
	t.Helper()
	var e server.AdminError
	require.NoError(t, json.Unmarshal(body, &e), "%s", body)
	require.NotEmpty(t, e.Error)
	return e.Error
}

func TestAdminGetAndPutPool(t *testing.T) {
	s, err := server.New(server.Config{Handler: echo, Workers: 4, Queue: 32})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	h := server.AdminHandler(s)

	ps := adminState(t, h, http.MethodGet, "/pool", "")
	assert.Equal(t, server.PoolState{Model: "pool", Workers: 4, Queue: 32}, ps)

	ps = adminState(t, h, http.MethodPut, "/pool", `{"workers": 9}`)
	assert.Equal(t, 9, ps.Workers)
	assert.Equal(t, 9, s.Stats().Pool.Workers)
	ps = adminState(t, h, http.MethodPut, "/pool", "\n{\"workers\":100000}\n")
	assert.Equal(t, server.MaxAdminWorkers, ps.Workers)

	code, body := adminDo(t, h, http.MethodHead, "/pool", "")
	assert.Equal(t, http.StatusOK, code)
	assert.NotEmpty(t, body, "the recorder keeps the body; net/http drops it for HEAD")
}

// TestAdminRejectsBadValues: every malformed PUT is a 400 (413 when too
// long) with a JSON error that says what is wanted, and the pool keeps
// its size.
func TestAdminRejectsBadValues(t *testing.T) {
	s, err := server.New(server.Config{Handler: echo, Workers: 4})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	h := server.AdminHandler(s)

	for _, tc := range []struct {
		name, body string
		code       int
		says       string
	}{
		{"fraction", `{"workers": 2.5}`, 400, "workers is a JSON number 2.5"},
		{"exponent", `{"workers": 1e3}`, 400, "workers is a JSON number 1e3"},
		{"string", `{"workers": "8"}`, 400, "workers is a JSON string"},
		{"bool", `{"workers": true}`, 400, "workers is a JSON bool"},
		{"zero", `{"workers": 0}`, 400, "workers is 0"},
		{"negative", `{"workers": -3}`, 400, "workers is -3"},
		{"above the cap", `{"workers": 100001}`, 400, "workers is 100001"},
		{"overflow", `{"workers": 99999999999999999999}`, 400, "workers is a JSON number"},
		{"null", `{"workers": null}`, 400, "workers is missing"},
		{"missing", `{}`, 400, "workers is missing"},
		{"unknown field", `{"workers": 8, "queue": 9}`, 400, `unknown field "queue"`},
		{"misspelt", `{"worker": 8}`, 400, `unknown field "worker"`},
		{"capitalised", `{"Workers": 8}`, 400, `unknown field "Workers" (field names are lower case: "workers")`},
		{"empty", ``, 400, "the body is empty"},
		{"not an object", `8`, 400, "the body is a JSON number, not an object"},
		{"array", `[8]`, 400, "the body is a JSON array, not an object"},
		{"trailing data", `{"workers": 8} {"workers": 9}`, 400, "more data after the JSON object"},
		{"truncated", `{"workers": 8`, 400, "bad body"},
		{"too long", `{"workers": 8` + strings.Repeat(" ", 2000) + `}`, 413, "over 1024 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := adminDo(t, h, http.MethodPut, "/pool", tc.body)
			assert.Equal(t, tc.code, code)
			msg := adminError(t, body)
			assert.Contains(t, msg, tc.says)
			assert.Contains(t, msg, `want {"workers": N} with N a whole number from 1 to 100000`)
			assert.Equal(t, 4, s.Stats().Pool.Workers)
		})
	}
	t.Run("points", func(t *testing.T) {
		for _, q := range []string{"x", "-1", "1.5"} {
			code, body := adminDo(t, h, http.MethodGet, "/pool?points="+q, "")
			assert.Equal(t, http.StatusBadRequest, code)
			assert.Contains(t, adminError(t, body), "points=")
		}
	})
}

func TestAdminMethodsAndPaths(t *testing.T) {
	s, err := server.New(server.Config{Handler: echo})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	h := server.AdminHandler(s)
	for _, m := range []string{http.MethodPost, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(m, "/pool", strings.NewReader(`{"workers": 8}`)))
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, m)
		assert.Equal(t, "GET, HEAD, PUT", rec.Header().Get("Allow"))
		assert.Contains(t, adminError(t, rec.Body.Bytes()), "use GET or PUT")
	}
	for _, path := range []string{"/", "/pool/", "/pools", "/metrics"} {
		code, body := adminDo(t, h, http.MethodGet, path, "")
		assert.Equal(t, http.StatusNotFound, code, path)
		assert.Contains(t, adminError(t, body), "the admin API serves /pool")
	}
}

// TestAdminConflicts: models without a resizable pool, adaptive sizing and
// a closed server each refuse a PUT with the reason.
func TestAdminConflicts(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  server.Config
		says string
	}{
		{"serial", server.Config{Model: server.ModelSerial}, "the serial model has no resizable pool"},
		{"unbounded", server.Config{Model: server.ModelUnbounded}, "the unbounded model has no resizable pool"},
		{"adaptive", server.Config{Adaptive: &server.AdaptiveConfig{}}, "adaptive sizing is on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Handler = echo
			s, err := server.New(tc.cfg)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			h := server.AdminHandler(s)
			before := adminState(t, h, http.MethodGet, "/pool", "")
			assert.Equal(t, tc.cfg.Model.String(), before.Model)
			code, body := adminDo(t, h, http.MethodPut, "/pool", `{"workers": 7}`)
			assert.Equal(t, http.StatusConflict, code)
			assert.Contains(t, adminError(t, body), tc.says)
			assert.Equal(t, before, adminState(t, h, http.MethodGet, "/pool", ""))
		})
	}
	t.Run("closed", func(t *testing.T) {
		s, err := server.New(server.Config{Handler: echo, Workers: 4})
		require.NoError(t, err)
		require.NoError(t, s.Close())
		h := server.AdminHandler(s)
		code, body := adminDo(t, h, http.MethodPut, "/pool", `{"workers": 7}`)
		assert.Equal(t, http.StatusServiceUnavailable, code)
		assert.Contains(t, adminError(t, body), "shutting down")
		assert.Equal(t, 4, adminState(t, h, http.MethodGet, "/pool", "").Workers, "GET still works")
	})
}

// TestAdminShowsAdaptiveSizing: with adaptive sizing on, GET /pool shows
// the bounds, the limit and the latest points, over real HTTP.
func TestAdminShowsAdaptiveSizing(t *testing.T) {
	r := newAdaptiveRig(t, server.Config{Workers: 4, Adaptive: &server.AdaptiveConfig{
		Limit: pool.Gradient2Config{Min: 2, Max: 16},
	}}, time.Millisecond)
	r.load(8)
	for range server.DefaultAdminPoints + 3 {
		r.interval(8)
	}
	hs := httptest.NewServer(server.AdminHandler(r.s))
	t.Cleanup(hs.Close)

	get := func(query string) server.PoolState {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL+"/pool"+query, nil)
		require.NoError(t, err)
		resp, err := hs.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return decodeState(t, resp.StatusCode, body)
	}
	ps := get("")
	require.NotNil(t, ps.Adaptive)
	assert.Equal(t, 2, ps.Adaptive.Min)
	assert.Equal(t, 16, ps.Adaptive.Max)
	assert.Equal(t, ps.Workers, ps.Adaptive.Limit)
	history := r.s.AdaptiveHistory()
	for i := range history {
		history[i].Time = history[i].Time.UTC() // as JSON brings it back
	}
	assert.Equal(t, history[len(history)-server.DefaultAdminPoints:], ps.Adaptive.Recent)
	last := ps.Adaptive.Recent[len(ps.Adaptive.Recent)-1]
	assert.Equal(t, ps.Workers, last.Limit)
	assert.Positive(t, last.Latency)
	assert.Positive(t, last.Estimate)

	assert.Len(t, get("?points=2").Adaptive.Recent, 2)
	assert.Equal(t, history, get("?points=1000").Adaptive.Recent, "at most the whole history")
	assert.Empty(t, get("?points=0").Adaptive.Recent)
}
