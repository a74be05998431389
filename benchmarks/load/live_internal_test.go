package load

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Take says what completed since the last Take: the counts, and a p99
// within its bucket's 19% of the real one.
func TestLiveTake(t *testing.T) {
	l := NewLive()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 250 {
				d := time.Millisecond
				if i >= 247 { // 3 of each 250 are slow: 12 of 1000, so p99 is slow
					d = 80 * time.Millisecond
				}
				l.record(nil, d)
			}
			if g == 0 {
				l.record(errors.New("boom"), time.Second)
			}
		})
	}
	wg.Wait()
	s := l.Take()
	assert.Equal(t, int64(1000), s.OK)
	assert.Equal(t, int64(1), s.Errors)
	assert.GreaterOrEqual(t, s.P99, 80*time.Millisecond)
	assert.LessOrEqual(t, s.P99, 96*time.Millisecond)
	assert.Positive(t, s.Interval)
	assert.InDelta(t, float64(s.OK)/s.Interval.Seconds(), s.RPS(), 1e-6)

	l.record(nil, 500*time.Microsecond)
	s = l.Take()
	assert.Equal(t, int64(1), s.OK, "the next interval starts afresh")
	assert.Zero(t, s.Errors)
	assert.GreaterOrEqual(t, s.P99, 500*time.Microsecond)
	assert.LessOrEqual(t, s.P99, 600*time.Microsecond)

	s = l.Take()
	assert.Zero(t, s.OK)
	assert.Zero(t, s.P99)
	assert.Zero(t, LiveSample{}.RPS())
}
