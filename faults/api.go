package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	// Seed is the proxy's seed. It is read-only: a request that sets it
	// is refused.
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
// Every success answers 200 with the state after the request, as GET does.
// A bad body or spec answers 400, another method 405 and another path 404,
// each with a JSON body {"error":"..."}. Changes apply to new connections,
// as Proxy.SetFaults says. The handler is safe for concurrent use.
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

func (a api) set(w http.ResponseWriter, r *http.Request) error {
	var body *struct { // a pointer, so that a null body is told apart
		Up   string `json:"up"`
		Down string `json:"down"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return fmt.Errorf("bad JSON body (want {\"up\":\"SPEC\",\"down\":\"SPEC\"}): %w", err)
	}
	if body == nil {
		return errors.New(`bad JSON body: null; want a JSON object such as {"up":"SPEC","down":"SPEC"} (DELETE clears the faults)`)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("bad JSON body: data after the object")
	}
	up, err := ParseSpec(body.Up)
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	down, err := ParseSpec(body.Down)
	if err != nil {
		return fmt.Errorf("down: %w", err)
	}
	return a.p.SetFaults(up, down)
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
