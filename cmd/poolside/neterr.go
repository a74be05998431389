package main

import (
	"errors"
	"net"
	"os"
)

// messageError is a failure with the message the CLI prints in place of
// the library's layered one; it unwraps to that error, so errors.Is and
// exitCode still see it.
type messageError struct {
	msg string
	err error
}

func (e *messageError) Error() string { return e.msg }
func (e *messageError) Unwrap() error { return e.err }

// netReason is the heart of a network error: "connection refused" rather
// than "dial tcp 127.0.0.1:9407: connect: connection refused".
func netReason(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}
