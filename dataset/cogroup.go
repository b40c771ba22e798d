package dataset

import (
	"slices"

	"github.com/sluicehq/sluice/internal/lineage"
)

// CoGroupN groups the values of each key of several datasets of the same
// type: the value of key k is one list per input, in input order (empty
// where an input lacks k). Inputs already placed by the target partitioner
// are read without a shuffle. For the engine's windows; users call CoGroup.
func CoGroupN[K comparable, V any](p Partitioner[K], op string, sides ...Dataset[KV[K, V]]) Dataset[KV[K, [][]V]] {
	first := sides[0]
	scs := make([]*lineage.Scope, len(sides))
	for i, s := range sides {
		scs[i] = s.sc
	}
	first.sc = common(scs...)
	target := placement(p)
	id := first.sc.Alloc()
	deps := make([]lineage.Dep, len(sides))
	for i, s := range sides {
		ld := s.must()
		if s.env != first.env {
			panic("dataset: cogroup of datasets from different contexts")
		}
		if ld.Partitioning == target {
			deps[i] = lineage.OneToOne{P: ld}
			continue
		}
		deps[i] = &lineage.ShuffleDep{
			P: ld, ID: lineage.ShuffleID{Child: id, Index: i}, Parts: p.Partitions(),
			Bucket: recordType[KV[K, V]](),
			Split: func(part any, n int) []any {
				return boxBuckets(bucketByKey[K, V](p)(slices.Values(slice[KV[K, V]](part)), n))
			},
			Write: func(tc lineage.TaskContext, m int) ([]any, error) {
				in, err := records[KV[K, V]](tc, ld, m)
				if err != nil {
					return nil, err
				}
				return boxBuckets(bucketByKey[K, V](p)(in, p.Partitions())), nil
			},
		}
	}
	n := len(sides)
	ld := first.sc.NewWithID(id, op, recordType[KV[K, [][]V]](), p.Partitions(),
		func(tc lineage.TaskContext, r int) (any, error) {
			m := newKeyIndex[K, [][]V](0)
			for i, dep := range deps {
				recs, err := sideRecords[K, V](tc, dep, r)
				if err != nil {
					return nil, err
				}
				for _, kv := range recs {
					groups, _ := m.slot(kv.Key)
					if *groups == nil {
						*groups = make([][]V, n)
					}
					(*groups)[i] = append((*groups)[i], kv.Value)
				}
			}
			return m.kvs, nil
		}, deps...)
	ld.Partitioning = target
	return Dataset[KV[K, [][]V]]{ld: ld, sc: first.sc, env: first.env}
}

func sideRecords[K comparable, V any](tc lineage.TaskContext, dep lineage.Dep, r int) ([]KV[K, V], error) {
	if sd, ok := dep.(*lineage.ShuffleDep); ok {
		raw, err := tc.Fetch(sd, r)
		if err != nil {
			return nil, err
		}
		var out []KV[K, V]
		for _, b := range raw {
			out = append(out, slice[KV[K, V]](b)...)
		}
		return out, nil
	}
	in, err := tc.Partition(dep.Parent(), r)
	return slice[KV[K, V]](in), err
}

// either carries a value of one of two types through a same-typed cogroup.
// Its fields are exported so that the record codec can carry it across
// processes.
type either[V, W any] struct {
	L       V
	R       W
	IsRight bool
}

// CoGroup groups the values of each key of a and b: for every key present
// in either input, the list of its values in a and the list in b.
func CoGroup[K comparable, V, W any](a Dataset[KV[K, V]], b Dataset[KV[K, W]], opts ...Option) Dataset[KV[K, Joined[[]V, []W]]] {
	in := a.must().Partitioning
	if in.Name == "" {
		in = b.must().Partitioning
	}
	p := partitionerFor[K](a.env, in, opts)
	sc := common(a.sc, b.sc)
	a, b = a.InScope(sc), b.InScope(sc)
	left := MapValues(a, func(v V) either[V, W] { return either[V, W]{L: v} })
	right := MapValues(b, func(w W) either[V, W] { return either[V, W]{R: w, IsRight: true} })
	grouped := CoGroupN(p, "cogroup", left, right)
	out := MapValues(grouped, func(gs [][]either[V, W]) Joined[[]V, []W] {
		var j Joined[[]V, []W]
		for _, e := range gs[0] {
			j.Left = append(j.Left, e.L)
		}
		for _, e := range gs[1] {
			j.Right = append(j.Right, e.R)
		}
		return j
	})
	return out
}

// Join pairs every value of a key in a with every value of the same key in
// b; keys missing from either side are dropped.
func Join[K comparable, V, W any](a Dataset[KV[K, V]], b Dataset[KV[K, W]], opts ...Option) Dataset[KV[K, Joined[V, W]]] {
	return FlatMapValues(CoGroup(a, b, opts...), func(g Joined[[]V, []W]) []Joined[V, W] {
		var out []Joined[V, W]
		for _, v := range g.Left {
			for _, w := range g.Right {
				out = append(out, Joined[V, W]{v, w})
			}
		}
		return out
	})
}

// LeftOuterJoin is Join that keeps the keys of a missing from b, with an
// absent right side.
func LeftOuterJoin[K comparable, V, W any](a Dataset[KV[K, V]], b Dataset[KV[K, W]], opts ...Option) Dataset[KV[K, Joined[V, Optional[W]]]] {
	return FlatMapValues(CoGroup(a, b, opts...), func(g Joined[[]V, []W]) []Joined[V, Optional[W]] {
		var out []Joined[V, Optional[W]]
		for _, v := range g.Left {
			if len(g.Right) == 0 {
				out = append(out, Joined[V, Optional[W]]{Left: v})
			}
			for _, w := range g.Right {
				out = append(out, Joined[V, Optional[W]]{v, Some(w)})
			}
		}
		return out
	})
}

// RightOuterJoin is Join that keeps the keys of b missing from a, with an
// absent left side.
func RightOuterJoin[K comparable, V, W any](a Dataset[KV[K, V]], b Dataset[KV[K, W]], opts ...Option) Dataset[KV[K, Joined[Optional[V], W]]] {
	return FlatMapValues(CoGroup(a, b, opts...), func(g Joined[[]V, []W]) []Joined[Optional[V], W] {
		var out []Joined[Optional[V], W]
		for _, w := range g.Right {
			if len(g.Left) == 0 {
				out = append(out, Joined[Optional[V], W]{Right: w})
			}
			for _, v := range g.Left {
				out = append(out, Joined[Optional[V], W]{Some(v), w})
			}
		}
		return out
	})
}

// FullOuterJoin is Join that keeps the keys missing from either side, with
// that side absent.
func FullOuterJoin[K comparable, V, W any](a Dataset[KV[K, V]], b Dataset[KV[K, W]], opts ...Option) Dataset[KV[K, Joined[Optional[V], Optional[W]]]] {
	return FlatMapValues(CoGroup(a, b, opts...), func(g Joined[[]V, []W]) []Joined[Optional[V], Optional[W]] {
		var out []Joined[Optional[V], Optional[W]]
		switch {
		case len(g.Left) == 0:
			for _, w := range g.Right {
				out = append(out, Joined[Optional[V], Optional[W]]{Right: Some(w)})
			}
		case len(g.Right) == 0:
			for _, v := range g.Left {
				out = append(out, Joined[Optional[V], Optional[W]]{Left: Some(v)})
			}
		default:
			for _, v := range g.Left {
				for _, w := range g.Right {
					out = append(out, Joined[Optional[V], Optional[W]]{Some(v), Some(w)})
				}
			}
		}
		return out
	})
}
