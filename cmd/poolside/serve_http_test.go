package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The profiles of /debug/pprof/ (heap contents, a CPU profile that loads
// the server) are served only on a loopback --metrics-addr; /metrics is
// served on any.
func TestMetricsMuxServesProfilesOnLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		profiles bool
	}{
		{"127.0.0.1:9408", true},
		{"[::1]:9408", true},
		{"0.0.0.0:9408", false},
		{"192.0.2.1:9408", false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			addr, err := net.ResolveTCPAddr("tcp", tc.addr)
			require.NoError(t, err)
			mux := metricsMux(http.NotFoundHandler(), addr)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
			if tc.profiles {
				assert.Equal(t, http.StatusOK, rec.Code)
			} else {
				assert.Equal(t, http.StatusNotFound, rec.Code)
			}
		})
	}
}

// The HTTP servers' own errors (a failed accept, a bad TLS handshake) go to
// the server's log, not to the standard library's logger.
func TestHTTPErrorLogGoesToLogrus(t *testing.T) {
	log, hook := test.NewNullLogger()
	log.Out = io.Discard
	l := httpErrorLog(log, "metrics")
	l.Printf("http: Accept error: %s; retrying in %v", "too many open files", "5ms")
	require.Len(t, hook.AllEntries(), 1)
	e := hook.LastEntry()
	assert.Equal(t, logrus.WarnLevel, e.Level)
	assert.Equal(t, "metrics server: http: Accept error: too many open files; retrying in 5ms", e.Message)
}
