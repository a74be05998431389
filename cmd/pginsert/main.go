// Command pginsert is the Go peer of pgbench in scripts/bench-store.sh: it
// runs pgbench's one-row INSERT of that script, prepared, on N connections
// for a while and prints the rate in pgbench's "tps = ..." form.
//
// It exists so that poolside's durable store can be compared with
// PostgreSQL through load generators written in the same language: both
// poolside bench and pginsert are Go programs with the same runtime, so
// neither side is favoured by the client's own cost per round trip (on a
// machine where a durable commit takes 0.15 ms, a client that is 20 µs
// slower to send its next request changes a one-client rate by a tenth).
//
//	pginsert --url postgres://postgres@127.0.0.1:5432/pgbench --clients 32 --duration 8s
//
// The table is bench-lib.sh's pgbench_table:
//
//	CREATE TABLE pgb (day bigint NOT NULL, room text NOT NULL, PRIMARY KEY (day, room))
//
// Each transaction is INSERT INTO pgb (day, room) VALUES ($1, $2) ON
// CONFLICT DO NOTHING with day drawn from 1..1000000 and room from
// 101..1034, as pgbench's script draws them, from a seeded generator per
// connection. The rate counts the transactions that completed between the
// end of the warm-up and the end of the run, over that time.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/pflag"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/internal/rawio"
)

// insertSQL is bench-store.sh's pgbench INSERT, with parameters.
const insertSQL = "INSERT INTO pgb (day, room) VALUES ($1, $2) ON CONFLICT DO NOTHING"

// Limits of the flags: a run is bounded in connections and in time.
const (
	maxClients  = 1000
	maxDuration = time.Hour
	// finishTimeout bounds the wait for the transactions in flight when
	// the run ends, and each connection's set-up.
	finishTimeout = 30 * time.Second
)

// Exit statuses, as poolside's: 1 the run failed, 2 bad flags.
const (
	exitFailed = 1
	exitUsage  = 2
)

// usageError is a mistake in the flags; nothing was sent.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg + " (see 'pginsert --help')" }

// usagef is a usageError with a message formatted as by fmt.Sprintf.
func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

const usageText = `pginsert: pgbench's one-row INSERT from Go, for scripts/bench-store.sh

Usage:
  pginsert --url URL [--clients N] [--duration D] [--warmup W]

Each of N connections prepares
  INSERT INTO pgb (day, room) VALUES ($1, $2) ON CONFLICT DO NOTHING
and runs it, one transaction at a time (autocommit, so each is durable
when synchronous_commit is on), with day in 1..1000000 and room in
101..1034, for W and then D. It prints the transactions per second of D:
  tps = 5123.4 (1 clients, 8.00 s, 40987 transactions)
The table pgb must exist:
  CREATE TABLE pgb (day bigint NOT NULL, room text NOT NULL, PRIMARY KEY (day, room))

Flags:
`

// config is what the flags say.
type config struct {
	url      string
	clients  int
	duration time.Duration
	warmup   time.Duration
	where    string          // the database, for messages
	pg       *pgx.ConnConfig // url parsed, connections made raw (see rawConns)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, pflag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "pginsert:", err)
		var ue *usageError
		if errors.As(err, &ue) {
			os.Exit(exitUsage)
		}
		os.Exit(exitFailed)
	}
}

// run parses args, runs the load and prints the result line on stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parse(args, stderr)
	if err != nil {
		return err
	}
	r, err := load(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tps = %.1f (%d clients, %.2f s, %d transactions)\n",
		float64(r.transactions)/r.elapsed.Seconds(), cfg.clients, r.elapsed.Seconds(), r.transactions)
	return nil
}

// parse reads the flags; --help prints the usage and returns pflag.ErrHelp.
func parse(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := pflag.NewFlagSet("pginsert", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.url, "url", "", "the database, postgres://USER@HOST:PORT/DBNAME (required)")
	fs.IntVar(&cfg.clients, "clients", 1, "connections, each running one transaction at a time (1 to 1000)")
	fs.DurationVar(&cfg.duration, "duration", 8*time.Second, "how long the measured part runs (at most 1h)")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "how long the load runs before it is measured (0 for none)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return cfg, err
		}
		return cfg, usagef("%s", err)
	}
	var problem string
	switch {
	case fs.NArg() > 0:
		problem = fmt.Sprintf("unexpected argument %q: every setting is a flag", fs.Arg(0))
	case cfg.url == "":
		problem = "--url is required: the database to insert into, such as postgres://postgres@127.0.0.1:5432/pgbench"
	case cfg.clients < 1 || cfg.clients > maxClients:
		problem = fmt.Sprintf("--clients %d: give 1 to %d", cfg.clients, maxClients)
	case cfg.duration <= 0 || cfg.duration > maxDuration:
		problem = fmt.Sprintf("--duration %v: give more than 0 and at most %v", cfg.duration, maxDuration)
	case cfg.warmup < 0 || cfg.warmup > maxDuration:
		problem = fmt.Sprintf("--warmup %v: give 0 to %v", cfg.warmup, maxDuration)
	}
	if problem != "" {
		return cfg, usagef("%s", problem)
	}
	pc, err := pgx.ParseConfig(cfg.url)
	if err != nil {
		return cfg, usagef("--url is not a PostgreSQL URL: %s", booking.PostgresReason(err))
	}
	cfg.where = fmt.Sprintf("database %q at %s", pc.Database, net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port))))
	rawConns(pc)
	cfg.pg = pc
	return cfg, nil
}

// rawConns makes the reads and writes of pc's connections raw, as
// poolside bench's are (internal/rawio), so that the two load generators
// turn around alike.
func rawConns(pc *pgx.ConnConfig) {
	dial := pc.DialFunc
	pc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return rawio.Wrap(nc), nil
	}
}

// result is what a load run measured.
type result struct {
	transactions int64
	elapsed      time.Duration
}

// load connects cfg.clients connections, runs the INSERT on each through
// the warm-up and the measured time, and waits for every connection to
// finish its transaction in flight and close. The first failure of any
// connection ends the run and is returned.
func load(ctx context.Context, cfg config) (result, error) {
	conns, err := connectAll(ctx, cfg)
	if err != nil {
		return result{}, err
	}
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		done  atomic.Bool
		count atomic.Int64
		wg    sync.WaitGroup
	)
	for i, c := range conns {
		wg.Go(func() {
			defer closeConn(c)
			rng := rand.New(rand.NewPCG(uint64(i), 0x9407))
			for !done.Load() {
				day := rng.Int64N(1000000) + 1
				room := strconv.Itoa(rng.IntN(934) + 101)
				if _, err := c.Exec(ctx, "insert", day, room); err != nil {
					cancel(fmt.Errorf("connection %d: the INSERT failed: %s", i+1, booking.PostgresReason(err)))
					return
				}
				count.Add(1)
			}
		})
	}
	var r result
	finished := false
	if wait(ctx, cfg.warmup) {
		n0 := count.Load()
		t1 := time.Now()
		if wait(ctx, cfg.duration) {
			r = result{transactions: count.Load() - n0, elapsed: time.Since(t1)}
			finished = true
		}
	}
	done.Store(true)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && parent.Err() == nil {
		return result{}, err // a connection failed
	}
	if !finished {
		return result{}, errors.New("interrupted before the run ended: no figure")
	}
	return r, nil
}

// wait waits d or until ctx ends, and reports whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	if d == 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// connectAll opens cfg.clients connections and prepares the INSERT on
// each; on a failure it closes those it opened.
func connectAll(ctx context.Context, cfg config) ([]*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, finishTimeout)
	defer cancel()
	conns := make([]*pgx.Conn, 0, cfg.clients)
	fail := func(err error) ([]*pgx.Conn, error) {
		for _, c := range conns {
			closeConn(c)
		}
		return nil, err
	}
	for i := range cfg.clients {
		c, err := pgx.ConnectConfig(ctx, cfg.pg.Copy())
		if err != nil {
			return fail(fmt.Errorf("cannot connect to %s (connection %d of %d): %s", cfg.where, i+1, cfg.clients, booking.PostgresReason(err)))
		}
		conns = append(conns, c)
		if _, err := c.Prepare(ctx, "insert", insertSQL); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
				return fail(fmt.Errorf("%s has no table pgb: create it with CREATE TABLE pgb (day bigint NOT NULL, room text NOT NULL, PRIMARY KEY (day, room))", cfg.where))
			}
			return fail(fmt.Errorf("cannot prepare the INSERT in %s: %s", cfg.where, booking.PostgresReason(err)))
		}
	}
	return conns, nil
}

// closeConn closes c, waiting at most finishTimeout for the server.
func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	_ = c.Close(ctx)
}
