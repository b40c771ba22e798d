package sluice

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/runtime"
)

// stateJob builds a running word count with a checkpoint every 2 batches
// and returns the state node and the input node. With a driver, the
// context resolves datasets as a worker process does, fetching input plans
// from the driver; without, it is a driver that keeps its plans encoded
// for workers.
func stateJob(t *testing.T, driver *Context) (*Context, *node, *node) {
	t.Helper()
	c, err := NewContext(Master("local[1]"), Batch(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	if driver != nil {
		c.wk = &workerMode{cuts: make(map[cutKey]runtime.Cut), fetchPlan: func(node int32, t int64) ([]byte, error) {
			b, ok := driver.planFor(node, t)
			if !ok {
				return nil, fmt.Errorf("no plan for node %d at %d", node, t)
			}
			return b, nil
		}}
	} else {
		c.cl = &clusterDriver{} // keeps plans for workers
	}
	lines := Generate(c, TextGenerator(1), 20)
	pairs := Map(FlatMap(lines, strings.Fields), func(w string) KV[string, int] { return Pair(w, 1) })
	counts := UpdateStateByKey(pairs, func(_ string, vs []int, s int, _ bool) (int, bool) { return s + len(vs), true },
		Named("counts"), CheckpointInterval(2*time.Second))
	ForeachBatch(counts, func(context.Context, Dataset[KV[string, int]], time.Time) error { return nil })
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	c.computeRemember()
	c.first = time.Unix(1000, 0)
	return c, counts.n, lines.n
}

// A worker process rebuilds a dataset a task names from its own graph: the
// same IDs as the driver's, and it stops at the datasets the driver cut
// (Cuts) instead of rebuilding older batches; a dataset it built before the
// cut is cut too, so that it does not keep older batches alive.
func TestWorkerRebuildsDatasetsAndStopsAtCuts(t *testing.T) {
	drv, state, input := stateJob(t, nil)
	at := func(i int) time.Time { return drv.first.Add(time.Duration(i) * time.Second) }
	ids := make([]lineage.ID, 6)
	for i := range ids {
		if _, err := input.plan(at(i)); err != nil { // the driver fixes the batch's input
			t.Fatal(err)
		}
		d, ok, err := state.at(at(i))
		if err != nil || !ok {
			t.Fatalf("driver: state at batch %d: %v %v", i, ok, err)
		}
		ids[i] = d.ID
	}

	// Built before a cut: batch 3 then batch 2's state exist with lineage.
	w, _, _ := stateJob(t, drv)
	r := (*resolver)(w)
	d3, err := r.Lookup(ids[3])
	if err != nil {
		t.Fatal(err)
	}
	d2, err := r.Lookup(ids[2])
	if err != nil || d2.Truncated() || len(d3.Dependencies()) == 0 {
		t.Fatalf("batch 2's state: %v truncated=%v", err, d2 != nil && d2.Truncated())
	}
	r.AddCuts([]runtime.Cut{{ID: ids[2], NumParts: d2.NumParts, Partitioning: d2.Partitioning}})
	if !d2.Truncated() || len(d2.Dependencies()) != 0 {
		t.Fatal("a cut did not truncate the dataset the worker had built")
	}

	// Cut first: rebuilding batch 5's state stops at batch 4's, a stub.
	w2, _, _ := stateJob(t, drv)
	r2 := (*resolver)(w2)
	r2.AddCuts([]runtime.Cut{{ID: ids[4], NumParts: 1}})
	d5, err := r2.Lookup(ids[5])
	if err != nil || d5.ID != ids[5] {
		t.Fatalf("batch 5's state: %v %v", d5, err)
	}
	d4, err := w2.reg.Lookup(ids[4])
	if err != nil || !d4.Truncated() || !d4.Persisted() {
		t.Fatalf("batch 4's state is not a cut stub: %v", err)
	}
	if _, err := w2.reg.Lookup(ids[3]); err == nil {
		t.Fatal("the worker rebuilt batch 3's state behind the cut")
	}

	// Datasets of an output's scope, or unknown nodes, are refused clearly.
	if _, err := r2.Lookup(lineage.ID{Node: 99, Time: at(1).UnixNano()}); err == nil || !strings.Contains(err.Error(), "not part of this worker's graph") {
		t.Fatalf("unknown node: %v", err)
	}
}

// SLUICE_WORKER_STRAGGLE round-trips the stragglers local-cluster starts,
// and a bad value is an error that names it.
func TestWorkerStraggleEnv(t *testing.T) {
	for _, s := range []runtime.Straggle{{}, {Slowdown: 4}, {Slowdown: 1.5}, {Stall: true}} {
		t.Setenv(straggleEnv, straggleValue(s))
		got, err := workerStraggle()
		if err != nil || got != s {
			t.Errorf("%+v → %q → %+v, %v", s, straggleValue(s), got, err)
		}
	}
	for _, bad := range []string{"x", "0.5", "-2", "+Inf", "NaN"} {
		t.Setenv(straggleEnv, bad)
		if _, err := workerStraggle(); err == nil || !strings.Contains(err.Error(), straggleEnv) {
			t.Errorf("%s=%q: err %v", straggleEnv, bad, err)
		}
	}
	for _, o := range []Option{Straggler(-1, 2), Straggler(0, 0.5), StalledWorker(-1)} {
		if _, err := NewContext(Master("local[1]"), o); err == nil {
			t.Error("a bad straggler option was accepted")
		}
	}
}
