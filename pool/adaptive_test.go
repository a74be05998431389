package pool_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/pool"
)

func TestGradient2ConfigValidate(t *testing.T) {
	require.NoError(t, pool.Gradient2Config{}.Validate())
	require.NoError(t, pool.Gradient2Config{Min: 4, Max: 4, Initial: 4, Tolerance: 1, Smoothing: 1, LongWindow: 1}.Validate())
	require.NoError(t, pool.Gradient2Config{Min: 2000}.Validate(), "Max 0 follows a Min above the default Max")
	for name, cfg := range map[string]pool.Gradient2Config{
		"negative min":          {Min: -1},
		"negative max":          {Max: -1},
		"max below min":         {Min: 8, Max: 4},
		"negative initial":      {Initial: -1},
		"initial below min":     {Min: 8, Initial: 4},
		"initial above max":     {Max: 8, Initial: 9},
		"initial above default": {Initial: pool.DefaultGradient2Max + 1},
		"tolerance below 1":     {Tolerance: 0.9},
		"tolerance NaN":         {Tolerance: math.NaN()},
		"negative smoothing":    {Smoothing: -0.1},
		"smoothing above 1":     {Smoothing: 1.1},
		"smoothing NaN":         {Smoothing: math.NaN()},
		"negative long window":  {LongWindow: -1},
	} {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, cfg.Validate(), pool.ErrInvalidConfig)
			_, err := pool.NewGradient2(cfg)
			require.ErrorIs(t, err, pool.ErrInvalidConfig)
		})
	}
}

func TestGradient2Defaults(t *testing.T) {
	g, err := pool.NewGradient2(pool.Gradient2Config{})
	require.NoError(t, err)
	assert.Equal(t, pool.Gradient2Config{
		Min: 1, Max: pool.DefaultGradient2Max, Initial: 1,
		Tolerance: pool.DefaultGradient2Tolerance, Smoothing: pool.DefaultGradient2Smoothing, LongWindow: pool.DefaultGradient2LongWindow,
	}, g.Config())
	assert.Equal(t, 1, g.Limit())
	assert.Zero(t, g.Estimate())
	// 1 + 0.2×4 = 1.8, then 2.6: the fractions add up across updates.
	assert.Equal(t, 1, g.Update(pool.Sample{Latency: 10 * time.Millisecond, InFlight: 1}))
	assert.Equal(t, 2, g.Update(pool.Sample{Latency: 10 * time.Millisecond, InFlight: 1}))
}

// step is one Update and what it must return.
type step struct {
	s    pool.Sample
	want int
}

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

// at returns a sample at second sec of the test's timeline.
func at(sec int, latency time.Duration, inFlight int) pool.Sample {
	return pool.Sample{Time: time.Unix(int64(sec), 0), Latency: latency, InFlight: inFlight}
}

// TestGradient2Arithmetic checks Update against hand-computed values. Most
// cases use Smoothing 0.5 so that the numbers stay exact: next = (L +
// target)/2, target = L × gradient (+ headroom when binding), gradient =
// clamp(1.5 × long / latency, 0.5, 1), headroom = max(4, √L).
func TestGradient2Arithmetic(t *testing.T) {
	tests := []struct {
		name     string
		cfg      pool.Gradient2Config
		steps    []step
		estimate time.Duration
	}{{
		name: "grows by max(4, √L) × smoothing while demand reaches the limit",
		cfg:  pool.Gradient2Config{Max: 100, Initial: 8, Smoothing: 0.5},
		steps: []step{
			{at(1, ms(10), 50), 10},  // (8 + 8+4)/2
			{at(2, ms(10), 50), 12},  // (10 + 10+4)/2
			{at(3, ms(10), 50), 14},  // (12 + 12+4)/2
			{at(4, ms(10), 50), 16},  // (14 + 14+4)/2
			{at(5, ms(10), 50), 18},  // (16 + 16+√16)/2
			{at(6, ms(10), 50), 20},  // 18 + √18/2 = 20.12
			{at(7, ms(10), 50), 22},  // 20.12 + √20.12/2 = 22.36
			{at(8, ms(10), 22), 24},  // InFlight 22 still reaches the limit 22: 22.36 + 2.36 = 24.73
			{at(9, ms(10), 23), 24},  // 23 < 24: not binding and latency steady, hold
			{at(10, ms(14), 24), 27}, // long (10×9+14)/10 = 10.4, 1.5×10.4/14 > 1: 24.73 + √24.73/2 = 27.21
		},
		estimate: ms(10.4),
	}, {
		name: "holds while demand stays below the limit and latency within tolerance",
		cfg:  pool.Gradient2Config{Initial: 8},
		steps: []step{
			{at(1, ms(10), 7), 8},
			{at(2, ms(14), 7), 8}, // long 12: 1.5×12/14 > 1
			{at(3, ms(17), 0), 8}, // long (10+14+17)/3 = 13.67: 1.5×13.67/17 = 1.21 > 1
			{at(4, 0, 7), 8},      // nothing measured
		},
		estimate: ms(41.0 / 3),
	}, {
		name: "shrinks when latency exceeds the tolerance, even below the limit",
		cfg:  pool.Gradient2Config{Max: 100, Initial: 40, Smoothing: 0.5},
		steps: []step{
			{at(1, ms(10), 10), 40},
			{at(2, ms(40), 10), 38},  // long 25, gradient 1.5×25/40 = 0.9375: (40 + 37.5)/2 = 38.75
			{at(3, ms(100), 10), 33}, // long 50, gradient 0.75: (38.75 + 29.0625)/2 = 33.91
		},
		estimate: ms(50),
	}, {
		name: "shrinks less, or still grows, when demand also reaches the limit",
		cfg:  pool.Gradient2Config{Max: 100, Initial: 40, Smoothing: 0.5},
		steps: []step{
			{at(1, ms(10), 100), 43},  // 40 + √40/2 = 43.16
			{at(2, ms(40), 100), 45},  // long 25, gradient 0.9375: (43.16 + 43.16×0.9375 + √43.16)/2 = 45.10
			{at(3, ms(100), 100), 42}, // long 50, gradient 0.75: (45.10 + 45.10×0.75 + √45.10)/2 = 42.82
		},
		estimate: ms(50),
	}, {
		name: "cuts by at most half in one update",
		cfg:  pool.Gradient2Config{Initial: 40, Smoothing: 1},
		steps: []step{
			{at(1, ms(1), 0), 40}, {at(2, ms(1), 0), 40}, {at(3, ms(1), 0), 40},
			{at(4, ms(1), 0), 40}, {at(5, ms(1), 0), 40}, {at(6, ms(1), 0), 40},
			{at(7, ms(1), 0), 40}, {at(8, ms(1), 0), 40}, {at(9, ms(1), 0), 40},
			{at(10, ms(100), 0), 20},  // long (9+100)/10 = 10.9: 1.5×10.9/100 = 0.16, clamped to 0.5
			{at(11, ms(100), 20), 14}, // long 10.9 + (100-10.9)×2/601 = 11.20, gradient 0.5 again: 0.5×20 + √20 = 14.47
		},
		estimate: ms(10.9 + (100-10.9)*2/601),
	}, {
		name: "stays within [Min, Max]",
		cfg:  pool.Gradient2Config{Min: 8, Max: 10, Initial: 9, Smoothing: 1},
		steps: []step{
			{at(1, ms(10), 100), 10}, // 9 + 4 = 13, capped
			{at(2, ms(1000), 0), 8},  // long 505, gradient 0.7575: 7.575, floored at Min
		},
		estimate: ms(505),
	}, {
		name: "ignores samples out of time order, and with no latency unless demand reached the limit",
		cfg:  pool.Gradient2Config{Max: 100, Initial: 8, Smoothing: 0.5},
		steps: []step{
			{at(2, ms(10), 50), 10},
			{at(3, 0, 9), 10},       // nothing measured, and demand below the limit
			{at(1, ms(10), 50), 10}, // older than the last sample
			{at(3, ms(10), 50), 12}, // the same time is in order
			{at(4, ms(40), 50), 12}, // long (10+10+40)/3 = 20, so the ignored samples did not count; gradient 0.75: (12 + 9+4)/2 = 12.5
		},
		estimate: ms(20),
	}, {
		name: "with no latency, grows while demand reaches the limit",
		cfg:  pool.Gradient2Config{Max: 100, Initial: 8, Smoothing: 0.5},
		steps: []step{
			{at(1, 0, 8), 10},       // (8 + 8+4)/2: nothing finished, but work waited
			{at(2, 0, 100), 12},     // (10 + 10+4)/2
			{at(3, 0, 11), 12},      // below the limit: hold
			{at(4, ms(10), 12), 14}, // the first latency starts the average
		},
		estimate: ms(10),
	}, {
		name: "the long-term latency decays after an overload ends",
		cfg:  pool.Gradient2Config{Initial: 8},
		steps: []step{
			{at(1, ms(100), 0), 8},
			{at(2, ms(10), 0), 8}, // long 55 > 2 × 10, cut by 5% to 52.25
			{at(3, ms(10), 0), 8}, // long (2×52.25 + 10)/3 = 38.17 > 20, cut to 36.26
		},
		estimate: ms((2*52.25 + 10) / 3 * 0.95),
	}}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := pool.NewGradient2(tc.cfg)
			require.NoError(t, err)
			for i, st := range tc.steps {
				require.Equal(t, st.want, g.Update(st.s), "step %d: %+v", i+1, st.s)
				require.Equal(t, st.want, g.Limit(), "step %d", i+1)
			}
			assert.InDelta(t, float64(tc.estimate), float64(g.Estimate()), float64(time.Microsecond))
		})
	}
}

// closedLoop is a synthetic closed queueing system that a Gradient2 sizes:
// clients each keep one request outstanding, and a request holds a worker
// for its service time. Each tick is one interval in which every client
// wants a worker at some moment, so InFlight is the number of clients.
type closedLoop struct {
	clients int
	// service returns the service time of a request when limit workers
	// run at once.
	service func(running int) time.Duration
	// total feeds the controller the client's latency (queue wait plus
	// service) instead of the service time.
	total bool
}

// sample is what the server would measure in one interval at limit.
func (m closedLoop) sample(tick, limit int) pool.Sample {
	running := min(limit, m.clients)
	lat := m.service(running)
	if m.total && limit < m.clients {
		// Throughput is limit/service, so each client's turn comes round
		// every clients/throughput.
		lat = lat * time.Duration(m.clients) / time.Duration(limit)
	}
	return pool.Sample{Time: time.Unix(int64(tick), 0), Latency: lat, InFlight: m.clients}
}

// run feeds ticks samples and returns the limit after each.
func (m closedLoop) run(t *testing.T, cfg pool.Gradient2Config, ticks int) []int {
	t.Helper()
	g, err := pool.NewGradient2(cfg)
	require.NoError(t, err)
	limits := make([]int, ticks)
	for i := range limits {
		limits[i] = g.Update(m.sample(i, g.Limit()))
	}
	return limits
}

// ioBound is a service time that does not depend on concurrency, like a
// call to a slow backend (Config.WorkDelay in package server).
func ioBound(d time.Duration) func(int) time.Duration {
	return func(int) time.Duration { return d }
}

// cpuBound is a service time that grows once more requests run than there
// are cores to run them.
func cpuBound(d time.Duration, cores int) func(int) time.Duration {
	return func(running int) time.Duration { return d * time.Duration(max(running, cores)) / time.Duration(cores) }
}

// TestGradient2ConvergesIOBound runs the controller against the closed
// loop with a service time that does not grow with concurrency: the static
// optimum is one worker per client. The limit must climb to the number of
// clients, then settle within one step above it (or at Max), whether it is
// fed service times or the clients' whole latency.
func TestGradient2ConvergesIOBound(t *testing.T) {
	cfg := pool.Gradient2Config{Min: 2, Max: 256, Initial: 8} // the other fields at their defaults, as the server uses them
	const ticks = 2000
	for _, clients := range []int{8, 16, 64, 200, 500} {
		for _, total := range []bool{false, true} {
			name := fmt.Sprintf("clients=%d/signal=service", clients)
			if total {
				name = fmt.Sprintf("clients=%d/signal=queue+service", clients)
			}
			t.Run(name, func(t *testing.T) {
				limits := closedLoop{clients: clients, service: ioBound(10 * time.Millisecond), total: total}.run(t, cfg, ticks)
				lo := min(clients, cfg.Max)
				hi := min(cfg.Max, clients+int(math.Max(4, math.Sqrt(float64(clients)))))
				reached := -1
				for i, l := range limits {
					require.True(t, l >= cfg.Min && l <= cfg.Max, "tick %d: limit %d outside [%d, %d]", i, l, cfg.Min, cfg.Max)
					if i > 0 {
						require.GreaterOrEqual(t, l, limits[i-1], "tick %d: the limit fell with no latency pressure", i)
					}
					if reached < 0 && l >= lo {
						reached = i
					}
					if reached >= 0 {
						require.True(t, l >= lo && l <= hi, "tick %d: limit %d left [%d, %d] after reaching it", i, l, lo, hi)
					}
				}
				require.GreaterOrEqual(t, reached, 0, "the limit never reached %d: %v", lo, limits[ticks-1])
				t.Logf("reached %d after %d updates; settled at %d", lo, reached+1, limits[ticks-1])
				// From 8, each update adds at least 0.2 × 4 until the limit
				// binds no more, so the climb is bounded by arithmetic,
				// not by luck: (lo - 8) / 0.8 updates at most.
				assert.LessOrEqual(t, reached+1, int(math.Ceil(float64(lo-cfg.Initial)/0.8))+1)
			})
		}
	}
}

// TestGradient2HoldsBackCPUBound runs the closed loop with a CPU-bound
// service time (4 cores): latency rises with every worker past 4, so the
// limit climbs more slowly than when the service time is flat. Gradient2's
// long-term latency follows the rise, so it is held back, not stopped.
func TestGradient2HoldsBackCPUBound(t *testing.T) {
	cfg := pool.Gradient2Config{Min: 2, Max: 256, Initial: 8}
	const clients, ticks = 64, 200
	cpu := closedLoop{clients: clients, service: cpuBound(time.Millisecond, 4)}.run(t, cfg, ticks)
	io := closedLoop{clients: clients, service: ioBound(time.Millisecond)}.run(t, cfg, ticks)
	for i := range cpu {
		require.True(t, cpu[i] >= cfg.Min && cpu[i] <= clients+8, "tick %d: limit %d", i, cpu[i])
	}
	t.Logf("after %d updates: cpu-bound %d, io-bound %d", ticks, cpu[ticks-1], io[ticks-1])
	assert.Less(t, cpu[ticks-1], io[ticks-1])
}

// TestGradient2OutlierCutsLittle checks that one slow interval (a GC pause,
// a noisy neighbour) costs at most Smoothing × half of the limit, and that
// the limit climbs back.
func TestGradient2OutlierCutsLittle(t *testing.T) {
	g, err := pool.NewGradient2(pool.Gradient2Config{Min: 2, Max: 256, Initial: 8})
	require.NoError(t, err)
	m := closedLoop{clients: 64, service: ioBound(10 * time.Millisecond)}
	tick := 0
	for ; tick < 200; tick++ {
		g.Update(m.sample(tick, g.Limit()))
	}
	before := g.Limit()
	require.GreaterOrEqual(t, before, 64)

	spike := m.sample(tick, before)
	spike.Latency *= 10
	after := g.Update(spike)
	tick++
	assert.Less(t, after, before)
	assert.GreaterOrEqual(t, float64(after), math.Floor(0.9*float64(before)))

	for ; tick < 400; tick++ {
		g.Update(m.sample(tick, g.Limit()))
	}
	assert.GreaterOrEqual(t, g.Limit(), 64)
}
