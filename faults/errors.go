package faults

import "errors"

// Errors returned by this package. Match them with errors.Is; the package
// wraps them with %w to add detail.
//
// Injected failures do not use these sentinels: they look exactly like the
// errors a real connection returns, so the code under test cannot tell them
// apart. An injected timeout is a *net.OpError wrapping os.ErrDeadlineExceeded;
// a cut gives io.EOF on reads and a *net.OpError wrapping syscall.EPIPE on
// writes; a reset gives a *net.OpError wrapping syscall.ECONNRESET; a short
// write gives io.ErrShortWrite; a closed connection gives a *net.OpError
// wrapping net.ErrClosed.
var (
	// ErrBadSpec is wrapped by every ParseSpec error. The message names the
	// offending token and the syntax it should have had.
	ErrBadSpec = errors.New("faults: bad spec")

	// ErrInvalidFault is wrapped by a fault's Validate error: a parameter out
	// of range, such as a Chunk with Max 0 or a negative offset.
	ErrInvalidFault = errors.New("faults: invalid fault")

	// ErrInvalidConfig is wrapped by Config.Validate, ListenerConfig.Validate
	// and Proxy.SetFaults when a field is unusable.
	ErrInvalidConfig = errors.New("faults: invalid config")

	// ErrProxyClosed is returned by Proxy.Serve and Proxy.Start after
	// Shutdown or Close.
	ErrProxyClosed = errors.New("faults: proxy closed")

	// ErrProxyServing is returned by Proxy.Serve and Proxy.Start when the
	// proxy already serves a listener; a Proxy serves one listener only.
	ErrProxyServing = errors.New("faults: proxy already serving")

	// ErrNoHalfClose is returned by CloseWrite and CloseRead on a wrapped
	// connection whose underlying connection cannot half-close.
	ErrNoHalfClose = errors.New("faults: connection does not support half-close")
)
