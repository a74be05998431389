package tune

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/internal/textfmt"
)

// explain writes the explanation paragraph: what was measured, the seed,
// why the climb stopped, the recommendation and what limits the
// throughput below and above it.
func (rep *Report) explain() string {
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
	say("Measured %s under %s.", sizes, textfmt.WithArticle(rep.loadPhrase()))

	// The probe and the seed.
	if e.InProcess {
		say("At %d %s a request spent D = %s on a worker.", rep.MinWorkers, textfmt.Plural(rep.MinWorkers, "worker"), textfmt.Duration(rep.ServiceTime))
	} else {
		say("At %d %s the server answered %.0f req/s, so a request holds a worker for about D = %s (workers / throughput).",
			rep.MinWorkers, textfmt.Plural(rep.MinWorkers, "worker"), rep.Points[0].RPS, textfmt.Duration(rep.ServiceTime))
	}
	var x string
	switch rep.SeedBy {
	case "rate":
		x = fmt.Sprintf("X is the rate asked for, %s req/s", textfmt.Rate(rep.SeedRate))
	case "cpu":
		x = fmt.Sprintf("X is what the cores can serve at the CPU time the probe measured per request, %.0f req/s", rep.SeedRate)
	default:
		x = fmt.Sprintf("X is what %s can ask for, C/(D+RTT) = %.0f req/s", textfmt.Clients(e.Clients), rep.SeedRate)
		if e.InProcess && rep.Points[0].QueueWait > rep.ServiceTime {
			x += " (RTT taken as 0: requests queued at the probe)"
		}
	}
	switch {
	case rep.SeedUnbounded > rep.Seed:
		say("Little's law, N = X × D, where %s, put the seed at %s, capped to %d, the most workers searched (%s).", x, workers(rep.SeedUnbounded), rep.Seed, rep.CapBy)
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
		s := fmt.Sprintf("The climb stopped at %s, the most searched: %s", workers(rep.MaxWorkers), rep.capPhrase())
		switch {
		case rep.StillRising:
			s += fmt.Sprintf("; throughput was still rising (%s from %d to %d), so %s", fmtGainSigned(rep.CapGain), rep.CapFrom, rep.MaxWorkers, rep.raiseAdvice())
		case rep.CapFrom > 0:
			s += fmt.Sprintf("; throughput had stopped rising (%s from %d to %d)", fmtGainSigned(rep.CapGain), rep.CapFrom, rep.MaxWorkers)
		}
		say("%s.", s)
	case StopErrors:
		say("At %s more than 1%% of the requests failed, so the climb stopped.", workers(rep.ClimbTo))
	case StopMaxSteps:
		say("The step budget (%d) ran out, so the recommendation may be a little off; more steps would narrow it.", rep.MaxSteps)
	}

	if rep.Incomplete {
		say("The search stopped before it finished, so no size is recommended.")
		if best := rep.Point(rep.Best); best != nil {
			say("The most throughput measured so far was %.0f req/s, at %s (p99 %s).", best.RPS, workers(best.Workers), textfmt.Duration(best.P99))
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
			best.RPS, best.Workers, textfmt.Plural(best.Workers, "worker"), textfmt.Duration(best.P99), slo)
	} else {
		say("Throughput peaked at %.0f req/s with %s; %d %s the smallest size that reached 95%% of it (%.0f req/s, p99 %s%s).",
			best.RPS, workers(best.Workers), rec.Workers, textfmt.Plural(rec.Workers, "worker")+" is", rec.RPS, textfmt.Duration(rec.P99), slo)
	}

	// Below the recommendation.
	var below *Point
	for i := range rep.Points {
		if p := &rep.Points[i]; p.Workers < rec.Workers {
			below = p
		}
	}
	if below != nil {
		s := fmt.Sprintf("With fewer workers the pool is the bottleneck: at %d %s throughput was %.0f req/s", below.Workers, textfmt.Plural(below.Workers, "worker"), below.RPS)
		if below.WorkerCeiling > 0 {
			s += fmt.Sprintf(" (%s of N/D)", textfmt.Pct(below.RPS, below.WorkerCeiling))
		}
		if e.InProcess && below.QueueWait > 0 {
			s += fmt.Sprintf(" and requests waited %s for a worker on average", textfmt.Duration(below.QueueWait))
		}
		say("%s.", s)
	}

	// Above it: what limits the throughput.
	// The largest size at which requests waited for a database connection
	// more than for a worker, if any (a running server's /metrics).
	var dbLimit *Point
	for i := range rep.Points {
		if m := rep.Points[i].Result.Metrics; m != nil && rep.Points[i].Workers >= best.Workers {
			if _, ok := m.DBLimited(); ok {
				dbLimit = &rep.Points[i]
			}
		}
	}
	grew := func(p *Point) bool { return e.InProcess && p.Service > rep.ServiceTime*6/5 }
	told := false
	cpuBound := e.InProcess && (best.CPUUtilisation >= 0.8 || rep.CPUCeiling > 0 && best.RPS >= 0.8*rep.CPUCeiling)
	switch {
	case load > 0 && best.RPS >= 0.9*load && rep.rateBound():
		say("More workers add nothing: the load asks for no more than %s req/s.", textfmt.Rate(load))
	case cpuBound:
		say("More workers add nothing: the CPU is the limit (%.0f%% of %d cores busy at %s, load generator included; at the least CPU time measured per request they serve %.0f req/s at most), and extra workers only share the cores and queue.",
			100*best.CPUUtilisation, e.NumCPU, workers(best.Workers), rep.CPUCeiling)
	case load > 0 && best.RPS >= 0.9*load && rep.RTT >= rep.ServiceTime:
		say("More workers add nothing: requests spent longer outside a worker than on one (RTT %s against D = %s), so the clients' side (the load generator, the network or the machine) is the limit.",
			fmtRTT(rep.RTT), textfmt.Duration(rep.ServiceTime))
	case load > 0 && best.RPS >= 0.9*load && e.Rate > 0:
		say("More workers add nothing: the %s req/s asked for is more than %d clients can carry, since they cannot keep more than %d requests in flight: at C/(D+RTT) that is %s req/s, and throughput was %s of it. Requests wait for a free client, and their latency, counted from when they were due, grows; add clients to offer the whole rate.",
			textfmt.Rate(e.Rate), e.Clients, e.Clients, textfmt.Rate(load), textfmt.Pct(best.RPS, load))
	case load > 0 && best.RPS >= 0.9*load:
		more := ""
		if rep.StillRising && rep.CapBy == "--clients" {
			more = "; the server kept up with all of them, so more clients may get more out of more workers"
		}
		say("More workers add nothing for this load: %d clients cannot keep more than %d requests in flight (throughput is %s of C/(D+RTT))%s.",
			e.Clients, e.Clients, textfmt.Pct(best.RPS, load), more)
	case best.Workers >= rep.MaxWorkers && rep.saturated(best):
		advice := "; " + rep.raiseCap()
		if rep.StillRising {
			advice = "" // said with the climb
		}
		say("More workers would likely add throughput: the pool was the limit at %s, the most searched (%s)%s.",
			workers(best.Workers), rep.busyPhrase(best), advice)
	case grew(best):
		say("More workers add little: the service time grows under load, from %s at %d %s to %s at %d.",
			textfmt.Duration(rep.ServiceTime), rep.MinWorkers, textfmt.Plural(rep.MinWorkers, "worker"), textfmt.Duration(best.Service), best.Workers)
		told = true
	case dbLimit != nil:
		m := dbLimit.Result.Metrics
		idle, _ := m.DBLimited()
		say("More workers add nothing: the database pool is the limit: %d workers share %d database connections, so %d of them only wait (a request waited %s for a connection against %s for a worker). Give the server more connections (poolside serve --db-conns) before more workers, and keep every instance's connections under the database's max_connections.",
			m.Workers, m.DB.Conns, idle, textfmt.Duration(m.DB.Wait), textfmt.Duration(m.QueueWait))
	default:
		say("More workers add little: the limit lies elsewhere (the server's other resources, the network, the load generator, or other processes on the machine).")
	}
	if !told && grew(rec) {
		say("The service time grew under load, from %s to %s at %s: N = X × D at low load is only a starting point.",
			textfmt.Duration(rep.ServiceTime), textfmt.Duration(rec.Service), workers(rec.Workers))
	}
	say("Recommendation: %d %s.", rec.Workers, textfmt.Plural(rec.Workers, "worker"))
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
func (rep *Report) adaptiveSummary() string {
	a := rep.Adaptive
	s := fmt.Sprintf("Adaptive sizing (as poolside serve --workers auto: %d to %d workers, starting at %d, updated every %v) under the same load for %v: %.0f req/s, p50 %s, p99 %s over the whole run (the climb from its starting size included); in its second half the pool stayed at %s (median; %d to %d) and served %.0f req/s.",
		a.Min, a.Max, a.Start, a.Interval, a.Duration, a.Result.RPS, textfmt.Duration(a.Result.Latency.P50), textfmt.Duration(a.Result.Latency.P99),
		workers(a.Settled), a.Low, a.High, a.SettledRPS)
	rec := rep.Point(rep.Recommended)
	if rec == nil {
		return s
	}
	s += fmt.Sprintf(" The recommended %s measured %.0f req/s, p99 %s", workers(rec.Workers), rec.RPS, textfmt.Duration(rec.P99))
	if a.SettledRPS > 0 {
		s += fmt.Sprintf(" (%s of the adaptive pool's settled throughput)", textfmt.Pct(rec.RPS, a.SettledRPS))
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
func (rep *Report) noRecommendation() string {
	var failed, slow []Point
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
func (rep *Report) sloMissed(points []Point) string {
	var low *Point
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
	s := fmt.Sprintf("No size met the objective: the lowest p99 was %s at %s, against the SLO of %v.", textfmt.Duration(low.P99), workers(low.Workers), rep.SLOP99)
	e := rep.Env
	switch load := low.LoadCeiling; {
	case e.Rate > 0 && !rep.rateBound() && load > 0:
		s += fmt.Sprintf(" %s can carry at most %s req/s (C/(D+RTT)) of the %s req/s asked for, so requests wait for a free client and their latency, counted from when they were due, grows through each step; add clients, or lower the rate.",
			textfmt.Capitalise(textfmt.Clients(e.Clients)), textfmt.Rate(load), textfmt.Rate(e.Rate))
	case low.Workers >= rep.MaxWorkers && rep.saturated(low):
		s += fmt.Sprintf(" The pool was the limit at %s, the most searched (%s): %s, or relax the SLO.", workers(low.Workers), rep.busyPhrase(low), rep.raiseCap())
	default:
		s += " The load is more than this server can serve within it; lower the load or relax the SLO."
	}
	return s
}

// failureAdvice says what the failures at points mean and what to do.
func (rep *Report) failureAdvice(points []Point) string {
	var e load.Errors
	for _, p := range points {
		e.Merge(p.Result.Errors)
	}
	last := points[len(points)-1] // the largest size that failed
	switch total := e.Total(); {
	case 2*e.Timeout > total:
		s := "Most failures were timeouts: the server answered more slowly than the request timeout"
		if t := rep.Env.Timeout; t > 0 {
			s += fmt.Sprintf(" (%v)", t)
		}
		if last.Workers >= rep.MaxWorkers && rep.saturated(&last) {
			return s + fmt.Sprintf(", because requests queued for a worker (at %s, the most searched: %s). %s; or give requests more time (--timeout).", workers(last.Workers), rep.busyPhrase(&last), textfmt.Capitalise(rep.raiseCap()))
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
func sizeList(points []Point) string {
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
