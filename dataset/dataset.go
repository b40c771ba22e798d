package dataset

import (
	"context"
	"fmt"
	"iter"

	"github.com/sluicehq/sluice/internal/lineage"
	"github.com/sluicehq/sluice/internal/runtime"
)

// Env is the engine that datasets run on. Only Sluice implements it (its
// methods name internal types); a user gets datasets from a sluice.Context
// or from a stream.
type Env interface {
	// RunJob runs action on every partition of d on the workers and
	// returns the results in partition order.
	RunJob(ctx context.Context, d *lineage.Dataset, action runtime.Action) ([]any, error)
	// Parallelism is the default number of partitions of a shuffle.
	Parallelism() int
}

// Dataset is an immutable, partitioned collection of records of type T
// that knows its lineage. The zero Dataset is not usable; datasets come
// from sluice.Parallelize, from a stream's batch (sluice.Transform,
// sluice.ForeachBatch) or from operations on other datasets.
type Dataset[T any] struct {
	ld  *lineage.Dataset
	sc  *lineage.Scope
	env Env
}

// common returns the scope that names a dataset made from several: the
// first one that belongs to a batch. A dataset derived at run time from a
// static one (a model joined with each batch) is then named, like the
// batch's own datasets, after the stream node and batch that made it: the
// same name in every process that rebuilds the batch, forgotten with it.
func common(scs ...*lineage.Scope) *lineage.Scope {
	for _, s := range scs {
		if s != nil && s.Time() != 0 {
			return s
		}
	}
	return scs[0]
}

// Wrap gives a typed view of an engine dataset. For the engine's use.
func Wrap[T any](ld *lineage.Dataset, env Env) Dataset[T] {
	return Dataset[T]{ld: ld, sc: ld.Scope, env: env}
}

// Lineage returns the engine dataset. For the engine's use.
func (d Dataset[T]) Lineage() *lineage.Dataset { return d.must() }

// InScope returns the same dataset whose derived datasets are named in sc.
// For the engine's use: a stream operator derives its batch's datasets in
// its own scope, which makes their IDs deterministic.
func (d Dataset[T]) InScope(sc *lineage.Scope) Dataset[T] {
	d.must()
	d.sc = sc
	return d
}

// Env returns the engine the dataset runs on. For the engine's use.
func (d Dataset[T]) Env() Env { d.must(); return d.env }

func (d Dataset[T]) must() *lineage.Dataset {
	if d.ld == nil {
		panic("dataset: use of a zero Dataset (make datasets with sluice.Parallelize or from a stream)")
	}
	return d.ld
}

// Partitions returns the number of partitions.
func (d Dataset[T]) Partitions() int { return d.must().NumParts }

// String names the dataset and the operation that made it.
func (d Dataset[T]) String() string {
	if d.ld == nil {
		return "Dataset(zero)"
	}
	return d.ld.String()
}

// Persist keeps the dataset's partitions in the workers' block stores once
// computed, so that later jobs read them instead of recomputing them.
func (d Dataset[T]) Persist() Dataset[T] {
	d.must().Persist()
	return d
}

// Parallelize makes a dataset of records split into parts partitions
// (parts <= 0 means the engine's parallelism). For the engine's use;
// users call sluice.Parallelize.
func Parallelize[T any](env Env, sc *lineage.Scope, records []T, parts int) Dataset[T] {
	if parts <= 0 {
		parts = env.Parallelism()
	}
	data := append([]T(nil), records...)
	n := len(data)
	ld := sc.New("parallelize", recordType[T](), parts, func(_ lineage.TaskContext, p int) (any, error) {
		return data[p*n/parts : (p+1)*n/parts : (p+1)*n/parts], nil
	})
	return Dataset[T]{ld: ld, sc: sc, env: env}
}

// Empty makes a dataset with parts empty partitions. For the engine's use.
func Empty[T any](env Env, sc *lineage.Scope, parts int) Dataset[T] {
	ld := sc.New("empty", recordType[T](), parts, func(lineage.TaskContext, int) (any, error) {
		return []T(nil), nil
	})
	return Dataset[T]{ld: ld, sc: sc, env: env}
}

func slice[T any](v any) []T {
	if v == nil {
		return nil
	}
	return v.([]T)
}

// narrow derives a dataset whose partition p is f of d's partition p.
func narrow[T, U any](d Dataset[T], op string, f func([]T) []U) Dataset[U] {
	parent := d.must()
	ld := d.sc.New(op, recordType[U](), parent.NumParts, func(tc lineage.TaskContext, p int) (any, error) {
		in, err := tc.Partition(parent, p)
		if err != nil {
			return nil, err
		}
		return f(slice[T](in)), nil
	}, lineage.OneToOne{P: parent})
	return Dataset[U]{ld: ld, sc: d.sc, env: d.env}
}

func mustFunc(op string, f any) {
	if f == nil {
		panic(fmt.Sprintf("dataset: %s: nil function", op))
	}
}

// Map applies f to every record.
func Map[T, U any](d Dataset[T], f func(T) U) Dataset[U] {
	if f == nil {
		mustFunc("Map", nil)
	}
	return narrowSeq(d, "map", func(in iter.Seq[T]) iter.Seq[U] {
		return func(yield func(U) bool) {
			for x := range in {
				if !yield(f(x)) {
					return
				}
			}
		}
	})
}

// FlatMap applies f to every record and concatenates the results.
func FlatMap[T, U any](d Dataset[T], f func(T) []U) Dataset[U] {
	if f == nil {
		mustFunc("FlatMap", nil)
	}
	return narrowSeq(d, "flatMap", func(in iter.Seq[T]) iter.Seq[U] {
		return func(yield func(U) bool) {
			for x := range in {
				for _, y := range f(x) {
					if !yield(y) {
						return
					}
				}
			}
		}
	})
}

// MapPartitions applies f to each whole partition. f must not modify or
// keep its argument.
func MapPartitions[T, U any](d Dataset[T], f func([]T) []U) Dataset[U] {
	if f == nil {
		mustFunc("MapPartitions", nil)
	}
	return narrow(d, "mapPartitions", f)
}

// Filter keeps the records for which keep returns true.
func (d Dataset[T]) Filter(keep func(T) bool) Dataset[T] {
	if keep == nil {
		mustFunc("Filter", nil)
	}
	out := narrowSeq(d, "filter", func(in iter.Seq[T]) iter.Seq[T] {
		return func(yield func(T) bool) {
			for x := range in {
				if keep(x) && !yield(x) {
					return
				}
			}
		}
	})
	out.ld.Partitioning = d.ld.Partitioning
	return out
}

// Filter keeps the records for which keep returns true.
func Filter[T any](d Dataset[T], keep func(T) bool) Dataset[T] { return d.Filter(keep) }

// Union concatenates datasets. When they are all placed by the same
// partitioning, partition p of the union is the union of their partitions
// p, and the placement is kept; otherwise their partitions are listed one
// after the other.
func Union[T any](first Dataset[T], rest ...Dataset[T]) Dataset[T] {
	all := append([]Dataset[T]{first}, rest...)
	lds := make([]*lineage.Dataset, len(all))
	for i, x := range all {
		lds[i] = x.must()
		if x.env != first.env {
			panic("dataset: Union of datasets from different contexts")
		}
	}
	if len(all) == 1 {
		return first
	}
	scs := make([]*lineage.Scope, len(all))
	for i, x := range all {
		scs[i] = x.sc
	}
	first.sc = common(scs...)
	if p := lds[0].Partitioning; p.Name != "" && samePartitioning(lds) {
		return alignedUnion(first, lds, p)
	}
	return appendedUnion(first, lds)
}

func samePartitioning(lds []*lineage.Dataset) bool {
	for _, x := range lds[1:] {
		if x.Partitioning != lds[0].Partitioning {
			return false
		}
	}
	return true
}

func alignedUnion[T any](first Dataset[T], lds []*lineage.Dataset, p lineage.Partitioning) Dataset[T] {
	deps := make([]lineage.Dep, len(lds))
	for i, x := range lds {
		deps[i] = lineage.OneToOne{P: x}
	}
	ld := first.sc.New("union", recordType[T](), p.Parts, func(tc lineage.TaskContext, part int) (any, error) {
		var out []T
		for _, x := range lds {
			in, err := tc.Partition(x, part)
			if err != nil {
				return nil, err
			}
			out = append(out, slice[T](in)...)
		}
		return out, nil
	}, deps...)
	ld.Partitioning = p
	return Dataset[T]{ld: ld, sc: first.sc, env: first.env}
}

func appendedUnion[T any](first Dataset[T], lds []*lineage.Dataset) Dataset[T] {
	deps := make([]lineage.Dep, len(lds))
	offsets := make([]int, len(lds)+1)
	for i, x := range lds {
		deps[i] = lineage.Range{P: x, Offset: offsets[i]}
		offsets[i+1] = offsets[i] + x.NumParts
	}
	ld := first.sc.New("union", recordType[T](), offsets[len(lds)], func(tc lineage.TaskContext, part int) (any, error) {
		for i, x := range lds {
			if part < offsets[i+1] {
				return tc.Partition(x, part-offsets[i])
			}
		}
		return nil, fmt.Errorf("dataset: union has no partition %d", part)
	}, deps...)
	return Dataset[T]{ld: ld, sc: first.sc, env: first.env}
}

// Union concatenates d and others (see the function Union).
func (d Dataset[T]) Union(others ...Dataset[T]) Dataset[T] { return Union(d, others...) }

// Collect runs a job and returns all records, partition by partition.
func (d Dataset[T]) Collect(ctx context.Context) ([]T, error) {
	parts, err := d.env.RunJob(ctx, d.must(), runtime.Action{Kind: runtime.ActCollect})
	if err != nil {
		return nil, err
	}
	var out []T
	for _, p := range parts {
		out = append(out, slice[T](p)...)
	}
	return out, nil
}

// Count runs a job and returns the number of records.
func (d Dataset[T]) Count(ctx context.Context) (int64, error) {
	parts, err := d.env.RunJob(ctx, d.must(), runtime.Action{Kind: runtime.ActCount})
	var n int64
	for _, p := range parts {
		n += p.(int64)
	}
	return n, err
}

// Take runs a job and returns the first n records (in partition order);
// each partition sends at most n records to the driver.
func (d Dataset[T]) Take(ctx context.Context, n int) ([]T, error) {
	parts, err := d.env.RunJob(ctx, d.must(), runtime.Action{Kind: runtime.ActTake, N: n})
	if err != nil {
		return nil, err
	}
	var out []T
	for _, p := range parts {
		out = append(out, slice[T](p)...)
	}
	return out[:min(n, len(out))], nil
}

// ForeachPartition runs f on the workers for every partition. f receives
// the partition number; with the batch time it names the output, so that
// f can write idempotently.
func (d Dataset[T]) ForeachPartition(ctx context.Context, f func(ctx context.Context, part int, records []T) error) error {
	if f == nil {
		mustFunc("ForeachPartition", nil)
	}
	_, err := d.env.RunJob(ctx, d.must(), runtime.Func(func(tc lineage.TaskContext, p int, part any) (any, error) {
		return nil, f(tc.Context(), p, slice[T](part))
	}))
	return err
}

// EmptyPlaced makes an empty dataset placed as p places keys (so that it
// joins others placed by p without a shuffle). For the engine's use.
func EmptyPlaced[K comparable, V any](env Env, sc *lineage.Scope, p Partitioner[K]) Dataset[KV[K, V]] {
	d := Empty[KV[K, V]](env, sc, p.Partitions())
	d.ld.Partitioning = placement(p)
	return d
}

// ZipPartitions combines partition p of a with partition p of b, for
// every p; a and b must have the same number of partitions.
func ZipPartitions[A, B, U any](a Dataset[A], b Dataset[B], f func([]A, []B) []U) Dataset[U] {
	if f == nil {
		mustFunc("ZipPartitions", nil)
	}
	la, lb := a.must(), b.must()
	a.sc = common(a.sc, b.sc)
	if la.NumParts != lb.NumParts {
		panic(fmt.Sprintf("dataset: ZipPartitions of %d and %d partitions", la.NumParts, lb.NumParts))
	}
	ld := a.sc.New("zipPartitions", recordType[U](), la.NumParts, func(tc lineage.TaskContext, p int) (any, error) {
		x, err := tc.Partition(la, p)
		if err != nil {
			return nil, err
		}
		y, err := tc.Partition(lb, p)
		if err != nil {
			return nil, err
		}
		return f(slice[A](x), slice[B](y)), nil
	}, lineage.OneToOne{P: la}, lineage.OneToOne{P: lb})
	return Dataset[U]{ld: ld, sc: a.sc, env: a.env}
}

// MapKeyedPartitions applies f to each whole partition of a keyed
// dataset. f may drop records and change values but must keep every
// record's key, so the placement by key is kept (Spark's mapPartitions
// with preservesPartitioning).
func MapKeyedPartitions[K comparable, V, W any](d Dataset[KV[K, V]], f func([]KV[K, V]) []KV[K, W]) Dataset[KV[K, W]] {
	if f == nil {
		mustFunc("MapKeyedPartitions", nil)
	}
	out := narrow(d, "mapKeyedPartitions", f)
	out.ld.Partitioning = d.ld.Partitioning
	return out
}

// MapKeyedPartitionsWith is MapKeyedPartitions whose f also gets the
// task context and the partition number, to record figures about what it
// computed (lineage.Record). For the engine's use.
func MapKeyedPartitionsWith[K comparable, V, W any](d Dataset[KV[K, V]], f func(tc lineage.TaskContext, p int, in []KV[K, V]) []KV[K, W]) Dataset[KV[K, W]] {
	if f == nil {
		mustFunc("MapKeyedPartitions", nil)
	}
	parent := d.must()
	ld := d.sc.New("mapKeyedPartitions", recordType[KV[K, W]](), parent.NumParts, func(tc lineage.TaskContext, p int) (any, error) {
		in, err := tc.Partition(parent, p)
		if err != nil {
			return nil, err
		}
		return f(tc, p, slice[KV[K, V]](in)), nil
	}, lineage.OneToOne{P: parent})
	ld.Partitioning = parent.Partitioning
	return Dataset[KV[K, W]]{ld: ld, sc: d.sc, env: d.env}
}

// ZipPartitionsWith is ZipPartitions whose f also gets the task context
// and the partition number (see MapKeyedPartitionsWith). For the engine's
// use.
func ZipPartitionsWith[A, B, U any](a Dataset[A], b Dataset[B], f func(tc lineage.TaskContext, p int, x []A, y []B) []U) Dataset[U] {
	if f == nil {
		mustFunc("ZipPartitions", nil)
	}
	la, lb := a.must(), b.must()
	a.sc = common(a.sc, b.sc)
	if la.NumParts != lb.NumParts {
		panic(fmt.Sprintf("dataset: ZipPartitions of %d and %d partitions", la.NumParts, lb.NumParts))
	}
	ld := a.sc.New("zipPartitions", recordType[U](), la.NumParts, func(tc lineage.TaskContext, p int) (any, error) {
		x, err := tc.Partition(la, p)
		if err != nil {
			return nil, err
		}
		y, err := tc.Partition(lb, p)
		if err != nil {
			return nil, err
		}
		return f(tc, p, slice[A](x), slice[B](y)), nil
	}, lineage.OneToOne{P: la}, lineage.OneToOne{P: lb})
	return Dataset[U]{ld: ld, sc: a.sc, env: a.env}
}

// PartitionerFor returns the partitioner a keyed operation with opts
// would use on d. For the engine's use.
func PartitionerFor[K comparable, V any](d Dataset[KV[K, V]], opts ...Option) Partitioner[K] {
	return partitionerFor[K](d.env, d.must().Partitioning, opts)
}
