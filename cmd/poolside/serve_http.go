package main

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"
	"golang.org/x/net/netutil"

	"github.com/poolside-dev/poolside/server"
)

// serveMetrics serves /metrics and /debug/pprof/ on ln until the
// returned function is called.
func serveMetrics(ln net.Listener, m *serverMetrics, srv *server.Server, idle time.Duration, log logrus.FieldLogger) func() {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.register(reg, srv)

	mux := metricsMux(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ln.Addr())
	if isLoopbackAddr(ln.Addr()) {
		log.WithField("addr", ln.Addr().String()).Info("serving /metrics and /debug/pprof/")
	} else {
		log.WithField("addr", ln.Addr().String()).Info("serving /metrics; /debug/pprof/ is served only on a loopback --metrics-addr")
	}
	return serveHTTP(ln, mux, "metrics", idle, log)
}

// metricsMux serves metrics on /metrics and, if addr is loopback, the
// profiles on /debug/pprof/ (pprofHandler: loopback Host names only,
// bounded durations): they expose the heap's contents and a CPU profile
// loads the server, so they are not offered to the network.
func metricsMux(metrics http.Handler, addr net.Addr) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	if isLoopbackAddr(addr) {
		mux.Handle("/debug/pprof/", pprofHandler())
	}
	return mux
}

// listenAdmin binds addr for the admin API. Unless allowRemote, it refuses
// an address that is not loopback once bound (even if a name such as
// localhost resolved elsewhere).
func listenAdmin(addr string, allowRemote bool) (net.Listener, error) {
	ln, err := listen("--admin-addr", addr)
	if err != nil {
		return nil, err
	}
	if !allowRemote {
		if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
			ln.Close()
			return nil, usageError(fmt.Errorf("--admin-addr %s bound %s, which is not loopback; add --admin-allow-remote to allow it", addr, ln.Addr()))
		}
	}
	return ln, nil
}

// serveAdmin serves the admin API (server.AdminHandler) on ln, which
// listenAdmin bound, behind guardAPI, until the returned function is
// called. Unless allowRemote, it answers only requests whose Host is a
// loopback name.
func serveAdmin(ln net.Listener, allowRemote bool, srv *server.Server, idle time.Duration, log logrus.FieldLogger) func() {
	h := guardAPI(server.AdminHandler(srv), guardOptions{Name: "the admin API", AllowRemote: allowRemote})
	log.WithField("addr", ln.Addr().String()).Info("serving the admin API: GET and PUT /pool")
	if w := remoteAPIWarning("the admin API", ln.Addr()); w != "" {
		log.Warn(w)
	}
	return serveHTTP(ln, h, "admin API", idle, log)
}

// Limits of poolside's HTTP servers (metrics, admin API, fault API).
const (
	// httpMaxConns is how many connections each HTTP listener holds at
	// once. More wait in the kernel's accept queue, where they hold none
	// of the process's descriptors, so that idle HTTP clients cannot
	// starve the protocol port of them (see fileReserve).
	httpMaxConns = 32
	// httpIdleTimeout closes an idle keep-alive HTTP connection when the
	// command sets no idle timeout of its own.
	httpIdleTimeout = 60 * time.Second
	// httpReadTimeout bounds the arrival of a whole request, body
	// included.
	httpReadTimeout = 30 * time.Second
)

// newHTTPServer returns the server of one of poolside's HTTP APIs, serving
// h, and ln bounded to httpMaxConns connections at once, to serve it on.
// Keep-alive connections idle for idle (0 = httpIdleTimeout) are closed.
// There is no write timeout: pprofHandler bounds its own writes.
func newHTTPServer(ln net.Listener, h http.Handler, idle time.Duration) (*http.Server, net.Listener) {
	if idle == 0 {
		idle = httpIdleTimeout
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: httpReadTimeout, IdleTimeout: idle}
	return hs, netutil.LimitListener(ln, httpMaxConns)
}

// serveHTTP serves h on ln (see newHTTPServer) until the returned function
// is called, which shuts the HTTP server down, giving requests in flight
// 2 s to finish before it cuts them. what names the server in its error
// log. The metrics and admin servers share it.
func serveHTTP(ln net.Listener, h http.Handler, what string, idle time.Duration, log logrus.FieldLogger) func() {
	hs, ln := newHTTPServer(ln, h, idle)
	hs.ErrorLog = httpErrorLog(log, what)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Errorf("%s server stopped", what)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			hs.Close() // a request still running, such as a 30 s profile
		}
		<-done
	}
}

// httpErrorLog is the ErrorLog of serve's HTTP servers: what net/http
// reports (a failed accept, a malformed request) goes to the server's log
// as a warning, not to the standard library's logger.
func httpErrorLog(log logrus.FieldLogger, what string) *stdlog.Logger {
	return stdlog.New(logWriter{log: log, prefix: what + " server: "}, "", 0)
}

// logWriter writes each line it is given as a warning.
type logWriter struct {
	log    logrus.FieldLogger
	prefix string
}

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Warn(w.prefix + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
