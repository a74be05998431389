package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/poolside-dev/poolside/faults"
)

// Deployment is a set of server processes that check starts itself, each
// behind a fault proxy it controls, so that a Nemesis can kill, pause and
// cut them. Clients talk to the proxies (Addrs).
type Deployment struct {
	cfg DeploymentConfig

	mu        sync.Mutex
	instances []*instance
	db        *link // the proxy in front of the database, if any
}

// DeploymentConfig says what StartDeployment starts.
type DeploymentConfig struct {
	// Command is a shell command in which {addr} is replaced by the
	// loopback host:port the instance must listen on, {n} by its number
	// (1 to Instances) and {db} by the address of the proxy in front of
	// DB, such as
	//
	//	poolside serve --data /tmp/check-{n}.db --addr {addr}
	Command   string
	Instances int
	// DB, if not empty, is the database's host:port: the instances reach
	// it through a fault proxy at {db}, so that the nemesis can cut and
	// stall their links to it.
	DB string
	// DBRestart, if not empty, is a shell command that restarts the
	// database (such as pg_ctl restart -m immediate), for the
	// db-restart fault.
	DBRestart string
	// Logs gets the processes' output; nil means none.
	Logs io.Writer
}

// link is a fault proxy in front of an address.
type link struct {
	upstream, front string
	proxy           *faults.Proxy
}

type instance struct {
	n    int
	addr string // the server's own
	cmd  *exec.Cmd
	exit chan struct{}
	link // the clients' way in
}

// StartDeployment starts cfg.Instances instances of cfg.Command, waits
// until each accepts connections (up to 30 s), and puts a fault proxy in
// front of each (and of the database, with cfg.DB). Close stops
// everything.
func StartDeployment(ctx context.Context, cfg DeploymentConfig) (*Deployment, error) {
	if !strings.Contains(cfg.Command, "{addr}") {
		return nil, errors.New("check: the server command has no {addr}, where the address each instance must listen on goes")
	}
	if cfg.DB != "" && !strings.Contains(cfg.Command, "{db}") {
		return nil, errors.New("check: a database address is given, but the server command has no {db}, where the instances' way to it goes")
	}
	if cfg.Logs == nil {
		cfg.Logs = io.Discard
	}
	d := &Deployment{cfg: cfg}
	if cfg.DB != "" {
		d.db = &link{upstream: cfg.DB}
		if err := d.db.open(nil, nil, 0); err != nil {
			return nil, fmt.Errorf("check: the fault proxy in front of the database: %w", err)
		}
	}
	for i := 1; i <= cfg.Instances; i++ {
		addr, err := freeAddr()
		if err != nil {
			d.Close()
			return nil, err
		}
		in := &instance{n: i, addr: addr}
		d.instances = append(d.instances, in)
		if err := d.start(ctx, in); err != nil {
			d.Close()
			return nil, err
		}
		in.upstream = addr
		if err := in.open(nil, nil, 0); err != nil {
			d.Close()
			return nil, fmt.Errorf("check: the fault proxy of instance %d: %w", i, err)
		}
	}
	return d, nil
}

// open starts l's proxy with the faults given: on a new loopback port the
// first time, on the same address after.
func (l *link) open(up, down []faults.Fault, seed uint64) error {
	var err error
	for range 50 { // the port is free again a moment after a close
		var p *faults.Proxy
		if p, err = faults.NewProxy(faults.Config{Listen: l.front, Upstream: l.upstream, Up: up, Down: down, Seed: seed, DialTimeout: 2 * time.Second}); err != nil {
			return err
		}
		if err = p.Start(); err == nil {
			l.proxy, l.front = p, p.Addr().String()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("could not listen again on %s: %w", l.front, err)
}

// refault cuts every connection of l, then lets new ones through with the
// faults given (none: a clean link again).
func (l *link) refault(up, down []faults.Fault, seed uint64) error {
	l.proxy.Close()
	return l.open(up, down, seed)
}

// Addrs returns the proxies' addresses, one per instance.
func (d *Deployment) Addrs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, in := range d.instances {
		out = append(out, in.front)
	}
	return out
}

// start runs instance in and waits until it accepts connections.
func (d *Deployment) start(ctx context.Context, in *instance) error {
	db := ""
	if d.db != nil {
		db = d.db.front
	}
	line := strings.NewReplacer("{addr}", in.addr, "{n}", strconv.Itoa(in.n), "{db}", db).Replace(d.cfg.Command)
	cmd := exec.Command("/bin/sh", "-c", "exec "+line)
	cmd.Stdout, cmd.Stderr = d.cfg.Logs, d.cfg.Logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("check: starting instance %d (%s): %w", in.n, line, err)
	}
	in.cmd, in.exit = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(in.exit) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", in.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-in.exit:
			return fmt.Errorf("check: instance %d exited before it accepted connections (%s)", in.n, line)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("check: instance %d did not accept connections on %s within 30 s (%s)", in.n, in.addr, line)
		}
	}
}

// signal sends sig to instance i's process group, unless it has exited
// (its process group may then be another's). d.mu is held.
func (d *Deployment) signal(i int, sig syscall.Signal) error {
	in := d.instances[i]
	if in.cmd == nil || in.cmd.Process == nil {
		return nil
	}
	select {
	case <-in.exit:
		return nil
	default:
	}
	err := syscall.Kill(-in.cmd.Process.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // it exited meanwhile
	}
	return err
}

// Kill kills instance i with SIGKILL and waits for it to exit. Its proxy
// stops listening too, so that while it is down clients are refused at
// once (their requests certainly not done) rather than cut after sending
// (in doubt); Restart opens it again.
func (d *Deployment) Kill(i int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.instances[i].proxy.Close()
	_ = d.signal(i, syscall.SIGCONT) // a paused one too
	err := d.signal(i, syscall.SIGKILL)
	if err == nil {
		<-d.instances[i].exit
	}
	return err
}

// Restart starts instance i again, on the same address, and its proxy.
func (d *Deployment) Restart(ctx context.Context, i int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.start(ctx, d.instances[i]); err != nil {
		return err
	}
	return d.instances[i].open(nil, nil, 0)
}

// Pause stops instance i with SIGSTOP; Resume continues it.
func (d *Deployment) Pause(i int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.signal(i, syscall.SIGSTOP)
}

// Resume continues instance i after Pause.
func (d *Deployment) Resume(i int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.signal(i, syscall.SIGCONT)
}

// Faults cuts every client connection of instance i, then lets new ones
// through with the faults given (none: a clean link again): a new proxy
// on the same address.
func (d *Deployment) Faults(i int, up, down []faults.Fault, seed uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.instances[i].refault(up, down, seed)
}

// DBFaults does what Faults does to the instances' links to the database.
func (d *Deployment) DBFaults(up, down []faults.Fault, seed uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db == nil {
		return errors.New("check: no database link to fault: give its address")
	}
	return d.db.refault(up, down, seed)
}

// dbRestartTimeout bounds the DBRestart command.
const dbRestartTimeout = 90 * time.Second

// RestartDB runs the DBRestart command, for at most 90 s. Its output goes
// to the logs; a database it starts in the background and that keeps the
// output open does not hold it up past WaitDelay.
func (d *Deployment) RestartDB(ctx context.Context) error {
	if d.cfg.DBRestart == "" {
		return errors.New("check: no command to restart the database")
	}
	ctx, cancel := context.WithTimeout(ctx, dbRestartTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", d.cfg.DBRestart)
	cmd.Stdout, cmd.Stderr = d.cfg.Logs, d.cfg.Logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		return fmt.Errorf("check: restarting the database (%s): %w", d.cfg.DBRestart, err)
	}
	return nil
}

// Close stops every proxy and instance (SIGTERM, then SIGKILL after 10 s).
func (d *Deployment) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db != nil && d.db.proxy != nil {
		defer d.db.proxy.Close() // after the instances, which use it
	}
	for i, in := range d.instances {
		if in.proxy != nil {
			in.proxy.Close()
		}
		if in.cmd == nil {
			continue
		}
		_ = d.signal(i, syscall.SIGCONT)
		_ = d.signal(i, syscall.SIGTERM)
		select {
		case <-in.exit:
		case <-time.After(10 * time.Second):
			_ = d.signal(i, syscall.SIGKILL)
			<-in.exit
		}
	}
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// The faults a Nemesis chooses from.
const (
	FaultKill  = "kill"  // SIGKILL an instance, then start it again
	FaultPause = "pause" // SIGSTOP an instance, then SIGCONT
	FaultCut   = "cut"   // cut every client connection of an instance
	FaultReset = "reset" // new connections reset after a few bytes, for a while
	FaultStall = "stall" // new connections stall after a few bytes, for a while

	FaultDBCut     = "db-cut"     // cut every connection to the database
	FaultDBStall   = "db-stall"   // new connections to the database stall, for a while
	FaultDBRestart = "db-restart" // restart the database
)

// FaultKinds lists every fault a Nemesis knows; the db- ones need the
// Deployment's DB (and DBRestart for db-restart).
var FaultKinds = []string{FaultKill, FaultPause, FaultCut, FaultReset, FaultStall, FaultDBCut, FaultDBStall, FaultDBRestart}

// ServerFaultKinds are the faults that need nothing but the instances.
var ServerFaultKinds = FaultKinds[:5]

// Nemesis injects a seeded schedule of faults into a Deployment while a
// workload runs, and records each on the history's timeline.
type Nemesis struct {
	// Kinds are the faults to choose from (FaultKinds by default).
	Kinds []string
	// Seed seeds the schedule.
	Seed uint64
	// Every is the time between the end of one fault and the start of the
	// next, and Hold how long a fault lasts (defaults 1 s and 300 ms).
	Every, Hold time.Duration
}

// Run injects faults until ctx ends, then heals everything.
func (n Nemesis) Run(ctx context.Context, d *Deployment, rec *Recorder) error {
	kinds := n.Kinds
	if len(kinds) == 0 {
		kinds = FaultKinds
	}
	every, hold := n.Every, n.Hold
	if every <= 0 {
		every = time.Second
	}
	if hold <= 0 {
		hold = 300 * time.Millisecond
	}
	rng := rand.New(rand.NewPCG(n.Seed, 0x6e656d))
	wait := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	heal := context.WithoutCancel(ctx)
	// Every kind in turn, from a seeded start, on a seeded instance.
	first := rng.IntN(len(kinds))
	for k := 0; wait(every); k++ {
		i := rng.IntN(len(d.instances))
		kind := kinds[(first+k)%len(kinds)]
		start := rec.Now()
		what := fmt.Sprintf("%s instance %d", kind, i+1)
		var err error
		switch kind {
		case FaultKill:
			err = d.Kill(i)
			wait(hold)
			// Restart it whatever the kill said: never leave it down.
			err = errors.Join(err, d.Restart(heal, i))
		case FaultPause:
			err = d.Pause(i)
			wait(hold)
			err = errors.Join(err, d.Resume(i))
		case FaultCut:
			err = d.Faults(i, nil, nil, 0)
		case FaultReset, FaultStall:
			at := int64(rng.IntN(200))
			f := faults.Fault(faults.Reset{At: at})
			if kind == FaultStall {
				f = faults.Stall{At: at, For: hold}
			}
			what += fmt.Sprintf(" (%s on the replies)", f)
			err = d.Faults(i, nil, []faults.Fault{f}, rng.Uint64())
			wait(hold)
			err = errors.Join(err, d.Faults(i, nil, nil, 0))
		case FaultDBCut:
			what = "cut the database links"
			err = d.DBFaults(nil, nil, 0)
		case FaultDBStall:
			what = fmt.Sprintf("stall the database links for %v", hold)
			err = d.DBFaults(nil, []faults.Fault{faults.Stall{At: int64(rng.IntN(200)), For: hold}}, rng.Uint64())
			wait(hold)
			err = errors.Join(err, d.DBFaults(nil, nil, 0))
		case FaultDBRestart:
			what = "restart the database"
			err = d.RestartDB(heal)
		default:
			return fmt.Errorf("check: unknown fault %q: choose from %s", kind, strings.Join(FaultKinds, ", "))
		}
		rec.AddFault(Fault{Start: start, End: rec.Now(), What: what})
		if err != nil {
			return fmt.Errorf("check: the nemesis could not %s: %w", what, err)
		}
	}
	return nil
}
