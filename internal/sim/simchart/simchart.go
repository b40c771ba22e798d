package simchart

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/sluicehq/sluice/internal/sim"
)

// Chart size: a page-wide figure.
const (
	width  = 7 * vg.Inch
	height = 4.5 * vg.Inch
)

// ErrFormat is returned by Save for a file name that is not .svg or .png.
var ErrFormat = errors.New("simchart: the chart file must end in .svg or .png")

// Save writes p to path, as SVG or PNG by its extension.
func Save(p *plot.Plot, path string) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg", ".png":
	default:
		return fmt.Errorf("%w: %q", ErrFormat, path)
	}
	if err := p.Save(width, height, path); err != nil {
		return fmt.Errorf("simchart: %w", err)
	}
	return nil
}

// Recovery plots recovery time (log scale) against load: one line per
// cluster size for each model, solid for parallel recovery and dashed for
// upstream backup, a colour and a mark per cluster size. Runs that did
// not recover within their run are left out, so a line stops where
// recovery never came.
func Recovery(parallel, upstream []sim.Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Recovery after a node failure"
	if len(parallel) > 0 {
		r := parallel[0]
		p.Title.Text += fmt.Sprintf(" %gs in (batches of %gs, seed %d)", r.FailAt, r.Interval, r.Seed)
	}
	p.X.Label.Text = "load before the failure"
	p.Y.Label.Text = "recovery time (s, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.X.Min, p.X.Max = 0, 1
	// Headroom above the lines for the legend.
	p.Y.Min, p.Y.Max = 0.1, 1000
	p.Legend.Top, p.Legend.Left = true, true
	nodes := nodeCounts(append(slices.Clone(parallel), upstream...))
	for mi, set := range [][]sim.Result{parallel, upstream} {
		for ci, n := range nodes {
			pts := points(set, n)
			if len(pts) == 0 {
				continue
			}
			line, dots, err := plotter.NewLinePoints(pts)
			if err != nil {
				return nil, fmt.Errorf("simchart: %w", err)
			}
			line.Color, dots.Color = plotutil.Color(ci), plotutil.Color(ci)
			dots.Shape = plotutil.Shape(ci)
			if mi == 1 {
				line.Dashes = dashed
			}
			p.Add(line, dots)
			if mi == 0 {
				p.Legend.Add(fmt.Sprintf("%d nodes", n), dots)
			}
		}
	}
	solid, err := plotter.NewLine(plotter.XYs{})
	if err != nil {
		return nil, fmt.Errorf("simchart: %w", err)
	}
	dash := *solid
	dash.Dashes = dashed
	p.Legend.Add("parallel recovery", solid)
	p.Legend.Add("upstream backup", &dash)
	return p, nil
}

// dashed is the dash pattern of upstream backup and of speculation off.
var dashed = []vg.Length{vg.Points(6), vg.Points(3)}

// nodeCounts returns the cluster sizes in rs, ascending.
func nodeCounts(rs []sim.Result) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.Nodes)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// points returns (load, recovery) of the runs of n nodes that recovered,
// by load.
func points(rs []sim.Result, n int) plotter.XYs {
	var pts plotter.XYs
	for _, r := range rs {
		if r.Nodes == n && r.Recovery > 0 {
			pts = append(pts, plotter.XY{X: r.Load, Y: r.Recovery})
		}
	}
	slices.SortFunc(pts, func(a, b plotter.XY) int { return int(math.Copysign(1, a.X-b.X)) })
	return pts
}

// Stragglers plots the median and the longest batch processing time
// against the number of stragglers, speculation off (dashed) and on
// (solid). rs is what sim.Stragglers returns: for each count, the run
// without speculation, then the one with.
func Stragglers(rs []sim.Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Batch processing time with stragglers"
	if len(rs) > 0 {
		p.Title.Text += fmt.Sprintf(" (%d nodes, %gx slower)", rs[0].Nodes, max(rs[len(rs)-1].Slowdown, 1))
	}
	p.X.Label.Text = "straggling nodes"
	p.Y.Label.Text = "batch processing time (s)"
	p.Y.Min = 0
	p.Legend.Top, p.Legend.Left = false, false // below the lines
	series := []struct {
		name string
		spec bool
		of   func(sim.Result) float64
	}{
		{"median, speculation off", false, func(r sim.Result) float64 { return r.P50 }},
		{"longest, speculation off", false, func(r sim.Result) float64 { return r.Max }},
		{"median, speculation on", true, func(r sim.Result) float64 { return r.P50 }},
		{"longest, speculation on", true, func(r sim.Result) float64 { return r.Max }},
	}
	for i, s := range series {
		var pts plotter.XYs
		for _, r := range rs {
			if r.Speculation == s.spec && s.of(r) >= 0 {
				pts = append(pts, plotter.XY{X: float64(r.Stragglers), Y: s.of(r)})
			}
		}
		if len(pts) == 0 {
			continue
		}
		line, dots, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, fmt.Errorf("simchart: %w", err)
		}
		c := plotutil.Color(i % 2)
		line.Color, dots.Color = c, c
		dots.Shape = draw.CircleGlyph{}
		if !s.spec {
			line.Dashes = dashed
			dots.Shape = draw.BoxGlyph{}
		}
		p.Add(line, dots)
		p.Legend.Add(s.name, line, dots)
	}
	return p, nil
}
