package sluice_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// Property tests: each check runs whole streaming jobs on a manual clock,
// so TestMain lowers rapid's default number of checks (-rapid.checks
// raises it again). A failure prints the seed that reproduces it.

// keyedBatches draws n batches of keyed records with few keys and small
// values of both signs, so that keys come and go and sums cancel.
func keyedBatches(rt *rapid.T, n int) [][]kv {
	rec := rapid.Custom(func(rt *rapid.T) kv {
		return p(fmt.Sprint("k", rapid.IntRange(0, 4).Draw(rt, "key")), rapid.IntRange(-3, 3).Draw(rt, "value"))
	})
	return rapid.SliceOfN(rapid.SliceOfN(rec, 0, 6), n, n).Draw(rt, "input")
}

// naiveWindows computes, from the raw input, the sum per key of every
// window (t−w, t] at the multiples of the slide up to batch total, and
// the keys seen in any window up to each of those times.
func naiveWindows(in [][]kv, w, s, total int) (sums []map[string]int, seen []map[string]bool) {
	ever := map[string]bool{}
	for t := s; t <= total; t += s {
		sum := map[string]int{}
		for b := max(t-w+1, 1); b <= t && b <= len(in); b++ {
			for _, r := range in[b-1] {
				sum[r.Key] += r.Value
				ever[r.Key] = true
			}
		}
		sums = append(sums, sum)
		seen = append(seen, maps.Clone(ever))
	}
	return sums, seen
}

func kvsOf(m map[string]int, keep func(string, int) bool) []kv {
	var out []kv
	for k, v := range m {
		if keep(k, v) {
			out = append(out, p(k, v))
		}
	}
	return out
}

func TestPropertyIncrementalWindowEqualsNaive(t *testing.T) {
	skipOnCluster(t, "rapid draws differ between processes")
	rapid.Check(t, func(rt *rapid.T) {
		nb := rapid.IntRange(1, 10).Draw(rt, "batches")
		w := rapid.IntRange(1, 5).Draw(rt, "window")
		s := rapid.IntRange(1, 5).Draw(rt, "slide")
		parts := rapid.IntRange(1, 4).Draw(rt, "input partitions")
		var o []sluice.OpOption
		if n := rapid.IntRange(0, 4).Draw(rt, "shuffle partitions"); n > 0 {
			o = append(o, sluice.Partitions(n))
		}
		if rapid.Bool().Draw(rt, "checkpoint every slide") {
			o = append(o, sluice.CheckpointInterval(time.Duration(s)*sec))
		}
		in := keyedBatches(rt, nb)
		total := nb + w + s // and then let every value leave the window

		h := sluicetest.New(t, time.Second)
		defer h.Context.Stop()
		src := sluicetest.Input(h, parts, in...)
		W, S := time.Duration(w)*sec, time.Duration(s)*sec
		with := func(more ...sluice.OpOption) []sluice.OpOption { return append(slices.Clone(o), more...) }
		plain := sluicetest.Collect(sluice.ReduceByKeyAndWindow(src, add, nil, W, S, o...))
		inv := sluicetest.Collect(sluice.ReduceByKeyAndWindow(src, add, sub, W, S, with(sluice.Named("inverse"))...))
		keep := sluicetest.Collect(sluice.ReduceByKeyAndWindow(src, add, sub, W, S,
			with(sluice.Named("keep"), sluice.KeepKeys(func(r kv) bool { return r.Value != 0 }))...))
		h.Run(total)

		sums, seen := naiveWindows(in, w, s, total)
		var wantPlain, wantInv, wantKeep [][]kv
		for i, sum := range sums {
			wantPlain = append(wantPlain, kvsOf(sum, func(string, int) bool { return true }))
			wantKeep = append(wantKeep, kvsOf(sum, func(_ string, v int) bool { return v != 0 }))
			var all []kv
			for k := range seen[i] {
				all = append(all, p(k, sum[k]))
			}
			wantInv = append(wantInv, all)
		}
		for _, c := range []struct {
			name      string
			got, want [][]kv
		}{{"plain", plain.Batches(), wantPlain}, {"inverse", inv.Batches(), wantInv}, {"inverse+KeepKeys", keep.Batches(), wantKeep}} {
			g, wt := sorted(c.got), sorted(c.want)
			if !sameBatches(g, wt) {
				rt.Fatalf("%s differs from the naive windows:\n%s", c.name, diffBatches(g, wt))
			}
		}
	})
}

// pipelineConfig is one way to run the same job: workers, partitions of
// the input and of the shuffles, default parallelism.
type pipelineConfig struct {
	master      string
	inParts     int
	shuffle     int // Partitions(n) on every keyed operation; 0: none
	parallelism int // 0: the number of workers
}

func (c pipelineConfig) String() string {
	return fmt.Sprintf("%s in=%d shuffle=%d parallelism=%d", c.master, c.inParts, c.shuffle, c.parallelism)
}

// collectText collects a stream's batches as sorted printed records.
func collectText[T any](outs map[string]func() [][]string, name string, s *sluice.Stream[T]) {
	o := sluicetest.Collect(s)
	outs[name] = func() [][]string {
		var out [][]string
		for _, b := range sorted(o.Batches()) {
			rs := make([]string, len(b))
			for i, r := range b {
				rs[i] = fmt.Sprint(r)
			}
			out = append(out, rs)
		}
		return out
	}
}

// runPipeline runs a word-count job with windows, state and joins over
// the input lines and returns every output's batches.
func runPipeline(t *testing.T, cfg pipelineConfig, in [][]string, w, s, total int) map[string][][]string {
	opts := []sluice.Option{sluice.Master(cfg.master)}
	if cfg.parallelism > 0 {
		opts = append(opts, sluice.Parallelism(cfg.parallelism))
	}
	h := sluicetest.New(t, time.Second, opts...)
	defer h.Context.Stop()
	var o []sluice.OpOption
	if cfg.shuffle > 0 {
		o = append(o, sluice.Partitions(cfg.shuffle))
	}
	with := func(more ...sluice.OpOption) []sluice.OpOption { return append(slices.Clone(o), more...) }
	W, S := time.Duration(w)*sec, time.Duration(s)*sec

	lines := sluicetest.Input(h, cfg.inParts, in...)
	words := sluice.FlatMap(lines, strings.Fields)
	pairs := sluice.Map(words, func(w string) kv { return p(w, 1) })
	counts := sluice.ReduceByKey(pairs, add, o...)
	totals := sluice.UpdateStateByKey(pairs, func(_ string, vs []int, st int, _ bool) (int, bool) {
		for _, v := range vs {
			st += v
		}
		return st, st < 6 // a key is dropped once it reached 6
	}, with(sluice.Named("totals"))...)
	seen, snaps := sluice.MapWithState(pairs, func(t time.Time, k string, v sluice.Optional[int], st *sluice.State[int]) (string, bool) {
		n, _ := st.Get()
		if st.IsTimingOut() {
			return fmt.Sprintf("%s timed out at %d", k, n), true
		}
		st.Update(n + v.Value)
		return fmt.Sprintf("%s#%d", k, n+v.Value), true
	}, with(sluice.Named("seen"), sluice.Timeout(2*sec), sluice.CheckpointInterval(sec))...)
	lengths := sluice.Map(lines, func(l string) kv { return p(fmt.Sprint(len(strings.Fields(l))), len(l)) })

	outs := map[string]func() [][]string{}
	collectText(outs, "words", words)
	collectText(outs, "count", sluice.Count(words))
	collectText(outs, "countByValue", sluice.CountByValue(words, o...))
	collectText(outs, "reduceByKey", counts)
	collectText(outs, "groupByKey", sluice.MapValues(sluice.GroupByKey(lengths, o...), sortedInts))
	collectText(outs, "repartition", sluice.Count(sluice.Repartition(words, 3)))
	collectText(outs, "window", sluice.Window(words, W, S))
	collectText(outs, "reduceByWindow", sluice.ReduceByWindow(sluice.Map(words, func(w string) int { return len(w) }), add, W, S))
	collectText(outs, "countByWindow", sluice.CountByWindow(words, W, S))
	collectText(outs, "countByValueAndWindow", sluice.CountByValueAndWindow(words, W, S, o...))
	collectText(outs, "groupByKeyAndWindow", sluice.MapValues(sluice.GroupByKeyAndWindow(lengths, W, S, o...), sortedInts))
	collectText(outs, "reduceByKeyAndWindow", sluice.ReduceByKeyAndWindow(pairs, add, nil, W, S, o...))
	collectText(outs, "incrementalWindow", sluice.ReduceByKeyAndWindow(pairs, add, sub, W, S, with(sluice.Named("win"))...))
	collectText(outs, "updateStateByKey", totals)
	collectText(outs, "mapWithState", seen)
	collectText(outs, "snapshots", snaps)
	collectText(outs, "fullOuterJoin", sluice.FullOuterJoin(counts, totals, o...))
	collectText(outs, "cogroup", sluice.MapValues(sluice.CoGroup(counts, lengths, o...),
		func(j sluice.Joined[[]int, []int]) string { return fmt.Sprint(sortedInts(j.Left), sortedInts(j.Right)) }))
	h.Run(total)

	got := make(map[string][][]string, len(outs))
	for name, f := range outs {
		got[name] = f()
	}
	return got
}

func sortedInts(xs []int) []int {
	ys := slices.Clone(xs)
	slices.Sort(ys)
	return ys
}

func TestPropertyResultsIndependentOfPartitioning(t *testing.T) {
	skipOnCluster(t, "rapid draws differ between processes")
	vocab := []string{"a", "b", "c", "dd", "eee"}
	line := rapid.Custom(func(rt *rapid.T) string {
		ws := rapid.SliceOfN(rapid.SampledFrom(vocab), 0, 4).Draw(rt, "words")
		return strings.Join(ws, " ")
	})
	rapid.Check(t, func(rt *rapid.T) {
		nb := rapid.IntRange(1, 8).Draw(rt, "batches")
		w := rapid.IntRange(1, 4).Draw(rt, "window")
		s := rapid.IntRange(1, 4).Draw(rt, "slide")
		in := rapid.SliceOfN(rapid.SliceOfN(line, 0, 5), nb, nb).Draw(rt, "input")
		total := nb + w
		configs := []pipelineConfig{
			{master: "local[1]", inParts: 1},
			{master: "local[2]", inParts: rapid.IntRange(1, 5).Draw(rt, "parts 2"), shuffle: 3},
			{master: "local[4]", inParts: rapid.IntRange(1, 5).Draw(rt, "parts 4"), shuffle: 1},
			{master: "local[4]", inParts: 0, parallelism: rapid.IntRange(1, 6).Draw(rt, "parallelism")},
		}
		ref := runPipeline(t, configs[0], in, w, s, total)
		for _, cfg := range configs[1:] {
			got := runPipeline(t, cfg, in, w, s, total)
			for _, name := range slices.Sorted(maps.Keys(ref)) {
				if !sameBatches(got[name], ref[name]) {
					rt.Fatalf("%s under %v differs from %v:\n%s", name, cfg, configs[0], diffBatches(got[name], ref[name]))
				}
			}
		}
	})
}
