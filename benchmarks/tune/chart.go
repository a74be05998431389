package tune

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/poolside-dev/poolside/benchmarks/internal/render"
	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/internal/textfmt"
)

// ChartFormat returns the chart format for a file name: "png" or "svg"
// by its extension, or an error wrapping load.ErrInvalidConfig.
func ChartFormat(name string) (string, error) { return render.ChartFormat(name) }

// WriteChart draws the report and writes it in format, "png" or "svg"
// (see ChartFormat): throughput against workers, with the N/D and load
// ceilings, and p50 and p99 against workers (log scale), with the SLO;
// the recommendation is marked on both. With an adaptive run, a second
// row shows the adaptive pool's size and throughput over time against
// the recommendation.
func (rep *Report) WriteChart(w io.Writer, format string) error {
	if err := render.CheckFormat(format); err != nil {
		return err
	}
	if len(rep.Points) == 0 {
		return fmt.Errorf("%w: chart: no points", load.ErrInvalidConfig)
	}
	tp, err := rep.throughputPlot()
	if err != nil {
		return fmt.Errorf("tune: chart: %w", err)
	}
	lp, err := rep.latencyPlot()
	if err != nil {
		return fmt.Errorf("tune: chart: %w", err)
	}
	page := render.Page{
		Width: 10 * vg.Inch, Height: 4 * vg.Inch, Headroom: vg.Points(24),
		Tiles: draw.Tiles{PadX: vg.Points(14), PadY: vg.Points(14), PadLeft: vg.Points(4), PadRight: vg.Points(10), PadBottom: vg.Points(4)},
	}
	plots := [][]*plot.Plot{{tp, lp}}
	if rep.Adaptive != nil && len(rep.Adaptive.Trajectory) > 0 {
		sp, xp, err := rep.adaptivePlots()
		if err != nil {
			return fmt.Errorf("tune: chart: %w", err)
		}
		plots = append(plots, []*plot.Plot{sp, xp})
		page.Height = 7.5 * vg.Inch
	}
	if err := page.Write(w, format, rep.chartTitle(), plots); err != nil {
		return fmt.Errorf("tune: chart: %w", err)
	}
	return nil
}

// chartTitle summarises the load and the recommendation in one line.
func (rep *Report) chartTitle() string {
	e := rep.Env
	parts := append(render.LoadParts(e), render.WorkParts(e)...)
	parts = append(parts, fmt.Sprintf("%d cores", e.NumCPU))
	head := "poolside tune: " + strings.Join(parts, ", ")
	if rep.Recommended > 0 {
		head += " — recommended " + workers(rep.Recommended)
	}
	return head
}

// workerRange returns the smallest and largest workers measured.
func (rep *Report) workerRange() (lo, hi float64) {
	return float64(rep.Points[0].Workers), float64(rep.Points[len(rep.Points)-1].Workers)
}

// throughputPlot is req/s against workers.
func (rep *Report) throughputPlot() (*plot.Plot, error) {
	p := render.NewPlot("Throughput", "pool workers", "requests per second")
	p.X.Tick.Marker = workerTicks
	xys := make(plotter.XYs, len(rep.Points))
	top := 0.0
	for i, pt := range rep.Points {
		xys[i] = plotter.XY{X: float64(pt.Workers), Y: pt.RPS}
		top = max(top, pt.RPS)
	}
	line, points, err := plotter.NewLinePoints(xys)
	if err != nil {
		return nil, err
	}
	line.Color, points.Color = render.Blue, render.Blue
	points.Shape = draw.CircleGlyph{}
	p.Add(line, points)
	p.Legend.Add("measured", line, points)

	lo, hi := rep.workerRange()
	if d := rep.ServiceTime.Seconds(); d > 0 {
		if err := render.RefLine(p, plotter.XYs{{X: 0, Y: 0}, {X: hi, Y: hi / d}}, render.Grey, render.LongDashes,
			fmt.Sprintf("N/D (D = %s)", textfmt.Duration(rep.ServiceTime))); err != nil {
			return nil, err
		}
	}
	if ceiling := rep.Points[0].LoadCeiling; ceiling > 0 {
		if err := render.RefLine(p, level(hi, ceiling), render.Orange, render.ShortDashes, rep.loadCeilingName()); err != nil {
			return nil, err
		}
		top = max(top, ceiling)
	}
	if cpu := rep.CPUCeiling; cpu > 0 && cpu <= 1.5*top {
		if err := render.RefLine(p, level(hi, cpu), render.Red, render.Dots, "cores / CPU per request"); err != nil {
			return nil, err
		}
		top = max(top, cpu)
	}
	p.Y.Min, p.Y.Max = 0, 1.2*max(top, 1)
	p.X.Min, p.X.Max = max(0, lo-1), hi+1
	if err := rep.markRecommendation(p); err != nil {
		return nil, err
	}
	// The curve rises to the right: the bottom right is free.
	p.Legend.YOffs = vg.Points(4)
	return p, nil
}

// latencyPlot is p50 and p99 against workers, log scale.
func (rep *Report) latencyPlot() (*plot.Plot, error) {
	title := "Latency at the clients"
	if rep.Env.Rate > 0 {
		title += " (corrected for coordinated omission)"
	}
	p := render.NewPlot(title, "pool workers", "milliseconds (log scale)")
	p.X.Tick.Marker = workerTicks
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks
	bottom, top := math.Inf(1), 0.0
	for i, get := range []func(Point) float64{
		func(pt Point) float64 { return textfmt.MS(pt.P50) },
		func(pt Point) float64 { return textfmt.MS(pt.P99) },
	} {
		xys := make(plotter.XYs, 0, len(rep.Points))
		for _, pt := range rep.Points {
			v := max(get(pt), 0.001) // a log scale has no 0
			xys = append(xys, plotter.XY{X: float64(pt.Workers), Y: v})
			bottom, top = min(bottom, v), max(top, v)
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		c := []color.Color{render.Green, render.Orange}[i]
		line.Color, points.Color = c, c
		points.Shape = draw.CircleGlyph{}
		p.Add(line, points)
		p.Legend.Add([]string{"p50", "p99"}[i], line, points)
	}
	lo, hi := rep.workerRange()
	if rep.SLOP99 > 0 {
		slo := textfmt.MS(rep.SLOP99)
		if err := render.RefLine(p, plotter.XYs{{X: max(0, lo-1), Y: slo}, {X: hi + 1, Y: slo}}, render.Red, render.LongDashes,
			fmt.Sprintf("SLO p99 %v", rep.SLOP99)); err != nil {
			return nil, err
		}
		bottom, top = min(bottom, slo), max(top, slo)
	}
	p.Y.Min, p.Y.Max = bottom/1.5, top*6
	p.X.Min, p.X.Max = max(0, lo-1), hi+1
	if err := rep.markRecommendation(p); err != nil {
		return nil, err
	}
	// Latency falls to the right: the top right is free.
	p.Legend.Top = true
	return p, nil
}

// markRecommendation draws a vertical line at the recommended size,
// labelled, across p's Y range (set before).
func (rep *Report) markRecommendation(p *plot.Plot) error {
	if rep.Recommended == 0 {
		return nil
	}
	x := float64(rep.Recommended)
	l, err := plotter.NewLine(plotter.XYs{{X: x, Y: p.Y.Min}, {X: x, Y: p.Y.Max}})
	if err != nil {
		return err
	}
	l.Color = render.Green
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(fmt.Sprintf("recommended: %d", rep.Recommended), l)
	return nil
}

// adaptivePlots are the adaptive pool's size and throughput over time.
func (rep *Report) adaptivePlots() (size, tput *plot.Plot, err error) {
	a := rep.Adaptive
	t0 := a.Trajectory[0].Time.Add(-a.Interval)
	limits := make(plotter.XYs, len(a.Trajectory))
	rps := make(plotter.XYs, len(a.Trajectory))
	topN, topX := 0.0, 0.0
	for i, pt := range a.Trajectory {
		t := pt.Time.Sub(t0).Seconds()
		limits[i] = plotter.XY{X: t, Y: float64(pt.Limit)}
		rps[i] = plotter.XY{X: t, Y: float64(pt.Requests) / a.Interval.Seconds()}
		topN, topX = max(topN, limits[i].Y), max(topX, rps[i].Y)
	}
	end := limits[len(limits)-1].X
	rec := rep.Point(rep.Recommended)

	size = render.NewPlot("Adaptive sizing: pool size over time", "seconds", "pool workers")
	l, err := plotter.NewLine(limits)
	if err != nil {
		return nil, nil, err
	}
	l.Color = render.Purple
	l.StepStyle = plotter.PreStep
	size.Add(l)
	size.Legend.Add("workers auto", l)
	if rec != nil {
		if err := render.RefLine(size, plotter.XYs{{X: 0, Y: float64(rec.Workers)}, {X: end, Y: float64(rec.Workers)}}, render.Green, render.LongDashes,
			fmt.Sprintf("recommended: %d", rec.Workers)); err != nil {
			return nil, nil, err
		}
		topN = max(topN, float64(rec.Workers))
	}
	size.Y.Min, size.Y.Max = 0, 1.6*max(topN, 1)
	size.Legend.Top = true

	tput = render.NewPlot(fmt.Sprintf("Adaptive sizing: throughput per %v", a.Interval), "seconds", "requests per second")
	x, err := plotter.NewLine(rps)
	if err != nil {
		return nil, nil, err
	}
	x.Color = render.Purple
	tput.Add(x)
	tput.Legend.Add("workers auto", x)
	if rec != nil {
		if err := render.RefLine(tput, plotter.XYs{{X: 0, Y: rec.RPS}, {X: end, Y: rec.RPS}}, render.Green, render.LongDashes,
			workers(rec.Workers)+" (tuned)"); err != nil {
			return nil, nil, err
		}
		topX = max(topX, rec.RPS)
	}
	tput.Y.Min, tput.Y.Max = 0, 1.6*max(topX, 1)
	tput.Legend.Top = true
	return size, tput, nil
}

// level is a horizontal line at y from 0 to x.
func level(x, y float64) plotter.XYs { return plotter.XYs{{X: 0, Y: y}, {X: x, Y: y}} }

// workerTicks are plot's default ticks at whole numbers of workers, and
// every worker on a short axis.
var workerTicks = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
	if hi-lo <= 10 {
		var ticks []plot.Tick
		for v := math.Ceil(lo); v <= hi; v++ {
			ticks = append(ticks, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
		}
		return ticks
	}
	var ticks []plot.Tick
	for _, t := range render.PlainTicks.Ticks(lo, hi) {
		if t.Value == math.Trunc(t.Value) {
			ticks = append(ticks, t)
		}
	}
	return ticks
})

// logTicks labels a log axis at 1, 2 and 5 times each power of ten.
var logTicks = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= lo && v <= hi {
				ticks = append(ticks, plot.Tick{Value: v, Label: fmt.Sprint(roundTick(v))})
			}
		}
	}
	return ticks
})

// roundTick removes floating-point noise from a tick value.
func roundTick(v float64) float64 {
	p := math.Pow(10, 3-math.Ceil(math.Log10(v)))
	return math.Round(v*p) / p
}
