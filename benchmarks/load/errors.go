package load

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
)

// Sentinel errors of package load.
var (
	// ErrInvalidConfig is wrapped by the errors of the Validate methods
	// (each a *FieldError, joined), of those of packages compare and tune,
	// and of the parsers of model and mix specifications.
	ErrInvalidConfig = errors.New("load: invalid config")

	// ErrClosed is returned by Runner.Run after Runner.Close, and by
	// LocalServer methods after LocalServer.Close.
	ErrClosed = errors.New("load: closed")

	// ErrNoRequests is returned by Run when a window ended without one
	// request completing in it, so no result can be computed: the server
	// did not answer, or the window was too short.
	ErrNoRequests = errors.New("load: no request completed in the measurement window")

	// ErrUnreachable is returned by NewRunner (and so by Run) when a
	// client could not make its connection, and by Runner.Run when, with
	// Config.ConnPerRequest, not one request of the measured window
	// succeeded and every one failed to connect. The error also wraps the
	// client's: client.ErrConnect and the dialer's error, such as
	// syscall.ECONNREFUSED, which says why.
	ErrUnreachable = errors.New("load: cannot connect to the server")

	// ErrCleanup is returned (joined to any other error) by Runner.Close
	// and Run, and by the comparisons and searches built on them, when the
	// clean-up of a run against a server whose store it does not own
	// could not unbook every booking the run made; Cleanup.Left lists
	// them. It is also returned by CleanupJournals when a journal's
	// bookings could not all be unbooked.
	ErrCleanup = errors.New("load: the run's bookings could not all be unbooked")

	// ErrJournal is wrapped by the errors of NewRunner (and so of Run,
	// and of the comparisons and searches built on it) when the journal
	// of Config.JournalDir cannot be made or written, and by those of
	// CleanupJournals when a journal cannot be read; the error also wraps
	// the file system's.
	ErrJournal = errors.New("load: journal of a run's bookings")

	// ErrMetrics is wrapped by the error of NewRunner when
	// Config.MetricsURL cannot be read as a poolside serve's /metrics.
	ErrMetrics = errors.New("load: server metrics")
)

// FieldError is a field of a configuration that is out of range, as the
// Validate methods of this package and of compare and tune report it
// (joined, one per field at fault). It wraps ErrInvalidConfig.
//
// Its message names fields by their path from the configuration
// validated, such as "Clients", or "Load.Clients" in a configuration that
// holds a Config as its Load. Text puts a caller's names in their place,
// such as a command's flags.
type FieldError struct {
	// Field is the path of the field at fault.
	Field string
	// Value is its value.
	Value any
	// Rule says what the field must be, "must be 0 (default 16) or more":
	// the message is "Field is Value, Rule". It may name other fields, as
	// {Path}.
	Rule string
	// Detail, if not empty, is the whole message instead, naming fields,
	// this one included, as {Path}: "{Rate} 0.5 sends one request every
	// 2s, longer than the 1s measured ({Window.Duration})".
	Detail string
}

// Error returns the message with the fields named by their paths, after
// ErrInvalidConfig's text.
func (e *FieldError) Error() string {
	return ErrInvalidConfig.Error() + ": " + e.Text(func(path string) string { return path })
}

// Unwrap returns ErrInvalidConfig.
func (e *FieldError) Unwrap() error { return ErrInvalidConfig }

// fieldRef matches a field named in a message.
var fieldRef = regexp.MustCompile(`\{([A-Za-z0-9_.]+)\}`)

// Text returns the message, each field named by name(path).
func (e *FieldError) Text(name func(path string) string) string {
	msg := e.Detail
	if msg == "" {
		msg = "{" + e.Field + "} is " + formatValue(e.Value) + ", " + e.Rule
	}
	return fieldRef.ReplaceAllStringFunc(msg, func(ref string) string {
		return name(ref[1 : len(ref)-1])
	})
}

// formatValue prints a field's value as a message shows it: strings
// quoted.
func formatValue(v any) string {
	if v != nil && reflect.ValueOf(v).Kind() == reflect.String {
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(v)
}

// PrefixFields returns err with the path of every FieldError in it
// (joined or not), and of the fields their messages name, put under
// parent: "Clients" becomes "Load.Clients". A configuration that holds
// another one calls it on the errors of the other's Validate. Errors
// that are not FieldErrors are kept as they are; nil stays nil.
func PrefixFields(parent string, err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, e := range j.Unwrap() {
			errs = append(errs, PrefixFields(parent, e))
		}
		return errors.Join(errs...)
	}
	fe, ok := err.(*FieldError)
	if !ok {
		return err
	}
	moved := *fe
	moved.Field = parent + "." + fe.Field
	under := func(s string) string { return fieldRef.ReplaceAllString(s, "{"+parent+".$1}") }
	moved.Rule, moved.Detail = under(fe.Rule), under(fe.Detail)
	return &moved
}

// FieldErrors lists the FieldErrors in err, joined or not, in order.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *FieldError
		if errors.As(err, &fe) {
			out = append(out, fe)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// invalid returns the FieldError of field, whose value breaks rule.
func invalid(field string, value any, rule string) *FieldError {
	return &FieldError{Field: field, Value: value, Rule: rule}
}

// invalidf returns the FieldError of field with the message format,
// formatted with a, fields in it named {Path}.
func invalidf(field, format string, a ...any) *FieldError {
	return &FieldError{Field: field, Detail: fmt.Sprintf(format, a...)}
}

// joinFields joins the non-nil FieldErrors of errs, so that a Validate
// method that finds nothing wrong returns a nil error.
func joinFields(errs ...*FieldError) error {
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}
