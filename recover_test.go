package sluice_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// A worker lost between batches: the state partitions it held are
// recomputed at once, before the next batch needs them, and the results go
// on as if nothing happened. (Without a checkpoint store, the state's
// lineage is cut every two batches where its blocks are replicated; a
// local worker resolves only datasets the driver still remembers.)
func TestLostStateIsRecomputedBeforeTheNextBatch(t *testing.T) {
	skipOnCluster(t, "it loses a worker of local mode (cluster modes lose processes: see sluice chaos)")
	h := sluicetest.New(t, time.Second, sluice.Master("local[3]"))
	var input [][]sluice.KV[string, int]
	for i := 0; i < 8; i++ {
		input = append(input, kvs("a", 1, "b", i, string(rune('c'+i)), 2))
	}
	in := sluicetest.Input(h, 3, input...)
	total := func(_ string, vs []int, s int, _ bool) (int, bool) {
		for _, v := range vs {
			s += v
		}
		return s, true
	}
	totals := sluicetest.Collect(sluice.UpdateStateByKey(in, total, sluice.Named("totals"),
		sluice.CheckpointInterval(2*time.Second)))
	h.Run(5)
	if !sluice.StateCached(h.Context, "totals") {
		t.Fatal("the state of batch 5 is not cached")
	}
	// Each of the three workers holds a partition of the state.
	if err := sluice.LoseWorker(h.Context, sluice.LocalWorkers(h.Context)[0]); err != nil {
		t.Fatal(err)
	}
	sluice.AwaitRecovery(h.Context)
	if !sluice.StateCached(h.Context, "totals") {
		t.Fatal("the state the lost worker held was not recomputed")
	}
	h.Run(3)
	got := totals.Batches()
	want := map[string]int{}
	for i, b := range input {
		for _, kv := range b {
			want[kv.Key] += kv.Value
		}
		m := map[string]int{}
		for _, kv := range got[i] {
			m[kv.Key] = kv.Value
		}
		if fmt.Sprint(m) != fmt.Sprint(want) {
			t.Errorf("batch %d: %v, want %v", i+1, m, want)
		}
	}
}
