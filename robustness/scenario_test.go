package robustness

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/faults"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

// scenario is one robustness case, complete: the same scenario meets the
// same faults at the same byte offsets with the same random choices.
type scenario struct {
	model    server.Model
	up, down []faults.Fault // faults.Config's Up and Down
	seed     uint64         // the proxy's seed
	clients  int            // clients at once, each with its own room
	ops      int            // requests per client, one after another
	timeout  time.Duration  // each call's bound (client Config.Timeout)
}

// String gives the scenario in the form parseScenario reads.
func (sc scenario) String() string {
	return fmt.Sprintf("model=%s up=%s down=%s seed=%d clients=%d ops=%d timeout=%s",
		sc.model, faults.FormatSpec(sc.up), faults.FormatSpec(sc.down), sc.seed, sc.clients, sc.ops, sc.timeout)
}

// replay is the command that runs sc again.
func (sc scenario) replay() string {
	return fmt.Sprintf("%s='%s' go test -race -count=1 -run '^TestReplay$' ./robustness", replayEnv, sc)
}

// replayEnv holds a scenario for TestReplay.
const replayEnv = "POOLSIDE_REPLAY"

// defaultScenario is what parseScenario starts from.
func defaultScenario() scenario {
	return scenario{model: server.ModelPool, seed: 1, clients: 3, ops: 6, timeout: 400 * time.Millisecond}
}

// parseScenario reads the space-separated key=value form String writes.
// Missing keys keep defaultScenario's values.
func parseScenario(s string) (scenario, error) {
	sc := defaultScenario()
	for _, field := range strings.Fields(s) {
		key, val, ok := strings.Cut(field, "=")
		if !ok {
			return sc, fmt.Errorf("field %q is not key=value", field)
		}
		var err error
		switch key {
		case "model":
			sc.model, err = server.ParseModel(val)
		case "up":
			sc.up, err = faults.ParseSpec(val)
		case "down":
			sc.down, err = faults.ParseSpec(val)
		case "seed":
			sc.seed, err = strconv.ParseUint(val, 10, 64)
		case "clients":
			sc.clients, err = strconv.Atoi(val)
		case "ops":
			sc.ops, err = strconv.Atoi(val)
		case "timeout":
			sc.timeout, err = time.ParseDuration(val)
		default:
			err = fmt.Errorf("unknown key")
		}
		if err != nil {
			return sc, fmt.Errorf("field %q: %w", field, err)
		}
	}
	if sc.clients < 1 || sc.clients > len(allRooms) || sc.ops < 1 || sc.timeout <= 0 {
		return sc, fmt.Errorf("clients (1..%d), ops (>= 1) and timeout (> 0) are out of range in %q", len(allRooms), s)
	}
	// The clients book inside the service's horizon (see actor.request).
	last, horizon := firstDate+wire.Date(64*(sc.clients-1)+sc.ops), wire.FromTime(now)+booking.DefaultHorizon
	if last > horizon {
		return sc, fmt.Errorf("clients=%d ops=%d would book up to %s, past the booking horizon %s, in %q", sc.clients, sc.ops, last, horizon, s)
	}
	return sc, nil
}

// has reports whether fs holds a fault of type F.
func has[F faults.Fault](fs []faults.Fault) bool {
	for _, f := range fs {
		if _, ok := f.(F); ok {
			return true
		}
	}
	return false
}

// onlyBenign reports whether fs only delay or split traffic, so that every
// call must still succeed.
func onlyBenign(fs []faults.Fault) bool {
	for _, f := range fs {
		switch f.(type) {
		case faults.Slow, faults.Chunk:
		default:
			return false
		}
	}
	return true
}

// mask is the byte a Corrupt XORs in.
func mask(c faults.Corrupt) byte {
	if c.Mask == 0 {
		return 0xFF
	}
	return c.Mask
}

// upstreamView returns what the server can have received of out, the bytes
// a client wrote on one connection, once the Up faults acted on them: cut
// at the first offset where a fault stops the stream, with the corrupted
// bytes flipped. Faults count offsets on the same stream whatever their
// order, so the order of up does not matter.
func upstreamView(out []byte, up []faults.Fault) []byte {
	end := int64(len(out))
	for _, f := range up {
		switch f := f.(type) {
		case faults.Cut:
			end = min(end, f.At)
		case faults.Reset:
			end = min(end, f.At)
		case faults.Blackhole:
			end = min(end, f.At)
		case faults.ShortWrite:
			end = min(end, f.At)
		}
	}
	b := append([]byte(nil), out[:end]...)
	for _, f := range up {
		if c, ok := f.(faults.Corrupt); ok && c.At < int64(len(b)) {
			b[c.At] ^= mask(c)
		}
	}
	return b
}
