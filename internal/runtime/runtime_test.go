package runtime

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/scheduler"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type ints struct{}

func (ints) Name() string                    { return "int" }
func (ints) Len(p any) int                   { return len(p.([]int)) }
func (ints) Head(p any, n int) any           { s := p.([]int); return s[:min(n, len(s))] }
func (ints) Empty() any                      { return []int(nil) }
func (ints) Encode(dst []byte, p any) []byte { return intCodec.Append(dst, p.([]int)) }
func (ints) Decode(b []byte) (any, error)    { return intCodec.Decode(b) }

var intCodec = codec.For[int]()

func asInts(v any) []int { s, _ := v.([]int); return s }

var collect = Func(func(tc lineage.TaskContext, p int, part any) (any, error) { return part, nil })

// source makes a dataset of parts partitions, partition p = [p*10, p*10+n),
// counting how often each partition is computed.
func source(sc *lineage.Scope, parts, n int, calls *atomic.Int64) *lineage.Dataset {
	return sc.New("source", ints{}, parts, func(_ lineage.TaskContext, p int) (any, error) {
		calls.Add(1)
		out := make([]int, n)
		for i := range out {
			out[i] = p*10 + i
		}
		return out, nil
	})
}

// modShuffle buckets ints by value mod n and sums each bucket's values per reduce partition.
func modShuffle(sc *lineage.Scope, parent *lineage.Dataset, n int) *lineage.Dataset {
	return modShuffleHook(sc, parent, n, nil)
}

// modShuffleHook is modShuffle with a hook that sees each reduce task's
// fetch result (err is nil on success) before the task goes on or fails.
func modShuffleHook(sc *lineage.Scope, parent *lineage.Dataset, n int, hook func(tc lineage.TaskContext, r int, err error)) *lineage.Dataset {
	id := sc.Alloc()
	dep := &lineage.ShuffleDep{P: parent, ID: lineage.ShuffleID{Child: id}, Parts: n, Bucket: ints{},
		Split: func(part any, n int) []any {
			out := make([]any, n)
			bs := make([][]int, n)
			for _, x := range asInts(part) {
				bs[x%n] = append(bs[x%n], x)
			}
			for i := range bs {
				out[i] = bs[i]
			}
			return out
		}}
	return sc.NewWithID(id, "sum", ints{}, n, func(tc lineage.TaskContext, r int) (any, error) {
		bs, err := tc.Fetch(dep, r)
		if hook != nil {
			hook(tc, r, err)
		}
		if err != nil {
			return nil, err
		}
		sum := 0
		for _, b := range bs {
			for _, x := range asInts(b) {
				sum += x
			}
		}
		return []int{sum}, nil
	}, dep)
}

// registry resolves datasets from a lineage registry; it has no outputs.
type registry struct{ *lineage.Registry }

func (registry) Output(node int32) (OutputFunc, error) {
	return nil, fmt.Errorf("no output node %d", node)
}

func newLocal(t *testing.T, n int) (*Local, *lineage.Registry) {
	return newLocalMode(t, n, false)
}

func newLocalMode(t *testing.T, n int, encode bool) (*Local, *lineage.Registry) {
	t.Helper()
	reg := lineage.NewRegistry()
	l, err := NewLocal(n, registry{reg}, LocalConfig{Encode: encode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l, reg
}

func flatten(parts []any) []int {
	var out []int
	for _, p := range parts {
		out = append(out, asInts(p)...)
	}
	return out
}

func TestShuffleJobAcrossWorkers(t *testing.T) {
	for _, encode := range []bool{false, true} {
		t.Run(fmt.Sprintf("encode=%v", encode), func(t *testing.T) { testShuffleJob(t, encode) })
	}
}

func testShuffleJob(t *testing.T, encode bool) {
	l, reg := newLocalMode(t, 3, encode)
	sc := reg.Scope(1, 1)
	var calls atomic.Int64
	sum := modShuffle(sc, source(sc, 4, 5, &calls), 3)
	got, err := l.Driver.RunJob(context.Background(), sum, 1, collect)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int, 3)
	for p := 0; p < 4; p++ {
		for i := 0; i < 5; i++ {
			want[(p*10+i)%3] += p*10 + i
		}
	}
	if fmt.Sprint(flatten(got)) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", flatten(got), want)
	}
	// Every worker ran something: tasks are spread.
	for _, name := range l.Workers() {
		if l.Worker(name).Shuffle.Len() == 0 {
			t.Errorf("worker %s holds no map output", name)
		}
	}
}

func TestPersistedPartitionsAreNotRecomputed(t *testing.T) {
	l, reg := newLocal(t, 2)
	sc := reg.Scope(1, 1)
	var calls atomic.Int64
	src := source(sc, 4, 3, &calls).Persist()
	for i := 0; i < 3; i++ {
		if _, err := l.Driver.RunJob(context.Background(), src, 1, collect); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("source computed %d times over three jobs, want 4 (once per partition)", n)
	}
	if !l.Driver.FullyCached(src) {
		t.Fatal("FullyCached = false after a job computed every partition")
	}
}

func TestShuffleOutputsReusedAcrossJobs(t *testing.T) {
	l, reg := newLocal(t, 2)
	sc := reg.Scope(1, 1)
	var calls atomic.Int64
	sum := modShuffle(sc, source(sc, 4, 3, &calls), 2)
	for i := 0; i < 2; i++ {
		if _, err := l.Driver.RunJob(context.Background(), sum, 1, collect); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("map side computed %d partitions over two jobs, want 4", n)
	}
}

func TestLostShuffleOutputIsRecomputed(t *testing.T) {
	l, reg := newLocal(t, 2)
	sc := reg.Scope(1, 1)
	var calls atomic.Int64
	sum := modShuffle(sc, source(sc, 4, 3, &calls), 2)
	first, err := l.Driver.RunJob(context.Background(), sum, 1, collect)
	if err != nil {
		t.Fatal(err)
	}
	// Drop every map output of one worker: the next job's reduce tasks
	// fail to fetch, and the scheduler recomputes only what was lost.
	victim := l.Worker(l.Workers()[0])
	victim.Free(map[lineage.ID]bool{sum.ID: true})
	again, err := l.Driver.RunJob(context.Background(), sum, 1, collect)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(flatten(first)) != fmt.Sprint(flatten(again)) {
		t.Fatalf("after recovery got %v, want %v", flatten(again), flatten(first))
	}
	if n := calls.Load(); n <= 4 || n >= 8 {
		t.Fatalf("map side computed %d partitions in all, want between 5 and 7 (only the lost ones again)", n)
	}
}

// A reduce task's fetch failure that arrives after the lost output was
// recomputed on the same worker is stale: the scheduler keeps the new
// output, so the driver must keep handing out its location. (It used to
// clear it, and every rerun of the task then found no location and was
// retried without end: a livelock the race detector made likely.)
func TestLateFetchFailureKeepsRecomputedOutput(t *testing.T) {
	l, reg := newLocal(t, 2)
	sc := reg.Scope(1, 1)
	var calls atomic.Int64
	var (
		armed     atomic.Bool           // set for the second job
		reruns0   atomic.Int64          // runs of reduce partition 0 while armed
		fetched1  = make(chan struct{}) // reduce 1 has failed to fetch
		rerun0    = make(chan struct{}) // reduce 0 runs again: map 0 was recomputed
		held1     atomic.Bool           // reduce 1's first failure was held back
		once0, o1 sync.Once
	)
	wait := func(tc lineage.TaskContext, ch chan struct{}) {
		select {
		case <-ch:
		case <-tc.Context().Done():
		}
	}
	sum := modShuffleHook(sc, source(sc, 4, 3, &calls), 2, func(tc lineage.TaskContext, r int, err error) {
		if !armed.Load() {
			return
		}
		switch {
		case r == 0 && reruns0.Add(1) == 1:
			// Report the failure only once reduce 1 has read the old
			// location too, so that its report is stale when it arrives.
			wait(tc, fetched1)
		case r == 0:
			once0.Do(func() { close(rerun0) })
		case r == 1 && err != nil && held1.CompareAndSwap(false, true):
			o1.Do(func() { close(fetched1) })
			// Hold the failure back until map partition 0 has been
			// recomputed (on local-0, local-1's only slot being taken
			// by this task) and reduce 0 launched again.
			wait(tc, rerun0)
		}
	})
	first, err := l.Driver.RunJob(context.Background(), sum, 1, collect)
	if err != nil {
		t.Fatal(err)
	}
	// Map partition 0 ran on local-0 (both workers were free; ties go to
	// the lowest name), and so did reduce partition 0 in the next job.
	l.Worker("local-0").Free(map[lineage.ID]bool{sum.ID: true})
	armed.Store(true)
	again, err := l.Driver.RunJob(context.Background(), sum, 1, collect)
	if err != nil {
		t.Fatal(err)
	}
	if !held1.Load() || reruns0.Load() < 2 {
		t.Fatalf("the late fetch failure was not staged (reduce 1 held: %v, reduce 0 runs: %d)", held1.Load(), reruns0.Load())
	}
	if fmt.Sprint(flatten(first)) != fmt.Sprint(flatten(again)) {
		t.Fatalf("after recovery got %v, want %v", flatten(again), flatten(first))
	}
}

func TestWorkerLostTasksRunElsewhere(t *testing.T) {
	l, reg := newLocal(t, 3)
	sc := reg.Scope(1, 1)
	release := make(chan struct{})
	var started atomic.Int64
	slow := sc.New("slow", ints{}, 6, func(tc lineage.TaskContext, p int) (any, error) {
		started.Add(1)
		select {
		case <-release:
		case <-tc.Context().Done():
			return nil, tc.Context().Err()
		}
		return []int{p}, nil
	})
	done := make(chan []any, 1)
	go func() {
		got, err := l.Driver.RunJob(context.Background(), slow, 1, collect)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	for started.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	if err := l.Driver.WorkerLost(l.Workers()[1]); err != nil {
		t.Fatal(err)
	}
	close(release)
	got := flatten(<-done)
	sort.Ints(got)
	if fmt.Sprint(got) != "[0 1 2 3 4 5]" {
		t.Fatalf("got %v", got)
	}
}

func TestTaskErrorFailsJobAfterRetries(t *testing.T) {
	l, reg := newLocal(t, 2)
	sc := reg.Scope(1, 1)
	var attempts atomic.Int64
	bad := sc.New("bad", ints{}, 1, func(lineage.TaskContext, int) (any, error) {
		attempts.Add(1)
		return nil, errors.New("boom")
	})
	_, err := l.Driver.RunJob(context.Background(), bad, 1, collect)
	if err == nil || !containsAll(err.Error(), "boom", "4 times") {
		t.Fatalf("err = %v, want the task's error after 4 attempts", err)
	}
	if n := attempts.Load(); n != scheduler.DefaultMaxTaskFailures {
		t.Fatalf("%d attempts, want %d", n, scheduler.DefaultMaxTaskFailures)
	}
}

func TestPanickingTaskIsAnError(t *testing.T) {
	l, reg := newLocal(t, 1)
	sc := reg.Scope(1, 1)
	bad := sc.New("bad", ints{}, 1, func(lineage.TaskContext, int) (any, error) { panic("kaboom") })
	if _, err := l.Driver.RunJob(context.Background(), bad, 1, collect); err == nil || !containsAll(err.Error(), "kaboom") {
		t.Fatalf("err = %v", err)
	}
}

func TestTruncatedDatasetReadsItsCache(t *testing.T) {
	l, reg := newLocal(t, 2)
	sc := reg.Scope(1, 1)
	var calls atomic.Int64
	src := source(sc, 3, 2, &calls).Persist()
	sum := modShuffle(sc, src, 2).Persist()
	want, err := l.Driver.RunJob(context.Background(), sum, 1, collect)
	if err != nil {
		t.Fatal(err)
	}
	sum.Truncate(ReadCached(sum))
	child := sc.New("double", ints{}, sum.NumParts, func(tc lineage.TaskContext, p int) (any, error) {
		in, err := tc.Partition(sum, p)
		return asInts(in), err
	}, lineage.OneToOne{P: sum})
	got, err := l.Driver.RunJob(context.Background(), child, 1, collect)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(flatten(got)) != fmt.Sprint(flatten(want)) {
		t.Fatalf("got %v, want %v", flatten(got), flatten(want))
	}
	// Freed blocks of a truncated dataset cannot come back: a clear error.
	if err := l.Driver.Free([]lineage.ID{sum.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Driver.RunJob(context.Background(), child, 1, collect); err == nil || !containsAll(err.Error(), "block lost") {
		t.Fatalf("err = %v, want block lost", err)
	}
}

func TestRunJobAfterCloseFails(t *testing.T) {
	reg := lineage.NewRegistry()
	l, err := NewLocal(1, registry{reg}, LocalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	var calls atomic.Int64
	if _, err := l.Driver.RunJob(context.Background(), source(reg.Scope(1, 1), 1, 1, &calls), 1, collect); !errors.Is(err, ErrStopped) {
		t.Fatalf("err = %v, want ErrStopped", err)
	}
}

func TestNewLocalRejectsZeroWorkers(t *testing.T) {
	if _, err := NewLocal(0, registry{lineage.NewRegistry()}, LocalConfig{}); err == nil {
		t.Fatal("NewLocal(0) succeeded")
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// TestConcurrentJobsShareAMapStageWhoseInputGotCached submits a second job
// while the first still runs, after the first cached a dataset inside the
// shared map stage's pipeline: both jobs must agree on the stage's shape.
func TestConcurrentJobsShareAMapStageWhoseInputGotCached(t *testing.T) {
	l, reg := newLocal(t, 2)
	sc := reg.Scope(1, 1)
	var calls atomic.Int64
	mid := modShuffle(sc, source(sc, 2, 4, &calls), 2).Persist() // cached by the map tasks below
	release := make(chan struct{})
	final := sc.New("gate", ints{}, 2, func(tc lineage.TaskContext, p int) (any, error) {
		<-release
		return nil, nil
	})
	top := modShuffle(sc, mid, 2)
	gated := sc.New("gated", ints{}, 2, func(tc lineage.TaskContext, p int) (any, error) {
		if _, err := tc.Partition(final, p); err != nil {
			return nil, err
		}
		return tc.Partition(top, p)
	}, lineage.OneToOne{P: final}, lineage.OneToOne{P: top})
	first := make(chan error, 1)
	go func() {
		_, err := l.Driver.RunJob(context.Background(), gated, 1, collect)
		first <- err
	}()
	for !l.Driver.FullyCached(mid) {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() {
		_, err := l.Driver.RunJob(context.Background(), gated, 1, collect)
		second <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the second job be submitted (not an assertion)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}

// A cached partition of a dataset with Replicas 2 is copied to a second
// worker, so that it survives the loss of the first (its lineage may have
// been cut).
func TestReplicatedBlocksSurviveAWorker(t *testing.T) {
	for _, encode := range []bool{false, true} {
		t.Run(fmt.Sprintf("encode=%v", encode), func(t *testing.T) {
			l, reg := newLocalMode(t, 3, encode)
			sc := reg.Scope(1, 1)
			var calls atomic.Int64
			src := source(sc, 3, 4, &calls)
			src.Persist()
			src.Replicas = 2
			first, err := l.Driver.RunJob(context.Background(), src, 1, collect)
			if err != nil {
				t.Fatal(err)
			}
			copies := 0
			for _, name := range l.Workers() {
				copies += l.Worker(name).Blocks.Stats().Blocks
			}
			if copies != 6 {
				t.Fatalf("%d blocks over the workers, want 3 partitions × 2", copies)
			}
			// Cut the lineage (as state is at checkpoints), lose a worker:
			// the copies answer.
			src.Truncate(ReadCached(src))
			if err := l.Driver.WorkerLost(l.Workers()[0]); err != nil {
				t.Fatal(err)
			}
			again, err := l.Driver.RunJob(context.Background(), src, 1, collect)
			if err != nil {
				t.Fatalf("after losing a worker: %v", err)
			}
			if fmt.Sprint(flatten(again)) != fmt.Sprint(flatten(first)) {
				t.Fatalf("got %v, want %v", flatten(again), flatten(first))
			}
			if calls.Load() != 3 {
				t.Fatalf("partitions computed %d times, want 3", calls.Load())
			}
		})
	}
}

// A job planned to read cached partitions loses one with its worker while
// its tasks run: the partition's new attempt needs the shuffle the plan
// left out, and the job gets a new plan that recomputes it. The job's
// other partitions are neither cancelled nor run again.
func TestLostCachedPartitionReplansWithoutRedoingTheOthers(t *testing.T) {
	l, reg := newLocal(t, 4)
	sc := reg.Scope(1, 1)
	var calls atomic.Int64
	mid := modShuffle(sc, source(sc, 3, 4, &calls), 3).Persist()
	want, err := l.Driver.RunJob(context.Background(), mid, 1, collect)
	if err != nil {
		t.Fatal(err)
	}
	victim, lostPart := "", -1
	for _, name := range l.Workers() {
		for p := range mid.NumParts {
			if _, ok, _ := l.Worker(name).Blocks.Get(blockstore.ID{Dataset: mid.ID, Part: p}); ok && victim == "" {
				victim, lostPart = name, p
			}
		}
	}
	release := make(chan struct{})
	var started atomic.Int64
	runs := make([]atomic.Int64, mid.NumParts)
	gated := sc.New("gated", ints{}, mid.NumParts, func(tc lineage.TaskContext, p int) (any, error) {
		runs[p].Add(1)
		started.Add(1)
		<-release
		return tc.Partition(mid, p)
	}, lineage.OneToOne{P: mid})
	done := make(chan error, 1)
	var got []any
	go func() {
		var err error
		got, err = l.Driver.RunJob(context.Background(), gated, 1, collect)
		done <- err
	}()
	for started.Load() < int64(mid.NumParts) {
		time.Sleep(time.Millisecond)
	}
	if err := l.Driver.WorkerLost(victim); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(flatten(got)) != fmt.Sprint(flatten(want)) {
		t.Fatalf("got %v, want %v", flatten(got), flatten(want))
	}
	for p := range runs {
		if n := runs[p].Load(); p != lostPart && n != 1 {
			t.Errorf("partition %d ran %d times, want once (only the lost partition %d runs again)", p, n, lostPart)
		}
	}
}

// A worker may resolve a shuffle's child to an older copy than its parent
// (the same dataset built twice: the driver kept the child's shuffle
// outputs while the parent was forgotten and built again). The map task
// computes the child's own parent.
func TestMapTaskUsesTheChildsCopyOfItsParent(t *testing.T) {
	l, reg := newLocal(t, 2)
	sc := reg.Scope(1, 1)
	var calls atomic.Int64
	src := source(sc, 2, 3, &calls)
	sum := modShuffle(sc, src, 2)
	// Build the parent again under the same ID: the registry now resolves
	// the new copy, the child still depends on the first.
	again := sc.NewWithID(src.ID, "source", ints{}, 2, func(lineage.TaskContext, int) (any, error) {
		return nil, errors.New("the map task computed the registry's copy of the parent")
	})
	if got, _ := reg.Lookup(src.ID); got != again {
		t.Fatal("the registry does not resolve the new copy")
	}
	got, err := l.Driver.RunJob(context.Background(), sum, 1, collect)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(flatten(got)) != "[24 12]" {
		t.Fatalf("got %v, want [24 12]", flatten(got))
	}
}
