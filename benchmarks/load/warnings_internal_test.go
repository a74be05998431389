package load

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A closed loop whose in-process server held fewer than half the requests
// it could have worked on was limited by the load generator, and says so;
// one whose server was busy does not.
func TestWarningLoadGeneratorLimit(t *testing.T) {
	limited := func(ws []string) bool {
		for _, w := range ws {
			if strings.Contains(w, "the load generator, not the server, was the limit and this run does not compare") {
				return true
			}
		}
		return false
	}
	res := Result{Clients: 16, Requests: 1000, Server: &ServerView{Workers: 16}, Little: Little{Clients: 16, ClientL: 15.8, ServerL: 0.5}}
	ws := warnings(res, false)
	assert.True(t, limited(ws), "pool:16 holding 0.5 of 16: %v", ws)

	res.Little.ServerL = 12
	assert.False(t, limited(warnings(res, false)), "a busy server was the limit")

	serial := Result{Clients: 16, Requests: 1000, Server: &ServerView{Workers: 1}, Little: Little{Clients: 16, ClientL: 15.9, ServerL: 0.9}}
	assert.False(t, limited(warnings(serial, false)), "serial busy 90%% of the time is the limit")
	serial.Little.ServerL = 0.3
	assert.True(t, limited(warnings(serial, false)))

	unbounded := Result{Clients: 8, Requests: 1000, Server: &ServerView{}, Little: Little{Clients: 8, ClientL: 7.9, ServerL: 2}}
	assert.True(t, limited(warnings(unbounded, false)), "unbounded: capacity is the clients")

	remote := Result{Clients: 16, Requests: 1000, Little: Little{Clients: 16, ClientL: 15.8}}
	assert.False(t, limited(warnings(remote, false)), "no view of a remote server's inside")

	queued := res
	queued.Little.ServerL = 0.5
	queued.Server = &ServerView{Workers: 16, MeanWaiting: 3}
	assert.False(t, limited(warnings(queued, false)), "requests queued: the server was the limit")
}
