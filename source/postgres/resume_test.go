package postgres_test

import (
	"context"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
	"github.com/sluicehq/sluice/source/postgres"
)

// cpcs records, by batch (in seconds), the cpc of campaign 1 in each
// batch's table.
type cpcs struct {
	mu sync.Mutex
	by map[int64]int64
}

func (c *cpcs) get() map[int64]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int64]int64)
	for k, v := range c.by {
		out[k] = v
	}
	return out
}

// resumable makes a job reading the campaigns table (refreshed every hour:
// within this test, only a new driver reads it again) into out, and a
// context for it checkpointing to loc, on a manual clock.
func resumable(t *testing.T, d *testDB, loc string, out *cpcs, onBatch func(sluice.BatchInfo), plans chan int64) (*sluice.Context, *sluicetest.ManualClock) {
	t.Helper()
	build := func(c *sluice.Context) {
		src := postgres.Table(d.url, d.name("campaigns"), scanCampaign, postgres.Refresh(time.Hour))
		table := sluice.FromSource(c, telling{src, plans}, sluice.Named("campaigns"))
		sluice.ForeachBatch(table, func(ctx context.Context, ds sluice.Dataset[campaign], bt time.Time) error {
			rows, err := ds.Collect(ctx)
			if err != nil {
				return err
			}
			out.mu.Lock()
			defer out.mu.Unlock()
			for _, r := range rows {
				if r.ID == 1 {
					out.by[bt.Unix()] = r.CPC
				}
			}
			return nil
		})
	}
	clock := sluicetest.NewManualClock(sluicetest.Epoch)
	c, err := sluice.GetOrCreate(loc, build, sluice.Master("local[2]"), sluice.Batch(time.Second),
		sluice.WithClock(clock), sluice.OnBatch(onBatch))
	if err != nil {
		t.Fatal(err)
	}
	return c, clock
}

// telling is a Source that tells which batches it is asked to plan.
type telling struct {
	*postgres.Source[campaign]
	plans chan int64
}

func (s telling) Plan(ctx context.Context, req sluice.PlanRequest[postgres.Plan]) (postgres.Plan, error) {
	select {
	case s.plans <- req.Batch.Unix():
	default: // nobody listens
	}
	return s.Source.Plan(ctx, req)
}

// A driver restarted from a checkpoint reruns the batches it had planned
// with the snapshot they planned, though the table changed since: the
// checkpoint after batch 2 recorded the plans of batches 3 to 6, made
// before the change. Its own first batch (7) reads the table again.
func TestResumeRerunsPlannedSnapshot(t *testing.T) {
	d := newDB(t)
	d.exec("CREATE TABLE " + d.name("campaigns") + " (id bigint PRIMARY KEY, name text, cpc bigint NOT NULL)")
	d.exec("INSERT INTO " + d.name("campaigns") + " VALUES (1, 'spring', 10)")
	loc := t.TempDir()

	// OnBatch holds the batch loop at batch `hold` (before its metadata
	// checkpoint) until the test lets it go.
	var hold atomic.Int64
	gate := make(chan struct{})
	infos := make(chan sluice.BatchInfo, 100)
	first := &cpcs{by: make(map[int64]int64)}
	plans := make(chan int64, 100)
	c1, clock1 := resumable(t, d, loc, first, func(b sluice.BatchInfo) {
		h := hold.Load() // before the test hears of b and moves on
		infos <- b
		if b.Time.Unix() == h {
			<-gate
		}
	}, plans)
	hold.Store(2)
	if err := c1.Start(); err != nil {
		t.Fatal(err)
	}
	clock1.Set(sluicetest.Epoch.Add(2 * time.Second))
	waitBatch(t, infos, 2)
	clock1.Set(sluicetest.Epoch.Add(6 * time.Second))
	// Batches are planned in order: once batch 6 is being planned, 3 to
	// 5 are, and 6 will be before batch 2's metadata is written (the
	// generator holds it meanwhile).
	for b := range plans {
		if b == 6 {
			break
		}
	}
	d.exec("UPDATE " + d.name("campaigns") + " SET cpc = 20")
	hold.Store(3)
	release(t, gate, 2) // batch 2's metadata records the plans of 3 to 6
	waitBatch(t, infos, 3)
	// The store as a driver killed now leaves it: batch 2 completed.
	crashed := t.TempDir()
	if err := os.CopyFS(crashed, os.DirFS(loc)); err != nil {
		t.Fatal(err)
	}
	hold.Store(0)
	release(t, gate, 3)
	if err := c1.Stop(); err != nil {
		t.Fatal(err)
	}

	second := &cpcs{by: make(map[int64]int64)}
	infos2 := make(chan sluice.BatchInfo, 100)
	c2, clock2 := resumable(t, d, crashed, second, func(b sluice.BatchInfo) { infos2 <- b }, nil)
	if err := c2.Start(); err != nil {
		t.Fatal(err)
	}
	clock2.Set(sluicetest.Epoch.Add(8 * time.Second))
	waitBatch(t, infos2, 8)
	if rep := c2.Resumed(); rep == nil || rep.Completed.Unix() != 2 {
		t.Fatalf("resumed %v, want after batch 2", rep)
	}
	if err := c2.Stop(); err != nil {
		t.Fatal(err)
	}
	got := second.get()
	want := map[int64]int64{3: 10, 4: 10, 5: 10, 6: 10, 7: 20, 8: 20}
	for _, b := range slices.Sorted(maps.Keys(want)) {
		if got[b] != want[b] {
			t.Errorf("batch %d read cpc %d, want %d (all: %v)", b, got[b], want[b], got)
		}
	}
	if f := first.get(); f[3] != 10 {
		t.Errorf("the first driver's batch 3 read cpc %d, want 10", f[3])
	}
}

// release lets the batch loop, held at batch sec, go on.
func release(t *testing.T, gate chan struct{}, sec int64) {
	t.Helper()
	select {
	case gate <- struct{}{}:
	case <-time.After(30 * time.Second):
		t.Fatalf("the batch loop is not held at batch %d", sec)
	}
}

// waitBatch waits for batch sec's report (failing on a batch error).
func waitBatch(t *testing.T, infos chan sluice.BatchInfo, sec int64) {
	t.Helper()
	for {
		select {
		case b := <-infos:
			if b.Err != nil {
				t.Fatalf("batch %v: %v", b.Time.Unix(), b.Err)
			}
			if b.Time.Unix() >= sec {
				return
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no batch for 30 s (waiting for %d)", sec)
		}
	}
}
