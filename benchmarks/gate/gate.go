// Package gate evaluates pass/fail thresholds on a benchmark's figures,
// the expressions of poolside bench's and tune's --fail-on (k6's
// thresholds): "p99>50ms", "errors>0", "errors>1%", "achieved<0.95",
// "starved>0", "rps<1000". A threshold fails when its expression holds.
//
// The package knows figures, not how they were measured: compare and
// tune fill a Figures for each model or step and Evaluate judges them.
package gate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is wrapped by the errors of Parse.
var ErrInvalid = errors.New("gate: invalid threshold")

// Figures are what a threshold can test, for one model or step.
type Figures struct {
	// P50 to Max are the latency percentiles.
	P50, P90, P99, P999, Max time.Duration
	// RPS is the successful requests per second.
	RPS float64
	// Requests and Errors count the successful and the failed requests.
	Requests, Errors int64
	// Starved counts the clients that got no reply in the whole window.
	Starved int
	// NotSent counts the requests of an open loop that were never sent.
	NotSent int64
	// TargetRate is the rate an open loop asked for; 0 in a closed loop,
	// where "achieved" has no meaning.
	TargetRate float64
}

// Metric is a figure a threshold tests.
type Metric string

// The metrics, as written in an expression.
const (
	P50      Metric = "p50"
	P90      Metric = "p90"
	P99      Metric = "p99"
	P999     Metric = "p99.9"
	Max      Metric = "max"
	RPS      Metric = "rps"
	Errors   Metric = "errors"
	Achieved Metric = "achieved"
	Starved  Metric = "starved"
	NotSent  Metric = "not_sent"
)

// metrics says how each metric's value is written: p50 to max are
// latencies, rps the successful requests per second, errors the failed
// requests (a count, or a share of all requests: errors>1%), achieved
// the share of an open loop's rate reached (1 = all of it), starved the
// clients that got no reply in the whole window, not_sent the requests
// an open loop never sent.
var metrics = map[Metric]kind{
	P50: duration, P90: duration, P99: duration, P999: duration, Max: duration,
	RPS: number, Errors: count, Achieved: number, Starved: count, NotSent: count,
}

// aliases are other spellings of metrics.
var aliases = map[string]Metric{"p999": P999, "notsent": NotSent, "not-sent": NotSent}

type kind int

const (
	duration kind = iota // "50ms", "1.5s"
	number               // "0.95", "1000"
	count                // "0", or "1%" (errors only)
)

// Op is a comparison: ">", ">=", "<" or "<=".
type Op string

// Threshold is one parsed expression, such as "p99>50ms".
type Threshold struct {
	// Expr is the expression as given, spaces removed.
	Expr   string
	Metric Metric
	Op     Op
	// Value is the bound: nanoseconds for a latency, a share (0.01 for
	// 1%) when Percent is set, the number as written otherwise.
	Value   float64
	Percent bool
}

// Parse reads one expression. Its error, wrapping ErrInvalid, says what
// is wrong and how to write it.
func Parse(expr string) (Threshold, error) {
	e := strings.ReplaceAll(expr, " ", "")
	bad := func(format string, a ...any) (Threshold, error) {
		return Threshold{}, fmt.Errorf("%w: %q: %s", ErrInvalid, expr, fmt.Sprintf(format, a...))
	}
	i := strings.IndexAny(e, "<>")
	if i < 0 {
		return bad("no comparison: write METRIC OP VALUE, such as p99>50ms or errors>0")
	}
	op := Op(e[i : i+1])
	if strings.HasPrefix(e[i+1:], "=") {
		op += "="
	}
	name, value := strings.ToLower(e[:i]), e[i+len(op):]
	m := Metric(name)
	if a, ok := aliases[name]; ok {
		m = a
	}
	k, ok := metrics[m]
	if !ok {
		return bad("unknown metric %q: use one of p50, p90, p99, p99.9, max, rps, errors, achieved, starved, not_sent", name)
	}
	if value == "" {
		return bad("no value after %s", op)
	}
	t := Threshold{Expr: e, Metric: m, Op: op}
	switch {
	case k == duration:
		d, err := time.ParseDuration(value)
		if err != nil || d < 0 {
			return bad("%s is a latency: write it with a unit, such as %s%s50ms", m, m, op)
		}
		t.Value = float64(d)
	case m == Errors && strings.HasSuffix(value, "%"):
		v, err := strconv.ParseFloat(strings.TrimSuffix(value, "%"), 64)
		if err != nil || v < 0 || v > 100 {
			return bad("a percentage of errors is a number from 0 to 100 followed by %%, such as errors>1%%")
		}
		t.Value, t.Percent = v/100, true
	default:
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || v < 0 {
			return bad("%s takes a number, such as %s", m, example(m))
		}
		t.Value = v
	}
	return t, nil
}

// example is an expression of m, for errors.
func example(m Metric) string {
	switch m {
	case RPS:
		return "rps<1000"
	case Achieved:
		return "achieved<0.95"
	}
	return string(m) + ">0"
}

// ParseAll parses each expression; the errors are joined.
func ParseAll(exprs []string) ([]Threshold, error) {
	var ts []Threshold
	var errs []error
	for _, e := range exprs {
		t, err := Parse(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ts = append(ts, t)
	}
	return ts, errors.Join(errs...)
}

// NeedsRate reports whether t only means something in an open loop.
func (t Threshold) NeedsRate() bool { return t.Metric == Achieved }

// Outcome is a threshold judged on one subject's figures.
type Outcome struct {
	Threshold
	// Subject is what was judged: a model, a server, a step.
	Subject string
	// Got is the figure, in the threshold's units (nanoseconds, a share
	// with Percent); Shown is it as printed.
	Got   float64
	Shown string
	// Failed reports that the expression held.
	Failed bool
}

// String is one line: "FAIL pool:16: p99>50ms (p99 = 72.1ms)".
func (o Outcome) String() string {
	verdict := "pass"
	if o.Failed {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s  %s: %s (%s = %s)", verdict, o.Subject, o.Expr, o.Metric, o.Shown)
}

// Evaluate judges every threshold on f, the figures of subject.
func Evaluate(ts []Threshold, subject string, f Figures) []Outcome {
	out := make([]Outcome, 0, len(ts))
	for _, t := range ts {
		got, shown := t.figure(f)
		out = append(out, Outcome{Threshold: t, Subject: subject, Got: got, Shown: shown, Failed: t.holds(got)})
	}
	return out
}

// figure is the value of t's metric in f, and how it prints.
func (t Threshold) figure(f Figures) (float64, string) {
	dur := func(d time.Duration) (float64, string) { return float64(d), d.String() }
	switch t.Metric {
	case P50:
		return dur(f.P50)
	case P90:
		return dur(f.P90)
	case P99:
		return dur(f.P99)
	case P999:
		return dur(f.P999)
	case Max:
		return dur(f.Max)
	case RPS:
		return f.RPS, strconv.FormatFloat(f.RPS, 'f', 1, 64)
	case Errors:
		if t.Percent {
			share := 0.0
			if n := f.Requests + f.Errors; n > 0 {
				share = float64(f.Errors) / float64(n)
			}
			return share, fmt.Sprintf("%.2f%%, %d of %d", 100*share, f.Errors, f.Requests+f.Errors)
		}
		return float64(f.Errors), strconv.FormatInt(f.Errors, 10)
	case Achieved:
		if f.TargetRate <= 0 {
			// Never reached: the command refuses achieved without a rate.
			return 1, "no target rate (closed loop)"
		}
		a := f.RPS / f.TargetRate
		return a, fmt.Sprintf("%.3f (%.1f of %.1f req/s)", a, f.RPS, f.TargetRate)
	case Starved:
		return float64(f.Starved), strconv.Itoa(f.Starved)
	case NotSent:
		return float64(f.NotSent), strconv.FormatInt(f.NotSent, 10)
	}
	return 0, "?"
}

func (t Threshold) holds(got float64) bool {
	switch t.Op {
	case ">":
		return got > t.Value
	case ">=":
		return got >= t.Value
	case "<":
		return got < t.Value
	case "<=":
		return got <= t.Value
	}
	return false
}

// Failed counts the outcomes that failed.
func Failed(os []Outcome) int {
	n := 0
	for _, o := range os {
		if o.Failed {
			n++
		}
	}
	return n
}
