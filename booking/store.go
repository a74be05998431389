package booking

import (
	"context"

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
