package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable that points the tests at an
// existing server instead of a throwaway cluster: a pgx URL whose user may
// CREATE DATABASE, for example postgres://postgres@127.0.0.1:5432/postgres.
const EnvURL = "POOLSIDE_TEST_DB_URL"

// Superuser is the name of the throwaway cluster's superuser.
const Superuser = "postgres"

// passwordRole is the role whose members must give their password to log
// in to the throwaway cluster (pg_hba.conf's +pgtest_password lines); every
// other role is trusted.
const passwordRole = "pgtest_password"

// opTimeout bounds each administrative statement (CREATE DATABASE and the
// like) and each connection of the admin connection.
const opTimeout = 30 * time.Second

// M is what TestMain's *testing.M offers and goleak.VerifyTestMain takes.
type M interface{ Run() int }

// Wrap returns m with the package's cluster stopped after its tests: its
// Run runs m's, then stops the cluster (if a test started one) and removes
// its directory. A failure to stop is printed and makes a passing run fail.
// Use it in TestMain:
//
//	goleak.VerifyTestMain(pgtest.Wrap(m))
func Wrap(m M) M { return wrapped{m} }

type wrapped struct{ m M }

func (w wrapped) Run() int {
	code := w.m.Run()
	if err := shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// DB is one test's database.
type DB struct {
	// Name is the database's name.
	Name string
	// URL reaches the database as its owner: the throwaway cluster's
	// superuser over the Unix socket, or POOLSIDE_TEST_DB_URL's user.
	URL string
	// Addr is the throwaway cluster's loopback TCP address, host:port, for
	// tests that put a fault proxy in front of it; "" when
	// POOLSIDE_TEST_DB_URL is used.
	Addr string
}

// URLAt returns a URL of the database over TCP at addr (the cluster's Addr,
// or a proxy in front of it) as user with password ("" for none).
func (d DB) URLAt(addr, user, password string) string {
	u := url.URL{Scheme: "postgres", Host: addr, Path: "/" + d.Name, RawQuery: "sslmode=disable"}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}

// pkg is the state of the package's PostgreSQL, started at the first use.
var pkg struct {
	mu      sync.Mutex
	tried   bool
	skip    string // why there is no PostgreSQL, when there is none
	err     error  // why it failed to start
	cluster *Cluster
	admin   *pgx.Conn
	base    string // URL of the admin connection
	n       int    // databases created
}

// NewDB returns a new, empty database for t, dropped when t ends. It starts
// the package's cluster on the first call. Without PostgreSQL it skips t,
// or fails it under CI=true.
func NewDB(t testing.TB) DB {
	t.Helper()
	pkg.mu.Lock()
	defer pkg.mu.Unlock()
	ready(t)
	pkg.n++
	name := fmt.Sprintf("pgtest_%d_%d", os.Getpid(), pkg.n)
	if err := adminExec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		pkg.mu.Lock()
		defer pkg.mu.Unlock()
		if err := adminExec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	d := DB{Name: name, URL: withDatabase(pkg.base, name)}
	if pkg.cluster != nil {
		d.Addr = pkg.cluster.Addr()
	}
	return d
}

// Exec runs sql (one statement or several, not parameterised) in the
// database, as its owner, and fails t on an error.
func (d DB) Exec(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	c, err := pgx.Connect(ctx, d.URL)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", d.Name, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

// Exec runs sql, which may not be parameterised, as the superuser (or
// POOLSIDE_TEST_DB_URL's user) on the server's maintenance database, and
// fails t on an error. It starts the cluster if need be.
func Exec(t testing.TB, sql string) {
	t.Helper()
	pkg.mu.Lock()
	defer pkg.mu.Unlock()
	ready(t)
	if err := adminExec(sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

// PasswordUser creates a login role name that must give password to log
// in, dropped when t ends, and returns the role's name. Only the throwaway
// cluster can promise that the password is checked, so t is skipped when
// POOLSIDE_TEST_DB_URL is set.
func PasswordUser(t testing.TB, name, password string) string {
	t.Helper()
	Server(t)
	Exec(t, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE %s", name, strings.ReplaceAll(password, "'", "''"), passwordRole))
	t.Cleanup(func() {
		pkg.mu.Lock()
		defer pkg.mu.Unlock()
		if err := adminExec("DROP ROLE IF EXISTS " + name); err != nil {
			t.Errorf("pgtest: drop role %s: %v", name, err)
		}
	})
	return name
}

// Server returns the package's throwaway cluster, starting it if need be,
// for tests that stop and start it. It skips t when POOLSIDE_TEST_DB_URL
// is set (that server is not the tests' to stop).
func Server(t testing.TB) *Cluster {
	t.Helper()
	pkg.mu.Lock()
	defer pkg.mu.Unlock()
	ready(t)
	if pkg.cluster == nil {
		t.Skipf("pgtest: this test stops and starts PostgreSQL, which it does only to its own throwaway cluster; unset %s to run it", EnvURL)
	}
	return pkg.cluster
}

// ready makes sure the package has a PostgreSQL and an admin connection to
// it, or skips or fails t. pkg.mu is held.
func ready(t testing.TB) {
	t.Helper()
	if !pkg.tried {
		pkg.tried = true
		pkg.skip, pkg.err = start()
	}
	switch {
	case pkg.err != nil:
		t.Fatalf("pgtest: %v", pkg.err)
	case pkg.skip != "":
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: %s (CI=true, where the PostgreSQL tests must run: .ci/run installs Debian's postgresql when initdb is missing)", pkg.skip)
		}
		t.Skipf("pgtest: %s", pkg.skip)
	}
	if pkg.admin == nil || pkg.admin.IsClosed() {
		if err := connectAdmin(); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
}

// start finds or starts the package's PostgreSQL: POOLSIDE_TEST_DB_URL, or
// a throwaway cluster. It returns a reason to skip when there is none.
func start() (skip string, err error) {
	if u := os.Getenv(EnvURL); u != "" {
		pkg.base = u
		return "", connectAdmin()
	}
	bin, ok := findBinaries()
	if !ok {
		return "no PostgreSQL: initdb and pg_ctl are neither on PATH nor in /usr/lib/postgresql/*/bin; " +
			"install it (Debian: apt-get install postgresql) or set " + EnvURL + " to a server whose user may CREATE DATABASE, " +
			"e.g. " + EnvURL + "=postgres://postgres@127.0.0.1:5432/postgres", nil
	}
	c, err := newCluster(bin)
	if err != nil {
		return "", err
	}
	pkg.cluster = c
	pkg.base = c.adminURL()
	if err := connectAdmin(); err != nil {
		return "", err
	}
	return "", adminExec("CREATE ROLE " + passwordRole + " NOLOGIN")
}

// connectAdmin (re)opens the admin connection to pkg.base.
func connectAdmin() error {
	if pkg.admin != nil {
		closeAdmin()
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	c, err := pgx.Connect(ctx, pkg.base)
	if err != nil {
		if pkg.cluster == nil {
			return fmt.Errorf("cannot connect to %s: %w", EnvURL, err)
		}
		return fmt.Errorf("cannot connect to the throwaway cluster: %w%s", err, pkg.cluster.logTail())
	}
	pkg.admin = c
	return nil
}

func closeAdmin() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = pkg.admin.Close(ctx)
	pkg.admin = nil
}

// adminExec runs sql on the admin connection, reconnecting once if the
// connection was lost (the cluster was restarted).
func adminExec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if pkg.admin == nil || pkg.admin.IsClosed() {
		if err := connectAdmin(); err != nil {
			return err
		}
	}
	_, err := pkg.admin.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil && pkg.admin.IsClosed() {
		if cerr := connectAdmin(); cerr != nil {
			return errors.Join(err, cerr)
		}
		_, err = pkg.admin.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	}
	return err
}

// withDatabase returns the connection string base with its database
// replaced by name: base is a URL (postgres://...) or key=value pairs.
func withDatabase(base, name string) string {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err == nil {
			u.Path = "/" + name
			u.RawPath = ""
			return u.String()
		}
	}
	return base + " dbname=" + name
}

// shutdown stops the package's cluster and closes the admin connection.
func shutdown() error {
	pkg.mu.Lock()
	defer pkg.mu.Unlock()
	if pkg.admin != nil {
		closeAdmin()
	}
	if pkg.cluster == nil {
		return nil
	}
	err := pkg.cluster.destroy()
	pkg.cluster = nil
	return err
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
