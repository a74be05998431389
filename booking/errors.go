package booking

import "errors"

// Sentinel errors of package booking. Test for them with errors.Is: the
// refusals (ErrDuplicate, ErrFullyBooked, ErrNotBooked) may be returned bare,
// every other error is wrapped with the operation and its cause.
var (
	// ErrDuplicate is returned by Store.Book when the room is already booked
	// on the date. Nothing was written.
	ErrDuplicate = errors.New("booking: duplicate booking")

	// ErrFullyBooked is returned by Store.Book when the date already has
	// limit bookings. Nothing was written.
	ErrFullyBooked = errors.New("booking: date fully booked")

	// ErrNotBooked is returned by Store.Unbook when the room is not booked
	// on the date. Nothing was written.
	ErrNotBooked = errors.New("booking: no such booking")

	// ErrClosed is wrapped by every Store method called after Close, and by
	// Service methods that reach a closed store.
	ErrClosed = errors.New("booking: store closed")

	// ErrLocked is wrapped by the error OpenBolt returns when another
	// process (or another open in this one) holds the database file's lock
	// for longer than BoltOptions.LockTimeout.
	ErrLocked = errors.New("booking: database locked")

	// ErrDamaged is wrapped by the error (a *DamageError, which says what
	// is wrong) that OpenBolt, CheckBolt and SalvageBolt return for a
	// database file that is damaged: cut short, empty, with a page, key or
	// header page that is not as bbolt and poolside write them, or with
	// bookings that one index lists and the other does not. OpenBolt
	// never serves from such a file.
	ErrDamaged = errors.New("booking: database damaged")

	// ErrInvalidConfig is wrapped by the errors Config.Validate,
	// BoltOptions.Validate, New and OpenBolt return for a field out of
	// range; the message names the field and its value.
	ErrInvalidConfig = errors.New("booking: invalid config")
)

// isRefusal reports whether err is one of the store's rule refusals rather
// than a storage failure.
func isRefusal(err error) bool {
	return errors.Is(err, ErrDuplicate) || errors.Is(err, ErrFullyBooked) || errors.Is(err, ErrNotBooked)
}
