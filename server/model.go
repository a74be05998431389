package server

import (
	"fmt"
	"strings"
)

// Model is a concurrency model; see the package documentation. The zero
// value is ModelPool.
type Model int

// The concurrency models.
const (
	ModelPool Model = iota
	ModelSerial
	ModelConn
	ModelUnbounded
)

var modelNames = [...]string{"pool", "serial", "conn", "unbounded"}

// String returns the model's flag name: pool, serial, conn or unbounded.
func (m Model) String() string {
	if m < 0 || int(m) >= len(modelNames) {
		return fmt.Sprintf("Model(%d)", int(m))
	}
	return modelNames[m]
}

// ParseModel parses a model name as String returns it.
func ParseModel(s string) (Model, error) {
	for i, n := range modelNames {
		if strings.EqualFold(s, n) {
			return Model(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown model %q; choose one of %s", ErrInvalidConfig, s, strings.Join(modelNames[:], ", "))
}

// Set implements pflag.Value, so a Model can be a command-line flag.
func (m *Model) Set(s string) error {
	v, err := ParseModel(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Type implements pflag.Value.
func (m *Model) Type() string { return "model" }

// CloseReason says why the server closed a connection.
type CloseReason int

// The reasons a connection closes. Counted in Stats.Closed and reported to
// Observer.ConnClosed.
const (
	// CloseEOF: the client closed the connection at a frame boundary.
	CloseEOF CloseReason = iota
	// CloseIdle: no request started within the idle timeout.
	CloseIdle
	// CloseReadTimeout: a request started but did not complete within the
	// read timeout; the client was sent the read-timeout reply.
	CloseReadTimeout
	// CloseTruncated: the client closed the connection inside a frame.
	CloseTruncated
	// CloseReadError: reading failed (reset, or another network error).
	CloseReadError
	// CloseWriteError: writing a reply failed or timed out.
	CloseWriteError
	// CloseFrameTooLarge: the client announced a frame beyond the framing's
	// maximum; the framing cannot be trusted after that.
	CloseFrameTooLarge
	// CloseBusy: the server refused the connection (max connections, or
	// the connection pool of ModelConn was full) after the busy reply.
	CloseBusy
	// CloseShutdown: the server closed an idle connection while draining,
	// or closed it after the reply in flight when Shutdown began (and the
	// busy replies to any requests pipelined behind it).
	CloseShutdown
	// CloseServerClosed: Close ended the connection.
	CloseServerClosed

	numCloseReasons
)

var closeReasonNames = [...]string{"eof", "idle_timeout", "read_timeout", "truncated", "read_error", "write_error", "frame_too_large", "busy", "shutdown", "server_closed"}

// String returns a short snake_case name, used as a metric label.
func (r CloseReason) String() string {
	if r < 0 || r >= numCloseReasons {
		return fmt.Sprintf("CloseReason(%d)", int(r))
	}
	return closeReasonNames[r]
}

// CloseReasons lists every CloseReason, in order.
func CloseReasons() []CloseReason {
	rs := make([]CloseReason, numCloseReasons)
	for i := range rs {
		rs[i] = CloseReason(i)
	}
	return rs
}
