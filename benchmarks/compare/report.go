package compare

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/poolside-dev/poolside/benchmarks/internal/render"
	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/internal/textfmt"
)

// ms and us convert a duration to milliseconds and microseconds.
var ms, us = textfmt.MS, textfmt.US

// fmtWorkers prints a model's pool size: "-" for a remote server, "∞"
// for unbounded.
func fmtWorkers(mr ModelResult, inProcess bool) string {
	switch {
	case !inProcess:
		return "-"
	case mr.Workers == 0:
		return "∞"
	}
	return strconv.Itoa(mr.Workers)
}

// WriteTable writes the report as an aligned table, one row per model:
// model, workers, req/s, speed-up over the first model, p50, p99, p99.9,
// errors and CPU µs per request, each a figure of one round (the median,
// or for errors the median round's: see ModelResult). In an open loop the percentiles are
// corrected for coordinated omission and a column gives the uncorrected
// p99. An incomplete report has a last column, rounds, with the rounds
// each model finished of those asked for ("1/3").
func (rep *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	open := rep.Env.Rate > 0
	head := "model\tworkers\treq/s\tspeed-up\tp50\tp99\tp99.9\terrors\tstarved\tCPU µs/req\t"
	if open {
		head = "model\tworkers\ttarget req/s\treq/s\tachieved\tnot sent\tp50\tp99\tp99.9\tp99 (uncorrected)\terrors\tstarved\tCPU µs/req\t"
	}
	if rep.Incomplete {
		head += "rounds\t"
	}
	// The writer aligns right; padding the names to one width aligns
	// them left.
	width := len("model")
	for _, mr := range rep.Results {
		width = max(width, utf8.RuneCountInString(mr.Label))
	}
	pad := func(s string) string { return s + strings.Repeat(" ", width-utf8.RuneCountInString(s)) }
	head = pad("model") + strings.TrimPrefix(head, "model")
	fmt.Fprintln(tw, head)
	var marked []string
	for _, mr := range rep.Results {
		// A latency over some clients only is marked, so that it is
		// never read as better than another model's over all of them.
		mark := ""
		if mr.Starved > 0 || mr.NotSent > 0 {
			mark = "!"
			marked = append(marked, rep.unservedNote(mr))
		}
		lat := func(d time.Duration) string { return textfmt.Duration(d) + mark }
		cols := []string{pad(mr.Label), fmtWorkers(mr, rep.Env.InProcess)}
		if open {
			cols = append(cols,
				strconv.FormatFloat(mr.TargetRate, 'f', 0, 64),
				strconv.FormatFloat(mr.RPS, 'f', 0, 64),
				fmtAchieved(mr),
				strconv.FormatInt(mr.NotSent, 10))
		} else {
			speedUp := "-"
			if rep.HasSpeedUp() {
				speedUp = strconv.FormatFloat(mr.SpeedUp, 'f', 2, 64) + "×"
			}
			cols = append(cols, strconv.FormatFloat(mr.RPS, 'f', 0, 64), speedUp)
		}
		cols = append(cols, lat(mr.P50), lat(mr.P99), lat(mr.P999))
		if open {
			cols = append(cols, lat(mr.ServiceP99))
		}
		cpu := strconv.FormatFloat(us(mr.CPUPerRequest), 'f', 0, 64)
		if rep.sharesCPU(mr) {
			cpu = "-" // see the sum's
		}
		starved := "0"
		if mr.Starved > 0 {
			starved = fmt.Sprintf("%d/%d", mr.Starved, mr.clients(rep.Env))
		}
		cols = append(cols, strconv.FormatInt(mr.Errors.Total(), 10), starved, cpu)
		if rep.Incomplete {
			cols = append(cols, fmt.Sprintf("%d/%d", mr.RoundCount(), rep.Env.Repeat))
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, m := range marked {
		if _, err := fmt.Fprintln(w, m); err != nil {
			return err
		}
	}
	return nil
}

// unservedNote is the footnote of a row marked "!": the latencies leave
// out the clients that got no reply, or the requests never sent.
func (rep *Report) unservedNote(mr ModelResult) string {
	var what []string
	if mr.Starved > 0 {
		what = append(what, fmt.Sprintf("%d of its %d clients got no reply at all", mr.Starved, mr.clients(rep.Env)))
	}
	if mr.NotSent > 0 {
		what = append(what, fmt.Sprintf("%d scheduled requests were never sent", mr.NotSent))
	}
	return fmt.Sprintf("! %s: %s; its latencies leave them out, so they look better than they were", mr.Label, strings.Join(what, " and "))
}

// clients is the number of clients mr's runs had.
func (mr ModelResult) clients(e load.Env) int {
	if len(mr.Rounds) > 0 && mr.Rounds[0].Clients > 0 {
		return mr.Rounds[0].Clients
	}
	return e.Clients
}

// fmtAchieved prints the share of the target rate reached: "0.12×".
func fmtAchieved(mr ModelResult) string {
	if mr.TargetRate <= 0 {
		return "-"
	}
	return strconv.FormatFloat(mr.RPS/mr.TargetRate, 'f', 2, 64) + "×"
}

// WriteNotes writes, under the table, what the table does not show: the
// load, the CPU scope, the Little's-law check and the server's own queue
// wait and service time per model, errors by kind, and the warnings. For
// an incomplete report the first line begins "incomplete:" and gives the
// rounds each model finished.
func (rep *Report) WriteNotes(w io.Writer) error {
	e := rep.Env
	if rep.Incomplete {
		fmt.Fprintf(w, "incomplete: stopped in round %d of %d; each figure is the median of the rounds its model finished: %s\n",
			rep.StoppedRound(), e.Repeat, rep.roundsFinished())
	}
	if len(rep.Sources) > 0 {
		fmt.Fprintf(w, "merged from %d %s: each model's counts and rates are summed and its percentiles are those of every request of every run together (histograms added)\n",
			len(rep.Sources), textfmt.PluralWord(len(rep.Sources), "run", "runs"))
		for _, src := range rep.Sources {
			fmt.Fprintf(w, "  %s: %s, %s\n", src.Name, src.Hostname, src.Time.Format(time.RFC3339))
			for _, f := range src.Findings {
				fmt.Fprintf(w, "    warning: %s\n", f)
			}
		}
	}
	loop := "closed loop"
	if e.Rate > 0 {
		loop = fmt.Sprintf("open loop at %s req/s (latency from each request's intended send time)", textfmt.Rate(e.Rate))
	}
	conns := "persistent connections"
	if e.ConnPerRequest {
		conns = "a connection per request"
	}
	howMany := rounds(e.Repeat)
	if rep.Incomplete {
		howMany = fmt.Sprintf("%d %s asked for", e.Repeat, textfmt.Plural(e.Repeat, "round"))
	}
	if e.Repeat > 1 {
		howMany += " (errors and warnings: those of the median round, the one whose req/s is nearest the median)"
	}
	measured := fmt.Sprintf("%v measured", e.Duration)
	if e.MaxRequests > 0 {
		measured = fmt.Sprintf("%v measured or until %d requests were sent, whichever came first", e.Duration, e.MaxRequests)
	}
	fmt.Fprintf(w, "%s, %s on %s, %v warm-up + %s, %s; mix %v\n", loop, textfmt.Clients(e.Clients), conns, e.Warmup, measured, howMany, e.Mix)
	if e.InProcess {
		fmt.Fprintf(w, "in-process server: %s store, work delay %v, work CPU %d; CPU µs/req counts the whole process (load generator + server) on %d cores\n", e.Store, e.WorkDelay, e.WorkCPU, e.NumCPU)
	} else {
		fmt.Fprintf(w, "server at %s; CPU µs/req counts the load generator only\n", e.Addr)
	}
	fmt.Fprintln(w, "Little's law, L = X·W: requests in flight = throughput × mean time in flight, at the clients and inside the server")
	for _, mr := range rep.Results {
		line := fmt.Sprintf("%s: ", mr.Label)
		if e.MaxRequests > 0 {
			line += fmt.Sprintf("measured %s; ", textfmt.Seconds(mr.Window))
		}
		if rep.sharesCPU(mr) {
			line += fmt.Sprintf("clients X·W = %.1f of %d", mr.ClientL, mr.clients(e))
		} else {
			line += fmt.Sprintf("CPU %.0f%% of %d cores; clients X·W = %.1f of %d", 100*mr.CPUUtilisation, e.NumCPU, mr.ClientL, e.Clients)
		}
		if mr.Starved > 0 {
			line += fmt.Sprintf(" (%d got no reply)", mr.Starved)
		}
		if e.InProcess {
			line += fmt.Sprintf("; server: queue wait %s + service %s mean, X·W = %.1f", textfmt.Duration(mr.QueueWaitMean), textfmt.Duration(mr.ServiceMean), mr.ServerL)
			if mr.ServerObs > 0 {
				line += fmt.Sprintf(", sampled running %.1f + waiting %.1f", mr.MeanRunning, mr.MeanWaiting)
			}
		}
		if m := mr.Metrics; m != nil {
			line += "; server (its /metrics): " + m.String()
			if idle, ok := m.DBLimited(); ok {
				line += fmt.Sprintf(": the database pool is the limit, %d workers share %d database connections and %d of them only wait", m.Workers, m.DB.Conns, idle)
			}
		}
		switch n, all := mr.Errors, mr.ErrorsAllRounds.Total(); {
		case n.Total() > 0:
			line += fmt.Sprintf("; errors: busy %d, timeout %d, server %d, connection %d, other %d", n.Busy, n.Timeout, n.Server, n.Connection, n.Other)
			if mr.RoundCount() > 1 {
				line += fmt.Sprintf(" in the median round, %d in all %d rounds", all, mr.RoundCount())
			}
		case all > 0:
			line += fmt.Sprintf("; errors: none in the median round, %d in all %d rounds", all, mr.RoundCount())
		}
		if mr.NotSent > 0 {
			line += fmt.Sprintf("; not sent: %d", mr.NotSent)
		}
		fmt.Fprintln(w, line)
		for _, warn := range mr.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", warn)
		}
	}
	return nil
}

// jsonReport is the JSON form of a Report.
type jsonReport struct {
	Complete    bool           `json:"complete"`
	NotMeasured []string       `json:"not_measured"`
	Results     []jsonResult   `json:"results"`
	Env         render.EnvJSON `json:"env"`
	// FailOn is the --fail-on thresholds judged on each model; absent
	// when none were given.
	FailOn []jsonOutcome `json:"fail_on,omitempty"`
	// Sources are the files a merged report was made from (poolside
	// report); absent for a run's own.
	Sources []jsonSource `json:"sources,omitempty"`
}

type jsonOutcome struct {
	Model  string  `json:"model"`
	Expr   string  `json:"expr"`
	Value  float64 `json:"value"`
	Shown  string  `json:"shown"`
	Failed bool    `json:"failed"`
}

type jsonErrors struct {
	Busy       int64 `json:"busy"`
	Timeout    int64 `json:"timeout"`
	Server     int64 `json:"server"`
	Connection int64 `json:"connection"`
	Other      int64 `json:"other"`
}

type jsonResult struct {
	Model          string     `json:"model"`
	Workers        int        `json:"workers"`
	Rounds         int        `json:"rounds"`
	Requests       int64      `json:"requests"`
	RPS            float64    `json:"rps"`
	TargetRPS      float64    `json:"target_rps"`
	Achieved       *float64   `json:"achieved"` // null in a closed loop
	SpeedUp        *float64   `json:"speedup"`  // null without a base
	P50            float64    `json:"p50_ms"`
	P90            float64    `json:"p90_ms"`
	P99            float64    `json:"p99_ms"`
	P999           float64    `json:"p999_ms"`
	Max            float64    `json:"max_ms"`
	ServiceP50     float64    `json:"service_p50_ms"`
	ServiceP99     float64    `json:"service_p99_ms"`
	Errors         int64      `json:"errors"`
	ErrorsByKind   jsonErrors `json:"errors_by_kind"`
	ErrorsAll      int64      `json:"errors_all_rounds"`
	NotSent        int64      `json:"not_sent"`
	Starved        int        `json:"starved_clients"`
	WindowSecs     float64    `json:"window_s"`
	CPUPerRequest  float64    `json:"cpu_us_per_req"`
	CPUUtilisation float64    `json:"cpu_utilisation"`
	QueueWaitMean  float64    `json:"queue_wait_mean_ms"`
	ServiceMean    float64    `json:"service_mean_ms"`
	MeanRunning    float64    `json:"mean_running"`
	MeanWaiting    float64    `json:"mean_waiting"`
	ClientL        float64    `json:"little_client_l"`
	ServerL        float64    `json:"little_server_l"`
	ServerSampled  float64    `json:"little_server_sampled"`
	RoundsRPS      []float64  `json:"rounds_rps"`
	Warnings       []string   `json:"warnings"`
	// LatencyHDR is Histogram in HdrHistogram's standard V2 compressed,
	// base64 form (values in microseconds), "" if none was recorded.
	LatencyHDR string `json:"latency_hdr_us"`
	// ServiceHDR is ServiceHistogram in the same form.
	ServiceHDR string `json:"service_hdr_us"`
	// ServerMetrics is the running server's view (bench --metrics); absent
	// without it.
	ServerMetrics *jsonMetrics `json:"server_metrics,omitempty"`
}

// jsonMetrics is the JSON form of a load.ServerMetrics.
type jsonMetrics struct {
	Requests      int64   `json:"requests"`
	QueueWaitMean float64 `json:"queue_wait_mean_ms"`
	ServiceMean   float64 `json:"service_mean_ms"`
	Workers       int     `json:"workers"`
	DBConns       *int    `json:"db_conns,omitempty"`
	DBAcquires    int64   `json:"db_acquires,omitempty"`
	DBWaited      int64   `json:"db_acquires_waited,omitempty"`
	DBWaitMean    float64 `json:"db_wait_mean_ms,omitempty"`
}

func metricsJSON(m *load.ServerMetrics) *jsonMetrics {
	if m == nil {
		return nil
	}
	j := &jsonMetrics{Requests: m.Requests, QueueWaitMean: ms(m.QueueWait), ServiceMean: ms(m.Service), Workers: m.Workers}
	if db := m.DB; db != nil {
		j.DBConns, j.DBAcquires, j.DBWaited, j.DBWaitMean = &db.Conns, db.Acquires, db.Waited, ms(db.Wait)
	}
	return j
}

func (rep *Report) jsonForm() (jsonReport, error) {
	out := jsonReport{
		Complete:    !rep.Incomplete,
		NotMeasured: append([]string{}, rep.NotMeasured...),
		Results:     make([]jsonResult, 0, len(rep.Results)),
		Env:         render.JSONEnv(rep.Env),
	}
	for _, mr := range rep.Results {
		jr := jsonResult{
			Model: mr.Label, Workers: mr.Workers, Rounds: mr.RoundCount(), RPS: mr.RPS,
			P50: ms(mr.P50), P90: ms(mr.P90), P99: ms(mr.P99), P999: ms(mr.P999), Max: ms(mr.Max),
			ServiceP50: ms(mr.ServiceP50), ServiceP99: ms(mr.ServiceP99),
			Errors: mr.Errors.Total(), ErrorsAll: mr.ErrorsAllRounds.Total(), NotSent: mr.NotSent, Starved: mr.Starved,
			WindowSecs: mr.Window.Seconds(), ServerMetrics: metricsJSON(mr.Metrics),
			ErrorsByKind: jsonErrors{
				Busy: mr.Errors.Busy, Timeout: mr.Errors.Timeout, Server: mr.Errors.Server,
				Connection: mr.Errors.Connection, Other: mr.Errors.Other,
			},
			CPUPerRequest: us(mr.CPUPerRequest), CPUUtilisation: mr.CPUUtilisation,
			QueueWaitMean: ms(mr.QueueWaitMean), ServiceMean: ms(mr.ServiceMean),
			MeanRunning: mr.MeanRunning, MeanWaiting: mr.MeanWaiting,
			ClientL: mr.ClientL, ServerL: mr.ServerL, ServerSampled: mr.ServerObs,
			Warnings: mr.Warnings,
		}
		if rep.HasSpeedUp() {
			jr.SpeedUp = &mr.SpeedUp
		}
		jr.Requests, jr.TargetRPS = mr.Requests, mr.TargetRate
		if mr.TargetRate > 0 {
			a := mr.RPS / mr.TargetRate
			jr.Achieved = &a
		}
		var err error
		if jr.LatencyHDR, err = encodeHistogram(mr.Histogram); err != nil {
			return jsonReport{}, fmt.Errorf("compare: %s: encoding its latency histogram: %w", mr.Label, err)
		}
		if jr.ServiceHDR, err = encodeHistogram(mr.ServiceHistogram); err != nil {
			return jsonReport{}, fmt.Errorf("compare: %s: encoding its service-time histogram: %w", mr.Label, err)
		}
		if jr.Warnings == nil {
			jr.Warnings = []string{}
		}
		for _, r := range mr.Rounds {
			jr.RoundsRPS = append(jr.RoundsRPS, r.RPS)
		}
		out.Results = append(out.Results, jr)
	}
	for _, o := range rep.Outcomes {
		out.FailOn = append(out.FailOn, jsonOutcome{Model: o.Subject, Expr: o.Expr, Value: o.Got, Shown: o.Shown, Failed: o.Failed})
	}
	for _, src := range rep.Sources {
		out.Sources = append(out.Sources, src.json())
	}
	return out, nil
}

// encodeHistogram is h in HdrHistogram's V2 compressed base64 form, ""
// for nil.
func encodeHistogram(h *hdrhistogram.Histogram) (string, error) {
	if h == nil {
		return "", nil
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	return string(b), err
}

// WriteJSON writes the report as one indented JSON object:
//
//	{"complete": true, "not_measured": [],
//	 "results": [{"model", "workers", "rounds", "requests", "rps",
//	  "target_rps", "achieved", "speedup", "p50_ms", "p90_ms", "p99_ms",
//	  "p999_ms", "max_ms", "errors", "errors_by_kind", "errors_all_rounds",
//	  "not_sent", "starved_clients", "window_s", "cpu_us_per_req",
//	  "latency_hdr_us", ...}, ...],
//	 "env": {"num_cpu", "clients", "loop", "duration_s", "repeat", ...},
//	 "fail_on": [{"model", "expr", "value", "shown", "failed"}, ...]}
//
// latency_hdr_us is the latency of every successful request of every
// round as an HdrHistogram in its standard V2 compressed base64 form, in
// microseconds: what poolside report merges (hdrhistogram-go's Decode,
// Java's Histogram.decodeFromCompressedByteBuffer read it). fail_on is
// present with --fail-on. achieved (rps over target_rps) is null in a
// closed loop.
//
// Each result's figures are medians over its rounds; errors,
// errors_by_kind, not_sent and starved_clients are the median round's
// (see ModelResult), errors_all_rounds the sum over every round.
//
// complete is false for an incomplete report (see Report.Incomplete):
// rounds is then the rounds each model finished, of env.repeat asked
// for, and not_measured names the models that finished none. speedup is
// null when the first model served no request, in an open loop and for
// several servers measured together. Latencies are
// in milliseconds; in an open loop p50_ms to max_ms are corrected for
// coordinated omission and service_p50_ms and service_p99_ms are not.
func (rep *Report) WriteJSON(w io.Writer) error {
	doc, err := rep.jsonForm()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// csvHeader is the first line WriteCSV writes.
var csvHeader = []string{
	"model", "workers", "rps", "speedup", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
	"service_p50_ms", "service_p99_ms", "errors", "busy", "timeout", "server_errors", "connection", "other",
	"cpu_us_per_req", "queue_wait_mean_ms", "service_mean_ms", "little_client_l", "little_server_l",
	"clients", "rate", "conn_per_request", "work_delay_ms", "work_cpu", "duration_s", "repeat", "rounds",
	"errors_all_rounds", "not_sent", "starved_clients", "window_s",
}

// WriteCSV writes the report as CSV: a header line, then one line per
// model, with the load's settings repeated on each line so that files
// from several runs can be concatenated. The column rounds is the rounds
// the model finished: fewer than repeat, the rounds asked for, in an
// incomplete report, whose models that finished none have no line. The
// error counts are the median round's, as in WriteJSON;
// errors_all_rounds sums every round's.
func (rep *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	e := rep.Env
	for _, mr := range rep.Results {
		speedUp := ""
		if rep.HasSpeedUp() {
			speedUp = f(mr.SpeedUp)
		}
		err := cw.Write([]string{
			mr.Label, strconv.Itoa(mr.Workers), f(mr.RPS), speedUp,
			f(ms(mr.P50)), f(ms(mr.P90)), f(ms(mr.P99)), f(ms(mr.P999)), f(ms(mr.Max)),
			f(ms(mr.ServiceP50)), f(ms(mr.ServiceP99)),
			i(mr.Errors.Total()), i(mr.Errors.Busy), i(mr.Errors.Timeout), i(mr.Errors.Server), i(mr.Errors.Connection), i(mr.Errors.Other),
			f(us(mr.CPUPerRequest)), f(ms(mr.QueueWaitMean)), f(ms(mr.ServiceMean)), f(mr.ClientL), f(mr.ServerL),
			strconv.Itoa(e.Clients), f(e.Rate), strconv.FormatBool(e.ConnPerRequest), f(ms(e.WorkDelay)), strconv.Itoa(e.WorkCPU),
			f(e.Duration.Seconds()), strconv.Itoa(e.Repeat), strconv.Itoa(mr.RoundCount()),
			i(mr.ErrorsAllRounds.Total()), i(mr.NotSent), strconv.Itoa(mr.Starved), f(mr.Window.Seconds()),
		})
		if err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// roundsFinished lists the rounds each model finished, such as "serial
// 2, pool:16 1, unbounded 0 (not in the table)".
func (rep *Report) roundsFinished() string {
	var parts []string
	for _, mr := range rep.Results {
		parts = append(parts, fmt.Sprintf("%s %d", mr.Label, mr.RoundCount()))
	}
	for _, label := range rep.NotMeasured {
		parts = append(parts, label+" 0 (not in the table)")
	}
	return strings.Join(parts, ", ")
}

func rounds(n int) string {
	if n == 1 {
		return "one round"
	}
	return fmt.Sprintf("median of %d rounds", n)
}

// sharesCPU reports whether mr is one of several servers measured
// together, whose CPU figures are the sum's: one process ran them all.
func (rep *Report) sharesCPU(mr ModelResult) bool {
	return rep.Servers > 1 && len(mr.Rounds) > 0 && mr.Rounds[0].CPU.Scope == ""
}
