package server_test

import (
	"context"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/server"
)

// TestRequestRunsOnItsConnectionWhileAWorkerIsFree checks the pool hand-off
// of ModelPool and ModelSerial: a request that finds a worker free runs on
// its connection's goroutine, holding the worker; one that finds every
// worker busy waits in the queue and runs on a worker goroutine; and the
// pool's counters are those of any other task.
func TestRequestRunsOnItsConnectionWhileAWorkerIsFree(t *testing.T) {
	for _, m := range []server.Model{server.ModelPool, server.ModelSerial} {
		t.Run(m.String(), func(t *testing.T) {
			var mu sync.Mutex
			onConn := map[string]bool{}
			entered := make(chan struct{}, 1)
			release := make(chan struct{})
			h := server.HandlerFunc(func(ctx context.Context, b []byte) []byte {
				mu.Lock()
				onConn[string(b)] = strings.Contains(string(debug.Stack()), "server.(*conn).serve")
				mu.Unlock()
				if string(b) == "hold" {
					entered <- struct{}{}
					select {
					case <-release:
					case <-ctx.Done():
					}
				}
				return b
			})
			s, addr, _ := startServer(t, withReplies(server.Config{Handler: h, Model: m, Workers: 1, Queue: 1}))

			a, b := dial(t, addr), dial(t, addr)
			a.send([]byte("hold"))
			select {
			case <-entered:
			case <-time.After(testTimeout):
				t.Fatal("the first request did not reach the handler")
			}
			assert.Equal(t, int64(1), s.Stats().Pool.Running, "a request on its connection holds a worker")
			b.send([]byte("queued"))
			require.Eventually(t, func() bool { return s.Stats().Pool.Waiting == 1 }, testTimeout, time.Millisecond,
				"with the worker held, the next request must wait in the queue")

			close(release)
			assert.Equal(t, []byte("hold"), a.recv())
			assert.Equal(t, []byte("queued"), b.recv())
			// Each request freed the worker before its reply was written,
			// so the next one finds it free.
			assert.Zero(t, s.Stats().Pool.Running)
			assert.Equal(t, []byte("again"), b.call([]byte("again")))

			mu.Lock()
			assert.Equal(t, map[string]bool{"hold": true, "queued": false, "again": true}, onConn,
				"which requests ran on their connection's goroutine")
			mu.Unlock()
			st := s.Stats()
			assert.Equal(t, uint64(3), st.Pool.Submitted)
			assert.Equal(t, uint64(3), st.Pool.Completed)
			assert.Zero(t, st.Pool.Running)
			assert.Zero(t, st.Pool.Waiting)
			assert.Zero(t, st.Busy)
		})
	}
}
