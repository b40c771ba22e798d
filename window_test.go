package sluice_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// The batch interval of these tests is 1s, so a window of "3s" spans three
// batches. The window at batch t covers batches (t−W, t]; windowed streams
// produce output at multiples of the slide, and the first windows are
// partial. Expected outputs follow Spark Streaming's WindowOperationsSuite
// where it has the case.

const sec = time.Second

// slideTimes returns the batch numbers at which a stream with the given
// slide (in batches) produces output over n batches.
func slideTimes(n, slide int) []int {
	var out []int
	for i := slide; i <= n; i += slide {
		out = append(out, i)
	}
	return out
}

func TestWindow(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []int{1}, []int{2}, []int{3}, nil, nil, []int{6}, nil, nil)
	w21 := sluicetest.Collect(sluice.Window(in, 2*sec, sec))
	w32 := sluicetest.Collect(sluice.Window(in, 3*sec, 2*sec))
	w22 := sluicetest.Collect(sluice.Window(in, 2*sec, 2*sec))
	w12 := sluicetest.Collect(sluice.Window(in, sec, 2*sec)) // slide > window: a sample
	w44 := sluicetest.Collect(sluice.Window(sluice.Window(in, 2*sec, 2*sec), 4*sec, 4*sec))
	w11 := sluicetest.Collect(sluice.Window(in, sec, sec))
	h.Run(8)

	assertSorted(t, w21.Batches(), batches([]int{1}, []int{1, 2}, []int{2, 3}, []int{3}, nil, []int{6}, []int{6}, nil))
	assertTimes(t, h, w21, 1, 2, 3, 4, 5, 6, 7, 8)
	assertSorted(t, w32.Batches(), batches([]int{1, 2}, []int{2, 3}, []int{6}, []int{6}))
	assertTimes(t, h, w32, 2, 4, 6, 8)
	assertSorted(t, w22.Batches(), batches([]int{1, 2}, []int{3}, []int{6}, nil))
	assertTimes(t, h, w22, 2, 4, 6, 8)
	assertSorted(t, w12.Batches(), batches([]int{2}, nil, []int{6}, nil))
	assertTimes(t, h, w12, 2, 4, 6, 8)
	assertSorted(t, w44.Batches(), batches([]int{1, 2, 3}, []int{6}))
	assertTimes(t, h, w44, 4, 8)
	assertSorted(t, w11.Batches(), batches([]int{1}, []int{2}, []int{3}, nil, nil, []int{6}, nil, nil))
}

func TestWindowOfTransformations(t *testing.T) {
	// A window over a shuffled stream and a stream derived from a window.
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []kv{p("a", 1), p("b", 1)}, []kv{p("a", 2)}, nil, []kv{p("b", 5)})
	counts := sluice.ReduceByKey(in, add, sluice.Partitions(3))
	win := sluicetest.Collect(sluice.Window(counts, 2*sec, sec))
	mapped := sluicetest.Collect(sluice.Map(sluice.Window(in, 2*sec, 2*sec), func(r kv) int { return r.Value }))
	h.Run(4)
	assertSorted(t, win.Batches(), batches([]kv{p("a", 1), p("b", 1)}, []kv{p("a", 1), p("b", 1), p("a", 2)},
		[]kv{p("a", 2)}, []kv{p("b", 5)}))
	assertSorted(t, mapped.Batches(), batches([]int{1, 1, 2}, []int{5}))
	assertTimes(t, h, mapped, 2, 4)
}

func TestReduceByWindow(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []int{1, 2}, []int{3}, nil, nil, nil, []int{4})
	w31 := sluicetest.Collect(sluice.ReduceByWindow(in, add, 3*sec, sec))
	w22 := sluicetest.Collect(sluice.ReduceByWindow(in, add, 2*sec, 2*sec))
	h.Run(6)
	// An empty window reduces to no record.
	assertBatches(t, w31.Batches(), batches([]int{3}, []int{6}, []int{6}, []int{3}, nil, []int{4}))
	assertBatches(t, w22.Batches(), batches([]int{6}, nil, []int{4}))
	assertTimes(t, h, w22, 2, 4, 6)
}

func TestCountByWindow(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []string{"a", "b"}, []string{"c"}, nil, nil)
	lateStart := sluicetest.Input(h, 3, nil, []string{"x"}, nil, nil)
	w21 := sluicetest.Collect(sluice.CountByWindow(in, 2*sec, sec))
	w32 := sluicetest.Collect(sluice.CountByWindow(in, 3*sec, 2*sec))
	late := sluicetest.Collect(sluice.CountByWindow(lateStart, 2*sec, sec))
	h.Run(4)
	// An empty window counts 0, from the first batch on.
	assertBatches(t, w21.Batches(), batches([]int64{2}, []int64{3}, []int64{1}, []int64{0}))
	assertBatches(t, w32.Batches(), batches([]int64{3}, []int64{1}))
	assertTimes(t, h, w32, 2, 4)
	assertBatches(t, late.Batches(), batches([]int64{0}, []int64{1}, []int64{1}, []int64{0}))
}

func TestCountByValueAndWindow(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []string{"a", "b", "a"}, []string{"a"}, nil, nil)
	w21 := sluicetest.Collect(sluice.CountByValueAndWindow(in, 2*sec, sec))
	w42 := sluicetest.Collect(sluice.CountByValueAndWindow(in, 4*sec, 2*sec, sluice.Partitions(3)))
	h.Run(4)
	type c = sluice.KV[string, int64]
	ab := func(a, b int64) []c {
		var out []c
		if a > 0 {
			out = append(out, sluice.Pair("a", a))
		}
		if b > 0 {
			out = append(out, sluice.Pair("b", b))
		}
		return out
	}
	// Values absent from the window do not appear (not even with 0).
	assertSorted(t, w21.Batches(), batches(ab(2, 1), ab(3, 1), ab(1, 0), ab(0, 0)))
	assertSorted(t, w42.Batches(), batches(ab(3, 1), ab(3, 1)))
}

// bigInput and the outputs below are Spark Streaming's WindowOperationsSuite
// "big test" (window 2, slide 1).
var bigInput = [][]kv{
	{p("a", 1)},
	{p("a", 1), p("b", 1)},
	{p("a", 1), p("b", 1), p("c", 1)},
	{p("a", 1), p("b", 1)},
	{p("a", 1)},
	{},
	{p("a", 1)},
	{p("a", 1), p("b", 1)},
	{p("a", 1), p("b", 1), p("c", 1)},
	{p("a", 1), p("b", 1)},
	{p("a", 1)},
	{},
}

var bigReduceOutput = [][]kv{
	{p("a", 1)},
	{p("a", 2), p("b", 1)},
	{p("a", 2), p("b", 2), p("c", 1)},
	{p("a", 2), p("b", 2), p("c", 1)},
	{p("a", 2), p("b", 1)},
	{p("a", 1)},
	{p("a", 1)},
	{p("a", 2), p("b", 1)},
	{p("a", 2), p("b", 2), p("c", 1)},
	{p("a", 2), p("b", 2), p("c", 1)},
	{p("a", 2), p("b", 1)},
	{p("a", 1)},
}

// bigReduceInvOutput: with an inverse function and no filter, keys stay in
// the window's result with 0 once their values left it.
var bigReduceInvOutput = [][]kv{
	{p("a", 1)},
	{p("a", 2), p("b", 1)},
	{p("a", 2), p("b", 2), p("c", 1)},
	{p("a", 2), p("b", 2), p("c", 1)},
	{p("a", 2), p("b", 1), p("c", 0)},
	{p("a", 1), p("b", 0), p("c", 0)},
	{p("a", 1), p("b", 0), p("c", 0)},
	{p("a", 2), p("b", 1), p("c", 0)},
	{p("a", 2), p("b", 2), p("c", 1)},
	{p("a", 2), p("b", 2), p("c", 1)},
	{p("a", 2), p("b", 1), p("c", 0)},
	{p("a", 1), p("b", 0), p("c", 0)},
}

func TestGroupByKeyAndWindow(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []kv{p("a", 1), p("b", 2)}, []kv{p("a", 3)}, nil, []kv{p("a", 4)}, nil)
	big := sluicetest.Input(h, 2, bigInput...)
	w21 := sluicetest.Collect(sluice.GroupByKeyAndWindow(in, 2*sec, sec))
	w42 := sluicetest.Collect(sluice.GroupByKeyAndWindow(in, 4*sec, 2*sec, sluice.Partitions(3)))
	bigOut := sluicetest.Collect(sluice.GroupByKeyAndWindow(big, 2*sec, sec))
	h.Run(len(bigInput))
	type g = sluice.KV[string, []int]
	// A key's values come in batch order.
	assertSorted(t, w21.Batches(), batches(
		[]g{sluice.Pair("a", []int{1}), sluice.Pair("b", []int{2})},
		[]g{sluice.Pair("a", []int{1, 3}), sluice.Pair("b", []int{2})},
		[]g{sluice.Pair("a", []int{3})},
		[]g{sluice.Pair("a", []int{4})},
		[]g{sluice.Pair("a", []int{4})},
		nil, nil, nil, nil, nil, nil, nil))
	assertSorted(t, w42.Batches(), batches(
		[]g{sluice.Pair("a", []int{1, 3}), sluice.Pair("b", []int{2})},
		[]g{sluice.Pair("a", []int{1, 3, 4}), sluice.Pair("b", []int{2})},
		[]g{sluice.Pair("a", []int{4})},
		nil, nil, nil))
	var want [][]g
	for _, b := range bigReduceOutput {
		var gs []g
		for _, r := range b {
			gs = append(gs, sluice.Pair(r.Key, ints(r.Value)[:r.Value]))
			for i := range gs[len(gs)-1].Value {
				gs[len(gs)-1].Value[i] = 1
			}
		}
		want = append(want, gs)
	}
	assertSorted(t, bigOut.Batches(), want)
}

// keyedWindowCase is a ReduceByKeyAndWindow scenario: the input batches,
// window and slide in batches, and the expected output of each variant.
type keyedWindowCase struct {
	name          string
	in            [][]kv
	w, s          int
	plain         [][]kv
	inverse       [][]kv // with an inverse function and no filter
	keepNonZero   [][]kv // with an inverse and KeepKeys(value != 0); nil: plain
	checkpointing bool   // also run with a state checkpoint every slide
}

var keyedWindowCases = []keyedWindowCase{
	{name: "basic reduction", in: [][]kv{{p("a", 1), p("a", 3)}}, w: 2, s: 1,
		plain: [][]kv{{p("a", 4)}}, inverse: [][]kv{{p("a", 4)}}},
	{name: "key already in window and new value added", in: [][]kv{{p("a", 1)}, {p("a", 1)}}, w: 2, s: 1,
		plain: [][]kv{{p("a", 1)}, {p("a", 2)}}, inverse: [][]kv{{p("a", 1)}, {p("a", 2)}}},
	{name: "new key added", in: [][]kv{{p("a", 1)}, {p("a", 1), p("b", 1)}}, w: 2, s: 1,
		plain: [][]kv{{p("a", 1)}, {p("a", 2), p("b", 1)}}, inverse: [][]kv{{p("a", 1)}, {p("a", 2), p("b", 1)}}},
	{name: "key removed", in: [][]kv{{p("a", 1)}, {p("a", 1)}, {}, {}}, w: 2, s: 1,
		plain:   [][]kv{{p("a", 1)}, {p("a", 2)}, {p("a", 1)}, {}},
		inverse: [][]kv{{p("a", 1)}, {p("a", 2)}, {p("a", 1)}, {p("a", 0)}}},
	{name: "larger slide", w: 4, s: 2,
		in:      [][]kv{{p("a", 1)}, {p("a", 2)}, {p("a", 3)}, {p("a", 4)}, {p("a", 5)}, {p("a", 6)}, {}, {}},
		plain:   [][]kv{{p("a", 3)}, {p("a", 10)}, {p("a", 18)}, {p("a", 11)}},
		inverse: [][]kv{{p("a", 3)}, {p("a", 10)}, {p("a", 18)}, {p("a", 11)}}},
	{name: "big test", in: bigInput, w: 2, s: 1, plain: bigReduceOutput, inverse: bigReduceInvOutput, checkpointing: true},
	{name: "window equals slide", w: 2, s: 2,
		in:      [][]kv{{p("a", 1)}, {p("a", 2), p("b", 1)}, {p("b", 5)}, {}, {p("a", 1)}, {}},
		plain:   [][]kv{{p("a", 3), p("b", 1)}, {p("b", 5)}, {p("a", 1)}},
		inverse: [][]kv{{p("a", 3), p("b", 1)}, {p("a", 0), p("b", 5)}, {p("a", 1), p("b", 0)}}},
	{name: "window 3 slide 2", w: 3, s: 2, checkpointing: true,
		in:      [][]kv{{p("a", 1)}, {p("a", 2)}, {p("a", 3)}, {p("b", 4)}, {p("a", 5)}, {}, {}, {}},
		plain:   [][]kv{{p("a", 3)}, {p("a", 5), p("b", 4)}, {p("a", 5), p("b", 4)}, {}},
		inverse: [][]kv{{p("a", 3)}, {p("a", 5), p("b", 4)}, {p("a", 5), p("b", 4)}, {p("a", 0), p("b", 0)}}},
	{name: "slide larger than window", w: 1, s: 2, checkpointing: true,
		in:      [][]kv{{p("a", 1)}, {p("a", 2)}, {p("a", 3)}, {p("b", 4)}, {}, {}},
		plain:   [][]kv{{p("a", 2)}, {p("b", 4)}, {}},
		inverse: [][]kv{{p("a", 2)}, {p("a", 0), p("b", 4)}, {p("a", 0), p("b", 0)}}},
	{name: "values cancelling inside the window", w: 2, s: 1,
		in:          [][]kv{{p("a", 2)}, {p("a", -2)}, {}, {}},
		plain:       [][]kv{{p("a", 2)}, {p("a", 0)}, {p("a", -2)}, {}},
		inverse:     [][]kv{{p("a", 2)}, {p("a", 0)}, {p("a", -2)}, {p("a", 0)}},
		keepNonZero: [][]kv{{p("a", 2)}, {}, {p("a", -2)}, {}}},
	{name: "first batches empty", w: 3, s: 1,
		in:      [][]kv{{}, {}, {p("a", 1), p("b", 2)}, {p("a", 1)}, {}, {}, {}},
		plain:   [][]kv{{}, {}, {p("a", 1), p("b", 2)}, {p("a", 2), p("b", 2)}, {p("a", 2), p("b", 2)}, {p("a", 1)}, {}},
		inverse: [][]kv{{}, {}, {p("a", 1), p("b", 2)}, {p("a", 2), p("b", 2)}, {p("a", 2), p("b", 2)}, {p("a", 1), p("b", 0)}, {p("a", 0), p("b", 0)}}},
}

func TestReduceByKeyAndWindow(t *testing.T) {
	for _, tc := range keyedWindowCases {
		t.Run(tc.name, func(t *testing.T) { runKeyedWindowCase(t, tc) })
		if tc.checkpointing {
			t.Run(tc.name+" checkpoint every slide", func(t *testing.T) {
				runKeyedWindowCase(t, tc, sluice.CheckpointInterval(time.Duration(tc.s)*sec), sluice.Partitions(3))
			})
		}
	}
}

func runKeyedWindowCase(t *testing.T, tc keyedWindowCase, o ...sluice.OpOption) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, tc.in...)
	w, s := time.Duration(tc.w)*sec, time.Duration(tc.s)*sec
	with := func(more ...sluice.OpOption) []sluice.OpOption {
		return append(append([]sluice.OpOption(nil), o...), more...)
	}
	plain := sluicetest.Collect(sluice.ReduceByKeyAndWindow(in, add, nil, w, s, o...))
	inv := sluicetest.Collect(sluice.ReduceByKeyAndWindow(in, add, sub, w, s, with(sluice.Named("inverse"))...))
	keep := sluicetest.Collect(sluice.ReduceByKeyAndWindow(in, add, sub, w, s,
		with(sluice.Named("filtered"), sluice.KeepKeys(func(r kv) bool { return r.Value != 0 }))...))
	h.Run(len(tc.in))
	wantKeep := tc.keepNonZero
	if wantKeep == nil {
		wantKeep = tc.plain
	}
	t.Run("plain", func(t *testing.T) { assertSorted(t, plain.Batches(), tc.plain) })
	t.Run("inverse", func(t *testing.T) { assertSorted(t, inv.Batches(), tc.inverse) })
	t.Run("inverse with KeepKeys", func(t *testing.T) { assertSorted(t, keep.Batches(), wantKeep) })
	want := slideTimes(len(tc.in), tc.s)
	assertTimes(t, h, plain, want...)
	assertTimes(t, h, inv, want...)
	assertTimes(t, h, keep, want...)
}

func TestReduceByKeyAndWindowLongRun(t *testing.T) {
	// Past several checkpoints (default: every 10s), the incremental window
	// still equals the plain one: a key per batch number modulo 7.
	const n = 45
	var in [][]kv
	for i := 1; i <= n; i++ {
		in = append(in, []kv{p(string(rune('a'+i%7)), i), p("all", 1)})
	}
	h := sluicetest.New(t, time.Second)
	s := sluicetest.Input(h, 3, in...)
	plain := sluicetest.Collect(sluice.ReduceByKeyAndWindow(s, add, nil, 6*sec, 2*sec))
	keep := sluicetest.Collect(sluice.ReduceByKeyAndWindow(s, add, sub, 6*sec, 2*sec, sluice.Named("w"),
		sluice.KeepKeys(func(r kv) bool { return r.Value != 0 })))
	h.Run(n)
	assertSorted(t, keep.Batches(), plain.Batches())
	last := plain.Batches()[len(plain.Batches())-1] // window (38, 44]
	want := []kv{p("all", 6), p("e", 39), p("f", 40), p("g", 41), p("a", 42), p("b", 43), p("c", 44)}
	assertSorted(t, [][]kv{last}, [][]kv{want})
}

func TestStatefulOperationsOnWindowedStream(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []kv{p("a", 1)}, []kv{p("a", 2), p("b", 1)}, []kv{p("b", 3)}, nil, []kv{p("a", 5)}, nil, nil, nil)
	// A stream with a slide of 2 batches: {a1 a2 b1} at 2, {b3} at 4,
	// {a5} at 6, {} at 8.
	w2 := sluice.Window(in, 2*sec, 2*sec)
	inc := sluicetest.Collect(sluice.ReduceByKeyAndWindow(w2, add, sub, 4*sec, 2*sec, sluice.Named("inc")))
	plain := sluicetest.Collect(sluice.ReduceByKeyAndWindow(w2, add, nil, 4*sec, 4*sec))
	sum := func(_ string, vs []int, st int, _ bool) (int, bool) {
		for _, v := range vs {
			st += v
		}
		return st, true
	}
	state := sluicetest.Collect(sluice.UpdateStateByKey(w2, sum, sluice.Named("state")))
	h.Run(8)
	assertSorted(t, inc.Batches(), batches([]kv{p("a", 3), p("b", 1)}, []kv{p("a", 3), p("b", 4)},
		[]kv{p("a", 5), p("b", 3)}, []kv{p("a", 5), p("b", 0)}))
	assertTimes(t, h, inc, 2, 4, 6, 8)
	assertSorted(t, plain.Batches(), batches([]kv{p("a", 3), p("b", 4)}, []kv{p("a", 5)}))
	assertTimes(t, h, plain, 4, 8)
	assertSorted(t, state.Batches(), batches([]kv{p("a", 3), p("b", 1)}, []kv{p("a", 3), p("b", 4)},
		[]kv{p("a", 8), p("b", 4)}, []kv{p("a", 8), p("b", 4)}))
	assertTimes(t, h, state, 2, 4, 6, 8)
}
