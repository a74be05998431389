package robustness

import (
	"bytes"
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// modeEnv selects the suite: "full" for make robustness, anything else
// (unset) for the quick suite of make test.
const modeEnv = "POOLSIDE_ROBUSTNESS"

// full reports whether the full suite was asked for.
func full() bool { return os.Getenv(modeEnv) == "full" }

// pick returns quick in the quick suite and long in the full one.
func pick[T any](quick, long T) T {
	if full() {
		return long
	}
	return quick
}

// within runs fn on its own goroutine and waits at most limit for it. If fn
// has not returned by then, the test fails with a dump of every goroutine,
// so that a hang is reported with its cause instead of running into go
// test's -timeout. fn must not call t.FailNow; it is left running when the
// limit passes, and the test's cleanups then close what it waits on.
func within(t testing.TB, limit time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("%s did not finish within %v: a hang. Goroutines:\n%s", what, limit, goroutines())
	}
}

// goroutines returns the stacks of every goroutine, as a panic shows them.
func goroutines() string {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	return b.String()
}
