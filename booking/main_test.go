package booking_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/poolside-dev/poolside/internal/pgtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.Wrap(m))
}
