package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolside-dev/poolside/faults"
	"github.com/poolside-dev/poolside/internal/textfmt"
)

func init() { subcommands = append(subcommands, newProxyCmd) }

// Defaults of "poolside proxy".
const (
	defaultProxyListen   = "127.0.0.1:9500"
	defaultProxyUpstream = "127.0.0.1:9407"
)

// proxyFlags are the flags of "poolside proxy".
type proxyFlags struct {
	listen       string
	upstream     string
	up, down     string
	seed         uint64
	api          string
	config       string
	hubOnly      bool // no proxy from the flags: --api or --config without them
	dialTimeout  time.Duration
	drainTimeout time.Duration
}

// faultHelp says what each fault of a spec does, by its key. A key
// faults.ProxySpecSyntax names that is missing here is listed without a
// note.
var faultHelp = map[string]string{
	"delay":     "wait DURATION (give or take JITTER) before every write",
	"latency":   "wait DURATION (give or take JITTER) before every message: once per reply, however large",
	"slowclose": "hold back the end of the stream (FIN) for DURATION",
	"rate":      "pace the bytes to BYTES_PER_SEC",
	"chunk":     "write in pieces of at most MAX bytes (MIN..MAX: seeded random sizes)",
	"stall":     "hold back the write that carries byte AT for DURATION",
	"cut":       "close the connection (FIN) after AT bytes",
	"reset":     "reset the connection (RST) after AT bytes (@DURATION: that long after)",
	"blackhole": "let AT bytes through (default 0), then drop everything (@DURATION: then close)",
	"corrupt":   "flip the bits of byte AT (XOR with MASK, default 0xff)",
	"short":     "fail the write that reaches byte AT",
}

// specHelp lists the fault tokens of faults.ProxySpecSyntax, one a line,
// each with what it does.
func specHelp() string {
	var b strings.Builder
	for _, tok := range strings.Split(faults.ProxySpecSyntax, ", ") {
		tok = strings.TrimSpace(tok)
		key, _, _ := strings.Cut(tok, "=")
		key, _, _ = strings.Cut(key, " ")
		fmt.Fprintf(&b, "  %-38s %s\n", tok, faultHelp[key])
	}
	return b.String()
}

func newProxyCmd(stdout, stderr io.Writer) *cobra.Command {
	var f proxyFlags
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Relay TCP connections to a server, injecting faults into either direction",
		Long: `Relay every connection made to --listen to the server at --upstream, and inject
faults into the bytes going up (client to server, --up) or down (server to
client, --down). It works with any TCP client and server, not only poolside's.

A SPEC is a comma-separated list of faults, applied in order, for example
"chunk=1,delay=1ms". AT is a byte offset, counted on each connection and in
each direction from 0. The faults:
` + specHelp() + `Any fault followed by ~PERCENT% (such as latency=1s~25%) acts on that share
of the connections, drawn per connection from --seed.

The proxy relays the bytes as they arrive, in pieces of at most ` + kib(faults.RelayBufferSize) + `:
a "write" above is one such piece. A fault acts only when bytes go its way,
never at connect time: with --down cut=0 the request still reaches the
server, and the connection is closed as the reply starts.

cut, reset and short end the whole connection, the client's side and the
server's. blackhole drops the end of the stream too: the client (with
--down) or the server (with --up) hears nothing more, not even that the
other side has gone, while it keeps its own side open. Once it closes its
side (or half-closes it: the proxy cannot tell the two apart), the proxy
releases the connection as it would without faults.

--up and --down already name the direction, so the read: and write:
prefixes are not accepted. Every random choice comes from --seed, and every
connection replays the same choices, so a run can be repeated exactly.

--api ADDR serves the faults as JSON on http://ADDR/faults, so that a script
can change them between steps. A change reaches every open connection at
its next byte: a fault sleeping then (a delay, a stall) wakes at once and
lets its bytes go; offsets still count from each connection's start, and a
stall or corrupt whose offset has passed does nothing. Each change is
logged on standard error with what it replaced:
  GET    /faults   {"up":"chunk=1","down":"cut=100","seed":7}
  PUT    /faults   body {"up":"...","down":"..."} sets both (missing = none;
                   a "seed" may be sent back as GET gave it, not changed)
  DELETE /faults   clears both
A PUT or POST needs the header Content-Type: application/json. The API asks
for no credentials, so it keeps web pages out: it answers only requests to
127.0.0.1, [::1] or localhost (not to another name, which a page could point
at this machine), and refuses requests that a browser marks as coming from
another site (Origin, Sec-Fetch-Site) and bodies with a key twice. An ADDR
without a host (":9501") listens on loopback only. An ADDR beyond loopback
(such as 0.0.0.0:9501, for a proxy in a container) is allowed with a warning
on standard error: anyone who can reach it can change the faults, and it
then answers requests to any name.

Many proxies, toxiproxy's way: --api ADDR also serves toxiproxy's HTTP API
(v2, as toxiproxy-server 2.5.0 does: /proxies, /populate, toxics, /reset,
/version), so toxiproxy-cli and toxiproxy's client libraries drive poolside
unchanged, and Prometheus metrics on http://ADDR/metrics (connections, bytes
and faults fired, by proxy). Given --api or --config and none of --listen,
--upstream, --up and --down, no proxy is made from the flags: the command is
a stand-in for toxiproxy-server, started with the proxies of --config FILE
(toxiproxy's format, a JSON array of {"name","listen","upstream"}) or none.
With a proxy from the flags, /faults changes that one, and /proxies holds
only the proxies made through toxiproxy's API or --config.
The toxic types, with their attributes (toxiproxy's first, then poolside's):
` + toxicTable() + `Every toxic takes "toxicity" (the share of connections, drawn from --seed)
and "stream" (upstream or downstream), and poolside's attribute
"connection": N limits it to the N-th connection the proxy accepts.

The first line on standard output is "poolside: proxying ADDR -> UPSTREAM"
with the address actually bound (useful with --listen 127.0.0.1:0); with
--api, the second is "poolside: fault API on http://ADDR/faults". A client
connection the proxy cannot relay (the upstream refuses it, or does not
answer within --dial-timeout) is closed and reported on standard error.
SIGINT (Ctrl-C), SIGTERM or SIGHUP stops accepting, lets open connections
finish for --drain-timeout, closes the rest and exits 0; a second signal
stops the proxy at once. (A proxy started under nohup ignores SIGHUP.)`,
		Example: `  poolside proxy --upstream 127.0.0.1:9407 --down chunk=1,delay=1ms --seed 7
  poolside proxy --api 127.0.0.1:8474 --seed 7      # in place of toxiproxy-server
  toxiproxy-cli create -l 127.0.0.1:26379 -u 127.0.0.1:6379 redis
  toxiproxy-cli toxic add -t latency -a latency=100 -a jitter=20 redis
  poolside proxy --listen 127.0.0.1:9500 --up cut=100 --api 127.0.0.1:9501
  curl -s -X PUT -H 'Content-Type: application/json' -d '{"down":"reset=50"}' http://127.0.0.1:9501/faults`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			f.hubOnly = (f.api != "" || f.config != "") &&
				!fl.Changed("listen") && !fl.Changed("upstream") && !fl.Changed("up") && !fl.Changed("down")
			return runProxy(cmd.Context(), f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", defaultProxyListen, "TCP address to accept clients on (port 0 picks a free one)")
	fl.StringVar(&f.upstream, "upstream", defaultProxyUpstream, "address of the server to relay to, host:port")
	fl.StringVar(&f.up, "up", "", "faults on the bytes going to the server (SPEC; empty = none)")
	fl.StringVar(&f.down, "down", "", "faults on the bytes coming back to the client (SPEC; empty = none)")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the faults' random choices")
	fl.StringVar(&f.api, "api", "", "serve the fault API on this address, e.g. 127.0.0.1:9501 (empty = off; no host = loopback; an address beyond loopback is allowed, with a warning)")
	fl.StringVar(&f.config, "config", "", "create the proxies of this JSON file at start, in toxiproxy's format: [{\"name\":...,\"listen\":...,\"upstream\":...}]")
	fl.DurationVar(&f.dialTimeout, "dial-timeout", faults.DefaultDialTimeout, "time allowed for each connection to the upstream; 0 means the default")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 5*time.Second, "on SIGINT, SIGTERM or SIGHUP, how long open connections may go on before they are closed")
	return cmd
}

// proxyConfig checks the flags and returns the proxy's configuration and
// the API address ("" for none). The proxy logs each connection it cannot
// relay to stderr, one "poolside: " line each, like the command's other
// lines. Every error is a usage error that names the flag; nothing has
// been bound yet.
func proxyConfig(f proxyFlags, stderr io.Writer) (faults.Config, string, error) {
	if err := checkAddr("--listen", f.listen, defaultProxyListen, listening); err != nil {
		return faults.Config{}, "", err
	}
	if err := checkAddr("--upstream", f.upstream, defaultProxyUpstream, dialling); err != nil {
		return faults.Config{}, "", err
	}
	up, err := proxySpec("--up", f.up)
	if err != nil {
		return faults.Config{}, "", err
	}
	down, err := proxySpec("--down", f.down)
	if err != nil {
		return faults.Config{}, "", err
	}
	if f.dialTimeout < 0 {
		return faults.Config{}, "", usageError(fmt.Errorf("--dial-timeout must not be negative, got %v (0 means %v)", f.dialTimeout, faults.DefaultDialTimeout))
	}
	if f.drainTimeout < 0 {
		return faults.Config{}, "", usageError(fmt.Errorf("--drain-timeout must not be negative, got %v", f.drainTimeout))
	}
	cfg := faults.Config{
		Listen: f.listen, Upstream: f.upstream, Up: up, Down: down, Seed: f.seed, DialTimeout: f.dialTimeout,
		ErrorLog: log.New(stderr, "poolside: ", 0),
	}
	if err := cfg.Validate(); err != nil {
		// The checks above refuse everything Validate does; this is a
		// safety net should faults.Config learn a new rule.
		return faults.Config{}, "", usageError(fmt.Errorf("bad flag value: %w", err))
	}
	api := f.api
	if api != "" {
		if err := checkAddr("--api", api, "127.0.0.1:9501", listening); err != nil {
			return faults.Config{}, "", err
		}
		if host, port, _ := net.SplitHostPort(api); host == "" {
			api = net.JoinHostPort("127.0.0.1", port)
		}
	}
	return cfg, api, nil
}

// proxySpec parses spec, the value of flag (--up or --down), with
// faults.ParseProxySpec. Its errors are usage errors that name the flag
// and offer only what the proxy accepts; they wrap faults.ErrBadSpec.
func proxySpec(flag, spec string) ([]faults.Fault, error) {
	fs, err := faults.ParseProxySpec(flag, spec)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), faults.ErrBadSpec.Error()+": ")
		return nil, usageError(&specError{msg: fmt.Sprintf("%s %q: %s", flag, spec, msg), err: err})
	}
	return fs, nil
}

// kib returns n bytes in KiB, such as "32 KiB".
func kib(n int) string { return fmt.Sprintf("%d KiB", n>>10) }

// specError is a fault spec error reworded for the proxy's flags.
type specError struct {
	msg string
	err error // the error it rewords
}

func (e *specError) Error() string { return e.msg }
func (e *specError) Unwrap() error { return e.err }

// listenError is the error of a failure to listen on addr, the value of
// flag: a runtime failure, not a usage error, since the address was well
// formed.
func listenError(flag, addr string, err error) error {
	reason := err
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		reason = op.Err // "bind: address already in use", without the repeated address
	}
	hint := "choose another address for " + flag
	if errors.Is(err, syscall.EADDRINUSE) {
		hint = "another program is listening there: stop it or " + hint
	}
	return fmt.Errorf("cannot listen on %s %s: %w (%s)", flag, addr, reason, hint)
}

func runProxy(ctx context.Context, f proxyFlags, stdout, stderr io.Writer) error {
	cfg, apiAddr, err := proxyConfig(f, stderr)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "poolside: ", 0)
	hub := newHub(f, stderr)
	defer hub.Close()
	var p *faults.Proxy
	if !f.hubOnly {
		// Faults that nothing can change let the fastest relay carry the
		// links with none.
		cfg.Fixed = apiAddr == ""
		if p, err = faults.NewProxy(cfg); err != nil {
			return usageError(fmt.Errorf("bad flag value: %w", err))
		}
		// Bind every address before printing anything: a script that
		// waits for the lines below sees the exit instead.
		if err := p.Start(); err != nil {
			return listenError("--listen", f.listen, err)
		}
	}
	closeProxy := func() {
		if p != nil {
			_ = p.Close()
		}
	}
	if f.config != "" {
		if err := loadProxyConfig(hub, f.config); err != nil {
			closeProxy()
			return err
		}
	}
	var apiLn net.Listener
	if apiAddr != "" {
		apiLn, err = net.Listen("tcp", apiAddr)
		if err != nil {
			closeProxy()
			return listenError("--api", f.api, err)
		}
	}
	if p != nil {
		fmt.Fprintf(stdout, "poolside: proxying %s -> %s\n", p.Addr(), cfg.Upstream)
	}
	stopAPI := func() {}
	if apiLn != nil {
		stopAPI = serveProxyAPI(apiLn, hub, p, logger, stdout)
		if w := remoteAPIWarning("the fault API", apiLn.Addr()); w != "" {
			fmt.Fprintf(stderr, "poolside: %s\n", w)
		}
	}
	if p != nil {
		fmt.Fprintf(stderr, "poolside: up faults %q, down faults %q, seed %d\n", faults.FormatSpec(cfg.Up), faults.FormatSpec(cfg.Down), cfg.Seed)
	}
	for _, info := range hub.List() {
		fmt.Fprintf(stderr, "poolside: proxy %q: %s -> %s%s\n", info.Name, info.Listen, info.Upstream, map[bool]string{true: "", false: " (disabled)"}[info.Enabled])
	}

	<-ctx.Done()
	stopAPI()
	_ = hub.Close()
	for _, st := range hub.Stats() {
		fmt.Fprintf(stderr, "poolside: proxy %q stopped: %s accepted, %s failed\n", st.Name, textfmt.Count(int(st.Accepted), "connection"), textfmt.Count(int(st.DialErrors), "upstream dial"))
	}
	if p == nil {
		return nil
	}
	dctx, cancel := context.WithTimeout(context.Background(), f.drainTimeout)
	defer cancel()
	err = p.Shutdown(dctx)
	if errors.Is(err, context.DeadlineExceeded) {
		open := p.Stats().Active
		them := "them"
		if open == 1 {
			them = "it"
		}
		fmt.Fprintf(stderr, "poolside: %s still open after %v; closing %s\n", textfmt.Count(int(open), "connection"), f.drainTimeout, them)
		err = p.Close()
	}
	st := p.Stats()
	fmt.Fprintf(stderr, "poolside: proxy stopped: %s accepted, %s failed\n", textfmt.Count(int(st.Accepted), "connection"), textfmt.Count(int(st.DialErrors), "upstream dial"))
	if err != nil {
		return fmt.Errorf("the proxy stopped: %w", err)
	}
	return nil
}

// serveProxyAPI serves proxyAPI on ln until the returned function is
// called, and prints its URLs. On a loopback ln it answers only requests
// to loopback names; beyond loopback, where the user has chosen to serve
// other machines, requests to any name.
func serveProxyAPI(ln net.Listener, hub *faults.Hub, p *faults.Proxy, logger *log.Logger, stdout io.Writer) (stop func()) {
	h := proxyAPI(hub, p, !isLoopbackAddr(ln.Addr()), logger)
	hs, ln := newHTTPServer(ln, h, 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(ln) // http.ErrServerClosed after Shutdown
	}()
	if p != nil {
		fmt.Fprintf(stdout, "poolside: fault API on http://%s/faults\n", ln.Addr())
	}
	fmt.Fprintf(stdout, "poolside: toxiproxy API on http://%s (toxiproxy-cli --host http://%s; metrics on /metrics)\n", ln.Addr(), ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
	}
}
