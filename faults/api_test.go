package faults_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAPI(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		path      string
		body      string
		code      int
		want      faults.APIState // for 200
		errSubstr string          // for other codes
	}{
		{"get", http.MethodGet, "/faults", "", 200, faults.APIState{Up: "chunk=1", Down: "cut=100", Seed: 42}, ""},
		{"put", http.MethodPut, "/faults", `{"up":"chunk=1..8, delay=1ms","down":"reset=5"}`, 200,
			faults.APIState{Up: "chunk=1..8,delay=1ms", Down: "reset=5", Seed: 42}, ""},
		{"post one direction", http.MethodPost, "/faults", `{"down":"blackhole"}`, 200,
			faults.APIState{Down: "blackhole", Seed: 42}, ""},
		{"delete", http.MethodDelete, "/faults", "", 200, faults.APIState{Seed: 42}, ""},
		{"bad spec", http.MethodPut, "/faults", `{"up":"chunk=0"}`, 400, faults.APIState{}, `up: faults: bad spec: token \"chunk=0\"`},
		{"unknown key", http.MethodPut, "/faults", `{"down":"jitter=5"}`, 400, faults.APIState{}, `unknown fault \"jitter\"`},
		{"direction prefix", http.MethodPut, "/faults", `{"up":"read:cut=1"}`, 400, faults.APIState{}, "prefix"},
		{"bad json", http.MethodPut, "/faults", `{"up":`, 400, faults.APIState{}, "bad JSON body"},
		{"unknown field", http.MethodPut, "/faults", `{"seed":7}`, 400, faults.APIState{}, `unknown field \"seed\"`},
		{"null", http.MethodPut, "/faults", `null`, 400, faults.APIState{}, "a JSON object"},
		{"array", http.MethodPut, "/faults", `[]`, 400, faults.APIState{}, "bad JSON body"},
		{"trailing data", http.MethodPut, "/faults", `{} {}`, 400, faults.APIState{}, "data after the object"},
		{"method", http.MethodPatch, "/faults", "", 405, faults.APIState{}, "method PATCH not allowed"},
		{"path", http.MethodGet, "/nope", "", 404, faults.APIState{}, "no such path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := faults.NewProxy(faults.Config{
				Upstream: "127.0.0.1:1",
				Up:       []faults.Fault{faults.Chunk{Max: 1}},
				Down:     []faults.Fault{faults.Cut{At: 100}},
				Seed:     42,
			})
			require.NoError(t, err)
			t.Cleanup(func() { _ = p.Close() })
			h := faults.NewAPI(p)

			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
			require.Equal(t, tt.code, rec.Code, rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			if tt.code != http.StatusOK {
				var e struct{ Error string }
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e))
				assert.Contains(t, rec.Body.String(), tt.errSubstr)
				assert.NotEmpty(t, e.Error)
				up, down := p.Faults()
				assert.Equal(t, "chunk=1", faults.FormatSpec(up), "a refused change changes nothing")
				assert.Equal(t, "cut=100", faults.FormatSpec(down))
				return
			}
			var got faults.APIState
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			assert.Equal(t, tt.want, got)

			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/faults", nil))
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			assert.Equal(t, tt.want, got, "GET shows the change")
		})
	}
}
