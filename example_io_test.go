package sluice_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// Print shows the first records of every batch, and "..." when there are
// more.
func ExamplePrint() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]string{"GET /", "GET /about", "POST /login"}, []string{"GET /"})
	sluice.Print(sluice.QueueStream(j.Context, q, 1), 2)
	j.run(2)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// GET /
	// GET /about
	// ...
	//
	// -------------------------------------------
	// Time: 2000 ms
	// -------------------------------------------
	// GET /
	//
}

// ForeachBatch stores each batch's totals, keyed by the batch time: a
// batch run again after a failure overwrites its own entry, so the store
// sees every batch exactly once.
func ExampleForeachBatch() {
	j := newExampleJob()
	defer j.stop()
	store := map[int64]int64{} // batch time (s) -> revenue
	q := sluice.NewQueue([]int64{120, 80}, []int64{500})
	revenue := sluice.Reduce(sluice.QueueStream(j.Context, q, 2), func(a, b int64) int64 { return a + b })
	sluice.ForeachBatch(revenue, func(ctx context.Context, d sluice.Dataset[int64], t time.Time) error {
		sums, err := d.Collect(ctx)
		if err != nil {
			return err
		}
		for _, s := range sums {
			store[t.Unix()] = s // ForeachBatch runs on the driver: no race
		}
		return nil
	})
	j.run(3)
	fmt.Println(store)
	// Output: map[1:200 2:500]
}

// ForeachPartition writes each partition from the worker that computed
// it, under a name made of the batch time and the partition number, so
// that a task run twice writes the same place.
func ExampleForeachPartition() {
	j := newExampleJob()
	defer j.stop()
	var mu sync.Mutex
	written := map[string][]string{}
	q := sluice.NewQueue([]string{"a", "b", "c", "d", "e"})
	sluice.ForeachPartition(sluice.QueueStream(j.Context, q, 2),
		func(_ context.Context, t time.Time, part int, recs []string) error {
			mu.Lock()
			defer mu.Unlock()
			written[fmt.Sprintf("batch-%d/part-%d", t.Unix(), part)] = recs
			return nil
		})
	j.run(1)
	for _, name := range slices.Sorted(maps.Keys(written)) {
		fmt.Println(name, written[name])
	}
	// Output:
	// batch-1/part-0 [a b]
	// batch-1/part-1 [c d e]
}

// SaveAsTextFiles writes every batch as a directory of part files.
func ExampleSaveAsTextFiles() {
	dir, err := os.MkdirTemp("", "sluice-save")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]string{"ERROR disk full", "INFO ok", "ERROR timeout", "ERROR disk full"}, nil)
	errs := sluice.Filter(sluice.QueueStream(j.Context, q, 2), func(l string) bool { return strings.HasPrefix(l, "ERROR") })
	sluice.SaveAsTextFiles(errs, filepath.Join(dir, "errors"), "log")
	j.run(2)
	err = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		fmt.Printf("%s %q\n", filepath.ToSlash(rel), b)
		return err
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// errors-1000.log/_SUCCESS ""
	// errors-1000.log/part-00000 "ERROR disk full\n"
	// errors-1000.log/part-00001 "ERROR timeout\nERROR disk full\n"
	// errors-2000.log/_SUCCESS ""
	// errors-2000.log/part-00000 ""
	// errors-2000.log/part-00001 ""
}

// A Queue feeds a QueueStream one batch per batch interval; batches can
// be pushed while the job runs.
func ExampleQueue() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]int{1, 2})
	sluice.Print(sluice.QueueStream(j.Context, q, 1), 10)
	j.run(1)
	q.Push(3)
	j.run(1)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// 1
	// 2
	//
	// -------------------------------------------
	// Time: 2000 ms
	// -------------------------------------------
	// 3
	//
}

func ExampleNewQueue() {
	q := sluice.NewQueue([]string{"a", "b"}, nil, []string{"c"}) // nil: an empty batch
	fmt.Println(q.Len())
	// Output: 3
}

// Push adds one batch per call, after the batches already queued.
func ExampleQueue_Push() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue[string]()
	q.Push("login", "view")
	q.Push() // an empty batch
	q.Push("logout")
	printEachBatch(sluice.QueueStream(j.Context, q, 1))
	j.run(4)
	// Output:
	// 1s: [login view]
	// 2s: []
	// 3s: [logout]
	// 4s: []
}

// Len tells how many batches are left: every batch takes one.
func ExampleQueue_Len() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]int{1}, []int{2}, []int{3})
	sluice.ForeachBatch(sluice.QueueStream(j.Context, q, 1), func(context.Context, sluice.Dataset[int], time.Time) error { return nil })
	fmt.Println(q.Len())
	j.run(2)
	fmt.Println(q.Len())
	// Output:
	// 3
	// 1
}

// QueueStream is the input of tests and examples: given batches, split
// into partitions.
func ExampleQueueStream() {
	j := newExampleJob()
	defer j.stop()
	q := sluice.NewQueue([]int{1, 2, 3, 4, 5})
	nums := sluice.QueueStream(j.Context, q, 2)
	sluice.ForeachBatch(nums, func(ctx context.Context, d sluice.Dataset[int], t time.Time) error {
		recs, err := d.Collect(ctx)
		fmt.Println(d.Partitions(), recs)
		return err
	})
	j.run(2)
	// Output:
	// 2 [1 2 3 4 5]
	// 2 []
}

// reading is a sensor reading.
type reading struct {
	Sensor int
	Temp   int
	At     time.Duration // since the epoch
}

// sensors generates readings: reading i is a pure function of i, made at
// i/rate seconds since the epoch.
type sensors struct{ rate int64 }

func (g sensors) Records(from, to int64, _, _ time.Time) []reading {
	var out []reading
	for i := from; i < to; i++ {
		out = append(out, reading{Sensor: int(i % 2), Temp: 20 + int(i*7%5), At: time.Duration(i) * time.Second / time.Duration(g.rate)})
	}
	return out
}

// A Generator makes a replayable input: the engine asks it for record
// ranges, again after a failure, and gets the same records.
func ExampleGenerator() {
	j := newExampleJob()
	defer j.stop()
	var g sluice.Generator[reading] = sensors{rate: 2}
	printEachBatch(sluice.Generate(j.Context, g, 2))
	j.run(2)
	// Output:
	// 1s: [{0 20 0s} {1 22 500ms}]
	// 2s: [{0 24 1s} {1 21 1.5s}]
}

// GeneratorFunc makes a Generator of a function: here the numbers of a
// counter.
func ExampleGeneratorFunc() {
	j := newExampleJob()
	defer j.stop()
	counter := sluice.GeneratorFunc[int64](func(from, to int64, _, _ time.Time) []int64 {
		var out []int64
		for i := from; i < to; i++ {
			out = append(out, i)
		}
		return out
	})
	printEachBatch(sluice.Generate(j.Context, counter, 3))
	j.run(2)
	// Output:
	// 1s: [0 1 2]
	// 2s: [3 4 5]
}

// Records calls the function: any range can be made again, anywhere.
func ExampleGeneratorFunc_Records() {
	squares := sluice.GeneratorFunc[int64](func(from, to int64, _, _ time.Time) []int64 {
		var out []int64
		for i := from; i < to; i++ {
			out = append(out, i*i)
		}
		return out
	})
	fmt.Println(squares.Records(3, 6, time.Time{}, time.Time{}))
	// Output: [9 16 25]
}

// Generate feeds the grep benchmark: 2,000 generated lines a second, of
// which about 0.1% contain GrepPattern.
func ExampleGenerate() {
	j := newExampleJob()
	defer j.stop()
	lines := sluice.Generate(j.Context, sluice.TextGenerator(1), 2000)
	matches := sluice.Filter(lines, func(l string) bool { return strings.Contains(l, sluice.GrepPattern) })
	printEachBatch(sluice.Count(matches))
	j.run(3)
	// Output:
	// 1s: [4]
	// 2s: [4]
	// 3s: [2]
}

// TextGenerator makes the benchmarks' 100-byte lines of words.
func ExampleTextGenerator() {
	g := sluice.TextGenerator(1)
	lines := g.Records(0, 2, time.Time{}, time.Time{})
	for _, l := range lines {
		fmt.Println(len(l), len(strings.Fields(l)) > 5)
	}
	fmt.Println(slices.Equal(lines, g.Records(0, 2, time.Time{}, time.Time{})))
	// Output:
	// 100 true
	// 100 true
	// true
}

// SocketText reads lines from a TCP server; here one in the example,
// which sends a few lines and waits for the receiver to hang up.
func ExampleSocketText() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		ln.Close() // one connection only: the receiver's reconnections are refused
		io.WriteString(conn, "to be or not\nto be\n")
		conn.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, conn) // returns once the receiver has read every line and hung up
	}()

	// Quiet logger: the refused reconnections are logged.
	j := newExampleJob(sluice.Logger(slog.New(slog.DiscardHandler)))
	defer j.stop()
	lines := sluice.SocketText(j.Context, ln.Addr().String())
	printEachBatch(sluice.CountByValue(sluice.FlatMap(lines, strings.Fields)))
	if err := j.start(); err != nil {
		return
	}
	<-served
	for j.ReceivedRecords() < 2 { // the lines are in a stored block
		time.Sleep(10 * time.Millisecond)
	}
	j.run(1)
	// Output:
	// 1s: [{be 2} {not 1} {or 1} {to 2}]
}

// TextFiles reads the files moved into a directory after Start, once
// each; files already there, and names starting with '.' or '_', are
// ignored.
func ExampleTextFiles() {
	dir, err := os.MkdirTemp("", "sluice-textfiles")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "old.log"), []byte("old\n"), 0o644); err != nil {
		fmt.Println(err)
		return
	}
	j := newExampleJob()
	defer j.stop()
	printEachBatch(sluice.TextFiles(j.Context, dir))
	if err := j.start(); err != nil {
		return
	}
	for _, name := range []string{"a.log", "_b.log"} {
		if err := moveIntoDir(dir, name, "hello "+name+"\nbye\n"); err != nil {
			fmt.Println(err)
			return
		}
	}
	j.run(1)
	if err := moveIntoDir(dir, "c.log", "third\n"); err != nil {
		fmt.Println(err)
		return
	}
	j.run(2)
	// Output:
	// 1s: [bye hello a.log]
	// 2s: [third]
	// 3s: []
}

// A Clock is what batches are timed by: the wall clock by default, a
// manual clock in tests.
func ExampleClock() {
	var clock sluice.Clock = sluicetest.NewManualClock(sluicetest.Epoch)
	fmt.Println(clock.Now().Sub(sluicetest.Epoch))
	fmt.Println(clock.WaitUntil(context.Background(), sluicetest.Epoch)) // already there

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := clock.WaitUntil(ctx, sluicetest.Epoch.Add(time.Second)) // not yet, and ctx is done
	fmt.Println(errors.Is(err, context.Canceled))
	// Output:
	// 0s
	// <nil>
	// true
}

// offsets is a plan of counterLog: the records [From, To).
type offsets struct{ From, To int64 }

// counterLog is a replayable source: a log in which record i is "event i"
// and records arrive at 3 per second; every fifth record is corrupt.
type counterLog struct{}

func (counterLog) Plan(_ context.Context, req sluice.PlanRequest[offsets]) (offsets, error) {
	var from int64
	if req.HasPrev {
		from = req.Prev.To // go on from where the previous batch ended
	}
	to := int64(req.Batch.Sub(sluicetest.Epoch)/time.Second) * 3
	return offsets{from, max(from, to)}, nil
}

func (counterLog) Parts(p offsets) int { return min(int(p.To-p.From), 2) }

func (counterLog) Read(_ context.Context, p offsets, part int) ([]string, []sluice.BadRecord, error) {
	var recs []string
	var bad []sluice.BadRecord
	for i := p.From + int64(part); i < p.To; i += 2 { // two partitions
		if i%5 == 4 {
			bad = append(bad, sluice.BadRecord{Position: fmt.Sprintf("log@%d", i), Value: []byte{0xff}, Error: "corrupt"})
			continue
		}
		recs = append(recs, fmt.Sprintf("event %d", i))
	}
	return recs, bad, nil
}

// printBad is a dead-letter sink that prints what it is given.
type printBad struct{}

func (printBad) Write(_ context.Context, _ sluice.OutputKey, recs []sluice.BadRecord) error {
	for _, r := range recs {
		fmt.Printf("dead letter from %s at %s: %s\n", r.Input, r.Position, r.Error)
	}
	return nil
}

// FromSource reads a replayable source: the driver plans each batch's
// offsets (kept in the metadata checkpoint), tasks read them. Records that
// do not decode go to the dead-letter sink with their position.
func ExampleFromSource() {
	j := newExampleJob()
	defer j.stop()
	events := sluice.FromSource(j.Context, counterLog{}, sluice.Named("events"), sluice.DeadLetter(printBad{}))
	printEachBatch(sluice.Count(events))
	j.run(2)
	// Output:
	// 1s: [3]
	// dead letter from events at log@4: corrupt
	// 2s: [2]
}
