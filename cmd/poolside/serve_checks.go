package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/pool"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

// The checks of serve's flags, made before anything is bound or opened.

// checkStore checks --store, --data and the --db flags.
func checkStore(f serveFlags) error {
	switch booking.StoreKind(f.store) {
	case booking.StoreMemory:
		return nil
	case booking.StoreBolt:
		if f.data == "" {
			return usageError(errors.New("--data is empty: name the bolt database file, for example --data poolside.db"))
		}
		return nil
	case booking.StorePostgres:
		switch {
		case f.dbURLValue() == "":
			return usageError(errors.New("--store postgres needs the database: give --db-url postgres://USER[:PASSWORD]@HOST:PORT/DBNAME, or set " + dbURLEnv))
		case f.dbConns < 0:
			return usageError(fmt.Errorf("--db-conns is %d: give 1 or more, or 0 to size it from the workers", f.dbConns))
		case f.dbTimeout <= 0:
			return usageError(fmt.Errorf("--db-timeout is %v: give a duration above 0, such as 2s: a request must never wait for the database without limit", f.dbTimeout))
		}
		return nil
	}
	return usageError(fmt.Errorf("--store %q: choose bolt, memory or postgres", f.store))
}

// workersFlag is the value of --workers: a number of workers, or auto.
type workersFlag struct {
	n    int
	auto bool
}

func (w *workersFlag) String() string {
	if w.auto {
		return "auto"
	}
	return strconv.Itoa(w.n)
}

func (w *workersFlag) Set(s string) error {
	if strings.EqualFold(s, "auto") {
		*w = workersFlag{auto: true}
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > server.MaxAdminWorkers {
		return fmt.Errorf("want a whole number of workers up to %d (0 = 16 × GOMAXPROCS) or auto", server.MaxAdminWorkers)
	}
	*w = workersFlag{n: n}
	return nil
}

func (w *workersFlag) Type() string { return "N|auto" }

// checkSizing checks --workers, --min-workers and --max-workers together.
func checkSizing(f serveFlags) error {
	if !f.workers.auto {
		if f.minWorkers != 0 || f.maxWorkers != 0 {
			return usageError(errors.New("--min-workers and --max-workers need --workers auto"))
		}
		return nil
	}
	switch {
	case f.model != server.ModelPool && f.model != server.ModelConn:
		return usageError(fmt.Errorf("--workers auto needs --model pool or conn, not %v, which has no resizable pool", f.model))
	case f.minWorkers < 0 || f.maxWorkers < 0:
		return usageError(errors.New("--min-workers and --max-workers must be 0 (the default) or more"))
	case f.minWorkers > server.MaxAdminWorkers || f.maxWorkers > server.MaxAdminWorkers:
		return usageError(fmt.Errorf("--min-workers and --max-workers may be at most %d, as --workers may", server.MaxAdminWorkers))
	case f.minWorkers > 0 && f.maxWorkers > 0 && f.minWorkers > f.maxWorkers:
		return usageError(fmt.Errorf("--min-workers %d is above --max-workers %d", f.minWorkers, f.maxWorkers))
	}
	return nil
}

// checkIgnored refuses flags that the chosen model or store would ignore,
// so that nobody believes a setting took effect when it did not.
func checkIgnored(f serveFlags) error {
	if f.changed == nil {
		return nil
	}
	noPool := f.model == server.ModelSerial || f.model == server.ModelUnbounded
	switch {
	case noPool && f.changed("workers"):
		return usageError(fmt.Errorf("--workers sizes the pool of the pool and conn models; --model %v has none, so the flag would do nothing: drop it, or choose --model pool or conn", f.model))
	case f.model == server.ModelUnbounded && f.changed("queue"):
		return usageError(errors.New("--queue bounds the requests waiting for a worker; --model unbounded has no queue, so the flag would do nothing: drop it, or choose another model"))
	case booking.StoreKind(f.store) == booking.StoreMemory && f.changed("data"):
		return usageError(errors.New("--data names the bolt file, but --store memory keeps bookings in memory and uses no file: drop --data, or use --store bolt"))
	case booking.StoreKind(f.store) == booking.StorePostgres && f.changed("data"):
		return usageError(errors.New("--data names the bolt file, but --store postgres keeps bookings in the database --db-url names: drop --data, or use --store bolt"))
	case booking.StoreKind(f.store) != booking.StorePostgres && (f.changed("db-url") || f.changed("db-conns") || f.changed("db-timeout")):
		return usageError(fmt.Errorf("the --db flags are for --store postgres, but --store is %s: drop them, or use --store postgres", f.store))
	}
	return nil
}

// addrFlag is one of serve's address flags and its value.
type addrFlag struct {
	name, value, example string
}

// checkAddrs checks the address flags before anything is bound: each set
// one must be HOST:PORT with a port from 0 to 65535, and no two may name
// the same fixed port on the same host.
func checkAddrs(f serveFlags) error {
	flags := []addrFlag{{"--addr", f.addr, "127.0.0.1:9407"}}
	if f.metricsAddr != "" {
		flags = append(flags, addrFlag{"--metrics-addr", f.metricsAddr, "127.0.0.1:9408"})
	}
	if f.adminAddr != "" {
		flags = append(flags, addrFlag{"--admin-addr", f.adminAddr, "127.0.0.1:9409"})
	}
	type hostPort struct {
		host string
		port uint64
	}
	seen := map[hostPort]string{}
	for _, a := range flags {
		if err := checkAddr(a.name, a.value, a.example, listening); err != nil {
			return err
		}
		host, portText, _ := net.SplitHostPort(a.value)
		port, _ := strconv.ParseUint(portText, 10, 16)
		if port == 0 {
			continue // each gets its own free port
		}
		k := hostPort{strings.ToLower(host), port}
		if other, ok := seen[k]; ok {
			return usageError(fmt.Errorf("%s and %s are both %s: each needs its own port", other, a.name, a.value))
		}
		seen[k] = a.name
	}
	return nil
}

// checkAdminAddr refuses an --admin-addr off loopback unless
// --admin-allow-remote is given. checkAddrs has checked its form.
func checkAdminAddr(f serveFlags) error {
	if f.adminAddr == "" {
		if f.adminRemote {
			return usageError(errors.New("--admin-allow-remote needs --admin-addr"))
		}
		return nil
	}
	host, _, err := net.SplitHostPort(f.adminAddr)
	if err != nil {
		return usageError(fmt.Errorf("--admin-addr %q: want HOST:PORT, for example 127.0.0.1:9409", f.adminAddr))
	}
	if f.adminRemote || isLoopbackName(host) {
		return nil
	}
	if host == "" {
		host = "every interface"
	}
	return usageError(fmt.Errorf("--admin-addr %s would serve the admin API on %s, but it has no authentication and can resize the pool: use 127.0.0.1, ::1 or localhost, or add --admin-allow-remote if the network is trusted", f.adminAddr, host))
}

// fileReserve is how many descriptors serve keeps for itself beyond its
// connections: listeners, the store, logs, the runtime, and a connection
// over the limit that is accepted only to be told the server is busy.
const fileReserve = 64

// protocolConnLimit returns the server's MaxConns for the flags when the
// process may open at most nofile files (0 = unknown): --max-conns if it
// is set, else as many connections as nofile leaves room for once the
// HTTP listeners (httpMaxConns each) and fileReserve are counted. So a
// client past that limit is told the server is busy, and accept never
// fails for want of a descriptor. A --max-conns above that room, or a
// limit too low to serve at all, is an error that says to raise ulimit -n.
func protocolConnLimit(f serveFlags, nofile int) (int, error) {
	if nofile == 0 {
		return f.maxConns, nil
	}
	reserve := fileReserve
	for _, addr := range []string{f.metricsAddr, f.adminAddr} {
		if addr != "" {
			reserve += httpMaxConns
		}
	}
	room := nofile - reserve
	switch {
	case room < 1:
		return 0, fmt.Errorf("this process may open only %d files (ulimit -n), and serve needs %d for itself and its HTTP listeners: raise the limit, for example with 'ulimit -n 4096'", nofile, reserve)
	case f.maxConns == 0:
		return room, nil
	case f.maxConns > room:
		return 0, usageError(fmt.Errorf("--max-conns %d needs more files than this process may open: the limit is %d (ulimit -n) and serve keeps %d for itself and its HTTP listeners; choose --max-conns %d or less, or raise the limit", f.maxConns, nofile, reserve, room))
	}
	return f.maxConns, nil
}

// serverConfig checks every flag and returns the server's configuration,
// without its Handler (the booking service, once the store is open), and
// the work aids to wrap it in. It binds and opens nothing.
func serverConfig(f serveFlags, log logrus.FieldLogger) (server.Config, server.Work, error) {
	var cfg server.Config
	work := server.Work{Delay: f.workDelay, CPU: f.workCPU}
	for _, check := range []func(serveFlags) error{checkSizing, checkAddrs, checkAdminAddr, checkStore, checkIgnored} {
		if err := check(f); err != nil {
			return cfg, work, err
		}
	}
	switch {
	case f.drainTimeout < 0:
		return cfg, work, usageError(fmt.Errorf("--drain-timeout %v: want 0 or more (0 = no limit)", f.drainTimeout))
	case f.horizon < 1:
		return cfg, work, usageError(fmt.Errorf("--horizon %d: want the number of days ahead a booking may be made, at least 1 (default %d)", f.horizon, booking.DefaultHorizon))
	case f.queue < 1:
		return cfg, work, usageError(fmt.Errorf("--queue must be at least 1, got %d", f.queue))
	}
	if err := work.Validate(); err != nil {
		return cfg, work, usageError(fmt.Errorf("bad flag value: %w", err))
	}
	maxConns, err := protocolConnLimit(f, fileLimit())
	if err != nil {
		return cfg, work, err
	}
	cfg = server.Config{
		Model:        f.model,
		Workers:      f.workers.n,
		Queue:        f.queue,
		MaxConns:     maxConns,
		ReadTimeout:  f.readTimeout,
		IdleTimeout:  f.idleTimeout,
		WriteTimeout: f.writeTimeout,
		Logger:       log,
	}
	cfg.BusyReply, cfg.ReadTimeoutReply, cfg.InternalErrorReply = wire.ServerReplies()
	if f.workers.auto {
		cfg.Adaptive = &server.AdaptiveConfig{Limit: pool.Gradient2Config{Min: f.minWorkers, Max: f.maxWorkers}}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, work, usageError(fmt.Errorf("bad flag value: %w", err))
	}
	return cfg, work, nil
}
