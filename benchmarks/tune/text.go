package tune

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/poolside-dev/poolside/benchmarks/internal/render"
	"github.com/poolside-dev/poolside/internal/textfmt"
)

// loadCeilingName names Point.LoadCeiling for the report's load:
// the rate, or the clients' C/(D+RTT) in a closed loop and in an open
// loop whose clients cannot carry its rate.
func (rep *Report) loadCeilingName() string {
	if rep.rateBound() {
		return "rate"
	}
	return "C/(D+RTT)"
}

// rateBound reports an open loop whose clients can carry its rate, so
// that the rate is what the load asks for.
func (rep *Report) rateBound() bool {
	return rep.Env.Rate > 0 && (rep.LoadCeilingBy == "rate" || rep.LoadCeilingBy == "")
}

// saturated reports whether the pool was the limit at p: its workers
// busy (90% of N/D or more) or, in process, requests waiting for a
// worker half a service time or more on average.
func (rep *Report) saturated(p *Point) bool {
	return p.WorkerCeiling > 0 && p.RPS >= 0.9*p.WorkerCeiling ||
		rep.Env.InProcess && rep.ServiceTime > 0 && p.QueueWait >= rep.ServiceTime/2
}

// busyPhrase describes how busy the pool was at p, "101% of N/D, and
// requests waited 45.8ms for a worker on average".
func (rep *Report) busyPhrase(p *Point) string {
	s := ""
	if p.WorkerCeiling > 0 {
		s = textfmt.Pct(p.RPS, p.WorkerCeiling) + " of N/D"
	}
	if rep.Env.InProcess && p.QueueWait > 0 {
		if s != "" {
			s += ", and "
		}
		s += fmt.Sprintf("requests waited %s for a worker on average", textfmt.Duration(p.QueueWait))
	}
	return s
}

// WriteTable writes one row per size measured, smallest first: workers,
// the step that measured it and its phase, req/s, p50, p99, the server's
// mean queue wait, CPU µs per request, throughput as a share of the N/D
// and C/(D+RTT) (or rate) ceilings, errors, and marks for the seed, the
// best throughput, the recommendation, an SLO breach and a step during
// which other processes used 20% or more of the machine's CPU.
func (rep *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	hasDB := slices.ContainsFunc(rep.Points, func(p Point) bool { return p.DBConns > 0 })
	dbHead := ""
	if hasDB {
		dbHead = "db wait\t"
	}
	fmt.Fprintf(tw, "workers\tstep\tphase\treq/s\tp50\tp99\tqueue wait\t%sCPU µs/req\t%%N/D\t%%%s\terrors\t\n", dbHead, rep.loadCeilingName())
	for _, p := range rep.Points {
		qw := "-"
		if hasDB {
			qw += "\t" + textfmt.Duration(p.DBWait)
			if p.DBWait <= 0 {
				qw = "-\t0"
			}
		}
		if rep.Env.InProcess || p.Result.Metrics != nil {
			qw = textfmt.Duration(p.QueueWait)
			if p.QueueWait > 0 && p.QueueWait < time.Microsecond {
				qw = "<1µs"
			} else if p.QueueWait <= 0 {
				qw = "0"
			}
			if hasDB {
				db := textfmt.Duration(p.DBWait)
				if p.DBWait <= 0 {
					db = "0"
				}
				qw += "\t" + db
			}
		}
		row := fmt.Sprintf("%d\t%d\t%s\t%.0f\t%s\t%s\t%s\t%.0f\t%s\t%s\t%d\t",
			p.Workers, p.Step, p.Phase, p.RPS, textfmt.Duration(p.P50), textfmt.Duration(p.P99), qw,
			textfmt.US(p.CPUPerRequest), textfmt.Pct(p.RPS, p.WorkerCeiling), textfmt.Pct(p.RPS, p.LoadCeiling), p.Errors)
		if m := rep.marks(p); m != "" {
			row += "  " + m
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

// noisyOtherCPU is the share of the machine's CPU that other processes
// may use during a step before the table flags it.
const noisyOtherCPU = 0.2

// marks returns the notes after a row of the table.
func (rep *Report) marks(p Point) string {
	var ms []string
	if p.Workers == rep.Recommended {
		ms = append(ms, "<- recommended")
	}
	if p.Workers == rep.Best {
		ms = append(ms, "best")
	}
	if p.Workers == rep.Seed {
		ms = append(ms, "seed")
	}
	if p.OtherCPU >= noisyOtherCPU {
		ms = append(ms, fmt.Sprintf("other processes used %.0f%% CPU", 100*p.OtherCPU))
	}
	if !p.Eligible {
		ms = append(ms, rep.ineligible(p)...)
	}
	return strings.Join(ms, ", ")
}

// ineligible says why p may not be recommended: "errors" (more than 1%
// failed), "over SLO" (its p99 is above it), "no latency" (the SLO could
// not be checked: no request succeeded).
func (rep *Report) ineligible(p Point) []string {
	var why []string
	if p.failed() {
		why = append(why, "errors")
	}
	if rep.SLOP99 > 0 {
		switch {
		case p.Result.Latency.Count == 0 && p.P99 == 0:
			why = append(why, "no latency")
		case p.P99 > rep.SLOP99:
			why = append(why, "over SLO")
		}
	}
	return why
}

// WriteExplanation writes the settings, the explanation paragraph, the
// adaptive comparison if any, and the warnings of the recommended step.
func (rep *Report) WriteExplanation(w io.Writer) error {
	e := rep.Env
	fmt.Fprintf(w, "%s; %v settle + %v measured per step; sizes %d to %d, at most %d steps; stop climbing below %s gain",
		rep.loadPhrase(), e.Warmup, e.Duration, rep.MinWorkers, rep.MaxWorkers, rep.MaxSteps, fmtGain(rep.MinGain))
	if rep.SLOP99 > 0 {
		fmt.Fprintf(w, "; SLO p99 <= %v", rep.SLOP99)
	}
	fmt.Fprintf(w, "\nD = %s (service time at %d %s)", textfmt.Duration(rep.ServiceTime), rep.MinWorkers, textfmt.Plural(rep.MinWorkers, "worker"))
	if rep.RTTMeasured {
		fmt.Fprintf(w, ", RTT = %s", fmtRTT(rep.RTT))
	} else {
		fmt.Fprint(w, ", RTT not measured (taken as 0)")
	}
	fmt.Fprintf(w, "; %%N/D and %%%s are throughput as a share of those ceilings\n\n", rep.loadCeilingName())
	fmt.Fprintln(w, textfmt.Wrap(rep.Explanation, 100))
	for _, d := range rep.Doubts {
		fmt.Fprintln(w, textfmt.Wrap("warning: do not trust this recommendation as it stands: "+d+".", 100))
	}
	if a := rep.Adaptive; a != nil {
		fmt.Fprintln(w)
		fmt.Fprintln(w, textfmt.Wrap(rep.adaptiveSummary(), 100))
	}
	if p := rep.Point(rep.Recommended); p != nil {
		for _, warn := range p.Result.Warnings {
			fmt.Fprintf(w, "warning at %s: %s\n", workers(p.Workers), warn)
		}
	}
	return nil
}

// fmtRTT prints an RTT, which may be 0.
func fmtRTT(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return textfmt.Duration(d)
}

func fmtGain(g float64) string {
	if g < 0 {
		return "no"
	}
	return strconv.FormatFloat(100*g, 'f', -1, 64) + "%"
}

// loadPhrase describes the load in a few words.
func (rep *Report) loadPhrase() string {
	e := rep.Env
	conns := "persistent connections"
	if e.ConnPerRequest {
		conns = "a connection per request"
	}
	s := fmt.Sprintf("closed loop of %s on %s", textfmt.Clients(e.Clients), conns)
	if e.Rate > 0 {
		s = fmt.Sprintf("open loop of %s req/s from up to %s on %s", textfmt.Rate(e.Rate), textfmt.Clients(e.Clients), conns)
	}
	switch {
	case e.InProcess:
		work := render.WorkParts(e)
		if len(work) == 0 {
			work = append(work, "no simulated work")
		}
		if e.Store != "" {
			work = append([]string{string(e.Store) + " store"}, work...)
		}
		s += fmt.Sprintf(", in-process server (%s) on %d cores", strings.Join(work, ", "), e.NumCPU)
	case e.Addr != "":
		s += " against " + e.Addr
	}
	return s
}

// fmtGainSigned prints a measured gain as a signed whole percentage:
// "+12%", "-3%", "0%".
func fmtGainSigned(g float64) string {
	pct := math.Round(100 * g)
	s := strconv.FormatFloat(pct, 'f', 0, 64) + "%"
	if pct > 0 {
		s = "+" + s
	}
	return s
}
