package compare

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/poolside-dev/poolside/benchmarks/internal/render"
	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/internal/textfmt"
)

// ErrNotReport is wrapped by ReadJSON's error for input that is not a
// report WriteJSON wrote.
var ErrNotReport = errors.New("compare: not a poolside bench JSON report")

// Source is one report merged by Merge: a run of one load machine.
type Source struct {
	// Name is where the report came from, such as its file name.
	Name string
	// Hostname and Time are the machine's and the run's start, from the
	// report's env.
	Hostname string
	Time     time.Time
	// Behind lists the models whose open loop fell behind its schedule
	// on this machine (requests not sent, or less than 95% of the rate
	// reached), and CPUBound those for which its load generator used 80%
	// of the machine's CPU or more: in either case the machine, not only
	// the server, shaped the figures.
	Behind, CPUBound []string
	// Findings say the same in sentences.
	Findings []string
}

func (s Source) json() jsonSource {
	return jsonSource{Name: s.Name, Hostname: s.Hostname, Time: s.Time, Behind: nonNil(s.Behind), CPUBound: nonNil(s.CPUBound), Findings: nonNil(s.Findings)}
}

type jsonSource struct {
	Name     string    `json:"name"`
	Hostname string    `json:"hostname"`
	Time     time.Time `json:"time"`
	Behind   []string  `json:"behind_schedule"`
	CPUBound []string  `json:"cpu_bound"`
	Findings []string  `json:"findings"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ReadJSON reads back a report WriteJSON wrote, histograms included. A
// model without a histogram (written before they were) cannot be merged;
// Merge says so.
func ReadJSON(r io.Reader) (*Report, error) {
	var doc jsonReport
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotReport, err)
	}
	if doc.Results == nil || doc.Env.Loop == "" {
		return nil, fmt.Errorf("%w: it has no results or no env", ErrNotReport)
	}
	env, err := render.EnvFromJSON(doc.Env)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotReport, err)
	}
	rep := &Report{Env: env, Incomplete: !doc.Complete, NotMeasured: doc.NotMeasured}
	dur := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	for _, j := range doc.Results {
		mr := ModelResult{
			Label: j.Model, Workers: j.Workers, MergedRounds: j.Rounds, Requests: j.Requests,
			RPS: j.RPS, TargetRate: j.TargetRPS,
			P50: dur(j.P50), P90: dur(j.P90), P99: dur(j.P99), P999: dur(j.P999), Max: dur(j.Max),
			ServiceP50: dur(j.ServiceP50), ServiceP99: dur(j.ServiceP99),
			CPUPerRequest: time.Duration(j.CPUPerRequest * float64(time.Microsecond)), CPUUtilisation: j.CPUUtilisation,
			QueueWaitMean: dur(j.QueueWaitMean), ServiceMean: dur(j.ServiceMean),
			MeanRunning: j.MeanRunning, MeanWaiting: j.MeanWaiting,
			ClientL: j.ClientL, ServerL: j.ServerL, ServerObs: j.ServerSampled,
			Window: time.Duration(j.WindowSecs * float64(time.Second)),
			Errors: load.Errors{
				Busy: j.ErrorsByKind.Busy, Timeout: j.ErrorsByKind.Timeout, Server: j.ErrorsByKind.Server,
				Connection: j.ErrorsByKind.Connection, Other: j.ErrorsByKind.Other,
			},
			NotSent: j.NotSent, Starved: j.Starved, Warnings: j.Warnings,
		}
		if j.SpeedUp != nil {
			mr.SpeedUp = *j.SpeedUp
		}
		// The JSON keeps only the total of every round's errors; by kind,
		// they are the median round's.
		mr.ErrorsAllRounds = mr.Errors
		if extra := j.ErrorsAll - mr.Errors.Total(); extra > 0 {
			mr.ErrorsAllRounds.Other += extra
		}
		if mr.Histogram, err = decodeHistogram(j.LatencyHDR); err != nil {
			return nil, fmt.Errorf("%w: %s: latency_hdr_us: %v", ErrNotReport, j.Model, err)
		}
		if mr.ServiceHistogram, err = decodeHistogram(j.ServiceHDR); err != nil {
			return nil, fmt.Errorf("%w: %s: service_hdr_us: %v", ErrNotReport, j.Model, err)
		}
		rep.Results = append(rep.Results, mr)
	}
	return rep, nil
}

func decodeHistogram(s string) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return nil, nil
	}
	return hdrhistogram.Decode([]byte(s))
}

// configKey is what must be the same for two runs' results of a model to
// be added: everything of the load and the server but the machine, the
// clients and the rate, which are each machine's share.
func configKey(label string, e load.Env) string {
	return fmt.Sprintf("%s|%v|%s|%v|%v|%v|%v|%v|%s|%d|%s|%d", label, e.InProcess, e.Addr, e.ConnPerRequest, e.Rate > 0,
		e.Timeout, e.Duration, e.MaxRequests, e.Mix, e.WorkCPU, e.Store, e.Queue) + "|" + e.WorkDelay.String()
}

// Merge adds up reports of runs made at the same time from several load
// machines against the same servers (or the same run repeated), named
// names: the results of a model run with the same configuration are
// added, their request and error counts, their rates and their clients
// summed, their latency histograms merged and the percentiles taken from
// the merged histogram (never percentiles averaged). A model whose
// configuration differs between the reports keeps a row of its own,
// labelled with its report's name. The merged report's Sources say which
// machine fell behind its schedule or was CPU-bound.
//
// A result without a histogram cannot be merged: Merge refuses it, naming
// the report.
func Merge(names []string, reps []*Report) (*Report, error) {
	if len(reps) == 0 || len(names) != len(reps) {
		return nil, errors.New("compare: Merge needs one name per report, and at least one report")
	}
	out := &Report{Env: reps[0].Env}
	out.Env.Clients, out.Env.Rate = 0, 0
	index := map[string]int{}
	var keys []string
	var hosts []string
	for i, rep := range reps {
		src := Source{Name: names[i], Hostname: rep.Env.Hostname, Time: rep.Env.Time}
		out.Env.Clients += rep.Env.Clients
		out.Env.Rate += rep.Env.Rate
		out.Incomplete = out.Incomplete || rep.Incomplete
		if !slices.Contains(hosts, rep.Env.Hostname) {
			hosts = append(hosts, rep.Env.Hostname)
		}
		for _, mr := range rep.Results {
			if mr.Histogram == nil {
				return nil, fmt.Errorf("compare: %s: %s has no latency histogram (latency_hdr_us): it was written by an older poolside, or served no request; run it again", names[i], mr.Label)
			}
			src.judge(mr, rep.Env)
			key := configKey(mr.Label, rep.Env)
			at, ok := index[key]
			if !ok {
				label := mr.Label
				for _, k := range keys {
					if strings.HasPrefix(k, mr.Label+"|") {
						label = fmt.Sprintf("%s (%s)", mr.Label, names[i]) // configured differently
						break
					}
				}
				keys = append(keys, key)
				index[key] = len(out.Results)
				out.Results = append(out.Results, ModelResult{Label: label, Spec: mr.Spec, Workers: mr.Workers})
				at = index[key]
			}
			ws := make([]string, len(mr.Warnings))
			for k, w := range mr.Warnings {
				ws[k] = names[i] + ": " + w
			}
			mr.Warnings = ws
			out.Results[at].add(mr)
		}
		out.Sources = append(out.Sources, src)
	}
	out.Env.Hostname = strings.Join(hosts, ",")
	for i := range out.Results {
		out.Results[i].finish()
	}
	if out.HasSpeedUp() {
		for i := range out.Results {
			out.Results[i].SpeedUp = out.Results[i].RPS / out.Results[0].RPS
		}
	}
	return out, nil
}

// add adds o, a model's result from one report, into mr.
func (mr *ModelResult) add(o ModelResult) {
	n := mr.Requests + o.Requests
	if n > 0 {
		// Per-request means, weighted by each run's requests.
		weighted := func(a, b time.Duration) time.Duration {
			return time.Duration((float64(a)*float64(mr.Requests) + float64(b)*float64(o.Requests)) / float64(n))
		}
		mr.CPUPerRequest = weighted(mr.CPUPerRequest, o.CPUPerRequest)
		mr.QueueWaitMean = weighted(mr.QueueWaitMean, o.QueueWaitMean)
		mr.ServiceMean = weighted(mr.ServiceMean, o.ServiceMean)
	}
	mr.MeanRunning += o.MeanRunning
	mr.MeanWaiting += o.MeanWaiting
	mr.ServerObs += o.ServerObs
	mr.Requests = n
	mr.RPS += o.RPS
	mr.TargetRate += o.TargetRate
	mr.CPUUtilisation = max(mr.CPUUtilisation, o.CPUUtilisation)
	mr.ClientL += o.ClientL
	mr.ServerL += o.ServerL
	mr.Window = max(mr.Window, o.Window)
	mr.Errors.Merge(o.Errors)
	mr.ErrorsAllRounds.Merge(o.ErrorsAllRounds)
	mr.NotSent += o.NotSent
	mr.Starved += o.Starved
	mr.MergedRounds += o.RoundCount()
	mr.Histogram = mergeInto(mr.Histogram, o.Histogram)
	mr.ServiceHistogram = mergeInto(mr.ServiceHistogram, o.ServiceHistogram)
	mr.Warnings = append(mr.Warnings, o.Warnings...)
}

// finish takes mr's percentiles from its merged histograms.
func (mr *ModelResult) finish() {
	l := load.LatencyOf(mr.Histogram)
	mr.P50, mr.P90, mr.P99, mr.P999, mr.Max = l.P50, l.P90, l.P99, l.P999, l.Max
	s := load.LatencyOf(mr.ServiceHistogram)
	mr.ServiceP50, mr.ServiceP99 = s.P50, s.P99
}

// behindShare is the share of its rate below which an open loop fell
// behind its schedule; cpuBound the CPU use at which a load generator
// may have been the limit (as the warnings judge it).
const (
	behindShare = 0.95
	cpuBound    = 0.8
)

// judge notes whether mr, a result of src's machine, fell behind its
// schedule or was CPU-bound.
func (src *Source) judge(mr ModelResult, e load.Env) {
	if mr.TargetRate > 0 && (mr.NotSent > 0 || mr.RPS < behindShare*mr.TargetRate) {
		src.Behind = append(src.Behind, mr.Label)
		src.Findings = append(src.Findings, fmt.Sprintf("%s fell behind its schedule: %s of %s req/s, %d requests not sent; its latencies count the delay from each request's intended send",
			mr.Label, textfmt.Rate(mr.RPS), textfmt.Rate(mr.TargetRate), mr.NotSent))
	}
	if mr.CPUUtilisation >= cpuBound {
		src.CPUBound = append(src.CPUBound, mr.Label)
		who := "its load generator"
		if e.InProcess {
			who = "its load generator and in-process server"
		}
		src.Findings = append(src.Findings, fmt.Sprintf("%s was CPU-bound: %s used %.0f%% of its %d cores, so the machine may have been the limit, not the server", mr.Label, who, 100*mr.CPUUtilisation, e.NumCPU))
	}
}
