package compare

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/poolside-dev/poolside/benchmarks/internal/render"
	"github.com/poolside-dev/poolside/internal/textfmt"
)

// ChartFormat returns the chart format for a file name: "png" or "svg"
// by its extension, or an error wrapping load.ErrInvalidConfig.
func ChartFormat(name string) (string, error) { return render.ChartFormat(name) }

// latencyColours are the bars of p50, p99 and p99.9.
var latencyColours = []color.Color{render.Green, render.Orange, render.Red}

// chartData is what WriteChart draws, apart from how.
type chartData struct {
	// Names label the models; a model that left clients unserved or
	// requests unsent says so on a second line, and is Marked.
	Names  []string
	Marked []bool
	// RPS is each model's throughput, SpeedUp its speed-up over the
	// first (nil without one: see Report.HasSpeedUp).
	RPS, SpeedUp []float64
	// Target is each model's open-loop rate and NotSentRate the requests
	// per second it never sent; nil in a closed loop.
	Target, NotSentRate []float64
	// Latency holds p50, p99 and p99.9 in milliseconds, per model.
	Latency [3][]float64
	// LogLatency reports a log latency axis: the latencies span more
	// than logSpan, so that on a linear one the short bars would vanish.
	LogLatency bool
}

// logSpan is the ratio of the longest to the shortest latency above
// which the latency panel is drawn on a log scale.
const logSpan = 20

func chartDataOf(rep *Report) chartData {
	n := len(rep.Results)
	cd := chartData{Names: make([]string, n), Marked: make([]bool, n), RPS: make([]float64, n)}
	open := rep.Env.Rate > 0
	if open {
		cd.Target, cd.NotSentRate = make([]float64, n), make([]float64, n)
	}
	if rep.HasSpeedUp() {
		cd.SpeedUp = make([]float64, n)
	}
	for i := range cd.Latency {
		cd.Latency[i] = make([]float64, n)
	}
	lo, hi := math.Inf(1), 0.0
	for i, mr := range rep.Results {
		name := mr.Label
		var marks []string
		if mr.Starved > 0 {
			marks = append(marks, fmt.Sprintf("%d/%d starved", mr.Starved, mr.clients(rep.Env)))
		}
		if mr.NotSent > 0 {
			marks = append(marks, fmt.Sprintf("%d unsent", mr.NotSent))
		}
		if len(marks) > 0 {
			name += "\n" + strings.Join(marks, "\n")
			cd.Marked[i] = true
		}
		cd.Names[i] = name
		cd.RPS[i] = mr.RPS
		if cd.SpeedUp != nil {
			cd.SpeedUp[i] = mr.SpeedUp
		}
		if open {
			cd.Target[i] = mr.TargetRate
			if mr.Window > 0 {
				cd.NotSentRate[i] = float64(mr.NotSent) / mr.Window.Seconds()
			}
		}
		for j, d := range []time.Duration{mr.P50, mr.P99, mr.P999} {
			v := ms(d)
			cd.Latency[j][i] = v
			if v > 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	cd.LogLatency = hi > logSpan*lo
	return cd
}

// WriteChart draws the report as two bar charts side by side, throughput
// per model and latency (p50, p99, p99.9) per model, and writes it in
// format, "png" or "svg" (see ChartFormat). In an open loop the
// throughput panel shows the target rate as a dashed line and the
// requests never sent, per second, stacked in grey on each bar. A model
// that left clients without a reply or requests unsent says so under its
// name, and its latencies carry a "!": they describe the others only.
// Every bar is labelled with its value; when the latencies span more than
// a factor of 20, their axis is logarithmic so that every bar can be read.
func (rep *Report) WriteChart(w io.Writer, format string) error {
	if err := render.CheckFormat(format); err != nil {
		return err
	}
	cd := chartDataOf(rep)
	barWidth := vg.Points(min(60, 200/float64(max(len(cd.Names), 1))))

	title := "Throughput (req/s)"
	switch {
	case cd.SpeedUp != nil:
		title = "Throughput (req/s, speed-up over " + rep.Results[0].Label + ")"
	case cd.Target != nil:
		title = "Throughput (req/s achieved of the target; grey: not sent)"
	}
	tp := render.NewPlot(title, "", "requests per second")
	bars, err := solidBars(cd.RPS, barWidth, render.Blue)
	if err != nil {
		return err
	}
	tp.Add(bars)
	top := render.MaxOf(cd.RPS)
	if cd.Target != nil {
		unsent, err := solidBars(cd.NotSentRate, barWidth, render.Grey)
		if err != nil {
			return err
		}
		unsent.StackOn(bars)
		tp.Add(unsent)
		target := plotter.XYs{{X: -0.5, Y: cd.Target[0]}, {X: float64(len(cd.Names)) - 0.5, Y: cd.Target[0]}}
		if err := render.RefLine(tp, target, render.Orange, render.LongDashes, fmt.Sprintf("target %s req/s", textfmt.Rate(cd.Target[0]))); err != nil {
			return fmt.Errorf("compare: chart: %w", err)
		}
		tp.Legend.Top = true
		for i := range cd.RPS {
			top = max(top, cd.RPS[i]+cd.NotSentRate[i], cd.Target[i])
		}
	}
	labels := plotter.XYLabels{XYs: make(plotter.XYs, len(cd.Names)), Labels: make([]string, len(cd.Names))}
	for i, v := range cd.RPS {
		labels.XYs[i] = plotter.XY{X: float64(i), Y: v}
		labels.Labels[i] = fmt.Sprintf("%.0f", v)
		switch {
		case cd.SpeedUp != nil:
			labels.Labels[i] += fmt.Sprintf(" (%.1f×)", cd.SpeedUp[i])
		case cd.Target != nil && cd.Target[i] > 0:
			labels.Labels[i] += fmt.Sprintf(" (%.0f%%)", 100*v/cd.Target[i])
		}
	}
	if err := addLabels(tp, labels); err != nil {
		return err
	}
	tp.NominalX(cd.Names...)
	tp.Y.Min, tp.Y.Max = 0, 1.15*top

	title = "Latency (ms)"
	if rep.Env.Rate > 0 {
		title = "Latency (ms, from intended send)"
	}
	if slices.Contains(cd.Marked, true) {
		title += "; !: unserved left out"
	}
	lp := render.NewPlot(title, "", "milliseconds")
	group := barWidth / 3
	hi := max(render.MaxOf(cd.Latency[0]), render.MaxOf(cd.Latency[1]), render.MaxOf(cd.Latency[2]))
	if cd.LogLatency {
		lo := hi
		for _, vs := range cd.Latency {
			for _, v := range vs {
				if v > 0 {
					lo = min(lo, v)
				}
			}
		}
		lp.Y.Scale, lp.Y.Tick.Marker = plot.LogScale{}, render.LogTicks
		lp.Y.Label.Text = "milliseconds (log scale)"
		lp.Y.Min, lp.Y.Max = math.Pow(10, math.Floor(math.Log10(lo))), hi*10
	} else {
		lp.Y.Min, lp.Y.Max = 0, 1.6*hi
	}
	for i, label := range []string{"p50", "p99", "p99.9"} {
		b := render.Bars{Values: cd.Latency[i], Width: group, Offset: vg.Length(i-1) * group, Color: latencyColours[i]}
		lp.Add(b)
		lp.Legend.Add(label, b)
		vl := plotter.XYLabels{}
		for m, v := range cd.Latency[i] {
			if v <= 0 {
				continue
			}
			text := textfmt.Duration(time.Duration(v * float64(time.Millisecond)))
			if cd.Marked[m] {
				text += "!"
			}
			vl.XYs = append(vl.XYs, plotter.XY{X: float64(m), Y: v})
			vl.Labels = append(vl.Labels, text)
		}
		if len(vl.XYs) == 0 {
			continue
		}
		l, err := plotter.NewLabels(vl)
		if err != nil {
			return fmt.Errorf("compare: chart: %w", err)
		}
		for k := range l.TextStyle {
			l.TextStyle[k].Rotation = math.Pi / 2
			l.TextStyle[k].XAlign, l.TextStyle[k].YAlign = draw.XLeft, draw.YCenter
			l.TextStyle[k].Font.Size = vg.Points(7)
		}
		l.Offset = vg.Point{X: vg.Length(i-1) * group, Y: vg.Points(2)}
		lp.Add(l)
	}
	lp.Legend.Top = true
	lp.NominalX(cd.Names...)

	page := render.Page{
		Width: 9 * vg.Inch, Height: 4 * vg.Inch, Headroom: vg.Points(30),
		Tiles: draw.Tiles{PadX: vg.Points(12), PadLeft: vg.Points(4), PadRight: vg.Points(8), PadBottom: vg.Points(4)},
	}
	if err := page.Write(w, format, rep.chartTitle(), [][]*plot.Plot{{tp, lp}}); err != nil {
		return fmt.Errorf("compare: chart: %w", err)
	}
	return nil
}

// solidBars is a bar chart of vs in c, without outlines.
func solidBars(vs []float64, width vg.Length, c color.Color) (*plotter.BarChart, error) {
	b, err := plotter.NewBarChart(plotter.Values(vs), width)
	if err != nil {
		return nil, fmt.Errorf("compare: chart: %w", err)
	}
	b.Color = c
	b.LineStyle.Width = 0
	return b, nil
}

// addLabels adds labels above the points of xy, centred.
func addLabels(p *plot.Plot, xy plotter.XYLabels) error {
	l, err := plotter.NewLabels(xy)
	if err != nil {
		return fmt.Errorf("compare: chart: %w", err)
	}
	for i := range l.TextStyle {
		l.TextStyle[i].XAlign = draw.XCenter
	}
	l.Offset = vg.Point{Y: vg.Points(3)}
	p.Add(l)
	return nil
}

// chartTitle summarises the load in one line.
func (rep *Report) chartTitle() string {
	e := rep.Env
	parts := render.LoadParts(e)
	if e.InProcess {
		parts = append(parts, render.WorkParts(e)...)
		parts = append(parts, string(e.Store)+" store")
	}
	parts = append(parts, fmt.Sprintf("%d cores", e.NumCPU))
	if rep.Incomplete {
		return fmt.Sprintf("poolside bench, INCOMPLETE (stopped in round %d of %d): %s", rep.StoppedRound(), e.Repeat, strings.Join(parts, ", "))
	}
	parts = append(parts, rounds(e.Repeat))
	return "poolside bench: " + strings.Join(parts, ", ")
}
