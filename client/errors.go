package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/poolside-dev/poolside/wire"
)

// Sentinel errors of package client. Calls wrap them with detail, so test
// them with errors.Is.
var (
	// ErrClosed is returned by every call after Close, and by calls that
	// were in flight when Close closed their connection.
	ErrClosed = errors.New("client: closed")

	// ErrConnLost is returned by a Client made with New once the
	// connection it was given has been closed after an error: it has no
	// address to dial another.
	ErrConnLost = errors.New("client: connection lost, and a Client made by New cannot dial another")

	// ErrConnect wraps a failure to dial the server. The dialer's error
	// (a *net.OpError, say, matching syscall.ECONNREFUSED) is wrapped as
	// well; a dial cut short by a deadline also matches
	// os.ErrDeadlineExceeded.
	ErrConnect = errors.New("client: cannot connect")

	// ErrBusy matches a *ServerError whose message is wire.MsgBusy: the
	// server shed the request without processing it, so it is safe to
	// send again later (Config.Retries does so for every action).
	ErrBusy = errors.New("client: server busy")

	// ErrTruncated means the server closed the connection in the middle
	// of a reply. The error also wraps the *wire.TruncatedError that says
	// how many bytes of the frame arrived, and so matches
	// io.ErrUnexpectedEOF. (A close between two replies is io.EOF.)
	ErrTruncated = errors.New("client: server closed the connection in the middle of a reply")

	// ErrMismatch means a well-formed reply does not answer the request:
	// another action, or a BOOK/UNBOOK echo (or a query's echoed room or
	// date) that differs from what was sent. The connection is closed,
	// since request and reply are no longer known to line up.
	ErrMismatch = errors.New("client: reply does not match the request")

	// ErrMalformedReply means a reply could not be used as an answer: its
	// block does not parse (the error then also wraps the
	// *wire.ProtocolError that says where), or it carries a value no
	// server can mean: a BOOKINGSONDATE room that is not a room of the
	// building (see wire.ValidRoom), a null date among a BOOKINGSFORROOM's
	// dates, or a room or a date listed twice. The connection is closed,
	// and the request is not retried. A date QDate can carry is never
	// malformed, whatever its year: a server may hold bookings past
	// 9999-12-31 (poolside's once accepted them), and they must be
	// possible to list and cancel.
	ErrMalformedReply = errors.New("client: malformed reply")

	// ErrInvalidConfig wraps the reason a Config is unusable; see
	// Config.Validate.
	ErrInvalidConfig = errors.New("client: invalid config")

	// ErrNotSent is matched by the error of a call that the server cannot
	// have acted on: no attempt wrote a byte of the request (the dial
	// failed, the context ended first, the write wrote nothing, the
	// request could not be encoded), or the only attempts that did were
	// answered busy. Even a BOOK or UNBOOK may then be sent again. A call
	// that ends with the server's own answer, a *ServerError (busy
	// included, once the retries are used up), is not marked: the answer
	// says what happened. Any other failure of a BOOK or UNBOOK leaves it
	// in doubt. The error's text is that of the failure; ErrNotSent only
	// marks it.
	ErrNotSent = errors.New("client: request not sent")
)

// notSentError marks err as the failure of a request that was not sent
// (ErrNotSent), keeping its text.
type notSentError struct{ err error }

func (e *notSentError) Error() string   { return e.err.Error() }
func (e *notSentError) Unwrap() []error { return []error{e.err, ErrNotSent} }

// Timeout reports whether the failure was a timeout, so that os.IsTimeout
// and net.Error callers see through the mark.
func (e *notSentError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout()
}

// notSent marks err with ErrNotSent, once.
func notSent(err error) error {
	if err == nil || errors.Is(err, ErrNotSent) {
		return err
	}
	return &notSentError{err: err}
}

// ServerError is an ERROR reply: the server understood the request and
// refused it with Message, one of the texts in package wire (such as
// wire.MsgDuplicate) or any other the server sends. It matches ErrBusy with
// errors.Is when Message is wire.MsgBusy. The connection stays usable.
type ServerError struct {
	Message string
}

// Error returns "client: server refused: " and the server's message, with
// the characters that could act on a terminal escaped (see Printable):
// the text is for people. Message keeps what the server sent.
func (e *ServerError) Error() string { return "client: server refused: " + Printable(e.Message) }

// Is reports whether target is ErrBusy and this is the busy reply.
func (e *ServerError) Is(target error) bool {
	return target == ErrBusy && e.Message == wire.MsgBusy
}

// truncatedError is ErrTruncated with the byte counts of the cut frame.
type truncatedError struct {
	wire *wire.TruncatedError
}

func (e *truncatedError) Error() string {
	return fmt.Sprintf("%v: got %d of %d bytes", ErrTruncated, e.wire.Got, e.wire.Want)
}

func (e *truncatedError) Unwrap() []error { return []error{ErrTruncated, e.wire} }

// timeoutError is a deadline, from the context or Config.Timeout, that
// passed during op. It matches os.ErrDeadlineExceeded and
// context.DeadlineExceeded, and wraps what the interrupted operation
// returned.
type timeoutError struct {
	op  string
	err error
}

func (e *timeoutError) Error() string {
	if e.err == nil {
		return "client: deadline exceeded while " + e.op
	}
	return "client: deadline exceeded while " + e.op + ": " + e.err.Error()
}

func (e *timeoutError) Unwrap() error { return e.err }

func (e *timeoutError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded || target == context.DeadlineExceeded
}

// Timeout reports true, like the net package's timeout errors.
func (e *timeoutError) Timeout() bool { return true }

// ioError turns an error from dialing, writing or reading during op into
// the package's error model: ErrClosed after Close; a timeout or
// cancellation when ctx is done or a deadline passed; io.EOF for a clean
// close before the reply; ErrTruncated for a close inside it. It reports
// whether the error is a plain connection failure (which the retry rules
// may retry) rather than a timeout, a cancellation or Close.
func (c *Client) ioError(ctx context.Context, op string, err error) (_ error, connFailure bool) {
	if c.isClosed() {
		return fmt.Errorf("%w (while %s): %w", ErrClosed, op, err), false
	}
	if ctxErr := ctx.Err(); errors.Is(err, os.ErrDeadlineExceeded) || ctxErr != nil {
		if errors.Is(ctxErr, context.Canceled) {
			return fmt.Errorf("client: %s: %w", op, ctxErr), false
		}
		return &timeoutError{op: op, err: err}, false
	}
	var te *wire.TruncatedError
	switch {
	case errors.As(err, &te):
		return &truncatedError{wire: te}, true
	case errors.Is(err, io.EOF):
		return fmt.Errorf("client: server closed the connection before replying: %w", io.EOF), true
	}
	return fmt.Errorf("client: %s: %w", op, err), true
}
