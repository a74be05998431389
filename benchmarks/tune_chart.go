package benchmarks

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
)

// Colours of the tune chart beyond chartColours.
var (
	recColour     = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff} // the recommendation
	ceilingColour = color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}
	sloColour     = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	adaptColour   = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}
)

// WriteChart draws the report and writes it in format, "png" or "svg"
// (see ChartFormat): throughput against workers, with the N/D and load
// ceilings, and p50 and p99 against workers (log scale), with the SLO;
// the recommendation is marked on both. With an adaptive run, a second
// row shows the adaptive pool's size and throughput over time against
// the recommendation.
func (rep *TuneReport) WriteChart(w io.Writer, format string) error {
	if format != "png" && format != "svg" {
		return fmt.Errorf("%w: chart format %q: choose png or svg", ErrInvalidConfig, format)
	}
	if len(rep.Points) == 0 {
		return fmt.Errorf("%w: chart: no points", ErrInvalidConfig)
	}
	tp, err := rep.throughputPlot()
	if err != nil {
		return fmt.Errorf("benchmarks: chart: %w", err)
	}
	lp, err := rep.latencyPlot()
	if err != nil {
		return fmt.Errorf("benchmarks: chart: %w", err)
	}
	page := chartPage{
		width: 10 * vg.Inch, height: 4 * vg.Inch, headroom: vg.Points(24),
		tiles: draw.Tiles{PadX: vg.Points(14), PadY: vg.Points(14), PadLeft: vg.Points(4), PadRight: vg.Points(10), PadBottom: vg.Points(4)},
	}
	plots := [][]*plot.Plot{{tp, lp}}
	if rep.Adaptive != nil && len(rep.Adaptive.Trajectory) > 0 {
		sp, xp, err := rep.adaptivePlots()
		if err != nil {
			return fmt.Errorf("benchmarks: chart: %w", err)
		}
		plots = append(plots, []*plot.Plot{sp, xp})
		page.height = 7.5 * vg.Inch
	}
	return page.write(w, format, rep.chartTitle(), plots)
}

// chartTitle summarises the load and the recommendation in one line.
func (rep *TuneReport) chartTitle() string {
	e := rep.Env
	parts := append(e.loadParts(), e.workParts()...)
	parts = append(parts, fmt.Sprintf("%d cores", e.NumCPU))
	head := "poolside tune: " + strings.Join(parts, ", ")
	if rep.Recommended > 0 {
		head += " — recommended " + workers(rep.Recommended)
	}
	return head
}

// workerRange returns the smallest and largest workers measured.
func (rep *TuneReport) workerRange() (lo, hi float64) {
	return float64(rep.Points[0].Workers), float64(rep.Points[len(rep.Points)-1].Workers)
}

// throughputPlot is req/s against workers.
func (rep *TuneReport) throughputPlot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Throughput"
	p.X.Label.Text = "pool workers"
	p.Y.Label.Text = "requests per second"
	p.X.Tick.Marker, p.Y.Tick.Marker = workerTicks, plainTicks
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
	line.Color, points.Color = chartColours[0], chartColours[0]
	points.Shape = draw.CircleGlyph{}
	p.Add(line, points)
	p.Legend.Add("measured", line, points)

	lo, hi := rep.workerRange()
	if d := rep.ServiceTime.Seconds(); d > 0 {
		nd, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: hi, Y: hi / d}})
		if err != nil {
			return nil, err
		}
		dashed(nd, ceilingColour)
		p.Add(nd)
		p.Legend.Add(fmt.Sprintf("N/D (D = %s)", fmtDuration(rep.ServiceTime)), nd)
	}
	if load := rep.Points[0].LoadCeiling; load > 0 {
		l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: load}, {X: hi, Y: load}})
		if err != nil {
			return nil, err
		}
		dashed(l, chartColours[2])
		l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(l)
		p.Legend.Add(rep.loadCeilingName(), l)
		top = max(top, load)
	}
	if cpu := rep.CPUCeiling; cpu > 0 && cpu <= 1.5*top {
		l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: cpu}, {X: hi, Y: cpu}})
		if err != nil {
			return nil, err
		}
		dashed(l, sloColour)
		l.Dashes = []vg.Length{vg.Points(1), vg.Points(2)}
		p.Add(l)
		p.Legend.Add("cores / CPU per request", l)
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
func (rep *TuneReport) latencyPlot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Latency at the clients"
	if rep.Env.Rate > 0 {
		p.Title.Text += " (corrected for coordinated omission)"
	}
	p.X.Label.Text = "pool workers"
	p.Y.Label.Text = "milliseconds (log scale)"
	p.X.Tick.Marker = workerTicks
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks
	bottom, top := math.Inf(1), 0.0
	for i, get := range []func(TunePoint) float64{
		func(pt TunePoint) float64 { return ms(pt.P50) },
		func(pt TunePoint) float64 { return ms(pt.P99) },
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
		line.Color, points.Color = chartColours[i+1], chartColours[i+1]
		points.Shape = draw.CircleGlyph{}
		p.Add(line, points)
		p.Legend.Add([]string{"p50", "p99"}[i], line, points)
	}
	lo, hi := rep.workerRange()
	if rep.SLOP99 > 0 {
		slo := ms(rep.SLOP99)
		l, err := plotter.NewLine(plotter.XYs{{X: max(0, lo-1), Y: slo}, {X: hi + 1, Y: slo}})
		if err != nil {
			return nil, err
		}
		dashed(l, sloColour)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("SLO p99 %v", rep.SLOP99), l)
		bottom, top = min(bottom, slo), max(top, slo)
	}
	p.Y.Min, p.Y.Max = bottom/1.5, top*6
	p.X.Min, p.X.Max = max(0, lo-1), hi+1
	if err := rep.markRecommendation(p); err != nil {
		return nil, err
	}
	// Latency falls to the right: the top right is free.
	legendTop(p)
	return p, nil
}

// markRecommendation draws a vertical line at the recommended size,
// labelled, across p's Y range (set before).
func (rep *TuneReport) markRecommendation(p *plot.Plot) error {
	if rep.Recommended == 0 {
		return nil
	}
	x := float64(rep.Recommended)
	l, err := plotter.NewLine(plotter.XYs{{X: x, Y: p.Y.Min}, {X: x, Y: p.Y.Max}})
	if err != nil {
		return err
	}
	l.Color = recColour
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(fmt.Sprintf("recommended: %d", rep.Recommended), l)
	return nil
}

// adaptivePlots are the adaptive pool's size and throughput over time.
func (rep *TuneReport) adaptivePlots() (size, tput *plot.Plot, err error) {
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

	size = plot.New()
	size.Title.Text = "Adaptive sizing: pool size over time"
	size.X.Label.Text = "seconds"
	size.Y.Label.Text = "pool workers"
	size.X.Tick.Marker, size.Y.Tick.Marker = plainTicks, plainTicks
	l, err := plotter.NewLine(limits)
	if err != nil {
		return nil, nil, err
	}
	l.Color = adaptColour
	l.StepStyle = plotter.PreStep
	size.Add(l)
	size.Legend.Add("workers auto", l)
	if rec != nil {
		r, err := plotter.NewLine(plotter.XYs{{X: 0, Y: float64(rec.Workers)}, {X: end, Y: float64(rec.Workers)}})
		if err != nil {
			return nil, nil, err
		}
		dashed(r, recColour)
		size.Add(r)
		size.Legend.Add(fmt.Sprintf("recommended: %d", rec.Workers), r)
		topN = max(topN, float64(rec.Workers))
	}
	size.Y.Min, size.Y.Max = 0, 1.6*max(topN, 1)
	legendTop(size)

	tput = plot.New()
	tput.Title.Text = fmt.Sprintf("Adaptive sizing: throughput per %v", a.Interval)
	tput.X.Label.Text = "seconds"
	tput.Y.Label.Text = "requests per second"
	tput.X.Tick.Marker, tput.Y.Tick.Marker = plainTicks, plainTicks
	x, err := plotter.NewLine(rps)
	if err != nil {
		return nil, nil, err
	}
	x.Color = adaptColour
	tput.Add(x)
	tput.Legend.Add("workers auto", x)
	if rec != nil {
		r, err := plotter.NewLine(plotter.XYs{{X: 0, Y: rec.RPS}, {X: end, Y: rec.RPS}})
		if err != nil {
			return nil, nil, err
		}
		dashed(r, recColour)
		tput.Add(r)
		tput.Legend.Add(workers(rec.Workers)+" (tuned)", r)
		topX = max(topX, rec.RPS)
	}
	tput.Y.Min, tput.Y.Max = 0, 1.6*max(topX, 1)
	legendTop(tput)
	return size, tput, nil
}

// legendTop puts p's legend at the top right; the plots leave headroom
// for it.
func legendTop(p *plot.Plot) {
	p.Legend.Top = true
}

// dashed styles l as a dashed reference line.
func dashed(l *plotter.Line, c color.Color) {
	l.Color = c
	l.Width = vg.Points(1)
	l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
}

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
	for _, t := range plainTicks.Ticks(lo, hi) {
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
