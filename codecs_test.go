package sluice

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/internal/codec"
)

// tb is what these helpers need of testing.TB and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// roundTrip encodes vs as the engine does for records leaving the
// process, and returns them decoded; the type must be portable.
func roundTrip[T any](t tb, vs []T) []T {
	t.Helper()
	typ := dataset.RecordType[T]()
	if err := dataset.Portable(typ); err != nil {
		t.Fatal(err)
	}
	got, err := typ.Decode(typ.Encode(nil, vs))
	if err != nil {
		t.Fatal(err)
	}
	return got.([]T)
}

// entries is a state map's observable content: each's keys, values and
// update times, in order.
func entries[K comparable, S any](m *stateMap[K, S]) []KV[K, stateEntry[S]] {
	var out []KV[K, stateEntry[S]]
	m.each(func(k K, e stateEntry[S]) { out = append(out, KV[K, stateEntry[S]]{Key: k, Value: e}) })
	return out
}

// sameState checks that a and b show the same entries in the same order,
// with the same size and depth (which decides when they are compacted), now
// and after the same writes on a new layer.
func sameState[K comparable, S any](t tb, a, b *stateMap[K, S], then func(*stateMap[K, S])) {
	t.Helper()
	if ea, eb := entries(a), entries(b); !reflect.DeepEqual(ea, eb) || a.size != b.size || a.depth != b.depth {
		t.Fatalf("state maps differ:\n%v (size %d, depth %d)\n%v (size %d, depth %d)", ea, a.size, a.depth, eb, b.size, b.depth)
	}
	if then == nil {
		return
	}
	na, nb := newStateMap(a), newStateMap(b)
	then(na)
	then(nb)
	sameState(t, na, nb, nil)
}

// layered builds a chain of three layers with updates, deletions and a
// key deleted and written again.
func layered() *stateMap[string, int] {
	m := newStateMap[string, int](nil)
	for i, k := range []string{"a", "b", "c"} {
		m.put(k, stateEntry[int]{value: i, updated: 10})
	}
	m = newStateMap(m)
	m.put("b", stateEntry[int]{value: 20, updated: 20})
	m.put("a", stateEntry[int]{deleted: true})
	m.put("d", stateEntry[int]{value: 21, updated: 20})
	m = newStateMap(m)
	m.put("a", stateEntry[int]{value: 30, updated: 30})
	m.put("c", stateEntry[int]{deleted: true})
	m.put("e", stateEntry[int]{value: 31, updated: 30})
	return m
}

func moreWrites(m *stateMap[string, int]) {
	m.put("b", stateEntry[int]{deleted: true})
	m.put("f", stateEntry[int]{value: 40, updated: 40})
	m.put("c", stateEntry[int]{value: 41, updated: 40})
}

func TestStateRecordRoundTrip(t *testing.T) {
	m := layered()
	if got := fmt.Sprint(entries(m)); got != "[{a {30 30 false}} {b {20 20 false}} {d {21 20 false}} {e {31 30 false}}]" {
		t.Fatalf("each order: %s", got)
	}
	in := []stateRecord[string, int, string]{{states: m, mapped: []string{"x", ""}}, {states: newStateMap[string, int](nil)}}
	out := roundTrip(t, in)
	for i := range in {
		sameState(t, in[i].states, out[i].states, moreWrites)
		if out[i].states.parent != nil || !slices.Equal(in[i].mapped, out[i].mapped) {
			t.Fatalf("record %d: mapped %q, want one layer and %q", i, out[i].mapped, in[i].mapped)
		}
	}
	// A record's state is never nil once decoded.
	if out := roundTrip(t, []stateRecord[string, int, string]{{}}); out[0].states == nil || out[0].states.size != 0 {
		t.Fatalf("zero record decoded as %+v", out[0])
	}
}

// TestStateMapRoundTripProperty: a random chain of layers (compacted as
// the operators do) round trips, at a random batch, to a map that behaves
// the same under every later batch: same entries in the same order.
func TestStateMapRoundTripProperty(t *testing.T) {
	c := stateMapCodec[string, int]()
	type write struct {
		key     string
		value   int
		at      int64
		deleted bool
	}
	gen := rapid.Custom(func(rt *rapid.T) write {
		return write{fmt.Sprint("k", rapid.IntRange(0, 7).Draw(rt, "key")), rapid.Int().Draw(rt, "value"),
			rapid.Int64().Draw(rt, "at"), rapid.IntRange(0, 3).Draw(rt, "op") == 0}
	})
	batch := func(m *stateMap[string, int], ws []write) *stateMap[string, int] {
		m = newStateMap(m)
		for _, w := range ws {
			m.put(w.key, stateEntry[int]{value: w.value, updated: w.at, deleted: w.deleted})
		}
		return m.compacted()
	}
	rapid.Check(t, func(rt *rapid.T) {
		batches := rapid.SliceOfN(rapid.SliceOfN(gen, 0, 6), 1, 40).Draw(rt, "batches")
		cut := rapid.IntRange(0, len(batches)-1).Draw(rt, "round trip after")
		var a, b *stateMap[string, int]
		for i, ws := range batches {
			a, b = batch(a, ws), batch(b, ws)
			if i == cut {
				got, err := c.Decode(c.Append(nil, []*stateMap[string, int]{b}))
				if err != nil {
					rt.Fatal(err)
				}
				b = got[0]
			}
			sameState(rt, a, b, nil)
		}
	})
}

func TestEventStateRoundTrip(t *testing.T) {
	w0, w1 := newStateMap[string, int64](nil), layered()
	w0.put("k", stateEntry[int64]{value: math.MinInt64})
	start, end := time.Unix(0, 100).UTC(), time.Unix(0, 200).UTC()
	in := []eventState[string, int]{
		{
			windows: map[int64]*stateMap[string, int]{-5: w1, 100: newStateMap[string, int](nil), math.MinInt64: layered()},
			closed:  []KV[EventWindow[string], int]{{Key: EventWindow[string]{Start: start, End: end, Key: "a"}, Value: 3}},
			dropped: 7,
		},
		{windows: map[int64]*stateMap[string, int]{}},
	}
	out := roundTrip(t, in)
	for i := range in {
		if !slices.Equal(slices.Sorted(maps.Keys(in[i].windows)), slices.Sorted(maps.Keys(out[i].windows))) {
			t.Fatalf("state %d: windows %v, want %v", i, out[i].windows, in[i].windows)
		}
		for start, m := range in[i].windows {
			sameState(t, m, out[i].windows[start], moreWrites)
		}
		if out[i].dropped != in[i].dropped || len(out[i].closed) != len(in[i].closed) {
			t.Fatalf("state %d: closed %v, dropped %d; want %v, %d", i, out[i].closed, out[i].dropped, in[i].closed, in[i].dropped)
		}
		for j, kv := range in[i].closed {
			if out[i].closed[j] != kv { // windows are compared with ==
				t.Fatalf("closed window %v decoded as %v", kv, out[i].closed[j])
			}
		}
	}
	// Equal states encode equally, whatever the map order.
	typ := dataset.RecordType[eventState[string, int]]()
	first := typ.Encode(nil, in)
	for range 20 {
		if !bytes.Equal(typ.Encode(nil, in), first) {
			t.Fatal("an event state encodes differently each time")
		}
	}
}

func TestSmallRecordsRoundTrip(t *testing.T) {
	check := func(name string, in, out any) {
		t.Helper()
		if !reflect.DeepEqual(in, out) {
			t.Errorf("%s: got %+v, want %+v", name, out, in)
		}
	}
	keys := []KV[winKey[string], winAgg[int64]]{
		{Key: winKey[string]{Start: outOfRange, Key: "k"}, Value: winAgg[int64]{Value: 1, Last: 1, Latest: noEvent}},
		{Key: winKey[string]{Start: -100, Key: ""}, Value: winAgg[int64]{Value: -5, Last: 0, Latest: math.MaxInt64}},
	}
	check("winKey/winAgg", keys, roundTrip(t, keys))
	clocks := []eventClock{{Latest: 5, Before: noEvent}}
	check("eventClock", clocks, roundTrip(t, clocks))
	ranges := []genRange{{0, 0}, {from: 10, to: math.MaxInt64}}
	check("genRange", ranges, roundTrip(t, ranges))
	utc := time.Unix(1700000000, 5).UTC()
	spans := []genSpan{{from: 1, to: 9, start: utc, end: utc.Add(time.Second)}, {}}
	check("genSpan", spans, roundTrip(t, spans))
	// Times keep their instant, not their location.
	local := genSpan{start: time.Unix(1700000000, 5).In(time.FixedZone("x", 3600)), end: time.Unix(1, 2)}
	got := roundTrip(t, []genSpan{local})[0]
	if !got.start.Equal(local.start) || !got.end.Equal(local.end) {
		t.Errorf("genSpan times: got %v, %v; want %v, %v", got.start, got.end, local.start, local.end)
	}
	windows := []KV[EventWindow[string], int64]{{Key: EventWindow[string]{Start: utc, End: utc.Add(time.Minute), Key: "k"}, Value: 2}}
	check("EventWindow", windows, roundTrip(t, windows))
	empty := []KV[struct{}, int64]{{Value: 3}}
	check("KV[struct{}, int64]", empty, roundTrip(t, empty))
}

func fuzzRecords[T any](f *testing.F, seeds ...[]T) {
	typ := dataset.RecordType[T]()
	for _, s := range seeds {
		f.Add(typ.Encode(nil, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := typ.Decode(b)
		if err != nil {
			if !errors.Is(err, codec.ErrCorrupt) && !errors.Is(err, codec.ErrTooLarge) {
				t.Fatalf("Decode(%x): undocumented error %v", b, err)
			}
			return
		}
		enc := typ.Encode(nil, v)
		again, err := typ.Decode(enc)
		if err != nil || !bytes.Equal(typ.Encode(nil, again), enc) {
			t.Fatalf("round trip of %x failed: %v", b, err)
		}
	})
}

func FuzzDecodeStateRecord(f *testing.F) {
	fuzzRecords(f, []stateRecord[string, int, string]{{states: layered(), mapped: []string{"x"}}})
}

func FuzzDecodeEventState(f *testing.F) {
	fuzzRecords(f, []eventState[string, int]{{windows: map[int64]*stateMap[string, int]{3: layered(), -1: layered()},
		closed: []KV[EventWindow[string], int]{{Key: EventWindow[string]{Key: "k"}, Value: 1}}, dropped: 2}})
}

func FuzzDecodeEventWindowInput(f *testing.F) {
	fuzzRecords(f, []KV[winKey[string], winAgg[int64]]{{Key: winKey[string]{Start: 5, Key: "k"}, Value: winAgg[int64]{Value: 1, Last: 1, Latest: 9}}})
}

func FuzzDecodeGenSpan(f *testing.F) {
	fuzzRecords(f, []genSpan{{from: 1, to: 9, start: time.Unix(5, 0), end: time.Unix(6, 0)}})
}
