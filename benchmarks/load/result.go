package load

import (
	"fmt"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms record microseconds from 1 µs to an hour with three
// significant digits (HistogramUnit).
const (
	histMin    = 1
	histMax    = int64(time.Hour / time.Microsecond)
	histDigits = 3
)

// HistogramUnit is the unit of the values of every latency histogram:
// microseconds.
const HistogramUnit = time.Microsecond

// NewHistogram returns an empty latency histogram: microseconds from 1 µs
// to an hour, three significant digits, the geometry of every histogram a
// Result holds, so that they merge without loss.
func NewHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

// record adds d to h, clamped to the histogram's range.
func record(h *hdrhistogram.Histogram, d time.Duration) {
	us := min(max(d.Microseconds(), histMin), histMax)
	_ = h.RecordValue(us) // in range by construction
}

// Latency summarises a latency distribution. Percentiles have the
// histogram's three significant digits. The zero value means nothing was
// recorded.
type Latency struct {
	Count                    int64
	Mean                     time.Duration
	P50, P90, P99, P999, Max time.Duration
}

// LatencyOf summarises h, which holds microseconds.
func LatencyOf(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Latency{
		Count: h.TotalCount(),
		Mean:  time.Duration(h.Mean() * float64(time.Microsecond)),
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		P999:  us(h.ValueAtQuantile(99.9)),
		Max:   us(h.Max()),
	}
}

// ErrorKind classifies a failed request.
type ErrorKind int

// The kinds of errors a Result counts.
const (
	// ErrorBusy: the server shed the request ("Server busy").
	ErrorBusy ErrorKind = iota
	// ErrorTimeout: no reply within Config.Timeout.
	ErrorTimeout
	// ErrorServer: any other ERROR reply (a refused booking, say).
	ErrorServer
	// ErrorConnection: connecting failed, or the connection was closed or
	// reset before the reply was complete.
	ErrorConnection
	// ErrorOther: anything else, such as a reply that does not parse or
	// does not match its request.
	ErrorOther

	numErrorKinds
)

var errorKindNames = [...]string{"busy", "timeout", "server", "connection", "other"}

// String returns the kind's short name, as used in JSON and CSV.
func (k ErrorKind) String() string {
	if k < 0 || k >= numErrorKinds {
		return "unknown"
	}
	return errorKindNames[k]
}

// Errors counts failed requests by kind.
type Errors struct {
	Busy, Timeout, Server, Connection, Other int64
}

// Total returns the number of failed requests.
func (e Errors) Total() int64 { return e.Busy + e.Timeout + e.Server + e.Connection + e.Other }

// String lists the kinds of e that are not 0, such as "3 timeouts, 1
// busy reply", or says "no requests completed" when there are none.
func (e Errors) String() string {
	var parts []string
	for _, k := range []struct {
		n         int64
		one, many string
	}{
		{e.Busy, "busy reply", "busy replies"},
		{e.Timeout, "timeout", "timeouts"},
		{e.Server, "error reply", "error replies"},
		{e.Connection, "connection error", "connection errors"},
		{e.Other, "other error", "other errors"},
	} {
		switch {
		case k.n == 1:
			parts = append(parts, "1 "+k.one)
		case k.n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", k.n, k.many))
		}
	}
	if len(parts) == 0 {
		return "no requests completed"
	}
	return strings.Join(parts, ", ")
}

func (e *Errors) add(k ErrorKind, n int64) {
	switch k {
	case ErrorBusy:
		e.Busy += n
	case ErrorTimeout:
		e.Timeout += n
	case ErrorServer:
		e.Server += n
	case ErrorConnection:
		e.Connection += n
	default:
		e.Other += n
	}
}

// Merge adds the counts of o to e.
func (e *Errors) Merge(o Errors) {
	e.Busy += o.Busy
	e.Timeout += o.Timeout
	e.Server += o.Server
	e.Connection += o.Connection
	e.Other += o.Other
}

// CPU scopes: what Result.CPU measured.
const (
	// CPUScopeProcess: the whole process, load generator and in-process
	// server together.
	CPUScopeProcess = "process (load generator + in-process server)"
	// CPUScopeClient: the load generator alone (the server runs elsewhere).
	CPUScopeClient = "load generator only"
)

// CPU is the CPU time the process used during the measured window.
type CPU struct {
	// Scope says what was measured: CPUScopeProcess or CPUScopeClient.
	Scope string
	// User and System are getrusage(RUSAGE_SELF) deltas over the window.
	User, System time.Duration
	// PerRequest is (User+System) divided by the requests completed in
	// the window, errors included.
	PerRequest time.Duration
	// Utilisation is (User+System) / (window × cores): 1 means every core
	// of the machine was busy with this process.
	Utilisation float64
	// Cores is runtime.NumCPU().
	Cores int
}

// ServerView is what an in-process server saw during the window.
type ServerView struct {
	// Workers is the pool's worker limit at the end of the window (1 for
	// serial, 0 for unbounded).
	Workers int
	// Requests is the number of requests the server answered in the
	// window, from its observer; Busy those it shed.
	Requests, Busy int64
	// QueueWait is the time requests waited for a worker (0 for the conn
	// and unbounded models); Service the time on the worker, handler,
	// WorkDelay and WorkCPU included.
	QueueWait, Service Latency
	// MeanRunning and MaxRunning are the busy pool workers (tasks held by
	// a worker), and MeanWaiting and MaxWaiting the queued requests,
	// sampled through the window. In the conn model a worker is held by
	// a connection, so Running counts connections. Zero for unbounded.
	MeanRunning, MeanWaiting float64
	MaxRunning, MaxWaiting   int64
	// Samples is the number of samples behind the means.
	Samples int
}

// Little is a check of Little's law, L = X·W: the mean number of requests
// in a system is its throughput times the mean time each spends there.
type Little struct {
	// ClientL is X·W at the clients: throughput times mean latency (from
	// the actual send), the mean number of requests in flight. In a closed
	// loop it should be close to Clients; well below means the clients
	// spent their time elsewhere than waiting for replies.
	ClientL float64
	// Clients is Config.Clients.
	Clients int
	// ServerL is X·W inside the server: the observer's throughput times
	// mean queue wait plus service. 0 without a LocalServer.
	ServerL float64
	// ServerSampled is the sampled mean of running plus waiting requests,
	// which ServerL should match (pool and serial models). 0 without a
	// LocalServer or a pool.
	ServerSampled float64
}

// Result is what one measurement window found.
type Result struct {
	// Label names what was measured, such as the model ("pool:16") or
	// the address.
	Label string
	// OpenLoop reports a fixed-rate run; TargetRate is its rate.
	OpenLoop   bool
	TargetRate float64
	// Clients and ConnPerRequest are from the Config.
	Clients        int
	ConnPerRequest bool
	// Window is the measured time (shorter than the configured duration
	// when MaxRequests ended it).
	Window time.Duration
	// Requests is the number of successful requests completed in the
	// window; RPS is Requests per second of Window.
	Requests int64
	RPS      float64
	// Unavailable counts, among Requests, the BOOKs the server refused
	// because the (room, date) was not the run's to take (someone else
	// booked it after the run read it as free, or it is past the server's
	// horizon, which moved) and the UNBOOKs of a booking of the run's that
	// someone else had cancelled. They are the server's right answer, so
	// they count as successful requests, not as errors; the run does not
	// book such a pair again. (The BOOK of 9999-12-31 from which the run
	// learns the server's horizon is a plain success.)
	Unavailable int64
	// Errors counts failed requests completed in the window, by kind.
	Errors Errors
	// Starved counts the clients that got no reply in the whole measured
	// window: they completed no request in it, and the one they were
	// waiting for when it ended had waited more than twice as long as the
	// slowest reply of the run (any time, if there was none). A server
	// that leaves some connections unserved, such as the conn model with
	// more clients than workers, starves them. Their requests are in neither Requests
	// nor Errors nor Latency, so the other figures describe the other
	// clients only. 0 when MaxRequests ended the window.
	Starved int
	// NotSent, in an open loop, counts the requests scheduled in the
	// measured part that were never sent: when the window ended every
	// client was still waiting for a reply, so the server could not keep
	// up with the rate or there were too few clients. They are in neither
	// Requests nor Errors, and their latency (at least the time from
	// their intended send to the end) is missing from Latency. 0 in a
	// closed loop, and when MaxRequests ended the window.
	NotSent int64
	// Latency is the latency of the successful requests completed in the
	// window, the same requests Requests counts. In an open loop it is
	// measured from each request's intended send time (coordinated
	// omission corrected), so that a backlog built in the warm-up, which
	// the clients are still working through, shows; in a closed loop it
	// equals ServiceTime.
	Latency Latency
	// ServiceTime is the latency of successful requests measured from
	// the moment each was actually sent.
	ServiceTime Latency
	// CPU is the process's CPU use during the window; zero where
	// getrusage is unavailable.
	CPU CPU
	// Server is the in-process server's view; nil without a LocalServer.
	Server *ServerView
	// Metrics is a running server's view, from Config.MetricsURL; nil
	// without one, or when it could not be read at the window's start or
	// end (a warning then says so).
	Metrics *ServerMetrics
	// Little checks Little's law on both sides.
	Little Little
	// Warnings explain figures that measure the load generator or the
	// machine rather than the server.
	Warnings []string

	// latencyHist and serviceHist hold Latency's and ServiceTime's
	// requests, for Sum.
	latencyHist, serviceHist *hdrhistogram.Histogram
}

// LatencyHistogram returns the histogram behind Latency (microseconds):
// every successful request of the window, from its intended send in an
// open loop. nil for a Result not measured by a Runner. It is the
// Result's own: merge it into another, do not change it.
func (r Result) LatencyHistogram() *hdrhistogram.Histogram { return r.latencyHist }

// ServiceHistogram is LatencyHistogram for ServiceTime: from each
// request's actual send.
func (r Result) ServiceHistogram() *hdrhistogram.Histogram { return r.serviceHist }

// Sum adds up rs, the results of windows run at the same time against
// several servers by Runners of this process, into one Result labelled
// label: the counts and the rates add, the latencies are those of every
// request of rs together (their histograms merged, never percentiles
// averaged), the window is the longest. CPU is that of rs[0], which, like
// each of rs, measured the whole process, so that its per-request cost is
// over the requests of all of them.
func Sum(label string, rs []Result) Result {
	if len(rs) == 0 {
		return Result{Label: label}
	}
	sum := Result{Label: label, OpenLoop: rs[0].OpenLoop, ConnPerRequest: rs[0].ConnPerRequest, CPU: rs[0].CPU}
	latency, service := NewHistogram(), NewHistogram()
	for _, r := range rs {
		sum.TargetRate += r.TargetRate
		sum.Clients += r.Clients
		sum.Window = max(sum.Window, r.Window)
		sum.Requests += r.Requests
		sum.RPS += r.RPS
		sum.Unavailable += r.Unavailable
		sum.Errors.Merge(r.Errors)
		sum.Starved += r.Starved
		sum.NotSent += r.NotSent
		if r.latencyHist != nil {
			latency.Merge(r.latencyHist)
			service.Merge(r.serviceHist)
		}
	}
	sum.latencyHist, sum.serviceHist = latency, service
	sum.Latency, sum.ServiceTime = LatencyOf(latency), LatencyOf(service)
	if n := sum.Requests + sum.Errors.Total(); n > 0 && sum.CPU.Scope != "" {
		sum.CPU.PerRequest = (sum.CPU.User + sum.CPU.System) / time.Duration(n)
	}
	sum.Little = Little{ClientL: sum.RPS * sum.ServiceTime.Mean.Seconds(), Clients: sum.Clients}
	sum.Warnings = warnings(sum, false)
	return sum
}
