package tune

import (
	"errors"
	"fmt"
)

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

	// ErrNotRestored is joined to a search's error when the pool could
	// not be put back to its size (or, with Apply, set to the
	// recommended one) when the search ended; Report.FinalWorkers is
	// then 0.
	ErrNotRestored = errors.New("tune: could not put the pool back")

	// ErrAdminUnreachable is returned by AdminSizer when the admin API
	// could not be reached or did not answer.
	ErrAdminUnreachable = errors.New("tune: the admin API could not be reached")
)

// AdminError is a failed call of an AdminSizer: the admin API at Addr
// could not be reached (Err, wrapping ErrAdminUnreachable) or answered
// Method with an error Status and Message (wrapping ErrAdminRefused).
type AdminError struct {
	Addr, Method string
	// Status and Message are the API's answer; 0 and "" when it gave
	// none.
	Status  int
	Message string
	// Err is what went wrong on the way, nil for a refusal.
	Err error
}

func (e *AdminError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%v: %s http://%s/pool: %d: %s", ErrAdminRefused, e.Method, e.Addr, e.Status, e.Message)
	}
	return fmt.Sprintf("%v: %s http://%s/pool: %v", ErrAdminUnreachable, e.Method, e.Addr, e.Err)
}

// Unwrap returns the sentinel and the cause.
func (e *AdminError) Unwrap() []error {
	if e.Status != 0 {
		return []error{ErrAdminRefused}
	}
	return []error{ErrAdminUnreachable, e.Err}
}
