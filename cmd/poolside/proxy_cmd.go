package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolside-dev/poolside/faults"
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
	dialTimeout  time.Duration
	drainTimeout time.Duration
}

// faultHelp says what each fault of a spec does, by its key. A key
// faults.SpecSyntax names that is missing here is listed without a note.
var faultHelp = map[string]string{
	"delay":     "wait DURATION before every write",
	"rate":      "pace the bytes to BYTES_PER_SEC",
	"chunk":     "write in pieces of at most MAX bytes (MIN..MAX: seeded random sizes)",
	"stall":     "pause for DURATION on reaching byte AT",
	"cut":       "close the connection (FIN) after AT bytes",
	"reset":     "reset the connection (RST) after AT bytes",
	"blackhole": "let AT bytes through (default 0), then drop everything",
	"corrupt":   "flip the bits of byte AT (XOR with MASK, default 0xff)",
	"short":     "fail the write that reaches byte AT (the connection drops)",
}

// specHelp lists the fault tokens of faults.SpecSyntax, one a line, each
// with what it does.
func specHelp() string {
	tokens, _, _ := strings.Cut(faults.SpecSyntax, ";")
	var b strings.Builder
	for _, tok := range strings.Split(tokens, ", ") {
		tok = strings.TrimSpace(tok)
		key, _, _ := strings.Cut(tok, "=")
		key, _, _ = strings.Cut(key, " ")
		fmt.Fprintf(&b, "  %-34s %s\n", tok, faultHelp[key])
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
` + specHelp() + `
(--up and --down already name the direction, so the read: and write:
prefixes are not accepted.) Every random choice comes from --seed, and every
connection replays the same choices, so a run can be repeated exactly.

--api ADDR serves the faults as JSON on http://ADDR/faults, so that a script
can change them between steps; changes apply to new connections:
  GET    /faults   {"up":"chunk=1","down":"cut=100","seed":7}
  PUT    /faults   body {"up":"...","down":"..."} sets both (missing = none)
  DELETE /faults   clears both
An ADDR without a host (":9501") listens on loopback only.

The first line on standard output is "poolside: proxying ADDR -> UPSTREAM"
with the address actually bound (useful with --listen 127.0.0.1:0); with
--api, the second is "poolside: fault API on http://ADDR/faults".
SIGINT or SIGTERM stops accepting, lets open connections finish for
--drain-timeout, closes the rest and exits 0.`,
		Example: `  poolside proxy --upstream 127.0.0.1:9407 --down chunk=1,delay=1ms --seed 7
  poolside proxy --listen 127.0.0.1:9500 --up cut=100 --api 127.0.0.1:9501
  curl -s -X PUT -d '{"down":"reset=50"}' http://127.0.0.1:9501/faults`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runProxy(cmd.Context(), f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", defaultProxyListen, "TCP address to accept clients on (port 0 picks a free one)")
	fl.StringVar(&f.upstream, "upstream", defaultProxyUpstream, "address of the server to relay to, host:port")
	fl.StringVar(&f.up, "up", "", "faults on the bytes going to the server (SPEC; empty = none)")
	fl.StringVar(&f.down, "down", "", "faults on the bytes coming back to the client (SPEC; empty = none)")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the faults' random choices")
	fl.StringVar(&f.api, "api", "", "serve the fault API on this address, e.g. 127.0.0.1:9501 (empty = off; no host = loopback)")
	fl.DurationVar(&f.dialTimeout, "dial-timeout", faults.DefaultDialTimeout, "time allowed for connecting to the upstream")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 5*time.Second, "on SIGINT/SIGTERM, how long open connections may go on before they are closed")
	return cmd
}

// proxyConfig checks the flags and returns the proxy's configuration and
// the API address ("" for none).
func proxyConfig(f proxyFlags) (faults.Config, string, error) {
	up, err := faults.ParseSpec(f.up)
	if err != nil {
		return faults.Config{}, "", usageError(fmt.Errorf("--up %q: %w", f.up, err))
	}
	down, err := faults.ParseSpec(f.down)
	if err != nil {
		return faults.Config{}, "", usageError(fmt.Errorf("--down %q: %w", f.down, err))
	}
	if f.drainTimeout < 0 {
		return faults.Config{}, "", usageError(fmt.Errorf("--drain-timeout must not be negative, got %v", f.drainTimeout))
	}
	cfg := faults.Config{Listen: f.listen, Upstream: f.upstream, Up: up, Down: down, Seed: f.seed, DialTimeout: f.dialTimeout}
	if err := cfg.Validate(); err != nil {
		return faults.Config{}, "", usageError(fmt.Errorf("bad flag value: %w", err))
	}
	api := f.api
	if api != "" {
		host, port, err := net.SplitHostPort(api)
		if err != nil {
			return faults.Config{}, "", usageError(fmt.Errorf("--api %q is not host:port, for example 127.0.0.1:9501", api))
		}
		if host == "" {
			api = net.JoinHostPort("127.0.0.1", port)
		}
	}
	return cfg, api, nil
}

func runProxy(ctx context.Context, f proxyFlags, stdout, stderr io.Writer) error {
	cfg, apiAddr, err := proxyConfig(f)
	if err != nil {
		return err
	}
	p, err := faults.NewProxy(cfg)
	if err != nil {
		return usageError(err)
	}
	if err := p.Start(); err != nil {
		return fmt.Errorf("cannot listen on --listen %s: %w", f.listen, err)
	}
	fmt.Fprintf(stdout, "poolside: proxying %s -> %s\n", p.Addr(), cfg.Upstream)

	stopAPI := func() {}
	if apiAddr != "" {
		stopAPI, err = serveFaultAPI(apiAddr, p, stdout)
		if err != nil {
			_ = p.Close()
			return err
		}
	}
	fmt.Fprintf(stderr, "poolside: up faults %q, down faults %q, seed %d\n", faults.FormatSpec(cfg.Up), faults.FormatSpec(cfg.Down), cfg.Seed)

	<-ctx.Done()
	stopAPI()
	dctx, cancel := context.WithTimeout(context.Background(), f.drainTimeout)
	defer cancel()
	err = p.Shutdown(dctx)
	if errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(stderr, "poolside: %d connections still open after %v; closing them\n", p.Stats().Active, f.drainTimeout)
		err = p.Close()
	}
	st := p.Stats()
	fmt.Fprintf(stderr, "poolside: proxy stopped: %d connections relayed, %d upstream dials failed\n", st.Accepted, st.DialErrors)
	if err != nil {
		return fmt.Errorf("the proxy stopped: %w", err)
	}
	return nil
}

// serveFaultAPI serves faults.NewAPI(p) on addr until the returned function
// is called, and prints the API's URL.
func serveFaultAPI(addr string, p *faults.Proxy, stdout io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on --api %s: %w", addr, err)
	}
	hs := &http.Server{Handler: faults.NewAPI(p), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(ln) // http.ErrServerClosed after Shutdown
	}()
	fmt.Fprintf(stdout, "poolside: fault API on http://%s/faults\n", ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
	}, nil
}
