package sluice

import (
	"time"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/blockstore"
	"github.com/sluicehq/sluice/internal/lineage"
)

// maxStateDepth bounds the chain of deltas behind a state map; a deeper
// map is compacted into one layer.
const maxStateDepth = 16

// stateMap is one partition's state of a MapWithState operator at one
// batch: a delta over the previous batch's map, so a batch costs only the
// keys it touches. Maps are immutable once their batch is computed.
type stateMap[K comparable, S any] struct {
	parent *stateMap[K, S]
	delta  map[K]stateEntry[S]
	order  []K // keys first written in this layer, in write order
	depth  int
	size   int // live keys, all layers
}

type stateEntry[S any] struct {
	value   S
	updated int64 // batch time of the last record (Unix nanoseconds)
	deleted bool
}

func newStateMap[K comparable, S any](parent *stateMap[K, S]) *stateMap[K, S] {
	m := &stateMap[K, S]{parent: parent, delta: make(map[K]stateEntry[S])}
	if parent != nil {
		m.depth, m.size = parent.depth+1, parent.size
	}
	return m
}

func (m *stateMap[K, S]) get(k K) (stateEntry[S], bool) {
	for l := m; l != nil; l = l.parent {
		if e, ok := l.delta[k]; ok {
			return e, !e.deleted
		}
	}
	return stateEntry[S]{}, false
}

func (m *stateMap[K, S]) put(k K, e stateEntry[S]) {
	_, had := m.get(k)
	if _, inLayer := m.delta[k]; !inLayer {
		m.order = append(m.order, k)
	}
	m.delta[k] = e
	switch {
	case e.deleted && had:
		m.size--
	case !e.deleted && !had:
		m.size++
	}
}

// each calls f for every live key, oldest layer first, each layer in
// write order: a deterministic order.
func (m *stateMap[K, S]) each(f func(K, stateEntry[S])) {
	var layers []*stateMap[K, S]
	for l := m; l != nil; l = l.parent {
		layers = append(layers, l)
	}
	seen := make(map[K]bool, m.size)
	for i := len(layers) - 1; i >= 0; i-- {
		for _, k := range layers[i].order {
			if seen[k] {
				continue
			}
			seen[k] = true
			if e, ok := m.get(k); ok {
				f(k, e)
			}
		}
	}
}

// compacted returns a single-layer copy when the chain is too deep.
func (m *stateMap[K, S]) compacted() *stateMap[K, S] {
	if m.depth <= maxStateDepth {
		return m
	}
	flat := newStateMap[K, S](nil)
	m.each(func(k K, e stateEntry[S]) { flat.put(k, e) })
	return flat
}

// stateRecord is the single record of a MapWithState state partition: the
// state after the batch and the records the batch mapped to.
type stateRecord[K comparable, S, U any] struct {
	states *stateMap[K, S]
	mapped []U
}

// MapWithState keeps a state per key and maps every record with it:
// f(t, key, value, state) is called for every record of the batch, in
// order, and may read, update or remove the key's state; its result, when
// ok, is emitted. Only the keys of the batch are touched.
//
// With Timeout(d), a key that received no record for d is timed out: f is
// called once with no value and state.IsTimingOut() true, and the state is
// removed. As in Spark, timeouts are detected at checkpoint batches (see
// CheckpointInterval), so a key may idle up to one checkpoint interval
// longer. The operation needs Named.
//
// It returns the mapped stream and the stream of state snapshots (every
// key's state after each batch).
func MapWithState[K comparable, V, S, U any](s *Stream[KV[K, V]], f func(t time.Time, key K, value Optional[V], state *State[S]) (U, bool), o ...OpOption) (*Stream[U], *Stream[KV[K, S]]) {
	const op = "MapWithState"
	c := mustStream(op, s)
	c.check(op, f == nil, "nil function")
	cfg := opts(o)
	c.check(op, cfg.timeout < 0, "negative timeout %v", cfg.timeout)
	initial, hasInitial := initialOf[K, S](c, op, cfg)
	n := &node{kind: op, name: cfg.name, parents: []*node{s.n}, slide: s.n.slide, selfLookback: s.n.slide, persist: true}
	c.stateful(op, n, cfg)
	p := statePartitioner[K](c, op, cfg)
	n.typ = typeName[stateRecord[K, S, U]]()
	n.compute = func(t time.Time) (*lineage.Dataset, error) {
		sc := n.scope(t)
		bd, _, err := s.n.at(t)
		if err != nil {
			return nil, err
		}
		batch := view[KV[K, V]](s.n, bd, sc)
		prev, ok, err := n.at(t.Add(-n.slide))
		if err != nil {
			return nil, err
		}
		var prevRecs Dataset[stateRecord[K, S, U]]
		switch {
		case ok:
			prevRecs = view[stateRecord[K, S, U]](n, prev, sc)
			if want := (lineage.Partitioning{Name: p.Name(), Parts: p.Partitions()}); prev.Partitioning != want {
				// State restored from a checkpoint of a job that placed it
				// otherwise (another parallelism): placed again by key.
				prevRecs = replaceState[K, S, U](prevRecs, p)
				c.statePlacements.Add(1)
			}
		case hasInitial:
			prevRecs = initialRecords[K, S, U](dataset.PartitionBy(initial.InScope(sc), p), t)
		default:
			prevRecs = initialRecords[K, S, U](dataset.EmptyPlaced[K, S](c.env, sc, p), t)
		}
		k := int(t.Sub(c.zero()) / n.slide)
		scan := cfg.timeout > 0 && n.truncateEvery > 0 && k%n.truncateEvery == 0
		step := mapWithStateStep(f, t, cfg.timeout, scan)
		typ := dataset.RecordType[stateRecord[K, S, U]]()
		parts := p.Partitions()
		ld := dataset.ZipPartitionsWith(prevRecs, dataset.PartitionBy(batch, p), func(tc lineage.TaskContext, part int, prev []stateRecord[K, S, U], in []KV[K, V]) []stateRecord[K, S, U] {
			out, evicted := step(prev, in)
			keys := int64(0)
			if len(out) > 0 && out[0].states != nil {
				keys = int64(out[0].states.size)
			}
			recordState(tc, cfg.name, t, part, parts, keys, evicted, func() int64 { return blockstore.EstimateBytes(typ, out) })
			return out
		}).Lineage()
		// The state is placed by p, as the check above expects of the
		// previous batch's (ZipPartitions does not know it): without
		// this, every batch placed the whole state again.
		ld.Partitioning = lineage.Partitioning{Name: p.Name(), Parts: p.Partitions()}
		return ld, nil
	}
	n.view = newStateView(p, func(part []stateRecord[K, S, U], each func(K, S) bool) {
		for _, r := range part {
			if r.states == nil {
				continue
			}
			stop := false
			r.states.each(func(k K, e stateEntry[S]) {
				if !stop && !each(k, e.value) {
					stop = true
				}
			})
			if stop {
				return
			}
		}
	})
	states := newStream[stateRecord[K, S, U]](c, n)
	mapped := FlatMap(states, func(r stateRecord[K, S, U]) []U { return r.mapped })
	snapshots := FlatMap(states, func(r stateRecord[K, S, U]) []KV[K, S] {
		out := make([]KV[K, S], 0, r.states.size)
		r.states.each(func(k K, e stateEntry[S]) { out = append(out, KV[K, S]{Key: k, Value: e.value}) })
		return out
	})
	return mapped, snapshots
}

func initialRecords[K comparable, S, U any](d Dataset[KV[K, S]], t time.Time) Dataset[stateRecord[K, S, U]] {
	born := t.UnixNano()
	return dataset.MapPartitions(d, func(in []KV[K, S]) []stateRecord[K, S, U] {
		m := newStateMap[K, S](nil)
		for _, kv := range in {
			m.put(kv.Key, stateEntry[S]{value: kv.Value, updated: born})
		}
		return []stateRecord[K, S, U]{{states: m}}
	})
}

// replaceState places state records by key with p: every key's entry,
// its value and time of last update, moves to the partition p gives it.
func replaceState[K comparable, S, U any](d Dataset[stateRecord[K, S, U]], p Partitioner[K]) Dataset[stateRecord[K, S, U]] {
	entries := dataset.FlatMap(d, func(r stateRecord[K, S, U]) []KV[K, stateEntry[S]] {
		var out []KV[K, stateEntry[S]]
		if r.states != nil {
			r.states.each(func(k K, e stateEntry[S]) { out = append(out, KV[K, stateEntry[S]]{Key: k, Value: e}) })
		}
		return out
	})
	return dataset.MapPartitions(dataset.PartitionBy(entries, p), func(in []KV[K, stateEntry[S]]) []stateRecord[K, S, U] {
		m := newStateMap[K, S](nil)
		for _, kv := range in {
			m.put(kv.Key, kv.Value)
		}
		return []stateRecord[K, S, U]{{states: m}}
	})
}

// mapWithStateStep computes one partition's state record for batch t, as
// Spark's MapWithStateRDDRecord.updateRecordWithData does.
func mapWithStateStep[K comparable, V, S, U any](f func(time.Time, K, Optional[V], *State[S]) (U, bool), t time.Time,
	timeout time.Duration, scan bool) func([]stateRecord[K, S, U], []KV[K, V]) ([]stateRecord[K, S, U], int) {
	now := t.UnixNano()
	return func(prev []stateRecord[K, S, U], batch []KV[K, V]) ([]stateRecord[K, S, U], int) {
		evicted := 0
		var parent *stateMap[K, S]
		if len(prev) > 0 {
			parent = prev[0].states
		}
		m := newStateMap(parent)
		var mapped []U
		for _, kv := range batch {
			var st State[S]
			if e, ok := m.get(kv.Key); ok {
				st.value, st.exists = e.value, true
			}
			had := st.exists
			if u, ok := f(t, kv.Key, dataset.Some(kv.Value), &st); ok {
				mapped = append(mapped, u)
			}
			switch {
			case st.removed:
				if had {
					evicted++
				}
				m.put(kv.Key, stateEntry[S]{deleted: true})
			case st.updated || (st.exists && timeout > 0):
				m.put(kv.Key, stateEntry[S]{value: st.value, updated: now})
			}
		}
		if scan {
			var expired int
			mapped, expired = timeOut(m, f, t, now-int64(timeout), mapped)
			evicted += expired
		}
		return []stateRecord[K, S, U]{{states: m.compacted(), mapped: mapped}}, evicted
	}
}

func timeOut[K comparable, V, S, U any](m *stateMap[K, S], f func(time.Time, K, Optional[V], *State[S]) (U, bool),
	t time.Time, threshold int64, mapped []U) ([]U, int) {
	var expired []K
	m.each(func(k K, e stateEntry[S]) {
		if e.updated < threshold {
			expired = append(expired, k)
		}
	})
	for _, k := range expired {
		e, _ := m.get(k)
		st := State[S]{value: e.value, exists: true, timingOut: true}
		if u, ok := f(t, k, Optional[V]{}, &st); ok {
			mapped = append(mapped, u)
		}
		m.put(k, stateEntry[S]{deleted: true})
	}
	return mapped, len(expired)
}

// sample returns a one-layer map of at most n of m's live keys (the
// newest layers' first), without walking the whole map.
func (m *stateMap[K, S]) sample(n int) *stateMap[K, S] {
	out := newStateMap[K, S](nil)
	seen := make(map[K]bool, n)
	for l := m; l != nil && out.size < n; l = l.parent {
		for _, k := range l.order {
			if out.size >= n {
				break
			}
			if seen[k] {
				continue
			}
			seen[k] = true
			if e, ok := m.get(k); ok {
				out.put(k, e)
			}
		}
	}
	return out
}

// scaled extrapolates the size of a part of which k of n values took b
// bytes.
func scaled(b, k, n int) int64 {
	if k == 0 {
		return int64(b)
	}
	return int64(b) * int64(n) / int64(k)
}

// SizeEstimate estimates the record's encoded size (see
// dataset's EstimateBytes): a sample of its state's keys and one of its
// mapped records, each encoded on its own and extrapolated. A state
// partition is one record, and encoding all of it at every batch to
// learn its size would cost as much as a checkpoint.
func (r stateRecord[K, S, U]) SizeEstimate(sample int, size func(stateRecord[K, S, U]) int) int64 {
	var n int64
	if r.states != nil {
		m := r.states.sample(sample)
		n += scaled(size(stateRecord[K, S, U]{states: m}), m.size, r.states.size)
	}
	k := min(sample, len(r.mapped))
	return n + scaled(size(stateRecord[K, S, U]{mapped: r.mapped[:k]}), k, len(r.mapped))
}
