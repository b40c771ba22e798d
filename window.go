package sluice

import (
	"time"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
)

// checkWindow validates a window against its parent's slide.
func checkWindow(c *Context, op string, parent *node, w, s time.Duration) bool {
	ps := parent.slide
	return !c.check(op, w <= 0 || s <= 0, "window %v and slide %v must be positive", w, s) &&
		!c.check(op, w%ps != 0, "window %v is not a multiple of the parent's slide %v", w, ps) &&
		!c.check(op, s%ps != 0, "slide %v is not a multiple of the parent's slide %v", s, ps)
}

// Window makes a stream whose dataset at t is the union of s's batches in
// the window (t−w, t]; it has a dataset every slide. The first windows are
// partial (they cover only the batches since the start). w and slide must
// be multiples of s's slide (the batch interval for an input).
func Window[T any](s *Stream[T], w, slide time.Duration) *Stream[T] {
	c := mustStream("Window", s)
	checkWindow(c, "Window", s.n, w, slide)
	s.n.persist = true
	n := &node{kind: "Window", parents: []*node{s.n}, slide: max(slide, 1), lookback: w}
	n.compute = func(t time.Time) (*lineage.Dataset, error) {
		ds, err := s.n.slice(t.Add(-w+s.n.slide), t)
		if err != nil {
			return nil, err
		}
		sc := n.scope(t)
		views := make([]Dataset[T], len(ds))
		for i, d := range ds {
			views[i] = view[T](s.n, d, sc)
		}
		if len(views) == 0 {
			return dataset.Empty[T](c.env, sc, 1).Lineage(), nil
		}
		return dataset.Union(views[0], views[1:]...).Lineage(), nil
	}
	return newStream[T](c, n)
}

// ReduceByWindow reduces the records of each window with f; an empty
// window gives no record.
func ReduceByWindow[T any](s *Stream[T], f func(T, T) T, w, slide time.Duration) *Stream[T] {
	c := mustStream("ReduceByWindow", s)
	if !c.check("ReduceByWindow", f == nil, "nil function") {
		checkWindow(c, "ReduceByWindow", s.n, w, slide) // named after the user's call
	}
	return Reduce(Window(Reduce(s, f), w, slide), f)
}

// CountByWindow counts the records of each window: one record per slide,
// 0 for an empty window.
func CountByWindow[T any](s *Stream[T], w, slide time.Duration) *Stream[int64] {
	checkWindow(mustStream("CountByWindow", s), "CountByWindow", s.n, w, slide)
	return Reduce(Window(Count(s), w, slide), func(a, b int64) int64 { return a + b })
}

// CountByValueAndWindow counts the occurrences of each distinct record in
// each window; values absent from the window do not appear.
func CountByValueAndWindow[T comparable](s *Stream[T], w, slide time.Duration, o ...OpOption) *Stream[KV[T, int64]] {
	checkWindow(mustStream("CountByValueAndWindow", s), "CountByValueAndWindow", s.n, w, slide)
	ones := Map(s, func(x T) KV[T, int64] { return KV[T, int64]{Key: x, Value: 1} })
	return ReduceByKeyAndWindow(ones, func(a, b int64) int64 { return a + b }, nil, w, slide, o...)
}

// GroupByKeyAndWindow gathers the values of each key in each window, in
// batch order.
func GroupByKeyAndWindow[K comparable, V any](s *Stream[KV[K, V]], w, slide time.Duration, o ...OpOption) *Stream[KV[K, []V]] {
	checkWindow(mustStream("GroupByKeyAndWindow", s), "GroupByKeyAndWindow", s.n, w, slide)
	grouped := Window(GroupByKey(s, o...), w, slide)
	cat := func(a, b []V) []V { return append(append([]V(nil), a...), b...) }
	return CombineByKey(grouped, func(v []V) []V { return append([]V(nil), v...) }, cat, cat, o...)
}

// ReduceByKeyAndWindow reduces the values of each key over each window
// (t−w, t] with f, every slide.
//
// With inverse == nil the window is recomputed from the batches' reduced
// values each slide. With an inverse function (inverse(a, b) undoes
// f(a, b)) the window is computed incrementally: the previous window's
// value, minus the batches that left, plus the batches that entered.
// Then a key whose values all left keeps its neutral value (0 for a
// count) unless a KeepKeys option drops it; the operation is stateful and
// needs Named. Both forms give the same values, whatever the slide (it
// may exceed the window).
func ReduceByKeyAndWindow[K comparable, V any](s *Stream[KV[K, V]], f, inverse func(V, V) V, w, slide time.Duration, o ...OpOption) *Stream[KV[K, V]] {
	c := mustStream("ReduceByKeyAndWindow", s)
	if c.check("ReduceByKeyAndWindow", f == nil, "nil reduce function") || !checkWindow(c, "ReduceByKeyAndWindow", s.n, w, slide) {
		return ReduceByKey(Window(s, max(w, s.n.slide), max(slide, s.n.slide)), f, o...)
	}
	cfg := opts(o)
	keep := keepOf[K, V](c, "ReduceByKeyAndWindow", cfg)
	if inverse == nil {
		out := ReduceByKey(Window(ReduceByKey(s, f, o...), w, slide), f, o...)
		if keep != nil {
			out = Filter(out, keep)
		}
		return out
	}
	return incrementalWindow(c, s, f, inverse, w, slide, cfg, keep)
}

// keepOf returns the KeepKeys function of cfg, checking its type.
func keepOf[K comparable, V any](c *Context, op string, cfg opConfig) func(KV[K, V]) bool {
	if cfg.keep == nil {
		return nil
	}
	k, ok := cfg.keep.(func(KV[K, V]) bool)
	c.check(op, !ok, "KeepKeys function of type %T, want func(%s) bool", cfg.keep, typeName[KV[K, V]]())
	return k
}

// KeepKeys sets the filter of a ReduceByKeyAndWindow: keys for which keep
// returns false are dropped from the window's result. With an inverse
// function it is meant to drop keys whose value is the neutral value (a
// count of 0): a dropped key's value counts as neutral in the next window,
// so dropping a key with any other value makes later windows wrong for
// that key. Without one it simply filters each window's result.
func KeepKeys[K comparable, V any](keep func(KV[K, V]) bool) OpOption {
	return func(o *opConfig) { o.keep = keep }
}

func incrementalWindow[K comparable, V any](c *Context, s *Stream[KV[K, V]], f, inv func(V, V) V, w, slide time.Duration,
	cfg opConfig, keep func(KV[K, V]) bool) *Stream[KV[K, V]] {
	const op = "ReduceByKeyAndWindow"
	p := statePartitioner[K](c, op, cfg)
	reduced := ReduceByKey(s, f, WithPartitioner(p))
	reduced.n.persist = true
	ps := reduced.n.slide
	n := &node{kind: op, name: cfg.name, parents: []*node{reduced.n}, slide: slide,
		lookback: w + slide, selfLookback: slide, persist: true}
	c.stateful(op, n, cfg)
	n.compute = func(t time.Time) (*lineage.Dataset, error) {
		// The batches that left, (t−slide−w, t−w], and those that entered,
		// (t−slide, t]. When the slide exceeds the window, the windows do
		// not overlap: the previous window's batches all leave and only
		// the current window's enter, not the batches in between (Spark's
		// ReducedWindowedDStream subtracts and adds those too).
		prevEnd, curBegin := t.Add(-slide), t.Add(-w)
		oldDs, err := reduced.n.slice(prevEnd.Add(-w+ps), minTime(curBegin, prevEnd))
		if err != nil {
			return nil, err
		}
		newDs, err := reduced.n.slice(maxTime(curBegin, prevEnd).Add(ps), t)
		if err != nil {
			return nil, err
		}
		sc := n.scope(t)
		prev, ok, err := n.at(t.Add(-slide))
		if err != nil {
			return nil, err
		}
		sides := []Dataset[KV[K, V]]{dataset.EmptyPlaced[K, V](c.env, sc, p)}
		if ok {
			sides[0] = view[KV[K, V]](n, prev, sc)
		}
		for _, d := range append(oldDs, newDs...) {
			sides = append(sides, view[KV[K, V]](reduced.n, d, sc))
		}
		merged := dataset.CoGroupN(p, "reduceByKeyAndWindow", sides...)
		merge := mergeWindow(f, inv, len(oldDs), keep)
		typ := dataset.RecordType[KV[K, V]]()
		return dataset.MapKeyedPartitionsWith(merged, func(tc lineage.TaskContext, part int, in []KV[K, [][]V]) []KV[K, V] {
			out, evicted := merge(in)
			recordState(tc, cfg.name, t, part, p.Partitions(), int64(len(out)), evicted, func() int64 { return blockstore.EstimateBytes(typ, out) })
			return out
		}).Lineage(), nil
	}
	n.view = newStateView(p, func(part []KV[K, V], each func(K, V) bool) {
		for _, kv := range part {
			if !each(kv.Key, kv.Value) {
				return
			}
		}
	})
	return newStream[KV[K, V]](c, n)
}

// mergeWindow computes a key's window value from the previous window's
// value, the reduced values of the batches that left and of those that
// entered, as Spark's ReducedWindowedDStream does.
//
// It also returns how many keys of the previous window keep dropped.
func mergeWindow[K comparable, V any](f, inv func(V, V) V, nOld int, keep func(KV[K, V]) bool) func([]KV[K, [][]V]) ([]KV[K, V], int) {
	reduceAll := func(groups [][]V) (V, bool) {
		var acc V
		seen := false
		for _, g := range groups {
			for _, v := range g {
				if seen {
					acc = f(acc, v)
				} else {
					acc, seen = v, true
				}
			}
		}
		return acc, seen
	}
	return func(in []KV[K, [][]V]) ([]KV[K, V], int) {
		out := make([]KV[K, V], 0, len(in))
		evicted := 0
		for _, kv := range in {
			g := kv.Value
			oldV, hasOld := reduceAll(g[1 : 1+nOld])
			newV, hasNew := reduceAll(g[1+nOld:])
			var v V
			switch {
			case len(g[0]) > 0:
				v = g[0][0]
				if hasOld {
					v = inv(v, oldV)
				}
				if hasNew {
					v = f(v, newV)
				}
			case hasOld:
				// Values left a window that lacks the key: KeepKeys dropped
				// it with the neutral value although values of the key
				// remained (they cancelled out). Its value is the neutral
				// one, inv(x, x), minus those that left, plus the new
				// ones. (Spark fails the job or ignores the old values.)
				v = inv(inv(oldV, oldV), oldV)
				if hasNew {
					v = f(v, newV)
				}
			case hasNew:
				// Not in the previous window: only the new batches count.
				v = newV
			default: // no side has the key: cannot happen
				continue
			}
			r := KV[K, V]{Key: kv.Key, Value: v}
			if keep == nil || keep(r) {
				out = append(out, r)
			} else if len(g[0]) > 0 {
				evicted++
			}
		}
		return out, evicted
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
