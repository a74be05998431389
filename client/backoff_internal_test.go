package client

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		cfg  Config
		want []time.Duration // for retries 0, 1, 2, ...
	}{
		{"defaults", Config{}, []time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second}},
		{"capped", Config{RetryBackoff: ms, MaxBackoff: 5 * ms}, []time.Duration{ms, 2 * ms, 4 * ms, 5 * ms, 5 * ms}},
		{"base above the default cap", Config{RetryBackoff: 3 * time.Second}, []time.Duration{3 * time.Second, 3 * time.Second}},
		{"cap below the default base", Config{MaxBackoff: ms}, []time.Duration{ms, ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for n, want := range tt.want {
				assert.Equal(t, want, tt.cfg.backoff(n), "retry %d", n)
			}
			assert.Equal(t, tt.want[len(tt.want)-1], tt.cfg.backoff(1000), "no overflow")
		})
	}
}
