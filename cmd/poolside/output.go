package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// output is a report file a command writes when a flag (--json, --csv,
// --chart) names one.
type output struct {
	name  string // the file; empty when the flag is not given
	write func(io.Writer) error
}

// chartFormat returns the chart format a file name asks for, as
// compare.ChartFormat and tune.ChartFormat do.
type chartFormat func(name string) (string, error)

// chartOutput is the output that draws a chart to name with writeChart,
// in the format name's extension asks for (see chartFormat).
func chartOutput(name string, format chartFormat, writeChart func(w io.Writer, format string) error) output {
	return output{name, func(w io.Writer) error {
		kind, err := format(name)
		if err != nil {
			return err
		}
		return writeChart(w, kind)
	}}
}

// checkChartFile returns a usage error of cmd if name, its --chart file,
// is neither empty nor a .png or .svg file name.
func checkChartFile(cmd *cobra.Command, name string, format chartFormat) error {
	if name == "" {
		return nil
	}
	if _, err := format(name); err != nil {
		return usagef(cmd, "--chart %q: the file name must end in .png or .svg", name)
	}
	return nil
}

// outputFlag is an output flag ("--json") and the file it names, empty
// when the flag is not given.
type outputFlag struct{ flag, file string }

// checkOutputs returns a usage error of cmd for the first of outs whose
// file could not be written, so that a bad path is reported before any
// load runs rather than after it: a directory that does not exist or
// where this process cannot create files, a name that is a directory,
// an existing file that cannot be opened for writing, or two flags that
// name the same file.
//
// It leaves nothing behind: existing files are opened without being
// changed, and the test of a directory creates a file in it and removes
// it at once. The files themselves are written only when there is
// something to write in them (see writeOutputs), so a run that fails
// leaves no empty file.
func checkOutputs(cmd *cobra.Command, outs ...outputFlag) error {
	seen := map[string]string{} // cleaned file name -> flag
	for _, o := range outs {
		if o.file == "" {
			continue
		}
		if other, ok := seen[filepath.Clean(o.file)]; ok {
			return usagef(cmd, "%s and %s both name %s; give each its own file", other, o.flag, o.file)
		}
		seen[filepath.Clean(o.file)] = o.flag
		if problem := unwritable(o.file); problem != "" {
			return usagef(cmd, "%s %s: %s", o.flag, o.file, problem)
		}
	}
	return nil
}

// unwritable says why the file name could not be written, or returns ""
// if it could, as far as can be told without writing it.
func unwritable(name string) string {
	fi, err := os.Stat(name)
	switch {
	case err == nil && fi.IsDir():
		return "is a directory; give the name of a file to write, in it or elsewhere"
	case err == nil && !fi.Mode().IsRegular():
		return "" // a device such as /dev/stdout; opening a FIFO would block
	case err == nil:
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return "the file exists and cannot be written: " + reason(err)
		}
		f.Close()
		return ""
	case !errors.Is(err, fs.ErrNotExist):
		return "cannot write a file there: " + reason(err)
	}
	dir := filepath.Dir(name)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("the directory %s does not exist; create it first, or choose another path", dir)
	}
	probe, err := os.CreateTemp(dir, ".poolside-check-*")
	if err != nil {
		return fmt.Sprintf("cannot create a file in %s: %s", dir, reason(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return ""
}

// reason is the heart of a file system error, "permission denied" rather
// than "open /x/y: permission denied" (the flag's message names the file).
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// writeOutputs writes each output that has a name and says so on stderr.
// A failed output does not stop the others; the errors are joined.
func writeOutputs(stderr io.Writer, outputs ...output) error {
	var errs []error
	for _, o := range outputs {
		if o.name == "" {
			continue
		}
		if err := writeFile(o.name, o.write); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(stderr, "poolside: wrote %s\n", o.name)
	}
	return errors.Join(errs...)
}

// writeFile writes a file in full through write, or not at all.
func writeFile(name string, write func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return fmt.Errorf("cannot render %s: %w", name, err)
	}
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("cannot write %s: %w", name, err)
	}
	return nil
}
