package booking

import (
	"context"
	"fmt"
	"strings"

	"github.com/poolside-dev/poolside/wire"
)

// Store keeps the bookings: which rooms are booked on which dates. It knows
// nothing of the protocol's rules beyond the per-date limit passed to Book;
// Service validates rooms and dates before calling it.
//
// Implementations must be safe for concurrent use. After Close every method
// returns an error wrapping ErrClosed, and Close itself may be called more
// than once.
type Store interface {
	// Book records room on date if date has fewer than limit bookings and
	// room is not already booked on it; the check and the insert are one
	// atomic step. It returns ErrDuplicate or ErrFullyBooked (and writes
	// nothing) when a rule refuses, or a wrapped store error. When it
	// returns nil the booking is durable as far as the store promises (for
	// BoltStore: committed and fsynced).
	Book(ctx context.Context, room string, date wire.Date, limit int) error

	// Unbook removes the booking of room on date. It returns ErrNotBooked
	// when there is none, or a wrapped store error. When it returns nil the
	// removal is as durable as a booking.
	Unbook(ctx context.Context, room string, date wire.Date) error

	// RoomsOn returns the rooms booked on date, sorted ascending; nil when
	// there are none. The caller owns the slice.
	RoomsOn(ctx context.Context, date wire.Date) ([]string, error)

	// DatesFor returns the dates room is booked on, ascending; nil when
	// there are none. The caller owns the slice.
	DatesFor(ctx context.Context, room string) ([]wire.Date, error)

	// Close releases the store. Calls after the first return the first
	// call's result.
	Close() error
}

// StoreKind names a Store implementation: where bookings are kept.
type StoreKind string

// The kinds of store OpenStore opens.
const (
	// StoreBolt keeps bookings in a bbolt file (OpenBolt): committed and
	// fsynced before a booking is acknowledged.
	StoreBolt StoreKind = "bolt"
	// StoreMemory keeps them in memory (NewMemoryStore), until Close.
	StoreMemory StoreKind = "memory"
	// StorePostgres keeps them in a PostgreSQL database (OpenPostgres),
	// which several servers may share: committed before a booking is
	// acknowledged.
	StorePostgres StoreKind = "postgres"
)

// StoreKinds lists every kind, the default first.
var StoreKinds = []StoreKind{StoreBolt, StoreMemory, StorePostgres}

// StoreConfig says which Store OpenStore opens. The zero value is not
// valid: Kind is required.
type StoreConfig struct {
	// Kind is the implementation.
	Kind StoreKind
	// Path is the bbolt file of StoreBolt (required there, unused by
	// StoreMemory).
	Path string
	// Bolt tunes StoreBolt; the zero value is OpenBolt's defaults.
	Bolt BoltOptions
	// Postgres is StorePostgres's database (its URL is required there).
	Postgres PostgresOptions
}

// Validate reports an unknown Kind, a StoreBolt without a Path or a
// StorePostgres without a URL, as an error wrapping ErrInvalidConfig.
func (c StoreConfig) Validate() error {
	switch c.Kind {
	case StoreMemory:
		return nil
	case StorePostgres:
		return c.Postgres.Validate()
	case StoreBolt:
		if c.Path == "" {
			return fmt.Errorf("%w: the bolt store needs a Path, the database file", ErrInvalidConfig)
		}
		return c.Bolt.Validate()
	}
	return fmt.Errorf("%w: store kind %q: choose %s", ErrInvalidConfig, c.Kind, kindList())
}

// kindList is "bolt or memory".
func kindList() string {
	names := make([]string, len(StoreKinds))
	for i, k := range StoreKinds {
		names[i] = string(k)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// OpenStore opens the Store cfg names: the one place every command that
// keeps bookings (poolside serve, the in-process server of bench and tune)
// opens its store. The errors are those of Validate and of the kind's
// opener (OpenBolt's ErrLocked, ErrDamaged, and the file system's;
// OpenPostgres's ErrDatabaseUnreachable, ErrDatabaseAuth and
// ErrSchemaVersion). ctx bounds the opening of a database, not the
// store's life.
func OpenStore(ctx context.Context, cfg StoreConfig) (Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Kind {
	case StoreMemory:
		return NewMemoryStore(), nil
	case StorePostgres:
		return OpenPostgres(ctx, cfg.Postgres)
	}
	return OpenBolt(cfg.Path, cfg.Bolt)
}
