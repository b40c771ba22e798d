package sluice_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// elasticJob is a stateful job over the generator: running totals
// (UpdateStateByKey) and a sliding window, each batch's records collected
// on the driver, sorted, by batch time.
func elasticJob(c *sluice.Context, mu *sync.Mutex, out map[int64][]string) {
	text := sluice.Generate(c, sluice.TextGenerator(7), 1500)
	words := sluice.FlatMap(text, strings.Fields)
	ones := sluice.Map(words, func(w string) kv { return sluice.Pair(w, 1) })
	totals := sluice.UpdateStateByKey(ones, func(_ string, vs []int, s int, _ bool) (int, bool) {
		for _, v := range vs {
			s += v
		}
		return s, true
	}, sluice.Named("totals"))
	add := func(a, b int) int { return a + b }
	window := sluice.ReduceByKeyAndWindow(ones, add, func(a, b int) int { return a - b },
		6*c.BatchInterval(), c.BatchInterval(), sluice.Named("window"))
	for i, s := range []*sluice.Stream[kv]{totals, window} { // in order: the graph must be deterministic
		name := []string{"totals", "window"}[i]
		sluice.ForeachBatch(s, func(ctx context.Context, d sluice.Dataset[kv], t time.Time) error {
			recs, err := d.Collect(ctx)
			if err != nil {
				return err
			}
			lines := make([]string, 0, len(recs))
			for _, r := range recs {
				lines = append(lines, fmt.Sprintf("%s %s=%d", name, r.Key, r.Value))
			}
			mu.Lock()
			defer mu.Unlock()
			out[t.UnixMilli()] = append(out[t.UnixMilli()], lines...)
			return nil
		})
	}
}

// elasticClock runs batches back to back from a start time.
type elasticClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *elasticClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *elasticClock) WaitUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	c.mu.Unlock()
	return ctx.Err()
}

// TestWorkersLeaveAndJoinMidRun runs a stateful job on local-cluster[3]
// on the real clock (200 ms batches) while a worker process gets SIGTERM
// (it asks to be drained, and leaves with status 0, not replaced), then
// ScaleWorkers adds one and drains two. Its outputs must equal, record for
// record, those of a failure-free run of the same batches in local mode:
// nothing lost, nothing repeated. It logs the largest batch delay seen
// within 10 s after each drain.
func TestWorkersLeaveAndJoinMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	const batch, nBatches = 200 * time.Millisecond, 60
	var mu sync.Mutex
	out := make(map[int64][]string)
	type done struct {
		at    time.Time
		delay time.Duration
	}
	var infos []done
	finished := make(chan struct{})
	var once sync.Once
	c, err := sluice.NewContext(sluice.Master("local-cluster[3]"), sluice.Batch(batch),
		sluice.WorkerArgs("-test.run=^TestWorkersLeaveAndJoinMidRun$"), sluice.WorkerKey(t.Name()),
		sluice.OnBatch(func(b sluice.BatchInfo) {
			mu.Lock()
			infos = append(infos, done{time.Now(), b.TotalDelay})
			n := len(infos)
			mu.Unlock()
			if n >= nBatches {
				once.Do(func() { close(finished) })
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	elasticJob(c, &mu, out)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	batchesDone := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(infos)
	}
	waitBatches := func(n int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for batchesDone() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d batches of %d after 60s", batchesDone(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitWorkers := func(want int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for len(c.Workers()) != want {
			if time.Now().After(deadline) {
				t.Fatalf("workers %v, want %d of them", c.Workers(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var drains []time.Time
	waitBatches(10)
	// SIGTERM to worker-1's process: it drains and leaves.
	pid := 0
	for _, w := range c.Status().Workers {
		if w.Name == "worker-1" {
			pid = w.PID
		}
	}
	if pid == 0 {
		t.Fatalf("no process for worker-1 in %+v", c.Status().Workers)
	}
	drains = append(drains, time.Now())
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitWorkers(2)
	if ws := c.Workers(); slices.Contains(ws, "worker-1") {
		t.Fatalf("worker-1 still listed: %v", ws)
	}
	waitBatches(batchesDone() + 10)
	if ws := c.Workers(); len(ws) != 2 {
		t.Fatalf("workers %v after the drain: a drained worker was replaced", ws)
	}
	// Scale up to 4, then down to 2: the two newest drain.
	if err := c.ScaleWorkers(4); err != nil {
		t.Fatal(err)
	}
	waitWorkers(4)
	waitBatches(batchesDone() + 8)
	drains = append(drains, time.Now())
	if err := c.ScaleWorkers(2); err != nil {
		t.Fatal(err)
	}
	waitWorkers(2)
	t.Logf("workers after scaling down: %v", c.Workers())
	select {
	case <-finished:
	case <-time.After(2 * time.Minute):
		t.Fatalf("only %d batches of %d", batchesDone(), nBatches)
	}
	first := c.FirstBatch()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for i, at := range drains {
		worst := time.Duration(0)
		for _, b := range infos {
			if !b.at.Before(at) && b.at.Before(at.Add(10*time.Second)) {
				worst = max(worst, b.delay)
			}
		}
		t.Logf("drain %d: largest batch delay within 10 s: %v (batch interval %v)", i+1, worst, batch)
	}
	got := make(map[int64][]string)
	for bt, lines := range out {
		if bt <= first.Add((nBatches-1)*batch).UnixMilli() {
			got[bt] = slices.Sorted(slices.Values(lines))
		}
	}
	mu.Unlock()

	// The reference: the same batches in local mode, without failures.
	ref := make(map[int64][]string)
	var refMu sync.Mutex
	last := first.Add((nBatches - 1) * batch)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc, err := sluice.NewContext(sluice.Master("local[3]"), sluice.Batch(batch),
		sluice.WithClock(&elasticClock{now: first.Add(-batch)}), sluice.OnBatch(func(b sluice.BatchInfo) {
			if !b.Time.Before(last) || b.Err != nil {
				cancel()
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	elasticJob(rc, &refMu, ref)
	if err := sluice.RunUntilDone(ctx, rc, 0); err != nil {
		t.Fatal(err)
	}
	if !rc.FirstBatch().Equal(first) {
		t.Fatalf("the reference started at %v, the job at %v", rc.FirstBatch(), first)
	}
	refMu.Lock()
	defer refMu.Unlock()
	for bt := range ref {
		if bt > last.UnixMilli() { // the reference may run one batch more before it stops
			delete(ref, bt)
		}
	}
	if len(got) != nBatches || len(ref) != nBatches {
		t.Fatalf("%d batches, reference %d, want %d", len(got), len(ref), nBatches)
	}
	records := 0
	for bt, want := range ref {
		want = slices.Sorted(slices.Values(want))
		records += len(want)
		if !slices.Equal(got[bt], want) {
			t.Fatalf("batch %d: %d records, reference %d (first differences: %v)", bt, len(got[bt]), len(want), firstDiff(got[bt], want))
		}
	}
	t.Logf("%d batches, %d records equal to the reference's", nBatches, records)
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d: %q vs %q", i, got[i], want[i])
		}
	}
	return "one is a prefix of the other"
}
