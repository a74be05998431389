package main

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/poolside-dev/poolside/internal/wiretest"
	"github.com/poolside-dev/poolside/wire"
)

// TestServeFullDisk runs the built server on a bbolt file and then stops
// the file from growing, as a full disk does: the process's file size
// limit (RLIMIT_FSIZE) is lowered to twice the new file's size, so bbolt
// grows the file once and its next grow fails (with EFBIG here; ENOSPC on a full disk takes the same path). It
// checks that the booking that needed the space is refused with a storage
// error and is not stored, that the operator is told on the log, that
// bookings work again once there is room, and that everything acknowledged
// survives a SIGKILL.
func TestServeFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	data := filepath.Join(t.TempDir(), "full.db")
	p := startServe(t, "--data", data)
	pid := p.cmd.Process.Pid
	nc := p.dial(t)

	fi, err := os.Stat(data)
	require.NoError(t, err)
	var limit unix.Rlimit
	require.NoError(t, unix.Prlimit(pid, unix.RLIMIT_FSIZE, nil, &limit))
	full := unix.Rlimit{Cur: 2 * uint64(fi.Size()), Max: limit.Max} // one more doubling, then full
	require.NoError(t, unix.Prlimit(pid, unix.RLIMIT_FSIZE, &full, nil))

	// Book one date after another until the file would have to grow past
	// the limit: about a hundred fit; bounded at 5,000.
	first := wire.FromTime(time.Now()) + 1
	var acked []wire.Date
	var refused wire.Date
	var reply wire.Reply
	for d := first; d < first+5000; d++ {
		reply, err = book(nc, slot{"312", d})
		require.NoError(t, err)
		if reply.IsError() {
			refused = d
			break
		}
		acked = append(acked, d)
	}
	require.NotZero(t, refused, "the file never had to grow")
	assert.Equal(t, "Booking not saved: storage error on the server; try again later", reply.Message, "the client is not told the server's file or errno")
	p.waitLog(t, "the booking store failed")

	forRoom := func(nc net.Conn) []wire.Date {
		t.Helper()
		r, err := wiretest.Exchange(nc, wire.Request{Action: wire.ActionBookingsForRoom, Room: "312"})
		require.NoError(t, err)
		require.False(t, r.IsError(), r.Message)
		return r.Dates
	}
	require.Equal(t, acked, forRoom(nc), "reads still work, and the refused booking is not stored")

	require.NoError(t, unix.Prlimit(pid, unix.RLIMIT_FSIZE, &limit, nil))
	reply, err = book(nc, slot{"312", refused})
	require.NoError(t, err)
	require.False(t, reply.IsError(), "with room again, the same booking succeeds: %s", reply.Message)
	acked = append(acked, refused)

	err = p.stop(t, syscall.SIGKILL)
	require.Error(t, err, "killed")
	q := startServe(t, "--data", data)
	assert.Equal(t, acked, forRoom(q.dial(t)), "every acknowledged booking survives the kill")
	t.Logf("%d bookings before the file was full", len(acked)-1)
	require.NoError(t, q.stop(t, syscall.SIGTERM))
}
