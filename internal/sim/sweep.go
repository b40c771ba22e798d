package sim

import (
	"math"
	"time"
)

// Recovery runs a failure at every (nodes, load) pair under model, from
// base (its Nodes, Load, Model and, if zero, FailAt and Batches are set
// here). The failure comes half an interval before the end of the first
// checkpoint interval, when the most batches since a checkpoint are lost
// (the run needs no warm-up before it: recovery is measured against the
// same run with a failure that loses nothing, see Run), and the run lasts
// long enough to recover (see recoveryBatches).
// Results are in the order of the pairs, nodes outer.
func Recovery(base Config, nodes []int, loads []float64, model Model) ([]Result, error) {
	var out []Result
	for _, n := range nodes {
		for _, l := range loads {
			c := base
			c.Nodes, c.Load, c.Model = n, l, model
			c = c.withDefaults()
			if base.FailAt == 0 {
				every := max(c.CheckpointEvery, 1)
				c.FailAt = time.Duration(every)*c.BatchInterval - c.BatchInterval/2
			}
			if base.Batches == 0 {
				c.Batches = recoveryBatches(c)
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

// MaxCatchUp bounds, in batch intervals, how long a Recovery run lasts
// after its failure beyond a few checkpoint intervals.
const MaxCatchUp = 250

// recoveryBatches is how many batches a Recovery run of c needs: up to the
// failure, then a margin over the time the D-Streams paper's analysis
// gives for catching up with the stream, with W the work lost since the
// checkpoint (at most CheckpointEvery intervals at load λ): W/(1−λ) for
// upstream backup (one standby node replays W while new work keeps coming
// at λ), and W/N/(1−λN/(N−1)) for parallel recovery (every node left
// recovers its part while carrying N/(N−1) of the load) plus its chains
// of reduce steps, one task time per lost batch. Runs that cannot catch
// up at all (N−1 nodes overloaded) stop MaxCatchUp intervals after the
// failure.
func recoveryBatches(c Config) int {
	every := float64(max(c.CheckpointEvery, 1))
	if c.CheckpointEvery == 0 {
		every = c.FailAt.Seconds() / c.BatchInterval.Seconds()
	}
	lost, n := every*c.Load, float64(c.Nodes)
	spare := 1 - c.Load
	if c.Model == Parallel {
		lost, spare = lost/n, 1-c.Load*n/(n-1)
	}
	catchUp := float64(MaxCatchUp)
	if spare > 0 {
		catchUp = min(catchUp, 1.5*lost/spare)
	}
	if c.Model == Parallel {
		catchUp += every * c.TaskTime.Seconds() / c.BatchInterval.Seconds()
	}
	return int(c.FailAt/c.BatchInterval) + int(math.Ceil(catchUp)) + 2*max(c.CheckpointEvery, 5)
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
