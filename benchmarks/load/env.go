package load

import (
	"os"
	"runtime"
	"time"

	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/server"
)

// Env describes where and how a measurement was made: the machine, the
// load and, for servers in this process, their settings. The reports of
// compare and tune carry one.
type Env struct {
	Time       time.Time
	Hostname   string
	GOOS       string
	GOARCH     string
	GoVersion  string
	NumCPU     int
	GOMAXPROCS int
	// InProcess reports LocalServers sharing the process (and its CPU
	// time) with the load generator; Addr is the remote server otherwise.
	InProcess bool
	Addr      string
	CPUScope  string

	Clients        int
	ConnPerRequest bool
	Rate           float64       // 0 for a closed loop
	Timeout        time.Duration // each request's, Config.Timeout
	Warmup         time.Duration
	Duration       time.Duration
	MaxRequests    int64
	Repeat         int
	Mix            Mix

	// Server settings of the LocalServers; zero for a remote server.
	WorkDelay time.Duration
	WorkCPU   int
	Store     booking.StoreKind
	Queue     int
}

// NewEnv describes this machine now and the load cfg, measured in
// windows w repeated rounds times, defaults resolved: against
// LocalServers configured by srv, or, with srv nil, against the server at
// cfg.Addr.
func NewEnv(cfg Config, w Window, rounds int, srv *ServerConfig) Env {
	cfg, w = cfg.WithDefaults(), w.WithDefaults()
	host, _ := os.Hostname()
	e := Env{
		Time:           time.Now().UTC().Truncate(time.Second),
		Hostname:       host,
		GOOS:           runtime.GOOS,
		GOARCH:         runtime.GOARCH,
		GoVersion:      runtime.Version(),
		NumCPU:         runtime.NumCPU(),
		GOMAXPROCS:     runtime.GOMAXPROCS(0),
		InProcess:      srv != nil,
		CPUScope:       CPUScopeProcess,
		Clients:        cfg.Clients,
		ConnPerRequest: cfg.ConnPerRequest,
		Rate:           cfg.Rate,
		Timeout:        cfg.Timeout,
		Warmup:         w.Warmup,
		Duration:       w.Duration,
		MaxRequests:    w.MaxRequests,
		Repeat:         rounds,
		Mix:            cfg.Mix,
	}
	if srv == nil {
		e.Addr = cfg.Addr
		e.CPUScope = CPUScopeClient
		return e
	}
	e.WorkDelay, e.WorkCPU, e.Queue = srv.WorkDelay, srv.WorkCPU, srv.Queue
	e.Store = srv.Store
	if e.Store == "" {
		e.Store = booking.StoreMemory
	}
	if e.Queue == 0 {
		e.Queue = server.DefaultQueue
	}
	return e
}
