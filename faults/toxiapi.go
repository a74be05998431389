package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ToxiproxyVersion is the toxiproxy version whose API NewToxiproxyAPI
// speaks, as GET /version answers it.
const ToxiproxyVersion = "2.5.0"

// NewToxiproxyAPI returns an http.Handler that serves h over toxiproxy's
// v2 HTTP API, so that toxiproxy-cli and toxiproxy's client libraries
// drive it unchanged:
//
//	GET    /proxies                       every proxy, an object keyed by name
//	POST   /proxies                       create one (201; 409 if the name is taken)
//	POST   /populate                      create or replace a list (201, {"proxies":[...]})
//	GET    /proxies/{proxy}               one proxy (404 if there is none)
//	POST   /proxies/{proxy}               change listen, upstream, enabled (200)
//	DELETE /proxies/{proxy}               delete it (204)
//	GET    /proxies/{proxy}/toxics        its toxics, in order
//	POST   /proxies/{proxy}/toxics        add a toxic (200; 409 if the name is taken)
//	GET    /proxies/{proxy}/toxics/{name} one toxic
//	POST   /proxies/{proxy}/toxics/{name} change its attributes or toxicity (200)
//	DELETE /proxies/{proxy}/toxics/{name} remove it (204)
//	POST   /reset                         enable every proxy, remove every toxic (204)
//	GET    /version                       "2.5.0" as text/plain
//
// Errors answer {"error":"...","status":N} with status N, as toxiproxy's
// do: 400 for a bad body or toxic, 404 for a missing proxy or toxic, 409
// for a name in use. Toxics are the types of ToxicTypes. Like NewAPI it
// asks for no credentials: serve it where only your own programs reach it
// (poolside proxy --api puts a guard in front).
func NewToxiproxyAPI(h *Hub) http.Handler {
	a := toxiAPI{h}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /proxies", a.list)
	mux.HandleFunc("POST /proxies", a.create)
	mux.HandleFunc("POST /populate", a.populate)
	mux.HandleFunc("GET /proxies/{proxy}", a.show)
	mux.HandleFunc("POST /proxies/{proxy}", a.update)
	mux.HandleFunc("DELETE /proxies/{proxy}", a.remove)
	mux.HandleFunc("GET /proxies/{proxy}/toxics", a.toxics)
	mux.HandleFunc("POST /proxies/{proxy}/toxics", a.addToxic)
	mux.HandleFunc("GET /proxies/{proxy}/toxics/{toxic}", a.showToxic)
	mux.HandleFunc("POST /proxies/{proxy}/toxics/{toxic}", a.updateToxic)
	mux.HandleFunc("DELETE /proxies/{proxy}/toxics/{toxic}", a.removeToxic)
	mux.HandleFunc("POST /reset", a.reset)
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain;charset=utf-8")
		_, _ = io.WriteString(w, ToxiproxyVersion)
	})
	return mux
}

type toxiAPI struct{ h *Hub }

// toxiError is toxiproxy's error body.
type toxiError struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

// fail answers err with the status toxiproxy gives its kind.
func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNoProxy), errors.Is(err, ErrNoToxic):
		code = http.StatusNotFound
	case errors.Is(err, ErrProxyExists), errors.Is(err, ErrToxicExists):
		code = http.StatusConflict
	case errors.Is(err, ErrBadProxy), errors.Is(err, errBadBody):
		code = http.StatusBadRequest
	}
	writeJSON(w, code, toxiError{Error: err.Error(), Status: code})
}

var errBadBody = errors.New("bad request body")

// decode reads r's JSON body into v, which holds the current values.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: the body is empty; want a JSON object", errBadBody)
		}
		return fmt.Errorf("%w: %v", errBadBody, err)
	}
	return nil
}

// proxyBody is a proxy as a request sends it: enabled is true unless
// the body says otherwise, as in toxiproxy.
func proxyBody(cur ProxyInfo) *ProxyInfo { return &cur }

func (a toxiAPI) list(w http.ResponseWriter, _ *http.Request) {
	out := map[string]ProxyInfo{}
	for _, p := range a.h.List() {
		out[p.Name] = p
	}
	writeJSON(w, http.StatusOK, out)
}

func (a toxiAPI) create(w http.ResponseWriter, r *http.Request) {
	in := proxyBody(ProxyInfo{Enabled: true})
	if err := decode(w, r, in); err != nil {
		fail(w, err)
		return
	}
	p, err := a.h.Create(*in)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

func (a toxiAPI) populate(w http.ResponseWriter, r *http.Request) {
	var raw []json.RawMessage
	if err := decode(w, r, &raw); err != nil {
		fail(w, err)
		return
	}
	infos := make([]ProxyInfo, len(raw))
	for i, m := range raw {
		infos[i] = ProxyInfo{Enabled: true}
		if err := json.Unmarshal(m, &infos[i]); err != nil {
			fail(w, fmt.Errorf("%w: proxy %d: %v", errBadBody, i+1, err))
			return
		}
		if infos[i].Name == "" || infos[i].Upstream == "" {
			fail(w, fmt.Errorf("%w: missing required field: name or upstream at proxy %d", ErrBadProxy, i+1))
			return
		}
	}
	got, err := a.h.Populate(infos)
	if got == nil {
		got = []ProxyInfo{}
	}
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrProxyExists) {
			code = http.StatusConflict
		}
		writeJSON(w, code, struct {
			toxiError
			Proxies []ProxyInfo `json:"proxies"`
		}{toxiError{err.Error(), code}, got})
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Proxies []ProxyInfo `json:"proxies"`
	}{got})
}

func (a toxiAPI) show(w http.ResponseWriter, r *http.Request) {
	p, err := a.h.Get(r.PathValue("proxy"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a toxiAPI) update(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("proxy")
	cur, err := a.h.Get(name)
	if err != nil {
		fail(w, err)
		return
	}
	in := proxyBody(cur)
	if err := decode(w, r, in); err != nil {
		fail(w, err)
		return
	}
	p, err := a.h.Update(name, *in)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a toxiAPI) remove(w http.ResponseWriter, r *http.Request) {
	if err := a.h.Delete(r.PathValue("proxy")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a toxiAPI) toxics(w http.ResponseWriter, r *http.Request) {
	p, err := a.h.Get(r.PathValue("proxy"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p.Toxics)
}

func (a toxiAPI) addToxic(w http.ResponseWriter, r *http.Request) {
	proxy := r.PathValue("proxy")
	if _, err := a.h.Get(proxy); err != nil {
		fail(w, err)
		return
	}
	var t Toxic
	if err := decode(w, r, &t); err != nil {
		fail(w, err)
		return
	}
	got, err := a.h.AddToxic(proxy, t)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, got)
}

func (a toxiAPI) showToxic(w http.ResponseWriter, r *http.Request) {
	t, err := a.h.Toxic(r.PathValue("proxy"), r.PathValue("toxic"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (a toxiAPI) updateToxic(w http.ResponseWriter, r *http.Request) {
	var body json.RawMessage // read before the Hub is locked
	if err := decode(w, r, &body); err != nil {
		fail(w, err)
		return
	}
	t, err := a.h.UpdateToxic(r.PathValue("proxy"), r.PathValue("toxic"), func(t *Toxic) error {
		if err := json.Unmarshal(body, t); err != nil {
			return fmt.Errorf("%w: %v", errBadBody, err)
		}
		return nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (a toxiAPI) removeToxic(w http.ResponseWriter, r *http.Request) {
	if err := a.h.RemoveToxic(r.PathValue("proxy"), r.PathValue("toxic")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a toxiAPI) reset(w http.ResponseWriter, _ *http.Request) {
	if err := a.h.Reset(); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
