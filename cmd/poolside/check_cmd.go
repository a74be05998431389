package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolside-dev/poolside/check"
	"github.com/poolside-dev/poolside/wire"
)

func init() { subcommands = append(subcommands, newCheckCmd) }

// checkFlags are the flags of "poolside check".
type checkFlags struct {
	addr         string
	clients      int
	ops          int
	duration     time.Duration
	dates        int
	perDate      int
	rooms        int
	seed         uint64
	firstDate    string
	timeout      time.Duration
	checkTimeout time.Duration
	htmlFile     string
	jsonFile     string
	serve        string
	db           string
	dbRestart    string
	instances    int
	nemesis      string
	every        time.Duration
	hold         time.Duration
}

func newCheckCmd(stdout, stderr io.Writer) *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check --addr HOST:PORT[,HOST:PORT...]",
		Short: "Check that a Building Services deployment loses and doubles nothing: a recorded history and a linearizability checker",
		Long: `Check a running Building Services deployment (one server, or several behind
one database) the way Jepsen and etcd check theirs. Concurrent clients run a
seeded workload: a few contended dates at a time (--dates), about --per-date
operations on each (BOOK and UNBOOK of --rooms rooms, so that the 5-per-date
limit and duplicates are hit, and BOOKINGSONDATE), then fresh dates. Every
operation's call and return are recorded on one clock, and each is classified:
ok (the answer says what happened), fail (certainly no effect: busy, "not
saved", never sent) or info (in doubt: the request went out and no answer
came, or the server said "in doubt"; it may take effect at any time after it
was sent, or never). The run ends with settling reads over fresh connections:
BOOKINGSONDATE of every date on every server, BOOKINGSFORROOM of every room.

The checker (porcupine) then asks whether some order of the operations, each
taking effect at one instant between its call and its return, explains every
answer under the rules: at most 5 rooms a date, no room twice, UNBOOK only of
what is there, BOOKINGSONDATE equal to the set. Dates are checked apart.
BOOKINGSFORROOM is checked against the settled state.

Only dates that hold no booking when the run starts are used, from
--first-date on (default: 30 to 329 days from today, chosen by --seed, so
that checks with other seeds at the same time use other dates), and the run
unbooks what it leaves booked once it has read the settled state: the
deployment is left as it was found. A date that cannot be read at the end,
on any server, fails the check: nothing can be said of it.

Output: the verdict and the counts (acknowledged, lost, unexpected,
duplicated, recovered in doubt, dates over the limit), and anything wrong.
--html writes porcupine's timeline of the history (it opens in a browser);
a failing run always writes it, to a temporary file if --html is not given,
and prints the command line that replays the same workload.

With --serve 'COMMAND' check starts the deployment itself: --instances copies
of COMMAND, a shell command in which {addr} is replaced by the loopback
address each instance must listen on and {n} by its number, each behind a
fault proxy check controls. --nemesis then runs a seeded fault schedule while
the workload runs, one fault at a time, each held for --nemesis-hold with
--nemesis-every between them: kill (SIGKILL an instance, start it again),
pause (SIGSTOP, then SIGCONT), cut (cut every client connection of an
instance), reset and stall (new connections reset, or stall, after a few
bytes of reply); with --db HOST:PORT the instances reach the database through
a proxy of check's ({db} in COMMAND), and db-cut and db-stall cut and stall
those links; --db-restart 'COMMAND' adds db-restart. Every fault is on the
timeline. A killed instance must keep what it acknowledged: use a durable
store (bolt, postgres); the memory store forgets everything and fails the
check, as it should.

Exit status: 0 the history is linearizable and nothing is wrong; 1 it is not
(the first operation no order explains is named) or the settled state is
wrong; 2 usage; 3 the servers could not be reached (or started); 4 the
checker ran out of time (--check-timeout: "unknown" is never a pass), or the
nemesis could not inject a fault (the run then checks nothing).`,
		Example: `  poolside check --addr 127.0.0.1:9407
  poolside check --addr 127.0.0.1:9411,127.0.0.1:9412,127.0.0.1:9413 --clients 24 --ops 5000 --html check.html
  poolside check --addr 127.0.0.1:9407 --seed 42 --json check.json
  poolside check --serve 'poolside serve --data /tmp/check-{n}.db --addr {addr}' --instances 1 --nemesis kill,pause,cut
  poolside check --serve "poolside serve --store postgres --db-url $POOLSIDE_DB_URL --addr {addr}" --instances 3`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd, f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "", "the servers to check, HOST:PORT, several separated by commas (client i talks to the i-th, in turn)")
	fl.IntVar(&f.clients, "clients", check.DefaultClients, "concurrent clients, one request in flight each")
	fl.IntVar(&f.ops, "ops", check.DefaultOps, "operations in all")
	fl.DurationVar(&f.duration, "duration", 0, "stop sooner, after this long (0 = when --ops are done); with a nemesis, the operations are spread over this long (0 = 5s)")
	fl.IntVar(&f.dates, "dates", check.DefaultDates, "dates contended at a time")
	fl.IntVar(&f.perDate, "per-date", check.DefaultPerDate, "operations each date takes before fresh dates (40 with a nemesis: operations in doubt make the search costly)")
	fl.IntVar(&f.rooms, "rooms", check.DefaultRooms, "rooms each date is booked with (more than 5, so that dates fill up)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the workload: the same seed sends the same operations")
	fl.StringVar(&f.firstDate, "first-date", "", "first date tried, YYYY-MM-DD (default 30 to 329 days from today, by --seed); dates holding bookings are skipped")
	fl.DurationVar(&f.timeout, "timeout", check.DefaultTimeout, "give up on a request after this long: a BOOK or UNBOOK then is in doubt")
	fl.DurationVar(&f.checkTimeout, "check-timeout", check.DefaultCheckTimeout, "how long the checker may search; past it the verdict is unknown (exit 4)")
	fl.StringVar(&f.htmlFile, "html", "", "write the history's timeline (porcupine's HTML) to this file")
	fl.StringVar(&f.serve, "serve", "", "start the servers: a shell command with {addr} (and {n}, the instance's number), run --instances times, each behind a fault proxy (instead of --addr)")
	fl.IntVar(&f.instances, "instances", 1, "with --serve, how many instances to start")
	fl.StringVar(&f.db, "db", "", "with --serve, the database's HOST:PORT: the instances reach it through a fault proxy whose address replaces {db} in the command, for the db-cut and db-stall faults")
	fl.StringVar(&f.dbRestart, "db-restart", "", "with --serve, a shell command that restarts the database (such as pg_ctl -D DIR -l DIR/log -m immediate -w restart: with -l, so that the database it starts does not hold check's output open), for the db-restart fault")
	fl.StringVar(&f.nemesis, "nemesis", "", "with --serve, the faults to inject while the workload runs, from "+strings.Join(check.FaultKinds, ", ")+", or none (default: all that apply: the db- ones need --db, db-restart needs --db-restart)")
	fl.DurationVar(&f.every, "nemesis-every", time.Second, "with --serve, the time between two faults")
	fl.DurationVar(&f.hold, "nemesis-hold", 300*time.Millisecond, "with --serve, how long each fault lasts")
	fl.StringVar(&f.jsonFile, "json", "", "write the verdict, the counts and the first unexplained operation as JSON to this file")
	return cmd
}

// workload turns the flags into a check.Workload, or a usage error.
func (f checkFlags) workload(cmd *cobra.Command) (check.Workload, error) {
	switch {
	case f.addr == "" && f.serve == "":
		return check.Workload{}, usageError(errors.New("--addr is missing: name the server to check, for example --addr 127.0.0.1:9407, or start it with --serve"))
	case f.addr != "" && f.serve != "":
		return check.Workload{}, usageError(errors.New("--addr checks running servers and --serve starts them: give one of the two"))
	case f.serve != "" && !strings.Contains(f.serve, "{addr}"):
		return check.Workload{}, usageError(fmt.Errorf("--serve %q has no {addr}: write where each instance listens as {addr}, for example --serve 'poolside serve --data /tmp/check-{n}.db --addr {addr}'", f.serve))
	case f.serve != "" && f.instances < 1:
		return check.Workload{}, usageError(fmt.Errorf("--instances is %d: give 1 or more", f.instances))
	case f.serve == "" && (f.db != "" || f.dbRestart != ""):
		return check.Workload{}, usageError(errors.New("--db and --db-restart are for the deployment --serve starts"))
	case f.db != "" && !strings.Contains(f.serve, "{db}"):
		return check.Workload{}, usageError(fmt.Errorf("--db is given, but --serve %q has no {db}: write the database's address in it as {db}, for example --db-url postgres://USER@{db}/DBNAME", f.serve))
	case f.db != "":
		if err := checkAddr("--db", f.db, "127.0.0.1:5432", dialling); err != nil {
			return check.Workload{}, err
		}
	case f.serve != "" && (f.every <= 0 || f.hold <= 0):
		return check.Workload{}, usageError(errors.New("--nemesis-every and --nemesis-hold must be above 0"))
	}
	if _, err := f.nemesisKinds(); err != nil {
		return check.Workload{}, err
	}
	w := check.Workload{Clients: f.clients, Ops: f.ops, Duration: f.duration, Dates: f.dates, PerDate: f.perDate, Rooms: f.rooms, Seed: f.seed, Timeout: f.timeout}
	for _, a := range strings.Split(f.addr, ",") {
		if f.addr == "" {
			break
		}
		a = strings.TrimSpace(a)
		if err := checkAddr("--addr", a, "127.0.0.1:9407", dialling); err != nil {
			return w, err
		}
		w.Addrs = append(w.Addrs, a)
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"--clients", f.clients}, {"--ops", f.ops}, {"--dates", f.dates}, {"--per-date", f.perDate}, {"--rooms", f.rooms}} {
		if n.v < 1 {
			return w, usageError(fmt.Errorf("%s is %d: give 1 or more", n.flag, n.v))
		}
	}
	if f.rooms > len(wire.Rooms()) {
		return w, usageError(fmt.Errorf("--rooms is %d: there are only %d rooms", f.rooms, len(wire.Rooms())))
	}
	if f.timeout <= 0 || f.checkTimeout <= 0 || f.duration < 0 {
		return w, usageError(errors.New("--timeout and --check-timeout must be above 0, and --duration 0 or more"))
	}
	if f.firstDate != "" {
		t, err := time.Parse(time.DateOnly, f.firstDate)
		if err != nil {
			return w, usageError(fmt.Errorf("--first-date %q: want YYYY-MM-DD, such as 2028-12-01", f.firstDate))
		}
		w.FirstDate = wire.FromTime(t)
	}
	if err := checkOutputs(cmd, outputFlag{"--html", f.htmlFile}, outputFlag{"--json", f.jsonFile}); err != nil {
		return w, err
	}
	return w, nil
}

func runCheck(cmd *cobra.Command, f checkFlags, stdout, stderr io.Writer) error {
	ctx := cmd.Context()
	stderr = &syncWriter{w: stderr} // the servers --serve starts write there too
	w, err := f.workload(cmd)
	if err != nil {
		return err
	}
	var nemesisErr error // set once the nemesis has stopped
	if f.serve != "" {
		d, err := check.StartDeployment(ctx, check.DeploymentConfig{Command: f.serve, Instances: f.instances, DB: f.db, DBRestart: f.dbRestart, Logs: stderr})
		if err != nil {
			return &exitError{code: exitNetwork, err: &messageError{msg: "could not start the servers: " + strings.TrimPrefix(err.Error(), "check: "), err: err}}
		}
		defer d.Close()
		w.Addrs = d.Addrs()
		if kinds, _ := f.nemesisKinds(); len(kinds) > 0 {
			// Spread the operations over the run, so that the nemesis
			// has time to act: --duration, or 5 s.
			run := f.duration
			if run == 0 {
				run = defaultNemesisRun
			}
			w.Duration = 0
			w.Pace = run * time.Duration(w.Clients) / time.Duration(w.Ops)
			if !cmd.Flags().Changed("per-date") {
				// Operations in doubt may take effect at any time after
				// their call, which makes the search grow fast with them:
				// keep each date's share of the history small.
				w.PerDate = nemesisPerDate
			}
		}
		stop := f.startNemesis(ctx, d, &w, &nemesisErr)
		defer stop()
	}
	fmt.Fprintf(stderr, "poolside check: %d operations by %d clients against %s (seed %d)...\n", w.Ops, w.Clients, strings.Join(w.Addrs, ", "), w.Seed)
	h, rep, err := check.Run(ctx, w)
	switch {
	case errors.Is(err, check.ErrUnreachable):
		return &exitError{code: exitNetwork, err: &messageError{msg: "could not reach the servers: " + netReason(err) + " — are they running, and is --addr right?", err: err}}
	case err != nil:
		return &exitError{code: exitInternal, err: err}
	}
	if ctx.Err() != nil {
		return &exitError{code: exitInternal, err: &messageError{msg: "interrupted: the history is incomplete, and was not checked", err: ctx.Err()}}
	}
	if w.BeforeSettle != nil {
		w.BeforeSettle() // the nemesis has stopped: nemesisErr is set
	}
	if nemesisErr != nil {
		return &exitError{code: exitInternal, err: &messageError{msg: strings.TrimPrefix(nemesisErr.Error(), "check: ") + ": the faults it was to inject did not all happen, so the run checks nothing; see the servers' output above", err: nemesisErr}}
	}
	res := check.Check(h, check.Options{Timeout: f.checkTimeout})
	writeCheckReport(stdout, res, rep)

	htmlFile := f.htmlFile
	if htmlFile == "" && !res.OK() {
		htmlFile = filepath.Join(os.TempDir(), fmt.Sprintf("poolside-check-%d-%s.html", f.seed, time.Now().Format("20060102-150405")))
	}
	werr := writeOutputs(stderr,
		output{htmlFile, res.WriteHTML},
		output{f.jsonFile, func(w io.Writer) error { return writeCheckJSON(w, f, res, rep) }},
	)
	if htmlFile != "" && werr == nil {
		fmt.Fprintf(stdout, "timeline: %s\n", htmlFile)
	}
	switch {
	case res.Verdict == check.Unknown:
		return errors.Join(&exitError{code: exitInternal, err: fmt.Errorf("the checker ran out of time (--check-timeout %v) on %d operations: the verdict is unknown, which is not a pass; give it longer, or check fewer operations (--ops)", f.checkTimeout, res.Checked)}, werr)
	case !res.OK():
		fmt.Fprintf(stdout, "replay: %s\n", f.replay())
		return errors.Join(&exitError{code: exitRefused, err: errors.New("the deployment failed the check (see above)")}, werr)
	}
	return werr
}

// defaultNemesisRun is how long a run with a nemesis lasts when
// --duration is not given.
const defaultNemesisRun = 5 * time.Second

// nemesisPerDate is --per-date's default with a nemesis.
const nemesisPerDate = 40

// nemesisKinds returns the faults --nemesis names, or those that apply.
func (f checkFlags) nemesisKinds() ([]string, error) {
	switch f.nemesis {
	case "none":
		return nil, nil
	case "":
		kinds := slices.Clone(check.ServerFaultKinds)
		if f.db != "" {
			kinds = append(kinds, check.FaultDBCut, check.FaultDBStall)
		}
		if f.dbRestart != "" {
			kinds = append(kinds, check.FaultDBRestart)
		}
		return kinds, nil
	}
	var kinds []string
	for _, k := range strings.Split(f.nemesis, ",") {
		k = strings.TrimSpace(k)
		if !slices.Contains(check.FaultKinds, k) {
			return nil, usageError(fmt.Errorf("--nemesis %q: %q is not a fault; choose from %s, or none", f.nemesis, k, strings.Join(check.FaultKinds, ", ")))
		}
		switch {
		case (k == check.FaultDBCut || k == check.FaultDBStall) && f.db == "":
			return nil, usageError(fmt.Errorf("--nemesis %s needs --db, the database's address, so that the instances reach it through check's proxy", k))
		case k == check.FaultDBRestart && f.dbRestart == "":
			return nil, usageError(errors.New("--nemesis db-restart needs --db-restart, the command that restarts the database"))
		}
		kinds = append(kinds, k)
	}
	return kinds, nil
}

// startNemesis arranges for the fault schedule to run on d while w's
// operations run: from w.OnStart (once the dates are chosen) until
// w.BeforeSettle, which stops and heals it before the settling reads; the
// function it returns stops it too. Once it has stopped, *failed holds
// its error, if any.
func (f checkFlags) startNemesis(ctx context.Context, d *check.Deployment, w *check.Workload, failed *error) (stop func()) {
	kinds, _ := f.nemesisKinds()
	w.Recorder = check.NewRecorder()
	if len(kinds) == 0 {
		return func() {}
	}
	nctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var started, stopped sync.Once
	w.OnStart = func() {
		started.Do(func() {
			go func() {
				defer close(done)
				*failed = check.Nemesis{Kinds: kinds, Seed: f.seed, Every: f.every, Hold: f.hold}.Run(nctx, d, w.Recorder)
			}()
		})
	}
	stop = func() {
		stopped.Do(func() {
			cancel()
			started.Do(func() { close(done) }) // never started
			<-done
		})
	}
	w.BeforeSettle = stop
	return stop
}

// writeCheckReport prints the verdict, the counts and what is wrong.
func writeCheckReport(w io.Writer, res *check.Result, rep check.Report) {
	c := res.Counts
	fmt.Fprintf(w, "verdict: %s\n", res.Verdict)
	if res.Op != nil {
		fmt.Fprintf(w, "  no order of the operations on %s explains %s\n", res.Date, res.Op)
	}
	fmt.Fprintf(w, "history: %d operations (%d ok, %d fail, %d in doubt) on %d dates; %d checked in %v\n",
		c.Ops, c.OK, c.Fail, c.Info, len(rep.Dates), res.Checked, res.Took.Round(time.Millisecond))
	fmt.Fprintf(w, "bookings: %d acknowledged, %d lost, %d unexpected, %d duplicated, %d of %d in doubt recovered, %d dates over the limit\n",
		c.Acknowledged, c.Lost, c.Unexpected, c.Duplicated, c.RecoveredInDoubt, c.InDoubt, c.OverLimit)
	for _, a := range res.Anomalies {
		fmt.Fprintf(w, "  wrong: %s\n", a)
	}
	if rep.Skipped > 0 {
		fmt.Fprintf(w, "skipped %d dates that held bookings already\n", rep.Skipped)
	}
	fmt.Fprintf(w, "clean-up: unbooked the %d bookings the run left", rep.CleanedUp)
	if rep.Left > 0 {
		fmt.Fprintf(w, "; could not unbook %d (they are on the dates above)", rep.Left)
	}
	fmt.Fprintln(w)
}

// replay is the command line that runs the same workload again.
func (f checkFlags) replay() string {
	args := []string{"poolside", "check", "--addr", f.addr, "--seed", strconv.FormatUint(f.seed, 10),
		"--clients", strconv.Itoa(f.clients), "--ops", strconv.Itoa(f.ops), "--dates", strconv.Itoa(f.dates),
		"--per-date", strconv.Itoa(f.perDate), "--rooms", strconv.Itoa(f.rooms)}
	if f.firstDate != "" {
		args = append(args, "--first-date", f.firstDate)
	}
	if f.serve != "" {
		kinds, _ := f.nemesisKinds()
		nem := strings.Join(kinds, ",")
		if nem == "" {
			nem = "none"
		}
		serve := []string{"--serve", strconv.Quote(f.serve), "--instances", strconv.Itoa(f.instances),
			"--nemesis", nem, "--nemesis-every", f.every.String(), "--nemesis-hold", f.hold.String()}
		if f.db != "" {
			serve = append(serve, "--db", f.db)
		}
		if f.dbRestart != "" {
			serve = append(serve, "--db-restart", strconv.Quote(f.dbRestart))
		}
		args = append(args[:2], append(serve, args[4:]...)...)
	}
	if f.duration > 0 {
		args = append(args, "--duration", f.duration.String())
	}
	return strings.Join(args, " ")
}

// writeCheckJSON writes the check's outcome as JSON.
func writeCheckJSON(w io.Writer, f checkFlags, res *check.Result, rep check.Report) error {
	type jsonOp struct {
		ID     int    `json:"id"`
		Client int    `json:"client"`
		Server string `json:"server"`
		Text   string `json:"text"`
	}
	out := struct {
		Verdict   string       `json:"verdict"`
		OK        bool         `json:"ok"`
		Addrs     []string     `json:"addrs"`
		Seed      uint64       `json:"seed"`
		Counts    check.Counts `json:"counts"`
		Anomalies []string     `json:"anomalies"`
		Date      string       `json:"unexplained_date,omitempty"`
		Op        *jsonOp      `json:"unexplained_op,omitempty"`
		Checked   int          `json:"checked_ops"`
		CheckMS   float64      `json:"check_ms"`
		Dates     int          `json:"dates"`
		CleanedUp int          `json:"cleaned_up"`
		Left      int          `json:"left"`
	}{
		Verdict: string(res.Verdict), OK: res.OK(), Addrs: strings.Split(f.addr, ","), Seed: f.seed, Counts: res.Counts,
		Anomalies: append([]string{}, res.Anomalies...), Checked: res.Checked, CheckMS: float64(res.Took) / float64(time.Millisecond),
		Dates: len(rep.Dates), CleanedUp: rep.CleanedUp, Left: rep.Left,
	}
	if res.Op != nil {
		out.Date = res.Date.String()
		out.Op = &jsonOp{ID: res.Op.ID, Client: res.Op.Client, Server: res.Op.Server, Text: res.Op.String()}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
