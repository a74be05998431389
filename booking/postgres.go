package booking

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poolside-dev/poolside/wire"
)

// Defaults of PostgresOptions.
const (
	// DefaultPostgresTimeout bounds each request's statement: past it the
	// client is told the booking was not saved (or is in doubt, when the
	// statement had gone out).
	DefaultPostgresTimeout = 2 * time.Second
	// DefaultPostgresConnectTimeout bounds each new connection's set-up.
	DefaultPostgresConnectTimeout = 2 * time.Second
	// postgresProbeInterval is how often a store that lost its database
	// tries to reach it again.
	postgresProbeInterval = 250 * time.Millisecond
)

// PostgresOptions configures OpenPostgres. URL is required; the zero value
// of every other field is its default.
type PostgresOptions struct {
	// URL is the database, in pgx's form: a postgres:// URL or key=value
	// pairs, for example postgres://poolside@db.example:5432/bookings.
	URL string
	// MaxConns is the most connections the store holds (pgxpool's
	// MaxConns). 0 sizes it from Workers and the server's
	// max_connections: see DefaultPostgresConns.
	MaxConns int
	// Workers is how many requests may reach the store at once (the
	// server's workers), used when MaxConns is 0.
	Workers int
	// Timeout bounds each request's statement (DefaultPostgresTimeout).
	Timeout time.Duration
	// ConnectTimeout bounds each new connection's set-up, at open and
	// after (DefaultPostgresConnectTimeout).
	ConnectTimeout time.Duration
}

// Validate reports a missing URL or a negative field as an error wrapping
// ErrInvalidConfig.
func (o PostgresOptions) Validate() error {
	switch {
	case o.URL == "":
		return fmt.Errorf("%w: URL: the postgres store needs the database's URL", ErrInvalidConfig)
	case o.MaxConns < 0:
		return fmt.Errorf("%w: MaxConns is %d: want 0 (sized from Workers) or more", ErrInvalidConfig, o.MaxConns)
	case o.Workers < 0:
		return fmt.Errorf("%w: Workers is %d: want 0 or more", ErrInvalidConfig, o.Workers)
	case o.Timeout < 0:
		return fmt.Errorf("%w: Timeout is %v: want 0 (the default) or more", ErrInvalidConfig, o.Timeout)
	case o.ConnectTimeout < 0:
		return fmt.Errorf("%w: ConnectTimeout is %v: want 0 (the default) or more", ErrInvalidConfig, o.ConnectTimeout)
	}
	if _, err := pgxpool.ParseConfig(o.URL); err != nil {
		return fmt.Errorf("%w: URL: %s", ErrInvalidConfig, urlProblem(err))
	}
	return nil
}

// DefaultPostgresConns is the pool size MaxConns 0 gives: one connection
// per worker, but no more than a quarter of the connections the server
// lets ordinary users open (maxConnections less reserved), so that four
// instances fit, and at least 2.
func DefaultPostgresConns(workers, maxConnections, reserved int) int {
	n := workers
	if room := (maxConnections - reserved) / 4; n > room {
		n = room
	}
	return max(n, 2)
}

// PostgresStore is a Store in a PostgreSQL database, shared by any number
// of poolside instances: the database enforces the rules across them
// (see the schema in postgres_schema.go). A booking is acknowledged once
// its transaction has committed, with synchronous_commit on.
//
// A request that fails says whether it may have taken effect: the error
// wraps ErrUnavailable when the statement was never sent (no connection,
// the database is down: safe to retry) and ErrInDoubt when a BOOK or
// UNBOOK was sent and its answer lost (a query settles it). After a
// failure to connect the store answers every request at once with
// ErrUnavailable, and tries the database every 250 ms until it answers.
type PostgresStore struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	conns   int
	target  string // describeTarget's
	writes  *writeBatcher

	down    atomic.Bool
	probing atomic.Bool
	ctx     context.Context // the probe's, cancelled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	closeOnce sync.Once
	life      sync.Mutex // orders spawn against Close
	closed    atomic.Bool
}

// OpenPostgres connects to the database opts.URL names, creates the schema
// if the database has none (or checks its version), and returns the
// store. Its errors wrap ErrInvalidConfig (the options),
// ErrDatabaseUnreachable (no answer, a refused connection, no such
// database), ErrDatabaseAuth (the credentials were refused) or
// ErrSchemaVersion, and say what happened in words (no Go error chain).
func OpenPostgres(ctx context.Context, opts PostgresOptions) (*PostgresStore, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultPostgresTimeout
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = DefaultPostgresConnectTimeout
	}
	cfg, _ := pgxpool.ParseConfig(opts.URL) // Validate parsed it
	cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	boundCleanup(cfg.ConnConfig, opts.ConnectTimeout)
	if _, set := cfg.ConnConfig.RuntimeParams["synchronous_commit"]; !set {
		// An acknowledged booking must survive a crash of the database,
		// whatever the server's default.
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	}
	where := describeTarget(cfg.ConnConfig)

	// One connection first: it tells an unreachable server, refused
	// credentials and a schema of another version apart, and learns the
	// server's connection limit.
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		return nil, connectProblem(where, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := ensureSchema(ctx, conn); err != nil {
		if errors.Is(err, ErrSchemaVersion) {
			return nil, fmt.Errorf("%w (database %s)", err, where)
		}
		return nil, fmt.Errorf("%w: creating or checking poolside's tables in %s: %s", ErrDatabaseUnreachable, where, PostgresReason(err))
	}
	conns := opts.MaxConns
	if conns == 0 {
		var maxConn, reserved int
		if err := conn.QueryRow(ctx, "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int").Scan(&maxConn, &reserved); err != nil {
			return nil, fmt.Errorf("%w: reading max_connections from %s: %s", ErrDatabaseUnreachable, where, PostgresReason(err))
		}
		conns = DefaultPostgresConns(max(opts.Workers, 1), maxConn, reserved)
	}
	cfg.MaxConns = int32(conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, connectProblem(where, err)
	}
	s := &PostgresStore{pool: pool, timeout: opts.Timeout, conns: conns, target: where}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.writes = &writeBatcher{s: s, maxRunning: committers}
	return s, nil
}

// Target names the database, without its password:
// `database "bookings" at 127.0.0.1:5432 as user "poolside"`.
func (s *PostgresStore) Target() string { return s.target }

// MaxConns returns the size of the store's connection pool.
func (s *PostgresStore) MaxConns() int { return s.conns }

// PostgresPoolStats is a snapshot of a PostgresStore's connection pool.
type PostgresPoolStats struct {
	// MaxConns is the pool's size; Total the connections open now, of
	// which Acquired are in use and Idle wait for a request.
	MaxConns, Total, Acquired, Idle int
	// Acquires counts the connections handed to requests; EmptyAcquires
	// those a request had to wait for (none was idle), and AcquireWait is
	// the time requests spent waiting, all since the store opened.
	Acquires, EmptyAcquires int64
	AcquireWait             time.Duration
	// Down is true while the database cannot be reached.
	Down bool
}

// PoolStats returns a snapshot of the connection pool.
func (s *PostgresStore) PoolStats() PostgresPoolStats {
	st := s.pool.Stat()
	return PostgresPoolStats{
		MaxConns: int(st.MaxConns()), Total: int(st.TotalConns()), Acquired: int(st.AcquiredConns()), Idle: int(st.IdleConns()),
		Acquires: st.AcquireCount(), EmptyAcquires: st.EmptyAcquireCount(), AcquireWait: st.AcquireDuration(),
		Down: s.down.Load(),
	}
}

// Book implements Store. Bookings and cancellations arriving together
// share one transaction and one commit (see writeBatcher).
func (s *PostgresStore) Book(ctx context.Context, room string, date wire.Date, limit int) error {
	code, err := s.writes.submit(ctx, &writeOp{day: int64(date), room: room, limit: limit})
	switch {
	case err != nil:
		return err
	case code == duplicateCode:
		return ErrDuplicate
	case code == fullCode:
		return ErrFullyBooked
	}
	return nil
}

// Unbook implements Store, in a shared transaction as Book.
func (s *PostgresStore) Unbook(ctx context.Context, room string, date wire.Date) error {
	code, err := s.writes.submit(ctx, &writeOp{unbook: true, day: int64(date), room: room})
	if err == nil && code == notBookedCode {
		return ErrNotBooked
	}
	return err
}

// RoomsOn implements Store.
func (s *PostgresStore) RoomsOn(ctx context.Context, date wire.Date) ([]string, error) {
	var rooms []string
	err := s.do(ctx, opName{verb: "rooms on", date: date}, false, func(ctx context.Context, c *pgxpool.Conn) error {
		rows, _ := c.Query(ctx, "SELECT room FROM poolside_bookings WHERE day = $1 ORDER BY room", int64(date))
		var err error
		rooms, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if len(rooms) == 0 {
		rooms = nil
	}
	return rooms, err
}

// DatesFor implements Store.
func (s *PostgresStore) DatesFor(ctx context.Context, room string) ([]wire.Date, error) {
	var dates []wire.Date
	err := s.do(ctx, opName{verb: "dates of room", room: room}, false, func(ctx context.Context, c *pgxpool.Conn) error {
		rows, _ := c.Query(ctx, "SELECT day FROM poolside_bookings WHERE room = $1 ORDER BY day", room)
		days, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		for _, d := range days {
			dates = append(dates, wire.Date(d))
		}
		return err
	})
	return dates, err
}

// Close implements Store: it stops the probe and closes every connection.
func (s *PostgresStore) Close() error {
	s.closeOnce.Do(func() {
		s.life.Lock()
		s.closed.Store(true) // no goroutine starts after this
		s.life.Unlock()
		s.cancel()
		s.wg.Wait()
		s.pool.Close()
	})
	return nil
}

// do runs fn on a connection of the pool under the request deadline, and
// classifies its failure: not sent (ErrUnavailable), or for a write that
// was sent, in doubt (ErrInDoubt). When the caller's ctx ended the call,
// its error is wrapped too.
func (s *PostgresStore) do(ctx context.Context, op opName, write bool, fn func(context.Context, *pgxpool.Conn) error) error {
	if s.closed.Load() {
		return fmt.Errorf("%w: %s after Close", ErrClosed, op)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	if s.down.Load() {
		return fmt.Errorf("%w: %s: the database cannot be reached", ErrUnavailable, op)
	}
	return s.run(ctx, op, write, fn)
}

// run is do without its checks: fn on a connection, its failure
// classified. ctx is the caller's, or the store's for a batch.
func (s *PostgresStore) run(ctx context.Context, op opName, write bool, fn func(context.Context, *pgxpool.Conn) error) error {
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	c, err := s.pool.Acquire(qctx)
	if err != nil {
		// Nothing was sent. A connection that could not be made means the
		// database is down: answer at once until it is back.
		if s.closed.Load() {
			return fmt.Errorf("%w: %s after Close", ErrClosed, op)
		}
		var ce *pgconn.ConnectError
		if errors.As(err, &ce) {
			s.markDown()
		}
		return failure(ctx, ErrUnavailable, op, "no database connection: "+PostgresReason(err))
	}
	defer c.Release()
	err = fn(qctx, c)
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case pgconn.SafeToRetry(err):
		return failure(ctx, ErrUnavailable, op, PostgresReason(err))
	case qctx.Err() != nil && ctx.Err() == nil:
		// The store's deadline passed with the statement out.
		kind := ErrInDoubt
		if !write {
			kind = nil
		}
		return failure(ctx, kind, op, fmt.Sprintf("no answer within the deadline (%v)", s.timeout))
	case !write:
		return failure(ctx, nil, op, PostgresReason(err))
	case errors.As(err, &pe) && pe.SeverityUnlocalized != "FATAL" && pe.SeverityUnlocalized != "PANIC" && pe.Severity != "FATAL" && pe.Severity != "PANIC":
		// The database refused the statement: its transaction rolled
		// back, so nothing was saved.
		return failure(ctx, nil, op, "the database refused it: "+PostgresReason(err))
	}
	// Sent, and the answer lost: the connection broke or the deadline
	// passed while the statement ran, and it may have committed.
	return failure(ctx, ErrInDoubt, op, PostgresReason(err))
}

// boundCleanup makes a connection whose request ran out of time close at
// once, and bounds every dial (the cancel request pgx sends for a
// statement cut short included) by timeout. pgx's own way (a read
// deadline, then up to 15 s draining the connection and sending the
// cancel) would keep a slot of the pool taken for those 15 s on a stalled
// link, so a few stalled requests would starve every other.
func boundCleanup(cfg *pgx.ConnConfig, timeout time.Duration) {
	dial := cfg.DialFunc
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return dial(ctx, network, addr)
	}
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler { return closeOnCancel{pc.Conn()} }
}

// closeOnCancel is the connections' ctxwatch.Handler: it closes the
// connection when the request's context ends.
type closeOnCancel struct{ conn net.Conn }

func (h closeOnCancel) HandleCancel(context.Context) { h.conn.Close() }
func (h closeOnCancel) HandleUnwatchAfterCancel()    {}

// opName names a request in error messages. It is formatted only when a
// request fails, so that a request that succeeds builds no text.
type opName struct {
	verb   string // "book", "unbook", "rooms on", "dates of room", "batch"
	room   string
	date   wire.Date
	writes int // of a batch
}

func (o opName) String() string {
	switch o.verb {
	case "book", "unbook":
		return o.verb + " " + o.room + " on " + o.date.String()
	case "rooms on":
		return "rooms on " + o.date.String()
	case "dates of room":
		return "dates of room " + o.room
	}
	return "a transaction of " + writes(o.writes)
}

// failure is the error of a failed call: kind (nil for a plain store
// error) with op and reason, and ctx's error when the caller's ctx ended.
func failure(ctx context.Context, kind error, op opName, reason string) error {
	if kind == nil {
		kind = errPostgres
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w: %s: %s: %w", kind, op, reason, cerr)
	}
	return fmt.Errorf("%w: %s: %s", kind, op, reason)
}

// errPostgres prefixes the errors of PostgresStore that are neither
// unavailable nor in doubt.
var errPostgres = errors.New("booking: postgres")

// markDown makes every request fail at once, until the probe reaches the
// database again.
func (s *PostgresStore) markDown() {
	s.down.Store(true)
	if !s.probing.CompareAndSwap(false, true) {
		return
	}
	if !s.spawn(s.probe) {
		s.probing.Store(false)
	}
}

// spawn runs fn on a goroutine Close waits for, unless the store is
// closed (false).
func (s *PostgresStore) spawn(fn func()) bool {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed.Load() {
		return false
	}
	s.wg.Add(1)
	go fn()
	return true
}

// probe pings the database until it answers or the store closes.
func (s *PostgresStore) probe() {
	defer s.wg.Done()
	t := time.NewTicker(postgresProbeInterval)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
		err := s.pool.Ping(ctx)
		cancel()
		if err == nil {
			// In this order, so that a failure between the two stores
			// starts a new probe rather than finding this one running.
			s.probing.Store(false)
			s.down.Store(false)
			return
		}
		select {
		case <-s.ctx.Done():
			s.probing.Store(false)
			return
		case <-t.C:
		}
	}
}
