package sluice_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

// Window unions the batches of the last three seconds, every second. The
// first windows are partial: they hold only the batches since the start.
func ExampleWindow() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]string{"a"}, []string{"b"}, []string{"c"}, []string{"d"})
	last3s := sluice.Window(sluice.QueueStream(j.Context, q, 1), 3*time.Second, time.Second)
	printEachBatch(last3s)
	j.run(5)
	// Output:
	// 1s: [a]
	// 2s: [a b]
	// 3s: [a b c]
	// 4s: [b c d]
	// 5s: [c d]
}

// ReduceByWindow gives the peak temperature of the last four seconds,
// every two seconds: the windowed stream has a dataset only every slide.
func ExampleReduceByWindow() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]int{21, 23}, []int{25}, []int{22}, []int{20}, []int{19}, nil)
	peak := sluice.ReduceByWindow(sluice.QueueStream(j.Context, q, 1), func(a, b int) int { return max(a, b) },
		4*time.Second, 2*time.Second)
	printEachBatch(peak)
	j.run(6)
	// Output:
	// 2s: [25]
	// 4s: [25]
	// 6s: [22]
}

// CountByWindow gives a click rate: the clicks of the last two seconds,
// every second, 0 when there were none.
func ExampleCountByWindow() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]string{"ad1", "ad2", "ad1"}, []string{"ad3"}, nil, nil)
	rate := sluice.CountByWindow(sluice.QueueStream(j.Context, q, 2), 2*time.Second, time.Second)
	sluice.ForeachBatch(rate, func(ctx context.Context, d sluice.Dataset[int64], t time.Time) error {
		n, err := d.Collect(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("%ds: %.1f clicks/s\n", t.Unix(), float64(n[0])/2)
		return nil
	})
	j.run(4)
	// Output:
	// 1s: 1.5 clicks/s
	// 2s: 2.0 clicks/s
	// 3s: 0.5 clicks/s
	// 4s: 0.0 clicks/s
}

// CountByValueAndWindow counts the views of each page over the last two
// seconds; pages no longer in the window disappear.
func ExampleCountByValueAndWindow() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]string{"/home", "/cart"}, []string{"/home"}, nil)
	views := sluice.CountByValueAndWindow(sluice.QueueStream(j.Context, q, 1), 2*time.Second, time.Second)
	printEachBatch(views)
	j.run(4)
	// Output:
	// 1s: [{/cart 1} {/home 1}]
	// 2s: [{/cart 1} {/home 2}]
	// 3s: [{/home 1}]
	// 4s: []
}

// GroupByKeyAndWindow gathers each user's pages of the last three
// seconds, in batch order: a recent click path.
func ExampleGroupByKeyAndWindow() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue(
		[]sluice.KV[string, string]{{Key: "ana", Value: "/home"}, {Key: "bob", Value: "/home"}},
		[]sluice.KV[string, string]{{Key: "ana", Value: "/shoes"}},
		[]sluice.KV[string, string]{{Key: "ana", Value: "/cart"}, {Key: "bob", Value: "/help"}},
		[]sluice.KV[string, string]{{Key: "ana", Value: "/pay"}},
	)
	paths := sluice.GroupByKeyAndWindow(sluice.QueueStream(j.Context, q, 2), 3*time.Second, time.Second)
	printEachBatch(paths)
	j.run(4)
	// Output:
	// 1s: [{ana [/home]} {bob [/home]}]
	// 2s: [{ana [/home /shoes]} {bob [/home]}]
	// 3s: [{ana [/home /shoes /cart]} {bob [/home /help]}]
	// 4s: [{ana [/shoes /cart /pay]} {bob [/help]}]
}

// ReduceByKeyAndWindow counts words over the last two seconds, every
// second. Without an inverse function each window is reduced from its
// batches; with one (and a name: it is stateful) the previous window is
// updated, and a word whose count fell back to 0 stays, with 0.
func ExampleReduceByKeyAndWindow() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]string{"go", "rust"}, []string{"go"}, nil, nil)
	words := sluice.Map(sluice.QueueStream(j.Context, q, 1), func(w string) sluice.KV[string, int] { return sluice.Pair(w, 1) })
	add := func(a, b int) int { return a + b }
	sub := func(a, b int) int { return a - b }
	plain := sluice.ReduceByKeyAndWindow(words, add, nil, 2*time.Second, time.Second)
	incremental := sluice.ReduceByKeyAndWindow(words, add, sub, 2*time.Second, time.Second, sluice.Named("word-counts"))
	printEachBatchAs("plain", plain)
	printEachBatchAs("incremental", incremental)
	j.run(4)
	// Output:
	// 1s plain: [{go 1} {rust 1}]
	// 1s incremental: [{go 1} {rust 1}]
	// 2s plain: [{go 2} {rust 1}]
	// 2s incremental: [{go 2} {rust 1}]
	// 3s plain: [{go 1}]
	// 3s incremental: [{go 1} {rust 0}]
	// 4s plain: []
	// 4s incremental: [{go 0} {rust 0}]
}

// KeepKeys drops the keys an incremental window no longer needs, here the
// words whose count fell to 0.
func ExampleKeepKeys() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]string{"go", "rust"}, []string{"go"}, nil, nil)
	words := sluice.Map(sluice.QueueStream(j.Context, q, 1), func(w string) sluice.KV[string, int] { return sluice.Pair(w, 1) })
	counts := sluice.ReduceByKeyAndWindow(words,
		func(a, b int) int { return a + b }, func(a, b int) int { return a - b },
		2*time.Second, time.Second,
		sluice.Named("word-counts"), sluice.KeepKeys(func(kv sluice.KV[string, int]) bool { return kv.Value > 0 }))
	printEachBatch(counts)
	j.run(4)
	// Output:
	// 1s: [{go 1} {rust 1}]
	// 2s: [{go 2} {rust 1}]
	// 3s: [{go 1}]
	// 4s: []
}
