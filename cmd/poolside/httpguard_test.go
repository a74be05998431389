package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/server"
)

// guardRequest is one request to a guarded handler.
type guardRequest struct {
	method string
	host   string            // the Host header; "" means 127.0.0.1:8474
	header map[string]string // more headers
	body   string
}

func (g guardRequest) build(target string) *http.Request {
	method := g.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if g.body != "" {
		body = strings.NewReader(g.body)
	}
	r := httptest.NewRequest(method, target, body)
	r.Host = "127.0.0.1:8474"
	if g.host != "" {
		r.Host = g.host
	}
	for k, v := range g.header {
		r.Header.Set(k, v)
	}
	return r
}

// errorOf decodes a guard's JSON error answer.
func errorOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
	var e struct{ Error string }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), "%s", rec.Body)
	require.NotEmpty(t, e.Error)
	return e.Error
}

func TestGuardAPI(t *testing.T) {
	jsonCT := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name      string
		opts      guardOptions
		req       guardRequest
		code      int    // 0: passed on to the handler
		errSubstr string // for a refusal
	}{
		{"loopback v4", guardOptions{}, guardRequest{}, 0, ""},
		{"loopback v4 net", guardOptions{}, guardRequest{host: "127.5.6.7:1"}, 0, ""},
		{"loopback v6", guardOptions{}, guardRequest{host: "[::1]:8474"}, 0, ""},
		{"localhost", guardOptions{}, guardRequest{host: "LocalHost:8474"}, 0, ""},
		{"localhost without port", guardOptions{}, guardRequest{host: "localhost"}, 0, ""},
		{"foreign Host", guardOptions{Name: "the fault API"}, guardRequest{host: "evil.example:8474"}, 403,
			`Host "evil.example:8474" is not a loopback name; the fault API answers only requests to 127.0.0.1, [::1] or localhost`},
		{"name under localhost", guardOptions{}, guardRequest{host: "localhost.evil.example"}, 403, "this API answers only"},
		{"machine's own address", guardOptions{}, guardRequest{host: "192.0.2.1:8474"}, 403, "not a loopback name"},
		{"empty Host", guardOptions{}, guardRequest{host: ":8474"}, 403, "not a loopback name"},
		{"remote allowed", guardOptions{AllowRemote: true}, guardRequest{host: "proxy.ci.internal:8474"}, 0, ""},
		{"remote allowed, still no cross-site write", guardOptions{AllowRemote: true},
			guardRequest{method: http.MethodPut, host: "proxy:8474", header: map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, body: "{}"},
			403, "the web page at http://evil.example"},
		{"same origin", guardOptions{},
			guardRequest{method: http.MethodPut, header: map[string]string{"Content-Type": "application/json", "Origin": "http://127.0.0.1:8474"}, body: "{}"}, 0, ""},
		{"foreign origin", guardOptions{},
			guardRequest{method: http.MethodPut, header: map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, body: "{}"},
			403, "a request from the web page at http://evil.example is refused"},
		{"foreign origin, read", guardOptions{}, guardRequest{header: map[string]string{"Origin": "https://evil.example"}}, 403, "https://evil.example"},
		{"other loopback port", guardOptions{},
			guardRequest{method: http.MethodDelete, header: map[string]string{"Origin": "http://127.0.0.1:3000"}}, 403, "http://127.0.0.1:3000"},
		{"null origin", guardOptions{}, guardRequest{method: http.MethodDelete, header: map[string]string{"Origin": "null"}}, 403, "web page at null"},
		{"cross-site", guardOptions{}, guardRequest{method: http.MethodDelete, header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403,
			"Sec-Fetch-Site: cross-site"},
		{"same-site", guardOptions{}, guardRequest{header: map[string]string{"Sec-Fetch-Site": "same-site"}}, 403, "Sec-Fetch-Site: same-site"},
		{"typed in the address bar", guardOptions{}, guardRequest{header: map[string]string{"Sec-Fetch-Site": "none"}}, 0, ""},
		{"text/plain write", guardOptions{},
			guardRequest{method: http.MethodPost, header: map[string]string{"Content-Type": "text/plain"}, body: `{"a":1}`}, 415,
			`POST with a body needs the header Content-Type: application/json, got Content-Type "text/plain" (with curl, add -H 'Content-Type: application/json')`},
		{"form write", guardOptions{},
			guardRequest{method: http.MethodPut, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: `{"a":1}`}, 415, "application/x-www-form-urlencoded"},
		{"untyped write", guardOptions{}, guardRequest{method: http.MethodPatch, body: `{"a":1}`}, 415, "got no Content-Type"},
		{"typed empty write", guardOptions{}, guardRequest{method: http.MethodPost, header: map[string]string{"Content-Type": "text/plain"}}, 415, "text/plain"},
		{"other charset", guardOptions{},
			guardRequest{method: http.MethodPut, header: map[string]string{"Content-Type": "application/json; charset=latin1"}, body: `{}`}, 415, "charset=latin1"},
		{"utf-8 charset", guardOptions{},
			guardRequest{method: http.MethodPut, header: map[string]string{"Content-Type": "application/json;charset=UTF-8"}, body: `{}`}, 0, ""},
		{"delete without body", guardOptions{}, guardRequest{method: http.MethodDelete}, 0, ""},
		{"text/plain read", guardOptions{}, guardRequest{header: map[string]string{"Content-Type": "text/plain"}}, 0, ""},
		{"too large", guardOptions{}, guardRequest{method: http.MethodPut, header: jsonCT, body: `{"a":"` + strings.Repeat("x", 64<<10) + `"}`}, 413,
			"the body is larger than 65536 bytes"},
		{"duplicate key", guardOptions{}, guardRequest{method: http.MethodPut, header: jsonCT, body: `{"up":"cut=1","down":"","up":""}`}, 400,
			`the JSON body has the key "up" twice; send each key once`},
		{"duplicate key, nested", guardOptions{}, guardRequest{method: http.MethodPost, header: jsonCT, body: `{"a":[1,{"b":{"c":1,"c":2}}]}`}, 400,
			`the JSON body has the key "c" twice in the object at a[1].b; send each key once`},
		{"same key in two objects", guardOptions{}, guardRequest{method: http.MethodPost, header: jsonCT, body: `{"a":{"k":1},"b":{"k":1},"k":[{"k":1},{"k":2}]}`}, 0, ""},
		{"not JSON: the handler explains", guardOptions{}, guardRequest{method: http.MethodPut, header: jsonCT, body: `{"up":`}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			called := false
			h := guardAPI(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				b, err := io.ReadAll(r.Body)
				assert.NoError(t, err)
				got = string(b)
				w.WriteHeader(http.StatusTeapot)
			}), tt.opts)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tt.req.build("/faults"))
			if tt.code == 0 {
				assert.True(t, called, "passed on: %d %s", rec.Code, rec.Body)
				assert.Equal(t, http.StatusTeapot, rec.Code)
				assert.Equal(t, tt.req.body, got, "the handler reads the body the guard read")
				return
			}
			assert.False(t, called, "refused before the handler")
			assert.Equal(t, tt.code, rec.Code)
			assert.Contains(t, errorOf(t, rec), tt.errSubstr)
		})
	}
}

func TestDuplicateKey(t *testing.T) {
	for _, tt := range []struct {
		body       string
		found      bool
		key, where string
	}{
		{`{"a":1,"a":2}`, true, "a", ""},
		{` { "a" : 1 , "b" : { "a" : 1 } , "a" : 3 } `, true, "a", ""},
		{`{"a":{"b":1,"b":1}}`, true, "b", " in the object at a"},
		{`[{"a":1},{"a":1,"a":1}]`, true, "a", " in the object at [1]"},
		{`{"x":[[],[{"y":{"z":0,"z":0}}]]}`, true, "z", " in the object at x[1][0].y"},
		{`{"":1,"":2}`, true, "", ""},
		{`{"a\u0062":1,"ab":2}`, true, "ab", ""}, // one key, spelt two ways
		{`{"a":1,"a"`, true, "a", ""},            // found before the text breaks off
		{`{"a":"a","b":"a","c":["a","a"]}`, false, "", ""},
		{`{"a":1,"A":2}`, false, "", ""}, // the APIs refuse the wrong case themselves
		{`{"a":`, false, "", ""},
		{`not json`, false, "", ""},
		{``, false, "", ""},
		{`"a"`, false, "", ""},
	} {
		key, where, found := duplicateKey([]byte(tt.body))
		assert.Equal(t, tt.found, found, tt.body)
		assert.Equal(t, tt.key, key, tt.body)
		assert.Equal(t, tt.where, where, tt.body)
	}
}

// The admin API is guarded by the same code: a duplicate key is refused
// before the pool is resized, in the admin API's own error shape.
func TestGuardAPIAdmin(t *testing.T) {
	srv, err := server.New(server.Config{Workers: 2, Handler: server.HandlerFunc(func(context.Context, []byte) []byte { return nil })})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	h := guardAPI(server.AdminHandler(srv), guardOptions{Name: "the admin API"})

	put := func(body string, header map[string]string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, guardRequest{method: http.MethodPut, header: header, body: body}.build("/pool"))
		return rec
	}
	jsonCT := map[string]string{"Content-Type": "application/json"}
	rec := put(`{"workers":3,"workers":5}`, jsonCT)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	var e server.AdminError
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e))
	assert.Equal(t, `the JSON body has the key "workers" twice; send each key once`, e.Error)
	assert.Equal(t, 2, srv.Stats().Pool.Workers, "not resized")

	rec = put(`{"workers":3}`, map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"})
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Equal(t, 2, srv.Stats().Pool.Workers, "not resized")

	rec = put(`{"workers":3}`, jsonCT)
	assert.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
	assert.Equal(t, 3, srv.Stats().Pool.Workers)
}

func TestRemoteAPIWarning(t *testing.T) {
	for _, tc := range []struct {
		addr string
		warn bool
	}{
		{"127.0.0.1:9501", false},
		{"[::1]:9501", false},
		{"0.0.0.0:9501", true},
		{"[::]:9501", true},
		{"192.0.2.1:9501", true},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tc.addr)
		require.NoError(t, err)
		w := remoteAPIWarning("the fault API", addr)
		if !tc.warn {
			assert.Empty(t, w, tc.addr)
			continue
		}
		assert.Equal(t, "warning: the fault API on "+addr.String()+" can be reached from other machines and asks for no credentials: anyone who can connect to it can use it; listen on 127.0.0.1 unless this network is trusted", w)
		assert.NotContains(t, w, "\n", "one line")
	}
}

// startPprof serves pprofHandler on a loopback port until the test ends
// and returns its base URL.
func startPprof(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/debug/pprof/", pprofHandler())
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s.URL
}

// pprofGet fetches url with the Host header host ("" for the URL's) and
// returns the status, the Content-Type and the body.
func pprofGet(t *testing.T, url, host string) (int, string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// The profiles answer only loopback names, and refuse a profile or trace
// longer than their bounds before starting it.
func TestPprofHandler(t *testing.T) {
	base := startPprof(t)
	for _, tt := range []struct {
		path      string
		host      string
		code      int
		errSubstr string // for a JSON error
	}{
		{"/debug/pprof/", "", http.StatusOK, ""},
		{"/debug/pprof/cmdline", "", http.StatusOK, ""},
		{"/debug/pprof/goroutine?debug=1", "", http.StatusOK, ""},
		{"/debug/pprof/heap", "localhost", http.StatusOK, ""},
		{"/debug/pprof/trace?seconds=0.05", "", http.StatusOK, ""},
		{"/debug/pprof/symbol", "", http.StatusOK, ""},
		{"/debug/pprof/", "evil.example", http.StatusForbidden, `Host "evil.example" is not a loopback name; the profiling endpoint answers only`},
		{"/debug/pprof/heap", "evil.example:9408", http.StatusForbidden, "not a loopback name"},
		{"/debug/pprof/trace?seconds=600", "", http.StatusBadRequest,
			"seconds=600: a trace lasts more than 0 and at most 30 seconds (the process holds a trace in memory until the client has read it); ask for at most seconds=30"},
		{"/debug/pprof/trace?seconds=600", "evil.example", http.StatusForbidden, "not a loopback name"},
		{"/debug/pprof/trace?seconds=NaN", "", http.StatusBadRequest, "seconds=NaN"},
		{"/debug/pprof/trace?seconds=-1", "", http.StatusBadRequest, "seconds=-1"},
		{"/debug/pprof/profile?seconds=600", "", http.StatusBadRequest,
			"seconds=600: a profile lasts a whole number of seconds from 1 to 60 (the limit keeps a forgotten request from loading the server); ask for at most seconds=60"},
		{"/debug/pprof/profile?seconds=1.5", "", http.StatusBadRequest, "seconds=1.5"},
		{"/debug/pprof/profile?seconds=0", "", http.StatusBadRequest, "seconds=0"},
		{"/debug/pprof/heap?seconds=3600", "", http.StatusBadRequest, "seconds=3600"},
		{"/debug/pprof/allocs?seconds=x", "", http.StatusBadRequest, "seconds=x"},
	} {
		t.Run(tt.path+" "+tt.host, func(t *testing.T) {
			start := time.Now()
			code, ct, body := pprofGet(t, base+tt.path, tt.host)
			assert.Equal(t, tt.code, code, "%s", body)
			if tt.errSubstr != "" {
				assert.Equal(t, "application/json", ct)
				var e struct{ Error string }
				require.NoError(t, json.Unmarshal(body, &e), "%s", body)
				assert.Contains(t, e.Error, tt.errSubstr)
				assert.Less(t, time.Since(start), 5*time.Second, "refused at once, not after the profile")
			}
		})
	}
}
