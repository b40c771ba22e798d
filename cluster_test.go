package sluice_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/sluicetest"
)

// Datasets made inside ForeachBatch exist only in the driver's process:
// on a cluster their stages run on the driver's own executor, which reads
// the batch's partitions from the workers. Parallelize after Start is the
// same. On local[N] the same code runs on the in-process workers.
func TestDatasetsMadeAtRunTimeOnTheDriver(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 3, []int{1, 2, 3, 4, 5, 6}, []int{7})
	var got []string
	sluice.ForeachBatch(in, func(ctx context.Context, d sluice.Dataset[int], t time.Time) error {
		byParity := dataset.ReduceByKey(dataset.Map(d, func(x int) sluice.KV[bool, int] { return sluice.Pair(x%2 == 0, x) }),
			func(a, b int) int { return a + b })
		extra := sluice.Parallelize(h.Context, []sluice.KV[bool, int]{sluice.Pair(true, 100)}, 1)
		sums, err := dataset.Union(byParity, extra).Collect(ctx)
		if err != nil {
			return err
		}
		var line []string
		for _, kv := range sums {
			line = append(line, fmt.Sprint(kv))
		}
		slices.Sort(line)
		got = append(got, fmt.Sprint(line))
		return nil
	})
	h.Run(2)
	want := []string{"[{false 9} {true 100} {true 12}]", "[{false 7} {true 100}]"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
