package load

import (
	"math"
	"sync/atomic"
	"time"
)

// Live counts the requests of the runs that share it as they complete,
// warm-up included, for a live progress display: the successful and the
// failed ones, and the successful ones' latency in coarse buckets, so
// that Take can say what the last interval did. Set Config.Live to one
// made by NewLive; its methods are safe for concurrent use, and recording
// costs a few atomic additions per request.
type Live struct {
	ok, failed atomic.Int64
	buckets    [liveBuckets]atomic.Int64
	last       atomic.Int64 // UnixNano of the last Take
}

// The buckets are powers of 2^(1/4) of a microsecond: each is about 19%
// wide, enough for a progress line, up to about 2^(liveBuckets/4) µs.
const liveBuckets = 4 * 32

// NewLive returns a Live whose first interval starts now.
func NewLive() *Live {
	l := &Live{}
	l.last.Store(time.Now().UnixNano())
	return l
}

// record counts one completed request, latency d if it succeeded.
func (l *Live) record(err error, d time.Duration) {
	if err != nil {
		l.failed.Add(1)
		return
	}
	l.ok.Add(1)
	l.buckets[liveBucket(d)].Add(1)
}

func liveBucket(d time.Duration) int {
	us := max(float64(d)/float64(time.Microsecond), 1)
	return min(int(4*math.Log2(us)), liveBuckets-1)
}

// LiveSample is what the requests did in one interval of Live.
type LiveSample struct {
	// Interval is the time since the previous Take (or NewLive).
	Interval time.Duration
	// OK and Errors count the requests that completed in it.
	OK, Errors int64
	// P99 is the successful requests' 99th percentile latency, to about
	// 19% (the upper bound of its bucket); 0 without any.
	P99 time.Duration
}

// RPS is the successful requests per second of the interval.
func (s LiveSample) RPS() float64 {
	if s.Interval <= 0 {
		return 0
	}
	return float64(s.OK) / s.Interval.Seconds()
}

// Take returns what completed since the previous Take and starts a new
// interval. A request recorded while Take runs counts in this interval
// or the next, never in both or neither; its bucket may land in the other
// one, which moves the p99 by at most one request.
func (l *Live) Take() LiveSample {
	now := time.Now().UnixNano()
	s := LiveSample{Interval: time.Duration(now - l.last.Swap(now)), OK: l.ok.Swap(0), Errors: l.failed.Swap(0)}
	var counts [liveBuckets]int64
	var total int64
	for i := range l.buckets {
		counts[i] = l.buckets[i].Swap(0)
		total += counts[i]
	}
	if total == 0 {
		return s
	}
	rank := int64(math.Ceil(0.99 * float64(total)))
	var seen int64
	for i, n := range counts {
		seen += n
		if seen >= rank {
			s.P99 = time.Duration(math.Pow(2, float64(i+1)/4) * float64(time.Microsecond))
			break
		}
	}
	return s
}
