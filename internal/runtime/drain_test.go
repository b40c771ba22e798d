package runtime

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
)

// A worker holding cached state partitions drains while jobs run: the
// batch in flight finishes first (its task on the worker too), no task
// starts there afterwards, every block only it held is copied to another
// worker and registered there, and later jobs read the copies: the state
// is not recomputed (its lineage is cut, as at a checkpoint, so a lost
// partition could not be recomputed at all), and the results are right.
func TestDrainMovesBlocksWithoutRecomputing(t *testing.T) {
	for _, encode := range []bool{false, true} {
		t.Run(fmt.Sprintf("encode=%v", encode), func(t *testing.T) { testDrain(t, encode) })
	}
}

func testDrain(t *testing.T, encode bool) {
	l, reg := newLocalMode(t, 3, encode)
	ctx := context.Background()
	sc := reg.Scope(1, 1)
	var calls atomic.Int64
	state := source(sc, 6, 4, &calls).Persist()
	want, err := l.Driver.RunJob(ctx, state, 1, collect)
	if err != nil {
		t.Fatal(err)
	}
	state.Truncate(ReadCached(state))
	victim, held := "", 0
	for _, name := range l.Workers() {
		if n := l.Worker(name).Blocks.Stats().Blocks; n > held {
			victim, held = name, n
		}
	}
	// The batch in flight: one slow task per worker, the victim's too.
	slow := sc.New("slow", ints{}, 3, func(_ lineage.TaskContext, p int) (any, error) {
		time.Sleep(300 * time.Millisecond)
		return []int{p}, nil
	})
	slowDone := make(chan time.Time, 1)
	go func() {
		if _, err := l.Driver.RunJob(ctx, slow, 2, collect); err != nil {
			t.Error(err)
		}
		slowDone <- time.Now()
	}()
	waitFor(t, func() bool { return l.Worker(victim).Running() > 0 })
	runBefore, _, _ := l.Worker(victim).Counters()
	running := int64(l.Worker(victim).Running())
	drained, err := l.Driver.DrainWorker(victim)
	if err != nil {
		t.Fatal(err)
	}
	if st := l.Driver.Stats(); !slices.Equal(st.Draining, []string{victim}) || len(st.WorkerNames) != 3 {
		t.Fatalf("draining %v of workers %v, want [%s] of 3", st.Draining, st.WorkerNames, victim)
	}
	// Jobs go on during the drain, reading the state.
	for i := 0; i < 5; i++ {
		got, err := l.Driver.RunJob(ctx, state, 3, collect)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(flatten(got)) != fmt.Sprint(flatten(want)) {
			t.Fatalf("during the drain: got %v, want %v", flatten(got), flatten(want))
		}
	}
	var drainedAt time.Time
	select {
	case <-drained:
		drainedAt = time.Now()
	case <-time.After(10 * time.Second):
		t.Fatal("the worker was not drained within 10s")
	}
	if slowAt := <-slowDone; drainedAt.Before(slowAt.Add(-50 * time.Millisecond)) {
		t.Errorf("drained at %v, before the batch in flight ended at %v", drainedAt, slowAt)
	}
	if runAfter, _, _ := l.Worker(victim).Counters(); runAfter > runBefore+running {
		t.Errorf("the draining worker ran %d tasks after the drain began, %d were running", runAfter-runBefore, running)
	}
	st := l.Driver.Stats()
	if slices.Contains(st.WorkerNames, victim) || len(st.Draining) != 0 || st.Drained != 1 {
		t.Fatalf("after the drain: workers %v, draining %v, drained %d", st.WorkerNames, st.Draining, st.Drained)
	}
	if st.BlocksMoved < int64(held) {
		t.Errorf("%d blocks moved, the worker held %d", st.BlocksMoved, held)
	}
	// Every partition has a copy on a worker that stays.
	for p := range state.NumParts {
		id := blockstore.ID{Dataset: state.ID, Part: p}
		found := false
		for _, name := range st.WorkerNames {
			found = found || l.Worker(name).Blocks.Has(id)
		}
		if !found {
			t.Errorf("partition %d is on no remaining worker", p)
		}
	}
	got, err := l.Driver.RunJob(ctx, state, 4, collect)
	if err != nil {
		t.Fatalf("after the drain: %v", err)
	}
	if fmt.Sprint(flatten(got)) != fmt.Sprint(flatten(want)) {
		t.Fatalf("after the drain: got %v, want %v", flatten(got), flatten(want))
	}
	if n := calls.Load(); n != 6 {
		t.Fatalf("state partitions computed %d times, want 6 (once each: none recomputed)", n)
	}
	if _, err := l.Driver.DrainWorker(victim); err == nil {
		t.Error("draining a removed worker: no error")
	}
}

// Workers drain one after the other: the last one has nowhere to copy its
// blocks to, and is released all the same.
func TestDrainEveryWorker(t *testing.T) {
	l, reg := newLocal(t, 2)
	ctx := context.Background()
	sc := reg.Scope(1, 1)
	var calls atomic.Int64
	src := source(sc, 2, 3, &calls).Persist()
	if _, err := l.Driver.RunJob(ctx, src, 1, collect); err != nil {
		t.Fatal(err)
	}
	names := l.Workers()
	d0, err := l.Driver.DrainWorker(names[0])
	if err != nil {
		t.Fatal(err)
	}
	<-d0
	// names[1] now holds everything; draining it has nowhere to copy to.
	d1, err := l.Driver.DrainWorker(names[1])
	if err != nil {
		t.Fatal(err)
	}
	<-d1
	if st := l.Driver.Stats(); len(st.WorkerNames) != 0 || st.Drained != 2 {
		t.Fatalf("workers %v, drained %d", st.WorkerNames, st.Drained)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
