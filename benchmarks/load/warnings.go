package load

import (
	"fmt"

	"github.com/poolside-dev/poolside/internal/textfmt"
)

// warnings explains figures that say more about the load generator or
// the machine than about the server, and clients left without a reply.
// connModel reports an in-process server of the conn model.
func warnings(res Result, connModel bool) []string {
	var ws []string
	if c := res.CPU; c.Cores > 0 && c.Utilisation >= 0.8 {
		who := "the load generator"
		if c.Scope == CPUScopeProcess {
			who = "the load generator and the in-process server together"
		}
		ws = append(ws, fmt.Sprintf("%s used %.0f%% of %d cores: the CPU, not the concurrency model, limited this run", who, 100*c.Utilisation, c.Cores))
	}
	failed := res.Errors.Total()
	var failedShare float64
	if n := res.Requests + failed; n > 0 {
		failedShare = float64(failed) / float64(n)
	}
	// X·W counts successful requests only, so with many failures it says
	// nothing about the clients; and a server with requests queued for a
	// worker was the limit, whatever X·W says.
	queued := res.Server != nil && res.Server.MeanWaiting >= 1
	l := res.Little
	if res.Starved > 0 {
		ws = append(ws, starvedWarning(res, connModel))
	}
	if !res.OpenLoop && l.Clients > 0 && l.ClientL < 0.8*float64(l.Clients) && failedShare <= maxFailedShare && !queued && res.Starved == 0 {
		ws = append(ws, fmt.Sprintf("the %d clients were waiting for replies only %.0f%% of the time (X·W = %.1f): the load generator, not the server, is the bottleneck", l.Clients, 100*l.ClientL/float64(l.Clients), l.ClientL))
	}
	if v := res.Server; v != nil && !res.OpenLoop && l.Clients > 0 && res.Starved == 0 && failedShare <= maxFailedShare && v.MeanWaiting < 1 {
		// What the server could have worked on at once: its workers, or
		// every client when it has no pool limit.
		capacity := l.Clients
		if v.Workers > 0 {
			capacity = min(v.Workers, l.Clients)
		}
		if l.ServerL < 0.5*float64(capacity) {
			ws = append(ws, fmt.Sprintf("the server held on average %.1f of the %d %s it could have worked on at once (X·W inside it), while the clients kept %d in flight: the load generator and the kernel took the rest of each request's time, so the load generator, not the server, was the limit and this run does not compare the server's models; give each request work (--work-delay, --work-cpu), or run the load from another process or machine (--addr)",
				l.ServerL, capacity, textfmt.PluralWord(capacity, "request", "requests"), l.Clients))
		}
	}
	if res.OpenLoop {
		if res.NotSent > 0 {
			ws = append(ws, fmt.Sprintf("%d requests scheduled in the measured time were never sent: when it ended every client was still waiting for a reply, so the server could not keep up with the rate or there were too few clients (these requests are missing from the latency figures)", res.NotSent))
		}
		if res.RPS < 0.95*res.TargetRate {
			ws = append(ws, fmt.Sprintf("achieved %s of the %s req/s asked for", textfmt.Rate(res.RPS), textfmt.Rate(res.TargetRate)))
		}
		if l.Clients > 0 && l.ClientL >= 0.9*float64(l.Clients) {
			why := "the server could not keep up, or there are too few clients for this rate"
			if v := res.Server; v != nil && v.MeanWaiting >= 1 {
				why = fmt.Sprintf("the server could not keep up (%.1f requests queued on average)", v.MeanWaiting)
			} else if v != nil {
				why = "the server was not queueing, so there are too few clients for this rate and latency: add clients"
			}
			ws = append(ws, fmt.Sprintf("all %d clients were busy %.0f%% of the time and requests went out late (the corrected latency counts the delay): %s", l.Clients, 100*l.ClientL/float64(l.Clients), why))
		}
	}
	if res.Unavailable > 0 {
		what := "requests were"
		if res.Unavailable == 1 {
			what = "request was"
		}
		ws = append(ws, fmt.Sprintf("%d %s refused because someone else had booked the room on that date after the run read it as free, or had cancelled a booking of the run's (or the date was past the server's horizon): the server's right answer, counted as answered and not as errors; the run did not use those rooms and dates again",
			res.Unavailable, what))
	}
	if failedShare > 0.01 {
		ws = append(ws, fmt.Sprintf("%.1f%% of the requests failed (%s)%s", 100*failedShare, res.Errors.String(), failureCause(res.Errors)))
	}
	return ws
}

// starvedWarning says that some clients got no reply in the whole window.
func starvedWarning(res Result, connModel bool) string {
	who := fmt.Sprintf("%d of the %d clients", res.Starved, res.Clients)
	if res.Starved == res.Clients {
		who = fmt.Sprintf("all %s", textfmt.Clients(res.Clients))
	}
	s := fmt.Sprintf("%s got no reply in the whole measured window: their request was still waiting when it ended, so the figures above describe the other clients only", who)
	if res.Starved == res.Clients {
		s = fmt.Sprintf("%s got no reply in the whole measured window: their requests were still waiting when it ended", who)
	}
	if connModel {
		return s + " (in the conn model a connection holds its worker for its whole life, so clients beyond the workers wait until a connection closes: give it at least as many workers as clients, or use the pool model)"
	}
	return s + " (the server left their connections unserved, or answers more slowly than the window is long)"
}

// maxFailedShare is the share of failed requests above which warnings
// no longer judge the clients by X·W.
const maxFailedShare = 0.1

// failureCause says what the main kind of failure in e means, after a
// colon, or nothing if no kind is most of them.
func failureCause(e Errors) string {
	switch total := e.Total(); {
	case 2*e.Busy > total:
		return ": most were refused as busy because the server's queue was full, so the server's capacity, not the load generator, was the limit"
	case 2*e.Timeout > total:
		return ": most timed out, so the server answered more slowly than the timeout allows"
	case 2*e.Connection > total:
		return ": most lost their connection, or could not make one"
	}
	return ""
}
