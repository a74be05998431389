package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/poolside-dev/poolside/benchmarks/compare"
	"github.com/poolside-dev/poolside/benchmarks/gate"
	"github.com/poolside-dev/poolside/internal/textfmt"
)

// failOnHelp is the --fail-on flag's usage line.
const failOnHelp = "fail (exit status 6) when this holds for any model, such as p99>50ms, errors>0, errors>1%, achieved<0.95, starved>0, rps<1000; repeat the flag, or separate with commas"

// failOnLong explains --fail-on in a command's --help.
const failOnLong = `--fail-on EXPR sets a threshold for CI (k6's thresholds): it fails when
EXPR holds. Each is judged on every model's figures, those of the table,
and listed as pass or FAIL after the notes (and under "fail_on" in the
JSON); if any fails, the exit status is 6, once everything else went well.
EXPR is ` + "`METRIC OP VALUE`" + `, OP one of > >= < <=:
  p50 p90 p99 p99.9 max  a latency, with its unit: p99>50ms
  rps                    successful requests per second: rps<1000
  errors                 failed requests, a count (errors>0) or a share
                         of all requests (errors>1%)
  achieved               the share of --rate reached, open loop only:
                         achieved<0.95
  starved                clients that got no reply at all: starved>0
  not_sent               requests an open loop never sent: not_sent>0`

// parseFailOn reads the --fail-on expressions, each flag possibly several
// separated by commas, into thresholds; a usage error of cmd if one does
// not parse, or asks for what the run cannot have (achieved without a
// rate: open is false).
func parseFailOn(cmd *cobra.Command, exprs []string, open bool) ([]gate.Threshold, error) {
	var all []string
	for _, e := range exprs {
		for _, part := range strings.Split(e, ",") {
			if part = strings.TrimSpace(part); part != "" {
				all = append(all, part)
			}
		}
	}
	ts, err := gate.ParseAll(all)
	if err != nil {
		return nil, usagef(cmd, "--fail-on: %s", strings.ReplaceAll(err.Error(), gate.ErrInvalid.Error()+": ", ""))
	}
	for _, t := range ts {
		if t.NeedsRate() && !open {
			return nil, usagef(cmd, "--fail-on %s: achieved is the share of --rate reached, and this run has no rate (a closed loop); give --rate, or test rps instead", t.Expr)
		}
	}
	return ts, nil
}

// writeOutcomes lists the thresholds' outcomes on w, a line each, under
// a heading that counts the failures; nothing without thresholds.
func writeOutcomes(w io.Writer, outcomes []gate.Outcome) {
	if len(outcomes) == 0 {
		return
	}
	fmt.Fprintf(w, "\nfail-on: %d of %d %s failed\n", gate.Failed(outcomes), len(outcomes), textfmt.PluralWord(len(outcomes), "check", "checks"))
	for _, o := range outcomes {
		fmt.Fprintf(w, "  %s\n", o)
	}
}

// gateFailure is the error, exit status 6, of the outcomes that failed;
// nil if none did.
func gateFailure(outcomes []gate.Outcome) error {
	var which []string
	for _, o := range outcomes {
		if o.Failed {
			which = append(which, o.Subject+": "+o.Expr)
		}
	}
	if len(which) == 0 {
		return nil
	}
	return &exitError{code: exitGate, err: fmt.Errorf("%d --fail-on %s failed (%s)", len(which), textfmt.PluralWord(len(which), "threshold", "thresholds"), strings.Join(which, ", "))}
}

// checkHgrmDir returns a usage error of cmd unless dir, the --hgrm
// directory, is empty (not asked for), a directory this process can
// write files in, or one it can make (writeHgrms makes it).
func checkHgrmDir(cmd *cobra.Command, dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// Made when there is something to write in it (writeHgrms), so
		// that a run that fails leaves nothing behind.
		if unwritable(dir) != "" {
			return usagef(cmd, "--hgrm %s: the directory does not exist and cannot be made; give a directory that exists, or whose parent does", dir)
		}
		return nil
	case err != nil:
		return usagef(cmd, "--hgrm %s: cannot be read; give a directory you can write in", dir)
	case !fi.IsDir():
		return usagef(cmd, "--hgrm %s: is a file, not a directory; give a directory to write one .hgrm file per model in", dir)
	}
	if problem := unwritable(filepath.Join(dir, ".poolside-hgrm-check")); problem != "" {
		return usagef(cmd, "--hgrm %s: %s", dir, problem)
	}
	return nil
}

// writeHgrms writes one .hgrm file per model of rep in dir (see
// compare.ModelResult.WriteHgrm), saying each on stderr.
func writeHgrms(stderr io.Writer, dir string, rep *compare.Report) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot make the --hgrm directory %s: %w", dir, err)
	}
	outs := make([]output, 0, len(rep.Results))
	for _, mr := range rep.Results {
		if mr.Histogram == nil {
			fmt.Fprintf(stderr, "poolside: no %s: %s completed no request\n", compare.HgrmName(mr.Label), mr.Label)
			continue
		}
		outs = append(outs, output{filepath.Join(dir, compare.HgrmName(mr.Label)), mr.WriteHgrm})
	}
	return writeOutputs(stderr, outs...)
}
