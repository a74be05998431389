package render

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	_ "gonum.org/v1/plot/vg/vgimg" // registers the png format
	_ "gonum.org/v1/plot/vg/vgsvg" // registers the svg format

	"github.com/poolside-dev/poolside/benchmarks/load"
)

// ChartFormat returns the chart format for a file name: "png" or "svg"
// by its extension, or an error wrapping load.ErrInvalidConfig.
func ChartFormat(name string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".png", ".svg":
		return ext[1:], nil
	}
	return "", fmt.Errorf("%w: chart %q: the name must end in .png or .svg", load.ErrInvalidConfig, name)
}

// CheckFormat returns an error wrapping load.ErrInvalidConfig unless
// format is "png" or "svg".
func CheckFormat(format string) error {
	if format != "png" && format != "svg" {
		return fmt.Errorf("%w: chart format %q: choose png or svg", load.ErrInvalidConfig, format)
	}
	return nil
}

// The charts' colours.
var (
	Blue   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} // throughput
	Green  = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff} // p50; the recommendation
	Orange = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff} // p99; the load's ceiling
	Red    = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff} // p99.9; the SLO
	Grey   = color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff} // the workers' ceiling
	Purple = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff} // the adaptive pool
)

// NewPlot returns a plot titled title with its axes labelled x and y
// (either may be empty) and ticked with PlainTicks.
func NewPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = x, y
	p.X.Tick.Marker, p.Y.Tick.Marker = PlainTicks, PlainTicks
	return p
}

// Dashes of reference lines: long, short and dotted.
var (
	LongDashes  = []vg.Length{vg.Points(5), vg.Points(3)}
	ShortDashes = []vg.Length{vg.Points(2), vg.Points(2)}
	Dots        = []vg.Length{vg.Points(1), vg.Points(2)}
)

// RefLine adds to p a reference line through xys, one point wide in c
// with dashes, labelled in the legend.
func RefLine(p *plot.Plot, xys plotter.XYs, c color.Color, dashes []vg.Length, label string) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = c
	l.Width = vg.Points(1)
	l.Dashes = dashes
	p.Add(l)
	p.Legend.Add(label, l)
	return nil
}

// Page is the layout of a chart: its size, the band at the top that holds
// the heading, and the padding of the grid of plots below it.
type Page struct {
	Width, Height vg.Length
	Headroom      vg.Length
	// Tiles pads the grid; Write sets its Rows and Cols.
	Tiles draw.Tiles
}

// Write draws head across the top of the page and plots below it, a row
// per slice, all rows as long as the first, and writes the page to w in
// format, "png" or "svg". head has the font of the first plot's title.
func (pg Page) Write(w io.Writer, format, head string, plots [][]*plot.Plot) error {
	c, err := draw.NewFormattedCanvas(pg.Width, pg.Height, format)
	if err != nil {
		return err
	}
	dc := draw.New(c)
	font := plots[0][0].Title.TextStyle
	dc.FillText(draw.TextStyle{Color: color.Black, Font: font.Font, Handler: font.Handler, XAlign: draw.XCenter, YAlign: draw.YTop},
		vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Max.Y - vg.Points(4)}, head)
	tiles := pg.Tiles
	tiles.Rows, tiles.Cols = len(plots), len(plots[0])
	cvs := plot.Align(plots, tiles, draw.Crop(dc, 0, 0, 0, -pg.Headroom))
	for i := range plots {
		for j := range plots[i] {
			plots[i][j].Draw(cvs[i][j])
		}
	}
	_, err = c.WriteTo(w)
	return err
}

// MaxOf returns the largest value, or 1 when there is none above 0, so
// that an axis always has a range.
func MaxOf(vs plotter.Values) float64 {
	m := 0.0
	for _, v := range vs {
		m = max(m, v)
	}
	if m <= 0 {
		return 1
	}
	return m
}

// PlainTicks are plot's default ticks labelled without trailing zeros.
var PlainTicks = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'g', -1, 64)
		}
	}
	return ticks
})

// Bars is a bar chart whose bars rise from the bottom of the plot's Y
// axis rather than from 0, so that it can be drawn on a log scale
// (plotter.BarChart starts at 0, which a log scale cannot show). Bar i
// stands at X = i + Offset; values of 0 or less draw nothing.
type Bars struct {
	Values plotter.Values
	Width  vg.Length
	Offset vg.Length
	Color  color.Color
}

// Plot implements plot.Plotter.
func (b Bars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	bottom := trY(p.Y.Min)
	for i, v := range b.Values {
		if v <= 0 {
			continue
		}
		x := trX(float64(i)) + b.Offset
		top := trY(min(v, p.Y.Max))
		pts := []vg.Point{
			{X: x - b.Width/2, Y: bottom}, {X: x - b.Width/2, Y: top},
			{X: x + b.Width/2, Y: top}, {X: x + b.Width/2, Y: bottom},
		}
		c.FillPolygon(b.Color, c.ClipPolygonY(pts))
	}
}

// DataRange implements plot.DataRanger: the bars' positions, and their
// values above 0.
func (b Bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = -0.5, float64(len(b.Values))-0.5
	ymin, ymax = math.Inf(1), math.Inf(-1)
	for _, v := range b.Values {
		if v > 0 {
			ymin, ymax = min(ymin, v), max(ymax, v)
		}
	}
	if math.IsInf(ymin, 1) {
		return xmin, xmax, 1, 1
	}
	return xmin, xmax, ymin, ymax
}

// Thumbnail implements plot.Thumbnailer, for the legend.
func (b Bars) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y}}
	c.FillPolygon(b.Color, c.ClipPolygonY(pts))
}

// LogTicks label a log axis at 1, 2 and 5 times each power of ten,
// without trailing zeros.
var LogTicks = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
		}
	}
	return ticks
})
