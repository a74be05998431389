package compare

import (
	"fmt"
	"image/color"
	"io"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/poolside-dev/poolside/benchmarks/internal/render"
)

// ChartFormat returns the chart format for a file name: "png" or "svg"
// by its extension, or an error wrapping load.ErrInvalidConfig.
func ChartFormat(name string) (string, error) { return render.ChartFormat(name) }

// latencyColours are the bars of p50, p99 and p99.9.
var latencyColours = []color.Color{render.Green, render.Orange, render.Red}

// WriteChart draws the report as two bar charts side by side, throughput
// per model and latency (p50, p99, p99.9) per model, and writes it in
// format, "png" or "svg" (see ChartFormat).
func (rep *Report) WriteChart(w io.Writer, format string) error {
	if err := render.CheckFormat(format); err != nil {
		return err
	}
	names := make([]string, len(rep.Results))
	rps := make(plotter.Values, len(rep.Results))
	lat := [3]plotter.Values{}
	for i := range lat {
		lat[i] = make(plotter.Values, len(rep.Results))
	}
	for i, mr := range rep.Results {
		names[i] = mr.Label
		rps[i] = mr.RPS
		lat[0][i], lat[1][i], lat[2][i] = ms(mr.P50), ms(mr.P99), ms(mr.P999)
	}
	barWidth := vg.Points(min(60, 200/float64(max(len(names), 1))))

	title := "Throughput (req/s)"
	if rep.HasSpeedUp() {
		title = "Throughput (req/s, speed-up over " + names[0] + ")"
	}
	tp := render.NewPlot(title, "", "requests per second")
	bars, err := plotter.NewBarChart(rps, barWidth)
	if err != nil {
		return fmt.Errorf("compare: chart: %w", err)
	}
	bars.Color = render.Blue
	bars.LineStyle.Width = 0
	tp.Add(bars)
	labels := plotter.XYLabels{XYs: make(plotter.XYs, len(names)), Labels: make([]string, len(names))}
	for i, mr := range rep.Results {
		labels.XYs[i] = plotter.XY{X: float64(i), Y: mr.RPS}
		labels.Labels[i] = fmt.Sprintf("%.0f", mr.RPS)
		if rep.HasSpeedUp() {
			labels.Labels[i] += fmt.Sprintf(" (%.1f×)", mr.SpeedUp)
		}
	}
	if l, err := plotter.NewLabels(labels); err == nil {
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign = draw.XCenter
		}
		l.Offset = vg.Point{Y: vg.Points(3)}
		tp.Add(l)
	}
	tp.NominalX(names...)
	tp.Y.Min, tp.Y.Max = 0, 1.15*render.MaxOf(rps)

	title = "Latency"
	if rep.Env.Rate > 0 {
		title = "Latency (corrected for coordinated omission)"
	}
	lp := render.NewPlot(title, "", "milliseconds")
	group := barWidth / 3
	for i, label := range []string{"p50", "p99", "p99.9"} {
		b, err := plotter.NewBarChart(lat[i], group)
		if err != nil {
			return fmt.Errorf("compare: chart: %w", err)
		}
		b.Color = latencyColours[i]
		b.LineStyle.Width = 0
		b.Offset = vg.Length(i-1) * group
		lp.Add(b)
		lp.Legend.Add(label, b)
	}
	lp.Legend.Top = true
	lp.NominalX(names...)
	lp.Y.Min, lp.Y.Max = 0, 1.3*max(render.MaxOf(lat[0]), render.MaxOf(lat[1]), render.MaxOf(lat[2]))

	page := render.Page{
		Width: 9 * vg.Inch, Height: 4 * vg.Inch, Headroom: vg.Points(30),
		Tiles: draw.Tiles{PadX: vg.Points(12), PadLeft: vg.Points(4), PadRight: vg.Points(8), PadBottom: vg.Points(4)},
	}
	if err := page.Write(w, format, rep.chartTitle(), [][]*plot.Plot{{tp, lp}}); err != nil {
		return fmt.Errorf("compare: chart: %w", err)
	}
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
