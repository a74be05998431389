package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/poolside-dev/poolside/benchmarks/compare"
)

func init() { subcommands = append(subcommands, newReportCmd) }

// reportFlags are the flags of "poolside report".
type reportFlags struct {
	jsonFile  string
	csvFile   string
	chartFile string
	hgrmDir   string
	failOn    []string
}

func newReportCmd(stdout, stderr io.Writer) *cobra.Command {
	var f reportFlags
	cmd := &cobra.Command{
		Use:   "report FILE...",
		Short: "One table from bench JSON files, merging the runs of several load machines",
		Long: `Print the table and the notes of one or more 'poolside bench --json' files.

Given several files, such as those of runs made at the same time from several
load machines against one server (or one load balancer), report adds them up:
for each model run with the same configuration, the request, error, starved
and not-sent counts, the req/s and the clients are summed, and the latency
percentiles are read from the sum of the runs' latency histograms (the
HdrHistogram each file carries), never averaged. A model whose configuration
differs between files (the duration, the mix, the server's work, the store,
connections per request, open or closed loop) keeps a row of its own, named
after its file. The notes list each file with its machine and start, and flag
a machine whose open loop fell behind its schedule (less than 95% of its rate,
or requests never sent) or whose load generator was CPU-bound (80% of its
cores or more): its figures say as much about the machine as about the server.

Start the runs together, one command per load machine, each with its share of
the clients or the rate, then merge:

  poolside bench --addr lb.internal:9407 --clients 32 --duration 60s --json a.json
  poolside bench --addr lb.internal:9407 --clients 32 --duration 60s --json b.json
  poolside report a.json b.json --chart all.png

The percentiles of a single file are those of every request of every round
together, so with --repeat they can differ a little from bench's own table,
whose figures are medians of the rounds.

` + failOnLong + `

Exit status: 0 done; 2 bad flags, or a file that cannot be read or is not a
bench JSON report (nothing is written); 4 an output file could not be written;
6 a --fail-on threshold failed.`,
		Example: `  # two load machines' runs, one table
  poolside report a.json b.json

  # merged JSON, chart and percentile spectra, and a CI gate
  poolside report a.json b.json --json all.json --chart all.svg --hgrm spectra --fail-on 'p99>50ms'`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(cmd, f, args, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.jsonFile, "json", "", "also write the merged report as JSON to this file (poolside report reads it again)")
	fl.StringVar(&f.csvFile, "csv", "", "also write the merged report as CSV to this file")
	fl.StringVar(&f.chartFile, "chart", "", "also draw throughput and latency per model to this .png or .svg file")
	fl.StringVar(&f.hgrmDir, "hgrm", "", "also write each model's merged latency percentile spectrum, HdrHistogram's .hgrm text, into this directory")
	fl.StringArrayVar(&f.failOn, "fail-on", nil, failOnHelp)
	return cmd
}

func runReport(cmd *cobra.Command, f reportFlags, files []string, stdout, stderr io.Writer) error {
	if err := checkChartFile(cmd, f.chartFile, compare.ChartFormat); err != nil {
		return err
	}
	if err := checkOutputs(cmd, outputFlag{"--json", f.jsonFile}, outputFlag{"--csv", f.csvFile}, outputFlag{"--chart", f.chartFile}); err != nil {
		return err
	}
	if err := checkHgrmDir(cmd, f.hgrmDir); err != nil {
		return err
	}
	reps := make([]*compare.Report, len(files))
	open := false
	for i, name := range files {
		rep, err := readReport(name)
		if err != nil {
			return usageError(err)
		}
		reps[i] = rep
		open = open || rep.Env.Rate > 0
	}
	thresholds, err := parseFailOn(cmd, f.failOn, open)
	if err != nil {
		return err
	}
	rep, err := compare.Merge(files, reps)
	if err != nil {
		return usageError(&messageError{msg: trimPrefix(err), err: err})
	}
	if len(thresholds) > 0 {
		rep.Judge(thresholds)
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := rep.WriteNotes(stdout); err != nil {
		return err
	}
	writeOutcomes(stdout, rep.Outcomes)
	werr := errors.Join(writeOutputs(stderr,
		output{f.jsonFile, rep.WriteJSON},
		output{f.csvFile, rep.WriteCSV},
		chartOutput(f.chartFile, compare.ChartFormat, rep.WriteChart),
	), writeHgrms(stderr, f.hgrmDir, rep))
	if werr != nil {
		return &exitError{code: exitInternal, err: werr}
	}
	return gateFailure(rep.Outcomes)
}

// readReport reads one bench JSON file; its error is one sentence that
// names the file and says what to do.
func readReport(name string) (*compare.Report, error) {
	fh, err := os.Open(name)
	if err != nil {
		what := "cannot be read"
		if errors.Is(err, os.ErrNotExist) {
			what = "does not exist"
		}
		return nil, &messageError{msg: fmt.Sprintf("%s %s: give the file 'poolside bench --json' wrote", name, what), err: err}
	}
	defer fh.Close()
	rep, err := compare.ReadJSON(fh)
	if err != nil {
		return nil, &messageError{msg: fmt.Sprintf("%s is not a 'poolside bench --json' report (%s): give the file bench wrote", name, trimPrefix(err)), err: err}
	}
	return rep, nil
}

// trimPrefix is err's message without the package prefix of compare's
// errors.
func trimPrefix(err error) string {
	msg := err.Error()
	for _, p := range []string{compare.ErrNotReport.Error() + ": ", "compare: "} {
		if len(msg) > len(p) && msg[:len(p)] == p {
			msg = msg[len(p):]
		}
	}
	return msg
}
