package dataset

import (
	"iter"
	"slices"

	"github.com/sluicehq/sluice/internal/lineage"
)

// shuffled makes a dataset whose partition r reads bucket r of every
// partition of d: split puts each map partition's records in buckets,
// merge turns one reduce partition's buckets into records.
func shuffled[T, B, U any](d Dataset[T], op string, parts int,
	split func(in iter.Seq[T], n int) [][]B, merge func(buckets [][]B) []U) Dataset[U] {
	return shuffledFrom(d.must(), d.sc, d.env, op, parts, split, merge)
}

// shuffledFrom is shuffled of an untyped parent whose partitions are []T.
func shuffledFrom[T, B, U any](parent *lineage.Dataset, sc *lineage.Scope, env Env, op string, parts int,
	split func(in iter.Seq[T], n int) [][]B, merge func(buckets [][]B) []U) Dataset[U] {
	id := sc.Alloc()
	dep := &lineage.ShuffleDep{
		P: parent, ID: lineage.ShuffleID{Child: id}, Parts: parts, Bucket: recordType[B](),
		Split: func(part any, n int) []any {
			return boxBuckets(split(slices.Values(slice[T](part)), n))
		},
		Write: func(tc lineage.TaskContext, p int) ([]any, error) {
			in, err := records[T](tc, parent, p)
			if err != nil {
				return nil, err
			}
			return boxBuckets(split(in, parts)), nil
		},
	}
	ld := sc.NewWithID(id, op, recordType[U](), parts, func(tc lineage.TaskContext, r int) (any, error) {
		raw, err := tc.Fetch(dep, r)
		if err != nil {
			return nil, err
		}
		bs := make([][]B, len(raw))
		for i, b := range raw {
			bs[i] = slice[B](b)
		}
		return merge(bs), nil
	}, dep)
	return Dataset[U]{ld: ld, sc: sc, env: env}
}

func boxBuckets[B any](bs [][]B) []any {
	out := make([]any, len(bs))
	for i, b := range bs {
		out[i] = b
	}
	return out
}

// bucketByKey splits records by their key's partition.
func bucketByKey[K comparable, V any](p Partitioner[K]) func(iter.Seq[KV[K, V]], int) [][]KV[K, V] {
	return func(in iter.Seq[KV[K, V]], n int) [][]KV[K, V] {
		out := make([][]KV[K, V], n)
		for kv := range in {
			b := p.Partition(kv.Key)
			out[b] = append(out[b], kv)
		}
		return out
	}
}

func concat[T any](bs [][]T) []T {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	out := make([]T, 0, n)
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// PartitionBy places records by key with p.
func PartitionBy[K comparable, V any](d Dataset[KV[K, V]], p Partitioner[K]) Dataset[KV[K, V]] {
	if d.must().Partitioning == placement(p) {
		return d
	}
	out := shuffled(d, "partitionBy", p.Partitions(), bucketByKey[K, V](p), concat[KV[K, V]])
	out.ld.Partitioning = placement(p)
	return out
}

// Repartition spreads the records evenly over n partitions (a shuffle).
func (d Dataset[T]) Repartition(n int) Dataset[T] {
	if n < 1 {
		panic("dataset: Repartition to fewer than 1 partition")
	}
	return shuffledFrom(deal(d, n), d.sc, d.env, "repartition", n, func(in iter.Seq[dealt[T]], n int) [][]T {
		out := make([][]T, n)
		for x := range in {
			out[x.To] = append(out[x.To], x.Rec)
		}
		return out
	}, concat[T])
}

// dealt is a record with the partition Repartition deals it to. Its
// fields are exported for the record codec.
type dealt[T any] struct {
	To  int
	Rec T
}

// deal deals each partition's records round robin over n partitions,
// starting partition p of P at p·n/P (where Spark starts at random): each
// map partition starting at 0 would send the first records of every
// partition, and all the records of single-record partitions, to
// partition 0.
//
// It returns an untyped dataset: a Dataset[dealt[T]], whose Repartition
// method would deal dealt[dealt[T]], is an instantiation cycle.
func deal[T any](d Dataset[T], n int) *lineage.Dataset {
	parent := d.must()
	parts := parent.NumParts
	return newSeq(d.sc, "deal", parts, func(tc lineage.TaskContext, p int) (iter.Seq[dealt[T]], error) {
		in, err := records[T](tc, parent, p)
		if err != nil {
			return nil, err
		}
		return func(yield func(dealt[T]) bool) {
			to := p * n / parts
			for x := range in {
				if !yield(dealt[T]{To: to, Rec: x}) {
					return
				}
				if to++; to == n {
					to = 0
				}
			}
		}, nil
	}, lineage.OneToOne{P: parent})
}

// Repartition spreads the records evenly over n partitions (a shuffle).
func Repartition[T any](d Dataset[T], n int) Dataset[T] { return d.Repartition(n) }

// CombineByKey merges the values of each key: create makes a combiner
// from a key's first value, merge adds a value to a combiner, mergeC
// merges two combiners. Values are combined before the shuffle (map
// side), so only one combiner per key and map partition crosses it.
func CombineByKey[K comparable, V, C any](d Dataset[KV[K, V]], create func(V) C, merge func(C, V) C,
	mergeC func(C, C) C, opts ...Option) Dataset[KV[K, C]] {
	if create == nil || merge == nil || mergeC == nil {
		mustFunc("CombineByKey", nil)
	}
	p := partitionerFor[K](d.env, d.must().Partitioning, opts)
	combine := func(in iter.Seq[KV[K, V]]) []KV[K, C] {
		m := newKeyIndex[K, C](0)
		for kv := range in {
			c, fresh := m.slot(kv.Key)
			if fresh {
				*c = create(kv.Value)
			} else {
				*c = merge(*c, kv.Value)
			}
		}
		return m.kvs
	}
	if d.ld.Partitioning == placement(p) {
		out := narrowSeq(d, "combineByKey", func(in iter.Seq[KV[K, V]]) iter.Seq[KV[K, C]] {
			return slices.Values(combine(in)) // streams the input; the output is the combined keys
		})
		out.ld.Partitioning = placement(p)
		return out
	}
	split := func(in iter.Seq[KV[K, V]], n int) [][]KV[K, C] {
		return bucketByKey[K, C](p)(slices.Values(combine(in)), n)
	}
	mergeBuckets := func(bs [][]KV[K, C]) []KV[K, C] {
		m := newKeyIndex[K, C](0)
		for _, b := range bs {
			for _, kv := range b {
				c, fresh := m.slot(kv.Key)
				if fresh {
					*c = kv.Value
				} else {
					*c = mergeC(*c, kv.Value)
				}
			}
		}
		return m.kvs
	}
	out := shuffled(d, "combineByKey", p.Partitions(), split, mergeBuckets)
	out.ld.Partitioning = placement(p)
	return out
}

// ReduceByKey merges the values of each key with f, which must be
// associative and commutative.
func ReduceByKey[K comparable, V any](d Dataset[KV[K, V]], f func(V, V) V, opts ...Option) Dataset[KV[K, V]] {
	if f == nil {
		mustFunc("ReduceByKey", nil)
	}
	return CombineByKey(d, func(v V) V { return v }, f, f, opts...)
}

// GroupByKey gathers the values of each key. Nothing is combined before
// the shuffle; prefer ReduceByKey or CombineByKey when values can be merged.
func GroupByKey[K comparable, V any](d Dataset[KV[K, V]], opts ...Option) Dataset[KV[K, []V]] {
	p := partitionerFor[K](d.env, d.must().Partitioning, opts)
	group := func(bs [][]KV[K, V]) []KV[K, []V] {
		m := newKeyIndex[K, []V](0)
		for _, b := range bs {
			for _, kv := range b {
				vs, _ := m.slot(kv.Key)
				*vs = append(*vs, kv.Value)
			}
		}
		return m.kvs
	}
	var out Dataset[KV[K, []V]]
	if d.ld.Partitioning == placement(p) {
		out = narrow(d, "groupByKey", func(in []KV[K, V]) []KV[K, []V] { return group([][]KV[K, V]{in}) })
	} else {
		out = shuffled(d, "groupByKey", p.Partitions(), bucketByKey[K, V](p), group)
	}
	out.ld.Partitioning = placement(p)
	return out
}

// CountByValue counts the occurrences of each distinct record.
func CountByValue[T comparable](d Dataset[T], opts ...Option) Dataset[KV[T, int64]] {
	ones := Map(d, func(x T) KV[T, int64] { return KV[T, int64]{x, 1} })
	return ReduceByKey(ones, func(a, b int64) int64 { return a + b }, opts...)
}

// MapValues applies f to every value, keeping keys and their placement.
func MapValues[K comparable, V, W any](d Dataset[KV[K, V]], f func(V) W) Dataset[KV[K, W]] {
	if f == nil {
		mustFunc("MapValues", nil)
	}
	out := narrowSeq(d, "mapValues", func(in iter.Seq[KV[K, V]]) iter.Seq[KV[K, W]] {
		return func(yield func(KV[K, W]) bool) {
			for kv := range in {
				if !yield(KV[K, W]{kv.Key, f(kv.Value)}) {
					return
				}
			}
		}
	})
	out.ld.Partitioning = d.ld.Partitioning
	return out
}

// FlatMapValues applies f to every value and pairs each result with the
// key, keeping the placement.
func FlatMapValues[K comparable, V, W any](d Dataset[KV[K, V]], f func(V) []W) Dataset[KV[K, W]] {
	if f == nil {
		mustFunc("FlatMapValues", nil)
	}
	out := narrowSeq(d, "flatMapValues", func(in iter.Seq[KV[K, V]]) iter.Seq[KV[K, W]] {
		return func(yield func(KV[K, W]) bool) {
			for kv := range in {
				for _, w := range f(kv.Value) {
					if !yield(KV[K, W]{kv.Key, w}) {
						return
					}
				}
			}
		}
	})
	out.ld.Partitioning = d.ld.Partitioning
	return out
}
