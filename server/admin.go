package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/poolside-dev/poolside/pool"
)

// Limits of the admin API.
const (
	// MaxAdminWorkers is the largest pool size PUT /pool accepts: a
	// guard against a typo, far above any useful size.
	MaxAdminWorkers = 100000
	// DefaultAdminPoints is how many adaptive sizing points GET /pool
	// shows unless ?points=N asks for another number.
	DefaultAdminPoints = 10
	// maxAdminBody bounds the body of PUT /pool.
	maxAdminBody = 1 << 10
)

// PoolState is the JSON body of the admin API's answers to GET and PUT
// /pool: the pool's size and counters (see pool.Stats), and adaptive
// sizing's state when it is on. In ModelUnbounded every pool field is 0.
type PoolState struct {
	Model     string         `json:"model"`
	Workers   int            `json:"workers"`
	Queue     int            `json:"queue"`
	Running   int64          `json:"running"`
	Waiting   uint64         `json:"waiting"`
	Submitted uint64         `json:"submitted"`
	Completed uint64         `json:"completed"`
	Rejected  uint64         `json:"rejected"`
	Panicked  uint64         `json:"panicked"`
	Adaptive  *AdaptiveState `json:"adaptive,omitempty"`
}

// AdaptiveState is adaptive sizing's part of PoolState.
type AdaptiveState struct {
	// Limit is the pool size the controller set last (Workers again).
	Limit int `json:"limit"`
	// Min and Max bound it.
	Min int `json:"min"`
	Max int `json:"max"`
	// Recent holds the latest updates, oldest first: DefaultAdminPoints
	// of them, or as many as GET /pool?points=N asks for.
	Recent []AdaptivePoint `json:"recent"`
}

// AdminError is the JSON body of the admin API's error answers.
type AdminError struct {
	Error string `json:"error"`
}

// AdminHandler returns the HTTP admin API of s, for a listener the caller
// chooses (keep it on loopback: the API can change the server's capacity
// and asks for no credentials). It uses only net/http:
//
//	GET /pool                 200 PoolState
//	GET /pool?points=N        the same, with the latest N adaptive points
//	PUT /pool {"workers": N}  resize with Server.Resize; 200 PoolState
//
// PUT answers 400 with an AdminError for a body that is not exactly
// {"workers": N} with N a whole number from 1 to MaxAdminWorkers (unknown
// fields, a fraction, a string and trailing data are all refused), 409 if
// the model has no resizable pool or adaptive sizing is on (the control
// loop owns the size then; restart without it to size by hand), and 503
// once the server is shutting down. Other methods get 405, other paths
// 404. Every answer is JSON.
func AdminHandler(s *Server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/pool", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			points := DefaultAdminPoints
			if q := r.URL.Query().Get("points"); q != "" {
				n, err := strconv.Atoi(q)
				if err != nil || n < 0 {
					writeAdminError(w, http.StatusBadRequest, fmt.Sprintf("points=%q: want a whole number, 0 or more", q))
					return
				}
				points = n
			}
			writeAdmin(w, http.StatusOK, s.poolState(points))
		case http.MethodPut:
			putPool(s, w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD, PUT")
			writeAdminError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on /pool; use GET or PUT", r.Method))
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAdminError(w, http.StatusNotFound, fmt.Sprintf("no such resource %s; the admin API serves /pool", r.URL.Path))
	})
	return mux
}

// putPool is PUT /pool.
func putPool(s *Server, w http.ResponseWriter, r *http.Request) {
	want := fmt.Sprintf(`want {"workers": N} with N a whole number from 1 to %d`, MaxAdminWorkers)
	var body struct {
		Workers *int `json:"workers"`
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		err = dec.Decode(&body)
		if err == nil {
			if _, err2 := dec.Token(); err2 != io.EOF {
				err = errors.New("more data after the JSON object")
			}
		}
		if err == nil {
			err = exactFields(raw, "workers")
		}
	}
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		writeAdminError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes; %s", maxAdminBody, want))
		return
	case errors.Is(err, io.EOF):
		writeAdminError(w, http.StatusBadRequest, "the body is empty; "+want)
		return
	case errors.As(err, &typeErr) && typeErr.Field == "":
		writeAdminError(w, http.StatusBadRequest, fmt.Sprintf("the body is a JSON %s, not an object; %s", typeErr.Value, want))
		return
	case errors.As(err, &typeErr):
		writeAdminError(w, http.StatusBadRequest, fmt.Sprintf("%s is a JSON %s; %s", typeErr.Field, typeErr.Value, want))
		return
	case err != nil:
		writeAdminError(w, http.StatusBadRequest, fmt.Sprintf("bad body: %v; %s", err, want))
		return
	case body.Workers == nil:
		writeAdminError(w, http.StatusBadRequest, "workers is missing; "+want)
		return
	case *body.Workers < 1 || *body.Workers > MaxAdminWorkers:
		writeAdminError(w, http.StatusBadRequest, fmt.Sprintf("workers is %d; %s", *body.Workers, want))
		return
	}

	switch err := s.Resize(*body.Workers); {
	case errors.Is(err, ErrNoPool):
		writeAdminError(w, http.StatusConflict, fmt.Sprintf("the %v model has no resizable pool", s.Model()))
	case errors.Is(err, ErrAdaptive):
		writeAdminError(w, http.StatusConflict, "adaptive sizing is on: the server sizes its pool itself; restart it with a number of workers to size it by hand")
	case errors.Is(err, pool.ErrStopped):
		writeAdminError(w, http.StatusServiceUnavailable, "the server is shutting down")
	case err != nil:
		writeAdminError(w, http.StatusInternalServerError, err.Error())
	default:
		writeAdmin(w, http.StatusOK, s.poolState(DefaultAdminPoints))
	}
}

// exactFields refuses a field of the JSON object raw whose name matches
// one of names only when case is ignored: encoding/json takes "Workers" for
// "workers", but the API's fields are spelt one way.
func exactFields(raw []byte, names ...string) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return err
	}
	for name := range fields {
		for _, want := range names {
			if name != want && strings.EqualFold(name, want) {
				return fmt.Errorf("json: unknown field %q (field names are lower case: %q)", name, want)
			}
		}
	}
	return nil
}

// poolState returns the PoolState of s with up to points adaptive points.
func (s *Server) poolState(points int) PoolState {
	st := s.Stats().Pool
	ps := PoolState{
		Model:     s.cfg.Model.String(),
		Workers:   st.Workers,
		Running:   st.Running,
		Waiting:   st.Waiting,
		Submitted: st.Submitted,
		Completed: st.Completed,
		Rejected:  st.Rejected,
		Panicked:  st.Panicked,
	}
	if s.pool != nil {
		ps.Queue = s.pool.QueueSize()
	}
	if a := s.adaptive; a != nil {
		ps.Adaptive = &AdaptiveState{Limit: st.Workers, Min: a.cfg.Limit.Min, Max: a.cfg.Limit.Max, Recent: a.recent(points)}
	}
	return ps
}

func writeAdminError(w http.ResponseWriter, code int, msg string) {
	writeAdmin(w, code, AdminError{Error: msg})
}

func writeAdmin(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil { // unreachable: the values are plain structs
		code, b = http.StatusInternalServerError, []byte(`{"error": "encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
