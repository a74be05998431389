// Command poolside serves, loads, tunes and breaks the Building Services
// room-booking protocol. Run "poolside --help" for the subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit statuses. They are part of the CLI's contract: scripts test them.
const (
	exitOK       = 0
	exitRefused  = 1 // the server answered with an ERROR reply
	exitUsage    = 2 // bad flags or arguments; nothing was sent
	exitNetwork  = 3 // connection, timeout or truncated reply
	exitInternal = 4 // anything else (a store that will not open, a failed or interrupted bench, tune with no recommendation)
	exitDamaged  = 5 // the booking database is damaged: serve refuses to start on it, db check found damage
	exitGate     = 6 // bench, tune or report ran well, but a --fail-on threshold failed
	exitDoubt    = 7 // tune --strict: the run was contended, or throughput still rose at the search's cap
)

// exitError carries an exit status with the error that caused it.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks err as a usage error (exit status 2).
func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

// usagef is a usage error of cmd: the message, formatted as by
// fmt.Errorf, and where to read more.
func usagef(cmd *cobra.Command, format string, a ...any) error {
	return usageError(fmt.Errorf(format+" (see '%s --help')", append(a, cmd.CommandPath())...))
}

// exitCode maps an error returned by run to the process exit status.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitInternal
}

func main() {
	ctx, stop := signalContext(context.Background(), stopSignals()...)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "poolside:", err)
	}
	os.Exit(exitCode(err))
}

// stopSignals are the signals that stop a command: SIGINT, SIGTERM and
// SIGHUP (a closed terminal or a supervisor's "stop"), which serve and
// proxy take as a drain. SIGHUP is left out when it was ignored at start
// (nohup), so that such a server keeps running when its terminal closes.
func stopSignals() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

// surviveClosedOutput keeps a long-running command (serve, proxy) alive
// when whatever reads its standard output or error goes away (the tee of
// "serve 2>&1 | tee log" stopped, a log shipper restarting): Go's default
// is to die of SIGPIPE on the next write to them. With SIGPIPE ignored
// such a write fails with EPIPE instead, and the logger drops the line.
func surviveClosedOutput() { signal.Ignore(syscall.SIGPIPE) }

// signalContext returns a copy of parent that is cancelled when the
// process receives one of sigs (or stop is called). Only the first signal
// is caught: by the time the context is cancelled the signals have their
// default effect again, so a second one, such as a second Ctrl-C during a
// long drain, ends the process at once. A signal that was ignored when
// the process started (SIGINT for a shell's background job) would be
// ignored again instead, so a second one of those is caught and ends the
// process with the status a kill by it gives (128 + its number). stop
// releases the signals too.
func signalContext(parent context.Context, sigs ...os.Signal) (ctx context.Context, stop context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	var ignored []os.Signal
	for _, sig := range sigs {
		if signal.Ignored(sig) {
			ignored = append(ignored, sig)
		}
	}
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, sigs...)
	stopped := make(chan struct{})
	released := make(chan struct{})
	go func() {
		defer close(released)
		select {
		case <-caught:
		case <-ctx.Done(): // stop, or parent's end
			signal.Stop(caught)
			return
		}
		again := make(chan os.Signal, 1)
		if len(ignored) > 0 {
			signal.Notify(again, ignored...) // before Stop, so that none is missed
		}
		signal.Stop(caught) // before cancel, so a second signal is never swallowed
		cancel()
		if len(ignored) == 0 {
			return
		}
		select {
		case sig := <-again:
			n, _ := sig.(syscall.Signal)
			os.Exit(128 + int(n))
		case <-stopped:
			signal.Stop(again)
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() { close(stopped) })
		cancel()
		<-released
	}
}

// run is the whole program, callable from tests: it parses args, runs the
// subcommand and returns its error. It writes only to stdout and stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "poolside",
		Short: "A worker-pool TCP server for the Building Services booking protocol, with its client, benchmarks and fault injection",
		Long: `poolside serves the "Building Services" room-booking protocol (length-prefixed
QDataStream blocks on TCP port 9407) from a bounded worker pool, and comes with
the tools to compare concurrency models, test robustness and tune the pool size.

  poolside serve                  run the server (pooled, durable store ./poolside.db;
                                  --store postgres for several instances on one database)
  poolside book 312 2028-12-01    book a room as the book's client would
  poolside bench                  compare single-threaded and pooled throughput
  poolside tune                   find the pool size for a load and a latency objective
  poolside proxy                  put a fault-injecting proxy in front of a server
  poolside check --addr A[,B]     check a deployment loses and doubles nothing (linearizability)
  poolside db check FILE          check a booking database file

Exit status: 0 success, 1 the server refused, 2 usage error, 3 connection,
timeout or truncated reply, 4 anything else, 5 the booking database is
damaged, 6 a --fail-on threshold of bench, tune or report failed, 7 tune
--strict found the recommendation in doubt (see each command's --help).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return cmd.Help()
		},
	}
	root.SetFlagErrorFunc(flagError)    // inherited by every subcommand
	root.SuggestionsMinimumDistance = 2 // for unknownCommand: cobra sets it only for its own message
	for _, add := range subcommands {
		root.AddCommand(add(stdout, stderr))
	}
	return root
}

// subcommands lists the constructors of poolside's subcommands; each file
// that defines one appends to it in an init function.
var subcommands []func(stdout, stderr io.Writer) *cobra.Command

// usageArgs wraps a cobra argument validator so that its errors are usage
// errors (exit status 2).
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageError(fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath()))
		}
		return nil
	}
}

// flagError is the usage error for err, a failure to parse cmd's flags. It
// says where to read more and, when an unknown flag is close to real ones,
// names them: "unknown flag: --admin-addr; did you mean --admin? (see
// 'poolside tune --help')". A group of shorthands written for a long flag,
// such as -addr, counts as that long flag.
func flagError(cmd *cobra.Command, err error) error {
	if !cmd.HasParent() && cmd.Flags().NArg() > 0 {
		// "poolside booking --date D": the flags were parsed for the root
		// because booking is no command; that is the mistake to report.
		return unknownCommand(cmd, cmd.Flags().Arg(0))
	}
	hint := ""
	var ne *pflag.NotExistError
	if errors.As(err, &ne) {
		typed := ne.GetSpecifiedName()
		if group := ne.GetSpecifiedShortnames(); len(group) > 1 {
			typed, _, _ = strings.Cut(group, "=")
		}
		var names []string
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden && f.Deprecated == "" {
				names = append(names, f.Name)
			}
		})
		if s := suggestFlags(typed, names); len(s) > 0 {
			hint = "; did you mean --" + strings.Join(s, " or --") + "?"
		}
	}
	return usageError(fmt.Errorf("%w%s (see '%s --help')", err, hint, cmd.CommandPath()))
}

// unknownCommand is the usage error for name, which is not one of root's
// commands, with the commands it was most likely meant to be.
func unknownCommand(root *cobra.Command, name string) error {
	for _, c := range root.Commands() {
		if c.Name() == name {
			// Only "poolside -- book ..." gets here with a real command.
			return usageError(fmt.Errorf("%q is a command, but it came after \"--\", which makes it an argument: drop the \"--\"", name))
		}
	}
	hint := ""
	if s := root.SuggestionsFor(name); len(s) > 0 {
		hint = "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError(fmt.Errorf("unknown command %q%s (see 'poolside --help')", name, hint))
}

// suggestFlags returns the names, sorted, that typed (an unknown flag name,
// without dashes) was most likely meant to be: those fewest edits away
// among the names within two edits (one for a name of three letters), that
// start with typed, or that typed starts with. Case does not matter, and a
// name of fewer than three letters is too short to guess from.
func suggestFlags(typed string, names []string) []string {
	typed = strings.ToLower(typed)
	if len(typed) < 3 {
		return nil
	}
	maxEdits := 2
	if len(typed) == 3 {
		maxEdits = 1
	}
	var best []string
	bestEdits := -1
	for _, name := range names {
		n := strings.ToLower(name)
		d := editDistance(typed, n)
		if d > maxEdits && !strings.HasPrefix(n, typed) && !(len(n) >= 3 && strings.HasPrefix(typed, n)) {
			continue
		}
		switch {
		case bestEdits < 0 || d < bestEdits:
			best, bestEdits = []string{name}, d
		case d == bestEdits:
			best = append(best, name)
		}
	}
	slices.Sort(best)
	return best
}

// editDistance is the Levenshtein distance between a and b: the fewest
// runes inserted, deleted or replaced to turn one into the other.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev, cur := make([]int, len(rb)+1), make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
