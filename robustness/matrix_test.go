package robustness

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/faults"
)

// matrixFaults returns the faults of the matrix for calls bounded by
// timeout: each kind once in the quick suite, at an offset inside the
// second frame of either stream (a BOOK request and its echo are 28
// bytes, so 38 falls in the second frame's action string); the full suite
// adds offsets in the first length header (1), at a frame boundary (28),
// in a room (51), in a date (55) and past the first query (90), a
// one-bit corruption, pacing and one-byte chunks.
func matrixFaults(timeout time.Duration) []faults.Fault {
	fs := []faults.Fault{faults.Slow{Delay: 2 * time.Millisecond}, faults.Chunk{Min: 1, Max: 3}}
	if full() {
		fs = append(fs, faults.Slow{Rate: 20000}, faults.Chunk{Max: 1})
	}
	for _, at := range pick([]int64{38}, []int64{1, 28, 38, 51, 55, 90}) {
		fs = append(fs,
			faults.Stall{At: at, For: 3 * timeout},
			faults.Cut{At: at},
			faults.Reset{At: at},
			faults.Blackhole{At: at},
			faults.ShortWrite{At: at},
			faults.Corrupt{At: at},
		)
		if full() {
			fs = append(fs, faults.Corrupt{At: at, Mask: 0x01})
		}
	}
	return fs
}

// TestFaultMatrix runs every server model against every fault, in each
// direction, with several clients at once through a fault proxy, and
// checks the guarantees of the package documentation.
func TestFaultMatrix(t *testing.T) {
	base := defaultScenario()
	base.clients, base.ops = pick(3, 8), pick(6, 12)
	base.timeout = pick(400*time.Millisecond, 500*time.Millisecond)
	for _, model := range models {
		t.Run(model.String(), func(t *testing.T) {
			for _, dir := range []string{"up", "down"} {
				t.Run(dir, func(t *testing.T) {
					for _, f := range matrixFaults(base.timeout) {
						t.Run(f.String(), func(t *testing.T) {
							t.Parallel()
							sc := base
							sc.model = model
							if dir == "up" {
								sc.up = []faults.Fault{f}
							} else {
								sc.down = []faults.Fault{f}
							}
							out := runScenario(t, sc)
							if !onlyBenign([]faults.Fault{f}) {
								assert.Less(t, out.counts["ok"]-out.counts["corrupted-undetectable"], sc.clients*sc.ops,
									"the fault never changed the outcome of a call: the case tests nothing")
							}
						})
					}
				})
			}
		})
	}
}

// FuzzFaultSchedule turns a seed into a random scenario (model, one or two
// faults in each direction, clients and calls) and runs it with every
// check. The seed corpus runs in make test; go test -fuzz explores more.
func FuzzFaultSchedule(f *testing.F) {
	for seed := range uint64(pick(6, 40)) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		sc := randomScenario(seed)
		t.Logf("seed %d: %s", seed, sc)
		runScenario(t, sc)
	})
}

// randomScenario draws a scenario from seed, and nothing else.
func randomScenario(seed uint64) scenario {
	rng := rand.New(rand.NewPCG(seed, 0x726f627573746e65))
	sc := defaultScenario()
	sc.seed = seed
	sc.model = models[rng.IntN(len(models))]
	sc.clients = 2 + rng.IntN(3)
	sc.ops = 3 + rng.IntN(6)
	sc.up = randomFaults(rng, sc.timeout)
	sc.down = randomFaults(rng, sc.timeout)
	return sc
}

// randomFaults draws up to two faults, at offsets within the first few
// frames.
func randomFaults(rng *rand.Rand, timeout time.Duration) []faults.Fault {
	var fs []faults.Fault
	for range rng.IntN(3) {
		at := rng.Int64N(160)
		var f faults.Fault
		switch rng.IntN(8) {
		case 0:
			if rng.IntN(2) == 0 {
				f = faults.Slow{Delay: time.Duration(rng.IntN(3000)) * time.Microsecond}
			} else {
				f = faults.Slow{Rate: 5000 + rng.Int64N(50000)}
			}
		case 1:
			hi := 1 + rng.IntN(8)
			f = faults.Chunk{Max: hi, Min: rng.IntN(hi + 1)}
		case 2:
			f = faults.Stall{At: at, For: time.Duration(rng.Int64N(int64(3 * timeout)))}
		case 3:
			f = faults.Cut{At: at}
		case 4:
			f = faults.Reset{At: at}
		case 5:
			f = faults.Blackhole{At: at}
		case 6:
			f = faults.ShortWrite{At: at}
		case 7:
			f = faults.Corrupt{At: at, Mask: byte(rng.Uint32())}
		}
		fs = append(fs, f)
	}
	return fs
}

// TestReplay runs the scenario in $POOLSIDE_REPLAY, as a failing case
// prints it.
func TestReplay(t *testing.T) {
	spec := os.Getenv(replayEnv)
	if spec == "" {
		t.Skipf("set %s to a scenario (a failing case prints one) to run it again", replayEnv)
	}
	sc, err := parseScenario(spec)
	require.NoError(t, err)
	runScenario(t, sc)
}

func TestScenarioRoundTrip(t *testing.T) {
	for seed := range uint64(50) {
		sc := randomScenario(seed)
		got, err := parseScenario(sc.String())
		require.NoError(t, err, "%s", sc)
		assert.Equal(t, sc.String(), got.String())
	}
}
