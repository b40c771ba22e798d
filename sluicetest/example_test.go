package sluicetest_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// exampleT stands in for the *testing.T of a test, which examples do not
// have: in a test, pass t itself. It runs the harness's cleanups when the
// example calls done, and turns a fatal failure into a panic.
type exampleT struct {
	testing.TB // only to satisfy the interface; the methods used are below
	cleanups   []func()
}

func (t *exampleT) Helper()                        {}
func (t *exampleT) Failed() bool                   { return false }
func (t *exampleT) Cleanup(f func())               { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Errorf(format string, a ...any) { fmt.Printf("error: "+format+"\n", a...) }
func (t *exampleT) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }

// done runs the cleanups, last first, as the testing package does when a
// test ends: the harness's cleanup stops its job.
func (t *exampleT) done() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// sortedBatches sorts the records of every batch by their printed form:
// the order within a batch is not defined after a shuffle.
func sortedBatches[T any](bs [][]T) [][]T {
	for _, b := range bs {
		slices.SortFunc(b, func(x, y T) int { return strings.Compare(fmt.Sprint(x), fmt.Sprint(y)) })
	}
	return bs
}

// A test of a word count, batch by batch.
func Example() {
	t := &exampleT{} // in a test: func TestWordCount(t *testing.T) {
	defer t.done()

	h := sluicetest.New(t, time.Second)
	lines := sluicetest.Input(h, 2, []string{"a b", "b"}, []string{"c"})
	counts := sluicetest.Collect(sluice.CountByValue(sluice.FlatMap(lines, strings.Fields)))
	h.Run(3)
	fmt.Println(sortedBatches(counts.Batches()))
	// Output: [[{a 1} {b 2}] [{c 1}] []]
}

// A Harness runs a job on a manual clock: its Context is where the graph
// is built, its Clock moves only when Run moves it.
func ExampleHarness() {
	t := &exampleT{}
	defer t.done()

	h := sluicetest.New(t, time.Second)
	nums := sluicetest.Input(h, 1, []int{1, 2, 3})
	sums := sluicetest.Collect(sluice.Reduce(nums, func(a, b int) int { return a + b }))
	fmt.Println(h.Context.BatchInterval(), h.Clock.Now().Equal(sluicetest.Epoch))
	h.Run(1)
	fmt.Println(sums.Batches(), h.Clock.Now().Sub(sluicetest.Epoch))
	// Output:
	// 1s true
	// [[6]] 1s
}

// New makes the harness; options replace its defaults (local[2]).
func ExampleNew() {
	t := &exampleT{}
	defer t.done()

	h := sluicetest.New(t, 500*time.Millisecond, sluice.Master("local[4]"))
	in := sluicetest.Input(h, 0, []string{"a", "b", "c", "d"})
	sluice.ForeachBatch(in, func(_ context.Context, d sluice.Dataset[string], _ time.Time) error {
		fmt.Println(d.Partitions(), "partitions")
		return nil
	})
	h.Run(1)
	fmt.Println(h.Time(1).Sub(sluicetest.Epoch))
	// Output:
	// 4 partitions
	// 500ms
}

// Run runs batches to completion and returns their figures; it can be
// called again to run more.
func ExampleHarness_Run() {
	t := &exampleT{}
	defer t.done()

	h := sluicetest.New(t, time.Second)
	clicks := sluicetest.Input(h, 1, []string{"ad1", "ad2"}, []string{"ad1"})
	out := sluicetest.Collect(sluice.CountByWindow(clicks, 2*time.Second, time.Second))
	for _, info := range h.Run(2) {
		fmt.Println(info.Time.Sub(sluicetest.Epoch), info.Records, "records in")
	}
	h.Run(1)
	fmt.Println(out.Batches())
	// Output:
	// 1s 2 records in
	// 2s 1 records in
	// [[2] [3] [1]]
}

// TryRun returns the job's error instead of failing the test, for tests
// of errors: here a window that is not a multiple of the batch interval,
// which the context rejects when the job starts.
func ExampleHarness_TryRun() {
	t := &exampleT{}
	defer t.done()

	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 1, []int{1})
	sluicetest.Collect(sluice.Window(in, 1500*time.Millisecond, time.Second))
	infos, err := h.TryRun(1)
	_, msg, _ := strings.Cut(err.Error(), "): ") // drop the file:line of the Window call
	fmt.Println(len(infos), msg)
	// Output: 0 window 1.5s is not a multiple of the parent's slide 1s
}

// Time gives the time of a batch, to compare with the times of the
// collected output.
func ExampleHarness_Time() {
	t := &exampleT{}
	defer t.done()

	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 1, []int{1}, []int{2}, []int{3}, []int{4})
	out := sluicetest.Collect(sluice.Window(in, 2*time.Second, 2*time.Second))
	h.Run(4)
	fmt.Println(slices.Equal(out.Times(), []time.Time{h.Time(2), h.Time(4)}))
	fmt.Println(h.Time(2).UnixMilli())
	// Output:
	// true
	// 2000
}

// Input feeds one batch per interval, then empty batches.
func ExampleInput() {
	t := &exampleT{}
	defer t.done()

	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []string{"x", "y", "z"}, nil, []string{"w"})
	out := sluicetest.Collect(in)
	h.Run(4)
	fmt.Println(out.Batches())
	// Output: [[x y z] [] [w] []]
}

// Collect gathers the output of every batch, to compare with what the
// test expects.
func ExampleCollect() {
	t := &exampleT{}
	defer t.done()

	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 1, []int{3, 4}, []int{5})
	squares := sluicetest.Collect(sluice.Map(in, func(x int) int { return x * x }))
	h.Run(2)
	want := [][]int{{9, 16}, {25}}
	fmt.Println(squares.Batches(), slices.EqualFunc(squares.Batches(), want, slices.Equal[[]int]))
	// Output: [[9 16] [25]] true
}

// Output holds what Collect gathered: each batch's records and time.
func ExampleOutput() {
	t := &exampleT{}
	defer t.done()

	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 1, []string{"a"}, []string{"b"})
	var out *sluicetest.Output[string] = sluicetest.Collect(in)
	h.Run(2)
	for i, b := range out.Batches() {
		fmt.Println(out.Times()[i].Sub(sluicetest.Epoch), b)
	}
	// Output:
	// 1s [a]
	// 2s [b]
}

// Batches returns a copy: a test may sort it without disturbing the
// output.
func ExampleOutput_Batches() {
	t := &exampleT{}
	defer t.done()

	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []sluice.KV[string, int]{{Key: "b", Value: 1}, {Key: "a", Value: 2}, {Key: "b", Value: 3}})
	out := sluicetest.Collect(sluice.ReduceByKey(in, func(x, y int) int { return x + y }))
	h.Run(1)
	fmt.Println(sortedBatches(out.Batches()))
	// Output: [[{a 2} {b 4}]]
}

// Times gives the batch time of each collected batch: a windowed
// stream's output comes every slide.
func ExampleOutput_Times() {
	t := &exampleT{}
	defer t.done()

	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 1, []int{1, 2, 3})
	out := sluicetest.Collect(sluice.CountByWindow(in, 3*time.Second, 3*time.Second))
	h.Run(6)
	for _, bt := range out.Times() {
		fmt.Println(bt.Sub(sluicetest.Epoch))
	}
	// Output:
	// 3s
	// 6s
}

// A ManualClock drives a context's batches without sleeping: each
// Advance past a batch time makes that batch.
func ExampleManualClock() {
	clock := sluicetest.NewManualClock(sluicetest.Epoch)
	done := make(chan sluice.BatchInfo, 1)
	sc, err := sluice.NewContext(sluice.Batch(time.Minute), sluice.WithClock(clock),
		sluice.OnBatch(func(b sluice.BatchInfo) { done <- b }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sc.Stop()
	sluice.Print(sluice.QueueStream(sc, sluice.NewQueue([]string{"tick"}), 1), 1)
	if err := sc.Start(); err != nil {
		fmt.Println(err)
		return
	}
	clock.Advance(time.Minute) // a minute passes, at once
	<-done
	// Output:
	// -------------------------------------------
	// Time: 60000 ms
	// -------------------------------------------
	// tick
	//
}

func ExampleNewManualClock() {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := sluicetest.NewManualClock(start)
	fmt.Println(clock.Now().Format(time.DateTime))
	// Output: 2024-01-01 00:00:00
}

// Now moves only when the clock is told to.
func ExampleManualClock_Now() {
	clock := sluicetest.NewManualClock(sluicetest.Epoch)
	before := clock.Now()
	time.Sleep(time.Millisecond)
	fmt.Println(clock.Now().Equal(before))
	// Output: true
}

func ExampleManualClock_Advance() {
	clock := sluicetest.NewManualClock(sluicetest.Epoch)
	clock.Advance(90 * time.Second)
	fmt.Println(clock.Now().Sub(sluicetest.Epoch))
	// Output: 1m30s
}

// Set moves the clock to a time, but never backwards.
func ExampleManualClock_Set() {
	clock := sluicetest.NewManualClock(sluicetest.Epoch)
	clock.Set(sluicetest.Epoch.Add(time.Hour))
	clock.Set(sluicetest.Epoch.Add(time.Minute)) // earlier: ignored
	fmt.Println(clock.Now().Sub(sluicetest.Epoch))
	// Output: 1h0m0s
}

// WaitUntil returns once the clock has reached a time, or when the
// context is done.
func ExampleManualClock_WaitUntil() {
	clock := sluicetest.NewManualClock(sluicetest.Epoch)
	woke := make(chan error)
	go func() { woke <- clock.WaitUntil(context.Background(), sluicetest.Epoch.Add(time.Second)) }()
	clock.Advance(500 * time.Millisecond) // not yet
	clock.Advance(500 * time.Millisecond) // now
	fmt.Println(<-woke)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fmt.Println(clock.WaitUntil(ctx, sluicetest.Epoch.Add(time.Hour)))
	// Output:
	// <nil>
	// context canceled
}
