package sluice

import (
	"context"
	"fmt"
	"time"
)

// OutputKey names one partition of one batch of an output exactly. A batch
// run again after a failure (a lost worker, a restarted driver, a
// speculative copy) writes the same records under the same key, so a sink
// that replaces what a key wrote before, or skips a key it already
// committed, writes every record exactly once.
type OutputKey struct {
	// Output is the output's name (see WriteTo): stable across restarts
	// and upgrades of the job.
	Output string
	// Batch is the batch time.
	Batch time.Time
	// Partition is the partition's index, of Partitions.
	Partition  int
	Partitions int
}

// String formats the key as output/batch-ms/partition.
func (k OutputKey) String() string {
	return fmt.Sprintf("%s/%d/%d", k.Output, k.Batch.UnixMilli(), k.Partition)
}

// Sink writes a stream's batches. It is the minimal interface a connector
// implements (as database/sql/driver.Conn is); optional interfaces add
// capabilities, found by type assertion:
//   - BatchCommitter: finish a batch on the driver once every partition is
//     written.
//
// A sink is built by the job's build function, so every worker builds its
// own (same binary, same arguments): it must open its connections lazily
// and be safe for concurrent use, since a worker runs several partitions
// at once.
type Sink[T any] interface {
	// Write writes one partition of one batch, on a worker. It must be
	// idempotent per key: a write repeated with the same key (and the
	// same records) must leave the output as one write would. Two
	// attempts of the same key may run at once (speculation).
	Write(ctx context.Context, key OutputKey, records []T) error
}

// BatchCommitter is a Sink that finishes each batch on the driver after
// every partition of it was written, e.g. by writing a marker that readers
// wait for. CommitBatch too may be called again for the same batch.
type BatchCommitter interface {
	CommitBatch(ctx context.Context, output string, t time.Time, partitions int) error
}

// WriteTo writes every batch of s to sink, partition by partition on the
// workers. The output needs a name (Named), unique among the context's
// outputs and stable across versions of the job: it keys what the sink
// wrote, so that a batch run again after a failure or a restart replaces
// its own output instead of adding to it.
func WriteTo[T any](s *Stream[T], sink Sink[T], o ...OpOption) {
	const op = "WriteTo"
	c := mustStream(op, s)
	if c.check(op, sink == nil, "nil sink") {
		return
	}
	cfg := opts(o)
	if c.check(op, cfg.name == "", "outputs written to a sink need a name: add sluice.Named(\"...\")") {
		return
	}
	writeTo(s, op, sink, cfg.name)
}

// writeTo adds an output named name that writes s to sink (nil if the
// name is taken, which fails the context).
func writeTo[T any](s *Stream[T], op string, sink Sink[T], name string) *node {
	c := s.n.c
	c.mu.Lock()
	if c.outputNames == nil {
		c.outputNames = make(map[string]bool)
	}
	dup := c.outputNames[name]
	c.outputNames[name] = true
	c.mu.Unlock()
	if c.check(op, dup, "output name %q is already used", name) {
		return nil
	}
	var after func(ctx context.Context, t time.Time, parts int) error
	if bc, ok := sink.(BatchCommitter); ok {
		after = func(ctx context.Context, t time.Time, parts int) error { return bc.CommitBatch(ctx, name, t, parts) }
	}
	n := addPartitionOutput(s, op, func(ctx context.Context, t time.Time, p, parts int, recs []T) error {
		return sink.Write(ctx, OutputKey{Output: name, Batch: t, Partition: p, Partitions: parts}, recs)
	}, after)
	n.name = name
	return n
}
