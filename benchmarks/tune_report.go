package benchmarks

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// loadCeilingName names TunePoint.LoadCeiling for the report's load:
// the rate, or the clients' C/(D+RTT) in a closed loop and in an open
// loop whose clients cannot carry its rate.
func (rep *TuneReport) loadCeilingName() string {
	if rep.rateBound() {
		return "rate"
	}
	return "C/(D+RTT)"
}

// rateBound reports an open loop whose clients can carry its rate, so
// that the rate is what the load asks for.
func (rep *TuneReport) rateBound() bool {
	return rep.Env.Rate > 0 && (rep.LoadCeilingBy == "rate" || rep.LoadCeilingBy == "")
}

// saturated reports whether the pool was the limit at p: its workers
// busy (90% of N/D or more) or, in process, requests waiting for a
// worker half a service time or more on average.
func (rep *TuneReport) saturated(p *TunePoint) bool {
	return p.WorkerCeiling > 0 && p.RPS >= 0.9*p.WorkerCeiling ||
		rep.Env.InProcess && rep.ServiceTime > 0 && p.QueueWait >= rep.ServiceTime/2
}

// busyPhrase describes how busy the pool was at p, "101% of N/D, and
// requests waited 45.8ms for a worker on average".
func (rep *TuneReport) busyPhrase(p *TunePoint) string {
	s := ""
	if p.WorkerCeiling > 0 {
		s = pct(p.RPS, p.WorkerCeiling) + " of N/D"
	}
	if rep.Env.InProcess && p.QueueWait > 0 {
		if s != "" {
			s += ", and "
		}
		s += fmt.Sprintf("requests waited %s for a worker on average", fmtDuration(p.QueueWait))
	}
	return s
}

// pct formats part/whole as a percentage, "-" when whole is unknown.
func pct(part, whole float64) string {
	if whole <= 0 {
		return "-"
	}
	return strconv.FormatFloat(100*part/whole, 'f', 0, 64) + "%"
}

// WriteTable writes one row per size measured, smallest first: workers,
// the step that measured it and its phase, req/s, p50, p99, the server's
// mean queue wait, CPU µs per request, throughput as a share of the N/D
// and C/(D+RTT) (or rate) ceilings, errors, and marks for the seed, the
// best throughput, the recommendation, an SLO breach and a step during
// which other processes used 20% or more of the machine's CPU.
func (rep *TuneReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "workers\tstep\tphase\treq/s\tp50\tp99\tqueue wait\tCPU µs/req\t%%N/D\t%%%s\terrors\t\n", rep.loadCeilingName())
	for _, p := range rep.Points {
		qw := "-"
		if rep.Env.InProcess {
			qw = fmtDuration(p.QueueWait)
			if p.QueueWait > 0 && p.QueueWait < time.Microsecond {
				qw = "<1µs"
			} else if p.QueueWait <= 0 {
				qw = "0"
			}
		}
		row := fmt.Sprintf("%d\t%d\t%s\t%.0f\t%s\t%s\t%s\t%.0f\t%s\t%s\t%d\t",
			p.Workers, p.Step, p.Phase, p.RPS, fmtDuration(p.P50), fmtDuration(p.P99), qw,
			us(p.CPUPerRequest), pct(p.RPS, p.WorkerCeiling), pct(p.RPS, p.LoadCeiling), p.Errors)
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
func (rep *TuneReport) marks(p TunePoint) string {
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
func (rep *TuneReport) ineligible(p TunePoint) []string {
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

// finite returns x, or 0 if it is infinite or not a number, which JSON
// cannot carry.
func finite(x float64) float64 {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return 0
	}
	return x
}

// WriteExplanation writes the settings, the explanation paragraph, the
// adaptive comparison if any, and the warnings of the recommended step.
func (rep *TuneReport) WriteExplanation(w io.Writer) error {
	e := rep.Env
	fmt.Fprintf(w, "%s; %v settle + %v measured per step; sizes %d to %d, at most %d steps; stop climbing below %s gain",
		rep.loadPhrase(), e.Warmup, e.Duration, rep.MinWorkers, rep.MaxWorkers, rep.MaxSteps, fmtGain(rep.MinGain))
	if rep.SLOP99 > 0 {
		fmt.Fprintf(w, "; SLO p99 <= %v", rep.SLOP99)
	}
	fmt.Fprintf(w, "\nD = %s (service time at %d %s)", fmtDuration(rep.ServiceTime), rep.MinWorkers, plural(rep.MinWorkers, "worker"))
	if rep.RTTMeasured {
		fmt.Fprintf(w, ", RTT = %s", fmtRTT(rep.RTT))
	} else {
		fmt.Fprint(w, ", RTT not measured (taken as 0)")
	}
	fmt.Fprintf(w, "; %%N/D and %%%s are throughput as a share of those ceilings\n\n", rep.loadCeilingName())
	fmt.Fprintln(w, wrap(rep.Explanation, 100))
	if a := rep.Adaptive; a != nil {
		fmt.Fprintln(w)
		fmt.Fprintln(w, wrap(rep.adaptiveSummary(), 100))
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
	return fmtDuration(d)
}

func fmtGain(g float64) string {
	if g < 0 {
		return "no"
	}
	return strconv.FormatFloat(100*g, 'f', -1, 64) + "%"
}

// wrap breaks s into lines of at most width characters at spaces.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(s) {
		l := len([]rune(word))
		if n > 0 && n+1+l > width {
			b.WriteByte('\n')
			n = 0
		} else if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += l
	}
	return b.String()
}

// loadPhrase describes the load in a few words.
func (rep *TuneReport) loadPhrase() string {
	e := rep.Env
	conns := "persistent connections"
	if e.ConnPerRequest {
		conns = "a connection per request"
	}
	s := fmt.Sprintf("closed loop of %s on %s", clients(e.Clients), conns)
	if e.Rate > 0 {
		s = fmt.Sprintf("open loop of %s req/s from up to %s on %s", fmtRate(e.Rate), clients(e.Clients), conns)
	}
	switch {
	case e.InProcess:
		var work []string
		if e.WorkDelay > 0 {
			work = append(work, fmt.Sprintf("work delay %v", e.WorkDelay))
		}
		if e.WorkCPU > 0 {
			work = append(work, fmt.Sprintf("work CPU %d", e.WorkCPU))
		}
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

// explain writes the explanation paragraph: what was measured, the seed,
// why the climb stopped, the recommendation and what limits the
// throughput below and above it.
func (rep *TuneReport) explain() string {
	var b strings.Builder
	say := func(format string, a ...any) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, format, a...)
	}
	n := len(rep.Points)
	if n == 0 {
		return "Nothing was measured."
	}
	e := rep.Env
	sizes := fmt.Sprintf("%d pool sizes from %d to %s (%v each)", n, rep.Points[0].Workers, workers(rep.Points[n-1].Workers), e.Duration)
	if n == 1 {
		sizes = fmt.Sprintf("one pool size, %s, for %v,", workers(rep.Points[0].Workers), e.Duration)
	}
	say("Measured %s under %s.", sizes, withArticle(rep.loadPhrase()))

	// The probe and the seed.
	if e.InProcess {
		say("At %d %s a request spent D = %s on a worker.", rep.MinWorkers, plural(rep.MinWorkers, "worker"), fmtDuration(rep.ServiceTime))
	} else {
		say("At %d %s the server answered %.0f req/s, so a request holds a worker for about D = %s (workers / throughput).",
			rep.MinWorkers, plural(rep.MinWorkers, "worker"), rep.Points[0].RPS, fmtDuration(rep.ServiceTime))
	}
	var x string
	switch rep.SeedBy {
	case "rate":
		x = fmt.Sprintf("X is the rate asked for, %s req/s", fmtRate(rep.SeedRate))
	case "cpu":
		x = fmt.Sprintf("X is what the cores can serve at the CPU time the probe measured per request, %.0f req/s", rep.SeedRate)
	default:
		x = fmt.Sprintf("X is what %s can ask for, C/(D+RTT) = %.0f req/s", clients(e.Clients), rep.SeedRate)
		if e.InProcess && rep.Points[0].QueueWait > rep.ServiceTime {
			x += " (RTT taken as 0: requests queued at the probe)"
		}
	}
	switch {
	case rep.SeedUnbounded > rep.Seed:
		say("Little's law, N = X × D, where %s, put the seed at %s, capped to %d, the most workers searched.", x, workers(rep.SeedUnbounded), rep.Seed)
	case rep.SeedUnbounded > 0 && rep.SeedUnbounded < rep.Seed:
		say("Little's law, N = X × D, where %s, put the seed at %s, raised to %d, the fewest workers searched.", x, workers(rep.SeedUnbounded), rep.Seed)
	default:
		say("Little's law, N = X × D, where %s, put the seed at %s.", x, workers(rep.Seed))
	}
	load := rep.Points[0].LoadCeiling
	if rep.RTTMeasured {
		say("Where requests queued least, they spent RTT = %s between client and worker (connection, protocol, scheduling).", fmtRTT(rep.RTT))
	}
	switch rep.Stop {
	case StopMinGain:
		say("Doubling the pool from %d to %d workers gained less than %s, so the climb stopped.", rep.ClimbFrom, rep.ClimbTo, fmtGain(rep.MinGain))
	case StopSLO:
		say("Doubling the pool from %d to %d workers broke the p99 SLO of %v, so the climb stopped.", rep.ClimbFrom, rep.ClimbTo, rep.SLOP99)
	case StopMaxWorkers:
		say("The climb stopped at the most workers searched (%d).", rep.MaxWorkers)
	case StopErrors:
		say("At %s more than 1%% of the requests failed, so the climb stopped.", workers(rep.ClimbTo))
	case StopMaxSteps:
		say("The step budget (%d) ran out, so the recommendation may be a little off; more steps would narrow it.", rep.MaxSteps)
	}

	if rep.Incomplete {
		say("The search stopped before it finished, so no size is recommended.")
		if best := rep.Point(rep.Best); best != nil {
			say("The most throughput measured so far was %.0f req/s, at %s (p99 %s).", best.RPS, workers(best.Workers), fmtDuration(best.P99))
		}
		return b.String()
	}
	rec, best := rep.Point(rep.Recommended), rep.Point(rep.Best)
	if rec == nil || best == nil {
		say("%s", rep.noRecommendation())
		return b.String()
	}
	slo := ""
	if rep.SLOP99 > 0 {
		slo = fmt.Sprintf(", within the %v SLO", rep.SLOP99)
	}
	if rec.Workers == best.Workers {
		say("Throughput peaked at %.0f req/s with %d %s (p99 %s%s), and no smaller size measured came within 5%% of it.",
			best.RPS, best.Workers, plural(best.Workers, "worker"), fmtDuration(best.P99), slo)
	} else {
		say("Throughput peaked at %.0f req/s with %s; %d %s the smallest size that reached 95%% of it (%.0f req/s, p99 %s%s).",
			best.RPS, workers(best.Workers), rec.Workers, plural(rec.Workers, "worker")+" is", rec.RPS, fmtDuration(rec.P99), slo)
	}

	// Below the recommendation.
	var below *TunePoint
	for i := range rep.Points {
		if p := &rep.Points[i]; p.Workers < rec.Workers {
			below = p
		}
	}
	if below != nil {
		s := fmt.Sprintf("With fewer workers the pool is the bottleneck: at %d %s throughput was %.0f req/s", below.Workers, plural(below.Workers, "worker"), below.RPS)
		if below.WorkerCeiling > 0 {
			s += fmt.Sprintf(" (%s of N/D)", pct(below.RPS, below.WorkerCeiling))
		}
		if e.InProcess && below.QueueWait > 0 {
			s += fmt.Sprintf(" and requests waited %s for a worker on average", fmtDuration(below.QueueWait))
		}
		say("%s.", s)
	}

	// Above it: what limits the throughput.
	grew := func(p *TunePoint) bool { return e.InProcess && p.Service > rep.ServiceTime*6/5 }
	told := false
	cpuBound := e.InProcess && (best.CPUUtilisation >= 0.8 || rep.CPUCeiling > 0 && best.RPS >= 0.8*rep.CPUCeiling)
	switch {
	case load > 0 && best.RPS >= 0.9*load && rep.rateBound():
		say("More workers add nothing: the load asks for no more than %s req/s.", fmtRate(load))
	case cpuBound:
		say("More workers add nothing: the CPU is the limit (%.0f%% of %d cores busy at %s, load generator included; at the least CPU time measured per request they serve %.0f req/s at most), and extra workers only share the cores and queue.",
			100*best.CPUUtilisation, e.NumCPU, workers(best.Workers), rep.CPUCeiling)
	case load > 0 && best.RPS >= 0.9*load && rep.RTT >= rep.ServiceTime:
		say("More workers add nothing: requests spent longer outside a worker than on one (RTT %s against D = %s), so the clients' side (the load generator, the network or the machine) is the limit.",
			fmtRTT(rep.RTT), fmtDuration(rep.ServiceTime))
	case load > 0 && best.RPS >= 0.9*load && e.Rate > 0:
		say("More workers add nothing: the %s req/s asked for is more than %d clients can carry, since they cannot keep more than %d requests in flight: at C/(D+RTT) that is %s req/s, and throughput was %s of it. Requests wait for a free client, and their latency, counted from when they were due, grows; add clients to offer the whole rate.",
			fmtRate(e.Rate), e.Clients, e.Clients, fmtRate(load), pct(best.RPS, load))
	case load > 0 && best.RPS >= 0.9*load:
		say("More workers add nothing: %d clients cannot keep more than %d requests in flight (throughput is %s of C/(D+RTT)).",
			e.Clients, e.Clients, pct(best.RPS, load))
	case best.Workers >= rep.MaxWorkers && rep.saturated(best):
		say("More workers would likely add throughput: the pool was the limit at %s, the most searched (%s); raise the most workers searched (--max-workers) and tune again.",
			workers(best.Workers), rep.busyPhrase(best))
	case grew(best):
		say("More workers add little: the service time grows under load, from %s at %d %s to %s at %d.",
			fmtDuration(rep.ServiceTime), rep.MinWorkers, plural(rep.MinWorkers, "worker"), fmtDuration(best.Service), best.Workers)
		told = true
	default:
		say("More workers add little: the limit lies elsewhere (the server's other resources, the network, the load generator, or other processes on the machine).")
	}
	if !told && grew(rec) {
		say("The service time grew under load, from %s to %s at %s: N = X × D at low load is only a starting point.",
			fmtDuration(rep.ServiceTime), fmtDuration(rec.Service), workers(rec.Workers))
	}
	say("Recommendation: %d %s.", rec.Workers, plural(rec.Workers, "worker"))
	if e.Rate > 0 && rep.SLOP99 == 0 {
		say("In an open loop, give a p99 SLO: without one, a size that barely keeps up, with a long queue, counts as good.")
	}
	var most, sum float64
	for _, p := range rep.Points {
		most, sum = max(most, p.OtherCPU), sum+p.OtherCPU
	}
	if most >= noisyOtherCPU/2 {
		say("Other processes used up to %.0f%% of the machine's CPU during the steps (%.0f%% on average), so these figures are noisier than usual.", 100*most, 100*sum/float64(n))
	} else {
		say("Each point is one %v window; differences of a few percent are noise.", e.Duration)
	}
	return b.String()
}

// adaptiveSummary compares the adaptive run with the recommendation.
func (rep *TuneReport) adaptiveSummary() string {
	a := rep.Adaptive
	s := fmt.Sprintf("Adaptive sizing (as poolside serve --workers auto: %d to %d workers, starting at %d, updated every %v) under the same load for %v: %.0f req/s, p50 %s, p99 %s over the whole run (the climb from its starting size included); in its second half the pool stayed at %s (median; %d to %d) and served %.0f req/s.",
		a.Min, a.Max, a.Start, a.Interval, a.Duration, a.Result.RPS, fmtDuration(a.Result.Latency.P50), fmtDuration(a.Result.Latency.P99),
		workers(a.Settled), a.Low, a.High, a.SettledRPS)
	rec := rep.Point(rep.Recommended)
	if rec == nil {
		return s
	}
	s += fmt.Sprintf(" The recommended %s measured %.0f req/s, p99 %s", workers(rec.Workers), rec.RPS, fmtDuration(rec.P99))
	if a.SettledRPS > 0 {
		s += fmt.Sprintf(" (%s of the adaptive pool's settled throughput)", pct(rec.RPS, a.SettledRPS))
	}
	s += "."
	switch {
	case rec.Workers < a.Start:
		if d, ok := a.cameDown(rec.Workers); ok {
			s += fmt.Sprintf(" The adaptive pool started above it, at %s, and first came down to %d after %.1f s.", workers(a.Start), rec.Workers, d.Seconds())
		} else {
			s += fmt.Sprintf(" The adaptive pool started above it, at %s, and never came down to %d.", workers(a.Start), rec.Workers)
		}
	case rec.Workers == a.Start:
		s += fmt.Sprintf(" The adaptive pool started at that size, %s.", workers(a.Start))
	default:
		if d, ok := a.reached(rec.Workers); ok {
			s += fmt.Sprintf(" The adaptive pool started at %s and first reached %s after %.1f s.", workers(a.Start), workers(rec.Workers), d.Seconds())
		} else {
			s += fmt.Sprintf(" The adaptive pool started at %s and never reached %s.", workers(a.Start), workers(rec.Workers))
		}
	}
	return s
}

// noRecommendation says why no size could be recommended: too many
// failures, the SLO missed, or both, and what to do.
func (rep *TuneReport) noRecommendation() string {
	var failed, slow []TunePoint
	for _, p := range rep.Points {
		switch {
		case p.failed():
			failed = append(failed, p)
		case !p.Eligible:
			slow = append(slow, p)
		}
	}
	var s string
	switch {
	case len(failed) > 0 && len(slow) == 0:
		low, share := failed[0], 1.0
		for _, p := range failed {
			if n := p.Errors + p.Requests; n > 0 && float64(p.Errors)/float64(n) < share {
				low, share = p, float64(p.Errors)/float64(n)
			}
		}
		every := "at every size measured"
		if len(rep.Points) == 1 {
			every = "at the one size measured"
		}
		s = fmt.Sprintf("No size can be recommended: %s more than 1%% of the requests failed (the fewest, %.1f%%, at %s: %s), whatever their latency.",
			every, 100*share, workers(low.Workers), low.Result.Errors.String())
		s += " " + rep.failureAdvice(failed)
	case len(failed) == 0:
		s = rep.sloMissed(slow)
	default:
		s = fmt.Sprintf("No size met the objective: at %s more than 1%% of the requests failed, and at the others the p99 missed the SLO.", sizeList(failed))
		s += " " + rep.sloMissed(slow) + " " + rep.failureAdvice(failed)
	}
	return s
}

// sloMissed says how far the points, which missed the SLO, were from it.
func (rep *TuneReport) sloMissed(points []TunePoint) string {
	var low *TunePoint
	for i := range points {
		if p := &points[i]; p.Result.Latency.Count > 0 || p.P99 > 0 {
			if low == nil || p.P99 < low.P99 {
				low = p
			}
		}
	}
	if low == nil {
		return fmt.Sprintf("No size met the objective: no request succeeded, so the p99 could not be checked against the SLO of %v.", rep.SLOP99)
	}
	s := fmt.Sprintf("No size met the objective: the lowest p99 was %s at %s, against the SLO of %v.", fmtDuration(low.P99), workers(low.Workers), rep.SLOP99)
	e := rep.Env
	switch load := low.LoadCeiling; {
	case e.Rate > 0 && !rep.rateBound() && load > 0:
		s += fmt.Sprintf(" %s can carry at most %s req/s (C/(D+RTT)) of the %s req/s asked for, so requests wait for a free client and their latency, counted from when they were due, grows through each step; add clients, or lower the rate.",
			capitalise(clients(e.Clients)), fmtRate(load), fmtRate(e.Rate))
	case low.Workers >= rep.MaxWorkers && rep.saturated(low):
		s += fmt.Sprintf(" The pool was the limit at %s, the most searched (%s): raise the most workers searched (--max-workers), or relax the SLO.", workers(low.Workers), rep.busyPhrase(low))
	default:
		s += " The load is more than this server can serve within it; lower the load or relax the SLO."
	}
	return s
}

// failureAdvice says what the failures at points mean and what to do.
func (rep *TuneReport) failureAdvice(points []TunePoint) string {
	var e Errors
	for _, p := range points {
		e.merge(p.Result.Errors)
	}
	last := points[len(points)-1] // the largest size that failed
	switch total := e.Total(); {
	case 2*e.Timeout > total:
		s := "Most failures were timeouts: the server answered more slowly than the request timeout"
		if t := rep.Env.Timeout; t > 0 {
			s += fmt.Sprintf(" (%v)", t)
		}
		if last.Workers >= rep.MaxWorkers && rep.saturated(&last) {
			return s + fmt.Sprintf(", because requests queued for a worker (at %s, the most searched: %s). Raise the most workers searched (--max-workers), or give requests more time (--timeout).", workers(last.Workers), rep.busyPhrase(&last))
		}
		return s + ". Give requests more time (--timeout) if that is expected, or find out why the server is slow, before tuning the pool."
	case 2*e.Busy > total:
		return "Most failures were busy replies: the server's queue was full. Give it a longer queue, or lower the load, before tuning the pool."
	case 2*e.Connection > total:
		return "Most failures were lost connections: find out why the server drops them before tuning the pool."
	}
	return "Find out why before tuning the pool: busy replies mean the server's queue was full, timeouts a server slower than the request timeout."
}

// sizeList lists the pool sizes of points: "2, 4 and 8 workers".
func sizeList(points []TunePoint) string {
	ns := make([]string, len(points))
	for i, p := range points {
		ns[i] = strconv.Itoa(p.Workers)
	}
	last := len(ns) - 1
	if last == 0 {
		return workers(points[0].Workers)
	}
	return strings.Join(ns[:last], ", ") + " and " + ns[last] + " workers"
}

// capitalise returns s with its first letter in upper case.
func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// workers returns "1 worker" or "n workers".
func workers(n int) string { return fmt.Sprintf("%d %s", n, plural(n, "worker")) }

// withArticle puts "a" or "an" before phrase.
func withArticle(phrase string) string {
	if phrase != "" && strings.ContainsRune("aeiou", rune(phrase[0])) {
		return "an " + phrase
	}
	return "a " + phrase
}

// jsonTune is the JSON form of a TuneReport.
type jsonTune struct {
	Recommended   int             `json:"recommended"`
	Best          int             `json:"best"`
	Seed          int             `json:"seed"`
	SeedUnbounded int             `json:"seed_unbounded"`
	LoadCeilingBy string          `json:"load_ceiling_by"`
	SeedRate      float64         `json:"seed_rate_rps"`
	SeedBy        string          `json:"seed_by"`
	Stop          TuneStop        `json:"stop"`
	ClimbFrom     int             `json:"climb_from"`
	ClimbTo       int             `json:"climb_to"`
	Explanation   string          `json:"explanation"`
	ServiceTimeMS float64         `json:"service_time_ms"`
	RTTMS         *float64        `json:"rtt_ms"`
	CPUCeiling    float64         `json:"cpu_ceiling_rps,omitempty"`
	FinalWorkers  int             `json:"final_workers,omitempty"`
	SLOP99MS      float64         `json:"slo_p99_ms"`
	MinGain       float64         `json:"min_gain"`
	MinWorkers    int             `json:"min_workers"`
	MaxWorkers    int             `json:"max_workers"`
	MaxSteps      int             `json:"max_steps"`
	Points        []jsonTunePoint `json:"points"`
	Adaptive      *jsonAdaptive   `json:"adaptive,omitempty"`
	Env           jsonEnv         `json:"env"`
}

type jsonTunePoint struct {
	Workers        int      `json:"workers"`
	Step           int      `json:"step"`
	Phase          string   `json:"phase"`
	RPS            float64  `json:"rps"`
	P50            float64  `json:"p50_ms"`
	P99            float64  `json:"p99_ms"`
	QueueWaitMean  float64  `json:"queue_wait_mean_ms"`
	ServiceMean    float64  `json:"service_mean_ms"`
	CPUPerRequest  float64  `json:"cpu_us_per_req"`
	CPUUtilisation float64  `json:"cpu_utilisation"`
	OtherCPU       float64  `json:"other_processes_cpu"`
	Requests       int64    `json:"requests"`
	Errors         int64    `json:"errors"`
	Eligible       bool     `json:"eligible"`
	WorkerCeiling  float64  `json:"worker_ceiling_rps"`
	LoadCeiling    float64  `json:"load_ceiling_rps"`
	Warnings       []string `json:"warnings"`
}

type jsonAdaptive struct {
	DurationSecs float64             `json:"duration_s"`
	IntervalMS   float64             `json:"interval_ms"`
	Start        int                 `json:"start"`
	Min          int                 `json:"min"`
	Max          int                 `json:"max"`
	Settled      int                 `json:"settled"`
	SettledRPS   float64             `json:"settled_rps"`
	Low          int                 `json:"low"`
	High         int                 `json:"high"`
	RPS          float64             `json:"rps"`
	P50          float64             `json:"p50_ms"`
	P99          float64             `json:"p99_ms"`
	Errors       int64               `json:"errors"`
	Trajectory   []jsonAdaptivePoint `json:"trajectory"`
}

type jsonAdaptivePoint struct {
	OffsetSecs float64 `json:"t_s"`
	Limit      int     `json:"limit"`
	LatencyMS  float64 `json:"latency_ms"`
	EstimateMS float64 `json:"estimate_ms"`
	InFlight   int     `json:"in_flight"`
	Requests   int     `json:"requests"`
}

// WriteJSON writes the report as one indented JSON object:
//
//	{"recommended", "best", "seed", "seed_unbounded", "load_ceiling_by",
//	 "seed_rate_rps", "seed_by", "stop",
//	 "explanation",
//	 "service_time_ms", "rtt_ms", ...,
//	 "points": [{"workers", "step", "phase", "rps", "p50_ms", "p99_ms",
//	   "queue_wait_mean_ms", "cpu_us_per_req", "worker_ceiling_rps",
//	   "load_ceiling_rps", ...}, ...],
//	 "adaptive": {"settled", "rps", "p99_ms", "trajectory": [...]},
//	 "env": {...}}
//
// Points are in order of size; rtt_ms is null when it was not measured.
func (rep *TuneReport) WriteJSON(w io.Writer) error {
	out := jsonTune{
		Recommended: rep.Recommended, Best: rep.Best, Seed: rep.Seed, SeedUnbounded: rep.SeedUnbounded, LoadCeilingBy: rep.LoadCeilingBy,
		SeedRate: finite(rep.SeedRate), SeedBy: rep.SeedBy, Stop: rep.Stop, ClimbFrom: rep.ClimbFrom, ClimbTo: rep.ClimbTo, Explanation: rep.Explanation,
		ServiceTimeMS: ms(rep.ServiceTime), CPUCeiling: rep.CPUCeiling, FinalWorkers: rep.FinalWorkers,
		SLOP99MS: ms(rep.SLOP99), MinGain: rep.MinGain, MinWorkers: rep.MinWorkers, MaxWorkers: rep.MaxWorkers, MaxSteps: rep.MaxSteps,
		Points: make([]jsonTunePoint, 0, len(rep.Points)),
		Env:    (&Report{Env: rep.Env}).jsonForm().Env,
	}
	if rep.RTTMeasured {
		v := ms(rep.RTT)
		out.RTTMS = &v
	}
	for _, p := range rep.Points {
		jp := jsonTunePoint{
			Workers: p.Workers, Step: p.Step, Phase: string(p.Phase), RPS: p.RPS, P50: ms(p.P50), P99: ms(p.P99),
			QueueWaitMean: ms(p.QueueWait), ServiceMean: ms(p.Service), CPUPerRequest: us(p.CPUPerRequest),
			CPUUtilisation: p.CPUUtilisation, OtherCPU: p.OtherCPU, Requests: p.Requests, Errors: p.Errors, Eligible: p.Eligible,
			WorkerCeiling: p.WorkerCeiling, LoadCeiling: p.LoadCeiling, Warnings: p.Result.Warnings,
		}
		if jp.Warnings == nil {
			jp.Warnings = []string{}
		}
		out.Points = append(out.Points, jp)
	}
	if a := rep.Adaptive; a != nil {
		ja := &jsonAdaptive{
			DurationSecs: a.Duration.Seconds(), IntervalMS: ms(a.Interval), Start: a.Start, Min: a.Min, Max: a.Max,
			Settled: a.Settled, SettledRPS: a.SettledRPS, Low: a.Low, High: a.High, RPS: a.Result.RPS,
			P50: ms(a.Result.Latency.P50), P99: ms(a.Result.Latency.P99), Errors: a.Result.Errors.Total(),
			Trajectory: make([]jsonAdaptivePoint, 0, len(a.Trajectory)),
		}
		for _, p := range a.Trajectory {
			ja.Trajectory = append(ja.Trajectory, jsonAdaptivePoint{
				OffsetSecs: p.Time.Sub(a.Trajectory[0].Time).Seconds() + a.Interval.Seconds(),
				Limit:      p.Limit, LatencyMS: ms(p.Latency), EstimateMS: ms(p.Estimate), InFlight: p.InFlight, Requests: p.Requests,
			})
		}
		out.Adaptive = ja
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
