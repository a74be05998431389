package faults

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Jittered waits stay inside [Delay-Jitter, Delay+Jitter], reach towards
// both ends, and replay for the same seed.
func TestJitterStaysInsideItsBounds(t *testing.T) {
	const d, j = 50 * time.Millisecond, 10 * time.Millisecond
	draw := func(seed uint64) []time.Duration {
		s := &Stream{seed: seed, salt: 3}
		out := make([]time.Duration, 2000)
		for i := range out {
			out[i] = jittered(s, d, j)
		}
		return out
	}
	waits := draw(1)
	lo, hi := waits[0], waits[0]
	for _, w := range waits {
		assert.GreaterOrEqual(t, w, d-j)
		assert.LessOrEqual(t, w, d+j)
		lo, hi = min(lo, w), max(hi, w)
	}
	assert.Less(t, lo, d-j+j/10, "the draws reach the low end")
	assert.Greater(t, hi, d+j-j/10, "the draws reach the high end")
	assert.Equal(t, waits, draw(1), "the same seed draws the same waits")
	assert.NotEqual(t, waits, draw(2))
	assert.Equal(t, d, jittered(&Stream{}, d, 0), "no jitter, no draw")
}
