package bench

import (
	"container/heap"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/dataset"
)

// The D-Streams paper's three workloads over sluice.TextGenerator's
// 100-byte lines (DESIGN.md section 11), and their baselines.

// textWindow is the wordcount and topk window.
const textWindow = 30 * time.Second

// windowOf returns textWindow rounded up to a multiple of batch.
func windowOf(batch time.Duration) time.Duration { return (textWindow + batch - 1) / batch * batch }

func buildGrep(c *sluice.Context, seed uint64, rate int, out *Output) {
	lines := sluice.Generate(c, sluice.TextGenerator(seed), rate)
	matches := sluice.Count(sluice.Filter(lines, func(s string) bool { return strings.Contains(s, sluice.GrepPattern) }))
	Emit(matches, out, func(n int64) string { return strconv.FormatInt(n, 10) })
}

// grepBaseline counts the matching lines of each batch.
func grepBaseline(in Input) func(int64, *Output) {
	g := sluice.TextGenerator(in.Seed)
	return func(k int64, out *Output) {
		from, to, start, end := in.Range(k)
		var n int64
		for _, s := range g.Records(from, to, start, end) {
			if strings.Contains(s, sluice.GrepPattern) {
				n++
			}
		}
		if out != nil {
			out.Add(end, strconv.FormatInt(n, 10))
		}
	}
}

func windowedCounts(c *sluice.Context, seed uint64, rate int) *sluice.Stream[sluice.KV[string, int64]] {
	lines := sluice.Generate(c, sluice.TextGenerator(seed), rate)
	// Each partition counts its words in a map first (in-mapper
	// combining, as the baseline does), so only its distinct words, a
	// few thousand, reach ReduceByKeyAndWindow's own map-side combine and
	// the shuffle; a FlatMap of (word, 1) pairs makes a slice per line.
	pairs := sluice.MapPartitions(lines, func(p []string) []sluice.KV[string, int64] {
		counts := make(map[string]int64, 4096)
		for _, s := range p {
			countWords(counts, s)
		}
		out := make([]sluice.KV[string, int64], 0, len(counts))
		for w, n := range counts {
			out = append(out, sluice.Pair(w, n))
		}
		return out
	})
	return sluice.ReduceByKeyAndWindow(pairs, func(a, b int64) int64 { return a + b }, func(a, b int64) int64 { return a - b },
		windowOf(c.BatchInterval()), c.BatchInterval(), sluice.Named("word-counts"),
		sluice.KeepKeys(func(kv sluice.KV[string, int64]) bool { return kv.Value > 0 }))
}

// nextWord splits the first word, up to a space, off s: the records are
// words separated by single spaces and padded with spaces (the job and
// the baseline split them alike).
func nextWord(s string) (word, rest string) {
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// countWords counts the words of s into counts.
func countWords(counts map[string]int64, s string) {
	for len(s) > 0 {
		var word string
		word, s = nextWord(s)
		if word != "" {
			counts[word]++
		}
	}
}

func formatCount(kv sluice.KV[string, int64]) string {
	return kv.Key + " " + strconv.FormatInt(kv.Value, 10)
}

func buildWordCount(c *sluice.Context, seed uint64, rate int, out *Output) {
	Emit(windowedCounts(c, seed, rate), out, formatCount)
}

func buildTopK(c *sluice.Context, seed uint64, rate int, out *Output) {
	top := sluice.Transform(windowedCounts(c, seed, rate), func(d sluice.Dataset[sluice.KV[string, int64]], _ time.Time) sluice.Dataset[sluice.KV[string, int64]] {
		return dataset.MapPartitions(d, func(p []sluice.KV[string, int64]) []sluice.KV[string, int64] { return TopK(p, 10) })
	})
	// The partitions' top 10s meet in one partition, which keeps the top
	// 10 of them.
	top = sluice.MapPartitions(sluice.Repartition(top, 1), func(p []sluice.KV[string, int64]) []sluice.KV[string, int64] { return TopK(p, 10) })
	Emit(top, out, formatCount)
}

// windowBaseline keeps the word counts of the window ending at each batch
// the way a careful single-threaded program would: a map of the window's
// counts, plus each batch's own counts in a ring, subtracted when the
// batch leaves the window.
type windowBaseline struct {
	in     Input
	gen    sluice.Generator[string]
	counts map[string]int64
	ring   []map[string]int64
}

func newWindowBaseline(in Input) *windowBaseline {
	return &windowBaseline{in: in, gen: sluice.TextGenerator(in.Seed), counts: make(map[string]int64),
		ring: make([]map[string]int64, windowOf(in.Batch)/in.Batch)}
}

// step adds batch k and returns its time.
func (w *windowBaseline) step(k int64) time.Time {
	from, to, start, end := w.in.Range(k)
	slot := int(k % int64(len(w.ring)))
	if old := w.ring[slot]; old != nil {
		for word, n := range old {
			if m := w.counts[word] - n; m > 0 {
				w.counts[word] = m
			} else {
				delete(w.counts, word)
			}
		}
		clear(old)
	} else {
		w.ring[slot] = make(map[string]int64)
	}
	batch := w.ring[slot]
	for _, s := range w.gen.Records(from, to, start, end) {
		countWords(batch, s)
	}
	for word, n := range batch {
		w.counts[word] += n
	}
	return end
}

func wordCountBaseline(in Input) func(int64, *Output) {
	w := newWindowBaseline(in)
	return func(k int64, out *Output) {
		t := w.step(k)
		if out == nil {
			return
		}
		lines := make([]string, 0, len(w.counts))
		for word, n := range w.counts {
			lines = append(lines, formatCount(sluice.Pair(word, n)))
		}
		out.Add(t, lines...)
	}
}

func topKBaseline(in Input) func(int64, *Output) {
	w := newWindowBaseline(in)
	return func(k int64, out *Output) {
		t := w.step(k)
		top := topOfMap(w.counts, 10)
		if out != nil {
			for _, kv := range top {
				out.Add(t, formatCount(kv))
			}
		}
	}
}

// topOfMap returns the k entries of m with the highest values (ties by
// key), sorted, keeping a k-entry heap rather than sorting m.
func topOfMap(m map[string]int64, k int) []sluice.KV[string, int64] {
	h := make(minHeap, 0, k+1)
	for word, n := range m {
		kv := sluice.Pair(word, n)
		if len(h) == k && !better(kv, h[0]) {
			continue
		}
		heap.Push(&h, kv)
		if len(h) > k {
			heap.Pop(&h)
		}
	}
	return TopK(h, k)
}

// better orders records by value, then key, the best first (TopK's order).
func better(a, b sluice.KV[string, int64]) bool {
	if a.Value != b.Value {
		return a.Value > b.Value
	}
	return a.Key < b.Key
}

// minHeap holds the worst of the best k at its root.
type minHeap []sluice.KV[string, int64]

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return better(h[j], h[i]) }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(sluice.KV[string, int64])) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
