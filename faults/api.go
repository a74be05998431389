package faults

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// maxAPIBody bounds the size of a request body the API reads.
const maxAPIBody = 64 << 10

// APIState is the JSON body of the API's replies: the spec strings of
// the faults applied to new connections, and the proxy's seed.
type APIState struct {
	// Up is the spec of the client-to-upstream faults; "" means none.
	Up string `json:"up"`
	// Down is the spec of the upstream-to-client faults; "" means none.
	Down string `json:"down"`
	// Seed is the proxy's seed, fixed when the proxy is made
	// (Config.Seed). A request may carry it, so that a GET's body can be
	// sent back, but only with this value.
	Seed uint64 `json:"seed"`
}

// NewAPI returns an http.Handler that reads and replaces p's faults as JSON
// on the path /faults:
//
//	GET /faults          {"up":"chunk=1","down":"cut=100","seed":42}
//	PUT or POST /faults  body {"up":"chunk=1","down":"cut=100"} sets both
//	                     directions (a missing field means no faults)
//	DELETE /faults       clears both directions
//
// The body of a PUT or POST is a JSON object with the fields "up" and
// "down", spelt in lower case, whose values are specs as ParseProxySpec
// reads them (no read: or write: prefix: "up" and "down" already say which
// bytes the faults act on). It may also have "seed", which must equal the
// proxy's seed: a GET's body can be sent back as it is, but the seed cannot
// change on a running proxy. Any other field is refused.
//
// Every success answers 200 with the state after the request, as GET does.
// A bad body or spec answers 400, another method 405 and another path 404,
// each with a JSON body {"error":"..."}. Changes apply to new connections,
// as Proxy.SetFaults says. The handler is safe for concurrent use.
//
// NewAPI asks for no credentials and checks neither the Host header, nor
// the Origin, nor the Content-Type of a request, and of a field sent twice
// the last counts: serve it where only your own programs reach it, such
// as an httptest server in a test. poolside proxy --api serves it behind a
// guard that keeps web pages out (loopback Host names only, JSON bodies
// only, no requests from other origins, no duplicate fields).
func NewAPI(p *Proxy) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/faults", func(w http.ResponseWriter, r *http.Request) { api{p}.faults(w, r) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such path %q; use /faults", r.URL.Path))
	})
	return mux
}

type api struct{ p *Proxy }

func (a api) faults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPut, http.MethodPost:
		if err := a.set(w, r); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	case http.MethodDelete:
		if err := a.p.SetFaults(nil, nil); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, POST, DELETE")
		writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed; use GET, PUT, POST or DELETE", r.Method))
		return
	}
	up, down := a.p.Faults()
	writeJSON(w, http.StatusOK, APIState{Up: FormatSpec(up), Down: FormatSpec(down), Seed: a.p.Seed()})
}

// apiBodyShape is the body a PUT or POST wants, as its errors show it.
const apiBodyShape = `{"up":"SPEC","down":"SPEC"}`

func (a api) set(w http.ResponseWriter, r *http.Request) error {
	// The body is read as a JSON object of raw values, not into a struct:
	// encoding/json would match field names whatever their case.
	var raw json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("the body is empty; want a JSON object such as %s (DELETE clears the faults)", apiBodyShape)
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("the body is larger than %d bytes; want a JSON object such as %s", tooBig.Limit, apiBodyShape)
		}
		return fmt.Errorf("bad JSON body (want %s): %w", apiBodyShape, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("bad JSON body: data after the object")
	}
	if kind := jsonKind(raw); kind != "an object" {
		return fmt.Errorf("the body is %s, not an object; want a JSON object such as %s (DELETE clears the faults)", kind, apiBodyShape)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return fmt.Errorf("bad JSON body (want %s): %w", apiBodyShape, err)
	}
	var up, down string
	dst := map[string]*string{"up": &up, "down": &down}
	for _, name := range slices.Sorted(maps.Keys(fields)) { // the same error for the same body
		v := fields[name]
		if name == "seed" {
			if err := a.checkSeed(v); err != nil {
				return err
			}
			continue
		}
		spec, ok := dst[name]
		if !ok {
			hint := `the fields are "up", "down" and "seed"`
			if l := strings.ToLower(name); l == "up" || l == "down" || l == "seed" {
				hint = fmt.Sprintf("field names are lower case: %q", l)
			}
			return fmt.Errorf("unknown field %q in the body (%s)", name, hint)
		}
		if err := json.Unmarshal(v, spec); err != nil {
			return fmt.Errorf(`%q is %s, not a string; want a spec such as "chunk=1,delay=1ms" ("" for none)`, name, jsonKind(v))
		}
	}
	upFaults, err := ParseProxySpec(`"up"`, up)
	if err != nil {
		return fmt.Errorf(`"up": %w`, err)
	}
	downFaults, err := ParseProxySpec(`"down"`, down)
	if err != nil {
		return fmt.Errorf(`"down": %w`, err)
	}
	return a.p.SetFaults(upFaults, downFaults)
}

// checkSeed accepts a "seed" value equal to the proxy's seed, or null.
func (a api) checkSeed(v json.RawMessage) error {
	want := a.p.Seed()
	var seed *uint64
	if err := json.Unmarshal(v, &seed); err != nil {
		return fmt.Errorf(`"seed" is %s; want the proxy's seed, %d, or leave "seed" out`, jsonKind(v), want)
	}
	if seed != nil && *seed != want {
		return fmt.Errorf(`"seed" %d cannot be set: the proxy's seed is %d, fixed when the proxy starts (Config.Seed; poolside proxy --seed); send %d or leave "seed" out`,
			*seed, want, want)
	}
	return nil
}

// jsonKind names the kind of the JSON value v, as "an object", "an array",
// "a string", "a number", "a boolean" or "null".
func jsonKind(v json.RawMessage) string {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return "empty"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, struct {
		Error string `json:"error"`
	}{err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
