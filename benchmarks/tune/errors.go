package tune

import "errors"

// Sentinel errors of package tune. Configurations out of range are
// load.FieldErrors, wrapping load.ErrInvalidConfig.
var (
	// ErrNotTunable is returned when the server's model makes the search
	// meaningless: in the conn model each connection holds a worker for
	// its whole life, so resizing the pool does not change what the
	// clients' connections get.
	ErrNotTunable = errors.New("tune: the pool cannot be tuned")

	// ErrProbeFailed is returned when no request of the search's first
	// step, the probe, succeeded: there is no service time to search
	// from. The error's text gives the failures by kind.
	ErrProbeFailed = errors.New("tune: every request of the probe failed")

	// ErrAdminRefused is returned by AdminSizer when the admin API answers
	// with an error status; the error's text carries the API's message.
	ErrAdminRefused = errors.New("tune: the admin API refused the request")
)
