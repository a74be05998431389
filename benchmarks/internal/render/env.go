package render

import (
	"fmt"
	"time"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/internal/textfmt"
)

// LoadParts describes e's load for a chart's heading: the clients, the
// loop, and a connection per request if so.
func LoadParts(e load.Env) []string {
	parts := []string{textfmt.Clients(e.Clients)}
	if e.Rate > 0 {
		parts = append(parts, fmt.Sprintf("open loop %s req/s", textfmt.Rate(e.Rate)))
	} else {
		parts = append(parts, "closed loop")
	}
	if e.ConnPerRequest {
		parts = append(parts, "conn per request")
	}
	return parts
}

// WorkParts describes for a chart's heading the work the in-process
// server gives each request: none, a delay, CPU or both.
func WorkParts(e load.Env) []string {
	var parts []string
	if e.WorkDelay > 0 {
		parts = append(parts, fmt.Sprintf("work delay %v", e.WorkDelay))
	}
	if e.WorkCPU > 0 {
		parts = append(parts, fmt.Sprintf("work CPU %d", e.WorkCPU))
	}
	return parts
}

// EnvJSON is the JSON form of a load.Env, the "env" object of the
// reports' JSON.
type EnvJSON struct {
	Time           time.Time `json:"time"`
	Hostname       string    `json:"hostname"`
	GOOS           string    `json:"goos"`
	GOARCH         string    `json:"goarch"`
	GoVersion      string    `json:"go_version"`
	NumCPU         int       `json:"num_cpu"`
	GOMAXPROCS     int       `json:"gomaxprocs"`
	InProcess      bool      `json:"in_process"`
	Addr           string    `json:"addr,omitempty"`
	CPUScope       string    `json:"cpu_scope"`
	Clients        int       `json:"clients"`
	ConnPerRequest bool      `json:"conn_per_request"`
	Rate           float64   `json:"rate"`
	Loop           string    `json:"loop"`
	TimeoutMS      float64   `json:"timeout_ms"`
	WarmupSeconds  float64   `json:"warmup_s"`
	DurationSecs   float64   `json:"duration_s"`
	MaxRequests    int64     `json:"max_requests"`
	Repeat         int       `json:"repeat"`
	Mix            string    `json:"mix"`
	WorkDelayMS    float64   `json:"work_delay_ms"`
	WorkCPU        int       `json:"work_cpu"`
	Store          string    `json:"store,omitempty"`
	Queue          int       `json:"queue,omitempty"`
}

// JSONEnv returns the JSON form of e.
func JSONEnv(e load.Env) EnvJSON {
	loop := "closed"
	if e.Rate > 0 {
		loop = "open"
	}
	ms := textfmt.MS
	return EnvJSON{
		Time: e.Time, Hostname: e.Hostname, GOOS: e.GOOS, GOARCH: e.GOARCH, GoVersion: e.GoVersion,
		NumCPU: e.NumCPU, GOMAXPROCS: e.GOMAXPROCS, InProcess: e.InProcess, Addr: e.Addr, CPUScope: e.CPUScope,
		Clients: e.Clients, ConnPerRequest: e.ConnPerRequest, Rate: e.Rate, Loop: loop, TimeoutMS: ms(e.Timeout),
		WarmupSeconds: e.Warmup.Seconds(), DurationSecs: e.Duration.Seconds(), MaxRequests: e.MaxRequests,
		Repeat: e.Repeat, Mix: e.Mix.String(), WorkDelayMS: ms(e.WorkDelay), WorkCPU: e.WorkCPU,
		Store: string(e.Store), Queue: e.Queue,
	}
}

// EnvFromJSON is the inverse of JSONEnv, for reports read back from
// their JSON.
func EnvFromJSON(j EnvJSON) (load.Env, error) {
	e := load.Env{
		Time: j.Time, Hostname: j.Hostname, GOOS: j.GOOS, GOARCH: j.GOARCH, GoVersion: j.GoVersion,
		NumCPU: j.NumCPU, GOMAXPROCS: j.GOMAXPROCS, InProcess: j.InProcess, Addr: j.Addr, CPUScope: j.CPUScope,
		Clients: j.Clients, ConnPerRequest: j.ConnPerRequest, Rate: j.Rate,
		Timeout: msDuration(j.TimeoutMS), Warmup: secDuration(j.WarmupSeconds), Duration: secDuration(j.DurationSecs),
		MaxRequests: j.MaxRequests, Repeat: j.Repeat, WorkDelay: msDuration(j.WorkDelayMS), WorkCPU: j.WorkCPU,
		Store: booking.StoreKind(j.Store), Queue: j.Queue,
	}
	if j.Mix != "" {
		m, err := load.ParseMix(j.Mix)
		if err != nil {
			return load.Env{}, fmt.Errorf("env.mix: %w", err)
		}
		e.Mix = m
	}
	return e, nil
}

func msDuration(v float64) time.Duration  { return time.Duration(v * float64(time.Millisecond)) }
func secDuration(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
