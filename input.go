package sluice

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/lineage"
)

// Source is a replayable input (DESIGN.md section 4), the minimal
// interface a connector implements (as database/sql/driver.Conn is):
// Kafka topics, NATS JetStream streams, files in a directory. The driver
// fixes each batch's input as a plan (offset ranges, sequence ranges, file
// names) and records it in the metadata checkpoint; tasks read exactly
// what the plan names, so a partition lost with a worker, a batch rerun
// after a driver restart, and a speculative copy all read the same
// records. Optional interfaces add capabilities, found by type assertion:
//   - SourceCounter: the number of records a plan holds, for backpressure
//     and the input-rate metrics (fallback: counted as unknown, and
//     backpressure cannot hold the source back).
//   - SourceCommitter: told on the driver once a batch's outputs are
//     committed, e.g. to commit consumer-group offsets for monitoring
//     (fallback: nothing is told).
//   - io.Closer: closed when the context stops (fallback: nothing).
//
// A source is made by the job's build function, so every worker makes its
// own (same binary, same arguments): it must connect lazily and be safe
// for concurrent use. P, the plan, crosses processes: it must be plain
// data the engine's codec encodes (exported fields of basic types,
// slices, maps and structs), and small, since every batch's plan is in
// the metadata checkpoint.
type Source[P, T any] interface {
	// Plan fixes batch req.Batch's input, on the driver, batch after
	// batch in time order. It should not block for long: it runs on the
	// batch generator's goroutine. An error fails the batch, which stops
	// the job (AwaitTermination returns it).
	Plan(ctx context.Context, req PlanRequest[P]) (P, error)
	// Parts returns the number of partitions (tasks) reading plan: from
	// 0 (an empty batch) up.
	Parts(plan P) int
	// Read reads partition part of plan, in a task on a worker, and
	// returns its records in the order the source holds them. Records
	// that cannot be decoded or fail validation go in bad (with their
	// position in the source), never in records and never silently
	// dropped: the input's policy fails the batch or sends them to its
	// dead-letter sink (see DeadLetter). An error (the source cannot be
	// read) fails the task, which is retried.
	Read(ctx context.Context, plan P, part int) (records []T, bad []BadRecord, err error)
}

// PlanRequest is what Source.Plan is asked to plan.
type PlanRequest[P any] struct {
	// Batch is the batch time.
	Batch time.Time
	// Prev is the previous batch's plan, if HasPrev: the batch goes on
	// from where it ended. HasPrev is false for the first batch of a new
	// job (the source's configured start position).
	Prev    P
	HasPrev bool
	// Limit is the most records the batch may read (-1: no limit), set
	// by backpressure and MaxRate. A source that cannot count what it
	// plans ignores it (see SourceCounter).
	Limit int64
}

// SourceCounter is a Source that knows how many records a plan holds.
type SourceCounter[P any] interface {
	Count(plan P) int64
}

// SourceCommitter is a Source that is told, on the driver and in batch
// order, when a batch completed: its outputs committed. It is for
// monitoring (a consumer group's committed offsets show its lag):
// exactly-once never depends on it, since the metadata checkpoint is where
// a restarted job goes on from. An error is reported (OnError) and the job
// goes on. After a driver restart a batch may be committed again.
type SourceCommitter[P any] interface {
	Commit(ctx context.Context, batch time.Time, plan P) error
}

// BadRecord is a record a source could not decode or that failed
// validation, as its dead-letter sink receives it.
type BadRecord struct {
	// Input is the input's name (see FromSource); Batch the batch that
	// read it. The engine sets both.
	Input string    `json:"input"`
	Batch time.Time `json:"batch"`
	// Position is where the record is in the source, in the source's
	// terms: "topic/partition@offset", "stream@sequence", "file:line".
	Position string `json:"position"`
	// Value is the record as the source held it.
	Value []byte `json:"value"`
	// Error says what is wrong with it.
	Error string `json:"error"`
}

// DeadLetter makes FromSource send the records its source could not
// decode to sink, as an output named "<input>.dead-letter" (with the same
// exactly-once keys as WriteTo), and count them in the driver's metrics
// (sluice_input_bad_records_total) and Status. Without it a bad record
// fails its batch, with the record's position in the error, which stops
// the job.
func DeadLetter(sink Sink[BadRecord]) OpOption { return func(o *opConfig) { o.deadLetter = sink } }

// sourcePart is one partition of an input with a dead-letter sink: its
// records and its bad records, read once (the input is persisted) and
// split into the input's stream and its dead-letter output.
type sourcePart[T any] struct {
	Records []T
	Bad     []BadRecord
}

// FromSource makes a stream of what src reads, batch after batch. The
// input needs a name (Named), unique among the context's inputs and stable
// across versions of the job: it labels its metrics and keys its
// dead-letter output. Options: Named (required), DeadLetter.
//
// A batch's plan is in the metadata checkpoint (see Checkpoint): a
// restarted driver reruns the batches it had planned with the same plans
// and goes on from the end of the last one (PlanRequest.Prev).
func FromSource[P, T any](c *Context, src Source[P, T], o ...OpOption) *Stream[T] {
	const op = "FromSource"
	cfg := opts(o)
	c.check(op, src == nil, "nil source")
	if c.check(op, cfg.name == "", "inputs read from a source need a name: add sluice.Named(\"...\")") {
		return newStream[T](c, &node{kind: op})
	}
	c.mu.Lock()
	if c.inputNames == nil {
		c.inputNames = make(map[string]bool)
	}
	dup := c.inputNames[cfg.name]
	c.inputNames[cfg.name] = true
	c.mu.Unlock()
	c.check(op, dup, "input name %q is already used", cfg.name)
	in := &sourceInput[P, T]{c: c, src: src, name: cfg.name, restored: make(map[int64]P), done: make(map[int64]P)}
	if cl, ok := src.(io.Closer); ok {
		c.mu.Lock()
		c.onStop = append(c.onStop, func() {
			if err := cl.Close(); err != nil {
				c.reportInput(in.name, err)
			}
		})
		c.mu.Unlock()
	}
	if cfg.deadLetter == nil {
		s := newInput(c, op, in.plan, func(t time.Time, sc *lineage.Scope, p P) Dataset[T] {
			return dataset.Wrap[T](in.build(t, sc, p, func(tc lineage.TaskContext, part int) (any, error) {
				recs, bad, err := in.read(tc, t, p, part)
				if err == nil && len(bad) > 0 {
					err = fmt.Errorf("sluice: input %s: batch %v: %d bad records, the first at %s: %s (add sluice.DeadLetter to send them to a sink instead)",
						in.name, t.UTC().Format(time.RFC3339Nano), len(bad), bad[0].Position, bad[0].Error)
				}
				return recs, err
			}, dataset.RecordType[T]()), c.env)
		}, nil)
		in.attach(s.n)
		return s
	}
	// With a dead-letter sink, each partition is read once into a
	// sourcePart, kept (persisted) for the two outputs of the batch that
	// read it: the stream of its records and the dead-letter output.
	raw := newInput(c, op, in.plan, func(t time.Time, sc *lineage.Scope, p P) Dataset[sourcePart[T]] {
		return dataset.Wrap[sourcePart[T]](in.build(t, sc, p, func(tc lineage.TaskContext, part int) (any, error) {
			recs, bad, err := in.read(tc, t, p, part)
			if err != nil {
				return nil, err
			}
			for i := range bad {
				bad[i].Input, bad[i].Batch = in.name, t
			}
			return []sourcePart[T]{{Records: recs, Bad: bad}}, nil
		}, dataset.RecordType[sourcePart[T]]()), c.env)
	}, nil)
	in.attach(raw.n)
	raw.n.persist = true
	bad := MapPartitions(raw, func(ps []sourcePart[T]) []BadRecord {
		if len(ps) == 0 {
			return nil
		}
		return ps[0].Bad
	})
	dl := writeTo(bad, "DeadLetter", cfg.deadLetter, in.name+".dead-letter")
	if dl != nil {
		dl.counted = func(_ time.Time, n int64) { c.countBad(in.name, n) }
	}
	return MapPartitions(raw, func(ps []sourcePart[T]) []T {
		if len(ps) == 0 {
			return nil
		}
		return ps[0].Records
	})
}

// sourceInput is the engine's side of a Source: the plans it made and
// restored, on the driver.
type sourceInput[P, T any] struct {
	c    *Context
	src  Source[P, T]
	name string
	self *node

	mu sync.Mutex
	// last is the latest batch's plan (if has): the next batch goes on
	// from it.
	last  P
	lastT int64
	has   bool
	// restored are the plans a metadata checkpoint recorded, by batch
	// time: a resumed driver plans those batches the same way again.
	restored map[int64]P
	// done are the plans of batches not yet completed, for
	// SourceCommitter.
	done map[int64]P
}

// attach ties the input to its node: rate control, the cursor and the
// restored plans (metadata checkpoint), and the commit after each batch.
func (in *sourceInput[P, T]) attach(n *node) {
	in.self = n
	n.name = in.name
	if _, ok := in.src.(SourceCounter[P]); ok {
		n.rate = in.c.newInputRate()
	}
	wire := codec.For[P]()
	restore := n.restorePlan
	n.restorePlan = func(t int64, b []byte) error {
		if err := restore(t, b); err != nil {
			return err
		}
		ps, err := wire.Decode(b)
		if err != nil || len(ps) != 1 {
			return fmt.Errorf("%d plans, %v", len(ps), err)
		}
		in.mu.Lock()
		defer in.mu.Unlock()
		in.restored[t] = ps[0]
		in.setLast(t, ps[0])
		return nil
	}
	// The cursor is the latest plan: with no batch pending at a
	// restart, the next one goes on from it.
	n.cursor = func() []byte {
		in.mu.Lock()
		defer in.mu.Unlock()
		if !in.has {
			return nil
		}
		return codec.For[cursorOf[P]]().Append(nil, []cursorOf[P]{{Time: in.lastT, Plan: in.last}})
	}
	n.restoreCursor = func(b []byte) error {
		cs, err := codec.For[cursorOf[P]]().Decode(b)
		if err != nil || len(cs) != 1 {
			return fmt.Errorf("%d cursors, %v", len(cs), err)
		}
		in.mu.Lock()
		defer in.mu.Unlock()
		in.setLast(cs[0].Time, cs[0].Plan)
		return nil
	}
	if cm, ok := in.src.(SourceCommitter[P]); ok {
		in.c.mu.Lock()
		in.c.afterBatch = append(in.c.afterBatch, func(b BatchInfo) { in.commit(cm, b) })
		in.c.mu.Unlock()
	}
}

// cursorOf is where a source resumes: the latest plan and its batch.
type cursorOf[P any] struct {
	Time int64
	Plan P
}

// setLast makes p, batch t's plan, the one the next batch goes on from,
// unless a later one is (in.mu held).
func (in *sourceInput[P, T]) setLast(t int64, p P) {
	if !in.has || t >= in.lastT {
		in.last, in.lastT, in.has = p, t, true
	}
}

// plan fixes batch t's input, on the driver.
func (in *sourceInput[P, T]) plan(t time.Time) (P, int64, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for rt := range in.restored {
		if rt < t.UnixNano() {
			delete(in.restored, rt)
		}
	}
	p, ok := in.restored[t.UnixNano()]
	if ok { // planned before a restart: the same again
		delete(in.restored, t.UnixNano())
	} else {
		req := PlanRequest[P]{Batch: t, Prev: in.last, HasPrev: in.has, Limit: in.self.rate.limit()}
		var err error
		if p, err = in.src.Plan(context.Background(), req); err != nil {
			return p, 0, fmt.Errorf("sluice: input %s: planning batch %v: %w", in.name, t.UTC().Format(time.RFC3339Nano), err)
		}
	}
	in.setLast(t.UnixNano(), p)
	if _, ok := in.src.(SourceCommitter[P]); ok {
		in.done[t.UnixNano()] = p
	}
	count := int64(-1)
	if sc, ok := in.src.(SourceCounter[P]); ok {
		count = sc.Count(p)
	}
	return p, count, nil
}

// build makes batch t's dataset: one partition per Parts of the plan.
func (in *sourceInput[P, T]) build(t time.Time, sc *lineage.Scope, p P, read func(tc lineage.TaskContext, part int) (any, error), typ lineage.Type) *lineage.Dataset {
	parts := in.src.Parts(p)
	if parts <= 0 {
		return sc.New("FromSource("+in.name+")", typ, 1, func(lineage.TaskContext, int) (any, error) { return typ.Empty(), nil })
	}
	return sc.New("FromSource("+in.name+")", typ, parts, read)
}

// read reads one partition, wrapping the source's error with where.
func (in *sourceInput[P, T]) read(tc lineage.TaskContext, t time.Time, p P, part int) ([]T, []BadRecord, error) {
	recs, bad, err := in.src.Read(tc.Context(), p, part)
	if err != nil {
		return nil, nil, fmt.Errorf("sluice: input %s: batch %v partition %d: %w", in.name, t.UTC().Format(time.RFC3339Nano), part, err)
	}
	return recs, bad, nil
}

// commit tells the source that batch b completed (and forgets the plans
// of batches up to it).
func (in *sourceInput[P, T]) commit(cm SourceCommitter[P], b BatchInfo) {
	in.mu.Lock()
	p, ok := in.done[b.Time.UnixNano()]
	for t := range in.done {
		if t <= b.Time.UnixNano() {
			delete(in.done, t)
		}
	}
	in.mu.Unlock()
	if !ok || b.Err != nil {
		return
	}
	if err := cm.Commit(context.Background(), b.Time, p); err != nil {
		in.c.reportInput(in.name, fmt.Errorf("committing batch %v: %w", b.Time.UTC().Format(time.RFC3339Nano), err))
	}
}
