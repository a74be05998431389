package pgtest

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Cluster is a throwaway PostgreSQL cluster: a data directory in a
// temporary directory, served on a Unix socket there and on a loopback TCP
// port. Its methods are for one test at a time (tests of a package that
// stop it must not run in parallel with the others).
type Cluster struct {
	bin     string              // directory of initdb, pg_ctl, postgres
	root    string              // the temporary directory: socket, log, data
	data    string              // root/data
	port    int                 // TCP port, and the socket's name
	cred    *syscall.Credential // the postgres user's, when running as root
	watch   *exec.Cmd           // the watchdog
	watchIn *os.File            // its standard input; closing it ends it
}

// Addr returns the cluster's loopback TCP address, host:port.
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// adminURL is the superuser's URL of the maintenance database, over the
// Unix socket.
func (c *Cluster) adminURL() string {
	q := url.Values{"host": {c.root}, "port": {strconv.Itoa(c.port)}, "sslmode": {"disable"}}
	return "postgres://" + Superuser + "@/postgres?" + q.Encode()
}

// Stop stops the cluster: mode "fast" (clients are disconnected, a
// checkpoint is written) or "immediate" (as a crash: recovery at the next
// start). The admin connection is closed; the next use reopens it.
func (c *Cluster) Stop(t testing.TB, mode string) {
	t.Helper()
	pkg.mu.Lock()
	defer pkg.mu.Unlock()
	if pkg.admin != nil {
		closeAdmin()
	}
	if out, err := c.run("pg_ctl", "stop", "-D", c.data, "-m", mode, "-w", "-t", "60"); err != nil {
		t.Fatalf("pgtest: pg_ctl stop -m %s: %v: %s", mode, err, out)
	}
}

// Start starts the cluster again after Stop, on the same port.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	pkg.mu.Lock()
	defer pkg.mu.Unlock()
	if err := c.start(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// RestartCommand returns a shell command that restarts the cluster as a
// crash would (immediate shutdown, then start, on the same port), for a
// program the test runs (poolside check --db-restart): as the postgres
// user when the tests run as root.
func (c *Cluster) RestartCommand() string {
	cmd := fmt.Sprintf("%s restart -D %s -m immediate -w -t 60 -l %s -s", filepath.Join(c.bin, "pg_ctl"), c.data, filepath.Join(c.root, "postgres.log"))
	if c.cred != nil {
		return "su postgres -s /bin/sh -c '" + cmd + "'"
	}
	return cmd
}

// watchdog is the script that outlives the test binary: its standard input
// is a pipe whose only writer is the test binary, so read returns when
// that process is gone, whatever ended it; then it stops the postmaster
// (SIGINT: fast shutdown, then SIGQUIT after 10 s) and removes the
// temporary directory. After an orderly stop it finds nothing to stop.
const watchdog = `read -r _ || :
pidfile="$1/postmaster.pid"
if [ -f "$pidfile" ]; then
	pid=$(head -n 1 "$pidfile")
	kill -INT "$pid" 2>/dev/null
	n=0
	while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 100 ]; do sleep 0.1; n=$((n+1)); done
	kill -QUIT "$pid" 2>/dev/null
fi
rm -rf "$2"
`

// newCluster makes and starts a cluster with the binaries in bin.
func newCluster(bin string) (c *Cluster, err error) {
	c = &Cluster{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and PostgreSQL refuses to: there is no postgres user to run it as (%v); create one (useradd --system postgres) or run the tests as another user", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if c.root, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.destroy()
		}
	}()
	if c.cred != nil {
		if err := os.Chown(c.root, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return nil, err
		}
	}
	c.data = filepath.Join(c.root, "data")
	if err := c.startWatchdog(); err != nil {
		return nil, err
	}
	// -N: initdb need not fsync the new cluster, which is thrown away
	// anyway; the server itself runs with fsync on.
	if out, err := c.run("initdb", "-D", c.data, "-U", Superuser, "-A", "trust", "-E", "UTF8", "--locale=C", "-N"); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	hba := "local all +" + passwordRole + " scram-sha-256\n" +
		"host all +" + passwordRole + " 127.0.0.1/32 scram-sha-256\n" +
		"local all all trust\n" +
		"host all all 127.0.0.1/32 trust\n"
	if err := c.writeFile("pg_hba.conf", hba, false); err != nil {
		return nil, err
	}
	// A port taken between freePort and the bind is tried again.
	for range 5 {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
		conf := fmt.Sprintf("\n# pgtest\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"+
			"max_connections = 100\nshared_buffers = 32MB\nfsync = on\nsynchronous_commit = on\n"+
			"logging_collector = off\npassword_encryption = 'scram-sha-256'\n", c.port, c.root)
		if err := c.writeFile("postgresql.conf", conf, true); err != nil {
			return nil, err
		}
		if err = c.start(); err == nil || !strings.Contains(err.Error(), "already in use") {
			return c, err
		}
	}
	return nil, err
}

// start runs pg_ctl start, waiting until the server accepts connections.
func (c *Cluster) start() error {
	out, err := c.run("pg_ctl", "start", "-D", c.data, "-l", filepath.Join(c.root, "postgres.log"), "-w", "-t", "60", "-s")
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s%s", err, out, c.logTail())
	}
	return nil
}

// destroy stops the server, if running, removes the directory and ends
// the watchdog.
func (c *Cluster) destroy() error {
	var err error
	if _, statErr := os.Stat(filepath.Join(c.data, "postmaster.pid")); statErr == nil {
		if out, stopErr := c.run("pg_ctl", "stop", "-D", c.data, "-m", "fast", "-w", "-t", "60"); stopErr != nil {
			err = fmt.Errorf("pg_ctl stop: %v: %s", stopErr, out)
		}
	}
	if rmErr := os.RemoveAll(c.root); rmErr != nil && err == nil {
		err = rmErr
	}
	if c.watchIn != nil {
		c.watchIn.Close()
		_ = c.watch.Wait()
	}
	return err
}

// startWatchdog starts the watchdog script in its own session, so that a
// Ctrl-C to the test's process group leaves it to clean up.
func (c *Cluster) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", watchdog, "pgtest-watchdog", c.data, c.root)
	cmd.Stdin = r
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start the watchdog: %w", err)
	}
	c.watch, c.watchIn = cmd, w
	return nil
}

// run runs one of the PostgreSQL programs, as the postgres user when the
// tests run as root, and returns its output.
func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.root
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return bytes.TrimSpace(out.Bytes()), err
}

// writeFile writes (or appends to) a file of the data directory, owned by
// the server's user.
func (c *Cluster) writeFile(name, text string, appendTo bool) error {
	path := filepath.Join(c.data, name)
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendTo {
		flag = os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if c.cred != nil {
		return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
	}
	return nil
}

// logTail returns the end of the server's log, for error messages.
func (c *Cluster) logTail() string {
	b, err := os.ReadFile(filepath.Join(c.root, "postgres.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\nserver log:\n" + string(b)
}

// findBinaries returns the directory holding initdb, pg_ctl and postgres:
// initdb's on PATH (symbolic links followed, as Debian links only some of
// them), or the newest /usr/lib/postgresql/*/bin.
func findBinaries() (string, bool) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
	dirs = append(dirs, found...)
	for _, d := range dirs {
		ok := true
		for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(d, name)); err != nil || fi.IsDir() {
				ok = false
				break
			}
		}
		if ok {
			return d, true
		}
	}
	return "", false
}

// version is the major version in /usr/lib/postgresql/VERSION/bin.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}
