// Package simchart draws the simulator's results (internal/sim) as charts
// for `sluice sim --chart`: recovery time against load, one line per
// cluster size and recovery model (the shape of the D-Streams paper's
// recovery comparison), and batch processing time against the number of
// stragglers, speculation off and on.
//
//	p, err := simchart.Recovery(parallel, upstream)
//	err = simchart.Save(p, "docs/charts/sim-recovery.svg")
//
// It uses gonum.org/v1/plot rather than hand-written SVG (DESIGN.md
// section 9: libraries over hand-written code): a maintained, pure-Go
// plotting library with axes, log scales, legends and both SVG and PNG
// output, and no cgo or outside program. Its output is a function of the
// plot alone (fonts embedded, no timestamps), so a chart made from the
// same seed is the same file.
package simchart
