package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/internal/textfmt"
	"github.com/poolside-dev/poolside/server"
)

// dbURLEnv is the environment variable --db-url defaults to, so that a
// password need not appear in the process list.
const dbURLEnv = "POOLSIDE_DB_URL"

// dbURL is --db-url, or $POOLSIDE_DB_URL when the flag is not given.
func (f serveFlags) dbURLValue() string {
	if f.dbURL != "" {
		return f.dbURL
	}
	return os.Getenv(dbURLEnv)
}

// storeConfig is the booking.StoreConfig the flags name (checkStore has
// accepted them); workers is the pool size the server starts with, from
// which --db-conns 0 sizes the database pool.
func storeConfig(f serveFlags, workers int) booking.StoreConfig {
	sc := booking.StoreConfig{Kind: booking.StoreKind(f.store)}
	switch sc.Kind {
	case booking.StoreBolt:
		sc.Path = f.data
	case booking.StorePostgres:
		sc.Postgres = booking.PostgresOptions{URL: f.dbURLValue(), MaxConns: f.dbConns, Workers: workers, Timeout: f.dbTimeout}
	}
	return sc
}

// openService opens the store the flags name and the booking service over
// it; a store failure is logged through storeFailures.
func openService(ctx context.Context, f serveFlags, cfg server.Config, log logrus.FieldLogger) (*booking.Service, booking.Store, error) {
	workers := cfg.EffectiveWorkers()
	if workers == 0 {
		workers = server.DefaultWorkers() // unbounded: no pool to size it from
	}
	sc := storeConfig(f, workers)
	older := sc.Kind == booking.StoreBolt && exists(sc.Path) && !exists(booking.JournalPath(sc.Path))
	store, err := booking.OpenStore(ctx, sc)
	if err != nil {
		return nil, nil, storeOpenError(sc, err)
	}
	if bs, ok := store.(*booking.BoltStore); ok {
		journal := booking.JournalPath(sc.Path)
		if older {
			log.Infof("store: %s had no journal (written by an earlier poolside, or copied without it): opened as it is, with a new journal %s", sc.Path, journal)
		}
		if n := bs.Replayed(); n > 0 {
			log.Warnf("store: replayed %d acknowledged %s from the journal %s into %s: the server before this one stopped without closing the file (a crash, kill -9 or power loss); nothing it acknowledged was lost",
				n, textfmt.PluralWord(n, "write", "writes"), journal, sc.Path)
		}
	}
	svc, err := booking.New(store, booking.Config{Horizon: f.horizon, OnStoreError: newStoreFailures(log, sc.Path).hook})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return svc, store, nil
}

// exists reports whether a file is at path.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// storeOpenError describes err, the failure to open the store sc names,
// saying what to do. A damaged bolt file is exit status 5 (see
// damagedError); the other failures are 4.
func storeOpenError(sc booking.StoreConfig, err error) error {
	if sc.Kind == booking.StorePostgres {
		return databaseOpenError(err)
	}
	path := sc.Path
	var pe *fs.PathError
	switch {
	case errors.Is(err, booking.ErrDamaged):
		return damagedError(path, err)
	case errors.Is(err, booking.ErrLocked):
		return &messageError{msg: fmt.Sprintf("cannot open the booking database %s: another process has it open (a server already running on it?); stop that one, or choose another --data", path), err: err}
	case errors.As(err, &pe):
		// The booking package and the file system both name the file;
		// keep the system's reason, which wraps the errno.
		return fmt.Errorf("cannot open the booking database %s: %w (check that its directory exists and that you may write there, or choose another --data)", path, pe.Err)
	}
	return fmt.Errorf("cannot open the booking database: %w (is --data %s a poolside database? choose another --data to start a new one)", err, path)
}

// databaseOpenError describes the failure of --store postgres to open its
// database. booking's message says what happened, naming the database;
// this adds what to do.
func databaseOpenError(err error) error {
	msg := err.Error()
	for _, sentinel := range []error{booking.ErrDatabaseUnreachable, booking.ErrDatabaseAuth, booking.ErrSchemaVersion, booking.ErrInvalidConfig} {
		if errors.Is(err, sentinel) {
			msg = strings.TrimPrefix(msg, sentinel.Error()+": ")
		}
	}
	var todo string
	switch {
	case errors.Is(err, booking.ErrInvalidConfig):
		return usageError(fmt.Errorf("--db-url: %s; write it as postgres://USER[:PASSWORD]@HOST:PORT/DBNAME", strings.TrimPrefix(msg, "URL: ")))
	case errors.Is(err, booking.ErrDatabaseAuth):
		todo = "check the user and password in --db-url (or " + dbURLEnv + "), and that the database's pg_hba.conf lets this user in from here"
	case errors.Is(err, booking.ErrSchemaVersion):
		todo = "this database belongs to another poolside version: run that version, or point --db-url at another database"
	default:
		todo = "check that PostgreSQL is running and that --db-url (or " + dbURLEnv + ") names its host, port and database"
	}
	return &messageError{msg: "cannot open the booking database: " + msg + "; " + todo, err: err}
}
