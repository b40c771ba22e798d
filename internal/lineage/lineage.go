package lineage

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// ID identifies a dataset deterministically: the stream node that created
// it, the batch time (Unix nanoseconds; 0 for static datasets) and its
// sequence number within that (node, time) scope.
type ID struct {
	Node int32
	Time int64
	Seq  int32
}

func (id ID) String() string { return fmt.Sprintf("n%d@%d#%d", id.Node, id.Time, id.Seq) }

// Type describes the record type of a dataset's partitions, so that the
// engine can handle partitions without knowing the record type.
type Type interface {
	// Name is the Go type name, used in fingerprints and messages.
	Name() string
	// Len returns the number of records in a partition.
	Len(part any) int
	// Empty returns an empty partition.
	Empty() any
	// Head returns the first n records of a partition (all if fewer).
	Head(part any, n int) any
	// Encode appends partition part to dst in the record codec's format,
	// for a partition that leaves the process (a shuffle bucket fetched
	// by another worker, a spilled or replicated block, a result sent to
	// the driver).
	Encode(dst []byte, part any) []byte
	// Decode reads a partition Encode wrote. It reads untrusted bytes:
	// it never panics and is bounded by the codec's limits.
	Decode(b []byte) (any, error)
}

// ComputeFunc computes partition p of a dataset, reading its parents
// through tc. It returns a []T of the dataset's record type.
type ComputeFunc func(tc TaskContext, p int) (any, error)

// TaskContext is what a running task offers to compute functions. The
// runtime implements it once for every mode; only the transport under it
// differs between local and cluster mode.
type TaskContext interface {
	// Context is cancelled when the task attempt is cancelled.
	Context() context.Context
	// Partition returns partition p of d: from the block store when d is
	// persisted and the partition cached, otherwise computed (and cached
	// when d is persisted).
	Partition(d *Dataset, p int) (any, error)
	// Fetch returns reduce partition r of a shuffle: one bucket per map
	// partition, in map-partition order.
	Fetch(dep *ShuffleDep, r int) ([]any, error)
	// BatchTime is the batch time of the job the task belongs to.
	BatchTime() int64
}

// Recorder is implemented by task contexts that carry figures about what
// a task computed back to the driver (a state's key count, say). Compute
// functions find it by type assertion; a context without it drops them.
type Recorder interface {
	Record(f Figure)
}

// Figure is one number a compute function reports about a partition it
// computed: Key names it (e.g. "state/clicks/keys"), Time is the
// dataset's time.
type Figure struct {
	Key  string
	Time int64
	// Part is the partition, of Parts.
	Part, Parts int
	Value       int64
}

// Record reports f through tc if tc is a Recorder.
func Record(tc TaskContext, f Figure) {
	if r, ok := tc.(Recorder); ok {
		r.Record(f)
	}
}

// Dep is a dependency of a dataset on a parent.
type Dep interface{ Parent() *Dataset }

// OneToOne says child partition p reads parent partition p.
type OneToOne struct{ P *Dataset }

// Range says child partitions [Offset, Offset+P.NumParts) read parent
// partitions [0, P.NumParts) (a union).
type Range struct {
	P      *Dataset
	Offset int
}

// Broadcast says every child partition reads every partition of P: a
// small dataset that all tasks need (an event-time watermark), whatever
// the child's number of partitions. It is narrow — read in the child's
// task, without a shuffle — but gives no locality preference, since no
// child partition is closer to P than another.
type Broadcast struct{ P *Dataset }

// ShuffleID identifies a shuffle: the child dataset and the index of the
// dependency among its dependencies.
type ShuffleID struct {
	Child ID
	Index int
}

func (s ShuffleID) String() string { return fmt.Sprintf("shuffle(%v/%d)", s.Child, s.Index) }

// ShuffleDep says every child partition reads one bucket from every parent
// partition.
type ShuffleDep struct {
	P  *Dataset
	ID ShuffleID
	// Parts is the number of reduce partitions (the child's partitions).
	Parts int
	// Split buckets one map partition into Parts buckets, combining
	// map-side when the operation allows. Bucket r goes to reduce partition r.
	Split func(part any, n int) []any
	// Write, when set, computes map partition p of P and buckets it in one
	// pass, without materialising the partition (the typed layer streams
	// records from the pipeline straight into the buckets). It is used
	// instead of Split when P is not persisted.
	Write func(tc TaskContext, p int) ([]any, error)
	// Bucket is the type of one bucket (for encoding across processes and
	// counting records).
	Bucket Type
}

func (d OneToOne) Parent() *Dataset    { return d.P }
func (d Range) Parent() *Dataset       { return d.P }
func (d Broadcast) Parent() *Dataset   { return d.P }
func (d *ShuffleDep) Parent() *Dataset { return d.P }

// Partitioning says how a dataset's records are placed by key. Two datasets
// with equal Partitioning can be joined without a shuffle.
type Partitioning struct {
	// Name identifies the partitioning function ("hash" or a user
	// partitioner's name); empty means unknown.
	Name  string
	Parts int
}

// Dataset is an immutable, partitioned collection with lineage.
type Dataset struct {
	ID       ID
	Op       string // operation that made it, for messages and the UI
	Type     Type
	NumParts int
	Deps     []Dep
	// Partitioning is set when records are placed by key.
	Partitioning Partitioning
	// Prefer, if set, gives preferred worker names for a partition (input
	// blocks); the runtime adds cached locations itself.
	Prefer func(p int) []string
	// Scope hands out IDs for datasets derived from this one by typed code.
	Scope *Scope
	// Replicas is how many workers keep each cached partition (0 or 1:
	// only the one that computed it). A partition whose lineage will be
	// truncated is worth a second copy: it cannot be recomputed.
	Replicas int
	// Iter, when set, is the typed layer's streaming form of compute (a
	// func(TaskContext, int) (iter.Seq[T], error)): children in the same
	// task pull records through it instead of materialising the partition.
	Iter any

	compute   ComputeFunc
	persisted atomic.Bool
	mu        sync.Mutex
	truncated bool
}

// Compute computes partition p through tc. Callers other than the task
// runtime should use tc.Partition, which honours caching.
func (d *Dataset) Compute(tc TaskContext, p int) (any, error) {
	d.mu.Lock()
	f := d.compute
	d.mu.Unlock()
	return f(tc, p)
}

// Persist marks the dataset to be kept in the block store once computed.
// Windows and state persist the datasets they reuse.
func (d *Dataset) Persist() *Dataset { d.persisted.Store(true); return d }

// Persisted reports whether computed partitions are kept.
func (d *Dataset) Persisted() bool { return d.persisted.Load() }

// Truncate cuts the lineage of a persisted dataset whose partitions are
// all cached: from now on a partition is read through read, and the
// parents (and their memory) can be freed. It is how state and incremental
// windows keep a bounded lineage.
func (d *Dataset) Truncate(read ComputeFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.compute = read
	d.Deps = nil
	d.truncated = true
}

// Truncated reports whether Truncate was called.
func (d *Dataset) Truncated() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.truncated
}

// Dependencies returns the dataset's dependencies (a snapshot: Truncate may
// clear them).
func (d *Dataset) Dependencies() []Dep {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Deps
}

func (d *Dataset) String() string { return fmt.Sprintf("%s[%v]", d.Op, d.ID) }
