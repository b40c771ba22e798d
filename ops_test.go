package sluice_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/dataset"
	"github.com/sluicehq/sluice/sluicetest"
)

// The tests below run each operation batch by batch on a manual clock and
// compare every batch with an output worked out by hand. Batch 2 of most
// inputs is empty: every operation must handle empty batches.

func TestMap(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []int{1, 2, 3}, nil, []int{4})
	out := sluicetest.Collect(sluice.Map(in, func(x int) string { return fmt.Sprint(x * 2) }))
	h.Run(4)
	assertBatches(t, out.Batches(), batches([]string{"2", "4", "6"}, nil, []string{"8"}, nil))
	assertTimes(t, h, out, 1, 2, 3, 4)
}

func TestFlatMap(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []string{"a b", "", "c"}, nil, []string{"d  e f"})
	out := sluicetest.Collect(sluice.FlatMap(in, strings.Fields))
	h.Run(3)
	assertBatches(t, out.Batches(), batches([]string{"a", "b", "c"}, nil, []string{"d", "e", "f"}))
}

func TestFilter(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 3, []int{1, 2, 3, 4, 5}, nil, []int{1, 3}, []int{6})
	out := sluicetest.Collect(sluice.Filter(in, func(x int) bool { return x%2 == 0 }))
	h.Run(4)
	assertBatches(t, out.Batches(), batches([]int{2, 4}, nil, nil, []int{6}))
}

func TestMapPartitions(t *testing.T) {
	// f sees each whole partition, empty ones included (as in Spark): the
	// input is split into 2 contiguous partitions.
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []int{1, 2, 3, 4}, nil, []int{5, 6, 7})
	out := sluicetest.Collect(sluice.MapPartitions(in, func(part []int) []int {
		sum := 0
		for _, x := range part {
			sum += x
		}
		return []int{len(part), sum}
	}))
	h.Run(3)
	assertBatches(t, out.Batches(), batches([]int{2, 3, 2, 7}, []int{0, 0, 0, 0}, []int{1, 5, 2, 13}))
}

// partitionSizes is a stream of the sizes of each partition of s's batches.
func partitionSizes[T any](s *sluice.Stream[T]) *sluice.Stream[int] {
	return sluice.MapPartitions(s, func(p []T) []int { return []int{len(p)} })
}

func TestRepartition(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	four := sluicetest.Input(h, 4, []int{1, 2, 3, 4}, nil, []int{1, 2, 3, 4, 5, 6, 7, 8})
	two := sluicetest.Input(h, 2, []int{1, 2, 3, 4}, nil, []int{1, 2, 3, 4, 5, 6})
	fourTo4 := sluice.Repartition(four, 4)
	recs := sluicetest.Collect(fourTo4)
	sizes44 := sluicetest.Collect(partitionSizes(fourTo4))
	sizes42 := sluicetest.Collect(partitionSizes(sluice.Repartition(four, 2)))
	sizes24 := sluicetest.Collect(partitionSizes(sluice.Repartition(two, 4)))
	sizes23 := sluicetest.Collect(partitionSizes(sluice.Repartition(two, 3)))
	h.Run(3)
	assertSorted(t, recs.Batches(), batches([]int{1, 2, 3, 4}, nil, ints(8)))
	// Spread evenly: partition sizes differ by at most one.
	assertBatches(t, sizes44.Batches(), batches([]int{1, 1, 1, 1}, []int{0, 0, 0, 0}, []int{2, 2, 2, 2}))
	assertBatches(t, sizes42.Batches(), batches([]int{2, 2}, []int{0, 0}, []int{4, 4}))
	for _, out := range []*sluicetest.Output[int]{sizes24, sizes23} {
		for i, b := range out.Batches() {
			if slices.Max(b)-slices.Min(b) > 1 {
				t.Fatalf("batch %d: partition sizes %v, want sizes within one of each other", i+1, b)
			}
		}
	}
	assertBatches(t, sizes24.Batches(), batches([]int{1, 1, 1, 1}, []int{0, 0, 0, 0}, []int{2, 1, 2, 1}))
	assertBatches(t, sizes23.Batches(), batches([]int{1, 2, 1}, []int{0, 0, 0}, []int{2, 2, 2}))
}

func TestUnion(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	a := sluicetest.Input(h, 2, []int{1, 2}, nil, nil, []int{7})
	b := sluicetest.Input(h, 1, []int{3}, []int{4, 5}, nil)
	c := sluicetest.Input(h, 3, nil, []int{6}, nil, []int{7})
	out := sluicetest.Collect(sluice.Union(a, b, c))
	self := sluicetest.Collect(sluice.Union(a, a))
	single := sluicetest.Collect(sluice.Union(b))
	h.Run(4)
	assertSorted(t, out.Batches(), batches([]int{1, 2, 3}, []int{4, 5, 6}, nil, []int{7, 7}))
	assertSorted(t, self.Batches(), batches([]int{1, 1, 2, 2}, nil, nil, []int{7, 7}))
	assertSorted(t, single.Batches(), batches([]int{3}, []int{4, 5}, nil, nil))
}

func TestCount(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 4, []string{"a", "b", "c"}, nil, []string{"d"}, []string{})
	out := sluicetest.Collect(sluice.Count(in))
	// A count of records spread over many partitions, some empty.
	many := sluicetest.Collect(sluice.Count(sluicetest.Input(h, 7, ints(100), ints(3))))
	h.Run(4)
	assertBatches(t, out.Batches(), batches([]int64{3}, []int64{0}, []int64{1}, []int64{0}))
	assertBatches(t, many.Batches(), batches([]int64{100}, []int64{3}, []int64{0}, []int64{0}))
}

func TestCountByValue(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []string{"a", "b", "a", "a"}, nil, []string{"c"})
	out := sluicetest.Collect(sluice.CountByValue(in))
	three := sluicetest.Collect(sluice.CountByValue(in, sluice.Partitions(3)))
	h.Run(3)
	want := batches([]sluice.KV[string, int64]{{Key: "a", Value: 3}, {Key: "b", Value: 1}}, nil,
		[]sluice.KV[string, int64]{{Key: "c", Value: 1}})
	assertSorted(t, out.Batches(), want)
	assertSorted(t, three.Batches(), want)
}

func TestReduce(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 3, []int{1, 2, 3, 4}, nil, []int{5})
	sum := sluicetest.Collect(sluice.Reduce(in, add))
	maxi := sluicetest.Collect(sluice.Reduce(in, func(a, b int) int { return max(a, b) }))
	h.Run(3)
	// An empty batch reduces to no record (unlike Count).
	assertBatches(t, sum.Batches(), batches([]int{10}, nil, []int{5}))
	assertBatches(t, maxi.Batches(), batches([]int{4}, nil, []int{5}))
}

func TestReduceByKey(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []kv{p("a", 1), p("b", 2), p("a", 3)}, nil, []kv{p("b", 1), p("c", 0)})
	out := sluicetest.Collect(sluice.ReduceByKey(in, add))
	five := sluicetest.Collect(sluice.ReduceByKey(in, add, sluice.Partitions(5)))
	h.Run(3)
	want := batches([]kv{p("a", 4), p("b", 2)}, nil, []kv{p("b", 1), p("c", 0)})
	assertSorted(t, out.Batches(), want)
	assertSorted(t, five.Batches(), want)
}

func TestGroupByKey(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 3, []kv{p("a", 1), p("b", 2), p("a", 3), p("a", 1)}, nil, []kv{p("c", 5)})
	out := sluicetest.Collect(sluice.GroupByKey(in))
	one := sluicetest.Collect(sluice.GroupByKey(in, sluice.Partitions(1)))
	h.Run(3)
	type g = sluice.KV[string, []int]
	want := batches([]g{{Key: "a", Value: []int{1, 1, 3}}, {Key: "b", Value: []int{2}}}, nil, []g{{Key: "c", Value: []int{5}}})
	assertSorted(t, sortValues(out.Batches()), want)
	assertSorted(t, sortValues(one.Batches()), want)
}

func TestCombineByKey(t *testing.T) {
	type avg struct{ Sum, N int }
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 3, []kv{p("a", 1), p("b", 2), p("a", 3), p("a", 5)}, nil, []kv{p("b", 4)})
	out := sluicetest.Collect(sluice.CombineByKey(in,
		func(v int) avg { return avg{v, 1} },
		func(c avg, v int) avg { return avg{c.Sum + v, c.N + 1} },
		func(x, y avg) avg { return avg{x.Sum + y.Sum, x.N + y.N} },
		sluice.Partitions(2)))
	h.Run(3)
	type r = sluice.KV[string, avg]
	assertSorted(t, out.Batches(), batches([]r{sluice.Pair("a", avg{9, 3}), sluice.Pair("b", avg{2, 1})}, nil, []r{sluice.Pair("b", avg{4, 1})}))
}

func TestMapValues(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []kv{p("a", 1), p("b", 2), p("a", 3)}, nil)
	out := sluicetest.Collect(sluice.MapValues(in, func(v int) string { return strings.Repeat("x", v) }))
	h.Run(2)
	type r = sluice.KV[string, string]
	assertBatches(t, out.Batches(), batches([]r{sluice.Pair("a", "x"), sluice.Pair("b", "xx"), sluice.Pair("a", "xxx")}, nil))
}

func TestFlatMapValues(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input(h, 2, []kv{p("a", 2), p("b", 0), p("c", 1)}, nil)
	out := sluicetest.Collect(sluice.FlatMapValues(in, ints))
	h.Run(2)
	assertBatches(t, out.Batches(), batches([]kv{p("a", 1), p("a", 2), p("c", 1)}, nil))
}

// joinInputs has keys on both sides (with several values), keys on one
// side only, and batches empty on one side or both.
func joinInputs(h *sluicetest.Harness) (*sluice.Stream[kv], *sluice.Stream[sluice.KV[string, string]]) {
	type s = sluice.KV[string, string]
	left := sluicetest.Input(h, 2, []kv{p("a", 1), p("b", 2), p("b", 3)}, []kv{p("x", 1)}, nil, []kv{p("c", 1)}, nil)
	right := sluicetest.Input(h, 3, []s{sluice.Pair("a", "A1"), sluice.Pair("a", "A2"), sluice.Pair("c", "C")}, nil, []s{sluice.Pair("y", "Y")}, []s{sluice.Pair("c", "C2")}, nil)
	return left, right
}

func TestJoin(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	left, right := joinInputs(h)
	out := sluicetest.Collect(sluice.Join(left, right))
	four := sluicetest.Collect(sluice.Join(left, right, sluice.Partitions(4)))
	h.Run(5)
	type j = sluice.KV[string, sluice.Joined[int, string]]
	want := batches([]j{sluice.Pair("a", jn(1, "A1")), sluice.Pair("a", jn(1, "A2"))},
		nil, nil, []j{sluice.Pair("c", jn(1, "C2"))}, nil)
	assertSorted(t, out.Batches(), want)
	assertSorted(t, four.Batches(), want)
}

func some[V any](v V) sluice.Optional[V] { return dataset.Some(v) }

func absent[V any]() sluice.Optional[V] { return sluice.Optional[V]{} }

func jn[L, R any](l L, r R) sluice.Joined[L, R] { return sluice.Joined[L, R]{Left: l, Right: r} }

func TestLeftOuterJoin(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	left, right := joinInputs(h)
	out := sluicetest.Collect(sluice.LeftOuterJoin(left, right))
	h.Run(5)
	type J = sluice.Joined[int, sluice.Optional[string]]
	type j = sluice.KV[string, J]
	assertSorted(t, out.Batches(), batches(
		[]j{sluice.Pair("a", jn(1, some("A1"))), sluice.Pair("a", jn(1, some("A2"))), sluice.Pair("b", jn(2, absent[string]())), sluice.Pair("b", jn(3, absent[string]()))},
		[]j{sluice.Pair("x", jn(1, absent[string]()))},
		nil,
		[]j{sluice.Pair("c", jn(1, some("C2")))},
		nil))
}

func TestRightOuterJoin(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	left, right := joinInputs(h)
	out := sluicetest.Collect(sluice.RightOuterJoin(left, right))
	h.Run(5)
	type J = sluice.Joined[sluice.Optional[int], string]
	type j = sluice.KV[string, J]
	assertSorted(t, out.Batches(), batches(
		[]j{sluice.Pair("a", jn(some(1), "A1")), sluice.Pair("a", jn(some(1), "A2")), sluice.Pair("c", jn(absent[int](), "C"))},
		nil,
		[]j{sluice.Pair("y", jn(absent[int](), "Y"))},
		[]j{sluice.Pair("c", jn(some(1), "C2"))},
		nil))
}

func TestFullOuterJoin(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	left, right := joinInputs(h)
	out := sluicetest.Collect(sluice.FullOuterJoin(left, right, sluice.Partitions(1)))
	h.Run(5)
	type J = sluice.Joined[sluice.Optional[int], sluice.Optional[string]]
	type j = sluice.KV[string, J]
	assertSorted(t, out.Batches(), batches(
		[]j{sluice.Pair("a", jn(some(1), some("A1"))), sluice.Pair("a", jn(some(1), some("A2"))),
			sluice.Pair("b", jn(some(2), absent[string]())), sluice.Pair("b", jn(some(3), absent[string]())),
			sluice.Pair("c", jn(absent[int](), some("C")))},
		[]j{sluice.Pair("x", jn(some(1), absent[string]()))},
		[]j{sluice.Pair("y", jn(absent[int](), some("Y")))},
		[]j{sluice.Pair("c", jn(some(1), some("C2")))},
		nil))
}

func TestCoGroup(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	left, right := joinInputs(h)
	out := sluicetest.Collect(sluice.CoGroup(left, right))
	h.Run(5)
	// Print the groups with sorted values: their order is unspecified.
	var got [][]string
	for _, b := range out.Batches() {
		var rs []string
		for _, r := range b {
			l, rt := slices.Clone(r.Value.Left), slices.Clone(r.Value.Right)
			slices.Sort(l)
			slices.Sort(rt)
			rs = append(rs, fmt.Sprintf("%s %v %v", r.Key, l, rt))
		}
		got = append(got, rs)
	}
	assertSorted(t, got, batches(
		[]string{"a [1] [A1 A2]", "b [2 3] []", "c [] [C]"},
		[]string{"x [1] []"},
		[]string{"y [] [Y]"},
		[]string{"c [1] [C2]"},
		nil))
}

func TestTransformJoinsStaticDataset(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	type s = sluice.KV[string, string]
	names := sluice.Parallelize(h.Context, []s{sluice.Pair("a", "apple"), sluice.Pair("b", "banana"), sluice.Pair("z", "zucchini")}, 2)
	in := sluicetest.Input(h, 2, []kv{p("a", 1), p("c", 2), p("b", 3), p("a", 4)}, nil, []kv{p("z", 9)})
	type J = sluice.Joined[int, string]
	joined := sluice.Transform(in, func(d sluice.Dataset[kv], _ time.Time) sluice.Dataset[sluice.KV[string, J]] {
		return dataset.Join(d, names)
	})
	out := sluicetest.Collect(joined)
	// The function receives each batch's time.
	stamped := sluicetest.Collect(sluice.Transform(in, func(d sluice.Dataset[kv], t time.Time) sluice.Dataset[string] {
		return dataset.Map(d, func(r kv) string { return fmt.Sprintf("%s@%d", r.Key, t.UnixMilli()) })
	}))
	// It may change the partitioning and run any dataset operation.
	counts := sluicetest.Collect(sluice.Transform(in, func(d sluice.Dataset[kv], _ time.Time) sluice.Dataset[sluice.KV[string, int64]] {
		return dataset.CountByValue(dataset.Map(d.Repartition(5), func(r kv) string { return r.Key }), dataset.Partitions(1))
	}))
	h.Run(3)
	type j = sluice.KV[string, J]
	assertSorted(t, out.Batches(), batches([]j{sluice.Pair("a", jn(1, "apple")), sluice.Pair("a", jn(4, "apple")), sluice.Pair("b", jn(3, "banana"))}, nil,
		[]j{sluice.Pair("z", jn(9, "zucchini"))}))
	assertBatches(t, stamped.Batches(), batches([]string{"a@1000", "c@1000", "b@1000", "a@1000"}, nil, []string{"z@3000"}))
	type c = sluice.KV[string, int64]
	assertSorted(t, counts.Batches(), batches([]c{sluice.Pair[string, int64]("a", 2), sluice.Pair[string, int64]("b", 1), sluice.Pair[string, int64]("c", 1)}, nil, []c{sluice.Pair[string, int64]("z", 1)}))
}

func TestTransformWith(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	a := sluicetest.Input(h, 2, []kv{p("a", 1), p("b", 2)}, nil, []kv{p("c", 3)})
	b := sluicetest.Input(h, 1, []kv{p("b", 10)}, []kv{p("d", 4)}, nil)
	// Keys of a not in b in the same batch (a subtract-by-key).
	out := sluicetest.Collect(sluice.TransformWith(a, b, func(x, y sluice.Dataset[kv], _ time.Time) sluice.Dataset[kv] {
		lj := dataset.LeftOuterJoin(x, y)
		kept := lj.Filter(func(r sluice.KV[string, sluice.Joined[int, sluice.Optional[int]]]) bool { return !r.Value.Right.Valid })
		return dataset.MapValues(kept, func(j sluice.Joined[int, sluice.Optional[int]]) int { return j.Left })
	}))
	both := sluicetest.Collect(sluice.TransformWith(a, b, func(x, y sluice.Dataset[kv], t time.Time) sluice.Dataset[string] {
		return dataset.Map(x.Union(y), func(r kv) string { return fmt.Sprintf("%s%d@%d", r.Key, r.Value, t.Unix()) })
	}))
	h.Run(3)
	assertSorted(t, out.Batches(), batches([]kv{p("a", 1)}, nil, []kv{p("c", 3)}))
	assertSorted(t, both.Batches(), batches([]string{"a1@1", "b2@1", "b10@1"}, []string{"d4@2"}, []string{"c3@3"}))
}

// buildErr builds a graph with build on a fresh context and returns the
// construction error, which Start must return too.
func buildErr(t *testing.T, build func(h *sluicetest.Harness, in *sluice.Stream[kv])) error {
	t.Helper()
	h := sluicetest.New(t, time.Second)
	in := sluicetest.Input[kv](h, 1)
	build(h, in)
	err := h.Context.Err()
	if err == nil {
		t.Fatal("Err() = nil, want a construction error")
	}
	sluice.Print(in, 1)
	if serr := h.Context.Start(); serr == nil || serr.Error() != err.Error() {
		t.Fatalf("Start() = %v, want the construction error %v", serr, err)
	}
	return err
}

func assertMentions(t *testing.T, err error, words ...string) {
	t.Helper()
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestConstructionErrors(t *testing.T) {
	type S = sluice.Stream[kv]
	noop := func(int) int { return 0 }
	cases := []struct {
		name  string
		build func(h *sluicetest.Harness, in *S)
		words []string
	}{
		{"window not multiple", func(_ *sluicetest.Harness, in *S) { sluice.Window(in, 1500*time.Millisecond, time.Second) },
			[]string{"Window", "1.5s", "not a multiple", "1s"}},
		{"slide not multiple", func(_ *sluicetest.Harness, in *S) { sluice.Window(in, 4*time.Second, 1500*time.Millisecond) },
			[]string{"Window", "slide 1.5s", "not a multiple"}},
		{"zero window", func(_ *sluicetest.Harness, in *S) { sluice.Window(in, 0, time.Second) },
			[]string{"Window", "positive"}},
		{"slide not multiple of windowed parent", func(_ *sluicetest.Harness, in *S) {
			sluice.Window(sluice.Window(in, 2*time.Second, 2*time.Second), 4*time.Second, 3*time.Second)
		}, []string{"Window", "slide 3s", "not a multiple", "2s"}},
		{"reduceByKeyAndWindow not multiple", func(_ *sluicetest.Harness, in *S) {
			sluice.ReduceByKeyAndWindow(in, add, sub, 2500*time.Millisecond, time.Second, sluice.Named("w"))
		}, []string{"ReduceByKeyAndWindow", "2.5s", "not a multiple"}},
		{"countByWindow not multiple", func(_ *sluicetest.Harness, in *S) {
			sluice.CountByWindow(in, 2*time.Second, 500*time.Millisecond)
		}, []string{"CountByWindow", "500ms", "not a multiple"}},
		{"nil Map", func(_ *sluicetest.Harness, in *S) { sluice.Map[kv, int](in, nil) }, []string{"Map", "nil function"}},
		{"nil FlatMap", func(_ *sluicetest.Harness, in *S) { sluice.FlatMap[kv, int](in, nil) }, []string{"FlatMap", "nil function"}},
		{"nil Filter", func(_ *sluicetest.Harness, in *S) { sluice.Filter(in, nil) }, []string{"Filter", "nil function"}},
		{"nil MapPartitions", func(_ *sluicetest.Harness, in *S) { sluice.MapPartitions[kv, int](in, nil) }, []string{"MapPartitions", "nil function"}},
		{"nil Reduce", func(_ *sluicetest.Harness, in *S) { sluice.Reduce(in, nil) }, []string{"Reduce", "nil function"}},
		{"nil ReduceByKey", func(_ *sluicetest.Harness, in *S) { sluice.ReduceByKey(in, nil) }, []string{"ReduceByKey", "nil function"}},
		{"nil CombineByKey", func(_ *sluicetest.Harness, in *S) { sluice.CombineByKey(in, noop, nil, add) }, []string{"CombineByKey", "nil function"}},
		{"nil MapValues", func(_ *sluicetest.Harness, in *S) { sluice.MapValues[string, int, int](in, nil) }, []string{"MapValues", "nil function"}},
		{"nil FlatMapValues", func(_ *sluicetest.Harness, in *S) { sluice.FlatMapValues[string, int, int](in, nil) }, []string{"FlatMapValues", "nil function"}},
		{"nil Transform", func(_ *sluicetest.Harness, in *S) { sluice.Transform[kv, int](in, nil) }, []string{"Transform", "nil function"}},
		{"nil TransformWith", func(_ *sluicetest.Harness, in *S) { sluice.TransformWith[kv, kv, int](in, in, nil) }, []string{"TransformWith", "nil function"}},
		{"nil ReduceByWindow", func(_ *sluicetest.Harness, in *S) { sluice.ReduceByWindow(in, nil, time.Second, time.Second) }, []string{"ReduceByWindow", "nil function"}},
		{"nil ReduceByKeyAndWindow", func(_ *sluicetest.Harness, in *S) {
			sluice.ReduceByKeyAndWindow(in, nil, nil, time.Second, time.Second)
		}, []string{"ReduceByKeyAndWindow", "nil reduce function"}},
		{"nil UpdateStateByKey", func(_ *sluicetest.Harness, in *S) {
			sluice.UpdateStateByKey[string, int, int](in, nil, sluice.Named("s"))
		}, []string{"UpdateStateByKey", "nil function"}},
		{"nil MapWithState", func(_ *sluicetest.Harness, in *S) {
			sluice.MapWithState[string, int, int, int](in, nil, sluice.Named("s"))
		}, []string{"MapWithState", "nil function"}},
		{"nil ForeachBatch", func(_ *sluicetest.Harness, in *S) { sluice.ForeachBatch(in, nil) }, []string{"ForeachBatch", "nil function"}},
		{"nil ForeachPartition", func(_ *sluicetest.Harness, in *S) { sluice.ForeachPartition(in, nil) }, []string{"ForeachPartition", "nil function"}},
		{"nil generator", func(h *sluicetest.Harness, _ *S) { sluice.Generate[int](h.Context, nil, 10) }, []string{"Generate", "nil generator"}},
		{"repartition to 0", func(_ *sluicetest.Harness, in *S) { sluice.Repartition(in, 0) }, []string{"Repartition", "0 partitions"}},
		{"union of different slides", func(_ *sluicetest.Harness, in *S) {
			sluice.Union(in, sluice.Window(in, 2*time.Second, 2*time.Second))
		}, []string{"Union", "different slides"}},
		{"join of different slides", func(_ *sluicetest.Harness, in *S) {
			sluice.Join(in, sluice.Window(in, 2*time.Second, 2*time.Second))
		}, []string{"Join", "different slides"}},
		{"UpdateStateByKey without name", func(_ *sluicetest.Harness, in *S) {
			sluice.UpdateStateByKey(in, func(string, []int, int, bool) (int, bool) { return 0, true })
		}, []string{"UpdateStateByKey", "need a name", "Named"}},
		{"MapWithState without name", func(_ *sluicetest.Harness, in *S) {
			sluice.MapWithState(in, func(time.Time, string, sluice.Optional[int], *sluice.State[int]) (int, bool) { return 0, true })
		}, []string{"MapWithState", "need a name", "Named"}},
		{"incremental window without name", func(_ *sluicetest.Harness, in *S) {
			sluice.ReduceByKeyAndWindow(in, add, sub, 2*time.Second, time.Second)
		}, []string{"ReduceByKeyAndWindow", "need a name", "Named"}},
		{"duplicate name", func(_ *sluicetest.Harness, in *S) {
			sluice.UpdateStateByKey(in, func(string, []int, int, bool) (int, bool) { return 0, true }, sluice.Named("totals"))
			sluice.ReduceByKeyAndWindow(in, add, sub, 2*time.Second, time.Second, sluice.Named("totals"))
		}, []string{"ReduceByKeyAndWindow", `"totals"`, "already used"}},
		{"bad checkpoint interval", func(_ *sluicetest.Harness, in *S) {
			sluice.ReduceByKeyAndWindow(in, add, sub, 4*time.Second, 2*time.Second, sluice.Named("w"), sluice.CheckpointInterval(3*time.Second))
		}, []string{"ReduceByKeyAndWindow", "checkpoint interval 3s", "slide 2s"}},
		{"KeepKeys of the wrong type", func(_ *sluicetest.Harness, in *S) {
			sluice.ReduceByKeyAndWindow(in, add, sub, 2*time.Second, time.Second, sluice.Named("w"),
				sluice.KeepKeys(func(sluice.KV[int, int]) bool { return true }))
		}, []string{"ReduceByKeyAndWindow", "KeepKeys"}},
		{"InitialState of the wrong type", func(h *sluicetest.Harness, in *S) {
			init := sluice.Parallelize(h.Context, []sluice.KV[string, string]{sluice.Pair("a", "b")}, 1)
			sluice.UpdateStateByKey(in, func(string, []int, int, bool) (int, bool) { return 0, true },
				sluice.Named("s"), sluice.InitialState(init))
		}, []string{"UpdateStateByKey", "initial state"}},
		{"negative timeout", func(_ *sluicetest.Harness, in *S) {
			sluice.MapWithState(in, func(time.Time, string, sluice.Optional[int], *sluice.State[int]) (int, bool) { return 0, true },
				sluice.Named("m"), sluice.Timeout(-time.Second))
		}, []string{"MapWithState", "negative timeout"}},
		{"negative Print count", func(_ *sluicetest.Harness, in *S) { sluice.Print(in, -1) }, []string{"Print", "negative"}},
		{"empty SaveAsTextFiles prefix", func(_ *sluicetest.Harness, in *S) { sluice.SaveAsTextFiles(in, "", "") }, []string{"SaveAsTextFiles", "empty prefix"}},
		{"empty socket address", func(h *sluicetest.Harness, _ *S) { sluice.SocketText(h.Context, "") }, []string{"SocketText", "empty address"}},
		{"empty directory", func(h *sluicetest.Harness, _ *S) { sluice.TextFiles(h.Context, "") }, []string{"TextFiles", "empty directory"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := buildErr(t, tc.build)
			assertMentions(t, err, tc.words...)
			// The error points at the line that built the operation.
			assertMentions(t, err, "ops_test.go:")
		})
	}
}

func TestUnknownMaster(t *testing.T) {
	for _, m := range []string{"bogus", "local[0]", "local[x]", "local-cluster[0]", "local-cluster[65]"} {
		c, err := sluice.NewContext(sluice.Master(m))
		if err == nil {
			c.Stop()
			t.Fatalf("NewContext(Master(%q)) succeeded", m)
		}
		assertMentions(t, err, "master", fmt.Sprintf("%q", m))
	}
	for _, m := range []string{"local", "local[3]", "local[*]"} {
		c, err := sluice.NewContext(sluice.Master(m))
		if err != nil {
			t.Fatalf("NewContext(Master(%q)): %v", m, err)
		}
		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStartErrors(t *testing.T) {
	h := sluicetest.New(t, time.Second)
	sluicetest.Input[int](h, 1)
	if err := h.Context.Start(); err == nil || !strings.Contains(err.Error(), "no output operations") {
		t.Fatalf("Start without outputs = %v, want an error about output operations", err)
	}
	if _, err := sluice.NewContext(sluice.Batch(time.Microsecond)); err == nil {
		t.Fatal("a 1µs batch interval was accepted")
	}
}

func TestGraphChangedAfterStart(t *testing.T) {
	j := newManualJob(t, time.Second)
	in := sluice.QueueStream(j.ctx, sluice.NewQueue([]int{1}, []int{2}), 1)
	sluice.Print(in, 1)
	if err := j.ctx.Start(); err != nil {
		t.Fatal(err)
	}
	if info := j.step(); info.Err != nil {
		t.Fatalf("batch 1: %v", info.Err)
	}
	// Too late: a whole chain built after Start must fail cleanly.
	sluice.Print(sluice.Window(sluice.Map(in, func(x int) int { return x }), 2*sec, sec), 1)
	late := sluice.QueueStream(j.ctx, sluice.NewQueue([]int{3}), 1)
	sluice.Print(sluice.CountByWindow(late, 2*sec, sec), 1)
	err := j.ctx.Err()
	if !errors.Is(err, sluice.ErrGraphStarted) {
		t.Fatalf("Err() = %v, want ErrGraphStarted", err)
	}
	assertMentions(t, err, "Map")
	info := j.step()
	if !errors.Is(info.Err, sluice.ErrGraphStarted) {
		t.Fatalf("batch 2 error = %v, want one wrapping ErrGraphStarted", info.Err)
	}
	if err := j.ctx.AwaitTermination(context.Background()); !errors.Is(err, sluice.ErrGraphStarted) {
		t.Fatalf("AwaitTermination = %v, want ErrGraphStarted", err)
	}
}

func TestUserPanicFailsBatch(t *testing.T) {
	j := newManualJob(t, time.Second)
	in := sluice.QueueStream(j.ctx, sluice.NewQueue([]int{1}, []int{2}), 1)
	sluice.ForeachBatch(sluice.Map(in, func(x int) int {
		if x == 2 {
			panic("boom")
		}
		return x
	}), func(ctx context.Context, d sluice.Dataset[int], _ time.Time) error {
		_, err := d.Collect(ctx)
		return err
	})
	if err := j.ctx.Start(); err != nil {
		t.Fatal(err)
	}
	if info := j.step(); info.Err != nil {
		t.Fatalf("batch 1: %v", info.Err)
	}
	info := j.step()
	if info.Err == nil || !strings.Contains(info.Err.Error(), "boom") {
		t.Fatalf("batch 2 error = %v, want the panic", info.Err)
	}
}

func TestTransformPanicFailsBatch(t *testing.T) {
	// Transform functions run on the driver when the batch is generated:
	// a panic there fails that batch, reported like any failed batch.
	j := newManualJob(t, time.Second)
	in := sluice.QueueStream(j.ctx, sluice.NewQueue([]int{1}, []int{2}), 1)
	sluice.Print(sluice.Transform(in, func(d sluice.Dataset[int], t time.Time) sluice.Dataset[int] {
		if t.Unix() == 2 {
			panic("bad model")
		}
		return d
	}), 1)
	if err := j.ctx.Start(); err != nil {
		t.Fatal(err)
	}
	if info := j.step(); info.Err != nil {
		t.Fatalf("batch 1: %v", info.Err)
	}
	info := j.step()
	if info.Err == nil || info.Time.Unix() != 2 {
		t.Fatalf("batch 2 reported %+v, want its failure", info)
	}
	assertMentions(t, info.Err, "Transform", "bad model")
}
