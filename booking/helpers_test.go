package booking_test

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/internal/pgtest"
	"github.com/poolside-dev/poolside/wire"
)

// today is the injected "now" of the tests: 2026-11-25, noon UTC.
var today = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// testConfig is the Service configuration of the tests: the book's limit,
// a fixed clock, UTC.
var testConfig = booking.Config{Now: func() time.Time { return today }, Location: time.UTC}

// date is shorthand for wire.DateOf.
func date(y int, m time.Month, d int) wire.Date { return wire.DateOf(y, m, d) }

// storeKind names a Store implementation and opens a fresh, empty one.
type storeKind struct {
	name string
	open func(t *testing.T) booking.Store
}

// storeKinds are the stores every rule and contract test runs against.
var storeKinds = []storeKind{
	{"memory", func(*testing.T) booking.Store { return booking.NewMemoryStore() }},
	{"bolt", func(t *testing.T) booking.Store { return openBolt(t, filepath.Join(t.TempDir(), "bookings.db")) }},
	{"postgres", func(t *testing.T) booking.Store {
		return openPostgres(t, pgtest.NewDB(t).URL, booking.PostgresOptions{})
	}},
}

// openPostgres opens a PostgresStore on url with opts (URL set from url),
// closed at the end of the test.
func openPostgres(t testing.TB, url string, opts booking.PostgresOptions) *booking.PostgresStore {
	t.Helper()
	opts.URL = url
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := booking.OpenPostgres(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openBolt opens a BoltStore at path, closed at the end of the test.
func openBolt(t testing.TB, path string) *booking.BoltStore {
	t.Helper()
	s, err := booking.OpenBolt(path, booking.BoltOptions{LockTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// forEachStore runs fn as a subtest for each store kind.
func forEachStore(t *testing.T, fn func(t *testing.T, open func(t *testing.T) booking.Store)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) { fn(t, k.open) })
	}
}

// newService returns a Service with testConfig over store, closed at the
// end of the test.
func newService(t testing.TB, store booking.Store) *booking.Service {
	t.Helper()
	svc, err := booking.New(store, testConfig)
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

// goldenBlock returns wire's golden vector NAME without its 2-byte size
// header: the block.
func goldenBlock(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "wire", "testdata", "golden", name+".hex"))
	require.NoError(t, err)
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(b), 2)
	return b[2:]
}

// validRooms returns the first n valid rooms in ascending order.
func validRooms(n int) []string { return wire.Rooms()[:n] }

// failingStore is a Store whose every method fails with err.
type failingStore struct{ err error }

func (f failingStore) Book(context.Context, string, wire.Date, int) error   { return f.err }
func (f failingStore) Unbook(context.Context, string, wire.Date) error      { return f.err }
func (f failingStore) RoomsOn(context.Context, wire.Date) ([]string, error) { return nil, f.err }
func (f failingStore) DatesFor(context.Context, string) ([]wire.Date, error) {
	return nil, f.err
}
func (f failingStore) Close() error { return nil }
