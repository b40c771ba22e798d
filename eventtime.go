package sluice

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/lineage"
)

// Event-time windows (DESIGN.md section 2, beyond D-Streams) are a
// stateful operator on the ordinary batches. Each batch runs three steps:
//
//   - assign (EventWindowAssign): every record goes to each of its windows
//     as a (window, key) pair, reduced map-side like ReduceByKey and
//     shuffled to the key's state partition;
//   - watermark (EventWatermark): a one-record dataset holding the latest
//     event time of the batches so far and of those before this one, from
//     a one-partition reduce of the batch's latest times: it depends on
//     the input only, never on how it is partitioned;
//   - state: each state partition reads its (window, key) values, its
//     previous state and, through a lineage.Broadcast dependency, the
//     watermark; it drops the late values, adds the others, and emits and
//     forgets the windows the watermark closes.

// maxWindowsPerRecord bounds ⌈w/slide⌉, the number of windows each record
// is added to: a slide given in the wrong unit would otherwise multiply
// every record a million times.
const maxWindowsPerRecord = 10_000

// noEvent is the latest event time before any record, and the watermark
// then: minus infinity, which closes no window.
const noEvent = math.MinInt64

// outOfRange is the window start given to a record whose event time the
// window arithmetic cannot hold (eventGeometry.nanos): the state step
// drops it and counts it.
const outOfRange = math.MinInt64

// EventWindow names one event-time window of one key: the key's records
// whose event times are in [Start, End). Start and End are in UTC, so the
// windows the operators emit compare with == and can key later operations.
type EventWindow[K comparable] struct {
	Start, End time.Time
	Key        K
}

// String shows the window as key@[start, end), with RFC 3339 times.
func (w EventWindow[K]) String() string {
	return fmt.Sprintf("%v@[%s, %s)", w.Key, w.Start.Format(time.RFC3339Nano), w.End.Format(time.RFC3339Nano))
}

// AllowedLateness makes event-time windows (ReduceByKeyAndEventWindow,
// CountByEventWindow) wait for records out of order: the watermark trails
// the latest event time by d, so a window closes only once an event time
// d past its end arrives, and a record at most d older than the latest
// one still counts, at least in the last window that holds it. The
// default is 0: a window closes as soon as an event time at its end
// arrives.
func AllowedLateness(d time.Duration) OpOption { return func(o *opConfig) { o.lateness = d } }

// ReduceByKeyAndEventWindow reduces the values of each key over windows of
// event time — the time each record carries, given by eventTime — rather
// than of arrival (Window's batches). It is a stateful operator on the
// same batches: it keeps every open window's value across batches.
//
// Windows are the intervals [start, start+w) of event time whose start is
// a multiple of slide since the Unix epoch: tumbling when slide == w,
// sliding (overlapping) when slide < w. w need not be a multiple of slide,
// but slide may not exceed w, and a record may be in at most 10,000
// windows (⌈w/slide⌉). A record counts in every window that holds its
// event time: its value is merged into the window's value for its key with
// f, which must be associative and commutative, as for ReduceByKey.
//
// Windows close by the watermark. After batch t it is the latest event
// time of all the records of the batches up to t, minus the allowed
// lateness (AllowedLateness, 0 by default); before the first record it is
// minus infinity. It depends on the input only, not on the partitioning,
// the workers or the timing, so neither do the results. A window closes in
// the first batch whose watermark, counting that batch's records, reaches
// its end: that batch emits the window's value for each of its keys, once,
// as a record keyed by the window and the key, and the state forgets the
// window. Every batch emits exactly the windows that closed in it, and
// nothing (an empty batch) when none did. The watermark moves only with
// new records: the last windows of a stream that falls silent stay open.
//
// A record is late for a window that already closed, one whose end the
// watermark after the previous batch had reached: it is dropped from that
// window, and still counts in those of its windows that are open. Records
// dropped from all their windows are counted, and the count is logged at
// Debug level with the Context's Logger, per state partition and batch (a
// batch computed again after a failure logs it again). Records whose event
// time the window arithmetic cannot hold — outside the years 1678 to 2262
// of Unix nanoseconds, less a window at each end — are dropped and counted
// too, and do not move the watermark.
//
// The operation needs Named. Its state is placed by key (Partitions, or
// WithPartitioner with a Partitioner[K]) and checkpointed as
// CheckpointInterval says. The result has a dataset every batch of s.
func ReduceByKeyAndEventWindow[K comparable, V any](s *Stream[KV[K, V]], eventTime func(KV[K, V]) time.Time,
	f func(V, V) V, w, slide time.Duration, o ...OpOption) *Stream[KV[EventWindow[K], V]] {
	const op = "ReduceByKeyAndEventWindow"
	mustStream(op, s).check(op, f == nil, "nil reduce function")
	key := func(kv KV[K, V]) K { return kv.Key }
	value := func(kv KV[K, V]) V { return kv.Value }
	return eventWindows(op, s, key, value, eventTime, f, w, slide, opts(o))
}

// CountByEventWindow counts the records of each key (given by key) in
// each window of event time (given by eventTime). Windows, watermark,
// late records and options are those of ReduceByKeyAndEventWindow; the
// operation needs Named.
func CountByEventWindow[T any, K comparable](s *Stream[T], key func(T) K, eventTime func(T) time.Time,
	w, slide time.Duration, o ...OpOption) *Stream[KV[EventWindow[K], int64]] {
	const op = "CountByEventWindow"
	mustStream(op, s).check(op, key == nil, "nil key function")
	one := func(T) int64 { return 1 }
	return eventWindows(op, s, key, one, eventTime, func(a, b int64) int64 { return a + b }, w, slide, opts(o))
}

// eventWindows builds an event-time window operator over records T with
// key and value functions.
func eventWindows[T any, K comparable, V any](op string, s *Stream[T], key func(T) K, value func(T) V,
	eventTime func(T) time.Time, f func(V, V) V, w, slide time.Duration, cfg opConfig) *Stream[KV[EventWindow[K], V]] {
	c := s.n.c
	c.check(op, eventTime == nil, "nil event-time function")
	g := checkEventWindow(c, op, w, slide, cfg.lateness)
	p := statePartitioner[K](c, op, cfg)
	byKey := dataset.WithPartitioner[winKey[K]](windowPartitioner[K]{p})
	assigned := derive(s, "EventWindowAssign", func(d Dataset[T], _ time.Time) Dataset[KV[winKey[K], winAgg[V]]] {
		pairs := dataset.FlatMap(d, func(x T) []KV[winKey[K], winAgg[V]] {
			return assignWindows(g, key(x), value(x), eventTime(x))
		})
		return dataset.ReduceByKey(pairs, mergeAggs(f), byKey)
	})
	// Read twice: by the watermark's reduce and by the state step.
	assigned.n.persist = true
	clock := watermarkNode(c, assigned)
	states := newStream[eventState[K, V]](c, eventStateNode(c, op, cfg, g, f, assigned, clock))
	return derive(states, op, func(d Dataset[eventState[K, V]], _ time.Time) Dataset[KV[EventWindow[K], V]] {
		return dataset.FlatMap(d, func(st eventState[K, V]) []KV[EventWindow[K], V] { return st.closed })
	})
}

// eventStateNode makes the node whose dataset at t holds the state
// partitions after batch t: one eventState each.
func eventStateNode[K comparable, V any](c *Context, op string, cfg opConfig, g eventGeometry, f func(V, V) V,
	assigned *Stream[KV[winKey[K], winAgg[V]]], clock *node) *node {
	n := &node{kind: op, name: cfg.name, parents: []*node{assigned.n, clock}, slide: assigned.n.slide,
		selfLookback: assigned.n.slide, persist: true}
	c.stateful(op, n, cfg)
	clock.truncateEvery = n.truncateEvery // the watermark is state too
	clock.name = cfg.name + "/watermark"
	c.checkpointed(clock)
	typ := dataset.RecordType[eventState[K, V]]()
	logDropped := func(t time.Time, part int, records int64) {
		c.cfg.logger.Debug("sluice: event-time windows dropped late records", "op", op, "name", cfg.name,
			"batch", t.UnixMilli(), "part", part, "records", records)
	}
	n.compute = func(t time.Time) (*lineage.Dataset, error) {
		batch, _, err := assigned.n.at(t)
		if err != nil {
			return nil, err
		}
		clk, _, err := clock.at(t)
		if err != nil {
			return nil, err
		}
		prev, ok, err := n.at(t.Add(-n.slide))
		if err != nil {
			return nil, err
		}
		deps := []lineage.Dep{lineage.OneToOne{P: batch}, lineage.Broadcast{P: clk}}
		if ok {
			deps = append(deps, lineage.OneToOne{P: prev})
		}
		step := func(tc lineage.TaskContext, r int) (any, error) {
			next, err := eventStateStep[K](tc, r, g, f, prev, batch, clk)
			if err != nil {
				return nil, err
			}
			if next.dropped > 0 {
				logDropped(t, r, next.dropped)
			}
			return []eventState[K, V]{next}, nil
		}
		return n.scope(t).New(op, typ, batch.NumParts, step, deps...), nil
	}
	return n
}

// eventStateStep computes state partition r after a batch from the
// previous state (nil at the first batch), the batch's (window, key)
// values and the watermark.
func eventStateStep[K comparable, V any](tc lineage.TaskContext, r int, g eventGeometry, f func(V, V) V,
	prev, batch, clock *lineage.Dataset) (eventState[K, V], error) {
	var before *eventState[K, V]
	if prev != nil {
		st, err := partOf[eventState[K, V]](tc, prev, r)
		if err != nil {
			return eventState[K, V]{}, err
		}
		if len(st) != 1 {
			panic(fmt.Sprintf("sluice: event-time state partition %d has %d records, want 1", r, len(st)))
		}
		before = &st[0]
	}
	values, err := partOf[KV[winKey[K], winAgg[V]]](tc, batch, r)
	if err != nil {
		return eventState[K, V]{}, err
	}
	clk, err := partOf[eventClock](tc, clock, 0)
	if err != nil {
		return eventState[K, V]{}, err
	}
	if len(clk) != 1 {
		panic(fmt.Sprintf("sluice: event-time watermark has %d records, want 1", len(clk)))
	}
	return advanceWindows(g, f, before, values, clk[0]), nil
}

// checkEventWindow validates an event-time window and returns its
// arithmetic (a harmless one when invalid: the graph will not start).
func checkEventWindow(c *Context, op string, w, slide, lateness time.Duration) eventGeometry {
	c.check(op, lateness < 0, "negative allowed lateness %v", lateness)
	switch {
	case c.check(op, w <= 0 || slide <= 0, "window %v and slide %v must be positive", w, slide):
	case c.check(op, slide > w, "slide %v exceeds the window %v: records between two windows would be in none", slide, w):
	case c.check(op, windowsPerRecord(w, slide) > maxWindowsPerRecord,
		"window %v and slide %v put each record in %d windows, more than %d", w, slide, windowsPerRecord(w, slide), maxWindowsPerRecord):
	default:
		return newEventGeometry(w, slide, max(lateness, 0))
	}
	return newEventGeometry(time.Second, time.Second, 0)
}

func windowsPerRecord(w, slide time.Duration) int64 {
	n := int64(w / slide)
	if w%slide != 0 {
		n++
	}
	return n
}

// eventGeometry is the arithmetic of an operator's windows, in Unix
// nanoseconds.
type eventGeometry struct {
	w, slide, lateness int64
	// lo and hi bound the event times whose window starts and ends, and
	// the loop that finds them, fit in an int64.
	lo, hi time.Time
}

func newEventGeometry(w, slide, lateness time.Duration) eventGeometry {
	g := eventGeometry{w: int64(w), slide: int64(slide), lateness: int64(lateness)}
	// The loop over a record's windows goes down to ts−w−slide ≥ ts−2w;
	// a window ends at most at ts+w. Both bounds fit: 0 < w ≤ MaxInt64.
	g.lo = time.Unix(0, math.MinInt64+g.w+g.w)
	g.hi = time.Unix(0, math.MaxInt64-g.w)
	return g
}

// nanos returns t in Unix nanoseconds, and false when its windows do not
// fit in the arithmetic.
func (g eventGeometry) nanos(t time.Time) (int64, bool) {
	if t.Before(g.lo) || t.After(g.hi) {
		return 0, false
	}
	return t.UnixNano(), true
}

// lastStart is the start of the last window holding ts: ts rounded down
// to a multiple of the slide (also before the epoch).
func (g eventGeometry) lastStart(ts int64) int64 {
	m := ts % g.slide
	if m < 0 {
		m += g.slide
	}
	return ts - m
}

// watermark is the watermark after the batches whose latest event time is
// latest: minus infinity (noEvent) when there was none.
func (g eventGeometry) watermark(latest int64) int64 {
	if latest < math.MinInt64+g.lateness { // noEvent, or no room for the lateness
		return noEvent
	}
	return latest - g.lateness
}

// winKey is a record's window (its start, Unix nanoseconds) and key. Its
// fields are exported for the record codec.
type winKey[K comparable] struct {
	Start int64
	Key   K
}

// winAgg is the value of one (window, key) in one batch.
type winAgg[V any] struct {
	Value V
	// Last counts the records for which this window is the last (the one
	// that ends latest): when it is late, they are late for all their
	// windows, which is what the dropped count counts.
	Last int64
	// Latest is the latest event time of the records, for the watermark.
	Latest int64
}

func mergeAggs[V any](f func(V, V) V) func(a, b winAgg[V]) winAgg[V] {
	return func(a, b winAgg[V]) winAgg[V] {
		return winAgg[V]{Value: f(a.Value, b.Value), Last: a.Last + b.Last, Latest: max(a.Latest, b.Latest)}
	}
}

// assignWindows returns a record's windows with its key and value.
func assignWindows[K comparable, V any](g eventGeometry, k K, v V, at time.Time) []KV[winKey[K], winAgg[V]] {
	ts, ok := g.nanos(at)
	if !ok {
		return []KV[winKey[K], winAgg[V]]{{Key: winKey[K]{Start: outOfRange, Key: k}, Value: winAgg[V]{Value: v, Last: 1, Latest: noEvent}}}
	}
	last := g.lastStart(ts)
	out := make([]KV[winKey[K], winAgg[V]], 0, g.w/g.slide+1)
	for start := last; start > ts-g.w; start -= g.slide {
		a := winAgg[V]{Value: v, Latest: ts}
		if start == last {
			a.Last = 1
		}
		out = append(out, KV[winKey[K], winAgg[V]]{Key: winKey[K]{Start: start, Key: k}, Value: a})
	}
	return out
}

// windowPartitioner places (window, key) pairs by key alone, as p places
// keys: all the windows of a key meet in the key's state partition.
type windowPartitioner[K comparable] struct{ p Partitioner[K] }

func (w windowPartitioner[K]) Partitions() int           { return w.p.Partitions() }
func (w windowPartitioner[K]) Partition(k winKey[K]) int { return w.p.Partition(k.Key) }
func (w windowPartitioner[K]) Name() string              { return "eventWindow/" + w.p.Name() }

// eventClock is the watermark node's one record at batch t: the latest
// event time of the batches up to t, and up to the batch before t
// (noEvent when there was no record).
type eventClock struct {
	Latest, Before int64
}

// watermarkNode adds the node whose dataset at t is the eventClock after
// batch t. The batch's latest event time comes from a one-partition
// reduce, so the clock is the same however the input is partitioned.
func watermarkNode[K comparable, V any](c *Context, assigned *Stream[KV[winKey[K], winAgg[V]]]) *node {
	n := &node{kind: "EventWatermark", parents: []*node{assigned.n}, slide: assigned.n.slide,
		selfLookback: assigned.n.slide, persist: true}
	n.compute = func(t time.Time) (*lineage.Dataset, error) {
		ad, _, err := assigned.n.at(t)
		if err != nil {
			return nil, err
		}
		prev, ok, err := n.at(t.Add(-n.slide))
		if err != nil {
			return nil, err
		}
		sc := n.scope(t)
		latest := dataset.Map(view[KV[winKey[K], winAgg[V]]](assigned.n, ad, sc), func(a KV[winKey[K], winAgg[V]]) KV[struct{}, int64] {
			return KV[struct{}, int64]{Value: a.Value.Latest}
		})
		batchLatest := dataset.ReduceByKey(latest, func(a, b int64) int64 { return max(a, b) }, dataset.Partitions(1))
		var before Dataset[eventClock]
		if ok {
			before = view[eventClock](n, prev, sc)
		} else {
			before = dataset.Empty[eventClock](c.env, sc, 1)
		}
		return dataset.ZipPartitions(before, batchLatest, advanceClock).Lineage(), nil
	}
	newStream[eventClock](c, n)
	return n
}

func advanceClock(prev []eventClock, batch []KV[struct{}, int64]) []eventClock {
	before := int64(noEvent)
	if len(prev) > 0 {
		before = prev[0].Latest
	}
	latest := before
	for _, kv := range batch {
		latest = max(latest, kv.Value)
	}
	return []eventClock{{Latest: latest, Before: before}}
}

// eventState is one state partition of an event-time window operator
// after a batch.
type eventState[K comparable, V any] struct {
	// windows holds the open windows by start, each a map from key to
	// value. Maps are shared with the states of earlier batches and never
	// written once their batch is computed (a task that runs again reads
	// its inputs unchanged).
	windows map[int64]*stateMap[K, V]
	closed  []KV[EventWindow[K], V] // the windows this batch closed
	dropped int64                   // records of this batch dropped from all their windows
}

// advanceWindows computes one state partition after a batch: the open
// windows before it, plus the batch's (window, key) values that are not
// late, minus the windows the new watermark closes, which it emits.
func advanceWindows[K comparable, V any](g eventGeometry, f func(V, V) V, prev *eventState[K, V],
	batch []KV[winKey[K], winAgg[V]], clk eventClock) eventState[K, V] {
	before, after := g.watermark(clk.Before), g.watermark(clk.Latest)
	next := eventState[K, V]{windows: make(map[int64]*stateMap[K, V])}
	if prev != nil {
		maps.Copy(next.windows, prev.windows)
	}
	written := make(map[int64]*stateMap[K, V]) // the layers of this batch
	for _, a := range batch {
		start := a.Key.Start
		if start == outOfRange || start+g.w <= before {
			next.dropped += a.Value.Last
			continue
		}
		m := written[start]
		if m == nil {
			m = newStateMap(next.windows[start])
			written[start], next.windows[start] = m, m
		}
		v := a.Value.Value
		if e, ok := m.get(a.Key.Key); ok {
			v = f(e.value, v)
		}
		m.put(a.Key.Key, stateEntry[V]{value: v})
	}
	next.closed = closeWindows(g, next.windows, after)
	for start, m := range written {
		if _, open := next.windows[start]; open {
			next.windows[start] = m.compacted()
		}
	}
	return next
}

// closeWindows removes from open the windows whose end the watermark
// reached and returns their values, by window start, then by key in the
// order keys entered the window.
func closeWindows[K comparable, V any](g eventGeometry, open map[int64]*stateMap[K, V], watermark int64) []KV[EventWindow[K], V] {
	var starts []int64
	for start := range open {
		if start+g.w <= watermark {
			starts = append(starts, start)
		}
	}
	slices.Sort(starts)
	var out []KV[EventWindow[K], V]
	for _, start := range starts {
		begin, end := time.Unix(0, start).UTC(), time.Unix(0, start+g.w).UTC()
		open[start].each(func(k K, e stateEntry[V]) {
			out = append(out, KV[EventWindow[K], V]{Key: EventWindow[K]{Start: begin, End: end, Key: k}, Value: e.value})
		})
		delete(open, start)
	}
	return out
}

// partOf reads partition p of d, whose records are Ts.
func partOf[T any](tc lineage.TaskContext, d *lineage.Dataset, p int) ([]T, error) {
	v, err := tc.Partition(d, p)
	if err != nil || v == nil {
		return nil, err
	}
	return v.([]T), nil
}

// SizeEstimate estimates the record's encoded size (see stateRecord's):
// a sample of each open window's keys, and of the closed windows.
func (s eventState[K, V]) SizeEstimate(sample int, size func(eventState[K, V]) int) int64 {
	var n int64
	for start, m := range s.windows {
		part := m.sample(sample)
		n += scaled(size(eventState[K, V]{windows: map[int64]*stateMap[K, V]{start: part}}), part.size, m.size)
	}
	k := min(sample, len(s.closed))
	return n + scaled(size(eventState[K, V]{closed: s.closed[:k], dropped: s.dropped}), k, len(s.closed))
}
