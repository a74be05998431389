package server

import (
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"
)

// peerLogInterval is the least time between two log lines of one kind of
// client misbehaviour (see peerLog).
const peerLogInterval = 10 * time.Second

// peerEvent is a kind of log line that a client can cause at will.
type peerEvent int

const (
	peerReadTimeout   peerEvent = iota // a request started and did not finish in time
	peerFrameTooLarge                  // a size header past the framing's limit
	peerReadError                      // reading from the client failed unexpectedly
	peerWriteError                     // writing a reply failed unexpectedly
	numPeerEvents
)

// peerLog writes the log lines that clients cause (a request the read
// timeout cut, a frame too large, a failed read or write), so that a
// flood of misbehaving clients cannot flood the log: the first line of
// each kind is written at once, then at most one every peerLogInterval,
// with the number of lines of that kind left out since the one before in
// the field "suppressed". Every such event is still counted by its
// CloseReason in Stats.Closed and reported to the Observer. Safe for
// concurrent use; the zero value is not ready: use newPeerLog.
type peerLog struct {
	kinds [numPeerEvents]struct {
		every      rate.Sometimes
		suppressed atomic.Uint64
	}
}

func newPeerLog() *peerLog {
	p := &peerLog{}
	for i := range p.kinds {
		p.kinds[i].every.Interval = peerLogInterval
	}
	return p
}

// do calls write with log, the connection's logger, unless a line of kind
// ev was written less than peerLogInterval ago; then it counts the line
// as suppressed.
func (p *peerLog) do(ev peerEvent, log logrus.FieldLogger, write func(logrus.FieldLogger)) {
	k := &p.kinds[ev]
	wrote := false
	k.every.Do(func() {
		wrote = true
		if n := k.suppressed.Swap(0); n > 0 {
			log = log.WithField("suppressed", n)
		}
		write(log)
	})
	if !wrote {
		k.suppressed.Add(1)
	}
}
