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

	// ErrUnavailable is wrapped by the errors of a PostgresStore's
	// methods when the database could not be asked (no connection, the
	// database is down, the deadline passed before the statement went
	// out): nothing was done, and the request is safe to retry.
	ErrUnavailable = errors.New("booking: database unavailable")

	// ErrInDoubt is wrapped by the error of a PostgresStore's Book or
	// Unbook whose statement reached the database but whose answer was
	// lost (the connection broke, or the deadline passed, during the
	// commit): it may or may not have taken effect, and a query settles
	// it.
	ErrInDoubt = errors.New("booking: outcome in doubt")

	// ErrDatabaseUnreachable is wrapped by the error of OpenPostgres when
	// the database does not answer, refuses the connection, does not
	// exist, or fails while the schema is checked.
	ErrDatabaseUnreachable = errors.New("booking: database unreachable")

	// ErrDatabaseAuth is wrapped by the error of OpenPostgres when the
	// database refuses the credentials.
	ErrDatabaseAuth = errors.New("booking: database refused the credentials")

	// ErrSchemaVersion is wrapped by the error of OpenPostgres when the
	// database holds a poolside schema of another version than
	// SchemaVersion.
	ErrSchemaVersion = errors.New("booking: database schema of another version")

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
