package tune

import (
	"encoding/json"
	"io"
	"math"

	"github.com/poolside-dev/poolside/benchmarks/internal/render"
	"github.com/poolside-dev/poolside/internal/textfmt"
)

// finite returns x, or 0 if it is infinite or not a number, which JSON
// cannot carry.
func finite(x float64) float64 {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return 0
	}
	return x
}

// jsonTune is the JSON form of a Report.
type jsonTune struct {
	Recommended   int      `json:"recommended"`
	Best          int      `json:"best"`
	Seed          int      `json:"seed"`
	SeedUnbounded int      `json:"seed_unbounded"`
	LoadCeilingBy string   `json:"load_ceiling_by"`
	SeedRate      float64  `json:"seed_rate_rps"`
	SeedBy        string   `json:"seed_by"`
	Stop          Stop     `json:"stop"`
	ClimbFrom     int      `json:"climb_from"`
	ClimbTo       int      `json:"climb_to"`
	Explanation   string   `json:"explanation"`
	ServiceTimeMS float64  `json:"service_time_ms"`
	RTTMS         *float64 `json:"rtt_ms"`
	CPUCeiling    float64  `json:"cpu_ceiling_rps,omitempty"`
	FinalWorkers  int      `json:"final_workers,omitempty"`
	SLOP99MS      float64  `json:"slo_p99_ms"`
	MinGain       float64  `json:"min_gain"`
	MinWorkers    int      `json:"min_workers"`
	MaxWorkers    int      `json:"max_workers"`
	MaxSteps      int      `json:"max_steps"`
	// CapBy, CapFrom, CapGain, StillRising, Contended, OtherCPUMax and
	// Doubts are Report's; ContendedSteps its contended points.
	CapBy          string              `json:"cap_by"`
	MaxWorkersSet  bool                `json:"max_workers_set"`
	CapFrom        int                 `json:"cap_from"`
	CapGain        float64             `json:"cap_gain"`
	StillRising    bool                `json:"still_rising_at_cap"`
	Contended      bool                `json:"contended"`
	OtherCPUMax    float64             `json:"other_processes_cpu_max"`
	ContendedSteps []jsonContendedStep `json:"contended_steps"`
	Doubts         []string            `json:"doubts"`
	Points         []jsonPoint         `json:"points"`
	Adaptive       *jsonAdaptive       `json:"adaptive,omitempty"`
	Env            render.EnvJSON      `json:"env"`
}

// jsonContendedStep is a step during which other processes used a fifth
// of the machine's CPU or more.
type jsonContendedStep struct {
	Step     int     `json:"step"`
	Workers  int     `json:"workers"`
	OtherCPU float64 `json:"other_processes_cpu"`
}

type jsonPoint struct {
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
//	 "cap_by", "cap_from", "cap_gain", "still_rising_at_cap",
//	 "contended", "other_processes_cpu_max",
//	 "contended_steps": [{"step", "workers", "other_processes_cpu"}, ...],
//	 "doubts": ["...", ...],
//	 "explanation",
//	 "service_time_ms", "rtt_ms", ...,
//	 "points": [{"workers", "step", "phase", "rps", "p50_ms", "p99_ms",
//	   "queue_wait_mean_ms", "cpu_us_per_req", "worker_ceiling_rps",
//	   "load_ceiling_rps", ...}, ...],
//	 "adaptive": {"settled", "rps", "p99_ms", "trajectory": [...]},
//	 "env": {...}}
//
// Points are in order of size; rtt_ms is null when it was not measured.
func (rep *Report) WriteJSON(w io.Writer) error {
	out := jsonTune{
		Recommended: rep.Recommended, Best: rep.Best, Seed: rep.Seed, SeedUnbounded: rep.SeedUnbounded, LoadCeilingBy: rep.LoadCeilingBy,
		SeedRate: finite(rep.SeedRate), SeedBy: rep.SeedBy, Stop: rep.Stop, ClimbFrom: rep.ClimbFrom, ClimbTo: rep.ClimbTo, Explanation: rep.Explanation,
		ServiceTimeMS: textfmt.MS(rep.ServiceTime), CPUCeiling: rep.CPUCeiling, FinalWorkers: rep.FinalWorkers,
		SLOP99MS: textfmt.MS(rep.SLOP99), MinGain: rep.MinGain, MinWorkers: rep.MinWorkers, MaxWorkers: rep.MaxWorkers, MaxSteps: rep.MaxSteps,
		CapBy: rep.CapBy, MaxWorkersSet: rep.MaxWorkersSet, CapFrom: rep.CapFrom, CapGain: rep.CapGain, StillRising: rep.StillRising,
		Contended: rep.Contended, OtherCPUMax: rep.OtherCPUMax, ContendedSteps: []jsonContendedStep{}, Doubts: append([]string{}, rep.Doubts...),
		Points: make([]jsonPoint, 0, len(rep.Points)),
		Env:    render.JSONEnv(rep.Env),
	}
	if rep.RTTMeasured {
		v := textfmt.MS(rep.RTT)
		out.RTTMS = &v
	}
	for _, n := range rep.ContendedWorkers {
		if p := rep.Point(n); p != nil {
			out.ContendedSteps = append(out.ContendedSteps, jsonContendedStep{Step: p.Step, Workers: p.Workers, OtherCPU: p.OtherCPU})
		}
	}
	for _, p := range rep.Points {
		jp := jsonPoint{
			Workers: p.Workers, Step: p.Step, Phase: string(p.Phase), RPS: p.RPS, P50: textfmt.MS(p.P50), P99: textfmt.MS(p.P99),
			QueueWaitMean: textfmt.MS(p.QueueWait), ServiceMean: textfmt.MS(p.Service), CPUPerRequest: textfmt.US(p.CPUPerRequest),
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
			DurationSecs: a.Duration.Seconds(), IntervalMS: textfmt.MS(a.Interval), Start: a.Start, Min: a.Min, Max: a.Max,
			Settled: a.Settled, SettledRPS: a.SettledRPS, Low: a.Low, High: a.High, RPS: a.Result.RPS,
			P50: textfmt.MS(a.Result.Latency.P50), P99: textfmt.MS(a.Result.Latency.P99), Errors: a.Result.Errors.Total(),
			Trajectory: make([]jsonAdaptivePoint, 0, len(a.Trajectory)),
		}
		for _, p := range a.Trajectory {
			ja.Trajectory = append(ja.Trajectory, jsonAdaptivePoint{
				OffsetSecs: p.Time.Sub(a.Trajectory[0].Time).Seconds() + a.Interval.Seconds(),
				Limit:      p.Limit, LatencyMS: textfmt.MS(p.Latency), EstimateMS: textfmt.MS(p.Estimate), InFlight: p.InFlight, Requests: p.Requests,
			})
		}
		out.Adaptive = ja
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
