package dataset

import (
	"iter"
	"slices"

	"github.com/sluicehq/sluice/internal/lineage"
)

// seqFunc is the streaming form of a partition: records are pulled
// through a chain of narrow operations one at a time, so a pipeline such
// as FlatMap → Map → a shuffle's map-side combine never materialises the
// intermediate partitions (Spark's iterator pipelining).
type seqFunc[T any] func(tc lineage.TaskContext, p int) (iter.Seq[T], error)

// records returns partition p of d as a sequence: streamed through d's
// chain when d is not persisted, else read (or computed and cached)
// through the task context.
func records[T any](tc lineage.TaskContext, d *lineage.Dataset, p int) (iter.Seq[T], error) {
	if !d.Persisted() {
		if f, ok := d.Iter.(seqFunc[T]); ok {
			return f(tc, p)
		}
	}
	v, err := tc.Partition(d, p)
	if err != nil {
		return nil, err
	}
	return slices.Values(slice[T](v)), nil
}

// newSeq makes a dataset from its streaming form; computing a partition
// (for an action, a cache or a parent that needs a slice) collects it.
func newSeq[T any](sc *lineage.Scope, op string, parts int, f seqFunc[T], deps ...lineage.Dep) *lineage.Dataset {
	ld := sc.New(op, recordType[T](), parts, func(tc lineage.TaskContext, p int) (any, error) {
		seq, err := f(tc, p)
		if err != nil {
			return nil, err
		}
		return slices.Collect(seq), nil
	}, deps...)
	ld.Iter = f
	return ld
}

// narrowSeq derives a dataset whose partition p is f of d's partition p,
// streamed.
func narrowSeq[T, U any](d Dataset[T], op string, f func(iter.Seq[T]) iter.Seq[U]) Dataset[U] {
	parent := d.must()
	ld := newSeq(d.sc, op, parent.NumParts, func(tc lineage.TaskContext, p int) (iter.Seq[U], error) {
		in, err := records[T](tc, parent, p)
		if err != nil {
			return nil, err
		}
		return f(in), nil
	}, lineage.OneToOne{P: parent})
	return Dataset[U]{ld: ld, sc: d.sc, env: d.env}
}
