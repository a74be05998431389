package server_test

import (
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/server"
)

// TestPeerEventsLogRateLimited: each slowloris connection the read timeout
// cuts used to write a log line, so a flood of them flooded the log. The
// first is logged at once, later ones at most once every 10 s with the
// number left out; every one is still counted.
func TestPeerEventsLogRateLimited(t *testing.T) {
	const clients = 20
	log, hook := logtest.NewNullLogger()
	rec := newRecorder()
	s, addr, _ := startServer(t, withReplies(server.Config{Handler: echo, ReadTimeout: 20 * time.Millisecond, Logger: log, Observer: rec}))
	start := time.Now()
	for range clients {
		c := dial(t, addr)
		_, err := c.nc.Write([]byte{0}) // half a size header, then nothing
		require.NoError(t, err)
		assert.Equal(t, server.CloseReadTimeout, rec.next(t))
	}
	assert.Equal(t, uint64(clients), s.Stats().Closed[server.CloseReadTimeout])

	var lines int
	for _, e := range hook.AllEntries() {
		if assert.Contains(t, e.Message, "did not finish it within") {
			lines++
		}
	}
	// One line, or one more for each 10 s the test took on a slow machine.
	assert.GreaterOrEqual(t, lines, 1)
	assert.LessOrEqual(t, lines, 1+int(time.Since(start)/(10*time.Second)), "log lines for %d cut connections", clients)
}
