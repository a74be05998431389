package pool

import "errors"

var (
	// ErrSaturated is returned by Pool.Go and Pool.Run when every worker is
	// busy and the queue is full (with Config.Queue == 0: as soon as every
	// worker is busy). The task was not accepted and will not run, and
	// Stats.Rejected counts the call. It signals load, not a fault: the
	// caller sheds the work (a server answers "busy") and may try again
	// later. Neither Go nor Run blocks waiting for room.
	ErrSaturated = errors.New("pool: saturated")

	// ErrStopped is returned by Pool.Go, Pool.Run and Pool.Resize once
	// Pool.Stop has been called. A task refused with ErrStopped will not run
	// and is not counted in Stats.Rejected.
	ErrStopped = errors.New("pool: stopped")

	// ErrInvalidConfig is wrapped by the errors that Config.Validate, New and
	// Pool.Resize return for a worker count or queue size out of range.
	// Test for it with errors.Is; the message names the field and value.
	ErrInvalidConfig = errors.New("pool: invalid config")
)
