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

	// ErrCleanup is returned (joined to any other error) by Runner.Close,
	// Run, Compare and Tune when the clean-up of a run against a server
	// whose store it does not own could not unbook every booking the run
	// made; Cleanup.Left lists them. It is also returned by
	// CleanupJournals when a journal's bookings could not all be unbooked.
	ErrCleanup = errors.New("benchmarks: the run's bookings could not all be unbooked")

	// ErrJournal is wrapped by the errors of NewRunner (and so of Run,
	// Compare and Tune) when the journal of Config.JournalDir cannot be
	// made or written, and by those of CleanupJournals when a journal
	// cannot be read; the error also wraps the file system's.
	ErrJournal = errors.New("benchmarks: journal of a run's bookings")

	// ErrAdminRefused is returned by AdminSizer when the admin API answers
	// with an error status; the error's text carries the API's message.
	ErrAdminRefused = errors.New("benchmarks: the admin API refused the request")
)
