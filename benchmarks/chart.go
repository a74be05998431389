package benchmarks

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	_ "gonum.org/v1/plot/vg/vgimg" // registers the png format
	_ "gonum.org/v1/plot/vg/vgsvg" // registers the svg format
)

// ChartFormat returns the chart format for a file name: "png" or "svg"
// by its extension, or an error wrapping ErrInvalidConfig.
func ChartFormat(name string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".png", ".svg":
		return ext[1:], nil
	}
	return "", fmt.Errorf("%w: chart %q: the name must end in .png or .svg", ErrInvalidConfig, name)
}

// Chart colours: throughput, then p50, p99 and p99.9.
var chartColours = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// WriteChart draws the report as two bar charts side by side, throughput
// per model and latency (p50, p99, p99.9) per model, and writes it in
// format, "png" or "svg" (see ChartFormat).
func (rep *Report) WriteChart(w io.Writer, format string) error {
	if format != "png" && format != "svg" {
		return fmt.Errorf("%w: chart format %q: choose png or svg", ErrInvalidConfig, format)
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

	tp := plot.New()
	tp.Title.Text = "Throughput (req/s)"
	if rep.HasSpeedUp() {
		tp.Title.Text = "Throughput (req/s, speed-up over " + names[0] + ")"
	}
	tp.Y.Label.Text = "requests per second"
	tp.Y.Tick.Marker = plainTicks
	bars, err := plotter.NewBarChart(rps, barWidth)
	if err != nil {
		return fmt.Errorf("benchmarks: chart: %w", err)
	}
	bars.Color = chartColours[0]
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
	tp.Y.Min, tp.Y.Max = 0, 1.15*maxOf(rps)

	lp := plot.New()
	lp.Title.Text = "Latency"
	if rep.Env.Rate > 0 {
		lp.Title.Text = "Latency (corrected for coordinated omission)"
	}
	lp.Y.Label.Text = "milliseconds"
	lp.Y.Tick.Marker = plainTicks
	group := barWidth / 3
	for i, label := range []string{"p50", "p99", "p99.9"} {
		b, err := plotter.NewBarChart(lat[i], group)
		if err != nil {
			return fmt.Errorf("benchmarks: chart: %w", err)
		}
		b.Color = chartColours[i+1]
		b.LineStyle.Width = 0
		b.Offset = vg.Length(i-1) * group
		lp.Add(b)
		lp.Legend.Add(label, b)
	}
	lp.Legend.Top = true
	lp.NominalX(names...)
	lp.Y.Min, lp.Y.Max = 0, 1.3*max(maxOf(lat[0]), maxOf(lat[1]), maxOf(lat[2]))

	page := chartPage{
		width: 9 * vg.Inch, height: 4 * vg.Inch, headroom: vg.Points(30),
		tiles: draw.Tiles{PadX: vg.Points(12), PadLeft: vg.Points(4), PadRight: vg.Points(8), PadBottom: vg.Points(4)},
	}
	return page.write(w, format, rep.chartTitle(), [][]*plot.Plot{{tp, lp}})
}

// chartTitle summarises the load in one line.
func (rep *Report) chartTitle() string {
	e := rep.Env
	parts := e.loadParts()
	if e.InProcess {
		parts = append(parts, e.workParts()...)
		parts = append(parts, string(e.Store)+" store")
	}
	parts = append(parts, fmt.Sprintf("%d cores", e.NumCPU))
	if rep.Incomplete {
		return fmt.Sprintf("poolside bench, INCOMPLETE (stopped in round %d of %d): %s", rep.StoppedRound(), e.Repeat, strings.Join(parts, ", "))
	}
	parts = append(parts, rounds(e.Repeat))
	return "poolside bench: " + strings.Join(parts, ", ")
}

// loadParts describes e's load for a chart's heading: the clients, the
// loop, and a connection per request if so.
func (e Env) loadParts() []string {
	parts := []string{clients(e.Clients)}
	if e.Rate > 0 {
		parts = append(parts, fmt.Sprintf("open loop %s req/s", fmtRate(e.Rate)))
	} else {
		parts = append(parts, "closed loop")
	}
	if e.ConnPerRequest {
		parts = append(parts, "conn per request")
	}
	return parts
}

// workParts describes for a chart's heading the work the in-process
// server gives each request: none, a delay, CPU or both.
func (e Env) workParts() []string {
	var parts []string
	if e.WorkDelay > 0 {
		parts = append(parts, fmt.Sprintf("work delay %v", e.WorkDelay))
	}
	if e.WorkCPU > 0 {
		parts = append(parts, fmt.Sprintf("work CPU %d", e.WorkCPU))
	}
	return parts
}

// chartPage is the layout of a chart: its size, the band at the top that
// holds the heading, and the padding of the grid of plots below it.
type chartPage struct {
	width, height vg.Length
	headroom      vg.Length
	// tiles pads the grid; write sets its Rows and Cols.
	tiles draw.Tiles
}

// write draws head across the top of the page and plots below it, a row
// per slice, all rows as long as the first, and writes the page to w in
// format, "png" or "svg". head has the font of the first plot's title.
func (pg chartPage) write(w io.Writer, format, head string, plots [][]*plot.Plot) error {
	c, err := draw.NewFormattedCanvas(pg.width, pg.height, format)
	if err != nil {
		return fmt.Errorf("benchmarks: chart: %w", err)
	}
	dc := draw.New(c)
	font := plots[0][0].Title.TextStyle
	dc.FillText(draw.TextStyle{Color: color.Black, Font: font.Font, Handler: font.Handler, XAlign: draw.XCenter, YAlign: draw.YTop},
		vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Max.Y - vg.Points(4)}, head)
	tiles := pg.tiles
	tiles.Rows, tiles.Cols = len(plots), len(plots[0])
	cvs := plot.Align(plots, tiles, draw.Crop(dc, 0, 0, 0, -pg.headroom))
	for i := range plots {
		for j := range plots[i] {
			plots[i][j].Draw(cvs[i][j])
		}
	}
	_, err = c.WriteTo(w)
	return err
}

// maxOf returns the largest value, or 1 when there is none above 0, so
// that an axis always has a range.
func maxOf(vs plotter.Values) float64 {
	m := 0.0
	for _, v := range vs {
		m = max(m, v)
	}
	if m <= 0 {
		return 1
	}
	return m
}

// plainTicks are plot's default ticks labelled without trailing zeros.
var plainTicks = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'g', -1, 64)
		}
	}
	return ticks
})
