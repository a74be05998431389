// Package booking is the Building Services application: the rules of room
// booking and the stores that keep the bookings.
//
// Service answers the protocol's four requests (BOOK, UNBOOK,
// BOOKINGSONDATE, BOOKINGSFORROOM) with the replies and error texts of the
// book's servers, byte for byte, and adds checks the book did not make: a
// room must be three digits (floor 0-9, room 01-34), a date must not be
// null, a booking must not be in the past, and a block that does not parse
// gets a readable "Malformed request: ..." reply. ServeFrame takes a
// request block and returns the reply block, so a server uses it as its
// handler without knowing the protocol's rules.
//
// A Store keeps the bookings. MemoryStore holds them in maps behind a
// mutex. BoltStore keeps them in a bbolt file: a booking is acknowledged
// only once committed and fsynced. A lone booking commits at once;
// concurrent bookings share one commit (bbolt's Batch), so a busy server does
// not pay one fsync per booking; a refused booking costs no commit at all.
// PostgresStore keeps them in a PostgreSQL database that several servers
// may share: the database itself keeps the rules across all of them (see
// postgres_schema.go), a booking is acknowledged once committed, and
// writes arriving together share one transaction (writeBatcher). Its
// errors say whether a failed write was not sent (ErrUnavailable: safe to
// retry) or is in doubt (ErrInDoubt: a query settles it).
// In every store the per-date limit check and the insert are one atomic
// step, so concurrent bookings of one date never exceed the limit.
//
// A store failure is never reported as success: the client gets an ERROR
// reply ("Booking not saved: storage error on the server; try again later") and
// Stats counts it. booking does not log; it returns errors and exposes
// counters. It imports only wire, internal/textfmt, the standard library,
// bbolt and pgx.
package booking
