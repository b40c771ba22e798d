package sluice

import (
	"cmp"
	"slices"
	"time"

	"github.com/sluicehq/sluice/internal/codec"
)

// Codecs of the engine's internal record types. Their fields are
// unexported (or their values are chains of maps), which the CBOR
// fallback would lose or refuse, so each has a SluiceCodec built from
// codec.Pair, Slice and Convert. They carry the records across processes:
// shuffles, cached and checkpointed state partitions, results.

// duo is the wire form of a value made of two parts. It never goes to the
// CBOR fallback: only through duoCodec.
type duo[A, B any] struct {
	a A
	b B
}

func duoCodec[A, B any](ca codec.Codec[A], cb codec.Codec[B]) codec.Codec[duo[A, B]] {
	return codec.Pair(ca, cb,
		func(d duo[A, B]) (A, B) { return d.a, d.b },
		func(a A, b B) duo[A, B] { return duo[A, B]{a, b} })
}

// stateMapCodec encodes a state map so that the decoded map behaves
// exactly like the chain of layers it came from: its depth, then every
// key of every layer's order in each's order (oldest layer first, each
// layer in write order, a key where it first appears), each with its
// current entry — value and time of the last update, or a tombstone for a
// deleted key. It decodes into a single layer with that depth, order and
// those entries. Tombstones matter: a deleted key written again takes its
// old place in each's order until the chain is compacted, and the depth
// says when that happens; so each's order stays the same after any later
// batches as it would have been without the round trip. A nil map encodes
// as an empty one, and decoding always yields a map (a window's or a
// record's state is never nil). Duplicate keys, which Append never writes,
// decode as the last entry in the first key's place.
func stateMapCodec[K comparable, S any]() codec.Codec[*stateMap[K, S]] {
	keyed := codec.Pair(codec.For[K](), stateEntryCodec[S](),
		func(kv KV[K, stateEntry[S]]) (K, stateEntry[S]) { return kv.Key, kv.Value },
		func(k K, e stateEntry[S]) KV[K, stateEntry[S]] { return KV[K, stateEntry[S]]{Key: k, Value: e} })
	return codec.Convert(duoCodec(codec.For[int](), codec.Slice(keyed)), flattenState[K, S], unflattenState[K, S])
}

// stateEntryCodec encodes a state entry: deleted, then the value and the
// time of the last update (a tombstone has neither).
func stateEntryCodec[S any]() codec.Codec[stateEntry[S]] {
	live := duoCodec(codec.For[S](), codec.For[int64]())
	return codec.Pair(codec.For[bool](), live,
		func(e stateEntry[S]) (bool, duo[S, int64]) { return e.deleted, duo[S, int64]{e.value, e.updated} },
		func(deleted bool, v duo[S, int64]) stateEntry[S] {
			if deleted {
				return stateEntry[S]{deleted: true}
			}
			return stateEntry[S]{value: v.a, updated: v.b}
		})
}

// SluiceCodec encodes a state entry (stateEntryCodec): entries cross
// processes when restored state is placed again by key.
func (stateEntry[S]) SluiceCodec() any { return stateEntryCodec[S]() }

func flattenState[K comparable, S any](m *stateMap[K, S]) duo[int, []KV[K, stateEntry[S]]] {
	if m == nil {
		return duo[int, []KV[K, stateEntry[S]]]{}
	}
	var layers []*stateMap[K, S]
	for l := m; l != nil; l = l.parent {
		layers = append(layers, l)
	}
	seen := make(map[K]bool, m.size)
	out := make([]KV[K, stateEntry[S]], 0, m.size)
	for i := len(layers) - 1; i >= 0; i-- {
		for _, k := range layers[i].order {
			if seen[k] {
				continue
			}
			seen[k] = true
			e, live := m.get(k)
			if !live {
				e = stateEntry[S]{deleted: true}
			}
			out = append(out, KV[K, stateEntry[S]]{Key: k, Value: e})
		}
	}
	return duo[int, []KV[K, stateEntry[S]]]{m.depth, out}
}

func unflattenState[K comparable, S any](d duo[int, []KV[K, stateEntry[S]]]) *stateMap[K, S] {
	m := newStateMap[K, S](nil)
	for _, kv := range d.b {
		m.put(kv.Key, kv.Value)
	}
	// A depth from elsewhere stays in the range compaction keeps.
	m.depth = min(max(d.a, 0), maxStateDepth+1)
	return m
}

// SluiceCodec encodes the state map (see stateMapCodec), then the mapped
// records.
func (stateRecord[K, S, U]) SluiceCodec() any {
	return codec.Pair(stateMapCodec[K, S](), codec.Slice(codec.For[U]()),
		func(r stateRecord[K, S, U]) (*stateMap[K, S], []U) { return r.states, r.mapped },
		func(m *stateMap[K, S], mapped []U) stateRecord[K, S, U] {
			return stateRecord[K, S, U]{states: m, mapped: mapped}
		})
}

// SluiceCodec encodes the open windows by increasing start (each a state
// map: see stateMapCodec), then the closed windows and the dropped count.
func (eventState[K, V]) SluiceCodec() any {
	window := duoCodec(codec.For[int64](), stateMapCodec[K, V]())
	rest := duoCodec(codec.Slice(codec.For[KV[EventWindow[K], V]]()), codec.For[int64]())
	return codec.Pair(codec.Slice(window), rest, splitEventState[K, V], joinEventState[K, V])
}

func splitEventState[K comparable, V any](st eventState[K, V]) ([]duo[int64, *stateMap[K, V]], duo[[]KV[EventWindow[K], V], int64]) {
	windows := make([]duo[int64, *stateMap[K, V]], 0, len(st.windows))
	for start, m := range st.windows {
		windows = append(windows, duo[int64, *stateMap[K, V]]{start, m})
	}
	// Map order is random; equal states must encode equally.
	slices.SortFunc(windows, func(a, b duo[int64, *stateMap[K, V]]) int { return cmp.Compare(a.a, b.a) })
	return windows, duo[[]KV[EventWindow[K], V], int64]{st.closed, st.dropped}
}

func joinEventState[K comparable, V any](windows []duo[int64, *stateMap[K, V]], rest duo[[]KV[EventWindow[K], V], int64]) eventState[K, V] {
	st := eventState[K, V]{windows: make(map[int64]*stateMap[K, V], len(windows)), closed: rest.a, dropped: rest.b}
	for _, w := range windows {
		st.windows[w.a] = w.b
	}
	return st
}

// SluiceCodec encodes the window start, then the key.
func (winKey[K]) SluiceCodec() any {
	return codec.Pair(codec.For[int64](), codec.For[K](),
		func(w winKey[K]) (int64, K) { return w.Start, w.Key },
		func(start int64, k K) winKey[K] { return winKey[K]{Start: start, Key: k} })
}

// SluiceCodec encodes the value, then the counts.
func (winAgg[V]) SluiceCodec() any {
	return codec.Pair(codec.For[V](), duoCodec(codec.For[int64](), codec.For[int64]()),
		func(a winAgg[V]) (V, duo[int64, int64]) { return a.Value, duo[int64, int64]{a.Last, a.Latest} },
		func(v V, d duo[int64, int64]) winAgg[V] { return winAgg[V]{Value: v, Last: d.a, Latest: d.b} })
}

// SluiceCodec encodes the two event times.
func (eventClock) SluiceCodec() any {
	return codec.Pair(codec.For[int64](), codec.For[int64](),
		func(c eventClock) (int64, int64) { return c.Latest, c.Before },
		func(latest, before int64) eventClock { return eventClock{Latest: latest, Before: before} })
}

// SluiceCodec encodes the record range.
func (genRange) SluiceCodec() any {
	return codec.Pair(codec.For[int64](), codec.For[int64](),
		func(r genRange) (int64, int64) { return r.from, r.to },
		func(from, to int64) genRange { return genRange{from, to} })
}

// SluiceCodec encodes the record range, then the share of the batch
// interval. Times keep their instant, not their location: they decode in
// UTC (see codec's time.Time fast path).
func (genSpan) SluiceCodec() any {
	times := duoCodec(codec.For[time.Time](), codec.For[time.Time]())
	return codec.Pair(codec.For[genRange](), times,
		func(s genSpan) (genRange, duo[time.Time, time.Time]) {
			return genRange{s.from, s.to}, duo[time.Time, time.Time]{s.start, s.end}
		},
		func(r genRange, t duo[time.Time, time.Time]) genSpan { return genSpan{r.from, r.to, t.a, t.b} })
}
