package sluice_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/sluicetest"
)

// The examples run their jobs on a manual clock, so that every batch is
// generated on demand and the output is the same on every run. A real job
// leaves the clock alone: batches then follow the wall clock.

// exampleJob is a streaming context on a manual clock with a one-second
// batch interval on local[2]; run moves the clock batch by batch and waits
// for each batch to complete. It is what sluicetest.Harness does for tests.
type exampleJob struct {
	*sluice.Context
	clock   *sluicetest.ManualClock
	infos   chan sluice.BatchInfo
	started bool
}

// newExampleJob makes a job; opts are added to (and may override) the
// defaults.
func newExampleJob(opts ...sluice.Option) *exampleJob {
	j := &exampleJob{clock: sluicetest.NewManualClock(sluicetest.Epoch), infos: make(chan sluice.BatchInfo, 64)}
	all := append([]sluice.Option{sluice.Master("local[2]"), sluice.Batch(time.Second)}, opts...)
	all = append(all, sluice.WithClock(j.clock), sluice.OnBatch(func(b sluice.BatchInfo) { j.infos <- b }))
	sc, err := sluice.NewContext(all...)
	if err != nil {
		panic(err)
	}
	j.Context = sc
	return j
}

// start starts the job (run does it too).
func (j *exampleJob) start() error {
	if !j.started {
		if err := j.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "start:", err)
			return err
		}
		j.started = true
	}
	return nil
}

// run starts the job if needed and runs n batches. It stops early, and
// returns the error, when a batch fails (the job then stops).
func (j *exampleJob) run(n int) error {
	if err := j.start(); err != nil {
		return err
	}
	for range n {
		j.clock.Advance(j.BatchInterval())
		select {
		case info := <-j.infos:
			if info.Err != nil {
				fmt.Fprintln(os.Stderr, "batch failed:", info.Err)
				return info.Err
			}
		case <-time.After(sluicetest.BatchTimeout): // a hung job fails the example
			err := fmt.Errorf("batch did not complete within %v", sluicetest.BatchTimeout)
			fmt.Fprintln(os.Stderr, err)
			return err
		}
	}
	return nil
}

// stop stops the job; every example stops its job, so that no goroutine
// outlives it.
func (j *exampleJob) stop() {
	if err := j.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop:", err)
	}
}

// printEachBatch prints every batch of s on one line after its time in
// seconds, with the records sorted: the order of records within a batch
// is not defined after a shuffle.
func printEachBatch[T any](s *sluice.Stream[T]) { printEachBatchAs("", s) }

// printEachBatchAs is printEachBatch with a label after the time.
func printEachBatchAs[T any](label string, s *sluice.Stream[T]) {
	if label != "" {
		label = " " + label
	}
	sluice.ForeachBatch(s, func(ctx context.Context, d sluice.Dataset[T], t time.Time) error {
		recs, err := d.Collect(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("%ds%s: %s\n", t.Unix(), label, sortedString(recs))
		return nil
	})
}

// sortedString formats records with %v and sorts them.
func sortedString[T any](recs []T) string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprint(r)
	}
	slices.Sort(out)
	return "[" + strings.Join(out, " ") + "]"
}

// A streaming word count: lines come in, split into words, and every batch
// prints the count of each word it saw.
func Example() {
	j := newExampleJob()
	defer j.stop()

	q := sluice.NewQueue(
		[]string{"to be or not to be"},
		[]string{"be quick", "be brief"},
	)
	lines := sluice.QueueStream(j.Context, q, 1)
	words := sluice.FlatMap(lines, strings.Fields)
	pairs := sluice.Map(words, func(w string) sluice.KV[string, int] { return sluice.Pair(w, 1) })
	counts := sluice.ReduceByKey(pairs, func(a, b int) int { return a + b })
	printEachBatch(counts)

	j.run(3)
	// Output:
	// 1s: [{be 2} {not 1} {or 1} {to 2}]
	// 2s: [{be 2} {brief 1} {quick 1}]
	// 3s: []
}

// The life of a context, spelled out: build the graph, Start, let batches
// run, Stop. Here a manual clock stands in for the wall clock and OnBatch
// tells when each batch is done.
func ExampleContext() {
	clock := sluicetest.NewManualClock(sluicetest.Epoch)
	done := make(chan sluice.BatchInfo, 1)
	sc, err := sluice.NewContext(
		sluice.Master("local[2]"),
		sluice.Batch(time.Second),
		sluice.WithClock(clock),
		sluice.OnBatch(func(b sluice.BatchInfo) { done <- b }),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	q := sluice.NewQueue([]int{3, 1, 2})
	sluice.Print(sluice.Map(sluice.QueueStream(sc, q, 1), func(x int) int { return x * 10 }), 10)

	if err := sc.Start(); err != nil {
		fmt.Println(err)
		return
	}
	clock.Advance(time.Second) // the first batch is at Epoch + 1s
	<-done
	if err := sc.Stop(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// 30
	// 10
	// 20
}

func ExampleNewContext() {
	sc, err := sluice.NewContext(sluice.Master("local[4]"), sluice.Batch(500*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sc.Stop()
	fmt.Println(sc.BatchInterval())

	_, err = sluice.NewContext(sluice.Master("yarn"))
	fmt.Println(err)
	// Output:
	// 500ms
	// sluice: unknown master "yarn" (want local, local[N], local[*], local-cluster[N] or standalone[N])
}

func ExampleContext_BatchInterval() {
	sc, err := sluice.NewContext(sluice.Batch(2 * time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sc.Stop()
	fmt.Println(sc.BatchInterval())
	// Output: 2s
}

// Start checks the graph before running anything.
func ExampleContext_Start() {
	j := newExampleJob()
	defer j.stop()
	sluice.QueueStream(j.Context, sluice.NewQueue[int](), 1) // an input, but no output
	fmt.Println(j.Start())
	// Output:
	// sluice: no output operations: add Print, ForeachBatch, ForeachPartition or SaveAsTextFiles
}

// Stop returns the error that stopped the job: here a sink that fails at
// the second batch.
func ExampleContext_Stop() {
	j := newExampleJob()
	errSink := errors.New("sink unavailable")
	s := sluice.QueueStream(j.Context, sluice.NewQueue([]int{1}, []int{2}), 1)
	sluice.ForeachBatch(s, func(ctx context.Context, d sluice.Dataset[int], t time.Time) error {
		if t.Unix() == 2 {
			return errSink
		}
		fmt.Println("batch", t.Unix(), "written")
		return nil
	})
	j.run(2)
	err := j.Stop()
	fmt.Println(errors.Is(err, errSink))
	// Output:
	// batch 1 written
	// true
}

// AwaitTermination returns when the job stops: here because its first
// batch fails.
func ExampleContext_AwaitTermination() {
	j := newExampleJob()
	defer j.Stop() // returns errBad again
	errBad := errors.New("bad record")
	s := sluice.QueueStream(j.Context, sluice.NewQueue([]string{"x"}), 1)
	sluice.ForeachBatch(s, func(context.Context, sluice.Dataset[string], time.Time) error { return errBad })
	if err := j.Start(); err != nil {
		fmt.Println(err)
		return
	}
	j.clock.Advance(time.Second)
	err := j.AwaitTermination(context.Background())
	fmt.Println(errors.Is(err, errBad))

	// With a context that ends first, it returns the context's error.
	k := newExampleJob()
	defer k.stop()
	sluice.Print(sluice.QueueStream(k.Context, sluice.NewQueue[int](), 1), 1)
	if err := k.Start(); err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println(k.AwaitTermination(ctx))
	// Output:
	// true
	// context deadline exceeded
}

// Err reports a graph that cannot run, as soon as it is built.
func ExampleContext_Err() {
	j := newExampleJob()
	defer j.stop()
	clicks := sluice.QueueStream(j.Context, sluice.NewQueue[string](), 1)
	sluice.Print(sluice.CountByWindow(clicks, 1500*time.Millisecond, time.Second), 1)
	err := j.Err()
	_, msg, _ := strings.Cut(err.Error(), "): ") // drop the caller's file:line
	fmt.Println(msg)
	fmt.Println(j.Start() == err)

	// Changing the graph after Start is an error too.
	k := newExampleJob()
	defer k.stop()
	in := sluice.QueueStream(k.Context, sluice.NewQueue[int](), 1)
	sluice.Print(in, 1)
	if err := k.Start(); err != nil {
		fmt.Println(err)
		return
	}
	sluice.Map(in, func(x int) int { return -x })
	fmt.Println(errors.Is(k.Err(), sluice.ErrGraphStarted))
	// Output:
	// window 1.5s is not a multiple of the parent's slide 1s
	// true
	// true
}

func ExampleParseMaster() {
	for _, m := range []string{"local", "local[4]", "local[0]", "spark://host:7077"} {
		n, err := sluice.ParseMaster(m)
		fmt.Println(n, err)
	}
	// Output:
	// 1 <nil>
	// 4 <nil>
	// 0 sluice: master "local[0]": want local[N] with N >= 1
	// 0 sluice: unknown master "spark://host:7077" (want local, local[N], local[*], local-cluster[N] or standalone[N])
}

// Options are functional options: they can be kept in a slice, shared by
// jobs and extended.
func ExampleOption() {
	common := []sluice.Option{sluice.Master("local[2]"), sluice.Batch(200 * time.Millisecond)}
	sc, err := sluice.NewContext(append(common, sluice.Parallelism(8))...)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sc.Stop()
	fmt.Println(sc.BatchInterval(), sluice.Parallelize(sc, []int{1, 2, 3}, 0).Partitions())
	// Output: 200ms 8
}

func ExampleBatch() {
	sc, err := sluice.NewContext(sluice.Batch(100 * time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sc.Stop()
	fmt.Println(sc.BatchInterval())

	_, err = sluice.NewContext(sluice.Batch(500 * time.Microsecond))
	fmt.Println(err)
	// Output:
	// 100ms
	// sluice: batch interval 500µs is below 1ms
}

// Master chooses how many workers run the job's tasks; Parallelism
// defaults to that number.
func ExampleMaster() {
	sc, err := sluice.NewContext(sluice.Master("local[3]"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sc.Stop()
	fmt.Println(sluice.Parallelize(sc, []string{"a", "b", "c", "d"}, 0).Partitions())
	// Output: 3
}

// Parallelism sets how many partitions inputs and shuffles get by default.
func ExampleParallelism() {
	j := newExampleJob(sluice.Parallelism(4))
	defer j.stop()
	nums := sluice.QueueStream(j.Context, sluice.NewQueue([]int{1, 2, 3, 4, 5, 6, 7, 8}), 0)
	sluice.ForeachBatch(nums, func(_ context.Context, d sluice.Dataset[int], _ time.Time) error {
		fmt.Println("partitions:", d.Partitions())
		return nil
	})
	j.run(1)
	// Output: partitions: 4
}

// WithClock replaces the wall clock: with a manual clock, batches happen
// when the clock is moved, and batch times are exact.
func ExampleWithClock() {
	clock := sluicetest.NewManualClock(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	done := make(chan sluice.BatchInfo, 1)
	sc, err := sluice.NewContext(sluice.Batch(time.Minute), sluice.WithClock(clock),
		sluice.OnBatch(func(b sluice.BatchInfo) { done <- b }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sc.Stop()
	sluice.ForeachBatch(sluice.QueueStream(sc, sluice.NewQueue[int](), 1),
		func(_ context.Context, _ sluice.Dataset[int], t time.Time) error {
			fmt.Println("batch at", t.UTC().Format(time.TimeOnly))
			return nil
		})
	if err := sc.Start(); err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		clock.Advance(time.Minute)
		<-done
	}
	// Output:
	// batch at 12:01:00
	// batch at 12:02:00
}

// Logger receives the input errors that sources skip, among others.
func ExampleLogger() {
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: noTime}))
	j := newExampleJob(sluice.Logger(logger))
	defer j.stop()
	sluice.Print(sluice.TextFiles(j.Context, "no-such-dir"), 10)
	j.run(1)
	// Output:
	// level=WARN msg="input skipped" source=TextFiles(no-such-dir) err="open no-such-dir: no such file or directory"
	// level=WARN msg="input skipped" source=TextFiles(no-such-dir) err="open no-such-dir: no such file or directory"
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	//
}

// Output sends Print's output elsewhere than os.Stdout.
func ExampleOutput() {
	var buf strings.Builder
	j := newExampleJob(sluice.Output(&buf))
	nums := sluice.QueueStream(j.Context, sluice.NewQueue([]int{1, 2, 3}), 1)
	sluice.Print(nums, 2)
	j.run(1)
	j.stop()
	fmt.Print(strings.ReplaceAll(buf.String(), "-", "="))
	// Output:
	// ===========================================
	// Time: 1000 ms
	// ===========================================
	// 1
	// 2
	// ...
}

// OnBatch reports every batch: its time, its number of input records and
// its delays (measured on the context's clock), and its error.
func ExampleOnBatch() {
	clock := sluicetest.NewManualClock(sluicetest.Epoch)
	infos := make(chan sluice.BatchInfo, 1)
	sc, err := sluice.NewContext(sluice.WithClock(clock), sluice.OnBatch(func(b sluice.BatchInfo) { infos <- b }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sc.Stop()
	q := sluice.NewQueue([]string{"a", "b", "c"}, []string{"d"})
	sluice.ForeachBatch(sluice.QueueStream(sc, q, 0), func(context.Context, sluice.Dataset[string], time.Time) error {
		return nil
	})
	if err := sc.Start(); err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		clock.Advance(time.Second)
		b := <-infos
		fmt.Printf("batch %ds: %d records, err %v\n", b.Time.Unix(), b.Records, b.Err)
	}
	// Output:
	// batch 1s: 3 records, err <nil>
	// batch 2s: 1 records, err <nil>
	// batch 3s: 0 records, err <nil>
}

// BatchInfo is what OnBatch receives; a monitor can alert when batches
// take longer than the batch interval (the job is falling behind).
func ExampleBatchInfo() {
	interval := time.Second
	alert := func(b sluice.BatchInfo) {
		if b.Err != nil || b.TotalDelay > interval {
			fmt.Printf("batch %ds: delay %v, err %v\n", b.Time.Unix(), b.TotalDelay, b.Err)
		}
	}
	alert(sluice.BatchInfo{Time: time.Unix(5, 0), Records: 1000, ProcessingTime: 700 * time.Millisecond, TotalDelay: 700 * time.Millisecond})
	alert(sluice.BatchInfo{Time: time.Unix(6, 0), Records: 9000, SchedulingDelay: 300 * time.Millisecond,
		ProcessingTime: 1200 * time.Millisecond, TotalDelay: 1500 * time.Millisecond})
	// Output:
	// batch 6s: delay 1.5s, err <nil>
}

// OnError receives every input error that a source skipped: here a line
// that is not valid UTF-8 in a file that arrived in a watched directory.
func ExampleOnError() {
	dir, err := os.MkdirTemp("", "sluice-onerror")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	var mu sync.Mutex
	var skipped []string
	j := newExampleJob(
		sluice.Logger(slog.New(slog.DiscardHandler)),
		sluice.OnError(func(err error) {
			mu.Lock()
			defer mu.Unlock()
			skipped = append(skipped, strings.ReplaceAll(err.Error(), dir, "DIR"))
		}),
	)
	defer j.stop()
	printEachBatch(sluice.TextFiles(j.Context, dir))
	j.run(1) // start watching dir
	if err := moveIntoDir(dir, "clicks.log", "ad1\n\xff\xfe\nad2\n"); err != nil {
		fmt.Println(err)
		return
	}
	j.run(1)
	mu.Lock()
	fmt.Println(skipped)
	mu.Unlock()
	// Output:
	// 1s: []
	// 2s: [ad1 ad2]
	// [sluice: TextFiles(DIR): DIR/clicks.log: line 2 is not valid UTF-8]
}

// moveIntoDir writes a file next to dir and renames it into dir, whole, as
// TextFiles wants.
func moveIntoDir(dir, name, content string) error {
	tmp := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+"-"+name)
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// Parallelize makes a static dataset, for example a table to join every
// batch with (see Transform).
func ExampleParallelize() {
	sc, err := sluice.NewContext(sluice.Master("local[2]"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sc.Stop()
	campaigns := sluice.Parallelize(sc, []sluice.KV[string, string]{
		sluice.Pair("ad1", "spring-sale"), sluice.Pair("ad2", "spring-sale"), sluice.Pair("ad3", "new-shoes"),
	}, 0)
	n, err := campaigns.Count(context.Background())
	fmt.Println(campaigns.Partitions(), n, err)
	// Output: 2 3 <nil>
}

// Every batch of a stream is a Dataset: output operations and Transform
// receive it and can use the whole dataset API on it.
func ExampleDataset() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]int{5, 3, 8, 1}, []int{})
	sluice.ForeachBatch(sluice.QueueStream(j.Context, q, 2), func(ctx context.Context, d sluice.Dataset[int], t time.Time) error {
		n, err := d.Count(ctx)
		if err != nil {
			return err
		}
		first, err := d.Take(ctx, 2)
		if err != nil {
			return err
		}
		fmt.Printf("%ds: %d records in %d partitions, first %v\n", t.Unix(), n, d.Partitions(), first)
		return nil
	})
	j.run(2)
	// Output:
	// 1s: 4 records in 2 partitions, first [5 3]
	// 2s: 0 records in 2 partitions, first []
}

func ExampleKV() {
	hits := []sluice.KV[string, int]{{Key: "/home", Value: 3}, {Key: "/cart", Value: 1}}
	for _, kv := range hits {
		fmt.Println(kv.Key, kv.Value)
	}
	fmt.Println(hits[0])
	// Output:
	// /home 3
	// /cart 1
	// {/home 3}
}

func ExamplePair() {
	j := newExampleJob()
	defer j.stop()
	views := sluice.QueueStream(j.Context, sluice.NewQueue([]string{"/home", "/cart", "/home"}), 1)
	byPage := sluice.Map(views, func(page string) sluice.KV[string, int] { return sluice.Pair(page, 1) })
	printEachBatch(sluice.ReduceByKey(byPage, func(a, b int) int { return a + b }))
	j.run(1)
	// Output:
	// 1s: [{/cart 1} {/home 2}]
}

// Joined is the record of a join: the left and the right side.
func ExampleJoined() {
	j := newExampleJob()
	defer j.stop()
	names := sluice.QueueStream(j.Context, sluice.NewQueue([]sluice.KV[int, string]{{Key: 7, Value: "ada"}}), 1)
	orders := sluice.QueueStream(j.Context, sluice.NewQueue([]sluice.KV[int, float64]{{Key: 7, Value: 9.5}}), 1)
	joined := sluice.Join(names, orders)
	sluice.ForeachBatch(joined, func(ctx context.Context, d sluice.Dataset[sluice.KV[int, sluice.Joined[string, float64]]], _ time.Time) error {
		recs, err := d.Collect(ctx)
		for _, r := range recs {
			fmt.Printf("user %d (%s) ordered %.2f\n", r.Key, r.Value.Left, r.Value.Right)
		}
		return err
	})
	j.run(1)
	// Output:
	// user 7 (ada) ordered 9.50
}

// Optional is the side of an outer join that may be missing.
func ExampleOptional() {
	describe := func(o sluice.Optional[string]) string {
		if !o.Valid {
			return "none"
		}
		return o.Value
	}
	fmt.Println(describe(sluice.Optional[string]{}), describe(sluice.Optional[string]{Value: "x", Valid: true}))
	// Output: none x
}

// regionPartitioner puts the keys of each region in their own partition.
type regionPartitioner struct{}

func (regionPartitioner) Partitions() int { return 2 }

func (regionPartitioner) Partition(user string) int {
	if strings.HasPrefix(user, "eu-") {
		return 0
	}
	return 1
}

func (regionPartitioner) Name() string { return "region" }

// A Partitioner places keys in partitions: here by region, so that each
// region's results land in one partition (and one output file).
func ExamplePartitioner() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]sluice.KV[string, int]{{Key: "eu-ana", Value: 2}, {Key: "us-bob", Value: 5}, {Key: "eu-ana", Value: 1}, {Key: "eu-cy", Value: 4}})
	totals := sluice.ReduceByKey(sluice.QueueStream(j.Context, q, 2), func(a, b int) int { return a + b },
		sluice.WithPartitioner[string](regionPartitioner{}))
	var mu sync.Mutex
	parts := map[int]string{}
	sluice.ForeachPartition(totals, func(_ context.Context, _ time.Time, part int, recs []sluice.KV[string, int]) error {
		mu.Lock()
		defer mu.Unlock()
		parts[part] = sortedString(recs)
		return nil
	})
	j.run(1)
	fmt.Println(parts[0])
	fmt.Println(parts[1])
	// Output:
	// [{eu-ana 3} {eu-cy 4}]
	// [{us-bob 5}]
}

// WithPartitioner places the output of a keyed operation with a given
// partitioner, such as dataset.HashPartitioner with a chosen count.
func ExampleWithPartitioner() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]string{"a", "b", "c", "a"})
	counts := sluice.CountByValue(sluice.QueueStream(j.Context, q, 1),
		sluice.WithPartitioner(dataset.HashPartitioner[string](3)))
	sluice.ForeachBatch(counts, func(ctx context.Context, d sluice.Dataset[sluice.KV[string, int64]], _ time.Time) error {
		recs, err := d.Collect(ctx)
		fmt.Println(d.Partitions(), "partitions:", sortedString(recs))
		return err
	})
	j.run(1)
	// Output: 3 partitions: [{a 2} {b 1} {c 1}]
}

// OpOptions configure one operation; they can be combined.
func ExampleOpOption() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]string{"x", "y", "x"}, []string{"y"})
	pairs := sluice.Map(sluice.QueueStream(j.Context, q, 1), func(k string) sluice.KV[string, int] { return sluice.Pair(k, 1) })
	opts := []sluice.OpOption{sluice.Named("totals"), sluice.Partitions(4)}
	totals := sluice.UpdateStateByKey(pairs, func(_ string, vs []int, sum int, _ bool) (int, bool) {
		for _, v := range vs {
			sum += v
		}
		return sum, true
	}, opts...)
	printEachBatch(totals)
	j.run(2)
	// Output:
	// 1s: [{x 2} {y 1}]
	// 2s: [{x 2} {y 2}]
}

// Stateful operations need a stable name: checkpoints, metrics and the UI
// key their state by it.
func ExampleNamed() {
	j := newExampleJob()
	defer j.stop()
	pairs := sluice.QueueStream(j.Context, sluice.NewQueue[sluice.KV[string, int]](), 1)
	latest := func(_ string, vs []int, s int, _ bool) (int, bool) {
		if len(vs) > 0 {
			s = vs[len(vs)-1]
		}
		return s, true
	}
	sluice.UpdateStateByKey(pairs, latest, sluice.Named("latest-price"))
	fmt.Println(j.Err())

	sluice.UpdateStateByKey(pairs, latest) // no name
	_, msg, _ := strings.Cut(j.Err().Error(), "): ")
	fmt.Println(msg)
	// Output:
	// <nil>
	// stateful operations need a name: add sluice.Named("...")
}

// Partitions sets how many partitions a shuffle makes.
func ExamplePartitions() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]sluice.KV[string, int]{{Key: "a", Value: 1}, {Key: "b", Value: 2}})
	sums := sluice.ReduceByKey(sluice.QueueStream(j.Context, q, 1), func(a, b int) int { return a + b }, sluice.Partitions(5))
	sluice.ForeachBatch(sums, func(_ context.Context, d sluice.Dataset[sluice.KV[string, int]], _ time.Time) error {
		fmt.Println(d.Partitions())
		return nil
	})
	j.run(1)
	// Output: 5
}

// A Stream is built from an input and transformations, and run by its
// Context's output operations.
func ExampleStream() {
	j := newExampleJob()
	defer j.stop()
	temps := sluice.QueueStream(j.Context, sluice.NewQueue([]float64{21.5, 40.2, 22.0}, []float64{45.1}), 1)
	alerts := sluice.Map(sluice.Filter(temps, func(c float64) bool { return c > 40 }),
		func(c float64) string { return fmt.Sprintf("too hot: %.1f°C", c) })
	sluice.Print(alerts, 10)
	j.run(2)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// too hot: 40.2°C
	//
	// -------------------------------------------
	// Time: 2000 ms
	// -------------------------------------------
	// too hot: 45.1°C
	//
}

func ExampleStream_Context() {
	j := newExampleJob()
	defer j.stop()
	s := sluice.Map(sluice.QueueStream(j.Context, sluice.NewQueue[int](), 1), func(x int) int { return x + 1 })
	fmt.Println(s.Context() == j.Context)
	// Output: true
}

// An input has a dataset every batch interval; a windowed stream every
// slide.
func ExampleStream_Slide() {
	j := newExampleJob()
	defer j.stop()
	s := sluice.QueueStream(j.Context, sluice.NewQueue[int](), 1)
	w := sluice.Window(s, 10*time.Second, 5*time.Second)
	fmt.Println(s.Slide(), w.Slide())
	// Output: 1s 5s
}

// String names the operation that made the stream, its position in the
// graph and its record type.
func ExampleStream_String() {
	j := newExampleJob()
	defer j.stop()
	lines := sluice.QueueStream(j.Context, sluice.NewQueue[string](), 1)
	lengths := sluice.Map(lines, func(s string) int { return len(s) })
	fmt.Println(lines)
	fmt.Println(lengths)
	// Output:
	// QueueStream#1(string)
	// Map#2(int)
}

func ExampleMap() {
	j := newExampleJob()
	defer j.stop()
	cents := sluice.QueueStream(j.Context, sluice.NewQueue([]int{1999, 250}), 1)
	sluice.Print(sluice.Map(cents, func(c int) string { return fmt.Sprintf("$%d.%02d", c/100, c%100) }), 10)
	j.run(1)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// $19.99
	// $2.50
	//
}

func ExampleFlatMap() {
	j := newExampleJob()
	defer j.stop()
	lines := sluice.QueueStream(j.Context, sluice.NewQueue([]string{"the quick fox", "", "jumps"}), 1)
	sluice.Print(sluice.FlatMap(lines, strings.Fields), 10)
	j.run(1)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// the
	// quick
	// fox
	// jumps
	//
}

func ExampleFilter() {
	j := newExampleJob()
	defer j.stop()
	logs := sluice.QueueStream(j.Context, sluice.NewQueue([]string{"INFO start", "ERROR disk full", "INFO ok"}), 1)
	sluice.Print(sluice.Filter(logs, func(l string) bool { return strings.HasPrefix(l, "ERROR") }), 10)
	j.run(1)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// ERROR disk full
	//
}

// MapPartitions sees a whole partition at once, so a costly setup (a
// compiled pattern, a connection) is done once per partition, not per
// record.
func ExampleMapPartitions() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]string{"GET /a 200", "GET /b 404", "POST /c 500", "GET /d 200"})
	reqs := sluice.QueueStream(j.Context, q, 2)
	failed := sluice.MapPartitions(reqs, func(part []string) []string {
		status := regexp.MustCompile(` [45]\d\d$`)
		var out []string
		for _, r := range part {
			if status.MatchString(r) {
				out = append(out, r)
			}
		}
		return out
	})
	sluice.Print(failed, 10)
	j.run(1)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// GET /b 404
	// POST /c 500
	//
}

// Repartition spreads a batch over more partitions, so that more tasks
// share the work of the operations that follow.
func ExampleRepartition() {
	j := newExampleJob()
	defer j.stop()
	in := sluice.QueueStream(j.Context, sluice.NewQueue([]int{1, 2, 3, 4, 5, 6}), 1)
	spread := sluice.Repartition(in, 3)
	sluice.ForeachBatch(spread, func(ctx context.Context, d sluice.Dataset[int], _ time.Time) error {
		recs, err := d.Collect(ctx)
		fmt.Println(d.Partitions(), "partitions:", sortedString(recs))
		return err
	})
	j.run(1)
	// Output: 3 partitions: [1 2 3 4 5 6]
}

// Union merges the clicks of two sources into one stream.
func ExampleUnion() {
	j := newExampleJob()
	defer j.stop()
	web := sluice.QueueStream(j.Context, sluice.NewQueue([]string{"ad1", "ad2"}, []string{"ad1"}), 1)
	mobile := sluice.QueueStream(j.Context, sluice.NewQueue([]string{"ad2"}), 1)
	printEachBatch(sluice.CountByValue(sluice.Union(web, mobile)))
	j.run(2)
	// Output:
	// 1s: [{ad1 1} {ad2 2}]
	// 2s: [{ad1 1}]
}

// Transform joins every batch of ad views with a static table of
// campaigns, then counts the views of each campaign.
func ExampleTransform() {
	j := newExampleJob()
	defer j.stop()
	campaigns := sluice.Parallelize(j.Context, []sluice.KV[string, string]{
		{Key: "ad1", Value: "spring-sale"}, {Key: "ad2", Value: "spring-sale"}, {Key: "ad3", Value: "new-shoes"},
	}, 0)
	q := sluice.NewQueue([]string{"ad1", "ad3", "ad2", "ad9"}, []string{"ad3"})
	views := sluice.Map(sluice.QueueStream(j.Context, q, 2), func(ad string) sluice.KV[string, int] { return sluice.Pair(ad, 1) })
	perCampaign := sluice.Transform(views, func(batch sluice.Dataset[sluice.KV[string, int]], _ time.Time) sluice.Dataset[sluice.KV[string, int]] {
		joined := dataset.Join(batch, campaigns) // ad9 is in no campaign: dropped
		byCampaign := dataset.Map(joined, func(r sluice.KV[string, sluice.Joined[int, string]]) sluice.KV[string, int] {
			return sluice.Pair(r.Value.Right, r.Value.Left)
		})
		return dataset.ReduceByKey(byCampaign, func(a, b int) int { return a + b })
	})
	printEachBatch(perCampaign)
	j.run(2)
	// Output:
	// 1s: [{new-shoes 1} {spring-sale 2}]
	// 2s: [{new-shoes 1}]
}

// TransformWith combines the batches of two streams with any dataset
// function: here, payments minus those of accounts blocked in the same
// batch.
func ExampleTransformWith() {
	j := newExampleJob()
	defer j.stop()
	payments := sluice.QueueStream(j.Context, sluice.NewQueue([]sluice.KV[string, int]{
		{Key: "acct1", Value: 20}, {Key: "acct2", Value: 990}, {Key: "acct3", Value: 5},
	}), 1)
	blocked := sluice.QueueStream(j.Context, sluice.NewQueue([]string{"acct2"}), 1)
	allowed := sluice.TransformWith(payments, blocked,
		func(p sluice.Dataset[sluice.KV[string, int]], b sluice.Dataset[string], _ time.Time) sluice.Dataset[sluice.KV[string, int]] {
			marks := dataset.Map(b, func(acct string) sluice.KV[string, bool] { return sluice.Pair(acct, true) })
			withMarks := dataset.LeftOuterJoin(p, marks)
			kept := withMarks.Filter(func(r sluice.KV[string, sluice.Joined[int, sluice.Optional[bool]]]) bool {
				return !r.Value.Right.Valid
			})
			return dataset.MapValues(kept, func(j sluice.Joined[int, sluice.Optional[bool]]) int { return j.Left })
		})
	printEachBatch(allowed)
	j.run(1)
	// Output:
	// 1s: [{acct1 20} {acct3 5}]
}

// Count gives one record per batch, 0 for an empty batch.
func ExampleCount() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]string{"GET /", "GET /a", "GET /b"}, nil, []string{"GET /"})
	printEachBatch(sluice.Count(sluice.QueueStream(j.Context, q, 2)))
	j.run(3)
	// Output:
	// 1s: [3]
	// 2s: [0]
	// 3s: [1]
}

func ExampleCountByValue() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]int{200, 404, 200, 500, 200})
	printEachBatch(sluice.CountByValue(sluice.QueueStream(j.Context, q, 2)))
	j.run(1)
	// Output:
	// 1s: [{200 3} {404 1} {500 1}]
}

// Reduce gives the slowest request of each batch; an empty batch gives
// none.
func ExampleReduce() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]time.Duration{120 * time.Millisecond, 80 * time.Millisecond, 310 * time.Millisecond}, nil)
	slowest := sluice.Reduce(sluice.QueueStream(j.Context, q, 2), func(a, b time.Duration) time.Duration { return max(a, b) })
	printEachBatch(slowest)
	j.run(2)
	// Output:
	// 1s: [310ms]
	// 2s: []
}

// ReduceByKey sums the bytes each host sent in a batch.
func ExampleReduceByKey() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]sluice.KV[string, int]{{Key: "10.0.0.1", Value: 500}, {Key: "10.0.0.2", Value: 20}, {Key: "10.0.0.1", Value: 700}})
	printEachBatch(sluice.ReduceByKey(sluice.QueueStream(j.Context, q, 2), func(a, b int) int { return a + b }))
	j.run(1)
	// Output:
	// 1s: [{10.0.0.1 1200} {10.0.0.2 20}]
}

// GroupByKey gathers the pages each user viewed in a batch.
func ExampleGroupByKey() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]sluice.KV[string, string]{{Key: "ana", Value: "/home"}, {Key: "bob", Value: "/cart"}, {Key: "ana", Value: "/pay"}})
	sluice.ForeachBatch(sluice.GroupByKey(sluice.QueueStream(j.Context, q, 1)),
		func(ctx context.Context, d sluice.Dataset[sluice.KV[string, []string]], _ time.Time) error {
			recs, err := d.Collect(ctx)
			for _, r := range recs {
				slices.Sort(r.Value) // values come in no defined order
			}
			fmt.Println(sortedString(recs))
			return err
		})
	j.run(1)
	// Output: [{ana [/home /pay]} {bob [/cart]}]
}

// latency is a running mean. Its fields are exported so that it travels
// between processes (combiners cross the shuffle).
type latency struct {
	Sum time.Duration
	N   int
}

func (l latency) String() string { return (l.Sum / time.Duration(l.N)).String() }

// CombineByKey computes the mean latency of each endpoint in a batch.
func ExampleCombineByKey() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]sluice.KV[string, time.Duration]{
		{Key: "/search", Value: 300 * time.Millisecond}, {Key: "/home", Value: 20 * time.Millisecond},
		{Key: "/search", Value: 100 * time.Millisecond},
	})
	means := sluice.CombineByKey(sluice.QueueStream(j.Context, q, 2),
		func(d time.Duration) latency { return latency{d, 1} },
		func(l latency, d time.Duration) latency { return latency{l.Sum + d, l.N + 1} },
		func(a, b latency) latency { return latency{a.Sum + b.Sum, a.N + b.N} })
	printEachBatch(means)
	j.run(1)
	// Output:
	// 1s: [{/home 20ms} {/search 200ms}]
}

func ExampleMapValues() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]sluice.KV[string, float64]{{Key: "berlin", Value: 68}, {Key: "cairo", Value: 95}})
	celsius := sluice.MapValues(sluice.QueueStream(j.Context, q, 1), func(f float64) int { return int((f - 32) * 5 / 9) })
	printEachBatch(celsius)
	j.run(1)
	// Output:
	// 1s: [{berlin 20} {cairo 35}]
}

// FlatMapValues turns each post's tags into one record per tag.
func ExampleFlatMapValues() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]sluice.KV[int, string]{{Key: 1, Value: "go streaming"}, {Key: 2, Value: "go"}})
	tags := sluice.FlatMapValues(sluice.QueueStream(j.Context, q, 1), strings.Fields)
	printEachBatch(tags)
	j.run(1)
	// Output:
	// 1s: [{1 go} {1 streaming} {2 go}]
}

// CoGroup gathers, for each ad, its impressions and its clicks of the
// batch.
func ExampleCoGroup() {
	j := newExampleJob()
	defer j.stop()
	imps := sluice.QueueStream(j.Context, sluice.NewQueue([]sluice.KV[string, string]{
		{Key: "ad1", Value: "i1"}, {Key: "ad1", Value: "i2"}, {Key: "ad2", Value: "i3"},
	}), 1)
	clicks := sluice.QueueStream(j.Context, sluice.NewQueue([]sluice.KV[string, string]{{Key: "ad1", Value: "c1"}, {Key: "ad3", Value: "c2"}}), 1)
	grouped := sluice.CoGroup(imps, clicks)
	ctr := sluice.MapValues(grouped, func(g sluice.Joined[[]string, []string]) string {
		return fmt.Sprintf("%d/%d", len(g.Right), len(g.Left))
	})
	printEachBatch(ctr)
	j.run(1)
	// Output:
	// 1s: [{ad1 1/2} {ad2 0/1} {ad3 1/0}]
}

// orders and shipments are the streams of the join examples: order id to
// customer, and order id to carrier.
func ordersAndShipments(j *exampleJob) (*sluice.Stream[sluice.KV[int, string]], *sluice.Stream[sluice.KV[int, string]]) {
	orders := sluice.QueueStream(j.Context, sluice.NewQueue([]sluice.KV[int, string]{{Key: 1, Value: "ana"}, {Key: 2, Value: "bob"}}), 1)
	shipments := sluice.QueueStream(j.Context, sluice.NewQueue([]sluice.KV[int, string]{{Key: 1, Value: "ups"}, {Key: 3, Value: "dhl"}}), 1)
	return orders, shipments
}

// orNone formats an Optional.
func orNone(o sluice.Optional[string]) string {
	if !o.Valid {
		return "-"
	}
	return o.Value
}

// Join pairs each order with its shipment of the same batch.
func ExampleJoin() {
	j := newExampleJob()
	defer j.stop()
	orders, shipments := ordersAndShipments(j)
	printEachBatch(sluice.Join(orders, shipments))
	j.run(1)
	// Output:
	// 1s: [{1 {ana ups}}]
}

// LeftOuterJoin keeps the orders with no shipment yet.
func ExampleLeftOuterJoin() {
	j := newExampleJob()
	defer j.stop()
	orders, shipments := ordersAndShipments(j)
	joined := sluice.LeftOuterJoin(orders, shipments)
	printEachBatch(sluice.MapValues(joined, func(r sluice.Joined[string, sluice.Optional[string]]) string {
		return r.Left + " via " + orNone(r.Right)
	}))
	j.run(1)
	// Output:
	// 1s: [{1 ana via ups} {2 bob via -}]
}

// RightOuterJoin keeps the shipments whose order is not in the batch.
func ExampleRightOuterJoin() {
	j := newExampleJob()
	defer j.stop()
	orders, shipments := ordersAndShipments(j)
	joined := sluice.RightOuterJoin(orders, shipments)
	printEachBatch(sluice.MapValues(joined, func(r sluice.Joined[sluice.Optional[string], string]) string {
		return orNone(r.Left) + " via " + r.Right
	}))
	j.run(1)
	// Output:
	// 1s: [{1 ana via ups} {3 - via dhl}]
}

// FullOuterJoin keeps the orders and the shipments that lack the other
// side.
func ExampleFullOuterJoin() {
	j := newExampleJob()
	defer j.stop()
	orders, shipments := ordersAndShipments(j)
	joined := sluice.FullOuterJoin(orders, shipments)
	printEachBatch(sluice.MapValues(joined, func(r sluice.Joined[sluice.Optional[string], sluice.Optional[string]]) string {
		return orNone(r.Left) + " via " + orNone(r.Right)
	}))
	j.run(1)
	// Output:
	// 1s: [{1 ana via ups} {2 bob via -} {3 - via dhl}]
}

// printNonEmpty is a ForeachBatch function that prints the batches that
// have records, sorted.
func printNonEmpty[T any](ctx context.Context, d sluice.Dataset[T], t time.Time) error {
	recs, err := d.Collect(ctx)
	if err == nil && len(recs) > 0 {
		fmt.Printf("%ds: %s\n", t.Unix(), sortedString(recs))
	}
	return err
}

// Flags are the settings of the command line of a Sluice program, with
// defaults that the command line overrides.
func ExampleFlags() {
	f := sluice.Flags{Master: "local[2]", Batch: time.Second}
	fs := flag.NewFlagSet("wordcount", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse([]string{"-batch", "500ms", "-duration", "1m"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.Master, f.Batch, f.Duration)
	// Output: local[2] 500ms 1m0s
}

func ExampleFlags_Register() {
	var f sluice.Flags
	fs := flag.NewFlagSet("job", flag.ContinueOnError)
	f.Register(fs)
	fs.VisitAll(func(fl *flag.Flag) { fmt.Printf("-%s: %s\n", fl.Name, fl.Usage) })
	// Output:
	// -allow-dropped-state: resume even if the checkpoint holds state of operators the job no longer has (dropping it)
	// -batch: batch interval (e.g. 1s, 500ms)
	// -checkpoint: checkpoint to (and resume from) this directory or s3://bucket/prefix?endpoint=… (empty: no checkpoints)
	// -duration: stop after this long (0: until Ctrl-C or SIGTERM)
	// -http: old name of --ui
	// -listen: standalone master: accept workers on this address (default 127.0.0.1:7077)
	// -master: where to run: local, local[N], local[*], local-cluster[N] or standalone[N]
	// -max-rate: most records per second each input may read (0: no maximum)
	// -no-backpressure: turn backpressure off: inputs read all they have (up to --max-rate)
	// -parallelism: default number of partitions (0: one per worker)
	// -plaintext: no TLS between driver and workers (development, loopback only)
	// -secret-file: file holding the cluster secret in hex (default: $SLUICE_SECRET)
	// -ui: serve the web UI, Prometheus /metrics and JSON /status here (the default's port taken: the next free one of 16; empty: off)
}

// Options turns the flags that were set into context options; flags left
// at their zero value give none, so the context's defaults apply.
func ExampleFlags_Options() {
	f := sluice.Flags{Batch: 250 * time.Millisecond}
	sc, err := sluice.NewContext(f.Options()...)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sc.Stop()
	fmt.Println(len(f.Options()), sc.BatchInterval())
	// Output: 1 250ms
}

// Main is the whole main function of a streaming program: a word count of
// the lines sent to a socket, run with, say, `go run . -batch 2s`. This
// example is not run (it would serve forever).
func ExampleMain() {
	sluice.Main(func(c *sluice.Context) {
		lines := sluice.SocketText(c, "localhost:9999")
		words := sluice.FlatMap(lines, strings.Fields)
		pairs := sluice.Map(words, func(w string) sluice.KV[string, int] { return sluice.Pair(w, 1) })
		counts := sluice.ReduceByKeyAndWindow(pairs,
			func(a, b int) int { return a + b }, func(a, b int) int { return a - b },
			30*time.Second, 2*time.Second, sluice.Named("word-counts"))
		sluice.Print(counts, 10)
	}, sluice.Batch(time.Second))
}

// Run is Main for programs that parse their own command line or run
// several jobs: it returns the job's error instead of exiting. Here the
// job stops itself once it has seen its input.
func ExampleRun() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	build := func(c *sluice.Context) {
		q := sluice.NewQueue([]string{"hello", "world"})
		sluice.ForeachBatch(sluice.QueueStream(c, q, 1), func(ctx context.Context, d sluice.Dataset[string], _ time.Time) error {
			recs, err := d.Collect(ctx)
			if len(recs) > 0 {
				fmt.Println(recs)
				cancel() // done: Run stops the job and returns
			}
			return err
		})
	}
	err := sluice.Run(ctx, []string{"-master", "local[2]", "-batch", "10ms"}, build)
	fmt.Println(err)
	// Output:
	// [hello world]
	// <nil>
}

// RunUntilDone runs a context built by the caller until ctx is done, a
// signal arrives, the duration passes or the job fails.
func ExampleRunUntilDone() {
	sc, err := sluice.NewContext(sluice.Master("local[2]"), sluice.Batch(10*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errFull := errors.New("disk full")
	sluice.ForeachBatch(sluice.QueueStream(sc, sluice.NewQueue([]int{1}), 1),
		func(context.Context, sluice.Dataset[int], time.Time) error { return errFull })
	err = sluice.RunUntilDone(ctx, sc, time.Minute) // the first batch fails
	fmt.Println(errors.Is(err, errFull))
	// Output: true
}
