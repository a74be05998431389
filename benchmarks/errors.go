package benchmarks

import "errors"

// Sentinel errors of package benchmarks.
var (
	// ErrInvalidConfig is wrapped by the Validate methods' errors and by
	// the parsers of model and mix specifications.
	ErrInvalidConfig = errors.New("benchmarks: invalid config")

	// ErrClosed is returned by Runner.Run after Runner.Close, and by
	// LocalServer methods after LocalServer.Close.
	ErrClosed = errors.New("benchmarks: closed")

	// ErrNoRequests is returned by Run when a window ended without one
	// request completing in it, so no result can be computed: the server
	// did not answer, or the window was too short.
	ErrNoRequests = errors.New("benchmarks: no request completed in the measurement window")

	// ErrUnreachable is returned by NewRunner (and so by Run) when a
	// client could not make its connection, and by Runner.Run when, with
	// Config.ConnPerRequest, not one request of the measured window
	// succeeded and every one failed to connect. The error also wraps the
	// client's: client.ErrConnect and the dialer's error, such as
	// syscall.ECONNREFUSED, which says why.
	ErrUnreachable = errors.New("benchmarks: cannot connect to the server")

	// ErrNotTunable is returned by Tune when the server's model makes the
	// search meaningless: in the conn model each connection holds a
	// worker for its whole life, so resizing the pool does not change
	// what the clients' connections get.
	ErrNotTunable = errors.New("benchmarks: the pool cannot be tuned")

	// ErrProbeFailed is returned by Tune when no request of its first
	// step, the probe, succeeded: there is no service time to search
	// from. The error's text gives the failures by kind.
	ErrProbeFailed = errors.New("benchmarks: every request of the probe failed")

	// ErrAdminRefused is returned by AdminSizer when the admin API answers
	// with an error status; the error's text carries the API's message.
	ErrAdminRefused = errors.New("benchmarks: the admin API refused the request")
)
