package booking

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The PostgreSQL error codes OpenPostgres tells apart.
const (
	sqlstateInvalidPassword = "28P01"
	sqlstateInvalidAuth     = "28000"
	sqlstateNoDatabase      = "3D000"
	sqlstateTooManyConns    = "53300"
)

// describeTarget names the database cfg reaches, for messages:
// `database "bookings" at 127.0.0.1:5432 as user "poolside"`.
func describeTarget(cfg *pgx.ConnConfig) string {
	host := cfg.Host
	if strings.HasPrefix(host, "/") {
		host = "socket " + host + "/.s.PGSQL." + strconv.Itoa(int(cfg.Port))
	} else {
		host = net.JoinHostPort(host, strconv.Itoa(int(cfg.Port)))
	}
	return fmt.Sprintf("database %q at %s as user %q", cfg.Database, host, cfg.User)
}

// connectProblem describes err, the failure to connect to where.
func connectProblem(where string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case sqlstateInvalidPassword, sqlstateInvalidAuth:
			return fmt.Errorf("%w: %s: %s", ErrDatabaseAuth, where, pe.Message)
		case sqlstateNoDatabase:
			return fmt.Errorf("%w: %s: %s", ErrDatabaseUnreachable, where, pe.Message)
		case sqlstateTooManyConns:
			return fmt.Errorf("%w: %s: the server has no connection left for us (%s)", ErrDatabaseUnreachable, where, pe.Message)
		}
	}
	return fmt.Errorf("%w: cannot connect to %s: %s", ErrDatabaseUnreachable, where, PostgresReason(err))
}

// PostgresReason says in a few words why a pgx call failed, without the
// chain of wrapping errors pgx builds: the server's message, the system's
// reason for a failed connection, or "no answer in time". It is for
// messages to people, such as those of the PostgreSQL store and of the
// benchmarks' pgx load generator (cmd/pginsert).
func PostgresReason(err error) string {
	var (
		pe    *pgconn.PgError
		errno syscall.Errno
		dns   *net.DNSError
	)
	switch {
	case errors.As(err, &pe):
		return pe.Message + " (SQLSTATE " + pe.Code + ")"
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		return "no answer within the deadline"
	case errors.Is(err, context.Canceled):
		return "the request was cancelled"
	case errors.As(err, &dns):
		return "no such host " + dns.Name
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed):
		return "the connection was closed"
	}
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return err.Error()
		}
		err = inner
	}
}

// urlProblem says what is wrong with a URL pgx could not parse.
func urlProblem(err error) string {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return pe.Error() // names the URL with its password hidden
	}
	return PostgresReason(err)
}
