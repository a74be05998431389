package faults_test

import (
	"net"
	"testing"
	"time"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waiting are faults that keep an operation waiting far longer than any
// test runs, from the first byte.
var waiting = []struct {
	name  string
	fault faults.Fault
	dirs  []faults.Dir
}{
	{"slow", faults.Slow{Delay: time.Hour}, []faults.Dir{faults.Read, faults.Write}},
	{"rate", faults.Slow{Rate: 1}, []faults.Dir{faults.Read, faults.Write}},
	{"stall", faults.Stall{At: 0, For: time.Hour}, []faults.Dir{faults.Read, faults.Write}},
	{"blackhole", faults.Blackhole{}, []faults.Dir{faults.Read}},
}

// op runs operations in direction d on c until one fails. (With rate, the
// first one passes and the second waits.)
func op(c net.Conn, d faults.Dir) error {
	buf := make([]byte, 1)
	for {
		var err error
		if d == faults.Read {
			_, err = c.Read(buf)
		} else {
			_, err = c.Write(buf)
		}
		if err != nil {
			return err
		}
	}
}

func TestWaitingFaultsHonourDeadline(t *testing.T) {
	const after = 20 * time.Millisecond
	for _, w := range waiting {
		for _, d := range w.dirs {
			t.Run(w.name+"/"+d.String(), func(t *testing.T) {
				a, b := tcpPair(t)
				_, err := b.Write([]byte("data")) // a read must not be waiting for bytes
				require.NoError(t, err)
				c := faults.Wrap(a, w.fault)
				start := time.Now()
				require.NoError(t, c.SetDeadline(start.Add(after)))
				err = op(c, d)
				requireTimeout(t, err)
				assert.GreaterOrEqual(t, time.Since(start), after)
			})
		}
	}
}

func TestWaitingFaultsWakeOnDeadlineChange(t *testing.T) {
	for _, w := range waiting {
		for _, d := range w.dirs {
			t.Run(w.name+"/"+d.String(), func(t *testing.T) {
				a, b := tcpPair(t)
				_, err := b.Write([]byte("data"))
				require.NoError(t, err)
				c := faults.Wrap(a, w.fault)
				errc := make(chan error, 1)
				go func() { errc <- op(c, d) }()
				// Whether the operation is already waiting or not, a
				// deadline in the past must end it.
				require.NoError(t, c.SetDeadline(time.Unix(1, 0)))
				requireTimeout(t, <-errc)
			})
		}
	}
}

func TestWaitingFaultsWakeOnClose(t *testing.T) {
	for _, w := range waiting {
		for _, d := range w.dirs {
			t.Run(w.name+"/"+d.String(), func(t *testing.T) {
				a, b := tcpPair(t)
				_, err := b.Write([]byte("data"))
				require.NoError(t, err)
				c := faults.Wrap(a, w.fault)
				errc := make(chan error, 1)
				go func() { errc <- op(c, d) }()
				require.NoError(t, c.Close())
				err = <-errc
				require.ErrorIs(t, err, net.ErrClosed)
				var oe *net.OpError
				require.ErrorAs(t, err, &oe)
				assert.Equal(t, d.String(), oe.Op)
			})
		}
	}
}

// A zero-length Read carries no bytes, so it returns at once, as the raw
// connection's does, even where a fault would keep a real read waiting,
// and even past the deadline.
func TestZeroLengthReadDoesNotWait(t *testing.T) {
	for _, w := range waiting {
		t.Run(w.name, func(t *testing.T) {
			a, _ := tcpPair(t)
			require.NoError(t, a.SetReadDeadline(time.Unix(1, 0)))
			n, err := a.Read(nil)
			require.NoError(t, err, "the raw connection")
			require.Zero(t, n)

			c := faults.Wrap(a, faults.OnRead(w.fault))
			require.NoError(t, c.SetReadDeadline(time.Unix(1, 0)))
			n, err = c.Read(nil)
			require.NoError(t, err)
			assert.Zero(t, n)
			n, err = c.Read([]byte{})
			require.NoError(t, err)
			assert.Zero(t, n)
		})
	}
}
