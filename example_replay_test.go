package sluice_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// Replay computes one batch of a job again from the job's checkpoint, on
// one machine, to see what its outputs got. Here a job with running
// totals ran 6 batches; batch 5 is replayed: the totals are read from the
// state checkpoint of batch 3 and batches 4 and 5 are computed again from
// the inputs' recorded plans. Print is not performed (nothing is printed,
// as no sink would be written): its records are returned.
func ExampleReplay() {
	dir, err := os.MkdirTemp("", "sluice-replay-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	// The job: the program's own build function, run again by Replay.
	build := func(c *sluice.Context) {
		// 3 records a second: batch 1 holds 0, 1, 2; batch 2 3, 4, 5; ….
		nums := sluice.Generate(c, sluice.GeneratorFunc[int](func(from, to int64, _, _ time.Time) []int {
			var out []int
			for i := from; i < to; i++ {
				out = append(out, int(i))
			}
			return out
		}), 3)
		parity := sluice.Map(nums, func(x int) sluice.KV[string, int] {
			if x%2 == 0 {
				return sluice.Pair("even", x)
			}
			return sluice.Pair("odd", x)
		})
		totals := sluice.UpdateStateByKey(parity, func(_ string, xs []int, sum int, _ bool) (int, bool) {
			for _, x := range xs {
				sum += x
			}
			return sum, true
		}, sluice.Named("totals"), sluice.CheckpointInterval(3*time.Second))
		sluice.Print(totals, 10)
	}

	j := newExampleJob(sluice.Checkpoint(dir), sluice.Output(io.Discard))
	build(j.Context)
	j.run(6)
	j.stop()

	batch5 := sluicetest.Epoch.Add(5 * time.Second)
	res, err := sluice.Replay(context.Background(), dir, batch5, build)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("batch %d, totals from the checkpoint of batch %d\n", res.Number, res.Restored["totals"].Sub(sluicetest.Epoch)/time.Second)
	for _, o := range res.Outputs {
		recs := o.Strings()
		slices.Sort(recs)
		fmt.Println(o.Name, recs)
	}
	// Output:
	// batch 5, totals from the checkpoint of batch 3
	// Print#0 [{even 56} {odd 49}]
}
