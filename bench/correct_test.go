package bench

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// TestWorkloadsEqualBaselines runs every workload on a small input and
// checks that each batch's results equal its single-threaded baseline's.
func TestWorkloadsEqualBaselines(t *testing.T) {
	for _, name := range Names() {
		w := Workloads[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkEqualsBaseline(t, w, 7)
		})
	}
}

func checkEqualsBaseline(t *testing.T, w Workload, seed uint64) {
	if w.TestRate <= 0 || w.TestBatches <= 0 {
		t.Fatalf("%s: no test input (TestRate %d, TestBatches %d)", w.Name, w.TestRate, w.TestBatches)
	}
	batch := w.TestBatch
	if batch == 0 {
		batch = time.Second
	}
	h := sluicetest.New(t, batch, sluice.Master("local[3]"))
	got := NewOutput()
	w.Build(h.Context, seed, w.TestRate, got)
	h.Run(w.TestBatches)

	want := NewOutput()
	step := w.Baseline(Input{Seed: seed, Rate: w.TestRate, Batch: batch, Zero: sluicetest.Epoch})
	for k := range int64(w.TestBatches) {
		step(k, want)
	}
	if len(want.Times()) == 0 {
		t.Fatalf("%s: the baseline wrote no results in %d batches: the test checks nothing", w.Name, w.TestBatches)
	}
	var lines int
	for i := 1; i <= w.TestBatches; i++ {
		bt := h.Time(i)
		g, e := got.Batch(bt), want.Batch(bt)
		lines += len(e)
		if !slices.Equal(g, e) {
			t.Errorf("%s: batch %d (%v): Sluice wrote %d lines, the baseline %d; first difference: %s",
				w.Name, i, bt.UTC(), len(g), len(e), firstDiff(g, e))
		}
	}
	t.Logf("%s: %d batches, %d result lines equal", w.Name, w.TestBatches, lines)
}

// firstDiff describes the first line in which a and b differ.
func firstDiff(a, b []string) string {
	for i := range max(len(a), len(b)) {
		switch {
		case i >= len(a):
			return "missing " + b[i]
		case i >= len(b):
			return "extra " + a[i]
		case a[i] != b[i]:
			return a[i] + " instead of " + b[i]
		}
	}
	return "none"
}

// TestRunReportsBaseline checks that a benchmark run reports the
// baseline's throughput and the ratio.
func TestRunReportsBaseline(t *testing.T) {
	r, err := Run(context.Background(), Workloads["grep"], Options{Master: "local[2]", Batch: 200 * time.Millisecond,
		Rate: 100_000, Duration: 2 * time.Second, Seed: 1, Warmup: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.BaselineRecordsPerSec <= 0 || r.CostRatio <= 0 {
		t.Errorf("baseline %v records/s, cost ratio %v: want both > 0", r.BaselineRecordsPerSec, r.CostRatio)
	}
	if want := r.RecordsPerSec / r.BaselineRecordsPerSec; math.Abs(r.CostRatio-want) > 1e-9*want {
		t.Errorf("cost ratio %v, want %v", r.CostRatio, want)
	}
}
