package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/poolside-dev/poolside/benchmarks"
)

// output is a report file a command writes when a flag (--json, --csv,
// --chart) names one.
type output struct {
	name  string // the file; empty when the flag is not given
	write func(io.Writer) error
}

// chartOutput is the output that draws a chart to name with writeChart,
// in the format name's extension asks for (see benchmarks.ChartFormat).
func chartOutput(name string, writeChart func(w io.Writer, format string) error) output {
	return output{name, func(w io.Writer) error {
		format, err := benchmarks.ChartFormat(name)
		if err != nil {
			return err
		}
		return writeChart(w, format)
	}}
}

// checkChartFile returns a usage error of cmd if name, its --chart file,
// is neither empty nor a .png or .svg file name.
func checkChartFile(cmd *cobra.Command, name string) error {
	if name == "" {
		return nil
	}
	if _, err := benchmarks.ChartFormat(name); err != nil {
		return usagef(cmd, "--chart %q: the file name must end in .png or .svg", name)
	}
	return nil
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
