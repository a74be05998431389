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
		{"bad spec", http.MethodPut, "/faults", `{"up":"chunk=0"}`, 400, faults.APIState{}, `\"up\": faults: bad spec: token \"chunk=0\"`},
		{"unknown key", http.MethodPut, "/faults", `{"down":"jitter=5"}`, 400, faults.APIState{}, `unknown fault \"jitter\"`},
		{"direction prefix", http.MethodPut, "/faults", `{"down":"read:cut=1"}`, 400, faults.APIState{},
			`\"down\": faults: bad spec: token \"read:cut=1\": drop the \"read:\" prefix (\"down\" already says which bytes the fault acts on)`},
		{"bad json", http.MethodPut, "/faults", `{"up":`, 400, faults.APIState{}, "bad JSON body"},
		{"empty body", http.MethodPut, "/faults", ``, 400, faults.APIState{}, "the body is empty; want a JSON object such as"},
		{"seed sent back", http.MethodPut, "/faults", `{"up":"chunk=2","down":"","seed":42}`, 200, faults.APIState{Up: "chunk=2", Seed: 42}, ""},
		{"seed null", http.MethodPut, "/faults", `{"up":"chunk=2","seed":null}`, 200, faults.APIState{Up: "chunk=2", Seed: 42}, ""},
		{"seed changed", http.MethodPut, "/faults", `{"up":"chunk=2","seed":7}`, 400, faults.APIState{},
			`\"seed\" 7 cannot be set: the proxy's seed is 42, fixed when the proxy starts (Config.Seed; poolside proxy --seed); send 42 or leave \"seed\" out`},
		{"seed not a number", http.MethodPut, "/faults", `{"seed":"42"}`, 400, faults.APIState{}, `\"seed\" is a string; want the proxy's seed, 42`},
		{"spec not a string", http.MethodPut, "/faults", `{"up":5}`, 400, faults.APIState{}, `\"up\" is a number, not a string`},
		{"unknown field", http.MethodPut, "/faults", `{"jitter":"1"}`, 400, faults.APIState{},
			`unknown field \"jitter\" in the body (the fields are \"up\", \"down\" and \"seed\")`},
		{"field case", http.MethodPut, "/faults", `{"Up":"cut=2"}`, 400, faults.APIState{},
			`unknown field \"Up\" in the body (field names are lower case: \"up\")`},
		{"null", http.MethodPut, "/faults", `null`, 400, faults.APIState{}, "the body is null, not an object; want a JSON object such as"},
		{"array", http.MethodPut, "/faults", `[]`, 400, faults.APIState{}, `the body is an array, not an object; want a JSON object such as {\"up\":\"SPEC\",\"down\":\"SPEC\"}`},
		{"string", http.MethodPut, "/faults", `"cut=1"`, 400, faults.APIState{}, "the body is a string, not an object"},
		{"too large", http.MethodPut, "/faults", `{"up":"` + strings.Repeat(" ", 64<<10) + `"}`, 400, faults.APIState{},
			`the body is larger than 65536 bytes; want a JSON object such as`},
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
				assert.NotContains(t, e.Error, "struct", "the error speaks JSON, not Go")
				assert.NotContains(t, e.Error, faults.SpecSyntax, "the API offers no read:/write: prefix")
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

// The body a GET returns can be PUT back as it is, as a script that saves
// and restores the faults does.
func TestAPIGetThenPut(t *testing.T) {
	p, err := faults.NewProxy(faults.Config{Upstream: "127.0.0.1:1", Down: []faults.Fault{faults.Cut{At: 100}}, Seed: 42})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	h := faults.NewAPI(p)

	get := httptest.NewRecorder()
	h.ServeHTTP(get, httptest.NewRequest(http.MethodGet, "/faults", nil))
	require.Equal(t, http.StatusOK, get.Code)
	saved := get.Body.String()

	require.NoError(t, p.SetFaults([]faults.Fault{faults.Chunk{Max: 1}}, nil))
	put := httptest.NewRecorder()
	h.ServeHTTP(put, httptest.NewRequest(http.MethodPut, "/faults", strings.NewReader(saved)))
	require.Equal(t, http.StatusOK, put.Code, put.Body.String())
	assert.JSONEq(t, saved, put.Body.String(), "the faults are restored")
}
