package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The HTTP APIs of poolside (the fault proxy's /faults, serve's admin API
// and the profiles on its metrics port) ask for no credentials. A program
// on the machine may use them; a web page in the user's browser must not.
// A page can send a "simple" cross-site POST (text/plain, no preflight),
// and by DNS rebinding it can even read the answers: its own name then
// points at 127.0.0.1, so the browser sends it there with that name in
// the Host header. guardAPI is the one guard all three APIs share.

// Limits of guardAPI and pprofHandler.
const (
	// maxGuardedBody bounds the body of a request guardAPI passes on.
	maxGuardedBody = 64 << 10
	// maxProfileSeconds bounds a CPU profile (/debug/pprof/profile) and
	// a delta profile (/debug/pprof/heap?seconds=N and the like).
	maxProfileSeconds = 60
	// maxTraceSeconds bounds an execution trace (/debug/pprof/trace),
	// which the runtime keeps in memory until the client reads it.
	maxTraceSeconds = 30
	// profileWriteGrace is how long past its duration a profile or a
	// trace may take to reach the client before its writes fail: a client
	// that does not read cannot make the process hold the data for ever.
	profileWriteGrace = 10 * time.Second
)

// guardOptions configures guardAPI. The zero value is the strict guard.
type guardOptions struct {
	// Name names the API in the errors, such as "the fault API"; ""
	// means "this API".
	Name string
	// AllowRemote accepts any Host header, for an API the user has chosen
	// to serve beyond loopback (serve --admin-allow-remote; poolside proxy
	// --api on an address that is not loopback). False accepts only the
	// loopback names: 127.0.0.0/8, ::1 and localhost. The other rules
	// apply either way.
	AllowRemote bool
	// AnyBody accepts bodies of any Content-Type, for toxiproxy's API,
	// whose clients send text/plain. A browser can send such a body across
	// sites without asking first, so the Host and origin rules carry the
	// guard alone, with toxiproxy's own: no User-Agent starting "Mozilla/".
	AnyBody bool
}

// guardAPI returns h behind the rules that keep web pages out of an API
// without credentials. In order, it answers with a JSON error
// {"error":"..."} (the shape of faults.NewAPI's and server.AdminHandler's
// errors) and does not call h:
//
//   - 403 when the Host header is not a loopback name, unless
//     opts.AllowRemote: a page that rebinds its own name to 127.0.0.1
//     still sends that name;
//   - 403 when the request says it comes from a web page of another origin:
//     an Origin header other than the API's own (http:// or https:// and the
//     request's Host), or Sec-Fetch-Site other than same-origin or none.
//     Programs such as curl send neither, and a browser sends them on
//     every cross-origin write, so both reads and writes are checked;
//   - 415 when a request that may write (any method but GET, HEAD and
//     OPTIONS) has a body, or a Content-Type, that is not
//     application/json (a charset=utf-8 parameter is allowed): a browser
//     cannot send that type across sites without asking first, which
//     these APIs never allow;
//   - 413 when such a body is larger than 64 KiB;
//   - 400 when it is JSON with a key twice in one object, at any depth,
//     naming the key: which of the two should count is not clear, and
//     encoding/json would silently keep the last.
//
// A request that passes reaches h with its body already read and
// replayable. A body that is not valid JSON is left for h to explain. The
// handler is safe for concurrent use.
func guardAPI(h http.Handler, opts guardOptions) http.Handler {
	name := opts.Name
	if name == "" {
		name = "this API"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !opts.AllowRemote && !isLoopbackName(hostOnly(r.Host)) {
			writeGuardError(w, http.StatusForbidden, fmt.Sprintf("Host %q is not a loopback name; %s answers only requests to 127.0.0.1, [::1] or localhost, so that a web page cannot reach it by pointing its own name there",
				r.Host, name))
			return
		}
		if msg := crossOrigin(r, name); msg != "" {
			writeGuardError(w, http.StatusForbidden, msg)
			return
		}
		if opts.AnyBody && strings.HasPrefix(r.UserAgent(), "Mozilla/") {
			writeGuardError(w, http.StatusForbidden, fmt.Sprintf("%s does not answer web browsers (User-Agent Mozilla/...), so that a web page cannot use it; use toxiproxy-cli, a toxiproxy client library or curl", name))
			return
		}
		if !writes(r.Method) {
			h.ServeHTTP(w, r)
			return
		}
		ct := r.Header.Get("Content-Type")
		if (ct != "" || r.ContentLength != 0) && !isJSONType(ct) && !opts.AnyBody {
			got := "no Content-Type"
			if ct != "" {
				got = fmt.Sprintf("Content-Type %q", ct)
			}
			writeGuardError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("%s with a body needs the header Content-Type: application/json, got %s (with curl, add -H 'Content-Type: application/json')",
				r.Method, got))
			return
		}
		if ct == "" && r.ContentLength == 0 { // no body: nothing to check
			h.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxGuardedBody))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			writeGuardError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit))
			return
		case err != nil:
			writeGuardError(w, http.StatusBadRequest, "the body could not be read: the connection failed while it arrived")
			return
		}
		if key, where, ok := duplicateKey(body); ok {
			writeGuardError(w, http.StatusBadRequest, fmt.Sprintf("the JSON body has the key %q twice%s; send each key once", key, where))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		h.ServeHTTP(w, r)
	})
}

// writes reports whether a request with method may change something: any
// method but GET, HEAD and OPTIONS.
func writes(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// crossOrigin returns why r comes from a web page of another origin than
// the API it was sent to, or "" if it does not say so. name names the API.
func crossOrigin(r *http.Request, name string) string {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.EqualFold(u.Host, r.Host) {
			return fmt.Sprintf("a request from the web page at %s is refused: %s takes requests from programs such as curl, not from web pages of another site", o, name)
		}
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return fmt.Sprintf("the browser marks this request as coming from another site (Sec-Fetch-Site: %s); %s takes requests from programs such as curl, not from web pages", site, name)
	}
	return ""
}

// isJSONType reports whether the Content-Type ct is application/json,
// with no parameter but charset=utf-8.
func isJSONType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}

// hostOnly returns the host of a Host header, without the port and the
// brackets of an IPv6 address.
func hostOnly(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

// isLoopbackName reports whether host (no port, no brackets) is a loopback
// IP address (127.0.0.0/8, ::1) or localhost.
func isLoopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// isLoopbackAddr reports whether addr, a bound listener's address, is a
// loopback IP address.
func isLoopbackAddr(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// remoteAPIWarning returns the one-line warning to log when the API called
// what (such as "the fault API") listens on addr beyond loopback, or ""
// when addr is loopback.
func remoteAPIWarning(what string, addr net.Addr) string {
	if isLoopbackAddr(addr) {
		return ""
	}
	return fmt.Sprintf("warning: %s on %s can be reached from other machines and asks for no credentials: anyone who can connect to it can use it; listen on 127.0.0.1 unless this network is trusted", what, addr)
}

// duplicateKey returns the first key that appears twice in one object of
// the JSON text b, at any depth, and where that object is (" in the
// object at a[0].b", or "" at the top level). It stops at the first
// syntax error, which it leaves for the caller's decoder to explain.
func duplicateKey(b []byte) (key, where string, ok bool) {
	type level struct {
		object bool
		keys   map[string]bool
		key    string // the object's current key
		index  int    // the array's current index
		value  bool   // the object's next token is a value, not a key
	}
	var stack []*level
	path := func() string {
		var p strings.Builder
		for _, l := range stack[:len(stack)-1] {
			if l.object {
				if p.Len() > 0 {
					p.WriteByte('.')
				}
				p.WriteString(l.key)
			} else {
				fmt.Fprintf(&p, "[%d]", l.index)
			}
		}
		if p.Len() == 0 {
			return ""
		}
		return " in the object at " + p.String()
	}
	// valueDone records that the value in the innermost object or array
	// has ended.
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		if top := stack[len(stack)-1]; top.object {
			top.value = false
		} else {
			top.index++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", "", false // the end, or not JSON
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, &level{object: t == '{', keys: map[string]bool{}})
			case '}', ']':
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if len(stack) > 0 {
				if top := stack[len(stack)-1]; top.object && !top.value {
					if top.keys[t] {
						return t, path(), true
					}
					top.keys[t] = true
					top.key = t
					top.value = true
					continue
				}
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

// writeGuardError answers code with the JSON body {"error": msg}.
func writeGuardError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// pprofHandler serves the runtime's profiles on /debug/pprof/ (the index,
// cmdline, profile, symbol, trace and the named profiles such as heap and
// goroutine), behind guardAPI with loopback Host names only. Mount it on
// the "/debug/pprof/" pattern. A CPU profile and a delta profile (a named
// profile with ?seconds=N) may last at most maxProfileSeconds and a trace
// at most maxTraceSeconds; a longer or malformed seconds is answered 400
// with a JSON error, before anything starts. Each of them must reach the
// client within profileWriteGrace of its end, or its writes fail and the
// data is dropped. POST /debug/pprof/symbol, which no current go tool
// pprof needs (profiles carry their symbols), is refused like any write
// that is not JSON; GET /debug/pprof/symbol?ADDR works.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // the index and the named profiles
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return guardAPI(boundedProfiles(mux), guardOptions{Name: "the profiling endpoint"})
}

// boundedProfiles refuses a profile or trace longer than its bound, and
// gives the rest a write deadline, before h runs.
func boundedProfiles(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// pprof reads seconds with FormValue; guardAPI has refused the form
		// bodies that FormValue would also read.
		text := r.FormValue("seconds")
		var d time.Duration
		var msg string
		switch name := strings.TrimPrefix(r.URL.Path, "/debug/pprof/"); {
		case name == "trace":
			d, msg = traceSeconds(text)
		case name == "profile" && text == "":
			d = 30 * time.Second // pprof's default
		case name == "profile":
			d, msg = profileSeconds(text)
		case name == "" || name == "cmdline" || name == "symbol" || text == "":
			// no duration: the index, the command line, symbols, a snapshot
		default: // a delta profile of a named profile, such as heap?seconds=10
			d, msg = profileSeconds(text)
		}
		if msg != "" {
			writeGuardError(w, http.StatusBadRequest, msg)
			return
		}
		if d > 0 {
			// Not every ResponseWriter can (httptest's cannot); the bound
			// on seconds holds anyway.
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d + profileWriteGrace))
		}
		h.ServeHTTP(w, r)
	})
}

// profileSeconds parses the seconds of a CPU or delta profile: a whole
// number from 1 to maxProfileSeconds. It returns the duration, or why the
// value is refused.
func profileSeconds(text string) (time.Duration, string) {
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < 1 || n > maxProfileSeconds {
		return 0, fmt.Sprintf("seconds=%s: a profile lasts a whole number of seconds from 1 to %d (the limit keeps a forgotten request from loading the server); ask for at most seconds=%d",
			text, maxProfileSeconds, maxProfileSeconds)
	}
	return time.Duration(n) * time.Second, ""
}

// traceSeconds parses the seconds of a trace: "" (pprof's default, 1 s)
// or a number above 0 and at most maxTraceSeconds. It returns the
// duration, or why the value is refused.
func traceSeconds(text string) (time.Duration, string) {
	if text == "" {
		return time.Second, ""
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > maxTraceSeconds {
		return 0, fmt.Sprintf("seconds=%s: a trace lasts more than 0 and at most %d seconds (the process holds a trace in memory until the client has read it); ask for at most seconds=%d",
			text, maxTraceSeconds, maxTraceSeconds)
	}
	return time.Duration(f * float64(time.Second)), ""
}
