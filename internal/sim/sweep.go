package sim

import "time"

// Recovery runs a failure at every (nodes, load) pair under model, from
// base (its Nodes, Load, Model and, if zero, FailAt and Batches are set
// here). The failure comes half an interval before the end of the second
// checkpoint interval, when the most batches since a checkpoint are
// lost, and the run lasts long enough to recover. Results are in the
// order of the pairs, nodes outer.
func Recovery(base Config, nodes []int, loads []float64, model Model) ([]Result, error) {
	var out []Result
	for _, n := range nodes {
		for _, l := range loads {
			c := base
			c.Nodes, c.Load, c.Model = n, l, model
			c = c.withDefaults()
			if base.FailAt == 0 {
				every := max(c.CheckpointEvery, 1)
				c.FailAt = time.Duration(2*every)*c.BatchInterval - c.BatchInterval/2
			}
			if base.Batches == 0 {
				c.Batches = int(c.FailAt/c.BatchInterval) + 3*max(c.CheckpointEvery, 5)
			}
			res, err := Run(c)
			if err != nil {
				return nil, err
			}
			out = append(out, res)
		}
	}
	return out, nil
}

// Stragglers runs base with and without speculation for every count of
// straggling nodes (each StragglerSlowdown times slower, 4 by default):
// for each count, the run without speculation, then the one with.
func Stragglers(base Config, stragglers []int) ([]Result, error) {
	var out []Result
	for _, n := range stragglers {
		for _, spec := range []bool{false, true} {
			c := base
			c.Stragglers, c.Speculation = n, spec
			res, err := Run(c)
			if err != nil {
				return nil, err
			}
			out = append(out, res)
		}
	}
	return out, nil
}
