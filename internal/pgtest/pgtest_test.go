package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/poolside-dev/poolside/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// TestNewDB: each test gets its own empty database, reachable on the URL
// it is given (and over TCP when the cluster is the tests' own), with
// durable commits.
func TestNewDB(t *testing.T) {
	a, b := pgtest.NewDB(t), pgtest.NewDB(t)
	require.NotEqual(t, a.Name, b.Name)
	ctx := context.Background()
	ca := connect(t, a.URL)
	var name, fsync, sync string
	require.NoError(t, ca.QueryRow(ctx, "SELECT current_database(), current_setting('fsync'), current_setting('synchronous_commit')").Scan(&name, &fsync, &sync))
	assert.Equal(t, a.Name, name)
	assert.Equal(t, "on", fsync)
	assert.Equal(t, "on", sync)
	_, err := ca.Exec(ctx, "CREATE TABLE t (x int)")
	require.NoError(t, err)

	cb := connect(t, b.URL)
	var n int
	require.NoError(t, cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 't'").Scan(&n))
	assert.Zero(t, n, "databases are separate")

	if a.Addr != "" {
		ct := connect(t, a.URLAt(a.Addr, pgtest.Superuser, ""))
		require.NoError(t, ct.QueryRow(ctx, "SELECT current_database()").Scan(&name))
		assert.Equal(t, a.Name, name)
	}
}

// TestPasswordUser: a password user is refused with a wrong password and
// let in with the right one, on the socket and over TCP.
func TestPasswordUser(t *testing.T) {
	db := pgtest.NewDB(t)
	user := pgtest.PasswordUser(t, "pgtest_pw_user", "right")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := pgx.Connect(ctx, db.URLAt(db.Addr, user, "wrong"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "password authentication failed")
	connect(t, db.URLAt(db.Addr, user, "right"))
}

// TestRestart: the cluster stops and starts again, with its data.
func TestRestart(t *testing.T) {
	c := pgtest.Server(t)
	db := pgtest.NewDB(t)
	ctx := context.Background()
	conn := connect(t, db.URL)
	_, err := conn.Exec(ctx, "CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
	require.NoError(t, err)
	c.Stop(t, "immediate")
	_, err = pgx.Connect(ctx, db.URL)
	require.Error(t, err, "stopped")
	c.Start(t)
	var x int
	require.NoError(t, connect(t, db.URL).QueryRow(ctx, "SELECT x FROM t").Scan(&x))
	assert.Equal(t, 7, x)
}
