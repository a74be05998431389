package client

import (
	"context"
	"fmt"
	"net"
	"time"
)

// Defaults used for zero Config fields.
const (
	// DefaultRetryBackoff is the wait before the first retry when
	// Config.RetryBackoff is zero.
	DefaultRetryBackoff = 10 * time.Millisecond
	// DefaultMaxBackoff caps the wait between retries when
	// Config.MaxBackoff is zero.
	DefaultMaxBackoff = time.Second
)

// Config configures a Client. The zero Config is ready to use: one
// persistent connection, no timeout other than the caller's context, no
// retries. A Config is copied by Dial and New; changing it afterwards has
// no effect on the Client.
type Config struct {
	// Timeout bounds each call (Book, Do, ...) as a whole: waiting for a
	// connection, dialing, writing the request, reading the reply and any
	// retries. The connection's deadline is the earlier of now+Timeout
	// and the context's deadline. Zero means no limit other than the
	// context's. For Dial without ConnPerRequest it also bounds the first
	// connection.
	Timeout time.Duration

	// ConnPerRequest makes the Client dial a fresh connection for every
	// request and close it after the reply, the pattern of the book's own
	// client. It needs an address, so it works with Dial only; New
	// rejects it. False (the zero value) keeps connections open and sends
	// request after request on them.
	ConnPerRequest bool

	// MaxConns is the most connections the Client has open at once, so
	// the most requests in flight; further callers wait for a connection
	// (bounded by their context and Timeout). Zero means 1. A Client made
	// by New always has its one connection.
	MaxConns int

	// Retries is how many times a failed request may be tried again, on
	// top of the first attempt. Zero means no retries. What is retried:
	//
	//   - a busy ERROR reply (ErrBusy), for every action: busy means the
	//     server did not process the request;
	//   - the queries BOOKINGSONDATE and BOOKINGSFORROOM after a
	//     connection failure: a failed dial, a failed write, the
	//     connection closed or reset before or during the reply;
	//   - BOOK, UNBOOK and any other action after a connection failure
	//     only when not one byte of the request was written (the dial
	//     failed, or the write returned 0 bytes), so a booking is never
	//     sent twice.
	//
	// Other ERROR replies, malformed or mismatched replies, timeouts and
	// cancellation are never retried.
	Retries int

	// RetryBackoff is the wait before the first retry; each later retry
	// waits twice as long as the one before, up to MaxBackoff. Zero means
	// DefaultRetryBackoff.
	RetryBackoff time.Duration

	// MaxBackoff caps the wait between retries. Zero means
	// DefaultMaxBackoff, or RetryBackoff if that is larger.
	MaxBackoff time.Duration

	// Dialer makes the Client's connections, for example through a fault
	// injector. It is called with network "tcp" and Dial's addr. Nil
	// means a zero net.Dialer's DialContext.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Validate reports whether c is usable: no negative durations or counts,
// and RetryBackoff not above MaxBackoff when both are set. Errors wrap
// ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("%w: Timeout is negative (%v)", ErrInvalidConfig, c.Timeout)
	case c.MaxConns < 0:
		return fmt.Errorf("%w: MaxConns is negative (%d)", ErrInvalidConfig, c.MaxConns)
	case c.Retries < 0:
		return fmt.Errorf("%w: Retries is negative (%d)", ErrInvalidConfig, c.Retries)
	case c.RetryBackoff < 0:
		return fmt.Errorf("%w: RetryBackoff is negative (%v)", ErrInvalidConfig, c.RetryBackoff)
	case c.MaxBackoff < 0:
		return fmt.Errorf("%w: MaxBackoff is negative (%v)", ErrInvalidConfig, c.MaxBackoff)
	case c.RetryBackoff > 0 && c.MaxBackoff > 0 && c.RetryBackoff > c.MaxBackoff:
		return fmt.Errorf("%w: RetryBackoff (%v) is above MaxBackoff (%v)", ErrInvalidConfig, c.RetryBackoff, c.MaxBackoff)
	}
	return nil
}

func (c Config) maxConns() int {
	if c.MaxConns <= 0 {
		return 1
	}
	return c.MaxConns
}

// backoff returns the wait before retry number n (0 for the first retry):
// RetryBackoff doubled n times, capped at MaxBackoff.
func (c Config) backoff(n int) time.Duration {
	base, limit := c.RetryBackoff, c.MaxBackoff
	if base <= 0 {
		base = DefaultRetryBackoff
	}
	if limit <= 0 {
		limit = max(DefaultMaxBackoff, base)
	}
	d := base
	for range n {
		if d >= limit {
			break
		}
		d *= 2
	}
	return min(d, limit)
}
