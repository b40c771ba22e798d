package sluice_test

import (
	"context"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/checkpoint"
	"github.com/sluicehq/sluice/sluicetest"
)

// resumeJob is a stateful job over a replayable generator: running
// totals (UpdateStateByKey), an incremental window, a plain window and
// MapWithState, each output collected per batch on the driver.
type resumeJob struct {
	mu  sync.Mutex
	out map[string]map[int64][]string // output → batch ms → sorted records
	// changed builds the upgraded job: "add", "remove" or "retype".
	changed string
}

func (j *resumeJob) collect(name string, t time.Time, recs []string) {
	slices.Sort(recs)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.out == nil {
		j.out = make(map[string]map[int64][]string)
	}
	if j.out[name] == nil {
		j.out[name] = make(map[int64][]string)
	}
	j.out[name][t.UnixMilli()] = recs // a rerun batch replaces its output
}

// collectAs records each batch of s, as strings, through collect.
func collectAs[T any](collect func(name string, t time.Time, recs []string), s *sluice.Stream[T], name string) {
	sluice.ForeachBatch(s, func(ctx context.Context, d sluice.Dataset[T], t time.Time) error {
		recs, err := d.Collect(ctx)
		if err != nil {
			return err
		}
		strs := make([]string, len(recs))
		for i, r := range recs {
			strs[i] = fmt.Sprint(r)
		}
		collect(name, t, strs)
		return nil
	})
}

func (j *resumeJob) build(c *sluice.Context) {
	nums := sluice.Generate(c, sluice.GeneratorFunc[int](func(from, to int64, _, _ time.Time) []int {
		out := make([]int, 0, to-from)
		for i := from; i < to; i++ {
			out = append(out, int(i*7919%101))
		}
		return out
	}), 40)
	pairs := sluice.Map(nums, func(x int) sluice.KV[int, int] { return sluice.Pair(x%7, x) })
	add := func(a, b int) int { return a + b }
	if j.changed == "retype" {
		collectAs(j.collect, sluice.UpdateStateByKey(pairs, func(_ int, vs []int, s string, _ bool) (string, bool) {
			return s + "x", true
		}, sluice.Named("totals")), "totals")
	} else {
		totals := sluice.UpdateStateByKey(pairs, func(_ int, vs []int, s int, _ bool) (int, bool) {
			for _, v := range vs {
				s += v
			}
			return s, true
		}, sluice.Named("totals"), sluice.CheckpointInterval(3*time.Second))
		collectAs(j.collect, totals, "totals")
	}
	if j.changed != "remove" {
		win := sluice.ReduceByKeyAndWindow(pairs, add, func(a, b int) int { return a - b }, 4*time.Second, 2*time.Second,
			sluice.Named("window"), sluice.CheckpointInterval(4*time.Second))
		collectAs(j.collect, win, "window")
	}
	collectAs(j.collect, sluice.CountByWindow(nums, 3*time.Second, time.Second), "count")
	if j.changed == "add" {
		collectAs(j.collect, sluice.UpdateStateByKey(pairs, func(_ int, vs []int, s int, _ bool) (int, bool) {
			return s + len(vs), true
		}, sluice.Named("added")), "added")
	}
	_, snaps := sluice.MapWithState(pairs, func(_ time.Time, k int, v sluice.Optional[int], st *sluice.State[int]) (int, bool) {
		n, _ := st.Get()
		st.Update(n + 1)
		return n, true
	}, sluice.Named("seen"), sluice.CheckpointInterval(2*time.Second))
	collectAs(j.collect, snaps, "seen")
}

// run starts c and runs it until batch `until` (1-based) completes.
func runUntil(t *testing.T, c *sluice.Context, clock *sluicetest.ManualClock, infos chan sluice.BatchInfo, until int) {
	t.Helper()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	last := sluicetest.Epoch.Add(time.Duration(until) * time.Second)
	clock.Set(last)
	for {
		select {
		case b := <-infos:
			if b.Err != nil {
				t.Fatalf("batch %v: %v", b.Time.UnixMilli(), b.Err)
			}
			if !b.Time.Before(last) {
				return
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no batch for 30s (waiting for %v)", last.UnixMilli())
		}
	}
}

func newResumeContext(t *testing.T, loc string, j *resumeJob, opts ...sluice.Option) (*sluice.Context, *sluicetest.ManualClock, chan sluice.BatchInfo) {
	t.Helper()
	clock := sluicetest.NewManualClock(sluicetest.Epoch)
	infos := make(chan sluice.BatchInfo, 1024)
	all := append([]sluice.Option{sluice.Master("local[2]"), sluice.Batch(time.Second), sluice.WithClock(clock),
		sluice.OnBatch(func(b sluice.BatchInfo) { infos <- b })}, opts...)
	c, err := sluice.GetOrCreate(loc, j.build, all...)
	if err != nil {
		t.Fatal(err)
	}
	return c, clock, infos
}

// TestResumeAfterCrashEqualsUninterruptedRun crashes a driver (no final
// checkpoint) and resumes it from the store: every output of every batch
// equals that of a run without the crash.
func TestResumeAfterCrashEqualsUninterruptedRun(t *testing.T) {
	ref := &resumeJob{}
	c, clock, infos := newResumeContext(t, t.TempDir(), ref)
	runUntil(t, c, clock, infos, 20)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}

	for _, crashAt := range []int{5, 7, 12} {
		t.Run(fmt.Sprint("crash-after-", crashAt), func(t *testing.T) {
			loc := t.TempDir()
			got := &resumeJob{}
			c1, clock1, infos1 := newResumeContext(t, loc, got)
			runUntil(t, c1, clock1, infos1, crashAt)
			sluice.Crash(c1)
			if c1.Resumed() != nil {
				t.Fatal("a fresh context reports a resume")
			}
			c2, clock2, infos2 := newResumeContext(t, loc, got)
			clock2.Set(clock1.Now())
			runUntil(t, c2, clock2, infos2, 20)
			rep := c2.Resumed()
			if rep == nil {
				t.Fatal("no resume report")
			}
			if err := c2.Stop(); err != nil {
				t.Fatal(err)
			}
			t.Log(rep)
			if len(rep.Kept) != 3 || len(rep.Dropped)+len(rep.New)+len(rep.Incompatible) != 0 {
				t.Errorf("report %v, want totals, window and seen kept", rep)
			}
			compareOutputs(t, ref, got)
		})
	}
}

func compareOutputs(t *testing.T, want, got *resumeJob) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(want.out)) {
		for _, bt := range slices.Sorted(maps.Keys(want.out[name])) {
			w, g := want.out[name][bt], got.out[name][bt]
			if !slices.Equal(w, g) {
				t.Errorf("%s at %d: got %v, want %v", name, bt, g, w)
			}
		}
	}
}

// TestGracefulStopLeavesNothingToRepeat stops a job (as SIGTERM does) and
// starts it again: the state is checkpointed at the last batch, so the new
// run resumes right after it.
func TestGracefulStopLeavesNothingToRepeat(t *testing.T) {
	loc := t.TempDir()
	j := &resumeJob{}
	c1, clock1, infos1 := newResumeContext(t, loc, j)
	runUntil(t, c1, clock1, infos1, 8)
	if err := c1.Stop(); err != nil {
		t.Fatal(err)
	}
	keys := sluice.StoreKeys(loc, "state/totals/")
	if !slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, fmt.Sprintf("%020d", 8*time.Second)) }) {
		t.Errorf("no checkpoint of totals at batch 8 after a graceful stop: %v", keys)
	}
	c2, clock2, infos2 := newResumeContext(t, loc, j)
	defer c2.Stop()
	clock2.Set(clock1.Now())
	runUntil(t, c2, clock2, infos2, 9)
	if rep := c2.Resumed(); rep == nil || rep.Completed.UnixMilli() != 8000 {
		t.Fatalf("resumed %v, want after batch 8000", rep)
	}
}

// TestResumeAfterUpgrade resumes a checkpoint with a job that added,
// removed and retyped stateful operators.
func TestResumeAfterUpgrade(t *testing.T) {
	loc := t.TempDir()
	old := &resumeJob{}
	c1, clock1, infos1 := newResumeContext(t, loc, old)
	runUntil(t, c1, clock1, infos1, 6)
	if err := c1.Stop(); err != nil {
		t.Fatal(err)
	}

	t.Run("removed-refused", func(t *testing.T) {
		c, _, _ := newResumeContext(t, loc, &resumeJob{changed: "remove"})
		defer c.Stop()
		err := c.Start()
		if err == nil || !strings.Contains(err.Error(), `drop the state of window`) || !strings.Contains(err.Error(), "--allow-dropped-state") {
			t.Fatalf("Start: %v, want a refusal to drop window", err)
		}
	})
	t.Run("added", func(t *testing.T) {
		j := &resumeJob{changed: "add"}
		c, clock, infos := newResumeContext(t, loc, j)
		clock.Set(clock1.Now())
		runUntil(t, c, clock, infos, 8)
		rep := c.Resumed()
		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rep.New, []string{"added"}) || len(rep.Kept) != 3 {
			t.Fatalf("report %v, want added new and 3 kept", rep)
		}
		// The new operator starts at the resume: at batch 7 it counted
		// one batch (40 records), at batch 8 two.
		for bt, want := range map[int64]int{7000: 40, 8000: 80} {
			total := 0
			for _, r := range j.out["added"][bt] {
				var k, n int
				fmt.Sscanf(r, "{%d %d}", &k, &n)
				total += n
			}
			if total != want {
				t.Errorf("added at %d: %v, counting %d records, want %d", bt, j.out["added"][bt], total, want)
			}
		}
	})
	t.Run("removed-allowed", func(t *testing.T) {
		j := &resumeJob{changed: "remove"}
		c, clock, infos := newResumeContext(t, loc, j, sluice.AllowDroppedState())
		clock.Set(clock1.Now())
		runUntil(t, c, clock, infos, 10)
		rep := c.Resumed()
		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rep.Dropped, []string{"window", "added"}) { // added by the previous subtest
			t.Fatalf("report %v, want window and added dropped", rep)
		}
		if keys := sluice.StoreKeys(loc, "state/window/"); len(keys) != 0 {
			t.Errorf("dropped state still stored: %v", keys)
		}
	})
	t.Run("retyped", func(t *testing.T) {
		c, _, _ := newResumeContext(t, loc, &resumeJob{changed: "retype"})
		defer c.Stop()
		err := c.Start()
		if err == nil {
			t.Fatal("resumed with a state of another type")
		}
		t.Log(err)
	})
}

// TestCrashWhileCheckpointHalfWritten kills the driver (in-process) while
// a state checkpoint is half written: a part is written, the manifest
// that would commit it is torn. The resume reads the previous checkpoint
// and recomputes from there; every output equals the uninterrupted run's.
func TestCrashWhileCheckpointHalfWritten(t *testing.T) {
	ref := &resumeJob{}
	c, clock, infos := newResumeContext(t, t.TempDir(), ref)
	runUntil(t, c, clock, infos, 14)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	inner, err := checkpoint.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	faulty := checkpoint.NewFaulty(inner)
	// totals checkpoints every 3 batches: the one at batch 6 is torn.
	faulty.Add(checkpoint.Fault{Op: checkpoint.OpPut, Prefix: fmt.Sprintf("state/totals/%020d/_manifest", 6*time.Second),
		Mode: checkpoint.Crash})
	got := &resumeJob{}
	c1, clock1, infos1 := newResumeContext(t, dir, got, sluice.CheckpointStore(faulty))
	runUntil(t, c1, clock1, infos1, 7)
	sluice.Crash(c1)
	if faulty.Injected() == 0 {
		t.Fatal("the torn manifest was never written")
	}
	c2, clock2, infos2 := newResumeContext(t, dir, got)
	clock2.Set(clock1.Now())
	runUntil(t, c2, clock2, infos2, 14)
	if err := c2.Stop(); err != nil {
		t.Fatal(err)
	}
	info, err := sluice.ReadCheckpoint(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resumed: %v; checkpoints now %v", c2.Resumed(), info.State["totals"])
	compareOutputs(t, ref, got)
}

// TestResumeFromS3 checkpoints to an S3-compatible server (gofakes3,
// over real HTTP with the AWS SDK) and resumes from it after a crash.
func TestResumeFromS3(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("ckpt"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "sluice")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "sluice-secret")
	loc := "s3://ckpt/jobs/resume?endpoint=" + srv.URL + "&region=us-east-1&path-style=true"

	ref := &resumeJob{}
	c, clock, infos := newResumeContext(t, t.TempDir(), ref)
	runUntil(t, c, clock, infos, 12)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	got := &resumeJob{}
	c1, clock1, infos1 := newResumeContext(t, loc, got)
	runUntil(t, c1, clock1, infos1, 7)
	sluice.Crash(c1)
	c2, clock2, infos2 := newResumeContext(t, loc, got)
	clock2.Set(clock1.Now())
	runUntil(t, c2, clock2, infos2, 12)
	if err := c2.Stop(); err != nil {
		t.Fatal(err)
	}
	if c2.Resumed() == nil {
		t.Fatal("did not resume from S3")
	}
	if keys := sluice.StoreKeys(loc, "state/totals/"); len(keys) == 0 {
		t.Fatal("no state checkpoints in the bucket")
	}
	compareOutputs(t, ref, got)
}

// TestResumeWithOtherParallelism resumes a job checkpointed with 3
// partitions per stage with 2: every stateful operator's restored state
// is placed again by key, and every output equals that of a run without
// the crash.
func TestResumeWithOtherParallelism(t *testing.T) {
	ref := &resumeJob{}
	c, clock, infos := newResumeContext(t, t.TempDir(), ref, sluice.Parallelism(2))
	runUntil(t, c, clock, infos, 14)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	loc := t.TempDir()
	got := &resumeJob{}
	c1, clock1, infos1 := newResumeContext(t, loc, got, sluice.Parallelism(3))
	runUntil(t, c1, clock1, infos1, 7)
	sluice.Crash(c1)
	c2, clock2, infos2 := newResumeContext(t, loc, got, sluice.Parallelism(2))
	clock2.Set(clock1.Now())
	runUntil(t, c2, clock2, infos2, 14)
	if err := c2.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := sluice.StatePlacements(c2); n != 1 {
		t.Errorf("the restored state was placed again by key %d times, want once", n)
	}
	if rep := c2.Resumed(); rep == nil || len(rep.Kept) != 3 {
		t.Fatalf("resume report %v, want totals, window and seen kept", rep)
	}
	compareOutputs(t, ref, got)
}

// TestResumeHeldBackGeneratorIsExactlyOnce resumes a job whose generator
// is held back (40 records/s arrive, 25 may be read: a backlog grows) from
// a crash: after a completed batch, and with three batches planned (and
// recorded) but not completed, which the restarted driver must rerun with
// their recorded ranges before going on from the end of the last. Every
// output equals that of a run without the crash.
func TestResumeHeldBackGeneratorIsExactlyOnce(t *testing.T) {
	limit := sluice.MaxRate(25)
	ref := &resumeJob{}
	c, clock, infos := newResumeContext(t, t.TempDir(), ref, limit)
	runUntil(t, c, clock, infos, 16)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	// Held back: three batches of 25 records in each 3s window.
	if got := ref.out["count"][16000]; len(got) != 1 || got[0] != "75" {
		t.Fatalf("records in the window at 16s: %v, want 75", got)
	}
	t.Run("crash-after-5", func(t *testing.T) {
		loc := t.TempDir()
		got := &resumeJob{}
		c1, clock1, infos1 := newResumeContext(t, loc, got, limit)
		runUntil(t, c1, clock1, infos1, 5)
		sluice.Crash(c1)
		c2, clock2, infos2 := newResumeContext(t, loc, got, limit)
		clock2.Set(clock1.Now())
		runUntil(t, c2, clock2, infos2, 16)
		if err := c2.Stop(); err != nil {
			t.Fatal(err)
		}
		compareOutputs(t, ref, got)
	})
	t.Run("crash-with-batches-planned", func(t *testing.T) {
		loc := t.TempDir()
		got := &resumeJob{}
		// OnBatch holds the batch loop at batch `hold` (before its
		// metadata checkpoint) until the test lets it go.
		var hold atomic.Int64
		gate := make(chan struct{})
		clock1 := sluicetest.NewManualClock(sluicetest.Epoch)
		infos1 := make(chan sluice.BatchInfo, 1024)
		c1, err := sluice.GetOrCreate(loc, got.build, sluice.Master("local[2]"), sluice.Batch(time.Second),
			sluice.WithClock(clock1), limit, sluice.OnBatch(func(b sluice.BatchInfo) {
				// Read before the test hears of b: it may move
				// hold on as soon as it does.
				h := hold.Load()
				infos1 <- b
				if b.Time.UnixMilli() == h {
					<-gate
				}
			}))
		if err != nil {
			t.Fatal(err)
		}
		hold.Store(7000)
		runUntil(t, c1, clock1, infos1, 7)
		clock1.Set(clock1.Now().Add(3 * time.Second)) // batches 8, 9 and 10 are planned
		time.Sleep(200 * time.Millisecond)
		hold.Store(8000)
		gate <- struct{}{} // batch 7's metadata records the plans of 8, 9, 10
		for b := range infos1 {
			if b.Time.UnixMilli() == 8000 {
				break
			}
		}
		// The store as a driver killed now leaves it: batch 7 completed.
		snapshot := t.TempDir()
		if err := os.CopyFS(snapshot, os.DirFS(loc)); err != nil {
			t.Fatal(err)
		}
		hold.Store(0)
		gate <- struct{}{}
		sluice.Crash(c1)
		c2, clock2, infos2 := newResumeContext(t, snapshot, got, limit)
		clock2.Set(clock1.Now())
		runUntil(t, c2, clock2, infos2, 16)
		if rep := c2.Resumed(); rep == nil || rep.Completed.UnixMilli() != 7000 {
			t.Fatalf("resumed %v, want after batch 7000", rep)
		}
		if err := c2.Stop(); err != nil {
			t.Fatal(err)
		}
		compareOutputs(t, ref, got)
	})
}
