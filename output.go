package sluice

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/runtime"
)

// addOutput registers an output operation on s.
func addOutput[T any](s *Stream[T], kind string, run func(ctx context.Context, d Dataset[T], t time.Time) error) {
	c := mustStream(kind, s)
	n := &node{kind: kind, parents: []*node{s.n}, slide: s.n.slide}
	n.output = func(ctx context.Context, d *lineage.Dataset, t time.Time) error {
		return run(ctx, view[T](s.n, d, n.scope(t)), t)
	}
	n.compute = func(time.Time) (*lineage.Dataset, error) {
		return nil, fmt.Errorf("sluice: %s is an output operation", kind)
	}
	newStream[T](c, n)
}

// Print prints the first n records of every batch, under a header with
// the batch time, to the context's Output (os.Stdout by default).
func Print[T any](s *Stream[T], n int) {
	c := mustStream("Print", s)
	c.check("Print", n < 0, "negative count %d", n)
	addOutput(s, "Print", func(ctx context.Context, d Dataset[T], t time.Time) error {
		recs, err := d.Take(ctx, n+1)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(c.cfg.out)
		fmt.Fprintf(w, "-------------------------------------------\nTime: %d ms\n-------------------------------------------\n", t.UnixMilli())
		for i, r := range recs {
			if i == n {
				fmt.Fprintln(w, "...")
				break
			}
			fmt.Fprintln(w, r)
		}
		fmt.Fprintln(w)
		return w.Flush()
	})
}

// ForeachBatch calls f on the driver with every batch's dataset and time.
// f may run actions on the dataset (Collect, Count, ForeachPartition).
// A batch that is run again after a failure calls f again with the same
// time: use it to make f's effects idempotent.
func ForeachBatch[T any](s *Stream[T], f func(ctx context.Context, d Dataset[T], t time.Time) error) {
	mustStream("ForeachBatch", s).check("ForeachBatch", f == nil, "nil function")
	addOutput(s, "ForeachBatch", f)
}

// addPartitionOutput registers an output operation that runs f on the
// workers for every partition (of parts) of every batch (the worker finds
// f in its own copy of the graph by the node's position), then after, if
// set, on the driver with the batch's number of partitions.
func addPartitionOutput[T any](s *Stream[T], kind string, f func(ctx context.Context, t time.Time, part, parts int, records []T) error,
	after func(ctx context.Context, t time.Time, parts int) error) *node {
	c := mustStream(kind, s)
	n := &node{kind: kind, parents: []*node{s.n}, slide: s.n.slide}
	n.partition = func(ctx context.Context, t int64, p, parts int, part any) error {
		recs, _ := part.([]T)
		return f(ctx, time.Unix(0, t), p, parts, recs)
	}
	n.output = func(ctx context.Context, d *lineage.Dataset, t time.Time) error {
		res, err := c.env.RunJob(ctx, d, runtime.Action{Kind: runtime.ActOutput, Node: n.id})
		if err != nil {
			return err
		}
		if n.counted != nil {
			var sum int64
			for _, r := range res {
				k, _ := r.(int64)
				sum += k
			}
			n.counted(t, sum)
		}
		if after != nil {
			return after(ctx, t, d.NumParts)
		}
		return nil
	}
	n.compute = func(time.Time) (*lineage.Dataset, error) {
		return nil, fmt.Errorf("sluice: %s is an output operation", kind)
	}
	newStream[T](c, n)
	return n
}

// ForeachPartition calls f on the workers for every partition of every
// batch, with the batch time and the partition number, which together
// name the output so that f can write idempotently.
func ForeachPartition[T any](s *Stream[T], f func(ctx context.Context, t time.Time, part int, records []T) error) {
	mustStream("ForeachPartition", s).check("ForeachPartition", f == nil, "nil function")
	addPartitionOutput(s, "ForeachPartition", func(ctx context.Context, t time.Time, p, _ int, recs []T) error {
		return f(ctx, t, p, recs)
	}, nil)
}

// SaveAsTextFiles writes every batch as a directory named
// prefix-<batch time in ms>[.suffix] holding one file per partition
// (part-00000, …), one record per line (formatted with fmt's %v), and an
// empty _SUCCESS file once every partition is written. Each file is
// written under a temporary name and renamed, so a reader never sees a
// partial file and a batch run again overwrites its files whole.
func SaveAsTextFiles[T any](s *Stream[T], prefix, suffix string) {
	c := mustStream("SaveAsTextFiles", s)
	c.check("SaveAsTextFiles", prefix == "", "empty prefix")
	dirOf := func(t time.Time) string {
		dir := fmt.Sprintf("%s-%d", prefix, t.UnixMilli())
		if suffix != "" {
			dir += "." + suffix
		}
		return dir
	}
	// Workers write the parts and the driver marks the batch complete: in
	// a cluster, prefix must name a file system all of them share.
	addPartitionOutput(s, "SaveAsTextFiles", func(_ context.Context, t time.Time, p, _ int, recs []T) error {
		dir := dirOf(t)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return writeLines(filepath.Join(dir, fmt.Sprintf("part-%05d", p)), recs)
	}, func(_ context.Context, t time.Time, _ int) error {
		dir := dirOf(t)
		if err := os.MkdirAll(dir, 0o755); err != nil { // a batch with no partitions
			return err
		}
		return writeLines[string](filepath.Join(dir, "_SUCCESS"), nil)
	})
}

// writeLines writes records to path atomically: a temporary file in the
// same directory, synced, then renamed.
func writeLines[T any](path string, recs []T) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 64<<10)
	for _, r := range recs {
		if _, err = fmt.Fprintln(w, r); err != nil {
			return err
		}
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
