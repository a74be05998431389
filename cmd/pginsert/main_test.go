package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/poolside-dev/poolside/internal/pgtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.Wrap(m))
}

// newTable gives the test a database with bench-lib.sh's table pgb.
func newTable(t *testing.T) pgtest.DB {
	t.Helper()
	db := pgtest.NewDB(t)
	ctx := t.Context()
	c, err := pgx.Connect(ctx, db.URL)
	require.NoError(t, err)
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, "CREATE TABLE pgb (day bigint NOT NULL, room text NOT NULL, PRIMARY KEY (day, room))")
	require.NoError(t, err)
	return db
}

// rows counts the rows of pgb in db.
func rows(t *testing.T, db pgtest.DB) int64 {
	t.Helper()
	c, err := pgx.Connect(t.Context(), db.URL)
	require.NoError(t, err)
	defer c.Close(context.Background())
	var n int64
	require.NoError(t, c.QueryRow(t.Context(), "SELECT count(*) FROM pgb").Scan(&n))
	return n
}

// TestRunInserts: three connections insert for a while; the line printed
// counts transactions that are really in the table, and its rate is that
// count over the measured time.
func TestRunInserts(t *testing.T) {
	db := newTable(t)
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"--url", db.URL, "--clients", "3", "--duration", "300ms", "--warmup", "100ms"}, &out, &errOut)
	require.NoError(t, err, errOut.String())
	var (
		tps, secs float64
		clients   int
		n         int64
	)
	_, err = fmt.Sscanf(out.String(), "tps = %f (%d clients, %f s, %d transactions)\n", &tps, &clients, &secs, &n)
	require.NoError(t, err, "output %q", out.String())
	assert.Equal(t, 3, clients)
	assert.Positive(t, n)
	assert.GreaterOrEqual(t, secs, 0.3)
	// The line rounds the seconds to 0.01 and the rate to 0.1, so the rate
	// must lie between n over the longest and the shortest run that rounds
	// to the printed seconds.
	assert.GreaterOrEqual(t, tps, float64(n)/(secs+0.005)-0.05)
	assert.LessOrEqual(t, tps, float64(n)/(secs-0.005)+0.05)
	// The warm-up's rows are in the table too; ON CONFLICT may drop the
	// odd duplicate draw.
	assert.GreaterOrEqual(t, rows(t, db), n*99/100)
}

// TestRunErrors: each failure is one plain sentence, with the right exit
// status, and leaves no connection open (goleak).
func TestRunErrors(t *testing.T) {
	db := pgtest.NewDB(t) // no table pgb
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())
	for _, tc := range []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no url", []string{}, true, "--url is required"},
		{"no clients", []string{"--url", db.URL, "--clients", "0"}, true, "--clients 0: give 1 to 1000"},
		{"too long", []string{"--url", db.URL, "--duration", "2h"}, true, "--duration 2h0m0s"},
		{"negative warm-up", []string{"--url", db.URL, "--warmup", "-1s"}, true, "--warmup -1s"},
		{"argument", []string{"--url", db.URL, "extra"}, true, `unexpected argument "extra"`},
		{"unknown flag", []string{"--url", db.URL, "--rate", "5"}, true, "unknown flag: --rate"},
		{"bad url", []string{"--url", "postgres://%zz"}, true, "--url is not a PostgreSQL URL"},
		{"no server", []string{"--url", "postgres://postgres@" + closed + "/x?connect_timeout=5"}, false, "cannot connect to database \"x\" at " + closed + " (connection 1 of 1): connection refused"},
		{"no table", []string{"--url", db.URL, "--clients", "2", "--duration", "1s"}, false, "has no table pgb: create it with CREATE TABLE pgb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), tc.args, &out, &errOut)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			var ue *usageError
			assert.Equal(t, tc.usage, errors.As(err, &ue), "a usage error (exit 2)?")
			assert.Empty(t, out.String(), "no figure on a failure")
		})
	}
}

// TestRunInterrupted: a run cut short by its context gives no figure.
func TestRunInterrupted(t *testing.T) {
	db := newTable(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, []string{"--url", db.URL, "--duration", "1h"}, &out, &bytes.Buffer{})
	require.ErrorContains(t, err, "interrupted before the run ended")
	assert.Empty(t, out.String())
}
