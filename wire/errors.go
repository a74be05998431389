package wire

import (
	"errors"
	"fmt"
	"io"
)

// Sentinel errors of package wire. They are wrapped, never returned bare by
// the decoders, so test them with errors.Is.
var (
	// ErrFrameTooLarge means a payload does not fit the framing: more than
	// MaxBlock bytes for the quint16 framing, or more than the configured
	// maximum for Uint32Framing.
	ErrFrameTooLarge = errors.New("wire: frame too large")

	// ErrShortField means the block ended before a field was complete
	// (a missing field, or a string or list longer than what is left).
	ErrShortField = errors.New("wire: block ends inside a field")

	// ErrOddLength means a QString byte length is odd; UTF-16 needs two
	// bytes per code unit.
	ErrOddLength = errors.New("wire: odd QString byte length")

	// ErrTrailingBytes means bytes are left in the block after the last
	// field of the message.
	ErrTrailingBytes = errors.New("wire: trailing bytes after the last field")

	// ErrUnknownAction means the action string is not one this protocol
	// knows. The block itself may be well formed.
	ErrUnknownAction = errors.New("wire: unknown action")

	// ErrBadCount means a list count is negative or larger than the block
	// could hold.
	ErrBadCount = errors.New("wire: bad list count")
)

// ProtocolError describes a block whose framing is intact but whose payload
// does not parse. Field names the field being read, Offset is its byte offset
// inside the block, and Err is one of the sentinels above. A server answers a
// ProtocolError with an error reply and keeps the connection, because the
// next block still starts where the framing says.
type ProtocolError struct {
	Field  string
	Offset int
	Err    error
}

// Error implements error.
func (e *ProtocolError) Error() string {
	return fmt.Sprintf("malformed block: %s at byte %d: %s", e.Field, e.Offset, trimPrefix(e.Err.Error()))
}

// Unwrap returns the sentinel.
func (e *ProtocolError) Unwrap() error { return e.Err }

// TruncatedError means the peer closed the connection in the middle of a
// frame: Got bytes of the frame (size header included) arrived out of Want.
// It matches io.ErrUnexpectedEOF with errors.Is. Want is the header length
// alone when the header itself was cut.
type TruncatedError struct {
	Got, Want int
}

// Error implements error.
func (e *TruncatedError) Error() string {
	return fmt.Sprintf("wire: connection closed mid-frame: got %d of %d bytes", e.Got, e.Want)
}

// Unwrap returns io.ErrUnexpectedEOF.
func (e *TruncatedError) Unwrap() error { return io.ErrUnexpectedEOF }

func trimPrefix(s string) string {
	const p = "wire: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
