package server

import "errors"

// Sentinel errors of package server.
var (
	// ErrServerClosed is returned by Serve and ListenAndServe after
	// Shutdown or Close, as net/http's is.
	ErrServerClosed = errors.New("server: closed")

	// ErrInvalidConfig is wrapped by Config.Validate's errors.
	ErrInvalidConfig = errors.New("server: invalid config")

	// ErrNoPool is returned by Resize when the model has no pool
	// (ModelUnbounded) or a fixed one (ModelSerial).
	ErrNoPool = errors.New("server: this concurrency model has no resizable pool")

	// ErrAdaptive is returned by Resize while adaptive sizing is on: the
	// control loop owns the pool size.
	ErrAdaptive = errors.New("server: adaptive sizing is on")
)
